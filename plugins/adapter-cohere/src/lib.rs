//! `builtin:cohere`: OpenAI chat completions and embeddings over Cohere's v2 API —
//! `/chat` (messages much like OpenAI's, `p`/`k`/`stop_sequences`, tools both ways,
//! typed stream events `content-delta`, `tool-call-*`, `message-end` with usage) and
//! `/embed`. The provider's `base_url` ends in `/v2`.
//!
//! Settings: `input_type` for embeddings (`search_document` unless set: Cohere's
//! embedding models need to know what the text is for).

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
        switchboard_sdk::settings::validate::<Config>(&settings)
            .map_err(|e| format!("builtin:cohere: {e}"))
    }
}

impl ProviderAdapter for Cohere {
    type StreamTranslator = Translator;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let (path, body) = match ctx.operation {
            Operation::ChatCompletions => ("/chat", convert::chat(&ctx, &body)?),
            Operation::Embeddings => {
                let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
                ("/embed", convert::embed(&ctx, &config, &body)?)
            }
        };
        Ok(UpstreamRequest {
            method: HttpMethod::Post,
            path: path.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            auth: AuthScheme::Bearer,
            body: BodyEdit::Replace(body),
            translate_response: true,
            stream_format: StreamFormat::Sse,
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

/// One stream of Cohere's typed events.
pub struct Translator {
    writer: RefCell<ChunkWriter>,
}

impl StreamTranslator for Translator {
    fn new(ctx: RequestContext) -> Self {
        Translator {
            writer: RefCell::new(ChunkWriter::new(&ctx)),
        }
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        let mut w = self.writer.borrow_mut();
        let mut events = Vec::new();
        convert::stream_event(&mut w, &ev, &mut events)?;
        Ok(TranslatedEvents {
            events,
            usage: w.token_usage(),
        })
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        let w = self.writer.borrow();
        if !w.done() {
            return Err(openai::broken(
                "Cohere's stream ended before its message-end event",
            ));
        }
        Ok(TranslatedEvents {
            events: Vec::new(),
            usage: w.token_usage(),
        })
    }
}

switchboard_sdk::export_adapter!(Cohere);
