//! `switchboard plugin test` for a guardrail: each case is one check, with the model
//! answers `models.infer` gives during it (`"models": {"route": "answer"}`; a route
//! without one fails the call, as a route down would) and deterministic embeddings:
//! `{"check": "request", "text": "…"}` (or `"messages": [{"role", "content"}]`),
//! `{"check": "response", "texts": ["…"]}`, `{"check": "stream", "before": "…",
//! "window": "…", "last": true}`. The output is the verdict:
//! `{"verdict": "allow"}`, `{"verdict": "deny", "message", "code", "status"}`,
//! `{"verdict": "rewrite", "messages" | "texts"}`, `{"verdict": "mask", "text"}`,
//! `{"verdict": "stop", "reason"}`, plus the models asked (`"asked": ["route"]`).

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::plugins::calls::{self, GuardrailPool};
use crate::plugins::{Lent, ModelAccess, PluginError};
use crate::types::{
    AnswerVerdict, ChatMessage, GuardDenial, GuardRequest, InferAnswer, InferParams,
    RequestVerdict, StreamVerdict, Usage,
};

/// The answers a case gives `models.infer`, and the routes asked.
struct CaseModels {
    answers: HashMap<String, String>,
    moderation: Vec<(String, f32)>,
    asked: Mutex<Vec<String>>,
}

/// A deterministic 16-dimensional unit vector of `text` (as the SDKs' fake hosts give).
pub fn embedding(text: &str) -> Vec<f32> {
    let mut v = [0f32; 16];
    for (i, b) in text.bytes().enumerate() {
        v[(b as usize + i) % 16] += 1.0;
    }
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / norm).collect()
}

impl ModelAccess for CaseModels {
    fn infer(
        &self,
        route: String,
        _messages: Vec<ChatMessage>,
        _params: InferParams,
    ) -> BoxFuture<'static, Result<InferAnswer, String>> {
        self.asked.lock().push(route.clone());
        let a = self.answers.get(&route).cloned();
        Box::pin(async move {
            let text = a.ok_or_else(|| {
                format!("the case gives no answer for route `{route}` (\"models\")")
            })?;
            Ok(InferAnswer {
                text,
                finish_reason: "stop".into(),
                model: route,
                usage: Usage::default(),
            })
        })
    }

    fn embed(
        &self,
        _route: String,
        texts: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<Vec<f32>>, String>> {
        Box::pin(async move { Ok(texts.iter().map(|t| embedding(t)).collect()) })
    }

    /// The case's `"moderation"` scores (`{"violence": 0.9}`) for every text; flagged
    /// when one reaches 0.5.
    fn moderate(
        &self,
        route: String,
        texts: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<crate::types::Moderation>, String>> {
        self.asked.lock().push(route);
        let scores = self.moderation.clone();
        Box::pin(async move {
            let flagged = scores.iter().any(|(_, s)| *s >= 0.5);
            let m = crate::types::Moderation { flagged, scores };
            Ok(texts.iter().map(|_| m.clone()).collect())
        })
    }
}

fn messages(case: &Value) -> Vec<ChatMessage> {
    if let Some(list) = case["messages"].as_array() {
        return list
            .iter()
            .map(|m| ChatMessage {
                role: m["role"].as_str().unwrap_or("user").into(),
                content: m["content"].as_str().unwrap_or_default().into(),
            })
            .collect();
    }
    vec![ChatMessage {
        role: "user".into(),
        content: case["text"].as_str().unwrap_or_default().into(),
    }]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect()
}

fn denial(d: &GuardDenial) -> Value {
    json!({ "verdict": "deny", "message": d.message, "code": d.code, "status": d.status })
}

/// Runs one guardrail case; its verdict as JSON.
pub async fn run(pool: &Arc<GuardrailPool>, case: &Value) -> Result<Value, PluginError> {
    let models = Arc::new(CaseModels {
        answers: case["models"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        asked: Mutex::new(Vec::new()),
        moderation: case["moderation"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()? as f32)))
            .collect(),
    });
    let lent = Lent {
        access: models.clone(),
        timeout: std::time::Duration::from_secs(5),
    };
    let req = GuardRequest {
        request_id: "req-test".into(),
        key_name: case["key"].as_str().unwrap_or("test").into(),
        team: None,
        user: None,
        route: case["route"].as_str().unwrap_or("m").into(),
        messages: messages(case),
        response_schema: case.get("schema").map(Value::to_string),
        json_output: case.get("schema").is_some(),
        stream: case["check"] == "stream",
    };
    let mut out = match case["check"].as_str().unwrap_or("request") {
        "response" => {
            match calls::check_response(pool, &req, &strings(&case["texts"]), Some(&lent)).await? {
                AnswerVerdict::Allow => json!({ "verdict": "allow" }),
                AnswerVerdict::Deny(d) => denial(&d),
                AnswerVerdict::Rewrite(t) => json!({ "verdict": "rewrite", "texts": t }),
            }
        }
        "stream" => {
            let w = calls::Window {
                before: case["before"].as_str().unwrap_or_default(),
                text: case["window"].as_str().unwrap_or_default(),
                last: case["last"].as_bool().unwrap_or(true),
            };
            match calls::check_stream(pool, &req, w, Some(&lent)).await? {
                StreamVerdict::Allow => json!({ "verdict": "allow" }),
                StreamVerdict::Mask(t) => json!({ "verdict": "mask", "text": t }),
                StreamVerdict::Stop(r) => json!({ "verdict": "stop", "reason": r }),
            }
        }
        _ => match calls::check_request(pool, &req, Some(&lent)).await? {
            RequestVerdict::Allow => json!({ "verdict": "allow" }),
            RequestVerdict::Deny(d) => denial(&d),
            RequestVerdict::Rewrite(m) => json!({ "verdict": "rewrite", "messages": m }),
        },
    };
    let asked = models.asked.lock().clone();
    if !asked.is_empty() {
        out["asked"] = json!(asked);
    }
    Ok(out)
}

/// Whether `output` is what the case expects: the verdict's name, or the fields it
/// names (`{"verdict": "deny", "code": "x"}` matches a denial with that code).
pub fn expected(expect: &Value, output: &Value) -> bool {
    match expect {
        Value::Null => true,
        Value::String(v) => output["verdict"] == *v,
        Value::Object(fields) => fields.iter().all(|(k, v)| output[k] == *v),
        _ => false,
    }
}
