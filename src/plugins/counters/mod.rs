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

pub mod db;
pub mod fuzz;
pub mod keyvalue;
mod owners;

use crate::config::CountersConfig;
use db::{CounterDb, Row};
pub use owners::Caller;
use owners::Owners;
use redis_store::{ADD, RedisCounters};

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
    #[error("counter update would overflow")]
    Overflow,
    #[error(
        "key '{1}' made {2} live counters of plugin '{0}', its share (plugins.max_counters_per_key)"
    )]
    Share(String, String, u64),
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

pub fn now_secs() -> u64 {
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
    window_remaining_at(window, now_secs())
}

/// Seconds left at `at` in its window of `window` seconds (0 for no window).
pub fn window_remaining_at(window: u64, at: u64) -> u64 {
    if window == 0 { 0 } else { window - at % window }
}

/// Shared by all instances of all plugins; keys arrive namespaced by plugin.
#[derive(Default)]
pub struct Counters {
    memory: Mutex<HashMap<(String, u64), (u64, i64)>>,
    /// Live memory counters per plugin, against `max_per_plugin`.
    live: Mutex<HashMap<String, u64>>,
    /// Most live counters one plugin may hold (0 = not yet configured: no limit).
    pub max_per_plugin: AtomicU64,
    /// Most live counters of one plugin one caller (gateway key) may make: its share
    /// (0 = no share). Past it its own oldest are shed (memory) or refused (Redis).
    pub max_per_key: AtomicU64,
    /// Which caller made which memory counter.
    owners: Mutex<Owners<(String, u64)>>,
    /// Counters shed to make room (a caller past its share, or a full table).
    pub shed: AtomicU64,
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
    /// Plugins' key-value store, when it is in memory (`keyvalue.rs`).
    kv: keyvalue::MemoryKv,
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
                let conns =
                    crate::stores::redis_conn::PerThread::new(want).map_err(CounterError::Redis)?;
                self.redis.store(Some(Arc::new(RedisCounters {
                    cfg: want.clone(),
                    conns,
                    add: redis::Script::new(ADD),
                    created: Mutex::new(HashMap::new()),
                    owners: Mutex::default(),
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

    /// Adds `delta` to `plugin`'s counter `key` in the window of `window` seconds
    /// containing now (no caller: such a counter is never shed).
    pub async fn add(
        &self,
        plugin: &str,
        key: String,
        delta: i64,
        window: u64,
    ) -> Result<i64, CounterError> {
        let caller = Caller { plugin, key: None };
        self.add_at(caller, key, delta, window, now_secs()).await
    }

    /// Adds `delta` to counter `key` in the window containing `at` (unix seconds): a
    /// policy's `record` settles in the window its `check` reserved in, even when
    /// that window has ended since (then a memory counter that moved on is left
    /// alone). Arithmetic is checked: a counter never wraps, and never goes below
    /// zero (a release after an operator's reset takes it to zero, not under).
    pub async fn add_at(
        &self,
        caller: Caller<'_>,
        key: String,
        delta: i64,
        window: u64,
        at: u64,
    ) -> Result<i64, CounterError> {
        if let Some(r) = self.redis.load_full() {
            return self.add_redis(&r, caller, key, delta, window, at).await;
        }
        let now = now_secs();
        if self.updates.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        let start = window_start(at, window);
        let name = (key, window);
        let mut map = self.memory.lock();
        if let Some(entry) = map.get(&name)
            && entry.0 > start
        {
            // The reservation's window ended and its counter moved on: nothing of
            // this update belongs to the new window.
            return Ok(entry.1);
        }
        if !map.contains_key(&name) {
            let shed = self.make_room(&mut map, caller, now)?;
            if let Some(c) = caller.key {
                self.owners
                    .lock()
                    .made(caller.plugin, &Arc::from(c), name.clone());
            }
            *self
                .live
                .lock()
                .entry(caller.plugin.to_string())
                .or_insert(0) += 1;
            if let (Some(db), false) = (self.db.load_full(), shed.is_empty()) {
                let names: Vec<String> = shed.into_iter().map(|(n, _)| n).collect();
                drop(map);
                db.remove(&names)?;
                map = self.memory.lock();
            }
        }
        if self.db.load().is_some() {
            self.dirty.lock().insert(name.clone());
        }
        let entry = map.entry(name).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        let v = entry.1.checked_add(delta).ok_or(CounterError::Overflow)?;
        entry.1 = v.max(0);
        Ok(entry.1)
    }

    /// Makes room for one more counter of `caller`'s plugin: past the caller's share,
    /// or with the plugin's table full, the oldest counter of the caller holding the
    /// most goes (a caller-less update at a full table is refused). The names shed.
    fn make_room(
        &self,
        map: &mut HashMap<(String, u64), (u64, i64)>,
        caller: Caller<'_>,
        now: u64,
    ) -> Result<Vec<(String, u64)>, CounterError> {
        let plugin = caller.plugin;
        let max = self.max_per_plugin.load(Ordering::Relaxed);
        let share = self.max_per_key.load(Ordering::Relaxed);
        let count = |c: &Self| c.live.lock().get(plugin).copied().unwrap_or(0);
        let mut shed = Vec::new();
        let mut owners = self.owners.lock();
        if let Some(k) = caller.key
            && share > 0
            && owners.count(plugin, k) as u64 >= share
        {
            shed_one(map, &mut owners, plugin, k, &mut shed);
        }
        if max > 0 && count(self) >= max && shed.is_empty() {
            // Ended windows may still be counted: sweep before shedding or refusing,
            // at most once a second (a plugin at its limit must not stall the others).
            if self.last_full_sweep.swap(now, Ordering::Relaxed) != now {
                map.retain(|(_, w), (s, _)| *s == window_start(now, *w));
                self.recount_with(map, &mut owners);
            }
            if count(self) >= max {
                let largest = owners.largest(plugin);
                if let (Some(_), Some(l)) = (caller.key, largest) {
                    shed_one(map, &mut owners, plugin, &l, &mut shed);
                }
                if shed.is_empty() {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(CounterError::Full(plugin.to_string(), max));
                }
            }
        }
        if !shed.is_empty() {
            self.shed.fetch_add(shed.len() as u64, Ordering::Relaxed);
            let mut live = self.live.lock();
            if let Some(n) = live.get_mut(plugin) {
                *n = n.saturating_sub(shed.len() as u64);
            }
            let mut dirty = self.dirty.lock();
            for k in &shed {
                dirty.remove(k);
            }
        }
        Ok(shed)
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
        self.get_at(key, window, now_secs()).await
    }

    /// The counter's value in the window containing `at`.
    pub async fn get_at(&self, key: String, window: u64, at: u64) -> Result<i64, CounterError> {
        let start = window_start(at, window);
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
        self.recount_with(map, &mut self.owners.lock());
    }

    /// `recount`, with the owners' lock already held.
    fn recount_with(
        &self,
        map: &HashMap<(String, u64), (u64, i64)>,
        owners: &mut Owners<(String, u64)>,
    ) {
        owners.retain(|k| map.contains_key(k));
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
                let mut owners = r.owners.lock();
                match &filter.plugin {
                    Some(p) => {
                        created.remove(p);
                        owners.clear_plugin(p);
                    }
                    None => {
                        created.clear();
                        owners.clear();
                    }
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

/// Sheds the oldest live counter `caller` made for `plugin` (skipping those already
/// gone), noting its name in `shed`.
fn shed_one(
    map: &mut HashMap<(String, u64), (u64, i64)>,
    owners: &mut Owners<(String, u64)>,
    plugin: &str,
    caller: &str,
    shed: &mut Vec<(String, u64)>,
) {
    while let Some(k) = owners.shed(plugin, caller) {
        if map.remove(&k).is_some() {
            shed.push(k);
            return;
        }
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

mod redis_store;

#[cfg(test)]
mod tests;
