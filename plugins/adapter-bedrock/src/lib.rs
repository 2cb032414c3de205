//! `builtin:bedrock`: OpenAI chat completions over Amazon Bedrock's Converse API —
//! `/model/{id}/converse` and `/model/{id}/converse-stream`, signed with AWS SigV4 by
//! the host (the provider's `aws_credentials_env`; this component never sees them),
//! the stream's binary `application/vnd.amazon.eventstream` framing decoded by the
//! host into events named by `:event-type`. Content blocks, `system`,
//! `inferenceConfig`, tool use and results both ways, `inputTokens`/`outputTokens`
//! (and cache reads) as usage, Bedrock's exceptions as OpenAI's errors.
//!
//! Settings: `region` (the SigV4 scope; default `us-east-1`: it must match the
//! provider's `base_url`).

mod convert;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai::{self, TranslatedStream, UpstreamEvent, UpstreamEvents};
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Operation, RequestContext, Sigv4Scope, StreamFormat,
    TranslatedAnswer, UpstreamRequest, UpstreamResponse,
};

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub region: Option<String>,
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        switchboard_sdk::settings::check_region(self.region.as_deref(), "an AWS", "us-east-1")
    }
}

/// Percent-encodes a model id or ARN as one path segment (`:` and `/` included).
fn segment(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct Bedrock;

impl adapter::Guest for Bedrock {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:bedrock", &settings)
    }
}

impl ProviderAdapter for Bedrock {
    type StreamTranslator = TranslatedStream<Bedrock>;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        if ctx.operation != Operation::ChatCompletions {
            return Err(openai::invalid(
                format!(
                    "provider '{}' (Bedrock Converse) offers chat only: embeddings are not translated",
                    ctx.provider
                ),
                Some("model"),
            ));
        }
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let action = if ctx.stream {
            "converse-stream"
        } else {
            "converse"
        };
        let auth = AuthScheme::AwsSigv4(Sigv4Scope {
            region: config
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_string()),
            service: "bedrock".to_string(),
        });
        Ok(openai::translated_post(
            format!("/model/{}/{action}", segment(&ctx.target_model)),
            auth,
            convert::converse(&body)?,
            StreamFormat::AwsEventstream,
        ))
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::answered(resp, |body| convert::answer(&ctx, body))
    }
}

/// A ConverseStream: events named by their `:event-type`; it is complete with
/// `metadata` (the usage), which follows `messageStop`.
impl UpstreamEvents for Bedrock {
    const PROVIDER: &'static str = "Bedrock";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        convert::stream_event(e.writer, e.event, e.out)
    }
}

switchboard_sdk::export_adapter!(Bedrock);

#[cfg(test)]
mod tests {
    use switchboard_sdk::openai::ChunkWriter;
    use switchboard_sdk::testing::request_context;
    use switchboard_sdk::types::SseEvent;

    #[test]
    fn model_ids_are_one_path_segment() {
        assert_eq!(
            super::segment("anthropic.claude-3-5-haiku-20241022-v1:0"),
            "anthropic.claude-3-5-haiku-20241022-v1%3A0"
        );
        assert_eq!(
            super::segment("arn:aws:bedrock:us-east-1:1:inference-profile/x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx"
        );
    }

    #[test]
    fn stream_exceptions_are_errors_with_their_status() {
        let mut w = ChunkWriter::new(&request_context("r", "p", "m"));
        let ev = |name: &str| SseEvent {
            event: Some(name.into()),
            data: r#"{"message":"slow down"}"#.into(),
        };
        let e = crate::convert::stream_event(&mut w, &ev("throttlingException"), &mut Vec::new())
            .unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (429, "slow down"));
        let e =
            crate::convert::stream_event(&mut w, &ev("modelStreamErrorException"), &mut Vec::new())
                .unwrap_err();
        assert_eq!(e.status, 500);
    }
}
