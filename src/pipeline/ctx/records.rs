//! What a closed request leaves behind, written at its one settle point: its access-log
//! line, its spans when it is traced, and its usage record with its story.

use std::time::Duration;

use super::{CacheResult, Protocol, RequestCtx, State, Traced};

impl RequestCtx {
    /// The request's access-log line, when the gateway writes one.
    pub(super) fn access(
        &self,
        s: &State,
        status: u16,
        elapsed: Duration,
        names: (&str, &str, &str),
    ) {
        let Some(w) = &self.access_log else { return };
        let (route, provider, model) = names;
        w.log(&crate::access_log::Entry {
            request_id: &self.id,
            api: self.protocol.label(),
            key: &self.key,
            route,
            provider,
            model,
            status,
            duration_ms: elapsed.as_millis() as u64,
            prompt_tokens: s.usage.prompt,
            completion_tokens: s.usage.completion,
            cache: s.cache.map_or("", CacheResult::label),
            error: s.error.unwrap_or(""),
        });
    }

    /// The request's spans: route, provider and model as the metrics name them.
    pub(super) fn trace(
        &self,
        (t, log, parent): &Traced,
        s: &State,
        status: u16,
        (route, provider, model): (&str, &str, &str),
    ) {
        let operation = match self.protocol {
            Protocol::Embeddings => "embeddings",
            Protocol::Forwarded(api) => api.name(),
            Protocol::Batch => "batches",
            Protocol::Kept(kind) => kind,
            _ => "chat",
        };
        let attempts = s.attempts.iter().map(|a| crate::telemetry::Attempt {
            provider: &a.provider,
            model: &a.model,
            status: a.status,
            started: a.started,
            took: a.took,
            failure: a.failure.as_deref(),
        });
        t.record(crate::telemetry::RequestTrace {
            id: &self.id,
            operation,
            api: self.protocol.label(),
            key: &self.key,
            route,
            provider,
            model,
            status,
            started: self.started,
            usage: s.usage,
            finish_reason: s.finish.as_deref(),
            cache: s.cache.map(CacheResult::label),
            error: s.error,
            attempts: attempts.collect(),
            calls: log.take(),
            parent: parent.clone(),
        });
    }
}

/// What a closed request amounted to, for its usage record.
pub(super) struct Closed<'a> {
    pub(super) route: String,
    pub(super) provider: &'a str,
    pub(super) model: &'a str,
    pub(super) status: u16,
    pub(super) cost_micros: u64,
    pub(super) elapsed: Duration,
    pub(super) overhead: Duration,
}

impl RequestCtx {
    /// The request's usage record, handed to the writer (when usage is recorded).
    pub(super) fn record_usage(&self, s: &mut State, c: Closed<'_>) {
        let Some(w) = &self.usage_log else { return };
        let mut story = s.story.take();
        if let Some(st) = story.as_deref_mut() {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            for a in &s.attempts {
                st.attempt(crate::usage::story::Attempt {
                    provider: a.provider.clone(),
                    model: a.model.clone(),
                    status: a.status,
                    start_ms: ms(a.started.saturating_duration_since(self.started)),
                    duration_ms: ms(a.took),
                    failure: a.failure.clone(),
                });
            }
            st.cache = s.cache.map(CacheResult::label);
        }
        let monitors = std::mem::take(&mut s.monitors);
        let record = crate::usage::Record {
            parent_id: s.parent.take(),
            request_id: self.id.clone(),
            api: self.protocol.label().to_string(),
            route: c.route,
            key: self.key.clone(),
            team: s.team.take(),
            user: s.user.take(),
            provider: c.provider.to_string(),
            model: c.model.to_string(),
            status: c.status,
            error: s.error.map(str::to_string),
            error_message: s.attempts.iter().rev().find_map(|a| a.failure.clone()),
            prompt_tokens: s.usage.prompt,
            cached_tokens: s.usage.cached_prompt,
            completion_tokens: s.usage.completion,
            cost_usd: c.cost_micros as f64 / 1e6,
            ttft_ms: s.first_byte.map(|t| t.as_millis() as u64),
            duration_ms: c.elapsed.as_millis() as u64,
            attempts: s.attempts.len() as u32,
            estimated: s.estimated,
            prompt: s.prompt.take(),
            requested: s.requested.take(),
            overhead_ms: Some(c.overhead.as_secs_f64() * 1000.0),
            story,
        };
        if monitors.is_empty() {
            w.record(record);
            return;
        }
        // The monitors' verdicts join the record when they end, off the request path.
        let w = w.clone();
        tokio::spawn(async move {
            let mut record = record;
            for m in monitors {
                if let (Ok(note), Some(st)) = (m.await, record.story.as_deref_mut()) {
                    st.guard(note);
                }
            }
            w.record(record);
        });
    }
}

impl RequestCtx {
    /// This request was made by a guardrail's model call for request `parent`.
    pub fn child_of(&self, parent: &str) {
        self.state.lock().parent = Some(parent.to_string());
    }

    /// A guardrail judging in `monitor` mode began: its verdict joins the record.
    pub fn monitor(&self, task: tokio::task::JoinHandle<crate::usage::story::GuardNote>) {
        self.state.lock().monitors.push(task);
    }
}
