//! Hourly sums of the usage records, so `/admin/usage` stays fast over millions of
//! them: the writer adds each record to its hour's row (route, key, team, user,
//! provider, model, api, status) in the same transaction as the record, and a query
//! reads the whole hours of its range from the sums and only the partial hours at its
//! ends from the records, then merges the parts by group. A store made before the sums
//! existed gets them from its records when it is opened (SQLite) or migrated
//! (PostgreSQL, `V5`).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::query::{Dialect, FILTERS, GROUPS, NAMES, Param, Query, Status, number};

/// Where a part of a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Records,
    Hourly,
}

/// The summable figures each part returns, (from records, from hourly sums).
const PARTS: &[(&str, &str)] = &[
    ("COUNT(*)", "SUM(requests)"),
    (
        "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN status >= 400 THEN requests ELSE 0 END)",
    ),
    (
        "SUM(CASE WHEN provider = 'cache' THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN provider = 'cache' THEN requests ELSE 0 END)",
    ),
    ("SUM(prompt_tokens)", "SUM(prompt_tokens)"),
    ("SUM(COALESCE(cached_tokens, 0))", "SUM(cached_tokens)"),
    ("SUM(completion_tokens)", "SUM(completion_tokens)"),
    ("SUM(cost_usd)", "SUM(cost_usd)"),
    ("SUM(duration_ms)", "SUM(duration_ms)"),
    ("SUM(ttft_ms)", "SUM(ttft_ms)"),
    ("COUNT(ttft_ms)", "SUM(ttft_count)"),
];

pub const PART_COUNT: usize = PARTS.len();

/// A part's row: its group values and its figures.
pub type Part = (Vec<Option<String>>, [f64; PART_COUNT]);

/// The ranges `q` reads, and from where: whole hours from the sums, the rest from the
/// records.
pub fn ranges(q: &Query, now: u64) -> Vec<(Source, u64, u64)> {
    let (from, to) = (q.from, q.to.unwrap_or(now + 1));
    let first = from.div_ceil(3600) * 3600;
    let last = to / 3600 * 3600;
    if first >= last {
        return vec![(Source::Records, from, to)];
    }
    let mut out = Vec::new();
    if from < first {
        out.push((Source::Records, from, first));
    }
    out.push((Source::Hourly, first, last));
    if last < to {
        out.push((Source::Records, last, to));
    }
    out
}

/// The statement of one part of `q`: `[from, to)` of `source` in `dialect`.
pub fn part_sql(
    q: &Query,
    dialect: Dialect,
    (source, from, to): (Source, u64, u64),
) -> (String, Vec<Param>) {
    let time = if source == Source::Records {
        "ts"
    } else {
        "hour"
    };
    let table = match (dialect, source) {
        (Dialect::Sqlite, Source::Records) => "usage",
        (Dialect::Sqlite, Source::Hourly) => "usage_hourly",
        (Dialect::Postgres, Source::Records) => "switchboard_usage",
        (Dialect::Postgres, Source::Hourly) => "switchboard_usage_hourly",
    };
    let mut params = vec![Param::Int(from as i64), Param::Int(to as i64)];
    let at = |n: usize| match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    };
    let cols: Vec<String> = q
        .group
        .iter()
        .filter_map(|g| GROUPS.iter().find(|(n, _, _)| n == g))
        .map(|(_, lite, pg)| {
            if dialect == Dialect::Sqlite { lite } else { pg }.replace("{t}", time)
        })
        .collect();
    let mut sql = String::from("SELECT ");
    for (i, c) in cols.iter().enumerate() {
        sql.push_str(&format!("{c} AS g{i}, "));
    }
    let parts: Vec<String> = PARTS
        .iter()
        .map(|(r, h)| {
            let p = if source == Source::Records { r } else { h };
            format!("CAST({p} AS DOUBLE PRECISION)")
        })
        .collect();
    sql.push_str(&parts.join(", "));
    sql.push_str(&format!(
        " FROM {table} WHERE {time} >= {} AND {time} < {}",
        at(1),
        at(2)
    ));
    for (name, v) in &q.filters {
        let col = FILTERS
            .iter()
            .find(|(n, _)| n == name)
            .map_or("''", |f| f.1);
        params.push(Param::Text(v.clone()));
        sql.push_str(&format!(" AND {col} = {}", at(params.len())));
    }
    match &q.status {
        Some(Status::Ok) => sql.push_str(" AND status < 400"),
        Some(Status::Error) => sql.push_str(" AND status >= 400"),
        Some(Status::Is(n)) => {
            params.push(Param::Int(i64::from(*n)));
            sql.push_str(&format!(" AND status = {}", at(params.len())));
        }
        None => {}
    }
    if !cols.is_empty() {
        let by: Vec<String> = (0..cols.len()).map(|i| format!("g{i}")).collect();
        sql.push_str(&format!(" GROUP BY {}", by.join(", ")));
    }
    (sql, params)
}

/// The parts merged by group into `/admin/usage` rows, ordered (time groups newest
/// first, then by name) or ranked (`top`: by spend, then requests).
pub fn finish(q: &Query, parts: Vec<Part>) -> Vec<Value> {
    let mut merged: HashMap<Vec<Option<String>>, [f64; PART_COUNT]> = HashMap::new();
    for (g, v) in parts {
        if v[0] == 0.0 {
            continue;
        }
        let m = merged.entry(g).or_insert([0.0; PART_COUNT]);
        for i in 0..PART_COUNT {
            m[i] += v[i];
        }
    }
    let mut rows: Vec<(Vec<Option<String>>, [f64; PART_COUNT])> = merged.into_iter().collect();
    match q.top {
        Some(n) => {
            rows.sort_by(|a, b| b.1[6].total_cmp(&a.1[6]).then(b.1[0].total_cmp(&a.1[0])));
            rows.truncate(n as usize);
        }
        None => rows.sort_by(|a, b| {
            for (i, g) in q.group.iter().enumerate() {
                let o = if matches!(*g, "hour" | "day") {
                    b.0[i].cmp(&a.0[i])
                } else {
                    a.0[i].cmp(&b.0[i])
                };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        }),
    }
    rows.into_iter().map(|(g, v)| row(q, g, v)).collect()
}

fn row(q: &Query, groups: Vec<Option<String>>, v: [f64; PART_COUNT]) -> Value {
    let mut o = Map::new();
    for (g, x) in q.group.iter().zip(groups) {
        o.insert(g.to_string(), Value::from(x));
    }
    let mean = |sum: f64, n: f64| (n > 0.0).then(|| sum / n);
    let figures = [
        Some(v[0]),
        Some(v[1]),
        Some(v[2]),
        Some(v[3]),
        Some(v[4]),
        Some(v[5]),
        Some(v[6]),
        mean(v[7], v[0]),
        mean(v[8], v[9]),
    ];
    for (name, x) in NAMES.iter().zip(figures) {
        o.insert(name.to_string(), number(name, x));
    }
    Value::Object(o)
}

/// The hourly table of a SQLite usage file, and the statement that fills it from the
/// records (run when the table is new).
pub const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS usage_hourly (
    hour INTEGER NOT NULL, route TEXT NOT NULL, key TEXT NOT NULL, team TEXT NOT NULL,
    user TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, api TEXT NOT NULL,
    status INTEGER NOT NULL, requests INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL,
    duration_ms INTEGER NOT NULL, ttft_ms INTEGER NOT NULL, ttft_count INTEGER NOT NULL,
    PRIMARY KEY (hour, route, key, team, user, provider, model, api, status)
)";

pub const SQLITE_BACKFILL: &str = "INSERT INTO usage_hourly SELECT ts - ts % 3600, route, key,
    COALESCE(team, ''), COALESCE(user, ''), provider, model, COALESCE(api, ''), status, COUNT(*),
    SUM(prompt_tokens), SUM(COALESCE(cached_tokens, 0)), SUM(completion_tokens), SUM(cost_usd),
    SUM(duration_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
    FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9";

pub const SQLITE_ADD: &str = "INSERT INTO usage_hourly (hour, route, key, team, user, provider,
    model, api, status, requests, prompt_tokens, cached_tokens, completion_tokens, cost_usd,
    duration_ms, ttft_ms, ttft_count)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
    ON CONFLICT (hour, route, key, team, user, provider, model, api, status) DO UPDATE SET
    requests = requests + 1, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    cached_tokens = cached_tokens + excluded.cached_tokens,
    completion_tokens = completion_tokens + excluded.completion_tokens,
    cost_usd = cost_usd + excluded.cost_usd, duration_ms = duration_ms + excluded.duration_ms,
    ttft_ms = ttft_ms + excluded.ttft_ms, ttft_count = ttft_count + excluded.ttft_count";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_hours_come_from_the_sums_and_the_ends_from_the_records() {
        let q = |from, to| Query::parse(Some(&format!("from={from}&to={to}")), 0).unwrap();
        assert_eq!(
            ranges(&q(3_500, 11_000), 0),
            [
                (Source::Records, 3_500, 3_600),
                (Source::Hourly, 3_600, 10_800),
                (Source::Records, 10_800, 11_000)
            ]
        );
        assert_eq!(
            ranges(&q(3_600, 7_200), 0),
            [(Source::Hourly, 3_600, 7_200)]
        );
        assert_eq!(
            ranges(&q(3_700, 7_000), 0),
            [(Source::Records, 3_700, 7_000)]
        );
    }

    #[test]
    fn parts_merge_by_group() {
        let q = Query::parse(Some("group=route&from=0"), 0).unwrap();
        let mut a = [0.0; PART_COUNT];
        a[0] = 2.0;
        a[6] = 0.5;
        a[7] = 100.0;
        let mut b = a;
        b[0] = 3.0;
        b[7] = 400.0;
        let rows = finish(
            &q,
            vec![(vec![Some("m".into())], a), (vec![Some("m".into())], b)],
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["requests"], 5);
        assert_eq!(rows[0]["cost_usd"], 1.0);
        assert_eq!(rows[0]["mean_duration_ms"], 100.0);
        assert_eq!(rows[0]["mean_ttft_ms"], Value::Null);
    }
}
