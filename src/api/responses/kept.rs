//! Responses by id. Those this gateway keeps: `GET`/`DELETE /v1/responses/{id}` from its
//! store, for the key that made them. Those kept at a provider after a pass-through
//! (`store` at OpenAI): only the key that made them reads, continues or deletes them,
//! at that provider (`crate::api::kept`). An id made elsewhere is the provider's to judge.

use serde_json::json;

use crate::api::kept::{Access, Forward, access, forward, json_answer, plain};
use crate::live::Principal;
use crate::pipeline::Gateway;
use crate::reply::{ApiError, Body};

/// Where a response this gateway does not keep itself may be continued: `Ok(Some(p))`
/// made by this key at provider `p`, `Ok(None)` not made through this gateway,
/// `Err(())` made by another key (then it does not exist for this one).
pub async fn keeper(gw: &Gateway, principal: &Principal, id: &str) -> Result<Option<String>, ()> {
    match access(gw, &principal.owner, id, "response").await {
        Access::Mine(p) => Ok(Some(p)),
        Access::Not => Err(()),
        Access::Unknown => Ok(None),
    }
}

/// `GET` or `DELETE /v1/responses/{id}`: a stored response of this key, here or at the
/// provider that keeps it.
pub async fn stored(
    gw: &Gateway,
    principal: &Principal,
    method: &http::Method,
    id: &str,
) -> http::Response<Body> {
    crate::api::kept::served(gw, principal, "responses", |ctx| async move {
        stored_in(gw, &ctx, principal, method, id).await
    })
    .await
}

async fn stored_in(
    gw: &Gateway,
    ctx: &crate::pipeline::RequestCtx,
    principal: &Principal,
    method: &http::Method,
    id: &str,
) -> http::Response<Body> {
    if *method != http::Method::GET && *method != http::Method::DELETE {
        return ApiError::new(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{method} is not allowed on /v1/responses/{id}"),
        )
        .into_response();
    }
    let (key, owned) = (principal.owner.clone(), id.to_string());
    let ours = if *method == http::Method::GET {
        gw.responses
            .load(key, owned)
            .await
            .map(|r| r.map(|s| s.map(|s| s.response)))
    } else {
        gw.responses.delete(key, owned).await.map(|r| {
            r.map(|deleted| {
                deleted.then(|| json!({ "id": id, "object": "response.deleted", "deleted": true }))
            })
        })
    };
    let not_found =
        || ApiError::not_found(format!("No response with id '{id}' found.")).into_response();
    match ours {
        None => keeps_none(id),
        Some(Err(e)) => ApiError::internal(e).into_response(),
        Some(Ok(Some(v))) => json_answer(http::StatusCode::OK, v.to_string()),
        Some(Ok(None)) if !plain(id) => not_found(),
        Some(Ok(None)) => match keeper(gw, principal, id).await {
            Ok(Some(provider)) => {
                let resp = forward(
                    gw,
                    Forward {
                        ctx: Some(ctx),
                        provider: &provider,
                        method: method.clone(),
                        path: format!("/responses/{id}"),
                        body: None,
                        binary: false,
                    },
                )
                .await;
                crate::api::kept::forget_if_deleted(gw, method, id, resp.status()).await;
                resp
            }
            _ => not_found(),
        },
    }
}

fn keeps_none(id: &str) -> http::Response<Body> {
    ApiError::not_found(format!(
        "No response with id '{id}' found: this gateway keeps no responses (configure [responses])."
    ))
    .into_response()
}
