//! OpenAI chat ↔ Bedrock Converse bodies, and ConverseStream's events.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{
    self, Answer, ChunkWriter, Finish, Message, Part, Request, ResponseFormat, Role, ToolChoice,
    Usage,
};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

fn image(url: &str, param: &str) -> Result<Value, AdapterError> {
    let (mime, data) = Part::image_data(url).ok_or_else(|| {
        openai::invalid(
            format!("{param}: Bedrock takes images as data: URLs (base64), not links"),
            Some(param),
        )
    })?;
    let format = match mime {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(openai::invalid(
                format!("{param}: Bedrock takes png, jpeg, gif or webp images, not {other}"),
                Some(param),
            ));
        }
    };
    Ok(json!({ "image": { "format": format, "source": { "bytes": data } } }))
}

fn blocks(m: &Message, param: &str) -> Result<Vec<Value>, AdapterError> {
    let mut out = Vec::new();
    if m.role == Role::Tool {
        let text = m.text();
        let content = match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) => json!([{ "json": v }]),
            _ => json!([{ "text": text }]),
        };
        out.push(json!({ "toolResult": { "toolUseId": m.tool_call_id, "content": content } }));
        return Ok(out);
    }
    for p in &m.content {
        match p {
            Part::Text(t) if t.is_empty() => {}
            Part::Text(t) => out.push(json!({ "text": t })),
            Part::Image(url) => out.push(image(url, param)?),
        }
    }
    for c in &m.tool_calls {
        out.push(json!({ "toolUse": { "toolUseId": c.id, "name": c.name, "input": c.arguments } }));
    }
    Ok(out)
}

/// Alternating `user`/`assistant` turns (tool results are user turns; consecutive
/// turns of one role merged).
fn messages(r: &Request) -> Result<Vec<Value>, AdapterError> {
    let mut out: Vec<Value> = Vec::new();
    for (i, m) in r.messages.iter().enumerate() {
        let role = match m.role {
            Role::System => continue,
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let content = blocks(m, &format!("messages[{i}]"))?;
        openai::push_turn(&mut out, role, "content", content);
    }
    Ok(out)
}

fn tool_config(r: &Request) -> Option<Value> {
    let history = r
        .messages
        .iter()
        .any(|m| !m.tool_calls.is_empty() || m.role == Role::Tool);
    // Bedrock has no "none": tools are left out, unless the conversation already used
    // them (Bedrock then wants them declared).
    if r.tools.is_empty() || (r.tool_choice == ToolChoice::None && !history) {
        return None;
    }
    let tools: Vec<Value> = r
        .tools
        .iter()
        .map(|t| {
            let mut spec = json!({ "name": t.name, "inputSchema": { "json": t.parameters } });
            if let Some(d) = &t.description {
                spec["description"] = json!(d);
            }
            json!({ "toolSpec": spec })
        })
        .collect();
    let mut c = json!({ "tools": tools });
    match &r.tool_choice {
        ToolChoice::Auto => c["toolChoice"] = json!({ "auto": {} }),
        ToolChoice::Required => c["toolChoice"] = json!({ "any": {} }),
        ToolChoice::Function(n) => c["toolChoice"] = json!({ "tool": { "name": n } }),
        ToolChoice::Default | ToolChoice::None => {}
    }
    Some(c)
}

/// The Converse body of an OpenAI chat body.
pub fn converse(body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice("Bedrock")?;
    if r.response_format != ResponseFormat::Text {
        return Err(openai::invalid(
            "Bedrock's Converse API has no JSON output mode: response_format must be text",
            Some("response_format"),
        ));
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages(&r)?));
    if let Some(s) = r.system_text() {
        out.insert("system".into(), json!([{ "text": s }]));
    }
    let mut inference = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            inference.insert(k.into(), v);
        }
    };
    put("maxTokens", r.max_tokens.map(Value::from));
    put("temperature", r.temperature.map(Value::from));
    put("topP", r.top_p.map(Value::from));
    put("stopSequences", (!r.stop.is_empty()).then(|| json!(r.stop)));
    if !inference.is_empty() {
        out.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(t) = tool_config(&r) {
        out.insert("toolConfig".into(), t);
    }
    Ok(Value::Object(out).to_string().into_bytes())
}

fn finish(reason: Option<&str>) -> Finish {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => Finish::Length,
        Some("tool_use") => Finish::ToolCalls,
        Some("guardrail_intervened" | "content_filtered") => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

/// `inputTokens` leaves out cache reads and writes: the prompt is all three.
fn usage(u: Option<&Value>) -> Usage {
    let n = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = n("cacheReadInputTokens");
    Usage {
        prompt: n("inputTokens") + cached + n("cacheWriteInputTokens"),
        completion: n("outputTokens"),
        cached,
    }
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Bedrock")?;
    let content = v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| openai::broken("Bedrock answered no output message"))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for b in content {
        if let Some(t) = b.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(u) = b.get("toolUse") {
            let s = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let input = u.get("input").cloned().unwrap_or(json!({}));
            calls.push((s("toolUseId"), s("name"), input.to_string()));
        }
    }
    let usage = usage(v.get("usage"));
    let a = Answer {
        id: ctx.request_id.clone(),
        model: ctx.target_model.clone(),
        text,
        tool_calls: calls,
        finish: finish(v.get("stopReason").and_then(Value::as_str)),
        usage,
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// An exception in the stream: its status by type, its message.
fn exception(name: &str, data: &str) -> AdapterError {
    let status = match name {
        "throttlingException" => 429,
        "validationException" => 400,
        "serviceUnavailableException" => 503,
        "modelStreamErrorException" | "internalServerException" => 500,
        _ => 502,
    };
    let message = openai::errors::error_message(data.as_bytes())
        .unwrap_or_else(|| format!("Bedrock's stream reported {name}"));
    openai::status_error(status, message)
}

/// One ConverseStream event (named by its `:event-type`).
pub fn stream_event(
    w: &mut ChunkWriter,
    ev: &SseEvent,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    let name = ev.event.as_deref().unwrap_or("");
    if name.ends_with("Exception") {
        return Err(exception(name, &ev.data));
    }
    let v = openai::provider_json(ev.data.as_bytes(), "Bedrock")?;
    match name {
        "messageStart" => w.start(out),
        "contentBlockStart" => {
            if let Some(t) = v.pointer("/start/toolUse") {
                let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
                w.tool_start(s("toolUseId"), s("name"), out);
            }
        }
        "contentBlockDelta" => {
            let d = v.get("delta").unwrap_or(&Value::Null);
            if let Some(t) = d.get("text").and_then(Value::as_str) {
                w.text(t, out);
            }
            if let Some(input) = d.pointer("/toolUse/input").and_then(Value::as_str) {
                let i = w.tool_count().checked_sub(1).ok_or_else(|| {
                    openai::broken("Bedrock's stream sent tool input before a tool block started")
                })?;
                w.tool_arguments(i, input, out);
            }
        }
        // The stream is complete with its usage, which `metadata` brings after.
        "messageStop" => w.pending = Some(finish(v.get("stopReason").and_then(Value::as_str))),
        "metadata" => {
            w.usage = usage(v.get("usage"));
            if let Some(f) = w.pending.take() {
                w.finish(f, out);
            }
        }
        _ => {}
    }
    Ok(())
}
