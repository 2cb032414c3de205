//! `builtin:hunyuan`: OpenAI chat completions and embeddings over Tencent Hunyuan's
//! native API — Tencent Cloud API 3.0 at `hunyuan.tencentcloudapi.com`, version
//! 2023-09-01 — not its OpenAI-compatible endpoint (`preset = "hunyuan"` is that one).
//! Every call is a POST to `/` naming its action in `X-TC-Action` (`ChatCompletions`,
//! `GetEmbedding`) and `X-TC-Version`; the host signs it with TC3-HMAC-SHA256 from the
//! provider's `credential = { kind = "tencent", … }` (this component never sees the
//! SecretId or SecretKey) and frames the chat stream's SSE `data:` events.
//!
//! Translated: messages (one system message first, images as `Contents` with
//! `ImageUrl`, tool calls and results by `ToolCallId`), Temperature, TopP, Seed, Stop,
//! Tools (schemas as JSON strings) and ToolChoice (`none`, or `custom` for one named
//! tool), answers whole and streamed (tool calls merged by `Id`), FinishReason (stop,
//! tool_calls, sensitive → content_filter), Usage (and cached prompt tokens), and the
//! errors Tencent answers with HTTP 200 (`Response.Error`) by their code's status.
//! Refused with the field named: `response_format` other than text, `n` > 1,
//! `tool_choice: required` over several tools, a `seed` outside 1..=10000, more than
//! 50 embedding inputs, `dimensions` other than 1024. Not sent, for want of a field:
//! `max_tokens` (ChatCompletions has none), `parallel_tool_calls`, penalties, `user`;
//! `GetEmbedding` has no model field (the target's model name is not used).
//!
//! Settings: `region` (optional), sent as `X-TC-Region` (e.g. `ap-guangzhou`).

mod convert;
mod stream;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai;
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Header, Operation, RequestContext, StreamFormat, TranslatedAnswer,
    UpstreamRequest, UpstreamResponse,
};

/// The provider's name in messages.
pub const PROVIDER: &str = "Hunyuan";
/// The API version every action is called with (`X-TC-Version`).
pub const VERSION: &str = "2023-09-01";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub region: Option<String>,
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        switchboard_sdk::settings::check_region(
            self.region.as_deref(),
            "a Tencent Cloud",
            "ap-guangzhou",
        )
    }
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_string(),
        value: value.to_string(),
    }
}

pub struct Hunyuan;

impl adapter::Guest for Hunyuan {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:hunyuan", &settings)
    }
}

impl ProviderAdapter for Hunyuan {
    type StreamTranslator = stream::HunyuanStream;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let (action, body) = match ctx.operation {
            Operation::ChatCompletions => ("ChatCompletions", convert::chat(&ctx, &body)?),
            Operation::Embeddings => ("GetEmbedding", convert::embed(&body)?),
        };
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let mut headers = vec![
            header("X-TC-Action", action),
            header("X-TC-Version", VERSION),
        ];
        if let Some(region) = &config.region {
            headers.push(header("X-TC-Region", region));
        }
        // Bearer: the host puts the TC3 signature in its place (credential kind tencent).
        Ok(UpstreamRequest {
            headers,
            ..openai::translated_post("/", AuthScheme::Bearer, body, StreamFormat::Sse)
        })
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        if !(200..300).contains(&resp.status) {
            return Err(convert::http_error(resp.status, &resp.body));
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

switchboard_sdk::export_adapter!(Hunyuan);

#[cfg(test)]
mod tests {
    use switchboard_sdk::adapter::ProviderAdapter;
    use switchboard_sdk::testing::{FakeHost, request_context};
    use switchboard_sdk::types::{Operation, UpstreamResponse};

    use super::Hunyuan;

    #[test]
    fn requests_name_their_action_version_and_region() {
        FakeHost::new().setting("region", "ap-guangzhou").install();
        let mut ctx = request_context("m", "p", "hunyuan-lite");
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec();
        let up = Hunyuan::to_upstream(ctx.clone(), body).unwrap();
        assert_eq!(up.path, "/");
        let h: Vec<(&str, &str)> = up
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            h,
            [
                ("X-TC-Action", "ChatCompletions"),
                ("X-TC-Version", "2023-09-01"),
                ("X-TC-Region", "ap-guangzhou"),
            ]
        );
        ctx.operation = Operation::Embeddings;
        let up = Hunyuan::to_upstream(ctx, br#"{"model":"m","input":"x"}"#.to_vec()).unwrap();
        assert_eq!(up.headers[0].value, "GetEmbedding");
    }

    #[test]
    fn a_200_answer_carrying_an_error_is_that_error() {
        let ctx = request_context("m", "p", "hunyuan-lite");
        let body = r#"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"slow down"},"RequestId":"r"}}"#;
        let resp = UpstreamResponse {
            status: 200,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        let e = Hunyuan::from_upstream(ctx.clone(), resp).err().unwrap();
        assert_eq!(
            (e.status, e.message.as_str()),
            (429, "RequestLimitExceeded: slow down")
        );
        let resp = UpstreamResponse {
            status: 503,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        let e = Hunyuan::from_upstream(ctx, resp).err().unwrap();
        assert_eq!(e.status, 503, "a non-2xx status is kept");
    }
}
