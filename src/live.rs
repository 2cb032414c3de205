//! `LiveState`: everything a request needs, built from a validated `Config` and
//! swapped atomically (`ArcSwap`) so that a request runs start to end on one
//! consistent state. Also the per-target signals the host keeps for strategies.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::cache::ResponseCache;
use crate::config::{Config, GatewayKey, PluginSpec, Provider, Route, Target};
pub use crate::health::signals::TargetSignals;
use crate::plugins::calls::{AdapterPool, PolicyPool, RedactorPool, StrategyPool};
use crate::plugins::{InstancePool, PluginError, PluginRuntime, World};

pub struct LiveTarget {
    pub target: Target,
    pub signals: Arc<TargetSignals>,
}

pub struct LivePlugin<W: World> {
    pub spec: PluginSpec,
    pub pool: Arc<InstancePool<W>>,
}

/// A guardrail as a route runs it: its config, its pool and the checks it makes.
pub struct LiveGuardrail {
    pub spec: crate::config::guardrails::GuardrailSpec,
    pub pool: Arc<crate::plugins::calls::GuardrailPool>,
    pub phases: crate::types::GuardPhases,
}

pub struct LiveRoute {
    pub route: Route,
    pub strategy: Arc<StrategyPool>,
    pub targets: Vec<LiveTarget>,
    pub policies: Vec<LivePlugin<crate::plugins::world::Policy>>,
    pub redactors: Arc<[LivePlugin<crate::plugins::world::Redactor>]>,
    pub guardrails: Arc<[LiveGuardrail]>,
    pub sequence: AtomicU64,
    pub retry_budget: crate::health::signals::RetryBudget,
    /// What its requests came to, for alert rules.
    pub outcomes: Arc<crate::health::outcomes::Outcomes>,
    /// The strategy asked (at load) for the request's text.
    pub wants_text: bool,
}

pub struct LiveProvider {
    pub provider: Provider,
    /// `provider.base_url`, parsed once.
    pub base_url: url::Url,
    pub adapter: Arc<AdapterPool>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_name: String,
    /// Whose the objects it keeps are (files, batches, stored responses): a config
    /// key's name, a virtual key's id — never a virtual key's name, which a revoked
    /// key leaves free for a new key to take.
    pub owner: String,
    /// Routes this key may use; `None` = all.
    pub models: Option<Vec<String>>,
    pub team: Option<String>,
    pub tags: Vec<String>,
    /// Policies its requests are checked by on every route: the key's, then its team's.
    pub policies: Vec<String>,
    /// The end user the key is bound to (overrides the request's `user`).
    pub user: Option<String>,
    /// The key's requests must carry a verified end-user token.
    pub user_from_jwt: bool,
    /// The end user a verified token names (`[auth.end_users]`), when one came.
    pub verified_user: Option<String>,
    /// The key's requests' bodies are kept (a sampled share), when set.
    pub capture: Option<crate::config::Capture>,
    /// The only pages the key may be used from, when it names them.
    pub cors_origins: Option<Arc<[String]>>,
    /// The page (`Origin`) the request came from, when a browser sent it.
    pub origin: Option<String>,
}

impl Principal {
    /// The principal of virtual key `id`: what it keeps is its id's.
    pub fn owned_by_virtual_key(mut self, id: &str) -> Principal {
        self.owner = format!("vkey:{id}");
        self
    }

    /// The caller of a gateway with no keys.
    pub fn anonymous() -> Principal {
        Principal {
            key_name: "anonymous".into(),
            owner: "anonymous".into(),
            models: None,
            team: None,
            tags: Vec::new(),
            policies: Vec::new(),
            user: None,
            user_from_jwt: false,
            verified_user: None,
            capture: None,
            cors_origins: None,
            origin: None,
        }
    }

    /// A key's principal: the models it may use are its own list within its team's
    /// (either absent: no limit from it), its tags then its team's.
    pub fn of(
        name: &str,
        models: Option<Vec<String>>,
        team: Option<String>,
        tags: &[String],
        policies: &[String],
        teams: &std::collections::BTreeMap<String, crate::config::Team>,
    ) -> Principal {
        let t = team.as_ref().and_then(|t| teams.get(t));
        let models = match (models, t.and_then(|t| t.models.as_ref())) {
            (Some(own), Some(theirs)) => {
                Some(own.into_iter().filter(|m| theirs.contains(m)).collect())
            }
            (Some(own), None) => Some(own),
            (None, Some(theirs)) => Some(theirs.clone()),
            (None, None) => None,
        };
        let mut tags = tags.to_vec();
        tags.extend(t.iter().flat_map(|t| t.tags.iter().cloned()));
        let mut all = policies.to_vec();
        for p in t.iter().flat_map(|t| t.policies.iter()) {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        Principal {
            key_name: name.to_string(),
            owner: name.to_string(),
            models,
            team,
            tags,
            policies: all,
            user: None,
            user_from_jwt: false,
            verified_user: None,
            capture: None,
            cors_origins: None,
            origin: None,
        }
    }
}

pub struct LiveState {
    /// Every `[policies.*]` entry loaded, for keys, teams and the gateway to name.
    pub policies: HashMap<String, LivePlugin<crate::plugins::world::Policy>>,
    pub config: Arc<Config>,
    pub routes: HashMap<String, LiveRoute>,
    pub providers: HashMap<String, LiveProvider>,
    /// SHA-256 of a gateway key secret → who it is. Empty = open gateway.
    pub keys: HashMap<[u8; 32], Principal>,
    /// The response cache, when any route caches.
    pub cache: Option<Arc<ResponseCache>>,
    /// When it was built (Unix seconds): scheduled retirements that pass later make a
    /// new one.
    pub built_at: i64,
}

/// Loads each distinct plugin once per state, whatever number of routes use it.
struct Loader<'a> {
    runtime: &'a PluginRuntime,
    strategies: HashMap<String, Arc<StrategyPool>>,
    policies: HashMap<String, Arc<PolicyPool>>,
    redactors: HashMap<String, Arc<RedactorPool>>,
    guardrails: HashMap<String, Arc<crate::plugins::calls::GuardrailPool>>,
}

/// What plugins read of each route: its reservation prices (its targets' highest
/// input and output prices) and its targets' tags.
fn route_table(config: &Config) -> HashMap<String, crate::plugins::RouteFacts> {
    config
        .routes
        .iter()
        .map(|(name, r)| {
            let most =
                |f: fn(&crate::config::Target) -> f64| r.targets.iter().map(f).fold(0.0, f64::max);
            let tags = r
                .targets
                .iter()
                .filter(|t| !t.tags.is_empty())
                .map(|t| (t.provider.clone(), t.model.clone(), t.tags.clone()))
                .collect();
            let facts = crate::plugins::RouteFacts {
                prices: (most(|t| t.input_price), most(|t| t.output_price)),
                tags,
            };
            (name.clone(), facts)
        })
        .collect()
}

impl Loader<'_> {
    /// Every `[policies.*]` entry (the routes' own pools where they use them).
    async fn named_policies(
        &mut self,
        config: &Config,
    ) -> Result<HashMap<String, LivePlugin<crate::plugins::world::Policy>>, PluginError> {
        let mut out = HashMap::new();
        for (name, spec) in &config.named_policies {
            let pool = load_cached(self.runtime, &mut self.policies, spec, name).await?;
            let spec = spec.clone();
            out.insert(name.clone(), LivePlugin { spec, pool });
        }
        Ok(out)
    }

    /// One route's plugins (each loaded once however many routes use it) and fresh
    /// signals for its targets.
    async fn route(&mut self, name: &str, r: &Route) -> Result<LiveRoute, PluginError> {
        let label = format!("{}@{name}", r.strategy.name);
        let strategy = load_cached(self.runtime, &mut self.strategies, &r.strategy, &label).await?;
        let mut policies = Vec::new();
        for s in &r.policies {
            policies.push(LivePlugin {
                spec: s.clone(),
                pool: load_cached(self.runtime, &mut self.policies, s, &s.name).await?,
            });
        }
        let mut redactors = Vec::new();
        for s in &r.redactors {
            redactors.push(LivePlugin {
                spec: s.clone(),
                pool: load_cached(self.runtime, &mut self.redactors, s, &s.name).await?,
            });
        }
        let mut guardrails = Vec::new();
        for g in &r.guardrails {
            let s = &g.plugin;
            let pool = load_cached(self.runtime, &mut self.guardrails, s, &s.name).await?;
            guardrails.push(LiveGuardrail {
                spec: g.clone(),
                phases: crate::plugins::calls::phases(&pool).await?,
                pool,
            });
        }
        let wants_text = crate::plugins::calls::wants_request_text(&strategy).await?;
        let targets = r
            .targets
            .iter()
            .filter(|t| t.enabled)
            .map(|t| LiveTarget {
                target: t.clone(),
                signals: Arc::new(TargetSignals::new(r.breaker)),
            })
            .collect();
        Ok(LiveRoute {
            route: r.clone(),
            strategy,
            targets,
            policies,
            redactors: redactors.into(),
            guardrails: guardrails.into(),
            sequence: AtomicU64::new(0),
            retry_budget: crate::health::signals::RetryBudget::new(r.retry.budget_percent),
            outcomes: Default::default(),
            wants_text,
        })
    }
}

fn spec_key(spec: &PluginSpec) -> String {
    format!(
        "{}|{}|{:?}|{:?}",
        spec.name, spec.source, spec.settings, spec.limits
    )
}

/// Loads `spec` for one use of it, labelled `label`: adapters are loaded per provider
/// and strategies per route (their stats, bulkhead and quarantine are that use's),
/// policies and redactors per config name (routes share their counters).
async fn load_cached<W: World>(
    runtime: &PluginRuntime,
    cache: &mut HashMap<String, Arc<InstancePool<W>>>,
    spec: &PluginSpec,
    label: &str,
) -> Result<Arc<InstancePool<W>>, PluginError> {
    let key = format!("{}|{label}", spec_key(spec));
    if let Some(p) = cache.get(&key) {
        return Ok(p.clone());
    }
    let pool = runtime.load::<W>(spec, label).await?;
    cache.insert(key, pool.clone());
    Ok(pool)
}

impl LiveState {
    /// The policies that follow `p` onto every route: the gateway's, then the key's and
    /// its team's (names no longer configured are left out).
    pub fn principal_policies(
        &self,
        p: &Principal,
    ) -> Vec<&LivePlugin<crate::plugins::world::Policy>> {
        self.config
            .gateway_policies
            .iter()
            .chain(&p.policies)
            .filter_map(|n| self.policies.get(n))
            .collect()
    }
}

impl LiveState {
    /// Whether a request of `api` for route `model` can be passed through: some
    /// target's provider speaks `api`, and the route's redactors (if any) can read it
    /// (the Messages and Responses APIs; the rest of OpenAI's surface carries texts the
    /// redactors do not know where to find).
    pub fn serves_natively(&self, model: &str, api: crate::native::NativeApi) -> bool {
        let redactable = matches!(
            api,
            crate::native::NativeApi::Messages | crate::native::NativeApi::Responses
        );
        self.routes.get(model).is_some_and(|r| {
            // A guardrail judges answers in chat form: they are translated to it.
            let judged = r
                .guardrails
                .iter()
                .any(|g| g.phases.response || g.phases.stream);
            !judged
                && (redactable || r.redactors.is_empty())
                && r.targets.iter().any(|t| {
                    self.providers
                        .get(&t.target.provider)
                        .is_some_and(|p| p.provider.native.contains(&api))
                })
        })
    }

    pub async fn build(config: Config, runtime: &PluginRuntime) -> Result<LiveState, PluginError> {
        let mut loader = Loader {
            runtime,
            strategies: HashMap::new(),
            policies: HashMap::new(),
            redactors: HashMap::new(),
            guardrails: HashMap::new(),
        };
        let mut adapters: HashMap<String, Arc<AdapterPool>> = HashMap::new();
        let mut providers = HashMap::new();
        for (name, p) in &config.providers {
            let label = format!("{}@{name}", p.adapter.name);
            let adapter = load_cached(runtime, &mut adapters, &p.adapter, &label).await?;
            let base_url = url::Url::parse(&p.base_url).map_err(|e| PluginError::Load {
                plugin: p.adapter.name.clone(),
                message: format!("provider '{name}' base_url is not a valid URL: {e}"),
            })?;
            providers.insert(
                name.clone(),
                LiveProvider {
                    provider: p.clone(),
                    base_url,
                    adapter,
                },
            );
        }
        let mut routes = HashMap::new();
        for (name, r) in &config.routes {
            routes.insert(name.clone(), loader.route(name, r).await?);
        }
        let policies = loader.named_policies(&config).await?;
        runtime.route_table().store(Arc::new(route_table(&config)));
        let keys = config
            .keys
            .iter()
            .map(|k: &GatewayKey| {
                let mut p = Principal::of(
                    &k.name,
                    k.models.clone(),
                    k.team.clone(),
                    &k.tags,
                    &k.policies,
                    &config.teams,
                );
                p.user = k.user.clone();
                p.user_from_jwt = k.user_from == crate::config::UserFrom::Jwt;
                p.capture = k.capture;
                p.cors_origins = k.cors_origins.as_deref().map(Arc::from);
                (k.sha256, p)
            })
            .collect();
        let cache = if config.routes.values().any(|r| r.cache.is_some()) {
            let c = ResponseCache::new(&config.cache).map_err(|e| PluginError::Load {
                plugin: "cache".into(),
                message: e.to_string(),
            })?;
            Some(Arc::new(c))
        } else {
            None
        };
        Ok(LiveState {
            policies,
            cache,
            config: Arc::new(config),
            routes,
            providers,
            keys,
            built_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        })
    }
}
