//! The adapter conformance suite: every provider adapter must pass every case.
//! Each case runs the real gateway with the adapter component against the mock
//! speaking that provider's wire format, and checks what the client got (always
//! OpenAI's format) and, where the formats differ, what the provider received.

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Adapter {
    OpenAi,
    Anthropic,
}

async fn gateway(mock: &Mock, adapter: Adapter) -> Gw {
    let builtin = match adapter {
        Adapter::OpenAi => "builtin:openai",
        Adapter::Anthropic => "builtin:anthropic",
    };
    start(mock, &format!(
        "[providers.p]\nadapter = \"{builtin}\"\nbase_url = \"{{mock}}/p/v1\"\napi_key_env = \"PROVIDER_KEY\"\n\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"upstream-model\" }}]\n"
    ))
    .await
}

fn weather_tools() -> Value {
    json!([{ "type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] }
    }}])
}

/// Re-assembles streamed chunks: (text, tool calls by index, finish reason, usage).
fn assemble(lines: &[String]) -> (String, Vec<Value>, Option<String>, Option<Value>) {
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

async fn text_answer(a: Adapter) {
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
    let seen = &mock.seen("p")[0];
    assert_eq!(seen.body["model"], "upstream-model");
    match a {
        Adapter::OpenAi => assert_eq!(
            seen.headers["authorization"],
            format!("Bearer {PROVIDER_KEY}").as_str()
        ),
        Adapter::Anthropic => {
            assert_eq!(seen.path, "/v1/messages");
            assert_eq!(seen.headers["x-api-key"], PROVIDER_KEY);
            assert!(seen.headers.get("authorization").is_none());
            assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
            assert_eq!(
                seen.body["max_tokens"], 4096,
                "Anthropic needs max_tokens: the default is sent"
            );
        }
    }
}

async fn system_prompt_and_turns(a: Adapter) {
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
    let body = &mock.seen("p")[0].body;
    match a {
        Adapter::OpenAi => assert_eq!(body["messages"], messages),
        Adapter::Anthropic => {
            assert_eq!(
                body["system"],
                json!([{ "type": "text", "text": "Be brief." }])
            );
            let roles: Vec<&str> = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["user", "assistant", "user"]);
            assert_eq!(body["max_tokens"], 50);
            assert_eq!(body["stop_sequences"], json!(["END"]));
            assert_eq!(body["temperature"], 0.2);
        }
    }
}

async fn parallel_tool_calls(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": user("weather?"), "tools": weather_tools(), "tool_choice": "auto" })).await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    let cities: Vec<Value> = calls
        .iter()
        .map(|c| {
            serde_json::from_str::<Value>(c["function"]["arguments"].as_str().unwrap()).unwrap()
                    ["city"]
                    .clone()
        })
        .collect();
    assert_eq!(cities, [json!("Paris"), json!("Oslo")]);
    for c in calls {
        assert_eq!(c["type"], "function");
        assert_eq!(c["function"]["name"], "get_weather");
        assert!(c["id"].as_str().is_some_and(|s| !s.is_empty()));
    }
    if a == Adapter::Anthropic {
        let body = &mock.seen("p")[0].body;
        assert_eq!(body["tools"][0]["name"], "get_weather");
        assert_eq!(
            body["tools"][0]["input_schema"]["required"],
            json!(["city"])
        );
        assert_eq!(body["tool_choice"], json!({ "type": "auto" }));
    }
}

async fn tool_results_round_trip(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let messages = json!([
        { "role": "user", "content": "weather in Paris and Oslo?" },
        { "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } },
            { "id": "call_2", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}" } },
        ]},
        { "role": "tool", "tool_call_id": "call_1", "content": "sunny" },
        { "role": "tool", "tool_call_id": "call_2", "content": "snow" },
    ]);
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": messages, "tools": weather_tools(), "parallel_tool_calls": false })).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    if a == Adapter::Anthropic {
        let body = &mock.seen("p")[0].body;
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(
            msgs.len(),
            3,
            "the two tool results merge into one user turn: {body}"
        );
        assert_eq!(
            msgs[1]["content"][0],
            json!({ "type": "tool_use", "id": "call_1", "name": "get_weather", "input": { "city": "Paris" } })
        );
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(
            msgs[2]["content"][1],
            json!({ "type": "tool_result", "tool_use_id": "call_2", "content": "snow" })
        );
        assert_eq!(body["tool_choice"]["disable_parallel_tool_use"], true);
    }
}

async fn streamed_text_with_usage(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (status, lines) = gw.chat_stream(&json!({ "model": "m", "messages": user("one two three"), "stream": true, "stream_options": { "include_usage": true } })).await;
    assert_eq!(status, 200);
    let (text, tools, finish, usage) = assemble(&lines);
    assert_eq!(text, "p says: one two three");
    assert!(tools.is_empty());
    assert_eq!(finish.as_deref(), Some("stop"));
    let usage = usage.expect("a usage chunk was asked for");
    assert_eq!(usage["prompt_tokens"], 11);
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(usage["total_tokens"], 18);

    // Without include_usage there is no usage chunk.
    let (_, lines) = gw
        .chat_stream(&json!({ "model": "m", "messages": user("x"), "stream": true }))
        .await;
    assert!(assemble(&lines).3.is_none());
}

async fn streamed_tool_calls(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (status, lines) = gw.chat_stream(&json!({ "model": "m", "messages": user("weather?"), "tools": weather_tools(), "stream": true })).await;
    assert_eq!(status, 200);
    let (_, tools, finish, _) = assemble(&lines);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert_eq!(tools.len(), 2, "{lines:?}");
    for (t, city) in tools.iter().zip(["Paris", "Oslo"]) {
        assert_eq!(t["name"], "get_weather");
        assert!(t["id"].as_str().is_some_and(|s| !s.is_empty()));
        let args: Value = serde_json::from_str(t["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({ "city": city }));
    }
}

async fn provider_errors(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (bad_request, overloaded) = match a {
        Adapter::OpenAi => (
            r#"{"error":{"message":"context too long","type":"invalid_request_error","param":"messages"}}"#,
            r#"{"error":{"message":"try later","type":"rate_limit_error"}}"#,
        ),
        Adapter::Anthropic => (
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"context too long"}}"#,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"try later"}}"#,
        ),
    };
    mock.push_fault("p", Fault::Status(400, bad_request.into()));
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_message(&v), "context too long");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    mock.push_fault("p", Fault::Status(429, overloaded.into()));
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert_eq!(status, 429);
    assert!(error_message(&v).contains("try later"), "{v}");

    // The same for a stream request: the error comes before any byte, as JSON.
    mock.push_fault("p", Fault::Status(400, bad_request.into()));
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "m", "messages": user("x"), "stream": true }),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_message(&r.json().await.unwrap()), "context too long");
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod openai {
            $( #[tokio::test] async fn $case() { super::$case(super::Adapter::OpenAi).await } )*
        }
        mod anthropic {
            $( #[tokio::test] async fn $case() { super::$case(super::Adapter::Anthropic).await } )*
        }
    };
}

conformance!(
    text_answer,
    system_prompt_and_turns,
    parallel_tool_calls,
    tool_results_round_trip,
    streamed_text_with_usage,
    streamed_tool_calls,
    provider_errors,
);

#[tokio::test]
async fn anthropic_refuses_what_it_cannot_translate() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, Adapter::Anthropic).await;
    let r = gw
        .post("/v1/embeddings", &json!({ "model": "m", "input": "x" }))
        .await;
    assert_eq!(r.status(), 400);
    assert!(error_message(&r.json().await.unwrap()).contains("embeddings"));
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "n": 2 }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "n");
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": [{ "role": "assistant", "content": "x", "tool_calls": [{ "id": "c", "type": "function", "function": { "name": "f", "arguments": "{broken" } }] }] })).await;
    assert_eq!(status, 400);
    assert!(error_message(&v).contains("arguments"));
    assert_eq!(mock.count("p"), 0);
}

/// Chat → Anthropic: a JSON schema becomes Anthropic's structured output, a reasoning
/// effort a thinking budget inside `max_tokens` (sampling changes are not sent with it).
#[tokio::test]
async fn anthropic_gets_structured_output_and_thinking() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, Adapter::Anthropic).await;
    let schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let (status, v) = gw
        .chat(&json!({
            "model": "m", "messages": user("x"), "max_tokens": 16000, "temperature": 0.2,
            "reasoning_effort": "medium",
            "response_format": { "type": "json_schema", "json_schema": { "name": "out", "schema": schema } },
        }))
        .await;
    assert_eq!(status, 200, "{v}");
    let body = &mock.seen("p")[0].body;
    assert_eq!(
        body["output_config"],
        json!({ "format": { "type": "json_schema", "schema": schema } })
    );
    assert_eq!(
        body["thinking"],
        json!({ "type": "enabled", "budget_tokens": 8000 }),
        "at most half of max_tokens"
    );
    assert!(body.get("temperature").is_none(), "{body}");
    // A tool loop: Anthropic would want earlier thinking blocks the chat form does not
    // carry, so no thinking.
    let (status, _) = gw
        .chat(&json!({ "model": "m", "max_tokens": 16000, "reasoning_effort": "high", "messages": [
            { "role": "user", "content": "w?" },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "get_weather", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "c1", "content": "18C" },
        ]}))
        .await;
    assert_eq!(status, 200);
    assert!(mock.seen("p")[1].body.get("thinking").is_none());
    mock.reset();
    // A budget that does not fit: no thinking rather than a refused request.
    let (status, _) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "max_tokens": 500, "reasoning_effort": "high", "response_format": { "type": "json_object" } }))
        .await;
    assert_eq!(status, 200);
    let body = &mock.seen("p")[0].body;
    assert!(body.get("thinking").is_none(), "{body}");
    assert_eq!(
        body["output_config"]["format"]["schema"],
        json!({ "type": "object" })
    );
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "reasoning_effort": "extreme" }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "reasoning_effort");
}
