//! `builtin:ollama`: OpenAI chat completions and embeddings over Ollama's native API —
//! `/api/chat` (sampling under `options`, images as base64, tools both ways, a
//! newline-delimited JSON stream ending with `done: true`, `prompt_eval_count` and
//! `eval_count` as usage) and `/api/embed`. A key, when the provider has one, goes as a
//! bearer token (an Ollama behind a proxy).
//!
//! Settings: `keep_alive` (how long Ollama keeps the model loaded, e.g. `"10m"`) and
//! `num_ctx` (the context window Ollama allocates), sent with every request.

mod convert;

use std::cell::RefCell;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter, StreamTranslator};
use switchboard_sdk::openai::{self, ChunkWriter};
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
        if !(200..300).contains(&resp.status) {
            return Err(openai::upstream_error(resp.status, &resp.body));
        }
        let (body, usage) = match ctx.operation {
            Operation::ChatCompletions => convert::answer(&ctx, &resp.body)?,
            Operation::Embeddings => convert::embeddings(&ctx, &resp.body)?,
        };
        Ok(TranslatedAnswer {
            body: Some(body),
            usage: Some(usage),
        })
    }
}

/// One stream: each line is a partial answer; the last says `done: true`.
pub struct Translator {
    ctx: RequestContext,
    writer: RefCell<ChunkWriter>,
}

impl StreamTranslator for Translator {
    fn new(ctx: RequestContext) -> Self {
        let writer = RefCell::new(ChunkWriter::new(&ctx));
        Translator { ctx, writer }
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        let mut w = self.writer.borrow_mut();
        let mut events = Vec::new();
        convert::stream_line(&self.ctx, &mut w, &ev.data, &mut events)?;
        Ok(TranslatedEvents {
            events,
            usage: w.token_usage(),
        })
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        let w = self.writer.borrow_mut();
        if !w.done() {
            return Err(openai::broken(
                "Ollama's stream ended before its `done` line",
            ));
        }
        Ok(TranslatedEvents {
            events: Vec::new(),
            usage: w.token_usage(),
        })
    }
}

switchboard_sdk::export_adapter!(Ollama);
