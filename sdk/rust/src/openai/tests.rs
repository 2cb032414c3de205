//! The OpenAI format as adapters read and write it.

use super::*;
use crate::testing::request_context;
use crate::types::{AdapterError, RequestContext, SseEvent, TokenUsage};
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

#[test]
fn a_translating_adapters_request_and_answers() {
    use crate::types::{AuthScheme, BodyEdit, Operation, StreamFormat, UpstreamResponse};
    let r = translated_post(
        "/chat",
        AuthScheme::Bearer,
        b"{}".to_vec(),
        StreamFormat::Ndjson,
    );
    assert_eq!((r.path.as_str(), r.translate_response), ("/chat", true));
    assert!(r.query.is_empty() && r.headers.is_empty());
    assert!(matches!(r.body, BodyEdit::Replace(ref b) if b == b"{}"));
    assert!(matches!(r.auth, AuthScheme::Bearer));
    assert_eq!(r.stream_format, StreamFormat::Ndjson);
    let r = forwarded_post("/embeddings", AuthScheme::Bearer, BodyEdit::Keep);
    assert_eq!(
        (r.path.as_str(), r.translate_response),
        ("/embeddings", false)
    );
    assert!(r.query.is_empty() && r.headers.is_empty());
    assert!(matches!(r.body, BodyEdit::Keep));
    assert_eq!(r.stream_format, StreamFormat::Sse);

    assert_eq!(provider_json(b"[1]", "P").unwrap(), json!([1]));
    let e = provider_json(b"{", "P").unwrap_err();
    assert_eq!(e.status, 502);
    assert!(
        e.message.starts_with("P answered invalid JSON: "),
        "{}",
        e.message
    );

    let mut ctx = request_context("r", "p", "m");
    ctx.operation = Operation::Embeddings;
    let ok = |body: &[u8]| UpstreamResponse {
        status: 200,
        headers: Vec::new(),
        body: body.to_vec(),
    };
    let chat = |_: &RequestContext, _: &[u8]| -> Result<(Vec<u8>, TokenUsage), AdapterError> {
        panic!("an embeddings request is not read as a chat answer")
    };
    let list = |c: &RequestContext, b: &[u8]| -> Result<(Vec<u8>, TokenUsage), AdapterError> {
        let v = provider_json(b, "P")?;
        translated_embeddings(c, v.get("data"), 4, "P")
    };
    let a = answered_by_operation(&ctx, ok(br#"{"data":[[0.5]]}"#), chat, list).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&a.body.unwrap()).unwrap();
    assert_eq!(body["data"][0]["embedding"], json!([0.5]));
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(a.usage.unwrap().prompt_tokens, 4);
    let mut failed = ok(br#"{"message":"no"}"#);
    failed.status = 404;
    let e = answered_by_operation(&ctx, failed, chat, list).unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (404, "no"));
}

#[test]
fn an_answer_with_its_usage_and_a_response_format_read_alone() {
    let ctx = request_context("r", "p", "m");
    let a = Answer {
        id: "x".into(),
        model: "m".into(),
        text: "hi".into(),
        tool_calls: Vec::new(),
        finish: Finish::Stop,
        usage: Usage {
            prompt: 3,
            completion: 2,
            cached: 1,
        },
    };
    let (body, usage) = answer_with_usage(&ctx, &a);
    assert_eq!(body, answer(&ctx, &a));
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_prompt_tokens
        ),
        (3, 2, 1)
    );
    assert_eq!(parse_response_format(None).unwrap(), ResponseFormat::Text);
    let f = json!({ "type": "json_schema", "json_schema": { "schema": { "type": "object" } } });
    assert_eq!(
        parse_response_format(Some(&f)).unwrap(),
        ResponseFormat::JsonSchema {
            name: "output".into(),
            schema: json!({ "type": "object" })
        }
    );
    let e = parse_response_format(Some(&json!({ "type": "json_schema" }))).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("response_format"));
}

/// A provider whose every event is text, and whose `end` event finishes the answer.
struct Echo;

impl UpstreamEvents for Echo {
    const PROVIDER: &'static str = "Echo";

    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError> {
        e.writer.text(&e.event.data, e.out);
        if e.event.event.as_deref() == Some("end") {
            e.writer.finish(Finish::Stop, e.out);
        }
        Ok(())
    }
}

#[test]
fn a_translated_stream_writes_each_event_and_checks_its_end() {
    use crate::adapter::StreamTranslator;
    let ev = |event: Option<&str>, data: &str| SseEvent {
        event: event.map(str::to_string),
        data: data.to_string(),
    };
    let cut = <TranslatedStream<Echo> as StreamTranslator>::new(request_context("r", "p", "m"));
    assert_eq!(cut.on_event(ev(None, "hi")).unwrap().events.len(), 1);
    let e = cut.finish().unwrap_err();
    assert_eq!(e.status, 502);
    assert!(
        e.message.starts_with("Echo's stream ended"),
        "{}",
        e.message
    );
    let whole = <TranslatedStream<Echo> as StreamTranslator>::new(request_context("r", "p", "m"));
    assert!(
        whole
            .on_event(ev(Some("end"), "hi"))
            .unwrap()
            .usage
            .is_none()
    );
    let end = whole.finish().unwrap();
    assert_eq!(end.events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    assert!(end.usage.is_some(), "a complete stream tells its usage");
}

#[test]
fn turns_alternate() {
    let mut turns = Vec::new();
    push_turn(&mut turns, "user", "parts", vec![json!({ "text": "a" })]);
    push_turn(&mut turns, "user", "parts", vec![json!({ "text": "b" })]);
    push_turn(&mut turns, "model", "parts", Vec::new());
    push_turn(&mut turns, "model", "parts", vec![json!({ "text": "c" })]);
    assert_eq!(
        serde_json::Value::Array(turns),
        json!([
            { "role": "user", "parts": [{ "text": "a" }, { "text": "b" }] },
            { "role": "model", "parts": [{ "text": "c" }] },
        ])
    );
}
