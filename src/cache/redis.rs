//! The Redis second level: replicas pointed at one Redis share answers. Every
//! command is bounded by `redis_timeout`; an error or timeout is a miss (never a
//! failed request) and makes the cache skip Redis for a second, so a Redis outage
//! costs each request at most one timeout per second, not one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::ConnectionManager;

use super::CacheError;
use super::key::CacheKey;
use crate::config::RedisConfig;
use crate::stores::redis_conn::describe;

const BACKOFF: Duration = Duration::from_secs(1);

pub struct L2 {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not asked.
    down_until_ms: AtomicU64,
    pub errors: AtomicU64,
    pub hits: AtomicU64,
}

impl L2 {
    /// Connects lazily: a Redis that is down at start only means misses.
    pub fn new(cfg: &RedisConfig) -> Result<L2, CacheError> {
        let conn = crate::stores::redis_conn::connect(cfg).map_err(CacheError::Redis)?;
        Ok(L2 {
            conn,
            prefix: cfg.prefix.clone(),
            timeout: cfg.timeout,
            epoch: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        })
    }

    fn name(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.hex())
    }

    fn up(&self) -> bool {
        self.epoch.elapsed().as_millis() as u64 >= self.down_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self, what: &str, e: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let until = (self.epoch.elapsed() + BACKOFF).as_millis() as u64;
        self.down_until_ms.store(until, Ordering::Relaxed);
        // The URL (and any password in it) is never part of the message.
        tracing::warn!(error = %e, "Redis cache {what} failed; skipping Redis for {BACKOFF:?}");
    }

    /// The stored answer and how long it has left to live.
    pub async fn get(&self, key: &CacheKey) -> Option<(Bytes, Duration)> {
        if !self.up() {
            return None;
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.get(self.name(key)).pttl(self.name(key));
        let r = tokio::time::timeout(
            self.timeout,
            pipe.query_async::<(Option<Vec<u8>>, i64)>(&mut conn),
        )
        .await;
        match r {
            Ok(Ok((Some(body), ttl_ms))) if ttl_ms > 0 => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some((Bytes::from(body), Duration::from_millis(ttl_ms as u64)))
            }
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                self.failed("read", &describe(&e));
                None
            }
            Err(_) => {
                self.failed("read", "timed out");
                None
            }
        }
    }

    /// Stores an answer in the background; the client does not wait for Redis.
    pub fn put(self: &std::sync::Arc<Self>, key: &CacheKey, body: Bytes, ttl: Duration) {
        if !self.up() {
            return;
        }
        let me = self.clone();
        let name = self.name(key);
        tokio::spawn(async move {
            let mut conn = me.conn.clone();
            let ms = ttl.as_millis().max(1) as u64;
            let mut cmd = redis::cmd("SET");
            cmd.arg(&name).arg(&body[..]).arg("PX").arg(ms);
            match tokio::time::timeout(me.timeout, cmd.query_async::<()>(&mut conn)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => me.failed("write", &describe(&e)),
                Err(_) => me.failed("write", "timed out"),
            }
        });
    }

    /// Deletes every answer under this cache's prefix (SCAN + UNLINK, bounded to 10 s).
    /// Returns how many keys went.
    pub async fn clear(&self) -> Result<u64, String> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut conn = self.conn.clone();
        let work = async {
            let mut cursor: u64 = 0;
            let mut removed = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| describe(&e))?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| describe(&e))?;
                    removed += n;
                }
                if next == 0 {
                    return Ok(removed);
                }
                cursor = next;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .map_err(|_| "Redis did not finish within 10 s".to_string())?
    }
}

/// `s` with Redis glob characters escaped, for a SCAN MATCH pattern.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
