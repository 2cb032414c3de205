//! What alert rules read, counted where it happens at the cost of a few relaxed atomic
//! adds: per route (at the settle point) and per target (per attempt), requests,
//! failures, the longest run of consecutive failures, and latency and time-to-first-
//! token buckets (`Outcomes`); and per gateway the events a policy reports — denials
//! by route and policy, budgets past their warning or spent (`Events`). All counts are
//! cumulative: the alert evaluator samples them on its tick and compares samples over
//! a rule's window, so nothing here grows with time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds of the latency buckets, in milliseconds (the last catches the rest).
pub const BOUNDS_MS: [u64; 16] = [
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
    u64::MAX,
];
const N: usize = BOUNDS_MS.len();

fn bucket(d: Duration) -> usize {
    let ms = d.as_millis().min(u128::from(u64::MAX)) as u64;
    BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(N - 1)
}

/// Cumulative outcomes of one route or target.
#[derive(Debug, Default)]
pub struct Outcomes {
    requests: AtomicU64,
    failures: AtomicU64,
    streak: AtomicU64,
    /// The longest streak since the last sample.
    worst_streak: AtomicU64,
    latency: [AtomicU64; N],
    ttft: [AtomicU64; N],
    /// Spend, in millionths of a US dollar.
    spent: AtomicU64,
}

/// The counts at one moment (or, from `since`, over an interval).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub requests: u64,
    pub failures: u64,
    /// The longest run of consecutive failures seen since the previous sample.
    pub worst_streak: u64,
    pub latency: [u64; N],
    pub ttft: [u64; N],
    /// Spend, in millionths of a US dollar.
    pub spent: u64,
}

impl Outcomes {
    /// One request (or attempt) ended.
    pub fn record(&self, ok: bool, took: Duration) {
        self.requests.fetch_add(1, Relaxed);
        self.latency[bucket(took)].fetch_add(1, Relaxed);
        if ok {
            self.streak.store(0, Relaxed);
        } else {
            self.failures.fetch_add(1, Relaxed);
            let s = self.streak.fetch_add(1, Relaxed) + 1;
            self.worst_streak.fetch_max(s, Relaxed);
        }
    }

    /// What an answer cost (millionths of a US dollar).
    pub fn spend(&self, micros: u64) {
        if micros > 0 {
            self.spent.fetch_add(micros, Relaxed);
        }
    }

    pub fn first_token(&self, after: Duration) {
        self.ttft[bucket(after)].fetch_add(1, Relaxed);
    }

    /// The counts now; the worst streak starts again from the current one.
    pub fn sample(&self) -> Sample {
        let load = |a: &[AtomicU64; N]| std::array::from_fn(|i| a[i].load(Relaxed));
        Sample {
            requests: self.requests.load(Relaxed),
            failures: self.failures.load(Relaxed),
            worst_streak: self.worst_streak.swap(self.streak.load(Relaxed), Relaxed),
            latency: load(&self.latency),
            ttft: load(&self.ttft),
            spent: self.spent.load(Relaxed),
        }
    }
}

impl Sample {
    /// What happened between `earlier` and this sample (counts that went backwards —
    /// a new route after a reload — count from zero).
    pub fn since(&self, earlier: &Sample) -> Sample {
        let fresh = self.requests < earlier.requests;
        let d = |now: u64, then: u64| if fresh { now } else { now.saturating_sub(then) };
        Sample {
            requests: d(self.requests, earlier.requests),
            failures: d(self.failures, earlier.failures),
            worst_streak: self.worst_streak,
            latency: std::array::from_fn(|i| d(self.latency[i], earlier.latency[i])),
            ttft: std::array::from_fn(|i| d(self.ttft[i], earlier.ttft[i])),
            spent: d(self.spent, earlier.spent),
        }
    }

    pub fn add(&mut self, other: &Sample) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.worst_streak = self.worst_streak.max(other.worst_streak);
        self.spent += other.spent;
        for i in 0..N {
            self.latency[i] += other.latency[i];
            self.ttft[i] += other.ttft[i];
        }
    }
}

/// The value (ms) below which fraction `q` of `buckets` lies, interpolated within its
/// bucket; `None` when empty.
pub fn quantile(buckets: &[u64; N], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
    let mut seen = 0u64;
    for (i, n) in buckets.iter().enumerate() {
        if *n > 0 && (seen + n) as f64 >= rank {
            let low = if i == 0 { 0 } else { BOUNDS_MS[i - 1] } as f64;
            if BOUNDS_MS[i] == u64::MAX {
                return Some(low);
            }
            let within = (rank - seen as f64) / *n as f64;
            return Some(low + within * (BOUNDS_MS[i] as f64 - low));
        }
        seen += n;
    }
    None
}

/// A kind of event a policy reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A policy denied a request (by route and policy).
    Denied,
    /// A budget's spend passed its warning fraction (by policy).
    BudgetWarning,
    /// A budget denied a request: it is spent (by policy).
    BudgetSpent,
    /// An admin bearer token or console sign-in failed.
    AdminAuthFailed,
}

/// Event counts by kind and names from config (so the map stays small).
#[derive(Debug, Default)]
pub struct Events(Mutex<HashMap<(Event, String, String), u64>>);

/// Most distinct event keys kept (names come from config; this only guards).
const MAX_EVENT_KEYS: usize = 10_000;

impl Events {
    pub fn add(&self, kind: Event, policy: &str, route: &str) {
        let mut m = self.0.lock();
        if let Some(n) = m.get_mut(&(kind, policy.to_string(), route.to_string())) {
            *n += 1;
        } else if m.len() < MAX_EVENT_KEYS {
            m.insert((kind, policy.to_string(), route.to_string()), 1);
        }
    }

    /// Every count: (kind, policy, route) → events so far.
    pub fn sample(&self) -> HashMap<(Event, String, String), u64> {
        self.0.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaks_windows_and_quantiles() {
        let o = Outcomes::default();
        for ok in [true, false, false, false, true, false] {
            o.record(ok, Duration::from_millis(if ok { 20 } else { 400 }));
        }
        let first = o.sample();
        assert_eq!(
            (first.requests, first.failures, first.worst_streak),
            (6, 4, 3)
        );
        o.record(true, Duration::from_millis(20));
        let second = o.sample();
        // The streak of one that was running at the first sample, then it ended.
        assert_eq!(second.worst_streak, 1);
        assert_eq!(o.sample().worst_streak, 0);
        let d = second.since(&first);
        assert_eq!((d.requests, d.failures), (1, 0));
        // Two at 20 ms, four at 400 ms: the median is in the 250–500 bucket.
        let p50 = quantile(&first.latency, 0.5).unwrap();
        assert!((250.0..=500.0).contains(&p50), "{p50}");
        assert!(quantile(&first.latency, 0.3).unwrap() <= 25.0);
        assert_eq!(quantile(&[0; N], 0.95), None);
        // A reset (a route rebuilt by a reload) counts from zero.
        assert_eq!(Sample::default().since(&first).requests, 0);
    }
}
