//! The validated configuration: every reference resolved, every value in range.
//!
//! `Config::parse` turns the text of `config.toml` into a typed `Config`, or a
//! `ConfigError` that names the key and the line. Secrets are read from the
//! environment here and never stored in the config text.

pub mod alerts;
pub mod auth;
pub use auth::UserFrom;
pub use routes::BuiltinTools;
mod cache;
pub mod capture;
pub mod cors;
pub use capture::Capture;
mod credentials;
mod fields;
pub mod guardrails;
pub mod lifecycle;
pub mod masked;
mod presets;
mod providers;
pub use providers::{ClaudePlatform, Inactive};
mod raw;
pub mod reports;
pub mod route_params;
mod routes;
pub mod semantic;
mod stores;
pub use stores::{ResponsesConfig, StoreDb, UsageConfig};
pub mod telemetry;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use validate::line_of;

/// Errors in a config file. Each message names the key and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", masked::masked(.0))]
    Syntax(String),
    #[error("line {line}: {key}: {}", masked::masked(message))]
    Invalid {
        line: usize,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub admin: Option<AdminConfig>,
    pub engine: EngineConfig,
    /// The built-in local provider started beside the gateway, if configured.
    pub demo: Option<SocketAddr>,
    pub keys: Vec<GatewayKey>,
    pub providers: BTreeMap<String, Provider>,
    pub routes: BTreeMap<String, Route>,
    pub cache: CacheConfig,
    pub counters: CountersConfig,
    /// Usage records, when `[usage]` names a file.
    pub usage: Option<UsageConfig>,
    pub access_log: Option<AccessLogConfig>,
    /// `[log] format`: how the gateway's log lines are written (a flag wins).
    pub log_format: Option<AccessLogFormat>,
    /// `[telemetry]`: traces over OTLP.
    pub telemetry: Option<telemetry::TelemetryConfig>,
    /// `[auth]`: single sign-on for the console, end users proven by signed tokens.
    pub auth: auth::AuthConfig,
    pub responses: Option<ResponsesConfig>,
    /// `[[teams]]` by name.
    pub teams: BTreeMap<String, Team>,
    /// Every `[policies.*]` entry, for keys, teams and the gateway to name.
    pub named_policies: BTreeMap<String, PluginSpec>,
    /// `[gateway] policies`: checked for every request.
    pub gateway_policies: Vec<String>,
    /// `[store]`: where virtual keys live (PostgreSQL shared by replicas, or a SQLite
    /// file); `None` when not configured.
    pub store: Option<StoreDb>,
    /// The route `/v1/files` uploads go to when the request names none
    /// (`x-switchboard-route`).
    pub files_route: Option<String>,
    /// `[[alerts]]` rules.
    pub alerts: Vec<alerts::AlertRule>,
    /// `[[reports]]`: spend and health reports, daily or weekly.
    pub reports: Vec<reports::Report>,
    /// `[server.cors]` with the keys' and routes' origins; `None`: no CORS.
    pub cors: Option<cors::Cors>,
    /// `[prompts.*]` (the file's and the registry's), pinned versions as `name@N`.
    pub prompts: BTreeMap<String, lifecycle::Prompt>,
    /// `[store]`'s master keys and how many versions the registry keeps.
    pub registry: RegistryConfig,
    /// The version in force of each model and prompt (`models/NAME`, `prompts/NAME`),
    /// and when it was made: set by the registry's layering, empty for a bare file.
    pub versions: BTreeMap<String, (u32, u64)>,
    /// Warnings to log at start (open gateway, providers without keys...).
    pub warnings: Vec<String>,
    /// What it was read from, so the registry can layer on it again.
    pub source: Option<std::sync::Arc<Source>>,
}

/// The text a config was read from, where its relative paths start, and the
/// environment variables it read (their values as read).
#[derive(Clone)]
pub struct Source {
    pub text: String,
    pub base: PathBuf,
    pub env: BTreeMap<String, Option<String>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Source({} bytes from {})",
            self.text.len(),
            self.base.display()
        )
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// Most array elements (messages, content blocks, parts, input items, at any
    /// depth) one model request may hold.
    pub max_items: usize,
    /// Memory all in-flight request translations (Messages, Responses, count_tokens
    /// into the chat form) may hold together, in bytes.
    pub translation_memory_bytes: usize,
    pub tls: Option<TlsFiles>,
    pub shutdown_grace: Duration,
    /// How long a stopping replica keeps accepting while `/ready` says 503, so a load
    /// balancer's checks take it out of rotation first.
    pub drain_delay: Duration,
    pub client_timeout: Duration,
    pub workers: usize,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// SHA-256 of the admin token; `None` disables `/admin/*` (metrics stay open).
    pub token_sha256: Option<[u8; 32]>,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub cache_dir: PathBuf,
    /// Most bytes the compile cache keeps on disk.
    pub cache_max_bytes: u64,
    /// Most bytes of compiled functions kept in memory for recompiles (0: none).
    pub function_cache_bytes: u64,
    pub max_instances: u32,
    pub max_idle: u32,
    pub recycle_after: u32,
    pub default_limits: PluginLimits,
    pub isolation: Isolation,
}

/// How one misbehaving plugin is kept from hurting the others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Isolation {
    /// Calls of one configured plugin running at once; more wait their turn.
    pub max_concurrent_calls: u32,
    /// Live instances one configured plugin may hold.
    pub max_instances_per_plugin: u32,
    /// Failures (deadline, trap, memory) within `window` that quarantine it; 0 = never.
    pub quarantine_failures: u32,
    pub quarantine_window: Duration,
    pub quarantine_cooldown: Duration,
    pub max_component_bytes: u64,
    pub log_lines_per_sec: u32,
    pub max_counters: u64,
    /// Live counters of one plugin that one gateway key's requests may make (its
    /// fair share of `max_counters`).
    pub max_counters_per_key: u64,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            max_concurrent_calls: 16,
            max_instances_per_plugin: 500,
            quarantine_failures: 5,
            quarantine_window: Duration::from_secs(30),
            quarantine_cooldown: Duration::from_secs(30),
            max_component_bytes: 64 << 20,
            log_lines_per_sec: 100,
            max_counters: 100_000,
            max_counters_per_key: 10_000,
        }
    }
}

/// Sandbox limits for one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PluginLimits {
    /// CPU time a single call may take.
    pub deadline: Duration,
    /// Linear memory the plugin may grow to.
    pub memory_bytes: usize,
}

/// A gateway key: the client presents the secret; only its SHA-256 is kept.
#[derive(Debug, Clone)]
pub struct GatewayKey {
    pub name: String,
    pub sha256: [u8; 32],
    /// Routes this key may use; `None` = all.
    pub models: Option<Vec<String>>,
    pub team: Option<String>,
    pub tags: Vec<String>,
    /// Policies its requests are checked by on every route (`[policies.*]` names).
    pub policies: Vec<String>,
    /// The end user its requests are made for, whatever a request says.
    pub user: Option<String>,
    /// Where its requests' end user comes from.
    pub user_from: UserFrom,
    /// Its requests' bodies kept beside their records, when set.
    pub capture: Option<Capture>,
    /// The only pages (origins) it may be used from in a browser.
    pub cors_origins: Option<Vec<String>>,
}

/// A team of keys: the models they may use (on top of each key's own list) and the
/// labels policies see with their requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub name: String,
    pub models: Option<Vec<String>>,
    pub tags: Vec<String>,
    /// Policies its keys' requests are checked by on every route.
    pub policies: Vec<String>,
    /// The most a team admin may give one of its keys as the key's own budget.
    pub key_budget_cap: Option<f64>,
}

/// Where a plugin component comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PluginSource {
    /// `builtin:<name>`, embedded in the binary.
    Builtin(String),
    /// A `.wasm` component file.
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin(n) => write!(f, "builtin:{n}"),
            PluginSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What the route does when a policy or redactor plugin fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The request fails (default).
    FailClosed,
    /// The plugin is skipped and the request goes on.
    FailOpen,
}

/// A plugin as configured: its source, settings (as JSON texts) and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// The config name (`builtin:round-robin`, or a `[policies.NAME]` key).
    pub name: String,
    pub source: PluginSource,
    pub settings: BTreeMap<String, String>,
    pub limits: PluginLimits,
    pub on_error: OnError,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub adapter: PluginSpec,
    pub base_url: String,
    /// The key, when `api_key_env` is set and present.
    pub api_key: Option<Secret>,
    /// Set when `api_key_env` names a variable that is not set: the provider is
    /// inactive and requests routed to it fail over or get this reason.
    pub inactive: Option<Inactive>,
    /// AWS credentials for SigV4-signing adapters, when `aws_credentials_env` is set.
    pub aws: Option<crate::upstream::sigv4::AwsCredentials>,
    /// A token the host fetches, or a signature it computes (`credential = {…}`).
    pub credential: Option<crate::upstream::credentials::ProviderCredential>,
    pub timeout: Duration,
    /// The longest a stream may run (a provider that trickles forever ends there).
    pub max_stream_duration: Duration,
    pub headers: Vec<(String, String)>,
    pub health_check: Option<HealthCheck>,
    /// Every stream asks the provider for its usage (so tokens are counted even when the
    /// client did not ask; the usage chunk is then kept from the client). Off for
    /// providers that refuse `stream_options`.
    pub stream_usage: bool,
    /// Client APIs this provider is given as the client sent them (pass-through).
    pub native: Vec<crate::native::NativeApi>,
    /// The catalog preset it starts from, if any.
    pub preset: Option<String>,
    /// Where a `builtin:anthropic` provider reaches Claude (its `platform` setting):
    /// how a passed-through Messages request is sent.
    pub claude: ClaudePlatform,
}

/// A cheap probe of a provider on an interval; results feed the circuit breakers of
/// every target on that provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `get` a cheap path, or a one-token `chat` call per target model.
    pub chat: bool,
    pub interval: Duration,
    /// GET this path under `base_url` (default `/models`).
    pub path: String,
    pub timeout: Duration,
}

/// What a translated request does with a field its target cannot carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsupportedFields {
    /// Dropped, and named in `x-switchboard-dropped`.
    #[default]
    Drop,
    /// The request is refused with a 400 naming the fields.
    Error,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub strategy: PluginSpec,
    pub targets: Vec<Target>,
    pub policies: Vec<PluginSpec>,
    pub redactors: Vec<PluginSpec>,
    /// Guardrails, in order (`guardrails.rs`).
    pub guardrails: Vec<guardrails::GuardrailSpec>,
    /// Redaction of answers; `None` when the route has no redactors or turned it off.
    pub redact_response: Option<RedactResponse>,
    /// Most choices (`n`) a request may ask for.
    pub max_n: u64,
    /// What a translated request does with a field its target cannot carry.
    pub unsupported_fields: UnsupportedFields,
    /// What a translated Responses request does with OpenAI's built-in tools.
    pub builtin_tools: BuiltinTools,
    /// Targets whose provider says it cannot take the request go last.
    pub steer_by_provider_limits: bool,
    /// Labels policies see with each request of this route.
    pub tags: Vec<String>,
    pub breaker: crate::health::BreakerConfig,
    pub retry: RetryPolicy,
    /// Response caching of this route, when enabled.
    pub cache: Option<RouteCache>,
    /// Whole answers carry `x-switchboard-cost` (what the answer cost at the target's
    /// prices).
    pub show_cost: bool,
    /// Where its requests' end user comes from (`jwt`: a verified token, required).
    pub user_from: UserFrom,
    /// Its requests' bodies kept beside their records (a sampled share), when set.
    pub capture: Option<Capture>,
    /// The only pages (origins) it may be used from in a browser.
    pub cors_origins: Option<Vec<String>>,
    /// Request parameters set when the client sets none, and upper bounds of numeric
    /// ones (see `route_params`).
    pub params: route_params::Params,
    /// What `/v1/models` says of the route beyond its name.
    pub meta: route_params::Meta,
    /// Draft, testing, active, deprecated or retired; successor, dates, testers.
    pub lifecycle: lifecycle::Lifecycle,
}

/// The registry's settings in `[store]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// Provider credentials given at run time are sealed under this key.
    pub master_key: Option<Secret>,
    /// The key before a rotation (read, never written with).
    pub previous_master_key: Option<Secret>,
    /// Where the master key was to come from, for the message when it is missing.
    pub master_key_source: Option<String>,
    pub keep_versions: u32,
    /// Variables providers made at run time may read keys from, beside those the
    /// file's providers read (`[store] registry_env`).
    pub env: Vec<String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            master_key: None,
            previous_master_key: None,
            master_key_source: None,
            keep_versions: 20,
            env: Vec::new(),
        }
    }
}

/// Answers pass through the route's redactors, JSON answers whole and streams with
/// `window` characters held back (matches up to that long are caught however the
/// text is split into chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedactResponse {
    pub window: usize,
}

/// Default `redact_window`: an e-mail address or a card number fits with room to spare.
pub const DEFAULT_REDACT_WINDOW: usize = 64;
/// Largest `redact_window`.
pub const MAX_REDACT_WINDOW: usize = 4096;

/// `[counters]`: plugins' windowed counters (quota and rate-limit policies) live in
/// memory, or in Redis so that every replica counts against the same limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountersConfig {
    pub redis: Option<RedisConfig>,
    /// A SQLite file that keeps memory counters across restarts.
    pub sqlite_path: Option<std::path::PathBuf>,
}

/// `[access_log]`: one line per request.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogConfig {
    pub format: AccessLogFormat,
    /// `None`: standard output.
    pub path: Option<std::path::PathBuf>,
}

/// How an access-log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    /// `key=value` pairs (logfmt).
    #[default]
    Text,
    /// One JSON object.
    Json,
}

/// `[cache]`: bounds of the in-memory cache shared by all routes, and Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub max_bytes: u64,
    pub max_entry_bytes: usize,
    pub redis: Option<RedisConfig>,
    /// The semantic cache (`semantic.rs`), when set.
    pub semantic: Option<semantic::SemanticConfig>,
}

/// The shared second level: replicas with the same Redis share answers.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    pub url: Secret,
    pub prefix: String,
    pub timeout: Duration,
}

/// `[models.X] cache = { ttl = "10m", per_key = false, max_entry_bytes = N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteCache {
    pub ttl: Duration,
    /// Answers are kept apart per gateway key (never served to another key).
    pub per_key: bool,
    pub max_entry_bytes: usize,
}

/// How a route retries: attempts in the strategy's order (cycling when there are more
/// attempts than targets), with exponential backoff and jitter between them, within a
/// retry budget and an overall deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts at most; `None` = one per target.
    pub attempts: Option<u32>,
    /// Wait before the second attempt; doubled for each further one (0 = none).
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Retries may add at most this share of the route's requests.
    pub budget_percent: u32,
    /// The whole request, all attempts included.
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: None,
            backoff: Duration::ZERO,
            max_backoff: Duration::from_secs(2),
            budget_percent: 20,
            deadline: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    pub provider: String,
    pub model: String,
    pub weight: u32,
    pub priority: u32,
    pub input_price: f64,
    pub output_price: f64,
    /// Prompt-cache reads, per million tokens.
    pub cached_input_price: f64,
    /// Where the prices came from: the target, the catalog (preset and date), or none.
    pub price_source: PriceSource,
    /// Routed to (config `enabled`, or a runtime override).
    pub enabled: bool,
    /// Labels a strategy may route by (`host::target-tags`; `builtin:content-router`).
    pub tags: Vec<String>,
}

/// Where a target's prices come from (`switchboard check` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceSource {
    Config,
    /// The catalog: preset name and the date its prices were checked.
    Catalog {
        preset: String,
        checked: String,
    },
    /// No price anywhere: the target counts as free.
    Unknown,
}

/// A secret that never prints.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().map(PathBuf::from).unwrap_or_default();
        Self::parse(&text, &base, &|k| std::env::var(k).ok())
    }

    /// Validates config text. Relative plugin paths resolve against `base`;
    /// `env` looks up environment variables (tests pass their own).
    pub fn parse(
        text: &str,
        base: &std::path::Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let seen = std::cell::RefCell::new(BTreeMap::new());
        let recording = |k: &str| {
            let v = env(k);
            seen.borrow_mut().insert(k.to_string(), v.clone());
            v
        };
        let mut config = validate::validate(raw, text, base, &recording)?;
        config.source = Some(std::sync::Arc::new(Source {
            text: text.to_string(),
            base: base.to_path_buf(),
            env: seen.into_inner(),
        }));
        Ok(config)
    }
}
