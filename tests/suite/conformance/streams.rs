//! The cases every adapter passes on streams: text with the usage chunk, tool-call
//! deltas, and a stream cut after each of its events never passing for a whole one.

use super::{Adapter, assemble, gateway, weather_tools};
use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::json;

pub async fn streamed_text_with_usage(a: Adapter) {
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
    if let Some(cached) = a.cached() {
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], cached);
    }

    // Without include_usage there is no usage chunk.
    let (_, lines) = gw
        .chat_stream(&json!({ "model": "m", "messages": user("x"), "stream": true }))
        .await;
    assert!(assemble(&lines).3.is_none(), "{lines:?}");
    // The tokens were counted all the same (7 output tokens for each of the two).
    let m = gw.metrics_text().await;
    let output_sum = m
        .lines()
        .find(|l| {
            l.starts_with("gen_ai_client_token_usage_sum{")
                && l.contains("gen_ai_token_type=\"output\"")
        })
        .unwrap_or_default();
    assert!(output_sum.ends_with(" 14"), "{m}");
}

pub async fn streamed_tool_calls(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let (status, lines) = gw.chat_stream(&json!({ "model": "m", "messages": user("weather?"), "tools": weather_tools(), "stream": true })).await;
    assert_eq!(status, 200);
    let (_, tools, finish, _) = assemble(&lines);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    // ERNIE (Qianfan's legacy API) calls one function a turn.
    let cities: &[&str] = if a == Adapter::Qianfan {
        &["Paris"]
    } else {
        &["Paris", "Oslo"]
    };
    assert_eq!(tools.len(), cities.len(), "{lines:?}");
    for (t, city) in tools.iter().zip(cities) {
        assert_eq!(t["name"], "get_weather");
        assert!(t["id"].as_str().is_some_and(|s| !s.is_empty()));
        let args: serde_json::Value =
            serde_json::from_str(t["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({ "city": city }));
    }
}

/// The upstream breaks after each of its events in turn: the client never gets a
/// stream that looks whole (`[DONE]` after a finish reason), until the cut comes
/// after the last event.
pub async fn stream_cut_at_every_event(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    let req = json!({ "model": "m", "messages": user("a b c d"), "stream": true, "stream_options": { "include_usage": true } });
    let mut whole_at = None;
    for n in 0..40 {
        mock.push_fault("p", Fault::CutAfter(n));
        let r = gw.post("/v1/chat/completions", &req).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let lines = data_lines(&text);
        let whole = status == 200 && lines.last().map(String::as_str) == Some("[DONE]");
        if whole {
            assert_eq!(
                assemble(&lines).0,
                "p says: a b c d",
                "cut after {n}: {text}"
            );
            whole_at = Some(n);
            break;
        }
        // Before the answer started: an error in OpenAI's shape; after: an error event.
        if status == 200 {
            assert!(text.contains("\"error\""), "cut after {n} events: {text}");
        } else {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            error_message(&v);
        }
    }
    let whole_at = whole_at.expect("a cut after the last event leaves the stream whole");
    assert!(whole_at >= 3, "the stream has several events: {whole_at}");
}
