//! Hot reload: a new `LiveState` is built from the config file off the request path
//! and swapped in atomically; requests in flight finish on the state they started
//! with. Unchanged plugins are not recompiled (the engine keeps compiled components
//! by content hash), and targets that survive keep their live signals. A bad config
//! is refused with its reason, counted, and the running state keeps serving.
//! Triggers: `POST /admin/reload`, SIGHUP, and a change of the file or of a plugin
//! component it names (polled).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::gateway::Gateway;
use crate::live::LiveState;

pub use crate::gateway::ReloadState;

/// Moves the live signals (and sequence, retry budget) of targets that exist in both
/// states, so a reload does not forget which target is slow or open.
fn carry_over(old: &LiveState, new: &mut LiveState) {
    // The cache keeps its answers when its bounds did not change.
    if let (Some(prev), Some(_)) = (&old.cache, &new.cache)
        && prev.built_from(&new.config.cache)
    {
        new.cache = old.cache.clone();
    }
    for (name, route) in new.routes.iter_mut() {
        let Some(prev) = old.routes.get(name) else {
            continue;
        };
        route
            .sequence
            .store(prev.sequence.load(Ordering::Relaxed), Ordering::Relaxed);
        for t in route.targets.iter_mut() {
            if let Some(p) = prev.targets.iter().find(|p| {
                p.target.provider == t.target.provider && p.target.model == t.target.model
            }) {
                t.signals = p.signals.clone();
            }
        }
    }
}

/// Reloads from the configured path. Returns how long it took, or the reason the
/// new config is refused.
pub async fn reload(gw: &Gateway) -> Result<Duration, String> {
    let Some(path) = gw.reload.path.lock().clone() else {
        return Err("this gateway was not started from a config file".into());
    };
    let _building = gw.reload.building.lock().await;
    let started = std::time::Instant::now();
    let result = async {
        let base = Arc::new(Config::load(&path).map_err(|e| format!("{}: {e}", path.display()))?);
        // The file's changed objects are versions first, so pins on them are current.
        crate::registry::layer::record_file(&gw.registry, &base).await;
        let mut config = crate::registry::layer::compose(&base, &gw.registry.snapshot())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for o in crate::control::apply(&mut config, &gw.control.overrides()) {
            tracing::warn!(target = %o, "a runtime override names a target the config no longer has");
        }
        let old = gw.live.load_full();
        if config.server.listen != old.config.server.listen
            || config.server.workers != old.config.server.workers
        {
            tracing::warn!("server.listen and server.workers take effect on restart only");
        }
        let mut new = LiveState::build(config, &gw.runtime)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        carry_over(&old, &mut new);
        // Last, since it cannot be undone: counters follow `[counters]`.
        gw.runtime
            .counters()
            .configure(&new.config.counters)
            .map_err(|e| e.to_string())?;
        gw.usage
            .configure(new.config.usage.as_ref())
            .map_err(|e| e.to_string())?;
        gw.access_log
            .configure(new.config.access_log.as_ref())
            .map_err(|e| e.to_string())?;
        gw.responses
            .configure(new.config.responses.as_ref())
            .map_err(|e| format!("responses store: {e}"))?;
        gw.vkeys
            .configure(new.config.store.as_ref())
            .map_err(|e| format!("store: {e}"))?;
        gw.control
            .configure(new.config.store.as_ref())
            .map_err(|e| format!("store: {e}"))?;
        gw.people
            .configure(new.config.store.as_ref())
            .map_err(|e| format!("store: {e}"))?;
        gw.registry
            .configure(new.config.store.as_ref(), &new.config.registry)
            .map_err(|e| format!("store: {e}"))?;
        *gw.reload.base.lock() = Some(base);
        gw.live.store(Arc::new(new));
        Ok::<(), String>(())
    }
    .await
    // Whatever part refused it, the reason may quote a secret (a store's URL).
    .map_err(|e| crate::config::masked::masked(&e));
    let took = started.elapsed();
    gw.reload
        .last_duration_us
        .store(took.as_micros() as u64, Ordering::Relaxed);
    match &result {
        Ok(()) => {
            gw.reload.succeeded.fetch_add(1, Ordering::Relaxed);
            *gw.reload.last_error.lock() = None;
            tracing::info!(path = %path.display(), ?took, "config reloaded");
        }
        Err(e) => {
            gw.reload.failed.fetch_add(1, Ordering::Relaxed);
            *gw.reload.last_error.lock() = Some(e.clone());
            tracing::error!(error = %e, "config reload refused; the running config keeps serving");
        }
    }
    result.map(|()| took)
}

/// The config the file, the registry and the overrides make (what `rebuild` builds).
pub fn layered(gw: &Gateway) -> Result<Config, String> {
    let base = gw
        .reload
        .base_config()
        .unwrap_or_else(|| gw.live.load().config.clone());
    let mut config = crate::registry::layer::compose(&base, &gw.registry.snapshot())
        .map_err(|e| e.to_string())?;
    crate::control::apply(&mut config, &gw.control.overrides());
    Ok(config)
}

/// Whether a model's scheduled retirement passed since the live state was built (the
/// state is rebuilt so `/v1/models` and the model's answers follow).
pub fn schedule_due(gw: &Gateway) -> bool {
    let live = gw.live.load();
    let now = crate::pipeline::now_secs() as i64;
    live.config
        .routes
        .values()
        .any(|r| r.lifecycle.state_at(now) != r.lifecycle.state_at(live.built_at))
}

/// Builds the live state again from the config in force with the registry and the
/// runtime overrides layered on it (changed here or on another replica).
pub async fn rebuild(gw: &Gateway) -> Result<(), String> {
    let _building = gw.reload.building.lock().await;
    let old = gw.live.load_full();
    let config = layered(gw)?;
    let mut new = LiveState::build(config, &gw.runtime)
        .await
        .map_err(|e| e.to_string())?;
    carry_over(&old, &mut new);
    gw.live.store(Arc::new(new));
    Ok(())
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The component files `config` loads plugins from.
fn plugin_files(config: &Config) -> Vec<PathBuf> {
    use crate::config::PluginSource;
    let specs = config
        .providers
        .values()
        .map(|p| &p.adapter)
        .chain(config.routes.values().flat_map(|r| {
            std::iter::once(&r.strategy)
                .chain(r.policies.iter())
                .chain(r.redactors.iter())
        }))
        .chain(config.named_policies.values());
    let mut files: Vec<PathBuf> = specs
        .filter_map(|s| match &s.source {
            PluginSource::File(p) => Some(p.clone()),
            PluginSource::Builtin(_) => None,
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// What the watcher compares: the config file's and every plugin file's modification
/// time (a rebuilt `.wasm` is picked up like an edited config).
fn fingerprint(gw: &Gateway, path: &std::path::Path) -> Vec<(PathBuf, Option<SystemTime>)> {
    let live = gw.live.load_full();
    std::iter::once(path.to_path_buf())
        .chain(plugin_files(&live.config))
        .map(|p| {
            let m = modified(&p);
            (p, m)
        })
        .collect()
}

/// Watches the config file and the plugin files it names (polling their modification
/// times) and reloads on a change; a broken rebuild is refused like a bad config.
pub fn watch(gw: Arc<Gateway>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let Some(path) = gw.reload.path.lock().clone() else {
            return;
        };
        let mut seen = fingerprint(&gw, &path);
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let now = fingerprint(&gw, &path);
            if now != seen && now[0].1.is_some() {
                let _ = reload(&gw).await;
                // The files of the state now in force (a reload may name others).
                seen = fingerprint(&gw, &path);
            }
        }
    });
}
