//! `GET /admin/stats`: per route and per target (route × provider × model) over a
//! period — requests, success rate, p50/p95 of duration and of time to first token,
//! tokens, spend — beside the same figures for the period before it (the change), and a
//! health grade per target: `healthy`, `degraded` or `failing` from its success rate
//! and p95 latency against thresholds the query may set. Read from the usage records.

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

/// A period's figures: by route, by target (route, provider, model), and whether
/// records were left out.
struct Period {
    routes: BTreeMap<String, Acc>,
    targets: BTreeMap<(String, String, String), Acc>,
    cut: bool,
}

/// Figures by route and by target over `[from, to)`.
fn period(conn: &Connection, from: u64, to: u64) -> rusqlite::Result<Period> {
    let mut st = conn.prepare(
        "SELECT route, provider, model, status, duration_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd
         FROM usage WHERE ts >= ?1 AND ts < ?2 ORDER BY ts DESC LIMIT ?3",
    )?;
    let (mut routes, mut targets) = (BTreeMap::new(), BTreeMap::new());
    let mut n = 0i64;
    let mut rows = st.query(params![from as i64, to as i64, MAX_ROWS + 1])?;
    while let Some(r) = rows.next()? {
        n += 1;
        if n > MAX_ROWS {
            break;
        }
        let (route, provider, model): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let status: i64 = r.get(3)?;
        let add = |a: &mut Acc| -> rusqlite::Result<()> {
            a.requests += 1;
            a.ok += u64::from(status < 400);
            a.durations.push(r.get::<_, i64>(4)? as f64);
            if let Some(t) = r.get::<_, Option<i64>>(5)? {
                a.ttfts.push(t as f64);
            }
            a.prompt += r.get::<_, i64>(6)?.max(0) as u64;
            a.completion += r.get::<_, i64>(7)?.max(0) as u64;
            a.cost += r.get::<_, f64>(8)?;
            Ok(())
        };
        add(routes.entry(route.clone()).or_default())?;
        if !provider.is_empty() && provider != "cache" {
            add(targets.entry((route, provider, model)).or_default())?;
        }
    }
    Ok(Period {
        routes,
        targets,
        cut: n > MAX_ROWS,
    })
}

/// The grade of a target's figures.
fn grade(f: &Value, g: Grades) -> &'static str {
    let rate = f["success_rate"].as_f64().unwrap_or(1.0);
    let p95 = f["p95_ms"].as_f64().unwrap_or(0.0);
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

/// The stats of the `secs` seconds before `now`, against the `secs` before those.
pub fn stats(conn: &Connection, now: u64, secs: u64, g: Grades) -> rusqlite::Result<Value> {
    let from = now.saturating_sub(secs);
    let mut this = period(conn, from, now + 1)?;
    let mut before = period(conn, from.saturating_sub(secs), from)?;
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
    Ok(
        json!({ "from": from, "to": now, "routes": routes, "targets": targets, "truncated": this.cut }),
    )
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
