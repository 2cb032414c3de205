//! Usage records in the PostgreSQL database of `[store]`, shared by every replica:
//! the writer thread inserts each batch as one statement (arrays unnested into rows)
//! on its own connection and runtime, and prunes past the retention hourly; reads are
//! the same statements as SQLite's in PostgreSQL's dialect.

use tokio_postgres::types::ToSql;

use super::query::{self, Dialect};
use super::rollup;
use super::stats::{self, Period, Row};
use super::{Record, Retention, UsageError, now_secs};
use crate::stores::pg::{Pg, error};

fn pg_err(e: tokio_postgres::Error) -> UsageError {
    UsageError(error(e))
}

const INSERT: &str = "INSERT INTO switchboard_usage (ts, request_id, api, route, key, team, \"user\",
    provider, model, status, error, error_message, prompt_tokens, cached_tokens, completion_tokens,
    cost_usd, ttft_ms, duration_ms, attempts, estimated, prompt, requested, overhead_ms, cache, story,
    error_group, failed_provider, captured, parent_id)
 SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
    $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::TEXT[], $12::TEXT[], $13::BIGINT[],
    $14::BIGINT[], $15::BIGINT[], $16::DOUBLE PRECISION[], $17::BIGINT[], $18::BIGINT[], $19::BIGINT[], $20::BOOLEAN[],
    $21::TEXT[], $22::TEXT[], $23::DOUBLE PRECISION[], $24::TEXT[], $25::TEXT[], $26::TEXT[], $27::TEXT[],
    $28::BOOLEAN[], $29::TEXT[])";

/// A batch as one insert.
async fn write(pg: &Pg, batch: &[(u64, Record)]) -> Result<(), UsageError> {
    let c = pg.client().await.map_err(UsageError)?;
    let int = |f: &dyn Fn(&(u64, Record)) -> i64| batch.iter().map(f).collect::<Vec<i64>>();
    let text = |f: &dyn Fn(&Record) -> String| batch.iter().map(|(_, r)| f(r)).collect::<Vec<_>>();
    let opt =
        |f: &dyn Fn(&Record) -> Option<String>| batch.iter().map(|(_, r)| f(r)).collect::<Vec<_>>();
    let ts = int(&|(t, _)| *t as i64);
    let (request_id, api) = (text(&|r| r.request_id.clone()), text(&|r| r.api.clone()));
    let (route, key) = (text(&|r| r.route.clone()), text(&|r| r.key.clone()));
    let (team, user) = (opt(&|r| r.team.clone()), opt(&|r| r.user.clone()));
    let (provider, model) = (text(&|r| r.provider.clone()), text(&|r| r.model.clone()));
    let status = int(&|(_, r)| i64::from(r.status));
    let (err, message) = (opt(&|r| r.error.clone()), opt(&|r| r.error_message.clone()));
    let prompt = int(&|(_, r)| r.prompt_tokens as i64);
    let cached = int(&|(_, r)| r.cached_tokens as i64);
    let completion = int(&|(_, r)| r.completion_tokens as i64);
    let cost: Vec<f64> = batch.iter().map(|(_, r)| r.cost_usd).collect();
    let ttft: Vec<Option<i64>> = batch
        .iter()
        .map(|(_, r)| r.ttft_ms.map(|t| t as i64))
        .collect();
    let duration = int(&|(_, r)| r.duration_ms as i64);
    let attempts = int(&|(_, r)| i64::from(r.attempts));
    let estimated: Vec<bool> = batch.iter().map(|(_, r)| r.estimated).collect();
    let (template, requested) = (opt(&|r| r.prompt.clone()), opt(&|r| r.requested.clone()));
    let overhead: Vec<Option<f64>> = batch.iter().map(|(_, r)| r.overhead_ms).collect();
    let derived: Vec<_> = batch
        .iter()
        .map(|(_, r)| super::extras::derive(r))
        .collect();
    let col = |f: &dyn Fn(&super::extras::Derived) -> Option<String>| {
        derived.iter().map(f).collect::<Vec<_>>()
    };
    let (cache, story) = (col(&|d| d.cache.clone()), col(&|d| d.story.clone()));
    let (group, failed) = (
        col(&|d| d.error_group.clone()),
        col(&|d| d.failed_provider.clone()),
    );
    let captured: Vec<bool> = derived.iter().map(|d| d.captured).collect();
    let parent = opt(&|r| r.parent_id.clone());
    let params: [&(dyn ToSql + Sync); 29] = [
        &ts,
        &request_id,
        &api,
        &route,
        &key,
        &team,
        &user,
        &provider,
        &model,
        &status,
        &err,
        &message,
        &prompt,
        &cached,
        &completion,
        &cost,
        &ttft,
        &duration,
        &attempts,
        &estimated,
        &template,
        &requested,
        &overhead,
        &cache,
        &story,
        &group,
        &failed,
        &captured,
        &parent,
    ];
    // The writer's connection is its own: the records and their hourly sums go in one
    // transaction, so a retried batch is never counted twice.
    c.batch_execute("BEGIN").await.map_err(pg_err)?;
    let done = async {
        c.execute(INSERT, &params).await.map_err(pg_err)?;
        add_hourly(&c, batch).await?;
        for (sql, p) in super::extras::statements(batch) {
            let sql = super::db::sql(Dialect::Postgres, sql);
            c.execute(&sql, &super::db::pg_params(&p))
                .await
                .map_err(pg_err)?;
        }
        Ok(())
    }
    .await;
    match done {
        Ok(()) => c.batch_execute("COMMIT").await.map_err(pg_err),
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

const ADD_HOURLY: &str = "INSERT INTO switchboard_usage_hourly AS h (hour, route, key, team, \"user\",
    provider, model, api, status, requests, prompt_tokens, cached_tokens, completion_tokens,
    cost_usd, duration_ms, ttft_ms, ttft_count)
 SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
    $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[], $13::BIGINT[],
    $14::DOUBLE PRECISION[], $15::BIGINT[], $16::BIGINT[], $17::BIGINT[])
 ON CONFLICT (hour, route, key, team, \"user\", provider, model, api, status) DO UPDATE SET
    requests = h.requests + EXCLUDED.requests, prompt_tokens = h.prompt_tokens + EXCLUDED.prompt_tokens,
    cached_tokens = h.cached_tokens + EXCLUDED.cached_tokens,
    completion_tokens = h.completion_tokens + EXCLUDED.completion_tokens,
    cost_usd = h.cost_usd + EXCLUDED.cost_usd, duration_ms = h.duration_ms + EXCLUDED.duration_ms,
    ttft_ms = h.ttft_ms + EXCLUDED.ttft_ms, ttft_count = h.ttft_count + EXCLUDED.ttft_count";

type HourKey = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
);

/// The batch summed per hour and dimensions (one statement may not touch a row twice).
async fn add_hourly(c: &tokio_postgres::Client, batch: &[(u64, Record)]) -> Result<(), UsageError> {
    let mut sums: std::collections::HashMap<HourKey, [f64; 8]> = Default::default();
    for (ts, r) in batch {
        let k = (
            (*ts - *ts % 3600) as i64,
            r.route.clone(),
            r.key.clone(),
            r.team.clone().unwrap_or_default(),
            r.user.clone().unwrap_or_default(),
            r.provider.clone(),
            r.model.clone(),
            r.api.clone(),
            i64::from(r.status),
        );
        let s = sums.entry(k).or_default();
        let add = [
            1.0,
            r.prompt_tokens as f64,
            r.cached_tokens as f64,
            r.completion_tokens as f64,
            r.cost_usd,
            r.duration_ms as f64,
            r.ttft_ms.unwrap_or(0) as f64,
            f64::from(u8::from(r.ttft_ms.is_some())),
        ];
        for (x, a) in s.iter_mut().zip(add) {
            *x += a;
        }
    }
    let rows: Vec<(HourKey, [f64; 8])> = sums.into_iter().collect();
    let int = |i: usize| rows.iter().map(|(_, v)| v[i] as i64).collect::<Vec<i64>>();
    let text = |f: &dyn Fn(&HourKey) -> String| rows.iter().map(|(k, _)| f(k)).collect::<Vec<_>>();
    let hour: Vec<i64> = rows.iter().map(|(k, _)| k.0).collect();
    let status: Vec<i64> = rows.iter().map(|(k, _)| k.8).collect();
    let (route, key, team) = (
        text(&|k| k.1.clone()),
        text(&|k| k.2.clone()),
        text(&|k| k.3.clone()),
    );
    let (user, provider, model) = (
        text(&|k| k.4.clone()),
        text(&|k| k.5.clone()),
        text(&|k| k.6.clone()),
    );
    let api = text(&|k| k.7.clone());
    let cost: Vec<f64> = rows.iter().map(|(_, v)| v[4]).collect();
    let (requests, prompt, cached, completion) = (int(0), int(1), int(2), int(3));
    let (duration, ttft, ttft_count) = (int(5), int(6), int(7));
    let params: [&(dyn ToSql + Sync); 17] = [
        &hour,
        &route,
        &key,
        &team,
        &user,
        &provider,
        &model,
        &api,
        &status,
        &requests,
        &prompt,
        &cached,
        &completion,
        &cost,
        &duration,
        &ttft,
        &ttft_count,
    ];
    c.execute(ADD_HOURLY, &params).await.map_err(pg_err)?;
    Ok(())
}

/// The writer thread's work each tick (see `super::sqlite::writer`), on a runtime of
/// the thread's own.
pub fn writer(pg: Pg, keep: Retention) -> Result<impl FnMut(&mut Vec<(u64, Record)>), UsageError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(e.to_string()))?;
    let mut pruned_at = 0u64;
    Ok(move |batch: &mut Vec<(u64, Record)>| {
        if !batch.is_empty() {
            match rt.block_on(write(&pg, batch)) {
                Ok(()) => batch.clear(),
                Err(e) => tracing::warn!(error = %e, "writing usage records failed; retrying"),
            }
        }
        let now = now_secs();
        if now >= pruned_at + 3600 {
            pruned_at = now;
            if let Err(e) = rt.block_on(prune(&pg, now, keep)) {
                tracing::warn!(error = %e, "pruning usage records failed");
            }
        }
    })
}

/// Removes what is past its retention: records, their hourly sums, captured bodies, trends.
async fn prune(pg: &Pg, now: u64, keep: Retention) -> Result<(), UsageError> {
    let c = pg.client().await.map_err(UsageError)?;
    let cutoff = now.saturating_sub(u64::from(keep.days) * 86_400) as i64;
    c.execute("DELETE FROM switchboard_usage WHERE ts < $1", &[&cutoff])
        .await
        .map_err(pg_err)?;
    let hour = cutoff - 3600;
    c.execute(
        "DELETE FROM switchboard_usage_hourly WHERE hour < $1",
        &[&hour],
    )
    .await
    .map_err(pg_err)?;
    for (sql, p) in super::extras::prunes(now, keep.days, keep.capture_days) {
        let sql = super::db::sql(Dialect::Postgres, sql);
        c.execute(&sql, &super::db::pg_params(&p))
            .await
            .map_err(pg_err)?;
    }
    Ok(())
}

/// The rows of `q`: its parts (whole hours from the hourly sums, the rest from the
/// records) merged by group.
pub async fn query(pg: &Pg, q: &query::Query) -> Result<Vec<serde_json::Value>, UsageError> {
    let c = pg.client().await.map_err(UsageError)?;
    let mut parts: Vec<rollup::Part> = Vec::new();
    for range in rollup::ranges(q, now_secs()) {
        let (sql, params) = rollup::part_sql(q, Dialect::Postgres, range);
        let refs = super::db::pg_params(&params);
        let n = q.group.len();
        for r in c.query(&sql, &refs).await.map_err(pg_err)? {
            let groups = (0..n).map(|i| r.try_get(i)).collect::<Result<_, _>>();
            let mut v = [0.0; rollup::PART_COUNT];
            for (j, x) in v.iter_mut().enumerate() {
                *x = r
                    .try_get::<_, Option<f64>>(n + j)
                    .map_err(pg_err)?
                    .unwrap_or(0.0);
            }
            parts.push((groups.map_err(pg_err)?, v));
        }
    }
    Ok(rollup::finish(q, parts))
}

/// The records of `[from, to)` for the stats, newest first.
pub async fn period(pg: &Pg, (from, to): (u64, u64)) -> Result<Period, UsageError> {
    let c = pg.client().await.map_err(UsageError)?;
    let sql = format!(
        "SELECT {} FROM switchboard_usage WHERE ts >= $1 AND ts < $2 ORDER BY ts DESC LIMIT $3",
        stats::COLUMNS
    );
    let rows = c
        .query(&sql, &[&(from as i64), &(to as i64), &stats::LIMIT])
        .await
        .map_err(pg_err)?;
    let mut p = Period::default();
    for r in rows {
        let row = Row {
            route: r.try_get(0).map_err(pg_err)?,
            provider: r.try_get(1).map_err(pg_err)?,
            model: r.try_get(2).map_err(pg_err)?,
            status: r.try_get(3).map_err(pg_err)?,
            duration_ms: r.try_get(4).map_err(pg_err)?,
            ttft_ms: r.try_get(5).map_err(pg_err)?,
            prompt_tokens: r.try_get(6).map_err(pg_err)?,
            completion_tokens: r.try_get(7).map_err(pg_err)?,
            cost_usd: r.try_get(8).map_err(pg_err)?,
        };
        if !p.add(row) {
            break;
        }
    }
    Ok(p)
}
