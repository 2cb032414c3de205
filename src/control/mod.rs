//! The control plane's records in `[store]`: **overrides** — runtime changes to routing
//! (a target enabled or disabled, its weight) layered on `config.toml` at every build
//! of the live state, so the file stays the source of the structure and a change made
//! through the admin API survives reloads and restarts and reaches every replica (each
//! reads them every second) — and the **audit log** of every change made at run time
//! (who, what, when, before and after); and the **comparisons** `POST /admin/compare`
//! made, to be reopened. Without `[store]` all three live in memory.

pub mod postgres;
pub mod sqlite;

use std::collections::VecDeque;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, StoreDb};
use crate::stores::pg::Pg;

/// One runtime change to a target of a route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Override {
    pub route: String,
    pub provider: String,
    pub model: String,
    pub enabled: Option<bool>,
    pub weight: Option<u32>,
    /// Unix seconds, and who made it.
    pub updated: u64,
    pub actor: String,
}

/// One change made at run time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: u64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Audit entries and comparisons kept in memory without a store.
const MEMORY_AUDIT: usize = 1000;
const MEMORY_COMPARISONS: usize = 50;

enum Db {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(Pg),
}

struct Store {
    db_cfg: StoreDb,
    db: Db,
}

#[derive(Default)]
pub struct Control {
    store: ArcSwapOption<Store>,
    overrides: ArcSwap<Vec<Override>>,
    /// Local changes made (`set`): a `refresh` whose read began before one does not
    /// put back what it read (it would undo the change until the next refresh).
    changes: Mutex<u64>,
    audit: Mutex<VecDeque<AuditEntry>>,
    comparisons: Mutex<VecDeque<Value>>,
}

pub fn now_secs() -> u64 {
    crate::access::vkeys::now_secs()
}

/// Runs `f` on a blocking thread with the SQLite connection.
async fn blocking<R: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<R, String> + Send + 'static,
) -> Result<R, String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || match &store.db {
        Db::Sqlite(c) => f(&c.lock()),
        Db::Postgres(_) => Err("not a SQLite store".into()),
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

/// `config` with `list` applied: targets disabled or re-weighted. Overrides that name
/// no target of the config (a target since removed from the file) are left out, and
/// said.
pub fn apply(config: &mut Config, list: &[Override]) -> Vec<String> {
    let mut unused = Vec::new();
    for o in list {
        let target = config.routes.get_mut(&o.route).and_then(|r| {
            r.targets
                .iter_mut()
                .find(|t| t.provider == o.provider && t.model == o.model)
        });
        match target {
            Some(t) => {
                if let Some(e) = o.enabled {
                    t.enabled = e;
                }
                if let Some(w) = o.weight {
                    t.weight = w;
                }
            }
            None => unused.push(format!("{}/{}/{}", o.route, o.provider, o.model)),
        }
    }
    unused
}

impl Control {
    /// Follows `[store]`: opens a newly named database (the overrides are read by the
    /// next `refresh`).
    pub fn configure(&self, db: Option<&StoreDb>) -> Result<(), String> {
        let current = self.store.load();
        if current.as_ref().map(|s| &s.db_cfg) == db {
            return Ok(());
        }
        let store = match db {
            None => None,
            Some(StoreDb::Sqlite(path)) => Some(Store {
                db_cfg: StoreDb::Sqlite(path.clone()),
                db: Db::Sqlite(Mutex::new(sqlite::open(path)?)),
            }),
            Some(StoreDb::Postgres(url)) => Some(Store {
                db_cfg: StoreDb::Postgres(url.clone()),
                db: Db::Postgres(Pg::new(url.clone())),
            }),
        };
        self.store.store(store.map(Arc::new));
        Ok(())
    }

    /// The overrides in force.
    pub fn overrides(&self) -> Arc<Vec<Override>> {
        self.overrides.load_full()
    }

    /// Reads the overrides from the store; whether they changed.
    pub async fn refresh(&self) -> Result<bool, String> {
        let Some(store) = self.store.load_full() else {
            return Ok(false);
        };
        let seen = *self.changes.lock();
        let list = match &store.db {
            Db::Sqlite(_) => blocking(&store, sqlite::overrides).await?,
            Db::Postgres(pg) => postgres::overrides(pg).await?,
        };
        let changes = self.changes.lock();
        if *changes != seen || *self.overrides.load_full() == list {
            return Ok(false);
        }
        self.overrides.store(Arc::new(list));
        Ok(true)
    }

    /// Sets (or, with neither field, removes) the override of one target; the one it
    /// replaced.
    pub async fn set(&self, o: Override) -> Result<Option<Override>, String> {
        let before = self
            .overrides()
            .iter()
            .find(|x| x.route == o.route && x.provider == o.provider && x.model == o.model)
            .cloned();
        if let Some(store) = self.store.load_full() {
            let o = o.clone();
            match &store.db {
                Db::Sqlite(_) => blocking(&store, move |c| sqlite::set(c, &o)).await?,
                Db::Postgres(pg) => postgres::set(pg, &o).await?,
            }
        }
        let mut list: Vec<Override> = self
            .overrides()
            .iter()
            .filter(|x| !(x.route == o.route && x.provider == o.provider && x.model == o.model))
            .cloned()
            .collect();
        if o.enabled.is_some() || o.weight.is_some() {
            list.push(o);
        }
        list.sort_by(|a, b| {
            (&a.route, &a.provider, &a.model).cmp(&(&b.route, &b.provider, &b.model))
        });
        let mut changes = self.changes.lock();
        *changes += 1;
        self.overrides.store(Arc::new(list));
        Ok(before)
    }

    /// Records a change made at run time.
    pub async fn audit(&self, e: AuditEntry) {
        let saved = match self.store.load_full() {
            Some(store) => {
                let entry = e.clone();
                match &store.db {
                    Db::Sqlite(_) => blocking(&store, move |c| sqlite::audit(c, &entry)).await,
                    Db::Postgres(pg) => postgres::audit(pg, &e).await,
                }
            }
            None => Ok(()),
        };
        if let Err(err) = saved {
            tracing::warn!(error = %err, "writing the audit log failed; kept in memory");
        }
        let mut mem = self.audit.lock();
        if mem.len() >= MEMORY_AUDIT {
            mem.pop_front();
        }
        mem.push_back(e);
    }

    /// Keeps a comparison; the comparison as kept (and answered).
    pub async fn keep_comparison(
        &self,
        id: &str,
        actor: &str,
        request: &Value,
        results: &[Value],
    ) -> Value {
        let c = serde_json::json!({ "id": id, "at": now_secs(), "actor": actor,
                                    "request": request, "results": results });
        let saved = match self.store.load_full() {
            Some(store) => match &store.db {
                Db::Sqlite(_) => {
                    let c = c.clone();
                    blocking(&store, move |conn| sqlite::keep_comparison(conn, &c)).await
                }
                Db::Postgres(pg) => postgres::keep_comparison(pg, &c).await,
            },
            None => {
                let mut mem = self.comparisons.lock();
                if mem.len() >= MEMORY_COMPARISONS {
                    mem.pop_front();
                }
                mem.push_back(c.clone());
                Ok(())
            }
        };
        if let Err(e) = saved {
            tracing::warn!(error = %e, "keeping a comparison failed");
        }
        c
    }

    /// The newest `limit` comparisons: id, when, who, what was asked.
    pub async fn comparisons(&self, limit: usize) -> Result<Vec<Value>, String> {
        let brief = |c: &Value| serde_json::json!({ "id": c["id"], "at": c["at"], "actor": c["actor"], "request": c["request"] });
        match self.store.load_full() {
            Some(store) => match &store.db {
                Db::Sqlite(_) => blocking(&store, move |c| sqlite::comparisons(c, limit)).await,
                Db::Postgres(pg) => postgres::comparisons(pg, limit).await,
            }
            .map(|l| l.iter().map(brief).collect()),
            None => Ok(self
                .comparisons
                .lock()
                .iter()
                .rev()
                .take(limit)
                .map(brief)
                .collect()),
        }
    }

    /// One kept comparison.
    pub async fn comparison(&self, id: &str) -> Result<Option<Value>, String> {
        match self.store.load_full() {
            Some(store) => match &store.db {
                Db::Sqlite(_) => {
                    let id = id.to_string();
                    blocking(&store, move |c| sqlite::comparison(c, &id)).await
                }
                Db::Postgres(pg) => postgres::comparison(pg, id).await,
            },
            None => Ok(self
                .comparisons
                .lock()
                .iter()
                .find(|c| c["id"] == id)
                .cloned()),
        }
    }

    /// The newest `limit` entries (the store's when there is one).
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, String> {
        match self.store.load_full() {
            Some(store) => match &store.db {
                Db::Sqlite(_) => blocking(&store, move |c| sqlite::audit_log(c, limit)).await,
                Db::Postgres(pg) => postgres::audit_log(pg, limit).await,
            },
            None => Ok(self
                .audit
                .lock()
                .iter()
                .rev()
                .take(limit)
                .cloned()
                .collect()),
        }
    }
}
