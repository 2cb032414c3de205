//! Plugins' windowed counters (`host.counter-add` / `counter-get`): what quota and
//! rate-limit policies count with. They live in memory, or in Redis when `[counters]`
//! names one, so replicas share every count: an update is one atomic script
//! (`INCRBY` + expiry at the window's end), and a policy that reserves by adding and
//! takes back what it over-reserved never lets the replicas together exceed a limit.
//! A counter store that cannot answer fails the plugin call (the route's `on_error`
//! decides what that means) rather than counting locally and drifting apart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;

use super::counters_db::{CounterDb, Row};
use crate::config::{CountersConfig, RedisConfig};
use crate::redis_conn::describe;

#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("counter store (Redis) failed: {0}")]
    Redis(String),
    #[error("counter store (Redis) gave no answer within {0:?}")]
    Timeout(Duration),
    #[error("counter file (SQLite) failed: {0}")]
    Db(String),
    #[error("plugin '{0}' holds {1} live counters, its limit (plugins.max_counters)")]
    Full(String, u64),
}

/// Keys longer than this are kept as a digest: a client's text (a `user` field, say)
/// never becomes host state at its own size.
pub const MAX_KEY_BYTES: usize = 128;

/// The store's name of `key` for plugin `plugin`.
pub fn namespaced(plugin: &str, key: &str) -> String {
    if key.len() <= MAX_KEY_BYTES {
        return format!("{plugin}\u{1f}{key}");
    }
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    format!("{plugin}\u{1f}sha256:{}", hex::encode(d))
}

/// Memory entries are swept of past windows every this many updates.
const SWEEP_EVERY: u64 = 4096;
/// Redis keeps a window's counter this long after the window ends.
const GRACE_MS: u64 = 60_000;

const ADD: &str = r"
local created = redis.call('EXISTS', KEYS[1]) == 0
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if created then return {v, 1} end
return {v, 0}
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
    /// Live memory counters per plugin, against `max_per_plugin`.
    live: Mutex<HashMap<String, u64>>,
    /// Most live counters one plugin may hold (0 = not yet configured: no limit).
    pub max_per_plugin: AtomicU64,
    /// Counter creations refused because a plugin was at its limit.
    pub refused: AtomicU64,
    /// When (unix seconds) a refusal last swept ended windows.
    last_full_sweep: AtomicU64,
    updates: AtomicU64,
    redis: ArcSwapOption<RedisCounters>,
    /// Where memory counters are saved, with the ones changed since the last save.
    db: ArcSwapOption<CounterDb>,
    dirty: Mutex<HashSet<(String, u64)>>,
    /// Failed updates and reads of the store, and failed saves of the file.
    pub errors: AtomicU64,
}

struct RedisCounters {
    cfg: RedisConfig,
    conns: crate::redis_conn::PerThread,
    add: redis::Script,
    /// When the keys this replica created expire, per plugin (`u64::MAX`: never):
    /// how many live keys a plugin holds, held to the same limit as memory.
    created: Mutex<HashMap<String, std::collections::BinaryHeap<std::cmp::Reverse<u64>>>>,
}

impl RedisCounters {
    /// This thread's connection to the counters' Redis.
    fn conn(&self) -> Result<redis::aio::ConnectionManager, CounterError> {
        self.conns.get().map_err(CounterError::Redis)
    }

    /// Live keys `plugin` created through this replica, expired ones forgotten.
    fn live(&self, plugin: &str, now_ms: u64) -> usize {
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
    /// Points the counters at `cfg`'s store; unchanged settings keep the connection.
    /// A newly named SQLite file is opened and its current counters loaded.
    pub fn configure(&self, cfg: &CountersConfig) -> Result<(), CounterError> {
        match &cfg.sqlite_path {
            None => {
                self.flush()?;
                self.db.store(None);
            }
            Some(p) if self.db.load().as_deref().is_some_and(|d| d.path() == p) => {}
            Some(p) => {
                self.flush()?;
                let db = CounterDb::open(p)?;
                let rows = db.load(now_secs())?;
                tracing::info!(path = %p.display(), counters = rows.len(), "counters loaded");
                let mut map = self.memory.lock();
                for (name, window, start, value) in rows {
                    map.insert((name, window), (start, value));
                }
                self.recount(&map);
                self.db.store(Some(Arc::new(db)));
            }
        }
        let current = self.redis.load();
        match (&cfg.redis, current.as_deref()) {
            (None, _) => self.redis.store(None),
            (Some(want), Some(have)) if have.cfg == *want => {}
            (Some(want), _) => {
                let conns = crate::redis_conn::PerThread::new(want).map_err(CounterError::Redis)?;
                self.redis.store(Some(Arc::new(RedisCounters {
                    cfg: want.clone(),
                    conns,
                    add: redis::Script::new(ADD),
                    created: Mutex::new(HashMap::new()),
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

    fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// `"redis"` or `"memory"`.
    pub fn backend(&self) -> &'static str {
        if self.redis.load().is_some() {
            "redis"
        } else {
            "memory"
        }
    }

    pub async fn add(
        &self,
        plugin: &str,
        key: String,
        delta: i64,
        window: u64,
    ) -> Result<i64, CounterError> {
        let now = now_secs();
        let start = window_start(now, window);
        if let Some(r) = self.redis.load_full() {
            let ttl = if window == 0 {
                0
            } else {
                (start + window - now) * 1000 + GRACE_MS
            };
            let name = r.name(&key, window, start);
            let mut conn = r.conn()?;
            let now_ms = now * 1000;
            let max = self.max_per_plugin.load(Ordering::Relaxed) as usize;
            if max > 0 && r.live(plugin, now_ms) >= max {
                // At the limit only keys that already exist may change.
                let exists = r
                    .bounded(
                        redis::cmd("EXISTS")
                            .arg(&name)
                            .query_async::<bool>(&mut conn),
                    )
                    .await;
                if !exists.inspect_err(|_| self.count_error())? {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(CounterError::Full(plugin.to_string(), max as u64));
                }
            }
            let mut call = r.add.key(name);
            call.arg(delta).arg(ttl);
            let (v, created) = r
                .bounded(call.invoke_async::<(i64, i64)>(&mut conn))
                .await
                .inspect_err(|_| self.count_error())?;
            if created == 1 {
                let expires = if ttl == 0 { u64::MAX } else { now_ms + ttl };
                let mut c = r.created.lock();
                c.entry(plugin.to_string())
                    .or_default()
                    .push(std::cmp::Reverse(expires));
            }
            return Ok(v);
        }
        if self.updates.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        if self.db.load().is_some() {
            self.dirty.lock().insert((key.clone(), window));
        }
        let mut map = self.memory.lock();
        if !map.contains_key(&(key.clone(), window)) {
            let max = self.max_per_plugin.load(Ordering::Relaxed);
            let count = |c: &Self| c.live.lock().get(plugin).copied().unwrap_or(0);
            if max > 0 && count(self) >= max {
                // Ended windows may still be counted: sweep before refusing, at most
                // once a second (a plugin at its limit must not stall the others).
                if self.last_full_sweep.swap(now, Ordering::Relaxed) != now {
                    map.retain(|(_, w), (s, _)| *s == window_start(now, *w));
                    self.recount(&map);
                }
                if count(self) >= max {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(CounterError::Full(plugin.to_string(), max));
                }
            }
            *self.live.lock().entry(plugin.to_string()).or_insert(0) += 1;
        }
        let entry = map.entry((key, window)).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        entry.1 = entry.1.saturating_add(delta);
        Ok(entry.1)
    }

    /// Saves the memory counters changed since the last save (with a SQLite file).
    pub fn flush(&self) -> Result<(), CounterError> {
        let Some(db) = self.db.load_full() else {
            return Ok(());
        };
        let dirty = std::mem::take(&mut *self.dirty.lock());
        if dirty.is_empty() {
            return Ok(());
        }
        let rows: Vec<Row> = {
            let map = self.memory.lock();
            dirty
                .iter()
                .filter_map(|k| map.get(k).map(|(s, v)| (k.0.clone(), k.1, *s, *v)))
                .collect()
        };
        let saved = db.save(&rows, now_secs());
        if saved.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
            // Tried again at the next flush.
            self.dirty.lock().extend(dirty);
        }
        saved
    }

    pub async fn get(&self, key: String, window: u64) -> Result<i64, CounterError> {
        let start = window_start(now_secs(), window);
        if let Some(r) = self.redis.load_full() {
            let name = r.name(&key, window, start);
            let mut conn = r.conn()?;
            let v: Result<Option<i64>, _> = r
                .bounded(redis::cmd("GET").arg(name).query_async(&mut conn))
                .await;
            if v.is_err() {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(v?.unwrap_or(0));
        }
        Ok(match self.memory.lock().get(&(key, window)) {
            Some((s, v)) if *s == start => *v,
            _ => 0,
        })
    }

    /// Drops memory counters of windows that have ended.
    fn sweep(&self, now: u64) {
        let mut map = self.memory.lock();
        map.retain(|(_, window), (start, _)| *start == window_start(now, *window));
        self.recount(&map);
    }

    /// Counts live memory counters per plugin again (after a sweep, reset or load).
    fn recount(&self, map: &HashMap<(String, u64), (u64, i64)>) {
        let mut live = self.live.lock();
        live.clear();
        for (full, _) in map.keys() {
            *live.entry(split_name(full).0.to_string()).or_insert(0) += 1;
        }
    }
}

/// One live counter, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CounterEntry {
    pub plugin: String,
    pub key: String,
    pub window_secs: u64,
    pub value: i64,
    /// Seconds until the window ends (0 for counters that never reset).
    pub resets_in_secs: u64,
}

/// Which counters a reset clears: all, or one plugin's, or one key of one plugin.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterFilter {
    pub plugin: Option<String>,
    pub key: Option<String>,
}

impl CounterFilter {
    fn matches(&self, plugin: &str, key: &str) -> bool {
        self.plugin.as_deref().is_none_or(|p| p == plugin)
            && self.key.as_deref().is_none_or(|k| k == key)
    }
}

/// Splits a namespaced key (`plugin \u{1f} key`) into its parts.
fn split_name(name: &str) -> (&str, &str) {
    name.split_once('\u{1f}').unwrap_or(("", name))
}

/// Listing and resetting look at this many Redis keys at most.
const MAX_LISTED: usize = 10_000;

impl Counters {
    /// The counters of current windows, sorted by plugin and key.
    pub async fn list(&self) -> Result<Vec<CounterEntry>, CounterError> {
        let now = now_secs();
        let mut out = Vec::new();
        if let Some(r) = self.redis.load_full() {
            let names = r.scan().await?;
            let mut conn = r.conn()?;
            for chunk in names.chunks(500) {
                let values: Vec<Option<i64>> = r
                    .bounded(redis::cmd("MGET").arg(chunk).query_async(&mut conn))
                    .await?;
                for (name, v) in chunk.iter().zip(values) {
                    if let (Some((full, window, start)), Some(v)) = (r.parse(name), v)
                        && start == window_start(now, window)
                    {
                        out.push(entry(full, window, v, now));
                    }
                }
            }
        } else {
            for ((full, window), (start, v)) in self.memory.lock().iter() {
                if *start == window_start(now, *window) {
                    out.push(entry(full, *window, *v, now));
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.plugin, &a.key, a.window_secs).cmp(&(&b.plugin, &b.key, b.window_secs))
        });
        Ok(out)
    }

    /// Forgets the counters `filter` names (every window); how many were removed.
    pub async fn reset(&self, filter: &CounterFilter) -> Result<u64, CounterError> {
        if let Some(r) = self.redis.load_full() {
            let doomed: Vec<String> = r
                .scan()
                .await?
                .into_iter()
                .filter(|name| {
                    r.parse(name).is_some_and(|(full, _, _)| {
                        let (plugin, key) = split_name(full);
                        filter.matches(plugin, key)
                    })
                })
                .collect();
            if filter.key.is_none() {
                // The keys this replica created are gone with them.
                let mut created = r.created.lock();
                match &filter.plugin {
                    Some(p) => {
                        created.remove(p);
                    }
                    None => created.clear(),
                }
            }
            let mut conn = r.conn()?;
            let mut removed = 0;
            for chunk in doomed.chunks(500) {
                removed += r
                    .bounded(
                        redis::cmd("UNLINK")
                            .arg(chunk)
                            .query_async::<u64>(&mut conn),
                    )
                    .await?;
            }
            return Ok(removed);
        }
        let mut removed = Vec::new();
        {
            let mut map = self.memory.lock();
            map.retain(|(full, _), _| {
                let (plugin, key) = split_name(full);
                let doomed = filter.matches(plugin, key);
                if doomed {
                    removed.push(full.clone());
                }
                !doomed
            });
            self.recount(&map);
        }
        if let Some(db) = self.db.load_full() {
            db.remove(&removed)?;
        }
        Ok(removed.len() as u64)
    }
}

fn entry(full: &str, window: u64, value: i64, now: u64) -> CounterEntry {
    let (plugin, key) = split_name(full);
    CounterEntry {
        plugin: plugin.to_string(),
        key: key.to_string(),
        window_secs: window,
        value,
        resets_in_secs: if window == 0 {
            0
        } else {
            window_start(now, window) + window - now
        },
    }
}

impl RedisCounters {
    /// Every counter key under the prefix (at most `MAX_LISTED`).
    async fn scan(&self) -> Result<Vec<String>, CounterError> {
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
    fn parse<'a>(&self, name: &'a str) -> Option<(&'a str, u64, u64)> {
        let rest = name.strip_prefix(self.cfg.prefix.as_str())?;
        let mut parts = rest.rsplitn(3, ':');
        let start = parts.next()?.parse().ok()?;
        let window = parts.next()?.parse().ok()?;
        Some((parts.next()?, window, start))
    }

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
#[path = "counters_tests.rs"]
mod tests;
