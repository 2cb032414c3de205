//! Virtual keys in this gateway's SQLite file.

use std::path::Path;

use rusqlite::{Connection, params};

use super::VKey;

pub fn open(path: &Path) -> Result<Connection, String> {
    let c = crate::stores::sqlite_file::open(
        path,
        "CREATE TABLE IF NOT EXISTS virtual_keys (
             id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, team TEXT,
             models TEXT, tags TEXT NOT NULL, policies TEXT NOT NULL, metadata TEXT NOT NULL, expires_at INTEGER,
             created_at INTEGER NOT NULL, revoked_at INTEGER, updated INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS virtual_keys_updated ON virtual_keys (updated);",
    )?;
    // Columns added since the table was first made.
    for (col, ty) in [
        ("owner", "TEXT"),
        ("end_user", "TEXT"),
        ("user_from", "TEXT"),
        ("budget", "REAL"),
    ] {
        let has: bool = c
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('virtual_keys') WHERE name = ?1",
                [col],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| e.to_string())?;
        if !has {
            c.execute_batch(&format!("ALTER TABLE virtual_keys ADD COLUMN {col} {ty}"))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(c)
}

pub fn put(c: &Connection, k: &VKey) -> Result<(), String> {
    let models = k
        .models
        .as_ref()
        .map(|m| serde_json::to_string(m).unwrap_or_default());
    c.execute(
        "INSERT OR REPLACE INTO virtual_keys (id, name, hash, team, models, tags, policies, metadata, expires_at, created_at, revoked_at, updated, owner, end_user, user_from, budget)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            k.id,
            k.name,
            hex::encode(k.hash),
            k.team,
            models,
            serde_json::to_string(&k.tags).unwrap_or_default(),
            serde_json::to_string(&k.policies).unwrap_or_default(),
            k.metadata.to_string(),
            k.expires_at.map(|e| e as i64),
            k.created_at as i64,
            k.revoked_at.map(|e| e as i64),
            k.updated,
            k.owner,
            k.user,
            k.user_from_jwt.then_some("jwt"),
            k.budget,
        ],
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

pub fn changed(c: &Connection, since: i64) -> Result<Vec<VKey>, String> {
    let mut st = c
        .prepare(
            "SELECT id, name, hash, team, models, tags, policies, metadata, expires_at, created_at, revoked_at, updated, owner, end_user, user_from, budget
             FROM virtual_keys WHERE updated >= ?1",
        )
        .map_err(|e| e.to_string())?;
    let rows = st
        .query_map(params![since], |r| {
            Ok(super::postgres::Row {
                id: r.get(0)?,
                name: r.get(1)?,
                hash: r.get(2)?,
                team: r.get(3)?,
                models: r.get(4)?,
                tags: r.get(5)?,
                policies: r.get(6)?,
                metadata: r.get(7)?,
                expires_at: r.get(8)?,
                created_at: r.get(9)?,
                revoked_at: r.get(10)?,
                updated: r.get(11)?,
                owner: r.get(12)?,
                end_user: r.get(13)?,
                user_from: r.get(14)?,
                budget: r.get(15)?,
            })
        })
        .map_err(|e| e.to_string())?;
    let rows: Vec<_> = rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(super::postgres::Row::key)
        .collect())
}
