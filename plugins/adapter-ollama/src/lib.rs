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
use switchboard_sdk::adapter::{self, ProviderAdapter, StreamTranslator};
use switchboard_sdk::openai::{self, Translation};
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, BodyEdit, HttpMethod, Operation, RequestContext, SseEvent,
    StreamFormat, TranslatedAnswer, TranslatedEvents, UpstreamRequest, UpstreamResponse,
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
        switchboard_sdk::settings::validate::<Config>(&settings)
            .map_err(|e| format!("builtin:ollama: {e}"))
    }
}

impl ProviderAdapter for Ollama {
    type StreamTranslator = Translator;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let (path, body) = match ctx.operation {
            Operation::ChatCompletions => ("/api/chat", convert::chat(&ctx, &config, &body)?),
            Operation::Embeddings => ("/api/embed", convert::embed(&ctx, &config, &body)?),
        };
        Ok(UpstreamRequest {
            method: HttpMethod::Post,
            path: path.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            auth: AuthScheme::Bearer,
            body: BodyEdit::Replace(body),
            translate_response: true,
            stream_format: StreamFormat::Ndjson,
        })
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::answered(resp, |body| match ctx.operation {
            Operation::ChatCompletions => convert::answer(&ctx, body),
            Operation::Embeddings => convert::embeddings(&ctx, body),
        })
    }
}

/// One stream: each line is a partial answer; the last says `done: true`.
pub struct Translator(Translation);

impl StreamTranslator for Translator {
    fn new(ctx: RequestContext) -> Self {
        Translator(Translation::new(ctx))
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        self.0
            .event(|ctx, w, out| convert::stream_line(ctx, w, &ev.data, out))
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        self.0.end("Ollama")
    }
}

switchboard_sdk::export_adapter!(Ollama);
