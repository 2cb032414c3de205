//! Quarantine of a configured plugin that keeps failing, per route: `failures`
//! deadline, trap or memory failures within `window` on one route put the plugin in
//! quarantine *for that route* for `cooldown`, during which that route's calls of it
//! fail fast (no instance, no CPU) while other routes sharing the plugin (a provider's
//! adapter serves every route that names the provider) go on. Then one trial call is
//! let through: its success lifts the quarantine, its failure starts another cooldown.
//! Failures that are the client's (`FailureKind::Oversize`: a request too large for
//! the plugin's memory) never count. Time is tokio's, so tests run on a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Times the plugin was quarantined on this route.
    times: u64,
}

/// Routes tracked at once (route names come from config; this only guards).
const MAX_ROUTES: usize = 4096;

#[derive(Debug)]
pub struct Quarantine {
    failures: u32,
    window: Duration,
    cooldown: Duration,
    routes: Mutex<HashMap<String, State>>,
    /// Routes in quarantine now: the one thing every call reads, without the lock.
    on: AtomicUsize,
}

/// What `/admin/plugins` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineView {
    /// Quarantined on some route.
    pub quarantined: bool,
    /// The routes it is quarantined on.
    pub routes: Vec<String>,
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
            routes: Mutex::new(HashMap::new()),
            on: AtomicUsize::new(0),
        }
    }

    /// Whether a call for `route` may go ahead: `Ok(true)` when it is the trial,
    /// `Err` (why) when it must fail fast.
    pub fn admit(&self, route: &str) -> Result<bool, String> {
        if self.on.load(Ordering::Acquire) == 0 {
            return Ok(false);
        }
        let mut routes = self.routes.lock();
        let Some(s) = routes.get_mut(route) else {
            return Ok(false);
        };
        let Some(until) = s.until else {
            return Ok(false);
        };
        let now = Instant::now();
        if now < until {
            let left = until - now;
            return Err(format!(
                "quarantined on this route after repeated failures; next trial call in {}s",
                left.as_secs().max(1)
            ));
        }
        if s.trial {
            return Err("quarantined after repeated failures; a trial call is running".into());
        }
        s.trial = true;
        Ok(true)
    }

    /// Notes a failure on `route`; says so when it starts a quarantine.
    pub fn failed(&self, route: &str, kind: FailureKind) -> Option<String> {
        if self.failures == 0
            || !matches!(
                kind,
                FailureKind::Deadline | FailureKind::Trap | FailureKind::Memory
            )
        {
            return None;
        }
        let mut routes = self.routes.lock();
        if !routes.contains_key(route) && routes.len() >= MAX_ROUTES {
            routes.retain(|_, s| s.until.is_some());
        }
        let s = routes.entry(route.to_string()).or_default();
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
        self.on.fetch_add(1, Ordering::AcqRel);
        s.times += 1;
        Some(format!(
            "plugin quarantined on route '{route}' for {:?} after {} failures within {:?}",
            self.cooldown, self.failures, self.window
        ))
    }

    /// The trial call on `route` ended: success lifts the quarantine, failure renews it.
    pub fn trial_over(&self, route: &str, ok: bool) {
        let mut routes = self.routes.lock();
        let Some(s) = routes.get_mut(route) else {
            return;
        };
        s.trial = false;
        if ok {
            if s.until.take().is_some() {
                self.on.fetch_sub(1, Ordering::AcqRel);
            }
            s.recent.clear();
        } else {
            s.until = Some(Instant::now() + self.cooldown);
            s.times += 1;
        }
    }

    /// The trial lease went away without a call: let another one try.
    pub fn trial_over_undecided(&self, route: &str) {
        if let Some(s) = self.routes.lock().get_mut(route) {
            s.trial = false;
        }
    }

    pub fn view(&self) -> QuarantineView {
        let routes = self.routes.lock();
        let now = Instant::now();
        let mut v = QuarantineView {
            quarantined: false,
            routes: Vec::new(),
            trial_in_secs: 0,
            times: 0,
            recent_failures: 0,
        };
        for (route, s) in routes.iter() {
            v.times += s.times;
            v.recent_failures += s.recent.len();
            if let Some(u) = s.until {
                v.quarantined = true;
                v.routes.push(route.clone());
                let left = u
                    .checked_duration_since(now)
                    .map_or(0, |d| d.as_secs().max(1));
                v.trial_in_secs = if v.routes.len() == 1 {
                    left
                } else {
                    v.trial_in_secs.min(left)
                };
            }
        }
        v.routes.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn repeated_failures_quarantine_then_one_trial_decides() {
        let q = Quarantine::new(3, Duration::from_secs(10), Duration::from_secs(30));
        assert_eq!(q.admit("r"), Ok(false));
        assert!(q.failed("r", FailureKind::Trap).is_none());
        assert!(q.failed("r", FailureKind::InvalidOutput).is_none());
        tokio::time::advance(Duration::from_secs(11)).await;
        // The first failure has left the window.
        assert!(q.failed("r", FailureKind::Deadline).is_none());
        assert!(q.failed("r", FailureKind::Memory).is_none());
        // A client's oversized request never counts.
        assert!(q.failed("r", FailureKind::Oversize).is_none());
        assert!(q.failed("r", FailureKind::Deadline).is_some());
        assert!(q.admit("r").unwrap_err().contains("quarantined"));
        // Another route sharing the plugin goes on.
        assert_eq!(q.admit("other"), Ok(false));
        assert_eq!(q.view().routes, ["r"]);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(q.admit("r"), Ok(true));
        assert!(q.admit("r").is_err(), "only one trial at a time");
        q.trial_over("r", false);
        assert!(q.admit("r").is_err());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(q.admit("r"), Ok(true));
        q.trial_over("r", true);
        assert_eq!(q.admit("r"), Ok(false));
        assert_eq!(q.view().times, 2);
        assert!(!q.view().quarantined);
    }
}
