//! One way to run a usage statement on either store: a statement is written once, with
//! `{usage}`-style table names and `?N` placeholders, and made SQLite's or PostgreSQL's
//! here; its rows come back as `Cell`s whatever the column types, and its parameters
//! bind as either library wants them.

use tokio_postgres::types::{ToSql, Type};

use super::query::{Dialect, Param};
use super::{UsageError, db_err};

/// A value of a row read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            Cell::Real(f) => Some(*f as i64),
            _ => None,
        }
    }

    pub fn real(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Real(f) => Some(*f),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(i) => (*i).into(),
            Cell::Real(f) => (*f).into(),
            Cell::Text(s) => s.clone().into(),
        }
    }
}

/// The tables a statement may name, and what each store calls them.
const TABLES: &[(&str, &str, &str)] = &[
    ("{usage}", "usage", "switchboard_usage"),
    ("{payloads}", "usage_payloads", "switchboard_usage_payloads"),
    ("{trend}", "usage_trend", "switchboard_usage_trend"),
    (
        "{report_runs}",
        "usage_report_runs",
        "switchboard_usage_report_runs",
    ),
    (
        "{trend_errors}",
        "usage_trend_errors",
        "switchboard_usage_trend_errors",
    ),
];

/// `sql` in `dialect`: its tables named, its `?N` placeholders `$N` for PostgreSQL.
pub fn sql(dialect: Dialect, sql: &str) -> String {
    let mut s = sql.to_string();
    for (name, lite, pg) in TABLES {
        s = s.replace(name, if dialect == Dialect::Sqlite { lite } else { pg });
    }
    if dialect == Dialect::Postgres {
        s = s.replace('?', "$");
    }
    s
}

/// The parameters as rusqlite binds them.
pub fn sqlite_params(params: &[Param]) -> Vec<&dyn rusqlite::ToSql> {
    params
        .iter()
        .map(|p| -> &dyn rusqlite::ToSql {
            match p {
                Param::Int(i) => i,
                Param::Real(f) => f,
                Param::Text(t) => t,
                Param::Bool(b) => b,
                Param::Null => &rusqlite::types::Null,
            }
        })
        .collect()
}

/// The parameters as tokio-postgres binds them.
pub fn pg_params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| -> &(dyn ToSql + Sync) {
            match p {
                Param::Int(i) => i,
                Param::Real(f) => f,
                Param::Text(t) => t,
                Param::Bool(b) => b,
                Param::Null => &NULL_TEXT,
            }
        })
        .collect()
}

/// A NULL (bound where text goes: the only nullable parameters are texts).
static NULL_TEXT: Option<String> = None;

/// The rows of a statement on a SQLite connection.
pub fn sqlite_rows(
    conn: &rusqlite::Connection,
    template: &str,
    params: &[Param],
) -> Result<Vec<Vec<Cell>>, UsageError> {
    use rusqlite::types::ValueRef;
    let mut st = conn
        .prepare_cached(&sql(Dialect::Sqlite, template))
        .map_err(db_err)?;
    let n = st.column_count();
    let rows = st
        .query_map(sqlite_params(params).as_slice(), |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(i) => Cell::Int(i),
                        ValueRef::Real(f) => Cell::Real(f),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            Cell::Text(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect()
        })
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

/// The rows of a statement on a PostgreSQL connection.
pub async fn pg_rows(
    c: &tokio_postgres::Client,
    template: &str,
    params: &[Param],
) -> Result<Vec<Vec<Cell>>, UsageError> {
    let rows = c
        .query(&sql(Dialect::Postgres, template), &pg_params(params))
        .await
        .map_err(|e| UsageError(crate::stores::pg::error(e)))?;
    rows.iter().map(pg_row).collect()
}

fn pg_row(r: &tokio_postgres::Row) -> Result<Vec<Cell>, UsageError> {
    let err = |e: tokio_postgres::Error| UsageError(crate::stores::pg::error(e));
    (0..r.len())
        .map(|i| {
            let t = r.columns()[i].type_();
            Ok(if *t == Type::INT8 {
                r.try_get::<_, Option<i64>>(i).map_err(err)?.map(Cell::Int)
            } else if *t == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)
                    .map_err(err)?
                    .map(|v| Cell::Int(v.into()))
            } else if *t == Type::FLOAT8 {
                r.try_get::<_, Option<f64>>(i).map_err(err)?.map(Cell::Real)
            } else if *t == Type::BOOL {
                r.try_get::<_, Option<bool>>(i)
                    .map_err(err)?
                    .map(|b| Cell::Int(b.into()))
            } else {
                r.try_get::<_, Option<String>>(i)
                    .map_err(err)?
                    .map(Cell::Text)
            }
            .unwrap_or(Cell::Null))
        })
        .collect()
}

/// Runs a statement on a SQLite connection: the rows it changed.
pub fn sqlite_exec(
    conn: &rusqlite::Connection,
    template: &str,
    params: &[Param],
) -> Result<u64, UsageError> {
    conn.execute(
        &sql(Dialect::Sqlite, template),
        sqlite_params(params).as_slice(),
    )
    .map(|n| n as u64)
    .map_err(db_err)
}

/// Runs a statement on a PostgreSQL connection: the rows it changed.
pub async fn pg_exec(
    c: &tokio_postgres::Client,
    template: &str,
    params: &[Param],
) -> Result<u64, UsageError> {
    c.execute(&sql(Dialect::Postgres, template), &pg_params(params))
        .await
        .map_err(|e| UsageError(crate::stores::pg::error(e)))
}
