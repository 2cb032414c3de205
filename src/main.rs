//! The `switchboard` command: `serve` runs the gateway, `check` validates a config
//! (every reference resolves, every plugin loads as the right world) and prints routes.

use std::path::PathBuf;
use std::process::ExitCode;

use switchboard::app;

/// mimalloc: a request allocates and frees many small buffers across hyper, the
/// client and the plugin calls; glibc malloc was ~7% of the gateway's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use switchboard::config::Config;

const USAGE: &str = "usage: switchboard serve [--config FILE]\n       switchboard check [--config FILE]\n       switchboard demo --listen ADDR   (only the demo provider, e.g. as a benchmark upstream)\n(default FILE: config.toml)";

fn config_path(args: &[String]) -> Result<PathBuf, String> {
    let mut path = PathBuf::from("config.toml");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => path = PathBuf::from(it.next().ok_or("--config needs a file")?),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(path)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        // Provider keys are masked in every line, whatever logged them.
        .with_writer(switchboard::secrets::StderrLogs)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cmd == "demo" {
        return demo(rest);
    }
    let path = match config_path(rest) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match cmd {
        "check" => check(config, &path),
        "serve" => serve(config, &path),
        _ => {
            eprintln!("unknown command '{cmd}'\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The files `serve` would write but cannot: `check` refuses them as `serve` would.
fn unwritable_files(config: &Config) -> Vec<String> {
    let mut unwritable = Vec::new();
    if let (None, Some(p)) = (&config.counters.redis, &config.counters.sqlite_path)
        && let Err(e) = switchboard::plugins::counters_db::CounterDb::open(p)
    {
        unwritable.push(format!("[counters] sqlite_path cannot be written: {e}"));
    }
    if let Some(u) = &config.usage
        && let switchboard::config::StoreDb::Sqlite(path) = &u.db
        && let Err(e) = switchboard::usage::open(path)
    {
        unwritable.push(format!("[usage] sqlite_path cannot be written: {e}"));
    }
    if let Some(r) = &config.responses
        && let switchboard::config::StoreDb::Sqlite(path) = &r.db
        && let Err(e) = switchboard::response_store::open(path)
    {
        unwritable.push(format!("[responses] sqlite_path cannot be written: {e}"));
    }
    if let Some(p) = config.access_log.as_ref().and_then(|a| a.path.as_ref())
        && let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
    {
        unwritable.push(format!(
            "[access_log] path cannot be written: {}: {e}",
            p.display()
        ));
    }
    unwritable
}

fn check(config: Config, path: &std::path::Path) -> ExitCode {
    app::init_crypto();
    for w in &config.warnings {
        println!("warning: {w}");
    }
    let runtime = match switchboard::plugins::PluginRuntime::new(&config.engine) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let routes = config.routes.clone();
    let counters = match (&config.counters.redis, &config.counters.sqlite_path) {
        (Some(r), _) => format!("Redis (prefix {})", r.prefix),
        (None, Some(p)) => format!("memory, saved to {}", p.display()),
        (None, None) => "memory".to_string(),
    };
    let usage = config
        .usage
        .as_ref()
        .map(|u| format!("{} (kept {} days)", u.db.describe(), u.retention_days));
    let responses = config
        .responses
        .as_ref()
        .map(|r| format!("{} (kept {} days)", r.db.describe(), r.retention_days));
    let unwritable = unwritable_files(&config);
    if !unwritable.is_empty() {
        for u in &unwritable {
            eprintln!("error: {}: {u}", path.display());
        }
        return ExitCode::FAILURE;
    }
    let built = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            // The shared store answers, and its schema is (made) up to date.
            if let Some(url) = shared_store(&config) {
                switchboard::pg::Pg::new(url)
                    .client()
                    .await
                    .map_err(|e| anyhow::anyhow!("[store]: {e}"))?;
            }
            app::build_state(config, &runtime).await
        }),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = built {
        eprintln!("error: {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("{}: ok, {} route(s)", path.display(), routes.len());
    print_routes(&routes);
    println!("counters: {counters}");
    println!("usage records: {}", usage.as_deref().unwrap_or("off"));
    println!(
        "stored responses: {}",
        responses.as_deref().unwrap_or("off")
    );
    ExitCode::SUCCESS
}

/// The PostgreSQL database the config keeps anything in, if any.
fn shared_store(config: &switchboard::config::Config) -> Option<switchboard::config::Secret> {
    use switchboard::config::StoreDb;
    [
        config.store.clone(),
        config.responses.as_ref().map(|r| r.db.clone()),
        config.usage.as_ref().map(|u| u.db.clone()),
    ]
    .into_iter()
    .flatten()
    .find_map(|d| match d {
        StoreDb::Postgres(url) => Some(url),
        StoreDb::Sqlite(_) => None,
    })
}

/// What `check` says of each route: targets, strategy, policies, cache, redaction.
fn print_routes(routes: &std::collections::BTreeMap<String, switchboard::config::Route>) {
    for r in routes.values() {
        let targets: Vec<String> = r
            .targets
            .iter()
            .map(|t| format!("{}/{} (weight {})", t.provider, t.model, t.weight))
            .collect();
        println!(
            "  {} -> [{}] via {}",
            r.name,
            targets.join(", "),
            r.strategy.name
        );
        for p in &r.policies {
            println!("      policy {}", p.name);
        }
        if let Some(c) = &r.cache {
            let scope = if c.per_key { ", per key" } else { "" };
            println!(
                "      cache ttl {}{scope}",
                humantime::format_duration(c.ttl)
            );
        }
        for p in &r.redactors {
            println!("      redactor {}", p.name);
        }
        if let Some(rr) = &r.redact_response {
            println!("      answers redacted (stream window {} chars)", rr.window);
        }
    }
}

fn demo(args: &[String]) -> ExitCode {
    let addr = match args {
        [flag, addr] if flag == "--listen" => addr.parse::<std::net::SocketAddr>(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Ok(addr) = addr else {
        eprintln!("error: --listen needs an address such as 127.0.0.1:8089");
        return ExitCode::from(2);
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        match switchboard::demo::start(addr).await {
            Ok(local) => {
                tracing::info!(%local, "demo provider is serving");
                shutdown_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The runtime for the main thread (admin listener, health checks, signals); the API
/// listener runs its own runtime per worker thread.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .inspect_err(|e| eprintln!("error: cannot start the runtime: {e}"))
        .ok()
}

fn serve(config: Config, path: &std::path::Path) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let path = path.to_path_buf();
    rt.block_on(async move {
        let running = match app::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(api = %running.api_addr, admin = ?running.admin_addr, demo = ?running.demo_addr, "switchboard is serving");
        let gw = running.gateway.clone();
        *gw.reload.path.lock() = Some(path.to_path_buf());
        switchboard::reload::watch(gw.clone(), std::time::Duration::from_secs(1), running.stopped.clone());
        #[cfg(unix)]
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = switchboard::reload::reload(&gw).await;
                }
            });
        }
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
