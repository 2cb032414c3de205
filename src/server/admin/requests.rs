//! The request log and its analyses on the admin API: `GET /admin/requests` (records,
//! filtered, a page at a time), `GET /admin/requests/{id}` (one with its story and
//! captured bodies), `POST /admin/requests/{id}/replay` (its captured request sent to
//! another route, both answers side by side), `GET /admin/trends` (time series by
//! model, target or route) and `GET /admin/errors` (top errors). What a team role sees is
//! narrowed as `/admin/usage` narrows it: its team's records, or the keys its person made.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::AdminReq;
use crate::access::people::{Actor, Scope};
use crate::gateway::Gateway;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;
use crate::usage::requests::{self, RequestQuery};
use crate::usage::{Writer, errors, trends};

/// The answer when usage is not recorded.
fn off() -> http::Response<Body> {
    json_response(StatusCode::OK, json!({ "enabled": false }))
}

fn failed(e: impl std::fmt::Display) -> http::Response<Body> {
    ApiError::internal(e.to_string()).into_response()
}

/// The team and keys `actor` is narrowed to (`None`: not narrowed).
fn scope(gw: &Gateway, actor: &Actor) -> (Option<String>, Option<Vec<String>>) {
    match actor.role.scope() {
        Scope::All => (None, None),
        Scope::Team(t) => (Some(t), None),
        Scope::Own(t) => {
            let keys = gw.vkeys.list();
            let mine = keys
                .iter()
                .filter(|k| k.team.as_deref() == Some(&t) && k.owner.as_deref() == actor.person())
                .map(|k| k.name.clone())
                .collect();
            (Some(t), Some(mine))
        }
    }
}

/// `/admin/requests` and `/admin/requests/{id}[/replay]`.
pub async fn handle(
    gw: &Arc<Gateway>,
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    body: Bytes,
    actor: &Actor,
) -> http::Response<Body> {
    let Some(w) = gw.usage.sink() else {
        return off();
    };
    let rest = path
        .trim_start_matches("/admin/requests")
        .trim_start_matches('/');
    match (method, rest.split_once('/')) {
        (&http::Method::GET, None) if rest.is_empty() => list(gw, &w, query, actor).await,
        (&http::Method::GET, None) => match one(gw, &w, rest, actor).await {
            Ok(v) => json_response(StatusCode::OK, v),
            Err(resp) => *resp,
        },
        (&http::Method::POST, Some((id, "replay"))) => replay(gw, &w, id, body, actor).await,
        _ => ApiError::not_found(format!("Unknown admin URL: {path}")).into_response(),
    }
}

async fn list(
    gw: &Gateway,
    w: &Arc<Writer>,
    query: Option<&str>,
    actor: &Actor,
) -> http::Response<Body> {
    let mut q = match RequestQuery::parse(query, crate::access::vkeys::now_secs()) {
        Ok(q) => q,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    let (team, keys) = scope(gw, actor);
    if let Some(t) = team {
        q.exact.retain(|(c, _)| *c != "team");
        q.exact.push(("team", t));
    }
    q.keys = keys;
    match w.rows(vec![q.statement()]).await {
        Ok(mut rows) => json_response(StatusCode::OK, q.page(&rows.remove(0))),
        Err(e) => failed(e),
    }
}

/// One record with its story and bodies, if `actor` may see it.
async fn one(
    gw: &Gateway,
    w: &Arc<Writer>,
    id: &str,
    actor: &Actor,
) -> Result<Value, Box<http::Response<Body>>> {
    let missing =
        || Box::new(ApiError::not_found(format!("no request '{id}' on record")).into_response());
    if id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
    {
        return Err(missing());
    }
    let [row, payload] = requests::one(id);
    let rows = w
        .rows(vec![row, payload])
        .await
        .map_err(|e| Box::new(failed(e)))?;
    let v = requests::detail(rows[0].first(), rows[1].first()).ok_or_else(missing)?;
    let (team, keys) = scope(gw, actor);
    let seen = team.is_none_or(|t| v["team"] == json!(t))
        && keys.is_none_or(|k| k.iter().any(|k| v["key"] == json!(k)));
    seen.then_some(v).ok_or_else(missing)
}

/// `POST /admin/requests/{id}/replay {"route": "…"}`: the captured chat request sent to
/// another route (as the admin, not cached), and both answers.
async fn replay(
    gw: &Arc<Gateway>,
    w: &Arc<Writer>,
    id: &str,
    body: Bytes,
    actor: &Actor,
) -> http::Response<Body> {
    let record = match one(gw, w, id, actor).await {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let route = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["route"].as_str().map(str::to_string));
    let Some(route) = route else {
        return ApiError::invalid(
            "a replay names the route to send to: {\"route\": \"…\"}",
            Some("route"),
        )
        .into_response();
    };
    if !gw.live.load().routes.contains_key(route.as_str()) {
        return ApiError::invalid(format!("no route '{route}'"), Some("route")).into_response();
    }
    let capture = &record["capture"];
    let sent = match (record["api"].as_str(), capture["request"].as_str()) {
        (_, None) => {
            return ApiError::not_found(format!("request '{id}' has no captured body to replay"))
                .into_response();
        }
        (_, Some(_)) if capture["request_truncated"] == json!(true) => {
            return ApiError::invalid(
                "its captured request was cut at the capture's size; it cannot be replayed",
                None,
            )
            .into_response();
        }
        (Some("chat"), Some(s)) => s,
        (api, _) => {
            return ApiError::invalid(
                format!(
                    "only chat completions are replayed, not '{}'",
                    api.unwrap_or("?")
                ),
                None,
            )
            .into_response();
        }
    };
    let Ok(mut ask) = serde_json::from_str::<Value>(sent) else {
        return ApiError::invalid("its captured request is not JSON", None).into_response();
    };
    ask["model"] = json!(route);
    ask["stream"] = json!(false);
    if let Some(o) = ask.as_object_mut() {
        o.remove("stream_options");
    }
    let principal = crate::manage::compare::admin_principal();
    let started = std::time::Instant::now();
    let resp = crate::pipeline::handle(
        gw,
        crate::pipeline::Request {
            protocol: crate::pipeline::Protocol::ChatCompletions,
            principal: &principal,
            endpoint: crate::types::Endpoint::Chat,
            directive: crate::cache::Directive::Bypass,
            body: Bytes::from(ask.to_string()),
            native: None,
            pin: None,
            prompt: None,
            admin: true,
            parent: None,
        },
    )
    .await;
    let status = resp.status().as_u16();
    let replay_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    tracing::info!(actor = %actor.label(), request = %id, %route, "request replayed");
    json_response(
        StatusCode::OK,
        json!({
            "original": { "route": record["route"], "status": record["status"], "body": capture["response"] },
            "replay": { "route": route, "status": status, "request_id": replay_id,
                        "body": String::from_utf8_lossy(&answer),
                        "duration_ms": started.elapsed().as_secs_f64() * 1000.0 },
        }),
    )
}

/// `GET /admin/trends?by=model|target|route&range=…`.
pub(super) async fn trends_endpoint(a: AdminReq) -> http::Response<Body> {
    let Some(w) = a.gw.usage.sink() else {
        return off();
    };
    let q = match trends::TrendQuery::parse(a.req.uri().query(), crate::access::vkeys::now_secs()) {
        Ok(q) => q,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    let [figures, errors] = q.statements();
    match w.rows(vec![figures, errors]).await {
        Ok(rows) => json_response(
            StatusCode::OK,
            q.series(&rows[0], &rows[1], crate::usage::stats::Grades::default()),
        ),
        Err(e) => failed(e),
    }
}

/// `GET /admin/errors?from=…&route=…&provider=…`: the most frequent errors.
pub(super) async fn errors_endpoint(a: AdminReq) -> http::Response<Body> {
    let Some(w) = a.gw.usage.sink() else {
        return off();
    };
    let q = match errors::ErrorQuery::parse(a.req.uri().query(), crate::access::vkeys::now_secs()) {
        Ok(q) => q,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    let groups = match w.rows(vec![q.statement()]).await {
        Ok(mut rows) => rows.remove(0),
        Err(e) => return failed(e),
    };
    let samples = match w.rows(groups.iter().map(|g| q.samples(g)).collect()).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let list: Vec<Value> = groups
        .iter()
        .zip(&samples)
        .map(|(g, s)| errors::group(g, s))
        .collect();
    json_response(
        StatusCode::OK,
        json!({ "enabled": true, "from": q.from, "to": q.to, "errors": list }),
    )
}
