//! `builtin:dashscope`: OpenAI chat completions and embeddings over Alibaba Cloud Model
//! Studio's native DashScope API (Qwen). Chat goes to
//! `/services/aigc/text-generation/generation` — `{model, input: {messages}, parameters}`
//! with `result_format: "message"`, tools both ways (parallel calls included,
//! `parallel_tool_calls` sent as the client means it) — or, when a message carries an
//! image or the model is listed in `multimodal_models`, to
//! `/services/aigc/multimodal-generation/generation`, whose contents are lists of
//! `{text}` and `{image}` (a URL or a `data:` URL). Streams are asked for with the
//! `X-DashScope-SSE: enable` header and `incremental_output: true` (each event then
//! carries only the new text); every event repeats the usage so far, and its
//! `finish_reason` is the string `"null"` until the last. Embeddings go to
//! `/services/embeddings/text-embedding/text-embedding`. Errors are
//! `{code, message, request_id}` with the HTTP status; in a stream they come as an
//! `event:error` whose status (an SSE comment, `:HTTP_STATUS/400`) the framing drops, so
//! it is read from the code. The key is a bearer token. The provider's `base_url` ends
//! in `/api/v1`: `https://dashscope-intl.aliyuncs.com/api/v1` (Singapore) or
//! `https://dashscope.aliyuncs.com/api/v1` (Beijing; its keys are not the same).
//!
//! Settings: `multimodal_models` (model names always sent to the multimodal endpoint,
//! e.g. `["qwen-vl-max"]`), `enable_search` (DashScope's web search, for every
//! request that does not say), `text_type` (`query` or `document`, for embeddings).

mod convert;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai::{self, TranslatedStream, UpstreamEvent, UpstreamEvents};
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Header, Operation, RequestContext, StreamFormat, TranslatedAnswer,
    UpstreamRequest, UpstreamResponse,
};

/// The endpoints, under a `base_url` ending in `/api/v1`.
pub const TEXT: &str = "/services/aigc/text-generation/generation";
pub const MULTIMODAL: &str = "/services/aigc/multimodal-generation/generation";
pub const EMBEDDINGS: &str = "/services/embeddings/text-embedding/text-embedding";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub multimodal_models: Option<Vec<String>>,
    pub enable_search: Option<bool>,
    pub text_type: Option<String>,
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.text_type
            && t != "query"
            && t != "document"
        {
            return Err(format!("text_type must be query or document, not {t}"));
        }
        if let Some(m) = &self.multimodal_models
            && m.iter().any(|m| m.trim().is_empty())
        {
            return Err("multimodal_models has an empty model name".into());
        }
        Ok(())
    }
}

pub struct DashScope;

impl adapter::Guest for DashScope {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:dashscope", &settings)
    }
}

impl ProviderAdapter for DashScope {
    type StreamTranslator = TranslatedStream<DashScope>;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let (path, body) = match ctx.operation {
            Operation::ChatCompletions => {
                let chat = convert::chat(&ctx, &config, &body)?;
                (if chat.multimodal { MULTIMODAL } else { TEXT }, chat.body)
            }
            Operation::Embeddings => (EMBEDDINGS, convert::embed(&ctx, &config, &body)?),
        };
        // DashScope streams only when asked by this header (the body has no `stream`).
        let headers = if ctx.stream && ctx.operation == Operation::ChatCompletions {
            vec![Header {
                name: "X-DashScope-SSE".to_string(),
                value: "enable".to_string(),
            }]
        } else {
            Vec::new()
        };
        Ok(UpstreamRequest {
            headers,
            ..openai::translated_post(path, AuthScheme::Bearer, body, StreamFormat::Sse)
        })
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        if !(200..300).contains(&resp.status) {
            return Err(convert::error(resp.status, &resp.body));
        }
        openai::answered_by_operation(&ctx, resp, convert::answer, convert::embeddings)
    }
}

/// A stream: `event:result` events, each a whole answer of the new part; an
/// `event:error` ends it.
impl UpstreamEvents for DashScope {
    const PROVIDER: &'static str = "DashScope";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        convert::stream_event(e.ctx, e.writer, e.event, e.out)
    }
}

switchboard_sdk::export_adapter!(DashScope);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchboard_sdk::openai::ChunkWriter;
    use switchboard_sdk::testing::request_context;
    use switchboard_sdk::types::SseEvent;

    fn event(kind: &str, data: Value) -> SseEvent {
        SseEvent {
            event: Some(kind.into()),
            data: data.to_string(),
        }
    }

    fn chunk(tool_calls: Value, finish: &str) -> Value {
        json!({ "output": { "choices": [{ "message": { "content": "", "role": "assistant",
            "tool_calls": tool_calls }, "index": 0, "finish_reason": finish }] },
            "usage": { "input_tokens": 250, "output_tokens": 37, "total_tokens": 287,
                       "prompt_tokens_details": { "cached_tokens": 64 } },
            "request_id": "r" })
    }

    #[test]
    fn parallel_tool_call_deltas_become_two_calls() {
        let mut ctx = request_context("m", "p", "qwen-max");
        ctx.stream = true;
        let mut w = ChunkWriter::new(&ctx);
        let mut out = Vec::new();
        // As DashScope sends them: one event may end a call and start the next.
        let events = [
            chunk(
                json!([{ "index": 0, "id": "call_a", "type": "function", "function": { "name": "f", "arguments": "{\"x\":" } }]),
                "null",
            ),
            chunk(
                json!([{ "index": 0, "id": "", "type": "function", "function": { "arguments": "1}" } },
                       { "index": 1, "id": "call_b", "type": "function", "function": { "name": "f", "arguments": "" } }]),
                "null",
            ),
            chunk(
                json!([{ "index": 1, "id": "", "type": "function", "function": { "arguments": "{\"x\":2}" } }]),
                "tool_calls",
            ),
        ];
        for e in events {
            crate::convert::stream_event(&ctx, &mut w, &event("result", e), &mut out).unwrap();
        }
        assert_eq!(w.tool_count(), 2);
        assert!(w.done());
        let usage = w.token_usage().unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_prompt_tokens
            ),
            (250, 37, 64)
        );
        let text: String = out.iter().map(|e| e.data.clone()).collect();
        assert!(text.contains("\"finish_reason\":\"tool_calls\""), "{text}");
        assert!(text.contains("call_b"), "{text}");
    }

    #[test]
    fn a_stream_error_takes_its_status_from_its_code() {
        let ctx = request_context("m", "p", "qwen-max");
        let mut w = ChunkWriter::new(&ctx);
        let e = json!({ "code": "Throttling.RateQuota", "message": "Requests rate limit exceeded", "request_id": "r" });
        let err = crate::convert::stream_event(&ctx, &mut w, &event("error", e), &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.status, 429);
        assert!(err.message.contains("Requests rate limit exceeded"));
    }

    #[test]
    fn an_image_chooses_the_multimodal_endpoint_and_content_lists() {
        let ctx = request_context("m", "p", "qwen-vl-plus");
        let body = json!({ "model": "m", "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": [{ "type": "text", "text": "what?" },
              { "type": "image_url", "image_url": { "url": "https://example.com/a.png" } }] }] });
        let chat =
            crate::convert::chat(&ctx, &crate::Config::default(), body.to_string().as_bytes())
                .unwrap();
        assert!(chat.multimodal);
        let sent: Value = serde_json::from_slice(&chat.body).unwrap();
        assert_eq!(
            sent["input"]["messages"][1]["content"],
            json!([{ "text": "what?" }, { "image": "https://example.com/a.png" }])
        );
        assert_eq!(
            sent["input"]["messages"][0]["content"],
            json!([{ "text": "Be brief." }])
        );
        assert!(sent["parameters"].get("result_format").is_none());
    }

    #[test]
    fn a_whole_answer_with_tool_calls_finishes_with_tool_calls() {
        // DashScope says "stop" when a named function was forced.
        let ctx = request_context("m", "p", "qwen-max");
        let body = json!({ "output": { "choices": [{ "finish_reason": "stop", "message": {
            "role": "assistant", "content": "", "tool_calls": [{ "index": 0, "id": "call_x",
            "type": "function", "function": { "name": "f", "arguments": "{}" } }] } }] },
            "usage": { "input_tokens": 211, "output_tokens": 8, "total_tokens": 219 }, "request_id": "r" });
        let (out, usage) = crate::convert::answer(&ctx, body.to_string().as_bytes()).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["id"], "call_x");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (211, 8));
    }
}
