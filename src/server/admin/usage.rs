//! `GET /admin/usage` (the usage records of a time range, filtered and summed, narrowed
//! to what the asker's role sees) and `GET /admin/stats` (per route and target, the
//! period against the one before it, and each target's grade).

use http::StatusCode;
use serde_json::json;

use super::AdminReq;
use crate::gateway::Gateway;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

pub(super) async fn usage_endpoint(a: AdminReq) -> http::Response<Body> {
    usage(&a.gw, a.req.uri().query(), &a.actor).await
}

/// Narrows a usage query to what `actor`'s role sees: every record, its team's, or
/// (a team member) its team's records of the keys the person made — then the keys
/// to keep (grouped by key, so each row is one key's).
fn scoped(
    gw: &Gateway,
    q: &mut crate::usage::query::Query,
    actor: &crate::access::people::Actor,
) -> Option<std::collections::HashSet<String>> {
    use crate::access::people::Scope;
    let team = match actor.role.scope() {
        Scope::All => return None,
        Scope::Team(t) | Scope::Own(t) => t,
    };
    q.filters.retain(|(c, _)| *c != "team");
    q.filters.push(("team", team.clone()));
    if !matches!(actor.role.scope(), Scope::Own(_)) {
        return None;
    }
    if !q.group.contains(&"key") {
        q.group.push("key");
    }
    Some(
        gw.vkeys
            .list()
            .iter()
            .filter(|k| k.team.as_deref() == Some(&team) && k.owner.as_deref() == actor.person())
            .map(|k| k.name.clone())
            .collect(),
    )
}

pub(super) async fn stats_endpoint(a: AdminReq) -> http::Response<Body> {
    stats(&a.gw, a.req.uri().query()).await
}

/// `GET /admin/stats?hours=24` (or `days=N`; thresholds `ok`, `failing`, `slow_ms`): per
/// route and target, the period against the one before it, and each target's grade.
async fn stats(gw: &Gateway, query: Option<&str>) -> http::Response<Body> {
    let Some(w) = gw.usage.sink() else {
        return json_response(StatusCode::OK, json!({ "enabled": false }));
    };
    let mut secs = 86_400u64;
    let mut grades = crate::usage::stats::Grades::default();
    for kv in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|kv| !kv.is_empty())
    {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let bad = || {
            ApiError::invalid(format!("{k}={v} is not a valid stats parameter"), None)
                .into_response()
        };
        match (k, v.parse::<f64>()) {
            ("hours", Ok(h)) if (1.0..=87_600.0).contains(&h) => secs = (h * 3600.0) as u64,
            ("days", Ok(d)) if (1.0..=3650.0).contains(&d) => secs = (d * 86_400.0) as u64,
            ("ok", Ok(f)) if (0.0..=1.0).contains(&f) => grades.ok = f,
            ("failing", Ok(f)) if (0.0..=1.0).contains(&f) => grades.failing = f,
            ("slow_ms", Ok(ms)) if ms > 0.0 => grades.slow_ms = ms,
            _ => return bad(),
        }
    }
    let now = crate::access::vkeys::now_secs();
    match w.stats(now, secs, grades).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// `GET /admin/usage`: the usage records of a time range, filtered and summed by the
/// groups asked (`crate::usage_query`), as JSON or (`format=csv`) CSV.
async fn usage(
    gw: &Gateway,
    query: Option<&str>,
    actor: &crate::access::people::Actor,
) -> http::Response<Body> {
    let Some(w) = gw.usage.sink() else {
        return json_response(StatusCode::OK, json!({ "enabled": false }));
    };
    let now = crate::access::vkeys::now_secs();
    let mut q = match crate::usage::query::Query::parse(query, now) {
        Ok(q) => q,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    let own_keys = scoped(gw, &mut q, actor);
    let csv = query.is_some_and(|q| q.split('&').any(|kv| kv == "format=csv"));
    let dropped = w.dropped();
    let mut rows = match w.query(&q).await {
        Ok(rows) => rows,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    if let Some(keys) = own_keys {
        rows.retain(|r| r["key"].as_str().is_some_and(|k| keys.contains(k)));
    }
    if csv {
        let mut resp =
            http::Response::new(crate::server::full(crate::usage::query::csv(&q, &rows)));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return resp;
    }
    let days = (now.saturating_sub(q.from)).div_ceil(86_400);
    json_response(
        StatusCode::OK,
        json!({ "enabled": true, "from": q.from, "to": q.to, "days": days, "group": q.group,
                "dropped": dropped, "rows": rows }),
    )
}
