//! `GET /admin/stats`: per route and per target (route × provider × model) over a
//! period — requests, success rate, p50/p95 of duration and of time to first token,
//! tokens, spend — beside the same figures for the period before it (the change), and a
//! health grade per target: `healthy`, `degraded` or `failing` from its success rate
//! and p95 latency against thresholds the query may set. Read from the usage records
//! (a SQLite file here, PostgreSQL in `super::postgres`).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde_json::{Value, json};

/// At most this many records are read per period (the newest); the answer says when
/// a period had more.
const MAX_ROWS: i64 = 200_000;

/// The grade thresholds: below `ok` success (or above `slow_ms` p95) is degraded,
/// below `failing` success is failing.
#[derive(Debug, Clone, Copy)]
pub struct Grades {
    pub ok: f64,
    pub failing: f64,
    pub slow_ms: f64,
}

impl Default for Grades {
    fn default() -> Self {
        Grades {
            ok: 0.99,
            failing: 0.9,
            slow_ms: 10_000.0,
        }
    }
}

#[derive(Default)]
struct Acc {
    requests: u64,
    ok: u64,
    prompt: u64,
    completion: u64,
    cost: f64,
    durations: Vec<f64>,
    ttfts: Vec<f64>,
}

/// The value at fraction `q` of `v` (sorted here), `None` when empty.
fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    Some(v[i])
}

impl Acc {
    fn figures(&mut self) -> Value {
        let rate = (self.requests > 0).then(|| self.ok as f64 / self.requests as f64);
        json!({
            "requests": self.requests,
            "success_rate": rate,
            "p50_ms": quantile(&mut self.durations, 0.5),
            "p95_ms": quantile(&mut self.durations, 0.95),
            "ttft_p50_ms": quantile(&mut self.ttfts, 0.5),
            "ttft_p95_ms": quantile(&mut self.ttfts, 0.95),
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "cost_usd": self.cost,
        })
    }
}

/// One usage record, as far as the stats read it.
pub struct Row {
    pub route: String,
    pub provider: String,
    pub model: String,
    pub status: i64,
    pub duration_ms: i64,
    pub ttft_ms: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

/// The columns a period reads, newest first, at most `MAX_ROWS + 1` (`?3` / `$3`).
pub const COLUMNS: &str = "route, provider, model, status, duration_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd";

/// A period's figures: by route, by target (route, provider, model), and whether
/// records were left out.
#[derive(Default)]
pub struct Period {
    routes: BTreeMap<String, Acc>,
    targets: BTreeMap<(String, String, String), Acc>,
    seen: i64,
    cut: bool,
}

impl Acc {
    fn add(&mut self, r: &Row) {
        self.requests += 1;
        self.ok += u64::from(r.status < 400);
        self.durations.push(r.duration_ms as f64);
        if let Some(t) = r.ttft_ms {
            self.ttfts.push(t as f64);
        }
        self.prompt += r.prompt_tokens.max(0) as u64;
        self.completion += r.completion_tokens.max(0) as u64;
        self.cost += r.cost_usd;
    }
}

impl Period {
    /// Counts one record; false once `MAX_ROWS` have been (the rest are left out).
    pub fn add(&mut self, r: Row) -> bool {
        self.seen += 1;
        if self.seen > MAX_ROWS {
            self.cut = true;
            return false;
        }
        self.routes.entry(r.route.clone()).or_default().add(&r);
        if !r.provider.is_empty() && r.provider != "cache" {
            self.targets
                .entry((r.route.clone(), r.provider.clone(), r.model.clone()))
                .or_default()
                .add(&r);
        }
        true
    }
}

/// The period `[from, to)` of a SQLite usage file.
pub fn period_sqlite(conn: &Connection, from: u64, to: u64) -> rusqlite::Result<Period> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM usage WHERE ts >= ?1 AND ts < ?2 ORDER BY ts DESC LIMIT ?3"
    ))?;
    let mut p = Period::default();
    let mut rows = st.query(params![from as i64, to as i64, MAX_ROWS + 1])?;
    while let Some(r) = rows.next()? {
        let row = Row {
            route: r.get(0)?,
            provider: r.get(1)?,
            model: r.get(2)?,
            status: r.get(3)?,
            duration_ms: r.get(4)?,
            ttft_ms: r.get(5)?,
            prompt_tokens: r.get(6)?,
            completion_tokens: r.get(7)?,
            cost_usd: r.get(8)?,
        };
        if !p.add(row) {
            break;
        }
    }
    Ok(p)
}

/// The row limit a period's statement binds.
pub const LIMIT: i64 = MAX_ROWS + 1;

/// The grade of a target's figures.
fn grade(f: &Value, g: Grades) -> &'static str {
    let rate = f["success_rate"].as_f64().unwrap_or(1.0);
    let p95 = f["p95_ms"].as_f64().unwrap_or(0.0);
    grade_of(rate, p95, g)
}

/// The grade of a success rate and a p95 latency.
pub fn grade_of(rate: f64, p95: f64, g: Grades) -> &'static str {
    if rate < g.failing {
        "failing"
    } else if rate < g.ok || p95 > g.slow_ms {
        "degraded"
    } else {
        "healthy"
    }
}

/// This period's figures with the previous period's beside them.
fn paired(now: &mut Acc, before: Option<&mut Acc>) -> Value {
    let mut v = now.figures();
    v["previous"] = before.map_or(Value::Null, |b| b.figures());
    v
}

/// The two periods `stats` compares: the `secs` seconds before `now` (inclusive) and
/// the `secs` before those, as `[from, to)` ranges.
pub fn periods(now: u64, secs: u64) -> [(u64, u64); 2] {
    let from = now.saturating_sub(secs);
    [(from, now + 1), (from.saturating_sub(secs), from)]
}

/// The stats of `this` period (from `periods`), against the one `before` it.
pub fn stats(now: u64, secs: u64, mut this: Period, mut before: Period, g: Grades) -> Value {
    let from = now.saturating_sub(secs);
    let routes: Vec<Value> = this
        .routes
        .iter_mut()
        .map(|(name, a)| {
            let mut v = paired(a, before.routes.get_mut(name));
            v["route"] = json!(name);
            v
        })
        .collect();
    let targets: Vec<Value> = this
        .targets
        .iter_mut()
        .map(|(k, a)| {
            let mut v = paired(a, before.targets.get_mut(k));
            v["grade"] = json!(grade(&v, g));
            v["route"] = json!(k.0);
            v["provider"] = json!(k.1);
            v["model"] = json!(k.2);
            v
        })
        .collect();
    json!({ "from": from, "to": now, "routes": routes, "targets": targets, "truncated": this.cut })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_grades() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), Some(3.0));
        assert_eq!(quantile(&mut v, 0.95), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
        let g = Grades::default();
        assert_eq!(
            grade(&json!({ "success_rate": 1.0, "p95_ms": 200.0 }), g),
            "healthy"
        );
        assert_eq!(
            grade(&json!({ "success_rate": 0.95, "p95_ms": 200.0 }), g),
            "degraded"
        );
        assert_eq!(
            grade(&json!({ "success_rate": 1.0, "p95_ms": 20000.0 }), g),
            "degraded"
        );
        assert_eq!(
            grade(&json!({ "success_rate": 0.5, "p95_ms": 200.0 }), g),
            "failing"
        );
    }
}
