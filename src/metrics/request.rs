//! Figures recorded on the request path, named after the OpenTelemetry GenAI
//! conventions where they exist. A request's figures are recorded once, when it
//! closes (`finished`, called by the request context's settle); retries, failovers
//! and denials as they happen.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use metrics::{Counter, Histogram, Label, Recorder};
use parking_lot::{Mutex, RwLock};

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

/// The handles of one route × provider × model.
pub struct Handles {
    overhead: Histogram,
    duration: Histogram,
    ttft: Histogram,
    tokens_in: Histogram,
    tokens_out: Histogram,
    cost: Histogram,
    /// `switchboard_requests_total` by status, made as statuses are seen.
    requests: Mutex<Vec<(u16, Counter)>>,
}

/// Handles by `route\0provider\0model`; at most `MAX_HANDLES` (then figures go
/// through the registry as before).
#[derive(Default)]
pub struct HandleCache(RwLock<HashMap<String, Arc<Handles>>>);

const MAX_HANDLES: usize = 4096;

thread_local! {
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Metrics {
    fn histogram(&self, name: &'static str, l: &[(&'static str, &str)]) -> Histogram {
        let key = metrics::Key::from_parts(name, labels(l));
        self.recorder.register_histogram(&key, &META)
    }

    /// The handles of `route` × `provider` × `model`, registered on first use.
    fn handles(&self, route: &str, provider: &str, model: &str) -> Option<Arc<Handles>> {
        let found = KEY.with(|k| {
            let mut k = k.borrow_mut();
            k.clear();
            for (i, part) in [route, provider, model].iter().enumerate() {
                if i > 0 {
                    k.push('\0');
                }
                k.push_str(part);
            }
            self.handles.0.read().get(k.as_str()).cloned()
        });
        if found.is_some() {
            return found;
        }
        let mut map = self.handles.0.write();
        if map.len() >= MAX_HANDLES {
            return None;
        }
        let base = [("route", route), ("provider", provider), ("model", model)];
        let token = |kind| {
            self.histogram(
                TOKEN_USAGE,
                &[base[0], base[1], base[2], ("gen_ai_token_type", kind)],
            )
        };
        let h = Arc::new(Handles {
            overhead: self.histogram(OVERHEAD, &[("route", route)]),
            duration: self.histogram(DURATION, &base),
            ttft: self.histogram(TTFT, &base),
            tokens_in: token("input"),
            tokens_out: token("output"),
            cost: self.histogram(COST, &base),
            requests: Mutex::new(Vec::new()),
        });
        map.insert(format!("{route}\0{provider}\0{model}"), h.clone());
        Some(h)
    }

    /// `finished` through cached handles: a routed request a provider answered.
    fn finished_fast(&self, f: &Finished<'_>, h: &Handles) {
        let counter = {
            let mut r = h.requests.lock();
            match r.iter().find(|(s, _)| *s == f.status) {
                Some((_, c)) => c.clone(),
                None => {
                    let status = f.status.to_string();
                    let key = metrics::Key::from_parts(
                        REQUESTS,
                        labels(&[
                            ("route", f.route),
                            ("provider", f.provider),
                            ("model", f.model),
                            ("status", &status),
                        ]),
                    );
                    let c = self.recorder.register_counter(&key, &META);
                    r.push((f.status, c.clone()));
                    c
                }
            }
        };
        counter.increment(1);
        h.overhead.record(f.overhead.as_secs_f64());
        h.duration.record(f.elapsed.as_secs_f64());
        if let Some(t) = f.ttft {
            h.ttft.record(t.as_secs_f64());
        }
        if let Some(u) = f.usage {
            h.tokens_in.record(u.prompt as f64);
            h.tokens_out.record(u.completion as f64);
            h.cost.record(f.cost);
        }
    }

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
        if f.error.is_none()
            && f.cache.is_none()
            && !f.route.is_empty()
            && !f.provider.is_empty()
            && let Some(h) = self.handles(f.route, f.provider, f.model)
        {
            self.finished_fast(f, &h);
            return;
        }
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
    /// A translated request lost `field` (or was refused for it) on its way to `route`.
    pub fn dropped(&self, api: &str, route: &str, field: &str) {
        let l = [("api", api), ("route", route), ("field", field)];
        self.add("switchboard_dropped_fields_total", &l, 1);
    }

    /// A request for a deprecated model, by key (so its owners can be found).
    pub fn deprecated_request(&self, model: &str, key: &str) {
        let l = [("model", model), ("key", key)];
        self.add("switchboard_deprecated_requests_total", &l, 1);
    }

    /// A guardrail's verdict (`mode`: enforce or monitor; `verdict`: allow, deny,
    /// rewrite, mask, stop, error, skipped).
    pub fn guardrail(&self, route: &str, guardrail: &str, phase: &str, mode: &str, verdict: &str) {
        let l = [
            ("route", route),
            ("guardrail", guardrail),
            ("phase", phase),
            ("mode", mode),
            ("verdict", verdict),
        ];
        self.add("switchboard_guardrail_verdicts_total", &l, 1);
    }

    /// What the semantic cache made of a miss of the exact cache (`hit`, `miss`, or
    /// `error`: the prompt could not be embedded).
    pub fn semantic(&self, route: &str, result: &str) {
        let l = [("route", route), ("result", result)];
        self.add("switchboard_cache_semantic_total", &l, 1);
    }

    /// The verifier's verdict on a semantic hit: `same`, `different` (a false hit) or
    /// `error`.
    pub fn semantic_verdict(&self, route: &str, verdict: &str) {
        let l = [("route", route), ("verdict", verdict)];
        self.add("switchboard_cache_semantic_verified_total", &l, 1);
    }

    pub fn denied(&self, route: &str, policy: &str) {
        let l = [("route", route), ("policy", policy)];
        self.add("switchboard_policy_denials_total", &l, 1);
        self.events
            .add(crate::health::outcomes::Event::Denied, policy, route);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> Finished<'static> {
        Finished {
            route: "m",
            provider: "p",
            model: "x",
            status,
            elapsed: Duration::from_millis(5),
            overhead: Duration::from_micros(50),
            ttft: None,
            usage: Some(Usage {
                prompt: 10,
                completion: 4,
                cached_prompt: 0,
            }),
            cost: 0.001,
            cache: None,
            saved: None,
            error: None,
        }
    }

    #[test]
    fn cached_handles_record_what_the_registry_would() {
        let m = Metrics::default();
        m.finished(&answered(200));
        m.finished(&answered(200));
        m.finished(&answered(429));
        let text = m.text();
        for line in [
            r#"switchboard_requests_total{route="m",provider="p",model="x",status="200"} 2"#,
            r#"switchboard_requests_total{route="m",provider="p",model="x",status="429"} 1"#,
            r#"gen_ai_server_request_duration_seconds_count{route="m",provider="p",model="x"} 3"#,
            r#"gen_ai_client_token_usage_sum{route="m",provider="p",model="x",gen_ai_token_type="input"} 30"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in:\n{text}"
            );
        }
        assert_eq!(m.handles.0.read().len(), 1);
    }
}
