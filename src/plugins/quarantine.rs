//! Quarantine of a configured plugin that keeps failing: `failures` deadline, trap or
//! memory failures within `window` put it in quarantine for `cooldown`, during which
//! its calls fail fast (no instance, no CPU). Then one trial call is let through: its
//! success lifts the quarantine, its failure starts another cooldown. Time is tokio's,
//! so tests run on a paused clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::FailureKind;

#[derive(Debug, Default)]
struct State {
    /// When recent failures happened (within the window).
    recent: VecDeque<Instant>,
    /// Quarantined until then, when set.
    until: Option<Instant>,
    /// A trial call is out.
    trial: bool,
    /// Times the plugin was quarantined.
    times: u64,
}

#[derive(Debug)]
pub struct Quarantine {
    failures: u32,
    window: Duration,
    cooldown: Duration,
    state: Mutex<State>,
    /// `state.until` is set: the one thing every call reads, without the lock.
    on: AtomicBool,
}

/// What `/admin/plugins` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineView {
    pub quarantined: bool,
    /// Seconds until the next trial call (0 when a trial is due or out).
    pub trial_in_secs: u64,
    pub times: u64,
    pub recent_failures: usize,
}

impl Quarantine {
    pub fn new(failures: u32, window: Duration, cooldown: Duration) -> Self {
        Quarantine {
            failures,
            window,
            cooldown,
            state: Mutex::new(State::default()),
            on: AtomicBool::new(false),
        }
    }

    /// Whether a call may go ahead: `Ok(true)` when it is the trial, `Err` (why) when
    /// it must fail fast.
    pub fn admit(&self) -> Result<bool, String> {
        if !self.on.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut s = self.state.lock();
        let Some(until) = s.until else {
            return Ok(false);
        };
        let now = Instant::now();
        if now < until {
            let left = until - now;
            return Err(format!(
                "quarantined after repeated failures; next trial call in {}s",
                left.as_secs().max(1)
            ));
        }
        if s.trial {
            return Err("quarantined after repeated failures; a trial call is running".into());
        }
        s.trial = true;
        Ok(true)
    }

    /// Notes a failure; says so when it starts a quarantine.
    pub fn failed(&self, kind: FailureKind) -> Option<String> {
        if self.failures == 0
            || !matches!(
                kind,
                FailureKind::Deadline | FailureKind::Trap | FailureKind::Memory
            )
        {
            return None;
        }
        let mut s = self.state.lock();
        if s.until.is_some() {
            return None;
        }
        let now = Instant::now();
        s.recent.push_back(now);
        while s
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            s.recent.pop_front();
        }
        if s.recent.len() < self.failures as usize {
            return None;
        }
        s.recent.clear();
        s.until = Some(now + self.cooldown);
        self.on.store(true, Ordering::Release);
        s.times += 1;
        Some(format!(
            "plugin quarantined for {:?} after {} failures within {:?}",
            self.cooldown, self.failures, self.window
        ))
    }

    /// The trial call ended: success lifts the quarantine, failure renews it.
    pub fn trial_over(&self, ok: bool) {
        let mut s = self.state.lock();
        s.trial = false;
        if ok {
            s.until = None;
            self.on.store(false, Ordering::Release);
            s.recent.clear();
        } else {
            s.until = Some(Instant::now() + self.cooldown);
            s.times += 1;
        }
    }

    /// The trial lease went away without a call: let another one try.
    pub fn trial_over_undecided(&self) {
        self.state.lock().trial = false;
    }

    pub fn view(&self) -> QuarantineView {
        let s = self.state.lock();
        let now = Instant::now();
        QuarantineView {
            quarantined: s.until.is_some(),
            trial_in_secs: s
                .until
                .and_then(|u| u.checked_duration_since(now))
                .map_or(0, |d| d.as_secs().max(1)),
            times: s.times,
            recent_failures: s.recent.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn repeated_failures_quarantine_then_one_trial_decides() {
        let q = Quarantine::new(3, Duration::from_secs(10), Duration::from_secs(30));
        assert_eq!(q.admit(), Ok(false));
        assert!(q.failed(FailureKind::Trap).is_none());
        assert!(q.failed(FailureKind::InvalidOutput).is_none());
        tokio::time::advance(Duration::from_secs(11)).await;
        // The first failure has left the window.
        assert!(q.failed(FailureKind::Deadline).is_none());
        assert!(q.failed(FailureKind::Memory).is_none());
        assert!(q.failed(FailureKind::Deadline).is_some());
        assert!(q.admit().unwrap_err().contains("quarantined"));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(q.admit(), Ok(true));
        assert!(q.admit().is_err(), "only one trial at a time");
        q.trial_over(false);
        assert!(q.admit().is_err());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(q.admit(), Ok(true));
        q.trial_over(true);
        assert_eq!(q.admit(), Ok(false));
        assert_eq!(q.view().times, 2);
    }
}
