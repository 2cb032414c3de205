//! What each rule sees: the counts of `crate::health::outcomes` sampled once per tick into a
//! ring per series (route, target, event, plugin), and each rule's reading of its
//! series over its window — one `Observation` per subject it watches (a route, a
//! target, a budget, a plugin, the config), firing or not, with the value and a
//! sentence saying why.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::alerts::{AlertKind, AlertRule};
use crate::health::outcomes::{Event, Sample, quantile};
use crate::live::LiveState;
use crate::plugins::FailureKind;
use crate::plugins::pool::{InstancePool, World};
use crate::types::Health;

/// Most samples a ring keeps (its spacing grows with the longest window).
const MAX_SAMPLES: usize = 720;

/// Samples of one series, oldest first.
struct Ring<T> {
    samples: VecDeque<(Instant, T)>,
    /// The newest sample, kept even when the ring skips it (for `latest`).
    last: Option<T>,
    /// When it was last sampled (a series no longer sampled is forgotten).
    seen: Instant,
}

impl<T: Clone + Default> Ring<T> {
    /// A ring for a series first seen `now`: its counts began at zero (they are
    /// cumulative since the gateway, route or plugin began), so what it already holds
    /// happened within any window.
    fn new(now: Instant) -> Self {
        Ring {
            samples: VecDeque::from([(now, T::default())]),
            last: None,
            seen: now,
        }
    }

    fn push(&mut self, now: Instant, v: T, spacing: Duration, keep: Duration) {
        self.last = Some(v.clone());
        self.seen = now;
        if self
            .samples
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= spacing)
        {
            self.samples.push_back((now, v));
        }
        while self.samples.len() > MAX_SAMPLES
            || self
                .samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > keep + spacing)
        {
            self.samples.pop_front();
        }
    }

    /// The sample at the window's start: the newest one at least `window` old, else
    /// the oldest.
    fn start(&self, now: Instant, window: Duration) -> Option<&T> {
        self.samples
            .iter()
            .rev()
            .find(|(t, _)| now.duration_since(*t) >= window)
            .or_else(|| self.samples.front())
            .map(|(_, v)| v)
    }
}

/// One subject of one rule, this tick.
#[derive(Debug, Clone)]
pub struct Observation {
    pub subject: String,
    pub firing: bool,
    pub value: Option<f64>,
    pub message: String,
}

/// The rings of every series, kept across ticks.
#[derive(Default)]
pub struct Series {
    outcomes: HashMap<String, Ring<Sample>>,
    counts: HashMap<String, Ring<u64>>,
    /// The newest streak reading of each outcome series (taken once per tick).
    streaks: HashMap<String, u64>,
}

fn target_key(route: &str, provider: &str, model: &str) -> String {
    format!("{route}/{provider}/{model}")
}

/// A plugin's use, as the rules see it: label, quarantined, failures so far.
fn plugin<W: World>(pool: &InstancePool<W>, out: &mut HashMap<String, (bool, u64)>) {
    let failures = FailureKind::ALL
        .iter()
        .map(|k| pool.stats.failures(*k))
        .sum();
    out.insert(
        pool.label().to_string(),
        (pool.quarantine.view().quarantined, failures),
    );
}

fn plugins(live: &LiveState) -> HashMap<String, (bool, u64)> {
    let mut out = HashMap::new();
    for r in live.routes.values() {
        plugin(&r.strategy, &mut out);
        r.policies.iter().for_each(|p| plugin(&p.pool, &mut out));
        r.redactors.iter().for_each(|p| plugin(&p.pool, &mut out));
    }
    for p in live.providers.values() {
        plugin(&p.adapter, &mut out);
    }
    out
}

impl Series {
    /// Samples every route, target, event count and plugin once.
    pub fn sample(
        &mut self,
        now: Instant,
        live: &LiveState,
        events: &HashMap<(Event, String, String), u64>,
        rules: &[AlertRule],
    ) {
        let shortest = rules.iter().map(|r| r.window).min().unwrap_or_default();
        let longest = rules.iter().map(|r| r.window).max().unwrap_or_default();
        let spacing = (shortest / 10)
            .max(longest / MAX_SAMPLES as u32)
            .max(Duration::from_secs(1));
        let mut put = |key: String, s: Sample, streaks: &mut HashMap<String, u64>| {
            streaks.insert(key.clone(), s.worst_streak);
            self.outcomes
                .entry(key)
                .or_insert_with(|| Ring::new(now))
                .push(now, s, spacing, longest);
        };
        for r in live.routes.values() {
            put(
                format!("route:{}", r.route.name),
                r.outcomes.sample(),
                &mut self.streaks,
            );
            for t in &r.targets {
                let key = target_key(&r.route.name, &t.target.provider, &t.target.model);
                put(
                    format!("target:{key}"),
                    t.signals.outcomes.sample(),
                    &mut self.streaks,
                );
            }
        }
        for ((kind, policy, route), n) in events {
            let key = format!("{kind:?}:{policy}:{route}");
            let ring = self.counts.entry(key).or_insert_with(|| Ring::new(now));
            ring.push(now, *n, spacing, longest);
        }
        for (label, (_, failures)) in plugins(live) {
            let ring = self
                .counts
                .entry(format!("plugin:{label}"))
                .or_insert_with(|| Ring::new(now));
            ring.push(now, failures, spacing, longest);
        }
        // Routes, targets and plugins a reload removed take their series with them.
        self.outcomes.retain(|_, r| r.seen == now);
        self.counts.retain(|_, r| r.seen == now);
        self.streaks.retain(|k, _| self.outcomes.contains_key(k));
    }

    /// What `key`'s outcomes came to over `window`.
    fn outcomes_over(&self, key: &str, now: Instant, window: Duration) -> Option<Sample> {
        let ring = self.outcomes.get(key)?;
        let latest = ring.last.as_ref()?;
        Some(latest.since(ring.start(now, window)?))
    }

    /// How much `key`'s count grew over `window`.
    fn count_over(&self, key: &str, now: Instant, window: Duration) -> u64 {
        let Some(ring) = self.counts.get(key) else {
            return 0;
        };
        match (ring.last, ring.start(now, window)) {
            (Some(l), Some(s)) => l.saturating_sub(*s),
            _ => 0,
        }
    }
}

/// The outcome series a rule watches: (series key, subject).
fn watched(rule: &AlertRule, live: &LiveState) -> Vec<(String, String)> {
    let routes = live
        .routes
        .values()
        .filter(|r| rule.route.as_ref().is_none_or(|n| *n == r.route.name));
    match &rule.target {
        None => routes
            .map(|r| (format!("route:{}", r.route.name), r.route.name.clone()))
            .collect(),
        Some((provider, model)) => routes
            .flat_map(|r| r.targets.iter().map(move |t| (r, t)))
            .filter(|(_, t)| {
                t.target.provider == *provider
                    && model.as_ref().is_none_or(|m| *m == t.target.model)
            })
            .map(|(r, t)| {
                let key = target_key(&r.route.name, &t.target.provider, &t.target.model);
                (format!("target:{key}"), key)
            })
            .collect(),
    }
}

fn window_words(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A rule on requests' outcomes (error rate, failures, latency, TTFT), per subject.
fn on_outcomes(rule: &AlertRule, s: &Series, live: &LiveState, now: Instant) -> Vec<Observation> {
    let w = window_words(rule.window);
    let mut out = Vec::new();
    for (key, subject) in watched(rule, live) {
        let Some(d) = s.outcomes_over(&key, now, rule.window) else {
            continue;
        };
        let (value, message) = match rule.kind {
            AlertKind::Failures => {
                let n = s.streaks.get(&key).copied().unwrap_or(0);
                let m = format!(
                    "{subject}: {n} consecutive failures (alert at {})",
                    rule.above
                );
                (Some(n as f64), m)
            }
            AlertKind::ErrorRate if d.requests >= rule.min_requests => {
                let rate = d.failures as f64 / d.requests as f64;
                let m = format!(
                    "{subject}: {:.1}% failed over {w} ({} of {}), alert above {:.1}%",
                    rate * 100.0,
                    d.failures,
                    d.requests,
                    rule.above * 100.0
                );
                (Some(rate), m)
            }
            AlertKind::Latency | AlertKind::Ttft => {
                let (buckets, what) = if rule.kind == AlertKind::Latency {
                    (&d.latency, "latency")
                } else {
                    (&d.ttft, "time to first token")
                };
                let n: u64 = buckets.iter().sum();
                let q = quantile(buckets, rule.quantile).filter(|_| n >= rule.min_requests);
                let m = format!(
                    "{subject}: p{:.0} {what} {:.0} ms over {w} ({n} requests), alert above {} ms",
                    rule.quantile * 100.0,
                    q.unwrap_or(0.0),
                    rule.above
                );
                (q, m)
            }
            _ => (None, format!("{subject}: too few requests over {w}")),
        };
        let firing = value.is_some_and(|v| v >= rule.above && v > 0.0);
        out.push(Observation {
            subject,
            firing,
            value,
            message,
        });
    }
    out
}

/// Open circuits of the targets a rule watches.
fn circuits(rule: &AlertRule, live: &LiveState) -> Vec<Observation> {
    let routes = live
        .routes
        .values()
        .filter(|r| rule.route.as_ref().is_none_or(|n| *n == r.route.name));
    let mut out = Vec::new();
    for r in routes {
        for t in &r.targets {
            let wanted = rule.target.as_ref().is_none_or(|(p, m)| {
                *p == t.target.provider && m.as_ref().is_none_or(|m| *m == t.target.model)
            });
            if !wanted {
                continue;
            }
            let subject = target_key(&r.route.name, &t.target.provider, &t.target.model);
            let health = t.signals.breaker.health();
            let firing = health != Health::Healthy;
            let message = format!("{subject}: circuit {health:?}").to_lowercase();
            out.push(Observation {
                subject,
                firing,
                value: Some(f64::from(u8::from(firing))),
                message,
            });
        }
    }
    out
}

/// Budget warnings or denials, and policy denials per minute, per budget or route.
fn on_events(
    rule: &AlertRule,
    s: &Series,
    events: &HashMap<(Event, String, String), u64>,
    now: Instant,
) -> Vec<Observation> {
    let w = window_words(rule.window);
    let mut by: HashMap<String, u64> = HashMap::new();
    for (kind, policy, route) in events.keys() {
        let (wanted, subject) = match rule.kind {
            AlertKind::Budget => {
                let kind_ok = *kind
                    == if rule.exhausted {
                        Event::BudgetSpent
                    } else {
                        Event::BudgetWarning
                    };
                (
                    kind_ok && rule.budget.as_ref().is_none_or(|b| b == policy),
                    policy.clone(),
                )
            }
            AlertKind::AdminAuth => (*kind == Event::AdminAuthFailed, "admin".to_string()),
            _ => (
                *kind == Event::Denied && rule.route.as_ref().is_none_or(|r| r == route),
                route.clone(),
            ),
        };
        if wanted {
            let n = s.count_over(&format!("{kind:?}:{policy}:{route}"), now, rule.window);
            *by.entry(subject).or_default() += n;
        }
    }
    by.into_iter()
        .map(|(subject, n)| {
            let (value, firing, message) = if rule.kind == AlertKind::Budget {
                let what = if rule.exhausted {
                    "is spent: denied"
                } else {
                    "passed its warning on"
                };
                (
                    n as f64,
                    n > 0,
                    format!("budget '{subject}' {what} {n} requests over {w}"),
                )
            } else {
                let per_min = n as f64 * 60.0 / rule.window.as_secs_f64();
                let what = if rule.kind == AlertKind::AdminAuth {
                    "failed sign-ins"
                } else {
                    "policy denials"
                };
                let m = format!(
                    "{subject}: {per_min:.1} {what} a minute over {w}, alert above {}",
                    rule.above
                );
                (per_min, per_min > rule.above, m)
            };
            Observation {
                subject,
                firing,
                value: Some(value),
                message,
            }
        })
        .collect()
}

/// Spend per hour over the window: the route's, or every route's together.
fn spend_rate(rule: &AlertRule, s: &Series, live: &LiveState, now: Instant) -> Observation {
    let mut spent = 0u64;
    for (key, _) in watched(rule, live) {
        if let Some(d) = s.outcomes_over(&key, now, rule.window) {
            spent += d.spent;
        }
    }
    let per_hour = spent as f64 / 1e6 * 3600.0 / rule.window.as_secs_f64().max(1.0);
    let subject = rule.route.clone().unwrap_or_else(|| "gateway".into());
    Observation {
        message: format!(
            "{subject}: spending ${per_hour:.4} an hour over {}, alert above ${}",
            window_words(rule.window),
            rule.above
        ),
        firing: per_hour > rule.above,
        value: Some(per_hour),
        subject,
    }
}

/// Quarantined or failing plugins.
fn on_plugins(rule: &AlertRule, s: &Series, live: &LiveState, now: Instant) -> Vec<Observation> {
    let w = window_words(rule.window);
    plugins(live)
        .into_iter()
        .filter(|(label, _)| rule.plugin.as_ref().is_none_or(|p| p == label))
        .map(|(label, (quarantined, _))| {
            let n = s.count_over(&format!("plugin:{label}"), now, rule.window);
            let firing = quarantined || (n as f64 > rule.above);
            let message = if quarantined {
                format!("plugin {label} is quarantined ({n} failures over {w})")
            } else {
                format!(
                    "plugin {label}: {n} failures over {w}, alert above {}",
                    rule.above
                )
            };
            Observation {
                subject: label,
                firing,
                value: Some(n as f64),
                message,
            }
        })
        .collect()
}

/// Every subject of `rule` this tick.
pub fn observe(
    rule: &AlertRule,
    s: &Series,
    live: &LiveState,
    events: &HashMap<(Event, String, String), u64>,
    refused: Option<&str>,
    now: Instant,
) -> Vec<Observation> {
    match rule.kind {
        AlertKind::ErrorRate | AlertKind::Failures | AlertKind::Latency | AlertKind::Ttft => {
            on_outcomes(rule, s, live, now)
        }
        AlertKind::Circuit => circuits(rule, live),
        AlertKind::Budget | AlertKind::Denials | AlertKind::AdminAuth => {
            on_events(rule, s, events, now)
        }
        AlertKind::Plugin => on_plugins(rule, s, live, now),
        AlertKind::SpendRate => vec![spend_rate(rule, s, live, now)],
        AlertKind::Reload => vec![Observation {
            subject: "config".into(),
            firing: refused.is_some(),
            value: None,
            message: match refused {
                Some(e) => format!("the last reload was refused: {e}"),
                None => "the config in force is the last one written".into(),
            },
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_back_to_its_start_and_forgets_what_is_older() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut r: Ring<u64> = Ring::new(t0);
        for s in 1..=100 {
            r.push(
                at(s),
                s * 10,
                Duration::from_secs(1),
                Duration::from_secs(30),
            );
        }
        // The newest sample at least 10 s old is the one of second 90.
        assert_eq!(r.start(at(100), Duration::from_secs(10)), Some(&900));
        // Older than the longest window (and a spacing) is gone.
        assert_eq!(r.samples.front().map(|(_, v)| *v), Some(690));
        // A window longer than what is kept starts at the oldest kept.
        assert_eq!(r.start(at(100), Duration::from_secs(3600)), Some(&690));
        // A new series counts from zero.
        let fresh: Ring<u64> = Ring::new(t0);
        assert_eq!(fresh.start(t0, Duration::from_secs(60)), Some(&0));
    }
}
