//! Trying a route's targets in the strategy's order until one answers: skipping
//! inactive providers and open circuits, cycling when more attempts are allowed than
//! there are targets, backing off exponentially with jitter between attempts, within
//! the route's retry budget and overall deadline. When all fail, one error says what
//! happened to each target.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::attempt::{self, Failure, Shared};
use super::ctx::AttemptRecord;
use super::error::Error;
use super::{Outcome, now_secs};
use crate::health::Admission;
use crate::live::{LiveRoute, LiveState, LiveTarget};
use crate::reply::Body;
use crate::types::RequestContext;

/// Why one target did not answer (or could not be tried), and the words for it.
#[derive(Debug)]
pub struct TargetFailure {
    pub failure: Failure,
    pub reason: String,
}

impl TargetFailure {
    /// `failure` at the target named `label` ("provider (model)").
    fn new(label: &str, failure: Failure) -> Self {
        TargetFailure {
            reason: failure.reason(label),
            failure,
        }
    }
}

/// Backoff before attempt `n` (n ≥ 1 is a retry): base × 2^(n-1), capped, with the
/// upper half jittered so synchronized clients spread out.
fn backoff(base: Duration, cap: Duration, n: u32) -> Duration {
    if base.is_zero() || n == 0 {
        return Duration::ZERO;
    }
    let full = base.saturating_mul(1 << (n - 1).min(16)).min(cap);
    let jitter = rand::random::<f64>();
    full.mul_f64(0.5 + 0.5 * jitter)
}

/// The order to try targets in, and whether circuit state is ignored. Targets the
/// provider asked to wait (`retry-after`) go last. When fewer than half of the active
/// targets can take requests the route is in panic (Envoy's panic threshold): circuits
/// are ignored, and when none can take requests the one whose cooldown ends first goes
/// first. A route with `breaker.fail_fast` never panics.
fn plan(live: &LiveState, route: &LiveRoute, order: &[usize]) -> (Vec<usize>, bool) {
    let active = |i: &usize| {
        live.providers
            .get(&route.targets[*i].target.provider)
            .is_some_and(|p| p.provider.inactive.is_none())
    };
    let mut ordered: Vec<usize> = order.to_vec();
    ordered.sort_by_key(|i| route.targets[*i].signals.cooling().is_some());
    let active_n = ordered.iter().filter(|i| active(i)).count();
    let open = |i: &usize| route.targets[*i].signals.breaker.health() == crate::types::Health::Open;
    let can = ordered.iter().filter(|i| active(i) && !open(i)).count();
    let panic = !route.route.breaker.fail_fast && active_n > 0 && can * 2 < active_n;
    if panic && can == 0 {
        ordered.sort_by_key(|i| route.targets[*i].signals.breaker.remaining());
    }
    (ordered, panic)
}

/// Whether the target at `idx` may be tried now (its circuit admits it, or the route
/// is in panic), or why not.
fn admission(
    live: &LiveState,
    route: &LiveRoute,
    idx: usize,
    panic: bool,
    native: Option<&super::Native>,
) -> Result<Admission, Failure> {
    let target = &route.targets[idx];
    let Some(provider) = live.providers.get(&target.target.provider) else {
        return Err(Failure::Gone {
            provider: target.target.provider.clone(),
        });
    };
    if let Some(why) = &provider.provider.inactive {
        return Err(Failure::Unconfigured(why.clone()));
    }
    if let Some(n) = native
        && let Some(keeper) = &n.provider
        && *keeper != provider.provider.name
    {
        return Err(Failure::KeptElsewhere {
            keeper: keeper.clone(),
        });
    }
    if let Some(n) = native.filter(|n| n.only.is_some())
        && !provider.provider.native.contains(&n.api)
    {
        return Err(Failure::ApiNotSpoken { api: n.api.name() });
    }
    match target.signals.breaker.admit() {
        Admission::Refused if panic => Ok(Admission::Allowed),
        Admission::Refused => Err(Failure::CircuitOpen {
            wait: target.signals.breaker.remaining(),
        }),
        a => Ok(a),
    }
}

/// The walk over a route's targets for one request: attempts made, and why each
/// target failed.
struct Walk {
    failures: Vec<TargetFailure>,
    attempts: u32,
    deadline_hit: bool,
    /// No more attempts may be made (the retry budget is spent).
    stopped: bool,
}

pub async fn try_targets(
    live: &Arc<LiveState>,
    route: &LiveRoute,
    order: &[usize],
    s: Shared<'_>,
) -> Result<http::Response<Body>, Error> {
    let (order, panic) = plan(live, route, order);
    s.ctx.story(|st| {
        let target = |i: &usize| &route.targets[*i].target;
        st.order(
            order
                .iter()
                .map(|i| format!("{}/{}", target(i).provider, target(i).model)),
        );
    });
    let policy = route.route.retry;
    let started = Instant::now();
    let deadline = policy.deadline.map(|d| started + d);
    route.retry_budget.deposit();
    let max_attempts = policy.attempts.unwrap_or(order.len() as u32).max(1);
    let mut walk = Walk {
        failures: Vec::new(),
        attempts: 0,
        deadline_hit: false,
        stopped: false,
    };
    // Walk the order, cycling; stop after a whole pass that could not try anything.
    let (mut idle_steps, mut step) = (0usize, 0usize);
    while walk.attempts < max_attempts && idle_steps < order.len() {
        let idx = order[step % order.len()];
        step += 1;
        let admission = match admission(live, route, idx, panic, s.native) {
            Ok(a) => a,
            Err(failure) => {
                if step <= order.len() {
                    let t = &route.targets[idx].target;
                    let f = TargetFailure::new(&format!("{} ({})", t.provider, t.model), failure);
                    s.ctx.story(|st| st.skipped(&f.reason));
                    walk.failures.push(f);
                }
                idle_steps += 1;
                continue;
            }
        };
        idle_steps = 0;
        match one(live, route, idx, admission, deadline, &s, &mut walk).await {
            Some(resp) => return Ok(resp),
            None if walk.deadline_hit || walk.stopped => break,
            None => {}
        }
    }
    Err(if walk.deadline_hit {
        Error::Deadline(format!(
            "the request deadline for model `{}` was reached after {} attempt(s) in {} ms: {}",
            s.facts.model,
            walk.attempts,
            started.elapsed().as_millis(),
            reasons(&walk.failures)
        ))
    } else {
        let mut e = all_failed(&s.facts.model, &walk.failures);
        if let Error::AllFailed {
            status: 429 | 503,
            retry_after,
            ..
        } = &mut e
        {
            // The soonest any target of the route may be asked again.
            *retry_after = order
                .iter()
                .filter_map(|i| route.targets[*i].signals.cooling())
                .min()
                .map(|d| d.as_secs_f64().ceil() as u64);
        }
        e
    })
}

/// One attempt at the target at `idx` (after any backoff): its answer, or `None` with
/// its failure noted in `walk`.
async fn one(
    live: &LiveState,
    route: &LiveRoute,
    idx: usize,
    admission: Admission,
    deadline: Option<Instant>,
    s: &Shared<'_>,
    walk: &mut Walk,
) -> Option<http::Response<Body>> {
    let target = &route.targets[idx];
    let provider = live.providers.get(&target.target.provider)?;
    let probe = admission == Admission::Probe;
    if walk.attempts > 0 && !walk.backoff(route, target, probe, deadline, s).await {
        return None;
    }
    walk.attempts += 1;
    let job = attempt::Attempt {
        provider,
        target,
        ctx: request_context(s, &provider.provider, &target.target),
        shared: s,
    };
    let began = std::time::Instant::now();
    // The attempt's state (adapter calls, the answer being read) is the largest part
    // of a request's: boxed, the request's own future stays small to move.
    let run = Box::pin(job.run());
    let outcome = match deadline {
        None => run.await,
        Some(d) => match tokio::time::timeout_at(d, run).await {
            Ok(o) => o,
            Err(_) => {
                walk.deadline_hit = true;
                Outcome::Failover(Failure::Deadline)
            }
        },
    };
    if admission == Admission::Probe || walk.deadline_hit {
        // An attempt that ended before reaching the provider (e.g. its adapter
        // failed) decided nothing: free the probe slot so the circuit is not stuck.
        target.signals.breaker.abandon_probe();
    }
    let (provider_name, model) = (&provider.provider.name, &target.target.model);
    let record = |status, failure| AttemptRecord {
        provider: provider_name.clone(),
        model: model.clone(),
        status,
        started: began,
        took: began.elapsed(),
        failure,
    };
    match outcome {
        Outcome::Respond(resp) => {
            s.ctx.attempt(record(Some(resp.status().as_u16()), None));
            Some(resp)
        }
        Outcome::Failover(failure) => {
            let label = format!("{provider_name} ({model})");
            let f = TargetFailure::new(&label, failure);
            s.ctx
                .attempt(record(f.failure.status(), Some(f.reason.clone())));
            s.metrics.failover(&route.route.name, provider_name, model);
            tracing::info!(target = %label, reason = %f.reason, "attempt failed; trying the next");
            walk.failures.push(f);
            None
        }
    }
}

impl Walk {
    /// The backoff before a retry at `target`, within the deadline and the route's
    /// retry budget; false (with the reason noted) when no retry may be made.
    async fn backoff(
        &mut self,
        route: &LiveRoute,
        target: &LiveTarget,
        probe: bool,
        deadline: Option<Instant>,
        s: &Shared<'_>,
    ) -> bool {
        let policy = route.route.retry;
        let wait = backoff(policy.backoff, policy.max_backoff, self.attempts);
        let over = deadline.is_some_and(|d| Instant::now() + wait >= d);
        if over || !route.retry_budget.withdraw() {
            if probe {
                target.signals.breaker.abandon_probe();
            }
            if over {
                self.deadline_hit = true;
            } else {
                self.failures
                    .push(TargetFailure::new("", Failure::RetryBudget));
                self.stopped = true;
            }
            return false;
        }
        tokio::time::sleep(wait).await;
        s.ctx.waited(wait);
        s.metrics.retry(&route.route.name);
        true
    }
}

fn request_context(
    s: &Shared<'_>,
    provider: &crate::config::Provider,
    target: &crate::config::Target,
) -> RequestContext {
    RequestContext {
        request_id: s.ctx.id.clone(),
        operation: s.operation,
        route: s.facts.model.clone(),
        provider: provider.name.clone(),
        target_model: target.model.clone(),
        stream: s.facts.stream,
        // Streams always ask for usage where the provider allows it, so tokens are
        // counted; the attempt keeps the usage chunk from a client that did not ask.
        include_usage: s.facts.include_usage || (s.facts.stream && provider.stream_usage),
        created: now_secs(),
    }
}

fn reasons(failures: &[TargetFailure]) -> String {
    let r: Vec<&str> = failures.iter().map(|f| f.reason.as_str()).collect();
    r.join("; ")
}

/// One error for the client when every target failed, saying what happened to each:
/// 429 or 504 when every provider that answered said so, 503 when every one was
/// overloaded (503, Anthropic's 529) or nothing reached a provider because a plugin
/// failed or no target could be tried, 502 otherwise.
fn all_failed(model: &str, failures: &[TargetFailure]) -> Error {
    let tried: Vec<u16> = failures.iter().filter_map(|f| f.failure.status()).collect();
    let detail = reasons(failures);
    let no_target = |code, message| Error::NoTarget { code, message };
    if failures.is_empty() {
        return no_target(
            "no_usable_target",
            format!("model `{model}` has no usable target"),
        );
    }
    if tried.is_empty()
        && failures
            .iter()
            .all(|f| matches!(f.failure, Failure::Unconfigured(_)))
    {
        return no_target(
            "provider_not_configured",
            format!("no provider for model `{model}` is configured with a key: {detail}"),
        );
    }
    if tried.is_empty() && failures.iter().any(|f| f.failure.is_plugin()) {
        return no_target(
            "plugin_failed",
            format!("a plugin of model `{model}` failed: {detail}"),
        );
    }
    if tried.is_empty() {
        return no_target(
            "no_target_available",
            format!("no target for model `{model}` can take requests now: {detail}"),
        );
    }
    let status = if tried.iter().all(|s| *s == 429) {
        429
    } else if tried.iter().all(|s| *s == 504) {
        504
    } else if tried.iter().all(|s| matches!(s, 503 | 529)) {
        503
    } else {
        502
    };
    let n = failures.len();
    let plural = if n == 1 { "target" } else { "targets" };
    Error::AllFailed {
        status,
        message: format!("all {n} {plural} for model `{model}` failed: {detail}"),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_millis(1000);
        assert_eq!(backoff(base, cap, 0), Duration::ZERO);
        assert_eq!(backoff(Duration::ZERO, cap, 3), Duration::ZERO);
        for _ in 0..200 {
            let b1 = backoff(base, cap, 1);
            assert!(b1 >= base / 2 && b1 <= base, "{b1:?}");
            let b3 = backoff(base, cap, 3);
            assert!(b3 >= base * 2 && b3 <= base * 4, "{b3:?}");
            let b9 = backoff(base, cap, 9);
            assert!(b9 >= cap / 2 && b9 <= cap, "{b9:?}");
        }
    }
}
