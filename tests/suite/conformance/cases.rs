//! The cases every adapter passes on whole answers: text, system prompt and turns,
//! parallel tool calls, tool results, unicode, embeddings, stop reasons, and an
//! Anthropic client on the same route.

use super::{Adapter, gateway, weather_tools, wire};
use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

pub async fn text_answer(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("hello") }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "p says: hello");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["total_tokens"], 18);
    if let Some(cached) = a.cached() {
        assert_eq!(
            v["usage"]["prompt_tokens_details"]["cached_tokens"], cached,
            "{v}"
        );
    }
    wire::text_request(a, &mock.seen("p")[0]);
    if !matches!(a, Adapter::OpenAi | Adapter::Azure) {
        let (status, v) = gw
            .chat(&json!({ "model": "m", "messages": user("x"), "n": 2 }))
            .await;
        assert_eq!(status, 400, "one choice only: {v}");
        assert_eq!(v["error"]["param"], "n");
        assert_eq!(mock.count("p"), 1, "refused before the provider");
    }
}

pub async fn system_prompt_and_turns(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let messages = json!([
        { "role": "system", "content": "Be brief." },
        { "role": "user", "content": "first" },
        { "role": "assistant", "content": "answer" },
        { "role": "user", "content": [{ "type": "text", "text": "second" }] },
    ]);
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": messages, "max_tokens": 50, "stop": "END", "temperature": 0.2 })).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "p says: second");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    wire::turns(a, &mock.seen("p")[0].body, &messages);
}

pub async fn parallel_tool_calls(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": user("weather?"), "tools": weather_tools(), "tool_choice": "auto" })).await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    // ERNIE (Qianfan's legacy API) calls one function a turn.
    let want: &[&str] = if a == Adapter::Qianfan {
        &["Paris"]
    } else {
        &["Paris", "Oslo"]
    };
    assert_eq!(calls.len(), want.len(), "{v}");
    let cities: Vec<Value> = calls
        .iter()
        .map(|c| {
            serde_json::from_str::<Value>(c["function"]["arguments"].as_str().unwrap()).unwrap()
                ["city"]
                .clone()
        })
        .collect();
    assert_eq!(cities, want.iter().map(|c| json!(c)).collect::<Vec<_>>());
    let ids: std::collections::BTreeSet<&str> =
        calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), want.len(), "every call has its own id: {v}");
    for c in calls {
        assert_eq!(c["type"], "function");
        assert_eq!(c["function"]["name"], "get_weather");
        assert!(c["id"].as_str().is_some_and(|s| !s.is_empty()));
    }
    wire::tools(a, &mock.seen("p")[0].body);
}

pub async fn tool_results_round_trip(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let messages = json!([
        { "role": "user", "content": "weather in Paris and Oslo?" },
        { "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } },
            { "id": "call_2", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}" } },
        ]},
        { "role": "tool", "tool_call_id": "call_1", "content": "sunny" },
        { "role": "tool", "tool_call_id": "call_2", "content": "{\"sky\":\"snow\"}" },
    ]);
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": messages, "tools": weather_tools(), "parallel_tool_calls": false })).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"]["tool_calls"].is_null(), "{v}");
    wire::tool_results(a, &mock.seen("p")[0].body);
}

/// Text outside ASCII, quotes and escapes arrive and come back unchanged.
pub async fn unicode_round_trip(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let text = "naïve café 世界 🚀 \"quoted\" back\\slash\ttab";
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user(text) }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        format!("p says: {text}")
    );
    let (status, lines) = gw
        .chat_stream(&json!({ "model": "m", "messages": user(text), "stream": true }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(super::assemble(&lines).0, format!("p says: {text}"));
}

pub async fn embeddings(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let r = gw
        .post(
            "/v1/embeddings",
            &json!({ "model": "m", "input": ["one", "two three"] }),
        )
        .await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    if !a.embeddings() {
        assert_eq!(status, 400, "{v}");
        assert!(error_message(&v).contains("embeddings"), "{v}");
        assert_eq!(mock.count("p"), 0);
        return;
    }
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{v}");
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["index"], i);
        assert!(
            d["embedding"]
                .as_array()
                .is_some_and(|e| !e.is_empty() && e.iter().all(Value::is_number)),
            "{v}"
        );
    }
    wire::embeddings(a, &mock.seen("p")[0]);
    if matches!(a, Adapter::OpenAi | Adapter::Azure) {
        return; // the provider encodes what it was asked to
    }
    // OpenAI's SDKs ask for base64 by default: the host encodes the adapter's numbers.
    let r = gw
        .post(
            "/v1/embeddings",
            &json!({ "model": "m", "input": ["one", "two three"], "encoding_format": "base64" }),
        )
        .await;
    let b: Value = r.json().await.unwrap();
    for (d, e) in data.iter().zip(b["data"].as_array().unwrap()) {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["embedding"].as_str().expect("base64 text"))
            .unwrap();
        let floats: Vec<f64> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect();
        let numbers: Vec<f64> = d["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32 as f64)
            .collect();
        assert_eq!(floats, numbers, "{b}");
    }
}

/// A limit reached is `length`; for providers that say so, a stop sequence is `stop`.
pub async fn stop_reasons(a: Adapter) {
    if matches!(
        a.like(),
        Adapter::OpenAi | Adapter::Azure | Adapter::Anthropic
    ) {
        return; // OpenAI's own reasons are forwarded; Anthropic's are unit-tested.
    }
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    if a == Adapter::Hunyuan {
        // ChatCompletions has no token-limit field: max_tokens is not sent, and the
        // reference's FinishReasons are stop, sensitive and tool_calls.
        let (status, v) = gw
            .chat(&json!({ "model": "m", "messages": user("long"), "max_tokens": 2 }))
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
        assert!(mock.seen("p")[0].body.get("MaxTokens").is_none());
        let (_, v) = gw
            .chat(&json!({ "model": "m", "messages": user("x"), "stop": ["END"] }))
            .await;
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
        assert_eq!(mock.seen("p")[1].body["Stop"], json!(["END"]));
        return;
    }
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("long"), "max_tokens": 2 }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    let (_, lines) = gw
        .chat_stream(
            &json!({ "model": "m", "messages": user("long"), "max_tokens": 2, "stream": true }),
        )
        .await;
    assert_eq!(super::assemble(&lines).2.as_deref(), Some("length"));
    let (_, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "stop": ["END"] }))
        .await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
}

/// An Anthropic client on the same route: `/v1/messages` in, this adapter out.
pub async fn through_messages_api(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let body = json!({ "model": "m", "max_tokens": 100, "system": "Be brief.", "messages": [{ "role": "user", "content": "hi" }] });
    let r = gw.post("/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["content"][0]["text"], "p says: hi", "{v}");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["output_tokens"], 7);
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let r = gw.post("/v1/messages", &stream).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let said: String = data_lines(&text)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "content_block_delta")
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(said, "p says: hi", "{text}");
    assert!(text.contains("message_stop"), "{text}");
}

/// An image (as a `data:` URL) and a JSON answer asked for reach the provider in its
/// own terms; a provider that cannot carry one refuses with the field named.
pub async fn images_and_json_output(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let image = "data:image/png;base64,iVBORw0KGgo=";
    if a == Adapter::Qianfan {
        return qianfan_refusals(&mock, &gw, image).await;
    }
    let (status, v) = gw
        .chat(
            &json!({ "model": "m", "messages": [{ "role": "user", "content": [
                { "type": "text", "text": "what is this?" },
                { "type": "image_url", "image_url": { "url": image } },
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    wire::image(a, &mock.seen("p")[0].body);
    if a == Adapter::DashScope {
        assert_eq!(mock.seen("p")[0].path, crate::mock::dashscope::MULTIMODAL);
    }
    let schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"),
            "response_format": { "type": "json_schema", "json_schema": { "name": "out", "schema": schema } } }))
        .await;
    if matches!(a.like(), Adapter::Bedrock | Adapter::Hunyuan) {
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["param"], "response_format");
        return;
    }
    assert_eq!(status, 200, "{v}");
    wire::json_output(a, &mock.seen("p")[1].body, &schema);
}

/// ERNIE's legacy chat takes text only, and JSON output without a schema.
async fn qianfan_refusals(mock: &Mock, gw: &Gw, image: &str) {
    let (status, v) = gw
        .chat(
            &json!({ "model": "m", "messages": [{ "role": "user", "content": [
                { "type": "text", "text": "what is this?" },
                { "type": "image_url", "image_url": { "url": image } },
            ]}]}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "messages[0]");
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"),
            "response_format": { "type": "json_schema", "json_schema": { "name": "out", "schema": {} } } }))
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "response_format");
    assert_eq!(mock.count("p"), 0, "refused before the provider");
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("in JSON"), "response_format": { "type": "json_object" } }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(mock.seen("p")[0].body["response_format"], "json_object");
}
