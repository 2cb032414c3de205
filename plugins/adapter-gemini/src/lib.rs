//! `builtin:gemini`: OpenAI chat completions and embeddings over Google's Gemini API —
//! `models/{m}:generateContent`, `:streamGenerateContent?alt=sse` and
//! `:batchEmbedContents`, the key in `x-goog-api-key`. Messages become `contents` of
//! `parts` (role `model` for the assistant), system messages `system_instruction`,
//! sampling `generationConfig`, tools `functionDeclarations`; function calls and
//! responses go both ways; finish and safety reasons, `usageMetadata` and Gemini's
//! errors come back in OpenAI's shape.
//!
//! Settings: `platform = "vertex"` for Gemini on Google Vertex AI (the provider's base
//! URL ends in `…/locations/{region}/publishers/google`, the host's OAuth token replaces
//! the key): the same `generateContent` paths, and embeddings through `:predict`
//! (`instances[].content`, Vertex has no `batchEmbedContents`).

mod request;
mod response;
mod signature;

use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai::{self, TranslatedStream, UpstreamEvent, UpstreamEvents};
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Operation, RequestContext, StreamFormat, TranslatedAnswer,
    UpstreamRequest, UpstreamResponse,
};

pub struct Gemini;

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    platform: Option<String>,
}

impl switchboard_sdk::settings::Settings for Config {
    fn check(&self) -> Result<(), String> {
        match self.platform.as_deref() {
            None | Some("gemini" | "vertex") => Ok(()),
            Some(other) => Err(format!(
                "platform must be \"gemini\" or \"vertex\", not \"{other}\""
            )),
        }
    }
}

fn on_vertex() -> bool {
    let c = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
    c.platform.as_deref() == Some("vertex")
}

impl adapter::Guest for Gemini {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:gemini", &settings)
    }
}

/// The model as a path segment: `gemini-2.5-flash` or `models/gemini-2.5-flash`.
fn model_path(model: &str) -> String {
    let m = model.strip_prefix("models/").unwrap_or(model);
    format!("/models/{m}")
}

impl ProviderAdapter for Gemini {
    type StreamTranslator = TranslatedStream<Gemini>;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let model = model_path(&ctx.target_model);
        let (path, query, body) = match ctx.operation {
            Operation::Embeddings if on_vertex() => (
                format!("{model}:predict"),
                Vec::new(),
                request::vertex_embeddings(&body)?,
            ),
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
        let auth = AuthScheme::Header("x-goog-api-key".to_string());
        Ok(UpstreamRequest {
            query,
            ..openai::translated_post(path, auth, body, StreamFormat::Sse)
        })
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        let embeddings = if on_vertex() {
            response::vertex_embeddings
        } else {
            response::embeddings
        };
        openai::answered_by_operation(&ctx, resp, response::answer, embeddings)
    }
}

/// A stream: each SSE event is a whole `GenerateContentResponse`.
impl UpstreamEvents for Gemini {
    const PROVIDER: &'static str = "Gemini";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        response::stream_event(e.ctx, e.writer, &e.event.data, e.out)
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
