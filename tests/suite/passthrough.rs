//! Native pass-through: an Anthropic client to an Anthropic target and a Responses
//! client to OpenAI get their own API end to end — the body the provider is sent is
//! the client's but for the model, the client's Anthropic headers go along, answers
//! and streams come back as the provider sent them — still through policies, the
//! cache and failover; a route that cannot pass a request through translates it and
//! says what it lost, or refuses when it must not lose anything.

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[providers.an]
adapter = "builtin:anthropic"
base_url = "{mock}/an/v1"
api_key_env = "PROVIDER_KEY"

[providers.oa]
adapter = "builtin:openai"
base_url = "{mock}/oa/v1"
api_key_env = "PROVIDER_KEY"
native = ["responses"]

[providers.compat]
adapter = "builtin:openai"
base_url = "{mock}/compat/v1"
api_key_env = "PROVIDER_KEY"

[policies.one-per-hour]
plugin = "builtin:request-limit"
settings = { limit = 1, window_secs = 3600 }

[models."claude"]
targets = [{ provider = "an", model = "claude-x" }]

[models."mixed"]
strategy = "builtin:priority"
targets = [{ provider = "an", model = "claude-x", priority = 0 }, { provider = "compat", model = "gpt-x", priority = 1 }]

[models."strict"]
strategy = "builtin:priority"
unsupported_fields = "error"
targets = [{ provider = "an", model = "claude-x", priority = 0 }, { provider = "compat", model = "gpt-x", priority = 1 }]

[models."cached"]
targets = [{ provider = "an", model = "claude-x" }]
cache = { ttl = "1m" }

[models."redacting"]
targets = [{ provider = "an", model = "claude-x" }]
redactors = ["builtin:redact-pii"]

[models."limited"]
targets = [{ provider = "an", model = "claude-x" }]
policies = ["one-per-hour"]

[models."gpt"]
targets = [{ provider = "oa", model = "gpt-up" }]

[models."gpt-redacting"]
targets = [{ provider = "oa", model = "gpt-up" }]
redactors = ["builtin:redact-pii"]

[models."moderator"]
targets = [{ provider = "oa", model = "omni-up" }]

[models."tts"]
targets = [{ provider = "compat", model = "tts-up" }]

[models."whisper"]
targets = [{ provider = "compat", model = "whisper-up" }]

[models."limited-mod"]
targets = [{ provider = "oa", model = "omni-up" }]
policies = ["one-per-hour"]
"#;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn send(gw: &Gw, path: &str, body: &Value, beta: Option<&str>) -> reqwest::Response {
    let mut req = gw
        .client
        .post(format!("{}{path}", gw.url))
        .header("x-api-key", TEAM_KEY)
        .header("anthropic-version", "2023-06-01");
    if let Some(b) = beta {
        req = req.header("anthropic-beta", b);
    }
    req.json(body).send().await.unwrap()
}

/// `body` with its model set to `model`: what the provider must be sent.
fn with_model(body: &Value, model: &str) -> Value {
    let mut b = body.clone();
    b["model"] = json!(model);
    b
}

/// (event, data) of each SSE event of a stream.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let mut kind = String::new();
            let mut data = String::new();
            for l in b.lines() {
                if let Some(v) = l.strip_prefix("event: ") {
                    kind = v.to_string();
                } else if let Some(v) = l.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (kind, serde_json::from_str(&data).unwrap_or(Value::Null))
        })
        .collect()
}

fn metric_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn claude_code_reaches_an_anthropic_target_exactly_as_it_sent() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let mut req = fixture("claude_code_request.json");
    req["model"] = json!("claude");
    let beta = "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14";
    let r = send(&gw, "/v1/messages", &req, Some(beta)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchboard-dropped").is_none());
    let text = r.text().await.unwrap();
    let seen = &mock.seen("an")[0];
    assert_eq!(seen.path, "/v1/messages");
    // Every field, cache_control, thinking and all: only the model differs.
    assert_eq!(seen.body, with_model(&req, "claude-x"));
    assert_eq!(seen.headers["anthropic-beta"], beta);
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.headers["x-api-key"], PROVIDER_KEY);
    assert!(!text.contains(PROVIDER_KEY) && !text.contains(TEAM_KEY));
    // The stream is the provider's, event by event.
    let got = events(&text);
    let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"));
    assert_eq!(kinds.last(), Some(&"message_stop"));
    assert!(kinds.contains(&"ping"), "{kinds:?}");
    assert_eq!(got[0].1["message"]["id"], "msg_mock");
    assert_eq!(got[0].1["message"]["model"], "claude-x");
    // Usage read from the stream: 9 in + 2 cache reads, 7 out.
    let m = gw.metrics_text().await;
    for (kind, n) in [("input", 11), ("output", 7)] {
        let line = format!(
            r#"gen_ai_client_token_usage_sum{{route="claude",provider="an",model="claude-x",gen_ai_token_type="{kind}"}} {n}"#
        );
        assert!(metric_line(&m, &line), "{line}");
    }
}

#[tokio::test]
async fn a_whole_answer_and_the_provider_s_own_errors_come_back_as_they_are() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let body = json!({ "model": "claude", "max_tokens": 50, "top_k": 3,
        "system": [{ "type": "text", "text": "Be brief.", "cache_control": { "type": "ephemeral" } }],
        "messages": [{ "role": "user", "content": "hello" }] });
    let r = send(&gw, "/v1/messages", &body, None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "msg_mock", "not re-prefixed");
    assert_eq!(v["usage"]["cache_read_input_tokens"], 2);
    assert_eq!(v["content"][0]["text"], "an says: hello");
    assert_eq!(mock.seen("an")[0].body, with_model(&body, "claude-x"));
    // A server tool has no chat form: refused on a translated route, passed through here.
    let search = json!({ "model": "claude", "max_tokens": 50,
        "tools": [{ "type": "web_search_20250305", "name": "web_search", "max_uses": 2 }],
        "messages": [{ "role": "user", "content": "news?" }] });
    assert_eq!(send(&gw, "/v1/messages", &search, None).await.status(), 200);
    assert_eq!(mock.seen("an")[1].body, with_model(&search, "claude-x"));
    let mut translated = with_model(&search, "m");
    translated["model"] = json!("mixed");
    mock.set_fault("an", Some(Fault::Status(500, "{}".into())));
    let r = send(&gw, "/v1/messages", &translated, None).await;
    mock.set_fault("an", None);
    assert_eq!(
        r.status(),
        502,
        "never turned into a plain tool for the fallback"
    );
    assert_eq!(mock.count("compat"), 0);
    // The provider refuses the request itself: its error, status and shape unchanged.
    let refusal =
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"top_k: too big"}}"#;
    mock.push_fault("an", Fault::Status(400, refusal.into()));
    let r = send(&gw, "/v1/messages", &body, None).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), refusal);
    // Policies still apply, and their refusals are in Anthropic's shape.
    let limited = with_model(&body, "limited");
    assert_eq!(
        send(&gw, "/v1/messages", &limited, None).await.status(),
        200
    );
    let r = send(&gw, "/v1/messages", &limited, None).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
}

#[tokio::test]
async fn a_mixed_route_fails_over_to_a_translation_that_names_its_losses() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let body = json!({ "model": "mixed", "max_tokens": 50,
        "system": [{ "type": "text", "text": "Be brief.", "cache_control": { "type": "ephemeral" } }],
        "messages": [{ "role": "user", "content": "hello" }] });
    // The Anthropic target answers: passed through, nothing lost.
    let r = send(&gw, "/v1/messages", &body, None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchboard-dropped").is_none());
    assert_eq!(mock.seen("an")[0].body, with_model(&body, "claude-x"));
    // It fails: the OpenAI-shaped fallback gets the translation, and the client is told.
    mock.push_fault("an", Fault::Status(500, "{}".into()));
    let r = send(&gw, "/v1/messages", &body, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-dropped"], "cache_control");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "compat says: hello");
    assert_eq!(mock.seen("compat")[0].path, "/v1/chat/completions");
    let m = gw.metrics_text().await;
    assert!(
        metric_line(
            &m,
            r#"switchboard_dropped_fields_total{api="messages",route="mixed",field="cache_control"} 1"#
        ),
        "a drop is counted only when it happened"
    );
    // A strict route never loses a field: the fallback cannot take it as it is.
    mock.set_fault("an", Some(Fault::Status(500, "{}".into())));
    let strict = with_model(&body, "strict");
    let r = send(&gw, "/v1/messages", &strict, None).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    let said = v["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("does not take /v1/messages as it is"),
        "{said}"
    );
    assert_eq!(mock.count("compat"), 1, "the strict route never reached it");
    // Without the field the strict route falls back as any other.
    let plain = json!({ "model": "strict", "max_tokens": 50,
        "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(send(&gw, "/v1/messages", &plain, None).await.status(), 200);
    assert_eq!(mock.count("compat"), 2);
    mock.set_fault("an", None);
}

#[tokio::test]
async fn passed_through_answers_are_cached_as_the_client_got_them() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    for stream in [false, true] {
        let body = json!({ "model": "cached", "max_tokens": 50, "stream": stream,
            "messages": [{ "role": "user", "content": format!("cache me {stream}") }] });
        let first = send(&gw, "/v1/messages", &body, None).await;
        assert_eq!(first.headers()["x-switchboard-cache"], "miss");
        let first = first.text().await.unwrap();
        let again = send(&gw, "/v1/messages", &body, None).await;
        assert_eq!(again.headers()["x-switchboard-cache"], "hit");
        let want = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        assert_eq!(again.headers()["content-type"], want);
        assert_eq!(again.text().await.unwrap(), first);
    }
    assert_eq!(
        mock.count("an"),
        2,
        "one request each, the rest from the cache"
    );
}

#[tokio::test]
async fn a_redacting_route_passes_through_with_its_texts_masked() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let body = json!({ "model": "redacting", "max_tokens": 50,
        "system": [{ "type": "text", "text": "Be brief, bob.smith@example.org.", "cache_control": { "type": "ephemeral" } }],
        "thinking": { "type": "enabled", "budget_tokens": 2048 },
        "messages": [
            { "role": "user", "content": [{ "type": "text", "text": "mail bob.smith@example.org" }] },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "t1", "name": "f", "input": {} }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "t1", "content": "card 4111-1111-1111-1111" }] },
        ] });
    // The request: everything kept but the texts, masked.
    let says = "Reach bob.smith@example.org or card 4111-1111-1111-1111 now.";
    mock.push_fault("an", Fault::Says(says.into(), 4));
    let r = send(&gw, "/v1/messages", &body, None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchboard-dropped").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "Reach [EMAIL] or card [CARD] now.");
    let mut want = with_model(&body, "claude-x");
    want["system"][0]["text"] = json!("Be brief, [EMAIL].");
    want["messages"][0]["content"][0]["text"] = json!("mail [EMAIL]");
    want["messages"][2]["content"][0]["content"] = json!("card [CARD]");
    assert_eq!(mock.seen("an")[0].body, want);
    // A stream split four characters at a time: masked however it is cut.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    mock.push_fault("an", Fault::Says(says.into(), 4));
    let text = send(&gw, "/v1/messages", &streamed, None)
        .await
        .text()
        .await
        .unwrap();
    let got = events(&text);
    let said: String = got
        .iter()
        .filter(|(k, d)| k == "content_block_delta" && d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(said, "Reach [EMAIL] or card [CARD] now.");
    assert!(
        !text.contains("example.org") && !text.contains("1111"),
        "{text}"
    );
    assert_eq!(got.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn a_redacting_route_passes_responses_through_with_their_texts_masked() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let body = json!({ "model": "gpt-redacting", "stream": true, "instructions": "You serve bob.smith@example.org.",
        "tools": [{ "type": "web_search" }],
        "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "card 4111-1111-1111-1111?" }] }] });
    mock.push_fault(
        "oa",
        Fault::Says("Mail bob.smith@example.org today.".into(), 5),
    );
    let text = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut want = with_model(&body, "gpt-up");
    want["instructions"] = json!("You serve [EMAIL].");
    want["input"][0]["content"][0]["text"] = json!("card [CARD]?");
    assert_eq!(
        mock.seen("oa")[0].body,
        want,
        "the built-in tool kept, the texts masked"
    );
    let got = events(&text);
    let deltas: String = got
        .iter()
        .filter(|(k, _)| k == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, "Mail [EMAIL] today.");
    let done = got
        .iter()
        .find(|(k, _)| k == "response.output_text.done")
        .unwrap();
    assert_eq!(done.1["text"], "Mail [EMAIL] today.");
    let completed = &got.last().unwrap().1;
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        "Mail [EMAIL] today."
    );
    assert!(!text.contains("example.org"), "{text}");
}

#[tokio::test]
async fn a_provider_key_split_across_passed_through_events_is_masked() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let says = format!("the key is {PROVIDER_KEY} ok");
    for (path, body, provider) in [
        (
            "/v1/messages",
            json!({ "model": "claude", "max_tokens": 50, "stream": true, "messages": [{ "role": "user", "content": "hi" }] }),
            "an",
        ),
        (
            "/v1/responses",
            json!({ "model": "gpt", "input": "hi", "stream": true }),
            "oa",
        ),
    ] {
        mock.push_fault(provider, Fault::Says(says.clone(), 3));
        let text = gw
            .client
            .post(format!("{}{path}", gw.url))
            .header("x-api-key", TEAM_KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let joined: String = events(&text)
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str().or(d["delta"].as_str()))
            .collect();
        assert!(!joined.contains(&PROVIDER_KEY[..12]), "{path}: {joined}");
        assert!(
            joined.starts_with("the key is ") && joined.ends_with(" ok"),
            "{path}: {joined}"
        );
    }
}

#[tokio::test]
async fn responses_reach_openai_as_sent_built_in_tools_and_stored_ids_included() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    let body = json!({ "model": "gpt", "input": "news today?", "store": true,
        "tools": [{ "type": "web_search" }], "include": ["web_search_call.action.sources"],
        "previous_response_id": "resp_kept_at_openai" });
    let r = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchboard-dropped").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "resp_mock");
    assert_eq!(v["output"][0]["type"], "web_search_call");
    let seen = &mock.seen("oa")[0];
    assert_eq!(seen.path, "/v1/responses");
    assert_eq!(seen.body, with_model(&body, "gpt-up"));
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {PROVIDER_KEY}")
    );
    // The Codex fixture, streamed: as sent, and the events as OpenAI sent them.
    let mut codex = fixture("codex_request.json");
    codex["model"] = json!("gpt");
    let r = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&codex)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = events(&r.text().await.unwrap());
    assert_eq!(mock.seen("oa")[1].body, with_model(&codex, "gpt-up"));
    let seq: Vec<u64> = got
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..got.len() as u64).collect::<Vec<_>>());
    assert_eq!(got.last().unwrap().0, "response.completed");
    let m = gw.metrics_text().await;
    let line = r#"gen_ai_client_token_usage_sum{route="gpt",provider="oa",model="gpt-up",gen_ai_token_type="output"} 14"#;
    assert!(metric_line(&m, line), "{line}");
}

#[test]
fn native_apis_are_checked_against_the_adapter() {
    let mock_free = |native: &str, adapter: &str| {
        let text = format!(
            "[providers.p]\nadapter = \"{adapter}\"\nbase_url = \"http://127.0.0.1:1/v1\"\nnative = [{native}]\n"
        );
        switchboard::config::Config::parse(&text, std::path::Path::new("."), &|_| None)
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(mock_free("\"messages\"", "builtin:anthropic"), None);
    assert_eq!(mock_free("\"responses\"", "builtin:openai"), None);
    let e = mock_free("\"messages\"", "builtin:openai").unwrap();
    assert!(e.contains("builtin:anthropic"), "{e}");
    let e = mock_free("\"chat\"", "builtin:openai").unwrap();
    assert!(e.contains("not a native API"), "{e}");
}

async fn bearer_post(gw: &Gw, path: &str, body: &Value) -> reqwest::Response {
    let url = format!("{}{path}", gw.url);
    gw.ask(reqwest::Method::POST, &url, TEAM_KEY, Some(body))
        .await
}

#[tokio::test]
async fn the_rest_of_the_openai_surface_is_forwarded_to_openai_shaped_targets() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    // JSON endpoints: the model set, the key swapped, the answer as it came.
    let r = bearer_post(
        &gw,
        "/v1/moderations",
        &json!({ "model": "moderator", "input": "hi" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "modr-mock");
    let seen = &mock.seen("oa")[0];
    assert_eq!(seen.path, "/v1/moderations");
    assert_eq!(seen.body, json!({ "model": "omni-up", "input": "hi" }));
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {PROVIDER_KEY}")
    );
    let image = json!({ "model": "moderator", "prompt": "a cat", "size": "1024x1024" });
    assert_eq!(
        bearer_post(&gw, "/v1/images/generations", &image)
            .await
            .status(),
        200
    );
    let rerank = json!({ "model": "moderator", "query": "q", "documents": ["a", "b"] });
    assert_eq!(bearer_post(&gw, "/v1/rerank", &rerank).await.status(), 200);
    // Binary speech streams through whole and unchanged.
    let r = bearer_post(
        &gw,
        "/v1/audio/speech",
        &json!({ "model": "tts", "input": "hi", "voice": "alloy" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let audio = r.bytes().await.unwrap();
    assert_eq!(audio.len(), crate::mock::surface::SPEECH_BYTES);
    assert!(audio.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    // A multipart upload: the model field set, the file forwarded byte for byte.
    let file: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
    let mut form = b"--B0und\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--B0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n".to_vec();
    form.extend_from_slice(&file);
    form.extend_from_slice(b"\r\n--B0und--\r\n");
    let r = gw
        .client
        .post(format!("{}/v1/audio/transcriptions", gw.url))
        .bearer_auth(TEAM_KEY)
        .header("content-type", "multipart/form-data; boundary=B0und")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let forwarded = form.len() - "whisper".len() + "whisper-up".len();
    assert_eq!(
        v["text"],
        format!("heard {forwarded} bytes with whisper-up")
    );
    // Usage where the answer states it: images 12 in / 100 out, the transcription 20 / 5.
    let m = gw.metrics_text().await;
    for line in [
        r#"gen_ai_client_token_usage_sum{route="moderator",provider="oa",model="omni-up",gen_ai_token_type="output"} 100"#,
        r#"gen_ai_client_token_usage_sum{route="whisper",provider="compat",model="whisper-up",gen_ai_token_type="input"} 20"#,
    ] {
        assert!(metric_line(&m, line), "{line}");
    }
    // Policies count these requests like any other.
    let limited = json!({ "model": "limited-mod", "input": "x" });
    assert_eq!(
        bearer_post(&gw, "/v1/moderations", &limited).await.status(),
        200
    );
    assert_eq!(
        bearer_post(&gw, "/v1/moderations", &limited).await.status(),
        429
    );
    // A route with no OpenAI-shaped target cannot take them; unknown paths list what is served.
    let r = bearer_post(
        &gw,
        "/v1/moderations",
        &json!({ "model": "claude", "input": "hi" }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        error_message(&v).contains("/v1/moderations has no chat form"),
        "{v}"
    );
    let r = bearer_post(&gw, "/v1/vector_stores", &json!({})).await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(error_message(&v).contains("/v1/audio/speech"), "{v}");
    assert!(
        bearer_post(&gw, "/v1/moderations", &json!({ "input": "hi" }))
            .await
            .status()
            == 400
    );
}

#[tokio::test]
async fn responses_kept_at_openai_belong_to_the_key_that_made_them() {
    use sha2::Digest;
    let mock = Mock::start().await;
    let other = "other-key-0123456789";
    let hash: String = sha2::Sha256::digest(other.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let db = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("owners-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let cfg = format!(
        "[responses]\nsqlite_path = {:?}\n\n[[keys]]\nname = \"other\"\nsha256 = \"{hash}\"\n{CONFIG}\n{PINNED}",
        db.display().to_string()
    );
    let gw = start(&mock, &cfg).await;
    let post = |key: &'static str, body: Value| {
        gw.client
            .post(format!("{}/v1/responses", gw.url))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let r = post(TEAM_KEY, json!({ "model": "gpt", "input": "keep this" }))
        .await
        .unwrap();
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["id"], "resp_mock");
    let url = format!("{}/v1/responses/resp_mock", gw.url);
    // Read through the gateway: forwarded to the provider that keeps it, for its key only.
    let r = gw.ask(reqwest::Method::GET, &url, TEAM_KEY, None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"][0]["content"][0]["text"], "kept at openai");
    let seen = mock.seen("oa");
    assert_eq!(seen.last().unwrap().path, "/v1/responses/resp_mock");
    assert_eq!(
        seen.last().unwrap().headers["authorization"],
        format!("Bearer {PROVIDER_KEY}")
    );
    let before = mock.count("oa");
    let r = gw.ask(reqwest::Method::GET, &url, other, None).await;
    assert_eq!(r.status(), 404, "another key does not see it");
    let r = post(
        other,
        json!({ "model": "gpt", "previous_response_id": "resp_mock", "input": "x" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "nor continue it");
    assert_eq!(mock.count("oa"), before, "neither reached the provider");
    // Continued by its key: at the provider that keeps it, though another comes first.
    let r = post(
        TEAM_KEY,
        json!({ "model": "pinned", "previous_response_id": "resp_mock", "input": "more" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.count("oa2"), 0);
    assert_eq!(
        mock.seen("oa").last().unwrap().body["previous_response_id"],
        "resp_mock"
    );
    // Deleted there; then it is no one's.
    let r = gw.ask(reqwest::Method::DELETE, &url, TEAM_KEY, None).await;
    assert_eq!(r.status(), 200);
    let n = mock.count("oa");
    let r = gw.ask(reqwest::Method::GET, &url, TEAM_KEY, None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(mock.count("oa"), n);
}

/// A route whose first target is another OpenAI account.
const PINNED: &str = r#"
[providers.oa2]
adapter = "builtin:openai"
base_url = "{mock}/oa2/v1"
api_key_env = "PROVIDER_KEY"
native = ["responses"]

[models."pinned"]
strategy = "builtin:priority"
targets = [{ provider = "oa2", model = "gpt-up", priority = 0 }, { provider = "oa", model = "gpt-up", priority = 1 }]
"#;
