//! `builtin:azure-openai`: Azure OpenAI speaks OpenAI's format under its own paths.
//! Each target's model is its deployment: `/openai/deployments/{deployment}/chat/completions`
//! (and `/embeddings`) with `?api-version=`, or, with `api = "v1"`, the newer
//! `/openai/v1/chat/completions` that takes the model in the body. The key goes in
//! `api-key` (or, with `auth = "bearer"`, as a Microsoft Entra ID bearer token).
//! Answers and streams are OpenAI's and are forwarded untouched; errors are mapped.
//!
//! Settings: `api_version` (default `2024-10-21`; for `v1` sent only when set),
//! `api` (`deployments` or `v1`), `auth` (`api-key` or `bearer`).

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter, StreamTranslator};
use switchboard_sdk::openai;
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, BodyEdit, Operation, RequestContext, SseEvent, TranslatedAnswer,
    TranslatedEvents, UpstreamRequest, UpstreamResponse,
};

const DEFAULT_API_VERSION: &str = "2024-10-21";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub api_version: Option<String>,
    pub api: Option<String>,
    pub auth: Option<String>,
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        if let Some(a) = self
            .api
            .as_deref()
            .filter(|a| !["deployments", "v1"].contains(a))
        {
            return Err(format!(
                "api must be \"deployments\" or \"v1\", not \"{a}\""
            ));
        }
        if let Some(a) = self
            .auth
            .as_deref()
            .filter(|a| !["api-key", "bearer"].contains(a))
        {
            return Err(format!(
                "auth must be \"api-key\" or \"bearer\", not \"{a}\""
            ));
        }
        match self.api_version.as_deref() {
            Some(v)
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                Err(format!(
                    "api_version \"{v}\" is not an API version (e.g. 2024-10-21)"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A deployment name as one path segment.
fn deployment(name: &str) -> Result<&str, AdapterError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(name)
    } else {
        Err(openai::invalid(
            format!("'{name}' is not an Azure deployment name (letters, digits, '-', '_', '.')"),
            Some("model"),
        ))
    }
}

pub struct AzureOpenAi;

impl adapter::Guest for AzureOpenAi {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:azure-openai", &settings)
    }
}

impl ProviderAdapter for AzureOpenAi {
    type StreamTranslator = PassThrough;

    fn to_upstream(ctx: RequestContext, _body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let op = match ctx.operation {
            Operation::ChatCompletions => "chat/completions",
            Operation::Embeddings => "embeddings",
        };
        let v1 = config.api.as_deref() == Some("v1");
        let path = if v1 {
            format!("/openai/v1/{op}")
        } else {
            format!(
                "/openai/deployments/{}/{op}",
                deployment(&ctx.target_model)?
            )
        };
        let version = match (&config.api_version, v1) {
            (Some(v), _) => Some(v.clone()),
            (None, false) => Some(DEFAULT_API_VERSION.to_string()),
            (None, true) => None,
        };
        let auth = match config.auth.as_deref() {
            Some("bearer") => AuthScheme::Bearer,
            _ => AuthScheme::Header("api-key".to_string()),
        };
        Ok(UpstreamRequest {
            query: version
                .map(|v| ("api-version".to_string(), v))
                .into_iter()
                .collect(),
            ..openai::forwarded_post(path, auth, BodyEdit::SetModel(ctx.target_model))
        })
    }

    fn from_upstream(
        _ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        openai::forwarded(resp)
    }
}

/// Not constructed by the host (`translate-response` is false); forwards as it came.
pub struct PassThrough;

impl StreamTranslator for PassThrough {
    fn new(_ctx: RequestContext) -> Self {
        PassThrough
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        Ok(TranslatedEvents {
            events: vec![ev],
            usage: None,
        })
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        Ok(TranslatedEvents {
            events: Vec::new(),
            usage: None,
        })
    }
}

switchboard_sdk::export_adapter!(AzureOpenAi);
