//! `builtin:ollama`: OpenAI chat completions and embeddings over Ollama's native API —
//! `/api/chat` (sampling under `options`, images as base64, tools both ways, a
//! newline-delimited JSON stream ending with `done: true`, `prompt_eval_count` and
//! `eval_count` as usage) and `/api/embed`. A key, when the provider has one, goes as a
//! bearer token (an Ollama behind a proxy).
//!
//! Settings: `keep_alive` (how long Ollama keeps the model loaded, e.g. `"10m"`) and
//! `num_ctx` (the context window Ollama allocates), sent with every request.

mod convert;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai::{self, TranslatedStream, UpstreamEvent, UpstreamEvents};
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Operation, RequestContext, StreamFormat, TranslatedAnswer,
    UpstreamRequest, UpstreamResponse,
};

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub keep_alive: Option<String>,
    pub num_ctx: Option<u64>,
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        match self.num_ctx {
            Some(0) => Err("num_ctx must be positive".into()),
            _ => Ok(()),
        }
    }
}

pub struct Ollama;

impl adapter::Guest for Ollama {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:ollama", &settings)
    }
}

impl ProviderAdapter for Ollama {
    type StreamTranslator = TranslatedStream<Ollama>;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let (path, body) = match ctx.operation {
            Operation::ChatCompletions => ("/api/chat", convert::chat(&ctx, &config, &body)?),
            Operation::Embeddings => ("/api/embed", convert::embed(&ctx, &config, &body)?),
        };
        Ok(openai::translated_post(
            path,
            AuthScheme::Bearer,
            body,
            StreamFormat::Ndjson,
        ))
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::answered_by_operation(&ctx, resp, convert::answer, convert::embeddings)
    }
}

/// A stream: each line is a partial answer; the last says `done: true`.
impl UpstreamEvents for Ollama {
    const PROVIDER: &'static str = "Ollama";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        convert::stream_line(e.ctx, e.writer, &e.event.data, e.out)
    }
}

switchboard_sdk::export_adapter!(Ollama);
