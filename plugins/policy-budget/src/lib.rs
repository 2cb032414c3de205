//! `builtin:budget`: a spend limit in money — the configured currency, as the routes'
//! prices are — per key, user, team, route, the whole gateway, or a combination such
//! as `team+route`, per calendar period (`day`, `week`, `month` in a time zone, reset at
//! the period's start as people expect of a "monthly budget") or per `window_secs`.
//!
//! `check` reserves what the request may cost at most: its estimated prompt tokens at
//! the route's highest input price plus `max_tokens` (or `default_output_tokens`) for
//! each of `n` choices at the highest output price. The boundary rule, the same for
//! every budget: a request whose reservation would take spend past the limit is denied
//! (429, type `insufficient_quota`, code `budget_exceeded`, naming the budget, its
//! scope, limit, spend and reset); one larger than the whole limit is denied without
//! touching the counter. A request that set no `max_tokens` is allowed with
//! `x-switchboard-budget-reserved-output-tokens`, which the host sends upstream as its
//! maximum. `record` swaps the reservation for the answer's real cost (the host pins both
//! calls to the admission instant, so they count in the same period). The counter lives in the host, so with Redis counters every replica holds the
//! same budget exactly. From `warn_at` (default 0.8) of the limit, answers carry
//! `x-switchboard-budget-warning` and a warning is logged.
//!
//! With `key_limit = true`, a key with a budget of its own (set on the virtual key, by
//! an admin or within its team's cap by a team admin; the host tags its requests
//! `switchboard:budget=AMOUNT`) is held to that amount instead of `limit`.
//!
//! Settings: `limit` (required, > 0), `key_limit`, `per` (default `key`), `period` (`day`, `week`,
//! `month`; default `month`) or `window_secs`, `timezone` (default `UTC`; an IANA name
//! or an offset such as `+05:30`), `warn_at` (0–1), `default_output_tokens` (1024).

use switchboard_sdk::decision::header;
use switchboard_sdk::host;
use switchboard_sdk::policy::{AdmissionPolicy, Guest};
use switchboard_sdk::types::{Decision, Denial, Header, LogLevel, Outcome, PolicyRequest};

struct Budget;

/// The settings, read from the host once per instance (a reload makes new instances).
#[derive(Clone)]
struct Settings {
    name: String,
    limit_micros: i64,
    /// A key's own budget (the host's `switchboard:budget=AMOUNT` tag) replaces `limit`.
    key_limit: bool,
    per: String,
    period: Option<String>,
    window: u64,
    zone: String,
    warn_at: f64,
    default_output: u64,
}

fn text(name: &str) -> Option<String> {
    host::setting(name).map(|v| v.trim().trim_matches('"').to_string())
}

fn settings() -> &'static Settings {
    static S: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let window = text("window_secs")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let limit: f64 = text("limit").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        Settings {
            name: host::plugin_name(),
            limit_micros: (limit * 1e6).round().clamp(0.0, i64::MAX as f64) as i64,
            key_limit: text("key_limit").as_deref() == Some("true"),
            per: text("per").unwrap_or_else(|| "key".into()),
            period: (window == 0).then(|| text("period").unwrap_or_else(|| "month".into())),
            window,
            zone: text("timezone").unwrap_or_else(|| "UTC".into()),
            warn_at: text("warn_at").and_then(|v| v.parse().ok()).unwrap_or(0.8),
            default_output: text("default_output_tokens")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1024),
        }
    })
}

/// The window a request's spend is counted in now.
struct Window {
    /// The counter's name.
    counter: String,
    /// `counter-add`'s window (0: the period's label keeps periods apart).
    secs: u64,
    /// Seconds until it resets, and when, as people read it.
    left: u64,
    resets: String,
    what: String,
}

fn window(s: &Settings, who: &str) -> Window {
    match &s.period {
        Some(period) => match host::calendar_period(period, &s.zone) {
            Ok((label, left, end)) => Window {
                counter: format!("spend:{who}:{label}"),
                secs: 0,
                left,
                resets: format!("at {end}"),
                what: format!("per {period}"),
            },
            // Checked at load (`validate-settings`); a failure here counts per day.
            Err(_) => Window {
                counter: format!("spend:{who}:day"),
                secs: 86_400,
                left: host::window_remaining_secs(86_400),
                resets: "tomorrow".into(),
                what: "per day".into(),
            },
        },
        None => {
            let left = host::window_remaining_secs(s.window);
            Window {
                counter: format!("spend:{who}"),
                secs: s.window,
                left,
                resets: format!("in {left}s"),
                what: format!("per {}s", s.window),
            }
        }
    }
}

/// The most this request may cost, in millionths: prices are per million tokens.
fn reservation(s: &Settings, req: &PolicyRequest) -> i64 {
    let (input_price, output_price) = host::route_prices(&req.route);
    let output = req.max_output_tokens.unwrap_or(s.default_output) as f64 * f64::from(req.n.max(1));
    let micros = req.estimated_input_tokens as f64 * input_price + output * output_price;
    micros.ceil().clamp(0.0, i64::MAX as f64) as i64
}

/// The header that tells the host how many output tokens (per choice) were reserved
/// for a request that set no maximum: the host sends it upstream as the maximum.
const RESERVED_OUTPUT: &str = "x-switchboard-budget-reserved-output-tokens";

fn money(micros: i64) -> String {
    format!("{:.6}", micros as f64 / 1e6)
}

/// The budget's figures for an answer, and its warning past `warn_at`.
fn figures(s: &Settings, who: &str, w: &Window, spent: i64) -> Vec<Header> {
    let mut h = vec![
        header("x-switchboard-budget-limit", money(s.limit_micros)),
        header(
            "x-switchboard-budget-remaining",
            money((s.limit_micros - spent).max(0)),
        ),
        // Real spend, over the limit if it ever is.
        header("x-switchboard-budget-spent", money(spent)),
        header("x-switchboard-budget-reset", &w.resets),
    ];
    if s.limit_micros > 0 && spent as f64 >= s.warn_at * s.limit_micros as f64 {
        let pct = spent as f64 * 100.0 / s.limit_micros as f64;
        let said = format!("budget '{}' for {who} ({}) at {pct:.0}%", s.name, w.what);
        host::log(LogLevel::Warn, &said);
        h.push(header("x-switchboard-budget-warning", said));
    }
    h
}

/// The tag the host gives the requests of a key with a budget of its own.
const KEY_BUDGET_TAG: &str = "switchboard:budget=";

/// The settings as they hold for `req`: with `key_limit`, the limit of the request's
/// key when it has one of its own.
fn effective(req: &PolicyRequest) -> std::borrow::Cow<'static, Settings> {
    let s = settings();
    let own = s
        .key_limit
        .then(|| {
            req.tags
                .iter()
                .find_map(|t| t.strip_prefix(KEY_BUDGET_TAG))
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0 && v.is_finite())
        })
        .flatten();
    match own {
        None => std::borrow::Cow::Borrowed(s),
        Some(limit) => {
            let mut e = s.clone();
            e.limit_micros = (limit * 1e6).round().clamp(0.0, i64::MAX as f64) as i64;
            std::borrow::Cow::Owned(e)
        }
    }
}

fn check_settings(settings: &[(String, String)]) -> Result<(), String> {
    let get = |k: &str| {
        settings
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
    };
    match get("limit").map(|v| v.parse::<f64>()) {
        Some(Ok(l)) if l > 0.0 && l.is_finite() => {}
        _ => return Err("limit is required: an amount of money above 0".into()),
    }
    if let Some(e) = get("per").and_then(|per| policy_scope::invalid(&per)) {
        return Err(e);
    }
    match (get("period"), get("window_secs")) {
        (Some(_), Some(_)) => return Err("set period or window_secs, not both".into()),
        (None, Some(w)) if w.parse::<u64>().map_or(true, |w| w == 0) => {
            return Err(format!(
                "window_secs must be a whole number of seconds above 0, not {w}"
            ));
        }
        (p, None) => {
            let p = p.unwrap_or_else(|| "month".into());
            host::calendar_period(&p, &get("timezone").unwrap_or_else(|| "UTC".into()))?;
        }
        _ => {}
    }
    if let Some(w) = get("warn_at")
        && !w.parse::<f64>().is_ok_and(|f| (0.0..=1.0).contains(&f))
    {
        return Err(format!("warn_at must be a fraction from 0 to 1, not {w}"));
    }
    if let Some(k) = get("key_limit")
        && k != "true"
        && k != "false"
    {
        return Err(format!("key_limit must be true or false, not {k}"));
    }
    for (name, _) in settings {
        if ![
            "limit",
            "key_limit",
            "per",
            "period",
            "window_secs",
            "timezone",
            "warn_at",
            "default_output_tokens",
        ]
        .contains(&name.as_str())
        {
            return Err(format!(
                "builtin:budget has no setting '{name}' (it has limit, key_limit, per, period, window_secs, timezone, warn_at and default_output_tokens)"
            ));
        }
    }
    Ok(())
}

impl Guest for Budget {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        check_settings(&settings)
    }
}

impl AdmissionPolicy for Budget {
    fn check(req: PolicyRequest) -> Decision {
        let s = &*effective(&req);
        let who = policy_scope::scope(&s.per, &policy_scope::Who::of(&req));
        let w = window(s, &who);
        let cost = reservation(s, &req);
        // A reservation beyond the whole limit is denied without touching the counter.
        let before = if cost > s.limit_micros {
            host::counter_get(&w.counter, w.secs)
        } else {
            let spent = host::counter_add(&w.counter, cost, w.secs);
            if spent <= s.limit_micros {
                let mut h = figures(s, &who, &w, spent);
                if req.max_output_tokens.is_none() {
                    h.push(header(RESERVED_OUTPUT, s.default_output));
                }
                return Decision::Allow(h);
            }
            // Denied: the reservation is given back, so a denied request costs nothing.
            host::counter_add(&w.counter, -cost, w.secs)
        };
        Decision::Deny(Denial {
            status: 429,
            message: format!(
                "budget '{}' for {who} ({}) is spent: limit {}, spent {}, this request may cost up to {}; it resets {}",
                s.name,
                w.what,
                money(s.limit_micros),
                money(before),
                money(cost),
                w.resets
            ),
            headers: vec![
                header("retry-after", w.left.max(1)),
                header("x-switchboard-budget-limit", money(s.limit_micros)),
                header(
                    "x-switchboard-budget-remaining",
                    money((s.limit_micros - before).max(0)),
                ),
                header("x-switchboard-budget-reset", &w.resets),
            ],
            error_type: Some("insufficient_quota".into()),
            code: Some("budget_exceeded".into()),
        })
    }

    fn record(req: PolicyRequest, outcome: Outcome) -> Vec<Header> {
        let s = &*effective(&req);
        let who = policy_scope::scope(&s.per, &policy_scope::Who::of(&req));
        let w = window(s, &who);
        let real = outcome.cost_micros.min(i64::MAX as u64) as i64;
        let spent = host::counter_add(&w.counter, real - reservation(s, &req), w.secs);
        figures(s, &who, &w, spent)
    }
}

switchboard_sdk::export_policy!(Budget);
