//! Per-instance host state and the `host` interface every plugin imports:
//! settings, logging and windowed counters. WASI is linked with no preopened
//! directories, no sockets and no environment, so a plugin can reach nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::adapter::switchboard::plugin::{host, types};

/// Who a plugin instance is: its config name, settings and counter namespace.
#[derive(Debug)]
pub struct PluginIdentity {
    pub name: String,
    pub settings: BTreeMap<String, String>,
}

/// Windowed counters shared by all instances of all plugins, namespaced by plugin.
#[derive(Default)]
pub struct Counters {
    map: Mutex<HashMap<(String, u64), (u64, i64)>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn window_start(now: u64, window: u64) -> u64 {
    if window == 0 { 0 } else { now - now % window }
}

impl Counters {
    pub fn add(&self, key: String, delta: i64, window: u64) -> i64 {
        let start = window_start(now_secs(), window);
        let mut map = self.map.lock();
        let entry = map.entry((key, window)).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        entry.1 = entry.1.saturating_add(delta);
        entry.1
    }

    pub fn get(&self, key: String, window: u64) -> i64 {
        let start = window_start(now_secs(), window);
        match self.map.lock().get(&(key, window)) {
            Some((s, v)) if *s == start => *v,
            _ => 0,
        }
    }
}

/// Caps linear memory per instance and remembers that the cap was hit, so a
/// failure can be reported as "memory" rather than as a bare trap.
pub struct MemoryCap {
    pub max_bytes: usize,
    pub exceeded: bool,
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
    identity: Arc<PluginIdentity>,
    counters: Arc<Counters>,
}

impl HostState {
    pub fn new(identity: Arc<PluginIdentity>, counters: Arc<Counters>, max_memory: usize) -> Self {
        HostState {
            // Nothing inherited: no args, env, stdio, preopens or network.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: max_memory,
                exceeded: false,
            },
            identity,
            counters,
        }
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}\u{1f}{key}", self.identity.name)
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

impl types::Host for HostState {}

impl host::Host for HostState {
    fn setting(&mut self, name: String) -> Option<String> {
        self.identity.settings.get(&name).cloned()
    }

    fn log(&mut self, level: types::LogLevel, message: String) {
        let plugin = &self.identity.name;
        let message: String = message.chars().take(2000).collect();
        match level {
            types::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            types::LogLevel::Info => tracing::info!(plugin, "{message}"),
            types::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            types::LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn counter_add(&mut self, key: String, delta: i64, window_secs: u64) -> i64 {
        self.counters
            .add(self.counter_key(&key), delta, window_secs)
    }

    fn counter_get(&mut self, key: String, window_secs: u64) -> i64 {
        self.counters.get(self.counter_key(&key), window_secs)
    }

    fn window_remaining_secs(&mut self, window_secs: u64) -> u64 {
        if window_secs == 0 {
            return 0;
        }
        let now = now_secs();
        window_secs - now % window_secs
    }
}
