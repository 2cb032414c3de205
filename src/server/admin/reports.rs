//! `[[reports]]` on the admin API: `GET /admin/reports` (each report, where it goes and
//! the period it would cover now), `GET /admin/reports/{name}` (the report of its last
//! whole period, or `from`/`to`; `format=csv` for a spreadsheet) and `POST
//! /admin/reports/{name}/send` (built and sent to its webhook now).

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;

use crate::gateway::Gateway;
use crate::manage::reports;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

pub async fn handle(
    gw: &Arc<Gateway>,
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    actor: &str,
) -> http::Response<Body> {
    let live = gw.live.load_full();
    let now = crate::access::vkeys::now_secs();
    let rest = path
        .trim_start_matches("/admin/reports")
        .trim_start_matches('/');
    if rest.is_empty() {
        let list: Vec<_> = live
            .config
            .reports
            .iter()
            .map(|r| {
                let (from, to) = reports::period(r.every, now);
                json!({ "name": r.name, "every": r.every.label(), "team": r.team,
                    "webhook": r.webhook.is_some(), "from": from, "to": to })
            })
            .collect();
        return json_response(StatusCode::OK, json!({ "reports": list }));
    }
    let (name, send) = match rest.split_once('/') {
        Some((n, "send")) if method == http::Method::POST => (n, true),
        None if method == http::Method::GET => (rest, false),
        _ => return ApiError::not_found(format!("Unknown admin URL: {path}")).into_response(),
    };
    let Some(r) = live.config.reports.iter().find(|r| r.name == name) else {
        return ApiError::not_found(format!("no report '{name}'")).into_response();
    };
    let Some(w) = gw.usage.sink() else {
        return ApiError::invalid("reports read the usage records: configure [usage]", None)
            .into_response();
    };
    let ((from, to), csv) = match asked(query, reports::period(r.every, now), now) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let v = match reports::build(&w, r, (from, to)).await {
        Ok(v) => v,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    if send {
        let sent = reports::send(r, &v).await;
        tracing::info!(%actor, report = %r.name, sent, "report sent on request");
        return json_response(StatusCode::OK, json!({ "sent": sent, "report": v }));
    }
    if csv {
        let mut resp = http::Response::new(crate::server::full(reports::csv(&v)));
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(d) =
            http::HeaderValue::from_str(&format!("attachment; filename=\"{}-{from}.csv\"", r.name))
        {
            h.insert(http::header::CONTENT_DISPOSITION, d);
        }
        return resp;
    }
    json_response(StatusCode::OK, v)
}

/// A report's period, [from, to) in Unix seconds, and whether it is asked as CSV.
type Asked = ((u64, u64), bool);

/// The period a query string asks for (`from`, `to`; else `period`) and whether as CSV.
fn asked(
    query: Option<&str>,
    (mut from, mut to): (u64, u64),
    now: u64,
) -> Result<Asked, Box<http::Response<Body>>> {
    let bad = |e: String, p: Option<&str>| Box::new(ApiError::invalid(e, p).into_response());
    let mut csv = false;
    for kv in query.into_iter().flat_map(|q| q.split('&')) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let at =
            || crate::usage::query::Query::parse(Some(&format!("from={v}")), now).map(|q| q.from);
        match (k, v) {
            ("format", "csv") => csv = true,
            ("format", "json") | ("", _) => {}
            ("from", _) => from = at().map_err(|e| bad(e, Some("from")))?,
            ("to", _) => to = at().map_err(|e| bad(e, Some("to")))?,
            _ => return Err(bad(format!("'{k}' is not a parameter of a report"), None)),
        }
    }
    if to <= from || to - from > 366 * 86_400 {
        let e = "the period must end after it starts and span at most a year";
        return Err(bad(e.into(), None));
    }
    Ok(((from, to), csv))
}
