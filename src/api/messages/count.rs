//! `POST /v1/messages/count_tokens`: the provider's own count when the route's first
//! target speaks Anthropic natively (`builtin:anthropic` with a key), else the gateway's
//! estimate — the one its quotas reserve by (the translated request's bytes / 4) —
//! flagged `x-switchboard-estimate: true`. Errors in Anthropic's shape.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{error, request};
use crate::config::ClaudePlatform;
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
    // Refused here, not left to whatever the provider says of it.
    if !req["messages"].is_array() {
        return error(400, "messages: Field required");
    }
    // count_tokens takes no max_tokens; the translation does not need one.
    if let Some(o) = req.as_object_mut() {
        o.remove("max_tokens");
    }
    request::hoist_system(&mut req);
    let translated = match request::to_chat(&req) {
        Ok(c) => c,
        Err(e) => return error(400, &e),
    };
    let model = translated.chat["model"].as_str().unwrap_or_default();
    // The model as its lifecycle says (a draft is not there, a retired one is gone).
    let now = crate::pipeline::now_secs() as i64;
    let route = match crate::pipeline::lifecycle::serve(live, model, principal, now, None) {
        Ok(served) => served.route,
        Err(crate::pipeline::Error::ModelNotFound(_)) => {
            return error(
                404,
                &format!("model: {model} is not a model of this gateway"),
            );
        }
        Err(e) => return error(e.status(), &e.to_string()),
    };
    let named = crate::config::lifecycle::pinned(model).map_or(model, |(b, _)| b);
    if principal
        .models
        .as_ref()
        .is_some_and(|ms| !ms.iter().any(|m| m == named))
    {
        return error(403, &format!("this key may not use model {model}"));
    }
    if let Some(denied) = rate_limited(live, principal, route).await {
        return denied;
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

/// A count is a request like any other to the route's rate limits: each
/// `builtin:request-limit` policy that applies (the route's, the gateway's, the key's
/// and its team's) counts it, and a denial is the answer (429, its headers kept).
async fn rate_limited(
    live: &LiveState,
    principal: &Principal,
    route: &crate::live::LiveRoute,
) -> Option<http::Response<Body>> {
    let limit = crate::config::PluginSource::Builtin("request-limit".into());
    let extra = live.principal_policies(principal);
    let mut seen = Vec::new();
    let preq = crate::types::PolicyRequest {
        request_id: "count_tokens".into(),
        key_name: principal.key_name.clone(),
        team: principal.team.clone(),
        user: None,
        route: route.route.name.clone(),
        tags: principal.tags.clone(),
        n: 1,
        estimated_input_tokens: 0,
        max_output_tokens: Some(0),
        stream: false,
    };
    let counting = crate::plugins::calls::Counting {
        at: crate::plugins::counters::now_secs(),
        caller: principal.key_name.as_str().into(),
    };
    for p in route.policies.iter().chain(extra) {
        if p.spec.source != limit || seen.contains(&&p.spec.name) {
            continue;
        }
        seen.push(&p.spec.name);
        match crate::plugins::calls::check(&p.pool, &preq, &counting).await {
            Ok(crate::types::Decision::Deny(d)) => {
                let mut resp = error(d.status, &d.message);
                for h in d.headers {
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(h.name.as_bytes()),
                        http::HeaderValue::from_str(&h.value),
                    ) {
                        resp.headers_mut().insert(n, v);
                    }
                }
                return Some(resp);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a request limit failed on count_tokens"),
        }
    }
    None
}

/// The count of the route's first target, when it is an Anthropic provider with a key
/// (or Claude on Vertex AI, with its token: `count-tokens:rawPredict`, the model in the
/// body); `None` (the caller estimates) otherwise — Bedrock has no count — or when the
/// provider does not answer it.
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
    req["model"] = json!(target.target.model);
    let base = provider.base_url.as_str().trim_end_matches('/');
    let mut out = http::Request::post(match p.claude {
        ClaudePlatform::Anthropic => format!("{base}/messages/count_tokens"),
        ClaudePlatform::Vertex => format!("{base}/models/count-tokens:rawPredict"),
        ClaudePlatform::Bedrock { .. } => return None,
    })
    .header(http::header::CONTENT_TYPE, "application/json");
    if p.claude == ClaudePlatform::Vertex {
        req["anthropic_version"] = json!(crate::native::VERTEX_ANTHROPIC_VERSION);
        let credential = p.credential.as_ref();
        let (token, _) = crate::upstream::credentials::token_for(credential)
            .await
            .ok()??;
        out = out.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    } else {
        let key = p.api_key.as_ref()?.expose();
        out = out
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01");
    }
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
