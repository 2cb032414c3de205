//! The demo provider: a tiny OpenAI-compatible upstream started beside the gateway
//! when `[demo]` is configured, so the shipped config answers with no provider keys.
//! It echoes the last user message, streams word by word, and makes deterministic
//! embeddings; it speaks Anthropic's Messages API too (`/v1/messages`), so a
//! `builtin:anthropic` provider can point at it. It is a real HTTP upstream: requests to it take the full path.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::reply::{Body, full};
use crate::types::SseEvent;
use crate::upstream::sse::encode_all;

fn respond(status: StatusCode, ct: &'static str, body: impl Into<Bytes>) -> http::Response<Body> {
    let mut r = http::Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn error(status: StatusCode, msg: &str) -> http::Response<Body> {
    respond(status, "application/json", json!({ "error": { "message": msg, "type": "invalid_request_error", "param": null, "code": null } }).to_string())
}

fn last_user_text(req: &Value) -> String {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in messages.iter().rev() {
        if m.get("role").and_then(Value::as_str) == Some("user") {
            return match m.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
        }
    }
    String::new()
}

fn chat(req: &Value) -> http::Response<Body> {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo")
        .to_string();
    let reply = format!(
        "Echo from the switchboard demo provider: {}",
        last_user_text(req)
    );
    let prompt = serde_json::to_string(req.get("messages").unwrap_or(&Value::Null))
        .map(|s| s.len() as u64 / 4)
        .unwrap_or(0);
    let completion = reply.split_whitespace().count() as u64;
    let usage = json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion });
    let id = format!("chatcmpl-demo{:x}", rand::random::<u32>());
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        let body = json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": reply }, "finish_reason": "stop" }],
            "usage": usage,
        });
        return respond(StatusCode::OK, "application/json", body.to_string());
    }
    let chunk = |delta: Value, finish: Value| SseEvent {
        event: None,
        data: json!({ "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                      "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        .to_string(),
    };
    let mut events = vec![chunk(
        json!({ "role": "assistant", "content": "" }),
        Value::Null,
    )];
    for (i, word) in reply.split(' ').enumerate() {
        let piece = if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        };
        events.push(chunk(json!({ "content": piece }), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    if include_usage {
        events.push(SseEvent { event: None, data: json!({ "id": id, "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage }).to_string() });
    }
    events.push(SseEvent {
        event: None,
        data: "[DONE]".into(),
    });
    respond(StatusCode::OK, "text/event-stream", encode_all(&events))
}

/// `POST /v1/messages`: the same echo as an Anthropic message or event stream.
fn messages(req: &Value) -> http::Response<Body> {
    let model = req.get("model").cloned().unwrap_or(json!("demo"));
    let reply = format!(
        "Echo from the switchboard demo provider: {}",
        last_user_text(req)
    );
    let input = serde_json::to_string(req.get("messages").unwrap_or(&Value::Null))
        .map(|s| s.len() as u64 / 4)
        .unwrap_or(0);
    let output = reply.split_whitespace().count() as u64;
    let id = format!("msg_demo{:x}", rand::random::<u32>());
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        let body = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{ "type": "text", "text": reply }],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": input, "output_tokens": output },
        });
        return respond(StatusCode::OK, "application/json", body.to_string());
    }
    let ev = |kind: &str, data: Value| SseEvent {
        event: Some(kind.to_string()),
        data: data.to_string(),
    };
    let mut events = vec![
        ev(
            "message_start",
            json!({ "type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "usage": { "input_tokens": input, "output_tokens": 1 } } }),
        ),
        ev(
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0,
            "content_block": { "type": "text", "text": "" } }),
        ),
    ];
    for (i, word) in reply.split(' ').enumerate() {
        let text = if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        };
        events.push(ev(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0,
            "delta": { "type": "text_delta", "text": text } }),
        ));
    }
    events.push(ev(
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    events.push(ev("message_delta", json!({ "type": "message_delta",
        "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": output } })));
    events.push(ev("message_stop", json!({ "type": "message_stop" })));
    respond(StatusCode::OK, "text/event-stream", encode_all(&events))
}

fn embeddings(req: &Value) -> http::Response<Body> {
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        _ => return error(StatusCode::BAD_REQUEST, "'input' is required"),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut h: u64 = 0xcbf29ce484222325;
            let vector: Vec<f64> = (0..8)
                .map(|_| {
                    for b in text.bytes() {
                        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
                    }
                    h = h.wrapping_mul(0x100000001b3).wrapping_add(1);
                    ((h >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
                })
                .collect();
            json!({ "object": "embedding", "index": i, "embedding": vector })
        })
        .collect();
    let tokens: u64 = inputs
        .iter()
        .map(|t| t.split_whitespace().count() as u64)
        .sum();
    let body = json!({ "object": "list", "data": data, "model": req.get("model"), "usage": { "prompt_tokens": tokens, "total_tokens": tokens } });
    respond(StatusCode::OK, "application/json", body.to_string())
}

async fn handle(req: http::Request<Incoming>) -> http::Response<Body> {
    let path = req.uri().path().to_string();
    let Ok(body) = req.into_body().collect().await else {
        return error(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    match path.as_str() {
        "/v1/chat/completions" => chat(&v),
        "/v1/embeddings" => embeddings(&v),
        "/v1/messages" => messages(&v),
        _ => error(StatusCode::NOT_FOUND, "unknown path"),
    }
}

/// Binds the demo provider and serves it in the background.
pub async fn start(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the demo provider: {e}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(|req| async move { Ok::<_, Infallible>(handle(req).await) });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(local)
}
