//! Raw config → typed `Config`: resolves references, parses durations and addresses,
//! reads secrets from the environment, and reports the first problem with its line.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use super::fields::line_of;
use super::fields::{Ctx, default_cache_dir, parse_sha256};
use super::raw::RawConfig;
use super::*;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;

pub(super) fn validate(
    mut raw: RawConfig,
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cx = Ctx { text, base, env };
    let mut warnings = Vec::new();

    let server = server(&cx, &raw)?;
    let admin = admin(&cx, &raw, &mut warnings)?;
    let engine = engine(&cx, &raw)?;
    let demo = match &raw.demo {
        Some(d) => Some(cx.addr(&d.listen, "demo.listen")?),
        None => None,
    };

    let keys = keys(&cx, &raw, &mut warnings)?;
    super::presets::apply(&cx, &mut raw.providers)?;
    let providers = super::providers::providers(&cx, &raw, engine.default_limits, &mut warnings)?;
    let cache = super::cache::global(&cx, raw.cache.as_ref())?;
    let routes = super::routes::routes(&cx, &raw, engine.default_limits, &cache, &providers)?;
    if let Some(s) = &cache.semantic {
        for (what, name) in [("route", Some(&s.route)), ("verify", s.verify.as_ref())] {
            if let Some(name) = name.filter(|n| !routes.contains_key(*n)) {
                return Err(ConfigError::Invalid {
                    line: 0,
                    key: format!("cache.semantic.{what}"),
                    message: format!("'{name}' is not a model of this config"),
                });
            }
        }
    }
    let named_policies = named_policies(&cx, &raw, engine.default_limits)?;
    let files_route = match &raw.files {
        Some(f) if !routes.contains_key(f.route.get_ref()) => {
            return cx.err(
                f.route.span(),
                "files.route",
                format!("names no route: '{}'", f.route.get_ref()),
            );
        }
        Some(f) => Some(f.route.get_ref().clone()),
        None => None,
    };
    let alerts = super::alerts::rules(&cx, (&raw.alerts, raw.alerting.as_ref()), &routes)?;
    let named = keys.iter().filter_map(|k| k.cors_origins.as_ref());
    let named = named.chain(routes.values().filter_map(|r| r.cors_origins.as_ref()));
    let cors = super::cors::cors(
        &cx,
        raw.server.cors.as_ref(),
        named.flatten().cloned().collect(),
    )?;
    Ok(Config {
        cors,
        reports: super::reports::reports(&cx, &raw.reports)?,
        server,
        admin,
        engine,
        demo,
        keys,
        providers,
        routes,
        cache,
        counters: super::cache::counters(&cx, raw.counters.as_ref())?,
        usage: super::stores::usage(&cx, &raw, base)?,
        alerts,
        responses: super::stores::responses(&cx, &raw, base)?,
        files_route,
        teams: teams(&cx, &raw)?,
        named_policies,
        gateway_policies: policy_names(
            &cx,
            &raw,
            "gateway.policies",
            raw.gateway.as_ref().map_or(&[][..], |g| &g.policies),
        )?,
        store: super::stores::store(&cx, &raw, base)?,
        prompts: super::lifecycle::prompts(&cx, &raw)?,
        registry: super::stores::registry(&cx, &raw, base)?,
        versions: BTreeMap::new(),
        source: None,
        log_format: super::telemetry::log_format(raw.log.as_ref()),
        telemetry: super::telemetry::telemetry(&cx, raw.telemetry.as_ref())?,
        auth: super::auth::auth(&cx, raw.auth.as_ref())?,
        access_log: raw.access_log.as_ref().map(|a| AccessLogConfig {
            format: a.format.unwrap_or_default(),
            path: a.path.as_ref().map(|p| base.join(p.get_ref())),
        }),
        warnings,
    })
}

/// `[server]`.
fn server(cx: &Ctx<'_>, raw: &RawConfig) -> Result<ServerConfig, ConfigError> {
    let base = cx.base;
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
    Ok(ServerConfig {
        listen,
        max_body_bytes: max_body as usize,
        max_items: raw
            .server
            .max_items
            .unwrap_or(100_000)
            .clamp(16, 10_000_000) as usize,
        translation_memory_bytes: (raw
            .server
            .translation_memory_mib
            .unwrap_or(1024)
            .clamp(16, 1 << 20)
            << 20) as usize,
        tls,
        shutdown_grace,
        drain_delay: match &raw.server.drain_delay {
            Some(d) => match cx.duration(d, "server.drain_delay")? {
                t if t <= Duration::from_secs(300) => t,
                _ => return cx.err(d.span(), "server.drain_delay", "must be at most 300s"),
            },
            None => Duration::ZERO,
        },
        client_timeout,
        workers: raw
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 256),
    })
}

/// `[admin]`: its listener and token (no token: the admin API is off, warned).
fn admin(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    warnings: &mut Vec<String>,
) -> Result<Option<AdminConfig>, ConfigError> {
    Ok(match &raw.admin {
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
    })
}

/// `[plugins]`: the engine's limits and isolation settings.
fn engine(cx: &Ctx<'_>, raw: &RawConfig) -> Result<EngineConfig, ConfigError> {
    let base = cx.base;
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
    let isolation = isolation(cx, &raw.plugins, max_instances)?;
    Ok(EngineConfig {
        cache_dir: raw
            .plugins
            .cache_dir
            .as_ref()
            .map(|d| base.join(d))
            .unwrap_or_else(default_cache_dir),
        cache_max_bytes: raw.plugins.cache_max_mib.unwrap_or(512).clamp(16, 1 << 20) << 20,
        function_cache_bytes: raw.plugins.function_cache_mib.unwrap_or(256).min(1 << 20) << 20,
        max_instances,
        max_idle: raw.plugins.max_idle.unwrap_or(32),
        recycle_after: raw.plugins.recycle_after.unwrap_or(10_000).max(1),
        default_limits,
        isolation,
    })
}

/// `[[keys]]`: gateway keys (hashed), the models each may use, team and tags.
fn keys(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    warnings: &mut Vec<String>,
) -> Result<Vec<GatewayKey>, ConfigError> {
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
            policies: policy_names(cx, raw, &format!("{key}.policies"), &k.policies)?,
            user: k.user.clone().filter(|u| !u.is_empty()),
            tags: match k.tags.iter().find(|g| g.starts_with("switchboard:")) {
                Some(tag) => {
                    return cx.err(
                        k.name.span(),
                        format!("{key}.tags"),
                        format!("'{tag}': tags beginning with switchboard: are the gateway's own"),
                    );
                }
                None => k.tags.clone(),
            },
            user_from: super::auth::user_from(cx, raw.auth.as_ref(), k.user_from.as_ref(), &key)?,
            capture: super::capture::capture(cx, k.capture.as_ref(), &key)?,
            cors_origins: match &k.cors_origins {
                Some(l) => Some(super::cors::origins(cx, l, &format!("{key}.cors_origins"))?),
                None => None,
            },
        });
    }
    if keys.is_empty() {
        warnings
            .push("no [[keys]] configured: the gateway is open to anyone who can reach it".into());
    }
    Ok(keys)
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
        max_counters_per_key: p
            .max_counters_per_key
            .unwrap_or(p.max_counters.unwrap_or(d.max_counters) / 10)
            .max(1),
    })
}

/// `[[teams]]`: each name once, its models routes that exist.
fn teams(cx: &Ctx<'_>, raw: &RawConfig) -> Result<BTreeMap<String, Team>, ConfigError> {
    let mut out = BTreeMap::new();
    for t in &raw.teams {
        let name = t.name.get_ref().clone();
        let key = format!("teams ({name})");
        if out.contains_key(&name) {
            return cx.err(t.name.span(), key, "duplicate team name");
        }
        for m in t.models.iter().flatten() {
            if !raw.models.contains_key(m.get_ref()) {
                return cx.err(
                    m.span(),
                    format!("{key}.models"),
                    format!("unknown model '{}'", m.get_ref()),
                );
            }
        }
        let models = t
            .models
            .as_ref()
            .map(|m| m.iter().map(|s| s.get_ref().clone()).collect());
        let policies = policy_names(cx, raw, &format!("{key}.policies"), &t.policies)?;
        let key_budget_cap = match &t.key_budget_cap {
            Some(c) if !(*c.get_ref() > 0.0 && c.get_ref().is_finite()) => {
                return cx.err(
                    c.span(),
                    format!("{key}.key_budget_cap"),
                    "must be an amount of money above 0",
                );
            }
            c => c.as_ref().map(|c| *c.get_ref()),
        };
        if let Some(tag) = t.tags.iter().find(|g| g.starts_with("switchboard:")) {
            return cx.err(
                t.name.span(),
                format!("{key}.tags"),
                format!("'{tag}': tags beginning with switchboard: are the gateway's own"),
            );
        }
        out.insert(
            name.clone(),
            Team {
                name,
                models,
                tags: t.tags.clone(),
                policies,
                key_budget_cap,
            },
        );
    }
    Ok(out)
}

/// Policy names a key, a team or the gateway lists: each a `[policies.*]` entry.
fn policy_names(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    key: &str,
    names: &[toml::Spanned<String>],
) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !raw.policies.contains_key(n.get_ref()) {
            return cx.err(
                n.span(),
                key.to_string(),
                format!("'{}' is not a [policies] entry", n.get_ref()),
            );
        }
        if !out.contains(n.get_ref()) {
            out.push(n.get_ref().clone());
        }
    }
    Ok(out)
}

/// Every `[policies.*]` entry as a plugin spec.
fn named_policies(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    limits: PluginLimits,
) -> Result<BTreeMap<String, PluginSpec>, ConfigError> {
    raw.policies
        .iter()
        .map(|(name, p)| {
            let spec = cx.plugin(
                name,
                p,
                &format!("policies.{name}"),
                limits,
                OnError::FailClosed,
            )?;
            Ok((name.clone(), spec))
        })
        .collect()
}
