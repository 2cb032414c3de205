//! A model's lifecycle as configured (`state`, `successor`, `redirect`, `sunset`,
//! `deprecated_at`, `retire_at`, `testers`, `owner`), prompt templates (`[prompts.*]`),
//! and the names registry pins add (`model@3`): checked here, read by the request
//! path (`pipeline::lifecycle`) and the registry.

use std::collections::BTreeMap;

use serde_json::Value;
use toml::Spanned;

use super::ConfigError;
use super::fields::Ctx;
use super::raw::{RawConfig, RawModel};

/// Where a model is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelState {
    /// Seen only by the admin API (compare, route test).
    Draft,
    /// Served only to the keys and teams named in `testers`.
    Testing,
    #[default]
    Active,
    /// Served, with `Deprecation` and `Sunset` headers.
    Deprecated,
    /// Answered 410 `model_retired`.
    Retired,
}

impl ModelState {
    pub const ALL: &[&str] = &["draft", "testing", "active", "deprecated", "retired"];

    pub fn parse(s: &str) -> Option<ModelState> {
        Some(match s {
            "draft" => ModelState::Draft,
            "testing" => ModelState::Testing,
            "active" => ModelState::Active,
            "deprecated" => ModelState::Deprecated,
            "retired" => ModelState::Retired,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }
}

/// A model's lifecycle settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    pub state: ModelState,
    pub successor: Option<String>,
    pub redirect: bool,
    /// Unix seconds.
    pub sunset: Option<i64>,
    pub deprecated_at: Option<i64>,
    pub retire_at: Option<i64>,
    pub testers: Vec<String>,
    pub owner: Option<String>,
}

impl Lifecycle {
    /// The state at `now`: a model whose `retire_at` has passed is retired.
    pub fn state_at(&self, now: i64) -> ModelState {
        match self.retire_at {
            Some(at) if now >= at => ModelState::Retired,
            _ => self.state,
        }
    }
}

/// A prompt template.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub name: String,
    /// (role, content with `{{variables}}`).
    pub messages: Vec<(String, String)>,
    pub model: Option<String>,
    pub defaults: serde_json::Map<String, Value>,
    pub description: Option<String>,
}

/// A date (`2027-01-31`, midnight UTC) or an RFC 3339 time, as Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t.as_second());
    }
    let d: jiff::civil::Date = s.parse().ok()?;
    d.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// The model a pinned name stands for: `m@3` → (`m`, 3).
pub fn pinned(name: &str) -> Option<(&str, u32)> {
    let (base, n) = name.rsplit_once('@')?;
    Some((base, n.parse().ok().filter(|n| *n > 0)?))
}

fn time(cx: &Ctx<'_>, v: &Option<Spanned<String>>, key: &str) -> Result<Option<i64>, ConfigError> {
    match v {
        None => Ok(None),
        Some(v) => match parse_time(v.get_ref()) {
            Some(t) => Ok(Some(t)),
            None => cx.err(
                v.span(),
                key,
                format!(
                    "'{}' is not a date (2027-01-31) or an RFC 3339 time",
                    v.get_ref()
                ),
            ),
        },
    }
}

/// The lifecycle of model `name` (`key` is `models."NAME"`).
pub(super) fn lifecycle(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    name: &str,
    m: &Spanned<RawModel>,
    key: &str,
) -> Result<Lifecycle, ConfigError> {
    let model = m.get_ref();
    if name.contains('@') && pinned(name).is_none_or(|(b, _)| !raw.models.contains_key(b)) {
        return cx.err(
            m.span(),
            key,
            "a model name may not contain '@' (`model@N` names a kept version)",
        );
    }
    let state = match &model.state {
        None => ModelState::Active,
        Some(s) => match ModelState::parse(s.get_ref()) {
            Some(st) => st,
            None => {
                return cx.err(
                    s.span(),
                    format!("{key}.state"),
                    format!(
                        "'{}' is not one of {}",
                        s.get_ref(),
                        ModelState::ALL.join(", ")
                    ),
                );
            }
        },
    };
    let successor = match &model.successor {
        Some(s) if s.get_ref() == name => {
            return cx.err(
                s.span(),
                format!("{key}.successor"),
                "names the model itself",
            );
        }
        Some(s) if !raw.models.contains_key(s.get_ref()) => {
            return cx.err(
                s.span(),
                format!("{key}.successor"),
                format!("names no model: '{}'", s.get_ref()),
            );
        }
        s => s.as_ref().map(|s| s.get_ref().clone()),
    };
    if model.redirect == Some(true) && successor.is_none() {
        return cx.err(
            m.span(),
            format!("{key}.redirect"),
            "redirect needs a successor to send requests to",
        );
    }
    Ok(Lifecycle {
        state,
        successor,
        redirect: model.redirect.unwrap_or(false),
        sunset: time(cx, &model.sunset, &format!("{key}.sunset"))?,
        deprecated_at: time(cx, &model.deprecated_at, &format!("{key}.deprecated_at"))?,
        retire_at: time(cx, &model.retire_at, &format!("{key}.retire_at"))?,
        testers: model.testers.clone(),
        owner: model.owner.clone(),
    })
}

/// `[prompts.*]`.
pub(super) fn prompts(
    cx: &Ctx<'_>,
    raw: &RawConfig,
) -> Result<BTreeMap<String, Prompt>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, p) in &raw.prompts {
        let key = format!("prompts.\"{name}\"");
        if name.contains('@') && pinned(name).is_none_or(|(b, _)| !raw.prompts.contains_key(b)) {
            return cx.err(p.span(), key, "a prompt name may not contain '@'");
        }
        let prompt = p.get_ref();
        if prompt.messages.is_empty() {
            return cx.err(p.span(), format!("{key}.messages"), "must not be empty");
        }
        let mut messages = Vec::with_capacity(prompt.messages.len());
        for (i, m) in prompt.messages.iter().enumerate() {
            if !["system", "developer", "user", "assistant"].contains(&m.role.get_ref().as_str()) {
                return cx.err(
                    m.role.span(),
                    format!("{key}.messages[{i}].role"),
                    format!(
                        "'{}' is not system, developer, user or assistant",
                        m.role.get_ref()
                    ),
                );
            }
            messages.push((m.role.get_ref().clone(), m.content.clone()));
        }
        if let Some(m) = &prompt.model
            && !raw.models.contains_key(m.get_ref())
        {
            return cx.err(
                m.span(),
                format!("{key}.model"),
                format!("names no model: '{}'", m.get_ref()),
            );
        }
        let defaults = prompt
            .defaults
            .as_ref()
            .map(
                |d| match super::route_params::json(&toml::Value::Table(d.clone())) {
                    Value::Object(o) => o,
                    _ => serde_json::Map::new(),
                },
            )
            .unwrap_or_default();
        out.insert(
            name.clone(),
            Prompt {
                name: name.clone(),
                messages,
                model: prompt.model.as_ref().map(|m| m.get_ref().clone()),
                defaults,
                description: prompt.description.clone(),
            },
        );
    }
    Ok(out)
}
