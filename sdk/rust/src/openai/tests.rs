//! The OpenAI format as adapters read and write it.

use super::*;
use crate::testing::request_context;
use serde_json::json;

#[test]
fn a_request_is_read_into_typed_parts() {
    let body = json!({
        "model": "m", "max_tokens": 5, "max_completion_tokens": 9, "stop": "END", "temperature": 0.5,
        "messages": [
            { "role": "developer", "content": "Be brief." },
            { "role": "user", "content": [{ "type": "text", "text": "hi " }, { "type": "image_url", "image_url": { "url": "data:image/png;base64,AAA" } }] },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "f", "arguments": "{\"a\":1}" } }] },
            { "role": "tool", "tool_call_id": "c1", "content": "ok" },
        ],
        "tools": [{ "type": "function", "function": { "name": "f" } }],
        "tool_choice": { "type": "function", "function": { "name": "f" } },
        "parallel_tool_calls": false,
        "response_format": { "type": "json_schema", "json_schema": { "name": "o", "schema": { "type": "object" } } },
    });
    let r = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(r.max_tokens, Some(9));
    assert_eq!(r.stop, ["END"]);
    assert_eq!(r.system_text().as_deref(), Some("Be brief."));
    assert_eq!(
        r.messages[1].content[1],
        Part::Image("data:image/png;base64,AAA".into())
    );
    assert_eq!(
        Part::image_data("data:image/png;base64,AAA"),
        Some(("image/png", "AAA"))
    );
    assert_eq!(r.messages[2].tool_calls[0].arguments, json!({ "a": 1 }));
    assert_eq!(r.tool_name("c1"), Some("f"));
    assert_eq!(r.tools[0].parameters["type"], "object");
    assert_eq!(r.tool_choice, ToolChoice::Function("f".into()));
    assert!(!r.parallel_tool_calls);
    assert!(matches!(
        r.response_format,
        ResponseFormat::JsonSchema { .. }
    ));
}

#[test]
fn what_would_mislead_a_provider_is_refused_by_field() {
    let bad = |b: serde_json::Value| parse(b.to_string().as_bytes()).unwrap_err();
    let e = bad(
        json!({ "messages": [{ "role": "assistant", "tool_calls": [{ "id": "c", "function": { "name": "f", "arguments": "{x" } }] }] }),
    );
    assert_eq!(e.param.as_deref(), Some("messages[0].tool_calls[0]"));
    let e = bad(json!({ "messages": [{ "role": "robot", "content": "x" }] }));
    assert_eq!(e.param.as_deref(), Some("messages[0]"));
    let e = bad(json!({ "messages": [{ "role": "tool", "content": "x" }] }));
    assert!(e.message.contains("tool_call_id"));
    let e = bad(json!({ "messages": [], "tools": [{ "type": "function", "function": {} }] }));
    assert_eq!(e.param.as_deref(), Some("tools[0]"));
    let e = bad(json!({ "messages": [], "temperature": "hot" }));
    assert_eq!(e.param.as_deref(), Some("temperature"));
    assert_eq!(parse(b"{").unwrap_err().status, 400);
    assert!(parse_embeddings(br#"{"input":[[1,2]]}"#).is_err());
    assert_eq!(
        parse_embeddings(br#"{"input":"x","encoding_format":"base64"}"#)
            .unwrap()
            .inputs,
        ["x"]
    );
}

#[test]
fn a_stream_is_written_in_openais_order() {
    let mut ctx = request_context("r", "p", "m");
    ctx.include_usage = true;
    let mut w = ChunkWriter::new(&ctx);
    let mut out = Vec::new();
    w.text("", &mut out);
    assert!(out.is_empty(), "nothing to say is no chunk");
    w.text("hé", &mut out);
    let i = w.tool_start("c1", "f", &mut out);
    w.tool_arguments(i, "{}", &mut out);
    w.finish(Finish::ToolCalls, &mut out);
    w.finish(Finish::Stop, &mut out);
    w.usage = Usage {
        prompt: 3,
        completion: 2,
        cached: 1,
    };
    assert!(
        w.token_usage().is_none(),
        "usage is told once the stream is complete"
    );
    w.close(&mut out);
    w.close(&mut out);
    let data: Vec<&str> = out.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data.len(), 6, "{data:?}");
    let first: serde_json::Value = serde_json::from_str(data[0]).unwrap();
    assert_eq!(
        first["choices"][0]["delta"],
        json!({ "role": "assistant", "content": "hé" })
    );
    let fin: serde_json::Value = serde_json::from_str(data[3]).unwrap();
    assert_eq!(fin["choices"][0]["finish_reason"], "tool_calls");
    let usage: serde_json::Value = serde_json::from_str(data[4]).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 5);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
    assert_eq!(data[5], "[DONE]");
    assert_eq!(w.token_usage().unwrap().prompt_tokens, 3);
}

#[test]
fn answers_and_errors() {
    let ctx = request_context("r", "p", "m");
    let a = Answer {
        id: "x".into(),
        model: "m".into(),
        text: String::new(),
        tool_calls: vec![("c".into(), "f".into(), "{}".into())],
        finish: Finish::ToolCalls,
        usage: Usage {
            prompt: 1,
            completion: 1,
            cached: 0,
        },
    };
    let v: serde_json::Value = serde_json::from_slice(&answer(&ctx, &a)).unwrap();
    assert!(v["choices"][0]["message"]["content"].is_null());
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "f"
    );
    let e = upstream_error(
        429,
        br#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!((e.status, e.message.as_str()), (429, "slow down"));
    assert!(matches!(e.kind, crate::types::ErrorKind::RateLimit));
    assert_eq!(
        upstream_error(404, br#"{"error":"model 'x' not found"}"#).message,
        "model 'x' not found"
    );
    assert_eq!(upstream_error(400, br#"{"message":"bad"}"#).message, "bad");
    assert!(upstream_error(500, b"").message.contains("500"));
    let e: serde_json::Value =
        serde_json::from_slice(&embeddings_answer(&ctx, &[vec![1.0]], 2)).unwrap();
    assert_eq!(e["data"][0]["embedding"], json!([1.0]));
    assert_eq!(e["usage"]["prompt_tokens"], 2);
}
