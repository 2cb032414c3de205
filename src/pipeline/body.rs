//! What routing needs from a client body, parsed without copying it: the model
//! (and where its value sits, so it can be rewritten in place), the stream flags,
//! and the sizes used to estimate tokens; and what the host reads of an answer (its
//! usage, its finish reason) the same way.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::Error;

#[derive(Deserialize)]
struct Facts<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    user: Option<String>,
    n: Option<u64>,
    encoding_format: Option<String>,
}

/// Most output tokens a request may ask for: beyond any model's output (the largest
/// are 128k–200k), so a larger `max_tokens` is a mistake or an attack on a budget's
/// arithmetic, refused before anything reserves for it.
pub const MAX_OUTPUT_TOKENS: u64 = 1_000_000;

/// Longest `user` accepted: it can become a quota key, so it is bounded.
pub const MAX_USER_BYTES: usize = 256;

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// The parts of a request the gateway acts on.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub model: String,
    /// Byte range of the `model` value (with its quotes) in the body.
    pub model_span: std::ops::Range<usize>,
    pub stream: bool,
    pub include_usage: bool,
    /// Whether the body has a `stream_options` object at all.
    pub has_stream_options: bool,
    pub max_output_tokens: Option<u64>,
    pub user: Option<String>,
    /// Choices asked for (`n`, default 1).
    pub n: u64,
    /// A rough estimate (bytes / 4) of the prompt tokens.
    pub estimated_input_tokens: u64,
    /// Embeddings asked for as base64 (`encoding_format`).
    pub base64_embeddings: bool,
}

pub use crate::types::Endpoint;

/// What a request may ask for at most: a bounded `user`, a `max_tokens` within what any
/// model writes, at least one choice.
fn bounded(facts: &Facts<'_>) -> Result<(), Error> {
    if facts
        .user
        .as_ref()
        .is_some_and(|u| u.len() > MAX_USER_BYTES)
    {
        return Err(Error::invalid(
            format!("'user' is longer than {MAX_USER_BYTES} bytes"),
            Some("user"),
        ));
    }
    for (name, v) in [
        ("max_tokens", facts.max_tokens),
        ("max_completion_tokens", facts.max_completion_tokens),
    ] {
        if let Some(v) = v.filter(|v| *v > MAX_OUTPUT_TOKENS) {
            return Err(Error::invalid(
                format!(
                    "'{name}' is {v}, more than any model writes (at most {MAX_OUTPUT_TOKENS})"
                ),
                Some(name),
            ));
        }
    }
    if facts.n == Some(0) {
        return Err(Error::invalid("'n' must be at least 1", Some("n")));
    }
    Ok(())
}

pub fn parse(body: &[u8], endpoint: Endpoint) -> Result<RequestFacts, Error> {
    // serde would also read a struct from an array; a request is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid(
            "the request body must be a JSON object",
            None,
        ));
    }
    let facts: Facts = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            Error::invalid(format!("invalid request body: {e}"), None)
        } else {
            Error::invalid(format!("request body is not valid JSON: {e}"), None)
        }
    })?;
    let raw = facts
        .model
        .ok_or_else(|| Error::invalid("you must provide a model parameter", Some("model")))?;
    let model: String = serde_json::from_str(raw.get())
        .map_err(|_| Error::invalid("'model' must be a string", Some("model")))?;
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    let model_span = start..start + raw.get().len();
    match endpoint {
        Endpoint::Chat => match facts.messages {
            Some(m) if m.get().starts_with('[') => {}
            Some(_) => {
                return Err(Error::invalid(
                    "'messages' must be an array",
                    Some("messages"),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "you must provide a 'messages' parameter",
                    Some("messages"),
                ));
            }
        },
        Endpoint::Embeddings => {
            if facts.input.is_none() {
                return Err(Error::invalid(
                    "you must provide an 'input' parameter",
                    Some("input"),
                ));
            }
        }
    }
    bounded(&facts)?;
    let stream = endpoint == Endpoint::Chat && facts.stream.unwrap_or(false);
    let has_stream_options = facts.stream_options.is_some();
    Ok(RequestFacts {
        model,
        model_span,
        stream,
        include_usage: stream
            && facts
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        has_stream_options,
        max_output_tokens: facts.max_completion_tokens.or(facts.max_tokens),
        user: facts.user,
        n: facts.n.unwrap_or(1),
        estimated_input_tokens: (body.len() as u64).div_ceil(4),
        base64_embeddings: endpoint == Endpoint::Embeddings
            && facts.encoding_format.as_deref() == Some("base64"),
    })
}

/// A translated embeddings answer with each vector in OpenAI's `base64` encoding
/// (little-endian f32s), for a client that asked for it: adapters write numbers, and
/// OpenAI's SDKs ask for base64 by default (the JavaScript one then decodes whatever
/// it gets as base64). `None` when the answer is not a list of embeddings.
pub fn embeddings_as_base64(body: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    for d in v.get_mut("data")?.as_array_mut()? {
        let Some(e) = d.get_mut("embedding") else {
            continue;
        };
        if let Some(list) = e.as_array() {
            let bytes: Vec<u8> = list
                .iter()
                .filter_map(serde_json::Value::as_f64)
                .flat_map(|x| (x as f32).to_le_bytes())
                .collect();
            *e = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
    serde_json::to_vec(&v).ok()
}

/// Where a string `model` value sits in a JSON object body (with its quotes).
pub fn model_span(body: &[u8]) -> Option<std::ops::Range<usize>> {
    #[derive(Deserialize)]
    struct ModelOnly<'a> {
        #[serde(borrow)]
        model: Option<&'a RawValue>,
    }
    let raw = serde_json::from_slice::<ModelOnly>(body).ok()?.model?;
    if !raw.get().starts_with('"') {
        return None;
    }
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    Some(start..start + raw.get().len())
}

/// Characters of answer text in one streamed event, in any API's shape: the string
/// values of the fields that carry generated text (a chat delta's `content`, tool
/// call `arguments`, Anthropic's `text`/`partial_json`/`thinking`, a Responses
/// `delta`), wherever they sit. Events that carry a whole answer again at their end
/// come with usage, so the count is only used for streams that never got there.
pub fn text_chars(data: &str) -> u64 {
    fn walk(v: &serde_json::Value, key: &str) -> u64 {
        match v {
            serde_json::Value::String(s) => match key {
                "content" | "text" | "delta" | "arguments" | "partial_json" | "thinking"
                | "reasoning_content" | "refusal" => s.chars().count() as u64,
                _ => 0,
            },
            serde_json::Value::Array(a) => a.iter().map(|v| walk(v, key)).sum(),
            serde_json::Value::Object(m) => m.iter().map(|(k, v)| walk(v, k)).sum(),
            _ => 0,
        }
    }
    if !data.starts_with('{') {
        return 0;
    }
    serde_json::from_str::<serde_json::Value>(data).map_or(0, |v| walk(&v, ""))
}

/// Whether JSON object `body` has a top-level field `name`.
pub fn has_field(body: &[u8], name: &str) -> bool {
    serde_json::from_slice::<std::collections::HashMap<String, serde::de::IgnoredAny>>(body)
        .is_ok_and(|m| m.contains_key(name))
}

/// `body` with the `model` value replaced by `model`, everything else untouched.
pub fn set_model(body: &[u8], span: &std::ops::Range<usize>, model: &str) -> Vec<u8> {
    let encoded = serde_json::to_string(model).unwrap_or_else(|_| "\"\"".to_string());
    let mut out = Vec::with_capacity(body.len() + encoded.len());
    out.extend_from_slice(&body[..span.start]);
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(&body[span.end..]);
    out
}

/// `body` asking the provider for the usage chunk of a stream
/// (`stream_options.include_usage = true`), everything else kept.
pub fn with_stream_usage(body: &[u8], has_stream_options: bool) -> Vec<u8> {
    if !has_stream_options {
        // Insert before the closing brace of the object: no reparse needed.
        let end = body.iter().rposition(|b| *b == b'}').unwrap_or(body.len());
        let mut out = Vec::with_capacity(body.len() + 48);
        out.extend_from_slice(&body[..end]);
        out.extend_from_slice(br#","stream_options":{"include_usage":true}"#);
        out.extend_from_slice(&body[end..]);
        return out;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                let so = o
                    .entry("stream_options")
                    .or_insert_with(|| serde_json::json!({}));
                if !so.is_object() {
                    *so = serde_json::json!({});
                }
                so["include_usage"] = true.into();
            }
            serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
        }
        Err(_) => body.to_vec(),
    }
}

/// The `usage` of an OpenAI-shaped answer, read without the rest.
#[derive(Deserialize)]
pub(super) struct UsageOnly {
    pub(super) usage: Option<UsageFields>,
}

#[derive(Deserialize)]
pub(super) struct UsageFields {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

impl UsageFields {
    pub(super) fn usage(self) -> crate::types::Usage {
        let prompt = self.prompt_tokens.unwrap_or(0);
        crate::types::Usage {
            prompt,
            completion: self.completion_tokens.unwrap_or(0),
            cached_prompt: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0)
                .min(prompt),
        }
    }
}

/// Usage of an OpenAI-shaped answer or chunk, if it says.
pub fn usage_of(json: &[u8]) -> Option<crate::types::Usage> {
    Some(
        serde_json::from_slice::<UsageOnly>(json)
            .ok()?
            .usage?
            .usage(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reason_is_read_without_a_parse() {
        let chunk = br#"{"choices":[{"index":0,"delta":{},"finish_reason" : "tool_calls"}]}"#;
        assert_eq!(finish_reason(chunk).as_deref(), Some("tool_calls"));
        assert_eq!(
            finish_reason(br#"{"choices":[{"finish_reason":null}]}"#),
            None
        );
        assert_eq!(finish_reason(b"{}"), None);
    }

    #[test]
    fn request_shape_sees_images_audio_tools_and_json() {
        let body = br#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]}],"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}}"#;
        let s = request_shape(body);
        assert!(s.images && s.tools && s.json_output && !s.audio, "{s:?}");
        assert_eq!(s.messages, 2);
        let plain = request_shape(br#"{"messages":[{"role":"user","content":"hi"}],"tools":[]}"#);
        assert_eq!(
            plain,
            crate::types::RequestShape {
                messages: 1,
                ..Default::default()
            }
        );
        assert_eq!(request_shape(b"not json"), Default::default());
    }

    #[test]
    fn model_is_rewritten_in_place() {
        let body = br#"{ "messages":[{"role":"user","content":"hi \"model\""}], "model" : "gpt-4o", "stream":true}"#;
        let f = parse(body, Endpoint::Chat).unwrap();
        assert_eq!(f.model, "gpt-4o");
        assert!(f.stream);
        let out = set_model(body, &f.model_span, "llama\"3");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "llama\"3");
        assert_eq!(v["messages"][0]["content"], "hi \"model\"");
    }

    #[test]
    fn stream_usage_is_asked_for_without_touching_the_rest() {
        let plain = br#"{"model":"m","messages":[],"stream":true} "#;
        let out = with_stream_usage(plain, false);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream"], true);
        let f = parse(&out, Endpoint::Chat).unwrap();
        assert!(f.include_usage && f.has_stream_options);
        let off = br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":false,"x":1}}"#;
        let v: serde_json::Value = serde_json::from_slice(&with_stream_usage(off, true)).unwrap();
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"include_usage": true, "x": 1})
        );
    }

    #[test]
    fn only_an_object_is_a_request() {
        let e = parse(br#"["m", [], true, null, 1, 2, null, "u"]"#, Endpoint::Chat)
            .map_err(crate::reply::ApiError::from)
            .unwrap_err();
        assert!(e.message.contains("JSON object"), "{}", e.message);
        assert!(parse(b"  \n{\"model\":\"m\",\"messages\":[]}", Endpoint::Chat).is_ok());
    }

    #[test]
    fn bad_bodies_are_refused_with_the_field() {
        assert!(
            parse(b"{", Endpoint::Chat)
                .map_err(crate::reply::ApiError::from)
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
        assert_eq!(
            parse(br#"{"messages":[]}"#, Endpoint::Chat)
                .map_err(crate::reply::ApiError::from)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            parse(br#"{"model":"m"}"#, Endpoint::Chat)
                .map_err(crate::reply::ApiError::from)
                .unwrap_err()
                .param
                .as_deref(),
            Some("messages")
        );
        assert_eq!(
            parse(br#"{"model":"m","messages":{}}"#, Endpoint::Chat)
                .map_err(crate::reply::ApiError::from)
                .unwrap_err()
                .param
                .as_deref(),
            Some("messages")
        );
        assert_eq!(
            parse(br#"{"model":"m"}"#, Endpoint::Embeddings)
                .map_err(crate::reply::ApiError::from)
                .unwrap_err()
                .param
                .as_deref(),
            Some("input")
        );
        assert_eq!(
            parse(br#"{"model":5,"messages":[]}"#, Endpoint::Chat)
                .map_err(crate::reply::ApiError::from)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
    }
}

/// Most characters of request text a strategy is given.
pub const MAX_TEXT_CHARS: usize = 16_384;

#[derive(Deserialize)]
struct MessagesOnly {
    #[serde(default)]
    messages: Vec<TextMessage>,
}

#[derive(Deserialize)]
struct TextMessage {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: serde_json::Value,
}

/// The text of the last user message (string content, or its text parts joined by
/// newlines), at most `MAX_TEXT_CHARS` characters; empty when there is none.
pub fn last_user_text(body: &[u8]) -> String {
    let Ok(m) = serde_json::from_slice::<MessagesOnly>(body) else {
        return String::new();
    };
    let Some(last) = m.messages.iter().rev().find(|m| m.role == "user") else {
        return String::new();
    };
    let text = match &last.content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    text.chars().take(MAX_TEXT_CHARS).collect()
}

/// The parts of a request a content router reads besides its text.
#[derive(Deserialize)]
struct ShapeOnly {
    #[serde(default)]
    messages: Vec<TextMessage>,
    #[serde(default)]
    tools: serde_json::Value,
    #[serde(default)]
    functions: serde_json::Value,
    #[serde(default)]
    response_format: serde_json::Value,
}

/// Whether the request has images, audio, tools or asks for JSON, and its messages.
pub fn request_shape(body: &[u8]) -> crate::types::RequestShape {
    let Ok(b) = serde_json::from_slice::<ShapeOnly>(body) else {
        return Default::default();
    };
    let has_part = |kinds: &[&str]| {
        b.messages.iter().any(|m| {
            m.content.as_array().is_some_and(|parts| {
                parts
                    .iter()
                    .any(|p| p["type"].as_str().is_some_and(|t| kinds.contains(&t)))
            })
        })
    };
    let listed = |v: &serde_json::Value| v.as_array().is_some_and(|a| !a.is_empty());
    crate::types::RequestShape {
        images: has_part(&["image_url", "image"]),
        audio: has_part(&["input_audio", "audio"]),
        tools: listed(&b.tools) || listed(&b.functions),
        json_output: matches!(
            b.response_format["type"].as_str(),
            Some("json_object" | "json_schema")
        ),
        messages: b.messages.len().min(u32::MAX as usize) as u32,
    }
}

/// The first `"finish_reason": "…"` string of an answer or chunk (a cheap scan, no
/// parse), for the request's trace.
pub fn finish_reason(bytes: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"finish_reason\"";
    let at = memchr::memmem::find(bytes, KEY)? + KEY.len();
    let rest = &bytes[at..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = rest[colon..].strip_prefix(b":")?;
    let open = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = rest[open..].strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', rest)?;
    std::str::from_utf8(&rest[..end.min(32)])
        .ok()
        .map(str::to_string)
}
