//! Usage records in this gateway's own SQLite file (`[usage] sqlite_path`): opened
//! (and brought up to the current columns), written a batch per transaction, pruned.

use std::path::PathBuf;

use rusqlite::{Connection, params};

use super::{Record, UsageError, db_err, now_secs};

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

pub fn write(conn: &mut Connection, batch: &[(u64, Record)]) -> Result<(), UsageError> {
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
pub fn writer(mut conn: Connection, retention_days: u32) -> impl FnMut(&mut Vec<(u64, Record)>) {
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
