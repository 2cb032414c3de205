//! `builtin:content-router`: routes by what is asked. Ordered rules look at the last
//! user message's text (keywords, a regular expression), the estimated prompt length
//! and what the request carries (images, audio, tools, a JSON answer); the first rule
//! that matches, and whose tag some target of the route has, puts the targets with
//! that tag first, in config order, and the rest after them as fallbacks (none with
//! `only = true`). No rule: `default`'s tag, else the config order.
//!
//! ```toml
//! [strategies.by-content]
//! plugin = "builtin:content-router"
//! settings.default = "general"
//! settings.rules = [
//!   { tag = "vision", images = true, only = true },
//!   { tag = "code", regex = "```|\\b(fn|def|class|import|SELECT)\\b" },
//!   { tag = "cheap", max_tokens = 200 },
//! ]
//! ```
//!
//! Targets name their tags: `{ provider = "openai", model = "gpt-4o", tags = ["vision"] }`.
//! Written on the guest SDK: its settings are a serde struct, its tests run on the
//! build machine against the SDK's fake host (`cargo test -p strategy-content-router`).

mod rules;

use switchboard_sdk::strategy::{Guest, LoadBalancer};
use switchboard_sdk::types::{Health, RouteRequest, TargetStats};
use switchboard_sdk::{host, settings};

use rules::{Compiled, Settings};

struct Router;

impl Guest for Router {
    fn validate_settings(pairs: Vec<(String, String)>) -> Result<(), String> {
        settings::validate::<Settings>(&pairs)
    }
}

/// The rules, compiled once per instance (the gateway makes new instances when the
/// settings change).
fn compiled() -> Result<&'static Compiled, String> {
    #[cfg(target_arch = "wasm32")]
    {
        static RULES: std::sync::OnceLock<Result<Compiled, String>> = std::sync::OnceLock::new();
        RULES
            .get_or_init(|| Compiled::new(settings::load()?))
            .as_ref()
            .map_err(Clone::clone)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // Tests change the fake host's settings between cases: compile each time.
        Ok(Box::leak(Box::new(Compiled::new(settings::load()?)?)))
    }
}

impl LoadBalancer for Router {
    fn wants_request_text() -> bool {
        true
    }

    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let rules = compiled()?;
        let shape = host::request_shape();
        let tags: Vec<Vec<String>> = targets
            .iter()
            .map(|t| host::target_tags(&req.route, &t.provider, &t.model))
            .collect();
        let text = req.text.as_deref().unwrap_or("");
        let chosen = rules.choose(text, req.estimated_input_tokens, &shape, |tag| {
            tags.iter().any(|t| t.iter().any(|x| x == tag))
        });
        Ok(order(&targets, &tags, chosen))
    }
}

/// Targets with the chosen tag first (healthy before open circuits, then config
/// order), the rest after them unless the rule is `only`.
fn order(targets: &[TargetStats], tags: &[Vec<String>], chosen: Option<(&str, bool)>) -> Vec<u32> {
    let has = |i: usize, tag: &str| tags[i].iter().any(|t| t == tag);
    let mut all: Vec<u32> = (0..targets.len() as u32).collect();
    all.sort_by_key(|&i| {
        let i = i as usize;
        let tagged = chosen.is_some_and(|(tag, _)| has(i, tag));
        (!tagged, targets[i].health == Health::Open)
    });
    if let Some((tag, true)) = chosen {
        all.retain(|&i| has(i as usize, tag));
    }
    all
}

switchboard_sdk::export_strategy!(Router);

#[cfg(test)]
mod tests;
