//! Anthropic Messages answer → OpenAI `chat.completion`, and Anthropic errors →
//! the contract's error. Shared pieces (finish reasons, usage) serve the stream too.

use serde_json::{Value, json};
use switchboard_sdk::openai::broken;
use switchboard_sdk::types::{AdapterError, ErrorKind, RequestContext, TokenUsage};

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// Anthropic usage → OpenAI usage. Cached and cache-writing input tokens are input
/// tokens too; the cached ones are also reported as `cached_tokens`.
pub fn usage(input: u64, cache_write: u64, cache_read: u64, output: u64) -> Value {
    let prompt = input + cache_write + cache_read;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": { "cached_tokens": cache_read },
    })
}

/// The contract's usage of the four Anthropic counts (input, cache write, cache
/// read, output), as the host is told it.
pub fn token_usage([input, cache_write, cache_read, output]: [u64; 4]) -> TokenUsage {
    TokenUsage {
        prompt_tokens: input + cache_write + cache_read,
        completion_tokens: output,
        cached_prompt_tokens: cache_read,
    }
}

/// Reads the four token counts of an Anthropic `usage` object.
pub fn usage_counts(u: Option<&Value>) -> [u64; 4] {
    let get = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    [
        get("input_tokens"),
        get("cache_creation_input_tokens"),
        get("cache_read_input_tokens"),
        get("output_tokens"),
    ]
}

/// The OpenAI answer, and the usage to report.
pub fn translate(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let msg: Value = serde_json::from_slice(body)
        .map_err(|e| broken(format!("Anthropic answered with invalid JSON: {e}")))?;
    let blocks = msg
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| broken("Anthropic answer has no 'content' array".to_string()))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(json!({
                    "id": block.get("id").cloned().unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": block.get("name").cloned().unwrap_or_default(),
                        "arguments": input.to_string(),
                    }
                }));
            }
            _ => {}
        }
    }
    let mut message = json!({ "role": "assistant", "content": text, "refusal": null });
    if !tool_calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let [input, cache_write, cache_read, output] = usage_counts(msg.get("usage"));
    let out = json!({
        "id": msg.get("id").cloned().unwrap_or_else(|| json!(ctx.request_id)),
        "object": "chat.completion",
        "created": ctx.created,
        "model": msg.get("model").cloned().unwrap_or_else(|| json!(ctx.target_model)),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(msg.get("stop_reason").and_then(Value::as_str)),
        }],
        "usage": usage(input, cache_write, cache_read, output),
    });
    let tokens = token_usage([input, cache_write, cache_read, output]);
    serde_json::to_vec(&out)
        .map(|b| (b, tokens))
        .map_err(|e| broken(format!("cannot encode answer: {e}")))
}

/// Maps an Anthropic error body (`{"type":"error","error":{"type","message"}}`).
pub fn upstream_error(status: u16, body: &[u8]) -> AdapterError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    error_from(status, error).unwrap_or_else(|| {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        AdapterError {
            status,
            kind: kind_for(status, None),
            message: format!("Anthropic answered HTTP {status}: {text}"),
            param: None,
        }
    })
}

/// Maps an Anthropic `error` object, from a body or a stream `error` event.
pub fn error_from(status: u16, error: Option<&Value>) -> Option<AdapterError> {
    let error = error?;
    let etype = error.get("type").and_then(Value::as_str);
    let message = error.get("message").and_then(Value::as_str)?.to_string();
    let status = match (status, etype) {
        (s, _) if s != 200 => s,
        (_, Some("overloaded_error")) => 529,
        (_, Some("rate_limit_error")) => 429,
        (_, Some("invalid_request_error")) => 400,
        _ => 500,
    };
    Some(AdapterError {
        status,
        kind: kind_for(status, etype),
        message,
        param: None,
    })
}

fn kind_for(status: u16, etype: Option<&str>) -> ErrorKind {
    match (etype, status) {
        (Some("invalid_request_error"), _) | (Some("request_too_large"), _) => {
            ErrorKind::InvalidRequest
        }
        (Some("authentication_error"), _) | (_, 401) => ErrorKind::Authentication,
        (Some("permission_error"), _) | (_, 403) => ErrorKind::Permission,
        (Some("not_found_error"), _) | (_, 404) => ErrorKind::NotFound,
        (Some("rate_limit_error"), _) | (_, 429) => ErrorKind::RateLimit,
        (Some("overloaded_error"), _) | (_, 529) | (_, 503) => ErrorKind::Overloaded,
        (Some("timeout_error"), _) | (_, 504) => ErrorKind::Timeout,
        (_, 400) | (_, 413) => ErrorKind::InvalidRequest,
        _ => ErrorKind::Upstream,
    }
}
