//! Plugins' windowed counters (`host.counter-add` / `counter-get`): what quota and
//! rate-limit policies count with. They live in memory, or in Redis when `[counters]`
//! names one, so replicas share every count: an update is one atomic script
//! (`INCRBY` + expiry at the window's end), and a policy that reserves by adding and
//! takes back what it over-reserved never lets the replicas together exceed a limit.
//! A counter store that cannot answer fails the plugin call (the route's `on_error`
//! decides what that means) rather than counting locally and drifting apart.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{CountersConfig, RedisConfig};

#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("counter store (Redis) failed: {0}")]
    Redis(String),
    #[error("counter store (Redis) gave no answer within {0:?}")]
    Timeout(Duration),
}

/// Memory entries are swept of past windows every this many updates.
const SWEEP_EVERY: u64 = 4096;
/// Redis keeps a window's counter this long after the window ends.
const GRACE_MS: u64 = 60_000;

const ADD: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return v
";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn window_start(now: u64, window: u64) -> u64 {
    if window == 0 { 0 } else { now - now % window }
}

/// Seconds left in the current window of `window` seconds (0 for no window).
pub fn window_remaining(window: u64) -> u64 {
    if window == 0 {
        0
    } else {
        window - now_secs() % window
    }
}

/// Shared by all instances of all plugins; keys arrive namespaced by plugin.
#[derive(Default)]
pub struct Counters {
    memory: Mutex<HashMap<(String, u64), (u64, i64)>>,
    updates: AtomicU64,
    redis: ArcSwapOption<RedisCounters>,
}

struct RedisCounters {
    cfg: RedisConfig,
    conn: ConnectionManager,
    add: redis::Script,
}

/// What went wrong, without anything of the URL (which may hold a password).
fn describe(e: &redis::RedisError) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.category()),
        None => e.category().to_string(),
    }
}

impl Counters {
    /// Points the counters at `cfg`'s store; unchanged settings keep the connection.
    pub fn configure(&self, cfg: &CountersConfig) -> Result<(), CounterError> {
        let current = self.redis.load();
        match (&cfg.redis, current.as_deref()) {
            (None, _) => self.redis.store(None),
            (Some(want), Some(have)) if have.cfg == *want => {}
            (Some(want), _) => {
                let client = redis::Client::open(want.url.expose())
                    .map_err(|e| CounterError::Redis(describe(&e)))?;
                let mcfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(want.timeout))
                    .set_response_timeout(Some(want.timeout))
                    .set_number_of_retries(1);
                let conn = ConnectionManager::new_lazy_with_config(client, mcfg)
                    .map_err(|e| CounterError::Redis(describe(&e)))?;
                self.redis.store(Some(Arc::new(RedisCounters {
                    cfg: want.clone(),
                    conn,
                    add: redis::Script::new(ADD),
                })));
            }
        }
        Ok(())
    }

    /// How long a plugin call may spend waiting on the store: a few counter updates'
    /// worth of `redis_timeout` (nothing for memory), so that a slow store shows as
    /// the store's own error rather than as the plugin's deadline.
    pub fn wait_allowance(&self) -> Duration {
        match self.redis.load().as_deref() {
            Some(r) => r.cfg.timeout * 4,
            None => Duration::ZERO,
        }
    }

    /// `"redis"` or `"memory"`.
    pub fn backend(&self) -> &'static str {
        if self.redis.load().is_some() {
            "redis"
        } else {
            "memory"
        }
    }

    pub async fn add(&self, key: String, delta: i64, window: u64) -> Result<i64, CounterError> {
        let now = now_secs();
        let start = window_start(now, window);
        if let Some(r) = self.redis.load_full() {
            let ttl = if window == 0 {
                0
            } else {
                (start + window - now) * 1000 + GRACE_MS
            };
            let name = r.name(&key, window, start);
            let mut conn = r.conn.clone();
            let mut call = r.add.key(name);
            call.arg(delta).arg(ttl);
            return r.bounded(call.invoke_async::<i64>(&mut conn)).await;
        }
        if self.updates.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        let mut map = self.memory.lock();
        let entry = map.entry((key, window)).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        entry.1 = entry.1.saturating_add(delta);
        Ok(entry.1)
    }

    pub async fn get(&self, key: String, window: u64) -> Result<i64, CounterError> {
        let start = window_start(now_secs(), window);
        if let Some(r) = self.redis.load_full() {
            let name = r.name(&key, window, start);
            let mut conn = r.conn.clone();
            let v: Option<i64> = r
                .bounded(redis::cmd("GET").arg(name).query_async(&mut conn))
                .await?;
            return Ok(v.unwrap_or(0));
        }
        Ok(match self.memory.lock().get(&(key, window)) {
            Some((s, v)) if *s == start => *v,
            _ => 0,
        })
    }

    /// Drops memory counters of windows that have ended.
    fn sweep(&self, now: u64) {
        self.memory
            .lock()
            .retain(|(_, window), (start, _)| *start == window_start(now, *window));
    }
}

impl RedisCounters {
    fn name(&self, key: &str, window: u64, start: u64) -> String {
        format!("{}{key}:{window}:{start}", self.cfg.prefix)
    }

    async fn bounded<T>(
        &self,
        f: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CounterError> {
        match tokio::time::timeout(self.cfg.timeout, f).await {
            Err(_) => Err(CounterError::Timeout(self.cfg.timeout)),
            Ok(Err(e)) => Err(CounterError::Redis(describe(&e))),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counters_are_windowed_and_namespaced() {
        let c = Counters::default();
        assert_eq!(c.add("a".into(), 5, 3600).await.unwrap(), 5);
        assert_eq!(c.add("a".into(), -2, 3600).await.unwrap(), 3);
        // The same key with another window is another counter.
        assert_eq!(c.add("a".into(), 1, 0).await.unwrap(), 1);
        assert_eq!(c.get("a".into(), 3600).await.unwrap(), 3);
        assert_eq!(c.get("b".into(), 3600).await.unwrap(), 0);
        assert_eq!(c.backend(), "memory");
    }

    #[test]
    fn a_sweep_drops_only_ended_windows() {
        let c = Counters::default();
        let now = now_secs();
        c.memory
            .lock()
            .insert(("old".into(), 60), (window_start(now, 60) - 60, 9));
        c.memory
            .lock()
            .insert(("live".into(), 60), (window_start(now, 60), 4));
        c.memory.lock().insert(("forever".into(), 0), (0, 1));
        c.sweep(now);
        let map = c.memory.lock();
        assert!(!map.contains_key(&("old".to_string(), 60)));
        assert!(map.contains_key(&("live".to_string(), 60)));
        assert!(map.contains_key(&("forever".to_string(), 0)));
    }
}
