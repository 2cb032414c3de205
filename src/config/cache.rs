//! Validation of the response cache settings: the global `[cache]` table and each
//! model's `cache = { ... }`.

use std::time::Duration;

use toml::Spanned;

use super::fields::Ctx;
use super::raw::{RawCache, RawModelCache};
use super::{CacheConfig, ConfigError, RedisCache, RouteCache, Secret};

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
    let url: Option<Spanned<String>> = match (&raw.redis_url, &raw.redis_url_env) {
        (Some(_), Some(v)) => {
            return cx.err(
                v.span(),
                "cache.redis_url_env",
                "set redis_url or redis_url_env, not both",
            );
        }
        (Some(u), None) => Some(u.clone()),
        (None, Some(var)) => match (cx.env)(var.get_ref()) {
            Some(u) if !u.is_empty() => Some(Spanned::new(var.span(), u)),
            _ => {
                return cx.err(
                    var.span(),
                    "cache.redis_url_env",
                    format!("environment variable {} is not set", var.get_ref()),
                );
            }
        },
        (None, None) => None,
    };
    let redis = match url {
        None => None,
        Some(u) => {
            if redis::Client::open(u.get_ref().as_str()).is_err() {
                return cx.err(
                    u.span(),
                    "cache.redis_url",
                    "is not a Redis URL (redis://host:port/db or rediss://...)",
                );
            }
            let timeout = match &raw.redis_timeout {
                Some(d) => cx.duration(d, "cache.redis_timeout")?,
                None => Duration::from_millis(50),
            };
            Some(RedisCache {
                url: Secret::new(u.into_inner()),
                prefix: raw
                    .redis_prefix
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PREFIX.into()),
                timeout,
            })
        }
    };
    Ok(CacheConfig {
        max_bytes,
        max_entry_bytes: max_entry as usize,
        redis,
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
