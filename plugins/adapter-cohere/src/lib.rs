//! `builtin:cohere`: OpenAI chat completions and embeddings over Cohere's v2 API —
//! `/chat` (messages much like OpenAI's, `p`/`k`/`stop_sequences`, tools both ways,
//! typed stream events `content-delta`, `tool-call-*`, `message-end` with usage) and
//! `/embed`. The provider's `base_url` ends in `/v2`.
//!
//! Settings: `input_type` for embeddings (`search_document` unless set: Cohere's
//! embedding models need to know what the text is for).

mod convert;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai::{self, TranslatedStream, UpstreamEvent, UpstreamEvents};
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Operation, RequestContext, StreamFormat, TranslatedAnswer,
    UpstreamRequest, UpstreamResponse,
};

const INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub input_type: Option<String>,
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        match &self.input_type {
            Some(t) if !INPUT_TYPES.contains(&t.as_str()) => Err(format!(
                "input_type must be one of {}, not {t}",
                INPUT_TYPES.join(", ")
            )),
            _ => Ok(()),
        }
    }
}

pub struct Cohere;

impl adapter::Guest for Cohere {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:cohere", &settings)
    }
}

impl ProviderAdapter for Cohere {
    type StreamTranslator = TranslatedStream<Cohere>;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let (path, body) = match ctx.operation {
            Operation::ChatCompletions => ("/chat", convert::chat(&ctx, &body)?),
            Operation::Embeddings => {
                let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
                ("/embed", convert::embed(&ctx, &config, &body)?)
            }
        };
        Ok(openai::translated_post(
            path,
            AuthScheme::Bearer,
            body,
            StreamFormat::Sse,
        ))
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::answered_by_operation(&ctx, resp, convert::answer, convert::embeddings)
    }
}

/// A stream of Cohere's typed events.
impl UpstreamEvents for Cohere {
    const PROVIDER: &'static str = "Cohere";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        convert::stream_event(e.writer, e.event, e.out)
    }
}

switchboard_sdk::export_adapter!(Cohere);
