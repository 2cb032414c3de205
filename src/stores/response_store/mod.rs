//! Stored Responses API answers (`[responses]`): each `/v1/responses` answer whose request
//! did not say `store: false` is kept with the conversation that led to it (its input
//! items, those of the responses it continued included), readable and deletable only by
//! the gateway key that made it, for `retention_days` — in a SQLite file of this gateway
//! (`sqlite.rs`), or in the PostgreSQL database of `[store]` that replicas share
//! (`postgres.rs`). A request with `previous_response_id` continues that conversation:
//! the stored items come first; an `item_reference` input names one stored output item.
//! Saving never holds up an answer: it runs detached, and a continuation that arrives
//! while its response is still being saved waits for that save.

mod postgres;
mod sqlite;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use rusqlite::Connection;
use serde_json::Value;

use crate::config::{ResponsesConfig, StoreDb};
use crate::stores::pg::Pg;

pub use sqlite::open;

/// One stored response.
pub struct Stored {
    pub response: Value,
    /// Every input item of the conversation up to this response.
    pub input: Vec<Value>,
}

impl Stored {
    fn from_text(response: &str, input: &str) -> Stored {
        Stored {
            response: serde_json::from_str(response).unwrap_or(Value::Null),
            input: serde_json::from_str(input).unwrap_or_default(),
        }
    }
}

enum Db {
    Sqlite(Mutex<Connection>),
    Postgres(Pg),
}

pub struct Store {
    cfg: ResponsesConfig,
    db: Db,
    pruned_at: Mutex<u64>,
    /// Saves under way (responses, kept objects' owners): id → (the key saving it, how
    /// many saves of that id). A read that arrives meanwhile — a continuation, a lookup,
    /// a list, a delete — waits for them instead of missing them or being overtaken.
    saving: Mutex<std::collections::HashMap<String, (String, u32)>>,
}

/// The gateway's response store; none unless `[responses]` is configured.
#[derive(Default)]
pub struct ResponseStore {
    store: ArcSwapOption<Store>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The oldest `created` still kept.
fn cutoff(retention_days: u32) -> u64 {
    now_secs().saturating_sub(u64::from(retention_days) * 86_400)
}

/// Runs a blocking SQLite call off the request threads.
async fn blocking<R: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Connection, &ResponsesConfig) -> Result<R, String> + Send + 'static,
) -> Result<R, String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || match &store.db {
        Db::Sqlite(conn) => f(&conn.lock(), &store.cfg),
        Db::Postgres(_) => Err("not a SQLite store".into()),
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

impl Store {
    fn open(cfg: &ResponsesConfig) -> Result<Store, String> {
        let db = match &cfg.db {
            StoreDb::Sqlite(path) => Db::Sqlite(Mutex::new(open(path)?)),
            StoreDb::Postgres(url) => Db::Postgres(Pg::new(url.clone())),
        };
        Ok(Store {
            cfg: cfg.clone(),
            db,
            pruned_at: Mutex::new(0),
            saving: Mutex::new(Default::default()),
        })
    }

    /// Whether the hourly prune is due now (then it is done with this save).
    fn prune_due(&self) -> Option<u64> {
        let now = now_secs();
        let mut pruned = self.pruned_at.lock();
        (now >= *pruned + 3600).then(|| {
            *pruned = now;
            cutoff(self.cfg.retention_days)
        })
    }

    async fn save(self: &Arc<Self>, key: String, response: Value, input: Vec<Value>) {
        let prune = self.prune_due();
        let quota = self.cfg.max_bytes_per_key as i64;
        let saved = match &self.db {
            Db::Sqlite(_) => {
                blocking(self, move |c, _| {
                    sqlite::save(c, &key, &response, &input, prune)?;
                    sqlite::hold_to(c, &key, quota)
                })
                .await
            }
            Db::Postgres(pg) => match postgres::save(pg, &key, &response, &input, prune).await {
                Ok(()) => postgres::hold_to(pg, &key, quota).await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = saved {
            tracing::warn!(error = %e, "storing a response failed");
        }
    }

    async fn load_now(self: &Arc<Self>, key: &str, id: &str) -> Result<Option<Stored>, String> {
        let days = self.cfg.retention_days;
        match &self.db {
            Db::Sqlite(_) => {
                let (key, id) = (key.to_string(), id.to_string());
                blocking(self, move |c, _| sqlite::load(c, &key, &id, days)).await
            }
            Db::Postgres(pg) => postgres::load(pg, key, id, days).await,
        }
    }

    /// A stored response of `key`; one still being saved is waited for (up to 2 s).
    async fn load(self: &Arc<Self>, key: &str, id: &str) -> Result<Option<Stored>, String> {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            // Whether a save was pending is read before the store is: a save that
            // lands between the read and the check must not look like no save at all.
            let was_pending = self.pending(id);
            let found = self.load_now(key, id).await?;
            if found.is_some() || !was_pending || tokio::time::Instant::now() >= until {
                return Ok(found);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn items(
        self: &Arc<Self>,
        key: String,
        ids: Vec<String>,
    ) -> Result<Vec<(String, Value)>, String> {
        match &self.db {
            Db::Sqlite(_) => blocking(self, move |c, _| sqlite::items(c, &key, &ids)).await,
            Db::Postgres(pg) => postgres::items(pg, &key, &ids).await,
        }
    }

    async fn delete(self: &Arc<Self>, key: String, id: String) -> Result<bool, String> {
        self.settle(|s| s.pending(&id)).await;
        match &self.db {
            Db::Sqlite(_) => blocking(self, move |c, _| sqlite::delete(c, &key, &id)).await,
            Db::Postgres(pg) => postgres::delete(pg, &key, &id).await,
        }
    }
}

/// An object a provider keeps for a gateway key: a response passed through with
/// `store`, an uploaded file, a batch (`kind`: `response`, `file`, `batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub id: String,
    pub kind: String,
    pub key: String,
    pub provider: String,
}

/// Saves under way.
impl Store {
    fn begin(&self, id: &str, key: &str) {
        let mut s = self.saving.lock();
        let e = s
            .entry(id.to_string())
            .or_insert_with(|| (key.to_string(), 0));
        e.1 += 1;
    }

    fn end(&self, id: &str) {
        let mut s = self.saving.lock();
        if let Some(e) = s.get_mut(id) {
            e.1 -= 1;
            if e.1 == 0 {
                s.remove(id);
            }
        }
    }

    fn pending(&self, id: &str) -> bool {
        self.saving.lock().contains_key(id)
    }

    /// Waits (up to 2 s) while `busy` holds.
    async fn settle(&self, busy: impl Fn(&Self) -> bool) {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while busy(self) && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

/// Objects kept at providers: which key made each, and at which provider, so only
/// that key reads, continues or deletes it, there.
impl Store {
    /// Records a kept object; detached like a save (a lookup meanwhile waits for it).
    pub fn own_detached(self: &Arc<Self>, kept: Kept) {
        let store = self.clone();
        store.begin(&kept.id, &kept.key);
        tokio::spawn(async move {
            let saved = match &store.db {
                Db::Sqlite(_) => {
                    let k = kept.clone();
                    blocking(&store, move |c, _| sqlite::own(c, &k)).await
                }
                Db::Postgres(pg) => postgres::own(pg, &kept).await,
            };
            if let Err(e) = saved {
                tracing::warn!(error = %e, "recording a kept object's owner failed");
            }
            store.end(&kept.id);
        });
    }

    async fn owner_now(self: &Arc<Self>, id: &str) -> Result<Option<Kept>, String> {
        match &self.db {
            Db::Sqlite(_) => {
                let id = id.to_string();
                blocking(self, move |c, _| sqlite::owner(c, &id)).await
            }
            Db::Postgres(pg) => postgres::owner(pg, id).await,
        }
    }

    /// Who keeps object `id`, and where; one being recorded is waited for.
    pub async fn owner(self: &Arc<Self>, id: &str) -> Result<Option<Kept>, String> {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let was_pending = self.pending(id);
            let found = self.owner_now(id).await?;
            if found.is_some() || !was_pending || tokio::time::Instant::now() >= until {
                return Ok(found);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// (id, provider) of each object of `kind` `key` keeps, newest first (≤ 10 000);
    /// the key's records under way are waited for (up to 2 s).
    pub async fn owned(
        self: &Arc<Self>,
        key: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, String> {
        self.settle(|s| s.saving.lock().values().any(|(k, _)| k == key))
            .await;
        match &self.db {
            Db::Sqlite(_) => {
                let (key, kind) = (key.to_string(), kind.to_string());
                blocking(self, move |c, _| sqlite::owned(c, &key, &kind)).await
            }
            Db::Postgres(pg) => postgres::owned(pg, key, kind).await,
        }
    }

    /// Forgets `id`'s owner, after any record of it under way (which would bring it back).
    pub async fn disown(self: &Arc<Self>, id: &str) -> Result<(), String> {
        self.settle(|s| s.pending(id)).await;
        match &self.db {
            Db::Sqlite(_) => {
                let id = id.to_string();
                blocking(self, move |c, _| sqlite::disown(c, &id)).await
            }
            Db::Postgres(pg) => postgres::disown(pg, id).await,
        }
    }
}

impl ResponseStore {
    /// Follows `[responses]`: opens a newly named store, forgets one no longer named.
    pub fn configure(&self, cfg: Option<&ResponsesConfig>) -> Result<(), String> {
        crate::configured::follow(&self.store, cfg, Store::open)
    }

    pub fn enabled(&self) -> bool {
        self.store.load().is_some()
    }

    pub async fn load(&self, key: String, id: String) -> Option<Result<Option<Stored>, String>> {
        let store = self.store.load_full()?;
        Some(store.load(&key, &id).await)
    }

    pub async fn items(
        &self,
        key: String,
        ids: Vec<String>,
    ) -> Option<Result<Vec<(String, Value)>, String>> {
        let store = self.store.load_full()?;
        Some(store.items(key, ids).await)
    }

    pub async fn delete(&self, key: String, id: String) -> Option<Result<bool, String>> {
        let store = self.store.load_full()?;
        Some(store.delete(key, id).await)
    }

    /// The store in force, to save into after the request's handler has returned (a
    /// stream's last event).
    pub fn current(&self) -> Option<Arc<Store>> {
        self.store.load_full()
    }
}

/// Saves without holding up the answer; a continuation of this response that arrives
/// before the save is done waits for it.
pub fn save_detached(store: Arc<Store>, key: String, response: Value, input: Vec<Value>) {
    let id = response["id"].as_str().unwrap_or_default().to_string();
    store.begin(&id, &key);
    tokio::spawn(async move {
        store.save(key, response, input).await;
        store.end(&id);
    });
}

impl crate::configured::Configured for Store {
    type Config = ResponsesConfig;
    fn config(&self) -> &ResponsesConfig {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> Arc<Store> {
        let path = std::env::temp_dir().join(format!("sb-kept-{}-{name}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let cfg = ResponsesConfig {
            db: StoreDb::Sqlite(path),
            retention_days: 1,
            max_bytes_per_key: 1 << 20,
        };
        Arc::new(Store::open(&cfg).unwrap())
    }

    fn kept(id: &str) -> Kept {
        Kept {
            id: id.into(),
            kind: "file".into(),
            key: "k".into(),
            provider: "p".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_and_deletes_wait_for_the_records_under_way() {
        let s = store("settle");
        for i in 0..20 {
            s.own_detached(kept(&format!("file-{i}")));
        }
        // A list right after the uploads has them all.
        assert_eq!(s.owned("k", "file").await.unwrap().len(), 20);
        // A delete that overtakes the record of the same id would be undone by it.
        s.own_detached(kept("file-x"));
        s.disown("file-x").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(s.owner("file-x").await.unwrap(), None);
    }
}
