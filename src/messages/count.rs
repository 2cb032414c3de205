//! `POST /v1/messages/count_tokens`: the provider's own count when the route's first
//! target speaks Anthropic natively (`builtin:anthropic` with a key), else the gateway's
//! estimate — the one its quotas reserve by (the translated request's bytes / 4) —
//! flagged `x-switchboard-estimate: true`. Errors in Anthropic's shape.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{error, request};
use crate::live::{LiveState, Principal};
use crate::reply::{Body, full};

/// Most bytes of a provider's count answer read.
const MAX_ANSWER: usize = 64 * 1024;

pub async fn count_tokens(
    live: &LiveState,
    principal: &Principal,
    body: &[u8],
    anthropic_beta: Option<String>,
) -> http::Response<Body> {
    let mut req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("the request body is not valid JSON: {e}")),
    };
    // count_tokens takes no max_tokens; the translation does not need one.
    if let Some(o) = req.as_object_mut() {
        o.remove("max_tokens");
    }
    let translated = match request::to_chat(&req) {
        Ok(c) => c,
        Err(e) => return error(400, &e),
    };
    let model = translated.chat["model"].as_str().unwrap_or_default();
    let Some(route) = live.routes.get(model) else {
        return error(
            404,
            &format!("model: {model} is not a model of this gateway"),
        );
    };
    if principal
        .models
        .as_ref()
        .is_some_and(|ms| !ms.iter().any(|m| m == model))
    {
        return error(403, &format!("this key may not use model {model}"));
    }
    let (tokens, estimate) = match native(live, route, req, anthropic_beta).await {
        Some(n) => (n, false),
        None => ((translated.chat.to_string().len() as u64).div_ceil(4), true),
    };
    let mut resp = http::Response::new(full(json!({ "input_tokens": tokens }).to_string()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if estimate {
        resp.headers_mut().insert(
            "x-switchboard-estimate",
            http::HeaderValue::from_static("true"),
        );
    }
    resp
}

/// The count of the route's first target, when it is an Anthropic provider with a key;
/// `None` (the caller estimates) otherwise or when the provider does not answer it.
async fn native(
    live: &LiveState,
    route: &crate::live::LiveRoute,
    mut req: Value,
    anthropic_beta: Option<String>,
) -> Option<u64> {
    let target = route.targets.first()?;
    let provider = live.providers.get(&target.target.provider)?;
    let p = &provider.provider;
    if p.adapter.name != "builtin:anthropic" || p.inactive.is_some() {
        return None;
    }
    let key = p.api_key.as_ref()?.expose();
    req["model"] = json!(target.target.model);
    let url = format!(
        "{}/messages/count_tokens",
        provider.base_url.as_str().trim_end_matches('/')
    );
    let mut out = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01");
    if let Some(beta) = anthropic_beta {
        out = out.header("anthropic-beta", beta);
    }
    let out = out
        .body(http_body_util::Full::new(Bytes::from(req.to_string())))
        .ok()?;
    let timeout = p.timeout.min(Duration::from_secs(30));
    let answer = tokio::time::timeout(timeout, async {
        let resp = crate::upstream::client().send(out).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        crate::upstream::read_body(resp, MAX_ANSWER).await.ok()
    })
    .await
    .ok()??;
    let n = serde_json::from_slice::<Value>(&answer).ok()?["input_tokens"].as_u64();
    if n.is_none() {
        tracing::debug!("the provider's count_tokens answer has no input_tokens; estimating");
    }
    n
}
