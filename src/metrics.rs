//! Prometheus exposition at `/metrics` on the admin listener. The figures of
//! `/admin/health` (circuit state and live signals per target) and the plugin call and
//! failure counts, read from the live state when scraped. Labels are only names from
//! config (route, provider, model, plugin) and fixed kinds, so cardinality stays low.

use metrics::{Label, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::live::LiveState;
use crate::plugins::FailureKind;
use crate::plugins::bindings::types::Health;
use crate::plugins::pool::{InstancePool, World};

/// One gateway's registry (not the process-global one, so several gateways in one
/// process, as in the tests, keep their figures apart).
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        Metrics { recorder, handle }
    }
}

const META: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);

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

    fn plugin<W: World>(&self, pool: &InstancePool<W>) {
        use std::sync::atomic::Ordering::Relaxed;
        let base = [
            ("plugin", pool.name().to_string()),
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
        for k in [
            FailureKind::Trap,
            FailureKind::Deadline,
            FailureKind::Memory,
            FailureKind::InvalidOutput,
            FailureKind::Capacity,
        ] {
            let mut l = base.to_vec();
            l.push(("reason", k.label().to_string()));
            self.counter(
                "switchboard_plugin_failures_total",
                &l,
                pool.stats.failures(k),
            );
        }
    }

    /// Brings every figure up to date from `live` and renders the exposition text.
    pub fn render(&self, live: &LiveState) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        for r in live.routes.values() {
            for t in &r.targets {
                let l = [
                    ("route", r.route.name.clone()),
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
                self.gauge("switchboard_target_circuit_state", &l, health);
                self.gauge(
                    "switchboard_target_in_flight",
                    &l,
                    s.in_flight.load(Relaxed) as f64,
                );
                self.gauge(
                    "switchboard_target_latency_ewma_seconds",
                    &l,
                    lat as f64 / 1e6,
                );
                self.gauge(
                    "switchboard_target_ttft_ewma_seconds",
                    &l,
                    ttft as f64 / 1e6,
                );
                self.gauge("switchboard_target_error_rate", &l, err as f64);
                self.gauge(
                    "switchboard_target_effective_weight",
                    &l,
                    s.effective_weight(t.target.weight) as f64,
                );
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
                let (rr, rt) = s.remaining();
                if let Some(v) = rr {
                    self.gauge(
                        "switchboard_target_ratelimit_remaining_requests",
                        &l,
                        v as f64,
                    );
                }
                if let Some(v) = rt {
                    self.gauge(
                        "switchboard_target_ratelimit_remaining_tokens",
                        &l,
                        v as f64,
                    );
                }
            }
            self.plugin(&r.strategy);
            for p in &r.policies {
                self.plugin(&p.pool);
            }
            for p in &r.redactors {
                self.plugin(&p.pool);
            }
        }
        for p in live.providers.values() {
            self.plugin(&p.adapter);
        }
        self.handle.render()
    }
}
