//! The pipeline's chat answers as Responses API objects: a `chat.completion` as a
//! `response` (a `message` item with `output_text` or `refusal`, then one
//! `function_call` item per tool call, usage in the Responses shape), and the shared
//! parts of the response object that a stream's `response.created` and
//! `response.completed` events carry too.

use serde_json::{Map, Value, json};

/// What the client asked that the response object echoes back.
#[derive(Clone, Default)]
pub struct Echo {
    pub model: String,
    pub fields: Map<String, Value>,
    /// The request's namespaced tools: (the flattened name, the namespace, the tool).
    pub namespaced: Vec<(String, String, String)>,
}

impl Echo {
    pub fn of(req: &Value) -> Echo {
        let mut fields = Map::new();
        let keep = [
            "instructions",
            "max_output_tokens",
            "metadata",
            "parallel_tool_calls",
            "reasoning",
            "temperature",
            "text",
            "tool_choice",
            "tools",
            "top_p",
            "truncation",
            "user",
        ];
        for k in keep {
            if let Some(v) = req.get(k) {
                fields.insert(k.into(), v.clone());
            }
        }
        let mut namespaced = Vec::new();
        let namespaces = req["tools"].as_array().into_iter().flatten();
        for ns in namespaces.filter(|t| t["type"] == "namespace") {
            let Some(name) = ns["name"].as_str() else {
                continue;
            };
            for tool in ns["tools"].as_array().into_iter().flatten() {
                if let Some(t) = tool["name"].as_str() {
                    let flat = super::request::spaced(name, t);
                    namespaced.push((flat, name.to_string(), t.to_string()));
                }
            }
        }
        Echo {
            model: req["model"].as_str().unwrap_or_default().to_string(),
            fields,
            namespaced,
        }
    }

    /// A chat tool name as the client declared it: (its namespace, its tool name).
    pub fn declared<'a>(&'a self, name: &'a str) -> (Option<&'a str>, &'a str) {
        match self.namespaced.iter().find(|(flat, _, _)| flat == name) {
            Some((_, ns, tool)) => (Some(ns.as_str()), tool.as_str()),
            None => (None, name),
        }
    }

    /// A `function_call` item; a call to a flattened namespace tool names its tool and
    /// its `namespace`, as the client declared them.
    pub fn call_item(
        &self,
        id: &str,
        status: &str,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> Value {
        let (namespace, name) = self.declared(name);
        let mut item = call_item(id, status, call_id, name, arguments);
        if let Some(ns) = namespace {
            item["namespace"] = json!(ns);
        }
        item
    }
}

/// A fresh id with the Responses API's prefix for its kind (`resp`, `msg`, `fc`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:032x}", rand::random::<u128>())
}

/// The response object around `output`: `status` is `in_progress`, `completed` or
/// `incomplete` (with its reason).
pub fn object(
    id: &str,
    created: u64,
    echo: &Echo,
    status: &str,
    incomplete: Option<&str>,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    let mut o = json!({
        "id": id, "object": "response", "created_at": created, "status": status,
        "error": null,
        "incomplete_details": incomplete.map(|r| json!({ "reason": r })),
        "model": echo.model, "output": output, "usage": usage,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        "text": { "format": { "type": "text" } }, "metadata": {}, "store": false,
        "truncation": "disabled", "previous_response_id": null,
        "instructions": null, "max_output_tokens": null, "temperature": null, "top_p": null,
        "reasoning": null, "user": null,
    });
    for (k, v) in &echo.fields {
        o[k] = v.clone();
    }
    o
}

/// Chat usage in the Responses shape.
pub fn usage(u: &Value) -> Option<Value> {
    if !u.is_object() {
        return None;
    }
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let (input, output) = (n(&u["prompt_tokens"]), n(&u["completion_tokens"]));
    Some(json!({
        "input_tokens": input,
        "input_tokens_details": { "cached_tokens": n(&u["prompt_tokens_details"]["cached_tokens"]) },
        "output_tokens": output,
        "output_tokens_details": { "reasoning_tokens": n(&u["completion_tokens_details"]["reasoning_tokens"]) },
        "total_tokens": input + output,
    }))
}

/// Why a response stopped short, from chat's finish reason.
pub fn incomplete_reason(finish: Option<&str>) -> Option<&'static str> {
    match finish {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    }
}

pub fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

pub fn refusal_part(text: &str) -> Value {
    json!({ "type": "refusal", "refusal": text })
}

pub fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({ "type": "message", "id": id, "status": status, "role": "assistant", "content": content })
}

pub fn call_item(id: &str, status: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "type": "function_call", "id": id, "status": status, "call_id": call_id,
        "name": name, "arguments": arguments,
    })
}

/// A `chat.completion` as a `response`.
pub fn from_completion(c: &Value, echo: &Echo, created: u64) -> Value {
    let choice = &c["choices"][0];
    let m = &choice["message"];
    let mut output = Vec::new();
    let mut content = Vec::new();
    if let Some(t) = m["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(text_part(t));
    }
    if let Some(r) = m["refusal"].as_str().filter(|t| !t.is_empty()) {
        content.push(refusal_part(r));
    }
    if !content.is_empty() {
        output.push(message_item(&new_id("msg"), "completed", content));
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        output.push(echo.call_item(
            &new_id("fc"),
            "completed",
            call["id"].as_str().unwrap_or_default(),
            call["function"]["name"].as_str().unwrap_or_default(),
            call["function"]["arguments"].as_str().unwrap_or("{}"),
        ));
    }
    let reason = incomplete_reason(choice["finish_reason"].as_str());
    let status = if reason.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    object(
        &new_id("resp"),
        created,
        echo,
        status,
        reason,
        output,
        usage(&c["usage"]),
    )
}
