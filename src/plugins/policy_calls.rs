//! Calls into the policy world: `check` and `record`, each pinned to the request's
//! admission instant and caller key (what its counters count at and against), with
//! the host's checks on what comes back (statuses, headers, codes, and a denial's
//! message cut to `MAX_DENIAL_MESSAGE`).

use std::sync::Arc;

use super::super::convert::Conv;
use super::super::world::Policy;
use super::{CLIENT_RESERVED, PolicyPool, headers_problem};
use crate::plugins::PluginError;
use crate::types::{Decision, Header, Outcome, PolicyRequest};

/// Whose request a policy call serves, and the time its counters count at: the
/// request's admission, for `check` and `record` alike.
#[derive(Debug, Clone)]
pub struct Counting {
    pub at: u64,
    pub caller: Arc<str>,
}

impl Counting {
    fn pin(&self, store: &mut wasmtime::Store<crate::plugins::host::HostState>) {
        let data = store.data_mut();
        data.clock = Some(self.at);
        data.caller = Some(self.caller.clone());
    }
}

pub async fn check(
    pool: &Arc<PolicyPool>,
    req: &PolicyRequest,
    counting: &Counting,
) -> Result<Decision, PluginError> {
    let mut lease = pool.lease(&req.route).await?;
    let d: Decision = guest_call!(lease, |store, b| async {
        counting.pin(store);
        each_version!(b, Policy, |b| b
            .switchboard_plugin_admission_policy()
            .call_check(store, &req.clone().conv())
            .await
            .map(Conv::conv))
    })?;
    let problem = match &d {
        Decision::Allow(h) => headers_problem(h, CLIENT_RESERVED),
        Decision::Deny(den) if !(400..=599).contains(&den.status) => Some(format!(
            "denial status {} is not an HTTP error status",
            den.status
        )),
        Decision::Deny(den) => headers_problem(&den.headers, CLIENT_RESERVED).or_else(|| {
            let bad = |s: &Option<String>| {
                s.as_ref().is_some_and(|s| {
                    s.is_empty()
                        || s.len() > 64
                        || !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                })
            };
            (bad(&den.error_type) || bad(&den.code))
                .then(|| "denial error type or code is not 1-64 letters, digits or '_'".to_string())
        }),
    };
    match (problem, d) {
        (Some(p), _) => Err(lease.invalid_output(p)),
        (None, Decision::Deny(mut den)) => {
            den.message = bounded_message(den.message);
            Ok(Decision::Deny(den))
        }
        (None, d) => Ok(d),
    }
}

/// Longest denial message a client is shown, in bytes.
pub const MAX_DENIAL_MESSAGE: usize = 2048;

/// A policy's denial message cut to `MAX_DENIAL_MESSAGE` bytes (at a character
/// boundary, marked): a plugin's text never becomes an answer of its own size.
pub(super) fn bounded_message(mut m: String) -> String {
    if m.len() > MAX_DENIAL_MESSAGE {
        let mut end = MAX_DENIAL_MESSAGE - 3;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
        m.push('…');
    }
    m
}

pub async fn record(
    pool: &Arc<PolicyPool>,
    req: &PolicyRequest,
    outcome: &Outcome,
    counting: &Counting,
) -> Result<Vec<Header>, PluginError> {
    let mut lease = pool.lease(&req.route).await?;
    let h: Vec<Header> = guest_call!(lease, |store, b| async {
        counting.pin(store);
        match b {
            Policy::V0_1(b) => b
                .switchboard_plugin_admission_policy()
                .call_record(store, &req.clone().conv(), outcome.usage.conv())
                .await
                .map(Conv::conv),
            Policy::V0_2(b) => b
                .switchboard_plugin_admission_policy()
                .call_record(store, &req.clone().conv(), &outcome.clone().conv())
                .await
                .map(Conv::conv),
            Policy::V0_3(b) => b
                .switchboard_plugin_admission_policy()
                .call_record(store, &req.clone().conv(), &outcome.clone().conv())
                .await
                .map(Conv::conv),
        }
    })?;
    if let Some(p) = headers_problem(&h, CLIENT_RESERVED) {
        return Err(lease.invalid_output(p));
    }
    Ok(h)
}
