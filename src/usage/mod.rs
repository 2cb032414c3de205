//! Usage records: one row per routed request (when, request id, API, route, key,
//! team, user, provider and model that answered, status, error, tokens, cost, time to
//! first token, duration, attempts), written by a background thread in batches to this
//! gateway's SQLite file (`sqlite.rs`) or to the PostgreSQL database every replica
//! shares (`postgres.rs`), kept for `retention_days`, and read by `GET /admin/usage`
//! (`query.rs`) and `GET /admin/stats` (`stats.rs`). The request path only appends a
//! record to a bounded buffer (no wake-up of another thread per request: the writer
//! takes the buffer on a tick); when the writer falls behind, records are dropped and
//! counted, never waited for.

pub mod db;
pub mod errors;
mod extras;
pub mod postgres;
pub mod query;
pub mod requests;
pub mod rollup;
pub mod sqlite;
pub mod stats;
pub mod story;
pub mod trends;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::batch::Batcher;
use crate::config::{StoreDb, UsageConfig};
use crate::stores::pg::Pg;

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
    /// The usage is the gateway's estimate: the client left before the provider said
    /// it (the prompt and what was streamed, counted as tokens).
    pub estimated: bool,
    /// The prompt template (`name@version`) the request was made from.
    pub prompt: Option<String>,
    /// The model the client named, when another served it (a redirect).
    pub requested: Option<String>,
    /// The gateway's own time on the request: to the answer's head, less the time spent
    /// waiting on providers.
    pub overhead_ms: Option<f64>,
    /// Its story, and its captured bodies where capture is on.
    pub story: Option<Box<story::Story>>,
    /// The request a guardrail's model call made this one for.
    pub parent_id: Option<String>,
}

/// How long records (and their trends) and captured bodies are kept, in days.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: u32,
    pub capture_days: u32,
}

impl Retention {
    fn of(cfg: &UsageConfig) -> Retention {
        Retention {
            days: cfg.retention_days,
            capture_days: cfg.capture_retention_days,
        }
    }
}

pub struct Writer {
    cfg: UsageConfig,
    batch: Batcher<(u64, Record)>,
    /// The reading side's PostgreSQL connection (the writer thread has its own).
    reader: Option<Pg>,
}

/// The gateway's usage log; empty unless `[usage]` is configured.
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

/// Opens (creating) a usage file, as `serve` does; `check` uses it to say early that
/// a path cannot be written.
pub fn open(path: &std::path::PathBuf) -> Result<rusqlite::Connection, UsageError> {
    sqlite::open(path)
}

/// Runs `f` on a blocking thread.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, UsageError> + Send + 'static,
) -> Result<R, UsageError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(UsageError(e.to_string())))
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

    /// Everything handed over so far written, so that a read sees it.
    async fn flushed(self: &Arc<Self>) -> Result<(), UsageError> {
        let me = self.clone();
        blocking(move || {
            me.flush();
            Ok(())
        })
        .await
    }

    /// The rows of each statement (see `db`), run in order on the reading side once
    /// everything handed over so far is written.
    pub async fn rows(
        self: &Arc<Self>,
        statements: Vec<(String, Vec<query::Param>)>,
    ) -> Result<Vec<Vec<Vec<db::Cell>>>, UsageError> {
        self.flushed().await?;
        match (&self.cfg.db, &self.reader) {
            (_, Some(pg)) => {
                let c = pg.client().await.map_err(UsageError)?;
                let mut out = Vec::with_capacity(statements.len());
                for (sql, params) in &statements {
                    out.push(db::pg_rows(&c, sql, params).await?);
                }
                Ok(out)
            }
            (StoreDb::Sqlite(path), None) => {
                let path = path.clone();
                blocking(move || {
                    let conn = open(&path)?;
                    let run = |(sql, params): &(String, Vec<query::Param>)| {
                        db::sqlite_rows(&conn, sql, params)
                    };
                    statements.iter().map(run).collect()
                })
                .await
            }
            (StoreDb::Postgres(_), None) => Err(UsageError("no reader".into())),
        }
    }

    /// Claims `period` of report `name` for this gateway: true for the first replica to
    /// ask, false for every later one (so a period's report is sent once).
    pub async fn claim(self: &Arc<Self>, name: &str, period: u64) -> Result<bool, UsageError> {
        const CLAIM: &str = "INSERT INTO {report_runs} (name, period, at) VALUES (?1, ?2, ?3)
            ON CONFLICT (name, period) DO NOTHING";
        let params = vec![
            query::Param::Text(name.to_string()),
            query::Param::Int(period as i64),
            query::Param::Int(now_secs() as i64),
        ];
        let changed = match (&self.cfg.db, &self.reader) {
            (_, Some(pg)) => {
                let c = pg.client().await.map_err(UsageError)?;
                db::pg_exec(&c, CLAIM, &params).await?
            }
            (StoreDb::Sqlite(path), None) => {
                let path = path.clone();
                blocking(move || db::sqlite_exec(&open(&path)?, CLAIM, &params)).await?
            }
            (StoreDb::Postgres(_), None) => return Err(UsageError("no reader".into())),
        };
        Ok(changed == 1)
    }

    /// Per route and target, the `secs` before `now` against the `secs` before those
    /// (see `stats`).
    pub async fn stats(
        self: &Arc<Self>,
        now: u64,
        secs: u64,
        grades: stats::Grades,
    ) -> Result<serde_json::Value, UsageError> {
        self.flushed().await?;
        let [this, before] = stats::periods(now, secs);
        let (a, b) = match (&self.cfg.db, &self.reader) {
            (_, Some(pg)) => (
                postgres::period(pg, this).await?,
                postgres::period(pg, before).await?,
            ),
            (StoreDb::Sqlite(path), None) => {
                let path = path.clone();
                blocking(move || {
                    let conn = open(&path)?;
                    let a = stats::period_sqlite(&conn, this.0, this.1).map_err(db_err)?;
                    let b = stats::period_sqlite(&conn, before.0, before.1).map_err(db_err)?;
                    Ok((a, b))
                })
                .await?
            }
            (StoreDb::Postgres(_), None) => return Err(UsageError("no reader".into())),
        };
        Ok(stats::stats(now, secs, a, b, grades))
    }

    /// The records of `q`, summed by its groups (see `query`).
    pub async fn query(
        self: &Arc<Self>,
        q: &query::Query,
    ) -> Result<Vec<serde_json::Value>, UsageError> {
        self.flushed().await?;
        match (&self.cfg.db, &self.reader) {
            (_, Some(pg)) => postgres::query(pg, q).await,
            (StoreDb::Sqlite(path), None) => {
                let (path, q) = (path.clone(), q.clone());
                let now = now_secs();
                blocking(move || sqlite::run(&open(&path)?, &q, now).map_err(db_err)).await
            }
            (StoreDb::Postgres(_), None) => Err(UsageError("no reader".into())),
        }
    }
}

impl UsageLog {
    /// Follows `[usage]`: starts a writer for a newly named store, stops one no longer
    /// named (it writes what it holds first); unchanged settings keep the writer.
    pub fn configure(&self, cfg: Option<&UsageConfig>) -> Result<(), UsageError> {
        crate::configured::follow(&self.writer, cfg, |want| {
            let (batch, reader) = match &want.db {
                StoreDb::Sqlite(path) => (
                    Batcher::start(
                        "usage-writer",
                        sqlite::writer(open(path)?, Retention::of(want)),
                    ),
                    None,
                ),
                StoreDb::Postgres(url) => (
                    Batcher::start(
                        "usage-writer",
                        postgres::writer(Pg::new(url.clone()), Retention::of(want))?,
                    ),
                    Some(Pg::new(url.clone())),
                ),
            };
            Ok(Writer {
                cfg: want.clone(),
                batch: batch.map_err(|e| UsageError(e.to_string()))?,
                reader,
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
