//! Prometheus exposition at `/metrics` on the admin listener. Two sources: figures
//! recorded on the request path (`request.rs`: requests, durations, overhead, TTFT,
//! tokens, cost, cache results, retries, failovers, denials), and figures read from
//! the live state when scraped (circuit state and signals per target, plugin calls,
//! failures and call durations, cache size, reloads). Labels are only names from
//! config (route, provider, model, plugin) and fixed kinds, so cardinality stays low.

pub use crate::histogram;
pub mod request;

use std::collections::BTreeMap;
use std::fmt::Write;

use metrics::{Label, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::live::LiveState;
use crate::plugins::FailureKind;
use crate::plugins::pool::{InstancePool, World};
use crate::types::Health;

/// One gateway's registry (not the process-global one, so several gateways in one
/// process, as in the tests, keep their figures apart).
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The request-path handles of each route × provider × model, registered once
    /// (`request::Handles`): a request's figures cost no registry lookup.
    handles: request::HandleCache,
    /// Events policies report, for alert rules.
    pub events: crate::health::outcomes::Events,
}

/// Buckets of the request-path histograms (seconds, tokens, dollars).
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0,
];
const TOKENS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
];
const DOLLARS: &[f64] = &[0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0];

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(request::TOKEN_USAGE.into()), TOKENS)
            })
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(request::COST.into()), DOLLARS))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Exported from the start, at 0: an alert on its rate needs the series.
        let key = metrics::Key::from_static_name("switchboard_request_panics_total");
        recorder.register_counter(&key, &META).increment(0);
        Metrics {
            recorder,
            handle,
            handles: Default::default(),
            events: Default::default(),
        }
    }
}

const META: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);

/// What the alerts have done: transitions by rule and state, alerts firing by rule,
/// notices never delivered.
#[derive(Debug, Default)]
pub struct AlertFigures {
    pub transitions: Vec<(String, &'static str, u64)>,
    pub firing: BTreeMap<String, u64>,
    pub failed: u64,
}

/// Counts kept outside the metrics recorder, read at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub counter_store_errors: u64,
    pub counters_refused: u64,
    /// Counters shed to make room (a key past its share of a plugin's table).
    pub counters_shed: u64,
    /// Failed admin authentications, and attempts refused by the throttle.
    pub admin_auth_failures: u64,
    pub admin_auth_throttled: u64,
    /// Passwords hashed to check a sign-in (unknown names included).
    pub password_checks: u64,
    /// `None` when no usage log is kept.
    pub usage_records_dropped: Option<u64>,
    /// Access-log lines dropped because its writer fell behind (when the log is on).
    pub access_log_lines_dropped: Option<u64>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    pub reload_last_duration_us: u64,
}

impl Metrics {
    fn gauge(&self, name: &'static str, labels: &[(&'static str, String)], v: f64) {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect();
        let key = metrics::Key::from_parts(name, labels);
        self.recorder.register_gauge(&key, &META).set(v);
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, String)], v: u64) {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect();
        let key = metrics::Key::from_parts(name, labels);
        self.recorder.register_counter(&key, &META).absolute(v);
    }

    fn plugin<W: World>(&self, pool: &InstancePool<W>, durations: &mut BTreeMap<String, String>) {
        use std::sync::atomic::Ordering::Relaxed;
        let labels = format!(
            "plugin=\"{}\",kind=\"{}\"",
            histogram::escape(pool.label()),
            W::KIND.label()
        );
        if let std::collections::btree_map::Entry::Vacant(slot) = durations.entry(labels) {
            let mut text = String::new();
            pool.stats
                .durations
                .render(PLUGIN_DURATION, slot.key(), &mut text);
            slot.insert(text);
        }
        let base = [
            ("plugin", pool.label().to_string()),
            ("kind", W::KIND.label().to_string()),
        ];
        self.counter(
            "switchboard_plugin_calls_total",
            &base,
            pool.stats.calls.load(Relaxed),
        );
        self.counter(
            "switchboard_plugin_instantiations_total",
            &base,
            pool.stats.instantiations.load(Relaxed),
        );
        self.gauge(
            "switchboard_plugin_quarantined",
            &base,
            if pool.quarantine.view().quarantined {
                1.0
            } else {
                0.0
            },
        );
        for k in FailureKind::ALL {
            let mut l = base.to_vec();
            l.push(("reason", k.label().to_string()));
            self.counter(
                "switchboard_plugin_failures_total",
                &l,
                pool.stats.failures(k),
            );
        }
    }

    /// The figures recorded on the request path, as exposition text (tests).
    #[cfg(test)]
    pub fn text(&self) -> String {
        self.handle.render()
    }

    /// A request task panicked (and was answered 500).
    pub fn panicked(&self) {
        let key = metrics::Key::from_static_name("switchboard_request_panics_total");
        self.recorder.register_counter(&key, &META).increment(1);
    }

    /// Folds the histogram samples recorded since the last call into their buckets, so
    /// memory stays bounded between scrapes (and when nobody scrapes at all).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Brings every figure up to date from `live` and `c` and renders the exposition
    /// text.
    pub fn render(&self, live: &LiveState, c: &Counts) -> String {
        self.counts(c);
        if let Some(cache) = &live.cache {
            self.cache(cache);
        }
        let mut durations = BTreeMap::new();
        for r in live.routes.values() {
            for t in &r.targets {
                self.target(&r.route.name, t);
            }
            self.plugin(&r.strategy, &mut durations);
            for p in &r.policies {
                self.plugin(&p.pool, &mut durations);
            }
            for p in r.redactors.iter() {
                self.plugin(&p.pool, &mut durations);
            }
            for g in r.guardrails.iter() {
                self.plugin(&g.pool, &mut durations);
            }
        }
        for p in live.providers.values() {
            self.plugin(&p.adapter, &mut durations);
        }
        let mut out = self.handle.render();
        if !durations.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {PLUGIN_DURATION} How long plugin calls take.\n# TYPE {PLUGIN_DURATION} histogram"
            );
            for text in durations.values() {
                out.push_str(text);
            }
        }
        out
    }

    /// The gateway-wide counts: counter store, usage writer, reloads.
    fn counts(&self, c: &Counts) {
        self.counter(
            "switchboard_counter_store_errors_total",
            &[],
            c.counter_store_errors,
        );
        self.counter(
            "switchboard_counters_refused_total",
            &[],
            c.counters_refused,
        );
        self.counter("switchboard_counters_shed_total", &[], c.counters_shed);
        self.counter(
            "switchboard_admin_auth_failures_total",
            &[],
            c.admin_auth_failures,
        );
        self.counter(
            "switchboard_admin_auth_throttled_total",
            &[],
            c.admin_auth_throttled,
        );
        self.counter("switchboard_password_checks_total", &[], c.password_checks);
        if let Some(dropped) = c.usage_records_dropped {
            self.counter("switchboard_usage_records_dropped_total", &[], dropped);
        }
        if let Some(dropped) = c.access_log_lines_dropped {
            self.counter("switchboard_access_log_lines_dropped_total", &[], dropped);
        }
        for (result, n) in [("ok", c.reloads_ok), ("error", c.reloads_failed)] {
            self.counter("switchboard_reloads_total", &[("result", result.into())], n);
        }
        self.gauge(
            "switchboard_reload_last_duration_seconds",
            &[],
            c.reload_last_duration_us as f64 / 1e6,
        );
    }

    /// The alerts' figures (what the alert evaluator reports): transitions by rule and
    /// state, alerts firing by rule, notices never delivered.
    pub fn alerts(&self, f: AlertFigures) {
        for (rule, state, n) in f.transitions {
            let l = [("rule", rule), ("state", state.to_string())];
            self.counter("switchboard_alerts_total", &l, n);
        }
        for (rule, n) in f.firing {
            self.gauge("switchboard_alerts_firing", &[("rule", rule)], n as f64);
        }
        self.counter("switchboard_alert_notices_failed_total", &[], f.failed);
    }

    fn cache(&self, c: &crate::cache::ResponseCache) {
        use std::sync::atomic::Ordering::Relaxed;
        let (entries, bytes) = c.size();
        self.gauge("switchboard_cache_entries", &[], entries as f64);
        self.gauge("switchboard_cache_bytes", &[], bytes as f64);
        self.counter(
            "switchboard_cache_stored_total",
            &[],
            c.stats.stored.load(Relaxed),
        );
        self.counter(
            "switchboard_cache_too_large_total",
            &[],
            c.stats.too_large.load(Relaxed),
        );
        if let Some((hits, errors)) = c.redis_counts() {
            self.counter("switchboard_cache_redis_hits_total", &[], hits);
            self.counter("switchboard_cache_redis_errors_total", &[], errors);
        }
    }

    /// One target's live signals: circuit, load, latency, errors, weight, limits.
    fn target(&self, route: &str, t: &crate::live::LiveTarget) {
        use std::sync::atomic::Ordering::Relaxed;
        let l = [
            ("route", route.to_string()),
            ("provider", t.target.provider.clone()),
            ("model", t.target.model.clone()),
        ];
        let s = &t.signals;
        let (lat, ttft, err) = s.snapshot();
        let health = match s.breaker.health() {
            Health::Healthy => 0.0,
            Health::HalfOpen => 1.0,
            Health::Open => 2.0,
        };
        let (rr, rt) = s.remaining();
        let gauges = [
            ("switchboard_target_circuit_state", Some(health)),
            (
                "switchboard_target_in_flight",
                Some(s.in_flight.load(Relaxed) as f64),
            ),
            (
                "switchboard_target_latency_ewma_seconds",
                Some(lat as f64 / 1e6),
            ),
            (
                "switchboard_target_ttft_ewma_seconds",
                Some(ttft as f64 / 1e6),
            ),
            ("switchboard_target_error_rate", Some(err as f64)),
            (
                "switchboard_target_effective_weight",
                Some(s.effective_weight(t.target.weight) as f64),
            ),
            (
                "switchboard_target_ratelimit_remaining_requests",
                rr.map(|v| v as f64),
            ),
            (
                "switchboard_target_ratelimit_remaining_tokens",
                rt.map(|v| v as f64),
            ),
        ];
        for (name, v) in gauges {
            if let Some(v) = v {
                self.gauge(name, &l, v);
            }
        }
        self.counter(
            "switchboard_target_attempts_total",
            &l,
            s.requests.load(Relaxed),
        );
        self.counter(
            "switchboard_target_failures_total",
            &l,
            s.failures.load(Relaxed),
        );
    }
}

const PLUGIN_DURATION: &str = "switchboard_plugin_call_duration_seconds";
