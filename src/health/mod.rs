//! Passive health: a circuit breaker per target. Consecutive failures open the circuit
//! for a cooldown; after it one probe is let through (half-open); its success closes
//! the circuit, its failure opens it again. (A provider's `retry-after` only orders
//! the target last: `signals.rs`.) Time is tokio's, so tests run on a paused clock.

pub mod outcomes;
pub mod signals;

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::types::Health;

/// Breaker settings (per route in config, `[models.X] breaker = {...}`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long an open circuit stays open before a probe.
    pub cooldown: Duration,
    /// Also open when the recent error rate (EWMA) reaches this, once the target has
    /// seen `min_requests` attempts. `None` = consecutive failures only.
    pub error_rate: Option<f32>,
    pub min_requests: u32,
    /// When no target can take requests, answer 503 at once instead of trying them
    /// anyway (the panic threshold below).
    pub fail_fast: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cooldown: Duration::from_secs(30),
            error_rate: None,
            min_requests: 20,
            fail_fast: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

/// Whether an attempt may go to this target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the half-open probe: its outcome decides the circuit.
    Probe,
    /// Open (or a probe is already out): skip this target.
    Refused,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The state as strategies see it (an expired open circuit reads half-open).
    pub fn health(&self) -> Health {
        match *self.state.lock() {
            State::Closed { .. } => Health::Healthy,
            State::Open { until } if Instant::now() >= until => Health::HalfOpen,
            State::Open { .. } => Health::Open,
            State::HalfOpen { .. } => Health::HalfOpen,
        }
    }

    /// Seconds until an open circuit allows a probe (for `retry-after-secs`).
    pub fn remaining(&self) -> Option<Duration> {
        match *self.state.lock() {
            State::Open { until } => until
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero()),
            _ => None,
        }
    }

    pub fn admit(&self) -> Admission {
        let mut s = self.state.lock();
        match *s {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if Instant::now() >= until => {
                *s = State::HalfOpen { probing: true };
                Admission::Probe
            }
            State::Open { .. } => Admission::Refused,
            State::HalfOpen { probing: false } => {
                *s = State::HalfOpen { probing: true };
                Admission::Probe
            }
            State::HalfOpen { probing: true } => Admission::Refused,
        }
    }

    pub fn success(&self) {
        *self.state.lock() = State::Closed { failures: 0 };
    }

    pub fn failure(&self) {
        let mut s = self.state.lock();
        let until = Instant::now() + self.config.cooldown;
        *s = match *s {
            State::Closed { failures } if failures + 1 < self.config.failures => State::Closed {
                failures: failures + 1,
            },
            // A longer wait already asked for (retry-after) stands.
            State::Open { until: cur } if cur > until => State::Open { until: cur },
            _ => State::Open { until },
        };
    }

    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// Opens a closed circuit for a cooldown (the error rate is too high).
    pub fn trip(&self) {
        let mut s = self.state.lock();
        if let State::Closed { .. } = *s {
            *s = State::Open {
                until: Instant::now() + self.config.cooldown,
            };
        }
    }

    /// An attempt that was admitted as a probe ended without an outcome (cancelled):
    /// let the next request probe.
    pub fn abandon_probe(&self) {
        let mut s = self.state.lock();
        if let State::HalfOpen { probing: true } = *s {
            *s = State::HalfOpen { probing: false };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(10),
            ..Default::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_then_probes_and_closes() {
        let b = breaker();
        b.failure();
        b.failure();
        b.success();
        b.failure();
        b.failure();
        assert_eq!(b.health(), Health::Healthy, "a success resets the count");
        b.failure();
        assert_eq!(b.health(), Health::Open);
        assert_eq!(b.admit(), Admission::Refused);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.admit(), Admission::Refused);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.health(), Health::HalfOpen);
        assert_eq!(b.admit(), Admission::Probe);
        assert_eq!(b.admit(), Admission::Refused, "one probe at a time");
        b.success();
        assert_eq!(b.health(), Health::Healthy);
        assert_eq!(b.admit(), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again_for_a_full_cooldown() {
        let b = breaker();
        for _ in 0..3 {
            b.failure();
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.admit(), Admission::Probe);
        b.failure();
        assert_eq!(b.health(), Health::Open);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.admit(), Admission::Refused);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.admit(), Admission::Probe);
        b.abandon_probe();
        assert_eq!(
            b.admit(),
            Admission::Probe,
            "an abandoned probe frees the slot"
        );
    }
}
