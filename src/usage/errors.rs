//! Top errors: `GET /admin/errors` groups the failed records of a time range by error
//! label, provider (the one that answered, else the last that failed), route and the
//! upstream message with ids and numbers taken out (`story::normalized`, kept in the
//! record as it is written), with counts, first and last seen and the newest few
//! request ids of each group to open.

use serde_json::{Value, json};

use super::db::Cell;
use super::query::{Param, instant, pairs};

/// The most groups one answer lists, and sample requests per group.
const GROUPS: i64 = 50;
const SAMPLES: i64 = 3;

const PROVIDER: &str = "COALESCE(NULLIF(provider, ''), failed_provider, '')";

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorQuery {
    pub from: u64,
    pub to: u64,
    pub route: Option<String>,
    pub provider: Option<String>,
}

impl ErrorQuery {
    pub fn parse(query: Option<&str>, now: u64) -> Result<ErrorQuery, String> {
        let mut q = ErrorQuery {
            from: now.saturating_sub(86_400),
            to: now + 1,
            route: None,
            provider: None,
        };
        for (k, v) in pairs(query) {
            match k {
                "from" => q.from = instant(&v)?,
                "to" => q.to = instant(&v)?,
                "route" if !v.is_empty() => q.route = Some(v),
                "provider" if !v.is_empty() => q.provider = Some(v),
                "route" | "provider" => {}
                _ => return Err(format!("'{k}' is not a filter of /admin/errors")),
            }
        }
        Ok(q)
    }

    fn range(&self) -> (String, Vec<Param>) {
        let mut params = vec![Param::Int(self.from as i64), Param::Int(self.to as i64)];
        let mut sql = "error IS NOT NULL AND ts >= ?1 AND ts < ?2".to_string();
        if let Some(r) = &self.route {
            params.push(Param::Text(r.clone()));
            sql.push_str(&format!(" AND route = ?{}", params.len()));
        }
        if let Some(p) = &self.provider {
            params.push(Param::Text(p.clone()));
            sql.push_str(&format!(" AND {PROVIDER} = ?{}", params.len()));
        }
        (sql, params)
    }

    /// The groups, most frequent first.
    pub fn statement(&self) -> (String, Vec<Param>) {
        let (range, params) = self.range();
        (
            format!(
                "SELECT error, {PROVIDER}, route, COALESCE(error_group, ''), COUNT(*), MIN(ts), MAX(ts)
                 FROM {{usage}} WHERE {range} GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 7 DESC LIMIT {GROUPS}"
            ),
            params,
        )
    }

    /// The newest requests of one group (a row of `statement`).
    pub fn samples(&self, group: &[Cell]) -> (String, Vec<Param>) {
        let (range, mut params) = self.range();
        let mut sql = format!("SELECT request_id FROM {{usage}} WHERE {range}");
        let cols = ["error", PROVIDER, "route", "COALESCE(error_group, '')"];
        for (col, cell) in cols.iter().zip(group) {
            params.push(Param::Text(cell.text().unwrap_or_default().to_string()));
            sql.push_str(&format!(" AND {col} = ?{}", params.len()));
        }
        sql.push_str(&format!(" ORDER BY ts DESC LIMIT {SAMPLES}"));
        (sql, params)
    }
}

/// One group as JSON, with its sample requests.
pub fn group(g: &[Cell], samples: &[Vec<Cell>]) -> Value {
    json!({
        "label": g[0].json(), "provider": g[1].json(), "route": g[2].json(),
        "message": g[3].json(), "count": g[4].int(), "first": g[5].int(), "last": g[6].int(),
        "samples": samples.iter().filter_map(|r| r[0].text()).collect::<Vec<_>>(),
    })
}
