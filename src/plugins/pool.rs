//! Warm instances of one configured plugin, and the lease that runs a call in one.
//!
//! Instantiating costs tens of microseconds, a warm call one, so instances are kept
//! and reused: up to `max_idle` per plugin, each replaced after `recycle_after`
//! calls, and any instance that failed (trap, deadline, memory) is thrown away so
//! no state from a bad call survives. Every live instance holds a permit of the
//! engine-wide semaphore sized to the pooling allocator, so a full pool is a
//! clear error instead of an allocator failure.
//!
//! One plugin cannot hurt the others: a guest that runs long yields its thread at
//! every epoch tick (its CPU deadline still holds, counted only while it runs), each
//! configured plugin has its own bulkhead (calls at once, live instances), and one
//! that keeps failing is quarantined (`quarantine.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Engine, Store};

use super::counters::Counters;
use super::host::{HostState, PluginIdentity};
use super::world::Version;
use super::{FailureKind, PluginError};
use crate::config::PluginLimits;

pub use super::world::World;

/// Call and failure counts of one configured plugin, for metrics and tests.
#[derive(Default, Debug)]
pub struct PluginStats {
    pub calls: AtomicU64,
    /// How long calls take, failed ones included.
    pub durations: crate::histogram::DurationHistogram,
    pub instantiations: AtomicU64,
    /// The most linear memory any instance has had, in bytes.
    pub peak_memory: AtomicU64,
    pub failures: [AtomicU64; FailureKind::COUNT],
    /// The last failure's message, with a trap's guest output and backtrace.
    pub last_error: Mutex<Option<String>>,
}

impl PluginStats {
    pub fn failures(&self, kind: FailureKind) -> u64 {
        self.failures[kind as usize].load(Ordering::Relaxed)
    }
}

pub struct Warm<W: World> {
    store: Store<HostState>,
    bindings: W,
    uses: u32,
    _permit: OwnedSemaphorePermit,
    /// This plugin's share of live instances.
    _share: OwnedSemaphorePermit,
}

pub struct InstancePool<W: World> {
    pub(super) engine: Engine,
    pub(super) pre: W::Pre,
    pub(super) identity: Arc<PluginIdentity>,
    pub(super) counters: Arc<Counters>,
    pub(super) prices: super::host::RouteTable,
    pub(super) limits: PluginLimits,
    pub(super) capacity: Arc<Semaphore>,
    pub(super) max_idle: usize,
    pub(super) recycle_after: u32,
    pub(super) idle: Mutex<Vec<Warm<W>>>,
    pub stats: Arc<PluginStats>,
    /// Hash of the component bytes, to reuse unchanged plugins across reloads.
    pub(super) digest: [u8; 32],
    /// Calls of this plugin running at once (the bulkhead).
    pub(super) calls: Arc<Semaphore>,
    /// Live instances of this plugin.
    pub(super) instances: Arc<Semaphore>,
    pub(super) instance_share: u32,
    pub(super) isolation_calls: u32,
    pub quarantine: super::quarantine::Quarantine,
}

/// Epoch ticks per second (the ticker thread's rate). 5 ms granularity: a deadline
/// fires at most one tick late, and the ticker wakes 200 times a second.
pub const TICKS_PER_SEC: u64 = 200;

impl<W: World> InstancePool<W> {
    /// The label of this configured use of the plugin (stats, metrics, errors).
    pub fn label(&self) -> &str {
        &self.identity.label
    }

    /// The contract version the component was built against.
    pub fn version(&self) -> Version {
        W::version(&self.pre)
    }

    /// SHA-256 of the component bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// Calls of this plugin that may run at once.
    pub fn calls_limit(&self) -> u32 {
        self.isolation_calls
    }

    /// A call's input of `bytes` the client sent is too large for this plugin: more
    /// than a quarter of its memory cap, which no parse of it could fit in. Answered
    /// 413 before the plugin runs, and not the plugin's failure.
    pub fn oversize(&self, bytes: usize) -> Option<PluginError> {
        (bytes.saturating_mul(4) > self.limits.memory_bytes).then(|| {
            self.fail(
                "",
                FailureKind::Oversize,
                format!(
                    "the request ({} KiB) is too large for this plugin's memory ({} MiB); send a smaller one",
                    bytes >> 10,
                    self.limits.memory_bytes >> 20
                ),
            )
        })
    }

    fn fail(&self, route: &str, kind: FailureKind, message: String) -> PluginError {
        self.stats.failures[kind as usize].fetch_add(1, Ordering::Relaxed);
        if !matches!(kind, FailureKind::Quarantined | FailureKind::Oversize) {
            *self.stats.last_error.lock() = Some(crate::secrets::scrub_owned(message.clone()));
        }
        if let Some(q) = self.quarantine.failed(route, kind) {
            tracing::warn!(plugin = %self.identity.label, "{q}");
        }
        PluginError::Call {
            plugin: self.identity.label.clone(),
            kind,
            message,
        }
    }

    async fn instantiate(&self) -> Result<Warm<W>, PluginError> {
        let share = self.instances.clone().try_acquire_owned().map_err(|_| {
            self.fail(
                "",
                FailureKind::Capacity,
                format!(
                    "all {} instances this plugin may hold are in use (plugins.max_instances_per_plugin)",
                    self.instance_share
                ),
            )
        })?;
        let permit = self.capacity.clone().try_acquire_owned().map_err(|_| {
            self.fail(
                "",
                FailureKind::Capacity,
                "all plugin instance slots are in use".to_string(),
            )
        })?;
        let state = HostState::new(
            self.identity.clone(),
            self.counters.clone(),
            self.prices.clone(),
            self.limits.memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store
            .data_mut()
            .cpu
            .restart(self.limits.deadline, std::time::Instant::now());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(on_tick);
        let bindings = W::instantiate(&self.pre, &mut store).await.map_err(|e| {
            self.fail(
                "",
                classify(&e, &store),
                format!("instantiation failed: {}", summary(&e, None)),
            )
        })?;
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Warm {
            store,
            bindings,
            uses: 0,
            _permit: permit,
            _share: share,
        })
    }

    /// Takes a warm instance (or makes one) for one or more calls made for `route`
    /// (empty outside a request); fails fast while the plugin is quarantined there.
    pub async fn lease(self: &Arc<Self>, route: &str) -> Result<Lease<W>, PluginError> {
        let trial = match self.quarantine.admit(route) {
            Ok(trial) => trial,
            Err(why) => return Err(self.fail(route, FailureKind::Quarantined, why)),
        };
        // A trial whose lease never comes to be (cancelled while waiting below)
        // decided nothing: let the next request try.
        let mut undecided = Undecided(&self.quarantine, route, trial);
        // The first call's bulkhead slot is taken before an instance: a burst waits
        // for slots instead of making instances it cannot use yet.
        let slot = self.call_slot(wall_limit(self)).await?;
        let idle = self.idle.lock().pop();
        let warm = match idle {
            Some(w) => w,
            None => match self.instantiate().await {
                Ok(w) => w,
                Err(e) => {
                    undecided.2 = false;
                    if trial {
                        self.quarantine.trial_over(route, false);
                    }
                    return Err(e);
                }
            },
        };
        undecided.2 = false;
        Ok(Lease {
            pool: self.clone(),
            warm: Some(warm),
            call_started: None,
            trial,
            route: route.into(),
            input_bytes: 0,
            slot: Some(slot),
            models: None,
        })
    }

    /// A slot of this plugin's bulkhead, waiting up to `wait` for one.
    async fn call_slot(&self, wait: Duration) -> Result<OwnedSemaphorePermit, PluginError> {
        // A free slot needs no timer.
        if let Ok(p) = self.calls.clone().try_acquire_owned() {
            return Ok(p);
        }
        match tokio::time::timeout(wait, self.calls.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(self.fail(
                "",
                FailureKind::Capacity,
                format!(
                    "{} calls of this plugin were already running (plugins.max_concurrent_calls)",
                    self.isolation_calls
                ),
            )),
        }
    }

    /// Instantiates one instance now and keeps it warm: proves at load time that the
    /// component links against our host and instantiates.
    pub(super) async fn prewarm(self: &Arc<Self>) -> Result<(), PluginError> {
        let warm = self.instantiate().await?;
        self.idle.lock().push(warm);
        Ok(())
    }

    fn give_back(&self, warm: Warm<W>) {
        if warm.uses >= self.recycle_after {
            return;
        }
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(warm);
        }
    }
}

/// Runs at every epoch tick while a guest runs: adds the time since it last resumed
/// to its CPU time, interrupts it past its deadline, and otherwise yields the thread
/// so other requests on it go on (and the guest resumes when its turn comes).
fn on_tick(
    mut ctx: wasmtime::StoreContextMut<'_, HostState>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let cpu = &mut ctx.data_mut().cpu;
    let now = std::time::Instant::now();
    let since = *cpu.resumed.lock();
    cpu.used += now.saturating_duration_since(since);
    if cpu.used >= cpu.limit {
        cpu.exceeded = true;
        return Ok(wasmtime::UpdateDeadline::Interrupt);
    }
    let resumed = cpu.resumed.clone();
    Ok(wasmtime::UpdateDeadline::YieldCustom(
        1,
        Box::pin(async move {
            tokio::task::yield_now().await;
            *resumed.lock() = std::time::Instant::now();
        }),
    ))
}

use super::failure::{classify, summary};

/// An instance checked out of its pool; returned on drop unless a call failed.
pub struct Lease<W: World> {
    pool: Arc<InstancePool<W>>,
    warm: Option<Warm<W>>,
    /// When the call in progress began (set by `begin`, read by `end`).
    call_started: Option<std::time::Instant>,
    /// This lease is a quarantined plugin's trial: its first call decides.
    trial: bool,
    /// The route its calls are made for (what a quarantine is kept per).
    route: Box<str>,
    /// Bytes of client input the call in progress takes.
    input_bytes: usize,
    /// The bulkhead slot of the call in progress.
    slot: Option<OwnedSemaphorePermit>,
    /// The models its calls may ask (0.3.0), lent by the request they serve.
    models: Option<super::host::Lent>,
}

impl<W: World> Lease<W> {
    pub fn pool(&self) -> &Arc<InstancePool<W>> {
        &self.pool
    }

    /// Wall-clock bound of one call: the CPU deadline (epoch interruption) does not
    /// fire while a guest waits in an async host call, so the host also times out;
    /// waits on a remote counter store are allowed for on top.
    pub fn wall_limit(&self) -> Duration {
        let models = self.models.as_ref().map_or(Duration::ZERO, |m| m.timeout);
        wall_limit(&self.pool) + models
    }

    /// Lets this lease's calls ask models (`models.infer`/`embed`) through `lent`,
    /// waiting up to its timeout on them besides the call's own bound.
    pub fn lend(&mut self, lent: super::host::Lent) {
        self.models = Some(lent);
    }

    /// Waits for a slot of the plugin's bulkhead (up to the call's wall limit), unless
    /// the lease still holds the one it was made with.
    pub async fn slot(&mut self) -> Result<(), PluginError> {
        if self.slot.is_none() {
            self.slot = Some(self.pool.call_slot(self.wall_limit()).await?);
        }
        Ok(())
    }

    /// A call began on this instance and never ended (its future was dropped while the
    /// guest was suspended): the instance cannot be entered again.
    pub fn interrupted(&self) -> bool {
        self.call_started.is_some()
    }

    /// Prepares one call: resets the memory flag and the CPU clock and hands out
    /// the store and bindings to call with. Settle the result with `end`.
    pub fn begin(&mut self) -> Result<(&mut Store<HostState>, &W), PluginError> {
        let pool = &self.pool;
        let Some(warm) = self.warm.as_mut() else {
            return Err(pool.fail(
                &self.route,
                FailureKind::Trap,
                "instance was discarded after an earlier failure".into(),
            ));
        };
        pool.stats.calls.fetch_add(1, Ordering::Relaxed);
        let now = std::time::Instant::now();
        self.call_started = Some(now);
        warm.uses += 1;
        let data = warm.store.data_mut();
        data.memory.exceeded = false;
        data.cpu.restart(pool.limits.deadline, now);
        data.stderr.clear();
        data.clock = None;
        data.caller = None;
        data.models = self.models.clone();
        warm.store.set_epoch_deadline(1);
        Ok((&mut warm.store, &warm.bindings))
    }

    /// Settles a call begun with `begin`. On failure the instance is discarded (no
    /// state from a bad call survives) and the failure counted by kind.
    pub fn end<R>(&mut self, r: Option<wasmtime::Result<R>>) -> Result<R, PluginError> {
        self.slot = None;
        if let Some(t) = self.call_started.take() {
            self.pool.stats.durations.observe(t.elapsed());
            let failed = !matches!(r, Some(Ok(_)));
            crate::telemetry::plugin_call(&self.pool.identity.label, W::KIND.world(), t, failed);
        }
        let trial = std::mem::take(&mut self.trial);
        if trial && matches!(r, Some(Ok(_))) {
            self.pool.quarantine.trial_over(&self.route, true);
        }
        if let Some(w) = &self.warm {
            let peak = w.store.data().memory.peak as u64;
            self.pool
                .stats
                .peak_memory
                .fetch_max(peak, Ordering::Relaxed);
        }
        let failed = match r {
            Some(Ok(v)) => return Ok(v),
            Some(Err(e)) => Some(e),
            None => None,
        };
        let pool = self.pool.clone();
        let e = match failed {
            Some(e) => e,
            None => {
                self.warm = None;
                let kind = self.whose(FailureKind::Deadline);
                if trial {
                    match kind {
                        FailureKind::Oversize => pool.quarantine.trial_over_undecided(&self.route),
                        _ => pool.quarantine.trial_over(&self.route, false),
                    }
                }
                let message = match kind {
                    FailureKind::Oversize => self.oversize_message(),
                    _ => format!("did not answer within {:?}", self.wall_limit()),
                };
                return Err(pool.fail(&self.route, kind, message));
            }
        };
        let kind = match &self.warm {
            Some(w) => self.whose(classify(&e, &w.store)),
            None => FailureKind::Trap,
        };
        if trial {
            match kind {
                FailureKind::Oversize => pool.quarantine.trial_over_undecided(&self.route),
                _ => pool.quarantine.trial_over(&self.route, false),
            }
        }
        let message = match kind {
            FailureKind::Deadline => {
                format!("exceeded its CPU deadline of {:?}", pool.limits.deadline)
            }
            FailureKind::Memory => format!(
                "exceeded its memory limit of {} MiB",
                pool.limits.memory_bytes >> 20
            ),
            FailureKind::Oversize => self.oversize_message(),
            _ if e.downcast_ref::<super::CounterError>().is_some() => summary(&e, None),
            _ => {
                let said = self.warm.as_ref().map(|w| w.store.data().stderr.text());
                let text = format!("trapped: {}", summary(&e, said.as_deref()));
                tracing::warn!(plugin = %pool.identity.label, "{}", crate::secrets::scrub(&text));
                text
            }
        };
        self.warm = None;
        Err(pool.fail(&self.route, kind, message))
    }

    /// The call about to be made takes `bytes` the client sent: a memory or deadline
    /// failure on an input that large is the client's.
    pub fn input(&mut self, bytes: usize) {
        self.input_bytes = bytes;
    }

    /// Whose failure `kind` is: out of memory or CPU time on an input the client made
    /// that large (at least 1/`CLIENT_SHARE` of the memory cap) is the client's.
    fn whose(&self, kind: FailureKind) -> FailureKind {
        let large = self.input_bytes.saturating_mul(CLIENT_SHARE) >= self.pool.limits.memory_bytes;
        match kind {
            FailureKind::Memory | FailureKind::Deadline if large => FailureKind::Oversize,
            k => k,
        }
    }

    fn oversize_message(&self) -> String {
        format!(
            "the request ({} KiB) is more than this plugin can take within its limits ({} MiB of memory, {:?} of CPU); send a smaller one",
            self.input_bytes >> 10,
            self.pool.limits.memory_bytes >> 20,
            self.pool.limits.deadline
        )
    }

    /// Throws the instance away instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.warm = None;
    }

    /// Records an output that failed validation; the instance is discarded.
    pub fn invalid_output(&mut self, message: String) -> PluginError {
        self.warm = None;
        self.pool
            .fail(&self.route, FailureKind::InvalidOutput, message)
    }
}

impl<W: World> Drop for Lease<W> {
    fn drop(&mut self) {
        if self.trial {
            // A trial that never made its call decided nothing.
            self.pool.quarantine.trial_over_undecided(&self.route);
        }
        // An instance left mid-call (the call's future was dropped at a yield) is
        // not returned to the pool.
        if let Some(warm) = self.warm.take()
            && self.call_started.is_none()
        {
            self.pool.give_back(warm);
        }
    }
}

/// Releases a quarantine trial (on a route) that was admitted but never became a lease.
struct Undecided<'a>(&'a super::quarantine::Quarantine, &'a str, bool);

impl Drop for Undecided<'_> {
    fn drop(&mut self) {
        if self.2 {
            self.0.trial_over_undecided(self.1);
        }
    }
}

/// An input the client sent that is at least this fraction of a plugin's memory cap
/// makes a memory failure on it the client's (`FailureKind::Oversize`).
const CLIENT_SHARE: usize = 32;

/// `f`'s output, or `None` once `limit` has passed. Most guest calls finish at their
/// first poll (a guest yields only at an epoch tick or in an async host call), so the
/// timer is made only when `f` first waits: the bound then runs from there, at most
/// one epoch tick later than the call's start.
pub async fn bounded<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match t.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

/// Wall-clock bound of one call of `pool`'s plugin: the CPU deadline (epoch
/// interruption) does not fire while a guest waits in an async host call, and a guest
/// that yields its thread under load takes longer in wall time than it runs, so twice
/// the deadline, plus waits on a remote counter store.
fn wall_limit<W: World>(pool: &InstancePool<W>) -> Duration {
    pool.limits.deadline * 2 + Duration::from_millis(20) + pool.counters.wait_allowance()
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
