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
    /// When the provider said each window resets (`x-ratelimit-reset-*`,
    /// `anthropic-ratelimit-*-reset`): past it, the remaining count is no longer known.
    resets: Mutex<[Option<tokio::time::Instant>; 2]>,
    /// The token count is of an input-only window (Anthropic's input tokens).
    input_only: std::sync::atomic::AtomicBool,
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

/// How long until a rate-limit window resets: OpenAI's durations (`1s`, `6m0s`,
/// `20ms`, `1h2m3.5s`) or Anthropic's RFC 3339 time.
pub fn reset_in(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        let secs = t.as_millisecond() - jiff::Timestamp::now().as_millisecond();
        return Some(Duration::from_millis(secs.max(0) as u64));
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += n * match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        rest = &rest[unit_end..];
    }
    (total.is_finite() && !v.is_empty()).then(|| Duration::from_secs_f64(total.min(86_400.0)))
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
            resets: Mutex::new([None, None]),
            input_only: std::sync::atomic::AtomicBool::new(false),
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

    /// Reads the provider's rate-limit headers (OpenAI's and Anthropic's names: what
    /// remains and when it resets) and a `retry-after`, which cools the target for
    /// that long.
    pub fn observe_headers(&self, headers: &http::HeaderMap, status: u16) {
        let windows = [
            (
                &self.remaining_requests,
                &[
                    "x-ratelimit-remaining-requests",
                    "anthropic-ratelimit-requests-remaining",
                ],
                &[
                    "x-ratelimit-reset-requests",
                    "anthropic-ratelimit-requests-reset",
                ][..],
            ),
            (
                &self.remaining_tokens,
                // Anthropic's input-token window is the one a request's prompt meets.
                &[
                    "x-ratelimit-remaining-tokens",
                    "anthropic-ratelimit-input-tokens-remaining",
                ],
                &[
                    "x-ratelimit-reset-tokens",
                    "anthropic-ratelimit-input-tokens-reset",
                    "anthropic-ratelimit-tokens-reset",
                ][..],
            ),
        ];
        for (i, (remaining, counts, resets)) in windows.into_iter().enumerate() {
            let count = header_u64(headers, counts).or_else(|| {
                (i == 1).then(|| header_u64(headers, &["anthropic-ratelimit-tokens-remaining"]))?
            });
            if let Some(v) = count {
                if i == 1 {
                    // OpenAI's token window counts `max_tokens` too; Anthropic's input one
                    // only the prompt.
                    let input_only =
                        headers.contains_key("anthropic-ratelimit-input-tokens-remaining");
                    self.input_only.store(input_only, Ordering::Relaxed);
                }
                remaining.store(v, Ordering::Relaxed);
                let reset = resets
                    .iter()
                    .find_map(|n| reset_in(headers.get(*n)?.to_str().ok()?));
                self.resets.lock()[i] = reset.map(|d| tokio::time::Instant::now() + d);
            }
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

    /// What the provider last said remains (requests, tokens), while its window lasts.
    pub fn remaining(&self) -> (Option<u64>, Option<u64>) {
        let resets = *self.resets.lock();
        let now = tokio::time::Instant::now();
        let get = |a: &AtomicU64, i: usize| {
            let v = a.load(Ordering::Relaxed);
            (v != UNKNOWN && resets[i].is_none_or(|r| now < r)).then_some(v)
        };
        (
            get(&self.remaining_requests, 0),
            get(&self.remaining_tokens, 1),
        )
    }

    /// Whether what the provider said remains can take a request of `prompt` tokens
    /// that may write `output` more (true when it said nothing, or its window has
    /// reset); the output counts where the provider's window counts it.
    pub fn can_hold(&self, prompt: u64, output: u64) -> bool {
        let (requests, left) = self.remaining();
        let need = if self.input_only.load(Ordering::Relaxed) {
            prompt
        } else {
            prompt.saturating_add(output)
        };
        requests != Some(0) && left.is_none_or(|l| l >= need)
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
    fn reset_times_are_read_in_both_dialects() {
        assert_eq!(reset_in("1s"), Some(Duration::from_secs(1)));
        assert_eq!(reset_in("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(reset_in("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(reset_in("1h2m3.5s"), Some(Duration::from_secs_f64(3723.5)));
        assert_eq!(reset_in("soon"), None);
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(90);
        let d = reset_in(&later.to_string()).unwrap();
        assert!((88..=90).contains(&d.as_secs()), "{d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn what_remains_is_forgotten_when_its_window_resets() {
        let s = TargetSignals::new(BreakerConfig::default());
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining-tokens", "500".parse().unwrap());
        h.insert("x-ratelimit-reset-tokens", "2s".parse().unwrap());
        s.observe_headers(&h, 200);
        assert!(
            s.can_hold(300, 100) && !s.can_hold(300, 300),
            "prompt and output count"
        );
        tokio::time::advance(Duration::from_millis(2100)).await;
        assert_eq!(s.remaining().1, None, "the window has reset");
        assert!(s.can_hold(300, 300));
        // Anthropic's input window meets only the prompt.
        let mut a = http::HeaderMap::new();
        a.insert(
            "anthropic-ratelimit-input-tokens-remaining",
            "500".parse().unwrap(),
        );
        s.observe_headers(&a, 200);
        assert!(s.can_hold(400, 32_000) && !s.can_hold(600, 0));
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        s.observe_headers(&h, 200);
        assert!(!s.can_hold(1, 0), "no request left");
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
