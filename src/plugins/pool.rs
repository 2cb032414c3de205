//! Warm instances of one configured plugin, and the lease that runs a call in one.
//!
//! Instantiating costs tens of microseconds, a warm call one, so instances are kept
//! and reused: up to `max_idle` per plugin, each replaced after `recycle_after`
//! calls, and any instance that failed (trap, deadline, memory) is thrown away so
//! no state from a bad call survives. Every live instance holds a permit of the
//! engine-wide semaphore sized to the pooling allocator, so a full pool is a
//! clear error instead of an allocator failure.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store, Trap};

use super::counters::Counters;
use super::host::{HostState, PluginIdentity};
use super::world::Kind;
use super::{FailureKind, PluginError};
use crate::config::PluginLimits;

/// A world's generated bindings, so one pool type serves all four worlds.
pub trait World: Sized + Send + Sync + 'static {
    const KIND: Kind;
    type Pre: Send + Sync + 'static;
    fn pre(pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre>;
    fn instantiate<'a>(
        pre: &'a Self::Pre,
        store: &'a mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send + 'a;
}

/// Call and failure counts of one plugin, for metrics and tests.
#[derive(Default, Debug)]
pub struct PluginStats {
    pub calls: AtomicU64,
    /// How long calls take, failed ones included.
    pub durations: crate::metrics::histogram::DurationHistogram,
    pub instantiations: AtomicU64,
    pub failures: [AtomicU64; FailureKind::COUNT],
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
}

pub struct InstancePool<W: World> {
    pub(super) engine: Engine,
    pub(super) pre: W::Pre,
    pub(super) identity: Arc<PluginIdentity>,
    pub(super) counters: Arc<Counters>,
    pub(super) limits: PluginLimits,
    pub(super) capacity: Arc<Semaphore>,
    pub(super) max_idle: usize,
    pub(super) recycle_after: u32,
    pub(super) idle: Mutex<Vec<Warm<W>>>,
    pub stats: Arc<PluginStats>,
    /// Hash of the component bytes, to reuse unchanged plugins across reloads.
    pub(super) digest: [u8; 32],
}

/// Epoch ticks per second (the ticker thread's rate). 5 ms granularity: a deadline
/// fires at most one tick late, and the ticker wakes 200 times a second.
pub const TICKS_PER_SEC: u64 = 200;

impl<W: World> InstancePool<W> {
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    /// SHA-256 of the component bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    fn fail(&self, kind: FailureKind, message: String) -> PluginError {
        self.stats.failures[kind as usize].fetch_add(1, Ordering::Relaxed);
        PluginError::Call {
            plugin: self.identity.name.clone(),
            kind,
            message,
        }
    }

    async fn instantiate(&self) -> Result<Warm<W>, PluginError> {
        let permit = self.capacity.clone().try_acquire_owned().map_err(|_| {
            self.fail(
                FailureKind::Capacity,
                "all plugin instance slots are in use".to_string(),
            )
        })?;
        let state = HostState::new(
            self.identity.clone(),
            self.counters.clone(),
            self.limits.memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(deadline_ticks(self.limits));
        let bindings = W::instantiate(&self.pre, &mut store).await.map_err(|e| {
            self.fail(
                classify(&e, &store),
                format!("instantiation failed: {}", summary(&e)),
            )
        })?;
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Warm {
            store,
            bindings,
            uses: 0,
            _permit: permit,
        })
    }

    /// Takes a warm instance (or makes one) for one or more calls.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease<W>, PluginError> {
        let idle = self.idle.lock().pop();
        let warm = match idle {
            Some(w) => w,
            None => self.instantiate().await?,
        };
        Ok(Lease {
            pool: self.clone(),
            warm: Some(warm),
            call_started: None,
        })
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

fn deadline_ticks(limits: PluginLimits) -> u64 {
    let ticks = (limits.deadline.as_micros() as u64 * TICKS_PER_SEC).div_ceil(1_000_000);
    ticks.max(1) + 1
}

/// First line of an error chain, without the wasm backtrace.
fn summary(e: &wasmtime::Error) -> String {
    // A host call that failed (the counter store) says so, not the wasm backtrace.
    if let Some(c) = e.downcast_ref::<super::CounterError>() {
        return c.to_string();
    }
    let text = format!("{e:#}");
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

fn classify(e: &wasmtime::Error, store: &Store<HostState>) -> FailureKind {
    if store.data().memory.exceeded {
        return FailureKind::Memory;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureKind::Deadline,
        Some(_) => FailureKind::Trap,
        None => FailureKind::Trap,
    }
}

/// An instance checked out of its pool; returned on drop unless a call failed.
pub struct Lease<W: World> {
    pool: Arc<InstancePool<W>>,
    warm: Option<Warm<W>>,
    /// When the call in progress began (set by `begin`, read by `end`).
    call_started: Option<std::time::Instant>,
}

impl<W: World> Lease<W> {
    pub fn pool(&self) -> &Arc<InstancePool<W>> {
        &self.pool
    }

    /// Wall-clock bound of one call: the CPU deadline (epoch interruption) does not
    /// fire while a guest waits in an async host call, so the host also times out;
    /// waits on a remote counter store are allowed for on top.
    pub fn wall_limit(&self) -> Duration {
        self.pool.limits.deadline + Duration::from_millis(20) + self.pool.counters.wait_allowance()
    }

    /// Prepares one call: resets the memory flag and the CPU deadline and hands out
    /// the store and bindings to call with. Settle the result with `end`.
    pub fn begin(&mut self) -> Result<(&mut Store<HostState>, &W), PluginError> {
        let pool = self.pool.clone();
        let Some(warm) = self.warm.as_mut() else {
            return Err(pool.fail(
                FailureKind::Trap,
                "instance was discarded after an earlier failure".into(),
            ));
        };
        pool.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.call_started = Some(std::time::Instant::now());
        warm.uses += 1;
        warm.store.data_mut().memory.exceeded = false;
        warm.store.set_epoch_deadline(deadline_ticks(pool.limits));
        Ok((&mut warm.store, &warm.bindings))
    }

    /// Settles a call begun with `begin`. On failure the instance is discarded (no
    /// state from a bad call survives) and the failure counted by kind.
    pub fn end<R>(
        &mut self,
        r: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, PluginError> {
        let pool = self.pool.clone();
        if let Some(t) = self.call_started.take() {
            pool.stats.durations.observe(t.elapsed());
        }
        let e = match r {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => {
                self.warm = None;
                return Err(pool.fail(
                    FailureKind::Deadline,
                    format!("did not answer within {:?}", self.wall_limit()),
                ));
            }
        };
        let kind = match &self.warm {
            Some(w) => classify(&e, &w.store),
            None => FailureKind::Trap,
        };
        let message = match kind {
            FailureKind::Deadline => {
                format!("exceeded its CPU deadline of {:?}", pool.limits.deadline)
            }
            FailureKind::Memory => format!(
                "exceeded its memory limit of {} MiB",
                pool.limits.memory_bytes >> 20
            ),
            _ if e.downcast_ref::<super::CounterError>().is_some() => summary(&e),
            _ => format!("trapped: {}", summary(&e)),
        };
        self.warm = None;
        Err(pool.fail(kind, message))
    }

    /// Throws the instance away instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.warm = None;
    }

    /// Records an output that failed validation; the instance is discarded.
    pub fn invalid_output(&mut self, message: String) -> PluginError {
        self.warm = None;
        self.pool.fail(FailureKind::InvalidOutput, message)
    }
}

impl<W: World> Drop for Lease<W> {
    fn drop(&mut self) {
        if let Some(warm) = self.warm.take() {
            self.pool.give_back(warm);
        }
    }
}
