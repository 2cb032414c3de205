//! Anthropic stream events → OpenAI `chat.completion.chunk` events, one call per event.
//!
//! State kept per stream: the message id and model (from `message_start`), which
//! content block is which tool call, and the token counts for the final usage chunk.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use switchboard_sdk::openai::broken;
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

use crate::response::{error_from, finish_reason, token_usage, usage, usage_counts};

#[derive(Default)]
struct State {
    id: String,
    model: String,
    /// Anthropic content-block index → OpenAI tool-call index.
    tool_index: BTreeMap<u64, u64>,
    next_tool: u64,
    /// input, cache write, cache read, output.
    tokens: [u64; 4],
    finished: bool,
    done: bool,
}

pub struct Translator {
    ctx: RequestContext,
    state: RefCell<State>,
}

fn data_event(v: &Value) -> SseEvent {
    SseEvent {
        event: None,
        data: v.to_string(),
    }
}

impl Translator {
    pub fn new(ctx: RequestContext) -> Self {
        let state = State {
            id: ctx.request_id.clone(),
            model: ctx.target_model.clone(),
            ..State::default()
        };
        Translator {
            ctx,
            state: RefCell::new(state),
        }
    }

    fn chunk(&self, s: &State, delta: Value, finish: Option<&str>) -> SseEvent {
        data_event(&json!({
            "id": s.id,
            "object": "chat.completion.chunk",
            "created": self.ctx.created,
            "model": s.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        }))
    }

    pub fn event(&self, ev: SseEvent) -> Result<Vec<SseEvent>, AdapterError> {
        let data: Value = serde_json::from_str(&ev.data)
            .map_err(|e| broken(format!("Anthropic stream sent invalid JSON: {e}")))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("")
            .to_string();
        let mut s = self.state.borrow_mut();
        let mut out = Vec::new();
        match kind.as_str() {
            "message_start" => {
                let m = data.get("message");
                if let Some(id) = m.and_then(|m| m.get("id")).and_then(Value::as_str) {
                    s.id = id.to_string();
                }
                if let Some(model) = m.and_then(|m| m.get("model")).and_then(Value::as_str) {
                    s.model = model.to_string();
                }
                let [i, w, r, o] = usage_counts(m.and_then(|m| m.get("usage")));
                s.tokens = [i, w, r, o];
                out.push(self.chunk(&s, json!({ "role": "assistant", "content": "" }), None));
            }
            "content_block_start" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = data.get("content_block");
                match block.and_then(|b| b.get("type")).and_then(Value::as_str) {
                    Some("tool_use") => {
                        let tool = s.next_tool;
                        s.next_tool += 1;
                        s.tool_index.insert(index, tool);
                        let b = block.unwrap_or(&Value::Null);
                        let delta = json!({ "tool_calls": [{
                            "index": tool,
                            "id": b.get("id").cloned().unwrap_or_default(),
                            "type": "function",
                            "function": { "name": b.get("name").cloned().unwrap_or_default(), "arguments": "" },
                        }]});
                        out.push(self.chunk(&s, delta, None));
                    }
                    Some("text") => {
                        let text = block
                            .and_then(|b| b.get("text"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if !text.is_empty() {
                            out.push(self.chunk(&s, json!({ "content": text }), None));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = data.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        out.push(self.chunk(&s, json!({ "content": text }), None));
                    }
                    Some("input_json_delta") => {
                        let part = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let tool = s.tool_index.get(&index).copied().ok_or_else(|| {
                            broken(format!(
                                "Anthropic stream sent tool input for unknown block {index}"
                            ))
                        })?;
                        if !part.is_empty() {
                            let d = json!({ "tool_calls": [{ "index": tool, "function": { "arguments": part } }] });
                            out.push(self.chunk(&s, d, None));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                let u = data.get("usage");
                if let Some(o) = u
                    .and_then(|u| u.get("output_tokens"))
                    .and_then(Value::as_u64)
                {
                    s.tokens[3] = o;
                }
                if let Some(i) = u
                    .and_then(|u| u.get("input_tokens"))
                    .and_then(Value::as_u64)
                {
                    s.tokens[0] = i;
                }
                let stop = data
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                if stop.is_some() || !s.finished {
                    s.finished = true;
                    out.push(self.chunk(&s, json!({}), Some(finish_reason(stop))));
                }
            }
            "message_stop" => out.extend(self.close(&mut s)),
            "error" => {
                return Err(error_from(200, data.get("error"))
                    .unwrap_or_else(|| broken("Anthropic stream reported an error".to_string())));
            }
            _ => {}
        }
        Ok(out)
    }

    /// The final usage chunk (when asked for) and `[DONE]`, once.
    fn close(&self, s: &mut State) -> Vec<SseEvent> {
        if s.done {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !s.finished {
            s.finished = true;
            out.push(self.chunk(s, json!({}), Some("stop")));
        }
        s.done = true;
        if self.ctx.include_usage {
            let [i, w, r, o] = s.tokens;
            out.push(data_event(&json!({
                "id": s.id,
                "object": "chat.completion.chunk",
                "created": self.ctx.created,
                "model": s.model,
                "choices": [],
                "usage": usage(i, w, r, o),
            })));
        }
        out.push(SseEvent {
            event: None,
            data: "[DONE]".to_string(),
        });
        out
    }

    /// The stream's usage, once its message is complete.
    pub fn usage(&self) -> Option<TokenUsage> {
        let s = self.state.borrow();
        s.done.then(|| token_usage(s.tokens))
    }

    pub fn end(&self) -> Result<Vec<SseEvent>, AdapterError> {
        let mut s = self.state.borrow_mut();
        if s.done {
            return Ok(Vec::new());
        }
        if !s.finished {
            return Err(broken(
                "Anthropic stream ended before the message was complete".to_string(),
            ));
        }
        Ok(self.close(&mut s))
    }
}
