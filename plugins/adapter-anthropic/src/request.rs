//! OpenAI chat request → Anthropic Messages request.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{self, ResponseFormat, invalid};
use switchboard_sdk::types::{AdapterError, RequestContext};

/// Builds the Anthropic body for the OpenAI-shaped `body`.
pub fn translate(
    ctx: &RequestContext,
    body: &[u8],
    default_max_tokens: u64,
) -> Result<Vec<u8>, AdapterError> {
    let req: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not valid JSON: {e}"), None))?;
    let req = req
        .as_object()
        .ok_or_else(|| invalid("request body must be a JSON object", None))?;
    let mut out = Map::new();
    out.insert("model".into(), Value::String(ctx.target_model.clone()));

    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("'messages' must be an array", Some("messages")))?;
    let (system, turns) = messages_to_anthropic(messages)?;
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    out.insert("messages".into(), Value::Array(turns));

    let max_tokens = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(default_max_tokens);
    out.insert("max_tokens".into(), json!(max_tokens));

    for key in ["temperature", "top_p"] {
        if let Some(v) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    match req.get("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if !a.is_empty() => {
            out.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(n) = req.get("n").and_then(Value::as_u64)
        && n > 1
    {
        return Err(invalid(
            "Anthropic models return one choice: 'n' must be 1",
            Some("n"),
        ));
    }
    if ctx.stream {
        out.insert("stream".into(), Value::Bool(true));
    }
    if let Some(user) = req.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array)
        && !tools.is_empty()
    {
        out.insert("tools".into(), Value::Array(tools_to_anthropic(tools)?));
    }
    let parallel_off = req.get("parallel_tool_calls") == Some(&Value::Bool(false));
    if let Some(choice) = tool_choice(req.get("tool_choice"), parallel_off)? {
        out.insert("tool_choice".into(), choice);
    }
    if let Some(format) = output_format(req.get("response_format"))? {
        out.insert("output_config".into(), json!({ "format": format }));
    }
    if let Some(thinking) = thinking(req.get("reasoning_effort"), max_tokens)?
        && thinking_allowed(messages, out.get("tool_choice"))
    {
        // Anthropic takes no sampling changes with thinking on.
        out.remove("temperature");
        out.remove("top_p");
        out.insert("thinking".into(), thinking);
    }
    serde_json::to_vec(&Value::Object(out))
        .map_err(|e| invalid(format!("cannot encode request: {e}"), None))
}

/// Splits system/developer messages off and maps the rest to alternating turns.
fn messages_to_anthropic(messages: &[Value]) -> Result<(Vec<Value>, Vec<Value>), AdapterError> {
    let mut system = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{param}.role is missing"), Some(&param)))?;
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(text_blocks(m.get("content"), &param)?);
                continue;
            }
            "user" => ("user", user_blocks(m.get("content"), &param)?),
            "assistant" => ("assistant", assistant_blocks(m, &param)?),
            "tool" => ("user", vec![tool_result(m, &param)?]),
            other => {
                return Err(invalid(
                    format!("{param}.role '{other}' is not supported"),
                    Some(&param),
                ));
            }
        };
        // Anthropic wants alternating turns: consecutive turns of one role are merged
        // (e.g. several tool results answering parallel tool calls).
        openai::push_turn(&mut turns, role, "content", blocks);
    }
    Ok((system, turns))
}

fn text_blocks(content: Option<&Value>, param: &str) -> Result<Vec<Value>, AdapterError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![json!({ "type": "text", "text": s })]),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(
                |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => {
                        Ok(json!({ "type": "text", "text": t }))
                    }
                    _ => Err(invalid(
                        format!("{param}.content: only text parts are allowed here"),
                        Some(param),
                    )),
                },
            )
            .collect(),
        Some(_) => Err(invalid(
            format!("{param}.content must be a string or an array"),
            Some(param),
        )),
    }
}

fn user_blocks(content: Option<&Value>, param: &str) -> Result<Vec<Value>, AdapterError> {
    let Some(Value::Array(parts)) = content else {
        return text_blocks(content, param);
    };
    parts
        .iter()
        .map(|p| match p.get("type").and_then(Value::as_str) {
            Some("text") => {
                Ok(json!({ "type": "text", "text": p.get("text").cloned().unwrap_or_default() }))
            }
            Some("image_url") => {
                let url = p
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid(format!("{param}: image_url.url is missing"), Some(param))
                    })?;
                Ok(image_block(url))
            }
            other => Err(invalid(
                format!(
                    "{param}: content part type {} is not supported",
                    other.unwrap_or("(none)")
                ),
                Some(param),
            )),
        })
        .collect()
}

/// `data:` URLs become base64 sources, anything else a URL source.
fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data }
        });
    }
    json!({ "type": "image", "source": { "type": "url", "url": url } })
}

fn assistant_blocks(m: &Value, param: &str) -> Result<Vec<Value>, AdapterError> {
    let mut blocks = text_blocks(m.get("content"), param)?;
    if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
        for (j, call) in calls.iter().enumerate() {
            let p = format!("{param}.tool_calls[{j}]");
            let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
            let f = call
                .get("function")
                .ok_or_else(|| invalid(format!("{p}.function is missing"), Some(&p)))?;
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
            let input: Value = if args.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(args).map_err(|e| {
                    invalid(
                        format!("{p}.function.arguments is not valid JSON: {e}"),
                        Some(&p),
                    )
                })?
            };
            blocks.push(json!({ "type": "tool_use", "id": id, "name": name, "input": input }));
        }
    }
    Ok(blocks)
}

fn tool_result(m: &Value, param: &str) -> Result<Value, AdapterError> {
    let id = m
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{param}.tool_call_id is missing"), Some(param)))?;
    let content = match m.get("content") {
        Some(Value::String(s)) => Value::String(s.clone()),
        other => Value::Array(text_blocks(other, param)?),
    };
    Ok(json!({ "type": "tool_result", "tool_use_id": id, "content": content }))
}

fn tools_to_anthropic(tools: &[Value]) -> Result<Vec<Value>, AdapterError> {
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = format!("tools[{i}]");
            if t.get("type").and_then(Value::as_str) != Some("function") {
                return Err(invalid(
                    format!("{p}: only function tools are supported"),
                    Some(&p),
                ));
            }
            let f = t
                .get("function")
                .ok_or_else(|| invalid(format!("{p}.function is missing"), Some(&p)))?;
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{p}.function.name is missing"), Some(&p)))?;
            let mut tool = Map::new();
            tool.insert("name".into(), json!(name));
            if let Some(d) = f.get("description").and_then(Value::as_str) {
                tool.insert("description".into(), json!(d));
            }
            let schema = f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
            tool.insert("input_schema".into(), schema);
            Ok(Value::Object(tool))
        })
        .collect()
}

fn tool_choice(choice: Option<&Value>, parallel_off: bool) -> Result<Option<Value>, AdapterError> {
    let mut out = match choice {
        None | Some(Value::Null) => {
            if !parallel_off {
                return Ok(None);
            }
            json!({ "type": "auto" })
        }
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({ "type": "auto" }),
            "none" => json!({ "type": "none" }),
            "required" => json!({ "type": "any" }),
            other => {
                return Err(invalid(
                    format!("tool_choice '{other}' is not supported"),
                    Some("tool_choice"),
                ));
            }
        },
        Some(v) => {
            let name = v
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid("tool_choice.function.name is missing", Some("tool_choice"))
                })?;
            json!({ "type": "tool", "name": name })
        }
    };
    if parallel_off && out["type"] != "none" {
        out["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Ok(Some(out))
}

/// `response_format` as Anthropic's structured output: a JSON schema as it is, a
/// JSON object as the schema of any object.
fn output_format(format: Option<&Value>) -> Result<Option<Value>, AdapterError> {
    Ok(match openai::parse_response_format(format)? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => {
            Some(json!({ "type": "json_schema", "schema": { "type": "object" } }))
        }
        ResponseFormat::JsonSchema { schema, .. } => {
            Some(json!({ "type": "json_schema", "schema": schema }))
        }
    })
}

/// Whether Anthropic accepts thinking for this conversation: not with a forced tool
/// choice, not with a prefilled assistant turn last, and not once the conversation has
/// tool calls — Anthropic then wants each assistant turn to start with its earlier
/// thinking block, which the chat form does not carry.
fn thinking_allowed(messages: &[Value], tool_choice: Option<&Value>) -> bool {
    let forced = tool_choice.is_some_and(|c| matches!(c["type"].as_str(), Some("any" | "tool")));
    let prefilled = messages.last().is_some_and(|m| m["role"] == "assistant");
    let tool_loop = messages
        .iter()
        .any(|m| m["role"] == "assistant" && m.get("tool_calls").is_some_and(|c| !c.is_null()));
    !forced && !prefilled && !tool_loop
}

/// `reasoning_effort` as a thinking budget (low 2 048, medium 8 192, high 24 576
/// tokens), at most half of `max_tokens` (which counts thinking too, as OpenAI's counts
/// reasoning, and must leave room for the answer); none when that is under
/// Anthropic's minimum of 1 024.
fn thinking(effort: Option<&Value>, max_tokens: u64) -> Result<Option<Value>, AdapterError> {
    let budget = match effort.and_then(Value::as_str) {
        None | Some("none" | "minimal") => return Ok(None),
        Some("low") => 2048,
        Some("medium") => 8192,
        Some("high" | "xhigh") => 24576,
        Some(other) => {
            return Err(invalid(
                format!(
                    "reasoning_effort '{other}' is not one of none, minimal, low, medium, high"
                ),
                Some("reasoning_effort"),
            ));
        }
    };
    let budget = budget.min(max_tokens / 2);
    if budget < 1024 {
        return Ok(None);
    }
    Ok(Some(json!({ "type": "enabled", "budget_tokens": budget })))
}
