//! Per-instance host state and the `host` interface every plugin imports:
//! settings, logging and windowed counters. WASI is linked with no preopened
//! directories, no sockets and no environment, so a plugin can reach nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::adapter::switchboard::plugin::{host, types};
use super::counters::Counters;

/// Who a plugin instance is: its config name, settings and counter namespace.
#[derive(Debug)]
pub struct PluginIdentity {
    pub name: String,
    pub settings: BTreeMap<String, String>,
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

    async fn counter_add(
        &mut self,
        key: String,
        delta: i64,
        window_secs: u64,
    ) -> wasmtime::Result<i64> {
        let key = self.counter_key(&key);
        Ok(self.counters.add(key, delta, window_secs).await?)
    }

    async fn counter_get(&mut self, key: String, window_secs: u64) -> wasmtime::Result<i64> {
        let key = self.counter_key(&key);
        Ok(self.counters.get(key, window_secs).await?)
    }

    fn window_remaining_secs(&mut self, window_secs: u64) -> u64 {
        super::counters::window_remaining(window_secs)
    }
}
