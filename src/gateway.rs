//! The gateway as one value: the live state (swapped whole on reload), the plugin
//! engine, metrics, the reload bookkeeping, the usage log and the access log. A leaf of the module
//! graph's upper half: the request path, the listeners and reloads all take it, and
//! it imports none of them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::live::LiveState;
use crate::plugins::PluginRuntime;

/// The gateway: the live state (swapped whole on reload) and the plugin engine.
pub struct Gateway {
    pub live: ArcSwap<LiveState>,
    pub runtime: Arc<PluginRuntime>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub reload: ReloadState,
    pub usage: crate::usage::UsageLog,
    pub access_log: crate::access_log::AccessLog,
    pub responses: crate::stores::response_store::ResponseStore,
    pub vkeys: crate::access::vkeys::VirtualKeys,
    pub alerts: crate::alerts::Alerts,
    pub control: crate::control::Control,
    /// Providers, models and prompts made at run time, and every version.
    pub registry: crate::registry::Registry,
    /// People who run the gateway, their sessions and tokens.
    pub people: crate::access::people::People,
    /// Single sign-on for the console (`[auth.oidc]`), discovered on first use.
    pub sso: crate::access::people::sso::Sso,
    /// The JWKS end-user tokens are checked against (`[auth.end_users]`).
    pub end_users: crate::access::end_users::EndUsers,
    /// The memory request translations in flight may hold (`server.translation_memory_mib`).
    pub translations: Mutex<Arc<crate::request_limits::TranslationBudget>>,
    /// Failed admin authentication per address and overall.
    pub auth_throttle: crate::access::auth_throttle::AuthThrottle,
    /// `[telemetry]`'s tracer, set at start (a reload does not change it).
    pub telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    /// A shutdown has begun: `/ready` says 503 while requests drain.
    pub draining: std::sync::atomic::AtomicBool,
    /// The gateway itself, for what outlives a borrow of it: a plugin's model call
    /// (`models.infer`) runs a child request through it.
    pub me: std::sync::Weak<Gateway>,
}

/// Where the config comes from, and how reloads went.
#[derive(Default)]
pub struct ReloadState {
    pub path: Mutex<Option<PathBuf>>,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    /// The reason the last reload was refused (cleared by a good one).
    pub last_error: Mutex<Option<String>>,
    /// How long the last reload took, in microseconds (built, checked and swapped).
    pub last_duration_us: AtomicU64,
    /// The config file as read, before the registry and the runtime overrides were
    /// layered on it.
    pub base: Mutex<Option<Arc<crate::config::Config>>>,
    /// The last build from the registry and the overrides failed: try again.
    pub retry: std::sync::atomic::AtomicBool,
    /// Held while a new live state is built (a reload, or overrides applied), so two
    /// builds never race to be the last stored.
    pub building: tokio::sync::Mutex<()>,
}

impl ReloadState {
    pub fn base_config(&self) -> Option<Arc<crate::config::Config>> {
        self.base.lock().clone()
    }
}

impl Gateway {
    /// Whether this replica should get traffic: its store read, no shutdown begun —
    /// and if not, why (`GET /ready`).
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("draining");
        }
        if !self.vkeys.loaded() {
            return Err("starting");
        }
        Ok(())
    }

    /// A gateway serving `live`, its other parts as yet unconfigured.
    pub fn new(
        live: LiveState,
        runtime: Arc<PluginRuntime>,
        telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    ) -> Arc<Gateway> {
        Arc::new_cyclic(|me| Gateway {
            live: ArcSwap::from_pointee(live),
            runtime,
            metrics: Arc::new(Default::default()),
            reload: Default::default(),
            usage: Default::default(),
            access_log: Default::default(),
            responses: Default::default(),
            vkeys: Default::default(),
            alerts: Default::default(),
            control: Default::default(),
            registry: Default::default(),
            people: Default::default(),
            sso: Default::default(),
            end_users: Default::default(),
            auth_throttle: Default::default(),
            translations: Default::default(),
            telemetry,
            draining: Default::default(),
            me: me.clone(),
        })
    }

    /// The translation budget of `bytes` (made anew when a reload changed its size).
    pub fn translation_budget(
        &self,
        bytes: usize,
    ) -> Arc<crate::request_limits::TranslationBudget> {
        let mut b = self.translations.lock();
        if b.bytes() != (bytes >> 10).max(1) << 10 {
            *b = Arc::new(crate::request_limits::TranslationBudget::new(bytes));
        }
        b.clone()
    }

    /// The counts `/metrics` shows that live outside the metrics recorder.
    pub fn counts(&self) -> crate::metrics::Counts {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = self.runtime.counters();
        crate::metrics::Counts {
            counter_store_errors: counters.errors.load(Relaxed),
            counters_refused: counters.refused.load(Relaxed),
            counters_shed: counters.shed.load(Relaxed),
            admin_auth_failures: self.auth_throttle.failures.load(Relaxed),
            admin_auth_throttled: self.auth_throttle.throttled.load(Relaxed),
            password_checks: self.people.checks.load(Relaxed),
            usage_records_dropped: self.usage.sink().map(|w| w.dropped()),
            access_log_lines_dropped: self.access_log.sink().map(|w| w.dropped()),
            reloads_ok: self.reload.succeeded.load(Relaxed),
            reloads_failed: self.reload.failed.load(Relaxed),
            reload_last_duration_us: self.reload.last_duration_us.load(Relaxed),
        }
    }
}
