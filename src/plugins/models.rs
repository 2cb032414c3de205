//! The 0.3.0 host interfaces a plugin reaches beyond itself: `models` (a chat
//! completion or embeddings through the gateway's own pipeline, as a child of the
//! request the call serves) and `keyvalue` (its bounded store, `counters/keyvalue.rs`).
//! The pipeline lends a call a `host::ModelAccess` (the request's principal, billing
//! and depth); a call made for no request (at load, for a child request) has none, and
//! `infer`/`embed` then answer with an error the plugin can act on.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::bindings::v0_3;
use super::convert::Conv;
use super::host::{HostState, ModelAccess};
use crate::types as d;

/// Most texts one `embed` may send, and most messages one `infer`: a plugin's call
/// stays a request a provider would take.
const MAX_ITEMS: usize = 2048;

impl HostState {
    async fn model_call<T>(
        &mut self,
        f: impl FnOnce(&Arc<dyn ModelAccess>) -> BoxFuture<'static, Result<T, String>>,
    ) -> Result<T, String> {
        let Some(lent) = self.models.clone() else {
            return Err(
                "no model may be asked here: models.infer and models.embed answer only during a call made for a request (not at load, nor in a guardrail's own model call)"
                    .into(),
            );
        };
        self.charge();
        let r = tokio::time::timeout(lent.timeout, f(&lent.access)).await;
        self.resumed();
        r.unwrap_or_else(|_| {
            Err(format!(
                "the model did not answer within {:?} (the plugin's model_timeout)",
                lent.timeout
            ))
        })
    }
}

impl v0_3::models::Host for HostState {
    async fn infer(
        &mut self,
        route: String,
        messages: Vec<v0_3::types::ChatMessage>,
        params: v0_3::types::InferParams,
    ) -> wasmtime::Result<Result<v0_3::types::InferAnswer, String>> {
        if messages.is_empty() || messages.len() > MAX_ITEMS {
            return Ok(Err(format!(
                "infer takes 1 to {MAX_ITEMS} messages, not {}",
                messages.len()
            )));
        }
        let messages: Vec<d::ChatMessage> = messages.conv();
        let params = d::InferParams {
            max_tokens: params.max_tokens,
            temperature: params.temperature,
            json: params.json,
        };
        let r = self.model_call(|a| a.infer(route, messages, params)).await;
        Ok(r.map(Conv::conv))
    }

    async fn embed(
        &mut self,
        route: String,
        texts: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Vec<f32>>, String>> {
        if texts.is_empty() || texts.len() > MAX_ITEMS {
            return Ok(Err(format!(
                "embed takes 1 to {MAX_ITEMS} texts, not {}",
                texts.len()
            )));
        }
        Ok(self.model_call(|a| a.embed(route, texts)).await)
    }

    async fn moderate(
        &mut self,
        route: String,
        texts: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<v0_3::types::Moderation>, String>> {
        if texts.is_empty() || texts.len() > MAX_ITEMS {
            return Ok(Err(format!(
                "moderate takes 1 to {MAX_ITEMS} texts, not {}",
                texts.len()
            )));
        }
        let r = self.model_call(|a| a.moderate(route, texts)).await;
        Ok(r.map(|list| {
            list.into_iter()
                .map(|m| v0_3::types::Moderation {
                    flagged: m.flagged,
                    scores: m.scores,
                })
                .collect()
        }))
    }
}

impl v0_3::keyvalue::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.charge();
        let r = self.counters().kv_get(self.plugin(), &key).await;
        self.resumed();
        Ok(r?)
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_secs: u64,
    ) -> wasmtime::Result<Result<(), String>> {
        use super::counters::keyvalue::KvError;
        self.charge();
        let r = self
            .counters()
            .kv_set(self.plugin(), &key, value, ttl_secs)
            .await;
        self.resumed();
        match r {
            Ok(()) => Ok(Ok(())),
            // The store failing is the call's failure (as for counters); a refusal is
            // the plugin's to handle.
            Err(KvError::Store(e)) => Err(e.into()),
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        self.charge();
        let r = self.counters().kv_delete(self.plugin(), &key).await;
        self.resumed();
        Ok(r?)
    }
}

impl Conv<d::ChatMessage> for v0_3::types::ChatMessage {
    fn conv(self) -> d::ChatMessage {
        d::ChatMessage {
            role: self.role,
            content: self.content,
        }
    }
}

impl Conv<v0_3::types::ChatMessage> for d::ChatMessage {
    fn conv(self) -> v0_3::types::ChatMessage {
        v0_3::types::ChatMessage {
            role: self.role,
            content: self.content,
        }
    }
}

impl Conv<v0_3::types::InferAnswer> for d::InferAnswer {
    fn conv(self) -> v0_3::types::InferAnswer {
        v0_3::types::InferAnswer {
            text: self.text,
            finish_reason: self.finish_reason,
            model: self.model,
            usage: self.usage.conv(),
        }
    }
}
