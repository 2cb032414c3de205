//! The policy phase. Every policy of the route checks a request before anything is
//! spent on it; every policy that admitted it then hears exactly once how it ended:
//! the request context's `settle` calls `record` with the outcome (the provider's
//! usage and cost, or zero tokens when nothing was used: a denial by a later policy,
//! a failure, a cache hit, a client that went away). A quota that reserved in
//! `check` is so always given its reservation back or charged the real figure.

use std::sync::Arc;

use super::RequestCtx;
use crate::config::OnError;
use crate::health::outcomes::Event;
use crate::live::{LivePlugin, LiveRoute};
use crate::pipeline::error::Error;
use crate::plugins::calls::{self, Counting, PolicyPool};
use crate::plugins::world::Policy;
use crate::types::{Decision, Outcome, PolicyRequest};
use crate::usage::story::Verdict;

pub type Pools = Vec<(Arc<PolicyPool>, OnError)>;

/// What the policies that admitted a request said.
#[derive(Debug, Default)]
pub struct Checked {
    /// Headers for the client's answer.
    pub headers: Vec<(String, String)>,
    /// The fewest output tokens (per choice) a policy reserved for a request that set
    /// no maximum: sent upstream as its maximum, so spend cannot pass the reservation.
    pub output_cap: Option<u64>,
}

/// The header a policy names the output tokens it reserved with (per choice, for a
/// request that set no maximum). The host's: never shown to the client.
pub const RESERVED_OUTPUT: &str = "x-switchboard-budget-reserved-output-tokens";

/// Asks every policy — the route's, then those of the gateway, the key and its team
/// (`extra`; one the route has already is asked once) — and all must allow. The
/// headers the policies add. The policies that allowed are handed to `ctx`, owed their
/// record, whatever happens next (a later policy's denial included). Every policy
/// counts at the same instant, the admission's, and so will their records.
pub async fn check(
    route: &LiveRoute,
    extra: &[&LivePlugin<Policy>],
    preq: PolicyRequest,
    ctx: &RequestCtx,
) -> Result<Checked, Error> {
    let counting = Counting {
        at: crate::pipeline::now_secs(),
        caller: ctx.key.as_str().into(),
    };
    let mut checked = Checked::default();
    let mut allowed: Pools = Vec::with_capacity(route.policies.len() + extra.len());
    let mut refused = None;
    let mut all: Vec<&LivePlugin<Policy>> = route.policies.iter().collect();
    for p in extra {
        if !all.iter().any(|a| a.spec.name == p.spec.name) {
            all.push(p);
        }
    }
    for p in all {
        let decision = calls::check(&p.pool, &preq, &counting).await;
        ctx.story(|s| s.verdict(verdict(&p.spec.name, &decision, p.spec.on_error)));
        match decision {
            Ok(Decision::Allow(h)) => {
                warned(ctx.metrics(), &p.spec.name, &h);
                for h in h {
                    if h.name.eq_ignore_ascii_case(RESERVED_OUTPUT) {
                        let n = h.value.trim().parse::<u64>().ok();
                        checked.output_cap = match (checked.output_cap, n) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    } else {
                        checked.headers.push((h.name, h.value));
                    }
                }
                allowed.push((p.pool.clone(), p.spec.on_error));
            }
            Ok(Decision::Deny(denial)) => {
                ctx.metrics().denied(&route.route.name, &p.spec.name);
                if denial.code.as_deref() == Some(BUDGET_SPENT) {
                    let e = &ctx.metrics().events;
                    e.add(Event::BudgetSpent, &p.spec.name, &route.route.name);
                }
                refused = Some(Error::Denied {
                    policy: p.spec.name.clone(),
                    denial: Box::new(denial),
                });
                break;
            }
            Err(e) if p.spec.on_error == OnError::FailOpen => {
                tracing::warn!(error = %e, "policy plugin failed; skipped (fail-open)");
            }
            Err(e) => {
                refused = Some(Error::plugin("policy", e));
                break;
            }
        }
    }
    ctx.admitted(allowed, preq, counting);
    match refused {
        Some(e) => Err(e),
        None => Ok(checked),
    }
}

/// What the story says of a policy's decision.
fn verdict(
    name: &str,
    d: &Result<Decision, crate::plugins::PluginError>,
    on_error: OnError,
) -> Verdict {
    let pairs = |h: &[crate::types::Header]| {
        h.iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect()
    };
    let (verdict, code, message, headers) = match d {
        Ok(Decision::Allow(h)) => ("allow", None, None, pairs(h)),
        Ok(Decision::Deny(d)) => (
            "deny",
            d.code.clone(),
            Some(d.message.clone()),
            pairs(&d.headers),
        ),
        Err(e) if on_error == OnError::FailOpen => {
            ("skipped", None, Some(e.to_string()), Vec::new())
        }
        Err(e) => ("error", None, Some(e.to_string()), Vec::new()),
    };
    Verdict {
        policy: name.to_string(),
        verdict,
        code,
        message,
        headers,
    }
}

/// The code of a budget's denial, and the header of its warning.
const BUDGET_SPENT: &str = "budget_exceeded";
const BUDGET_WARNING: &str = "x-switchboard-budget-warning";

/// Counts a budget's warning among a policy's headers, for alert rules.
fn warned(metrics: &crate::metrics::Metrics, policy: &str, headers: &[crate::types::Header]) {
    if headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(BUDGET_WARNING))
    {
        metrics.events.add(Event::BudgetWarning, policy, "");
    }
}

/// Tells each policy how the request ended; returns the headers they add.
pub async fn record(
    metrics: &crate::metrics::Metrics,
    pools: &Pools,
    preq: &PolicyRequest,
    outcome: &Outcome,
    counting: &Counting,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (pool, _) in pools {
        match calls::record(pool, preq, outcome, counting).await {
            Ok(h) => {
                warned(metrics, pool.label(), &h);
                let shown = h
                    .into_iter()
                    .filter(|h| !h.name.eq_ignore_ascii_case(RESERVED_OUTPUT));
                headers.extend(shown.map(|h| (h.name, h.value)));
            }
            Err(e) => tracing::warn!(error = %e, "policy record failed"),
        }
    }
    headers
}
