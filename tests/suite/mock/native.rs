//! Routing of the native wire formats in the mock: Gemini (`/v1beta/models/{m}:…`),
//! Cohere v2 (`/v2/chat`, `/v2/embed`), Ollama (`/api/chat`, `/api/embed`), Bedrock
//! (`/model/{id}/converse[-stream]`, every request's SigV4 signature checked), Azure
//! OpenAI (`/openai/deployments/{d}/…?api-version=`, `/openai/v1/…`, as its REST
//! reference at learn.microsoft.com describes them, checked 2026-12), and the quirks of two
//! OpenAI-compatible providers, chosen by the provider's name: `mistral…` refuses
//! `stream_options` and `max_completion_tokens` with 422 (as Mistral's API did,
//! checked 2026-12 against docs.mistral.ai), `moonshot…` streams its usage inside
//! `choices[0].usage` (platform.moonshot.ai, 2026-12).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Fault, State, bedrock, cohere, dashscope, frames_resp, gemini, hunyuan, json_resp, ollama,
    openai, qianfan, sse_resp,
};

/// The AWS credentials the tests give Bedrock providers.
pub const AWS_KEY_ID: &str = "AKIDMOCKEXAMPLE";
pub const AWS_SECRET: &str = "mock/secret/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A Bedrock request whose signature does not verify gets Bedrock's 403.
pub(super) fn check_signature(
    method: &http::Method,
    full_path: &str,
    query: Option<&str>,
    rest: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Option<http::Response<super::MockBody>> {
    // Tencent answers a bad signature, action or version with 200 and `Response.Error`.
    if rest == "/" {
        return hunyuan::check(method.as_str(), query, headers, body)
            .err()
            .map(|e| json_resp(200, e.to_string()));
    }
    if !rest.starts_with("/model/") {
        return None;
    }
    let region = "us-east-1";
    let checked = bedrock::verify_sigv4(
        method.as_str(),
        full_path,
        query,
        headers,
        body,
        AWS_KEY_ID,
        AWS_SECRET,
        region,
        "bedrock",
    );
    let e = checked.err()?;
    let mut r = json_resp(
        403,
        bedrock::error_body(403, &format!("signature mismatch: {e}")),
    );
    r.headers_mut().insert(
        "x-amzn-errortype",
        "InvalidSignatureException".parse().unwrap(),
    );
    Some(r)
}

type Resp = http::Response<super::MockBody>;

fn answer(r: Result<Value, (u16, Value)>) -> Resp {
    match r {
        Ok(v) => json_resp(200, v.to_string()),
        Err((code, e)) => json_resp(code, e.to_string()),
    }
}

fn frames(
    state: &Arc<State>,
    r: Result<Vec<Vec<u8>>, (u16, Value)>,
    ct: &str,
    fault: Option<Fault>,
) -> Resp {
    match r {
        Ok(f) => frames_resp(state.clone(), f, ct, fault),
        Err((code, e)) => json_resp(code, e.to_string()),
    }
}

/// What the model says: the fault's text, else "<provider> says: <last user text>".
fn said(provider: &str, says: &Option<(String, usize)>, last: String) -> (String, Vec<String>) {
    match says {
        Some((t, n)) => {
            let chars: Vec<char> = t.chars().collect();
            (
                t.clone(),
                chars
                    .chunks((*n).max(1))
                    .map(|c| c.iter().collect())
                    .collect(),
            )
        }
        None => {
            let text = format!("{provider} says: {last}");
            let pieces = text.split_inclusive(' ').map(str::to_string).collect();
            (text, pieces)
        }
    }
}

/// The response for a native-format path, or `None` for the OpenAI/Anthropic routes.
pub(super) fn route(
    state: &Arc<State>,
    provider: &str,
    rest: &str,
    json: &Value,
    says: &Option<(String, usize)>,
    fault: Option<Fault>,
) -> Option<Resp> {
    let anthropic_text = || {
        let messages = json["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        said(provider, says, super::last_user_text(messages))
    };
    let (text, pieces) = anthropic_text();
    if let Some(r) = super::claude_hosted::route(state, rest, json, &text, &pieces, fault.clone()) {
        return Some(r);
    }
    // Gemini's API, or Gemini on Vertex AI (`…/publishers/google/models/{m}:{verb}`).
    let gemini_call = rest.strip_prefix("/v1beta/models/").or_else(|| {
        let i = rest.find("/publishers/google/models/")?;
        Some(&rest[i + "/publishers/google/models/".len()..])
    });
    if let Some(call) = gemini_call {
        let (text, pieces) = said(provider, says, gemini::last_user_text(json));
        return Some(match call.rsplit_once(':').map(|(_, m)| m) {
            Some("generateContent") => answer(gemini::reply(json, &text)),
            Some("streamGenerateContent") => frames(
                state,
                gemini::stream(json, &pieces),
                "text/event-stream",
                fault,
            ),
            Some("batchEmbedContents") => answer(gemini::embeddings(json)),
            Some("predict") => answer(gemini::vertex_embeddings(json)),
            _ => json_resp(404, gemini::error_body(404, "method not found")),
        });
    }
    if rest.starts_with("/model/") {
        let (text, pieces) = said(
            provider,
            says,
            super::last_user_text(
                json["messages"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            ),
        );
        return Some(if rest.ends_with("/converse-stream") {
            match bedrock::stream(json, &pieces) {
                Ok(f) => frames_resp(
                    state.clone(),
                    f,
                    "application/vnd.amazon.eventstream",
                    fault,
                ),
                Err((code, e)) => json_resp(code, e.to_string()),
            }
        } else if rest.ends_with("/converse") {
            answer(bedrock::reply(json, &text))
        } else {
            json_resp(404, bedrock::error_body(404, "unknown operation"))
        });
    }
    let cohere_text = || said(provider, says, cohere::last_user_text(json));
    let ollama_text = || said(provider, says, ollama::last_user_text(json));
    match rest {
        "/" => {
            let (text, pieces) = said(provider, says, hunyuan::last_user_text(json));
            Some(hunyuan::route(state, json, &text, &pieces, fault))
        }
        "/v2/chat" if json["stream"] == true => Some(frames(
            state,
            cohere::stream(json, &cohere_text().1),
            "text/event-stream",
            fault,
        )),
        "/v2/chat" => Some(answer(cohere::reply(json, &cohere_text().0))),
        "/v2/embed" => Some(answer(cohere::embeddings(json))),
        "/api/chat" if ollama::streams(json) => Some(frames(
            state,
            ollama::stream(json, &ollama_text().1),
            "application/x-ndjson",
            fault,
        )),
        "/api/chat" => Some(answer(ollama::reply(json, &ollama_text().0))),
        "/api/embed" => Some(answer(ollama::embeddings(json))),
        _ => dashscope_route(state, provider, rest, json, says, fault.clone())
            .or_else(|| qianfan_route(state, provider, rest, json, says, fault.clone()))
            .or_else(|| openai_like(state, provider, rest, json, says, fault)),
    }
}

/// DashScope's native endpoints; a chat streams when the request asked with its header
/// (read from the request just seen, as `wrong_key` reads its key).
fn dashscope_route(
    state: &Arc<State>,
    provider: &str,
    rest: &str,
    json: &Value,
    says: &Option<(String, usize)>,
    fault: Option<Fault>,
) -> Option<Resp> {
    let at = dashscope::endpoint(rest)?;
    let sse = state
        .seen
        .lock()
        .last()
        .is_some_and(|s| dashscope::wants_sse(&s.headers));
    let (text, pieces) = said(provider, says, dashscope::last_user_text(json));
    Some(match at {
        dashscope::Endpoint::Embeddings => answer(dashscope::embeddings(json)),
        dashscope::Endpoint::Chat { multimodal } if sse => frames(
            state,
            dashscope::stream(json, &pieces, multimodal),
            "text/event-stream;charset=UTF-8",
            fault,
        ),
        dashscope::Endpoint::Chat { multimodal } => {
            answer(dashscope::reply(json, &text, multimodal))
        }
    })
}

/// Qianfan's legacy endpoints: every answer 200 (its errors too), a request whose
/// `access_token` is neither the tests' token nor one the token endpoint issued refused.
fn qianfan_route(
    state: &Arc<State>,
    provider: &str,
    rest: &str,
    json: &Value,
    says: &Option<(String, usize)>,
    fault: Option<Fault>,
) -> Option<Resp> {
    let chat = rest.starts_with(qianfan::CHAT);
    if !chat && !rest.starts_with(qianfan::EMBEDDINGS) {
        return None;
    }
    let query = state.seen.lock().last().and_then(|s| s.query.clone());
    let issued = state.keys.lock().get(provider).cloned();
    let ok = |v: Value| json_resp(200, v.to_string());
    if !qianfan::token_ok(query.as_deref(), issued.as_deref()) {
        return Some(ok(qianfan::token_refused()));
    }
    if !chat {
        return Some(ok(qianfan::embeddings(json)));
    }
    let (text, pieces) = said(provider, says, qianfan::last_user_text(json));
    if json["stream"] != true {
        return Some(ok(qianfan::reply(json, &text)));
    }
    Some(match qianfan::stream(json, &pieces) {
        Ok(f) => frames_resp(state.clone(), f, "text/event-stream", fault),
        Err(e) => ok(e),
    })
}
/// Azure's paths and the compatible providers' quirks, over the OpenAI mock.
fn openai_like(
    state: &Arc<State>,
    provider: &str,
    rest: &str,
    json: &Value,
    says: &Option<(String, usize)>,
    fault: Option<Fault>,
) -> Option<Resp> {
    let azure = rest.starts_with("/openai/deployments/") || rest.starts_with("/openai/v1/");
    let quirky = provider.starts_with("mistral") || provider.starts_with("moonshot");
    if !(azure || quirky) {
        return None;
    }
    if rest.ends_with("/embeddings") {
        return Some(json_resp(200, openai::embeddings(json).to_string()));
    }
    if !rest.ends_with("/chat/completions") {
        return None;
    }
    if provider.starts_with("mistral") {
        for field in ["stream_options", "max_completion_tokens"] {
            if json.get(field).is_some() {
                return Some(json_resp(422, json!({ "object": "error", "message": format!("{field}: Extra inputs are not permitted"), "type": "invalid_request_error" }).to_string()));
            }
        }
    }
    let messages = json["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let (text, pieces) = said(provider, says, super::last_user_text(messages));
    if json["stream"] != true {
        return Some(json_resp(200, openai::reply(json, &text).to_string()));
    }
    let mut events = openai::stream(json, &pieces);
    if provider.starts_with("moonshot") {
        events = moonshot_usage(events);
    }
    Some(sse_resp(state.clone(), events, fault))
}

/// Moonshot's stream: no usage chunk; the usage rides in the finishing choice.
fn moonshot_usage(events: Vec<String>) -> Vec<String> {
    let usage = json!({ "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "cached_tokens": 2 });
    let mut out = Vec::new();
    for e in events {
        let Some(data) = e.strip_prefix("data: ").map(str::trim) else {
            continue;
        };
        let Ok(mut v) = serde_json::from_str::<Value>(data) else {
            out.push(e);
            continue;
        };
        if v["choices"].as_array().is_some_and(Vec::is_empty) {
            continue;
        }
        if !v["choices"][0]["finish_reason"].is_null() {
            v["choices"][0]["usage"] = usage.clone();
        }
        out.push(super::sse(None, &v));
    }
    out
}
