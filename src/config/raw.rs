//! The file as written: serde structs mirroring `config.toml`, unknown keys rejected.
//! Nothing here is checked beyond its shape; `config::validate` does the rest.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::fields::RawPlugin;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The API listener: address, TLS, body and item bounds, shutdown, CORS.
    #[serde(default)]
    pub server: RawServer,
    /// The admin listener (`/admin/*`, the console, `/metrics`) and its token.
    pub admin: Option<RawAdmin>,
    /// The plugin engine: the compile cache and the sandbox's limits.
    #[serde(default)]
    pub plugins: RawPluginEngine,
    /// The built-in local demo provider, started beside the gateway.
    pub demo: Option<RawDemo>,
    /// Gateway keys clients present (none: the gateway is open).
    #[serde(default)]
    pub keys: Vec<RawKey>,
    /// Teams of keys: models, labels, policies, the budget cap of their keys.
    #[serde(default)]
    pub teams: Vec<RawTeam>,
    /// The provider catalog's prices: exchange rates for presets priced in another
    /// currency than US dollars.
    pub catalog: Option<RawCatalog>,
    /// Upstream providers: adapter, base URL, key, limits (`[providers.NAME]`).
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    /// The models clients name (routes): targets, strategy, policies, redactors.
    #[serde(default)]
    pub models: BTreeMap<String, Spanned<RawModel>>,
    /// Prompt templates (`[prompts.NAME]`), named by requests.
    #[serde(default)]
    pub prompts: BTreeMap<String, Spanned<RawPrompt>>,
    /// Strategy plugins by name, for routes to use.
    #[serde(default)]
    pub strategies: BTreeMap<String, RawPlugin>,
    /// Policy plugins by name, for routes, keys, teams and the gateway to use.
    #[serde(default)]
    pub policies: BTreeMap<String, RawPlugin>,
    /// Redactor plugins by name, for routes to use.
    #[serde(default)]
    pub redactors: BTreeMap<String, RawPlugin>,
    /// Guardrail plugins (contract 0.3.0) by name, for routes to use.
    #[serde(default)]
    pub guardrails: BTreeMap<String, super::guardrails::RawGuardrail>,
    /// The response cache's bounds, and Redis to share answers between replicas.
    pub cache: Option<RawCache>,
    /// Where plugins' counters live (memory, a SQLite file, or Redis).
    pub counters: Option<RawCounters>,
    /// Usage records (the request log): where, and how long they are kept.
    pub usage: Option<RawUsage>,
    /// One line per request, as text or JSON.
    pub access_log: Option<RawAccessLog>,
    /// Stored Responses API answers (`previous_response_id`).
    pub responses: Option<RawResponses>,
    /// Where virtual keys, people, overrides and the registry live.
    pub store: Option<RawStore>,
    /// Where `/v1/files` uploads go.
    pub files: Option<RawFiles>,
    /// Policies every request is checked by.
    pub gateway: Option<RawGateway>,
    /// Alert rules the gateway evaluates on itself.
    #[serde(default)]
    pub alerts: Vec<super::alerts::RawAlert>,
    /// Where alerts of each severity go when their rule names no webhook.
    pub alerting: Option<super::alerts::RawAlerting>,
    /// Daily or weekly spend and health reports.
    #[serde(default)]
    pub reports: Vec<super::reports::RawReport>,
    /// How the gateway's own log lines are written.
    pub log: Option<super::telemetry::RawLog>,
    /// Traces over OTLP.
    pub telemetry: Option<super::telemetry::RawTelemetry>,
    /// Single sign-on for the console, and end users proven by signed tokens.
    pub auth: Option<super::auth::RawAuth>,
}

/// What holds for every request, whatever its route and key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// `[policies.*]` names every request is checked by (a gateway-wide budget).
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
}

/// Where `/v1/files` uploads go when the request names no route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFiles {
    pub route: Spanned<String>,
}

/// Responses API answers kept for `previous_response_id` and `GET /v1/responses/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponses {
    /// Required unless `[store]` names PostgreSQL.
    pub sqlite_path: Option<Spanned<String>>,
    pub retention_days: Option<u32>,
    /// Most MiB of stored responses one key keeps; past it its oldest go.
    pub max_mib_per_key: Option<u64>,
}

/// A team: the models its keys may use, the labels policies see with its requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    pub name: Spanned<String>,
    pub models: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `[policies.*]` names its keys' requests are checked by, on every route.
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    /// The most a team admin may give one of the team's keys as its own budget.
    pub key_budget_cap: Option<Spanned<f64>>,
}

/// The store shared by replicas.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// This gateway's own SQLite file (when no PostgreSQL is named).
    pub sqlite_path: Option<Spanned<String>>,
    /// A PostgreSQL URL; better without a password (peer or certificate auth), else
    /// named by `postgres_url_env`.
    pub postgres_url: Option<Spanned<String>>,
    /// The variable holding a PostgreSQL URL (it carries a password).
    pub postgres_url_env: Option<Spanned<String>>,
    /// The master key provider credentials given at run time are sealed under (32
    /// bytes, base64 or hex), from this variable or file.
    pub master_key_env: Option<Spanned<String>>,
    pub master_key_file: Option<Spanned<String>>,
    /// The master key before a rotation: still read, never written with.
    pub previous_master_key_env: Option<Spanned<String>>,
    /// Versions of each registry object kept (older ones are pruned; a pin on one
    /// answers 404).
    pub keep_versions: Option<u32>,
    /// Variables providers made at run time may name in `api_key_env` (beside those
    /// the file's providers use).
    #[serde(default)]
    pub registry_env: Vec<String>,
}

/// A prompt template: messages with `{{variables}}`, default parameters, a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrompt {
    pub messages: Vec<RawPromptMessage>,
    pub model: Option<Spanned<String>>,
    pub defaults: Option<toml::Table>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPromptMessage {
    pub role: Spanned<String>,
    pub content: String,
}

/// One line per request, as text (logfmt) or JSON, to a file or stdout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    pub format: Option<super::AccessLogFormat>,
    pub path: Option<Spanned<String>>,
}

/// Usage records: in `[store]`'s PostgreSQL when it names one, else a SQLite file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsage {
    /// Required unless `[store]` names PostgreSQL.
    pub sqlite_path: Option<Spanned<String>>,
    pub retention_days: Option<u32>,
    /// How long captured request and answer bodies are kept (default 7 days).
    pub capture_retention_days: Option<u32>,
}

/// Where plugin counters live: memory unless a Redis is named.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCounters {
    pub redis_url: Option<Spanned<String>>,
    pub redis_url_env: Option<Spanned<String>>,
    pub redis_prefix: Option<String>,
    /// How long a counter update may take before the plugin call fails.
    pub redis_timeout: Option<Spanned<String>>,
    /// Memory counters are saved here (SQLite) and survive a restart.
    pub sqlite_path: Option<Spanned<String>>,
}

/// Global bounds of the response cache, and its optional Redis second level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Total size of the in-memory cache, in bytes.
    pub max_bytes: Option<u64>,
    /// Largest single answer stored, in bytes (a route may lower it).
    pub max_entry_bytes: Option<u64>,
    pub redis_url: Option<Spanned<String>>,
    /// Name of an environment variable holding the Redis URL (when it has a password).
    pub redis_url_env: Option<Spanned<String>>,
    pub redis_prefix: Option<String>,
    /// How long a Redis command may take before the cache counts it a miss.
    pub redis_timeout: Option<Spanned<String>>,
    /// The semantic cache: misses looked up by their prompt's embedding.
    pub semantic: Option<super::semantic::RawSemantic>,
}

/// `cache = { ttl = "10m" }` on a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelCache {
    pub ttl: Spanned<String>,
    /// Keep each gateway key's answers apart.
    pub per_key: Option<bool>,
    pub max_entry_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: Option<u64>,
    /// Most array elements (messages, blocks, parts, items) in one model request.
    pub max_items: Option<u64>,
    /// Memory all in-flight request translations may hold together, in MiB.
    pub translation_memory_mib: Option<u64>,
    pub tls: Option<RawTls>,
    /// Server threads (each its own single-threaded runtime); default: one per core.
    pub workers: Option<usize>,
    /// How long a client may take to send its request body.
    pub client_timeout: Option<Spanned<String>>,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace: Option<Spanned<String>>,
    /// How long a stopping replica keeps accepting, `/ready` saying 503 (default 0s).
    pub drain_delay: Option<Spanned<String>>,
    /// Browser applications that call the gateway directly.
    pub cors: Option<super::cors::RawCors>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Spanned<String>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPluginEngine {
    /// Where compiled plugin artifacts are cached.
    pub cache_dir: Option<String>,
    /// Most the compile cache may hold, in MiB (least recently used evicted).
    pub cache_max_mib: Option<u64>,
    /// Compiled functions kept in memory so a rebuilt plugin recompiles only what
    /// changed, in MiB (0: none).
    pub function_cache_mib: Option<u64>,
    /// Defaults for every plugin; each plugin may override.
    pub deadline: Option<Spanned<String>>,
    pub memory_mib: Option<u64>,
    /// Live plugin instances at most, across all plugins.
    pub max_instances: Option<u32>,
    /// Warm instances kept per plugin.
    pub max_idle: Option<u32>,
    /// An instance is replaced after this many calls.
    pub recycle_after: Option<u32>,
    /// Calls of one configured plugin running at once (a bulkhead).
    pub max_concurrent_calls: Option<u32>,
    /// Live instances of one configured plugin at most (its share of `max_instances`).
    pub max_instances_per_plugin: Option<u32>,
    /// Deadline, trap or memory failures within `quarantine_window` that quarantine
    /// a plugin (0 = never).
    pub quarantine_failures: Option<u32>,
    pub quarantine_window: Option<Spanned<String>>,
    /// How long a quarantined plugin's calls fail fast before one trial call.
    pub quarantine_cooldown: Option<Spanned<String>>,
    /// Largest component file that is read.
    pub max_component_mib: Option<u64>,
    /// Log lines one plugin may write per second; the rest are counted and dropped.
    pub log_lines_per_sec: Option<u32>,
    /// Live counter keys one plugin may hold (in memory or Redis).
    pub max_counters: Option<u64>,
    /// Live counter keys of one plugin one gateway key may make (default a tenth of
    /// `max_counters`): past it that key's oldest are shed, no one else's.
    pub max_counters_per_key: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemo {
    pub listen: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub name: Spanned<String>,
    pub secret_env: Option<Spanned<String>>,
    pub sha256: Option<Spanned<String>>,
    /// Models this key may use; all when absent.
    pub models: Option<Vec<Spanned<String>>>,
    /// The team the key belongs to (policies see it; `per = "team"` quotas count by it).
    pub team: Option<String>,
    /// Labels policies see with each request of this key.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `[policies.*]` names this key's requests are checked by, on every route.
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    /// The end user this key's requests are made for (overrides a request's `user`).
    pub user: Option<String>,
    /// `jwt`: the end user is the claim of a token `[auth.end_users]` verifies.
    pub user_from: Option<Spanned<super::UserFrom>>,
    /// Keep a sampled share of this key's request and answer bodies.
    pub capture: Option<Spanned<super::capture::RawCapture>>,
    /// The only pages (origins) this key may be used from in a browser.
    pub cors_origins: Option<Vec<Spanned<String>>>,
}

/// How the catalog's prices become dollars.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    /// US dollars per unit of each currency a preset prices in (`{ CNY = 0.14 }`): a
    /// target priced by such a preset needs its currency here, so its costs are never
    /// counted in the wrong unit.
    #[serde(default)]
    pub fx: BTreeMap<String, f64>,
}

fn unset() -> Spanned<String> {
    Spanned::new(0..0, String::new())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// A catalog preset (`catalog/providers.toml`) filling what is not set here.
    pub preset: Option<Spanned<String>>,
    /// Empty when not set (then the preset's).
    #[serde(default = "unset")]
    pub adapter: Spanned<String>,
    #[serde(default = "unset")]
    pub base_url: Spanned<String>,
    pub api_key_env: Option<String>,
    /// Environment variables of the AWS credentials for adapters that ask the host
    /// to sign with SigV4: access key id, secret access key, and optionally a
    /// session token.
    pub aws_credentials_env: Option<Spanned<Vec<String>>>,
    /// A credential the host obtains or signs with (`config::credentials`).
    pub credential: Option<Spanned<super::credentials::RawCredential>>,
    pub timeout: Option<Spanned<String>>,
    /// The longest a stream from this provider may run, however steadily it flows.
    pub max_stream_duration: Option<Spanned<String>>,
    /// Extra headers sent on every upstream request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    pub deadline: Option<Spanned<String>>,
    pub memory_mib: Option<u64>,
    pub health_check: Option<RawHealthCheck>,
    /// Ask for the usage chunk on every stream (`stream_options.include_usage`).
    pub stream_usage: Option<bool>,
    /// Client APIs forwarded to this provider as they are (`messages`, `responses`).
    pub native: Option<Spanned<Vec<String>>>,
}

/// Active health check of a provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// `get` (default: a GET of `path`) or `chat` (a one-token chat call per target).
    pub mode: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub path: Option<String>,
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub strategy: Option<Spanned<String>>,
    pub targets: Vec<Spanned<RawTarget>>,
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    #[serde(default)]
    pub redactors: Vec<Spanned<String>>,
    /// Guardrails that judge its requests, answers and streams, in order
    /// (`[guardrails.*]` names, `builtin:` names or `.wasm` paths).
    #[serde(default)]
    pub guardrails: Vec<Spanned<String>>,
    /// Whether answers pass through the redactors too (default true).
    pub redact_response: Option<bool>,
    /// Characters of a streamed answer held back so a match split across chunks is
    /// still caught: the longest text a redactor must see whole.
    pub redact_window: Option<Spanned<u64>>,
    /// Most choices (`n`) one request may ask for (default 8).
    pub max_n: Option<u64>,
    /// What a translated request (`/v1/messages`, `/v1/responses`) does with a field its
    /// target cannot carry: `drop` it and name it (default), or refuse with an `error`.
    pub unsupported_fields: Option<super::UnsupportedFields>,
    /// A `/v1/responses` request with OpenAI's built-in tools (`web_search`, …) on a
    /// route that must translate it: `refuse` it with a 400 naming the tool (default),
    /// or `drop` the tools and name them in `x-switchboard-dropped`.
    pub builtin_tools: Option<super::BuiltinTools>,
    /// Before a 429: a target whose provider's own rate-limit headers say it cannot
    /// take the request's estimated tokens (or any request) goes after those that can,
    /// whatever the strategy ordered (default false).
    pub steer_by_provider_limits: Option<bool>,
    /// Whole answers say what they cost (`x-switchboard-cost`).
    pub show_cost: Option<bool>,
    /// `jwt`: the end user is the claim of a token `[auth.end_users]` verifies.
    pub user_from: Option<Spanned<super::UserFrom>>,
    /// Keep a sampled share of this route's request and answer bodies.
    pub capture: Option<Spanned<super::capture::RawCapture>>,
    /// The only pages (origins) this model may be used from in a browser.
    pub cors_origins: Option<Vec<Spanned<String>>>,
    /// Labels policies see with each request of this route.
    #[serde(default)]
    pub tags: Vec<String>,
    pub breaker: Option<RawBreaker>,
    pub retry: Option<RawRetry>,
    pub cache: Option<Spanned<RawModelCache>>,
    /// Request parameters applied when the client sets none (`temperature = 0.3`).
    pub defaults: Option<Spanned<toml::Table>>,
    /// Upper bounds of numeric request parameters (`max_tokens = 4096`).
    pub limits: Option<Spanned<BTreeMap<String, f64>>>,
    /// What `/v1/models` says of the route.
    pub context_window: Option<u64>,
    #[serde(default)]
    pub capabilities: Vec<Spanned<String>>,
    pub description: Option<String>,
    /// Lifecycle: `draft`, `testing`, `active` (default), `deprecated`, `retired`.
    pub state: Option<Spanned<String>>,
    /// The model that replaces this one (named in deprecation and retirement answers).
    pub successor: Option<Spanned<String>>,
    /// A deprecated model's requests go to its successor.
    pub redirect: Option<bool>,
    /// When a deprecated model stops being served (`Sunset`), a date or RFC 3339 time.
    pub sunset: Option<Spanned<String>>,
    /// When it was deprecated (`Deprecation`).
    pub deprecated_at: Option<Spanned<String>>,
    /// When it retires by itself.
    pub retire_at: Option<Spanned<String>>,
    /// Keys (by name) and teams (`team:NAME`) a `testing` model is served to.
    #[serde(default)]
    pub testers: Vec<String>,
    /// The team that owns the model.
    pub owner: Option<String>,
}

/// Circuit breaker per target of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub failures: Option<u32>,
    pub cooldown: Option<Spanned<String>>,
    pub error_rate: Option<f64>,
    pub min_requests: Option<u32>,
    /// Answer 503 when every target's circuit is open instead of trying them anyway.
    pub fail_fast: Option<bool>,
}

/// Retries across a route's targets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub attempts: Option<u32>,
    pub backoff: Option<Spanned<String>>,
    pub max_backoff: Option<Spanned<String>>,
    pub budget_percent: Option<u32>,
    pub deadline: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub provider: Spanned<String>,
    pub model: String,
    pub weight: Option<u32>,
    pub priority: Option<u32>,
    /// Prices per million tokens.
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    /// Input served from the provider's prompt cache (the input price when unset).
    pub cached_input_price: Option<f64>,
    /// `false`: kept in the config but not routed to (an override may turn it on).
    pub enabled: Option<bool>,
    /// Labels for strategies that route by them (`builtin:content-router`).
    #[serde(default)]
    pub tags: Vec<String>,
}
