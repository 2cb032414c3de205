//! `builtin:anthropic`: translates OpenAI chat completions to Anthropic's Messages API
//! and back, including tools, parallel tool calls, stop sequences, usage, errors and
//! streams (translated event by event into `chat.completion.chunk`s).
//!
//! Settings: `default_max_tokens` (Anthropic requires `max_tokens`; default 4096),
//! `version` (the `anthropic-version` header; default `2023-06-01`), and where Claude
//! is reached (`platform`): `anthropic` (default), `vertex` (Google Vertex AI: the
//! provider's base URL ends in `…/locations/{region}/publishers/anthropic`) or `bedrock`
//! (Amazon Bedrock's InvokeModel, with `region`).

mod platform;
mod request;
mod response;
mod stream;

use switchboard_sdk::adapter::{self, ProviderAdapter, StreamTranslator};
use switchboard_sdk::host;
use switchboard_sdk::openai;
use switchboard_sdk::types::{
    AdapterError, Operation, RequestContext, SseEvent, TranslatedAnswer, TranslatedEvents,
    UpstreamRequest, UpstreamResponse,
};

const DEFAULT_VERSION: &str = "2023-06-01";
const DEFAULT_MAX_TOKENS: u64 = 4096;

struct Anthropic;

impl adapter::Guest for Anthropic {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        for (name, value) in &settings {
            match name.as_str() {
                "default_max_tokens" => match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => {}
                    _ => {
                        return Err(format!(
                            "default_max_tokens must be a positive integer, not {value}"
                        ));
                    }
                },
                "version" | "platform" | "region" => {
                    if serde_json::from_str::<String>(value).is_err() {
                        return Err(format!("{name} must be a string, not {value}"));
                    }
                }
                other => {
                    return Err(format!(
                        "builtin:anthropic has no setting '{other}' (it has default_max_tokens, version, platform and region)"
                    ));
                }
            }
        }
        let text = |k: &str| {
            let v = settings.iter().find(|(n, _)| n == k)?;
            serde_json::from_str::<String>(&v.1).ok()
        };
        platform::Platform::from_settings(text("platform").as_deref(), text("region").as_deref())
            .map(|_| ())
    }
}

impl ProviderAdapter for Anthropic {
    type StreamTranslator = stream::Translator;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        if ctx.operation != Operation::ChatCompletions {
            return Err(openai::invalid(
                format!(
                    "provider '{}' (Anthropic) does not offer embeddings",
                    ctx.provider
                ),
                Some("model"),
            ));
        }
        let default_max_tokens = host::setting("default_max_tokens")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_MAX_TOKENS);
        let version = host::setting("version")
            .and_then(|v| serde_json::from_str::<String>(&v).ok())
            .unwrap_or_else(|| DEFAULT_VERSION.to_string());
        let translated = request::translate(&ctx, &body, default_max_tokens)?;
        let platform = configured_platform().map_err(|e| openai::invalid(e, None))?;
        platform.request(&ctx.target_model, ctx.stream, translated, version)
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        if !(200..300).contains(&resp.status) {
            return Err(response::upstream_error(resp.status, &resp.body));
        }
        let (body, usage) = response::translate(&ctx, &resp.body)?;
        Ok(TranslatedAnswer {
            body: Some(body),
            usage: Some(usage),
        })
    }
}

impl StreamTranslator for stream::Translator {
    fn new(ctx: RequestContext) -> Self {
        stream::Translator::new(ctx)
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        let events = self.event(platform::unwrap(ev)?)?;
        Ok(TranslatedEvents {
            events,
            usage: self.usage(),
        })
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        let events = self.end()?;
        Ok(TranslatedEvents {
            events,
            usage: self.usage(),
        })
    }
}

/// The platform the settings name.
fn configured_platform() -> Result<platform::Platform, String> {
    let text = |k: &str| host::setting(k).and_then(|v| serde_json::from_str::<String>(&v).ok());
    platform::Platform::from_settings(text("platform").as_deref(), text("region").as_deref())
}

switchboard_sdk::export_adapter!(Anthropic);
