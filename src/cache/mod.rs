//! The response cache: an in-memory first level (moka, bounded in bytes, each entry
//! expiring after its route's TTL) and an optional Redis second level shared by
//! replicas. Only whole successful answers are stored, in one form (the JSON
//! completion) that serves JSON and streaming clients alike.

pub mod key;
mod redis;
pub mod semantic;
pub mod sse;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache;
use tokio::sync::watch;

pub use key::{CacheKey, Directive};
pub use semantic::SemanticEntry;

use crate::config::{CacheConfig, RouteCache};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache.redis_url: {0}")]
    Redis(String),
}

/// One stored answer.
pub struct Entry {
    pub body: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<CacheKey, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Counts for `/metrics`.
#[derive(Default)]
pub struct CacheStats {
    pub stored: AtomicU64,
    /// Answers not stored because they were larger than the route allows.
    pub too_large: AtomicU64,
}

pub struct ResponseCache {
    config: CacheConfig,
    l1: Cache<CacheKey, Arc<Entry>>,
    l2: Option<Arc<redis::L2>>,
    /// Keys whose answer one request is fetching now; the sender is dropped (waking
    /// every follower) when that request is done, stored or not.
    inflight: parking_lot::Mutex<std::collections::HashMap<CacheKey, watch::Sender<()>>>,
    pub stats: CacheStats,
    /// The semantic cache's index, when `[cache] semantic` is set (`semantic.rs`).
    semantic: Option<semantic::SemanticIndex>,
}

/// Who fetches a missing answer: the first request for a key leads, later identical
/// requests follow (wait for the leader's answer instead of asking the provider too).
pub enum Claim {
    Leader(Arc<Leader>),
    Follower(watch::Receiver<()>),
}

/// Held (through `Store`) by the request fetching a key; dropping it wakes followers.
pub struct Leader {
    cache: Arc<ResponseCache>,
    key: CacheKey,
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.cache.inflight.lock().remove(&self.key);
    }
}

/// Fixed bytes counted per entry beside its body (key, bookkeeping).
const ENTRY_OVERHEAD: usize = 96;

impl ResponseCache {
    pub fn new(config: &CacheConfig) -> Result<ResponseCache, CacheError> {
        let l1 = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_k: &CacheKey, v: &Arc<Entry>| {
                (v.body.len() + ENTRY_OVERHEAD).min(u32::MAX as usize) as u32
            })
            .expire_after(PerEntryTtl)
            .build();
        let l2 = match &config.redis {
            Some(r) => Some(Arc::new(redis::L2::new(r)?)),
            None => None,
        };
        let semantic = config
            .semantic
            .as_ref()
            .map(|s| semantic::SemanticIndex::new(s.max_entries, s.max_bytes));
        if config.semantic.is_some() && config.redis.is_some() {
            tracing::info!(
                "the semantic cache's index is kept per replica (answers are shared through Redis; its vector search is not used)"
            );
        }
        Ok(ResponseCache {
            config: config.clone(),
            l1,
            l2,
            inflight: Default::default(),
            stats: CacheStats::default(),
            semantic,
        })
    }

    /// The semantic cache's settings, when it has one.
    pub fn semantic_config(&self) -> Option<&crate::config::semantic::SemanticConfig> {
        self.config.semantic.as_ref()
    }

    /// Whether this cache was built from `config` (a reload keeps it, and its
    /// entries, when the `[cache]` table did not change).
    pub fn built_from(&self, config: &CacheConfig) -> bool {
        &self.config == config
    }

    /// The stored answer for `key`: memory first, then Redis (and keep it in memory).
    pub async fn get(&self, key: &CacheKey) -> Option<Bytes> {
        if let Some(e) = self.l1.get(key) {
            return Some(e.body.clone());
        }
        let l2 = self.l2.as_ref()?;
        let (body, ttl) = l2.get(key).await?;
        self.l1.insert(
            *key,
            Arc::new(Entry {
                body: body.clone(),
                ttl,
            }),
        );
        Some(body)
    }

    /// Leads the fetch of `key`, or follows the request already fetching it.
    pub fn claim(self: &Arc<Self>, key: &CacheKey) -> Claim {
        let mut inflight = self.inflight.lock();
        if let Some(tx) = inflight.get(key) {
            return Claim::Follower(tx.subscribe());
        }
        inflight.insert(*key, watch::channel(()).0);
        Claim::Leader(Arc::new(Leader {
            cache: self.clone(),
            key: *key,
        }))
    }

    /// The stored answer semantically closest to `vector` in `partition`, at or above
    /// `threshold`: its body, the prompt it answered, and the similarity. An entry whose
    /// answer is no longer stored is forgotten.
    pub async fn semantic_lookup(
        &self,
        partition: &[u8; 32],
        vector: &[f32],
        threshold: f32,
    ) -> Option<(Bytes, String, f32)> {
        let index = self.semantic.as_ref()?;
        let found = index.lookup(partition, vector, threshold)?;
        match self.get(&found.key).await {
            Some(body) => Some((body, found.prompt, found.similarity)),
            None => {
                index.forget(&found.key);
                None
            }
        }
    }

    /// Prompts indexed by the semantic cache, and their bytes.
    pub fn semantic_size(&self) -> Option<(usize, usize)> {
        self.semantic.as_ref().map(semantic::SemanticIndex::size)
    }

    /// Stores a whole successful answer under the route's TTL and size bound; whether
    /// it was.
    pub fn put(&self, key: &CacheKey, body: Bytes, route: &RouteCache) -> bool {
        if body.len() > route.max_entry_bytes {
            self.stats.too_large.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.stats.stored.fetch_add(1, Ordering::Relaxed);
        if let Some(l2) = &self.l2 {
            l2.put(key, body.clone(), route.ttl);
        }
        self.l1.insert(
            *key,
            Arc::new(Entry {
                body,
                ttl: route.ttl,
            }),
        );
        true
    }

    /// Entries and their weight in bytes (approximate until moka's housekeeping runs).
    pub fn size(&self) -> (u64, u64) {
        self.l1.run_pending_tasks();
        (self.l1.entry_count(), self.l1.weighted_size())
    }

    /// Redis reads answered, and Redis commands that failed.
    pub fn redis_counts(&self) -> Option<(u64, u64)> {
        self.l2.as_ref().map(|l| {
            (
                l.hits.load(Ordering::Relaxed),
                l.errors.load(Ordering::Relaxed),
            )
        })
    }

    /// Forgets every stored answer (`POST /admin/cache/clear`): memory, and Redis when
    /// configured. Returns how many Redis keys went, or why Redis could not be cleared.
    pub async fn clear(&self) -> Option<Result<u64, String>> {
        self.l1.invalidate_all();
        match &self.l2 {
            Some(l2) => Some(l2.clear().await),
            None => None,
        }
    }
}

/// Where a request's answer goes once it is whole.
#[derive(Clone)]
pub struct Store {
    pub cache: Arc<ResponseCache>,
    pub key: CacheKey,
    pub route: RouteCache,
    /// Set when this request leads the fetch; followers wake when the last clone goes.
    pub leader: Option<Arc<Leader>>,
    /// The prompt's embedding, for the semantic index, when the semantic cache missed.
    pub semantic: Option<Arc<SemanticEntry>>,
}

impl Store {
    pub fn put(&self, body: Bytes) {
        let stored = self.cache.put(&self.key, body, &self.route);
        if let (true, Some(e), Some(index)) = (stored, &self.semantic, &self.cache.semantic) {
            index.insert(e.partition, self.key, e.vector.clone(), &e.prompt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_bytes: u64) -> CacheConfig {
        CacheConfig {
            max_bytes,
            max_entry_bytes: 4096,
            redis: None,
            semantic: None,
        }
    }

    fn route(ttl_ms: u64, max: usize) -> RouteCache {
        RouteCache {
            ttl: Duration::from_millis(ttl_ms),
            per_key: false,
            max_entry_bytes: max,
        }
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl_and_big_ones_are_refused() {
        let c = ResponseCache::new(&cfg(1 << 20)).unwrap();
        let (a, b) = (CacheKey([1; 32]), CacheKey([2; 32]));
        c.put(&a, Bytes::from_static(b"short"), &route(50, 100));
        c.put(&b, Bytes::from_static(b"long"), &route(60_000, 100));
        c.put(
            &CacheKey([3; 32]),
            Bytes::from(vec![b'x'; 101]),
            &route(60_000, 100),
        );
        assert_eq!(c.get(&a).await.as_deref(), Some(&b"short"[..]));
        assert!(c.get(&CacheKey([3; 32])).await.is_none(), "over the bound");
        assert_eq!(c.stats.too_large.load(Ordering::Relaxed), 1);
        std::thread::sleep(Duration::from_millis(80));
        assert!(c.get(&a).await.is_none(), "expired");
        assert_eq!(c.get(&b).await.as_deref(), Some(&b"long"[..]));
    }

    #[tokio::test]
    async fn the_byte_bound_holds() {
        let c = ResponseCache::new(&cfg(20_000)).unwrap();
        for i in 0..100u8 {
            c.put(
                &CacheKey([i; 32]),
                Bytes::from(vec![i; 1000]),
                &route(60_000, 4096),
            );
        }
        let (_, bytes) = c.size();
        assert!(bytes <= 20_000, "{bytes} bytes kept");
    }
}
