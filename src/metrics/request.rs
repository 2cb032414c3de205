//! Figures recorded on the request path, named after the OpenTelemetry GenAI
//! conventions where they exist. A `Trace` follows one client request (which route,
//! which target answered, how long was spent waiting on providers) and is settled
//! once the response head is ready; a stream settles its duration and tokens when it
//! ends.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use metrics::{Label, Recorder};

use super::{META, Metrics};
use crate::config::Target;
use crate::types::Usage;

pub const TOKEN_USAGE: &str = "gen_ai_client_token_usage";
pub const COST: &str = "switchboard_request_cost_usd";
const DURATION: &str = "gen_ai_server_request_duration_seconds";
const TTFT: &str = "gen_ai_server_time_to_first_token_seconds";
const OVERHEAD: &str = "switchboard_gateway_overhead_seconds";
const REQUESTS: &str = "switchboard_requests_total";

/// One client request, as far as metrics care.
pub struct Trace {
    pub started: Instant,
    route: OnceLock<String>,
    /// (provider, model) of the target that answered, or ("cache", "") for a hit.
    target: OnceLock<(String, String)>,
    /// Time spent waiting on providers and backoff, not on the gateway's own work.
    waited_us: AtomicU64,
    streamed: AtomicBool,
    /// The gateway key's name, for the usage record.
    key: OnceLock<String>,
    /// Tokens and cost of the answer.
    spent: OnceLock<(Usage, f64)>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            started: Instant::now(),
            route: OnceLock::new(),
            target: OnceLock::new(),
            waited_us: AtomicU64::new(0),
            streamed: AtomicBool::new(false),
            key: OnceLock::new(),
            spent: OnceLock::new(),
        }
    }
}

/// What an answer cost at the target's prices (per million tokens).
pub fn cost(target: &Target, usage: Usage) -> f64 {
    (usage.prompt as f64 * target.input_price + usage.completion as f64 * target.output_price) / 1e6
}

impl Trace {
    pub fn route(&self, name: &str) {
        let _ = self.route.set(name.to_string());
    }

    pub fn answered_by(&self, provider: &str, model: &str) {
        let _ = self.target.set((provider.to_string(), model.to_string()));
    }

    pub fn waited(&self, d: Duration) {
        self.waited_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// The answer is a stream: its duration is recorded when it ends.
    pub fn streamed(&self) {
        self.streamed.store(true, Relaxed);
    }

    pub fn key(&self, name: &str) {
        let _ = self.key.set(name.to_string());
    }

    pub fn spent(&self, usage: Usage, cost: f64) {
        let _ = self.spent.set((usage, cost));
    }

    /// The usage record of a routed request answered with `status`; `None` before
    /// routing, and for streams (their record is made when they end).
    pub fn record(&self, status: u16) -> Option<crate::usage::Record> {
        let route = self.route.get()?;
        if self.streamed.load(Relaxed) {
            return None;
        }
        let (provider, model) = self.target.get().cloned().unwrap_or_default();
        let (usage, cost) = self.spent.get().copied().unwrap_or_default();
        Some(crate::usage::Record {
            route: route.clone(),
            key: self.key.get().cloned().unwrap_or_default(),
            provider,
            model,
            status,
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            cost_usd: cost,
            duration_ms: self.started.elapsed().as_millis() as u64,
        })
    }
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

    /// Settles a request once its response head is ready.
    pub fn finish(&self, trace: &Trace, status: u16) {
        let elapsed = trace.started.elapsed();
        let route = trace.route.get().map(String::as_str).unwrap_or("");
        let (provider, model) = trace
            .target
            .get()
            .map(|(p, m)| (p.as_str(), m.as_str()))
            .unwrap_or(("", ""));
        let status = status.to_string();
        self.add(
            REQUESTS,
            &[
                ("route", route),
                ("provider", provider),
                ("model", model),
                ("status", &status),
            ],
            1,
        );
        if route.is_empty() {
            // Refused before routing (bad body, unknown model): nothing more to say.
            return;
        }
        let waited = Duration::from_micros(trace.waited_us.load(Relaxed));
        self.observe(
            OVERHEAD,
            &[("route", route)],
            elapsed.saturating_sub(waited).as_secs_f64(),
        );
        if !trace.streamed.load(Relaxed) {
            self.request_duration(route, provider, model, elapsed);
        }
    }

    pub fn request_duration(&self, route: &str, provider: &str, model: &str, d: Duration) {
        let l = [("route", route), ("provider", provider), ("model", model)];
        self.observe(DURATION, &l, d.as_secs_f64());
    }

    pub fn ttft(&self, route: &str, provider: &str, model: &str, d: Duration) {
        let l = [("route", route), ("provider", provider), ("model", model)];
        self.observe(TTFT, &l, d.as_secs_f64());
    }

    /// Tokens a provider charged for one answer, and what they cost at the target's prices.
    pub fn usage(&self, route: &str, provider: &str, target: &Target, usage: Usage) {
        let base = [
            ("route", route),
            ("provider", provider),
            ("model", target.model.as_str()),
        ];
        for (kind, n) in [("input", usage.prompt), ("output", usage.completion)] {
            let mut l = base.to_vec();
            l.push(("gen_ai_token_type", kind));
            self.observe(TOKEN_USAGE, &l, n as f64);
        }
        self.observe(COST, &base, cost(target, usage));
    }

    /// `hit`, `miss` or `bypass`; a hit also counts the provider tokens it saved.
    pub fn cache_result(&self, route: &str, result: &str, saved: Option<Usage>) {
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
