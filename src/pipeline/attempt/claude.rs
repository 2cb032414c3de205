//! Anthropic's Messages API where Claude is hosted, for a passed-through request: on
//! Anthropic's own API as the client sent it; on Google Vertex AI (`rawPredict` /
//! `streamRawPredict` on the model's path, `anthropic_version: vertex-2023-10-16` in the
//! body, no `model` in it, the OAuth token as bearer); on Amazon Bedrock (`InvokeModel`
//! / `InvokeModelWithResponseStream`, `anthropic_version: bedrock-2023-05-31` and the
//! client's `anthropic-beta` in the body, neither `model` nor `stream`, SigV4-signed,
//! the stream's `chunk` messages unwrapped into Anthropic's own events). Written from
//! Anthropic's "Claude on Vertex AI" and AWS's "Anthropic Claude Messages API" pages.

use base64::Engine as _;
use serde_json::Value;

use crate::config::ClaudePlatform;
use crate::types::{AdapterError, AuthScheme, ErrorKind, Sigv4Scope, SseEvent, StreamFormat};

use crate::native::{
    BEDROCK_ANTHROPIC_VERSION as BEDROCK_VERSION, VERTEX_ANTHROPIC_VERSION as VERTEX_VERSION,
};

/// What the request to Claude on a cloud is: path, auth, body, headers kept, stream
/// framing.
pub struct Hosted {
    pub path: String,
    pub auth: AuthScheme,
    pub body: Vec<u8>,
    /// The client's headers that still go as headers.
    pub headers: Vec<(String, String)>,
    pub stream_format: StreamFormat,
}

/// The request for `platform` (not Anthropic's own API), or why the body cannot be
/// one (it is not a JSON object: the client's mistake).
pub fn hosted(
    platform: &ClaudePlatform,
    body: &[u8],
    model: &str,
    stream: bool,
    headers: &[(String, String)],
) -> Option<Hosted> {
    let Ok(Value::Object(mut b)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    b.remove("model");
    let kept = |h: &&(String, String)| !h.0.eq_ignore_ascii_case("anthropic-version");
    Some(match platform {
        ClaudePlatform::Anthropic => return None,
        ClaudePlatform::Vertex => {
            b.entry("anthropic_version")
                .or_insert_with(|| VERTEX_VERSION.into());
            let verb = if stream {
                "streamRawPredict"
            } else {
                "rawPredict"
            };
            Hosted {
                path: format!("/models/{model}:{verb}"),
                auth: AuthScheme::Bearer,
                body: serde_json::to_vec(&b).unwrap_or_default(),
                headers: headers.iter().filter(kept).cloned().collect(),
                stream_format: StreamFormat::Sse,
            }
        }
        ClaudePlatform::Bedrock { region } => {
            b.remove("stream");
            b.entry("anthropic_version")
                .or_insert_with(|| BEDROCK_VERSION.into());
            let betas: Vec<Value> = headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("anthropic-beta"))
                .flat_map(|(_, v)| v.split(','))
                .map(|s| Value::from(s.trim()))
                .filter(|s| s.as_str() != Some(""))
                .collect();
            if !betas.is_empty() {
                b.entry("anthropic_beta").or_insert(Value::Array(betas));
            }
            let id = crate::percent::encode_path_segment(model);
            let verb = if stream {
                "invoke-with-response-stream"
            } else {
                "invoke"
            };
            Hosted {
                path: format!("/model/{id}/{verb}"),
                auth: AuthScheme::AwsSigv4(Sigv4Scope {
                    region: region.clone(),
                    service: "bedrock".into(),
                }),
                body: serde_json::to_vec(&b).unwrap_or_default(),
                headers: Vec::new(),
                stream_format: StreamFormat::AwsEventstream,
            }
        }
    })
}

/// Bedrock's stream messages as Anthropic's events: a `chunk`'s `bytes` is one event's
/// JSON (its `type` the event's name); an exception is the stream's error.
pub fn unwrap_chunks(events: Vec<SseEvent>) -> Result<Vec<SseEvent>, AdapterError> {
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let name = ev.event.as_deref().unwrap_or("");
        if name != "chunk" {
            return Err(exception(name, &ev.data));
        }
        let v: Value = serde_json::from_str(&ev.data).unwrap_or_default();
        let bytes = v["bytes"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let Some(data) = bytes else {
            return Err(exception("malformed chunk", "a chunk without base64 bytes"));
        };
        let kind = serde_json::from_str::<Value>(&data)
            .ok()
            .and_then(|e| e["type"].as_str().map(str::to_string));
        out.push(SseEvent { event: kind, data });
    }
    Ok(out)
}

/// A Bedrock stream exception in the terms of an adapter's error.
fn exception(name: &str, data: &str) -> AdapterError {
    let (status, kind) = match name {
        "throttlingException" => (429, ErrorKind::RateLimit),
        "validationException" => (400, ErrorKind::InvalidRequest),
        "modelTimeoutException" => (504, ErrorKind::Timeout),
        "serviceUnavailableException" => (503, ErrorKind::Overloaded),
        _ => (502, ErrorKind::Upstream),
    };
    let said: Value = serde_json::from_str(data).unwrap_or_default();
    let message = said["message"].as_str().unwrap_or(data);
    AdapterError {
        status,
        kind,
        message: format!("Bedrock {name}: {message}"),
        param: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_gets_the_anthropic_body_without_model_and_stream_and_with_the_betas() {
        let body = br#"{"model":"claude","stream":true,"max_tokens":5,"messages":[]}"#;
        let headers = vec![("anthropic-beta".to_string(), "a-1, b-2".to_string())];
        let platform = ClaudePlatform::Bedrock {
            region: "us-east-1".into(),
        };
        let h = hosted(&platform, body, "anthropic.claude-x:0", true, &headers).unwrap();
        assert_eq!(
            h.path,
            "/model/anthropic.claude-x%3A0/invoke-with-response-stream"
        );
        let v: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(v["anthropic_version"], BEDROCK_VERSION);
        assert_eq!(v["anthropic_beta"], serde_json::json!(["a-1", "b-2"]));
        assert!(v.get("model").is_none() && v.get("stream").is_none());
        let h = hosted(
            &ClaudePlatform::Vertex,
            body,
            "claude-sonnet-4@20250514",
            false,
            &headers,
        )
        .unwrap();
        assert_eq!(h.path, "/models/claude-sonnet-4@20250514:rawPredict");
        let v: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(
            (v["anthropic_version"].as_str(), v["stream"].as_bool()),
            (Some(VERTEX_VERSION), Some(true))
        );
        assert_eq!(h.headers, headers, "Vertex takes betas as headers");
    }

    #[test]
    fn a_chunk_is_unwrapped_and_an_exception_is_an_error() {
        let data = base64::engine::general_purpose::STANDARD.encode(br#"{"type":"message_stop"}"#);
        let ev = SseEvent {
            event: Some("chunk".into()),
            data: format!(r#"{{"bytes":"{data}"}}"#),
        };
        let out = unwrap_chunks(vec![ev]).unwrap();
        assert_eq!(out[0].event.as_deref(), Some("message_stop"));
        let ex = SseEvent {
            event: Some("throttlingException".into()),
            data: r#"{"message":"slow down"}"#.into(),
        };
        let e = unwrap_chunks(vec![ex]).unwrap_err();
        assert_eq!(e.status, 429);
    }
}
