//! `builtin:openai`: the adapter for OpenAI and every OpenAI-compatible API.
//!
//! The client already speaks this wire format, so the adapter never rebuilds the
//! body: it asks the host to rewrite `model` in place, and successful answers and
//! streams are forwarded untouched (`translate-response: false`). Only error answers
//! reach this component, to give the client the provider's own message.

wit_bindgen::generate!({ world: "adapter", path: "../../wit" });

use exports::switchboard::plugin::provider_adapter::{self as adapter, GuestStreamTranslator};
use switchboard::plugin::types::{
    AdapterError, AuthScheme, BodyEdit, ErrorKind, HttpMethod, Operation, RequestContext, SseEvent,
    StreamFormat, TranslatedAnswer, TranslatedEvents, UpstreamRequest, UpstreamResponse,
};

struct OpenAi;

impl Guest for OpenAi {
    /// This adapter has no settings: any is a mistake worth saying.
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        match settings.first() {
            Some((name, _)) => Err(format!("builtin:openai has no setting '{name}'")),
            None => Ok(()),
        }
    }
}

impl adapter::Guest for OpenAi {
    type StreamTranslator = PassThrough;

    fn to_upstream(ctx: RequestContext, _body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let path = match ctx.operation {
            Operation::ChatCompletions => "/chat/completions",
            Operation::Embeddings => "/embeddings",
        };
        Ok(UpstreamRequest {
            method: HttpMethod::Post,
            path: path.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            auth: AuthScheme::Bearer,
            body: BodyEdit::SetModel(ctx.target_model),
            translate_response: false,
            stream_format: StreamFormat::Sse,
        })
    }

    fn from_upstream(
        _ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        if (200..300).contains(&resp.status) {
            // Forwarded as it is; the host reads its OpenAI `usage`.
            return Ok(TranslatedAnswer {
                body: None,
                usage: None,
            });
        }
        Err(upstream_error(resp.status, &resp.body))
    }
}

/// Maps an OpenAI-style error answer to the contract's error.
fn upstream_error(status: u16, body: &[u8]) -> AdapterError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message").or(Some(e)))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() {
                format!("upstream answered HTTP {status}")
            } else {
                format!("upstream answered HTTP {status}: {text}")
            }
        });
    let param = error
        .and_then(|e| e.get("param"))
        .and_then(|p| p.as_str())
        .map(str::to_string);
    AdapterError {
        status,
        kind: kind_for_status(status),
        message,
        param,
    }
}

fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 413 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimit,
        503 | 529 => ErrorKind::Overloaded,
        _ => ErrorKind::Upstream,
    }
}

/// Never constructed by the host for this adapter (`translate-response` is false),
/// but kept correct: it forwards every event as it came.
struct PassThrough;

impl GuestStreamTranslator for PassThrough {
    fn new(_ctx: RequestContext) -> Self {
        PassThrough
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        Ok(TranslatedEvents {
            events: vec![ev],
            usage: None,
        })
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        Ok(TranslatedEvents {
            events: Vec::new(),
            usage: None,
        })
    }
}

export!(OpenAi);
