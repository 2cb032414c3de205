//! Amazon Bedrock Converse wire format for the mock (public reference:
//! https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
//! .../API_runtime_ConverseStream.html and the SigV4 guide
//! https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
//! shapes checked 2026-12): Converse answers, the ConverseStream binary event stream
//! (`application/vnd.amazon.eventstream`: CRC32-framed messages whose JSON payloads
//! carry a `p` padding field), exceptions inside that stream, Bedrock's `{"message"}`
//! errors with their `x-amzn-ErrorType`, and an independent check of a SigV4 signature.
//! The framing lives in `bedrock/eventstream.rs` and the signature check in
//! `bedrock/sigv4.rs`; both are re-exported here.

pub mod eventstream;
mod sigv4;

use serde_json::{Value, json};

pub use eventstream::encode;
pub use sigv4::verify_sigv4;

const CALLS: [(&str, &str); 2] = [("tooluse_1", "Paris"), ("tooluse_2", "Oslo")];

/// Bedrock's error JSON (the type travels in the `x-amzn-ErrorType` header).
pub fn error_body(_status: u16, message: &str) -> String {
    json!({ "message": message }).to_string()
}

/// The `x-amzn-ErrorType` for a status. (ModelNotReadyException is a 429 too; the
/// mock names 429 ThrottlingException.)
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        s if s >= 500 => "InternalServerException",
        _ => "ValidationException",
    }
}

fn bad(message: &str) -> (u16, Value) {
    (400, json!({ "message": message }))
}

fn messages(req: &Value) -> &[Value] {
    req["messages"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The text of the last user message: its `text` blocks joined by a space.
pub fn last_user_text(req: &Value) -> String {
    super::last_user_text(messages(req))
}

/// Refuses what Converse refuses (ValidationException): no `messages`, a role other than
/// user/assistant, two messages in a row from one role, a first message not the user's,
/// empty content, blank text, toolUse/toolResult blocks without a `toolConfig`.
fn validate(req: &Value) -> Result<(), (u16, Value)> {
    let msgs = req["messages"].as_array().ok_or_else(|| {
        bad("1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null")
    })?;
    let mut tool_blocks = false;
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(bad(&format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
            )));
        }
        if i > 0 && msgs[i - 1]["role"] == m["role"] {
            return Err(bad(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        let content = m["content"].as_array().filter(|c| !c.is_empty()).ok_or_else(|| {
            bad(&format!("The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."))
        })?;
        for (j, b) in content.iter().enumerate() {
            if b["text"].as_str().is_some_and(|t| t.trim().is_empty()) {
                return Err(bad(&format!(
                    "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                )));
            }
            tool_blocks |= b.get("toolUse").is_some() || b.get("toolResult").is_some();
        }
    }
    if msgs.first().is_none_or(|m| m["role"] != "user") {
        return Err(bad(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    if tool_blocks && req["toolConfig"].is_null() {
        return Err(bad(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        ));
    }
    Ok(())
}

fn wants_tools(req: &Value) -> bool {
    let answering = messages(req)
        .last()
        .and_then(|m| m["content"].as_array())
        .is_some_and(|c| c.iter().any(|b| b.get("toolResult").is_some()));
    req["toolConfig"]["tools"]
        .as_array()
        .is_some_and(|t| !t.is_empty())
        && !answering
}

fn stop_reason(req: &Value) -> &'static str {
    let config = &req["inferenceConfig"];
    if wants_tools(req) {
        "tool_use"
    } else if config["maxTokens"].as_u64().is_some_and(|m| m < 3) {
        "max_tokens"
    } else if config["stopSequences"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        "stop_sequence"
    } else {
        "end_turn"
    }
}

/// `inputTokens` excludes the cache reads (9 + 2 cached = the 11 of every mock).
fn usage() -> Value {
    json!({ "inputTokens": 9, "outputTokens": 7, "totalTokens": 18,
            "cacheReadInputTokens": 2, "cacheWriteInputTokens": 0 })
}

/// `text`: what the model says (unless it calls tools).
pub fn reply(req: &Value, text: &str) -> Result<Value, (u16, Value)> {
    validate(req)?;
    let content = if wants_tools(req) {
        let mut blocks = vec![json!({ "text": "Let me check." })];
        for (id, city) in CALLS {
            blocks.push(json!({ "toolUse": { "toolUseId": id, "name": "get_weather", "input": { "city": city } } }));
        }
        blocks
    } else {
        vec![json!({ "text": text })]
    };
    Ok(json!({
        "output": { "message": { "role": "assistant", "content": content } },
        "stopReason": stop_reason(req), "usage": usage(), "metrics": { "latencyMs": 10 },
    }))
}

/// `pieces`: what the model says, one contentBlockDelta each; every payload padded with
/// `"p"` as the real stream pads them.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<Vec<u8>>, (u16, Value)> {
    validate(req)?;
    let ev = |kind: &str, mut payload: Value| {
        payload["p"] = json!("abc");
        encode(kind, &payload)
    };
    let delta = |i: usize, d: Value| {
        ev(
            "contentBlockDelta",
            json!({ "contentBlockIndex": i, "delta": d }),
        )
    };
    let stop = |i: usize| ev("contentBlockStop", json!({ "contentBlockIndex": i }));
    let mut out = vec![ev("messageStart", json!({ "role": "assistant" }))];
    if wants_tools(req) {
        out.push(delta(0, json!({ "text": "Let me check." })));
        out.push(stop(0));
        for (n, (id, city)) in CALLS.iter().enumerate() {
            let i = n + 1;
            out.push(ev(
                "contentBlockStart",
                json!({ "contentBlockIndex": i,
                "start": { "toolUse": { "toolUseId": id, "name": "get_weather" } } }),
            ));
            let input = format!("{{\"city\":\"{city}\"}}");
            let (head, tail) = input.split_at("{\"city\":".len());
            for part in [head, tail] {
                out.push(delta(i, json!({ "toolUse": { "input": part } })));
            }
            out.push(stop(i));
        }
    } else {
        for piece in pieces {
            out.push(delta(0, json!({ "text": piece })));
        }
        out.push(stop(0));
    }
    out.push(ev("messageStop", json!({ "stopReason": stop_reason(req) })));
    out.push(ev(
        "metadata",
        json!({ "usage": usage(), "metrics": { "latencyMs": 10 } }),
    ));
    Ok(out)
}
