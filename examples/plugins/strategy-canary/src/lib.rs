//! Example custom strategy: a canary split. `percent` of requests (setting, default
//! 10) go to the last target first; the rest go to the first target first. The
//! other targets follow as fallbacks, so a failing canary costs no request.
//!
//! Built with the first-party plugins by a plain `cargo build` of the gateway, into
//! `target/wasm-guests/wasm32-wasip2/release/strategy_canary.wasm`; name that file
//! in config:
//!
//! ```toml
//! [strategies.canary]
//! plugin = "target/wasm-guests/wasm32-wasip2/release/strategy_canary.wasm"
//! settings = { percent = 5 }
//! ```

wit_bindgen::generate!({ world: "strategy", path: "../../../wit" });

use exports::switchboard::plugin::load_balancer;
use switchboard::plugin::host;
use switchboard::plugin::types::{RouteRequest, TargetStats};

struct Canary;

/// Every world exports `validate-settings`: the host calls it at load and reload, so
/// `percent = "five"` or `percent = 500` refuses the config with this message rather
/// than being read as the default.
impl Guest for Canary {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        for (name, value) in &settings {
            match name.as_str() {
                "percent" => match value.trim().parse::<u64>() {
                    Ok(p) if p <= 100 => {}
                    _ => return Err(format!("percent must be a whole number 0-100, not {value}")),
                },
                other => return Err(format!("the canary strategy has no setting '{other}'")),
            }
        }
        Ok(())
    }
}

impl load_balancer::Guest for Canary {
    /// This strategy does not read the request's text: the host need not extract it.
    fn wants_request_text() -> bool {
        false
    }

    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let n = targets.len() as u32;
        if n == 0 {
            return Err("no targets".into());
        }
        let percent = host::setting("percent")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(10)
            .min(100);
        // `random` comes from the host, so this stays a pure function of its input.
        let canary_first = req.random % 100 < percent;
        let mut order: Vec<u32> = (0..n).collect();
        if canary_first && n > 1 {
            order.rotate_right(1);
        }
        Ok(order)
    }
}

export!(Canary);
