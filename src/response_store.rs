//! Stored Responses API answers (`[responses]`): each `/v1/responses` answer whose request did not
//! say `store: false` is kept in a SQLite file with the conversation that led to it
//! (its input items, those of the responses it continued included), readable and
//! deletable only by the gateway key that made it, for `retention_days`. A request with
//! `previous_response_id` continues that conversation: the stored items come first; an
//! `item_reference` input names one stored output item.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::config::ResponsesConfig;

/// One stored response.
pub struct Stored {
    pub response: Value,
    /// Every input item of the conversation up to this response.
    pub input: Vec<Value>,
}

pub struct Store {
    cfg: ResponsesConfig,
    conn: Mutex<Connection>,
    pruned_at: Mutex<u64>,
    /// Responses whose stream has ended and whose save is still under way: a
    /// continuation that arrives meanwhile waits for it instead of missing it.
    saving: Mutex<std::collections::HashSet<String>>,
}

/// The gateway's response store; none unless `[responses]` names a file.
#[derive(Default)]
pub struct ResponseStore {
    store: ArcSwapOption<Store>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens (creating) the store file.
pub fn open(path: &Path) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS responses (
             id TEXT PRIMARY KEY, key TEXT NOT NULL, created INTEGER NOT NULL,
             response TEXT NOT NULL, input TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
         CREATE TABLE IF NOT EXISTS response_items (
             id TEXT NOT NULL, key TEXT NOT NULL, response_id TEXT NOT NULL,
             created INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (id, key)
         );
         CREATE INDEX IF NOT EXISTS response_items_created ON response_items (created);",
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}

impl Store {
    fn save(&self, key: &str, response: &Value, input: &[Value]) -> Result<(), String> {
        let id = response["id"].as_str().unwrap_or_default();
        let conn = self.conn.lock();
        conn.execute(
            "INSERT OR REPLACE INTO responses (id, key, created, response, input) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, key, now_secs() as i64, response.to_string(), Value::from(input.to_vec()).to_string()],
        )
        .map_err(|e| e.to_string())?;
        for item in response["output"].as_array().into_iter().flatten() {
            if let Some(item_id) = item["id"].as_str() {
                conn.execute(
                    "INSERT OR REPLACE INTO response_items (id, key, response_id, created, item) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![item_id, key, id, now_secs() as i64, item.to_string()],
                )
                .map_err(|e| e.to_string())?;
            }
        }
        let now = now_secs();
        let mut pruned = self.pruned_at.lock();
        if now >= *pruned + 3600 {
            *pruned = now;
            let cutoff = now.saturating_sub(u64::from(self.cfg.retention_days) * 86_400);
            for table in ["responses", "response_items"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE created < ?1"),
                    params![cutoff as i64],
                )
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// A stored response of `key`; one still being saved is waited for (up to 2 s).
    fn load(&self, key: &str, id: &str) -> Result<Option<Stored>, String> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let found = self.load_now(key, id)?;
            if found.is_some()
                || !self.saving.lock().contains(id)
                || std::time::Instant::now() >= until
            {
                return Ok(found);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Stored output items of `key` by id (those not found are left out).
    fn items(&self, key: &str, ids: &[String]) -> Result<Vec<(String, Value)>, String> {
        let conn = self.conn.lock();
        let mut out = Vec::new();
        for id in ids {
            let item: Option<String> = conn
                .query_row(
                    "SELECT item FROM response_items WHERE id = ?1 AND key = ?2",
                    params![id, key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| e.to_string())?;
            if let Some(item) = item.and_then(|i| serde_json::from_str(&i).ok()) {
                out.push((id.clone(), item));
            }
        }
        Ok(out)
    }

    fn load_now(&self, key: &str, id: &str) -> Result<Option<Stored>, String> {
        let conn = self.conn.lock();
        let cutoff = now_secs().saturating_sub(u64::from(self.cfg.retention_days) * 86_400);
        let row = conn
            .query_row(
                "SELECT response, input FROM responses WHERE id = ?1 AND key = ?2 AND created >= ?3",
                params![id, key, cutoff as i64],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        Ok(row.map(|(response, input)| Stored {
            response: serde_json::from_str(&response).unwrap_or(Value::Null),
            input: serde_json::from_str(&input).unwrap_or_default(),
        }))
    }

    fn delete(&self, key: &str, id: &str) -> Result<bool, String> {
        let conn = self.conn.lock();
        let n = conn
            .execute(
                "DELETE FROM responses WHERE id = ?1 AND key = ?2",
                params![id, key],
            )
            .map_err(|e| e.to_string())?;
        conn.execute(
            "DELETE FROM response_items WHERE response_id = ?1 AND key = ?2",
            params![id, key],
        )
        .map_err(|e| e.to_string())?;
        Ok(n > 0)
    }
}

impl ResponseStore {
    /// Follows `[responses]`: opens a newly named file, forgets one no longer named.
    pub fn configure(&self, cfg: Option<&ResponsesConfig>) -> Result<(), String> {
        crate::configured::follow(&self.store, cfg, |want| {
            Ok(Store {
                cfg: want.clone(),
                conn: Mutex::new(open(&want.sqlite_path)?),
                pruned_at: Mutex::new(0),
                saving: Mutex::new(Default::default()),
            })
        })
    }

    pub fn enabled(&self) -> bool {
        self.store.load().is_some()
    }

    /// Runs `f` on the store off the request thread; `None` when no store is configured.
    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, String> + Send + 'static,
    ) -> Option<Result<R, String>> {
        let store = self.store.load_full()?;
        Some(
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .unwrap_or_else(|e| Err(e.to_string())),
        )
    }

    pub async fn save(&self, key: String, response: Value, input: Vec<Value>) {
        if let Some(Err(e)) = self.with(move |s| s.save(&key, &response, &input)).await {
            tracing::warn!(error = %e, "storing a response failed");
        }
    }

    pub async fn load(&self, key: String, id: String) -> Option<Result<Option<Stored>, String>> {
        self.with(move |s| s.load(&key, &id)).await
    }

    pub async fn items(
        &self,
        key: String,
        ids: Vec<String>,
    ) -> Option<Result<Vec<(String, Value)>, String>> {
        self.with(move |s| s.items(&key, &ids)).await
    }

    pub async fn delete(&self, key: String, id: String) -> Option<Result<bool, String>> {
        self.with(move |s| s.delete(&key, &id)).await
    }

    /// The store in force, to save into after the request's handler has returned (a
    /// stream's last event).
    pub fn current(&self) -> Option<Arc<Store>> {
        self.store.load_full()
    }
}

/// Saves off the request thread, without waiting (a stream's end).
pub fn save_detached(store: Arc<Store>, key: String, response: Value, input: Vec<Value>) {
    let id = response["id"].as_str().unwrap_or_default().to_string();
    store.saving.lock().insert(id.clone());
    tokio::task::spawn_blocking(move || {
        if let Err(e) = store.save(&key, &response, &input) {
            tracing::warn!(error = %e, "storing a response failed");
        }
        store.saving.lock().remove(&id);
    });
}

impl crate::configured::Configured for Store {
    type Config = ResponsesConfig;
    fn config(&self) -> &ResponsesConfig {
        &self.cfg
    }
}
