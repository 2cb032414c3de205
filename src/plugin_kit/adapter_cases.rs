//! `switchboard plugin test` for adapters: a case gives a client request (what the
//! adapter sends upstream is shown), a provider's answer (what the client would get,
//! and the usage read), or a provider's stream events (the chunks, and the usage). An
//! adapter's `expect` is matched as a subset: every key it names must be in the output
//! with that value (arrays element by element), so a case pins what matters to it.
//!
//! `{"request": {"model": "m", "messages": [...]}, "expect": {"path": "/v1/chat"}}`,
//! `{"response": {"status": 200, "body": {...}}, "expect": {"usage": {"prompt": 9}}}`,
//! `{"events": [{"event": "message_start", "data": "{...}"}], "expect": {...}}`;
//! `route`, `provider`, `model` and `stream` set the request context.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::plugins::PluginError;
use crate::plugins::calls::{self, AdapterPool, StreamTranslation};
use crate::types::{
    AdapterError, AuthScheme, BodyEdit, Header, Operation, RequestContext, SseEvent, StreamFormat,
    TranslatedAnswer, TranslatedEvents, UpstreamRequest, UpstreamResponse, Usage,
};

/// Whether `expect` is a subset of `output`.
pub fn subset(expect: &Value, output: &Value) -> bool {
    match (expect, output) {
        (Value::Object(e), Value::Object(o)) => e
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| subset(v, ov))),
        (Value::Array(e), Value::Array(o)) => {
            e.len() == o.len() && e.iter().zip(o).all(|(a, b)| subset(a, b))
        }
        (e, o) => e == o,
    }
}

fn context(case: &Value) -> RequestContext {
    let s = |k: &str, d: &str| case[k].as_str().unwrap_or(d).to_string();
    let stream =
        case["stream"] == true || case["request"]["stream"] == true || case["events"].is_array();
    RequestContext {
        request_id: "req-test".into(),
        operation: match case["operation"].as_str() {
            Some("embeddings") => Operation::Embeddings,
            _ => Operation::ChatCompletions,
        },
        route: s("route", "m"),
        provider: s("provider", "p"),
        target_model: s("model", "m"),
        stream,
        include_usage: case["request"]["stream_options"]["include_usage"] == true,
        created: 1_767_225_600,
    }
}

/// A body as JSON when it is, else as text.
fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
}

fn headers(hs: &[Header]) -> Value {
    Value::Object(
        hs.iter()
            .map(|h| (h.name.clone(), json!(h.value)))
            .collect(),
    )
}

fn usage(u: Option<Usage>) -> Value {
    u.map_or(Value::Null, |u| json!({ "prompt": u.prompt, "completion": u.completion, "cached_prompt": u.cached_prompt }))
}

fn error(e: AdapterError) -> Value {
    json!({ "adapter_error": { "status": e.status, "kind": format!("{:?}", e.kind), "message": e.message, "param": e.param } })
}

fn upstream(r: UpstreamRequest) -> Value {
    let auth = match r.auth {
        AuthScheme::None => json!("none"),
        AuthScheme::Bearer => json!("bearer"),
        AuthScheme::Header(h) => json!({ "header": h }),
        AuthScheme::Query(q) => json!({ "query": q }),
        AuthScheme::AwsSigv4(s) => {
            json!({ "aws_sigv4": { "region": s.region, "service": s.service } })
        }
    };
    let body = match r.body {
        BodyEdit::Keep => json!("keep"),
        BodyEdit::SetModel(m) => json!({ "set_model": m }),
        BodyEdit::Replace(b) => body_value(&b),
    };
    let format = match r.stream_format {
        StreamFormat::Sse => "sse",
        StreamFormat::Ndjson => "ndjson",
        StreamFormat::AwsEventstream => "aws-eventstream",
    };
    json!({
        "method": format!("{:?}", r.method).to_uppercase(),
        "path": r.path,
        "query": r.query,
        "headers": headers(&r.headers),
        "auth": auth,
        "body": body,
        "translate_response": r.translate_response,
        "stream_format": format,
    })
}

fn events(t: TranslatedEvents, out: &mut Vec<Value>) -> Option<Usage> {
    for e in t.events {
        out.push(json!({ "event": e.event, "data": body_value(e.data.as_bytes()) }));
    }
    t.usage
}

/// One adapter case's output.
pub async fn run(pool: &Arc<AdapterPool>, case: &Value) -> Result<Value, PluginError> {
    let ctx = context(case);
    if case["request"].is_object() {
        let body = serde_json::to_vec(&case["request"]).unwrap_or_default();
        return Ok(match calls::to_upstream(pool, &ctx, &body).await? {
            Ok(r) => upstream(r),
            Err(e) => error(e),
        });
    }
    if case["response"].is_object() {
        let r = &case["response"];
        let body = match &r["body"] {
            Value::String(s) => s.clone().into_bytes(),
            b => serde_json::to_vec(b).unwrap_or_default(),
        };
        let headers = r["headers"].as_object().into_iter().flatten();
        let resp = UpstreamResponse {
            status: r["status"].as_u64().unwrap_or(200) as u16,
            headers: headers
                .map(|(k, v)| Header {
                    name: k.clone(),
                    value: v.as_str().unwrap_or_default().into(),
                })
                .collect(),
            body,
        };
        return Ok(match calls::from_upstream(pool, &ctx, resp).await? {
            Ok(TranslatedAnswer { body, usage: u }) => {
                json!({ "body": body.map_or(Value::Null, |b| body_value(&b)), "usage": usage(u) })
            }
            Err(e) => error(e),
        });
    }
    let mut t = StreamTranslation::new(pool, &ctx).await?;
    let (mut out, mut used) = (Vec::new(), None);
    for ev in case["events"].as_array().into_iter().flatten() {
        let ev = SseEvent {
            event: ev["event"].as_str().map(str::to_string),
            data: match &ev["data"] {
                Value::String(s) => s.clone(),
                d => d.to_string(),
            },
        };
        match t.on_event(&ev).await? {
            Ok(e) => used = events(e, &mut out).or(used),
            Err(e) => return Ok(error(e)),
        }
    }
    let last = t.finish().await?;
    t.close().await;
    match last {
        Ok(e) => used = events(e, &mut out).or(used),
        Err(e) => return Ok(error(e)),
    }
    Ok(json!({ "events": out, "usage": usage(used) }))
}
