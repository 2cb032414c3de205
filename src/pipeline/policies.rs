//! The policy phase. Every policy of the route checks a request before anything is
//! spent on it; every policy that admitted it then hears exactly once how it ended
//! (`record` with the provider's usage, or zero tokens when nothing was used: a
//! denial by a later policy, a failure, a cache hit, a client that went away). A
//! quota that reserved tokens in `check` is so always given its reservation back or
//! charged the real figure, never left holding it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;

use super::Usage;
use crate::config::OnError;
use crate::live::LiveRoute;
use crate::plugins::calls::{self, PolicyPool};
use crate::reply::ApiError;
use crate::types::{Decision, Outcome, PolicyRequest};

pub type Pools = Vec<(Arc<PolicyPool>, OnError)>;

/// The policies that admitted a request, owed one `record`.
pub struct Admitted {
    pub pools: Pools,
    pub preq: PolicyRequest,
    settled: AtomicBool,
}

impl Admitted {
    /// Claims the one record of this request: true for the first caller only, who
    /// must then record (now, or at the end of a stream).
    pub fn settle(&self) -> bool {
        !self.settled.swap(true, Ordering::AcqRel)
    }

    /// Records `usage` unless the record was already claimed; the policies' headers.
    pub async fn record(&self, usage: Usage) -> Vec<(String, String)> {
        if !self.settle() {
            return Vec::new();
        }
        record(&self.pools, &self.preq, usage).await
    }
}

impl Drop for Admitted {
    /// A request dropped before it settled (its client went away): the record is
    /// still owed, with zero tokens.
    fn drop(&mut self) {
        if self.pools.is_empty() || !self.settle() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pools = std::mem::take(&mut self.pools);
        let preq = self.preq.clone();
        rt.spawn(async move {
            record(&pools, &preq, Usage::default()).await;
        });
    }
}

/// Asks every policy; all must allow. The admitted request and the headers the
/// policies add. A denial (or a failing fail-closed policy) first gives the policies
/// that had already allowed their record of zero.
pub async fn check(
    route: &LiveRoute,
    preq: PolicyRequest,
    metrics: &crate::metrics::Metrics,
) -> Result<(Admitted, Vec<(String, String)>), ApiError> {
    let mut headers = Vec::new();
    let mut admitted = Admitted {
        pools: Vec::with_capacity(route.policies.len()),
        preq,
        settled: AtomicBool::new(false),
    };
    for p in &route.policies {
        let refused = match calls::check(&p.pool, &admitted.preq).await {
            Ok(Decision::Allow(h)) => {
                headers.extend(h.into_iter().map(|h| (h.name, h.value)));
                admitted.pools.push((p.pool.clone(), p.spec.on_error));
                continue;
            }
            Ok(Decision::Deny(d)) => {
                metrics.denied(&route.route.name, &p.spec.name);
                let status =
                    StatusCode::from_u16(d.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
                let kind = if status == StatusCode::TOO_MANY_REQUESTS {
                    "rate_limit_error"
                } else {
                    "permission_error"
                };
                let mut e = ApiError::new(status, kind, d.message).with_code("policy_denied");
                e.headers = d.headers.into_iter().map(|h| (h.name, h.value)).collect();
                e
            }
            Err(e) if p.spec.on_error == OnError::FailOpen => {
                tracing::warn!(error = %e, "policy plugin failed; skipped (fail-open)");
                continue;
            }
            Err(e) => super::plugin_failed("policy", &e),
        };
        admitted.record(Usage::default()).await;
        return Err(refused);
    }
    Ok((admitted, headers))
}

/// Tells each policy the actual usage; returns the headers they add.
pub async fn record(pools: &Pools, preq: &PolicyRequest, usage: Usage) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let outcome = Outcome {
        usage,
        ..Outcome::default()
    };
    for (pool, _) in pools {
        match calls::record(pool, preq, &outcome).await {
            Ok(h) => headers.extend(h.into_iter().map(|h| (h.name, h.value))),
            Err(e) => tracing::warn!(error = %e, "policy record failed"),
        }
    }
    headers
}
