//! Start-up and shutdown: builds the plugin engine and the first live state, binds
//! the listeners, and stops them gracefully. `switchboard serve` and the tests both
//! go through `start`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::live::LiveState;
use crate::plugins::PluginRuntime;
use crate::server::{self, Listener};

/// A started gateway.
pub struct Running {
    /// Stops background loops (health checks, the config watch) with the listeners.
    pub stopped: watch::Receiver<bool>,
    pub api_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub demo_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Installs the process-wide TLS crypto provider (once).
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads every plugin of `config` and builds a live state, as `check` does.
pub async fn build_state(config: Config, runtime: &PluginRuntime) -> anyhow::Result<LiveState> {
    Ok(LiveState::build(config, runtime).await?)
}

pub async fn start(config: Config) -> anyhow::Result<Running> {
    init_crypto();
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let runtime = PluginRuntime::new(&config.engine)?;
    let demo_addr = match config.demo {
        Some(addr) => Some(crate::demo::start(addr).await?),
        None => None,
    };
    let server_cfg = config.server.clone();
    let admin_cfg = config.admin.clone();
    let telemetry = match &config.telemetry {
        Some(t) => Some(crate::telemetry::Telemetry::start(t).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let live = build_state(config, &runtime).await?;
    runtime.counters().configure(&live.config.counters)?;
    let gateway = Gateway::new(live, runtime, telemetry);
    configure_parts(&gateway).await?;

    let tls = match &server_cfg.tls {
        Some(files) => Some(server::tls_acceptor(files)?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    crate::manage::probe::spawn(gateway.clone(), stopped.clone());
    spawn_upkeep(gateway.clone(), stopped.clone());
    let api = std::net::TcpListener::bind(server_cfg.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {} for the API: {e}", server_cfg.listen))?;
    api.set_nonblocking(true)?;
    let api_addr = api.local_addr()?;
    let mut tasks = Vec::new();
    for i in 0..server_cfg.workers {
        tasks.push(spawn_worker(
            i,
            &api,
            &gateway,
            &tls,
            &stopped,
            server_cfg.shutdown_grace,
        )?);
    }
    let mut admin_addr = None;
    if let Some(a) = admin_cfg {
        let l = server::bind(a.listen, "admin API").await?;
        admin_addr = Some(l.local_addr()?);
        tasks.push(tokio::spawn(server::serve(
            gateway.clone(),
            l,
            Listener::Admin,
            None,
            until_stopped(stopped.clone()),
            server_cfg.shutdown_grace,
        )));
    }
    Ok(Running {
        api_addr,
        admin_addr,
        demo_addr,
        gateway,
        stopped,
        stop,
        tasks,
    })
}

/// Resolves once `stop` turns true.
async fn until_stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Metric upkeep every 5 s until the gateway stops.
/// The parts that follow the config (usage log, access log, response store, virtual
/// keys), opened as the config says; the virtual keys read once.
async fn configure_parts(gateway: &Gateway) -> anyhow::Result<()> {
    let live = gateway.live.load_full();
    gateway.usage.configure(live.config.usage.as_ref())?;
    gateway
        .access_log
        .configure(live.config.access_log.as_ref())?;
    gateway
        .responses
        .configure(live.config.responses.as_ref())
        .map_err(|e| anyhow::anyhow!("responses store: {e}"))?;
    gateway
        .vkeys
        .configure(live.config.store.as_ref())
        .map_err(|e| anyhow::anyhow!("store: {e}"))?;
    if let Err(e) = gateway.vkeys.refresh().await {
        tracing::warn!(error = %e, "reading virtual keys failed; retried every second");
    }
    gateway
        .people
        .configure(live.config.store.as_ref())
        .map_err(|e| anyhow::anyhow!("store: {e}"))?;
    if let Err(e) = gateway.people.refresh().await {
        tracing::warn!(error = %e, "reading the people store failed; retried every second");
    }
    gateway
        .control
        .configure(live.config.store.as_ref())
        .map_err(|e| anyhow::anyhow!("store: {e}"))?;
    *gateway.reload.base.lock() = Some(live.config.clone());
    gateway
        .registry
        .configure(live.config.store.as_ref(), &live.config.registry)
        .map_err(|e| anyhow::anyhow!("store: {e}"))?;
    if live.config.store.is_none() {
        tracing::warn!(
            "no [store]: providers, models and prompts made through the admin API live in memory and are lost on restart"
        );
    }
    let registry = match gateway.registry.refresh().await {
        Ok(changed) => changed,
        Err(e) => {
            tracing::warn!(error = %e, "reading the registry failed; retried every second");
            false
        }
    };
    crate::registry::layer::record_file(&gateway.registry, &live.config).await;
    let overrides = match gateway.control.refresh().await {
        Ok(changed) => changed,
        Err(e) => {
            tracing::warn!(error = %e, "reading the runtime overrides failed; retried every second");
            false
        }
    };
    // What the registry or the overrides cannot make serves as the file says (the
    // upkeep loop tries again every second).
    if (registry || overrides || !gateway.registry.snapshot().is_empty())
        && let Err(e) = crate::manage::reload::rebuild(gateway).await
    {
        tracing::error!(error = %e, "applying the registry and the runtime overrides failed; serving the file alone, retried every second");
        gateway
            .reload
            .retry
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

fn spawn_upkeep(gw: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let alerts = gw.clone();
    let mut alerts_stop = stop.clone();
    // The alert rules, evaluated every second.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = alerts_stop.wait_for(|s| *s) => return,
            }
            let refused = alerts.reload.last_error.lock().clone();
            let live = alerts.live.load_full();
            alerts
                .alerts
                .tick(&live, &alerts.metrics, refused.as_deref());
        }
    });
    let keys = gw.clone();
    let mut keys_stop = stop.clone();
    // Virtual keys made or revoked on another replica hold here within a second.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = keys_stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = keys.vkeys.refresh().await {
                tracing::warn!(error = %e, "reading virtual keys failed");
            }
            // People, sessions and tokens changed or revoked through another replica.
            if let Err(e) = keys.people.refresh().await {
                tracing::warn!(error = %e, "reading the people store failed");
            }
            // Overrides and registry changes made through another replica.
            let overrides = keys.control.refresh().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the runtime overrides failed");
                false
            });
            let registry = keys.registry.refresh().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the registry failed");
                false
            });
            let due = crate::manage::reload::schedule_due(&keys);
            let retry = keys
                .reload
                .retry
                .swap(false, std::sync::atomic::Ordering::Relaxed);
            if overrides || registry || due || retry {
                let before = keys.live.load_full();
                match crate::manage::reload::rebuild(&keys).await {
                    Ok(()) if due => crate::manage::scheduled(&keys, &before).await,
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "applying the registry and the runtime overrides failed; retried every second");
                        keys.reload
                            .retry
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    });
    let reports = gw.clone();
    let mut reports_stop = stop.clone();
    // Reports whose period ended, sent once by whichever replica claims them first.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = reports_stop.wait_for(|s| *s) => return,
            }
            crate::manage::reports::due(&reports).await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => gw.metrics.upkeep(),
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
}

/// One API worker: a thread with its own single-threaded runtime, accepting on the
/// shared socket. A request never changes thread between client, plugins and
/// provider (see `upstream::client`), which saves the cross-thread wake-ups that
/// dominate a proxy's added latency on few cores. The task returned ends when the
/// thread has drained.
fn spawn_worker(
    i: usize,
    api: &std::net::TcpListener,
    gateway: &Arc<Gateway>,
    tls: &Option<tokio_rustls::TlsAcceptor>,
    stopped: &watch::Receiver<bool>,
    grace: std::time::Duration,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = api.try_clone()?;
    let gw = gateway.clone();
    let tls = tls.clone();
    let stop = until_stopped(stopped.clone());
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(format!("switchboard-{i}"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for a server thread");
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => server::serve(gw, l, Listener::Api, tls, stop, grace).await,
                    Err(e) => {
                        tracing::error!(error = %e, "server thread cannot use the listener")
                    }
                }
            });
            // Let spawned stream tasks that are still draining finish.
            rt.shutdown_timeout(grace);
            let _ = done.send(());
        })?;
    Ok(tokio::spawn(async move {
        let _ = finished.await;
    }))
}

impl Running {
    /// Says it is draining (`/ready`: 503) for `drain_delay`, then stops accepting and
    /// lets in-flight requests finish (up to the grace period).
    pub async fn shutdown(self) {
        self.gateway
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let delay = self.gateway.live.load().config.server.drain_delay;
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "draining: /ready says 503; still accepting for the delay"
            );
            tokio::time::sleep(delay).await;
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(w) = self.gateway.usage.sink() {
            w.flush();
        }
        if let Err(e) = self.gateway.runtime.counters().flush() {
            tracing::error!(error = %e, "saving counters at shutdown failed");
        }
        // The spans still queued are sent (the exporter blocks: off the runtime).
        if let Some(t) = self.gateway.telemetry.clone() {
            let _ = tokio::task::spawn_blocking(move || t.shutdown()).await;
        }
    }
}
