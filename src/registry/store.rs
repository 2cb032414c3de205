//! The registry's tables, in `[store]`'s SQLite file or PostgreSQL database (the
//! schema is `migrations/postgres/V8__registry.sql`; SQLite makes the same tables), or
//! in an in-memory SQLite database when there is no store. One SQL text serves both
//! databases (`$N` parameters, named in ascending order of first appearance, so that
//! SQLite's numbering of them is PostgreSQL's).

use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;

use super::{Credential, Kind, Version};
use crate::stores::pg::{Pg, error};

const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS switchboard_registry_objects (
    kind TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    updated INTEGER NOT NULL, actor TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS switchboard_registry_versions (
    kind TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL,
    actor TEXT NOT NULL, origin TEXT NOT NULL, body TEXT, diff TEXT NOT NULL,
    PRIMARY KEY (kind, name, n));
CREATE TABLE IF NOT EXISTS switchboard_registry_credentials (
    provider TEXT PRIMARY KEY, sealed BLOB NOT NULL, key_id TEXT NOT NULL,
    last4 TEXT NOT NULL, set_at INTEGER NOT NULL, verified_at INTEGER,
    rev INTEGER NOT NULL DEFAULT 0);";

/// Changes whenever anything in the tables does (read every second by each replica).
const FINGERPRINT: &str = "SELECT
  (SELECT COUNT(*) || ':' || COALESCE(SUM(n), 0) || ':' || COALESCE(MAX(at), 0)
     FROM switchboard_registry_versions) || '/' ||
  (SELECT COUNT(*) || ':' || COALESCE(SUM(version), 0) FROM switchboard_registry_objects) || '/' ||
  (SELECT COUNT(*) || ':' || COALESCE(SUM(rev), 0) || ':' || COALESCE(SUM(verified_at), 0)
     FROM switchboard_registry_credentials)";
const OBJECTS: &str = "SELECT kind, name FROM switchboard_registry_objects";
/// Every kept version (bodies included: pins are built from them).
const VERSIONS: &str = "SELECT kind, name, n, at, actor, origin, body, diff
  FROM switchboard_registry_versions ORDER BY kind, name, n";
const CREDENTIALS: &str = "SELECT provider, sealed, key_id, last4, set_at, verified_at
  FROM switchboard_registry_credentials ORDER BY provider";
const LATEST: &str = "SELECT COALESCE(MAX(n), 0) FROM switchboard_registry_versions
  WHERE kind = $1 AND name = $2";
const ADD_VERSION: &str = "INSERT INTO switchboard_registry_versions
  (kind, name, n, at, actor, origin, body, diff) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const UPSERT: &str = "INSERT INTO switchboard_registry_objects (kind, name, version, body, updated, actor)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, name) DO UPDATE SET
  version = excluded.version, body = excluded.body, updated = excluded.updated, actor = excluded.actor";
const REMOVE: &str = "DELETE FROM switchboard_registry_objects WHERE kind = $1 AND name = $2";
const PRUNE: &str =
    "DELETE FROM switchboard_registry_versions WHERE kind = $1 AND name = $2 AND n <= $3";
const SET_CREDENTIAL: &str = "INSERT INTO switchboard_registry_credentials
  (provider, sealed, key_id, last4, set_at, verified_at) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (provider) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id,
  last4 = excluded.last4, set_at = excluded.set_at, verified_at = excluded.verified_at,
  rev = switchboard_registry_credentials.rev + 1";
// SQLite numbers `$N` parameters in the order they first appear: each statement names
// them in ascending order so both databases bind them alike.
/// Only a credential still sealed as it was read: one set meanwhile is left alone.
const RESEAL: &str = "UPDATE switchboard_registry_credentials SET sealed = $1, key_id = $2,
  rev = rev + 1 WHERE provider = $3 AND sealed = $4";
const VERIFIED: &str =
    "UPDATE switchboard_registry_credentials SET verified_at = $1 WHERE provider = $2";
const DROP_CREDENTIAL: &str = "DELETE FROM switchboard_registry_credentials WHERE provider = $1";

pub enum Db {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Pg),
}

/// Why a change was not written.
pub enum Refused {
    /// Another change to the object came first.
    Conflict,
    Store(String),
}

impl From<String> for Refused {
    fn from(e: String) -> Refused {
        Refused::Store(e)
    }
}

/// What the tables hold.
pub struct Tables {
    pub fingerprint: String,
    /// Objects the registry owns (their bodies are their newest version's).
    pub objects: Vec<(Kind, String)>,
    pub versions: Vec<Version>,
    pub credentials: Vec<Credential>,
}

/// One change: a version of an object, and what happens to the registry's own copy.
pub struct Commit {
    pub version: Version,
    /// The version the change was made against: another one made meanwhile refuses it.
    pub expect: u32,
    /// `Some(true)`: the registry owns the object (upsert); `Some(false)`: it no
    /// longer does (delete); `None`: a version only (the file's object changed).
    pub own: Option<bool>,
    /// Versions at or below this are pruned.
    pub prune_to: u32,
}

fn sq(e: rusqlite::Error) -> String {
    format!("store: {e}")
}

/// A version row as read: kind, name, n, at, actor, origin, body, diff.
type VersionRow = (
    String,
    String,
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
);

fn version_of(row: VersionRow) -> Option<Version> {
    let (kind, name, n, at, actor, origin, body, diff) = row;
    Some(Version {
        kind: Kind::parse(&kind)?,
        name,
        version: n.clamp(0, u32::MAX as i64) as u32,
        at: at.max(0) as u64,
        actor,
        origin,
        body: body.and_then(|b| serde_json::from_str(&b).ok()),
        diff: serde_json::from_str(&diff).unwrap_or_default(),
    })
}

impl Db {
    pub fn sqlite(path: Option<&std::path::Path>) -> Result<Db, String> {
        let conn = match path {
            Some(p) => crate::stores::sqlite_file::open(p, SQLITE_SCHEMA)?,
            None => {
                let c = Connection::open_in_memory().map_err(sq)?;
                c.execute_batch(SQLITE_SCHEMA).map_err(sq)?;
                c
            }
        };
        Ok(Db::Sqlite(Arc::new(Mutex::new(conn))))
    }

    async fn sqlite_do<R: Send + 'static>(
        c: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> Result<R, String> + Send + 'static,
    ) -> Result<R, String> {
        let c = c.clone();
        tokio::task::spawn_blocking(move || f(&mut c.lock()))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    }

    pub async fn fingerprint(&self) -> Result<String, String> {
        match self {
            Db::Sqlite(c) => {
                Self::sqlite_do(c, |c| {
                    c.query_row(FINGERPRINT, [], |r| r.get(0)).map_err(sq)
                })
                .await
            }
            Db::Postgres(pg) => {
                let c = pg.client().await?;
                let row = c.query_one(FINGERPRINT, &[]).await.map_err(error)?;
                row.try_get(0).map_err(error)
            }
        }
    }

    pub async fn load(&self) -> Result<Tables, String> {
        match self {
            Db::Sqlite(c) => Self::sqlite_do(c, sqlite_load).await,
            Db::Postgres(pg) => pg_load(pg).await,
        }
    }

    /// Writes `c` atomically; `Conflict` when another change came first.
    pub async fn commit(&self, c: Commit) -> Result<(), Refused> {
        match self {
            Db::Sqlite(conn) => {
                Self::sqlite_do(conn, move |conn| Ok(sqlite_commit(conn, &c))).await?
            }
            Db::Postgres(pg) => pg_commit(pg, &c).await,
        }
    }

    /// Sets (`Some`) or removes a provider's credential.
    pub async fn credential(&self, provider: &str, c: Option<Credential>) -> Result<(), String> {
        let provider = provider.to_string();
        match self {
            Db::Sqlite(conn) => {
                Self::sqlite_do(conn, move |conn| {
                    match &c {
                        Some(c) => conn.execute(
                            SET_CREDENTIAL,
                            rusqlite::params![
                                provider,
                                c.sealed,
                                c.key_id,
                                c.last4,
                                c.set_at as i64,
                                c.verified_at.map(|v| v as i64)
                            ],
                        ),
                        None => conn.execute(DROP_CREDENTIAL, [&provider]),
                    }
                    .map(|_| ())
                    .map_err(sq)
                })
                .await
            }
            Db::Postgres(pg) => {
                let cl = pg.client().await?;
                match &c {
                    Some(c) => {
                        cl.execute(
                            SET_CREDENTIAL,
                            &[
                                &provider,
                                &c.sealed,
                                &c.key_id,
                                &c.last4,
                                &(c.set_at as i64),
                                &c.verified_at.map(|v| v as i64),
                            ],
                        )
                        .await
                    }
                    None => cl.execute(DROP_CREDENTIAL, &[&provider]).await,
                }
                .map(|_| ())
                .map_err(error)
            }
        }
    }

    /// A credential re-sealed under another key (rotation: the new sealed bytes and key
    /// id, written only over the `was` bytes), or marked verified.
    pub async fn touch(
        &self,
        provider: &str,
        reseal: Option<(Vec<u8>, String, Vec<u8>)>,
        verified: Option<u64>,
    ) -> Result<(), String> {
        let provider = provider.to_string();
        match self {
            Db::Sqlite(conn) => {
                Self::sqlite_do(conn, move |conn| {
                    if let Some((sealed, id, was)) = &reseal {
                        conn.execute(RESEAL, rusqlite::params![sealed, id, provider, was])
                            .map_err(sq)?;
                    }
                    if let Some(at) = verified {
                        conn.execute(VERIFIED, rusqlite::params![at as i64, provider])
                            .map_err(sq)?;
                    }
                    Ok(())
                })
                .await
            }
            Db::Postgres(pg) => {
                let cl = pg.client().await?;
                if let Some((sealed, id, was)) = &reseal {
                    cl.execute(RESEAL, &[sealed, id, &provider, was])
                        .await
                        .map_err(error)?;
                }
                if let Some(at) = verified {
                    cl.execute(VERIFIED, &[&(at as i64), &provider])
                        .await
                        .map_err(error)?;
                }
                Ok(())
            }
        }
    }
}

fn sqlite_load(c: &mut Connection) -> Result<Tables, String> {
    let fingerprint: String = c.query_row(FINGERPRINT, [], |r| r.get(0)).map_err(sq)?;
    let mut st = c.prepare_cached(OBJECTS).map_err(sq)?;
    let objects = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(sq)?
        .filter_map(|r| r.ok())
        .filter_map(|(k, n)| Some((Kind::parse(&k)?, n)))
        .collect();
    let mut st = c.prepare_cached(VERSIONS).map_err(sq)?;
    let versions = st
        .query_map([], |r| {
            Ok(version_of((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            )))
        })
        .map_err(sq)?
        .filter_map(|r| r.ok().flatten())
        .collect();
    let mut st = c.prepare_cached(CREDENTIALS).map_err(sq)?;
    let credentials = st
        .query_map([], |r| {
            Ok(Credential {
                provider: r.get(0)?,
                sealed: r.get(1)?,
                key_id: r.get(2)?,
                last4: r.get(3)?,
                set_at: r.get::<_, i64>(4)?.max(0) as u64,
                verified_at: r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
            })
        })
        .map_err(sq)?
        .collect::<Result<_, _>>()
        .map_err(sq)?;
    Ok(Tables {
        fingerprint,
        objects,
        versions,
        credentials,
    })
}

fn sqlite_commit(conn: &mut Connection, c: &Commit) -> Result<(), Refused> {
    let v = &c.version;
    let tx = conn.transaction().map_err(sq)?;
    let latest: i64 = tx
        .query_row(LATEST, rusqlite::params![v.kind.as_str(), v.name], |r| {
            r.get(0)
        })
        .map_err(sq)?;
    if latest != i64::from(c.expect) {
        return Err(Refused::Conflict);
    }
    let body = v.body.as_ref().map(|b| b.to_string());
    tx.execute(
        ADD_VERSION,
        rusqlite::params![
            v.kind.as_str(),
            v.name,
            v.version,
            v.at as i64,
            v.actor,
            v.origin,
            body,
            serde_json::to_string(&v.diff).unwrap_or_default()
        ],
    )
    .map_err(sq)?;
    match (c.own, &body) {
        (Some(true), Some(b)) => tx.execute(
            UPSERT,
            rusqlite::params![v.kind.as_str(), v.name, v.version, b, v.at as i64, v.actor],
        ),
        (Some(_), _) => tx.execute(REMOVE, rusqlite::params![v.kind.as_str(), v.name]),
        (None, _) => Ok(0),
    }
    .map_err(sq)?;
    tx.execute(
        PRUNE,
        rusqlite::params![v.kind.as_str(), v.name, c.prune_to],
    )
    .map_err(sq)?;
    tx.commit().map_err(|e| Refused::Store(sq(e)))
}

async fn pg_load(pg: &Pg) -> Result<Tables, String> {
    let c = pg.client().await?;
    let fingerprint: String = c
        .query_one(FINGERPRINT, &[])
        .await
        .map_err(error)?
        .try_get(0)
        .map_err(error)?;
    let objects = c
        .query(OBJECTS, &[])
        .await
        .map_err(error)?
        .iter()
        .filter_map(|r| {
            let k: String = r.try_get(0).ok()?;
            Some((Kind::parse(&k)?, r.try_get(1).ok()?))
        })
        .collect();
    let versions = c
        .query(VERSIONS, &[])
        .await
        .map_err(error)?
        .iter()
        .filter_map(|r| {
            version_of((
                r.try_get(0).ok()?,
                r.try_get(1).ok()?,
                r.try_get(2).ok()?,
                r.try_get(3).ok()?,
                r.try_get(4).ok()?,
                r.try_get(5).ok()?,
                r.try_get(6).ok()?,
                r.try_get(7).ok()?,
            ))
        })
        .collect();
    let credentials = c
        .query(CREDENTIALS, &[])
        .await
        .map_err(error)?
        .iter()
        .map(|r| {
            Ok(Credential {
                provider: r.try_get(0).map_err(error)?,
                sealed: r.try_get(1).map_err(error)?,
                key_id: r.try_get(2).map_err(error)?,
                last4: r.try_get(3).map_err(error)?,
                set_at: r.try_get::<_, i64>(4).map_err(error)?.max(0) as u64,
                verified_at: r
                    .try_get::<_, Option<i64>>(5)
                    .map_err(error)?
                    .map(|v| v.max(0) as u64),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Tables {
        fingerprint,
        objects,
        versions,
        credentials,
    })
}

/// One statement, so it is atomic without a transaction on the shared client: the
/// version is inserted only when the newest is still `expect` (else nothing is written
/// and no row comes back), the object follows it.
async fn pg_commit(pg: &Pg, c: &Commit) -> Result<(), Refused> {
    let cl = pg.client().await?;
    let v = &c.version;
    let body = v.body.as_ref().map(|b| b.to_string());
    let diff = serde_json::to_string(&v.diff).unwrap_or_default();
    let (own, drop) = match c.own {
        Some(true) if body.is_some() => (true, false),
        Some(_) => (false, true),
        None => (false, false),
    };
    let rows = cl
        .query(
            "WITH v AS (
               INSERT INTO switchboard_registry_versions (kind, name, n, at, actor, origin, body, diff)
               SELECT $1, $2, $3, $4, $5, $6, $7, $8
               WHERE (SELECT COALESCE(MAX(n), 0) FROM switchboard_registry_versions
                      WHERE kind = $1 AND name = $2) = $9
               RETURNING n),
             o AS (
               INSERT INTO switchboard_registry_objects (kind, name, version, body, updated, actor)
               SELECT $1, $2, n, $7, $4, $5 FROM v WHERE $10
               ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version,
                 body = excluded.body, updated = excluded.updated, actor = excluded.actor
               RETURNING 1),
             d AS (
               DELETE FROM switchboard_registry_objects
               WHERE kind = $1 AND name = $2 AND $11 AND EXISTS (SELECT 1 FROM v)
               RETURNING 1)
             SELECT n FROM v",
            &[
                &v.kind.as_str(),
                &v.name,
                &i64::from(v.version),
                &(v.at as i64),
                &v.actor,
                &v.origin,
                &body,
                &diff,
                &i64::from(c.expect),
                &own,
                &drop,
            ],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                Refused::Conflict
            } else {
                Refused::Store(error(e))
            }
        })?;
    if rows.is_empty() {
        return Err(Refused::Conflict);
    }
    cl.execute(PRUNE, &[&v.kind.as_str(), &v.name, &i64::from(c.prune_to)])
        .await
        .map_err(error)?;
    Ok(())
}
