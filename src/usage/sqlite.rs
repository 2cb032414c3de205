//! Usage records in this gateway's own SQLite file (`[usage] sqlite_path`): opened
//! (and brought up to the current columns), written a batch per transaction, pruned.

use std::path::PathBuf;

use rusqlite::{Connection, params};

use super::query::{self, Dialect};
use super::rollup::{self, Part};
use super::{Record, Retention, UsageError, db_err, now_secs};

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
    ("estimated", "INTEGER NOT NULL DEFAULT 0"),
    ("prompt", "TEXT"),
    ("requested", "TEXT"),
    ("overhead_ms", "REAL"),
    ("cache", "TEXT"),
    ("story", "TEXT"),
    ("error_group", "TEXT"),
    ("failed_provider", "TEXT"),
    ("captured", "INTEGER NOT NULL DEFAULT 0"),
    ("parent_id", "TEXT"),
];

/// The request log's tables and indexes (`V11`), without its column additions (made
/// above, as SQLite has no `ADD COLUMN IF NOT EXISTS`).
fn request_log_schema() -> String {
    let v11 = include_str!("../../migrations/postgres/V11__request_log.sql");
    let kept: Vec<&str> = v11
        .lines()
        .filter(|l| !l.starts_with("ALTER TABLE") && !l.starts_with("--"))
        .collect();
    super::db::sql(
        Dialect::Sqlite,
        &kept.join("\n").replace("switchboard_usage", "{usage}"),
    )
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
    conn.execute_batch(&request_log_schema()).map_err(db_err)?;
    let had: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'usage_hourly')",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    conn.execute_batch(rollup::SQLITE_TABLE).map_err(db_err)?;
    if !had {
        conn.execute_batch(rollup::SQLITE_BACKFILL)
            .map_err(db_err)?;
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
                     error_message, cached_tokens, ttft_ms, attempts, estimated, prompt, requested,
                     overhead_ms, cache, story, error_group, failed_provider, captured, parent_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                     ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
            )
            .map_err(db_err)?;
        let mut add = tx.prepare_cached(rollup::SQLITE_ADD).map_err(db_err)?;
        for (ts, r) in batch {
            add.execute(params![
                (*ts - *ts % 3600) as i64,
                r.route,
                r.key,
                r.team.as_deref().unwrap_or(""),
                r.user.as_deref().unwrap_or(""),
                r.provider,
                r.model,
                r.api,
                r.status,
                r.prompt_tokens as i64,
                r.cached_tokens as i64,
                r.completion_tokens as i64,
                r.cost_usd,
                r.duration_ms as i64,
                r.ttft_ms.unwrap_or(0) as i64,
                i64::from(r.ttft_ms.is_some()),
            ])
            .map_err(db_err)?;
            let d = super::extras::derive(r);
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
                r.estimated,
                r.prompt,
                r.requested,
                r.overhead_ms,
                d.cache,
                d.story,
                d.error_group,
                d.failed_provider,
                d.captured,
                r.parent_id,
            ])
            .map_err(db_err)?;
        }
        for (sql, params) in super::extras::statements(batch) {
            tx.prepare_cached(&super::db::sql(Dialect::Sqlite, sql))
                .and_then(|mut st| st.execute(super::db::sqlite_params(&params).as_slice()))
                .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

/// The writer thread's work each tick: the batch into the file (kept for the next
/// tick if that fails), and hourly the records past the retention removed.
pub fn writer(mut conn: Connection, keep: Retention) -> impl FnMut(&mut Vec<(u64, Record)>) {
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
            if let Err(e) = prune(&conn, now, keep) {
                tracing::warn!(error = %e, "pruning usage records failed");
            }
        }
    }
}

/// Removes what is past its retention: records, their hourly sums, captured bodies, trends.
fn prune(conn: &Connection, now: u64, keep: Retention) -> rusqlite::Result<()> {
    let cutoff = now.saturating_sub(u64::from(keep.days) * 86_400);
    conn.execute("DELETE FROM usage WHERE ts < ?1", params![cutoff as i64])?;
    let hour = cutoff.saturating_sub(3600) as i64;
    conn.execute("DELETE FROM usage_hourly WHERE hour < ?1", params![hour])?;
    for (sql, p) in super::extras::prunes(now, keep.days, keep.capture_days) {
        conn.execute(
            &super::db::sql(Dialect::Sqlite, sql),
            super::db::sqlite_params(&p).as_slice(),
        )?;
    }
    Ok(())
}

/// The rows of `q` from a SQLite usage file: its parts (whole hours from the hourly
/// sums, the rest from the records) merged by group.
pub fn run(
    conn: &Connection,
    q: &query::Query,
    now: u64,
) -> rusqlite::Result<Vec<serde_json::Value>> {
    let mut parts: Vec<Part> = Vec::new();
    for range in rollup::ranges(q, now) {
        let (sql, params) = rollup::part_sql(q, Dialect::Sqlite, range);
        let mut st = conn.prepare_cached(&sql)?;
        let refs = super::db::sqlite_params(&params);
        let n = q.group.len();
        let rows = st.query_map(refs.as_slice(), |r| {
            let groups = (0..n).map(|i| r.get(i)).collect::<rusqlite::Result<_>>()?;
            let mut v = [0.0; rollup::PART_COUNT];
            for (j, x) in v.iter_mut().enumerate() {
                *x = r.get::<_, Option<f64>>(n + j)?.unwrap_or(0.0);
            }
            Ok((groups, v))
        })?;
        for r in rows {
            parts.push(r?);
        }
    }
    Ok(rollup::finish(q, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(route: &str, cost: f64) -> Record {
        Record {
            route: route.into(),
            key: "k".into(),
            provider: "p".into(),
            model: "x".into(),
            status: 200,
            prompt_tokens: 10,
            completion_tokens: 5,
            cost_usd: cost,
            duration_ms: 100,
            ..Default::default()
        }
    }

    #[test]
    fn whole_hours_read_the_sums_and_equal_the_records() {
        let path = std::env::temp_dir().join(format!("sb-usage-rollup-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut conn = open(&path).unwrap();
        let h = 1_796_000_400; // an hour's start
        write(
            &mut conn,
            &[
                (h + 10, record("a", 0.5)),
                (h + 20, record("a", 0.25)),
                (h + 3_700, record("b", 1.0)),
                (h + 7_300, record("a", 2.0)),
            ],
        )
        .unwrap();
        let q = query::Query::parse(
            Some(&format!("from={h}&to={}&group=hour,route", h + 7_400)),
            0,
        )
        .unwrap();
        let rows = run(&conn, &q, h + 7_400).unwrap();
        let got: Vec<(String, String, i64, f64)> = rows
            .iter()
            .map(|r| {
                (
                    r["hour"].as_str().unwrap().into(),
                    r["route"].as_str().unwrap().into(),
                    r["requests"].as_i64().unwrap(),
                    r["cost_usd"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got.len(), 3, "{rows:?}");
        assert_eq!(
            (got[2].2, got[2].3),
            (2, 0.75),
            "the first hour, from the sums: {got:?}"
        );
        assert_eq!(
            (got[0].1.as_str(), got[0].2),
            ("a", 1),
            "the partial hour, from the records"
        );
        // A file made before the sums: they are filled from its records when it opens.
        conn.execute_batch("DROP TABLE usage_hourly").unwrap();
        drop(conn);
        let conn = open(&path).unwrap();
        assert_eq!(run(&conn, &q, h + 7_400).unwrap(), rows);
        let _ = std::fs::remove_file(&path);
    }
}
