//! Redaction of a streamed answer, chunk by chunk, without letting a match that is
//! split across chunks slip through: chat chunks here, a passed-through API's own
//! events in `native.rs`.
//!
//! Each choice's text is held in a pending buffer. Once it is longer than the route's
//! window, the buffer is cut `window` characters from its end and the redactors are
//! asked, in one call, for the whole buffer, the part before the cut and the part after.
//! When the two parts redact to exactly the whole (no match straddles the cut), the
//! redacted head is sent and the tail stays pending; otherwise nothing is sent yet and
//! the next chunk moves the cut on. A choice's `finish_reason`, the usage chunk or
//! `[DONE]` flushes what is pending. So any match of up to `window` characters is
//! masked however the provider splits the text; the client sees the text `window`
//! characters late. A buffer that stays inconsistent past `HOLD_FACTOR` windows (a
//! match longer than the window) is sent redacted as it stands.
//!
//! Provider keys (`crate::secrets`) need no fixed window: with `masking_keys`, only the
//! end of the pending text that could be the start of a key is held back (usually
//! nothing), so a keyed provider's stream is not delayed while a key split across
//! chunks is still caught.

use std::future::Future;

use serde_json::Value;

use super::Chain;
use crate::native::NativeApi;
use crate::plugins::{FailureKind, PluginError};
use crate::types::{Direction, SseEvent};

/// Pending text beyond `HOLD_FACTOR × window` characters is sent even if unsettled.
const HOLD_FACTOR: usize = 8;

/// What redacts the texts: the route's redactor chain, or a plain function in tests.
pub trait Redact {
    fn redact(
        &self,
        texts: Vec<String>,
    ) -> impl Future<Output = Result<Vec<String>, PluginError>> + Send;
}

/// What a streamed answer's text goes through: the route's redactors, if it redacts
/// answers, then the provider keys (`crate::secrets`), which no answer may carry.
#[derive(Clone)]
pub struct Masks {
    pub chain: Option<Chain>,
}

impl Redact for Masks {
    async fn redact(&self, texts: Vec<String>) -> Result<Vec<String>, PluginError> {
        let texts = match &self.chain {
            Some(c) => super::run(c, Direction::Response, texts).await?,
            None => texts,
        };
        Ok(texts.into_iter().map(crate::secrets::scrub_owned).collect())
    }
}

pub struct StreamRedactor<R = Masks> {
    pub(super) redact: R,
    window: usize,
    /// Also hold back a pending tail that could begin a provider key.
    keys: bool,
    /// Text received but not yet sent, by choice index.
    pub(super) pending: Vec<(u64, String)>,
    /// The first chunk without its choices: the frame of a chunk made to flush.
    template: Option<Value>,
    /// A passed-through stream's API (its own events carry the text), else chat.
    pub(super) api: Option<NativeApi>,
}

impl StreamRedactor {
    /// What a stream's text goes through: the route's redactors (with their window),
    /// when it redacts answers, and the provider's key, when it has one (a tail that
    /// could begin the key held back). `None` when there is nothing to mask.
    pub fn for_stream(redact: Option<(&Chain, usize)>, keyed: bool) -> Option<Self> {
        let keyed = keyed && crate::secrets::longest() > 0;
        let window = redact.map_or(0, |(_, w)| w);
        let masks = Masks {
            chain: redact.map(|(c, _)| c.clone()),
        };
        match (keyed, masks.chain.is_some()) {
            (true, _) => Some(Self::masking_keys(masks, window)),
            (false, true) => Some(Self::new(masks, window)),
            (false, false) => None,
        }
    }
}

impl<R: Redact> StreamRedactor<R> {
    pub fn new(redact: R, window: usize) -> Self {
        StreamRedactor {
            redact,
            window: window.max(1),
            keys: false,
            pending: Vec::new(),
            template: None,
            api: None,
        }
    }

    /// A redactor that holds back `window` characters for the route's redactors (0 when
    /// it has none) and any pending tail that could begin a provider key; `redact` must
    /// mask keys (`Masks` does).
    pub fn masking_keys(redact: R, window: usize) -> Self {
        StreamRedactor {
            redact,
            window,
            keys: true,
            pending: Vec::new(),
            template: None,
            api: None,
        }
    }

    /// The same redaction for a stream passed through in `api`'s own events.
    pub fn for_native(mut self, api: NativeApi) -> Self {
        self.api = Some(api);
        self
    }

    /// The events to send in place of `events`.
    pub async fn process(&mut self, events: Vec<SseEvent>) -> Result<Vec<SseEvent>, PluginError> {
        match self.api {
            None => self.process_chat(events).await,
            Some(NativeApi::Messages) => self.process_anthropic(events).await,
            Some(_) => self.process_responses(events).await,
        }
    }

    async fn process_chat(&mut self, events: Vec<SseEvent>) -> Result<Vec<SseEvent>, PluginError> {
        let mut out = Vec::with_capacity(events.len() + 1);
        for mut ev in events {
            if ev.data == "[DONE]" {
                self.flush_into(&mut out).await?;
                out.push(ev);
                continue;
            }
            let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
                out.push(ev);
                continue;
            };
            let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
                out.push(ev);
                continue;
            };
            if choices.is_empty() {
                // The usage chunk: the choices have ended.
                self.flush_into(&mut out).await?;
                out.push(ev);
                continue;
            }
            if self.changed(choices).await? {
                ev.data = v.to_string();
            }
            if self.template.is_none()
                && let Value::Object(mut frame) = v
            {
                frame.remove("choices");
                frame.remove("usage");
                self.template = Some(Value::Object(frame));
            }
            out.push(ev);
        }
        Ok(out)
    }

    /// Moves each choice's new text through its pending buffer; whether any changed.
    async fn changed(&mut self, choices: &mut [Value]) -> Result<bool, PluginError> {
        let mut changed = false;
        for c in choices {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
            let content = c
                .get("delta")
                .and_then(|d| d.get("content"))
                .and_then(Value::as_str);
            if content.is_none() && !finished {
                continue;
            }
            let had_content = content.is_some();
            self.buffer(index).push_str(content.unwrap_or(""));
            let send = if finished {
                self.flush(index).await?
            } else {
                self.advance(index).await?
            };
            if had_content || !send.is_empty() {
                if !c.get("delta").is_some_and(Value::is_object) {
                    c["delta"] = Value::Object(Default::default());
                }
                c["delta"]["content"] = Value::String(send);
                changed = true;
            }
        }
        Ok(changed)
    }

    pub(super) fn buffer(&mut self, index: u64) -> &mut String {
        let at = match self.pending.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.pending.push((index, String::new()));
                self.pending.len() - 1
            }
        };
        &mut self.pending[at].1
    }

    /// The redacted text that can be sent now, keeping the window pending.
    pub(super) async fn advance(&mut self, index: u64) -> Result<String, PluginError> {
        let keys = self.keys;
        let base = self.window;
        let text = self.buffer(index);
        let chars = text.chars().count();
        // A key's start is ASCII: the bytes held for it are as many characters.
        let window = if keys {
            base.max(crate::secrets::partial_suffix(text.as_bytes()))
        } else {
            base
        };
        if chars <= window && !(window == 0 && chars > 0) {
            return Ok(String::new());
        }
        let cut = text
            .char_indices()
            .nth(chars - window)
            .map_or(text.len(), |(b, _)| b);
        let whole = text.clone();
        let (head, tail) = whole.split_at(cut);
        let out = self
            .redact
            .redact(vec![whole.clone(), head.to_string(), tail.to_string()])
            .await?;
        let [all, h, t] = <[String; 3]>::try_from(out).map_err(|o| miscounted(o.len(), 3))?;
        let settled = all.len() == h.len() + t.len() && all.starts_with(&h) && all.ends_with(&t);
        let text = self.buffer(index);
        if settled {
            text.replace_range(..cut, "");
            Ok(h)
        } else if chars > window.max(1) * HOLD_FACTOR {
            text.clear();
            Ok(all)
        } else {
            Ok(String::new())
        }
    }

    /// All that is pending for `index`, redacted.
    pub(super) async fn flush(&mut self, index: u64) -> Result<String, PluginError> {
        let text = std::mem::take(self.buffer(index));
        if text.is_empty() {
            return Ok(text);
        }
        let out = self.redact.redact(vec![text]).await?;
        let n = out.len();
        out.into_iter().next().ok_or_else(|| miscounted(n, 1))
    }

    /// Sends what is still pending (choices that ended without a `finish_reason`) as
    /// one chunk per choice.
    async fn flush_into(&mut self, out: &mut Vec<SseEvent>) -> Result<(), PluginError> {
        let indexes: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(i, _)| *i)
            .collect();
        for index in indexes {
            let text = self.flush(index).await?;
            let mut chunk = self
                .template
                .clone()
                .unwrap_or_else(|| serde_json::json!({ "object": "chat.completion.chunk" }));
            chunk["choices"] = serde_json::json!([
                { "index": index, "delta": { "content": text }, "finish_reason": null }
            ]);
            out.push(SseEvent {
                event: None,
                data: chunk.to_string(),
            });
        }
        Ok(())
    }
}

/// A redactor answered with the wrong number of texts (the chain checks this per call;
/// a `Redact` of another kind might not).
fn miscounted(got: usize, want: usize) -> PluginError {
    PluginError::Call {
        plugin: "redactor".into(),
        kind: FailureKind::InvalidOutput,
        message: format!("returned {got} texts for {want}"),
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
