//! The counters in Redis, shared by every replica: each update one atomic script
//! (`INCRBY` + expiry at the window's end + never below zero), the keys this replica
//! made tracked per plugin and per caller key so limits hold as they do in memory,
//! and the scans that list and reset them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::owners::{Caller, Owners};
use super::{CounterError, Counters, MAX_LISTED, now_secs, window_start};
use crate::config::RedisConfig;
use crate::stores::redis_conn::describe;

/// Redis keeps a window's counter this long after the window ends.
const GRACE_MS: u64 = 60_000;

// An update that would overflow changes nothing and fails; one that would take the
// counter below zero (a release after a reset) takes it to zero.
pub(super) const ADD: &str = r"
local created = redis.call('EXISTS', KEYS[1]) == 0
local ok, v = pcall(redis.call, 'INCRBY', KEYS[1], ARGV[1])
if not ok then return redis.error_reply('overflow') end
if v < 0 then
  redis.call('SET', KEYS[1], 0, 'KEEPTTL')
  v = 0
end
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if created then return {v, 1} end
return {v, 0}
";

pub(super) struct RedisCounters {
    pub(super) cfg: RedisConfig,
    pub(super) conns: crate::stores::redis_conn::PerThread,
    pub(super) add: redis::Script,
    /// When the keys this replica created expire, per plugin (`u64::MAX`: never):
    /// how many live keys a plugin holds, held to the same limit as memory.
    pub(super) created:
        Mutex<HashMap<String, std::collections::BinaryHeap<std::cmp::Reverse<u64>>>>,
    /// The keys each caller made through this replica, with when they expire.
    pub(super) owners: Mutex<Owners<(String, u64)>>,
}

impl RedisCounters {
    /// This thread's connection to the counters' Redis.
    pub(super) fn conn(&self) -> Result<redis::aio::ConnectionManager, CounterError> {
        self.conns.get().map_err(CounterError::Redis)
    }

    /// Live keys `plugin` created through this replica, expired ones forgotten.
    pub(super) fn live(&self, plugin: &str, now_ms: u64) -> usize {
        let mut c = self.created.lock();
        let Some(heap) = c.get_mut(plugin) else {
            return 0;
        };
        while heap.peek().is_some_and(|r| r.0 <= now_ms) {
            heap.pop();
        }
        heap.len()
    }
}

impl Counters {
    /// A Redis counter update: one atomic script.
    pub(super) async fn add_redis(
        &self,
        r: &RedisCounters,
        caller: Caller<'_>,
        key: String,
        delta: i64,
        window: u64,
        at: u64,
    ) -> Result<i64, CounterError> {
        let now = now_secs();
        let start = window_start(at, window);
        let ttl = if window == 0 {
            0
        } else {
            (start + window).saturating_sub(now) * 1000 + GRACE_MS
        };
        let name = r.name(&key, window, start);
        let mut conn = r.conn()?;
        let now_ms = now * 1000;
        let plugin = caller.plugin;
        let max = self.max_per_plugin.load(Ordering::Relaxed) as usize;
        let share = self.max_per_key.load(Ordering::Relaxed) as usize;
        let over_share = caller.key.is_some_and(|k| {
            let mut o = r.owners.lock();
            o.prune(plugin, k, |(_, expires)| *expires <= now_ms);
            share > 0 && o.count(plugin, k) >= share
        });
        if over_share || (max > 0 && r.live(plugin, now_ms) >= max) {
            // At a limit only keys that already exist may change: a caller past its
            // share is refused new ones, and no one else is.
            let exists = r
                .bounded(
                    redis::cmd("EXISTS")
                        .arg(&name)
                        .query_async::<bool>(&mut conn),
                )
                .await;
            if !exists.inspect_err(|_| self.count_error())? {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(match (over_share, caller.key) {
                    (true, Some(k)) => {
                        CounterError::Share(plugin.to_string(), k.to_string(), share as u64)
                    }
                    _ => CounterError::Full(plugin.to_string(), max as u64),
                });
            }
        }
        let mut call = r.add.key(&name);
        call.arg(delta).arg(ttl);
        let (v, created) = r
            .bounded(call.invoke_async::<(i64, i64)>(&mut conn))
            .await
            .map_err(|e| match e {
                // The script refused it: nothing changed.
                CounterError::Redis(m) if m.contains("overflow") => CounterError::Overflow,
                e => {
                    self.count_error();
                    e
                }
            })?;
        if created == 1 {
            let expires = if ttl == 0 { u64::MAX } else { now_ms + ttl };
            let mut c = r.created.lock();
            c.entry(plugin.to_string())
                .or_default()
                .push(std::cmp::Reverse(expires));
            if let Some(k) = caller.key {
                r.owners.lock().made(plugin, &Arc::from(k), (name, expires));
            }
        }
        Ok(v)
    }
}

impl RedisCounters {
    /// Every counter key under the prefix (at most `MAX_LISTED`).
    pub(super) async fn scan(&self) -> Result<Vec<String>, CounterError> {
        let mut conn = self.conn()?;
        let pattern = format!("{}*", self.cfg.prefix);
        let mut cursor = 0u64;
        let mut names = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .bounded(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn),
                )
                .await?;
            names.extend(batch);
            cursor = next;
            if cursor == 0 || names.len() >= MAX_LISTED {
                return Ok(names);
            }
        }
    }

    /// `prefix plugin␟key:window:start` → (`plugin␟key`, window, start).
    pub(super) fn parse<'a>(&self, name: &'a str) -> Option<(&'a str, u64, u64)> {
        let rest = name.strip_prefix(self.cfg.prefix.as_str())?;
        let mut parts = rest.rsplitn(3, ':');
        let start = parts.next()?.parse().ok()?;
        let window = parts.next()?.parse().ok()?;
        Some((parts.next()?, window, start))
    }

    /// A key-value entry's name: no `:window:start` tail, so the counters' listing
    /// and reset never take it for a counter.
    pub(super) fn kv_name(&self, stored: &str) -> String {
        format!("{}kv\u{1f}{stored}", self.cfg.prefix)
    }

    pub(super) fn name(&self, key: &str, window: u64, start: u64) -> String {
        format!("{}{key}:{window}:{start}", self.cfg.prefix)
    }

    pub(super) async fn bounded<T>(
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
