//! Guardrails (contract 0.3.0) in a request's life: `check-request` after admission
//! (before the cache), `check-response` on a whole answer before the client (or the
//! cache) gets it, and `check-stream` window by window (`stream.rs`). A guardrail in
//! `enforce` mode acts on its verdict (a denial is the client's error in its API's
//! shape, a rewrite replaces the texts); in `monitor` mode its check runs beside the
//! request, its verdict goes to metrics, the log and the request's story, and the
//! client neither waits for it nor sees it. Its model calls are children of the
//! request (`child.rs`); a child request runs no guardrails.

mod stream;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;

pub use stream::StreamGuard;

use super::body::{self, RequestFacts};
use super::ctx::RequestCtx;
use super::error::Error;
use super::request::{Native, Request, native_plan};
use crate::config::OnError;
use crate::config::guardrails::GuardMode;
use crate::live::LiveState;
use crate::live::{LiveGuardrail, LiveRoute};
use crate::plugins::{Lent, PluginError, calls};
use crate::reply::Body;
use crate::types::{AnswerVerdict, ChatMessage, GuardDenial, GuardRequest, RequestVerdict};
use crate::usage::story::GuardNote;

/// A request's guardrails: the route's chain, the request as they see it, and the
/// models they may ask on its behalf.
#[derive(Clone)]
pub struct Guards {
    chain: Arc<[LiveGuardrail]>,
    req: Arc<GuardRequest>,
    access: Arc<super::child::ChildAccess>,
    ctx: Arc<RequestCtx>,
}

/// What one check came to, for the story and metrics.
fn note(
    g: &LiveGuardrail,
    phase: &'static str,
    verdict: &'static str,
    message: Option<String>,
    t: Instant,
) -> GuardNote {
    GuardNote {
        guardrail: g.spec.plugin.name.clone(),
        phase,
        mode: g.spec.mode.label(),
        verdict,
        message,
        duration_ms: t.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The messages of a chat body, as guardrails see them: each message's text (its
/// text parts joined by newlines).
pub fn messages_of(body: &Value) -> Vec<ChatMessage> {
    let Some(list) = body.get("messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|m| ChatMessage {
            role: m["role"].as_str().unwrap_or("user").to_string(),
            content: text_of(&m["content"]),
        })
        .collect()
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `body` with its messages replaced by `new`: where roles line up, each message keeps
/// what is not text (images, tool calls) and takes the new text; otherwise the list is
/// replaced whole by plain messages.
fn rewritten(mut body: Value, new: &[ChatMessage]) -> Value {
    let Some(list) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return body;
    };
    let aligned = list.len() == new.len()
        && list
            .iter()
            .zip(new)
            .all(|(m, n)| m["role"].as_str() == Some(n.role.as_str()));
    if !aligned {
        *list = new
            .iter()
            .map(|m| serde_json::json!({"role": m.role, "content": m.content}))
            .collect();
        return body;
    }
    for (m, n) in list.iter_mut().zip(new) {
        if text_of(&m["content"]) == n.content {
            continue;
        }
        match &mut m["content"] {
            Value::Array(parts) => {
                let mut first = true;
                parts.retain_mut(|p| {
                    if p.get("text").is_none() {
                        return true;
                    }
                    let keep = std::mem::take(&mut first);
                    if keep {
                        p["text"] = Value::String(n.content.clone());
                    }
                    keep
                });
            }
            c => *c = Value::String(n.content.clone()),
        }
    }
    body
}

impl Guards {
    /// The guardrails of `route` for this request (`None`: it has none, or it is a
    /// guardrail's own model call).
    pub fn new(
        gw: &crate::gateway::Gateway,
        route: &LiveRoute,
        ctx: &Arc<RequestCtx>,
        principal: &crate::live::Principal,
        facts: &super::body::RequestFacts,
        body: &[u8],
    ) -> Option<Guards> {
        if route.guardrails.is_empty() {
            return None;
        }
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let schema = v["response_format"]["json_schema"]["schema"].clone();
        let format = v["response_format"]["type"].as_str();
        let req = GuardRequest {
            request_id: ctx.id.clone(),
            key_name: principal.key_name.clone(),
            team: principal.team.clone(),
            user: facts.user.clone(),
            route: route.route.name.clone(),
            messages: messages_of(&v),
            response_schema: (!schema.is_null()).then(|| schema.to_string()),
            json_output: matches!(format, Some("json_object" | "json_schema")),
            stream: facts.stream,
        };
        Some(Guards {
            chain: route.guardrails.clone(),
            req: Arc::new(req),
            access: super::child::ChildAccess::new(gw, principal, &ctx.id),
            ctx: ctx.clone(),
        })
    }

    fn lent(&self, g: &LiveGuardrail) -> Lent {
        Lent {
            access: self.access.clone(),
            timeout: g.spec.model_timeout,
        }
    }

    /// Writes a verdict down: the story (now, or when a monitor ends), metrics, log.
    fn told(&self, n: GuardNote) -> GuardNote {
        let route = &self.req.route;
        self.ctx
            .metrics()
            .guardrail(route, &n.guardrail, n.phase, n.mode, n.verdict);
        if n.verdict != "allow" {
            tracing::info!(request_id = %self.req.request_id, guardrail = %n.guardrail, phase = n.phase, mode = n.mode, verdict = n.verdict, message = n.message.as_deref().unwrap_or(""), "guardrail verdict");
        }
        n
    }

    /// The children its model calls made, into the story.
    fn children(&self) {
        let ids = std::mem::take(&mut *self.access.children.lock());
        if !ids.is_empty() {
            self.ctx.story(|s| ids.iter().for_each(|id| s.child(id)));
        }
    }

    /// A failed check: fail-open skips it, fail-closed fails the request.
    fn failed(
        &self,
        g: &LiveGuardrail,
        phase: &'static str,
        e: PluginError,
        t: Instant,
    ) -> Result<(), PluginError> {
        let open = g.spec.plugin.on_error == OnError::FailOpen;
        let verdict = if open { "skipped" } else { "error" };
        let n = self.told(note(g, phase, verdict, Some(e.to_string()), t));
        self.ctx.story(|s| s.guard(n));
        if open {
            tracing::warn!(guardrail = %g.spec.plugin.name, error = %e, "guardrail failed; skipped (fail-open)");
            return Ok(());
        }
        Err(e)
    }

    /// Runs a monitor's check beside the request: its verdict joins the record.
    fn monitor<F>(&self, g: &LiveGuardrail, phase: &'static str, check: F)
    where
        F: std::future::Future<Output = Result<&'static str, PluginError>> + Send + 'static,
    {
        let me = self.clone();
        let name = g.spec.plugin.name.clone();
        let mode = g.spec.mode.label();
        let task = tokio::spawn(async move {
            let t = Instant::now();
            let (verdict, message) = match check.await {
                Ok(v) => (v, None),
                Err(e) => ("error", Some(e.to_string())),
            };
            me.children();
            me.told(GuardNote {
                guardrail: name,
                phase,
                mode,
                verdict,
                message,
                duration_ms: t.elapsed().as_secs_f64() * 1000.0,
            })
        });
        self.ctx.monitor(task);
    }

    /// `check-request` by every guardrail that makes it, in order: the body to go on
    /// with (`None`: unchanged), or the denial.
    pub async fn request(&self, body: &Bytes) -> Result<Option<Bytes>, Error> {
        let mut current: Option<Value> = None;
        let mut req = self.req.clone();
        for g in self.chain.iter().filter(|g| g.phases.request) {
            if g.spec.mode == GuardMode::Monitor {
                let (pool, r, lent) = (g.pool.clone(), req.clone(), self.lent(g));
                self.monitor(g, "request", async move {
                    let v = calls::check_request(&pool, &r, Some(&lent)).await?;
                    Ok(request_label(&v))
                });
                continue;
            }
            let t = Instant::now();
            let verdict = calls::check_request(&g.pool, &req, Some(&self.lent(g))).await;
            self.children();
            let v = match verdict {
                Ok(v) => v,
                Err(e) => {
                    self.failed(g, "request", e, t)
                        .map_err(|e| Error::plugin("guardrail", e))?;
                    continue;
                }
            };
            let message = match &v {
                RequestVerdict::Deny(d) => Some(d.message.clone()),
                _ => None,
            };
            let n = self.told(note(g, "request", request_label(&v), message, t));
            self.ctx.story(|s| s.guard(n));
            match v {
                RequestVerdict::Allow => {}
                RequestVerdict::Deny(d) => return Err(denied(g, d)),
                RequestVerdict::Rewrite(m) => {
                    let base = match current.take() {
                        Some(v) => v,
                        None => serde_json::from_slice(body).unwrap_or(Value::Null),
                    };
                    current = Some(rewritten(base, &m));
                    let mut r = (*req).clone();
                    r.messages = m;
                    req = Arc::new(r);
                }
            }
        }
        Ok(current.map(|v| Bytes::from(v.to_string())))
    }

    /// `check-response` on a whole chat answer by every guardrail that makes it: the
    /// answer to give (rewritten or as it came), or the denial.
    pub async fn answer(&self, body: Bytes) -> Result<Bytes, Error> {
        let judged: Vec<&LiveGuardrail> = self.chain.iter().filter(|g| g.phases.response).collect();
        if judged.is_empty() {
            return Ok(body);
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
            return Ok(body);
        };
        let texts = answer_texts(&v);
        let mut current = texts.clone();
        for g in judged {
            if g.spec.mode == GuardMode::Monitor {
                let (pool, r, lent, t) = (
                    g.pool.clone(),
                    self.req.clone(),
                    self.lent(g),
                    current.clone(),
                );
                self.monitor(g, "response", async move {
                    let v = calls::check_response(&pool, &r, &t, Some(&lent)).await?;
                    Ok(answer_label(&v))
                });
                continue;
            }
            let t = Instant::now();
            let verdict =
                calls::check_response(&g.pool, &self.req, &current, Some(&self.lent(g))).await;
            self.children();
            let verdict = match verdict {
                Ok(v) => v,
                Err(e) => {
                    self.failed(g, "response", e, t)
                        .map_err(|e| Error::plugin("guardrail", e))?;
                    continue;
                }
            };
            let message = match &verdict {
                AnswerVerdict::Deny(d) => Some(d.message.clone()),
                _ => None,
            };
            let n = self.told(note(g, "response", answer_label(&verdict), message, t));
            self.ctx.story(|s| s.guard(n));
            match verdict {
                AnswerVerdict::Allow => {}
                AnswerVerdict::Deny(d) => return Err(denied(g, d)),
                AnswerVerdict::Rewrite(t) => current = t,
            }
        }
        if current == texts {
            return Ok(body);
        }
        set_answer_texts(&mut v, current);
        Ok(Bytes::from(v.to_string()))
    }

    /// Whether any of the request's guardrails judges whole answers (when none does, an
    /// answer is not read whole for them).
    pub fn judges_answers(&self) -> bool {
        self.chain.iter().any(|g| g.phases.response)
    }

    /// The stream stage of this request's guardrails, when any judges streams.
    pub fn stream(&self) -> Option<StreamGuard> {
        StreamGuard::new(self.clone())
    }
}

/// The request's guardrails judge it: a rewrite replaces its body (read again, and
/// no longer passed through as it came); the facts and pass-through to go on with.
pub(super) async fn guarded(
    live: &LiveState,
    route: &LiveRoute,
    req: &mut Request<'_>,
    guards: Option<&Guards>,
    facts: RequestFacts,
) -> Result<(RequestFacts, Option<Native>), Error> {
    let native = native_plan(live, route, req.native.take())?;
    let Some(g) = guards else {
        return Ok((facts, native));
    };
    let Some(body) = g.request(&req.body).await? else {
        return Ok((facts, native));
    };
    let mut again = body::parse(&body, req.endpoint)?;
    again.user = facts.user;
    req.body = body;
    match native {
        Some(n) if n.only.is_some() => Err(Error::invalid(
            "a guardrail rewrote the request, and this request can only be passed through as it came",
            None,
        )),
        _ => Ok((again, None)),
    }
}

/// A whole chat answer judged by the request's guardrails (a successful JSON one).
pub(super) async fn guard_answer(
    g: &Guards,
    resp: http::Response<Body>,
) -> Result<http::Response<Body>, Error> {
    if resp.status() != http::StatusCode::OK {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let judged = g.answer(bytes).await?;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Ok(http::Response::from_parts(
        parts,
        crate::reply::full(judged),
    ))
}

fn request_label(v: &RequestVerdict) -> &'static str {
    match v {
        RequestVerdict::Allow => "allow",
        RequestVerdict::Deny(_) => "deny",
        RequestVerdict::Rewrite(_) => "rewrite",
    }
}

fn answer_label(v: &AnswerVerdict) -> &'static str {
    match v {
        AnswerVerdict::Allow => "allow",
        AnswerVerdict::Deny(_) => "deny",
        AnswerVerdict::Rewrite(_) => "rewrite",
    }
}

fn denied(g: &LiveGuardrail, d: GuardDenial) -> Error {
    Error::Guarded {
        guardrail: g.spec.plugin.name.clone(),
        denial: Box::new(d),
    }
}

/// Each choice's message text (empty for a choice without one).
fn answer_texts(v: &Value) -> Vec<String> {
    v["choices"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    c["message"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn set_answer_texts(v: &mut Value, texts: Vec<String>) {
    if let Some(cs) = v["choices"].as_array_mut() {
        for (c, t) in cs.iter_mut().zip(texts) {
            c["message"]["content"] = Value::String(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rewrite_keeps_what_is_not_text_where_roles_line_up() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "b"}]},
        ]});
        assert_eq!(messages_of(&body)[1].content, "a\nb");
        let new = vec![
            ChatMessage {
                role: "system".into(),
                content: "be brief".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "[MASKED]".into(),
            },
        ];
        let out = rewritten(body.clone(), &new);
        assert_eq!(
            out["messages"][1]["content"],
            json!([{"type": "text", "text": "[MASKED]"}, {"type": "image_url", "image_url": {"url": "x"}}])
        );
        assert_eq!(out["messages"][0], body["messages"][0]);
        let fewer = vec![ChatMessage {
            role: "user".into(),
            content: "only".into(),
        }];
        let out = rewritten(body, &fewer);
        assert_eq!(
            out["messages"],
            json!([{"role": "user", "content": "only"}])
        );
    }
}
