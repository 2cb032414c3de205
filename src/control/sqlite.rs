//! Overrides and the audit log in this gateway's `[store]` SQLite file.

use std::path::Path;

use rusqlite::{Connection, params};

use super::{AuditEntry, Override};

pub fn open(path: &Path) -> Result<Connection, String> {
    crate::stores::sqlite_file::open(
        path,
        "CREATE TABLE IF NOT EXISTS overrides (
             route TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
             enabled INTEGER, weight INTEGER, updated INTEGER NOT NULL, actor TEXT NOT NULL,
             PRIMARY KEY (route, provider, model)
         );
         CREATE TABLE IF NOT EXISTS audit (
             id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL,
             action TEXT NOT NULL, subject TEXT NOT NULL, before TEXT, after TEXT
         );
         CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
         CREATE TABLE IF NOT EXISTS comparisons (
             id TEXT PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, request TEXT NOT NULL,
             results TEXT NOT NULL
         );",
    )
}

fn err(e: rusqlite::Error) -> String {
    format!("store: {e}")
}

pub fn overrides(c: &Connection) -> Result<Vec<Override>, String> {
    let mut st = c
        .prepare_cached(
            "SELECT route, provider, model, enabled, weight, updated, actor FROM overrides
             ORDER BY route, provider, model",
        )
        .map_err(err)?;
    let rows = st
        .query_map([], |r| {
            Ok(Override {
                route: r.get(0)?,
                provider: r.get(1)?,
                model: r.get(2)?,
                enabled: r.get(3)?,
                weight: r
                    .get::<_, Option<i64>>(4)?
                    .map(|w| w.clamp(0, u32::MAX as i64) as u32),
                updated: r.get::<_, i64>(5)?.max(0) as u64,
                actor: r.get(6)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

pub fn set(c: &Connection, o: &Override) -> Result<(), String> {
    if o.enabled.is_none() && o.weight.is_none() {
        c.execute(
            "DELETE FROM overrides WHERE route = ?1 AND provider = ?2 AND model = ?3",
            params![o.route, o.provider, o.model],
        )
        .map_err(err)?;
        return Ok(());
    }
    c.execute(
        "INSERT OR REPLACE INTO overrides (route, provider, model, enabled, weight, updated, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            o.route,
            o.provider,
            o.model,
            o.enabled,
            o.weight.map(i64::from),
            o.updated as i64,
            o.actor
        ],
    )
    .map_err(err)?;
    Ok(())
}

pub fn audit(c: &Connection, e: &AuditEntry) -> Result<(), String> {
    c.execute(
        "INSERT INTO audit (ts, actor, action, subject, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            e.at as i64,
            e.actor,
            e.action,
            e.subject,
            e.before.as_ref().map(|v| v.to_string()),
            e.after.as_ref().map(|v| v.to_string())
        ],
    )
    .map_err(err)?;
    Ok(())
}

pub fn audit_log(c: &Connection, limit: usize) -> Result<Vec<AuditEntry>, String> {
    let mut st = c
        .prepare_cached(
            "SELECT ts, actor, action, subject, before, after FROM audit ORDER BY id DESC LIMIT ?1",
        )
        .map_err(err)?;
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    let rows = st
        .query_map(params![limit as i64], |r| {
            Ok(AuditEntry {
                at: r.get::<_, i64>(0)?.max(0) as u64,
                actor: r.get(1)?,
                action: r.get(2)?,
                subject: r.get(3)?,
                before: json(r.get(4)?),
                after: json(r.get(5)?),
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

/// Comparisons kept past this many are pruned as new ones are kept.
const KEEP_COMPARISONS: i64 = 1000;

pub fn keep_comparison(c: &Connection, v: &serde_json::Value) -> Result<(), String> {
    c.execute(
        "INSERT OR REPLACE INTO comparisons (id, ts, actor, request, results) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            v["id"].as_str().unwrap_or_default(),
            v["at"].as_i64().unwrap_or(0),
            v["actor"].as_str().unwrap_or_default(),
            v["request"].to_string(),
            v["results"].to_string()
        ],
    )
    .map_err(err)?;
    c.execute(
        "DELETE FROM comparisons WHERE id NOT IN (SELECT id FROM comparisons ORDER BY ts DESC LIMIT ?1)",
        params![KEEP_COMPARISONS],
    )
    .map_err(err)?;
    Ok(())
}

fn comparison_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<serde_json::Value> {
    let json = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap_or_default();
    Ok(serde_json::json!({
        "id": r.get::<_, String>(0)?,
        "at": r.get::<_, i64>(1)?,
        "actor": r.get::<_, String>(2)?,
        "request": json(r.get(3)?),
        "results": json(r.get(4)?),
    }))
}

pub fn comparisons(c: &Connection, limit: usize) -> Result<Vec<serde_json::Value>, String> {
    let mut st = c
        .prepare_cached(
            "SELECT id, ts, actor, request, results FROM comparisons ORDER BY ts DESC, id LIMIT ?1",
        )
        .map_err(err)?;
    let rows = st
        .query_map(params![limit as i64], comparison_row)
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

pub fn comparison(c: &Connection, id: &str) -> Result<Option<serde_json::Value>, String> {
    let mut st = c
        .prepare_cached("SELECT id, ts, actor, request, results FROM comparisons WHERE id = ?1")
        .map_err(err)?;
    let mut rows = st.query_map(params![id], comparison_row).map_err(err)?;
    rows.next().transpose().map_err(err)
}
