//! Per-instance host state and the `host` interface every plugin imports:
//! settings, logging and windowed counters. WASI is linked with no preopened
//! directories, no sockets and no environment, so a plugin can reach nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{v0_1, v0_2, v0_3};
use super::convert::Conv;
use super::counters::Counters;
use crate::types::LogLevel;

/// Who a plugin instance is: its config name (the counter namespace), the label of
/// this configured use of it (stats, logs), settings, and its log allowance.
#[derive(Debug)]
pub struct PluginIdentity {
    pub name: String,
    pub label: String,
    pub settings: BTreeMap<String, String>,
    pub log: LogBudget,
}

/// A plugin's log lines per second: past the allowance lines are dropped and counted,
/// and the next second opens with one line saying how many were.
#[derive(Debug)]
pub struct LogBudget {
    per_sec: u32,
    state: parking_lot::Mutex<(u64, u32, u64)>,
}

impl LogBudget {
    pub fn new(per_sec: u32) -> Self {
        LogBudget {
            per_sec,
            state: parking_lot::Mutex::new((0, 0, 0)),
        }
    }

    /// Whether a line may be written now, and how many were suppressed before it.
    pub fn take(&self) -> (bool, u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut s = self.state.lock();
        let (second, used, suppressed) = &mut *s;
        let mut reported = 0;
        if *second != now {
            *second = now;
            *used = 0;
            reported = std::mem::take(suppressed);
        }
        if *used >= self.per_sec {
            *suppressed += 1;
            return (false, reported);
        }
        *used += 1;
        (true, reported)
    }
}

/// A call's CPU time: what the guest ran between yields, host calls excluded. The
/// epoch callback adds to it each tick; past `limit` the call is interrupted.
pub struct CpuClock {
    pub used: std::time::Duration,
    pub limit: std::time::Duration,
    /// When the guest last started running (the call began, a yield or a host call
    /// returned): shared with the future that resumes it after a yield.
    pub resumed: Arc<parking_lot::Mutex<std::time::Instant>>,
    pub exceeded: bool,
}

impl CpuClock {
    /// A call begins at `now` with `limit` of CPU time.
    pub fn restart(&mut self, limit: std::time::Duration, now: std::time::Instant) {
        self.used = std::time::Duration::ZERO;
        self.limit = limit;
        self.exceeded = false;
        *self.resumed.lock() = now;
    }
}

/// Caps linear memory per instance and remembers that the cap was hit, so a
/// failure can be reported as "memory" rather than as a bare trap.
pub struct MemoryCap {
    pub max_bytes: usize,
    pub exceeded: bool,
    /// The most linear memory this instance has had (`plugin test` reports it).
    pub peak: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub memory: MemoryCap,
    pub cpu: CpuClock,
    /// The last bytes the guest wrote to stderr (a panic message lands here).
    pub stderr: GuestStderr,
    identity: Arc<PluginIdentity>,
    counters: Arc<Counters>,
    prices: RouteTable,
    /// The shape of the request a strategy is routing (set before `select`).
    pub shape: crate::types::RequestShape,
    /// The time (unix seconds) a policy call counts at: its request's admission, so a
    /// `record` settles in the window its `check` reserved in (`None`: now).
    pub clock: Option<u64>,
    /// The gateway key whose request the call serves: whose share of the counter
    /// table a new counter takes.
    pub caller: Option<Arc<str>>,
    /// The models the call may ask (0.3.0 `models`): lent by the request it serves.
    pub models: Option<Lent>,
}

/// What the request a plugin call serves lets the plugin reach: models on routes, as
/// children of that request (billed to its key and budgets, recorded with it as their
/// parent, running no guardrails of their own).
pub trait ModelAccess: Send + Sync {
    fn infer(
        &self,
        route: String,
        messages: Vec<crate::types::ChatMessage>,
        params: crate::types::InferParams,
    ) -> futures_util::future::BoxFuture<'static, Result<crate::types::InferAnswer, String>>;

    fn embed(
        &self,
        route: String,
        texts: Vec<String>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Vec<f32>>, String>>;

    fn moderate(
        &self,
        route: String,
        texts: Vec<String>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<crate::types::Moderation>, String>>;
}

/// The model access a lease lends its calls, and how long their model calls may wait.
#[derive(Clone)]
pub struct Lent {
    pub access: Arc<dyn ModelAccess>,
    pub timeout: std::time::Duration,
}

/// Bytes of guest stderr kept per instance (the last ones written).
const STDERR_BYTES: usize = 4 << 10;

/// A guest's stderr: keeps the last `STDERR_BYTES` written and never refuses a write
/// (a full pipe that errored would make Rust's `eprintln!` panic the guest).
#[derive(Clone, Default)]
pub struct GuestStderr(Arc<parking_lot::Mutex<std::collections::VecDeque<u8>>>);

impl GuestStderr {
    /// Forgets what was written (a call begins).
    pub fn clear(&self) {
        self.0.lock().clear();
    }

    pub fn text(&self) -> String {
        let b = self.0.lock();
        String::from_utf8_lossy(&b.iter().copied().collect::<Vec<u8>>()).into_owned()
    }
}

impl tokio::io::AsyncWrite for GuestStderr {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut b = self.0.lock();
        b.extend(buf.iter().rev().take(STDERR_BYTES).rev());
        let excess = b.len().saturating_sub(STDERR_BYTES);
        b.drain(..excess);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl HostState {
    pub fn new(
        identity: Arc<PluginIdentity>,
        counters: Arc<Counters>,
        prices: RouteTable,
        max_memory: usize,
    ) -> Self {
        let stderr = GuestStderr::default();
        HostState {
            // Nothing inherited: no args, env, stdin, preopens or network; stderr
            // only into memory, read when a call traps.
            wasi: WasiCtx::builder().stderr(stderr.clone()).build(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: max_memory,
                exceeded: false,
                peak: 0,
            },
            cpu: CpuClock {
                used: std::time::Duration::ZERO,
                limit: std::time::Duration::ZERO,
                resumed: Arc::new(parking_lot::Mutex::new(std::time::Instant::now())),
                exceeded: false,
            },
            stderr,
            identity,
            counters,
            prices,
            shape: Default::default(),
            clock: None,
            caller: None,
            models: None,
        }
    }

    /// The counters (and key-value store) this plugin's calls use.
    pub(super) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The name this plugin is configured under: its namespace in the stores.
    pub(super) fn plugin(&self) -> &str {
        &self.identity.name
    }

    /// The counter key of `key` for this plugin: long keys (a client's `user`, say)
    /// are kept as a digest, so no client text of any size becomes host state.
    fn counter_key(&self, key: &str) -> String {
        super::counters::namespaced(&self.identity.name, key)
    }

    /// The time the call counts at (unix seconds).
    fn now(&self) -> u64 {
        self.clock.unwrap_or_else(super::counters::now_secs)
    }

    /// A host call begins: the guest's time since it last resumed is its CPU time.
    pub(super) fn charge(&mut self) {
        let since = *self.cpu.resumed.lock();
        self.cpu.used += since.elapsed();
    }

    /// A host call returned: the time it took is not the guest's CPU time.
    pub(super) fn resumed(&self) {
        *self.cpu.resumed.lock() = std::time::Instant::now();
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    fn setting(&self, name: &str) -> Option<String> {
        self.identity.settings.get(name).cloned()
    }

    fn log(&self, level: LogLevel, message: String) {
        let plugin = &self.identity.label;
        let (allowed, suppressed) = self.identity.log.take();
        if suppressed > 0 {
            tracing::warn!(plugin, "suppressed {suppressed} log lines of this plugin");
        }
        if !allowed {
            return;
        }
        let message: String = message.chars().take(2000).collect();
        match level {
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }

    async fn counter_add(
        &mut self,
        key: String,
        delta: i64,
        window_secs: u64,
    ) -> wasmtime::Result<i64> {
        self.charge();
        let key = self.counter_key(&key);
        let caller = super::counters::Caller {
            plugin: &self.identity.name,
            key: self.caller.as_deref(),
        };
        let at = self.now();
        let r = self
            .counters
            .add_at(caller, key, delta, window_secs, at)
            .await;
        self.resumed();
        Ok(r?)
    }

    async fn counter_get(&mut self, key: String, window_secs: u64) -> wasmtime::Result<i64> {
        self.charge();
        let key = self.counter_key(&key);
        let r = self.counters.get_at(key, window_secs, self.now()).await;
        self.resumed();
        Ok(r?)
    }
}

/// What a plugin may read of a route: its reservation prices (the highest input and
/// output price per million tokens, `host::route-prices`) and its targets' tags
/// (provider, model, tags: `host::target-tags`).
#[derive(Debug, Default, Clone)]
pub struct RouteFacts {
    pub prices: (f64, f64),
    pub tags: Vec<(String, String, Vec<String>)>,
}

/// Every route's facts, set whenever a live state is built.
pub type RouteTable = Arc<arc_swap::ArcSwap<std::collections::HashMap<String, RouteFacts>>>;

/// The `host` interface of one contract version: the same capabilities in each, and
/// what a version adds (`$($extra)*`).
macro_rules! host_version {
    ($v:ident $($extra:tt)*) => {
        impl $v::types::Host for HostState {}

        impl $v::host::Host for HostState {
            fn setting(&mut self, name: String) -> Option<String> {
                HostState::setting(self, &name)
            }

            fn log(&mut self, level: $v::types::LogLevel, message: String) {
                HostState::log(self, level.conv(), message)
            }

            async fn counter_add(
                &mut self,
                key: String,
                delta: i64,
                window_secs: u64,
            ) -> wasmtime::Result<i64> {
                HostState::counter_add(self, key, delta, window_secs).await
            }

            async fn counter_get(
                &mut self,
                key: String,
                window_secs: u64,
            ) -> wasmtime::Result<i64> {
                HostState::counter_get(self, key, window_secs).await
            }

            fn window_remaining_secs(&mut self, window_secs: u64) -> u64 {
                super::counters::window_remaining_at(window_secs, self.now())
            }

            $($extra)*
        }
    };
}
host_version!(v0_1);
/// What 0.2.0 added to `host`, kept by every version since.
macro_rules! host_since_two {
    ($v:ident) => {
        host_version!($v
        fn plugin_name(&mut self) -> String {
            self.identity.name.clone()
        }

        fn route_prices(&mut self, route: String) -> (f64, f64) {
            self.prices.load().get(&route).map_or((0.0, 0.0), |f| f.prices)
        }

        fn target_tags(&mut self, route: String, provider: String, model: String) -> Vec<String> {
            let table = self.prices.load();
            let facts = table.get(&route);
            facts
                .and_then(|f| f.tags.iter().find(|(p, m, _)| *p == provider && *m == model))
                .map(|(_, _, tags)| tags.clone())
                .unwrap_or_default()
        }

        fn current_request_shape(&mut self) -> $v::types::RequestShape {
            let s = self.shape;
            $v::types::RequestShape {
                images: s.images,
                audio: s.audio,
                tools: s.tools,
                json_output: s.json_output,
                messages: s.messages,
            }
        }

        fn calendar_period(
            &mut self,
            period: String,
            zone: String,
        ) -> Result<(String, u64, String), String> {
            super::calendar::period_at_secs(&period, &zone, self.now())
        }
        );
    };
}
host_since_two!(v0_2);
host_since_two!(v0_3);

#[cfg(test)]
mod tests {
    use super::LogBudget;

    #[test]
    fn log_lines_past_the_allowance_are_counted_then_reported() {
        let b = LogBudget::new(100);
        let allowed = (0..1000).filter(|_| b.take().0).count();
        // Within one second: 100 lines (two if the second turned meanwhile).
        assert!((100..=200).contains(&allowed), "{allowed}");
        let (ok, suppressed) = {
            std::thread::sleep(std::time::Duration::from_millis(1100));
            b.take()
        };
        assert!(ok);
        assert!(suppressed >= 800, "{suppressed}");
    }
}
