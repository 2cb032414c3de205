//! The pipeline's OpenAI answers as Anthropic ones: a `chat.completion` as a
//! `message` (text and `tool_use` blocks, stop reason, usage), an error as
//! `{"type":"error","error":{..}}`, and a stream of chunks as Anthropic's event
//! sequence (`message_start`, content blocks with text and `input_json_delta`
//! deltas, `message_delta` with the stop reason and usage, `message_stop`).

use serde_json::{Value, json};

use crate::types::SseEvent;

pub fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's error `type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 408 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// A message id: the answer's own when it already is one (an Anthropic upstream's),
/// else the answer's id with Anthropic's prefix.
fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_string()
    } else {
        format!("msg_{id}")
    }
}

pub fn error_body(status: u16, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": error_type(status), "message": message } })
}

fn usage(u: &Value) -> Value {
    json!({
        "input_tokens": u["prompt_tokens"].as_u64().unwrap_or(0),
        "output_tokens": u["completion_tokens"].as_u64().unwrap_or(0),
    })
}

/// A `chat.completion` as a `message`; `model` is the name the client asked for.
pub fn message(c: &Value, model: &str) -> Value {
    let choice = &c["choices"][0];
    let m = &choice["message"];
    let mut content = Vec::new();
    if let Some(t) = m["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({ "type": "text", "text": t }));
    }
    for call in m["tool_calls"].as_array().into_iter().flatten() {
        let args = call["function"]["arguments"].as_str().unwrap_or("{}");
        content.push(json!({
            "type": "tool_use", "id": call["id"], "name": call["function"]["name"],
            "input": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({})),
        }));
    }
    json!({
        "id": message_id(c["id"].as_str().unwrap_or("switchboard")),
        "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()), "stop_sequence": null,
        "usage": usage(&c["usage"]),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Text,
    Tool,
}

/// Turns OpenAI chunks into Anthropic events, one client stream at a time.
pub struct StreamTranslator {
    model: String,
    started: bool,
    /// The open content block: its kind and index.
    open: Option<(Block, u32)>,
    /// The chat `index` of the tool call the open tool block is (a new index is a new call).
    tool_at: Option<u64>,
    next_index: u32,
    stop: Option<String>,
    usage: Value,
    ended: bool,
}

fn event(name: &str, data: Value) -> SseEvent {
    SseEvent {
        event: Some(name.into()),
        data: data.to_string(),
    }
}

impl StreamTranslator {
    pub fn new(model: &str) -> Self {
        StreamTranslator {
            model: model.to_string(),
            started: false,
            open: None,
            tool_at: None,
            next_index: 0,
            stop: None,
            usage: json!({}),
            ended: false,
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            out.push(event("message_start", json!({ "type": "message_start", "message": {
                "id": message_id(id), "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": 0, "output_tokens": 0 },
            }})));
        }
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((_, index)) = self.open.take() {
            out.push(event(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": index }),
            ));
        }
    }

    fn open(&mut self, kind: Block, block: Value, out: &mut Vec<SseEvent>) -> u32 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        out.push(event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": block }),
        ));
        index
    }

    fn delta(index: u32, delta: Value) -> SseEvent {
        event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": index, "delta": delta }),
        )
    }

    /// One chat tool-call delta: a new call (by its `index`) opens a `tool_use` block,
    /// arguments go to the open one.
    fn tool_delta(&mut self, call: &Value, out: &mut Vec<SseEvent>) {
        let at = call["index"].as_u64().unwrap_or(0);
        let index = match self.open {
            Some((Block::Tool, i)) if self.tool_at == Some(at) => i,
            _ => {
                let id = call["id"].as_str().unwrap_or_default();
                let block = json!({ "type": "tool_use", "id": id, "name": call["function"]["name"], "input": {} });
                let i = self.open(Block::Tool, block, out);
                self.tool_at = Some(at);
                i
            }
        };
        if let Some(args) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            out.push(Self::delta(
                index,
                json!({ "type": "input_json_delta", "partial_json": args }),
            ));
        }
    }
}

impl crate::api::translate::EventTranslator for StreamTranslator {
    /// The events for one upstream event; `[DONE]` ends the message.
    fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        if ev.data == "[DONE]" {
            self.start("switchboard", out);
            self.close(out);
            let mut usage = self.usage.clone();
            if usage.get("output_tokens").is_none() {
                usage = json!({ "output_tokens": 0 });
            }
            out.push(event("message_delta", json!({ "type": "message_delta",
                "delta": { "stop_reason": stop_reason(self.stop.as_deref()), "stop_sequence": null },
                "usage": usage })));
            out.push(event("message_stop", json!({ "type": "message_stop" })));
            self.ended = true;
            return;
        }
        let Ok(c) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        if let Some(e) = c.get("error") {
            // The gateway's own error event for a stream that broke after it began.
            let message = e["message"].as_str().unwrap_or("the stream failed");
            // A guardrail's stop is about the request, not a broken upstream.
            let status = if e["code"] == "guardrail_stopped" {
                400
            } else {
                502
            };
            out.push(event("error", error_body(status, message)));
            self.ended = true;
            return;
        }
        self.start(c["id"].as_str().unwrap_or("switchboard"), out);
        if c["usage"].is_object() {
            self.usage = usage(&c["usage"]);
        }
        let choice = &c["choices"][0];
        let delta = &choice["delta"];
        // Anthropic has no refusal block: a refusal is text (its stop reason says so).
        for key in ["content", "refusal"] {
            if let Some(t) = delta[key].as_str().filter(|t| !t.is_empty()) {
                let index = match self.open {
                    Some((Block::Text, i)) => i,
                    _ => self.open(Block::Text, json!({ "type": "text", "text": "" }), out),
                };
                out.push(Self::delta(
                    index,
                    json!({ "type": "text_delta", "text": t }),
                ));
            }
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.tool_delta(call, out);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.stop = Some(f.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::translate::EventTranslator;

    fn chunk(delta: Value, finish: Value) -> SseEvent {
        SseEvent {
            event: None,
            data: json!({ "id": "c1", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
                .to_string(),
        }
    }

    #[test]
    fn a_stream_with_text_then_tools_becomes_anthropic_events() {
        let mut t = StreamTranslator::new("claude-like");
        let mut out = Vec::new();
        let input = [
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            chunk(json!({ "content": "Let me " }), Value::Null),
            chunk(json!({ "content": "check." }), Value::Null),
            chunk(json!({ "tool_calls": [{ "index": 0, "id": "call_1", "function": { "name": "w", "arguments": "" } }] }), Value::Null),
            chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":" } }] }), Value::Null),
            chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Oslo\"}" } }] }), Value::Null),
            chunk(json!({}), json!("tool_calls")),
            SseEvent { event: None, data: json!({ "id": "c1", "choices": [], "usage": { "prompt_tokens": 5, "completion_tokens": 9 } }).to_string() },
            SseEvent { event: None, data: "[DONE]".into() },
        ];
        for ev in &input {
            t.on_event(ev, &mut out);
        }
        let names: Vec<_> = out.iter().map(|e| e.event.clone().unwrap()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        let v: Vec<Value> = out
            .iter()
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect();
        assert_eq!(v[0]["message"]["model"], "claude-like");
        assert_eq!(v[5]["content_block"]["id"], "call_1");
        assert_eq!(v[5]["index"], 1);
        assert_eq!(v[7]["delta"]["partial_json"], "\"Oslo\"}");
        assert_eq!(v[9]["delta"]["stop_reason"], "tool_use");
        assert_eq!(
            v[9]["usage"],
            json!({ "input_tokens": 5, "output_tokens": 9 })
        );
    }

    #[test]
    fn a_completion_becomes_a_message() {
        let c = json!({ "id": "x", "choices": [{ "message": { "role": "assistant", "content": "Hi",
            "tool_calls": [{ "id": "t", "type": "function", "function": { "name": "f", "arguments": "{\"a\":1}" } }] },
            "finish_reason": "length" }], "usage": { "prompt_tokens": 3, "completion_tokens": 4 } });
        let m = message(&c, "m");
        assert_eq!(m["content"][0], json!({ "type": "text", "text": "Hi" }));
        assert_eq!(m["content"][1]["input"], json!({ "a": 1 }));
        assert_eq!(m["stop_reason"], "max_tokens");
        assert_eq!(m["usage"], json!({ "input_tokens": 3, "output_tokens": 4 }));
        assert_eq!(
            error_body(429, "slow down")["error"]["type"],
            "rate_limit_error"
        );
    }

    #[test]
    fn a_tool_call_is_one_block_by_its_index_whatever_its_chunks_repeat() {
        let mut t = StreamTranslator::new("m");
        let mut out = Vec::new();
        for delta in [
            json!({ "tool_calls": [{ "index": 0, "id": "c1", "function": { "name": "f", "arguments": "" } }] }),
            json!({ "tool_calls": [{ "index": 0, "id": "c1", "function": { "arguments": "{\"a\":" } }] }),
            json!({ "tool_calls": [{ "index": 0, "id": "", "function": { "arguments": "1}" } }] }),
            json!({ "tool_calls": [{ "index": 1, "id": "c2", "function": { "name": "g", "arguments": "{}" } }] }),
            json!({ "refusal": "no" }),
        ] {
            t.on_event(&chunk(delta, Value::Null), &mut out);
        }
        let starts: Vec<Value> = out
            .iter()
            .filter(|e| e.event.as_deref() == Some("content_block_start"))
            .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["content_block"].clone())
            .collect();
        assert_eq!(starts.len(), 3, "{starts:?}");
        assert_eq!(starts[0]["id"], "c1");
        assert_eq!(starts[1]["id"], "c2");
        assert_eq!(starts[2]["type"], "text");
        let first_args: String = out
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .filter(|v| v["index"] == 0 && v["delta"]["type"] == "input_json_delta")
            .map(|v| v["delta"]["partial_json"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(first_args, "{\"a\":1}");
    }
}
