//! OpenAI ↔ DashScope native bodies: the `text-generation` and `multimodal-generation`
//! requests and their answers, the events of their SSE streams, `text-embedding`, and
//! DashScope's `{code, message, request_id}` errors.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{
    self, Answer, ChunkWriter, Finish, Message, Part, Request, ResponseFormat, Role, ToolChoice,
    Usage,
};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

use crate::Config;

/// A chat request in DashScope's terms, and whether it goes to the multimodal endpoint.
pub struct Chat {
    pub body: Vec<u8>,
    pub multimodal: bool,
}

fn has_image(r: &Request) -> bool {
    r.messages
        .iter()
        .any(|m| m.content.iter().any(|p| matches!(p, Part::Image(_))))
}

/// A message's content: a string for text-generation, a list of `{text}` and `{image}`
/// (a URL or a `data:` URL, as DashScope takes either) for multimodal-generation.
fn content(m: &Message, multimodal: bool) -> Value {
    if !multimodal {
        return json!(m.text());
    }
    m.content
        .iter()
        .map(|p| match p {
            Part::Text(t) => json!({ "text": t }),
            Part::Image(url) => json!({ "image": url }),
        })
        .collect()
}

fn message(m: &Message, multimodal: bool) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = json!({ "role": role, "content": content(m, multimodal) });
    if m.role == Role::Tool {
        out["tool_call_id"] = json!(m.tool_call_id);
    }
    if !m.tool_calls.is_empty() {
        out["tool_calls"] = m
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({ "index": i, "id": c.id, "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments.to_string() } })
            })
            .collect();
    }
    out
}

/// `json_object` as DashScope writes it; a JSON schema as the client wrote it (DashScope
/// takes OpenAI's `{"type": "json_schema", "json_schema": {…}}`).
fn response_format(r: &Request) -> Option<Value> {
    match &r.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({ "type": "json_object" })),
        ResponseFormat::JsonSchema { .. } => r.raw.get("response_format").cloned(),
    }
}

fn sampling(r: &Request, config: &Config, p: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            p.insert(k.into(), v);
        }
    };
    put("max_tokens", r.max_tokens.map(Value::from));
    put("temperature", r.temperature.map(Value::from));
    put("top_p", r.top_p.map(Value::from));
    put("top_k", r.raw.get("top_k").cloned());
    put("seed", r.seed.map(Value::from));
    put("presence_penalty", r.presence_penalty.map(Value::from));
    put(
        "repetition_penalty",
        r.raw.get("repetition_penalty").cloned(),
    );
    put("stop", (!r.stop.is_empty()).then(|| json!(r.stop)));
    put(
        "enable_search",
        r.raw
            .get("enable_search")
            .cloned()
            .or(config.enable_search.map(Value::from)),
    );
    put("enable_thinking", r.raw.get("enable_thinking").cloned());
    put("response_format", response_format(r));
}

/// `tools`, `tool_choice` (`auto` is DashScope's default and left out; it has no
/// `required`: with one tool that tool is named, with several the request is refused)
/// and `parallel_tool_calls` (DashScope's default is false, OpenAI's true: always sent).
fn tools(r: &Request, p: &mut Map<String, Value>) -> Result<(), AdapterError> {
    if r.tools.is_empty() {
        return Ok(());
    }
    let list: Vec<Value> = r
        .tools
        .iter()
        .map(|t| {
            let mut f = json!({ "name": t.name, "parameters": t.parameters });
            if let Some(d) = &t.description {
                f["description"] = json!(d);
            }
            json!({ "type": "function", "function": f })
        })
        .collect();
    p.insert("tools".into(), Value::Array(list));
    p.insert("parallel_tool_calls".into(), json!(r.parallel_tool_calls));
    let named = |n: &str| json!({ "type": "function", "function": { "name": n } });
    let choice = match &r.tool_choice {
        ToolChoice::Default | ToolChoice::Auto => None,
        ToolChoice::None => Some(json!("none")),
        ToolChoice::Function(n) => Some(named(n.as_str())),
        ToolChoice::Required if r.tools.len() == 1 => Some(named(r.tools[0].name.as_str())),
        ToolChoice::Required => {
            return Err(openai::invalid(
                "DashScope's tool_choice is auto, none or one named function: 'required' \
                 works only with a single tool",
                Some("tool_choice"),
            ));
        }
    };
    if let Some(c) = choice {
        p.insert("tool_choice".into(), c);
    }
    Ok(())
}

/// The body of an OpenAI chat body, for the multimodal endpoint when a message carries
/// an image or the model is one of the `multimodal_models`.
pub fn chat(ctx: &RequestContext, config: &Config, body: &[u8]) -> Result<Chat, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice("DashScope")?;
    let listed = config
        .multimodal_models
        .as_ref()
        .is_some_and(|m| m.iter().any(|x| x == &ctx.target_model));
    let multimodal = listed || has_image(&r);
    let messages: Vec<Value> = r.messages.iter().map(|m| message(m, multimodal)).collect();
    let mut p = Map::new();
    if !multimodal {
        // The text endpoint answers `output.text` unless asked for messages.
        p.insert("result_format".into(), json!("message"));
    }
    if ctx.stream {
        p.insert("incremental_output".into(), json!(true));
    }
    sampling(&r, config, &mut p);
    tools(&r, &mut p)?;
    let out = json!({
        "model": ctx.target_model,
        "input": { "messages": messages },
        "parameters": Value::Object(p),
    });
    Ok(Chat {
        body: out.to_string().into_bytes(),
        multimodal,
    })
}

/// The `text-embedding` body of an OpenAI embeddings body.
pub fn embed(ctx: &RequestContext, config: &Config, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    let mut p = Map::new();
    if let Some(t) = &config.text_type {
        p.insert("text_type".into(), json!(t));
    }
    if let Some(d) = e.dimensions {
        p.insert("dimension".into(), json!(d));
    }
    let mut out = json!({ "model": ctx.target_model, "input": { "texts": e.inputs } });
    if !p.is_empty() {
        out["parameters"] = Value::Object(p);
    }
    Ok(out.to_string().into_bytes())
}

/// `input_tokens` (cached ones included), `output_tokens`, and the cached tokens under
/// `prompt_tokens_details` (or at the top, as some models report them).
fn usage(u: Option<&Value>) -> Usage {
    let u = u.unwrap_or(&Value::Null);
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    Usage {
        prompt: n(u.get("input_tokens")),
        completion: n(u.get("output_tokens")),
        cached: n(u
            .pointer("/prompt_tokens_details/cached_tokens")
            .or(u.get("cached_tokens"))),
    }
}

/// A message's text: a string (text-generation) or the `text` of its parts (multimodal).
fn text_of(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// DashScope's reason; an answer that called tools finishes with `tool_calls` whatever
/// it says (it says `stop` when the client named the function).
fn finish(reason: &str, called: bool) -> Finish {
    match reason {
        "length" => Finish::Length,
        "tool_calls" => Finish::ToolCalls,
        _ if called => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "DashScope")?;
    let choice = v
        .pointer("/output/choices/0")
        .ok_or_else(|| openai::broken("DashScope answered no output.choices"))?;
    let m = choice.get("message").unwrap_or(&Value::Null);
    let calls: Vec<(String, String, String)> = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let f = c.get("function").unwrap_or(&Value::Null);
            let s = |v: Option<&Value>| {
                v.and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            (
                s(c.get("id")).unwrap_or_else(|| openai::call_id(ctx, i)),
                s(f.get("name")).unwrap_or_default(),
                s(f.get("arguments")).unwrap_or_else(|| "{}".into()),
            )
        })
        .collect();
    let reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    let a = Answer {
        id: ctx.request_id.clone(),
        model: ctx.target_model.clone(),
        text: text_of(m),
        finish: finish(reason, !calls.is_empty()),
        tool_calls: calls,
        usage: usage(v.get("usage")),
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// The status of an error code, for a stream's `event:error` (a whole answer's error
/// keeps the HTTP status DashScope gave it).
fn status_of(code: &str) -> u16 {
    match code {
        "InvalidApiKey" => 401,
        c if c.starts_with("Throttling") => 429,
        c if c.contains("AccessDenied") => 403,
        c if c.contains("NotFound") || c.contains("NotExist") => 404,
        c if c.starts_with("InternalError") || c == "SystemError" => 500,
        c if c.contains("Unavailable") => 503,
        c if c.contains("Timeout") || c.contains("TimeOut") => 504,
        c if c.starts_with("InvalidParameter")
            || c.starts_with("BadRequest")
            || c.starts_with("InvalidURL")
            || c == "DataInspectionFailed"
            || c == "Arrearage"
            || c == "UnsupportedOperation" =>
        {
            400
        }
        _ => 502,
    }
}

/// An error answer with `status`: `<code>: <message>`, or whatever the body says.
pub fn error(status: u16, body: &[u8]) -> AdapterError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v.get("code").and_then(Value::as_str);
    match (code, v.get("message").and_then(Value::as_str)) {
        (Some(code), Some(message)) => openai::status_error(status, format!("{code}: {message}")),
        (None, Some(message)) => openai::status_error(status, message.to_string()),
        _ => openai::upstream_error(status, body),
    }
}

/// The string at `key` of `v` ("" when absent).
fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The calls of one event: an entry whose `index` was not seen yet starts a call (its
/// `id` and `name` come with it; later entries of that index carry only arguments).
fn tool_deltas(ctx: &RequestContext, w: &mut ChunkWriter, m: &Value, out: &mut Vec<SseEvent>) {
    for c in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = c.get("function").unwrap_or(&Value::Null);
        let id = str_at(c, "id");
        let index = c.get("index").and_then(Value::as_u64).map(|i| i as usize);
        let new = match index {
            Some(i) => i >= w.tool_count(),
            None => !id.is_empty() || w.tool_count() == 0,
        };
        let at = if new {
            let id = if id.is_empty() {
                openai::call_id(ctx, w.tool_count())
            } else {
                id.to_string()
            };
            w.tool_start(&id, str_at(f, "name"), out)
        } else {
            match index {
                Some(i) => i,
                None => w.tool_count() - 1,
            }
        };
        w.tool_arguments(at, str_at(f, "arguments"), out);
    }
}

/// One stream event: the new text and tool-call parts, the usage so far, and — once
/// `finish_reason` is not `"null"` — the finish, the usage chunk and `[DONE]`.
pub fn stream_event(
    ctx: &RequestContext,
    w: &mut ChunkWriter,
    ev: &SseEvent,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    if ev.event.as_deref() == Some("error") {
        let v: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        let code = v.get("code").and_then(Value::as_str).unwrap_or("");
        return Err(error(status_of(code), ev.data.as_bytes()));
    }
    let v = openai::provider_json(ev.data.as_bytes(), "DashScope")?;
    if v.get("output").is_none()
        && let Some(code) = v.get("code").and_then(Value::as_str)
    {
        return Err(error(status_of(code), ev.data.as_bytes()));
    }
    if let Some(u) = v.get("usage") {
        w.usage = usage(Some(u));
    }
    let Some(choice) = v.pointer("/output/choices/0") else {
        return Ok(());
    };
    let m = choice.get("message").unwrap_or(&Value::Null);
    w.text(&text_of(m), out);
    tool_deltas(ctx, w, m, out);
    match choice.get("finish_reason").and_then(Value::as_str) {
        None | Some("" | "null") => {}
        Some(reason) => {
            let called = w.tool_count() > 0;
            w.finish(finish(reason, called), out);
            w.close(out);
        }
    }
    Ok(())
}

/// `output.embeddings` in the order of their `text_index`, `usage.total_tokens` as the
/// prompt's.
pub fn embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "DashScope")?;
    let prompt = v
        .pointer("/usage/total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let list = v.pointer("/output/embeddings");
    openai::indexed_embeddings(ctx, list, ("text_index", "embedding"), prompt, "DashScope")
}
