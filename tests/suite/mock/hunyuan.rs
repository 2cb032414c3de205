//! Tencent Hunyuan's native API for the mock: Tencent Cloud API 3.0, version 2023-09-01
//! (public reference, checked 2026-12: the API overview
//! https://cloud.tencent.com/document/product/1729/101848 and the reference in
//! machine-readable form with its published examples, TencentCloud/tencentcloud-cli
//! `tccli/services/hunyuan/v20230901/api.json` and
//! `tccli/examples/hunyuan/v20230901/{ChatCompletions,GetEmbedding}.md`; the common
//! error codes https://www.tencentcloud.com/document/product/213/33281; the signature
//! guide "Signature v3" https://cloud.tencent.com/document/api/213/30654).
//!
//! Every call is a POST to `/` naming its action in `X-TC-Action` and `X-TC-Version`,
//! first checked (`check`) with a TC3-HMAC-SHA256 verifier written apart from the
//! gateway's signer (`hunyuan/tc3.rs`, re-exported here). `ChatCompletions` answers
//! whole (`{"Response":{…}}`: text, or two parallel `get_weather` calls for Paris and
//! Oslo) or as SSE (bare `data:` events,
//! each with the running `Usage`, the last with `FinishReason`; tool calls as deltas
//! merged by `Id`); `GetEmbedding` answers `Data [{Embedding, Index}]`. Errors come as
//! Tencent sends them: HTTP 200 and `{"Response":{"Error":{"Code","Message"},
//! "RequestId"}}` — unknown parameters included, as API 3.0 refuses them.
//!
//! ChatCompletions has no field for a token limit, so the mock never stops for
//! `length`: the reference's FinishReason values are `stop`, `sensitive`, `tool_calls`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Fault, MockBody, State, frames_resp, json_resp, sse};

mod tc3;

pub use tc3::verify_tc3;

/// The Tencent Cloud credentials the tests give Hunyuan providers.
pub const TC_SECRET_ID: &str = "AKIDmockHunyuan0123456789example";
pub const TC_SECRET_KEY: &str = "mock/hunyuan/Gu5t9xGARNpq86cd98joQYCN3";
/// The service the signature's scope must name.
pub const SERVICE: &str = "hunyuan";
pub const VERSION: &str = "2023-09-01";
const REQUEST_ID: &str = "9c772634-8824-43e8-bc24-8bc4c19b9151";
const CREATED: u64 = 1_719_816_830;
const NOTE: &str = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记";
/// Tool call ids in the reference's shape.
const CALLS: [(&str, &str); 2] = [
    ("call_cq154vk2c3m1v7ep3530", "Paris"),
    ("call_cq154vk2c3m1v7ep3531", "Oslo"),
];
/// ChatCompletions' parameters (api.json's ChatCompletionsRequest); any other is refused.
const CHAT_FIELDS: [&str; 23] = [
    "Model",
    "Messages",
    "Stream",
    "StreamModeration",
    "TopP",
    "Temperature",
    "EnableEnhancement",
    "Tools",
    "ToolChoice",
    "CustomTool",
    "SearchInfo",
    "Citation",
    "EnableSpeedSearch",
    "EnableMultimedia",
    "EnableDeepSearch",
    "Seed",
    "ForceSearchEnhancement",
    "Stop",
    "EnableRecommendedQuestions",
    "EnableDeepRead",
    "WebSearchOptions",
    "TopicChoice",
    "EnableThinking",
];

type Resp = http::Response<MockBody>;

/// `{"Response":{"Error":{"Code","Message"},"RequestId"}}`.
pub fn error_value(code: &str, message: &str) -> Value {
    json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": REQUEST_ID } })
}

/// The error code Tencent uses for what an HTTP status means.
pub fn code_for(status: u16) -> &'static str {
    match status {
        401 => "AuthFailure.SignatureFailure",
        403 => "UnauthorizedOperation",
        404 => "ResourceNotFound",
        429 => "RequestLimitExceeded",
        503 | 529 => "ServiceUnavailable",
        504 => "FailedOperation.EngineRequestTimeout",
        s if s >= 500 => "InternalError",
        _ => "InvalidParameter",
    }
}

/// Tencent's error JSON for `status` (Tencent itself sends it with HTTP 200).
pub fn error_body(status: u16, message: &str) -> String {
    error_value(code_for(status), message).to_string()
}

/// A refusal as Tencent answers it: HTTP 200 and the error.
fn refuse(code: &str, message: &str) -> (u16, Value) {
    (200, error_value(code, message))
}

/// What Tencent's gateway refuses before the action runs: a signature that does not
/// verify, a missing or unknown action or version, a body that is not the action's.
/// The error body to answer with HTTP 200, else `Ok`.
pub fn check(
    method: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), Value> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify_tc3(
        method,
        query.unwrap_or(""),
        headers,
        body,
        TC_SECRET_ID,
        TC_SECRET_KEY,
        SERVICE,
    )
    .map_err(|(code, message)| error_value(code, &message))?;
    if header("x-tc-version") != Some(VERSION) {
        return Err(error_value(
            "NoSuchVersion",
            "The API version does not exist.",
        ));
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let missing = |p: &str| {
        error_value(
            "MissingParameter",
            &format!("The request is missing a required parameter `{p}`."),
        )
    };
    match header("x-tc-action") {
        Some("ChatCompletions") if v.get("Messages").is_some() => Ok(()),
        Some("ChatCompletions") => Err(missing("Messages")),
        Some("GetEmbedding") if v.get("Input").is_some() || v.get("InputList").is_some() => Ok(()),
        Some("GetEmbedding") => Err(missing("Input")),
        Some(other) => Err(error_value(
            "InvalidAction",
            &format!("The API `{other}` does not exist."),
        )),
        None => Err(missing("Action")),
    }
}

fn messages(req: &Value) -> &[Value] {
    req["Messages"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The text of the last user message: `Content`, or its `Contents` text parts joined
/// by a space.
pub fn last_user_text(req: &Value) -> String {
    let Some(m) = messages(req).iter().rev().find(|m| m["Role"] == "user") else {
        return String::new();
    };
    match m["Content"].as_str() {
        Some(t) => t.to_string(),
        None => m["Contents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// One message as ChatCompletions checks it: its role, its content, its tool calls.
fn check_message(i: usize, m: &Value) -> Result<(), (u16, Value)> {
    let bad = |what: &str| Err(refuse("InvalidParameter", &format!("Messages.{i}: {what}")));
    let role = m["Role"].as_str().unwrap_or("");
    let text = m["Content"].as_str().is_some_and(|t| !t.is_empty());
    let parts = m["Contents"].as_array().filter(|c| !c.is_empty());
    if let Some(parts) = parts {
        if role != "user" || !parts.iter().any(|c| c["Type"] == "text") {
            return bad("Contents is for user messages and needs a text part");
        }
        for c in parts {
            match c["Type"].as_str() {
                Some("text") if c["Text"].is_string() => {}
                Some("image_url") if c["ImageUrl"]["Url"].is_string() => {}
                _ => {
                    return bad(
                        "a Contents part is not text or image_url with its Text or ImageUrl.Url",
                    );
                }
            }
        }
    }
    match role {
        "system" if i > 0 => bad("a system message must come first"),
        "system" | "user" if !text && parts.is_none() => bad("Content must not be empty"),
        "tool" if !text || !m["ToolCallId"].is_string() => {
            bad("a tool message needs Content and ToolCallId")
        }
        "assistant"
            if m["ToolCalls"].as_array().into_iter().flatten().any(|c| {
                !c["Id"].is_string()
                    || !c["Function"]["Name"].is_string()
                    || !c["Function"]["Arguments"].is_string()
            }) =>
        {
            bad("ToolCalls need Id, Function.Name and Function.Arguments as strings")
        }
        "assistant" if !text && m["ToolCalls"].as_array().is_none_or(Vec::is_empty) => {
            bad("Content must not be empty")
        }
        "system" | "user" | "tool" | "assistant" => Ok(()),
        other => bad(&format!(
            "Role {other} is not one of system, user, assistant, tool"
        )),
    }
}

/// The order ChatCompletions wants: an optional system message, then user (or tool)
/// and assistant in turn, starting and ending with user (tool); tool may repeat.
fn check_order(msgs: &[Value]) -> Result<(), (u16, Value)> {
    let turns: Vec<&str> = msgs
        .iter()
        .map(|m| m["Role"].as_str().unwrap_or(""))
        .filter(|r| *r != "system")
        .collect();
    let asks = |r: &str| r == "user" || r == "tool";
    let alternate = turns
        .windows(2)
        .all(|w| asks(w[0]) != asks(w[1]) || (w[0] == "tool" && w[1] == "tool"));
    if turns.first() != Some(&"user") || !turns.last().is_some_and(|r| asks(r)) || !alternate {
        return Err(refuse(
            "InvalidParameter",
            &format!(
                "Messages: user (tool) and assistant must alternate, from a user message to a user or tool message: {turns:?}"
            ),
        ));
    }
    Ok(())
}

/// Refuses what ChatCompletions refuses: an unknown parameter, no Model or Messages,
/// a message out of place or without content, Temperature or TopP out of range, a
/// tool whose `Parameters` is not a JSON string, an unknown ToolChoice.
fn validate(req: &Value) -> Result<(), (u16, Value)> {
    if let Some(unknown) = req
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !CHAT_FIELDS.contains(&k.as_str()))
    {
        return Err(refuse(
            "UnknownParameter",
            &format!("The parameter `{unknown}` is not recognized."),
        ));
    }
    if req["Model"].as_str().is_none_or(|m| m.is_empty()) {
        return Err(refuse(
            "MissingParameter",
            "The request is missing a required parameter `Model`.",
        ));
    }
    let msgs = messages(req);
    for (i, m) in msgs.iter().enumerate() {
        check_message(i, m)?;
    }
    check_order(msgs)?;
    if req["Temperature"]
        .as_f64()
        .is_some_and(|t| !(0.0..=2.0).contains(&t))
    {
        return Err(refuse("InvalidParameter", "Temperature must be 2 or less"));
    }
    if req["TopP"]
        .as_f64()
        .is_some_and(|t| !(0.0..=1.0).contains(&t))
    {
        return Err(refuse("InvalidParameter", "TopP must be 1 or less"));
    }
    for (i, t) in req["Tools"].as_array().into_iter().flatten().enumerate() {
        let schema = t["Function"]["Parameters"]
            .as_str()
            .map(serde_json::from_str::<Value>);
        if t["Type"] != "function"
            || !t["Function"]["Name"].is_string()
            || !matches!(schema, Some(Ok(_)))
        {
            return Err(refuse(
                "InvalidParameter",
                &format!(
                    "Tools.{i}: Type function, Function.Name and Function.Parameters (a JSON string) are required"
                ),
            ));
        }
    }
    match req["ToolChoice"].as_str() {
        None | Some("none" | "auto") => Ok(()),
        Some("custom") if req["CustomTool"]["Function"]["Name"].is_string() => Ok(()),
        Some(other) => Err(refuse(
            "InvalidParameter",
            &format!("ToolChoice {other} needs to be none, auto or custom (with CustomTool)"),
        )),
    }
}

/// Offered tools, not told `none`, and the last message not a tool result.
fn wants_tools(req: &Value) -> bool {
    req["Tools"].as_array().is_some_and(|t| !t.is_empty())
        && req["ToolChoice"] != "none"
        && messages(req).last().is_none_or(|m| m["Role"] != "tool")
}

fn finish_reason(req: &Value) -> &'static str {
    if wants_tools(req) {
        "tool_calls"
    } else {
        "stop"
    }
}

/// 11 prompt tokens (2 of them from the cache; `CachedTokens` is typed String) and
/// `completion` output tokens so far.
fn usage(completion: u64) -> Value {
    json!({ "PromptTokens": 11, "CompletionTokens": completion, "TotalTokens": 11 + completion,
            "PromptTokensDetails": { "CachedTokens": "2" } })
}

fn arguments(city: &str) -> String {
    format!("{{\"city\":\"{city}\"}}")
}

/// `text`: what the model says (unless it calls tools).
pub fn reply(req: &Value, text: &str) -> Result<Value, (u16, Value)> {
    validate(req)?;
    let message = if wants_tools(req) {
        let calls: Vec<Value> = CALLS
            .iter()
            .enumerate()
            .map(|(i, (id, city))| {
                json!({ "Id": id, "Type": "function", "Index": i,
                        "Function": { "Name": "get_weather", "Arguments": arguments(city) } })
            })
            .collect();
        json!({ "Role": "assistant", "Content": "Let me check.", "ToolCalls": calls })
    } else {
        json!({ "Role": "assistant", "Content": text })
    };
    Ok(json!({ "Response": {
        "RequestId": REQUEST_ID, "Note": NOTE, "Id": REQUEST_ID, "Created": CREATED,
        "Choices": [{ "Index": 0, "Message": message, "FinishReason": finish_reason(req) }],
        "Usage": usage(7),
    } }))
}

/// One stream event: a bare ChatCompletionsResponse with its delta and running usage.
fn event(delta: Value, reason: &str, completion: u64) -> Vec<u8> {
    let v = json!({
        "Note": NOTE, "Created": CREATED, "Id": REQUEST_ID, "Usage": usage(completion),
        "Choices": [{ "Index": 0, "Delta": delta, "FinishReason": reason }],
    });
    sse(None, &v).into_bytes()
}

/// The reference's tool-call stream: each call opened with its Id, Name and empty
/// Arguments, its Arguments in two later deltas under the same Id (Name empty), the
/// model's text after them.
fn tool_events(out: &mut Vec<Vec<u8>>) {
    for (i, (id, city)) in CALLS.iter().enumerate() {
        let call = |name: &str, args: &str| {
            json!({ "Role": "assistant", "Content": "", "ToolCalls": [{ "Id": id, "Type": "function",
                    "Index": i, "Function": { "Name": name, "Arguments": args } }] })
        };
        out.push(event(call("get_weather", ""), "", 0));
        let args = arguments(city);
        let (head, tail) = args.split_at("{\"city\":".len());
        for part in [head, tail] {
            out.push(event(call("", part), "", 0));
        }
    }
    let plan = json!({ "Role": "assistant", "Content": "Let me check." });
    out.push(event(plan, "", 7));
}

/// `pieces`: what the model says, one event each; the last event carries FinishReason.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<Vec<u8>>, (u16, Value)> {
    validate(req)?;
    let mut out = Vec::new();
    if wants_tools(req) {
        tool_events(&mut out);
    } else {
        for (i, piece) in pieces.iter().enumerate() {
            let delta = json!({ "Role": "assistant", "Content": piece });
            out.push(event(delta, "", (i as u64 + 1).min(7)));
        }
    }
    let last = json!({ "Role": "assistant", "Content": "" });
    out.push(event(last, finish_reason(req), 7));
    Ok(out)
}

/// The vector every mock gives a text: its length in characters, then 0.5 and -1.
fn vector(text: &str) -> Vec<f64> {
    vec![text.chars().count() as f64, 0.5, -1.0]
}

/// `GetEmbedding`: `Input` or `InputList` (at most 50; no other parameter, not even a
/// model) → `Data [{Embedding, Index, Object}]`, 2 prompt tokens a text.
pub fn embeddings(req: &Value) -> Result<Value, (u16, Value)> {
    if let Some(unknown) = req
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !["Input", "InputList"].contains(&k.as_str()))
    {
        return Err(refuse(
            "UnknownParameter",
            &format!("The parameter `{unknown}` is not recognized."),
        ));
    }
    let texts: Vec<&str> = match (req["Input"].as_str(), req["InputList"].as_array()) {
        (Some(one), None) => vec![one],
        (None, Some(list)) if !list.is_empty() && list.len() <= 50 => {
            list.iter().map(|t| t.as_str().unwrap_or("")).collect()
        }
        _ => {
            return Err(refuse(
                "InvalidParameter",
                "one of Input or InputList (1 to 50 texts) is required",
            ));
        }
    };
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "Embedding": vector(t), "Index": i, "Object": "embedding" }))
        .collect();
    let tokens = texts.len() * 2;
    Ok(json!({ "Response": {
        "RequestId": REQUEST_ID, "Data": data,
        "Usage": { "PromptTokens": tokens, "TotalTokens": tokens },
    } }))
}

/// The answer to a request `check` let through: the action is known by its body
/// (`Messages`: ChatCompletions, whole or streamed; else GetEmbedding).
pub(super) fn route(
    state: &Arc<State>,
    json: &Value,
    text: &str,
    pieces: &[String],
    fault: Option<Fault>,
) -> Resp {
    let answered = if json.get("Messages").is_none() {
        embeddings(json)
    } else if json["Stream"] == true {
        match stream(json, pieces) {
            Ok(frames) => return frames_resp(state.clone(), frames, "text/event-stream", fault),
            Err(e) => Err(e),
        }
    } else {
        reply(json, text)
    };
    match answered {
        Ok(v) => json_resp(200, v.to_string()),
        Err((status, e)) => json_resp(status, e.to_string()),
    }
}
