//! End-to-end proxy behaviour: the real gateway in front of the mock provider.
//! Endpoints, auth and key handling, and bad input from clients.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

const ONE_OPENAI: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "limited"
sha256 = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"
models = ["small"]

[providers.up]
adapter = "builtin:openai"
base_url = "{mock}/up/v1"
api_key_env = "PROVIDER_KEY"

[models."gpt-test"]
targets = [{ provider = "up", model = "upstream-model" }]

[models."small"]
targets = [{ provider = "up", model = "small-upstream" }]

[models."embed"]
targets = [{ provider = "up", model = "embed-upstream" }]
"#;

/// Sends a request by hand (head, then optionally a chunk repeated n times, errors
/// ignored: the server may close early) and returns what the server answered.
async fn raw_request(
    addr: std::net::SocketAddr,
    head: Vec<u8>,
    body: Option<(Vec<u8>, usize)>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&head).await;
        if let Some((chunk, n)) = body {
            for _ in 0..n {
                if wr.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
        // Keep the write side open until the reader is done.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    });
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains("}}") {
        match tokio::time::timeout(std::time::Duration::from_secs(10), rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

async fn authed(gw: &Gw, path: &str, body: &Value) -> reqwest::Response {
    gw.client
        .post(format!("{}{path}", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn chat_completion_goes_through_with_the_provider_key_and_target_model() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    let r = authed(
        &gw,
        "/v1/chat/completions",
        &json!({ "model": "gpt-test", "messages": user("hello"), "temperature": 0.5 }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "up says: hello");
    let seen = mock.seen("up");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].body["model"], "upstream-model");
    assert_eq!(seen[0].body["temperature"], 0.5);
    let auth = seen[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(auth, format!("Bearer {PROVIDER_KEY}"));
    assert!(
        !format!("{:?}", seen[0].headers).contains(TEAM_KEY),
        "client key leaked upstream"
    );
}

#[tokio::test]
async fn streaming_passes_through_with_usage() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    let body = json!({ "model": "gpt-test", "messages": user("a b c"), "stream": true, "stream_options": { "include_usage": true } });
    let r = authed(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let lines = data_lines(&r.text().await.unwrap());
    assert_eq!(lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "up says: a b c");
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 18);
}

#[tokio::test]
async fn embeddings_and_models() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    let r = authed(
        &gw,
        "/v1/embeddings",
        &json!({ "model": "embed", "input": ["x", "y"] }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(mock.seen("up")[0].path, "/v1/embeddings");
    assert_eq!(mock.seen("up")[0].body["model"], "embed-upstream");

    let models: Value = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["embed", "gpt-test", "small"]);
    let one = gw
        .client
        .get(format!("{}/v1/models/gpt-test", gw.url))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let missing = gw
        .client
        .get(format!("{}/v1/models/nope", gw.url))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    error_message(&missing.json().await.unwrap());
    let health = gw
        .client
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn auth_is_required_and_nothing_goes_upstream_without_it() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    let body = json!({ "model": "gpt-test", "messages": user("hi") });
    let (status, v) = gw.chat(&body).await;
    assert_eq!(status, 401);
    error_message(&v);
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth("wrong-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("wrong-key"),
        "the presented key must not be echoed"
    );
    let models = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
    assert_eq!(mock.count("up"), 0);

    // A key stored by its SHA-256 ("123456") works, but only for its models.
    let ok = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth("123456")
        .json(&json!({ "model": "small", "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Anthropic-style clients send the key as x-api-key.
    let x = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-api-key", TEAM_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), 200);
    let denied = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth("123456")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let listed: Value = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth("123456")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_gets_openai_errors() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let send = |body: Vec<u8>| {
        gw.client
            .post(&url)
            .bearer_auth(TEAM_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let r = send(b"{not json".to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(error_message(&r.json().await.unwrap()).contains("not valid JSON"));

    let r = send(br#"{"model":"gpt-test"}"#.to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages");

    let r = send(br#"{"model":"no-such-model","messages":[]}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");

    // Over the limit by its declared length: refused before the body is read.
    let addr = gw.running.api_addr;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TEAM_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        17 << 20
    );
    let answer = raw_request(addr, head.into_bytes(), None).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than the limit"), "{answer}");
    // Over the limit while streaming a chunked body: refused once it passes it.
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TEAM_KEY}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20)).into_bytes();
    let answer = raw_request(addr, head.into_bytes(), Some((chunk, 20))).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let r = gw
        .client
        .get(&url)
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = gw
        .client
        .post(format!("{}/v1/nothing", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    error_message(&r.json().await.unwrap());
    assert_eq!(mock.count("up"), 0, "no bad request may reach the provider");
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&json!({ "model": "gpt-test", "messages": user("over h2") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "up says: over h2");
}

#[tokio::test]
async fn provider_errors_never_carry_the_provider_key() {
    let mock = Mock::start().await;
    let gw = start(&mock, ONE_OPENAI).await;
    // A provider that echoes the key back in its error (some do, partly).
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {PROVIDER_KEY}","type":"invalid_request_error"}}}}"#
    );
    mock.set_fault("up", Some(crate::mock::Fault::Status(400, body)));
    let r = authed(
        &gw,
        "/v1/chat/completions",
        &json!({ "model": "gpt-test", "messages": user("hi") }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(!text.contains(PROVIDER_KEY), "provider key leaked: {text}");
    assert!(
        text.contains("Incorrect API key provided: [REDACTED]"),
        "{text}"
    );
}
