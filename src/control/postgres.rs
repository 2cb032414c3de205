//! Overrides and the audit log in the PostgreSQL database of `[store]`, shared by
//! every replica.

use super::{AuditEntry, Override};
use crate::stores::pg::{Pg, error};

pub async fn overrides(pg: &Pg) -> Result<Vec<Override>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT route, provider, model, enabled, weight, updated, actor FROM switchboard_overrides
             ORDER BY route, provider, model",
            &[],
        )
        .await
        .map_err(error)?;
    rows.iter()
        .map(|r| {
            Ok(Override {
                route: r.try_get(0).map_err(error)?,
                provider: r.try_get(1).map_err(error)?,
                model: r.try_get(2).map_err(error)?,
                enabled: r.try_get(3).map_err(error)?,
                weight: r
                    .try_get::<_, Option<i64>>(4)
                    .map_err(error)?
                    .map(|w| w.clamp(0, u32::MAX as i64) as u32),
                updated: r.try_get::<_, i64>(5).map_err(error)?.max(0) as u64,
                actor: r.try_get(6).map_err(error)?,
            })
        })
        .collect()
}

pub async fn set(pg: &Pg, o: &Override) -> Result<(), String> {
    let c = pg.client().await?;
    if o.enabled.is_none() && o.weight.is_none() {
        c.execute(
            "DELETE FROM switchboard_overrides WHERE route = $1 AND provider = $2 AND model = $3",
            &[&o.route, &o.provider, &o.model],
        )
        .await
        .map_err(error)?;
        return Ok(());
    }
    c.execute(
        "INSERT INTO switchboard_overrides (route, provider, model, enabled, weight, updated, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (route, provider, model) DO UPDATE SET enabled = $4, weight = $5, updated = $6, actor = $7",
        &[
            &o.route,
            &o.provider,
            &o.model,
            &o.enabled,
            &o.weight.map(i64::from),
            &(o.updated as i64),
            &o.actor,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

pub async fn audit(pg: &Pg, e: &AuditEntry) -> Result<(), String> {
    let c = pg.client().await?;
    c.execute(
        "INSERT INTO switchboard_audit (ts, actor, action, subject, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &(e.at as i64),
            &e.actor,
            &e.action,
            &e.subject,
            &e.before.as_ref().map(|v| v.to_string()),
            &e.after.as_ref().map(|v| v.to_string()),
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

pub async fn audit_log(pg: &Pg, limit: usize) -> Result<Vec<AuditEntry>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT ts, actor, action, subject, before, after FROM switchboard_audit ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )
        .await
        .map_err(error)?;
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                at: r.try_get::<_, i64>(0).map_err(error)?.max(0) as u64,
                actor: r.try_get(1).map_err(error)?,
                action: r.try_get(2).map_err(error)?,
                subject: r.try_get(3).map_err(error)?,
                before: json(r.try_get(4).map_err(error)?),
                after: json(r.try_get(5).map_err(error)?),
            })
        })
        .collect()
}

fn comparison_row(r: &tokio_postgres::Row) -> Result<serde_json::Value, String> {
    let json = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap_or_default();
    Ok(serde_json::json!({
        "id": r.try_get::<_, String>(0).map_err(error)?,
        "at": r.try_get::<_, i64>(1).map_err(error)?,
        "actor": r.try_get::<_, String>(2).map_err(error)?,
        "request": json(r.try_get(3).map_err(error)?),
        "results": json(r.try_get(4).map_err(error)?),
    }))
}

pub async fn keep_comparison(pg: &Pg, v: &serde_json::Value) -> Result<(), String> {
    let c = pg.client().await?;
    c.execute(
        "INSERT INTO switchboard_comparisons (id, ts, actor, request, results) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO NOTHING",
        &[
            &v["id"].as_str().unwrap_or_default(),
            &v["at"].as_i64().unwrap_or(0),
            &v["actor"].as_str().unwrap_or_default(),
            &v["request"].to_string(),
            &v["results"].to_string(),
        ],
    )
    .await
    .map_err(error)?;
    // The newest thousand are kept, as in SQLite.
    c.execute(
        "DELETE FROM switchboard_comparisons WHERE id NOT IN
         (SELECT id FROM switchboard_comparisons ORDER BY ts DESC LIMIT 1000)",
        &[],
    )
    .await
    .map_err(error)?;
    Ok(())
}

pub async fn comparisons(pg: &Pg, limit: usize) -> Result<Vec<serde_json::Value>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT id, ts, actor, request, results FROM switchboard_comparisons ORDER BY ts DESC, id LIMIT $1",
            &[&(limit as i64)],
        )
        .await
        .map_err(error)?;
    rows.iter().map(comparison_row).collect()
}

pub async fn comparison(pg: &Pg, id: &str) -> Result<Option<serde_json::Value>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT id, ts, actor, request, results FROM switchboard_comparisons WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(error)?;
    rows.first().map(comparison_row).transpose()
}
