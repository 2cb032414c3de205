//! What the writer adds to a record's row and beside it, the same for both stores:
//! the columns derived from its story (the story as JSON, the error's message grouped,
//! the provider that failed, the cache's part, whether bodies were captured), the
//! captured bodies' row, the trends' sums — and what pruning removes of them.

use super::query::Param;
use super::story::normalized;
use super::{Record, trends};

/// A record's columns beyond its figures.
pub struct Derived {
    pub story: Option<String>,
    pub error_group: Option<String>,
    pub failed_provider: Option<String>,
    pub cache: Option<String>,
    pub captured: bool,
}

pub fn derive(r: &Record) -> Derived {
    let story = r.story.as_deref();
    Derived {
        story: story.map(|s| s.to_json(r.overhead_ms).to_string()),
        error_group: r
            .error
            .as_ref()
            .map(|_| normalized(r.error_message.as_deref().unwrap_or_default())),
        failed_provider: story
            .and_then(|s| s.failed_at())
            .map(|(p, _)| p.to_string()),
        cache: story.and_then(|s| s.cache).map(str::to_string),
        captured: story.is_some_and(|s| s.payload.as_ref().is_some_and(|p| p.request.is_some())),
    }
}

const INSERT_PAYLOAD: &str = "INSERT INTO {payloads} (request_id, ts, request, response,
    request_truncated, response_truncated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The statements a batch adds beside its rows: captured bodies, then trend sums.
pub fn statements(batch: &[(u64, Record)]) -> Vec<(&'static str, Vec<Param>)> {
    let mut out = Vec::new();
    for (ts, r) in batch {
        let Some(p) = r.story.as_ref().and_then(|s| s.payload.as_ref()) else {
            continue;
        };
        if p.request.is_none() {
            continue;
        }
        let text = |t: &Option<String>| t.clone().map_or(Param::Null, Param::Text);
        out.push((
            INSERT_PAYLOAD,
            vec![
                Param::Text(r.request_id.clone()),
                Param::Int(*ts as i64),
                text(&p.request),
                text(&p.response),
                Param::Bool(p.request_truncated),
                Param::Bool(p.response_truncated),
            ],
        ));
    }
    out.extend(trends::statements(batch));
    out
}

/// What pruning at `now` removes: captured bodies past their retention, 5-minute trend
/// sums past `trends::FINE_DAYS`, hourly sums past the records' retention.
pub fn prunes(now: u64, days: u32, capture_days: u32) -> Vec<(&'static str, Vec<Param>)> {
    let before = |d: u64| Param::Int(now.saturating_sub(d * 86_400) as i64);
    let (days, capture_days) = (u64::from(days), u64::from(capture_days.min(days)));
    vec![
        (
            "DELETE FROM {payloads} WHERE ts < ?1",
            vec![before(capture_days)],
        ),
        (
            "DELETE FROM {trend} WHERE width = ?1 AND start < ?2",
            vec![Param::Int(trends::FINE as i64), before(trends::FINE_DAYS)],
        ),
        (
            "DELETE FROM {trend} WHERE width = ?1 AND start < ?2",
            vec![Param::Int(trends::HOUR as i64), before(days + 1)],
        ),
        (
            "DELETE FROM {trend_errors} WHERE start < ?1 AND (width = ?2 OR start < ?3)",
            vec![
                before(trends::FINE_DAYS),
                Param::Int(trends::FINE as i64),
                before(days + 1),
            ],
        ),
    ]
}
