//! OpenAI ↔ Qianfan's legacy ERNIE bodies: alternating turns with the system prompt
//! apart, one function call a turn, the answer and its stream lines, embeddings, and the
//! `{error_code, error_msg}` errors Qianfan answers with HTTP 200.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{
    self, Answer, ChunkWriter, Finish, Part, Request, ResponseFormat, Role, ToolChoice, Usage,
};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

/// Appends a text turn; one of the same role as the last text turn is merged into it
/// (ERNIE wants `user` and `assistant` to alternate).
fn push_text(out: &mut Vec<Value>, role: &str, text: String) {
    if let Some(last) = out.last_mut()
        && last["role"] == role
        && last.get("function_call").is_none()
    {
        let merged = format!("{}\n\n{text}", last["content"].as_str().unwrap_or(""));
        last["content"] = json!(merged);
        return;
    }
    out.push(json!({ "role": role, "content": text }));
}

/// A tool's result as ERNIE takes it: JSON (a text result wrapped as `{"result": …}`).
fn function_result(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v.to_string(),
        _ => json!({ "result": text }).to_string(),
    }
}

/// The assistant message at `at` with its calls, and the tool results after it: an
/// assistant `function_call` turn and a `function` turn per call (ERNIE calls one
/// function a turn). Returns the index of the first message after the results.
fn calls(r: &Request, at: usize, out: &mut Vec<Value>) -> Result<usize, AdapterError> {
    let m = &r.messages[at];
    let mut end = at + 1;
    while end < r.messages.len() && r.messages[end].role == Role::Tool {
        end += 1;
    }
    let results = &r.messages[at + 1..end];
    for (j, t) in results.iter().enumerate() {
        if !m
            .tool_calls
            .iter()
            .any(|c| t.tool_call_id.as_deref() == Some(c.id.as_str()))
        {
            let p = format!("messages[{}].tool_call_id", at + 1 + j);
            return Err(openai::invalid(
                format!("{p} answers no tool call of messages[{at}]"),
                Some(p.as_str()),
            ));
        }
    }
    let text = m.text();
    for (k, c) in m.tool_calls.iter().enumerate() {
        let content = if k == 0 && !text.is_empty() {
            json!(text)
        } else {
            Value::Null
        };
        out.push(json!({ "role": "assistant", "content": content,
            "function_call": { "name": c.name, "arguments": c.arguments.to_string() } }));
        let result = results
            .iter()
            .find(|t| t.tool_call_id.as_deref() == Some(c.id.as_str()));
        if let Some(t) = result {
            out.push(json!({ "role": "function", "name": c.name, "content": function_result(&t.text()) }));
        }
    }
    Ok(end)
}

/// ERNIE's `messages`: `user`/`function` turns at even places, `assistant` at odd ones.
fn messages(r: &Request) -> Result<Vec<Value>, AdapterError> {
    let mut out: Vec<Value> = Vec::new();
    let mut i = 0;
    while i < r.messages.len() {
        let m = &r.messages[i];
        let param = format!("messages[{i}]");
        if m.content.iter().any(|p| matches!(p, Part::Image(_))) {
            return Err(openai::invalid(
                format!("{param}: Qianfan's legacy ERNIE chat takes text only, not images"),
                Some(param.as_str()),
            ));
        }
        match m.role {
            Role::System => {}
            Role::User => push_text(&mut out, "user", m.text()),
            Role::Assistant if m.tool_calls.is_empty() => {
                push_text(&mut out, "assistant", m.text())
            }
            Role::Assistant => {
                i = calls(r, i, &mut out)?;
                continue;
            }
            Role::Tool => {
                return Err(openai::invalid(
                    format!(
                        "{param}: a tool result must follow the assistant message that called the tool"
                    ),
                    Some(param.as_str()),
                ));
            }
        }
        i += 1;
    }
    Ok(out)
}

fn sampling(r: &Request, out: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.into(), v);
        }
    };
    // ERNIE's temperature is in (0, 1]; OpenAI's in [0, 2].
    put(
        "temperature",
        r.temperature.map(|t| json!(t.clamp(0.01, 1.0))),
    );
    put("top_p", r.top_p.map(Value::from));
    // ERNIE's penalty_score is in [1, 2], 1 being none.
    let penalty = r
        .frequency_penalty
        .or(r.presence_penalty)
        .map(|p| json!((1.0 + p.max(0.0) / 2.0).min(2.0)));
    put(
        "penalty_score",
        r.raw.get("penalty_score").cloned().or(penalty),
    );
    put("stop", (!r.stop.is_empty()).then(|| json!(r.stop)));
    put("max_output_tokens", r.max_tokens.map(Value::from));
    put("user_id", r.user.clone().map(Value::from));
    put("disable_search", r.raw.get("disable_search").cloned());
    put("enable_citation", r.raw.get("enable_citation").cloned());
}

/// `functions` and `tool_choice` (ERNIE can be made to call one named function).
/// `tool_choice: none` leaves the functions out, unless the history used them.
fn functions(r: &Request, out: &mut Map<String, Value>) -> Result<(), AdapterError> {
    let history = r
        .messages
        .iter()
        .any(|m| !m.tool_calls.is_empty() || m.role == Role::Tool);
    if r.tools.is_empty() || (r.tool_choice == ToolChoice::None && !history) {
        return Ok(());
    }
    let list: Vec<Value> = r
        .tools
        .iter()
        .map(|t| {
            // ERNIE requires a description.
            let d = t.description.clone().unwrap_or_else(|| t.name.clone());
            json!({ "name": t.name, "description": d, "parameters": t.parameters })
        })
        .collect();
    out.insert("functions".into(), Value::Array(list));
    let forced = match &r.tool_choice {
        ToolChoice::Function(n) => Some(n.clone()),
        ToolChoice::Required if r.tools.len() == 1 => Some(r.tools[0].name.clone()),
        ToolChoice::Required => {
            return Err(openai::invalid(
                "Qianfan's ERNIE can be made to call one named function, not any of several: \
                 name the function in tool_choice, or offer one tool",
                Some("tool_choice"),
            ));
        }
        _ => None,
    };
    if let Some(name) = forced {
        out.insert(
            "tool_choice".into(),
            json!({ "type": "function", "function": { "name": name } }),
        );
    }
    Ok(())
}

/// The chat body of an OpenAI chat body.
pub fn chat(ctx: &RequestContext, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice("Qianfan")?;
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages(&r)?));
    out.insert("stream".into(), json!(ctx.stream));
    if let Some(s) = r.system_text() {
        out.insert("system".into(), json!(s));
    }
    sampling(&r, &mut out);
    match &r.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            out.insert("response_format".into(), json!("json_object"));
        }
        ResponseFormat::JsonSchema { .. } => {
            return Err(openai::invalid(
                "Qianfan's legacy ERNIE API has JSON output (response_format json_object) but no \
                 JSON schema",
                Some("response_format"),
            ));
        }
    }
    functions(&r, &mut out)?;
    Ok(Value::Object(out).to_string().into_bytes())
}

/// The embeddings body of an OpenAI embeddings body (ERNIE's embedding models have
/// fixed dimensions).
pub fn embed(body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    if e.dimensions.is_some() {
        return Err(openai::invalid(
            "Qianfan's embedding models have fixed dimensions: 'dimensions' cannot be set",
            Some("dimensions"),
        ));
    }
    Ok(json!({ "input": e.inputs }).to_string().into_bytes())
}

/// The status of an error code.
fn status_of(code: i64) -> u16 {
    match code {
        110 | 111 | 13 | 14 => 401,
        6 | 15 | 336004 => 403,
        3 | 336005 => 404,
        4 | 17 | 18 | 19 | 336501..=336503 => 429,
        100 | 336001..=336003 | 336104 | 336105 => 400,
        2 | 336100 => 503,
        1 | 336000 => 500,
        _ => 502,
    }
}

/// The error a body with a non-zero `error_code` says: its status by the code when
/// Qianfan answered 2xx, else the HTTP status.
fn code_error(v: &Value, http: u16) -> Option<AdapterError> {
    let code = v
        .get("error_code")
        .and_then(Value::as_i64)
        .filter(|c| *c != 0)?;
    let msg = v
        .get("error_msg")
        .and_then(Value::as_str)
        .unwrap_or("(no error_msg)");
    let status = if (200..300).contains(&http) {
        status_of(code)
    } else {
        http
    };
    Some(openai::status_error(
        status,
        format!("{msg} (Qianfan error_code {code})"),
    ))
}

/// The error an answer is: an `error_code` (with any status), or a non-2xx status.
pub fn error(status: u16, body: &[u8]) -> Option<AdapterError> {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(e) = v.as_ref().and_then(|v| code_error(v, status)) {
        return Some(e);
    }
    (!(200..300).contains(&status)).then(|| openai::upstream_error(status, body))
}

/// `prompt_tokens`, and `completion_tokens` (or the total less the prompt). ERNIE
/// reports no cached tokens.
fn usage(u: Option<&Value>) -> Usage {
    let n = |k: &str| u.and_then(|u| u.get(k)).and_then(Value::as_u64);
    let prompt = n("prompt_tokens").unwrap_or(0);
    let completion = n("completion_tokens")
        .unwrap_or_else(|| n("total_tokens").unwrap_or(0).saturating_sub(prompt));
    Usage {
        prompt,
        completion,
        cached: 0,
    }
}

/// `need_clear_history` (the input was unsafe) is a content filter; otherwise ERNIE's
/// reason (`normal` and `stop` are both `stop`), or `is_truncated`.
fn finish(v: &Value, called: bool) -> Finish {
    if v.get("need_clear_history") == Some(&Value::Bool(true)) {
        return Finish::ContentFilter;
    }
    if called {
        return Finish::ToolCalls;
    }
    match v.get("finish_reason").and_then(Value::as_str) {
        Some("length") => Finish::Length,
        Some("content_filter") => Finish::ContentFilter,
        Some("function_call") => Finish::ToolCalls,
        Some(_) => Finish::Stop,
        None if v.get("is_truncated") == Some(&Value::Bool(true)) => Finish::Length,
        None => Finish::Stop,
    }
}

/// The one function call an answer (or a stream chunk) makes: (id, name, arguments).
fn call(ctx: &RequestContext, v: &Value, n: usize) -> Option<(String, String, String)> {
    let f = v.get("function_call")?;
    let name = f.get("name").and_then(Value::as_str)?;
    let args = f
        .get("arguments")
        .and_then(Value::as_str)
        .filter(|a| !a.trim().is_empty())
        .unwrap_or("{}");
    Some((openai::call_id(ctx, n), name.to_string(), args.to_string()))
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Qianfan")?;
    if v.get("result").is_none() && v.get("function_call").is_none() {
        return Err(openai::broken(
            "Qianfan answered neither a result nor a function_call",
        ));
    }
    let calls: Vec<(String, String, String)> = call(ctx, &v, 0).into_iter().collect();
    let a = Answer {
        id: ctx.request_id.clone(),
        model: ctx.target_model.clone(),
        text: v
            .get("result")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        finish: finish(&v, !calls.is_empty()),
        tool_calls: calls,
        usage: usage(v.get("usage")),
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// The JSON of one line of the stream: a `data:` line's, or a bare JSON line (an error
/// Qianfan sends without SSE's framing; or the data of an SSE event, where the host
/// framed the stream as SSE). Blank lines, comments and other SSE fields carry none.
fn payload(line: &str) -> Option<&str> {
    let line = line.trim();
    if let Some(d) = line.strip_prefix("data:") {
        return Some(d.trim_start());
    }
    line.starts_with('{').then_some(line)
}

/// One line of the stream: the new text, a function call, the usage; a chunk with
/// `is_end` finishes the answer (with the usage chunk and `[DONE]`).
pub fn stream_line(
    ctx: &RequestContext,
    w: &mut ChunkWriter,
    data: &str,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    let Some(text) = payload(data) else {
        return Ok(());
    };
    if text.is_empty() || text == "[DONE]" {
        return Ok(());
    }
    let v = openai::provider_json(text.as_bytes(), "Qianfan")?;
    if let Some(e) = code_error(&v, 200) {
        return Err(e);
    }
    if let Some(u) = v.get("usage") {
        w.usage = usage(Some(u));
    }
    w.text(v.get("result").and_then(Value::as_str).unwrap_or(""), out);
    if let Some((id, name, args)) = call(ctx, &v, w.tool_count()) {
        let i = w.tool_start(&id, &name, out);
        w.tool_arguments(i, &args, out);
    }
    if v.get("is_end") == Some(&Value::Bool(true)) {
        let called = w.tool_count() > 0;
        w.finish(finish(&v, called), out);
        w.close(out);
    }
    Ok(())
}

/// `data` in the order of their `index`, `usage.prompt_tokens` as the prompt's.
pub fn embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Qianfan")?;
    let prompt = v
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    openai::indexed_embeddings(
        ctx,
        v.get("data"),
        ("index", "embedding"),
        prompt,
        "Qianfan",
    )
}
