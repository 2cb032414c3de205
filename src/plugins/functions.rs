//! Cranelift's incremental compilation cache, in memory: each compiled function kept
//! under the hash of its input, so a rebuilt component whose functions are mostly
//! unchanged — a Python or JavaScript plugin carries its whole interpreter, and an edit
//! changes a sliver of it; a small edit to a Rust plugin — compiles only what changed.
//! Bounded in bytes (`[plugins] function_cache_mib`), least recently used evicted.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Compiled functions by the hash of what they were compiled from.
pub struct FunctionCache {
    cache: moka::sync::Cache<Vec<u8>, Arc<[u8]>>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl std::fmt::Debug for FunctionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FunctionCache({} entries)", self.cache.entry_count())
    }
}

impl FunctionCache {
    /// A cache of at most `max_bytes` of keys and compiled code.
    pub fn new(max_bytes: u64) -> Self {
        let weigh = |k: &Vec<u8>, v: &Arc<[u8]>| (k.len() + v.len()).try_into().unwrap_or(u32::MAX);
        FunctionCache {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(weigh)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.cache.get(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(|v| Cow::Owned(v.to_vec()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.cache.insert(key.to_vec(), value.into());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::FunctionCache;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    /// `bytes` with a custom section appended: another file, the same functions.
    fn rebuilt(bytes: &[u8]) -> Vec<u8> {
        let (name, payload) = (b"rebuilt", b"at another time");
        let mut out = bytes.to_vec();
        out.push(0);
        out.push((1 + name.len() + payload.len()) as u8);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_rebuilt_component_compiles_from_the_cached_functions() {
        let cache = Arc::new(FunctionCache::new(64 << 20));
        let mut config = wasmtime::Config::new();
        config
            .enable_incremental_compilation(cache.clone())
            .unwrap();
        let engine = wasmtime::Engine::new(&config).unwrap();
        let bytes = std::fs::read(env!("SWITCHBOARD_GUEST_STRATEGY_CANARY")).unwrap();
        wasmtime::component::Component::new(&engine, &bytes).unwrap();
        let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let (misses, hits) = (count(&cache.misses), count(&cache.hits));
        assert!(misses > 10, "first compile: {misses} misses, {hits} hits");
        let again = rebuilt(&bytes);
        assert_ne!(again, bytes);
        wasmtime::component::Component::new(&engine, &again).unwrap();
        let (new_misses, new_hits) = (count(&cache.misses) - misses, count(&cache.hits) - hits);
        assert!(
            // Most functions come from the cache (a few, such as trampolines, are
            // compiled again; under load, parallel compilation compiles a few more
            // twice: 62 of 308 in one full-suite run).
            new_misses * 3 <= misses && new_hits > new_misses * 3,
            "the rebuild compiled {new_misses} functions and found {new_hits} (of {misses})"
        );
    }
}
