//! `builtin:request-limit`: at most `limit` requests per `window_secs` per gateway key
//! (or per user, team, route, the whole gateway, or a combination such as `route+user`).
//!
//! The count lives in the host (`counter-add`), so every pooled instance, and with a
//! shared counter store every replica, sees the same number. Settings:
//! `limit` (default 60), `window_secs` (default 60) and `per` (default `key`); any
//! other setting, or one that is not valid, refuses the config (`validate-settings`).
//! A request asking for no choice (`n = 0`) is answered with the figures but not
//! counted: how the host's `/v1/me` reads what is left.

use switchboard_sdk::decision::header;
use switchboard_sdk::host;
use switchboard_sdk::policy::{AdmissionPolicy, Guest};
use switchboard_sdk::settings::u64_or;
use switchboard_sdk::types::{Decision, Denial, Header, Outcome, PolicyRequest};

struct RequestLimit;

impl Guest for RequestLimit {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        for (name, value) in &settings {
            match name.as_str() {
                "per" => {
                    if let Some(e) = policy_scope::invalid(value.trim_matches('"')) {
                        return Err(e);
                    }
                }
                "limit" | "window_secs" => {
                    if value.trim().parse::<u64>().is_err() {
                        return Err(format!("{name} must be a whole number, not {value}"));
                    }
                }
                other => {
                    return Err(format!(
                        "builtin:request-limit has no setting '{other}' (it has limit, window_secs and per)"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl AdmissionPolicy for RequestLimit {
    fn check(req: PolicyRequest) -> Decision {
        // Read from the host once per instance (a reload builds new instances).
        static SETTINGS: std::sync::OnceLock<(i64, u64, String)> = std::sync::OnceLock::new();
        let (limit, window, per) = SETTINGS.get_or_init(|| {
            (
                u64_or("limit", 60).min(i64::MAX as u64) as i64,
                u64_or("window_secs", 60).max(1),
                host::setting("per")
                    .unwrap_or_default()
                    .trim()
                    .trim_matches('"')
                    .to_string(),
            )
        });
        let (limit, window) = (*limit, *window);
        let who = policy_scope::scope(per, &policy_scope::Who::of(&req));
        // A key keeps its old counter name, so a reload that adds `per` to other
        // policies does not reset anyone's count.
        let key = match per.as_str() {
            "" | "key" => format!("requests:{}", req.key_name),
            _ => format!("requests:{who}"),
        };
        // A request asking for no choice (`n = 0`: the host's `/v1/me` reading the
        // figures) is not counted.
        let step = i64::from(req.n > 0);
        let used = host::counter_add(&key, step, window);
        let wait = host::window_remaining_secs(window).max(1);
        if used > limit && step > 0 {
            // Undo this request's increment so a denied request costs nothing.
            host::counter_add(&key, -step, window);
            return Decision::Deny(Denial {
                status: 429,
                message: format!("rate limit reached for {who}: {limit} requests per {window}s"),
                headers: vec![
                    header("retry-after", wait),
                    header("x-ratelimit-limit-requests", limit),
                    header("x-ratelimit-remaining-requests", 0),
                    header("x-ratelimit-reset-requests", format!("{wait}s")),
                ],
                error_type: None,
                code: None,
            });
        }
        Decision::Allow(vec![
            header("x-ratelimit-limit-requests", limit),
            header("x-ratelimit-remaining-requests", (limit - used).max(0)),
            header("x-ratelimit-reset-requests", format!("{wait}s")),
        ])
    }

    fn record(_req: PolicyRequest, _outcome: Outcome) -> Vec<Header> {
        Vec::new()
    }
}

switchboard_sdk::export_policy!(RequestLimit);
