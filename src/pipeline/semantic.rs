//! The semantic cache on the request path (`[cache] semantic`): a chat request the exact
//! cache missed is embedded — a child request on the embeddings route, billed to this
//! request as a guardrail's model calls are — and looked up among the prompts whose
//! answers the cache holds, in its partition (route, scope, the parameters that change
//! an answer). A hit at or above the threshold is served as the stored answer (a
//! stream replays it) with `x-switchboard-cache: semantic` and its similarity; a miss
//! carries the embedding to the store, so the fresh answer is indexed. A sample of hits
//! is checked by the verifier route, beside the request: the false-hit rate.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::child::ChildAccess;
use super::ctx::RequestCtx;
use crate::cache::{ResponseCache, SemanticEntry, key};
use crate::config::semantic::{SemanticConfig, SemanticScope};
use crate::live::{LiveRoute, Principal};
use crate::plugins::ModelAccess;
use crate::types::{ChatMessage, InferParams};

/// The header a semantic hit says its similarity in.
pub const SIMILARITY_HEADER: &str = "x-switchboard-cache-similarity";

/// What the semantic cache made of a miss of the exact cache.
pub enum Semantic {
    /// A stored answer close enough, and how close.
    Hit(Bytes, f32),
    /// None: index the fresh answer under this entry (when the prompt was embedded).
    Miss(Option<SemanticEntry>),
}

/// The prompt as it is compared: each message's role and text, whitespace collapsed.
pub fn prompt_of(body: &Value) -> String {
    let messages = super::guard::messages_of(body);
    let mut out = String::new();
    for m in &messages {
        out.push_str(&m.role);
        out.push_str(": ");
        let words: Vec<&str> = m.content.split_whitespace().collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// The partition of a request: its route, scope and every parameter but the messages.
fn partition(route: &str, scope: Option<&str>, body: &Value) -> Option<[u8; 32]> {
    let mut rest = body.clone();
    rest.as_object_mut()?.remove("messages");
    let bytes = serde_json::to_vec(&rest).ok()?;
    key::key(route, "semantic", scope, &bytes).map(|k| k.0)
}

/// Looks a chat request up by its prompt's embedding.
pub async fn lookup(
    gw: &crate::gateway::Gateway,
    (cache, cfg): (&Arc<ResponseCache>, &SemanticConfig),
    route: &LiveRoute,
    (principal, per_key): (&Principal, bool),
    ctx: &RequestCtx,
    body: &[u8],
) -> Semantic {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Semantic::Miss(None);
    };
    let scoped = per_key || cfg.scope == SemanticScope::Key;
    let scope = scoped.then_some(principal.key_name.as_str());
    let (Some(partition), prompt) = (partition(&route.route.name, scope, &v), prompt_of(&v)) else {
        return Semantic::Miss(None);
    };
    let access = ChildAccess::new(gw, principal, &ctx.id);
    let embedded = access.embed(cfg.route.clone(), vec![prompt.clone()]).await;
    let children = std::mem::take(&mut *access.children.lock());
    ctx.story(|s| children.iter().for_each(|id| s.child(id)));
    let name = &route.route.name;
    let vector = match embedded.map(|mut v| v.pop().and_then(|v| crate::cache::semantic::unit(&v)))
    {
        Ok(Some(v)) => v,
        Ok(None) | Err(_) => {
            ctx.metrics().semantic(name, "error");
            return Semantic::Miss(None);
        }
    };
    let Some(found) = cache
        .semantic_lookup(&partition, &vector, cfg.threshold)
        .await
    else {
        ctx.metrics().semantic(name, "miss");
        return Semantic::Miss(Some(SemanticEntry {
            partition,
            vector,
            prompt,
        }));
    };
    ctx.metrics().semantic(name, "hit");
    if let Some(judge) = &cfg.verify
        && rand::random::<f64>() < cfg.verify_sample
    {
        verify(ctx, access, judge, name, (&found.1, &prompt));
    }
    Semantic::Hit(found.0, found.2)
}

/// Asks the verifier, beside the request, whether the two prompts ask for the same
/// answer; the verdict goes to the metrics.
fn verify(
    ctx: &RequestCtx,
    access: Arc<ChildAccess>,
    judge: &str,
    route: &str,
    (stored, new): (&str, &str),
) {
    let question = format!(
        "Would one answer serve both of these requests equally well? Answer with exactly one word: yes or no.\n<<<A\n{stored}\nA>>>\n<<<B\n{new}\nB>>>"
    );
    let m = vec![ChatMessage {
        role: "user".into(),
        content: question,
    }];
    let p = InferParams {
        max_tokens: Some(3),
        temperature: Some(0.0),
        json: false,
    };
    let call = access.infer(judge.to_string(), m, p);
    let metrics = ctx.metrics().clone();
    let route = route.to_string();
    tokio::spawn(async move {
        let verdict = match call.await {
            Ok(a) if a.text.trim_start().to_ascii_lowercase().starts_with("yes") => "same",
            Ok(_) => "different",
            Err(_) => "error",
        };
        metrics.semantic_verdict(&route, verdict);
    });
}
