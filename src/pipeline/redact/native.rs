//! Redaction of passed-through bodies in the client's own API (Anthropic's Messages,
//! OpenAI's Responses): the texts a request sends and an answer gives, found by where
//! each API keeps them, through the same redactors as the chat form — so a redacting
//! route keeps everything else the client sent (cache markers, thinking, server tools).
//! Streams: text deltas are held back per block like chat choices (`stream.rs`); a
//! block's end sends what is pending; events that repeat the whole text (`.done`, the
//! finished item, the final response) are redacted whole.

use bytes::Bytes;
use serde_json::{Value, json};

use super::stream::{Redact, StreamRedactor};
use crate::live::LivePlugin;
use crate::native::NativeApi;
use crate::plugins::PluginError;
use crate::plugins::world::Redactor;
use crate::types::{Direction, SseEvent};

/// Pointers of the strings under `base` that are text: `v` itself when a string, else
/// each element's `key` when its type is one of `kinds` (any, when empty).
fn texts_in(v: &Value, base: &str, key: &str, kinds: &[&str], out: &mut Vec<String>) {
    match v {
        Value::String(_) => out.push(base.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
                if item.get(key).is_some_and(Value::is_string)
                    && (kinds.is_empty() || kinds.contains(&kind))
                {
                    out.push(format!("{base}/{i}/{key}"));
                }
            }
        }
        _ => {}
    }
}

/// Where a request of `api` keeps the texts it sends.
pub fn request_pointers(api: NativeApi, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Vec::new();
    match api {
        NativeApi::Messages => {
            texts_in(&v["system"], "/system", "text", &["text"], &mut out);
            let messages = v["messages"].as_array().unwrap_or(&empty);
            for (i, m) in messages.iter().enumerate() {
                let base = format!("/messages/{i}/content");
                texts_in(&m["content"], &base, "text", &["text"], &mut out);
                for (j, b) in m["content"].as_array().unwrap_or(&empty).iter().enumerate() {
                    if b["type"] == "tool_result" {
                        let inner = format!("{base}/{j}/content");
                        texts_in(&b["content"], &inner, "text", &["text"], &mut out);
                    }
                }
            }
        }
        _ => {
            texts_in(&v["instructions"], "/instructions", "", &[], &mut out);
            match &v["input"] {
                Value::String(_) => out.push("/input".into()),
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let base = format!("/input/{i}");
                        texts_in(
                            &item["content"],
                            &format!("{base}/content"),
                            "text",
                            &[],
                            &mut out,
                        );
                        if item["output"].is_string() {
                            out.push(format!("{base}/output"));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Where an answer of `api` (or the response / item a Responses event repeats, under
/// `base`) keeps the texts it gives.
fn answer_pointers(api: NativeApi, v: &Value, base: &str) -> Vec<String> {
    let mut out = Vec::new();
    let at = |p: &str| v.pointer(&format!("{base}{p}")).unwrap_or(&Value::Null);
    match api {
        NativeApi::Messages => texts_in(
            at("/content"),
            &format!("{base}/content"),
            "text",
            &["text"],
            &mut out,
        ),
        _ => {
            let items = at("/output").as_array().cloned().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                let p = format!("{base}/output/{i}/content");
                texts_in(&item["content"], &p, "text", &["output_text"], &mut out);
                texts_in(&item["content"], &p, "refusal", &["refusal"], &mut out);
            }
        }
    }
    out
}

/// The strings at `pointers` of `v` through `redact`; whether any changed.
async fn rewrite<R: Redact>(
    redact: &R,
    v: &mut Value,
    pointers: &[String],
) -> Result<bool, PluginError> {
    let texts: Vec<String> = pointers
        .iter()
        .map(|p| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    if texts.is_empty() {
        return Ok(false);
    }
    let out = redact.redact(texts.clone()).await?;
    let mut changed = false;
    for ((p, old), new) in pointers.iter().zip(&texts).zip(out) {
        if *old != new
            && let Some(slot) = v.pointer_mut(p)
        {
            *slot = Value::String(new);
            changed = true;
        }
    }
    Ok(changed)
}

/// A route's redactor chain in one direction.
struct Chain<'a>(&'a [LivePlugin<Redactor>], Direction);

impl Redact for Chain<'_> {
    async fn redact(&self, texts: Vec<String>) -> Result<Vec<String>, PluginError> {
        super::run(self.0, self.1, texts).await
    }
}

/// A passed-through request body with its texts redacted; `None` when nothing changed.
pub async fn request(
    chain: &[LivePlugin<Redactor>],
    api: NativeApi,
    body: &Bytes,
) -> Result<Option<Bytes>, PluginError> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let pointers = request_pointers(api, &v);
    let changed = rewrite(&Chain(chain, Direction::Request), &mut v, &pointers).await?;
    Ok(changed.then(|| Bytes::from(serde_json::to_vec(&v).unwrap_or_default())))
}

/// A passed-through whole answer with its texts redacted (the same bytes when nothing
/// changed).
pub async fn answer(
    chain: &[LivePlugin<Redactor>],
    api: NativeApi,
    body: Bytes,
) -> Result<Bytes, PluginError> {
    let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
        return Ok(body);
    };
    let pointers = answer_pointers(api, &v, "");
    if rewrite(&Chain(chain, Direction::Response), &mut v, &pointers).await? {
        return Ok(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()));
    }
    Ok(body)
}

fn event(kind: &str, data: &Value) -> SseEvent {
    SseEvent {
        event: Some(kind.to_string()),
        data: data.to_string(),
    }
}

impl<R: Redact> StreamRedactor<R> {
    /// Anthropic's events: `text_delta`s held back per content block, a block's stop
    /// (or the message's end) sends what is pending first.
    pub(super) async fn process_anthropic(
        &mut self,
        events: Vec<SseEvent>,
    ) -> Result<Vec<SseEvent>, PluginError> {
        let mut out = Vec::with_capacity(events.len() + 1);
        for ev in events {
            let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
                out.push(ev);
                continue;
            };
            let index = v["index"].as_u64().unwrap_or(0);
            match v["type"].as_str().unwrap_or("") {
                "content_block_delta" if v["delta"]["type"] == "text_delta" => {
                    let text = v["delta"]["text"].as_str().unwrap_or("").to_string();
                    self.buffer(index).push_str(&text);
                    v["delta"]["text"] = Value::String(self.advance(index).await?);
                    out.push(event("content_block_delta", &v));
                }
                "content_block_stop" => {
                    self.anthropic_flush(Some(index), &mut out).await?;
                    out.push(ev);
                }
                "message_delta" | "message_stop" => {
                    self.anthropic_flush(None, &mut out).await?;
                    out.push(ev);
                }
                _ => out.push(ev),
            }
        }
        Ok(out)
    }

    /// What is pending for block `index` (every block: `None`), as text deltas.
    async fn anthropic_flush(
        &mut self,
        index: Option<u64>,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), PluginError> {
        let blocks: Vec<u64> = self
            .pending
            .iter()
            .filter(|(i, t)| !t.is_empty() && index.is_none_or(|x| x == *i))
            .map(|(i, _)| *i)
            .collect();
        for i in blocks {
            let text = self.flush(i).await?;
            let delta = json!({ "type": "content_block_delta", "index": i,
                "delta": { "type": "text_delta", "text": text } });
            out.push(event("content_block_delta", &delta));
        }
        Ok(())
    }

    /// The Responses API's events: `output_text.delta`s held back per part, a part's
    /// `.done` sends what is pending first; events repeating whole texts are redacted.
    pub(super) async fn process_responses(
        &mut self,
        events: Vec<SseEvent>,
    ) -> Result<Vec<SseEvent>, PluginError> {
        let mut out = Vec::with_capacity(events.len() + 1);
        for ev in events {
            let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
                out.push(ev);
                continue;
            };
            let part = v["output_index"].as_u64().unwrap_or(0) << 16
                | v["content_index"].as_u64().unwrap_or(0);
            let kind = v["type"].as_str().unwrap_or("").to_string();
            let pointers: Vec<String> = match kind.as_str() {
                "response.output_text.delta" => {
                    let text = v["delta"].as_str().unwrap_or("").to_string();
                    self.buffer(part).push_str(&text);
                    v["delta"] = Value::String(self.advance(part).await?);
                    out.push(event(&kind, &v));
                    continue;
                }
                "response.output_text.done" => {
                    let rest = self.flush(part).await?;
                    if !rest.is_empty() {
                        let mut d = v.clone();
                        d["type"] = json!("response.output_text.delta");
                        d["delta"] = Value::String(rest);
                        if let Some(o) = d.as_object_mut() {
                            o.remove("text");
                        }
                        out.push(event("response.output_text.delta", &d));
                    }
                    vec!["/text".into()]
                }
                "response.content_part.done" => vec!["/part/text".into()],
                "response.output_item.done" => {
                    let mut p = Vec::new();
                    let c = &v["item"]["content"];
                    texts_in(c, "/item/content", "text", &["output_text"], &mut p);
                    texts_in(c, "/item/content", "refusal", &["refusal"], &mut p);
                    p
                }
                k if k.starts_with("response.") && v["response"]["output"].is_array() => {
                    answer_pointers(NativeApi::Responses, &v, "/response")
                }
                _ => Vec::new(),
            };
            let pointers: Vec<String> = pointers
                .into_iter()
                .filter(|p| v.pointer(p).is_some_and(Value::is_string))
                .collect();
            if rewrite(&self.redact, &mut v, &pointers).await? {
                out.push(event(&kind, &v));
            } else {
                out.push(ev);
            }
        }
        Ok(out)
    }
}
