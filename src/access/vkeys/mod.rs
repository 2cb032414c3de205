//! Virtual keys: gateway keys made at run time through the admin API (`/admin/keys`),
//! kept hashed in the store (`[store]`: a SQLite file, or PostgreSQL shared by replicas)
//! and cached in memory for authentication. Every gateway reads what changed each
//! second, so a key made or revoked on one replica holds on every other within about a
//! second. The secret is shown once, when made or rotated; only its SHA-256 is kept.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::config::StoreDb;
use crate::stores::pg::Pg;

/// One virtual key as stored (its secret only as a digest).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VKey {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub hash: [u8; 32],
    pub team: Option<String>,
    pub models: Option<Vec<String>>,
    pub tags: Vec<String>,
    /// Policies (`[policies.*]` names) its requests are checked by on every route.
    pub policies: Vec<String>,
    pub metadata: Value,
    /// Unix seconds after which the key is refused.
    pub expires_at: Option<u64>,
    pub created_at: u64,
    pub revoked_at: Option<u64>,
    /// Unix milliseconds of the last change (what replicas poll by).
    #[serde(skip)]
    pub updated: i64,
    /// The person who made it (a team member sees and changes their own keys only).
    pub owner: Option<String>,
    /// The end user its requests are made for, whatever a request's `user` says.
    pub user: Option<String>,
    /// Its requests' end user comes from a verified token only (`user_from = "jwt"`).
    #[serde(serialize_with = "user_from")]
    #[serde(rename = "user_from")]
    pub user_from_jwt: bool,
    /// Its own budget: what `key_limit` budget policies hold it to instead of their
    /// `limit` (its requests carry the tag `switchboard:budget=AMOUNT`).
    pub budget: Option<f64>,
}

fn user_from<S: serde::Serializer>(jwt: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *jwt { "jwt" } else { "body" })
}

impl VKey {
    pub fn usable(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// Who its requests come from: its models within its team's, its tags and
    /// policies then its team's, its end user, what it keeps owned by its id.
    pub fn principal(
        &self,
        teams: &std::collections::BTreeMap<String, crate::config::Team>,
    ) -> crate::live::Principal {
        let mut p = crate::live::Principal::of(
            &self.name,
            self.models.clone(),
            self.team.clone(),
            &self.tags,
            &self.policies,
            teams,
        )
        .owned_by_virtual_key(&self.id);
        p.user = self.user.clone();
        p.user_from_jwt = self.user_from_jwt;
        if let Some(b) = self.budget {
            p.tags.push(format!("switchboard:budget={b}"));
        }
        p
    }
}

enum Db {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(Pg),
}

struct Store {
    db: StoreDb,
    conn: Db,
    /// The newest change read (ms); the next poll reads from a little before it.
    seen: Mutex<i64>,
}

/// The virtual keys in force, by digest and by id.
#[derive(Default)]
struct Cache {
    by_hash: HashMap<[u8; 32], Arc<VKey>>,
    by_id: HashMap<String, Arc<VKey>>,
    /// The store has been read at least once: until then no one can say which keys
    /// exist, and the gateway is not open.
    loaded: bool,
}

/// The gateway's virtual keys; none unless `[store]` is configured.
#[derive(Default)]
pub struct VirtualKeys {
    store: ArcSwapOption<Store>,
    cache: ArcSwap<Cache>,
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new secret: `sk-sb-` and 48 hex digits (192 random bits).
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("sk-sb-{}", hex::encode(bytes))
}

async fn blocking<R: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<R, String> + Send + 'static,
) -> Result<R, String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || match &store.conn {
        Db::Sqlite(c) => f(&c.lock()),
        Db::Postgres(_) => Err("not a SQLite store".into()),
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

impl Store {
    fn open(db: &StoreDb) -> Result<Store, String> {
        let conn = match db {
            StoreDb::Sqlite(path) => Db::Sqlite(Mutex::new(sqlite::open(path)?)),
            StoreDb::Postgres(url) => Db::Postgres(Pg::new(url.clone())),
        };
        Ok(Store {
            db: db.clone(),
            conn,
            seen: Mutex::new(0),
        })
    }

    async fn put(self: &Arc<Self>, k: VKey) -> Result<(), String> {
        match &self.conn {
            Db::Sqlite(_) => blocking(self, move |c| sqlite::put(c, &k)).await,
            Db::Postgres(pg) => postgres::put(pg, &k).await,
        }
    }

    /// Keys changed since `since` (ms).
    async fn changed(self: &Arc<Self>, since: i64) -> Result<Vec<VKey>, String> {
        match &self.conn {
            Db::Sqlite(_) => blocking(self, move |c| sqlite::changed(c, since)).await,
            Db::Postgres(pg) => postgres::changed(pg, since).await,
        }
    }
}

impl crate::configured::Configured for Store {
    type Config = StoreDb;
    fn config(&self) -> &StoreDb {
        &self.db
    }
}

impl VirtualKeys {
    /// Follows `[store]`: opens a newly named store (its keys read at the next
    /// refresh), forgets one no longer named.
    pub fn configure(&self, db: Option<&StoreDb>) -> Result<(), String> {
        let before = self.store.load().as_ref().map(|s| s.db.clone());
        crate::configured::follow(&self.store, db, Store::open)?;
        if before.as_ref() != db {
            self.cache.store(Arc::new(Cache::default()));
        }
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        self.store.load().is_some()
    }

    /// Whether the store (when there is one) has been read at least once: until then
    /// API requests cannot be authenticated (nor let in as anonymous).
    pub fn loaded(&self) -> bool {
        !self.enabled() || self.cache.load().loaded
    }

    /// Whether any virtual key exists (then the gateway is not open).
    pub fn any(&self) -> bool {
        !self.cache.load().by_id.is_empty()
    }

    /// The key with this secret's digest, usable or not (expired, revoked).
    pub fn find(&self, digest: &[u8; 32]) -> Option<Arc<VKey>> {
        self.cache.load().by_hash.get(digest).cloned()
    }

    pub fn get(&self, id: &str) -> Option<Arc<VKey>> {
        self.cache.load().by_id.get(id).cloned()
    }

    /// Every key, newest first.
    pub fn list(&self) -> Vec<Arc<VKey>> {
        let mut all: Vec<_> = self.cache.load().by_id.values().cloned().collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        all
    }

    /// Reads what changed in the store since the last read (with two seconds of
    /// overlap, so a change committed late is not missed) into the cache.
    pub async fn refresh(&self) -> Result<(), String> {
        let Some(store) = self.store.load_full() else {
            return Ok(());
        };
        let since = *store.seen.lock() - 2000;
        let changed = store.changed(since).await?;
        if changed.is_empty() {
            if !self.cache.load().loaded {
                let old = self.cache.load_full();
                self.cache.store(Arc::new(Cache {
                    by_hash: old.by_hash.clone(),
                    by_id: old.by_id.clone(),
                    loaded: true,
                }));
            }
            return Ok(());
        }
        self.apply(changed);
        if let Some(newest) = self.cache.load().by_id.values().map(|k| k.updated).max() {
            let mut seen = store.seen.lock();
            *seen = (*seen).max(newest);
        }
        Ok(())
    }

    fn apply(&self, changed: Vec<VKey>) {
        let old = self.cache.load_full();
        let mut by_id = old.by_id.clone();
        for k in changed {
            by_id.insert(k.id.clone(), Arc::new(k));
        }
        let by_hash = by_id.values().map(|k| (k.hash, k.clone())).collect();
        self.cache.store(Arc::new(Cache {
            by_hash,
            by_id,
            loaded: true,
        }));
    }

    /// Writes `k` (made or changed) to the store, then to this gateway's cache.
    pub async fn save(&self, mut k: VKey) -> Result<Arc<VKey>, String> {
        let store = self
            .store
            .load_full()
            .ok_or("virtual keys need a store: configure [store]")?;
        k.updated = now_ms();
        store.put(k.clone()).await?;
        let id = k.id.clone();
        self.apply(vec![k]);
        self.get(&id).ok_or_else(|| "the key vanished".into())
    }
}
