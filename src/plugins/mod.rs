//! The wasmtime host: one engine (pooling allocator, epoch interruption), a compile
//! cache on disk keyed by content hash, and a pool of warm instances per configured
//! plugin. `calls` wraps each world's functions with output validation.

pub mod bindings;

pub mod calendar;
pub mod calls;
pub mod convert;
pub mod counters;
pub mod failure;
pub mod functions;
pub mod host;
pub mod inspect;
pub mod models;
pub mod pool;
pub mod quarantine;
pub mod world;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config as WasmConfig, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::{EngineConfig, PluginSource, PluginSpec};
pub use counters::{CounterError, Counters};
pub use host::{HostState, PluginIdentity, RouteFacts};
pub use host::{Lent, ModelAccess};
pub use pool::{InstancePool, Lease, World};
pub use world::{Kind, Version};

/// Linear memory slot size of the pooling allocator; no plugin can grow past it.
const MAX_SLOT_BYTES: usize = 256 << 20;

/// How a plugin call failed. Also the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Trap = 0,
    Deadline = 1,
    Memory = 2,
    InvalidOutput = 3,
    Capacity = 4,
    Quarantined = 5,
    /// The counter store failed or refused (Redis down, `max_counters` reached).
    Store = 6,
    /// The client's request was too large for the plugin's memory: the client's
    /// failure (413), never the plugin's, never counted toward its quarantine.
    Oversize = 7,
}

impl FailureKind {
    pub const COUNT: usize = 8;
    pub const ALL: [FailureKind; Self::COUNT] = [
        FailureKind::Trap,
        FailureKind::Deadline,
        FailureKind::Memory,
        FailureKind::InvalidOutput,
        FailureKind::Capacity,
        FailureKind::Quarantined,
        FailureKind::Store,
        FailureKind::Oversize,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Deadline => "deadline",
            FailureKind::Memory => "memory",
            FailureKind::InvalidOutput => "invalid_output",
            FailureKind::Capacity => "capacity",
            FailureKind::Quarantined => "quarantined",
            FailureKind::Store => "store",
            FailureKind::Oversize => "oversize",
        }
    }
}

/// Errors of the plugin layer: loading a component, or one call failing.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin '{plugin}': {message}")]
    Load { plugin: String, message: String },
    #[error("plugin '{plugin}' failed ({}): {message}", kind.label())]
    Call {
        plugin: String,
        kind: FailureKind,
        message: String,
    },
}

/// The engine and everything shared by all plugins. One per process; reloads
/// reuse it, so unchanged components are neither recompiled nor re-read.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    counters: Arc<Counters>,
    prices: host::RouteTable,
    capacity: Arc<Semaphore>,
    config: EngineConfig,
    compiled: Mutex<HashMap<[u8; 32], Component>>,
    /// Call and failure counts by (plugin name, world), kept across reloads so the
    /// counters `/metrics` shows never go backwards when a pool is rebuilt.
    stats: Mutex<HashMap<(String, &'static str), Arc<pool::PluginStats>>>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for PluginRuntime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn load_err(plugin: &str, message: impl Into<String>) -> PluginError {
    PluginError::Load {
        plugin: plugin.to_string(),
        message: message.into(),
    }
}

/// The engine's epoch ticker (CPU deadlines) and, when a SQLite file is set, the
/// once-a-second save of changed memory counters; both stop with `stop`.
fn spawn_tickers(
    engine: &Engine,
    counters: &Arc<Counters>,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<()> {
    {
        let engine = engine.clone();
        let stop = stop.clone();
        let period = Duration::from_micros(1_000_000 / pool::TICKS_PER_SEC);
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    engine.increment_epoch();
                }
            })?;
    }
    let counters = Arc::downgrade(counters);
    let stop = stop.clone();
    std::thread::Builder::new()
        .name("counters-flush".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let Some(c) = counters.upgrade() else { return };
                if let Err(e) = c.flush() {
                    tracing::warn!(error = %e, "saving counters failed; retrying");
                }
            }
        })?;
    Ok(())
}

impl PluginRuntime {
    pub fn new(config: &EngineConfig) -> Result<Arc<Self>, PluginError> {
        let n = config.max_instances;
        let slot = MAX_SLOT_BYTES.max(config.default_limits.memory_bytes);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 2)
            .total_stacks(n)
            .max_memory_size(slot)
            .max_memories_per_component(4)
            .max_tables_per_component(4)
            .max_core_instances_per_component(16);
        let mut wc = WasmConfig::new();
        wc.epoch_interruption(true)
            .memory_reservation(slot as u64)
            .memory_guard_size(2 << 20)
            .memory_reservation_for_growth(0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if config.function_cache_bytes > 0 {
            let cache = functions::FunctionCache::new(config.function_cache_bytes);
            wc.enable_incremental_compilation(Arc::new(cache))
                .map_err(|e| load_err("engine", format!("{e:#}")))?;
        }
        let engine = Engine::new(&wc).map_err(|e| load_err("engine", format!("{e:#}")))?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| load_err("engine", format!("{e:#}")))?;
        // Every contract version's `host` is linked: a component's imports pick one.
        let linked = (|| {
            use bindings::{v0_1, v0_2, v0_3};
            v0_1::host::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_1::types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_2::host::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_2::types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_3::host::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_3::types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_3::models::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
            v0_3::keyvalue::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
        })();
        linked.map_err(|e| load_err("engine", format!("{e:#}")))?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        counters
            .max_per_plugin
            .store(config.isolation.max_counters, Ordering::Relaxed);
        counters
            .max_per_key
            .store(config.isolation.max_counters_per_key, Ordering::Relaxed);
        spawn_tickers(&engine, &counters, &ticker_stop)
            .map_err(|e| load_err("engine", e.to_string()))?;
        Ok(Arc::new(PluginRuntime {
            engine,
            linker,
            cache_dir: config.cache_dir.clone(),
            counters,
            prices: Default::default(),
            capacity: Arc::new(Semaphore::new(n as usize)),
            config: config.clone(),
            compiled: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            ticker_stop,
        }))
    }

    /// Distinct components compiled (or loaded from the disk cache) so far.
    pub fn compiled_components(&self) -> usize {
        self.compiled.lock().len()
    }

    /// The routes' reservation prices plugins read (`host::route-prices`).
    pub fn route_table(&self) -> &host::RouteTable {
        &self.prices
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    fn bytes(
        spec: &PluginSpec,
        max_bytes: u64,
    ) -> Result<std::borrow::Cow<'static, [u8]>, PluginError> {
        match &spec.source {
            PluginSource::Builtin(name) => crate::builtin::bytes(name)
                .map(std::borrow::Cow::Borrowed)
                .ok_or_else(|| load_err(&spec.name, format!("no built-in plugin named '{name}'"))),
            PluginSource::File(path) => {
                let shown = path.display();
                let meta = std::fs::metadata(path)
                    .map_err(|e| load_err(&spec.name, format!("cannot read {shown}: {e}")))?;
                if meta.is_dir() {
                    return Err(load_err(
                        &spec.name,
                        format!("{shown} is a directory, not a component file"),
                    ));
                }
                if meta.len() > max_bytes {
                    return Err(load_err(
                        &spec.name,
                        format!(
                            "{shown} is {} bytes, more than the {max_bytes} allowed (plugins.max_component_mib)",
                            meta.len()
                        ),
                    ));
                }
                // Read no more than allowed, should the file grow meanwhile.
                use std::io::Read;
                let mut bytes = Vec::with_capacity(meta.len() as usize);
                std::fs::File::open(path)
                    .and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes))
                    .map_err(|e| load_err(&spec.name, format!("cannot read {shown}: {e}")))?;
                if bytes.len() as u64 > max_bytes {
                    return Err(load_err(
                        &spec.name,
                        format!("{shown} grew past {max_bytes} bytes while read"),
                    ));
                }
                Ok(std::borrow::Cow::Owned(bytes))
            }
        }
    }

    /// Compiles `bytes`, or takes the compiled form from memory or the disk cache. A
    /// component file is cached under its path (so rebuilding it, reproducibly or not,
    /// replaces its entry instead of adding one); a built-in under its content. Each
    /// entry starts with the digest of what it was compiled from, and the cache is kept
    /// under `cache_max_bytes`, least recently used first out.
    fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        digest: [u8; 32],
        source: &PluginSource,
    ) -> Result<Component, PluginError> {
        if let Some(c) = self.compiled.lock().get(&digest) {
            return Ok(c.clone());
        }
        let mut h = Sha256::new();
        match source {
            PluginSource::File(p) => {
                h.update(b"file:");
                h.update(
                    p.canonicalize()
                        .unwrap_or_else(|_| p.clone())
                        .as_os_str()
                        .as_encoded_bytes(),
                );
            }
            PluginSource::Builtin(_) => h.update(digest),
        }
        std::hash::Hash::hash(
            &self.engine.precompile_compatibility_hash(),
            &mut HashWriter(&mut h),
        );
        let file = self
            .cache_dir
            .join(format!("{}.cwasm", hex::encode(h.finalize())));
        // Read into memory rather than mapping the file: another process may
        // rewrite or truncate the cache while we run, and a mapped file that
        // shrinks under us is a SIGBUS.
        let cached = std::fs::read(&file).ok().and_then(|entry| {
            let artifact = entry.strip_prefix(&digest[..])?;
            // SAFETY: the artifact comes from our own cache directory, under a name
            // that includes this engine's compatibility hash, and was written by
            // `precompile_component`; wasmtime checks its header and version, and a
            // corrupt entry fails here and is compiled again.
            let c = unsafe { Component::deserialize(&self.engine, artifact) }.ok()?;
            touch(&file);
            Some(c)
        });
        let component = match cached {
            Some(c) => c,
            None => {
                let compiled = self.engine.precompile_component(bytes).map_err(|e| {
                    load_err(name, format!("is not a valid WebAssembly component: {e:#}"))
                })?;
                self.keep(&file, &digest, &compiled);
                // SAFETY: `compiled` was produced just now by this engine.
                unsafe { Component::deserialize(&self.engine, &compiled) }
                    .map_err(|e| load_err(name, format!("{e:#}")))?
            }
        };
        self.compiled.lock().insert(digest, component.clone());
        Ok(component)
    }

    /// Writes a cache entry (atomically), then evicts the least recently used entries
    /// past the cache's bound.
    fn keep(&self, file: &std::path::Path, digest: &[u8; 32], compiled: &[u8]) {
        if std::fs::create_dir_all(&self.cache_dir).is_err() {
            return;
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let mut entry = Vec::with_capacity(32 + compiled.len());
        entry.extend_from_slice(digest);
        entry.extend_from_slice(compiled);
        if std::fs::write(&tmp, &entry).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
        evict(&self.cache_dir, self.config.cache_max_bytes);
    }

    /// Loads a configured plugin as world `W`: compile (cached), check the world,
    /// link, pre-instantiate, and warm one instance. `label` names this use of it
    /// (e.g. `builtin:openai@provider`): stats, bulkhead and quarantine are its own.
    pub async fn load<W: World>(
        &self,
        spec: &PluginSpec,
        label: &str,
    ) -> Result<Arc<InstancePool<W>>, PluginError> {
        let iso = self.config.isolation;
        let bytes = Self::bytes(spec, iso.max_component_bytes)?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let component = self.compile(&spec.name, &bytes, digest, &spec.source)?;
        let version = world::check(&self.engine, &component, W::KIND)
            .map_err(|m| load_err(&spec.name, format!("({}) {m}", spec.source)))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            load_err(
                &spec.name,
                format!("cannot be linked: it imports something the host does not offer: {e:#}"),
            )
        })?;
        let pre = W::pre(pre, version).map_err(|e| load_err(&spec.name, format!("{e:#}")))?;
        let limits = spec.limits;
        if limits.memory_bytes > MAX_SLOT_BYTES.max(self.config.default_limits.memory_bytes) {
            return Err(load_err(
                &spec.name,
                "memory_mib is larger than the engine's memory slot (raise plugins.memory_mib)",
            ));
        }
        let pool = Arc::new(InstancePool {
            engine: self.engine.clone(),
            pre,
            identity: Arc::new(PluginIdentity {
                name: spec.name.clone(),
                label: label.to_string(),
                settings: spec.settings.clone(),
                log: host::LogBudget::new(iso.log_lines_per_sec),
            }),
            counters: self.counters.clone(),
            prices: self.prices.clone(),
            limits,
            capacity: self.capacity.clone(),
            max_idle: self.config.max_idle as usize,
            recycle_after: self.config.recycle_after,
            idle: Mutex::new(Vec::new()),
            stats: self
                .stats
                .lock()
                .entry((label.to_string(), W::KIND.label()))
                .or_default()
                .clone(),
            digest,
            calls: Arc::new(Semaphore::new(iso.max_concurrent_calls as usize)),
            instances: Arc::new(Semaphore::new(iso.max_instances_per_plugin as usize)),
            instance_share: iso.max_instances_per_plugin,
            isolation_calls: iso.max_concurrent_calls,
            quarantine: quarantine::Quarantine::new(
                iso.quarantine_failures,
                iso.quarantine_window,
                iso.quarantine_cooldown,
            ),
        });
        pool.prewarm().await?;
        let settings: Vec<(String, String)> = spec
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Err(m) = calls::validate_settings(&pool, &settings).await? {
            let m: String = m.chars().take(1000).collect();
            return Err(load_err(&spec.name, format!("refused its settings: {m}")));
        }
        Ok(pool)
    }
}

/// Feeds `Hash` output into a SHA-256.
struct HashWriter<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashWriter<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Marks a cache entry as just used (its modification time orders eviction).
fn touch(file: &std::path::Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(file) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Removes the least recently used `.cwasm` entries of `dir` until it holds at most
/// `max_bytes`.
fn evict(dir: &std::path::Path, max_bytes: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let p = e.path();
            (p.extension()? == "cwasm").then_some(())?;
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), p))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= max_bytes {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}
