//! OpenAI ↔ Ollama `/api/chat` and `/api/embed` bodies, and the NDJSON stream's lines.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{
    self, Answer, ChunkWriter, Finish, Part, Request, ResponseFormat, Role, ToolChoice, Usage,
};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

use crate::Config;

fn message(r: &Request, i: usize) -> Result<Value, AdapterError> {
    let m = &r.messages[i];
    let param = format!("messages[{i}]");
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = json!({ "role": role, "content": m.text() });
    let mut images = Vec::new();
    for p in &m.content {
        if let Part::Image(url) = p {
            let (_, data) = Part::image_data(url).ok_or_else(|| {
                openai::invalid(
                    format!("{param}: Ollama takes images as data: URLs (base64), not links"),
                    Some(&param),
                )
            })?;
            images.push(json!(data));
        }
    }
    if !images.is_empty() {
        out["images"] = Value::Array(images);
    }
    if !m.tool_calls.is_empty() {
        out["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| json!({ "function": { "name": c.name, "arguments": c.arguments } }))
            .collect();
    }
    if let Some(name) = m.tool_call_id.as_deref().and_then(|id| r.tool_name(id)) {
        out["tool_name"] = json!(name);
    }
    Ok(out)
}

fn options(r: &Request, config: &Config) -> Map<String, Value> {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put("temperature", r.temperature.map(Value::from));
    put("top_p", r.top_p.map(Value::from));
    put("num_predict", r.max_tokens.map(Value::from));
    put("seed", r.seed.map(Value::from));
    put("frequency_penalty", r.frequency_penalty.map(Value::from));
    put("presence_penalty", r.presence_penalty.map(Value::from));
    put("stop", (!r.stop.is_empty()).then(|| json!(r.stop)));
    put("num_ctx", config.num_ctx.map(Value::from));
    o
}

/// The `/api/chat` body of an OpenAI chat body.
pub fn chat(ctx: &RequestContext, config: &Config, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice("Ollama")?;
    let messages = (0..r.messages.len())
        .map(|i| message(&r, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = json!({ "model": ctx.target_model, "messages": messages, "stream": ctx.stream });
    match &r.tool_choice {
        ToolChoice::Required | ToolChoice::Function(_) => {
            return Err(openai::invalid(
                "Ollama cannot be made to call a tool: tool_choice must be auto or none",
                Some("tool_choice"),
            ));
        }
        ToolChoice::None => {}
        ToolChoice::Default | ToolChoice::Auto if !r.tools.is_empty() => {
            out["tools"] = r
                .tools
                .iter()
                .map(|t| json!({ "type": "function", "function": {
                    "name": t.name, "description": t.description.clone().unwrap_or_default(), "parameters": t.parameters } }))
                .collect();
        }
        _ => {}
    }
    match &r.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => out["format"] = json!("json"),
        ResponseFormat::JsonSchema { schema, .. } => out["format"] = schema.clone(),
    }
    let o = options(&r, config);
    if !o.is_empty() {
        out["options"] = Value::Object(o);
    }
    if let Some(k) = &config.keep_alive {
        out["keep_alive"] = json!(k);
    }
    Ok(out.to_string().into_bytes())
}

/// The `/api/embed` body of an OpenAI embeddings body.
pub fn embed(ctx: &RequestContext, config: &Config, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    let mut out = json!({ "model": ctx.target_model, "input": e.inputs });
    if let Some(d) = e.dimensions {
        out["dimensions"] = json!(d);
    }
    if let Some(k) = &config.keep_alive {
        out["keep_alive"] = json!(k);
    }
    Ok(out.to_string().into_bytes())
}

fn usage(v: &Value) -> Usage {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        prompt: n("prompt_eval_count"),
        completion: n("eval_count"),
        cached: 0,
    }
}

fn finish(v: &Value, calls: bool) -> Finish {
    match v.get("done_reason").and_then(Value::as_str) {
        Some("length") => Finish::Length,
        _ if calls => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

/// `(name, arguments JSON)` of each tool call in a message.
fn calls(m: Option<&Value>) -> Vec<(String, String)> {
    m.and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let f = c.get("function").unwrap_or(&Value::Null);
            let args = f.get("arguments").cloned().unwrap_or(json!({}));
            (
                f.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                args.to_string(),
            )
        })
        .collect()
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Ollama")?;
    let m = v.get("message");
    let calls = calls(m);
    let usage = usage(&v);
    let a = Answer {
        id: ctx.request_id.clone(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&ctx.target_model)
            .to_string(),
        text: m
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        finish: finish(&v, !calls.is_empty()),
        tool_calls: calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, args))| (openai::call_id(ctx, i), name, args))
            .collect(),
        usage,
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// One NDJSON line of a stream.
pub fn stream_line(
    ctx: &RequestContext,
    w: &mut ChunkWriter,
    line: &str,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    let v = openai::provider_json(line.as_bytes(), "Ollama")?;
    if v.get("error").is_some() {
        return Err(openai::upstream_error(502, line.as_bytes()));
    }
    if w.done() {
        return Ok(());
    }
    let m = v.get("message");
    w.start(out);
    w.text(
        m.and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        out,
    );
    for (name, args) in calls(m) {
        let id = openai::call_id(ctx, w.tool_count());
        let i = w.tool_start(&id, &name, out);
        w.tool_arguments(i, &args, out);
    }
    if v.get("done") == Some(&Value::Bool(true)) {
        w.usage = usage(&v);
        let f = finish(&v, w.tool_count() > 0);
        w.finish(f, out);
        w.close(out);
    }
    Ok(())
}

pub fn embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Ollama")?;
    let prompt = v
        .get("prompt_eval_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    openai::translated_embeddings(ctx, v.get("embeddings"), prompt, "Ollama")
}
