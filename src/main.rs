//! The `switchboard` command (clap): `serve` runs the gateway, `check` validates a
//! config (every reference resolves, every plugin loads as the right world) and prints
//! routes, `demo` runs the demo provider alone, `completions` prints shell completions,
//! and `models`, `chat`, `usage`, `compare` talk to a running gateway.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use switchboard::app;

/// mimalloc: a request allocates and frees many small buffers across hyper, the
/// client and the plugin calls; glibc malloc was ~7% of the gateway's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use switchboard::config::Config;

/// switchboard: an LLM gateway in front of provider APIs, with WebAssembly plugins.
#[derive(Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    /// How log lines are written: text (no colour when not on a terminal) or json.
    /// Default: the config's `[log] format`, else text.
    #[arg(long, global = true, value_enum, env = "SWITCHBOARD_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// The config file.
    #[arg(short, long, env = "SWITCHBOARD_CONFIG", default_value = "config.toml")]
    config: PathBuf,
}

#[derive(clap::Args)]
struct ApiArgs {
    /// The gateway's API listener.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A gateway key.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    key: Option<String>,
}

#[derive(clap::Args)]
struct AdminArgs {
    /// The gateway's admin listener.
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    admin_url: String,
    /// The admin token.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ConfigArg),
    /// Check a config: every reference resolves, every plugin loads; list the routes.
    Check(ConfigArg),
    /// Run only the demo provider (e.g. as a benchmark upstream).
    Demo {
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// List the models a key may use (of a running gateway).
    Models(ApiArgs),
    /// Ask a model; the answer streams to the terminal.
    Chat {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(short, long)]
        model: String,
        /// The prompt (words joined by spaces).
        #[arg(required = true)]
        prompt: Vec<String>,
    },
    /// Requests, tokens and spend of a running gateway, by the groups asked.
    Usage {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Any of hour, day, route, provider, model, key, team, user, api.
        #[arg(long, default_value = "route,model")]
        group: String,
    },
    /// The config file with the registry layered on it, as one `config.toml` (on
    /// standard output): `switchboard config export`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// People who run the gateway, in the config's `[store]`: `switchboard users add
    /// alice --role admin` makes the first admin.
    #[command(subcommand)]
    Users(switchboard::access::people::cli::UsersCommand),
    /// One prompt to several routes of a running gateway, side by side.
    Compare {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long, value_delimiter = ',', required = true)]
        routes: Vec<String>,
        #[arg(required = true)]
        prompt: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the live config (the file and the registry in its `[store]`) as TOML;
    /// credentials given at run time become `*_env` variables to set.
    Export(ConfigArg),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// What a component is: world, contract version, imports, size, compile time, and
    /// whether this host can link it.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a standalone plugin project: `plugin new strategy my-router --lang rust`
    /// (or python, js).
    New {
        /// strategy, policy or redactor.
        world: String,
        name: String,
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Where the project's folder is made.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a project made by `plugin new` with its language's toolchain (cargo,
    /// componentize-py, componentize-js), then inspect the component.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run a strategy, policy or redactor on the cases of a JSON file in the real
    /// engine: each output, its call time, and whether it is what the case expects.
    Test {
        file: PathBuf,
        /// The cases: {"settings": {..}, "cases": [..]} (see the plugin guide).
        #[arg(long)]
        cases: PathBuf,
    },
}

/// `switchboard plugin …`.
fn plugin(cmd: PluginCommand) -> ExitCode {
    match cmd {
        PluginCommand::Inspect { file, json } => inspect(&file, json),
        PluginCommand::Test { file, cases } => plugin_test(&file, &cases),
        PluginCommand::New {
            world,
            name,
            lang,
            dir,
        } => match switchboard::plugin_kit::scaffold::new(&dir, &world, &name, &lang) {
            Ok(root) => {
                println!(
                    "made {}; build it with: switchboard plugin build {}",
                    root.display(),
                    root.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        PluginCommand::Build { dir } => match switchboard::plugin_kit::building::build(&dir) {
            Ok(wasm) => inspect(&wasm, false),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Prints what a `plugin` command made; its exit code.
fn report(made: Result<(String, bool), String>) -> ExitCode {
    match made {
        Ok((text, ok)) => {
            print!("{text}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `switchboard plugin test`.
fn plugin_test(file: &std::path::Path, cases: &std::path::Path) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    report(rt.block_on(switchboard::plugin_kit::cli::test(file, cases)))
}

/// `switchboard plugin inspect`.
fn inspect(file: &std::path::Path, as_json: bool) -> ExitCode {
    report(switchboard::plugin_kit::cli::inspect(file, as_json))
}

/// `[log] format` of the config file, read before logging starts (the whole config is
/// checked after, with its errors logged in the format chosen).
fn configured_log_format(path: &std::path::Path) -> Option<LogFormat> {
    let doc: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    match doc.get("log")?.get("format")?.as_str()? {
        "json" => Some(LogFormat::Json),
        "text" => Some(LogFormat::Text),
        _ => None,
    }
}

fn logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| "info".into());
    // Provider keys are masked in every line, whatever logged them.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(switchboard::secrets::StderrLogs);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.or_else(|| match &cli.command {
        Command::Serve(c) | Command::Check(c) => configured_log_format(&c.config),
        _ => None,
    });
    logs(format.unwrap_or(LogFormat::Text));
    let client = |f: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>>| {
        let Some(rt) = runtime() else {
            return ExitCode::FAILURE;
        };
        match rt.block_on(f) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    };
    match cli.command {
        Command::Demo { listen } => demo(listen),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "switchboard",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Plugin(p) => plugin(p),
        Command::Serve(c) => with_config(&c.config, serve),
        Command::Check(c) => with_config(&c.config, check),
        Command::Config(ConfigCommand::Export(c)) => client(Box::pin(async move {
            let text = switchboard::registry::layer::export_file(&c.config).await?;
            print!("{text}");
            Ok(())
        })),
        Command::Users(u) => client(Box::pin(switchboard::access::people::cli::run(u))),
        Command::Models(a) => client(Box::pin(async move {
            switchboard::client::models(&a.url, a.key.as_deref()).await
        })),
        Command::Chat { api, model, prompt } => client(Box::pin(async move {
            switchboard::client::chat(&api.url, api.key.as_deref(), &model, &prompt.join(" ")).await
        })),
        Command::Usage { admin, days, group } => client(Box::pin(async move {
            switchboard::client::usage(&admin.admin_url, admin.admin_token.as_deref(), days, &group)
                .await
        })),
        Command::Compare {
            admin,
            routes,
            prompt,
        } => client(Box::pin(async move {
            switchboard::client::compare(
                &admin.admin_url,
                admin.admin_token.as_deref(),
                &routes,
                &prompt.join(" "),
            )
            .await
        })),
    }
}

/// Loads the config at `path` and hands it to `run`.
fn with_config(path: &std::path::Path, run: fn(Config, &std::path::Path) -> ExitCode) -> ExitCode {
    match Config::load(path) {
        Ok(c) => run(c, path),
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The files `serve` would write but cannot: `check` refuses them as `serve` would.
fn unwritable_files(config: &Config) -> Vec<String> {
    let mut unwritable = Vec::new();
    if let (None, Some(p)) = (&config.counters.redis, &config.counters.sqlite_path)
        && let Err(e) = switchboard::plugins::counters::db::CounterDb::open(p)
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
        && let Err(e) = switchboard::stores::response_store::open(path)
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
    let presets: std::collections::BTreeMap<String, String> = config
        .providers
        .iter()
        .filter_map(|(n, p)| Some((n.clone(), p.preset.clone()?)))
        .collect();
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
                switchboard::stores::pg::Pg::new(url)
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
    print_prices(&routes, &presets);
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

/// Each provider's preset, and where each target's prices come from.
fn print_prices(
    routes: &std::collections::BTreeMap<String, switchboard::config::Route>,
    presets: &std::collections::BTreeMap<String, String>,
) {
    use switchboard::config::PriceSource;
    for (provider, preset) in presets {
        println!(
            "provider {provider}: preset {preset} (catalog {})",
            switchboard::catalog::version()
        );
    }
    println!("prices per million tokens (input / cached input / output):");
    for r in routes.values() {
        for t in &r.targets {
            let from = match &t.price_source {
                PriceSource::Config => "set in config".to_string(),
                PriceSource::Catalog { preset, checked } => {
                    format!("catalog preset {preset}, checked {checked}")
                }
                PriceSource::Unknown => {
                    println!(
                        "  {} {}/{}: no price (counted as free)",
                        r.name, t.provider, t.model
                    );
                    continue;
                }
            };
            println!(
                "  {} {}/{}: {} / {} / {} ({from})",
                r.name, t.provider, t.model, t.input_price, t.cached_input_price, t.output_price
            );
        }
    }
}

fn demo(addr: std::net::SocketAddr) -> ExitCode {
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
        switchboard::manage::reload::watch(gw.clone(), std::time::Duration::from_secs(1), running.stopped.clone());
        #[cfg(unix)]
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = switchboard::manage::reload::reload(&gw).await;
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
