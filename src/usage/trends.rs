//! Trends: per 5 minutes and per hour, per route, provider and model, the requests,
//! errors (and by label), tokens, spend and histograms of duration and time to first
//! token, added to as the writer writes records (one upsert per group of a batch, in
//! the batch's transaction) — and `GET /admin/trends` reads them as time series by
//! model, target or route over 1 hour to 90 days, with p50/p95 latency, p95 TTFT and
//! the health grade of each step, never scanning the records themselves.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::Record;
use super::db::Cell;
use super::query::Param;
use super::stats::{Grades, grade_of};

/// Upper bounds (ms) of the histograms' buckets; the last bucket is everything above.
const BOUNDS_MS: [f64; 19] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 250.0, 400.0, 600.0, 1000.0, 1500.0, 2500.0, 4000.0,
    6000.0, 10_000.0, 20_000.0, 40_000.0, 90_000.0,
];
const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// The widths trends are summed at (seconds): 5 minutes (kept 8 days) and an hour.
pub const FINE: u64 = 300;
pub const HOUR: u64 = 3600;
/// How long the 5-minute sums are kept.
pub const FINE_DAYS: u64 = 8;

fn bucket(ms: f64) -> usize {
    BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKETS - 1)
}

#[derive(Default)]
struct Sum {
    requests: i64,
    errors: i64,
    prompt: i64,
    completion: i64,
    cost: f64,
    duration: [i64; BUCKETS],
    ttft: [i64; BUCKETS],
}

type Group = (i64, i64, String, String, String);

/// The target a record's trend is counted under: the one that answered, else the last
/// one that failed.
fn target(r: &Record) -> (String, String) {
    if !r.provider.is_empty() {
        return (r.provider.clone(), r.model.clone());
    }
    match r.story.as_deref().and_then(|s| s.failed_at()) {
        Some((p, m)) => (p.to_string(), m.to_string()),
        None => (String::new(), String::new()),
    }
}

fn columns(prefix: char) -> String {
    (0..BUCKETS)
        .map(|i| format!("{prefix}{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The upsert of one group's sums.
fn upsert() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let hist: Vec<String> = ['d', 't']
            .iter()
            .flat_map(|p| (0..BUCKETS).map(move |i| format!("{p}{i}")))
            .collect();
        let names = ["requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd"]
            .iter()
            .map(|s| s.to_string())
            .chain(hist)
            .collect::<Vec<_>>();
        let holders: Vec<String> = (6..6 + names.len()).map(|i| format!("?{i}")).collect();
        let adds: Vec<String> = names
            .iter()
            .map(|n| format!("{n} = {{trend}}.{n} + excluded.{n}"))
            .collect();
        format!(
            "INSERT INTO {{trend}} (width, start, route, provider, model, {}) VALUES (?1, ?2, ?3, ?4, ?5, {})
             ON CONFLICT (width, start, route, provider, model) DO UPDATE SET {}",
            names.join(", "),
            holders.join(", "),
            adds.join(", ")
        )
    })
}

const UPSERT_ERRORS: &str = "INSERT INTO {trend_errors} (width, start, route, provider, model, error, n)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (width, start, route, provider, model, error) DO UPDATE SET n = {trend_errors}.n + excluded.n";

/// The statements that add a batch to the trends: one per group and width.
pub fn statements(batch: &[(u64, Record)]) -> Vec<(&'static str, Vec<Param>)> {
    let mut sums: HashMap<Group, Sum> = HashMap::new();
    let mut errors: HashMap<(Group, String), i64> = HashMap::new();
    for (ts, r) in batch {
        let (provider, model) = target(r);
        for width in [FINE, HOUR] {
            let g = (
                width as i64,
                (ts - ts % width) as i64,
                r.route.clone(),
                provider.clone(),
                model.clone(),
            );
            if let Some(e) = &r.error {
                *errors.entry((g.clone(), e.clone())).or_default() += 1;
            }
            let s = sums.entry(g).or_default();
            s.requests += 1;
            s.errors += i64::from(r.status >= 400);
            s.prompt += r.prompt_tokens as i64;
            s.completion += r.completion_tokens as i64;
            s.cost += r.cost_usd;
            s.duration[bucket(r.duration_ms as f64)] += 1;
            if let Some(t) = r.ttft_ms {
                s.ttft[bucket(t as f64)] += 1;
            }
        }
    }
    let key = |g: Group| {
        vec![
            Param::Int(g.0),
            Param::Int(g.1),
            Param::Text(g.2),
            Param::Text(g.3),
            Param::Text(g.4),
        ]
    };
    let mut out = Vec::with_capacity(sums.len() + errors.len());
    for (g, s) in sums {
        let mut p = key(g);
        p.extend([s.requests, s.errors, s.prompt, s.completion].map(Param::Int));
        p.push(Param::Real(s.cost));
        p.extend(s.duration.iter().chain(&s.ttft).map(|n| Param::Int(*n)));
        out.push((upsert(), p));
    }
    for ((g, label), n) in errors {
        let mut p = key(g);
        p.extend([Param::Text(label), Param::Int(n)]);
        out.push((UPSERT_ERRORS, p));
    }
    out
}

/// What a series is named by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Model,
    Target,
    Route,
}

impl By {
    fn sql(self) -> &'static str {
        match self {
            By::Model => "model",
            By::Target => "provider || '/' || model",
            By::Route => "route",
        }
    }
}

/// A trends query: `by`, the range, optional route and model.
#[derive(Debug, Clone)]
pub struct TrendQuery {
    pub by: By,
    pub from: u64,
    pub to: u64,
    pub route: Option<String>,
    pub model: Option<String>,
}

/// The most series one answer carries (the busiest).
const MOST_SERIES: usize = 100;

impl TrendQuery {
    /// `by=model|target|route`, `range=1h|6h|24h|7d|30d|90d` or `from`/`to`, `route`, `model`.
    pub fn parse(query: Option<&str>, now: u64) -> Result<TrendQuery, String> {
        let mut q = TrendQuery {
            by: By::Model,
            from: now.saturating_sub(86_400),
            to: now + 1,
            route: None,
            model: None,
        };
        for (k, v) in super::query::pairs(query) {
            match k {
                "by" => {
                    q.by = match v.as_str() {
                        "model" => By::Model,
                        "target" => By::Target,
                        "route" => By::Route,
                        _ => return Err(format!("by must be model, target or route, not '{v}'")),
                    }
                }
                "range" => {
                    let secs = match v.as_str() {
                        "1h" => 3600,
                        "6h" => 6 * 3600,
                        "24h" | "1d" => 86_400,
                        "7d" => 7 * 86_400,
                        "30d" => 30 * 86_400,
                        "90d" => 90 * 86_400,
                        _ => {
                            return Err(format!(
                                "range must be 1h, 6h, 24h, 7d, 30d or 90d, not '{v}'"
                            ));
                        }
                    };
                    q.from = now.saturating_sub(secs);
                }
                "from" => q.from = super::query::instant(&v)?,
                "to" => q.to = super::query::instant(&v)?,
                "route" => q.route = Some(v),
                "model" => q.model = Some(v),
                _ => return Err(format!("'{k}' is not a parameter of /admin/trends")),
            }
        }
        if q.to <= q.from || q.to - q.from > 366 * 86_400 {
            return Err("the range must end after it starts and span at most a year".into());
        }
        Ok(q)
    }

    /// The sums read (5-minute or hourly) and the step of the series.
    pub fn plan(&self) -> (u64, u64) {
        // A minute's slack: `range=7d` ends a second after now.
        match (self.to - self.from).saturating_sub(60) {
            s if s <= 6 * 3600 => (FINE, FINE),
            s if s <= 7 * 86_400 => (HOUR, HOUR),
            _ => (HOUR, 6 * HOUR),
        }
    }

    /// The two statements: figures per step and series, errors per step, series, label.
    pub fn statements(&self) -> [(String, Vec<Param>); 2] {
        let (width, step) = self.plan();
        let mut params = vec![
            Param::Int(step as i64),
            Param::Int(width as i64),
            Param::Int((self.from - self.from % step) as i64),
            Param::Int(self.to as i64),
        ];
        let mut filter = String::new();
        for (col, v) in [("route", &self.route), ("model", &self.model)] {
            if let Some(v) = v {
                params.push(Param::Text(v.clone()));
                filter.push_str(&format!(" AND {col} = ?{}", params.len()));
            }
        }
        let sum = |c: &str| format!("CAST(SUM({c}) AS DOUBLE PRECISION)");
        let figures: Vec<String> = [
            "requests",
            "errors",
            "prompt_tokens + completion_tokens",
            "cost_usd",
        ]
        .iter()
        .map(|c| sum(c))
        .chain(columns('d').split(", ").map(sum))
        .chain(columns('t').split(", ").map(sum))
        .collect();
        let head = format!("SELECT start - start % ?1, {}, ", self.by.sql());
        let range = format!("WHERE width = ?2 AND start >= ?3 AND start < ?4{filter}");
        [
            (
                format!(
                    "{head}{} FROM {{trend}} {range} GROUP BY 1, 2 ORDER BY 1",
                    figures.join(", ")
                ),
                params.clone(),
            ),
            (
                format!(
                    "{head}error, {} FROM {{trend_errors}} {range} GROUP BY 1, 2, 3 ORDER BY 1",
                    sum("n")
                ),
                params,
            ),
        ]
    }

    /// The series of the two statements' rows, aligned on the steps of the range.
    pub fn series(&self, figures: &[Vec<Cell>], errors: &[Vec<Cell>], g: Grades) -> Value {
        let (_, step) = self.plan();
        let first = self.from - self.from % step;
        let times: Vec<u64> = (first..self.to).step_by(step as usize).collect();
        let at = |c: &Cell| {
            c.int()
                .map(|t| ((t as u64).saturating_sub(first) / step) as usize)
        };
        let mut series: BTreeMap<String, Series> = BTreeMap::new();
        for row in figures {
            let (Some(i), Some(name)) = (at(&row[0]), row[1].text()) else {
                continue;
            };
            let s = series
                .entry(name.to_string())
                .or_insert_with(|| Series::new(times.len()));
            s.add(i, &row[2..], g);
        }
        for row in errors {
            let (Some(i), Some(name), Some(label)) = (at(&row[0]), row[1].text(), row[2].text())
            else {
                continue;
            };
            if let Some(s) = series.get_mut(name) {
                let n = times.len();
                let v = s
                    .errors_by
                    .entry(label.to_string())
                    .or_insert_with(|| vec![Value::Null; n]);
                if let Some(slot) = v.get_mut(i) {
                    *slot = json!(row[3].int().unwrap_or(0));
                }
            }
        }
        let mut list: Vec<(String, Series)> = series.into_iter().collect();
        list.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));
        let truncated = list.len() > MOST_SERIES;
        list.truncate(MOST_SERIES);
        json!({
            "enabled": true,
            "by": match self.by { By::Model => "model", By::Target => "target", By::Route => "route" },
            "from": self.from, "to": self.to, "step": step, "times": times,
            "series": list.into_iter().map(|(n, s)| s.json(n)).collect::<Vec<_>>(),
            "truncated": truncated,
        })
    }
}

/// One series being filled.
struct Series {
    total: i64,
    cols: BTreeMap<&'static str, Vec<Value>>,
    errors_by: BTreeMap<String, Vec<Value>>,
}

const COLS: [&str; 8] = [
    "requests",
    "errors",
    "tokens",
    "cost_usd",
    "p50_ms",
    "p95_ms",
    "p95_ttft_ms",
    "grade",
];

impl Series {
    fn new(n: usize) -> Series {
        Series {
            total: 0,
            cols: COLS.iter().map(|c| (*c, vec![Value::Null; n])).collect(),
            errors_by: BTreeMap::new(),
        }
    }

    /// Step `i`'s figures: requests, errors, tokens, cost, then the two histograms.
    fn add(&mut self, i: usize, f: &[Cell], g: Grades) {
        let num = |j: usize| f.get(j).and_then(Cell::real).unwrap_or(0.0);
        let hist = |from: usize| -> [f64; BUCKETS] { std::array::from_fn(|k| num(from + k)) };
        let (requests, errors) = (num(0), num(1));
        if requests <= 0.0 {
            return;
        }
        self.total += requests as i64;
        let (d, t) = (hist(4), hist(4 + BUCKETS));
        let p95 = quantile(&d, 0.95);
        let grade = grade_of(1.0 - errors / requests, p95.unwrap_or(0.0), g);
        let values = [
            json!(requests as i64),
            json!(errors as i64),
            json!(num(2) as i64),
            json!((num(3) * 1e6).round() / 1e6),
            json!(quantile(&d, 0.5)),
            json!(p95),
            json!(quantile(&t, 0.95)),
            json!(grade),
        ];
        for (c, v) in COLS.iter().zip(values) {
            if let Some(slot) = self.cols.get_mut(c).and_then(|col| col.get_mut(i)) {
                *slot = v;
            }
        }
    }

    fn json(self, name: String) -> Value {
        let mut v = json!({ "name": name, "errors_by": self.errors_by });
        for (c, col) in self.cols {
            v[c] = Value::Array(col);
        }
        v
    }
}

/// The value at fraction `q` of a histogram, interpolated within its bucket (`None`
/// when it is empty).
pub fn quantile(h: &[f64; BUCKETS], q: f64) -> Option<f64> {
    let total: f64 = h.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut seen = 0.0;
    for (i, n) in h.iter().enumerate() {
        if *n > 0.0 && seen + n >= rank {
            let lo = if i == 0 { 0.0 } else { BOUNDS_MS[i - 1] };
            let hi = BOUNDS_MS.get(i).copied().unwrap_or(lo * 2.0);
            let within = ((rank - seen) / n).clamp(0.0, 1.0);
            return Some(((lo + (hi - lo) * within) * 10.0).round() / 10.0);
        }
        seen += n;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let mut h = [0.0; BUCKETS];
        h[bucket(120.0)] = 90.0;
        h[bucket(3000.0)] = 10.0;
        let p50 = quantile(&h, 0.5).unwrap();
        assert!((100.0..=150.0).contains(&p50), "{p50}");
        let p95 = quantile(&h, 0.95).unwrap();
        assert!((2500.0..=4000.0).contains(&p95), "{p95}");
        assert_eq!(quantile(&[0.0; BUCKETS], 0.5), None);
    }

    #[test]
    fn ranges_pick_their_sums_and_steps() {
        let q = |s: &str| TrendQuery::parse(Some(s), 10_000_000).unwrap().plan();
        assert_eq!(q("range=1h"), (FINE, FINE));
        assert_eq!(q("range=7d"), (HOUR, HOUR));
        assert_eq!(q("range=90d"), (HOUR, 6 * HOUR));
        assert!(TrendQuery::parse(Some("by=key"), 0).is_err());
        assert!(TrendQuery::parse(Some("range=2y"), 0).is_err());
    }
}
