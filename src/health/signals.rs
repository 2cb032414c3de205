//! What the host knows about each target, kept up to date by every attempt and given
//! to strategies: in-flight count, latency and time-to-first-token EWMAs, recent error
//! rate, the provider's own rate-limit headers, and the circuit breaker. Also the
//! per-route retry budget.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::health::{Breaker, BreakerConfig};

/// Live signals of one target.
#[derive(Debug)]
pub struct TargetSignals {
    pub in_flight: AtomicU32,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub breaker: Breaker,
    /// What its attempts came to, for alert rules.
    pub outcomes: crate::health::outcomes::Outcomes,
    latency: Mutex<Ewma>,
    /// Last `x-ratelimit-remaining-*` seen; `u64::MAX` = never reported.
    remaining_requests: AtomicU64,
    remaining_tokens: AtomicU64,
    /// Until when the provider asked us to wait (`retry-after`): orders this target
    /// after the others, but does not refuse it on its own.
    cooling_until: Mutex<Option<tokio::time::Instant>>,
}

#[derive(Default, Debug, Clone, Copy)]
struct Ewma {
    latency_us: f64,
    ttft_us: f64,
    error_rate: f64,
}

const ALPHA: f64 = 0.2;
const UNKNOWN: u64 = u64::MAX;

fn blend(old: f64, new: f64) -> f64 {
    if old == 0.0 {
        new
    } else {
        old + ALPHA * (new - old)
    }
}

fn header_u64(headers: &http::HeaderMap, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|n| headers.get(*n)?.to_str().ok()?.trim().parse::<u64>().ok())
}

/// A provider's `retry-after` (seconds) or `retry-after-ms`.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_u64(headers, &["retry-after-ms"]) {
        return Some(Duration::from_millis(ms));
    }
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

impl TargetSignals {
    pub fn new(breaker: BreakerConfig) -> Self {
        TargetSignals {
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            breaker: Breaker::new(breaker),
            outcomes: Default::default(),
            latency: Mutex::new(Ewma::default()),
            remaining_requests: AtomicU64::new(UNKNOWN),
            remaining_tokens: AtomicU64::new(UNKNOWN),
            cooling_until: Mutex::new(None),
        }
    }

    /// How much longer the provider asked us to wait, if it did.
    pub fn cooling(&self) -> Option<Duration> {
        let until = (*self.cooling_until.lock())?;
        until
            .checked_duration_since(tokio::time::Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// One attempt ended: feeds the EWMAs and the circuit breaker.
    pub fn record(&self, ok: bool, latency: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.outcomes.record(ok, latency);
        if ok {
            self.breaker.success();
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.breaker.failure();
        }
        let rate = {
            let mut e = self.latency.lock();
            if ok {
                e.latency_us = blend(e.latency_us, latency.as_micros() as f64);
            }
            e.error_rate += ALPHA * (if ok { 0.0 } else { 1.0 } - e.error_rate);
            e.error_rate
        };
        let cfg = self.breaker.config();
        if let Some(threshold) = cfg.error_rate
            && !ok
            && self.requests.load(Ordering::Relaxed) >= cfg.min_requests as u64
            && rate >= threshold as f64
        {
            self.breaker.trip();
        }
    }

    pub fn record_ttft(&self, ttft: Duration) {
        self.outcomes.first_token(ttft);
        let mut e = self.latency.lock();
        e.ttft_us = blend(e.ttft_us, ttft.as_micros() as f64);
    }

    /// Reads the provider's rate-limit headers (OpenAI's and Anthropic's names) and
    /// a `retry-after`, which cools the target for that long.
    pub fn observe_headers(&self, headers: &http::HeaderMap, status: u16) {
        if let Some(v) = header_u64(
            headers,
            &[
                "x-ratelimit-remaining-requests",
                "anthropic-ratelimit-requests-remaining",
            ],
        ) {
            self.remaining_requests.store(v, Ordering::Relaxed);
        }
        if let Some(v) = header_u64(
            headers,
            &[
                "x-ratelimit-remaining-tokens",
                "anthropic-ratelimit-tokens-remaining",
            ],
        ) {
            self.remaining_tokens.store(v, Ordering::Relaxed);
        }
        if (status == 429 || status == 503)
            && let Some(wait) = retry_after(headers)
        {
            let until = tokio::time::Instant::now() + wait;
            let mut c = self.cooling_until.lock();
            if c.is_none_or(|cur| cur < until) {
                *c = Some(until);
            }
        }
    }

    /// (latency EWMA µs, TTFT EWMA µs, error rate).
    pub fn snapshot(&self) -> (u64, u64, f32) {
        let e = *self.latency.lock();
        (e.latency_us as u64, e.ttft_us as u64, e.error_rate as f32)
    }

    pub fn remaining(&self) -> (Option<u64>, Option<u64>) {
        let get = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|v| *v != UNKNOWN);
        (get(&self.remaining_requests), get(&self.remaining_tokens))
    }

    /// The weight strategies see: the configured one, lowered by the recent error rate
    /// (a target failing half its requests gets half its weight), never below 1 for a
    /// target that has any weight, so it can recover.
    pub fn effective_weight(&self, weight: u32) -> u32 {
        if weight == 0 {
            return 0;
        }
        let (_, _, err) = self.snapshot();
        ((weight as f64 * (1.0 - err as f64)).round() as u32).max(1)
    }
}

/// Retries may add at most `percent` % on top of a route's requests (plus a small
/// reserve), so a failing provider cannot multiply the load on the others.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    tokens: Mutex<f64>,
}

const BUDGET_RESERVE: f64 = 10.0;

impl RetryBudget {
    pub fn new(percent: u32) -> Self {
        RetryBudget {
            ratio: percent as f64 / 100.0,
            tokens: Mutex::new(BUDGET_RESERVE),
        }
    }

    /// A request arrived: it earns `ratio` of a retry.
    pub fn deposit(&self) {
        let mut t = self.tokens.lock();
        *t = (*t + self.ratio).min(BUDGET_RESERVE + 1000.0 * self.ratio);
    }

    /// Takes one retry from the budget, if there is one.
    pub fn withdraw(&self) -> bool {
        let mut t = self.tokens.lock();
        if *t >= 1.0 {
            *t -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_and_retry_after_are_read() {
        let s = TargetSignals::new(BreakerConfig::default());
        assert_eq!(s.remaining(), (None, None));
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining-requests", "99".parse().unwrap());
        h.insert(
            "anthropic-ratelimit-tokens-remaining",
            "12345".parse().unwrap(),
        );
        s.observe_headers(&h, 200);
        assert_eq!(s.remaining(), (Some(99), Some(12345)));
        assert_eq!(s.breaker.health(), crate::types::Health::Healthy);
        h.insert("retry-after", "7".parse().unwrap());
        s.observe_headers(&h, 429);
        // The wait orders the target last; it does not open its circuit.
        assert_eq!(s.breaker.health(), crate::types::Health::Healthy);
        assert!(s.cooling().is_some_and(|d| d.as_secs() >= 6));
        let mut ms = http::HeaderMap::new();
        ms.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&ms), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn weight_falls_with_errors_and_recovers() {
        let s = TargetSignals::new(BreakerConfig {
            failures: 1000,
            cooldown: Duration::from_secs(1),
            ..Default::default()
        });
        assert_eq!(s.effective_weight(10), 10);
        for _ in 0..10 {
            s.record(false, Duration::from_millis(1));
        }
        let low = s.effective_weight(10);
        assert!(low <= 2, "weight after errors: {low}");
        for _ in 0..30 {
            s.record(true, Duration::from_millis(1));
        }
        assert!(s.effective_weight(10) >= 9);
        assert_eq!(s.effective_weight(0), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_high_error_rate_opens_the_circuit_without_consecutive_failures() {
        use crate::types::Health;
        let cfg = BreakerConfig {
            failures: 1000,
            cooldown: Duration::from_secs(5),
            error_rate: Some(0.5),
            min_requests: 10,
            fail_fast: false,
        };
        let s = TargetSignals::new(cfg);
        // Alternating failures never reach 1000 in a row, but the rate climbs.
        for i in 0..40 {
            s.record(i % 3 != 0, Duration::from_millis(1));
            if s.breaker.health() == Health::Open {
                break;
            }
        }
        assert_eq!(
            s.breaker.health(),
            Health::Healthy,
            "a third failing is below 0.5"
        );
        for _ in 0..10 {
            s.record(false, Duration::from_millis(1));
        }
        assert_eq!(s.breaker.health(), Health::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(s.breaker.health(), Health::HalfOpen);
    }

    #[test]
    fn the_retry_budget_is_a_share_of_requests() {
        let b = RetryBudget::new(20);
        let mut granted = 0;
        for _ in 0..100 {
            b.deposit();
            if b.withdraw() {
                granted += 1;
            }
        }
        // The reserve of 10, then one retry per five requests.
        assert!((28..=31).contains(&granted), "{granted}");
    }
}
