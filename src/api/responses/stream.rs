//! The pipeline's chat-completion chunks as the Responses API's event stream:
//! `response.created` and `response.in_progress`, then per output item
//! `response.output_item.added`, its deltas (`response.output_text.delta` inside a
//! `response.content_part.added`/`.done` pair, or
//! `response.function_call_arguments.delta`) and `response.output_item.done`, and at
//! the end `response.completed` (or `response.incomplete`) with the whole response and
//! its usage. A failure after the stream began is an `error` event and
//! `response.failed`. Every event carries its `sequence_number`.

use serde_json::{Value, json};

use super::response::{
    Echo, incomplete_reason, message_item, new_id, object, refusal_part, text_part, usage,
};
use crate::types::SseEvent;

enum Open {
    /// A message item's one content part: `output_text`, or a `refusal`.
    Text {
        id: String,
        text: String,
        refusal: bool,
    },
    Call {
        id: String,
        /// The call's `index` in the chat chunks: a new index is a new call.
        index: u64,
        call_id: String,
        name: String,
        args: String,
    },
}

pub struct StreamTranslator {
    id: String,
    created: u64,
    echo: Echo,
    seq: u64,
    started: bool,
    ended: bool,
    output: Vec<Value>,
    open: Option<Open>,
    finish: Option<String>,
    usage: Option<Value>,
    /// Called with the whole response when the stream completes.
    done: Option<Box<dyn FnOnce(Value) + Send>>,
}

impl StreamTranslator {
    pub fn new(echo: Echo, created: u64) -> Self {
        StreamTranslator {
            id: new_id("resp"),
            created,
            echo,
            seq: 0,
            started: false,
            ended: false,
            output: Vec::new(),
            open: None,
            finish: None,
            usage: None,
            done: None,
        }
    }

    /// `f` gets the whole response when the stream completes (not when it fails).
    pub fn on_done(&mut self, f: Box<dyn FnOnce(Value) + Send>) {
        self.done = Some(f);
    }

    fn emit(&mut self, kind: &str, mut data: Value, out: &mut Vec<SseEvent>) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push(SseEvent {
            event: Some(kind.into()),
            data: data.to_string(),
        });
    }

    fn response(&self, status: &str, reason: Option<&str>) -> Value {
        let done = status != "in_progress";
        let output = if done {
            self.output.clone()
        } else {
            Vec::new()
        };
        let usage = if done { self.usage.clone() } else { None };
        object(
            &self.id,
            self.created,
            &self.echo,
            status,
            reason,
            output,
            usage,
        )
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            let r = self.response("in_progress", None);
            self.emit("response.created", json!({ "response": r }), out);
            self.emit("response.in_progress", json!({ "response": r }), out);
        }
    }

    /// The index the open item has (or the next one will have) in `output`.
    fn index(&self) -> usize {
        self.output.len()
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        let index = self.index();
        match self.open.take() {
            None => {}
            Some(Open::Text { id, text, refusal }) => {
                let at = json!({ "item_id": id, "output_index": index, "content_index": 0 });
                let (kind, part) = if refusal {
                    ("response.refusal.done", refusal_part(&text))
                } else {
                    ("response.output_text.done", text_part(&text))
                };
                let mut done = at.clone();
                if refusal {
                    done["refusal"] = json!(text);
                } else {
                    done["text"] = json!(text);
                    done["logprobs"] = json!([]);
                }
                self.emit(kind, done, out);
                let mut part_done = at;
                part_done["part"] = part.clone();
                self.emit("response.content_part.done", part_done, out);
                let item = message_item(&id, "completed", vec![part]);
                self.emit(
                    "response.output_item.done",
                    json!({ "output_index": index, "item": item }),
                    out,
                );
                self.output.push(item);
            }
            Some(Open::Call {
                id,
                call_id,
                name,
                args,
                ..
            }) => {
                let declared = self.echo.declared(&name).1;
                self.emit(
                    "response.function_call_arguments.done",
                    json!({ "item_id": id, "output_index": index, "arguments": args, "name": declared }),
                    out,
                );
                let item = self
                    .echo
                    .call_item(&id, "completed", &call_id, &name, &args);
                self.emit(
                    "response.output_item.done",
                    json!({ "output_index": index, "item": item }),
                    out,
                );
                self.output.push(item);
            }
        }
    }

    /// A text (or refusal) delta: into the open part of its kind, or a new message item.
    fn text(&mut self, delta: &str, is_refusal: bool, out: &mut Vec<SseEvent>) {
        if !matches!(self.open, Some(Open::Text { refusal, .. }) if refusal == is_refusal) {
            self.close(out);
            let id = new_id("msg");
            let index = self.index();
            let item = message_item(&id, "in_progress", Vec::new());
            self.emit(
                "response.output_item.added",
                json!({ "output_index": index, "item": item }),
                out,
            );
            let empty = if is_refusal {
                refusal_part("")
            } else {
                text_part("")
            };
            let part =
                json!({ "item_id": id, "output_index": index, "content_index": 0, "part": empty });
            self.emit("response.content_part.added", part, out);
            self.open = Some(Open::Text {
                id,
                text: String::new(),
                refusal: is_refusal,
            });
        }
        let index = self.index();
        if let Some(Open::Text { id, text, .. }) = &mut self.open {
            text.push_str(delta);
            let mut ev =
                json!({ "item_id": id, "output_index": index, "content_index": 0, "delta": delta });
            let kind = if is_refusal {
                "response.refusal.delta"
            } else {
                ev["logprobs"] = json!([]);
                "response.output_text.delta"
            };
            self.emit(kind, ev, out);
        }
    }

    fn call(&mut self, tc: &Value, out: &mut Vec<SseEvent>) {
        let at = tc["index"].as_u64().unwrap_or(0);
        let same = matches!(&self.open, Some(Open::Call { index, .. }) if *index == at);
        if !same {
            self.close(out);
            let id = new_id("fc");
            let call_id = tc["id"].as_str().unwrap_or_default().to_string();
            let name = tc["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let item = self.echo.call_item(&id, "in_progress", &call_id, &name, "");
            self.emit(
                "response.output_item.added",
                json!({ "output_index": self.index(), "item": item }),
                out,
            );
            self.open = Some(Open::Call {
                id,
                index: at,
                call_id,
                name,
                args: String::new(),
            });
        } else if let Some(Open::Call { call_id, name, .. }) = &mut self.open {
            // Some providers send the id or the name in a later chunk of the same call.
            if let Some(v) = tc["id"].as_str().filter(|v| !v.is_empty()) {
                *call_id = v.to_string();
            }
            if let Some(v) = tc["function"]["name"].as_str().filter(|v| !v.is_empty()) {
                *name = v.to_string();
            }
        }
        let index = self.index();
        let delta = tc["function"]["arguments"].as_str().unwrap_or_default();
        if let Some(Open::Call { id, args, .. }) = &mut self.open
            && !delta.is_empty()
        {
            args.push_str(delta);
            let ev = json!({ "item_id": id, "output_index": index, "delta": delta });
            self.emit("response.function_call_arguments.delta", ev, out);
        }
    }

    fn fail(&mut self, e: &Value, out: &mut Vec<SseEvent>) {
        self.start(out);
        let message = e["message"].as_str().unwrap_or("the stream failed");
        let code = e["code"]
            .as_str()
            .or(e["type"].as_str())
            .unwrap_or("upstream_error");
        self.emit(
            "error",
            json!({ "code": code, "message": message, "param": null }),
            out,
        );
        let mut r = self.response("failed", None);
        r["error"] = json!({ "code": "server_error", "message": message });
        self.emit("response.failed", json!({ "response": r }), out);
        self.ended = true;
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) {
        self.start(out);
        self.close(out);
        let reason = incomplete_reason(self.finish.as_deref());
        let (kind, status) = match reason {
            Some(_) => ("response.incomplete", "incomplete"),
            None => ("response.completed", "completed"),
        };
        let r = self.response(status, reason);
        if let Some(done) = self.done.take() {
            done(r.clone());
        }
        self.emit(kind, json!({ "response": r }), out);
        self.ended = true;
    }
}

impl crate::api::translate::EventTranslator for StreamTranslator {
    fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<SseEvent>) {
        if self.ended {
            return;
        }
        if ev.data == "[DONE]" {
            return self.finish(out);
        }
        let Ok(c) = serde_json::from_str::<Value>(&ev.data) else {
            return;
        };
        if let Some(e) = c.get("error") {
            return self.fail(e, out);
        }
        self.start(out);
        if let Some(u) = usage(&c["usage"]) {
            self.usage = Some(u);
        }
        let Some(choice) = c["choices"].get(0) else {
            return;
        };
        let delta = &choice["delta"];
        for (key, refusal) in [("content", false), ("refusal", true)] {
            if let Some(t) = delta[key].as_str().filter(|t| !t.is_empty()) {
                self.text(t, refusal, out);
            }
        }
        for tc in delta["tool_calls"].as_array().into_iter().flatten() {
            self.call(tc, out);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_string());
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
            data: json!({ "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
                .to_string(),
        }
    }

    #[test]
    fn a_call_is_one_item_by_its_index_whatever_its_chunks_repeat() {
        let mut t = StreamTranslator::new(Echo::default(), 0);
        let mut out = Vec::new();
        let calls = [
            json!({ "tool_calls": [{ "index": 0, "id": "c1", "function": { "arguments": "" } }] }),
            // The id repeated, the name only now.
            json!({ "tool_calls": [{ "index": 0, "id": "c1", "function": { "name": "f", "arguments": "{\"a\":" } }] }),
            json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "1}" } }] }),
            json!({ "tool_calls": [{ "index": 1, "id": "c2", "function": { "name": "g", "arguments": "{}" } }] }),
        ];
        for c in calls {
            t.on_event(&chunk(c, Value::Null), &mut out);
        }
        t.on_event(&chunk(json!({}), json!("tool_calls")), &mut out);
        t.on_event(
            &SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
            &mut out,
        );
        let last: Value = serde_json::from_str(&out.last().unwrap().data).unwrap();
        let output = last["response"]["output"].as_array().unwrap();
        assert_eq!(output.len(), 2, "{output:?}");
        assert_eq!(output[0]["call_id"], "c1");
        assert_eq!(output[0]["name"], "f");
        assert_eq!(output[0]["arguments"], "{\"a\":1}");
        assert_eq!(output[1]["name"], "g");
        let added = out
            .iter()
            .filter(|e| e.event.as_deref() == Some("response.output_item.added"))
            .count();
        assert_eq!(added, 2);
    }

    #[test]
    fn a_refusal_streams_as_a_refusal_part() {
        let mut t = StreamTranslator::new(Echo::default(), 0);
        let mut out = Vec::new();
        for piece in ["I can't", " help with that."] {
            t.on_event(&chunk(json!({ "refusal": piece }), Value::Null), &mut out);
        }
        t.on_event(&chunk(json!({}), json!("stop")), &mut out);
        t.on_event(
            &SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
            &mut out,
        );
        let names: Vec<&str> = out.iter().filter_map(|e| e.event.as_deref()).collect();
        assert!(names.contains(&"response.refusal.delta"), "{names:?}");
        assert!(names.contains(&"response.refusal.done"), "{names:?}");
        assert!(!names.contains(&"response.output_text.delta"), "{names:?}");
        let last: Value = serde_json::from_str(&out.last().unwrap().data).unwrap();
        assert_eq!(
            last["response"]["output"][0]["content"][0],
            json!({ "type": "refusal", "refusal": "I can't help with that." })
        );
    }
}
