//! The adapter conformance suite: every provider adapter must pass every case. Each
//! case runs the real gateway with the adapter component (configured from its catalog
//! preset where it has one) against the mock speaking that provider's wire format, and
//! checks what the client got (always OpenAI's format) and what the provider received
//! (`wire`). The provider × feature table of `docs/src/providers.md` is read from these
//! cases.

mod anthropic;
mod cases;
mod cuts;
mod errors;
mod framing;
mod quirks;
mod streams;
mod wire;

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Adapter {
    OpenAi,
    Anthropic,
    Gemini,
    Azure,
    Bedrock,
    Cohere,
    Ollama,
    /// Claude on Google Vertex AI (`builtin:anthropic`, platform vertex, a Google
    /// service account's token).
    VertexClaude,
    /// Claude on Amazon Bedrock's InvokeModel (`builtin:anthropic`, platform bedrock).
    BedrockClaude,
    /// Gemini on Google Vertex AI (`builtin:gemini`, platform vertex).
    VertexGemini,
    /// Tencent Hunyuan's own API (`builtin:hunyuan`, TC3-signed by the host).
    Hunyuan,
    /// Alibaba's native DashScope API (Qwen).
    DashScope,
    /// Baidu Qianfan's legacy ERNIE API (an access token the host exchanges for).
    Qianfan,
}

impl Adapter {
    /// The `[providers.p]` table of this adapter, against the mock.
    fn provider(self) -> &'static str {
        match self {
            Adapter::OpenAi => {
                "adapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\napi_key_env = \"PROVIDER_KEY\"\n"
            }
            Adapter::Anthropic => {
                "adapter = \"builtin:anthropic\"\nbase_url = \"{mock}/p/v1\"\napi_key_env = \"PROVIDER_KEY\"\n"
            }
            Adapter::Gemini => {
                "preset = \"gemini\"\nbase_url = \"{mock}/p/v1beta\"\napi_key_env = \"PROVIDER_KEY\"\n"
            }
            Adapter::Azure => {
                "preset = \"azure-openai\"\nbase_url = \"{mock}/p\"\napi_key_env = \"PROVIDER_KEY\"\n"
            }
            Adapter::Bedrock => {
                "preset = \"bedrock\"\nbase_url = \"{mock}/p\"\naws_credentials_env = [\"MOCK_AWS_ID\", \"MOCK_AWS_SECRET\"]\n"
            }
            Adapter::Cohere => {
                "preset = \"cohere\"\nbase_url = \"{mock}/p/v2\"\napi_key_env = \"PROVIDER_KEY\"\n"
            }
            Adapter::Ollama => "preset = \"ollama\"\nbase_url = \"{mock}/p\"\n",
            // A Google service account's token, from the mock's token endpoint.
            Adapter::VertexClaude => {
                "preset = \"vertex-anthropic\"\nbase_url = \"{mock}/p/v1/projects/proj/locations/us-east5/publishers/anthropic\"\ncredential = { key_file = \"tests/fixtures/google-service-account.json\", token_url = \"{mock}/p/google/token\" }\n"
            }
            Adapter::BedrockClaude => {
                "preset = \"bedrock-anthropic\"\nbase_url = \"{mock}/p\"\naws_credentials_env = [\"MOCK_AWS_ID\", \"MOCK_AWS_SECRET\"]\n"
            }
            // The mock's host is not `hunyuan.tencentcloudapi.com`: the service is named.
            Adapter::Hunyuan => {
                "preset = \"hunyuan-native\"\nbase_url = \"{mock}/p\"\ncredential = { secret_id_env = \"MOCK_TC_ID\", secret_key_env = \"MOCK_TC_KEY\", service = \"hunyuan\" }\nsettings = { region = \"ap-guangzhou\" }\n"
            }
            Adapter::DashScope => {
                "preset = \"dashscope\"\nbase_url = \"{mock}/p/api/v1\"\napi_key_env = \"PROVIDER_KEY\"\n"
            }
            // The host exchanges the preset's AK/SK at the mock's token endpoint.
            Adapter::Qianfan => {
                "preset = \"qianfan-legacy\"\nbase_url = \"{mock}/p\"\ncredential = { token_url = \"{mock}/p/oauth/2.0/token\" }\n"
            }
            Adapter::VertexGemini => {
                "preset = \"vertex-gemini\"\nbase_url = \"{mock}/p/v1/projects/proj/locations/global/publishers/google\"\ncredential = { key_file = \"tests/fixtures/google-service-account.json\", token_url = \"{mock}/p/google/token\" }\n"
            }
        }
    }

    /// The wire format this adapter's provider speaks, for the cases that read it.
    pub fn like(self) -> Adapter {
        match self {
            Adapter::VertexClaude | Adapter::BedrockClaude => Adapter::Anthropic,
            Adapter::VertexGemini => Adapter::Gemini,
            a => a,
        }
    }

    /// Prompt tokens the mock says came from the provider's cache (where it reports them).
    fn cached(self) -> Option<u64> {
        match self.like() {
            Adapter::Anthropic
            | Adapter::Gemini
            | Adapter::Bedrock
            | Adapter::Hunyuan
            | Adapter::DashScope => Some(2),
            Adapter::Cohere | Adapter::Ollama | Adapter::Qianfan => Some(0),
            // Forwarded as the provider sent it (the OpenAI mock sends no details).
            Adapter::OpenAi | Adapter::Azure => None,
            _ => unreachable!("like() names a base format"),
        }
    }

    /// Whether the provider has an embeddings API the adapter translates.
    fn embeddings(self) -> bool {
        !matches!(self.like(), Adapter::Anthropic | Adapter::Bedrock)
    }

    /// The provider's own error body for `status`.
    fn error_body(self, status: u16, message: &str) -> String {
        use crate::mock::{bedrock, cohere, dashscope, gemini, hunyuan, ollama, qianfan};
        match self.like() {
            Adapter::OpenAi | Adapter::Azure => {
                json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": null } }).to_string()
            }
            Adapter::Anthropic => {
                let kind = match status {
                    400 => "invalid_request_error",
                    401 => "authentication_error",
                    404 => "not_found_error",
                    429 => "rate_limit_error",
                    529 => "overloaded_error",
                    _ => "api_error",
                };
                json!({ "type": "error", "error": { "type": kind, "message": message } }).to_string()
            }
            Adapter::Gemini => gemini::error_body(status, message),
            Adapter::Bedrock => bedrock::error_body(status, message),
            Adapter::Cohere => cohere::error_body(status, message),
            Adapter::Ollama => ollama::error_body(status, message),
            Adapter::Hunyuan => hunyuan::error_body(status, message),
            Adapter::DashScope => dashscope::error_body(status, message),
            Adapter::Qianfan => qianfan::error_body(status, message),
            _ => unreachable!("like() names a base format"),
        }
    }
}

pub async fn gateway(mock: &Mock, adapter: Adapter) -> Gw {
    start(
        mock,
        &format!(
            // Errors are the cases' subject: the circuit stays closed through them.
            "[providers.p]\n{}\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"upstream-model\" }}]\nbreaker = {{ failures = 1000 }}\n",
            adapter.provider()
        ),
    )
    .await
}

pub fn weather_tools() -> Value {
    json!([{ "type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] }
    }}])
}

/// Re-assembles streamed chunks: (text, tool calls by index, finish reason, usage).
pub fn assemble(lines: &[String]) -> (String, Vec<Value>, Option<String>, Option<Value>) {
    assert_eq!(
        lines.last().map(String::as_str),
        Some("[DONE]"),
        "stream must end with [DONE]: {lines:?}"
    );
    let mut text = String::new();
    let mut tools: Vec<Value> = Vec::new();
    let mut finish = None;
    let mut usage = None;
    for (i, l) in lines[..lines.len() - 1].iter().enumerate() {
        let c: Value = serde_json::from_str(l).unwrap();
        assert_eq!(c["object"], "chat.completion.chunk");
        if !c["usage"].is_null() {
            usage = Some(c["usage"].clone());
        }
        let Some(choice) = c["choices"].get(0) else {
            continue;
        };
        if i == 0 {
            assert_eq!(choice["delta"]["role"], "assistant");
        }
        if let Some(t) = choice["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            assert!(finish.is_none(), "one finish reason per stream: {lines:?}");
            finish = Some(f.to_string());
        }
        for tc in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let idx = tc["index"].as_u64().unwrap() as usize;
            if tools.len() <= idx {
                tools.resize(
                    idx + 1,
                    json!({ "id": null, "name": null, "arguments": "" }),
                );
            }
            if let Some(id) = tc["id"].as_str() {
                tools[idx]["id"] = json!(id);
            }
            if let Some(n) = tc["function"]["name"].as_str() {
                tools[idx]["name"] = json!(n);
            }
            if let Some(a) = tc["function"]["arguments"].as_str() {
                let so_far = tools[idx]["arguments"].as_str().unwrap().to_string();
                tools[idx]["arguments"] = json!(so_far + a);
            }
        }
    }
    (text, tools, finish, usage)
}

macro_rules! conformance {
    ($($adapter:ident => $variant:ident),* $(,)?) => {
        $(
            mod $adapter {
                use super::Adapter::$variant as A;
                #[tokio::test] async fn text_answer() { super::cases::text_answer(A).await }
                #[tokio::test] async fn system_prompt_and_turns() { super::cases::system_prompt_and_turns(A).await }
                #[tokio::test] async fn parallel_tool_calls() { super::cases::parallel_tool_calls(A).await }
                #[tokio::test] async fn tool_results_round_trip() { super::cases::tool_results_round_trip(A).await }
                #[tokio::test] async fn unicode_round_trip() { super::cases::unicode_round_trip(A).await }
                #[tokio::test] async fn embeddings() { super::cases::embeddings(A).await }
                #[tokio::test] async fn streamed_text_with_usage() { super::streams::streamed_text_with_usage(A).await }
                #[tokio::test] async fn streamed_tool_calls() { super::streams::streamed_tool_calls(A).await }
                #[tokio::test] async fn stream_cut_at_every_event() { super::streams::stream_cut_at_every_event(A).await }
                #[tokio::test] async fn provider_errors() { super::errors::provider_errors(A).await }
                #[tokio::test] async fn stop_reasons() { super::cases::stop_reasons(A).await }
                #[tokio::test] async fn through_messages_api() { super::cases::through_messages_api(A).await }
                #[tokio::test] async fn images_and_json_output() { super::cases::images_and_json_output(A).await }
            }
        )*
    };
}

conformance!(
    openai => OpenAi,
    anthropic_adapter => Anthropic,
    gemini => Gemini,
    azure_openai => Azure,
    bedrock => Bedrock,
    cohere => Cohere,
    ollama => Ollama,
    vertex_claude => VertexClaude,
    bedrock_claude => BedrockClaude,
    vertex_gemini => VertexGemini,
    hunyuan => Hunyuan,
    dashscope => DashScope,
    qianfan => Qianfan,
);
