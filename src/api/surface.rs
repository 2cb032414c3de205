//! The rest of OpenAI's surface — `/v1/moderations`, `/v1/images/generations`,
//! `/v1/audio/speech`, `/v1/audio/transcriptions` and `/translations` (multipart
//! uploads), `/v1/rerank` — which has no chat form: forwarded to the route's
//! OpenAI-shaped targets with the model set and the key swapped, through the same
//! pipeline (auth, the key's model allow-list, policies, failover, metrics, the usage
//! record with the tokens the answer states); binary answers stream through.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::cache::Directive;
use crate::live::Principal;
use crate::native::{NativeApi, SURFACE, facts_only};
use crate::pipeline::{self, Gateway};
use crate::reply::{ApiError, Body};
use crate::types::Endpoint;

/// The paths served, for the 404 of any other.
pub fn supported() -> String {
    let mut paths = vec![
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/responses",
        "/v1/models",
        "/v1/files",
        "/v1/batches",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    paths.extend(SURFACE.iter().map(|a| format!("/v1/{}", a.name())));
    paths.join(", ")
}

/// The route a request names: the JSON `model`, or an upload's `model` field.
fn model_of(
    api: NativeApi,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<String, Box<ApiError>> {
    let missing = || {
        Box::new(ApiError::invalid(
            "you must provide a model parameter",
            Some("model"),
        ))
    };
    if api.multipart() {
        let boundary = content_type
            .and_then(crate::multipart::boundary)
            .ok_or_else(|| {
                Box::new(ApiError::invalid(
                    format!("/v1/{} takes a multipart/form-data upload", api.name()),
                    None,
                ))
            })?;
        let mut spans = crate::multipart::fields(body, boundary, "model");
        if spans.len() > 1 {
            return Err(Box::new(ApiError::invalid(
                format!(
                    "the form has {} 'model' fields: send exactly one",
                    spans.len()
                ),
                Some("model"),
            )));
        }
        let span = spans.pop().ok_or_else(missing)?;
        return String::from_utf8(body[span].to_vec())
            .map(|m| m.trim().to_string())
            .map_err(|_| Box::new(ApiError::invalid("'model' must be text", Some("model"))));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(ApiError::invalid(
            format!("the request body is not valid JSON: {e}"),
            None,
        ))
    })?;
    v["model"].as_str().map(str::to_string).ok_or_else(missing)
}

/// Forwards one request of `api` through the pipeline.
pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    api: NativeApi,
    directive: Directive,
    content_type: Option<String>,
    body: Bytes,
) -> http::Response<Body> {
    let model = match model_of(api, content_type.as_deref(), &body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    // What policies read: the route, and the size of what is asked (an upload's file
    // is not text, so it counts as nothing).
    let text = match api.multipart() {
        true => String::new(),
        false => String::from_utf8_lossy(&body).into_owned(),
    };
    let chat = facts_only(&json!(model), text, &Value::Null, &Value::Bool(false));
    let mut native = pipeline::Native::new(api, body, Vec::new());
    native.only = Some(format!("/v1/{} has no chat form", api.name()));
    if api.multipart() {
        native.content_type = content_type;
    }
    let req = pipeline::Request {
        protocol: pipeline::Protocol::Forwarded(api),
        principal,
        endpoint: Endpoint::Chat,
        directive,
        body: Bytes::from(chat.to_string()),
        native: Some(native),
        pin: None,
        prompt: None,
        admin: false,
        parent: None,
    };
    pipeline::handle(gw, req).await
}
