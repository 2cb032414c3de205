//! Model comparison (`POST /admin/compare`): one prompt sent at once to several routes
//! (or single targets of a route, `route/provider/model`) through the normal request
//! path — policies and budgets apply, charged to the admin — and the answers side by
//! side: text, finish reason, latency, time to first token, tokens, cost, or the error.
//! Whole (`stream: false`), or as server-sent events: each entry is asked to stream, its
//! text forwarded as `delta` events as it arrives (so the answers grow side by side and
//! the time to first token is real), a `result` event per entry when it ends, then
//! `done` with the whole comparison. Comparisons are kept in the
//! control store (`crate::control`) to be reopened.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::live::Principal;

/// Most entries one comparison may have.
pub const MAX_ENTRIES: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<Value>>,
    #[serde(default)]
    pub routes: Vec<String>,
    /// `route/provider/model`: one target of a route, alone.
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stream: bool,
    /// Each answer scored by a judge route against a rubric (`compare_judge.rs`).
    #[serde(default)]
    pub judge: Option<super::compare_judge::Judge>,
}

/// One entry to ask: the route, and the target it is pinned to.
#[derive(Debug, Clone)]
pub struct Entry {
    pub label: String,
    pub route: String,
    pub pin: Option<(String, String)>,
}

impl Ask {
    /// The entries and the chat messages, or what is wrong.
    pub fn plan(&self, gw: &Gateway) -> Result<(Vec<Entry>, Vec<Value>), String> {
        let messages = match (&self.messages, &self.prompt) {
            (Some(m), None) if !m.is_empty() => m.clone(),
            (None, Some(p)) if !p.trim().is_empty() => {
                vec![json!({ "role": "user", "content": p })]
            }
            _ => return Err("give either a prompt or messages".into()),
        };
        let live = gw.live.load_full();
        if let Some(j) = self
            .judge
            .as_ref()
            .filter(|j| !live.routes.contains_key(&j.route))
        {
            return Err(format!(
                "the judge route '{}' is not a model of this gateway",
                j.route
            ));
        }
        let mut entries = Vec::new();
        for r in &self.routes {
            if !live.routes.contains_key(r) {
                return Err(format!("no route '{r}'"));
            }
            entries.push(Entry {
                label: r.clone(),
                route: r.clone(),
                pin: None,
            });
        }
        for t in &self.targets {
            let mut parts = t.splitn(3, '/');
            let (Some(route), Some(provider), Some(model)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("'{t}' is not route/provider/model"));
            };
            let known = live.routes.get(route).is_some_and(|r| {
                r.targets
                    .iter()
                    .any(|x| x.target.provider == provider && x.target.model == model)
            });
            if !known {
                return Err(format!("'{t}' is no enabled target of route '{route}'"));
            }
            entries.push(Entry {
                label: t.clone(),
                route: route.to_string(),
                pin: Some((provider.to_string(), model.to_string())),
            });
        }
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(format!("compare 1 to {MAX_ENTRIES} routes or targets"));
        }
        Ok((entries, messages))
    }

    fn body(&self, route: &str, messages: &[Value], stream: bool) -> Bytes {
        let mut b = json!({ "model": route, "messages": messages });
        if stream {
            b["stream"] = json!(true);
            b["stream_options"] = json!({ "include_usage": true });
        }
        if let Some(m) = self.max_tokens {
            b["max_tokens"] = json!(m);
        }
        if let Some(t) = self.temperature {
            b["temperature"] = json!(t);
        }
        if let Some(p) = self.top_p {
            b["top_p"] = json!(p);
        }
        Bytes::from(b.to_string())
    }
}

/// The principal comparisons are charged to.
pub fn admin_principal() -> Principal {
    Principal {
        key_name: "admin".into(),
        owner: "admin".into(),
        tags: vec!["compare".into()],
        ..Principal::anonymous()
    }
}

fn request<'a>(
    ask: &Ask,
    entry: &Entry,
    messages: &[Value],
    principal: &'a Principal,
    stream: bool,
) -> crate::pipeline::Request<'a> {
    crate::pipeline::Request {
        protocol: crate::pipeline::Protocol::ChatCompletions,
        principal,
        endpoint: crate::types::Endpoint::Chat,
        directive: crate::cache::Directive::Bypass,
        body: ask.body(&entry.route, messages, stream),
        native: None,
        pin: entry.pin.clone(),
        prompt: None,
        // Comparisons and route tests reach a draft or testing model.
        admin: true,
        parent: None,
    }
}

/// What an entry came to, from its answer (whole, or the fold of a stream).
fn result(
    gw: &Gateway,
    entry: &Entry,
    status: u16,
    provider: Option<String>,
    v: &Value,
    ms: f64,
    ttft: Option<f64>,
) -> Value {
    let mut out =
        json!({ "label": entry.label, "route": entry.route, "status": status, "latency_ms": ms });
    if status >= 400 {
        out["error"] = v["error"].clone();
        return out;
    }
    let model = v["model"].as_str().unwrap_or_default().to_string();
    out["model"] = json!(model);
    out["answer"] = v["choices"][0]["message"]["content"].clone();
    out["finish_reason"] = v["choices"][0]["finish_reason"].clone();
    out["usage"] = v["usage"].clone();
    // A whole answer's first token arrives with the rest.
    out["ttft_ms"] = json!(ttft.unwrap_or(ms));
    out["cost_usd"] = json!(cost(
        gw,
        &entry.route,
        provider.as_deref(),
        &model,
        &v["usage"]
    ));
    out["provider"] = json!(provider);
    out
}

/// Asks one entry; its result.
pub async fn run_one(gw: &Gateway, ask: &Ask, entry: &Entry, messages: &[Value]) -> Value {
    let principal = admin_principal();
    let started = Instant::now();
    let resp = crate::pipeline::handle(gw, request(ask, entry, messages, &principal, false)).await;
    let status = resp.status().as_u16();
    let provider = header(&resp, "x-switchboard-provider");
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    result(
        gw,
        entry,
        status,
        provider,
        &v,
        started.elapsed().as_secs_f64() * 1e3,
        None,
    )
}

fn header(resp: &http::Response<crate::reply::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Asks one entry as a stream, handing each piece of its text to `delta` as it comes;
/// its result.
pub async fn run_streaming(
    gw: &Gateway,
    ask: &Ask,
    entry: &Entry,
    messages: &[Value],
    mut delta: impl FnMut(&str),
) -> Value {
    let principal = admin_principal();
    let started = Instant::now();
    let resp = crate::pipeline::handle(gw, request(ask, entry, messages, &principal, true)).await;
    let status = resp.status().as_u16();
    let provider = header(&resp, "x-switchboard-provider");
    let mut body = resp.into_body();
    if status >= 400 {
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return result(
            gw,
            entry,
            status,
            provider,
            &v,
            started.elapsed().as_secs_f64() * 1e3,
            None,
        );
    }
    let (mut text, mut buf, mut ttft) = (String::new(), String::new(), None);
    let mut folded = json!({ "choices": [{ "message": {}, "finish_reason": null }] });
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            let Some(chunk) = line.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            let Ok(c) = serde_json::from_str::<Value>(chunk) else {
                continue;
            };
            if let Some(piece) = c["choices"][0]["delta"]["content"]
                .as_str()
                .filter(|p| !p.is_empty())
            {
                ttft.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1e3);
                text.push_str(piece);
                delta(piece);
            }
            if let Some(f) = c["choices"][0]["finish_reason"].as_str() {
                folded["choices"][0]["finish_reason"] = json!(f);
            }
            if c["usage"].is_object() {
                folded["usage"] = c["usage"].clone();
            }
            if let Some(m) = c["model"].as_str() {
                folded["model"] = json!(m);
            }
        }
    }
    folded["choices"][0]["message"]["content"] = json!(text);
    result(
        gw,
        entry,
        status,
        provider,
        &folded,
        started.elapsed().as_secs_f64() * 1e3,
        ttft,
    )
}

/// What an answer cost at its target's prices.
fn cost(gw: &Gateway, route: &str, provider: Option<&str>, model: &str, usage: &Value) -> f64 {
    let live = gw.live.load_full();
    let Some(t) = live.routes.get(route).and_then(|r| {
        r.targets
            .iter()
            .find(|t| {
                Some(t.target.provider.as_str()) == provider
                    && (model.is_empty() || t.target.model == model)
            })
            .or_else(|| {
                r.targets
                    .iter()
                    .find(|t| Some(t.target.provider.as_str()) == provider)
            })
    }) else {
        return 0.0;
    };
    let p = usage["prompt_tokens"].as_f64().unwrap_or(0.0);
    let c = usage["completion_tokens"].as_f64().unwrap_or(0.0);
    (p * t.target.input_price + c * t.target.output_price) / 1e6
}
