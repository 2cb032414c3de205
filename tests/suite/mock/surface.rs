//! The rest of OpenAI's surface for the mock: moderations, image generation and rerank
//! as JSON (images and rerank state their usage), speech as a binary body sent in
//! chunks, and transcriptions from a multipart upload (answering with what it got).

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{ChanBody, MockBody, Seen, State, json_resp};

/// Bytes of the speech answer: more than one read of the gateway's buffers.
pub const SPEECH_BYTES: usize = 256 * 1024;

pub fn reply(path: &str, req: &Value) -> Value {
    match path {
        "/v1/moderations" => json!({ "id": "modr-mock", "model": req["model"],
            "results": moderations(&req["input"]) }),
        "/v1/images/generations" => json!({ "created": 1, "data": [{ "b64_json": "aGk=" }],
            "usage": { "input_tokens": 12, "output_tokens": 100, "total_tokens": 112 } }),
        _ => json!({ "model": req["model"], "results": [{ "index": 0, "relevance_score": 0.9 }],
            "usage": { "prompt_tokens": 8, "total_tokens": 8 } }),
    }
}

/// One result per input text: `violence` scores 0.9 where the text says "kill",
/// `harassment` 0.8 where it says "idiot" (0.01 otherwise); flagged from 0.5.
fn moderations(input: &Value) -> Vec<Value> {
    let texts: Vec<String> = match input {
        Value::Array(a) => a
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_lowercase())
            .collect(),
        v => vec![v.as_str().unwrap_or_default().to_lowercase()],
    };
    texts
        .iter()
        .map(|t| {
            let score = |word: &str, hit: f64| if t.contains(word) { hit } else { 0.01 };
            let (v, h) = (score("kill", 0.9), score("idiot", 0.8));
            json!({ "flagged": v >= 0.5 || h >= 0.5,
                "categories": { "violence": v >= 0.5, "harassment": h >= 0.5 },
                "category_scores": { "violence": v, "harassment": h } })
        })
        .collect()
}

/// `SPEECH_BYTES` of audio, byte i being i mod 251, in 16 KiB chunks.
pub fn speech() -> http::Response<MockBody> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let all: Vec<u8> = (0..SPEECH_BYTES).map(|i| (i % 251) as u8).collect();
        for chunk in all.chunks(16 * 1024) {
            if tx.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                return;
            }
        }
    });
    let mut r = http::Response::new(ChanBody(rx).boxed_unsync());
    r.headers_mut()
        .insert("content-type", "audio/mpeg".parse().unwrap());
    r
}

/// A transcription: the `model` field and the upload's size, read from the form.
pub(super) fn transcription(
    state: &State,
    provider: String,
    path: String,
    headers: http::HeaderMap,
    query: Option<String>,
    body: &[u8],
) -> http::Response<MockBody> {
    let text = String::from_utf8_lossy(body).into_owned();
    let model = text
        .split("name=\"model\"\r\n\r\n")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .unwrap_or("")
        .to_string();
    state.seen.lock().push(Seen {
        provider,
        path,
        headers,
        query,
        body: Value::String(text),
    });
    let answer = json!({ "text": format!("heard {} bytes with {model}", body.len()),
        "usage": { "type": "tokens", "input_tokens": 20, "output_tokens": 5, "total_tokens": 25 } });
    json_resp(200, answer.to_string())
}
