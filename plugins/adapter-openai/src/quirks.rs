//! What OpenAI-compatible endpoints do differently, as settings: fields dropped or
//! renamed, `stream_options` never sent, extra query parameters, and a stream whose
//! usage sits inside `choices[0]` moved to where OpenAI's clients read it.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use switchboard_sdk::openai;
use switchboard_sdk::settings::Settings;
use switchboard_sdk::types::{
    AdapterError, RequestContext, SseEvent, TokenUsage, TranslatedEvents,
};

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    #[serde(default)]
    pub drop: Vec<String>,
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    pub stream_options: Option<bool>,
    pub stream_usage: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
}

impl Settings for Quirks {
    fn check(&self) -> Result<(), String> {
        if let Some(u) = self
            .stream_usage
            .as_deref()
            .filter(|u| !["usage", "choice"].contains(u))
        {
            return Err(format!(
                "stream_usage must be \"usage\" or \"choice\", not \"{u}\""
            ));
        }
        for (from, to) in &self.rename {
            if from == "model" || to == "model" || to.is_empty() {
                return Err(format!("rename cannot map {from} to \"{to}\""));
            }
        }
        if self.drop.iter().any(|f| f == "model" || f == "messages") {
            return Err("drop cannot remove model or messages".into());
        }
        Ok(())
    }
}

impl Quirks {
    /// Whether the body must be rebuilt (anything but the model changes).
    pub fn edits_body(&self) -> bool {
        !self.drop.is_empty() || !self.rename.is_empty() || self.stream_options == Some(false)
    }

    pub fn usage_in_choice(&self) -> bool {
        self.stream_usage.as_deref() == Some("choice")
    }

    /// The body with the model set, fields dropped and renamed (a renamed field does
    /// not overwrite one the client also sent under the new name).
    pub fn edit(&self, ctx: &RequestContext, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
        let mut v: serde_json::Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
            openai::invalid(format!("request body is not a JSON object: {e}"), None)
        })?;
        v.insert("model".into(), Value::String(ctx.target_model.clone()));
        for f in &self.drop {
            v.remove(f);
        }
        if self.stream_options == Some(false) {
            v.remove("stream_options");
        }
        for (from, to) in &self.rename {
            if let Some(x) = v.remove(from) {
                v.entry(to.clone()).or_insert(x);
            }
        }
        serde_json::to_vec(&v)
            .map_err(|e| openai::invalid(format!("cannot encode request: {e}"), None))
    }
}

/// Forwards a stream's events, moving `choices[0].usage` to the chunk's `usage`.
#[derive(Default)]
pub struct UsageMover {
    usage: Cell<Option<TokenUsage>>,
}

fn token_usage(u: &Value) -> TokenUsage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    TokenUsage {
        prompt_tokens: n("/prompt_tokens"),
        completion_tokens: n("/completion_tokens"),
        cached_prompt_tokens: n("/prompt_tokens_details/cached_tokens").max(n("/cached_tokens")),
    }
}

impl UsageMover {
    pub fn event(&self, ev: SseEvent) -> TranslatedEvents {
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            return TranslatedEvents {
                events: vec![ev],
                usage: None,
            }; // `[DONE]`
        };
        let inner = v
            .pointer_mut("/choices/0")
            .and_then(Value::as_object_mut)
            .and_then(|c| c.remove("usage"));
        let (events, usage) = match inner {
            Some(u) if u.is_object() => {
                let t = token_usage(&u);
                v["usage"] = u;
                (
                    vec![SseEvent {
                        event: ev.event,
                        data: v.to_string(),
                    }],
                    Some(t),
                )
            }
            _ => {
                let top = v.get("usage").filter(|u| u.is_object()).map(token_usage);
                (vec![ev], top)
            }
        };
        if let Some(u) = usage {
            self.usage.set(Some(u));
        }
        TranslatedEvents { events, usage }
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        let u = self.usage.take();
        self.usage.set(u);
        u
    }
}
