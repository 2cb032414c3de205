//! Every upstream framing (SSE, NDJSON, AWS eventstream), fed the mock providers'
//! real streams split at every byte boundary, one byte at a time, and cut at every
//! byte: the same events as the whole stream, or, when cut, a prefix of them.

use crate::mock::{
    anthropic, bedrock, cohere, dashscope, gemini, hunyuan, ollama, openai, qianfan,
};
use serde_json::{Value, json};
use switchboard::types::{SseEvent, StreamFormat};
use switchboard::upstream::framing::Framer;

pub fn decode(format: StreamFormat, chunks: &[&[u8]], finish: bool) -> Vec<SseEvent> {
    let mut f = Framer::new(format);
    let mut out = Vec::new();
    for c in chunks {
        f.push(c, &mut out).expect("a whole stream frames");
    }
    if finish {
        f.finish(&mut out).expect("a whole stream ends cleanly");
    }
    out
}

/// (name, format, bytes) of each provider's stream, with tool calls and without.
pub fn streams() -> Vec<(&'static str, StreamFormat, Vec<u8>)> {
    let pieces: Vec<String> = ["p ", "says: ", "héllo ", "世界 🚀"]
        .map(String::from)
        .to_vec();
    let text = json!({ "model": "m", "messages": [{ "role": "user", "content": "x" }], "stream": true,
        "stream_options": { "include_usage": true } });
    let tools = {
        let mut t = text.clone();
        t["tools"] = crate::conformance::weather_tools();
        t
    };
    let gemini_req = |tools: bool| {
        let mut r = json!({ "contents": [{ "role": "user", "parts": [{ "text": "x" }] }] });
        if tools {
            r["tools"] = json!([{ "functionDeclarations": [{ "name": "get_weather" }] }]);
        }
        r
    };
    let bedrock_req = |tools: bool| {
        let mut r = json!({ "messages": [{ "role": "user", "content": [{ "text": "x" }] }] });
        if tools {
            r["toolConfig"] = json!({ "tools": [{ "toolSpec": { "name": "get_weather", "inputSchema": { "json": {} } } }] });
        }
        r
    };
    let hunyuan_req = |tools: bool| {
        let mut r = json!({ "Model": "m", "Messages": [{ "Role": "user", "Content": "x" }], "Stream": true });
        if tools {
            r["Tools"] = json!([{ "Type": "function",
                "Function": { "Name": "get_weather", "Parameters": "{\"type\":\"object\"}" } }]);
        }
        r
    };
    let dashscope_req = |tools: bool| {
        let mut r = json!({ "model": "m", "input": { "messages": [{ "role": "user", "content": "x" }] },
            "parameters": { "result_format": "message", "incremental_output": true } });
        if tools {
            r["parameters"]["tools"] = crate::conformance::weather_tools();
        }
        r
    };
    let qianfan_req = |tools: bool| {
        let mut r = json!({ "messages": [{ "role": "user", "content": "x" }], "stream": true });
        if tools {
            r["functions"] = json!([{ "name": "get_weather", "description": "Weather for a city", "parameters": {} }]);
        }
        r
    };
    let join = |v: Vec<Vec<u8>>| v.concat();
    let strings = |v: Vec<String>| v.concat().into_bytes();
    let mut out = Vec::new();
    for (req, with_tools) in [(&text, false), (&tools, true)] {
        let anthropic_req = {
            let mut r: Value = req.clone();
            r["max_tokens"] = json!(100);
            r
        };
        out.push((
            "openai",
            StreamFormat::Sse,
            strings(openai::stream(req, &pieces)),
        ));
        out.push((
            "anthropic",
            StreamFormat::Sse,
            strings(anthropic::stream(&anthropic_req, &pieces).unwrap()),
        ));
        let mut cohere_req = req.clone();
        cohere_req.as_object_mut().unwrap().remove("stream_options");
        out.push((
            "cohere",
            StreamFormat::Sse,
            join(cohere::stream(&cohere_req, &pieces).unwrap()),
        ));
        out.push((
            "ollama",
            StreamFormat::Ndjson,
            join(ollama::stream(req, &pieces).unwrap()),
        ));
        out.push((
            "gemini",
            StreamFormat::Sse,
            join(gemini::stream(&gemini_req(with_tools), &pieces).unwrap()),
        ));
        out.push((
            "bedrock",
            StreamFormat::AwsEventstream,
            join(bedrock::stream(&bedrock_req(with_tools), &pieces).unwrap()),
        ));
        out.push((
            "hunyuan",
            StreamFormat::Sse,
            join(hunyuan::stream(&hunyuan_req(with_tools), &pieces).unwrap()),
        ));
        out.push((
            "dashscope",
            StreamFormat::Sse,
            join(dashscope::stream(&dashscope_req(with_tools), &pieces, false).unwrap()),
        ));
        // Framed here as SSE (each event's data is JSON, as this test wants); the adapter
        // asks the host for lines, since Qianfan sends an error in a stream as a bare
        // JSON line. Its translator reads both framings.
        out.push((
            "qianfan",
            StreamFormat::Sse,
            join(qianfan::stream(&qianfan_req(with_tools), &pieces).unwrap()),
        ));
    }
    out
}

#[test]
fn every_framing_decodes_the_same_however_a_stream_is_split() {
    for (name, format, bytes) in streams() {
        let whole = decode(format, &[&bytes], true);
        assert!(whole.len() >= 2, "{name}: {whole:?}");
        for e in &whole {
            // Each event's data is one JSON document (or OpenAI's `[DONE]`).
            assert!(
                e.data == "[DONE]" || serde_json::from_str::<Value>(&e.data).is_ok(),
                "{name}: {e:?}"
            );
        }
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(
                decode(format, &[a, b], true),
                whole,
                "{name} split at byte {at}"
            );
            // Cut here: what was decoded is the start of the stream, nothing made up.
            let cut = decode(format, &[a], false);
            assert!(whole.starts_with(&cut), "{name} cut at byte {at}: {cut:?}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(
            decode(format, &bytewise, true),
            whole,
            "{name} byte by byte"
        );
    }
}

#[test]
fn eventstream_names_events_and_exceptions() {
    let bytes = bedrock::stream(
        &json!({ "messages": [{ "role": "user", "content": [{ "text": "x" }] }] }),
        &["hi".to_string()],
    )
    .unwrap()
    .concat();
    let names: Vec<String> = decode(StreamFormat::AwsEventstream, &[&bytes], true)
        .into_iter()
        .filter_map(|e| e.event)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("messageStart"));
    assert_eq!(names.last().map(String::as_str), Some("metadata"));
    let ex = bedrock::eventstream::exception("throttlingException", "slow down");
    let events = decode(StreamFormat::AwsEventstream, &[&ex], true);
    assert_eq!(events[0].event.as_deref(), Some("throttlingException"));
    assert!(events[0].data.contains("slow down"));
}
