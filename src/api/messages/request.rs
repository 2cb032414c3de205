//! An Anthropic Messages request as the OpenAI chat request the pipeline runs: system
//! prompt (and `system` messages where they stand), text, image and document blocks,
//! assistant `tool_use` as `tool_calls`, user `tool_result` as `tool` messages (an
//! error result says so), tools and tool choice, sampling and stop sequences,
//! `thinking` as a reasoning effort, `output_config.format` as `response_format`. A
//! stream asks for the usage chunk, which the answer's `message_delta` needs.
//!
//! What an OpenAI-shaped target has no equivalent for is named: server tools (web
//! search, code execution, …) and unknown blocks are refused with a 400; prompt-cache
//! markers, `context_management`, `top_k`, earlier thinking blocks and images inside
//! tool results are dropped and listed in `x-switchboard-dropped`.

use serde_json::{Map, Value, json};

use crate::api::translate::Translated;

/// Why a request cannot be translated: Anthropic's `invalid_request_error`.
pub type Invalid = String;

fn text_of(blocks: &Value) -> String {
    match blocks {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

fn image_part(block: &Value) -> Result<Value, Invalid> {
    let source = &block["source"];
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or("")
        ),
        Some("url") => source["url"].as_str().unwrap_or("").to_string(),
        _ => return Err("messages: an image source must be base64 or url".into()),
    };
    Ok(json!({ "type": "image_url", "image_url": { "url": url } }))
}

/// A `document` block: a PDF (base64) as a file part, plain text as text.
fn document_part(block: &Value) -> Result<Value, Invalid> {
    let source = &block["source"];
    match source["type"].as_str() {
        Some("base64") => {
            let media = source["media_type"].as_str().unwrap_or("application/pdf");
            let mut file = json!({
                "file_data": format!("data:{media};base64,{}", source["data"].as_str().unwrap_or("")),
            });
            file["filename"] = json!(block["title"].as_str().unwrap_or("document.pdf"));
            Ok(json!({ "type": "file", "file": file }))
        }
        Some("text") => Ok(json!({ "type": "text", "text": source["data"] })),
        Some("content") => Ok(json!({ "type": "text", "text": text_of(&source["content"]) })),
        other => Err(format!(
            "messages: a document source of type '{}' cannot be sent to this route's target (use base64 or text)",
            other.unwrap_or("?")
        )),
    }
}

/// Notes the prompt-cache marker of a block or tool, which chat has no place for.
fn note_cache(v: &Value, dropped: &mut Vec<&'static str>) {
    if v.get("cache_control").is_some() {
        Translated::drop_field(dropped, "cache_control");
    }
}

/// A `tool_result` block as a `tool` message; an error result says so in its text.
fn tool_result(b: &Value, dropped: &mut Vec<&'static str>) -> Value {
    let content = &b["content"];
    if content
        .as_array()
        .is_some_and(|c| c.iter().any(|p| p["type"] != "text"))
    {
        Translated::drop_field(dropped, "tool_result.image");
    }
    let mut text = text_of(content);
    if b["is_error"] == json!(true) {
        text = format!("Error: {text}");
    }
    json!({ "role": "tool", "tool_call_id": b["tool_use_id"], "content": text })
}

/// One Anthropic message as one or more OpenAI messages.
fn message(
    m: &Value,
    out: &mut Vec<Value>,
    dropped: &mut Vec<&'static str>,
) -> Result<(), Invalid> {
    let role = m["role"].as_str().unwrap_or("");
    if !["user", "assistant", "system"].contains(&role) {
        return Err(format!(
            "messages: role must be user, assistant or system, not '{role}'"
        ));
    }
    let blocks = match &m["content"] {
        Value::String(s) => {
            out.push(json!({ "role": role, "content": s }));
            return Ok(());
        }
        Value::Array(b) => b,
        _ => return Err("messages: content must be a string or a list of blocks".into()),
    };
    if role == "system" {
        blocks.iter().for_each(|b| note_cache(b, dropped));
        out.push(json!({ "role": "system", "content": text_of(&m["content"]) }));
        return Ok(());
    }
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for b in blocks {
        note_cache(b, dropped);
        match b["type"].as_str() {
            Some("text") => parts.push(json!({ "type": "text", "text": b["text"] })),
            Some("image") if role == "user" => parts.push(image_part(b)?),
            Some("document") if role == "user" => parts.push(document_part(b)?),
            Some("tool_use") if role == "assistant" => calls.push(json!({
                "id": b["id"], "type": "function",
                "function": { "name": b["name"], "arguments": b["input"].to_string() },
            })),
            // Tool results answer the calls of the turn before: they come first.
            Some("tool_result") if role == "user" => out.push(tool_result(b, dropped)),
            // Earlier reasoning is the provider's own state: another target cannot use it.
            Some("thinking" | "redacted_thinking") => {
                Translated::drop_field(dropped, "thinking_blocks")
            }
            other => {
                return Err(format!(
                    "messages: a {role} message cannot hold a '{}' block on a route whose target does not speak Anthropic's API",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    if role == "assistant" {
        let text = text_of(&Value::Array(parts));
        let mut msg = json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text) } });
        if !calls.is_empty() {
            msg["tool_calls"] = Value::Array(calls);
        }
        out.push(msg);
    } else if !parts.is_empty() {
        out.push(json!({ "role": "user", "content": parts }));
    }
    Ok(())
}

fn tool_choice(c: &Value) -> Result<Value, Invalid> {
    Ok(match c["type"].as_str() {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => json!({ "type": "function", "function": { "name": c["name"] } }),
        _ => return Err("tool_choice: type must be auto, any, tool or none".into()),
    })
}

/// Client tools as functions; a server tool (`web_search_…`, `code_execution_…`,
/// `bash_…`, …) has no equivalent on an OpenAI-shaped target and is refused by name.
fn tools(list: &[Value], dropped: &mut Vec<&'static str>) -> Result<Vec<Value>, Invalid> {
    list.iter()
        .map(|t| {
            note_cache(t, dropped);
            match t["type"].as_str() {
                None | Some("custom") => Ok(json!({ "type": "function", "function": {
                    "name": t["name"], "description": t.get("description").cloned().unwrap_or(Value::Null),
                    "parameters": t.get("input_schema").cloned().unwrap_or(json!({ "type": "object" })),
                }})),
                Some(kind) => Err(format!(
                    "tools: '{kind}' is an Anthropic server tool; it cannot be sent to this route's target, which does not speak Anthropic's API"
                )),
            }
        })
        .collect()
}

/// `thinking` as a reasoning effort (by its budget), `output_config.format` (or the
/// older `output_format`) as `response_format`.
fn output_options(obj: &Map<String, Value>, chat: &mut Map<String, Value>) {
    let thinking = &obj.get("thinking").cloned().unwrap_or(Value::Null);
    let effort = match thinking["type"].as_str() {
        Some("enabled") => match thinking["budget_tokens"].as_u64().unwrap_or(0) {
            0..4096 => Some("low"),
            4096..16384 => Some("medium"),
            _ => Some("high"),
        },
        // Adaptive thinking: the model decides, unless `output_config.effort` says.
        Some("adaptive") => Some("medium"),
        _ => None,
    };
    let effort = obj
        .get("output_config")
        .and_then(|c| c["effort"].as_str())
        .filter(|e| ["low", "medium", "high"].contains(e))
        .or(effort);
    if let Some(effort) = effort {
        chat.insert("reasoning_effort".into(), json!(effort));
    }
    let format = obj
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| obj.get("output_format"));
    if let Some(f) = format.filter(|f| f["type"] == "json_schema") {
        chat.insert(
            "response_format".into(),
            json!({ "type": "json_schema", "json_schema": { "name": "output", "schema": f["schema"], "strict": true } }),
        );
    }
}

/// Fields of Anthropic's Messages API this translation reads (or names as dropped).
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "output_format",
    "context_management",
    "service_tier",
];

/// Refuses what an OpenAI-shaped target cannot do at all, and unknown fields (as
/// Anthropic's API does).
fn check_fields(obj: &Map<String, Value>) -> Result<(), Invalid> {
    for (field, why) in [
        (
            "mcp_servers",
            "MCP servers are reached by Anthropic's servers",
        ),
        (
            "container",
            "code-execution containers live on Anthropic's servers",
        ),
    ] {
        if obj.get(field).is_some_and(|v| !v.is_null()) {
            return Err(format!(
                "{field}: {why}; this route's target does not speak Anthropic's API"
            ));
        }
    }
    match obj
        .iter()
        .find(|(k, v)| !KNOWN.contains(&k.as_str()) && !v.is_null())
    {
        Some((k, _)) => Err(format!("{k}: Extra inputs are not permitted")),
        None => Ok(()),
    }
}

/// The header naming what the gateway changed in a passed-through body.
pub const CHANGED: &str = "x-switchboard-changed";

/// Hoists `role: "system"` messages (OpenAI-minded clients put them in `messages`,
/// which Anthropic refuses) into `system`, after what it already says; true when it
/// moved any. The only change made to a body that is passed through.
pub fn hoist_system(req: &mut Value) -> bool {
    let Some(messages) = req.get_mut("messages").and_then(Value::as_array_mut) else {
        return false;
    };
    if !messages.iter().any(|m| m["role"] == "system") {
        return false;
    }
    let mut hoisted = Vec::new();
    messages.retain(|m| {
        let system = m["role"] == "system";
        if system {
            hoisted.push(m["content"].clone());
        }
        !system
    });
    let mut blocks = match req.get("system") {
        Some(Value::String(s)) => vec![json!({ "type": "text", "text": s })],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for content in hoisted {
        match content {
            Value::String(s) => blocks.push(json!({ "type": "text", "text": s })),
            Value::Array(parts) => blocks.extend(parts.into_iter().filter(|p| p["type"] == "text")),
            _ => {}
        }
    }
    req["system"] = Value::Array(blocks);
    true
}

/// The OpenAI chat body for an Anthropic Messages body.
pub fn to_chat(req: &Value) -> Result<Translated, Invalid> {
    let Some(obj) = req.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    check_fields(obj)?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let mut dropped = Vec::new();
    let mut out = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = obj.get("system") {
        system
            .as_array()
            .into_iter()
            .flatten()
            .for_each(|b| note_cache(b, &mut dropped));
        out.push(json!({ "role": "system", "content": text_of(system) }));
    }
    for m in messages {
        message(m, &mut out, &mut dropped)?;
    }
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert("messages".into(), Value::Array(out));
    for (from, to) in [
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop_sequences", "stop"),
    ] {
        if let Some(v) = obj.get(from) {
            chat.insert(to.into(), v.clone());
        }
    }
    for (field, name) in [
        ("top_k", "top_k"),
        ("context_management", "context_management"),
        ("service_tier", "service_tier"),
    ] {
        if obj.get(field).is_some_and(|v| !v.is_null()) {
            Translated::drop_field(&mut dropped, name);
        }
    }
    if let Some(user) = obj.get("metadata").and_then(|m| m.get("user_id")) {
        chat.insert("user".into(), user.clone());
    }
    if let Some(t) = obj.get("tools").and_then(Value::as_array) {
        chat.insert("tools".into(), Value::Array(tools(t, &mut dropped)?));
    }
    if let Some(c) = obj.get("tool_choice") {
        chat.insert("tool_choice".into(), tool_choice(c)?);
        if c["disable_parallel_tool_use"] == json!(true) {
            chat.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    output_options(obj, &mut chat);
    // A reasoning request: OpenAI's reasoning models refuse `max_tokens` (and count
    // reasoning in `max_completion_tokens`, as Anthropic's `max_tokens` does thinking).
    if chat.contains_key("reasoning_effort")
        && let Some(n) = chat.remove("max_tokens")
    {
        chat.insert("max_completion_tokens".into(), n);
    }
    let stream = obj.get("stream").and_then(Value::as_bool) == Some(true);
    Ok(Translated::finish(stream, chat, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_with_tools_maps_turn_by_turn() {
        let req = json!({
            "model": "m", "max_tokens": 100, "system": [{ "type": "text", "text": "Be brief." }],
            "stop_sequences": ["END"], "metadata": { "user_id": "u1" }, "stream": true,
            "tools": [{ "name": "get_weather", "input_schema": { "type": "object" } }],
            "tool_choice": { "type": "any" },
            "messages": [
                { "role": "user", "content": "Weather in Paris?" },
                { "role": "assistant", "content": [
                    { "type": "text", "text": "Checking." },
                    { "type": "tool_use", "id": "t1", "name": "get_weather", "input": { "city": "Paris" } },
                ]},
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "t1", "content": [{ "type": "text", "text": "18C" }] },
                    { "type": "text", "text": "And tomorrow?" },
                ]},
            ],
        });
        let chat = to_chat(&req).unwrap().chat;
        assert_eq!(
            chat["messages"][0],
            json!({ "role": "system", "content": "Be brief." })
        );
        assert_eq!(chat["messages"][2]["content"], "Checking.");
        assert_eq!(
            chat["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(
            chat["messages"][3],
            json!({ "role": "tool", "tool_call_id": "t1", "content": "18C" })
        );
        assert_eq!(chat["messages"][4]["content"][0]["text"], "And tomorrow?");
        assert_eq!(chat["stop"], json!(["END"]));
        assert_eq!(chat["user"], "u1");
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(chat["stream_options"]["include_usage"], true);
    }

    #[test]
    fn what_cannot_be_mapped_is_refused() {
        assert!(
            to_chat(&json!({ "messages": [] }))
                .err()
                .unwrap()
                .contains("model")
        );
        let bad_role = json!({ "model": "m", "messages": [{ "role": "tool", "content": "x" }] });
        assert!(to_chat(&bad_role).err().unwrap().contains("role"));
        let bad_block = json!({ "model": "m", "messages": [{ "role": "assistant", "content": [{ "type": "image" }] }] });
        assert!(to_chat(&bad_block).err().unwrap().contains("'image'"));
    }
}
