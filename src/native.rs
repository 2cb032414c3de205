//! Native pass-through: a client's own API spoken to a provider that speaks it too
//! (an Anthropic client to an Anthropic target, a Responses client to OpenAI). What
//! the gateway must know of each such API to forward it untouched: where it is, how
//! the key is sent, which headers of the client go along, where an answer or a
//! stream says its usage, which event ends a stream, and how a stream that breaks
//! is told so in that API's own shape.

use serde::Deserialize;
use serde_json::json;

use crate::types::{AuthScheme, SseEvent, Usage};

/// A client API the gateway can pass through to a provider that speaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NativeApi {
    /// Anthropic's `POST /v1/messages`.
    Messages,
    /// OpenAI's `POST /v1/responses`.
    Responses,
    /// The rest of OpenAI's surface: forwarded to OpenAI-shaped targets only (there is
    /// no chat form of them).
    Moderations,
    Images,
    Speech,
    Transcriptions,
    Translations,
    Rerank,
    /// `POST /v1/files`: an upload to the provider, kept there (no model in it).
    Files,
}

/// The OpenAI endpoints that have no chat form, by their path under `/v1/`.
pub const SURFACE: &[NativeApi] = &[
    NativeApi::Moderations,
    NativeApi::Images,
    NativeApi::Speech,
    NativeApi::Transcriptions,
    NativeApi::Translations,
    NativeApi::Rerank,
];

/// The `anthropic-version` sent when the client names none.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The `anthropic_version` Claude on Vertex AI takes in the body.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";
/// The `anthropic_version` Claude on Bedrock's InvokeModel takes in the body.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Client headers an Anthropic target is given as they are.
pub const ANTHROPIC_FORWARDED: &[&str] = &["anthropic-beta", "anthropic-version"];

impl NativeApi {
    /// Its path under `/v1/` (and its name in config and errors).
    pub fn name(self) -> &'static str {
        match self {
            NativeApi::Messages => "messages",
            NativeApi::Responses => "responses",
            NativeApi::Moderations => "moderations",
            NativeApi::Images => "images/generations",
            NativeApi::Speech => "audio/speech",
            NativeApi::Transcriptions => "audio/transcriptions",
            NativeApi::Translations => "audio/translations",
            NativeApi::Rerank => "rerank",
            NativeApi::Files => "files",
        }
    }

    /// The APIs a provider's `native` list may name (the surface is implied by the
    /// OpenAI adapter).
    pub fn parse(s: &str) -> Option<NativeApi> {
        match s {
            "messages" => Some(NativeApi::Messages),
            "responses" => Some(NativeApi::Responses),
            _ => None,
        }
    }

    /// The surface endpoint at `/v1/{path}`.
    pub fn surface(path: &str) -> Option<NativeApi> {
        SURFACE.iter().copied().find(|a| a.name() == path)
    }

    /// The adapter whose providers may serve this API natively.
    pub fn adapter(self) -> &'static str {
        match self {
            NativeApi::Messages => "builtin:anthropic",
            _ => "builtin:openai",
        }
    }

    /// Path under the provider's base URL (which ends in `/v1`).
    pub fn path(self) -> String {
        format!("/{}", self.name())
    }

    pub fn auth(self) -> AuthScheme {
        match self {
            NativeApi::Messages => AuthScheme::Header("x-api-key".into()),
            _ => AuthScheme::Bearer,
        }
    }

    /// Whether its request is `multipart/form-data` (a file upload).
    pub fn multipart(self) -> bool {
        matches!(
            self,
            NativeApi::Transcriptions | NativeApi::Translations | NativeApi::Files
        )
    }

    /// Whether its request names a model (set to the target's); an upload names none.
    pub fn has_model(self) -> bool {
        self != NativeApi::Files
    }

    /// Whether its answer is binary (audio): streamed through, never held whole.
    pub fn binary(self) -> bool {
        self == NativeApi::Speech
    }

    /// The usage a whole answer reports.
    pub fn usage(self, json: &[u8]) -> Option<Usage> {
        let a: Answer = serde_json::from_slice(json).ok()?;
        Some(a.usage?.usage(self))
    }

    /// Whether this event is the last of a complete stream.
    pub fn is_end(self, ev: &SseEvent) -> bool {
        let kind = ev.event.as_deref().unwrap_or("");
        match self {
            NativeApi::Messages => kind == "message_stop",
            _ => matches!(
                kind,
                "response.completed" | "response.incomplete" | "response.failed"
            ),
        }
    }

    /// The event that tells a client its stream broke, in the API's own shape.
    pub fn error_event(self, message: &str) -> SseEvent {
        let data = match self {
            NativeApi::Messages => json!({
                "type": "error",
                "error": { "type": "api_error", "message": message },
            }),
            _ => json!({
                "type": "error",
                "code": "stream_failed",
                "message": message,
                "param": null,
            }),
        };
        SseEvent {
            event: Some("error".into()),
            data: data.to_string(),
        }
    }
}

/// The client's headers a request of `api` forwards to its provider.
pub fn client_headers(api: NativeApi, headers: &http::HeaderMap) -> Vec<(String, String)> {
    let names: &[&str] = match api {
        NativeApi::Messages => ANTHROPIC_FORWARDED,
        _ => &[],
    };
    names
        .iter()
        .filter_map(|n| {
            let v = headers.get(*n)?.to_str().ok()?;
            Some((n.to_string(), v.to_string()))
        })
        .collect()
}

/// A chat request that stands for one that cannot be translated, so a request that
/// may only be passed through still has what policies and routing read: the model,
/// the size of what is asked (`text`), the output limit and the stream flag.
pub fn facts_only(
    model: &serde_json::Value,
    text: String,
    max_tokens: &serde_json::Value,
    stream: &serde_json::Value,
) -> serde_json::Value {
    json!({
        "model": model,
        "messages": [{ "role": "user", "content": text }],
        "max_completion_tokens": max_tokens.as_u64(),
        "stream": stream.as_bool().unwrap_or(false),
    })
}

/// Both APIs' usage fields: Anthropic's input (without cache reads and writes),
/// cache reads, cache writes and output; OpenAI's input (with cached), its cached
/// part and output.
#[derive(Deserialize, Default)]
struct NativeUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    input_tokens_details: Option<Details>,
    /// Chat-style counts, as some OpenAI-compatible endpoints (rerank) state them.
    prompt_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct Details {
    cached_tokens: Option<u64>,
}

impl NativeUsage {
    fn usage(self, api: NativeApi) -> Usage {
        match api {
            NativeApi::Messages => {
                let read = self.cache_read_input_tokens.unwrap_or(0);
                let write = self.cache_creation_input_tokens.unwrap_or(0);
                Usage {
                    prompt: self.input_tokens.unwrap_or(0) + read + write,
                    completion: self.output_tokens.unwrap_or(0),
                    cached_prompt: read,
                }
            }
            _ => {
                let prompt = self.input_tokens.or(self.prompt_tokens).unwrap_or(0);
                Usage {
                    prompt,
                    completion: self.output_tokens.unwrap_or(0),
                    cached_prompt: self
                        .input_tokens_details
                        .and_then(|d| d.cached_tokens)
                        .unwrap_or(0)
                        .min(prompt),
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    usage: Option<NativeUsage>,
}

/// A stream event's carriers of usage: Anthropic's `message_start.message.usage` and
/// `message_delta.usage`; the Responses API's final `response.usage`.
#[derive(Deserialize)]
struct Event {
    usage: Option<NativeUsage>,
    message: Option<Answer>,
    response: Option<Answer>,
}

/// Folds a native stream's usage as its events pass.
#[derive(Debug)]
pub struct StreamUsage {
    pub api: NativeApi,
    usage: Option<Usage>,
}

impl StreamUsage {
    pub fn new(api: NativeApi) -> Self {
        StreamUsage { api, usage: None }
    }

    pub fn observe(&mut self, ev: &SseEvent) {
        if !ev.data.contains("\"usage\"") {
            return;
        }
        let Ok(e) = serde_json::from_str::<Event>(&ev.data) else {
            return;
        };
        let found = e
            .usage
            .or(e.message.and_then(|m| m.usage))
            .or(e.response.and_then(|r| r.usage));
        let Some(u) = found else { return };
        let mut fresh = u.usage(self.api);
        if let Some(prev) = self.usage {
            // Anthropic's message_delta carries the output so far and, on newer
            // models, the input again; a field it leaves out keeps its earlier value.
            if self.api == NativeApi::Messages && fresh.prompt == 0 {
                fresh.prompt = prev.prompt;
                fresh.cached_prompt = prev.cached_prompt;
            }
        }
        self.usage = Some(fresh);
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// The usage of a stored stream (its raw SSE bytes), for a cache hit.
pub fn stream_usage(api: NativeApi, sse: &[u8]) -> Option<Usage> {
    let mut folded = StreamUsage::new(api);
    let text = std::str::from_utf8(sse).ok()?;
    for block in text.split("\n\n") {
        let mut ev = SseEvent {
            event: None,
            data: String::new(),
        };
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                ev.event = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                ev.data.push_str(v.trim_start());
            }
        }
        folded.observe(&ev);
    }
    folded.usage()
}

/// The `id` of a whole answer.
pub fn answer_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(body).ok().map(|i| i.id)
}

/// The response id a Responses stream announces (`response.created`).
pub fn created_id(ev: &SseEvent) -> Option<String> {
    #[derive(Deserialize)]
    struct Created {
        response: Id,
    }
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    if ev.event.as_deref() != Some("response.created") {
        return None;
    }
    serde_json::from_str::<Created>(&ev.data)
        .ok()
        .map(|c| c.response.id)
}

/// The `error.message` of a provider's error answer (both APIs put it there).
pub fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Err {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        message: String,
    }
    serde_json::from_slice::<Err>(body)
        .ok()
        .map(|e| e.error.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, data: serde_json::Value) -> SseEvent {
        SseEvent {
            event: Some(kind.into()),
            data: data.to_string(),
        }
    }

    #[test]
    fn anthropic_usage_counts_cache_reads_and_writes_as_prompt() {
        let body = br#"{"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}}"#;
        let u = NativeApi::Messages.usage(body).unwrap();
        assert_eq!((u.prompt, u.completion, u.cached_prompt), (130, 5, 100));
        let mut s = StreamUsage::new(NativeApi::Messages);
        s.observe(&ev("message_start", json!({"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}}})));
        s.observe(&ev(
            "message_delta",
            json!({"type":"message_delta","usage":{"output_tokens":42}}),
        ));
        let u = s.usage().unwrap();
        assert_eq!((u.prompt, u.completion, u.cached_prompt), (110, 42, 100));
    }

    #[test]
    fn responses_usage_is_read_from_the_final_event() {
        let mut s = StreamUsage::new(NativeApi::Responses);
        s.observe(&ev(
            "response.output_text.delta",
            json!({"type":"response.output_text.delta","delta":"usage"}),
        ));
        assert!(s.usage().is_none());
        let done = ev(
            "response.completed",
            json!({"type":"response.completed","response":{"usage":{"input_tokens":30,"output_tokens":4,"input_tokens_details":{"cached_tokens":50}}}}),
        );
        assert!(NativeApi::Responses.is_end(&done));
        let created = ev(
            "response.created",
            json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}),
        );
        assert_eq!(created_id(&created).as_deref(), Some("resp_1"));
        assert_eq!(created_id(&done), None);
        s.observe(&done);
        let u = s.usage().unwrap();
        assert_eq!((u.prompt, u.completion, u.cached_prompt), (30, 4, 30));
        let raw = format!("event: response.completed\ndata: {}\n\n", done.data);
        assert_eq!(
            stream_usage(NativeApi::Responses, raw.as_bytes()).map(|u| u.completion),
            Some(4)
        );
    }
}
