//! Responses by id. Those this gateway keeps: `GET`/`DELETE /v1/responses/{id}` from its
//! store, for the key that made them. Those kept at a provider after a pass-through
//! (`store` at OpenAI): recorded in the same store with the key that made them and the
//! provider, so only that key reads, continues or deletes them — at that provider, with
//! its key. An id made elsewhere (not through this gateway) is the provider's to judge.

use serde_json::json;

use crate::live::Principal;
use crate::pipeline::Gateway;
use crate::reply::{ApiError, Body, full};

/// Response ids are letters, digits, `_` and `-`; anything else is no id (and never
/// reaches a provider's URL).
fn plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn json_answer(status: http::StatusCode, body: impl Into<bytes::Bytes>) -> http::Response<Body> {
    let mut resp = http::Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Where a response this gateway does not keep itself may be continued: `Ok(Some(p))`
/// made by this key at provider `p`, `Ok(None)` not made through this gateway,
/// `Err(())` made by another key (then it does not exist for this one).
pub async fn keeper(gw: &Gateway, principal: &Principal, id: &str) -> Result<Option<String>, ()> {
    let Some(store) = gw.responses.current() else {
        return Ok(None);
    };
    match store.owner(id).await {
        Ok(Some((key, _))) if key != principal.key_name => Err(()),
        Ok(Some((_, provider))) => Ok(Some(provider)),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "reading a response's owner failed");
            Ok(None)
        }
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
    if *method != http::Method::GET && *method != http::Method::DELETE {
        return ApiError::new(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{method} is not allowed on /v1/responses/{id}"),
        )
        .into_response();
    }
    let (key, owned) = (principal.key_name.clone(), id.to_string());
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
    match ours {
        None => keeps_none(id),
        Some(Err(e)) => ApiError::internal(e).into_response(),
        Some(Ok(Some(v))) => json_answer(http::StatusCode::OK, v.to_string()),
        Some(Ok(None)) => match at_provider(gw, principal, method, id).await {
            Some(resp) => resp,
            None => {
                ApiError::not_found(format!("No response with id '{id}' found.")).into_response()
            }
        },
    }
}

/// The request, forwarded to the provider that keeps this key's response `id`; `None`
/// when no provider keeps it for this key.
async fn at_provider(
    gw: &Gateway,
    principal: &Principal,
    method: &http::Method,
    id: &str,
) -> Option<http::Response<Body>> {
    if !plain(id) {
        return None;
    }
    let provider = keeper(gw, principal, id).await.ok()??;
    let live = gw.live.load_full();
    let p = live.providers.get(&provider)?;
    let url = format!(
        "{}/responses/{id}",
        p.base_url.as_str().trim_end_matches('/')
    );
    let mut req = http::Request::builder().method(method.clone()).uri(url);
    for (k, v) in &p.provider.headers {
        req = req.header(k, v);
    }
    if let Some(k) = &p.provider.api_key {
        req = req.header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", k.expose()),
        );
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .ok()?;
    let timeout = p.provider.timeout;
    let asked = async {
        let resp = crate::upstream::client()
            .send(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = crate::upstream::read_body(resp, crate::upstream::MAX_UPSTREAM_BODY)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((status, body))
    };
    let (status, body) = match tokio::time::timeout(timeout, asked).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Some(unreachable(&provider, &e)),
        Err(_) => return Some(unreachable(&provider, "no answer in time")),
    };
    if *method == http::Method::DELETE
        && status.is_success()
        && let Some(store) = gw.responses.current()
        && let Err(e) = store.disown(id).await
    {
        tracing::warn!(error = %e, "forgetting a response's owner failed");
    }
    Some(json_answer(status, crate::secrets::scrub_json_body(body)))
}

fn unreachable(provider: &str, why: &str) -> http::Response<Body> {
    let message = crate::secrets::scrub_owned(format!(
        "provider '{provider}', which keeps this response, could not be reached: {why}"
    ));
    ApiError::new(http::StatusCode::BAD_GATEWAY, "upstream_error", message).into_response()
}

fn keeps_none(id: &str) -> http::Response<Body> {
    ApiError::not_found(format!(
        "No response with id '{id}' found: this gateway keeps no responses (configure [responses])."
    ))
    .into_response()
}
