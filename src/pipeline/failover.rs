//! Trying a route's targets in the strategy's order until one answers: skipping
//! inactive providers and open circuits, cycling when more attempts are allowed than
//! there are targets, backing off exponentially with jitter between attempts, within
//! the route's retry budget and overall deadline. When all fail, one error says what
//! happened to each target.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use tokio::time::Instant;

use super::body::RequestFacts;
use super::{Outcome, attempt, now_secs};
use crate::health::Admission;
use crate::live::{LiveRoute, LiveState};
use crate::reply::ApiError;
use crate::reply::Body;
use crate::types::{Operation, RequestContext};

/// What every attempt of one request shares.
pub struct Shared<'a> {
    pub request_id: &'a str,
    pub operation: Operation,
    pub facts: &'a RequestFacts,
    pub body: &'a Bytes,
    /// The policies that admitted the request, owed one record.
    pub admitted: &'a super::policies::Admitted,
    pub policy_headers: &'a [(String, String)],
    /// Where the whole answer is kept, on a cached route.
    pub cache: Option<&'a crate::cache::Store>,
    /// The route's redactors and stream window, when answers are redacted.
    pub redact: Option<(&'a super::redact::Chain, usize)>,
    pub metrics: &'a Arc<crate::metrics::Metrics>,
    /// Where a stream writes its usage record when it ends.
    pub usage: Option<Arc<crate::usage::Writer>>,
    pub trace: &'a crate::metrics::Trace,
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

pub async fn try_targets(
    live: &Arc<LiveState>,
    route: &LiveRoute,
    order: &[usize],
    s: Shared<'_>,
) -> Result<http::Response<Body>, ApiError> {
    let (order, panic) = plan(live, route, order);
    let order = order.as_slice();
    let policy = route.route.retry;
    let started = Instant::now();
    let deadline = policy.deadline.map(|d| started + d);
    route.retry_budget.deposit();
    let max_attempts = policy.attempts.unwrap_or(order.len() as u32).max(1);
    let mut failures: Vec<String> = Vec::new();
    let mut statuses: Vec<Option<u16>> = Vec::new();
    let mut plugin_failures = 0usize;
    let mut attempts = 0u32;
    let mut deadline_hit = false;
    // Walk the order, cycling; stop after a whole pass that could not try anything.
    let mut idle_steps = 0usize;
    let mut step = 0usize;
    while attempts < max_attempts && idle_steps < order.len() {
        let idx = order[step % order.len()];
        step += 1;
        let target = &route.targets[idx];
        let Some(provider) = live.providers.get(&target.target.provider) else {
            idle_steps += 1;
            continue;
        };
        let label = format!("{} ({})", provider.provider.name, target.target.model);
        if let Some(reason) = &provider.provider.inactive {
            if step <= order.len() {
                failures.push(reason.clone());
                statuses.push(None);
            }
            idle_steps += 1;
            continue;
        }
        let mut admission = target.signals.breaker.admit();
        if admission == Admission::Refused && panic {
            admission = Admission::Allowed;
        }
        if admission == Admission::Refused {
            if step <= order.len() {
                let wait = target
                    .signals
                    .breaker
                    .remaining()
                    .map(|d| format!(" for {}s", d.as_secs().max(1)))
                    .unwrap_or_default();
                failures.push(format!("{label}: circuit open{wait}"));
                statuses.push(None);
            }
            idle_steps += 1;
            continue;
        }
        if attempts > 0 {
            if !route.retry_budget.withdraw() {
                if admission == Admission::Probe {
                    target.signals.breaker.abandon_probe();
                }
                failures.push("retry budget of the route exhausted".into());
                statuses.push(None);
                break;
            }
            let wait = backoff(policy.backoff, policy.max_backoff, attempts);
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                if admission == Admission::Probe {
                    target.signals.breaker.abandon_probe();
                }
                deadline_hit = true;
                break;
            }
            tokio::time::sleep(wait).await;
            s.trace.waited(wait);
            s.metrics.retry(&route.route.name);
        }
        idle_steps = 0;
        attempts += 1;
        let ctx = RequestContext {
            request_id: s.request_id.to_string(),
            operation: s.operation,
            route: s.facts.model.clone(),
            provider: provider.provider.name.clone(),
            target_model: target.target.model.clone(),
            stream: s.facts.stream,
            // Streams always ask for usage where the provider allows it, so tokens are
            // counted; the attempt keeps the usage chunk from a client that did not ask.
            include_usage: s.facts.include_usage
                || (s.facts.stream && provider.provider.stream_usage),
            created: now_secs(),
        };
        let job = attempt::Attempt {
            provider,
            target,
            ctx,
            shared: &s,
        };
        let outcome = match deadline {
            None => job.run().await,
            Some(d) => match tokio::time::timeout_at(d, job.run()).await {
                Ok(o) => o,
                Err(_) => {
                    s.metrics.failover(
                        &route.route.name,
                        &provider.provider.name,
                        &target.target.model,
                    );
                    target.signals.breaker.abandon_probe();
                    failures.push(format!("{label}: cut off by the deadline"));
                    statuses.push(Some(504));
                    deadline_hit = true;
                    break;
                }
            },
        };
        if admission == Admission::Probe {
            // An attempt that ended before reaching the provider (e.g. its adapter
            // failed) decided nothing: free the probe slot so the circuit is not stuck.
            target.signals.breaker.abandon_probe();
        }
        match outcome {
            Outcome::Respond(resp) => return Ok(resp),
            Outcome::Failover {
                reason,
                status,
                plugin,
            } => {
                plugin_failures += usize::from(plugin);
                s.metrics.failover(
                    &route.route.name,
                    &provider.provider.name,
                    &target.target.model,
                );
                tracing::info!(target = %label, %reason, "attempt failed; trying the next");
                failures.push(format!("{label}: {reason}"));
                statuses.push(status);
            }
        }
    }
    if deadline_hit {
        let after = started.elapsed().as_millis();
        return Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            format!(
                "the request deadline for model `{}` was reached after {attempts} attempt(s) in {after} ms: {}",
                s.facts.model,
                failures.join("; ")
            ),
        )
        .with_code("deadline_exceeded"));
    }
    Err(all_failed(
        &s.facts.model,
        &failures,
        &statuses,
        plugin_failures,
    ))
}

/// One error for the client when every target failed, saying what happened to each:
/// 429 or 504 when every provider that answered said so, 503 when nothing reached a
/// provider because a plugin failed or no target could be tried, 502 otherwise.
fn all_failed(
    model: &str,
    failures: &[String],
    statuses: &[Option<u16>],
    plugin_failures: usize,
) -> ApiError {
    let tried = statuses.iter().filter(|s| s.is_some()).count();
    let detail = failures.join("; ");
    if failures.is_empty() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("model `{model}` has no usable target"),
        );
    }
    if statuses.iter().all(|s| s.is_none()) && failures.iter().all(|f| f.contains("has no API key"))
    {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("no provider for model `{model}` is configured with a key: {detail}"),
        )
        .with_code("provider_not_configured");
    }
    if tried == 0 && plugin_failures > 0 {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("a plugin of model `{model}` failed: {detail}"),
        )
        .with_code("plugin_failed");
    }
    if tried == 0 {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("no target for model `{model}` can take requests now: {detail}"),
        )
        .with_code("no_target_available");
    }
    let all_429 = tried > 0 && statuses.iter().flatten().all(|s| *s == 429);
    let all_timeout = tried > 0 && statuses.iter().flatten().all(|s| *s == 504);
    let (status, kind, code) = if all_429 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "upstream_rate_limited",
        )
    } else if all_timeout {
        (
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            "upstream_timeout",
        )
    } else {
        (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_failed")
    };
    let n = failures.len();
    let plural = if n == 1 { "target" } else { "targets" };
    ApiError::new(
        status,
        kind,
        format!("all {n} {plural} for model `{model}` failed: {detail}"),
    )
    .with_code(code)
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
