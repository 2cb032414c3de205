//! `builtin:cost`: the cheapest healthy target for this request first. The estimate is
//! input tokens × input price + output tokens × output price, with the request's
//! `max_tokens` as output (setting `default_output_tokens`, default 256, when absent);
//! ties go to the lower latency. Targets whose circuit is open come last. A setting
//! other than `default_output_tokens`, or a value that is not a whole number, refuses
//! the config.

wit_bindgen::generate!({ world: "strategy", path: "../../wit" });

use exports::switchboard::plugin::load_balancer;
use switchboard::plugin::host;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct Cost;

/// Estimated cost in millionths of the price unit, as an integer for sorting.
fn estimate(t: &TargetStats, input: u64, output: u64) -> u64 {
    let c = input as f64 * t.input_price_per_mtok + output as f64 * t.output_price_per_mtok;
    if c.is_finite() && c >= 0.0 {
        c as u64
    } else {
        u64::MAX
    }
}

impl Guest for Cost {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        for (name, value) in &settings {
            match name.as_str() {
                "default_output_tokens" if value.trim().parse::<u64>().is_ok() => {}
                "default_output_tokens" => {
                    return Err(format!(
                        "default_output_tokens must be a whole number, not {value}"
                    ));
                }
                other => {
                    return Err(format!(
                        "builtin:cost has no setting '{other}' (it has default_output_tokens)"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl load_balancer::Guest for Cost {
    fn wants_request_text() -> bool {
        false
    }

    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        if targets.is_empty() {
            return Err("no targets".into());
        }
        let default_output = host::setting("default_output_tokens")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(256);
        let output = req.max_output_tokens.unwrap_or(default_output);
        let mut order: Vec<u32> = (0..targets.len() as u32).collect();
        order.sort_by_key(|&i| {
            let t = &targets[i as usize];
            let c = estimate(t, req.estimated_input_tokens, output);
            (matches!(t.health, Health::Open), c, t.latency_ewma_us, i)
        });
        Ok(order)
    }
}

export!(Cost);
