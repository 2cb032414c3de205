//! `[models.*]`: each route's strategy, targets, policies and redactors (by name from
//! their tables, `builtin:` names or `.wasm` paths), breaker, retry, cache, `n` and tags.

use std::collections::BTreeMap;

use toml::Spanned;

use super::fields::Ctx;
use super::fields::RawPlugin;
use super::raw::{RawConfig, RawModel};
use super::*;

/// What a translated Responses request does with a built-in tool its target cannot run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinTools {
    /// A 400 naming the tool.
    #[default]
    Refuse,
    /// Dropped, and named in `x-switchboard-dropped`.
    Drop,
}

const DEFAULT_STRATEGY: &str = "builtin:round-robin";

pub(super) fn routes(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    default_limits: PluginLimits,
    cache: &CacheConfig,
    providers: &BTreeMap<String, Provider>,
) -> Result<BTreeMap<String, Route>, ConfigError> {
    let mut routes = BTreeMap::new();
    for (name, m) in &raw.models {
        let env = RouteEnv {
            cx,
            raw,
            default_limits,
            key: format!("models.\"{name}\""),
        };
        let route = env.route(name, m, cache, providers)?;
        routes.insert(name.clone(), route);
    }
    Ok(routes)
}

/// What validating one route needs.
struct RouteEnv<'a> {
    cx: &'a Ctx<'a>,
    raw: &'a RawConfig,
    default_limits: PluginLimits,
    /// `models."NAME"`, for error messages.
    key: String,
}

impl RouteEnv<'_> {
    fn route(
        &self,
        name: &str,
        m: &Spanned<RawModel>,
        cache: &CacheConfig,
        providers: &BTreeMap<String, Provider>,
    ) -> Result<Route, ConfigError> {
        let (cx, raw, key) = (self.cx, self.raw, &self.key);
        let model = m.get_ref();
        let strategy = match &model.strategy {
            Some(s) => self.named(&raw.strategies, "strategies", s, "strategy")?,
            None => PluginSpec {
                name: DEFAULT_STRATEGY.into(),
                source: PluginSource::Builtin("round-robin".into()),
                settings: BTreeMap::new(),
                limits: self.default_limits,
                on_error: OnError::FailClosed,
            },
        };
        let targets = self.targets(m, providers)?;
        let policies = model
            .policies
            .iter()
            .map(|p| self.named(&raw.policies, "policies", p, "policies"))
            .collect::<Result<Vec<_>, _>>()?;
        let redactors = model
            .redactors
            .iter()
            .map(|p| self.named(&raw.redactors, "redactors", p, "redactors"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            breaker: self.breaker(m)?,
            retry: self.retry(model)?,
            cache: super::cache::route(cx, model.cache.as_ref(), cache, key)?,
            name: name.to_string(),
            strategy,
            targets,
            redact_response: redact_response(cx, model, !redactors.is_empty(), key)?,
            policies,
            redactors,
            guardrails: super::guardrails::route(
                cx,
                &raw.guardrails,
                &model.guardrails,
                self.default_limits,
                key,
            )?,
            max_n: model.max_n.unwrap_or(8).max(1),
            unsupported_fields: model.unsupported_fields.unwrap_or_default(),
            builtin_tools: model.builtin_tools.unwrap_or_default(),
            steer_by_provider_limits: model.steer_by_provider_limits.unwrap_or(false),
            show_cost: model.show_cost.unwrap_or(false),
            user_from: super::auth::user_from(
                cx,
                raw.auth.as_ref(),
                model.user_from.as_ref(),
                key,
            )?,
            capture: super::capture::capture(cx, model.capture.as_ref(), key)?,
            cors_origins: match &model.cors_origins {
                Some(l) => Some(super::cors::origins(cx, l, &format!("{key}.cors_origins"))?),
                None => None,
            },
            tags: model.tags.clone(),
            params: super::route_params::params(cx, model, key)?,
            meta: super::route_params::meta(cx, model, key)?,
            lifecycle: super::lifecycle::lifecycle(cx, raw, name, m, key)?,
        })
    }

    /// A plugin named by a route: a `[kind]` entry, a `builtin:` name or a `.wasm` path.
    fn named(
        &self,
        table: &BTreeMap<String, RawPlugin>,
        kind: &str,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<PluginSpec, ConfigError> {
        let (cx, key) = (self.cx, format!("{}.{field}", self.key));
        let on_error = OnError::FailClosed;
        match table.get(v.get_ref()) {
            Some(p) => cx.plugin(
                v.get_ref(),
                p,
                &format!("{kind}.{}", v.get_ref()),
                self.default_limits,
                on_error,
            ),
            None if v.get_ref().starts_with("builtin:") || v.get_ref().ends_with(".wasm") => {
                Ok(PluginSpec {
                    name: v.get_ref().clone(),
                    source: cx.source(v, &key)?,
                    settings: BTreeMap::new(),
                    limits: self.default_limits,
                    on_error,
                })
            }
            None => cx.err(
                v.span(),
                key,
                format!(
                    "'{}' is not a [{kind}] entry, a builtin: plugin or a .wasm path",
                    v.get_ref()
                ),
            ),
        }
    }

    fn targets(
        &self,
        m: &Spanned<RawModel>,
        providers: &BTreeMap<String, Provider>,
    ) -> Result<Vec<Target>, ConfigError> {
        let (cx, key) = (self.cx, &self.key);
        let model = m.get_ref();
        if model.targets.is_empty() {
            return cx.err(
                m.span(),
                format!("{key}.targets"),
                "needs at least one target",
            );
        }
        let mut targets = Vec::new();
        for (i, t) in model.targets.iter().enumerate() {
            let tv = t.get_ref();
            if !providers.contains_key(tv.provider.get_ref()) {
                return cx.err(
                    tv.provider.span(),
                    format!("{key}.targets[{i}].provider"),
                    format!("unknown provider '{}'", tv.provider.get_ref()),
                );
            }
            for (what, price) in [
                ("input_price", tv.input_price),
                ("output_price", tv.output_price),
                ("cached_input_price", tv.cached_input_price),
            ] {
                if let Some(p) = price
                    && !(p.is_finite() && p >= 0.0)
                {
                    return cx.err(
                        t.span(),
                        format!("{key}.targets[{i}].{what}"),
                        "must be a non-negative number",
                    );
                }
            }
            if let Some(bad) = tv.tags.iter().find(|t| !valid_tag(t)) {
                return cx.err(
                    t.span(),
                    format!("{key}.targets[{i}].tags"),
                    format!("'{bad}' is not a tag (1 to 64 letters, digits, '-', '_', '.' or ':')"),
                );
            }
            if tv.tags.len() > 32 {
                return cx.err(
                    t.span(),
                    format!("{key}.targets[{i}].tags"),
                    "at most 32 tags",
                );
            }
            let fx = self.raw.catalog.as_ref().map(|c| &c.fx);
            let (input_price, output_price, cached_input_price, price_source) =
                match prices(tv, &providers[tv.provider.get_ref()], fx) {
                    Ok(p) => p,
                    Err(message) => {
                        return cx.err(t.span(), format!("{key}.targets[{i}]"), message);
                    }
                };
            targets.push(Target {
                provider: tv.provider.get_ref().clone(),
                model: tv.model.clone(),
                weight: tv.weight.unwrap_or(1),
                priority: tv.priority.unwrap_or(targets.len() as u32),
                input_price,
                output_price,
                cached_input_price,
                price_source,
                enabled: tv.enabled.unwrap_or(true),
                tags: tv.tags.clone(),
            });
        }
        Ok(targets)
    }

    fn breaker(&self, m: &Spanned<RawModel>) -> Result<crate::health::BreakerConfig, ConfigError> {
        let (cx, key, model) = (self.cx, &self.key, m.get_ref());
        let mut breaker = crate::health::BreakerConfig::default();
        if let Some(b) = &model.breaker {
            if let Some(f) = b.failures {
                breaker.failures = f.max(1);
            }
            if let Some(c) = &b.cooldown {
                breaker.cooldown = cx.duration(c, &format!("{key}.breaker.cooldown"))?;
            }
            if let Some(r) = b.error_rate {
                if !(r > 0.0 && r <= 1.0) {
                    return cx.err(
                        m.span(),
                        format!("{key}.breaker.error_rate"),
                        "must be above 0 and at most 1",
                    );
                }
                breaker.error_rate = Some(r as f32);
            }
            breaker.fail_fast = b.fail_fast.unwrap_or(false);
            if let Some(n) = b.min_requests {
                breaker.min_requests = n;
            }
        }
        Ok(breaker)
    }

    fn retry(&self, model: &RawModel) -> Result<RetryPolicy, ConfigError> {
        let (cx, key) = (self.cx, &self.key);
        let mut retry = RetryPolicy::default();
        if let Some(r) = &model.retry {
            retry.attempts = r.attempts.map(|a| a.clamp(1, 20));
            let opt = |v: &Option<Spanned<String>>,
                       what: &str|
             -> Result<Option<Duration>, ConfigError> {
                v.as_ref()
                    .map(|d| cx.duration(d, &format!("{key}.retry.{what}")))
                    .transpose()
            };
            if let Some(b) = opt(&r.backoff, "backoff")? {
                retry.backoff = b;
            }
            if let Some(b) = opt(&r.max_backoff, "max_backoff")? {
                retry.max_backoff = b;
            }
            if let Some(p) = r.budget_percent {
                retry.budget_percent = p.min(1000);
            }
            retry.deadline = opt(&r.deadline, "deadline")?;
        }
        Ok(retry)
    }
}

/// `redact_response` / `redact_window` of a route: on by default where the route has
/// redactors; setting either without redactors is a mistake worth naming.
fn redact_response(
    cx: &Ctx<'_>,
    model: &RawModel,
    has_redactors: bool,
    key: &str,
) -> Result<Option<RedactResponse>, ConfigError> {
    let window = match &model.redact_window {
        None => DEFAULT_REDACT_WINDOW,
        Some(w) => {
            if !has_redactors {
                return cx.err(
                    w.span(),
                    format!("{key}.redact_window"),
                    "the route has no redactors",
                );
            }
            match usize::try_from(*w.get_ref()) {
                Ok(n) if (1..=MAX_REDACT_WINDOW).contains(&n) => n,
                _ => {
                    return cx.err(
                        w.span(),
                        format!("{key}.redact_window"),
                        format!("must be 1 to {MAX_REDACT_WINDOW} characters"),
                    );
                }
            }
        }
    };
    let on = model.redact_response.unwrap_or(true);
    Ok((on && has_redactors).then_some(RedactResponse { window }))
}

/// A target tag: what a content router's rule names.
fn valid_tag(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

type Prices = (f64, f64, f64, PriceSource);

/// A target's prices in dollars: its own (any one set means the config prices it, the
/// rest 0), else its preset's for its model (converted with `[catalog] fx` when the
/// preset prices in another currency; an error when no rate is configured), else none
/// (free).
fn prices(
    tv: &super::raw::RawTarget,
    p: &Provider,
    fx: Option<&BTreeMap<String, f64>>,
) -> Result<Prices, String> {
    if tv.input_price.is_some() || tv.output_price.is_some() {
        let input = tv.input_price.unwrap_or(0.0);
        return Ok((
            input,
            tv.output_price.unwrap_or(0.0),
            tv.cached_input_price.unwrap_or(input),
            PriceSource::Config,
        ));
    }
    let preset = p
        .preset
        .as_deref()
        .and_then(|n| Some((n, crate::catalog::preset(n)?)));
    let Some((name, preset, m)) =
        preset.and_then(|(n, pr)| Some((n, pr, pr.models.get(&tv.model)?)))
    else {
        return Ok((0.0, 0.0, 0.0, PriceSource::Unknown));
    };
    let rate = match preset.currency.as_deref() {
        None | Some("USD") => 1.0,
        Some(c) => match fx.and_then(|fx| fx.get(c)) {
            Some(r) if r.is_finite() && *r > 0.0 => *r,
            _ => {
                return Err(format!(
                    "preset '{name}' prices '{}' in {c}: set [catalog] fx = {{ {c} = <US dollars per {c}> }} (or the target's own prices)",
                    tv.model
                ));
            }
        },
    };
    // A target's own cached price is in dollars already.
    let cached = m.cached_input.unwrap_or(m.input) * rate;
    Ok((
        m.input * rate,
        m.output * rate,
        tv.cached_input_price.unwrap_or(cached),
        PriceSource::Catalog {
            preset: name.to_string(),
            checked: preset.checked.clone(),
        },
    ))
}
