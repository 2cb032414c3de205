//! The one way the gateway connects to Redis (the cache's second level and the
//! counters): a lazy, self-reconnecting connection bounded by the configured timeout,
//! and error text that never carries the URL (it may hold a password).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisConfig;

/// What went wrong, without anything of the URL.
pub fn describe(e: &redis::RedisError) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.category()),
        None => e.category().to_string(),
    }
}

/// Connects lazily: a Redis that is down at start fails commands, not the start.
pub fn connect(cfg: &RedisConfig) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(cfg.url.expose())
        .map_err(|e| format!("invalid Redis URL: {}", describe(&e)))?;
    let mcfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(cfg.timeout))
        .set_response_timeout(Some(cfg.timeout))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, mcfg).map_err(|e| describe(&e))
}
