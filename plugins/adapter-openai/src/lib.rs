//! `builtin:openai`: the adapter for OpenAI and every OpenAI-compatible API.
//!
//! The client already speaks this wire format, so by default the adapter never
//! rebuilds the body: it asks the host to rewrite `model` in place, and successful
//! answers and streams are forwarded untouched (`translate-response: false`). Only
//! error answers reach this component, to give the client the provider's own message.
//!
//! Settings, for compatible endpoints that differ (the catalog's presets set them):
//! - `drop = ["field", …]`: top-level fields never sent;
//! - `rename = { max_completion_tokens = "max_tokens" }`: fields sent under another name;
//! - `stream_options = false`: never send `stream_options` (Mistral, Cohere's
//!   compatibility API refuse it);
//! - `stream_usage = "choice"`: the stream's usage comes inside `choices[0].usage`
//!   (Moonshot); it is moved to the chunk's top-level `usage` and counted;
//! - `query = { name = "value" }`: query parameters added to every request.

mod quirks;

use switchboard_sdk::adapter::{self, ProviderAdapter, StreamTranslator};
use switchboard_sdk::openai;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, BodyEdit, Operation, RequestContext, SseEvent, TranslatedAnswer,
    TranslatedEvents, UpstreamRequest, UpstreamResponse,
};

use quirks::Quirks;

pub struct OpenAi;

impl adapter::Guest for OpenAi {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Quirks>("builtin:openai", &settings)
    }
}

impl ProviderAdapter for OpenAi {
    type StreamTranslator = quirks::UsageMover;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let q = switchboard_sdk::settings::load_once::<Quirks>().unwrap_or_default();
        let path = match ctx.operation {
            Operation::ChatCompletions => "/chat/completions",
            Operation::Embeddings => "/embeddings",
        };
        let body = if q.edits_body() {
            BodyEdit::Replace(q.edit(&ctx, &body)?)
        } else {
            BodyEdit::SetModel(ctx.target_model.clone())
        };
        Ok(UpstreamRequest {
            query: q.query.clone().into_iter().collect(),
            translate_response: ctx.stream && q.usage_in_choice(),
            ..openai::forwarded_post(path, AuthScheme::Bearer, body)
        })
    }

    fn from_upstream(
        _ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::forwarded(resp)
    }
}

impl StreamTranslator for quirks::UsageMover {
    fn new(_ctx: RequestContext) -> Self {
        quirks::UsageMover::default()
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        Ok(self.event(ev))
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        Ok(TranslatedEvents {
            events: Vec::new(),
            usage: self.usage(),
        })
    }
}

switchboard_sdk::export_adapter!(OpenAi);
