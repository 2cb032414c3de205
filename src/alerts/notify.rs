//! Telling a transition: a log line (unless the rule says `log = false`) and, when the
//! rule has a webhook and the transition is not within its cooldown, a POST of the
//! alert as JSON (or Slack's `{"text": …}`) with a timeout per attempt and retries
//! with exponential backoff (a `retry-after` is honoured, up to 30 s). Deliveries run
//! off the evaluator's tick, at most `MAX_IN_FLIGHT` at once: past that a notice is
//! dropped and counted, so a hanging receiver cannot pile up tasks. The webhook's URL
//! (often a secret itself) is never logged; only its host is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::Transition;
use crate::config::alerts::{AlertRule, Webhook, WebhookFormat};

const MAX_IN_FLIGHT: usize = 32;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Notifier {
    in_flight: Arc<Semaphore>,
    failed: Arc<AtomicU64>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            failed: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// The body a webhook gets.
pub fn body(format: WebhookFormat, t: &Transition) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "source": "switchboard",
            "rule": t.rule, "kind": t.kind, "severity": t.severity, "state": t.state,
            "subject": t.subject,
            "value": t.value, "message": t.message, "at": t.at,
        }),
        WebhookFormat::Slack => {
            let mark = if t.state == "firing" {
                ":rotating_light: *FIRING*"
            } else {
                ":white_check_mark: *RESOLVED*"
            };
            json!({ "text": format!("{mark} [{}] `{}` — {}", t.severity, t.rule, t.message) })
        }
    }
}

fn host_of(w: &Webhook) -> String {
    url::Url::parse(w.url.expose())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// One POST: `Ok` on a 2xx, else what went wrong and how long the receiver asked to wait.
async fn post(w: &Webhook, body: &Bytes) -> Result<(), (String, Option<Duration>)> {
    let req = http::Request::post(w.url.expose())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("switchboard/", env!("CARGO_PKG_VERSION")),
        )
        .body(http_body_util::Full::new(body.clone()))
        .map_err(|e| (e.to_string(), None))?;
    match tokio::time::timeout(w.timeout, crate::upstream::client().send(req)).await {
        Err(_) => Err((format!("no answer within {:?}", w.timeout), None)),
        Ok(Err(e)) => Err((crate::secrets::scrub_owned(e.to_string()), None)),
        Ok(Ok(r)) if r.status().is_success() => Ok(()),
        Ok(Ok(r)) => Err((
            format!("answered {}", r.status()),
            crate::health::signals::retry_after(r.headers()),
        )),
    }
}

/// Delivers `body` to `w`, retrying; whether it arrived.
pub(crate) async fn deliver(w: &Webhook, body: Bytes, rule: &str) -> bool {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 0..=w.retries {
        match post(w, &body).await {
            Ok(()) => return true,
            Err((why, wait)) => {
                tracing::warn!(alert = rule, host = %host_of(w), attempt = attempt + 1, error = %why, "alert webhook failed");
                if attempt == w.retries {
                    break;
                }
                tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_BACKOFF)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    false
}

impl Notifier {
    /// Logs `t` and, when it is to be noticed, sends it to the rule's webhook.
    pub fn tell(&self, rule: &AlertRule, t: &Transition) {
        if rule.log {
            if t.state == "firing" {
                tracing::warn!(alert = %t.rule, state = t.state, subject = %t.subject, notified = t.notified, "{}", t.message);
            } else {
                tracing::info!(alert = %t.rule, state = t.state, subject = %t.subject, notified = t.notified, "{}", t.message);
            }
        }
        let Some(w) = rule.webhook.clone().filter(|_| t.notified) else {
            return;
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            self.failed.fetch_add(1, Relaxed);
            tracing::warn!(alert = %t.rule, "too many alert notices in flight; this one is dropped");
            return;
        };
        let body = Bytes::from(body(w.format, t).to_string());
        let (failed, name) = (self.failed.clone(), t.rule.clone());
        tokio::spawn(async move {
            if !deliver(&w, body, &name).await {
                failed.fetch_add(1, Relaxed);
            }
            drop(permit);
        });
    }

    /// Notices that were never delivered (retries spent, or dropped).
    pub fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }
}
