//! `builtin:gemini`: OpenAI chat completions and embeddings over Google's Gemini API —
//! `models/{m}:generateContent`, `:streamGenerateContent?alt=sse` and
//! `:batchEmbedContents`, the key in `x-goog-api-key`. Messages become `contents` of
//! `parts` (role `model` for the assistant), system messages `system_instruction`,
//! sampling `generationConfig`, tools `functionDeclarations`; function calls and
//! responses go both ways; finish and safety reasons, `usageMetadata` and Gemini's
//! errors come back in OpenAI's shape. No settings.

mod request;
mod response;
mod signature;

use switchboard_sdk::adapter::{self, ProviderAdapter, StreamTranslator};
use switchboard_sdk::openai::{self, Translation};
use switchboard_sdk::types::{
    AdapterError, AuthScheme, BodyEdit, HttpMethod, Operation, RequestContext, SseEvent,
    StreamFormat, TranslatedAnswer, TranslatedEvents, UpstreamRequest, UpstreamResponse,
};

pub struct Gemini;

impl adapter::Guest for Gemini {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate::<switchboard_sdk::settings::None>(&settings)
            .map_err(|e| format!("builtin:gemini: {e}"))
    }
}

/// The model as a path segment: `gemini-2.5-flash` or `models/gemini-2.5-flash`.
fn model_path(model: &str) -> String {
    let m = model.strip_prefix("models/").unwrap_or(model);
    format!("/models/{m}")
}

impl ProviderAdapter for Gemini {
    type StreamTranslator = Translator;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let model = model_path(&ctx.target_model);
        let (path, query, body) = match ctx.operation {
            Operation::Embeddings => (
                format!("{model}:batchEmbedContents"),
                Vec::new(),
                request::embeddings(&ctx, &body)?,
            ),
            Operation::ChatCompletions if ctx.stream => (
                format!("{model}:streamGenerateContent"),
                vec![("alt".to_string(), "sse".to_string())],
                request::chat(&body)?,
            ),
            Operation::ChatCompletions => (
                format!("{model}:generateContent"),
                Vec::new(),
                request::chat(&body)?,
            ),
        };
        Ok(UpstreamRequest {
            method: HttpMethod::Post,
            path,
            query,
            headers: Vec::new(),
            auth: AuthScheme::Header("x-goog-api-key".to_string()),
            body: BodyEdit::Replace(body),
            translate_response: true,
            stream_format: StreamFormat::Sse,
        })
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::answered(resp, |body| match ctx.operation {
            Operation::Embeddings => response::embeddings(&ctx, body),
            Operation::ChatCompletions => response::answer(&ctx, body),
        })
    }
}

/// One stream: each SSE event is a whole `GenerateContentResponse`.
pub struct Translator(Translation);

impl StreamTranslator for Translator {
    fn new(ctx: RequestContext) -> Self {
        Translator(Translation::new(ctx))
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        self.0
            .event(|ctx, w, out| response::stream_event(ctx, w, &ev.data, out))
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        self.0.end("Gemini")
    }
}

switchboard_sdk::export_adapter!(Gemini);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchboard_sdk::testing::request_context;

    fn answer(v: Value) -> Value {
        let ctx = request_context("r", "p", "gemini-x");
        let (body, _) = crate::response::answer(&ctx, v.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn safety_stops_are_content_filters() {
        let v = answer(
            json!({ "candidates": [{ "content": { "parts": [] }, "finishReason": "SAFETY" }] }),
        );
        assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
        let v = answer(json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" } }));
        assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
        let v = answer(
            json!({ "candidates": [{ "content": { "parts": [{ "text": "thinking", "thought": true }, { "text": "hi" }] },
            "finishReason": "MAX_TOKENS" }], "usageMetadata": { "promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 3 } }),
        );
        assert_eq!(
            v["choices"][0]["message"]["content"], "hi",
            "thoughts are not the answer"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(
            v["usage"]["completion_tokens"], 5,
            "thinking tokens are output tokens"
        );
    }

    #[test]
    fn a_thought_signature_goes_back_with_its_call() {
        let v = answer(json!({ "candidates": [{ "content": { "parts": [
            { "functionCall": { "name": "f", "args": { "a": 1 } }, "thoughtSignature": "U0lH" }] }, "finishReason": "STOP" }] }));
        let call = v["choices"][0]["message"]["tool_calls"][0].clone();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        let next = json!({ "messages": [
            { "role": "user", "content": "x" },
            { "role": "assistant", "content": null, "tool_calls": [call.clone()] },
            { "role": "tool", "tool_call_id": call["id"], "content": "ok" },
        ]});
        let sent: Value =
            serde_json::from_slice(&crate::request::chat(next.to_string().as_bytes()).unwrap())
                .unwrap();
        assert_eq!(sent["contents"][1]["parts"][0]["thoughtSignature"], "U0lH");
        assert_eq!(
            sent["contents"][2]["parts"][0]["functionResponse"]["name"],
            "f"
        );
        let orphan =
            json!({ "messages": [{ "role": "tool", "tool_call_id": "nope", "content": "x" }] });
        let e = crate::request::chat(orphan.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].tool_call_id"));
    }
}
