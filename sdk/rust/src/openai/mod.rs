//! OpenAI's chat-completions and embeddings wire format, for adapters: the client's
//! request read into typed parts ([`parse`], [`parse_embeddings`]), answers and stream
//! chunks written back ([`answer`], [`ChunkWriter`], [`embeddings_answer`]), and errors
//! by status ([`errors`]). Every translating adapter reads and writes the same format,
//! so this is written once here.
//!
//! Reading is strict where a provider would be misled (a tool call whose arguments are
//! not JSON, an unknown role, a tool without a name: 400 with the field's path) and
//! lenient where OpenAI is (`content` as a string or parts, `stop` as a string or list,
//! `max_completion_tokens` or `max_tokens`).

mod answer;
pub mod errors;
mod translate;

pub use answer::{
    Answer, ChunkWriter, Finish, Usage, answer, answer_with_usage, call_id, embeddings_answer,
};
pub use errors::{broken, invalid, status_error, upstream_error};
pub use translate::{
    TranslatedStream, Translation, UpstreamEvent, UpstreamEvents, answered, answered_by_operation,
    forwarded, forwarded_post, indexed_embeddings, provider_json, push_turn, translated_embeddings,
    translated_post, vectors,
};

use serde_json::{Map, Value};

use crate::types::AdapterError;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `system` and `developer`.
    System,
    User,
    Assistant,
    Tool,
}

/// One part of a message's content.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    /// An image by URL; a `data:` URL carries the bytes (see [`Part::image_data`]).
    Image(String),
}

impl Part {
    /// `(media type, base64 data)` of a `data:<type>;base64,<data>` image URL.
    pub fn image_data(url: &str) -> Option<(&str, &str)> {
        let rest = url.strip_prefix("data:")?;
        let (meta, data) = rest.split_once(',')?;
        Some((meta.strip_suffix(";base64")?, data))
    }
}

/// A tool call an assistant message made, its arguments parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    /// Assistant messages only.
    pub tool_calls: Vec<ToolCall>,
    /// Tool messages only: the call this result answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// The text parts joined.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.content {
            if let Part::Text(t) = p {
                out.push_str(t);
            }
        }
        out
    }
}

/// A function tool offered to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// The JSON schema of its arguments (`{"type":"object","properties":{}}` when absent).
    pub parameters: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ToolChoice {
    /// Not said: the provider's default.
    Default,
    Auto,
    None,
    Required,
    Function(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, schema: Value },
}

/// A chat-completions request, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub messages: Vec<Message>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    /// Choices asked for (1 unless set).
    pub n: u64,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub user: Option<String>,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    /// `parallel_tool_calls` (true unless set false).
    pub parallel_tool_calls: bool,
    pub response_format: ResponseFormat,
    /// The body as it came, for fields a provider takes as they are.
    pub raw: Map<String, Value>,
}

impl Request {
    /// The function name of the tool call `id` an earlier assistant message made
    /// (providers that answer tool results by name, not id).
    pub fn tool_name(&self, id: &str) -> Option<&str> {
        self.messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }

    /// The system messages' texts, joined by blank lines (`None` when there are none).
    pub fn system_text(&self) -> Option<String> {
        let texts: Vec<String> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(Message::text)
            .filter(|t| !t.is_empty())
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n\n"))
    }

    /// Refuses `n` > 1 for providers that answer one choice.
    pub fn one_choice(&self, provider: &str) -> Result<(), AdapterError> {
        if self.n > 1 {
            return Err(invalid(
                format!("{provider} returns one choice: 'n' must be 1"),
                Some("n"),
            ));
        }
        Ok(())
    }
}

fn f64_of(o: &Map<String, Value>, key: &str) -> Result<Option<f64>, AdapterError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("'{key}' must be a number"), Some(key))),
    }
}

/// Reads a chat-completions body.
pub fn parse(body: &[u8]) -> Result<Request, AdapterError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not valid JSON: {e}"), None))?;
    let Value::Object(raw) = v else {
        return Err(invalid("request body must be a JSON object", None));
    };
    let messages = raw
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("'messages' must be an array", Some("messages")))?
        .iter()
        .enumerate()
        .map(|(i, m)| message(m, &format!("messages[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = match raw.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("'stop' must be a string or strings", Some("stop")))?,
        _ => Vec::new(),
    };
    let tools = match raw.get("tools") {
        Some(Value::Array(t)) => t
            .iter()
            .enumerate()
            .map(|(i, t)| tool(t, &format!("tools[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    Ok(Request {
        messages,
        max_tokens: raw
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| raw.get("max_tokens").and_then(Value::as_u64)),
        temperature: f64_of(&raw, "temperature")?,
        top_p: f64_of(&raw, "top_p")?,
        stop,
        n: raw.get("n").and_then(Value::as_u64).unwrap_or(1),
        seed: raw.get("seed").and_then(Value::as_i64),
        frequency_penalty: f64_of(&raw, "frequency_penalty")?,
        presence_penalty: f64_of(&raw, "presence_penalty")?,
        user: raw.get("user").and_then(Value::as_str).map(str::to_string),
        tools,
        tool_choice: tool_choice(raw.get("tool_choice"))?,
        parallel_tool_calls: raw.get("parallel_tool_calls") != Some(&Value::Bool(false)),
        response_format: parse_response_format(raw.get("response_format"))?,
        raw,
    })
}

fn message(m: &Value, param: &str) -> Result<Message, AdapterError> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("system" | "developer") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        Some(other) => {
            return Err(invalid(
                format!("{param}.role '{other}' is not supported"),
                Some(param),
            ));
        }
        None => return Err(invalid(format!("{param}.role is missing"), Some(param))),
    };
    let mut tool_calls = Vec::new();
    for (j, call) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        tool_calls.push(tool_call(call, &format!("{param}.tool_calls[{j}]"))?);
    }
    let tool_call_id = m.get("tool_call_id").and_then(Value::as_str);
    if role == Role::Tool && tool_call_id.is_none() {
        return Err(invalid(
            format!("{param}.tool_call_id is missing"),
            Some(param),
        ));
    }
    Ok(Message {
        role,
        content: content(m.get("content"), param, role == Role::User)?,
        tool_calls,
        tool_call_id: tool_call_id.map(str::to_string),
    })
}

fn content(c: Option<&Value>, param: &str, images: bool) -> Result<Vec<Part>, AdapterError> {
    let parts = match c {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(invalid(
                format!("{param}.content must be a string or an array"),
                Some(param),
            ));
        }
    };
    parts
        .iter()
        .map(|p| match p.get("type").and_then(Value::as_str) {
            Some("text") => Ok(Part::Text(
                p.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )),
            Some("image_url") if images => p
                .get("image_url")
                .and_then(|i| i.get("url").or(Some(i)))
                .and_then(Value::as_str)
                .map(|u| Part::Image(u.to_string()))
                .ok_or_else(|| invalid(format!("{param}: image_url.url is missing"), Some(param))),
            other => Err(invalid(
                format!(
                    "{param}: content part type {} is not supported here",
                    other.unwrap_or("(none)")
                ),
                Some(param),
            )),
        })
        .collect()
}

fn tool_call(call: &Value, p: &str) -> Result<ToolCall, AdapterError> {
    let f = call
        .get("function")
        .ok_or_else(|| invalid(format!("{p}.function is missing"), Some(p)))?;
    let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
    let arguments = if args.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(args).map_err(|e| {
            invalid(
                format!("{p}.function.arguments is not valid JSON: {e}"),
                Some(p),
            )
        })?
    };
    Ok(ToolCall {
        id: call
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        name: f
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        arguments,
    })
}

fn tool(t: &Value, p: &str) -> Result<Tool, AdapterError> {
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err(invalid(
            format!("{p}: only function tools are supported"),
            Some(p),
        ));
    }
    let f = t
        .get("function")
        .ok_or_else(|| invalid(format!("{p}.function is missing"), Some(p)))?;
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{p}.function.name is missing"), Some(p)))?;
    Ok(Tool {
        name: name.to_string(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        parameters: f
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({ "type": "object", "properties": {} })),
    })
}

fn tool_choice(c: Option<&Value>) -> Result<ToolChoice, AdapterError> {
    Ok(match c {
        None | Some(Value::Null) => ToolChoice::Default,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid(
                    format!("tool_choice '{other}' is not supported"),
                    Some("tool_choice"),
                ));
            }
        },
        Some(v) => ToolChoice::Function(
            v.get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid("tool_choice.function.name is missing", Some("tool_choice"))
                })?
                .to_string(),
        ),
    })
}

/// Reads a chat request's `response_format` (absent or null: text), for an adapter
/// that reads the rest of the body itself.
pub fn parse_response_format(f: Option<&Value>) -> Result<ResponseFormat, AdapterError> {
    let Some(f) = f.filter(|f| !f.is_null()) else {
        return Ok(ResponseFormat::Text);
    };
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let js = f.get("json_schema");
            match js.and_then(|j| j.get("schema")) {
                Some(schema) => Ok(ResponseFormat::JsonSchema {
                    name: js
                        .and_then(|j| j.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("output")
                        .to_string(),
                    schema: schema.clone(),
                }),
                None => Err(invalid(
                    "response_format.json_schema.schema is required",
                    Some("response_format"),
                )),
            }
        }
        _ => Err(invalid(
            "response_format.type must be text, json_object or json_schema",
            Some("response_format"),
        )),
    }
}

/// An embeddings request, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// The texts to embed, in order.
    pub inputs: Vec<String>,
    pub dimensions: Option<u64>,
}

/// Reads an embeddings body (`input` a string or strings; token arrays are refused:
/// only OpenAI's own tokenizer gives them meaning).
pub fn parse_embeddings(body: &[u8]) -> Result<Embeddings, AdapterError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not valid JSON: {e}"), None))?;
    let inputs = match v.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                invalid(
                    "'input' must be a string or strings for this provider",
                    Some("input"),
                )
            })?,
        _ => {
            return Err(invalid(
                "'input' must be a string or a non-empty array of strings",
                Some("input"),
            ));
        }
    };
    Ok(Embeddings {
        inputs,
        dimensions: v.get("dimensions").and_then(Value::as_u64),
    })
}

#[cfg(test)]
mod tests;
