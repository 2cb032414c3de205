//! The guardrails' stream stage: a chat stream's text (its first choice) is held back
//! and judged a window at a time by every enforcing guardrail that judges streams
//! (with up to a window of the text already sent, for context). Two windows are judged
//! together and only the first is sent; the second is judged again with what follows —
//! so anything up to a window long is judged whole before any of it reaches the
//! client, however the provider cuts the text. `allow` sends the text, `mask` sends the
//! guardrail's text instead (up to a cut no mask straddles), `stop` ends the stream — an
//! error event naming the reason (which the OpenAI and Anthropic SDKs raise), a
//! `content_filter` finish, and `[DONE]` — and nothing more of the answer goes out. The
//! events of a window keep their order: everything after the first held text waits
//! with it. A finish, the usage chunk or `[DONE]` flushes what is held as the last
//! window. Monitoring guardrails hold nothing: they judge the whole text once the stream
//! has ended, beside it.

use serde_json::{Value, json};

use super::Guards;
use crate::config::guardrails::GuardMode;
use crate::plugins::{PluginError, calls};
use crate::types::{SseEvent, StreamVerdict};

/// The most answer text a monitor keeps to judge at the end.
const MONITOR_BYTES: usize = 1 << 20;

/// Windows of text held, at most, while a mask straddles every cut.
const HOLD_WINDOWS: usize = 8;

/// What the enforcing guardrails made of a text.
enum Judged {
    Send(String),
    Stop(String, String),
}

pub struct StreamGuard {
    guards: Guards,
    /// Indexes of the chain's enforcing stream guardrails.
    enforcing: Vec<usize>,
    monitoring: bool,
    /// Characters per window: the largest any enforcing guardrail asks for.
    window: usize,
    held: Vec<SseEvent>,
    /// The held text (a carried window, then what came since).
    pending: String,
    /// Up to a window of the text already sent.
    before: String,
    /// The whole text, for the monitors (bounded).
    seen: String,
    /// A chunk's frame (id, model, created), for the chunk that ends a stopped stream.
    frame: Option<Value>,
    stopped: bool,
    monitored: bool,
}

/// The first choice's text in a chat chunk, and whether the chunk ends a choice (or
/// is the usage chunk).
fn read(data: &str) -> (Option<Value>, String, bool) {
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return (None, String::new(), data == "[DONE]");
    };
    let choices = v["choices"].as_array();
    let ends =
        choices.is_none_or(|c| c.is_empty() || c.iter().any(|c| !c["finish_reason"].is_null()));
    let text = choices
        .and_then(|c| c.iter().find(|c| c["index"].as_u64().unwrap_or(0) == 0))
        .and_then(|c| c["delta"]["content"].as_str())
        .unwrap_or_default()
        .to_string();
    (Some(v), text, ends)
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    match s.char_indices().rev().nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &s[i..],
        _ if n == 0 => "",
        _ => s,
    }
}

impl StreamGuard {
    pub(super) fn new(guards: Guards) -> Option<StreamGuard> {
        let judging = |g: &&crate::live::LiveGuardrail| g.phases.stream;
        let enforcing: Vec<usize> = (0..guards.chain.len())
            .filter(|i| {
                let g = &guards.chain[*i];
                judging(&g) && g.spec.mode == GuardMode::Enforce
            })
            .collect();
        let monitoring = guards
            .chain
            .iter()
            .any(|g| g.phases.stream && g.spec.mode == GuardMode::Monitor);
        if enforcing.is_empty() && !monitoring {
            return None;
        }
        let window = enforcing
            .iter()
            .map(|i| guards.chain[*i].spec.window)
            .max()
            .unwrap_or(1);
        Some(StreamGuard {
            guards,
            enforcing,
            monitoring,
            window,
            held: Vec::new(),
            pending: String::new(),
            before: String::new(),
            seen: String::new(),
            frame: None,
            stopped: false,
            monitored: false,
        })
    }

    /// The stream was stopped by a guardrail: nothing more goes to the client, and
    /// the answer is not cached.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The events to send for `events` (held ones released as their window passes).
    pub async fn process(&mut self, events: Vec<SseEvent>) -> Result<Vec<SseEvent>, PluginError> {
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            if self.stopped {
                break;
            }
            let (v, text, ends) = read(&ev.data);
            if self.frame.is_none() && v.as_ref().is_some_and(|v| v.get("id").is_some()) {
                self.frame = v;
            }
            if self.monitoring && self.seen.len() + text.len() <= MONITOR_BYTES {
                self.seen.push_str(&text);
            }
            if ev.data == "[DONE]" {
                self.monitor();
            }
            if self.enforcing.is_empty() {
                out.push(ev);
                continue;
            }
            if ends {
                self.flush(true, &mut out).await?;
                if !self.stopped {
                    out.push(ev);
                }
                continue;
            }
            self.pending.push_str(&text);
            self.held.push(ev);
            // Two windows gathered: the first may go once judged with the second.
            if !text.is_empty() && self.pending.chars().count() >= 2 * self.window {
                self.flush(false, &mut out).await?;
            }
        }
        Ok(out)
    }

    /// The enforcing guardrails' verdict on `text`, in order (a mask is what the next
    /// one judges): the text to send, or the stop (guardrail, reason).
    async fn judge(&self, text: &str, last: bool) -> Result<Judged, PluginError> {
        let mut text = text.to_string();
        for i in &self.enforcing {
            let g = &self.guards.chain[*i];
            let t = std::time::Instant::now();
            let w = calls::Window {
                before: &self.before,
                text: &text,
                last,
            };
            let verdict =
                calls::check_stream(&g.pool, &self.guards.req, w, Some(&self.guards.lent(g))).await;
            self.guards.children();
            let verdict = match verdict {
                Ok(v) => v,
                Err(e) => {
                    self.guards.failed(g, "stream", e, t)?;
                    continue;
                }
            };
            let (label, message) = match &verdict {
                StreamVerdict::Allow => ("allow", None),
                StreamVerdict::Mask(_) => ("mask", None),
                StreamVerdict::Stop(r) => ("stop", Some(r.clone())),
            };
            // A stream's allows are many: only what acted is told to the story.
            let n = self
                .guards
                .told(super::note(g, "stream", label, message, t));
            if label != "allow" {
                self.guards.ctx.story(|s| s.guard(n));
            }
            match verdict {
                StreamVerdict::Allow => {}
                StreamVerdict::Mask(m) => text = m,
                StreamVerdict::Stop(reason) => {
                    return Ok(Judged::Stop(g.spec.plugin.name.clone(), reason));
                }
            }
        }
        Ok(Judged::Send(text))
    }

    /// Judges what is held and sends what may go (or stops the stream). All of it at
    /// the end; otherwise all but the last window, which is judged again with what
    /// follows, so anything up to a window long is judged whole before any of it is
    /// sent. A masked text is sent only up to a cut no mask straddles (the head and
    /// the tail judged apart mask to the whole); with none, more text is awaited, up to
    /// `HOLD_WINDOWS` windows, then all of it goes masked.
    async fn flush(&mut self, last: bool, out: &mut Vec<SseEvent>) -> Result<(), PluginError> {
        if self.pending.is_empty() {
            out.append(&mut self.held);
            return Ok(());
        }
        let all = std::mem::take(&mut self.pending);
        let whole = match self.judge(&all, last).await? {
            Judged::Stop(g, reason) => {
                self.stop(&g, &reason, out);
                return Ok(());
            }
            Judged::Send(t) => t,
        };
        let cut = all.len() - tail(&all, self.window).len();
        if last || cut == 0 {
            self.release(&whole, out);
            return Ok(());
        }
        let (head, rest) = all.split_at(cut);
        if whole == all {
            self.release(head, out);
            self.pending = rest.to_string();
            return Ok(());
        }
        let parts = (
            self.judge(head, false).await?,
            self.judge(rest, false).await?,
        );
        match parts {
            (Judged::Stop(g, reason), _) | (_, Judged::Stop(g, reason)) => {
                self.stop(&g, &reason, out)
            }
            (Judged::Send(h), Judged::Send(r))
                if h.len() + r.len() == whole.len()
                    && whole.starts_with(&h)
                    && whole.ends_with(&r) =>
            {
                self.release(&h, out);
                self.pending = rest.to_string();
            }
            _ if all.chars().count() >= HOLD_WINDOWS * self.window => self.release(&whole, out),
            // A mask straddles the cut: wait for more text.
            _ => self.pending = all,
        }
        Ok(())
    }

    /// Sends `text` with the held events: in the first that carries text (the others
    /// emptied), or in a chunk of its own when none does.
    fn release(&mut self, text: &str, out: &mut Vec<SseEvent>) {
        if !self.replace(text) && !text.is_empty() {
            let mut frame = self
                .frame
                .clone()
                .unwrap_or_else(|| json!({"object": "chat.completion.chunk"}));
            frame["choices"] =
                json!([{ "index": 0, "delta": { "content": text }, "finish_reason": null }]);
            if let Some(o) = frame.as_object_mut() {
                o.remove("usage");
            }
            self.held.insert(
                0,
                SseEvent {
                    event: None,
                    data: frame.to_string(),
                },
            );
        }
        self.before.push_str(text);
        let keep = tail(&self.before, self.window).len();
        self.before.drain(..self.before.len() - keep);
        out.append(&mut self.held);
    }

    /// Puts `text` in the first held event that carries text, and empties the others;
    /// whether one did.
    fn replace(&mut self, text: &str) -> bool {
        let mut first = true;
        for ev in &mut self.held {
            let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
                continue;
            };
            let Some(c) = v["choices"].as_array_mut().and_then(|cs| {
                cs.iter_mut()
                    .find(|c| c["index"].as_u64().unwrap_or(0) == 0)
            }) else {
                continue;
            };
            if !c["delta"]["content"].is_string() {
                continue;
            }
            let put = if std::mem::take(&mut first) { text } else { "" };
            c["delta"]["content"] = Value::String(put.to_string());
            ev.data = v.to_string();
        }
        !first
    }

    /// Ends the stream: the error event, the `content_filter` finish, `[DONE]`.
    fn stop(&mut self, guardrail: &str, reason: &str, out: &mut Vec<SseEvent>) {
        self.stopped = true;
        self.held.clear();
        let error = json!({ "error": {
            "message": format!("the answer was stopped by guardrail '{guardrail}': {reason}"),
            "type": "invalid_request_error",
            "param": null,
            "code": "guardrail_stopped",
        }});
        out.push(SseEvent {
            event: None,
            data: error.to_string(),
        });
        let mut frame = self
            .frame
            .clone()
            .unwrap_or_else(|| json!({"object": "chat.completion.chunk"}));
        frame["choices"] = json!([{ "index": 0, "delta": {}, "finish_reason": "content_filter" }]);
        if let Some(o) = frame.as_object_mut() {
            o.remove("usage");
        }
        out.push(SseEvent {
            event: None,
            data: frame.to_string(),
        });
        out.push(SseEvent {
            event: None,
            data: "[DONE]".into(),
        });
        self.monitor();
    }

    /// The monitors judge the whole text, beside the stream (once).
    fn monitor(&mut self) {
        if !self.monitoring || std::mem::replace(&mut self.monitored, true) {
            return;
        }
        let text = std::mem::take(&mut self.seen);
        for g in self.guards.chain.iter() {
            if !(g.phases.stream && g.spec.mode == GuardMode::Monitor) {
                continue;
            }
            let (pool, r, lent) = (g.pool.clone(), self.guards.req.clone(), self.guards.lent(g));
            let text = text.clone();
            self.guards.monitor(g, "stream", async move {
                let w = calls::Window {
                    before: "",
                    text: &text,
                    last: true,
                };
                let v = calls::check_stream(&pool, &r, w, Some(&lent)).await?;
                Ok(match v {
                    StreamVerdict::Allow => "allow",
                    StreamVerdict::Mask(_) => "mask",
                    StreamVerdict::Stop(_) => "stop",
                })
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_and_reads() {
        assert_eq!(tail("héllo", 3), "llo");
        assert_eq!(tail("hé", 5), "hé");
        assert_eq!(tail("abc", 0), "");
        let (_, t, ends) = read(
            r#"{"id":"x","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
        );
        assert_eq!((t.as_str(), ends), ("hi", false));
        let (_, _, ends) = read(r#"{"id":"x","choices":[],"usage":{}}"#);
        assert!(ends);
        assert!(read("[DONE]").2);
    }
}
