//! A guardrail's (or a 0.3.0 strategy's) model calls: `models.infer` and
//! `models.embed` run as **child requests** through the gateway's own pipeline, on the
//! route they name, with the parent request's principal — so the route's strategy,
//! failover, cache and policies apply, the key's and team's budgets are charged, and
//! the child's usage record names its parent (`parent_id`). A child runs no guardrails
//! of its own (depth 1, said in its record), and its id joins the parent's story.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::body::Endpoint;
use super::{Protocol, Request};
use crate::gateway::Gateway;
use crate::live::Principal;
use crate::native::NativeApi;
use crate::plugins::ModelAccess;
use crate::types::{ChatMessage, InferAnswer, InferParams, Moderation, Usage};

/// The largest answer a child request's body may be read to (a plugin gets the
/// text; an answer past this is refused rather than held).
const MOST_BYTES: usize = 8 << 20;

/// Model calls made on behalf of one request.
pub struct ChildAccess {
    gw: Weak<Gateway>,
    principal: Principal,
    parent: String,
    /// The children made so far (their request ids), for the parent's story.
    pub children: Arc<Mutex<Vec<String>>>,
}

impl ChildAccess {
    pub fn new(gw: &Gateway, principal: &Principal, parent: &str) -> Arc<ChildAccess> {
        Arc::new(ChildAccess {
            gw: gw.me.clone(),
            principal: principal.clone(),
            parent: parent.to_string(),
            children: Default::default(),
        })
    }

    /// Runs one child request; its status and body.
    async fn run(
        gw: Weak<Gateway>,
        principal: Principal,
        parent: String,
        children: Arc<Mutex<Vec<String>>>,
        (protocol, endpoint, body, native): Asked,
    ) -> Result<(u16, Bytes), String> {
        let gw = gw
            .upgrade()
            .ok_or_else(|| "the gateway is shutting down".to_string())?;
        let req = Request {
            protocol,
            principal: &principal,
            endpoint,
            directive: crate::cache::Directive::Use,
            body: Bytes::from(body.to_string()),
            native: native.map(|(api, body)| {
                let mut n = super::Native::new(api, Bytes::from(body.to_string()), Vec::new());
                n.only = Some(format!("/v1/{} has no chat form", api.name()));
                n
            }),
            pin: None,
            prompt: None,
            admin: false,
            parent: Some(parent),
        };
        let resp = Box::pin(super::handle(&gw, req)).await;
        if let Some(id) = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            let mut c = children.lock();
            if c.len() < 64 {
                c.push(id.to_string());
            }
        }
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MOST_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok((status, body))
    }

    fn call(&self, what: Asked) -> BoxFuture<'static, Result<(u16, Bytes), String>> {
        Box::pin(Self::run(
            self.gw.clone(),
            self.principal.clone(),
            self.parent.clone(),
            self.children.clone(),
            what,
        ))
    }
}

/// What a child request asks: its protocol and endpoint, its chat (or embeddings)
/// form, and for an API with no chat form its own body.
type Asked = (Protocol, Endpoint, Value, Option<(NativeApi, Value)>);

/// The error an answer carries, as the plugin is told it.
fn failed(status: u16, body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().unwrap_or("no message");
    format!("the route answered {status}: {message}")
}

/// A chat request for `route` from a plugin's messages and parameters.
pub fn chat_body(route: &str, messages: &[ChatMessage], params: &InferParams) -> Value {
    let mut body = json!({
        "model": route,
        "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
    });
    if let Some(t) = params.max_tokens {
        body["max_tokens"] = json!(t);
    }
    if let Some(t) = params.temperature.filter(|t| t.is_finite()) {
        body["temperature"] = json!(t);
    }
    if params.json {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

/// A chat completion as `models.infer` answers it: the first choice.
pub fn answer_of(body: &[u8]) -> Result<InferAnswer, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let choice = &v["choices"][0];
    let u = &v["usage"];
    Ok(InferAnswer {
        text: choice["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        finish_reason: choice["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        model: v["model"].as_str().unwrap_or_default().to_string(),
        usage: Usage {
            prompt: u["prompt_tokens"].as_u64().unwrap_or(0),
            completion: u["completion_tokens"].as_u64().unwrap_or(0),
            cached_prompt: u["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap_or(0),
        },
    })
}

/// Embeddings in the order of their `index`.
pub fn vectors_of(body: &[u8], n: usize) -> Result<Vec<Vec<f32>>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let data = v["data"].as_array().ok_or("the answer has no data")?;
    let mut out = vec![Vec::new(); n];
    for d in data {
        let i = d["index"].as_u64().unwrap_or(0) as usize;
        let vector = d["embedding"]
            .as_array()
            .ok_or("an embedding is not a list of numbers")?
            .iter()
            .map(|x| x.as_f64().unwrap_or(0.0) as f32)
            .collect();
        if let Some(slot) = out.get_mut(i) {
            *slot = vector;
        }
    }
    if out.iter().any(Vec::is_empty) {
        return Err(format!("the answer has fewer than {n} embeddings"));
    }
    Ok(out)
}

impl ModelAccess for ChildAccess {
    fn infer(
        &self,
        route: String,
        messages: Vec<ChatMessage>,
        params: InferParams,
    ) -> BoxFuture<'static, Result<InferAnswer, String>> {
        let body = chat_body(&route, &messages, &params);
        let call = self.call((Protocol::ChatCompletions, Endpoint::Chat, body, None));
        Box::pin(async move {
            let (status, body) = call.await?;
            if status != 200 {
                return Err(failed(status, &body));
            }
            answer_of(&body)
        })
    }

    fn embed(
        &self,
        route: String,
        texts: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<Vec<f32>>, String>> {
        let n = texts.len();
        let body = json!({ "model": route, "input": texts });
        let call = self.call((Protocol::Embeddings, Endpoint::Embeddings, body, None));
        Box::pin(async move {
            let (status, body) = call.await?;
            if status != 200 {
                return Err(failed(status, &body));
            }
            vectors_of(&body, n)
        })
    }

    fn moderate(
        &self,
        route: String,
        texts: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<Moderation>, String>> {
        let n = texts.len();
        // What policies read (the route, the size of what is asked), and the body itself.
        let facts = crate::native::facts_only(
            &json!(route),
            texts.join("\n"),
            &Value::Null,
            &Value::Bool(false),
        );
        let body = json!({ "model": route, "input": texts });
        let api = NativeApi::Moderations;
        let call = self.call((
            Protocol::Forwarded(api),
            Endpoint::Chat,
            facts,
            Some((api, body)),
        ));
        Box::pin(async move {
            let (status, body) = call.await?;
            if status != 200 {
                return Err(failed(status, &body));
            }
            moderations_of(&body, n)
        })
    }
}

/// OpenAI's moderation results, one per text.
pub fn moderations_of(body: &[u8], n: usize) -> Result<Vec<Moderation>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let results = v["results"].as_array().ok_or("the answer has no results")?;
    if results.len() != n {
        return Err(format!(
            "the answer has {} results for {n} texts",
            results.len()
        ));
    }
    Ok(results
        .iter()
        .map(|r| Moderation {
            flagged: r["flagged"].as_bool().unwrap_or(false),
            scores: r["category_scores"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, s)| Some((k.clone(), s.as_f64()? as f32)))
                .collect(),
        })
        .collect())
}
