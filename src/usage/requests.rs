//! The request log: `GET /admin/requests` (records of a time range, filtered by route,
//! model, provider, key, team, user, API, status class, error label, least duration and
//! cost, and text in captured bodies; newest first, a page at a time behind an opaque
//! cursor) and `GET /admin/requests/{id}` (one record with its story and captured
//! bodies). Statements are written once for both stores (see `db`); every column and
//! operator comes from this file, the client's values only bind as parameters. The
//! indexes they rely on (by key, route, model, provider, team, user with time; the
//! request id) are made by `V11__request_log.sql`.

use serde_json::{Value, json};

use super::db::Cell;
use super::query::{Param, instant, pairs};

/// The columns of a listed record, in this order.
pub const COLUMNS: &[&str] = &[
    "request_id",
    "ts",
    "api",
    "route",
    "key",
    "team",
    "user",
    "provider",
    "model",
    "status",
    "error",
    "error_message",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "cost_usd",
    "ttft_ms",
    "duration_ms",
    "overhead_ms",
    "attempts",
    "estimated",
    "cache",
    "captured",
    "parent_id",
];

/// Filters by exact value, and their columns.
const EXACT: &[(&str, &str)] = &[
    ("route", "route"),
    ("model", "model"),
    ("provider", "provider"),
    ("key", "key"),
    ("team", "team"),
    ("user", "\"user\""),
    ("api", "api"),
    ("error", "error"),
    ("parent", "parent_id"),
];

/// The most records one page may hold.
const MOST: i64 = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct RequestQuery {
    pub from: u64,
    pub to: u64,
    pub exact: Vec<(&'static str, String)>,
    /// A status class (`2xx`), `ok` (< 400), `error` (≥ 400) or one status.
    pub status: Option<(i64, i64)>,
    pub min_ms: Option<i64>,
    pub min_cost: Option<f64>,
    /// Text the captured request or answer contains (case-insensitive).
    pub text: Option<String>,
    pub limit: i64,
    /// Records older than this (ts, request id): the page after the cursor's.
    pub after: Option<(i64, String)>,
    /// Only these keys' records (a team member sees the keys they made).
    pub keys: Option<Vec<String>>,
}

fn status(v: &str) -> Result<(i64, i64), String> {
    Ok(match v {
        "ok" => (0, 400),
        "error" => (400, 1000),
        "2xx" => (200, 300),
        "3xx" => (300, 400),
        "4xx" => (400, 500),
        "5xx" => (500, 600),
        n => match n.parse::<i64>() {
            Ok(s) if (100..1000).contains(&s) => (s, s + 1),
            _ => {
                return Err(format!(
                    "status must be ok, error, 2xx…5xx or a status code, not '{n}'"
                ));
            }
        },
    })
}

/// The cursor of the page after the record at (`ts`, `id`).
pub fn cursor(ts: i64, id: &str) -> String {
    format!("{ts}.{id}")
}

fn parse_cursor(v: &str) -> Result<(i64, String), String> {
    v.split_once('.')
        .and_then(|(t, id)| {
            let ok = id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            Some((t.parse().ok()?, id.to_string())).filter(|_| ok)
        })
        .ok_or_else(|| "cursor is not one this gateway gave".to_string())
}

impl RequestQuery {
    pub fn parse(query: Option<&str>, now: u64) -> Result<RequestQuery, String> {
        let mut q = RequestQuery {
            from: now.saturating_sub(86_400),
            to: now + 1,
            exact: Vec::new(),
            status: None,
            min_ms: None,
            min_cost: None,
            text: None,
            limit: 50,
            after: None,
            keys: None,
        };
        for (k, v) in pairs(query) {
            match k {
                "from" => q.from = instant(&v)?,
                "to" => q.to = instant(&v)?,
                "status" => q.status = Some(status(&v)?),
                "min_ms" => {
                    q.min_ms = Some(
                        v.parse()
                            .map_err(|_| format!("min_ms '{v}' is not a number"))?,
                    )
                }
                "min_cost" => match v.parse::<f64>() {
                    Ok(c) if c.is_finite() => q.min_cost = Some(c),
                    _ => return Err(format!("min_cost '{v}' is not a number")),
                },
                "q" if !v.is_empty() => {
                    if v.chars().count() > 200 {
                        return Err("q is longer than 200 characters".into());
                    }
                    q.text = Some(v.to_lowercase());
                }
                "q" => {}
                "limit" => match v.parse::<i64>() {
                    Ok(n) if (1..=MOST).contains(&n) => q.limit = n,
                    _ => return Err(format!("limit must be a whole number from 1 to {MOST}")),
                },
                "cursor" => q.after = Some(parse_cursor(&v)?),
                f => match EXACT.iter().find(|(n, _)| *n == f) {
                    Some((n, _)) if !v.is_empty() => q.exact.push((n, v)),
                    Some(_) => {}
                    None => return Err(format!("'{f}' is not a filter of /admin/requests")),
                },
            }
        }
        Ok(q)
    }

    /// The page's statement: one more record than the page, to know if another follows.
    pub fn statement(&self) -> (String, Vec<Param>) {
        let mut params = vec![Param::Int(self.from as i64), Param::Int(self.to as i64)];
        let mut sql = format!(
            "SELECT {} FROM {{usage}} WHERE ts >= ?1 AND ts < ?2",
            select_list()
        );
        let bind = |p: Param, params: &mut Vec<Param>| {
            params.push(p);
            format!("?{}", params.len())
        };
        for (name, v) in &self.exact {
            let col = EXACT
                .iter()
                .find(|(n, _)| n == name)
                .map_or("route", |(_, c)| c);
            let h = bind(Param::Text(v.clone()), &mut params);
            sql.push_str(&format!(" AND {col} = {h}"));
        }
        if let Some((lo, hi)) = self.status {
            let (a, b) = (
                bind(Param::Int(lo), &mut params),
                bind(Param::Int(hi), &mut params),
            );
            sql.push_str(&format!(" AND status >= {a} AND status < {b}"));
        }
        if let Some(ms) = self.min_ms {
            sql.push_str(&format!(
                " AND duration_ms >= {}",
                bind(Param::Int(ms), &mut params)
            ));
        }
        if let Some(c) = self.min_cost {
            sql.push_str(&format!(
                " AND cost_usd >= {}",
                bind(Param::Real(c), &mut params)
            ));
        }
        if let Some(keys) = &self.keys {
            let holders: Vec<String> = keys
                .iter()
                .map(|k| bind(Param::Text(k.clone()), &mut params))
                .collect();
            match holders.is_empty() {
                true => sql.push_str(" AND 1 = 0"),
                false => sql.push_str(&format!(" AND key IN ({})", holders.join(", "))),
            }
        }
        if let Some(t) = &self.text {
            let like = format!(
                "%{}%",
                t.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            let h = bind(Param::Text(like), &mut params);
            sql.push_str(&format!(
                " AND request_id IN (SELECT request_id FROM {{payloads}} WHERE ts >= ?1 AND ts < ?2
                   AND (LOWER(request) LIKE {h} ESCAPE '\\' OR LOWER(response) LIKE {h} ESCAPE '\\'))"
            ));
        }
        if let Some((ts, id)) = &self.after {
            let (a, b) = (
                bind(Param::Int(*ts), &mut params),
                bind(Param::Text(id.clone()), &mut params),
            );
            sql.push_str(&format!(
                " AND (ts < {a} OR (ts = {a} AND request_id < {b}))"
            ));
        }
        let h = bind(Param::Int(self.limit + 1), &mut params);
        sql.push_str(&format!(" ORDER BY ts DESC, request_id DESC LIMIT {h}"));
        (sql, params)
    }

    /// The page's answer from its statement's rows.
    pub fn page(&self, rows: &[Vec<Cell>]) -> Value {
        let more = rows.len() as i64 > self.limit;
        let shown = &rows[..rows.len().min(self.limit as usize)];
        let next = more
            .then(|| shown.last())
            .flatten()
            .and_then(|r| Some(cursor(r[1].int()?, r[0].text()?)));
        json!({
            "enabled": true, "from": self.from, "to": self.to,
            "requests": shown.iter().map(|r| record(r)).collect::<Vec<_>>(),
            "next": next,
        })
    }
}

fn select_list() -> String {
    COLUMNS
        .iter()
        .map(|c| if *c == "user" { "\"user\"" } else { c })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A record's row as JSON (booleans as booleans).
pub fn record(r: &[Cell]) -> Value {
    let mut v = serde_json::Map::new();
    for (name, cell) in COLUMNS.iter().zip(r) {
        let value = match *name {
            "estimated" | "captured" => json!(cell.int().unwrap_or(0) != 0),
            _ => cell.json(),
        };
        v.insert(name.to_string(), value);
    }
    Value::Object(v)
}

/// The statements of one record: its row with its story, and its captured bodies.
pub fn one(id: &str) -> [(String, Vec<Param>); 2] {
    let p = vec![Param::Text(id.to_string())];
    [
        (
            format!(
                "SELECT {}, story FROM {{usage}} WHERE request_id = ?1 ORDER BY ts DESC LIMIT 1",
                select_list()
            ),
            p.clone(),
        ),
        (
            "SELECT request, response, request_truncated, response_truncated FROM {payloads}
             WHERE request_id = ?1 LIMIT 1"
                .to_string(),
            p,
        ),
    ]
}

/// One record's answer, `None` when there is no such record.
pub fn detail(row: Option<&Vec<Cell>>, payload: Option<&Vec<Cell>>) -> Option<Value> {
    let row = row?;
    let mut v = record(row);
    let story = row.get(COLUMNS.len()).and_then(Cell::text);
    v["story"] = story
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    v["capture"] = payload.map_or(Value::Null, |p| {
        json!({
            "request": p[0].json(), "response": p[1].json(),
            "request_truncated": p[2].int().unwrap_or(0) != 0,
            "response_truncated": p[3].int().unwrap_or(0) != 0,
        })
    });
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_bind_as_parameters_and_cursors_round_trip() {
        let q = RequestQuery::parse(
            Some("key=k1&status=5xx&min_cost=0.5&q=50%25_off&cursor=1700000000.req_ab12&limit=10"),
            1_800_000_000,
        )
        .unwrap();
        let (sql, params) = q.statement();
        assert!(sql.contains("key = ?3"), "{sql}");
        assert!(!sql.contains("k1") && !sql.contains("off"), "{sql}");
        assert!(
            params.contains(&Param::Text("%50\\%\\_off%".into())),
            "{params:?}"
        );
        assert_eq!(q.after, Some((1_700_000_000, "req_ab12".into())));
        assert_eq!(params.last(), Some(&Param::Int(11)));
        assert!(RequestQuery::parse(Some("cursor=x"), 0).is_err());
        assert!(RequestQuery::parse(Some("cursor=1.a'b"), 0).is_err());
        assert!(RequestQuery::parse(Some("sort=ts"), 0).is_err());
        assert!(RequestQuery::parse(Some("limit=5000"), 0).is_err());
    }
}
