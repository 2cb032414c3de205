//! The people tables, in `[store]`'s SQLite file or PostgreSQL database (the schema is
//! `migrations/postgres/V9__people.sql`; SQLite makes the same tables), or in an
//! in-memory SQLite database without a store. One SQL text serves both databases; a
//! statement's values are `Val`s, bound to either.

use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::config::StoreDb;
use crate::stores::pg::{Pg, error};

pub const SCHEMA: &str = include_str!("../../../migrations/postgres/V9__people.sql");

/// A value bound to a statement or read from a row: an integer or a text, either
/// possibly null (PostgreSQL types a null by its column).
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    I(Option<i64>),
    T(Option<String>),
}

impl Val {
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::I(i) => *i,
            Val::T(_) => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Val::T(t) => t.as_deref(),
            Val::I(_) => None,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::T(Some(s.to_string()))
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::T(Some(s))
    }
}

impl From<Option<String>> for Val {
    fn from(s: Option<String>) -> Val {
        Val::T(s)
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::I(Some(i))
    }
}

impl From<Option<i64>> for Val {
    fn from(i: Option<i64>) -> Val {
        Val::I(i)
    }
}

/// A column's type, to read it.
#[derive(Clone, Copy)]
pub enum Ty {
    I,
    T,
}

pub enum Db {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Pg),
}

fn sq(e: rusqlite::Error) -> String {
    format!("store: {e}")
}

fn to_sqlite(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Val::I(Some(i)) => Value::Integer(*i),
        Val::T(Some(t)) => Value::Text(t.clone()),
        _ => Value::Null,
    }
}

impl Db {
    pub fn open(db: Option<&StoreDb>) -> Result<Db, String> {
        Ok(match db {
            Some(StoreDb::Postgres(url)) => Db::Postgres(Pg::new(url.clone())),
            Some(StoreDb::Sqlite(path)) => Db::Sqlite(Arc::new(Mutex::new(
                crate::stores::sqlite_file::open(path, SCHEMA)?,
            ))),
            None => {
                let c = Connection::open_in_memory().map_err(sq)?;
                c.execute_batch(SCHEMA).map_err(sq)?;
                Db::Sqlite(Arc::new(Mutex::new(c)))
            }
        })
    }

    /// Runs `sql` with `params`; the rows it changed.
    pub async fn execute(&self, sql: &'static str, params: Vec<Val>) -> Result<u64, String> {
        match self {
            Db::Sqlite(c) => {
                let c = c.clone();
                tokio::task::spawn_blocking(move || {
                    let vals: Vec<_> = params.iter().map(to_sqlite).collect();
                    c.lock()
                        .execute(sql, rusqlite::params_from_iter(vals))
                        .map(|n| n as u64)
                        .map_err(sq)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            }
            Db::Postgres(pg) => {
                let c = pg.client().await?;
                let refs = pg_params(&params);
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    refs.iter().map(|r| r.as_ref() as _).collect();
                c.execute(sql, &refs).await.map_err(error)
            }
        }
    }

    /// The rows `sql` reads, each column read as `types` says.
    pub async fn query(
        &self,
        sql: &'static str,
        params: Vec<Val>,
        types: &'static [Ty],
    ) -> Result<Vec<Vec<Val>>, String> {
        match self {
            Db::Sqlite(c) => {
                let c = c.clone();
                tokio::task::spawn_blocking(move || {
                    let c = c.lock();
                    let mut st = c.prepare_cached(sql).map_err(sq)?;
                    let vals: Vec<_> = params.iter().map(to_sqlite).collect();
                    let rows = st
                        .query_map(rusqlite::params_from_iter(vals), |r| {
                            types
                                .iter()
                                .enumerate()
                                .map(|(i, t)| match t {
                                    Ty::I => r.get(i).map(Val::I),
                                    Ty::T => r.get(i).map(Val::T),
                                })
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .map_err(sq)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(sq)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            }
            Db::Postgres(pg) => {
                let c = pg.client().await?;
                let refs = pg_params(&params);
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    refs.iter().map(|r| r.as_ref() as _).collect();
                let rows = c.query(sql, &refs).await.map_err(error)?;
                rows.iter()
                    .map(|r| {
                        types
                            .iter()
                            .enumerate()
                            .map(|(i, t)| match t {
                                Ty::I => r.try_get(i).map(Val::I),
                                Ty::T => r.try_get(i).map(Val::T),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(error)
                    })
                    .collect()
            }
        }
    }
}

type PgParam = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

fn pg_params(params: &[Val]) -> Vec<PgParam> {
    params
        .iter()
        .map(|v| -> PgParam {
            match v {
                Val::I(i) => Box::new(*i),
                Val::T(t) => Box::new(t.clone()),
            }
        })
        .collect()
}
