//! Validation of the response cache settings (the global `[cache]` table and each
//! model's `cache = { ... }`) and of `[counters]`; both may name a Redis.

use std::time::Duration;

use toml::Spanned;

use super::fields::Ctx;
use super::raw::{RawCache, RawCounters, RawModelCache};
use super::{CacheConfig, ConfigError, CountersConfig, RedisConfig, RouteCache, Secret};

const DEFAULT_MAX_BYTES: u64 = 256 << 20;
const DEFAULT_MAX_ENTRY: u64 = 1 << 20;
const DEFAULT_PREFIX: &str = "switchboard:cache:";

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        line: 0,
        key: key.into(),
        message: message.into(),
    }
}

pub(super) fn global(cx: &Ctx<'_>, raw: Option<&RawCache>) -> Result<CacheConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(CacheConfig {
            max_bytes: DEFAULT_MAX_BYTES,
            max_entry_bytes: DEFAULT_MAX_ENTRY as usize,
            redis: None,
            semantic: None,
        });
    };
    let max_bytes = raw.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if max_bytes < 1024 {
        return Err(invalid("cache.max_bytes", "must be at least 1024"));
    }
    let max_entry = raw
        .max_entry_bytes
        .unwrap_or(DEFAULT_MAX_ENTRY.min(max_bytes));
    if max_entry == 0 || max_entry > max_bytes || max_entry > u32::MAX as u64 {
        return Err(invalid(
            "cache.max_entry_bytes",
            "must be above 0, at most cache.max_bytes and below 4 GiB",
        ));
    }
    let redis = redis(
        cx,
        "cache",
        RawRedis {
            url: &raw.redis_url,
            url_env: &raw.redis_url_env,
            prefix: &raw.redis_prefix,
            timeout: &raw.redis_timeout,
        },
        DEFAULT_PREFIX,
        Duration::from_millis(50),
    )?;
    Ok(CacheConfig {
        max_bytes,
        max_entry_bytes: max_entry as usize,
        redis,
        semantic: super::semantic::semantic(cx, raw.semantic.as_ref())?,
    })
}

pub(super) fn route(
    cx: &Ctx<'_>,
    raw: Option<&Spanned<RawModelCache>>,
    global: &CacheConfig,
    key: &str,
) -> Result<Option<RouteCache>, ConfigError> {
    let Some(c) = raw else {
        return Ok(None);
    };
    let ttl = cx.duration(&c.get_ref().ttl, &format!("{key}.cache.ttl"))?;
    if ttl > Duration::from_secs(365 * 24 * 3600) {
        return cx.err(
            c.get_ref().ttl.span(),
            format!("{key}.cache.ttl"),
            "must be at most a year",
        );
    }
    let max_entry = match c.get_ref().max_entry_bytes {
        None => global.max_entry_bytes,
        Some(n) if n == 0 || n as usize > global.max_entry_bytes => {
            return cx.err(
                c.span(),
                format!("{key}.cache.max_entry_bytes"),
                format!(
                    "must be above 0 and at most cache.max_entry_bytes ({})",
                    global.max_entry_bytes
                ),
            );
        }
        Some(n) => n as usize,
    };
    Ok(Some(RouteCache {
        ttl,
        per_key: c.get_ref().per_key.unwrap_or(false),
        max_entry_bytes: max_entry,
    }))
}

/// The Redis keys of a table (`[cache]`, `[counters]`).
pub(super) struct RawRedis<'a> {
    pub url: &'a Option<Spanned<String>>,
    pub url_env: &'a Option<Spanned<String>>,
    pub prefix: &'a Option<String>,
    pub timeout: &'a Option<Spanned<String>>,
}

/// `redis_url` or `redis_url_env` (not both), `redis_prefix`, `redis_timeout`.
pub(super) fn redis(
    cx: &Ctx<'_>,
    table: &str,
    raw: RawRedis<'_>,
    default_prefix: &str,
    default_timeout: Duration,
) -> Result<Option<RedisConfig>, ConfigError> {
    let url: Option<Spanned<String>> = match (raw.url, raw.url_env) {
        (Some(_), Some(v)) => {
            return cx.err(
                v.span(),
                format!("{table}.redis_url_env"),
                "set redis_url or redis_url_env, not both",
            );
        }
        (Some(u), None) => Some(u.clone()),
        (None, Some(var)) => match (cx.env)(var.get_ref()) {
            Some(u) if !u.is_empty() => Some(Spanned::new(var.span(), u)),
            _ => {
                return cx.err(
                    var.span(),
                    format!("{table}.redis_url_env"),
                    format!("environment variable {} is not set", var.get_ref()),
                );
            }
        },
        (None, None) => None,
    };
    let Some(u) = url else {
        return Ok(None);
    };
    if redis::Client::open(u.get_ref().as_str()).is_err() {
        return cx.err(
            u.span(),
            format!("{table}.redis_url"),
            "is not a Redis URL (redis://host:port/db or rediss://...)",
        );
    }
    let timeout = match raw.timeout {
        Some(d) => cx.duration(d, &format!("{table}.redis_timeout"))?,
        None => default_timeout,
    };
    Ok(Some(RedisConfig {
        url: Secret::new(u.into_inner()),
        prefix: raw.prefix.clone().unwrap_or_else(|| default_prefix.into()),
        timeout,
    }))
}

/// `[counters]`: where plugins' windowed counters live (memory, or Redis shared by
/// replicas).
pub(super) fn counters(
    cx: &Ctx<'_>,
    raw: Option<&RawCounters>,
) -> Result<CountersConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(CountersConfig::default());
    };
    let redis = redis(
        cx,
        "counters",
        RawRedis {
            url: &raw.redis_url,
            url_env: &raw.redis_url_env,
            prefix: &raw.redis_prefix,
            timeout: &raw.redis_timeout,
        },
        "switchboard:counters:",
        Duration::from_millis(250),
    )?;
    let sqlite_path = match &raw.sqlite_path {
        None => None,
        Some(p) if redis.is_some() => {
            return cx.err(
                p.span(),
                "counters.sqlite_path",
                "counters in Redis are kept there: set redis_url or sqlite_path, not both",
            );
        }
        Some(p) if p.get_ref().trim().is_empty() => {
            return cx.err(p.span(), "counters.sqlite_path", "must not be empty");
        }
        Some(p) => Some(cx.base.join(p.get_ref())),
    };
    Ok(CountersConfig { redis, sqlite_path })
}
