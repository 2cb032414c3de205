//! Figures recorded on the request path, named after the OpenTelemetry GenAI
//! conventions where they exist. A request's figures are recorded once, when it
//! closes (`finished`, called by the request context's settle); retries, failovers
//! and denials as they happen.

use std::time::Duration;

use metrics::{Label, Recorder};

use super::{META, Metrics};
use crate::types::Usage;

pub const TOKEN_USAGE: &str = "gen_ai_client_token_usage";
pub const COST: &str = "switchboard_request_cost_usd";
const DURATION: &str = "gen_ai_server_request_duration_seconds";
const TTFT: &str = "gen_ai_server_time_to_first_token_seconds";
const OVERHEAD: &str = "switchboard_gateway_overhead_seconds";
const REQUESTS: &str = "switchboard_requests_total";
const ERRORS: &str = "switchboard_request_errors_total";

/// A request as it closed, as far as metrics care (made by the request context's
/// one close-out).
pub struct Finished<'a> {
    pub route: &'a str,
    /// The provider that answered, `cache` for a hit, empty when none did.
    pub provider: &'a str,
    pub model: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    /// The gateway's own time until the answer's head: elapsed minus waiting on
    /// providers and backoff.
    pub overhead: Duration,
    pub ttft: Option<Duration>,
    /// Tokens of the answer, when a provider answered.
    pub usage: Option<Usage>,
    pub cost: f64,
    pub cache: Option<&'static str>,
    /// Provider tokens a cache hit saved.
    pub saved: Option<Usage>,
    /// The error's label, when the request failed in the pipeline.
    pub error: Option<&'static str>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect()
}

impl Metrics {
    fn add(&self, name: &'static str, l: &[(&'static str, &str)], n: u64) {
        let key = metrics::Key::from_parts(name, labels(l));
        self.recorder.register_counter(&key, &META).increment(n);
    }

    fn observe(&self, name: &'static str, l: &[(&'static str, &str)], v: f64) {
        let key = metrics::Key::from_parts(name, labels(l));
        self.recorder.register_histogram(&key, &META).record(v);
    }

    /// Records a closed request: count by status, the gateway's overhead, duration,
    /// time to first token, tokens and cost, the cache's part, the error's label.
    pub fn finished(&self, f: &Finished<'_>) {
        let status = f.status.to_string();
        let base = [
            ("route", f.route),
            ("provider", f.provider),
            ("model", f.model),
        ];
        self.add(
            REQUESTS,
            &[base[0], base[1], base[2], ("status", &status)],
            1,
        );
        if let Some(reason) = f.error {
            self.add(ERRORS, &[("route", f.route), ("reason", reason)], 1);
        }
        if f.route.is_empty() {
            // Refused before routing (bad body, unknown model): nothing more to say.
            return;
        }
        self.observe(OVERHEAD, &[("route", f.route)], f.overhead.as_secs_f64());
        if let Some(c) = f.cache {
            self.cache_result(f.route, c, f.saved);
        }
        if f.provider.is_empty() || f.provider == "cache" {
            return;
        }
        self.observe(DURATION, &base, f.elapsed.as_secs_f64());
        if let Some(t) = f.ttft {
            self.observe(TTFT, &base, t.as_secs_f64());
        }
        if let Some(u) = f.usage {
            for (kind, n) in [("input", u.prompt), ("output", u.completion)] {
                self.observe(
                    TOKEN_USAGE,
                    &[base[0], base[1], base[2], ("gen_ai_token_type", kind)],
                    n as f64,
                );
            }
            self.observe(COST, &base, f.cost);
        }
    }

    /// `hit`, `miss` or `bypass`; a hit also counts the provider tokens it saved.
    fn cache_result(&self, route: &str, result: &str, saved: Option<Usage>) {
        self.add(
            "switchboard_cache_requests_total",
            &[("route", route), ("result", result)],
            1,
        );
        if let Some(u) = saved {
            self.add(
                "switchboard_cache_saved_tokens_total",
                &[("route", route)],
                u.prompt + u.completion,
            );
        }
    }

    /// An attempt after the first, on any target.
    pub fn retry(&self, route: &str) {
        self.add("switchboard_retries_total", &[("route", route)], 1);
    }

    /// A target failed and the request moved on (or gave up).
    pub fn failover(&self, route: &str, provider: &str, model: &str) {
        let l = [("route", route), ("provider", provider), ("model", model)];
        self.add("switchboard_failovers_total", &l, 1);
    }

    /// A policy refused a request (quota, rate limit, permission).
    pub fn denied(&self, route: &str, policy: &str) {
        let l = [("route", route), ("policy", policy)];
        self.add("switchboard_policy_denials_total", &l, 1);
    }
}
