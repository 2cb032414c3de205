//! `builtin:token-quota`: at most `limit` tokens (prompt + completion) per
//! `window_secs` per gateway key (or per `user`, team, route, the whole gateway, or a
//! combination such as `route+user`).
//!
//! `check` reserves the request's estimate (its estimated prompt tokens plus
//! `max_tokens`, or `default_output_tokens` when the client set none, times `n`
//! choices) by adding it to
//! the host counter, and takes it back at once if that crosses the limit (one larger than
//! the whole limit is denied without touching the counter; one with no `max_tokens`
//! names its reserved output in `x-switchboard-budget-reserved-output-tokens`, which the
//! host sends upstream as the maximum); `record`
//! replaces the reservation with what the provider reported (a failed request gives
//! it all back). The add is atomic in the host's counter store, so with the counters
//! in Redis every replica admits against the same total and together they never
//! admit a request whose reservation would cross the limit.
//!
//! Settings: `limit` (default 100000), `window_secs` (default 86400; 0 = never
//! resets), `per` = `key` | `user` | `team` | `route` | `gateway`, or several joined by
//! `+` such as `route+user` (each user on each route apart) (default `key`;
//! `user` and `team` fall back to the key when a request has none),
//! `default_output_tokens` (default 1024). Any other setting, or a value of the wrong
//! kind, refuses the config (`validate-settings`).

use switchboard_sdk::decision::header;
use switchboard_sdk::host;
use switchboard_sdk::policy::{AdmissionPolicy, Guest};
use switchboard_sdk::settings::u64_or;
use switchboard_sdk::types::{Decision, Denial, Header, Outcome, PolicyRequest};

struct TokenQuota;

/// The settings, read from the host once per instance: they cannot change under it
/// (a reload builds new instances), and each `host::setting` is a host call.
struct Settings {
    per: String,
    limit: i64,
    window: u64,
    default_output: u64,
}

fn settings() -> &'static Settings {
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    SETTINGS.get_or_init(|| Settings {
        per: host::setting("per")
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .to_string(),
        limit: u64_or("limit", 100_000).min(i64::MAX as u64) as i64,
        window: u64_or("window_secs", 86_400),
        default_output: u64_or("default_output_tokens", 1024),
    })
}

struct Quota {
    limit: i64,
    window: u64,
    counter: String,
    who: String,
}

fn quota(req: &PolicyRequest) -> Quota {
    let s = settings();
    let who = policy_scope::scope(&s.per, &policy_scope::Who::of(req));
    Quota {
        limit: s.limit,
        window: s.window,
        counter: format!("tokens:{who}"),
        who,
    }
}

/// What `check` reserved for this request; `record` recomputes it the same way.
fn reservation(req: &PolicyRequest) -> i64 {
    let output = req.max_output_tokens.unwrap_or(settings().default_output);
    req.estimated_input_tokens
        .saturating_add(output.saturating_mul(u64::from(req.n.max(1))))
        .min(i64::MAX as u64) as i64
}

fn remaining(q: &Quota, used: i64) -> Vec<Header> {
    let mut h = vec![
        header("x-ratelimit-limit-tokens", q.limit),
        header("x-ratelimit-remaining-tokens", (q.limit - used).max(0)),
    ];
    if q.window > 0 {
        let secs = host::window_remaining_secs(q.window).max(1);
        h.push(header("x-ratelimit-reset-tokens", format!("{secs}s")));
    }
    h
}

impl Guest for TokenQuota {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        for (name, value) in &settings {
            let value = value.trim();
            match name.as_str() {
                "limit" | "window_secs" | "default_output_tokens" => {
                    if value.parse::<u64>().is_err() {
                        return Err(format!("{name} must be a whole number, not {value}"));
                    }
                }
                "per" => {
                    if let Some(e) = policy_scope::invalid(value.trim_matches('"')) {
                        return Err(e);
                    }
                }
                other => {
                    return Err(format!(
                        "builtin:token-quota has no setting '{other}' (it has limit, window_secs, per and default_output_tokens)"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl AdmissionPolicy for TokenQuota {
    fn check(req: PolicyRequest) -> Decision {
        let q = quota(&req);
        let want = reservation(&req);
        // A reservation beyond the whole limit is denied without touching the counter.
        let used = if want > q.limit {
            None
        } else {
            Some(host::counter_add(&q.counter, want, q.window))
        };
        if used.is_none_or(|u| u > q.limit) {
            let before = match used {
                Some(_) => host::counter_add(&q.counter, -want, q.window),
                None => host::counter_get(&q.counter, q.window),
            };
            let mut headers = remaining(&q, before);
            if q.window > 0 {
                headers.push(header(
                    "retry-after",
                    host::window_remaining_secs(q.window).max(1),
                ));
            }
            let per = if q.window == 0 {
                String::new()
            } else {
                format!(" per {}s", q.window)
            };
            return Decision::Deny(Denial {
                status: 429,
                message: format!(
                    "token quota reached for {}: {} of {} tokens{per} used, this request may need {}",
                    q.who,
                    before.max(0),
                    q.limit,
                    want
                ),
                headers,
                error_type: None,
                code: None,
            });
        }
        let mut h = remaining(&q, used.unwrap_or(0));
        if req.max_output_tokens.is_none() {
            h.push(header(
                "x-switchboard-budget-reserved-output-tokens",
                settings().default_output,
            ));
        }
        Decision::Allow(h)
    }

    fn record(req: PolicyRequest, outcome: Outcome) -> Vec<Header> {
        let q = quota(&req);
        let usage = outcome.usage;
        let actual = usage
            .prompt_tokens
            .saturating_add(usage.completion_tokens)
            .min(i64::MAX as u64) as i64;
        let used = host::counter_add(&q.counter, actual - reservation(&req), q.window);
        remaining(&q, used)
    }
}

switchboard_sdk::export_policy!(TokenQuota);
