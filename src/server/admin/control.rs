//! The admin API's runtime changes: `GET /admin/overrides` (the overrides in force,
//! and those naming no target of the config), `POST /admin/overrides` (a target of a
//! route enabled or disabled, its weight; `null` leaves a field to the config),
//! `POST /admin/overrides/revert` (back to the config), and `GET /admin/audit` (every
//! change made at run time, newest first). Every change is written to the audit log.

use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control::{AuditEntry, Override, now_secs};
use crate::gateway::Gateway;
use crate::live::LiveState;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    route: String,
    provider: String,
    model: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    weight: Option<u32>,
}

/// Records a change made at run time by `actor`.
pub async fn audit(
    gw: &Gateway,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    gw.control
        .audit(AuditEntry {
            at: now_secs(),
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            before,
            after,
        })
        .await;
}

fn parse(body: &[u8]) -> Result<Change, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid override: {e}"))
}

/// Whether the live state's config has this target.
fn known(live: &LiveState, c: &Change) -> bool {
    live.config.routes.get(&c.route).is_some_and(|r| {
        r.targets
            .iter()
            .any(|t| t.provider == c.provider && t.model == c.model)
    })
}

/// `GET`/`POST /admin/overrides`, `POST /admin/overrides/revert`.
pub async fn handle(
    gw: &std::sync::Arc<Gateway>,
    live: &LiveState,
    method: &http::Method,
    path: &str,
    body: bytes::Bytes,
    actor: &str,
) -> http::Response<Body> {
    if method == http::Method::GET && path == "/admin/overrides" {
        let base = gw
            .reload
            .base_config()
            .unwrap_or_else(|| live.config.clone());
        let mut probe = (*base).clone();
        let unused = crate::control::apply(&mut probe, &gw.control.overrides());
        return json_response(
            StatusCode::OK,
            json!({ "overrides": *gw.control.overrides(), "unused": unused }),
        );
    }
    if method != http::Method::POST {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{method} is not allowed on {path}"),
        )
        .into_response();
    }
    change(gw, live, path, &body, actor).await
}

/// `POST /admin/overrides` or `/admin/overrides/revert`.
async fn change(
    gw: &std::sync::Arc<Gateway>,
    live: &LiveState,
    path: &str,
    body: &[u8],
    actor: &str,
) -> http::Response<Body> {
    let mut c = match parse(body) {
        Ok(c) => c,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    if !known(live, &c) {
        return ApiError::not_found(format!(
            "route '{}' has no target {}/{}",
            c.route, c.provider, c.model
        ))
        .into_response();
    }
    let action = match path {
        "/admin/overrides" => "override.set",
        "/admin/overrides/revert" => {
            (c.enabled, c.weight) = (None, None);
            "override.revert"
        }
        _ => return ApiError::not_found(format!("Unknown admin URL: {path}")).into_response(),
    };
    if c.weight.is_some_and(|w| w > 1_000_000) {
        return ApiError::invalid("weight must be from 0 to 1000000", Some("weight"))
            .into_response();
    }
    let o = Override {
        route: c.route,
        provider: c.provider,
        model: c.model,
        enabled: c.enabled,
        weight: c.weight,
        updated: now_secs(),
        actor: actor.to_string(),
    };
    let subject = format!("{}/{}/{}", o.route, o.provider, o.model);
    let before = match gw.control.set(o.clone()).await {
        Ok(b) => b,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    if let Err(e) = crate::manage::reload::rebuild(gw).await {
        return ApiError::internal(format!(
            "the override is kept but the routes were not rebuilt: {e}"
        ))
        .into_response();
    }
    let after = (o.enabled.is_some() || o.weight.is_some()).then(|| json!(o));
    audit(
        gw,
        actor,
        action,
        &subject,
        before.map(|b| json!(b)),
        after.clone(),
    )
    .await;
    json_response(
        StatusCode::OK,
        json!({ "subject": subject, "override": after }),
    )
}

/// `GET /admin/audit?limit=N` (default 100, at most 1000).
pub async fn audit_log(gw: &Gateway, query: Option<&str>) -> http::Response<Body> {
    let limit = match query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("limit="))) {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return ApiError::invalid("limit must be a whole number from 1 to 1000", None)
                    .into_response();
            }
        },
    };
    match gw.control.audit_log(limit).await {
        Ok(entries) => json_response(StatusCode::OK, json!({ "entries": entries })),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
