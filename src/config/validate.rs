//! Raw config → typed `Config`: resolves references, parses durations and addresses,
//! reads secrets from the environment, and reports the first problem with its line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use toml::Spanned;

pub use super::fields::line_of;
use super::fields::{Ctx, default_cache_dir, parse_sha256};
use super::raw::{RawConfig, RawModel, RawPlugin};
use super::*;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
const DEFAULT_STRATEGY: &str = "builtin:round-robin";

pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cx = Ctx { text, base, env };
    let mut warnings = Vec::new();

    let listen = match &raw.server.listen {
        Some(l) => cx.addr(l, "server.listen")?,
        None => DEFAULT_LISTEN.parse().expect("default address"),
    };
    let max_body = raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
    if max_body < 1024 {
        return Err(ConfigError::Invalid {
            line: 0,
            key: "server.max_body_bytes".into(),
            message: "must be at least 1024".into(),
        });
    }
    let tls = raw.server.tls.as_ref().map(|t| TlsFiles {
        cert: base.join(&t.cert),
        key: base.join(&t.key),
    });
    let shutdown_grace = match &raw.server.shutdown_grace {
        Some(d) => cx.duration(d, "server.shutdown_grace")?,
        None => Duration::from_secs(30),
    };
    let client_timeout = match &raw.server.client_timeout {
        Some(d) => cx.duration(d, "server.client_timeout")?,
        None => Duration::from_secs(60),
    };
    let server = ServerConfig {
        listen,
        max_body_bytes: max_body as usize,
        tls,
        shutdown_grace,
        client_timeout,
        workers: raw
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 256),
    };

    let admin = match &raw.admin {
        None => None,
        Some(a) => {
            let token_sha256 = match &a.token_env {
                Some(var) => match (cx.env)(var) {
                    Some(tok) if !tok.is_empty() => Some(Sha256::digest(tok.as_bytes()).into()),
                    _ => {
                        warnings.push(format!("admin API disabled: environment variable {var} is not set (/metrics stays available)"));
                        None
                    }
                },
                None => {
                    warnings.push(
                        "admin API disabled: no admin.token_env (/metrics stays available)".into(),
                    );
                    None
                }
            };
            Some(AdminConfig {
                listen: cx.addr(&a.listen, "admin.listen")?,
                token_sha256,
            })
        }
    };

    let default_limits = {
        let base_limits = PluginLimits {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        };
        cx.limits(
            &raw.plugins.deadline,
            raw.plugins.memory_mib,
            "plugins",
            base_limits,
        )?
    };
    let max_instances = raw.plugins.max_instances.unwrap_or(1000).clamp(16, 100_000);
    let isolation = isolation(&cx, &raw.plugins, max_instances)?;
    let engine = EngineConfig {
        cache_dir: raw
            .plugins
            .cache_dir
            .as_ref()
            .map(|d| base.join(d))
            .unwrap_or_else(default_cache_dir),
        max_instances,
        max_idle: raw.plugins.max_idle.unwrap_or(32),
        recycle_after: raw.plugins.recycle_after.unwrap_or(10_000).max(1),
        default_limits,
        isolation,
    };

    let demo = match &raw.demo {
        Some(d) => Some(cx.addr(&d.listen, "demo.listen")?),
        None => None,
    };

    let mut keys = Vec::new();
    for (i, k) in raw.keys.iter().enumerate() {
        let key = format!("keys[{i}] ({})", k.name.get_ref());
        let sha256 = match (&k.secret_env, &k.sha256) {
            (Some(var), None) => match (cx.env)(var.get_ref()) {
                Some(secret) if !secret.is_empty() => Sha256::digest(secret.as_bytes()).into(),
                _ => {
                    return cx.err(
                        var.span(),
                        format!("{key}.secret_env"),
                        format!("environment variable {} is not set", var.get_ref()),
                    );
                }
            },
            (None, Some(h)) => match parse_sha256(h.get_ref()) {
                Some(d) => d,
                None => return cx.err(h.span(), format!("{key}.sha256"), "must be 64 hex digits"),
            },
            _ => {
                return cx.err(
                    k.name.span(),
                    key,
                    "set exactly one of secret_env or sha256",
                );
            }
        };
        if keys
            .iter()
            .any(|g: &GatewayKey| g.name == *k.name.get_ref())
        {
            return cx.err(k.name.span(), key, "duplicate key name");
        }
        let models = k
            .models
            .as_ref()
            .map(|m| m.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>());
        if let Some(ms) = &k.models {
            for m in ms {
                if !raw.models.contains_key(m.get_ref()) {
                    return cx.err(
                        m.span(),
                        format!("{key}.models"),
                        format!("unknown model '{}'", m.get_ref()),
                    );
                }
            }
        }
        keys.push(GatewayKey {
            name: k.name.get_ref().clone(),
            sha256,
            models,
            team: k.team.clone(),
            tags: k.tags.clone(),
        });
    }
    if keys.is_empty() {
        warnings
            .push("no [[keys]] configured: the gateway is open to anyone who can reach it".into());
    }

    let mut providers = BTreeMap::new();
    for (name, p) in &raw.providers {
        let key = format!("providers.{name}");
        let base_url = p.base_url.get_ref().trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return cx.err(
                p.base_url.span(),
                format!("{key}.base_url"),
                "must start with http:// or https://",
            );
        }
        if let Err(e) = reqwest::Url::parse(&base_url) {
            return cx.err(
                p.base_url.span(),
                format!("{key}.base_url"),
                format!("is not a valid URL: {e}"),
            );
        }
        let (api_key, inactive) = match &p.api_key_env {
            None => (None, None),
            Some(var) => match (cx.env)(var) {
                Some(v) if !v.is_empty() => {
                    crate::secrets::register(&v);
                    (Some(Secret::new(v)), None)
                }
                _ => {
                    warnings.push(format!(
                        "provider '{name}' is inactive: environment variable {var} is not set"
                    ));
                    (
                        None,
                        Some(format!("provider '{name}' has no API key (set {var})")),
                    )
                }
            },
        };
        let (aws, aws_missing) = aws_credentials(p.aws_credentials_env.as_ref(), &cx, &key, text)?;
        let inactive = inactive.or(aws_missing.map(|var| {
            warnings.push(format!(
                "provider '{name}' is inactive: environment variable {var} is not set"
            ));
            format!("provider '{name}' has no AWS credentials (set {var})")
        }));
        let adapter = PluginSpec {
            name: p.adapter.get_ref().clone(),
            source: cx.source(&p.adapter, &format!("{key}.adapter"))?,
            settings: cx.settings(&p.settings),
            limits: cx.limits(&p.deadline, p.memory_mib, &key, default_limits)?,
            on_error: OnError::FailClosed,
        };
        let timeout = match &p.timeout {
            Some(t) => cx.duration(t, &format!("{key}.timeout"))?,
            None => Duration::from_secs(60),
        };
        let headers = p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let health_check = match &p.health_check {
            None => None,
            Some(h) => {
                let d = |v: &Option<Spanned<String>>, what: &str, default: u64| match v {
                    Some(v) => cx.duration(v, &format!("{key}.health_check.{what}")),
                    None => Ok(Duration::from_secs(default)),
                };
                let path = h.path.clone().unwrap_or_else(|| "/models".into());
                if !path.starts_with('/') {
                    return Err(ConfigError::Invalid {
                        line: line_of(text, p.base_url.span().start),
                        key: format!("{key}.health_check.path"),
                        message: "must start with '/'".into(),
                    });
                }
                Some(HealthCheck {
                    interval: d(&h.interval, "interval", 10)?,
                    path,
                    timeout: d(&h.timeout, "timeout", 5)?,
                })
            }
        };
        providers.insert(
            name.clone(),
            Provider {
                name: name.clone(),
                adapter,
                base_url,
                api_key,
                inactive,
                aws,
                timeout,
                headers,
                health_check,
                stream_usage: p.stream_usage.unwrap_or(true),
            },
        );
    }

    let named = |table: &BTreeMap<String, RawPlugin>,
                 kind: &str,
                 v: &Spanned<String>,
                 key: &str,
                 on_error: OnError|
     -> Result<PluginSpec, ConfigError> {
        match table.get(v.get_ref()) {
            Some(p) => cx.plugin(
                v.get_ref(),
                p,
                &format!("{kind}.{}", v.get_ref()),
                default_limits,
                on_error,
            ),
            None if v.get_ref().starts_with("builtin:") || v.get_ref().ends_with(".wasm") => {
                Ok(PluginSpec {
                    name: v.get_ref().clone(),
                    source: cx.source(v, key)?,
                    settings: BTreeMap::new(),
                    limits: default_limits,
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
    };

    let cache = super::cache::global(&cx, raw.cache.as_ref())?;
    let mut routes = BTreeMap::new();
    for (name, m) in &raw.models {
        let key = format!("models.\"{name}\"");
        let model = m.get_ref();
        let strategy = match &model.strategy {
            Some(s) => named(
                &raw.strategies,
                "strategies",
                s,
                &format!("{key}.strategy"),
                OnError::FailClosed,
            )?,
            None => PluginSpec {
                name: DEFAULT_STRATEGY.into(),
                source: PluginSource::Builtin("round-robin".into()),
                settings: BTreeMap::new(),
                limits: default_limits,
                on_error: OnError::FailClosed,
            },
        };
        if model.targets.is_empty() {
            return cx.err(
                m.span(),
                format!("{key}.targets"),
                "needs at least one target",
            );
        }
        let mut targets = Vec::new();
        for t in &model.targets {
            let tv = t.get_ref();
            if !providers.contains_key(tv.provider.get_ref()) {
                return cx.err(
                    tv.provider.span(),
                    format!("{key}.targets.provider"),
                    format!("unknown provider '{}'", tv.provider.get_ref()),
                );
            }
            for (what, price) in [
                ("input_price", tv.input_price),
                ("output_price", tv.output_price),
            ] {
                if let Some(p) = price
                    && !(p.is_finite() && p >= 0.0)
                {
                    return cx.err(
                        t.span(),
                        format!("{key}.targets.{what}"),
                        "must be a non-negative number",
                    );
                }
            }
            targets.push(Target {
                provider: tv.provider.get_ref().clone(),
                model: tv.model.clone(),
                weight: tv.weight.unwrap_or(1),
                priority: tv.priority.unwrap_or(targets.len() as u32),
                input_price: tv.input_price.unwrap_or(0.0),
                output_price: tv.output_price.unwrap_or(0.0),
            });
        }
        let policies = model
            .policies
            .iter()
            .map(|p| {
                named(
                    &raw.policies,
                    "policies",
                    p,
                    &format!("{key}.policies"),
                    OnError::FailClosed,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let redactors = model
            .redactors
            .iter()
            .map(|p| {
                named(
                    &raw.redactors,
                    "redactors",
                    p,
                    &format!("{key}.redactors"),
                    OnError::FailClosed,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let redact_response = redact_response(&cx, model, !redactors.is_empty(), &key)?;
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
        let route_cache = super::cache::route(&cx, model.cache.as_ref(), &cache, &key)?;
        routes.insert(
            name.clone(),
            Route {
                breaker,
                retry,
                cache: route_cache,
                name: name.clone(),
                strategy,
                targets,
                policies,
                redactors,
                redact_response,
                max_n: model.max_n.unwrap_or(8).max(1),
                tags: model.tags.clone(),
            },
        );
    }

    Ok(Config {
        server,
        admin,
        engine,
        demo,
        keys,
        providers,
        routes,
        cache,
        counters: super::cache::counters(&cx, raw.counters.as_ref())?,
        usage: match &raw.usage {
            None => None,
            Some(u) if u.sqlite_path.get_ref().trim().is_empty() => {
                return cx.err(
                    u.sqlite_path.span(),
                    "usage.sqlite_path",
                    "must not be empty",
                );
            }
            Some(u) => Some(UsageConfig {
                sqlite_path: base.join(u.sqlite_path.get_ref()),
                retention_days: u.retention_days.unwrap_or(30).clamp(1, 3650),
            }),
        },
        warnings,
    })
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

/// `[plugins]` isolation settings: bulkheads, quarantine, file and log limits.
fn isolation(
    cx: &Ctx<'_>,
    p: &super::raw::RawPluginEngine,
    max_instances: u32,
) -> Result<crate::config::Isolation, ConfigError> {
    let d = crate::config::Isolation::default();
    let dur = |v: &Option<toml::Spanned<String>>, key: &str, def| match v {
        Some(v) => cx.duration(v, key),
        None => Ok(def),
    };
    Ok(crate::config::Isolation {
        max_concurrent_calls: p
            .max_concurrent_calls
            .unwrap_or(d.max_concurrent_calls)
            .max(1),
        max_instances_per_plugin: p
            .max_instances_per_plugin
            .unwrap_or(max_instances / 2)
            .clamp(1, max_instances),
        quarantine_failures: p.quarantine_failures.unwrap_or(d.quarantine_failures),
        quarantine_window: dur(
            &p.quarantine_window,
            "plugins.quarantine_window",
            d.quarantine_window,
        )?,
        quarantine_cooldown: dur(
            &p.quarantine_cooldown,
            "plugins.quarantine_cooldown",
            d.quarantine_cooldown,
        )?,
        max_component_bytes: p
            .max_component_mib
            .map_or(d.max_component_bytes, |m| m.max(1) << 20),
        log_lines_per_sec: p.log_lines_per_sec.unwrap_or(d.log_lines_per_sec),
        max_counters: p.max_counters.unwrap_or(d.max_counters).max(1),
    })
}

/// The AWS credentials named by `aws_credentials_env` (2 or 3 variable names), or the
/// first variable that is not set.
fn aws_credentials(
    names: Option<&Spanned<Vec<String>>>,
    cx: &super::fields::Ctx<'_>,
    key: &str,
    text: &str,
) -> Result<
    (
        Option<crate::upstream::sigv4::AwsCredentials>,
        Option<String>,
    ),
    ConfigError,
> {
    let Some(names) = names else {
        return Ok((None, None));
    };
    let vars = names.get_ref();
    if !(2..=3).contains(&vars.len()) {
        return Err(ConfigError::Invalid {
            line: line_of(text, names.span().start),
            key: format!("{key}.aws_credentials_env"),
            message: "must name 2 or 3 variables: access key id, secret access key, session token"
                .into(),
        });
    }
    let mut values = Vec::new();
    for var in vars {
        match (cx.env)(var) {
            Some(v) if !v.is_empty() => values.push(v),
            _ => return Ok((None, Some(var.clone()))),
        }
    }
    for v in &values[1..] {
        crate::secrets::register(v);
    }
    let mut values = values.into_iter();
    let (id, secret) = (
        values.next().unwrap_or_default(),
        values.next().unwrap_or_default(),
    );
    Ok((
        Some(crate::upstream::sigv4::AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: values.next(),
        }),
        None,
    ))
}
