//! One stored form for both kinds of client: a complete OpenAI `chat.completion`.
//! `Assembler` builds it from the chunks of a streamed answer (so a streaming miss
//! fills the cache too); `replay` turns it back into `chat.completion.chunk` events
//! for a streaming client that hits.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::types::SseEvent;
use crate::upstream::sse::encode_all;

#[derive(Default)]
struct ToolCall {
    id: Option<Value>,
    kind: Option<Value>,
    name: String,
    arguments: String,
}

#[derive(Default)]
struct Choice {
    role: Option<Value>,
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Vec<(u64, ToolCall)>,
    finish_reason: Option<Value>,
}

/// Folds the chunks of a streamed chat completion into the completion itself.
#[derive(Default)]
pub struct Assembler {
    head: Option<Map<String, Value>>,
    choices: Vec<(u64, Choice)>,
    usage: Option<Value>,
    /// A chunk that could not be understood: the answer is not stored.
    spoiled: bool,
}

/// The array under `key` (nothing when absent or not an array).
fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The value under `key` unless it is absent or null.
fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn append(slot: &mut Option<String>, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str) {
        slot.get_or_insert_with(String::new).push_str(s);
    }
}

/// The entry for the `index` a delta names (0 when it names none), made on first sight.
fn slot<'a, T: Default>(items: &'a mut Vec<(u64, T)>, delta: &Value) -> &'a mut T {
    let index = delta.get("index").and_then(Value::as_u64).unwrap_or(0);
    let pos = match items.iter().position(|(i, _)| *i == index) {
        Some(p) => p,
        None => {
            items.push((index, T::default()));
            items.len() - 1
        }
    };
    &mut items[pos].1
}

impl Assembler {
    /// Takes the `data` of one event (`[DONE]` is ignored).
    pub fn push(&mut self, data: &str) {
        if self.spoiled || data == "[DONE]" {
            return;
        }
        let Ok(chunk @ Value::Object(_)) = serde_json::from_str::<Value>(data) else {
            self.spoiled = true;
            return;
        };
        if chunk.get("error").is_some() {
            self.spoiled = true;
            return;
        }
        if self.head.is_none() {
            let mut head = Map::new();
            for k in [
                "id",
                "created",
                "model",
                "system_fingerprint",
                "service_tier",
            ] {
                if let Some(v) = present(&chunk, k) {
                    head.insert(k.into(), v.clone());
                }
            }
            self.head = Some(head);
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        for c in items(&chunk, "choices") {
            let choice = slot(&mut self.choices, c);
            if let Some(f) = present(c, "finish_reason") {
                choice.finish_reason = Some(f.clone());
            }
            let Some(delta) = c.get("delta") else {
                continue;
            };
            if let Some(r) = present(delta, "role") {
                choice.role = Some(r.clone());
            }
            append(&mut choice.content, delta.get("content"));
            append(&mut choice.refusal, delta.get("refusal"));
            for tc in items(delta, "tool_calls") {
                let call = slot(&mut choice.tool_calls, tc);
                if let Some(id) = present(tc, "id") {
                    call.id = Some(id.clone());
                }
                if let Some(t) = present(tc, "type") {
                    call.kind = Some(t.clone());
                }
                if let Some(f) = tc.get("function") {
                    if let Some(n) = f.get("name").and_then(Value::as_str) {
                        call.name.push_str(n);
                    }
                    if let Some(a) = f.get("arguments").and_then(Value::as_str) {
                        call.arguments.push_str(a);
                    }
                }
            }
        }
    }

    /// The completion, when the stream made a whole one (every choice finished).
    pub fn finish(self) -> Option<Bytes> {
        if self.spoiled || self.choices.is_empty() {
            return None;
        }
        let mut out = self.head?;
        out.insert("object".into(), "chat.completion".into());
        let mut choices = Vec::with_capacity(self.choices.len());
        let mut sorted = self.choices;
        sorted.sort_by_key(|(i, _)| *i);
        for (index, c) in sorted {
            let finish = c.finish_reason?;
            let mut message = Map::new();
            message.insert("role".into(), c.role.unwrap_or_else(|| "assistant".into()));
            message.insert(
                "content".into(),
                c.content.map(Value::String).unwrap_or(Value::Null),
            );
            if let Some(r) = c.refusal {
                message.insert("refusal".into(), r.into());
            }
            if !c.tool_calls.is_empty() {
                let mut calls = c.tool_calls;
                calls.sort_by_key(|(i, _)| *i);
                let calls: Vec<Value> = calls
                    .into_iter()
                    .map(|(_, t)| {
                        json!({
                            "id": t.id.unwrap_or(Value::Null),
                            "type": t.kind.unwrap_or_else(|| "function".into()),
                            "function": {"name": t.name, "arguments": t.arguments},
                        })
                    })
                    .collect();
                message.insert("tool_calls".into(), calls.into());
            }
            choices.push(json!({
                "index": index,
                "message": message,
                "logprobs": null,
                "finish_reason": finish,
            }));
        }
        out.insert("choices".into(), choices.into());
        if let Some(u) = self.usage {
            out.insert("usage".into(), u);
        }
        serde_json::to_vec(&out).ok().map(Bytes::from)
    }
}

/// A stored chat completion as the SSE stream a streaming client expects, ending in
/// `[DONE]`; the usage chunk only when the client asked for it. `None` when the
/// stored answer is not a chat completion.
pub fn replay(completion: &[u8], include_usage: bool) -> Option<Bytes> {
    let Ok(Value::Object(c)) = serde_json::from_slice::<Value>(completion) else {
        return None;
    };
    let mut head = Map::new();
    for k in [
        "id",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
    ] {
        if let Some(v) = c.get(k) {
            head.insert(k.into(), v.clone());
        }
    }
    head.insert("object".into(), "chat.completion.chunk".into());
    let chunk = |choices: Value, usage: Option<&Value>| {
        let mut m = head.clone();
        m.insert("choices".into(), choices);
        if include_usage {
            m.insert("usage".into(), usage.cloned().unwrap_or(Value::Null));
        }
        SseEvent {
            event: None,
            data: Value::Object(m).to_string(),
        }
    };
    let mut events = Vec::new();
    for choice in c.get("choices")?.as_array()? {
        let index = choice.get("index").cloned().unwrap_or(0.into());
        let msg = choice.get("message")?;
        let mut delta = Map::new();
        delta.insert(
            "role".into(),
            msg.get("role").cloned().unwrap_or("assistant".into()),
        );
        delta.insert(
            "content".into(),
            msg.get("content").cloned().unwrap_or(Value::Null),
        );
        if let Some(r) = msg.get("refusal").filter(|r| !r.is_null()) {
            delta.insert("refusal".into(), r.clone());
        }
        if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut t = t.clone();
                    if let Some(o) = t.as_object_mut() {
                        o.insert("index".into(), i.into());
                    }
                    t
                })
                .collect();
            delta.insert("tool_calls".into(), calls.into());
        }
        events.push(chunk(
            json!([{"index": index, "delta": delta, "logprobs": null, "finish_reason": null}]),
            None,
        ));
        events.push(chunk(
            json!([{"index": index, "delta": {}, "logprobs": null,
                    "finish_reason": choice.get("finish_reason").cloned().unwrap_or("stop".into())}]),
            None,
        ));
    }
    if include_usage {
        events.push(chunk(json!([]), c.get("usage")));
    }
    events.push(SseEvent {
        event: None,
        data: "[DONE]".into(),
    });
    Some(encode_all(&events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::sse::SseFramer;

    fn events(bytes: &[u8]) -> Vec<SseEvent> {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        f.push(bytes, &mut out).unwrap();
        f.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn a_stream_folds_into_the_completion_and_replays_into_the_same() {
        let chunks = [
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
            "[DONE]",
        ];
        let mut a = Assembler::default();
        for c in chunks {
            a.push(c);
        }
        let done = a.finish().expect("a complete answer");
        let v: Value = serde_json::from_slice(&done).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello");
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["usage"]["total_tokens"], 5);

        let sse = replay(&done, true).unwrap();
        let evs = events(&sse);
        assert_eq!(evs.last().unwrap().data, "[DONE]");
        let mut again = Assembler::default();
        for e in &evs {
            again.push(&e.data);
        }
        let v2: Value = serde_json::from_slice(&again.finish().unwrap()).unwrap();
        assert_eq!(v, v2);
        // Without include_usage no chunk carries usage.
        let plain = replay(&done, false).unwrap();
        assert!(!String::from_utf8_lossy(&plain).contains("usage"));
    }

    #[test]
    fn unfinished_or_broken_streams_are_not_stored() {
        let mut a = Assembler::default();
        a.push(r#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#);
        assert!(a.finish().is_none(), "no finish_reason");
        let mut b = Assembler::default();
        b.push(r#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#);
        b.push("not json");
        assert!(b.finish().is_none());
        let mut e = Assembler::default();
        e.push(r#"{"error":{"message":"boom"}}"#);
        assert!(e.finish().is_none());
    }
}
