//! What `GET /admin/usage` asks of the usage records: a time range, filters (route,
//! key, team, user, provider, model, status), the groups to sum by (hour, day, route,
//! provider, model, key, team, user, api) and optionally only the top N groups by spend
//! — turned into one SQL statement, for SQLite or PostgreSQL, whose every column and
//! operator comes from a fixed list (the client's values only ever bind as parameters)
//! — and the rows as JSON or CSV.

use serde_json::{Value, json};

/// The SQL a statement is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A group the records can be summed by, and its SQL in SQLite and in PostgreSQL.
/// (`{t}` is the time column: `ts` of a record, `hour` of an hourly sum.)
pub(super) const GROUPS: &[(&str, &str, &str)] = &[
    (
        "hour",
        "strftime('%Y-%m-%dT%H:00:00Z', {t}, 'unixepoch')",
        "to_char(to_timestamp({t}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:00:00\"Z\"')",
    ),
    (
        "day",
        "date({t}, 'unixepoch')",
        "to_char(to_timestamp({t}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    ),
    ("route", "route", "route"),
    ("provider", "provider", "provider"),
    ("model", "model", "model"),
    ("key", "key", "key"),
    ("team", "COALESCE(team, '')", "COALESCE(team, '')"),
    ("user", "COALESCE(\"user\", '')", "COALESCE(\"user\", '')"),
    ("api", "COALESCE(api, '')", "COALESCE(api, '')"),
];

/// Columns a filter may name (exact match), and their SQL.
pub(super) const FILTERS: &[(&str, &str)] = &[
    ("route", "route"),
    ("key", "key"),
    ("team", "team"),
    ("user", "\"user\""),
    ("provider", "provider"),
    ("model", "model"),
    ("api", "api"),
];

/// What each row says beyond its groups, in this order.
pub(super) const NAMES: &[&str] = &[
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "cost_usd",
    "mean_duration_ms",
    "mean_ttft_ms",
];

/// A value bound into a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Null,
}

/// Which statuses a query keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    Error,
    Is(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Unix seconds, inclusive / exclusive.
    pub from: u64,
    pub to: Option<u64>,
    pub filters: Vec<(&'static str, String)>,
    pub status: Option<Status>,
    pub group: Vec<&'static str>,
    pub top: Option<u32>,
}

/// Unix seconds from `1733200000` or a date `2026-12-03` (UTC midnight).
pub(super) fn instant(v: &str) -> Result<u64, String> {
    if let Ok(n) = v.parse::<u64>() {
        return Ok(n);
    }
    v.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_second().max(0) as u64)
        .ok_or_else(|| format!("'{v}' is not unix seconds or a date like 2026-12-03"))
}

/// The `key=value` pairs of a query string, values percent-decoded.
pub(super) fn pairs(query: Option<&str>) -> impl Iterator<Item = (&str, String)> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = v.replace('+', " ");
            (
                k,
                String::from_utf8_lossy(&crate::percent::decode(v.as_bytes())).into_owned(),
            )
        })
}

impl Query {
    /// Reads the query string of `/admin/usage` (`days` kept for the older form).
    pub fn parse(query: Option<&str>, now: u64) -> Result<Query, String> {
        let mut q = Query {
            from: now.saturating_sub(7 * 86_400),
            to: None,
            filters: Vec::new(),
            status: None,
            group: vec!["day", "route", "key", "provider", "model"],
            top: None,
        };
        for kv in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|kv| !kv.is_empty())
        {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = String::from_utf8_lossy(&crate::percent::decode(v.as_bytes())).into_owned();
            match k {
                "days" => match v.parse::<u64>() {
                    Ok(d) if (1..=3650).contains(&d) => q.from = now.saturating_sub(d * 86_400),
                    _ => return Err("days must be a whole number from 1 to 3650".into()),
                },
                "from" => q.from = instant(&v)?,
                "to" => q.to = Some(instant(&v)?),
                "status" => {
                    q.status = Some(match v.as_str() {
                        "ok" => Status::Ok,
                        "error" => Status::Error,
                        n => Status::Is(n.parse().map_err(|_| {
                            format!("status must be ok, error or a status code, not '{n}'")
                        })?),
                    })
                }
                "group" => {
                    q.group = Vec::new();
                    for g in v.split(',').filter(|g| !g.is_empty()) {
                        let known = GROUPS.iter().find(|(n, _, _)| *n == g).ok_or_else(|| {
                            format!("group: '{g}' is not one of hour, day, route, provider, model, key, team, user, api")
                        })?;
                        if !q.group.contains(&known.0) {
                            q.group.push(known.0);
                        }
                    }
                }
                "top" => match v.parse::<u32>() {
                    Ok(n) if (1..=10_000).contains(&n) => q.top = Some(n),
                    _ => return Err("top must be a whole number from 1 to 10000".into()),
                },
                "format" => {}
                f => match FILTERS.iter().find(|(c, _)| *c == f) {
                    Some((c, _)) => q.filters.push((c, v)),
                    None => return Err(format!("'{f}' is not a filter of /admin/usage")),
                },
            }
        }
        Ok(q)
    }
}

/// Counts as integers, means and money as decimals; no rows' mean is `null`.
pub(super) fn number(name: &str, v: Option<f64>) -> Value {
    match v {
        None if name.starts_with("mean") => Value::Null,
        None => json!(0),
        Some(v) if name.starts_with("mean") || name == "cost_usd" => json!(v),
        Some(v) => json!(v as i64),
    }
}

/// The rows as CSV: a header line of the groups then the sums, one line per row.
pub fn csv(q: &Query, rows: &[Value]) -> String {
    let names: Vec<&str> = q
        .group
        .iter()
        .copied()
        .chain(NAMES.iter().copied())
        .collect();
    let mut out = names.join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = names
            .iter()
            .map(|n| match &r[*n] {
                Value::Null => String::new(),
                Value::String(s) => csv_field(s),
                v => v.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is prefixed so
/// a spreadsheet does not run it as a formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_becomes_a_query_or_says_what_is_wrong() {
        let q = Query::parse(
            Some("from=2026-12-01&to=1796100000&team=search&status=error&group=hour,model&top=5"),
            2_000_000_000,
        )
        .unwrap();
        assert_eq!(q.from, 1_796_083_200);
        assert_eq!(q.to, Some(1_796_100_000));
        assert_eq!(q.filters, vec![("team", "search".to_string())]);
        assert_eq!(q.status, Some(Status::Error));
        assert_eq!(q.group, vec!["hour", "model"]);
        assert_eq!(q.top, Some(5));
        assert!(Query::parse(Some("group=route;drop"), 0).is_err());
        assert!(Query::parse(Some("ts=1"), 0).is_err());
        assert!(Query::parse(Some("days=0"), 0).is_err());
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
