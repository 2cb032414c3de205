//! An Anthropic Messages request as the OpenAI chat request the pipeline runs: system
//! prompt, text and image blocks, assistant `tool_use` as `tool_calls`, user
//! `tool_result` as `tool` messages, tools and tool choice, sampling and stop
//! sequences. A stream asks for the usage chunk, which the answer's `message_delta`
//! needs.

use serde_json::{Map, Value, json};

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

/// One Anthropic message as one or more OpenAI messages.
fn message(m: &Value, out: &mut Vec<Value>) -> Result<(), Invalid> {
    let role = m["role"].as_str().unwrap_or("");
    if role != "user" && role != "assistant" {
        return Err(format!(
            "messages: role must be user or assistant, not '{role}'"
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
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => parts.push(json!({ "type": "text", "text": b["text"] })),
            Some("image") if role == "user" => parts.push(image_part(b)?),
            Some("tool_use") if role == "assistant" => calls.push(json!({
                "id": b["id"], "type": "function",
                "function": { "name": b["name"], "arguments": b["input"].to_string() },
            })),
            // Tool results answer the calls of the turn before: they come first.
            Some("tool_result") if role == "user" => out.push(json!({
                "role": "tool", "tool_call_id": b["tool_use_id"], "content": text_of(&b["content"]),
            })),
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(format!(
                    "messages: a {role} message cannot hold a '{}' block",
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

/// The OpenAI chat body for an Anthropic Messages body.
pub fn to_chat(req: &Value) -> Result<Value, Invalid> {
    let Some(obj) = req.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let mut out = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = obj.get("system") {
        out.push(json!({ "role": "system", "content": text_of(system) }));
    }
    for m in messages {
        message(m, &mut out)?;
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
    if let Some(user) = obj.get("metadata").and_then(|m| m.get("user_id")) {
        chat.insert("user".into(), user.clone());
    }
    if let Some(tools) = obj.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                json!({ "type": "function", "function": {
                    "name": t["name"], "description": t.get("description").cloned().unwrap_or(Value::Null),
                    "parameters": t.get("input_schema").cloned().unwrap_or(json!({ "type": "object" })),
                }})
            })
            .collect();
        chat.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = obj.get("tool_choice") {
        chat.insert("tool_choice".into(), tool_choice(c)?);
    }
    if obj.get("stream").and_then(Value::as_bool) == Some(true) {
        chat.insert("stream".into(), json!(true));
        chat.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(Value::Object(chat))
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
        let chat = to_chat(&req).unwrap();
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
                .unwrap_err()
                .contains("model")
        );
        let bad_role = json!({ "model": "m", "messages": [{ "role": "system", "content": "x" }] });
        assert!(to_chat(&bad_role).unwrap_err().contains("role"));
        let bad_block = json!({ "model": "m", "messages": [{ "role": "assistant", "content": [{ "type": "image" }] }] });
        assert!(to_chat(&bad_block).unwrap_err().contains("'image'"));
    }
}
