//! The alert history replicas share: with `[store]` on PostgreSQL every transition is
//! also written to `switchboard_alert_events` (off the evaluator's tick), tagged with
//! the replica that saw it, and `GET /admin/alerts` reads the newest from there. Without
//! it the history is the replica's own, in memory.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::Transition;
use crate::config::StoreDb;
use crate::stores::pg::{Pg, error};

/// Transitions kept longer than this are pruned as new ones are written.
const KEEP_SECS: i64 = 30 * 86_400;

pub struct Shared {
    /// The database and its connection, made when the store first names one.
    pg: Mutex<Option<(crate::config::Secret, Arc<Pg>)>>,
    /// This gateway, as the shared history names it: host, process, and a random part
    /// (gateways in one process stay apart).
    replica: Arc<str>,
}

impl Default for Shared {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into());
        let tag = rand::random::<u16>();
        Shared {
            pg: Mutex::new(None),
            replica: format!("{host}-{}-{tag:04x}", std::process::id()).into(),
        }
    }
}

impl Shared {
    fn pg(&self, store: &Option<StoreDb>) -> Option<Arc<Pg>> {
        let Some(StoreDb::Postgres(url)) = store else {
            return None;
        };
        let mut slot = self.pg.lock();
        match slot.as_ref() {
            Some((u, pg)) if u == url => Some(pg.clone()),
            _ => {
                let pg = Arc::new(Pg::new(url.clone()));
                *slot = Some((url.clone(), pg.clone()));
                Some(pg)
            }
        }
    }

    /// Writes `ts` to the shared history, if there is one (in the background).
    pub fn record(&self, store: &Option<StoreDb>, ts: Vec<Transition>) {
        if ts.is_empty() {
            return;
        }
        let Some(pg) = self.pg(store) else { return };
        let replica = self.replica.clone();
        tokio::spawn(async move {
            if let Err(e) = write(&pg, &ts, &replica).await {
                tracing::warn!(error = %e, "writing the shared alert history failed");
            }
        });
    }

    /// The newest `limit` transitions of every replica; `None` without PostgreSQL.
    pub async fn recent(
        &self,
        store: &Option<StoreDb>,
        limit: usize,
    ) -> Option<Result<Value, String>> {
        let pg = self.pg(store)?;
        Some(read(&pg, limit as i64).await)
    }
}

async fn write(pg: &Pg, ts: &[Transition], replica: &str) -> Result<(), String> {
    let c = pg.client().await?;
    for t in ts {
        c.execute(
            "INSERT INTO switchboard_alert_events (ts, rule, kind, state, subject, value, message, notified, replica)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &(t.at as i64),
                &t.rule,
                &t.kind,
                &t.state,
                &t.subject,
                &t.value,
                &t.message,
                &t.notified,
                &replica,
            ],
        )
        .await
        .map_err(error)?;
    }
    let cutoff = crate::access::vkeys::now_secs() as i64 - KEEP_SECS;
    c.execute(
        "DELETE FROM switchboard_alert_events WHERE ts < $1",
        &[&cutoff],
    )
    .await
    .map_err(error)?;
    Ok(())
}

async fn read(pg: &Pg, limit: i64) -> Result<Value, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT ts, rule, kind, state, subject, value, message, notified, replica
             FROM switchboard_alert_events ORDER BY id DESC LIMIT $1",
            &[&limit],
        )
        .await
        .map_err(error)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let text = |i: usize| r.try_get::<_, String>(i).map_err(error);
        out.push(json!({
            "at": r.try_get::<_, i64>(0).map_err(error)?,
            "rule": text(1)?,
            "kind": text(2)?,
            "state": text(3)?,
            "subject": text(4)?,
            "value": r.try_get::<_, Option<f64>>(5).map_err(error)?,
            "message": text(6)?,
            "notified": r.try_get::<_, bool>(7).map_err(error)?,
            "replica": text(8)?,
        }));
    }
    Ok(Value::Array(out))
}
