//! A Responses API request (`POST /v1/responses`) as the chat request the pipeline
//! runs: `instructions` and `input` items become messages (text, image and file parts,
//! `function_call` → an assistant tool call, `function_call_output` → a tool message),
//! function tools and `tool_choice` their chat forms, `text.format` the
//! `response_format`, `reasoning.effort` the `reasoning_effort`, `max_output_tokens`
//! the `max_completion_tokens`. What has no chat equivalent is refused with a 400 naming it
//! (built-in tools, conversation objects) or, where losing it changes nothing the
//! client relies on, dropped and named in `x-switchboard-dropped`.

use serde_json::{Map, Value, json};

pub type Invalid = String;

pub use crate::api::translate::Translated;

/// Fields read here, or echoed back in the response object without reaching the
/// provider (they change nothing it would do).
const ECHOED: &[&str] = &[
    "metadata",
    "store",
    "truncation",
    "include",
    "service_tier",
    // Hints about the provider's own prompt cache: nothing to carry on a translated route.
    "prompt_cache_key",
    "prompt_cache_retention",
    // Codex's own metadata about itself (sent on every request): nothing for a model.
    "client_metadata",
];

/// How a tool of a `namespace` (a group of client-side function tools, as Codex sends
/// them) is named as a chat function: `<namespace>__<tool>`.
pub const NAMESPACE_SEPARATOR: &str = "__";

/// The built-in tools by name as `x-switchboard-dropped` names them when the route drops them.
const BUILTIN: &[(&str, &str)] = &[
    ("web_search", "tools.web_search"),
    ("web_search_preview", "tools.web_search_preview"),
    ("file_search", "tools.file_search"),
    ("code_interpreter", "tools.code_interpreter"),
    ("computer_use_preview", "tools.computer_use_preview"),
    ("image_generation", "tools.image_generation"),
    ("local_shell", "tools.local_shell"),
    ("mcp", "tools.mcp"),
];
/// Fields that mean something this gateway cannot do on a translated route.
const REFUSED: &[(&str, &str)] = &[
    (
        "conversation",
        "conversation objects are not kept by this gateway; continue with `previous_response_id` or send the whole conversation as `input`",
    ),
    ("background", "background responses are not supported"),
];

fn text_part(text: &Value) -> Value {
    json!({ "type": "text", "text": text.as_str().unwrap_or_default() })
}

/// One content part of an input message, in chat's form.
fn part(p: &Value) -> Result<Value, Invalid> {
    match p["type"].as_str().unwrap_or_default() {
        "input_text" | "output_text" | "text" => Ok(text_part(&p["text"])),
        "refusal" => Ok(text_part(&p["refusal"])),
        "input_image" => {
            let url = p["image_url"].as_str().ok_or(
                "input_image: only `image_url` (a URL or data URL) is supported, not `file_id`",
            )?;
            let mut image = json!({ "url": url });
            if let Some(d) = p.get("detail") {
                image["detail"] = d.clone();
            }
            Ok(json!({ "type": "image_url", "image_url": image }))
        }
        "input_file" => {
            let mut file = Map::new();
            for k in ["file_data", "file_id", "filename"] {
                if let Some(v) = p.get(k) {
                    file.insert(k.into(), v.clone());
                }
            }
            if file.is_empty() {
                return Err("input_file: `file_data` or `file_id` is required".into());
            }
            Ok(json!({ "type": "file", "file": file }))
        }
        other => Err(format!(
            "input content part type `{other}` is not supported"
        )),
    }
}

/// A message's content: a string stays one; parts become chat parts (all-text parts
/// of a non-user message are joined, as chat's system and assistant messages expect).
fn content(role: &str, c: &Value) -> Result<Value, Invalid> {
    let Some(parts) = c.as_array() else {
        return Ok(Value::String(c.as_str().unwrap_or_default().to_string()));
    };
    let parts = parts.iter().map(part).collect::<Result<Vec<_>, _>>()?;
    if role != "user" && parts.iter().all(|p| p["type"] == "text") {
        let text: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(Value::String(text.concat()));
    }
    Ok(Value::Array(parts))
}

/// Appends the chat messages for one input item.
fn item(it: &Value, out: &mut Vec<Value>, dropped: &mut Vec<&'static str>) -> Result<(), Invalid> {
    let kind = it["type"].as_str().unwrap_or("message");
    match kind {
        "message" => {
            let role = match it["role"].as_str() {
                Some("developer") => "system",
                Some(r @ ("user" | "assistant" | "system")) => r,
                _ => {
                    return Err(
                        "input message: role must be user, assistant, system or developer".into(),
                    );
                }
            };
            out.push(json!({ "role": role, "content": content(role, &it["content"])? }));
        }
        "function_call" => {
            let name = match (it["namespace"].as_str(), it["name"].as_str()) {
                (Some(ns), Some(n)) => json!(spaced(ns, n)),
                _ => it["name"].clone(),
            };
            let call = json!({
                "id": it["call_id"], "type": "function",
                "function": { "name": name, "arguments": it["arguments"].as_str().unwrap_or("{}") },
            });
            // Calls in a row are one assistant turn.
            match out.last_mut() {
                Some(m) if m["role"] == "assistant" && m.get("tool_calls").is_some() => {
                    if let Some(calls) = m["tool_calls"].as_array_mut() {
                        calls.push(call);
                    }
                }
                _ => {
                    out.push(json!({ "role": "assistant", "content": null, "tool_calls": [call] }))
                }
            }
        }
        "function_call_output" => {
            let output = match &it["output"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => {
                    if parts.iter().any(|p| p.get("text").is_none()) {
                        Translated::drop_field(dropped, "function_call_output.media");
                    }
                    parts.iter().filter_map(|p| p["text"].as_str()).collect()
                }
                other => other.to_string(),
            };
            out.push(json!({ "role": "tool", "tool_call_id": it["call_id"], "content": output }));
        }
        // Earlier reasoning is the provider's own state; a translated target cannot use it.
        "reasoning" => Translated::drop_field(dropped, "reasoning_items"),
        other => {
            return Err(format!(
                "input item type `{other}` is not supported on a route whose target does not speak the Responses API"
            ));
        }
    }
    Ok(())
}

/// A function tool in chat's form, under `name`.
fn function(t: &Value, name: Value) -> Value {
    let parameters = t.get("parameters").cloned();
    let mut f =
        json!({ "name": name, "parameters": parameters.unwrap_or(json!({ "type": "object" })) });
    for k in ["description", "strict"] {
        if let Some(v) = t.get(k).filter(|v| !v.is_null()) {
            f[k] = v.clone();
        }
    }
    json!({ "type": "function", "function": f })
}

/// A namespaced tool's chat name.
pub fn spaced(namespace: &str, name: &str) -> String {
    format!("{namespace}{NAMESPACE_SEPARATOR}{name}")
}

/// The chat tools: function tools as they are, a namespace's function tools flattened
/// under `<namespace>__<tool>`, built-in tools dropped (and named) when `drop_builtin`,
/// else refused.
fn tools(
    list: &[Value],
    drop_builtin: bool,
    dropped: &mut Vec<&'static str>,
) -> Result<Vec<Value>, Invalid> {
    let mut out = Vec::new();
    for t in list {
        match t["type"].as_str() {
            Some("function") => out.push(function(t, t["name"].clone())),
            Some("namespace") => {
                let ns = t["name"]
                    .as_str()
                    .ok_or("tools[].name: a namespace needs a name")?;
                for sub in t["tools"].as_array().into_iter().flatten() {
                    if sub["type"] != "function" {
                        return Err(format!(
                            "namespace `{ns}`: only function tools can be flattened on a route whose target does not speak the Responses API"
                        ));
                    }
                    let name = spaced(ns, sub["name"].as_str().unwrap_or_default());
                    out.push(function(sub, json!(name)));
                }
            }
            other if drop_builtin => {
                let label = BUILTIN
                    .iter()
                    .find(|(k, _)| Some(*k) == other)
                    .map_or("tools.builtin", |(_, l)| l);
                Translated::drop_field(dropped, label);
            }
            other => {
                return Err(format!(
                    "tool type `{}` is a built-in tool of OpenAI's Responses API; it is not supported on a route whose target does not speak that API (a route with builtin_tools = \"drop\" drops it)",
                    other.unwrap_or("(none)")
                ));
            }
        }
    }
    Ok(out)
}

fn tool_choice(c: &Value) -> Result<Value, Invalid> {
    match c {
        Value::String(s) if ["auto", "none", "required"].contains(&s.as_str()) => Ok(c.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = match (o.get("namespace").and_then(Value::as_str), o.get("name")) {
                (Some(ns), Some(Value::String(n))) => json!(spaced(ns, n)),
                (_, n) => n.cloned().unwrap_or(Value::Null),
            };
            Ok(json!({ "type": "function", "function": { "name": name } }))
        }
        _ => Err("tool_choice: must be auto, none, required or a function".into()),
    }
}

fn response_format(format: &Value) -> Result<Option<Value>, Invalid> {
    Ok(match format["type"].as_str() {
        None | Some("text") => None,
        Some("json_object") => Some(json!({ "type": "json_object" })),
        Some("json_schema") => {
            let mut schema = json!({ "name": format["name"], "schema": format["schema"] });
            for k in ["strict", "description"] {
                if let Some(v) = format.get(k) {
                    schema[k] = v.clone();
                }
            }
            Some(json!({ "type": "json_schema", "json_schema": schema }))
        }
        Some(other) => return Err(format!("text.format type `{other}` is not supported")),
    })
}

/// Refuses what a translated route cannot do, and any field this API does not have.
fn check_fields(obj: &Map<String, Value>) -> Result<(), Invalid> {
    for (field, why) in REFUSED {
        if obj.get(*field).is_some_and(|v| !v.is_null()) {
            return Err(format!("{field}: {why}"));
        }
    }
    let known = [
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "user",
        "safety_identifier",
        "top_logprobs",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "stream",
        "stream_options",
        // Resolved by the handler (the stored conversation is put into `input`).
        "previous_response_id",
    ];
    match obj.iter().find(|(k, v)| {
        !known.contains(&k.as_str()) && !ECHOED.contains(&k.as_str()) && !v.is_null()
    }) {
        Some((k, _)) => Err(format!("{k}: unknown or unsupported parameter")),
        None => Ok(()),
    }
}

/// `instructions` and `input` as chat messages.
fn messages(
    obj: &Map<String, Value>,
    dropped: &mut Vec<&'static str>,
) -> Result<Vec<Value>, Invalid> {
    let mut messages = Vec::new();
    match obj.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(i)) => messages.push(json!({ "role": "system", "content": i })),
        Some(_) => return Err("instructions: must be a string".into()),
    }
    match obj.get("input") {
        Some(Value::String(s)) => messages.push(json!({ "role": "user", "content": s })),
        Some(Value::Array(items)) => {
            for it in items {
                item(it, &mut messages, dropped)?;
            }
        }
        _ => return Err("input: Field required (a string or a list of items)".into()),
    }
    Ok(messages)
}

/// `text` (format, verbosity) and `reasoning` (effort) in their chat forms.
fn output_options(
    obj: &Map<String, Value>,
    chat: &mut Map<String, Value>,
    dropped: &mut Vec<&'static str>,
) -> Result<(), Invalid> {
    if let Some(text) = obj.get("text") {
        if let Some(f) = response_format(&text["format"])? {
            chat.insert("response_format".into(), f);
        }
        if let Some(v) = text.get("verbosity").filter(|v| !v.is_null()) {
            chat.insert("verbosity".into(), v.clone());
        }
    }
    if let Some(r) = obj.get("reasoning").filter(|v| !v.is_null()) {
        if let Some(e) = r.get("effort").filter(|v| !v.is_null()) {
            chat.insert("reasoning_effort".into(), e.clone());
        }
        if r.get("summary").is_some_and(|v| !v.is_null()) {
            dropped.push("reasoning.summary");
        }
    }
    Ok(())
}

/// The chat body for a Responses API body.
pub fn to_chat(req: &Value, drop_builtin: bool) -> Result<Translated, Invalid> {
    let obj = req
        .as_object()
        .ok_or("the request body must be a JSON object")?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    check_fields(obj)?;
    let mut dropped = Vec::new();
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert(
        "messages".into(),
        Value::Array(messages(obj, &mut dropped)?),
    );
    for (from, to) in [
        // As `max_output_tokens`, it counts reasoning too; OpenAI's reasoning models refuse
        // `max_tokens`.
        ("max_output_tokens", "max_completion_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("user", "user"),
        ("safety_identifier", "user"),
    ] {
        if let Some(v) = obj.get(from).filter(|v| !v.is_null()) {
            chat.insert(to.into(), v.clone());
        }
    }
    if let Some(t) = obj
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        let list = tools(t, drop_builtin, &mut dropped)?;
        if !list.is_empty() {
            chat.insert("tools".into(), Value::Array(list));
        }
    }
    if let Some(c) = obj.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), tool_choice(c)?);
    }
    output_options(obj, &mut chat, &mut dropped)?;
    if obj.get("top_logprobs").is_some_and(|v| !v.is_null()) {
        Translated::drop_field(&mut dropped, "top_logprobs");
    }
    // Echoed fields that ask for something a translated route does not do.
    if obj.get("truncation").and_then(Value::as_str) == Some("auto") {
        Translated::drop_field(&mut dropped, "truncation");
    }
    if obj
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|i| !i.is_empty())
    {
        Translated::drop_field(&mut dropped, "include");
    }
    if obj
        .get("service_tier")
        .and_then(Value::as_str)
        .is_some_and(|t| !["auto", "default"].contains(&t))
    {
        Translated::drop_field(&mut dropped, "service_tier");
    }
    let stream = obj.get("stream").and_then(Value::as_bool) == Some(true);
    Ok(Translated::finish(stream, chat, dropped))
}
