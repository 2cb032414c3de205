//! The stored responses in the PostgreSQL database of `[store]`, shared by every
//! replica: a response made through one gateway continues through any other.

use serde_json::Value;

use super::{Stored, cutoff, now_secs};
use crate::stores::pg::{Pg, error};

/// Removes `key`'s oldest stored responses (and their items) past `quota` bytes,
/// keeping its newest whatever its size.
pub async fn hold_to(pg: &Pg, key: &str, quota: i64) -> Result<(), String> {
    let c = pg.client().await?;
    let doomed = "SELECT id FROM (
             SELECT id, SUM(octet_length(response) + octet_length(input))
                 OVER (ORDER BY seq DESC) AS running,
                 ROW_NUMBER() OVER (ORDER BY seq DESC) AS n
             FROM switchboard_responses WHERE key = $1
         ) t WHERE running > $2 AND n > 1";
    for table in ["switchboard_response_items", "switchboard_responses"] {
        let column = if table == "switchboard_responses" {
            "id"
        } else {
            "response_id"
        };
        c.execute(
            &format!("DELETE FROM {table} WHERE key = $1 AND {column} IN ({doomed})"),
            &[&key, &quota],
        )
        .await
        .map_err(error)?;
    }
    Ok(())
}

pub async fn save(
    pg: &Pg,
    key: &str,
    response: &Value,
    input: &[Value],
    prune_before: Option<u64>,
) -> Result<(), String> {
    let c = pg.client().await?;
    let id = response["id"].as_str().unwrap_or_default();
    let now = now_secs() as i64;
    let input = Value::from(input.to_vec()).to_string();
    c.execute(
        "INSERT INTO switchboard_responses (id, key, created, response, input) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET key = $2, created = $3, response = $4, input = $5",
        &[&id, &key, &now, &response.to_string(), &input],
    )
    .await
    .map_err(error)?;
    for item in response["output"].as_array().into_iter().flatten() {
        if let Some(item_id) = item["id"].as_str() {
            c.execute(
                "INSERT INTO switchboard_response_items (id, key, response_id, created, item) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id, key) DO UPDATE SET response_id = $3, created = $4, item = $5",
                &[&item_id, &key, &id, &now, &item.to_string()],
            )
            .await
            .map_err(error)?;
        }
    }
    if let Some(before) = prune_before {
        let before = before as i64;
        for table in ["switchboard_responses", "switchboard_response_items"] {
            c.execute(
                &format!("DELETE FROM {table} WHERE created < $1"),
                &[&before],
            )
            .await
            .map_err(error)?;
        }
        c.execute(
            "DELETE FROM switchboard_kept WHERE kind = 'response' AND created < $1",
            &[&before],
        )
        .await
        .map_err(error)?;
    }
    Ok(())
}

pub async fn load(
    pg: &Pg,
    key: &str,
    id: &str,
    retention_days: u32,
) -> Result<Option<Stored>, String> {
    let c = pg.client().await?;
    let row = c
        .query_opt(
            "SELECT response, input FROM switchboard_responses WHERE id = $1 AND key = $2 AND created >= $3",
            &[&id, &key, &(cutoff(retention_days) as i64)],
        )
        .await
        .map_err(error)?;
    Ok(row.map(|r| Stored::from_text(r.get(0), r.get(1))))
}

pub async fn items(pg: &Pg, key: &str, ids: &[String]) -> Result<Vec<(String, Value)>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT id, item FROM switchboard_response_items WHERE key = $1 AND id = ANY($2)",
            &[&key, &ids],
        )
        .await
        .map_err(error)?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let item: &str = r.get(1);
            Some((r.get::<_, String>(0), serde_json::from_str(item).ok()?))
        })
        .collect())
}

pub async fn delete(pg: &Pg, key: &str, id: &str) -> Result<bool, String> {
    let c = pg.client().await?;
    let n = c
        .execute(
            "DELETE FROM switchboard_responses WHERE id = $1 AND key = $2",
            &[&id, &key],
        )
        .await
        .map_err(error)?;
    c.execute(
        "DELETE FROM switchboard_response_items WHERE response_id = $1 AND key = $2",
        &[&id, &key],
    )
    .await
    .map_err(error)?;
    Ok(n > 0)
}

pub async fn own(pg: &Pg, k: &super::Kept) -> Result<(), String> {
    let c = pg.client().await?;
    c.execute(
        "INSERT INTO switchboard_kept (id, kind, key, provider, created) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET kind = $2, key = $3, provider = $4, created = $5",
        &[&k.id, &k.kind, &k.key, &k.provider, &(now_secs() as i64)],
    )
    .await
    .map(drop)
    .map_err(error)
}

pub async fn owner(pg: &Pg, id: &str) -> Result<Option<super::Kept>, String> {
    let c = pg.client().await?;
    let row = c
        .query_opt(
            "SELECT id, kind, key, provider FROM switchboard_kept WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(error)?;
    Ok(row.map(|r| super::Kept {
        id: r.get(0),
        kind: r.get(1),
        key: r.get(2),
        provider: r.get(3),
    }))
}

pub async fn owned(pg: &Pg, key: &str, kind: &str) -> Result<Vec<(String, String)>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT id, provider FROM switchboard_kept WHERE key = $1 AND kind = $2 ORDER BY seq DESC LIMIT 10000",
            &[&key, &kind],
        )
        .await
        .map_err(error)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub async fn disown(pg: &Pg, id: &str) -> Result<(), String> {
    let c = pg.client().await?;
    c.execute("DELETE FROM switchboard_kept WHERE id = $1", &[&id])
        .await
        .map(drop)
        .map_err(error)
}
