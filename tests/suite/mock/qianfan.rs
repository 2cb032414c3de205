//! Baidu Qianfan's legacy ERNIE API ("wenxinworkshop") for the mock (public references:
//! the ERNIE-4.0-8K chat API, https://cloud.baidu.com/doc/WENXINWORKSHOP/s/clntwmv7t;
//! the error codes, https://cloud.baidu.com/doc/WENXINWORKSHOP/s/tlmyncueh; and Baidu's
//! own SDK, github.com/baidubce/bce-qianfan-sdk — its request/response types, endpoint
//! table, error codes and stream reader, and its mock server (the embeddings shape) —
//! shapes checked 2026-12):
//! - `POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{endpoint}?access_token=…`,
//!   `{messages, stream, system?, temperature?, top_p?, penalty_score?, stop?,
//!   max_output_tokens?, functions?, tool_choice?, response_format?, user_id?}`: messages
//!   an odd number, `user`/`function` at even places and `assistant` at odd ones, no
//!   `system` role, a `function` message named; the answer `{id, object:
//!   "chat.completion", created, result, is_truncated, need_clear_history, finish_reason,
//!   function_call?: {name, arguments, thoughts}, usage: {prompt_tokens,
//!   completion_tokens, total_tokens}}` — one function call at most;
//! - with `stream: true`, SSE `data: {id, object, created, sentence_id, is_end, result,
//!   …}` chunks, the last `is_end: true` with the reason and usage;
//! - `POST …/embeddings/{endpoint}`, `{input: [texts]}` → `{id, object: "embedding_list",
//!   created, data: [{object: "embedding", embedding, index}], usage: {prompt_tokens,
//!   total_tokens}}`;
//! - every error as HTTP 200 `{error_code, error_msg}` — an `access_token` that is not
//!   [`ACCESS_TOKEN`] (nor the token the mock's `oauth/2.0/token` endpoint issued for the
//!   provider) gets `110 Access token invalid or no longer valid`.
//!
//! Answers follow the other mocks: "<provider> says: <last user text>", usage 11/7 (no
//! cached tokens: ERNIE reports none), `length` when `max_output_tokens` < 3, `stop`
//! with stop sequences; when functions are offered and the last message is not a
//! function result, one `get_weather` call for Paris (ERNIE makes one call a turn).

use serde_json::{Value, json};

/// The access token the tests give a `qianfan-legacy` provider as its key.
pub const ACCESS_TOKEN: &str = "24.6c1e8f0a2b4d6f8a0c2e4f6a8b0d2f4e.2592000.1767225600.282335-mock";

pub const CHAT: &str = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/";
pub const EMBEDDINGS: &str = "/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/";

const ID: &str = "as-mock0qianfan";
const CREATED: u64 = 1_767_225_600;

/// The error code Qianfan would give for what `status` means.
fn code_of(status: u16) -> i64 {
    match status {
        400 => 336003,
        401 => 110,
        403 => 336004,
        404 => 336005,
        429 => 18,
        500 => 336000,
        _ => 336100,
    }
}

/// Qianfan's error JSON for what `status` means (Qianfan itself sends it with 200).
pub fn error_body(status: u16, message: &str) -> String {
    json!({ "error_code": code_of(status), "error_msg": message }).to_string()
}

fn refuse(code: i64, message: &str) -> Value {
    json!({ "error_code": code, "error_msg": message })
}

fn bad(message: &str) -> Value {
    refuse(336003, message)
}

/// The `access_token` of a query string.
pub fn access_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// Whether the request's token is the tests' token, or `issued` (the token the mock's
/// token endpoint gave this provider, when a test exchanges keys for one).
pub fn token_ok(query: Option<&str>, issued: Option<&str>) -> bool {
    let given = access_token(query);
    given.as_deref() == Some(ACCESS_TOKEN) || (issued.is_some() && given.as_deref() == issued)
}

/// The refusal of a request without a good token (HTTP 200, as Qianfan answers).
pub fn token_refused() -> Value {
    refuse(110, "Access token invalid or no longer valid")
}

fn messages(req: &Value) -> &[Value] {
    req["messages"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The text of the last user message.
pub fn last_user_text(req: &Value) -> String {
    super::last_user_text(messages(req))
}

/// Refuses what ERNIE refuses: messages that are not an odd number of alternating
/// `user`/`function` and `assistant` turns, a `system` role, a `function` message
/// without its name, a function call whose arguments are not a string, content that
/// is not a string.
fn validate(req: &Value) -> Result<(), Value> {
    let msgs = messages(req);
    if msgs.is_empty() || msgs.len().is_multiple_of(2) {
        return Err(bad("the length of messages must be an odd number"));
    }
    if msgs[0]["role"] == "function" {
        return Err(bad("the role of first message must not be function"));
    }
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if i.is_multiple_of(2) && role != "user" && role != "function" {
            return Err(bad(
                "the role of message with even index in the messages must be user or function",
            ));
        }
        if i % 2 == 1 && role != "assistant" {
            return Err(bad(
                "the role of message with odd index in the messages must be assistant",
            ));
        }
        if role == "function" && !m["name"].is_string() {
            return Err(bad("the name of a function message is required"));
        }
        let call = &m["function_call"];
        if !call.is_null() && !call["arguments"].is_string() {
            return Err(bad("function_call.arguments must be a string"));
        }
        // Only an assistant's function call may come without content.
        let calls = role == "assistant" && !call.is_null();
        if !calls && !m["content"].is_string() {
            return Err(bad("message content must be a string"));
        }
    }
    Ok(())
}

fn wants_tools(req: &Value) -> bool {
    req["functions"].as_array().is_some_and(|f| !f.is_empty())
        && messages(req)
            .last()
            .is_some_and(|m| m["role"] != "function")
}

fn finish_reason(req: &Value) -> &'static str {
    if wants_tools(req) {
        "function_call"
    } else if req["max_output_tokens"].as_u64().is_some_and(|m| m < 3) {
        "length"
    } else if req["stop"].as_array().is_some_and(|s| !s.is_empty()) {
        "stop"
    } else {
        "normal"
    }
}

fn chunk(req: &Value, result: &str) -> Value {
    json!({ "id": ID, "object": "chat.completion", "created": CREATED, "result": result,
            "is_truncated": finish_reason(req) == "length", "need_clear_history": false })
}

fn call() -> Value {
    json!({ "name": "get_weather", "arguments": "{\"city\":\"Paris\"}",
            "thoughts": "The user asks for the weather: call get_weather." })
}

fn usage(completion: u64) -> Value {
    json!({ "prompt_tokens": 11, "completion_tokens": completion, "total_tokens": 11 + completion })
}

/// The answer to a chat request (`text`: what the model says unless it calls a
/// function), an error body (HTTP 200) when Qianfan would refuse it.
pub fn reply(req: &Value, text: &str) -> Value {
    if let Err(e) = validate(req) {
        return e;
    }
    let mut v = chunk(req, if wants_tools(req) { "" } else { text });
    v["finish_reason"] = json!(finish_reason(req));
    v["usage"] = usage(7);
    if wants_tools(req) {
        v["function_call"] = call();
    }
    v
}

/// A stream: one chunk per piece, the last `is_end` with the reason and the usage (a
/// function call comes whole, in the last of two chunks); or the refusal, a bare JSON
/// body.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<Vec<u8>>, Value> {
    validate(req)?;
    let data = |v: &Value| format!("data: {v}\n\n").into_bytes();
    if wants_tools(req) {
        // An empty first chunk, then the call, whole, in the last.
        let mut first = chunk(req, "");
        first["sentence_id"] = json!(0);
        first["is_end"] = json!(false);
        first["usage"] = usage(0);
        let mut v = chunk(req, "");
        v["sentence_id"] = json!(1);
        v["is_end"] = json!(true);
        v["finish_reason"] = json!("function_call");
        v["function_call"] = call();
        v["usage"] = usage(7);
        return Ok(vec![data(&first), data(&v)]);
    }
    let n = pieces.len();
    let events = pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut v = chunk(req, piece);
            v["sentence_id"] = json!(i);
            v["is_end"] = json!(i + 1 == n);
            if i + 1 == n {
                v["finish_reason"] = json!(finish_reason(req));
                v["usage"] = usage(7);
            } else {
                v["usage"] = usage(0);
            }
            data(&v)
        })
        .collect();
    Ok(events)
}

/// The vector every mock gives a text: its length in characters, then 0.5 and -1.
fn vector(text: &str) -> Vec<f64> {
    vec![text.chars().count() as f64, 0.5, -1.0]
}

/// Embeddings: one vector per text, 2 prompt tokens a text; an error body (HTTP 200)
/// for an input that is not a non-empty list of strings.
pub fn embeddings(req: &Value) -> Value {
    let Some(texts) = req["input"]
        .as_array()
        .filter(|t| !t.is_empty() && t.iter().all(Value::is_string))
    else {
        return bad("input must be a non-empty list of strings");
    };
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "object": "embedding", "embedding": vector(t.as_str().unwrap_or("")), "index": i }))
        .collect();
    json!({ "id": ID, "object": "embedding_list", "created": CREATED, "data": data,
            "usage": { "prompt_tokens": texts.len() * 2, "total_tokens": texts.len() * 2 } })
}
