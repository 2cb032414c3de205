//! Alerts: the `[[alerts]]` rules evaluated by the gateway on itself, once a second
//! (`tick`), from counts the request path keeps anyway (`crate::health::outcomes`), the
//! circuit breakers, the plugins' quarantine and the reload state (`watch`). Each rule
//! × subject is `ok` or `firing`; a change is a transition, counted in
//! `switchboard_alerts_total{rule,state}`, kept in the history (in memory, and in the
//! store's PostgreSQL when there is one, so replicas share it: `history`), logged, and
//! told to the rule's webhook (`notify`). A cooldown makes one incident one message:
//! an alert that fires again within `cooldown` of its last notice is recorded but not
//! sent (nor is its resolution). `GET /admin/alerts` shows what is firing and the
//! recent history.

pub mod history;
pub mod notify;
pub mod watch;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::config::alerts::AlertRule;
use crate::live::LiveState;
use crate::metrics::{AlertFigures, Metrics};

/// Most transitions kept in memory.
const HISTORY: usize = 500;

/// A transition of one rule × subject.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Transition {
    /// Unix seconds.
    pub at: u64,
    pub rule: String,
    pub kind: &'static str,
    /// `info`, `warning` or `critical`.
    pub severity: &'static str,
    /// `firing` or `resolved`.
    pub state: &'static str,
    pub subject: String,
    pub value: Option<f64>,
    pub message: String,
    /// Whether a notice was sent (not, within the cooldown).
    pub notified: bool,
}

/// Where one rule × subject stands.
struct Standing {
    firing: bool,
    /// Since when (unix seconds) it has been in this state.
    since: u64,
    value: Option<f64>,
    message: String,
    /// When a firing notice was last sent, and whether this firing's was.
    noticed_at: Option<Instant>,
    noticed: bool,
}

#[derive(Default)]
struct Engine {
    series: watch::Series,
    standing: HashMap<(String, String), Standing>,
    history: VecDeque<Transition>,
    /// Transitions so far by rule and state (for the metric).
    counts: BTreeMap<(String, &'static str), u64>,
}

/// The gateway's alerts.
#[derive(Default)]
pub struct Alerts {
    engine: Mutex<Engine>,
    notifier: notify::Notifier,
    shared: history::Shared,
}

fn now_secs() -> u64 {
    crate::access::vkeys::now_secs()
}

impl Engine {
    /// Applies this tick's observation of `rule`'s `subject`; the transition, if any.
    fn apply(
        &mut self,
        rule: &AlertRule,
        o: watch::Observation,
        now: Instant,
    ) -> Option<Transition> {
        let key = (rule.name.clone(), o.subject.clone());
        let st = self.standing.entry(key).or_insert_with(|| Standing {
            firing: false,
            since: now_secs(),
            value: None,
            message: String::new(),
            noticed_at: None,
            noticed: false,
        });
        st.value = o.value;
        let changed = st.firing != o.firing;
        if !changed {
            st.message = o.message;
            return None;
        }
        st.firing = o.firing;
        st.since = now_secs();
        st.message = o.message.clone();
        let notified = if o.firing {
            let quiet = st
                .noticed_at
                .is_some_and(|t| now.duration_since(t) < rule.cooldown);
            st.noticed = !quiet;
            if st.noticed {
                st.noticed_at = Some(now);
            }
            st.noticed
        } else {
            std::mem::take(&mut st.noticed)
        };
        let state = if o.firing { "firing" } else { "resolved" };
        *self.counts.entry((rule.name.clone(), state)).or_default() += 1;
        let t = Transition {
            at: now_secs(),
            rule: rule.name.clone(),
            kind: rule.kind.label(),
            severity: rule.severity.label(),
            state,
            subject: o.subject,
            value: o.value,
            message: o.message,
            notified,
        };
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(t.clone());
        Some(t)
    }
}

impl Alerts {
    /// One evaluation of every rule in force in `live`, from the events in `metrics`
    /// and the reason the last reload was `refused`; the transitions it made.
    pub fn tick(
        &self,
        live: &LiveState,
        metrics: &Metrics,
        refused: Option<&str>,
    ) -> Vec<Transition> {
        let rules = &live.config.alerts;
        let mut e = self.engine.lock();
        if rules.is_empty() {
            e.standing.clear();
            return Vec::new();
        }
        let now = Instant::now();
        let events = metrics.events.sample();
        e.series.sample(now, live, &events, rules);
        let mut out = Vec::new();
        for rule in rules {
            let seen = watch::observe(rule, &e.series, live, &events, refused, now);
            let mut subjects = Vec::with_capacity(seen.len());
            for o in seen {
                subjects.push(o.subject.clone());
                if let Some(t) = e.apply(rule, o, now) {
                    out.push((rule.clone(), t));
                }
            }
            // A subject no longer watched (a route or plugin gone) resolves.
            let gone: Vec<String> = e
                .standing
                .iter()
                .filter(|((r, s), st)| *r == rule.name && st.firing && !subjects.contains(s))
                .map(|((_, s), _)| s.clone())
                .collect();
            for subject in gone {
                let message = format!("{subject} is no longer watched");
                let o = watch::Observation {
                    subject,
                    firing: false,
                    value: None,
                    message,
                };
                if let Some(t) = e.apply(rule, o, now) {
                    out.push((rule.clone(), t));
                }
            }
        }
        // Rules removed by a reload take their state with them.
        e.standing
            .retain(|(r, _), _| rules.iter().any(|x| x.name == *r));
        drop(e);
        for (rule, t) in &out {
            self.notifier.tell(rule, t);
        }
        self.shared.record(
            &live.config.store,
            out.iter().map(|(_, t)| t.clone()).collect(),
        );
        out.into_iter().map(|(_, t)| t).collect()
    }

    /// Transitions so far by rule and state, for `switchboard_alerts_total`; alerts
    /// firing now by rule; notices that could not be delivered.
    pub fn figures(&self) -> AlertFigures {
        let e = self.engine.lock();
        let mut firing = BTreeMap::new();
        for ((rule, _), st) in &e.standing {
            *firing.entry(rule.clone()).or_default() += u64::from(st.firing);
        }
        AlertFigures {
            transitions: e
                .counts
                .iter()
                .map(|((r, s), n)| (r.clone(), *s, *n))
                .collect(),
            firing,
            failed: self.notifier.failed(),
        }
    }

    /// `GET /admin/alerts`: the rules, what is firing, and the recent history (shared
    /// by the replicas when the store is PostgreSQL).
    pub async fn view(&self, live: &LiveState, limit: usize) -> Value {
        let (active, local) = {
            let e = self.engine.lock();
            let active: Vec<Value> = e
                .standing
                .iter()
                .filter(|(_, st)| st.firing)
                .map(|((rule, subject), st)| {
                    json!({ "rule": rule, "subject": subject, "since": st.since,
                            "value": st.value, "message": st.message })
                })
                .collect();
            let local: Vec<Transition> = e.history.iter().rev().take(limit).cloned().collect();
            (active, local)
        };
        let rules: Vec<Value> = live
            .config
            .alerts
            .iter()
            .map(|r| {
                json!({ "name": r.name, "kind": r.kind.label(), "route": r.route,
                        "target": r.target.as_ref().map(|(p, m)| match m { Some(m) => format!("{p}/{m}"), None => p.clone() }),
                        "window_secs": r.window.as_secs(), "above": r.above,
                        "cooldown_secs": r.cooldown.as_secs(), "webhook": r.webhook.is_some() })
            })
            .collect();
        let (history, shared) = match self.shared.recent(&live.config.store, limit).await {
            Some(Ok(h)) => (h, true),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "reading the shared alert history failed");
                (serde_json::to_value(&local).unwrap_or_default(), false)
            }
            None => (serde_json::to_value(&local).unwrap_or_default(), false),
        };
        json!({ "rules": rules, "active": active, "history": history, "shared_history": shared,
                "notices_failed": self.notifier.failed() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerts::AlertKind;
    use std::time::Duration;

    fn rule(cooldown: u64) -> AlertRule {
        AlertRule {
            name: "r".into(),
            kind: AlertKind::ErrorRate,
            route: None,
            target: None,
            window: Duration::from_secs(60),
            above: 0.5,
            min_requests: 1,
            quantile: 0.95,
            budget: None,
            exhausted: false,
            plugin: None,
            cooldown: Duration::from_secs(cooldown),
            webhook: None,
            severity: Default::default(),
            log: false,
        }
    }

    fn seen(firing: bool) -> watch::Observation {
        watch::Observation {
            subject: "m".into(),
            firing,
            value: Some(if firing { 1.0 } else { 0.0 }),
            message: String::new(),
        }
    }

    #[test]
    fn transitions_are_noticed_once_per_cooldown() {
        let mut e = Engine::default();
        let (r, t0) = (rule(600), Instant::now());
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(e.apply(&r, seen(false), at(0)).is_none());
        let fired = e.apply(&r, seen(true), at(1)).unwrap();
        assert_eq!((fired.state, fired.notified), ("firing", true));
        assert!(
            e.apply(&r, seen(true), at(2)).is_none(),
            "still firing: no transition"
        );
        let resolved = e.apply(&r, seen(false), at(3)).unwrap();
        assert_eq!((resolved.state, resolved.notified), ("resolved", true));
        // Flapping within the cooldown: recorded, not noticed, resolution included.
        let again = e.apply(&r, seen(true), at(60)).unwrap();
        assert_eq!((again.state, again.notified), ("firing", false));
        let quiet = e.apply(&r, seen(false), at(61)).unwrap();
        assert!(!quiet.notified);
        // After the cooldown it is told again.
        assert!(e.apply(&r, seen(true), at(700)).unwrap().notified);
        assert_eq!(e.counts[&("r".to_string(), "firing")], 3);
        assert_eq!(e.history.len(), 5);
    }
}
