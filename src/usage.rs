//! Usage records: one row per routed request (when, route, gateway key, provider and
//! model that answered, status, tokens, cost, duration, cache hit) in a SQLite file,
//! written by a background thread in batches, kept for `retention_days`, and summed
//! by day for `GET /admin/usage`. The request path only appends a record to a
//! bounded buffer (no wake-up of another thread per request: the writer takes the
//! buffer on a tick); when the writer falls behind, records are dropped and counted,
//! never waited for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use rusqlite::{Connection, params};

use crate::batch::Batcher;
use crate::config::UsageConfig;

#[derive(Debug, thiserror::Error)]
#[error("usage log: {0}")]
pub struct UsageError(String);

fn db_err(e: rusqlite::Error) -> UsageError {
    UsageError(e.to_string())
}

/// One routed request, as the settle point closes it.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub request_id: String,
    /// The inbound API (`chat`, `messages`, `responses`, …).
    pub api: String,
    pub route: String,
    pub key: String,
    pub team: Option<String>,
    pub user: Option<String>,
    /// `cache` for a hit; empty when no target answered.
    pub provider: String,
    pub model: String,
    pub status: u16,
    /// The error's label, and what the last failed attempt said (keys scrubbed).
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub ttft_ms: Option<u64>,
    pub duration_ms: u64,
    pub attempts: u32,
}

/// Columns added after the first schema (a file made earlier gains them).
const LATER_COLUMNS: &[(&str, &str)] = &[
    ("request_id", "TEXT"),
    ("api", "TEXT"),
    ("team", "TEXT"),
    ("user", "TEXT"),
    ("error", "TEXT"),
    ("error_message", "TEXT"),
    ("cached_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("ttft_ms", "INTEGER"),
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
];

pub struct Writer {
    cfg: UsageConfig,
    batch: Batcher<(u64, Record)>,
}

/// The gateway's usage log; empty unless `[usage]` names a file.
#[derive(Default)]
pub struct UsageLog {
    writer: ArcSwapOption<Writer>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Opens (creating) the usage file, as `serve` does; `check` uses it to say early
/// that a path cannot be written.
pub fn open(path: &PathBuf) -> Result<Connection, UsageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| UsageError(format!("{}: {e}", dir.display())))?;
    }
    let conn =
        Connection::open(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS usage (
             ts INTEGER NOT NULL, route TEXT NOT NULL, key TEXT NOT NULL,
             provider TEXT NOT NULL, model TEXT NOT NULL, status INTEGER NOT NULL,
             prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
             cost_usd REAL NOT NULL, duration_ms INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);",
    )
    .map_err(db_err)?;
    let have: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('usage')")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(db_err)?;
    for (name, kind) in LATER_COLUMNS {
        if !have.iter().any(|h| h == name) {
            conn.execute_batch(&format!("ALTER TABLE usage ADD COLUMN {name} {kind}"))
                .map_err(db_err)?;
        }
    }
    Ok(conn)
}

fn write(conn: &mut Connection, batch: &[(u64, Record)]) -> Result<(), UsageError> {
    let tx = conn.transaction().map_err(db_err)?;
    {
        let mut put = tx
            .prepare_cached(
                "INSERT INTO usage (ts, route, key, provider, model, status, prompt_tokens,
                     completion_tokens, cost_usd, duration_ms, request_id, api, team, user, error,
                     error_message, cached_tokens, ttft_ms, attempts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )
            .map_err(db_err)?;
        for (ts, r) in batch {
            put.execute(params![
                *ts as i64,
                r.route,
                r.key,
                r.provider,
                r.model,
                r.status,
                r.prompt_tokens as i64,
                r.completion_tokens as i64,
                r.cost_usd,
                r.duration_ms as i64,
                r.request_id,
                r.api,
                r.team,
                r.user,
                r.error,
                r.error_message,
                r.cached_tokens as i64,
                r.ttft_ms.map(|t| t as i64),
                r.attempts,
            ])
            .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

/// The writer thread's work each tick: the batch into the file (kept for the next
/// tick if that fails), and hourly the records past the retention removed.
fn writer(mut conn: Connection, retention_days: u32) -> impl FnMut(&mut Vec<(u64, Record)>) {
    let mut pruned_at = 0u64;
    move |batch| {
        if !batch.is_empty() {
            match write(&mut conn, batch) {
                Ok(()) => batch.clear(),
                Err(e) => tracing::warn!(error = %e, "writing usage records failed; retrying"),
            }
        }
        let now = now_secs();
        if now >= pruned_at + 3600 {
            pruned_at = now;
            let cutoff = now.saturating_sub(u64::from(retention_days) * 86_400);
            if let Err(e) = conn.execute("DELETE FROM usage WHERE ts < ?1", params![cutoff as i64])
            {
                tracing::warn!(error = %e, "pruning usage records failed");
            }
        }
    }
}

impl Writer {
    /// Hands a record to the writer; never blocks on it and never wakes it.
    pub fn record(&self, r: Record) {
        self.batch.push((now_secs(), r));
    }

    /// Waits (up to 10 s) until everything handed over so far is written.
    pub fn flush(&self) {
        self.batch.flush();
    }

    /// Records dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.batch
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Per route and target, the `secs` before `now` against the `secs` before those
    /// (see `crate::usage_stats`).
    pub fn stats(
        &self,
        now: u64,
        secs: u64,
        grades: crate::usage_stats::Grades,
    ) -> Result<serde_json::Value, UsageError> {
        let conn = open(&self.cfg.sqlite_path)?;
        crate::usage_stats::stats(&conn, now, secs, grades).map_err(db_err)
    }

    /// The records of `q`, summed by its groups (see `crate::usage_query`).
    pub fn query(
        &self,
        q: &crate::usage_query::Query,
    ) -> Result<Vec<serde_json::Value>, UsageError> {
        let conn = open(&self.cfg.sqlite_path)?;
        crate::usage_query::run(&conn, q).map_err(db_err)
    }
}

impl UsageLog {
    /// Follows `[usage]`: starts a writer for a newly named file, stops one no longer
    /// named (it writes what it holds first); unchanged settings keep the writer.
    pub fn configure(&self, cfg: Option<&UsageConfig>) -> Result<(), UsageError> {
        crate::configured::follow(&self.writer, cfg, |want| {
            let conn = open(&want.sqlite_path)?;
            let batch = Batcher::start("usage-writer", writer(conn, want.retention_days))
                .map_err(|e| UsageError(e.to_string()))?;
            Ok(Writer {
                cfg: want.clone(),
                batch,
            })
        })
    }

    /// The writer, when usage is recorded.
    pub fn sink(&self) -> Option<Arc<Writer>> {
        self.writer.load_full()
    }
}

impl crate::configured::Configured for Writer {
    type Config = UsageConfig;
    fn config(&self) -> &UsageConfig {
        &self.cfg
    }
}
