//! Calls into the guardrail world (contract 0.3.0): `phases` once at load, then
//! `check-request`, `check-response` and `check-stream`, each with the models the
//! request lends (`models.infer`/`embed`), and the host's checks on the verdicts: a
//! denial's status is a 4xx and its code a plain word, a rewrite keeps the shape of
//! what it replaces and stays within a bound of its size.

use std::sync::Arc;

use super::super::bindings::v0_3::types as w;
use super::super::convert::Conv;
use super::super::host::Lent;
use super::super::world::Guardrail;
use super::policy::bounded_message;
use crate::plugins::{InstancePool, Lease, PluginError};
use crate::types::{
    AnswerVerdict, ChatMessage, GuardDenial, GuardPhases, GuardRequest, RequestVerdict,
    StreamVerdict,
};

pub type GuardrailPool = InstancePool<Guardrail>;

/// Roles a rewritten message may have.
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// A rewrite may be this many times larger than what it replaces (plus 64 KiB).
const GROWTH: usize = 4;

fn room(bytes: usize) -> usize {
    bytes.saturating_mul(GROWTH) + (64 << 10)
}

impl Conv<w::GuardRequest> for GuardRequest {
    fn conv(self) -> w::GuardRequest {
        w::GuardRequest {
            request_id: self.request_id,
            key_name: self.key_name,
            team: self.team,
            user: self.user,
            route: self.route,
            messages: self.messages.conv(),
            response_schema: self.response_schema,
            json_output: self.json_output,
            stream: self.stream,
        }
    }
}

impl Conv<GuardDenial> for w::GuardDenial {
    fn conv(self) -> GuardDenial {
        GuardDenial {
            message: bounded_message(self.message),
            code: self.code,
            status: self.status,
        }
    }
}

async fn lease(
    pool: &Arc<GuardrailPool>,
    route: &str,
    lent: Option<&Lent>,
) -> Result<Lease<Guardrail>, PluginError> {
    let mut lease = pool.lease(route).await?;
    if let Some(l) = lent {
        lease.lend(l.clone());
    }
    Ok(lease)
}

/// Which checks the guardrail makes (asked once, at load).
pub async fn phases(pool: &Arc<GuardrailPool>) -> Result<GuardPhases, PluginError> {
    let mut lease = pool.lease("").await?;
    let p = guest_call!(lease, |store, b| b
        .0
        .switchboard_plugin_guard()
        .call_phases(store))?;
    Ok(GuardPhases {
        request: p.contains(w::GuardPhases::REQUEST),
        response: p.contains(w::GuardPhases::RESPONSE),
        stream: p.contains(w::GuardPhases::STREAM),
    })
}

/// Why a denial is refused: a status that is not a 4xx, or a code that is not 1-64
/// letters, digits or `_`.
fn denial_problem(d: &GuardDenial) -> Option<String> {
    if let Some(s) = d.status
        && !(400..=499).contains(&s)
    {
        return Some(format!("denial status {s} is not a 4xx"));
    }
    let bad = d.code.as_ref().is_some_and(|c| {
        c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    bad.then(|| "denial code is not 1-64 letters, digits or '_'".to_string())
}

fn size(messages: &[ChatMessage]) -> usize {
    messages
        .iter()
        .map(|m| m.content.len() + m.role.len())
        .sum()
}

pub async fn check_request(
    pool: &Arc<GuardrailPool>,
    req: &GuardRequest,
    lent: Option<&Lent>,
) -> Result<RequestVerdict, PluginError> {
    let mut lease = lease(pool, &req.route, lent).await?;
    lease.input(size(&req.messages));
    let v = guest_call!(lease, |store, b| b
        .0
        .switchboard_plugin_guard()
        .call_check_request(store, &req.clone().conv()))?;
    let (v, problem) = match v {
        w::RequestVerdict::Allow => (RequestVerdict::Allow, None),
        w::RequestVerdict::Deny(d) => {
            let d: GuardDenial = d.conv();
            let p = denial_problem(&d);
            (RequestVerdict::Deny(d), p)
        }
        w::RequestVerdict::Rewrite(m) => {
            let m: Vec<ChatMessage> = m.conv();
            let p = if m.is_empty() {
                Some("rewrite with no messages".to_string())
            } else if let Some(r) = m.iter().find(|m| !ROLES.contains(&m.role.as_str())) {
                Some(format!("rewrite with a message of role {:?}", r.role))
            } else if size(&m) > room(size(&req.messages)) {
                Some("rewrite far larger than the request".to_string())
            } else {
                None
            };
            (RequestVerdict::Rewrite(m), p)
        }
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(v),
    }
}

pub async fn check_response(
    pool: &Arc<GuardrailPool>,
    req: &GuardRequest,
    texts: &[String],
    lent: Option<&Lent>,
) -> Result<AnswerVerdict, PluginError> {
    let mut lease = lease(pool, &req.route, lent).await?;
    let bytes: usize = texts.iter().map(String::len).sum();
    lease.input(size(&req.messages) + bytes);
    let v = guest_call!(lease, |store, b| b
        .0
        .switchboard_plugin_guard()
        .call_check_response(store, &req.clone().conv(), texts))?;
    let (v, problem) = match v {
        w::AnswerVerdict::Allow => (AnswerVerdict::Allow, None),
        w::AnswerVerdict::Deny(d) => {
            let d: GuardDenial = d.conv();
            let p = denial_problem(&d);
            (AnswerVerdict::Deny(d), p)
        }
        w::AnswerVerdict::Rewrite(t) => {
            let p = if t.len() != texts.len() {
                Some(format!(
                    "rewrite of {} texts for {} choices",
                    t.len(),
                    texts.len()
                ))
            } else if t.iter().map(String::len).sum::<usize>() > room(bytes) {
                Some("rewrite far larger than the answer".to_string())
            } else {
                None
            };
            (AnswerVerdict::Rewrite(t), p)
        }
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(v),
    }
}

/// One window of a stream (`before`: up to a window of text already sent).
pub struct Window<'a> {
    pub before: &'a str,
    pub text: &'a str,
    pub last: bool,
}

pub async fn check_stream(
    pool: &Arc<GuardrailPool>,
    req: &GuardRequest,
    window: Window<'_>,
    lent: Option<&Lent>,
) -> Result<StreamVerdict, PluginError> {
    let mut lease = lease(pool, &req.route, lent).await?;
    lease.input(size(&req.messages) + window.text.len() + window.before.len());
    let v = guest_call!(lease, |store, b| b
        .0
        .switchboard_plugin_guard()
        .call_check_stream(
            store,
            &req.clone().conv(),
            window.before,
            window.text,
            window.last
        ))?;
    let (v, problem) = match v {
        w::StreamVerdict::Allow => (StreamVerdict::Allow, None),
        w::StreamVerdict::Mask(m) => {
            let p = (m.len() > room(window.text.len()))
                .then(|| "mask far larger than its window".to_string());
            (StreamVerdict::Mask(m), p)
        }
        w::StreamVerdict::Stop(r) => (StreamVerdict::Stop(bounded_message(r)), None),
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(v),
    }
}
