//! Claude Code's own request passed through to Claude where the clouds host it: Amazon
//! Bedrock's InvokeModel and Google Vertex AI's rawPredict each get the client's body
//! but for what the platform moves (the model into the path, the version and the betas
//! into the body) and the credential, and the client gets Anthropic's stream back.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[providers.bk]
preset = "bedrock-anthropic"
base_url = "{mock}/bk"
aws_credentials_env = ["MOCK_AWS_ID", "MOCK_AWS_SECRET"]

[providers.vx]
preset = "vertex-anthropic"
base_url = "{mock}/vx/v1/projects/proj/locations/us-east5/publishers/anthropic"
credential = { key_file = "tests/fixtures/google-service-account.json", token_url = "{mock}/vx/google/token" }

[models."claude-bedrock"]
targets = [{ provider = "bk", model = "global.anthropic.claude-haiku-4-5-20251001-v1:0" }]

[models."claude-vertex"]
targets = [{ provider = "vx", model = "claude-haiku-4-5@20251001" }]
"#;

const BETA: &str = "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14";

fn claude_code(model: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/claude_code_request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["model"] = json!(model);
    v
}

async fn send(gw: &Gw, body: &Value) -> (u16, String) {
    let r = gw
        .client
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", TEAM_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", BETA)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The event names of an SSE stream, in order.
fn kinds(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn claude_code_reaches_bedrock_invoke_as_sent_but_for_model_and_auth() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let req = claude_code("claude-bedrock");
    let (status, text) = send(&gw, &req).await;
    assert_eq!(status, 200, "{text}");
    let seen = &mock.seen("bk")[0];
    assert_eq!(
        seen.path,
        "/model/global.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke-with-response-stream"
    );
    // The client's body, cache_control, thinking and all; the platform's fields moved.
    let mut expected = req.clone();
    let obj = expected.as_object_mut().unwrap();
    obj.remove("model");
    obj.remove("stream");
    obj.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    let betas: Vec<&str> = BETA.split(',').collect();
    obj.insert("anthropic_beta".into(), json!(betas));
    assert_eq!(seen.body, expected);
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "{auth}");
    assert!(seen.headers.get("x-api-key").is_none());
    // Anthropic's stream, unwrapped from Bedrock's chunks, event by event.
    let k = kinds(&text);
    assert_eq!(
        k.first().map(String::as_str),
        Some("message_start"),
        "{text}"
    );
    assert_eq!(k.last().map(String::as_str), Some("message_stop"), "{text}");
    assert!(text.contains("\"text_delta\""), "{text}");
    let m = gw.metrics_text().await;
    assert!(
        m.lines().any(
            |l| l.starts_with("gen_ai_client_token_usage_sum{route=\"claude-bedrock\"")
                && l.contains("gen_ai_token_type=\"output\"")
                && l.ends_with(" 7")
        ),
        "usage read from the unwrapped stream"
    );
    // A whole answer too.
    let mut whole = req.clone();
    whole["stream"] = json!(false);
    let (status, text) = send(&gw, &whole).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "message");
    assert!(mock.seen("bk")[1].path.ends_with("/invoke"));
}

#[tokio::test]
async fn claude_code_reaches_vertex_raw_predict_as_sent_but_for_model_and_auth() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let req = claude_code("claude-vertex");
    let (status, text) = send(&gw, &req).await;
    assert_eq!(status, 200, "{text}");
    let seen = &mock.seen("vx")[0];
    assert_eq!(
        seen.path,
        "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001:streamRawPredict"
    );
    let mut expected = req.clone();
    let obj = expected.as_object_mut().unwrap();
    obj.remove("model");
    obj.insert("anthropic_version".into(), json!("vertex-2023-10-16"));
    assert_eq!(seen.body, expected, "only the model moves; stream stays");
    assert_eq!(
        seen.headers["anthropic-beta"], BETA,
        "Vertex takes betas as a header"
    );
    assert!(seen.headers.get("anthropic-version").is_none());
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("Bearer ya29.c."), "{auth}");
    assert!(seen.headers.get("x-api-key").is_none());
    let k = kinds(&text);
    assert_eq!(k.last().map(String::as_str), Some("message_stop"), "{text}");
    assert!(
        !text.contains("ya29.c."),
        "the token never reaches the client"
    );
}

#[tokio::test]
async fn count_tokens_asks_vertex_and_estimates_for_bedrock() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let count = |model: &str| {
        let body = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
        gw.client
            .post(format!("{}/v1/messages/count_tokens", gw.url))
            .header("x-api-key", TEAM_KEY)
            .json(&body)
            .send()
    };
    let r = count("claude-vertex").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchboard-estimate").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["input_tokens"], 37);
    let seen = &mock.seen("vx")[0];
    assert!(
        seen.path.ends_with("/models/count-tokens:rawPredict"),
        "{}",
        seen.path
    );
    assert_eq!(seen.body["model"], "claude-haiku-4-5@20251001");
    // Bedrock has no count: the gateway's estimate, said so.
    let r = count("claude-bedrock").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-estimate"], "true");
    assert_eq!(mock.count("bk"), 0);
}
