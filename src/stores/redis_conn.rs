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

/// A connection per thread: each server thread runs its own runtime, and a Redis
/// connection's reads and writes are driven by a task of the runtime that opened it.
/// One shared connection makes every command of every thread wake the thread that
/// drives it and back again; a connection per thread keeps a command on its thread.
pub struct PerThread {
    client: redis::Client,
    mcfg: ConnectionManagerConfig,
    /// Alive while this set of connections is in use: a thread forgets the connections
    /// of a configuration no longer in force the next time it asks for one.
    alive: std::sync::Arc<()>,
}

type ThreadConns = Vec<(std::sync::Weak<()>, ConnectionManager)>;

thread_local! {
    static CONNS: std::cell::RefCell<ThreadConns> = const { std::cell::RefCell::new(Vec::new()) };
}

impl PerThread {
    pub fn new(cfg: &RedisConfig) -> Result<PerThread, String> {
        let client = redis::Client::open(cfg.url.expose())
            .map_err(|e| format!("invalid Redis URL: {}", describe(&e)))?;
        let mcfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            .set_number_of_retries(1);
        Ok(PerThread {
            client,
            mcfg,
            alive: std::sync::Arc::new(()),
        })
    }

    /// This thread's connection (made, lazily, on first use).
    pub fn get(&self) -> Result<ConnectionManager, String> {
        CONNS.with_borrow_mut(|conns| {
            conns.retain(|(w, _)| w.strong_count() > 0);
            let me = std::sync::Arc::downgrade(&self.alive);
            if let Some((_, c)) = conns.iter().find(|(w, _)| w.ptr_eq(&me)) {
                return Ok(c.clone());
            }
            let c = ConnectionManager::new_lazy_with_config(self.client.clone(), self.mcfg.clone())
                .map_err(|e| describe(&e))?;
            conns.push((me, c.clone()));
            Ok(c)
        })
    }
}
