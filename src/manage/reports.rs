//! Spend and health reports (`[[reports]]`): for the gateway or one team, over the
//! day or the week (Monday to Monday, UTC) before — requests, errors, tokens and spend,
//! the change in spend against the period before that, and each model's figures and
//! health — built from the usage records' hourly sums, sent once per period (the
//! replica that claims the period in the usage store sends it) to the report's webhook
//! as JSON or Slack text, and downloadable as JSON or CSV on the admin API.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::alerts::WebhookFormat;
use crate::config::reports::{Every, Report};
use crate::usage::query::Query;
use crate::usage::{UsageError, Writer};

/// The last whole period of `every` before `now`: [from, to) in Unix seconds.
pub fn period(every: Every, now: u64) -> (u64, u64) {
    let today = now - now % 86_400;
    match every {
        Every::Day => (today - 86_400, today),
        Every::Week => {
            // 1970-01-01 was a Thursday: days since a Monday are (days + 3) % 7.
            let monday = today - ((today / 86_400 + 3) % 7) * 86_400;
            (monday - 7 * 86_400, monday)
        }
    }
}

fn query(r: &Report, (from, to): (u64, u64)) -> Query {
    Query {
        from,
        to: Some(to),
        filters: r.team.iter().map(|t| ("team", t.clone())).collect(),
        status: None,
        group: vec!["model"],
        top: None,
    }
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

/// The report of `r` over `range`.
pub async fn build(w: &Arc<Writer>, r: &Report, range: (u64, u64)) -> Result<Value, UsageError> {
    let rows = w.query(&query(r, range)).await?;
    let span = range.1 - range.0;
    let before = w.query(&query(r, (range.0 - span, range.0))).await?;
    let sum = |rows: &[Value], k: &str| rows.iter().map(|v| num(v, k)).sum::<f64>();
    let (requests, errors) = (sum(&rows, "requests"), sum(&rows, "errors"));
    let cost = sum(&rows, "cost_usd");
    let earlier = sum(&before, "cost_usd");
    let rate = |e: f64, n: f64| if n > 0.0 { e / n } else { 0.0 };
    let mut models: Vec<Value> = rows
        .iter()
        .map(|v| {
            let (n, e) = (num(v, "requests"), num(v, "errors"));
            let grades = crate::usage::stats::Grades::default();
            json!({
                "model": v["model"], "requests": n as u64, "errors": e as u64,
                "error_rate": rate(e, n), "cost_usd": num(v, "cost_usd"),
                "tokens": (num(v, "prompt_tokens") + num(v, "completion_tokens")) as u64,
                "mean_duration_ms": v["mean_duration_ms"],
                "health": crate::usage::stats::grade_of(1.0 - rate(e, n), 0.0, grades),
            })
        })
        .collect();
    models.sort_by(|a, b| num(b, "cost_usd").total_cmp(&num(a, "cost_usd")));
    Ok(json!({
        "report": r.name, "every": r.every.label(),
        "scope": r.team.as_ref().map_or("gateway".to_string(), |t| format!("team {t}")),
        "from": range.0, "to": range.1,
        "totals": {
            "requests": requests as u64, "errors": errors as u64, "error_rate": rate(errors, requests),
            "cost_usd": cost, "tokens": models.iter().map(|m| num(m, "tokens")).sum::<f64>() as u64,
        },
        "previous": { "cost_usd": earlier, "requests": sum(&before, "requests") as u64 },
        "change_pct": (earlier > 0.0).then(|| (cost - earlier) / earlier * 100.0),
        "models": models,
    }))
}

fn day(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The report as Slack text.
pub fn slack(v: &Value) -> Value {
    let t = &v["totals"];
    let change = v["change_pct"]
        .as_f64()
        .map(|c| {
            format!(
                " ({c:+.1}% against the {} before)",
                v["every"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let mut text = format!(
        "*{} report — {}* ({} to {}, UTC)\nSpend ${:.4}{change}, {} requests, {:.1}% errors",
        if v["every"] == "week" {
            "Weekly"
        } else {
            "Daily"
        },
        v["scope"].as_str().unwrap_or(""),
        day(v["from"].as_u64().unwrap_or(0)),
        day(v["to"].as_u64().unwrap_or(1).saturating_sub(1)),
        num(t, "cost_usd"),
        t["requests"],
        num(t, "error_rate") * 100.0,
    );
    for m in v["models"].as_array().into_iter().flatten().take(5) {
        text.push_str(&format!(
            "\n• `{}` ${:.4}, {} requests, {:.1}% errors ({})",
            m["model"].as_str().unwrap_or(""),
            num(m, "cost_usd"),
            m["requests"],
            num(m, "error_rate") * 100.0,
            m["health"].as_str().unwrap_or("")
        ));
    }
    json!({ "text": text })
}

/// The report as CSV: a line per model, then the totals.
pub fn csv(v: &Value) -> String {
    let mut out =
        String::from("model,requests,errors,error_rate,tokens,cost_usd,mean_duration_ms,health\n");
    let line = |m: &Value, name: &str| {
        format!(
            "{},{},{},{:.4},{},{:.6},{},{}\n",
            crate::usage::query::csv_field(name),
            m["requests"],
            m["errors"],
            num(m, "error_rate"),
            m["tokens"],
            num(m, "cost_usd"),
            m["mean_duration_ms"]
                .as_f64()
                .map_or(String::new(), |d| format!("{d:.1}")),
            m["health"].as_str().unwrap_or(""),
        )
    };
    for m in v["models"].as_array().into_iter().flatten() {
        out.push_str(&line(m, m["model"].as_str().unwrap_or("")));
    }
    out.push_str(&line(&v["totals"], "(total)"));
    out
}

/// Sends a built report to its webhook; whether it arrived.
pub async fn send(r: &Report, v: &Value) -> bool {
    let Some(w) = &r.webhook else { return false };
    let body = match w.format {
        WebhookFormat::Json => v.clone(),
        WebhookFormat::Slack => slack(v),
    };
    crate::alerts::notify::deliver(w, Bytes::from(body.to_string()), &r.name).await
}

/// Sends every report whose last period no replica has sent yet (run each minute).
pub async fn due(gw: &crate::gateway::Gateway) {
    let Some(w) = gw.usage.sink() else { return };
    let now = crate::access::vkeys::now_secs();
    let live = gw.live.load_full();
    for r in live.config.reports.iter().filter(|r| r.webhook.is_some()) {
        let range = period(r.every, now);
        match w.claim(&r.name, range.1).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(report = %r.name, error = %e, "claiming a report failed");
                continue;
            }
        }
        match build(&w, r, range).await {
            Ok(v) if send(r, &v).await => tracing::info!(report = %r.name, "report sent"),
            Ok(_) => tracing::warn!(report = %r.name, "the report could not be delivered"),
            Err(e) => tracing::warn!(report = %r.name, error = %e, "building a report failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_the_whole_day_or_week_before() {
        // 2026-12-09 (a Wednesday) 15:00 UTC.
        let now = 1_796_828_400;
        assert_eq!(day(now), "2026-12-09");
        let (from, to) = period(Every::Day, now);
        assert_eq!(
            (day(from), day(to)),
            ("2026-12-08".into(), "2026-12-09".into())
        );
        let (from, to) = period(Every::Week, now);
        assert_eq!(
            (day(from), day(to)),
            ("2026-11-30".into(), "2026-12-07".into())
        );
        assert_eq!(to - from, 7 * 86_400);
    }
}
