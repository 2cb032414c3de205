//! `builtin:qianfan`: OpenAI chat completions and embeddings over Baidu Qianfan's
//! legacy ERNIE API ("wenxinworkshop") — `POST /rpc/2.0/ai_custom/v1/wenxinworkshop/
//! chat/{endpoint}` and `…/embeddings/{endpoint}` under `https://aip.baidubce.com`, the
//! access token in the `access_token` query parameter (the host obtains it with its
//! `qianfan` credential, exchanging the API key and secret key, and puts it there).
//!
//! ERNIE's messages alternate `user` (or `function`) and `assistant`, an odd number of
//! them; the system prompt is the top-level `system`. It calls one function a turn
//! (`function_call: {name, arguments, thoughts}`): an answer carries at most one call,
//! and a history with parallel calls is sent as one assistant/function pair per call.
//! Tool results go as `function` messages named by their function, JSON (a text result
//! is wrapped as `{"result": …}`, as Baidu's own OpenAI adapter does). Sampling:
//! `temperature` clamped into ERNIE's (0, 1], `top_p`, `penalty_score` (the client's, or
//! 1 + a positive frequency/presence penalty ÷ 2), `stop`, `max_output_tokens`,
//! `user_id`; no seed. `response_format` json_object is ERNIE's `"json_object"`; a JSON
//! schema, images and `tool_choice: required` among several tools are refused (400
//! naming the field).
//!
//! Qianfan answers its errors with HTTP 200 and `{error_code, error_msg}` — in a stream
//! too, as a bare JSON line instead of an SSE event. So the stream is framed as lines
//! (NDJSON): the translator reads `data:` lines and bare JSON lines alike (and, framed
//! as SSE, bare data). Error codes map to statuses: 110/111 (token invalid, expired)
//! 401; 4/17/18/19/336501-336503 (limits) 429; 100/336001-336003/336104/336105 (the
//! request) 400; 3/336005 (no such endpoint) 404; 6/15/336004 403; 336100 503;
//! 1/336000 500; others 502.
//!
//! Settings: `endpoints`, the endpoint of each model name where it is not the model's
//! own name (`{ "ernie-4.0-8k" = "completions_pro", "ernie-3.5-8k" = "completions" }`).

mod convert;

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard_sdk::adapter::{self, ProviderAdapter};
use switchboard_sdk::openai::{self, TranslatedStream, UpstreamEvent, UpstreamEvents};
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, Operation, RequestContext, StreamFormat, TranslatedAnswer,
    UpstreamRequest, UpstreamResponse,
};

/// The API's path under `https://aip.baidubce.com`.
pub const PREFIX: &str = "/rpc/2.0/ai_custom/v1/wenxinworkshop";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub endpoints: Option<BTreeMap<String, String>>,
}

fn endpoint_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

impl Settings for Config {
    fn check(&self) -> Result<(), String> {
        for (model, e) in self.endpoints.iter().flatten() {
            if e.is_empty() || !e.chars().all(endpoint_char) {
                return Err(format!(
                    "endpoints: '{e}' (for {model}) is not an endpoint name (letters, digits, - _ .)"
                ));
            }
        }
        Ok(())
    }
}

/// The endpoint of `model`: the configured one (its name matched regardless of case:
/// Baidu writes `ERNIE-4.0-8K`), else the model's name, as one path segment (other
/// characters percent-encoded).
fn endpoint(config: &Config, model: &str) -> String {
    let e = config
        .endpoints
        .iter()
        .flatten()
        .find(|(name, _)| name.eq_ignore_ascii_case(model))
        .map(|(_, e)| e.as_str())
        .unwrap_or(model);
    let mut out = String::new();
    for c in e.chars() {
        if endpoint_char(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

pub struct Qianfan;

impl adapter::Guest for Qianfan {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Config>("builtin:qianfan", &settings)
    }
}

impl ProviderAdapter for Qianfan {
    type StreamTranslator = TranslatedStream<Qianfan>;

    fn to_upstream(ctx: RequestContext, body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let config = switchboard_sdk::settings::load_once::<Config>().unwrap_or_default();
        let at = endpoint(&config, &ctx.target_model);
        let (path, body) = match ctx.operation {
            Operation::ChatCompletions => {
                (format!("{PREFIX}/chat/{at}"), convert::chat(&ctx, &body)?)
            }
            Operation::Embeddings => (format!("{PREFIX}/embeddings/{at}"), convert::embed(&body)?),
        };
        Ok(openai::translated_post(
            path,
            AuthScheme::Query("access_token".into()),
            body,
            StreamFormat::Ndjson,
        ))
    }

    fn from_upstream(
        ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<TranslatedAnswer, AdapterError> {
        // An error comes with 200: its code is read before the answer.
        if let Some(e) = convert::error(resp.status, &resp.body) {
            return Err(e);
        }
        openai::answered_by_operation(&ctx, resp, convert::answer, convert::embeddings)
    }
}

/// A stream, framed as lines: `data: {…}` chunks until one says `is_end`; a bare
/// `{error_code, error_msg}` line is an error.
impl UpstreamEvents for Qianfan {
    const PROVIDER: &'static str = "Qianfan";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        convert::stream_line(e.ctx, e.writer, &e.event.data, e.out)
    }
}

switchboard_sdk::export_adapter!(Qianfan);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchboard_sdk::openai::ChunkWriter;
    use switchboard_sdk::testing::request_context;

    fn sent(body: Value) -> Value {
        let ctx = request_context("m", "p", "ernie-4.0-8k");
        serde_json::from_slice(&crate::convert::chat(&ctx, body.to_string().as_bytes()).unwrap())
            .unwrap()
    }

    #[test]
    fn endpoints_come_from_settings_or_the_model_name() {
        let mut config = crate::Config::default();
        assert_eq!(
            crate::endpoint(&config, "ernie-speed-128k"),
            "ernie-speed-128k"
        );
        assert_eq!(crate::endpoint(&config, "a/b c"), "a%2Fb%20c");
        config.endpoints =
            Some([("ernie-4.0-8k".to_string(), "completions_pro".to_string())].into());
        assert_eq!(crate::endpoint(&config, "ernie-4.0-8k"), "completions_pro");
        assert_eq!(crate::endpoint(&config, "ERNIE-4.0-8K"), "completions_pro");
    }

    #[test]
    fn parallel_calls_in_the_history_become_one_pair_per_call() {
        let v = sent(json!({ "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "weather?" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "c1", "type": "function", "function": { "name": "w", "arguments": "{\"city\":\"Paris\"}" } },
                { "id": "c2", "type": "function", "function": { "name": "w", "arguments": "{\"city\":\"Oslo\"}" } }] },
            { "role": "tool", "tool_call_id": "c2", "content": "{\"sky\":\"snow\"}" },
            { "role": "tool", "tool_call_id": "c1", "content": "sunny" }] }));
        assert_eq!(v["system"], "Be brief.");
        let roles: Vec<&str> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["user", "assistant", "function", "assistant", "function"]
        );
        assert_eq!(
            v["messages"][1]["function_call"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(
            v["messages"][2],
            json!({ "role": "function", "name": "w", "content": "{\"result\":\"sunny\"}" })
        );
        assert_eq!(v["messages"][4]["content"], "{\"sky\":\"snow\"}");
    }

    #[test]
    fn what_ernie_cannot_carry_is_refused_by_field() {
        let ctx = request_context("m", "p", "ernie-4.0-8k");
        let chat = |b: Value| crate::convert::chat(&ctx, b.to_string().as_bytes()).unwrap_err();
        let e = chat(json!({ "messages": [{ "role": "user", "content": [
            { "type": "image_url", "image_url": { "url": "https://x/a.png" } }] }] }));
        assert_eq!(e.param.as_deref(), Some("messages[0]"));
        let e = chat(json!({ "messages": [{ "role": "user", "content": "x" }],
            "response_format": { "type": "json_schema", "json_schema": { "name": "o", "schema": {} } } }));
        assert_eq!(e.param.as_deref(), Some("response_format"));
        let e = chat(json!({ "messages": [{ "role": "user", "content": "x" }], "n": 2 }));
        assert_eq!(e.param.as_deref(), Some("n"));
    }

    #[test]
    fn errors_answered_with_200_take_their_status_from_the_code() {
        let e = |code: i64| {
            let body = json!({ "error_code": code, "error_msg": "no" }).to_string();
            crate::convert::error(200, body.as_bytes()).unwrap().status
        };
        assert_eq!(
            (e(110), e(111), e(18), e(336501), e(336003), e(336100), e(9)),
            (401, 401, 429, 429, 400, 503, 502)
        );
        let ok = json!({ "id": "as-1", "result": "hi", "usage": {} }).to_string();
        assert!(crate::convert::error(200, ok.as_bytes()).is_none());
        assert_eq!(crate::convert::error(500, b"oops").unwrap().status, 500);
    }

    #[test]
    fn stream_lines_sse_data_and_bare_errors() {
        let ctx = request_context("m", "p", "ernie-4.0-8k");
        let mut w = ChunkWriter::new(&ctx);
        let mut out = Vec::new();
        for line in [
            "data: {\"id\":\"as-1\",\"sentence_id\":0,\"is_end\":false,\"result\":\"Hel\"}",
            "",
            "data: {\"id\":\"as-1\",\"sentence_id\":1,\"is_end\":true,\"result\":\"lo\",\"finish_reason\":\"normal\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}",
        ] {
            crate::convert::stream_line(&ctx, &mut w, line, &mut out).unwrap();
        }
        assert!(w.done());
        assert_eq!(w.token_usage().unwrap().completion_tokens, 2);
        let mut w = ChunkWriter::new(&ctx);
        let e = crate::convert::stream_line(
            &ctx,
            &mut w,
            "{\"error_code\":111,\"error_msg\":\"Access token expired\"}",
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.status, 401);
    }
}
