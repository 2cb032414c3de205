//! Claude where the clouds host it, for the mock: Google Vertex AI's
//! `…/publishers/anthropic/models/{model}:rawPredict` and `:streamRawPredict` (Anthropic's
//! "Claude on Vertex AI": no `model` in the body, `anthropic_version:
//! vertex-2023-10-16` in it, the same SSE as Anthropic's API) and Amazon Bedrock's
//! `/model/{id}/invoke` and `/invoke-with-response-stream` (AWS's "Anthropic Claude
//! Messages API": `anthropic_version: bedrock-2023-05-31`, neither `model` nor
//! `stream`, betas as `anthropic_beta`; the stream one eventstream `chunk` per event
//! whose payload is `{"bytes": base64 of the event's JSON}`). Each refuses a body that
//! breaks its rules as the real one does (400, Anthropic's error shape).

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Fault, State, anthropic, bedrock, frames_resp, json_resp, sse_resp};

type Resp = http::Response<super::MockBody>;

fn refuse(m: &str) -> Resp {
    json_resp(
        400,
        json!({ "type": "error", "error": { "type": "invalid_request_error", "message": m } })
            .to_string(),
    )
}

/// The model the path names, the verb, and whether the path is Vertex's.
fn hosted_call(rest: &str) -> Option<(String, &str, bool)> {
    if let Some(i) = rest.find("/publishers/anthropic/models/") {
        let call = &rest[i + "/publishers/anthropic/models/".len()..];
        let (model, verb) = call.rsplit_once(':')?;
        return Some((model.to_string(), verb, true));
    }
    let call = rest.strip_prefix("/model/")?;
    let (model, verb) = call.rsplit_once('/')?;
    matches!(verb, "invoke" | "invoke-with-response-stream").then(|| {
        let model =
            String::from_utf8_lossy(&switchboard::percent::decode(model.as_bytes())).into_owned();
        (model, verb, false)
    })
}

/// The answer for a hosted Claude call, if `rest` is one.
pub(super) fn route(
    state: &Arc<State>,
    rest: &str,
    json: &Value,
    text: &str,
    pieces: &[String],
    fault: Option<Fault>,
) -> Option<Resp> {
    let (model, verb, vertex) = hosted_call(rest)?;
    // Vertex's count-tokens endpoint takes the model in the body.
    if vertex && model == "count-tokens" && verb == "rawPredict" {
        if !json["model"].is_string() || json["anthropic_version"] != "vertex-2023-10-16" {
            return Some(refuse("count-tokens: model and anthropic_version required"));
        }
        return Some(json_resp(200, r#"{"input_tokens":37}"#.into()));
    }
    if json.get("model").is_some() {
        return Some(refuse("model: Extra inputs are not permitted"));
    }
    let version = if vertex {
        "vertex-2023-10-16"
    } else {
        "bedrock-2023-05-31"
    };
    if json["anthropic_version"] != version {
        return Some(refuse(&format!("anthropic_version: must be {version}")));
    }
    // The mock's Anthropic side names the model it answers as.
    let mut req = json.clone();
    req["model"] = json!(model);
    if vertex {
        return Some(match verb {
            "rawPredict" => match anthropic::reply(&req, text) {
                Ok(v) => json_resp(200, v.to_string()),
                Err(e) => json_resp(400, e.to_string()),
            },
            "streamRawPredict" if json["stream"] == true => match anthropic::stream(&req, pieces) {
                Ok(events) => sse_resp(state.clone(), events, fault),
                Err(e) => json_resp(400, e.to_string()),
            },
            _ => refuse("streamRawPredict needs \"stream\": true"),
        });
    }
    if json.get("stream").is_some() {
        return Some(refuse("stream: Extra inputs are not permitted"));
    }
    Some(match verb {
        "invoke" => match anthropic::reply(&req, text) {
            Ok(v) => json_resp(200, v.to_string()),
            Err(e) => json_resp(400, e.to_string()),
        },
        _ => match anthropic::stream(&req, pieces) {
            Ok(events) => {
                let frames = events.iter().map(|e| chunk(e)).collect();
                frames_resp(
                    state.clone(),
                    frames,
                    "application/vnd.amazon.eventstream",
                    fault,
                )
            }
            Err(e) => json_resp(400, e.to_string()),
        },
    })
}

/// One SSE event (`event: …\ndata: {…}\n\n`) as Bedrock's `chunk` message.
fn chunk(sse: &str) -> Vec<u8> {
    let data = sse
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or("{}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    bedrock::encode("chunk", &json!({ "bytes": b64 }))
}
