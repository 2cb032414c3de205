//! Plugins' key-value store (`keyvalue.get` / `set` / `delete`, contract 0.3.0): small
//! state such as a learned allow-list or a cached verdict, kept per configured plugin
//! beside its counters — in memory, or in Redis when `[counters]` names one (so every
//! replica sees the same values). Bounded: a value is at most `MAX_VALUE_BYTES`, and in
//! memory one plugin holds at most `MAX_ENTRIES` keys and `MAX_BYTES` of them, expired
//! ones swept first when it is full; in Redis every key expires (at most after
//! `MAX_TTL_SECS`), so nothing a plugin writes lives for ever.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::{CounterError, Counters, now_secs};

/// Largest value one key may hold.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most keys one plugin may hold in memory.
pub const MAX_ENTRIES: usize = 10_000;
/// Most bytes (keys and values) one plugin may hold in memory.
pub const MAX_BYTES: usize = 16 << 20;
/// Longest a key lives in Redis (a `ttl` of 0 asks for this).
pub const MAX_TTL_SECS: u64 = 30 * 86_400;

/// Why a `set` was refused.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("the value is {0} bytes, more than the {MAX_VALUE_BYTES} a key may hold")]
    TooLarge(usize),
    #[error(
        "the plugin holds {MAX_ENTRIES} keys or {} MiB already; delete some or let them expire",
        MAX_BYTES >> 20
    )]
    Full,
    #[error(transparent)]
    Store(#[from] CounterError),
}

/// One plugin's keys in memory: value and expiry (unix seconds, `None`: never).
#[derive(Default)]
struct Shelf {
    entries: HashMap<String, (String, Option<u64>)>,
    bytes: usize,
}

impl Shelf {
    fn sweep(&mut self, now: u64) {
        let mut freed = 0;
        self.entries.retain(|k, (v, exp)| {
            let live = exp.is_none_or(|e| e > now);
            if !live {
                freed += k.len() + v.len();
            }
            live
        });
        self.bytes -= freed;
    }

    fn remove(&mut self, key: &str) {
        if let Some((v, _)) = self.entries.remove(key) {
            self.bytes -= key.len() + v.len();
        }
    }
}

/// Every plugin's keys in memory.
#[derive(Default)]
pub struct MemoryKv(Mutex<HashMap<String, Shelf>>);

impl MemoryKv {
    fn get(&self, plugin: &str, key: &str, now: u64) -> Option<String> {
        let shelves = self.0.lock();
        let (v, exp) = shelves.get(plugin)?.entries.get(key)?;
        exp.is_none_or(|e| e > now).then(|| v.clone())
    }

    fn set(
        &self,
        plugin: &str,
        key: String,
        value: String,
        ttl: u64,
        now: u64,
    ) -> Result<(), KvError> {
        let mut shelves = self.0.lock();
        let shelf = shelves.entry(plugin.to_string()).or_default();
        shelf.remove(&key);
        let size = key.len() + value.len();
        if shelf.entries.len() >= MAX_ENTRIES || shelf.bytes + size > MAX_BYTES {
            shelf.sweep(now);
            if shelf.entries.len() >= MAX_ENTRIES || shelf.bytes + size > MAX_BYTES {
                return Err(KvError::Full);
            }
        }
        let expires = (ttl > 0).then(|| now.saturating_add(ttl));
        shelf.bytes += size;
        shelf.entries.insert(key, (value, expires));
        Ok(())
    }

    fn delete(&self, plugin: &str, key: &str) {
        if let Some(s) = self.0.lock().get_mut(plugin) {
            s.remove(key);
        }
    }

    /// Keys and bytes `plugin` holds (tests, the admin API).
    pub fn held(&self, plugin: &str) -> (usize, usize) {
        self.0
            .lock()
            .get(plugin)
            .map_or((0, 0), |s| (s.entries.len(), s.bytes))
    }
}

/// The store's name of `key` for `plugin` (long keys kept as a digest).
fn stored(plugin: &str, key: &str) -> String {
    super::namespaced(plugin, key)
}

impl Counters {
    /// `keyvalue.get` for `plugin`.
    pub async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>, CounterError> {
        let name = stored(plugin, key);
        if let Some(r) = self.redis.load_full() {
            let mut conn = r.conn()?;
            let v = r
                .bounded(
                    redis::cmd("GET")
                        .arg(r.kv_name(&name))
                        .query_async(&mut conn),
                )
                .await;
            if v.is_err() {
                self.errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return v;
        }
        Ok(self.kv.get(plugin, &name, now_secs()))
    }

    /// `keyvalue.set` for `plugin`.
    pub async fn kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: String,
        ttl: u64,
    ) -> Result<(), KvError> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::TooLarge(value.len()));
        }
        let name = stored(plugin, key);
        if let Some(r) = self.redis.load_full() {
            let ttl = if ttl == 0 {
                MAX_TTL_SECS
            } else {
                ttl.min(MAX_TTL_SECS)
            };
            let mut conn = r.conn()?;
            let v: Result<(), _> = r
                .bounded(
                    redis::cmd("SET")
                        .arg(r.kv_name(&name))
                        .arg(value)
                        .arg("EX")
                        .arg(ttl)
                        .query_async(&mut conn),
                )
                .await;
            if v.is_err() {
                self.errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return Ok(v?);
        }
        self.kv.set(plugin, name, value, ttl, now_secs())
    }

    /// `keyvalue.delete` for `plugin`.
    pub async fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), CounterError> {
        let name = stored(plugin, key);
        if let Some(r) = self.redis.load_full() {
            let mut conn = r.conn()?;
            let v: Result<(), _> = r
                .bounded(
                    redis::cmd("UNLINK")
                        .arg(r.kv_name(&name))
                        .query_async(&mut conn),
                )
                .await;
            return v;
        }
        self.kv.delete(plugin, &name);
        Ok(())
    }

    /// The memory store (tests, the admin API).
    pub fn memory_kv(&self) -> &MemoryKv {
        &self.kv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_and_a_full_shelf_refuses_until_swept() {
        let kv = MemoryKv::default();
        kv.set("p", "a".into(), "1".into(), 10, 100).unwrap();
        assert_eq!(kv.get("p", "a", 105).as_deref(), Some("1"));
        assert_eq!(kv.get("p", "a", 110), None, "expired at its ttl");
        assert_eq!(kv.get("q", "a", 105), None, "plugins apart");
        for i in 0..MAX_ENTRIES {
            kv.set("p", format!("k{i}"), String::new(), 5, 200).unwrap();
        }
        assert!(matches!(
            kv.set("p", "one-more".into(), String::new(), 0, 200),
            Err(KvError::Full)
        ));
        // Once the others expire, the set sweeps them and succeeds.
        kv.set("p", "one-more".into(), "x".into(), 0, 300).unwrap();
        assert_eq!(kv.held("p").0, 1);
        kv.delete("p", "one-more");
        assert_eq!(kv.held("p"), (0, 0));
    }

    #[test]
    fn bytes_are_bounded_and_overwrites_do_not_double_count() {
        let kv = MemoryKv::default();
        let big = "x".repeat(MAX_VALUE_BYTES);
        for _ in 0..10 {
            kv.set("p", "same".into(), big.clone(), 0, 1).unwrap();
        }
        assert_eq!(kv.held("p"), (1, 4 + MAX_VALUE_BYTES));
        let mut refused = false;
        for i in 0..(MAX_BYTES / MAX_VALUE_BYTES + 2) {
            if kv.set("p", format!("k{i}"), big.clone(), 0, 1).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "bytes past MAX_BYTES are refused");
        assert!(kv.held("p").1 <= MAX_BYTES);
    }
}
