//! The stored responses in a SQLite file of this gateway: blocking calls, run off the
//! request threads by the store.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{Stored, cutoff, now_secs};

/// Opens (creating) the store file.
pub fn open(path: &Path) -> Result<Connection, String> {
    crate::stores::sqlite_file::open(
        path,
        "CREATE TABLE IF NOT EXISTS responses (
             id TEXT PRIMARY KEY, key TEXT NOT NULL, created INTEGER NOT NULL,
             response TEXT NOT NULL, input TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
         CREATE INDEX IF NOT EXISTS responses_key ON responses (key, created);
         CREATE TABLE IF NOT EXISTS response_items (
             id TEXT NOT NULL, key TEXT NOT NULL, response_id TEXT NOT NULL,
             created INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (id, key)
         );
         CREATE INDEX IF NOT EXISTS response_items_created ON response_items (created);
         CREATE TABLE IF NOT EXISTS kept (
             id TEXT PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,
             provider TEXT NOT NULL, created INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS kept_key ON kept (key, kind);",
    )
}

fn err(e: rusqlite::Error) -> String {
    e.to_string()
}

pub fn save(
    conn: &Connection,
    key: &str,
    response: &Value,
    input: &[Value],
    prune_before: Option<u64>,
) -> Result<(), String> {
    let id = response["id"].as_str().unwrap_or_default();
    let now = now_secs() as i64;
    conn.execute(
        "INSERT OR REPLACE INTO responses (id, key, created, response, input) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, key, now, response.to_string(), Value::from(input.to_vec()).to_string()],
    )
    .map_err(err)?;
    for item in response["output"].as_array().into_iter().flatten() {
        if let Some(item_id) = item["id"].as_str() {
            conn.execute(
                "INSERT OR REPLACE INTO response_items (id, key, response_id, created, item) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![item_id, key, id, now, item.to_string()],
            )
            .map_err(err)?;
        }
    }
    if let Some(before) = prune_before {
        for table in ["responses", "response_items"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE created < ?1"),
                params![before as i64],
            )
            .map_err(err)?;
        }
        conn.execute(
            "DELETE FROM kept WHERE kind = 'response' AND created < ?1",
            params![before as i64],
        )
        .map_err(err)?;
    }
    Ok(())
}

/// Removes `key`'s oldest stored responses (and their items) past `quota` bytes,
/// keeping its newest whatever its size.
pub fn hold_to(conn: &Connection, key: &str, quota: i64) -> Result<(), String> {
    let doomed = "SELECT id FROM (
             SELECT id, SUM(length(response) + length(input))
                 OVER (ORDER BY created DESC, rowid DESC) AS running,
                 ROW_NUMBER() OVER (ORDER BY created DESC, rowid DESC) AS n
             FROM responses WHERE key = ?1
         ) WHERE running > ?2 AND n > 1";
    conn.execute(
        &format!("DELETE FROM response_items WHERE key = ?1 AND response_id IN ({doomed})"),
        params![key, quota],
    )
    .map_err(err)?;
    conn.execute(
        &format!("DELETE FROM responses WHERE key = ?1 AND id IN ({doomed})"),
        params![key, quota],
    )
    .map_err(err)?;
    Ok(())
}

pub fn load(
    conn: &Connection,
    key: &str,
    id: &str,
    retention_days: u32,
) -> Result<Option<Stored>, String> {
    let row = conn
        .query_row(
            "SELECT response, input FROM responses WHERE id = ?1 AND key = ?2 AND created >= ?3",
            params![id, key, cutoff(retention_days) as i64],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(err)?;
    Ok(row.map(|(response, input)| Stored::from_text(&response, &input)))
}

pub fn items(conn: &Connection, key: &str, ids: &[String]) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for id in ids {
        let item: Option<String> = conn
            .query_row(
                "SELECT item FROM response_items WHERE id = ?1 AND key = ?2",
                params![id, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if let Some(item) = item.and_then(|i| serde_json::from_str(&i).ok()) {
            out.push((id.clone(), item));
        }
    }
    Ok(out)
}

pub fn delete(conn: &Connection, key: &str, id: &str) -> Result<bool, String> {
    let n = conn
        .execute(
            "DELETE FROM responses WHERE id = ?1 AND key = ?2",
            params![id, key],
        )
        .map_err(err)?;
    conn.execute(
        "DELETE FROM response_items WHERE response_id = ?1 AND key = ?2",
        params![id, key],
    )
    .map_err(err)?;
    Ok(n > 0)
}

pub fn own(conn: &Connection, k: &super::Kept) -> Result<(), String> {
    conn.execute(
        "INSERT OR REPLACE INTO kept (id, kind, key, provider, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![k.id, k.kind, k.key, k.provider, now_secs() as i64],
    )
    .map(drop)
    .map_err(err)
}

pub fn owner(conn: &Connection, id: &str) -> Result<Option<super::Kept>, String> {
    conn.query_row(
        "SELECT id, kind, key, provider FROM kept WHERE id = ?1",
        params![id],
        |r| {
            Ok(super::Kept {
                id: r.get(0)?,
                kind: r.get(1)?,
                key: r.get(2)?,
                provider: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(err)
}

pub fn owned(conn: &Connection, key: &str, kind: &str) -> Result<Vec<(String, String)>, String> {
    let mut st = conn
        .prepare("SELECT id, provider FROM kept WHERE key = ?1 AND kind = ?2 ORDER BY created DESC, rowid DESC LIMIT 10000")
        .map_err(err)?;
    let rows = st
        .query_map(params![key, kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

pub fn disown(conn: &Connection, id: &str) -> Result<(), String> {
    conn.execute("DELETE FROM kept WHERE id = ?1", params![id])
        .map(drop)
        .map_err(err)
}
