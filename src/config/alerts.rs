//! `[[alerts]]`: rules the gateway evaluates on itself (the alert evaluator) — what is
//! watched (`kind`), on which route, target, budget or plugin, over which window, above
//! which threshold — and where a firing or resolved alert is told (a webhook, JSON or
//! Slack-shaped, and the log). Checked here: names unique, routes and targets known,
//! thresholds in range, a webhook URL that is http(s).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::fields::Ctx;
use super::{ConfigError, Route, Secret};

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub route: Option<Spanned<String>>,
    /// `provider` or `provider/model`: watch the route's target(s) instead of the route.
    pub target: Option<Spanned<String>>,
    pub window: Option<Spanned<String>>,
    pub above: Option<f64>,
    pub min_requests: Option<u64>,
    pub quantile: Option<f64>,
    pub budget: Option<String>,
    pub at: Option<Spanned<String>>,
    pub plugin: Option<String>,
    pub cooldown: Option<Spanned<String>>,
    pub webhook: Option<Spanned<String>>,
    pub webhook_env: Option<Spanned<String>>,
    pub format: Option<WebhookFormat>,
    pub timeout: Option<Spanned<String>>,
    pub retries: Option<u32>,
    pub log: Option<bool>,
    /// `info`, `warning` (default) or `critical`: which `[alerting]` webhook it goes to
    /// when it names none of its own.
    pub severity: Option<Severity>,
}

/// `[alerting]`: where alerts of each severity go when their rule names no webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    pub info: Option<RawWebhook>,
    pub warning: Option<RawWebhook>,
    pub critical: Option<RawWebhook>,
}

/// A webhook as written (in `[alerting]`, or a report's).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub webhook: Option<Spanned<String>>,
    pub webhook_env: Option<Spanned<String>>,
    pub format: Option<WebhookFormat>,
    pub timeout: Option<Spanned<String>>,
    pub retries: Option<u32>,
}

/// How urgent a rule's alerts are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Share of failed requests (5xx) or attempts over the window.
    ErrorRate,
    /// A run of consecutive failures at least `above` long.
    Failures,
    /// The window's latency quantile (default p95) above `above` ms.
    Latency,
    /// The window's time-to-first-token quantile above `above` ms.
    Ttft,
    /// A target's circuit is open.
    Circuit,
    /// A budget passed its warning fraction (`at = "warn"`) or denied (`"exhausted"`).
    Budget,
    /// Policy denials per minute above `above`.
    Denials,
    /// A plugin quarantined, or failing more than `above` times in the window.
    Plugin,
    /// The last reload was refused.
    Reload,
    /// Failed admin sign-ins (bearer tokens or the console's form) per minute.
    AdminAuth,
    /// Spend per hour (USD) over the window, of a route or (no route) the gateway.
    SpendRate,
}

const KINDS: &[(&str, AlertKind)] = &[
    ("error_rate", AlertKind::ErrorRate),
    ("failures", AlertKind::Failures),
    ("latency", AlertKind::Latency),
    ("ttft", AlertKind::Ttft),
    ("circuit", AlertKind::Circuit),
    ("budget", AlertKind::Budget),
    ("denials", AlertKind::Denials),
    ("plugin", AlertKind::Plugin),
    ("reload", AlertKind::Reload),
    ("admin_auth", AlertKind::AdminAuth),
    ("spend_rate", AlertKind::SpendRate),
];

impl AlertKind {
    pub fn label(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }
}

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The alert as a JSON object.
    #[default]
    Json,
    /// `{"text": …}`, as Slack's (and Mattermost's, Discord's `/slack`) incoming webhooks take.
    Slack,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Webhook URLs often carry their own secret (Slack's do): never shown.
    pub url: Secret,
    pub format: WebhookFormat,
    pub timeout: Duration,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub kind: AlertKind,
    pub route: Option<String>,
    /// (provider, model): the targets watched instead of the route.
    pub target: Option<(String, Option<String>)>,
    pub window: Duration,
    pub above: f64,
    pub min_requests: u64,
    pub quantile: f64,
    pub budget: Option<String>,
    /// For `budget`: fire on the warning (false) or only when spent (true).
    pub exhausted: bool,
    pub plugin: Option<String>,
    pub cooldown: Duration,
    /// Its own webhook, else its severity's in `[alerting]`.
    pub webhook: Option<Webhook>,
    pub severity: Severity,
    pub log: bool,
}

/// The threshold each kind needs, its range, and its default.
fn threshold(kind: AlertKind) -> (Option<f64>, std::ops::RangeInclusive<f64>, &'static str) {
    match kind {
        AlertKind::ErrorRate => (None, 0.0..=1.0, "a fraction of requests from 0 to 1"),
        AlertKind::Failures => (Some(3.0), 1.0..=1e6, "a number of failures, at least 1"),
        AlertKind::Latency | AlertKind::Ttft => (None, 1.0..=3.6e6, "milliseconds, at least 1"),
        AlertKind::Denials => (None, 0.0..=1e9, "denials per minute, 0 or more"),
        AlertKind::AdminAuth => (
            Some(10.0),
            0.0..=1e9,
            "failed sign-ins per minute, 0 or more",
        ),
        AlertKind::Plugin => (Some(0.0), 0.0..=1e9, "failures in the window, 0 or more"),
        AlertKind::SpendRate => (None, 1e-9..=1e12, "US dollars per hour, more than 0"),
        _ => (Some(0.0), 0.0..=0.0, "not used by this kind"),
    }
}

fn duration(
    cx: &Ctx<'_>,
    v: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
    range: std::ops::RangeInclusive<Duration>,
) -> Result<Duration, ConfigError> {
    let Some(v) = v else { return Ok(default) };
    let d = cx.duration(v, key)?;
    if !range.contains(&d) {
        return cx.err(
            v.span(),
            key,
            format!(
                "must be from {:?} to {:?}, not {}",
                range.start(),
                range.end(),
                v.get_ref()
            ),
        );
    }
    Ok(d)
}

impl RawAlert {
    fn own_webhook(&self) -> RawWebhook {
        RawWebhook {
            webhook: self.webhook.clone(),
            webhook_env: self.webhook_env.clone(),
            format: self.format,
            timeout: self.timeout.clone(),
            retries: self.retries,
        }
    }
}

/// Where a rule's (or report's) notifications go, if anywhere besides the log.
pub(super) fn webhook(
    cx: &Ctx<'_>,
    a: &RawWebhook,
    key: &str,
) -> Result<Option<Webhook>, ConfigError> {
    let (url, at) = match (&a.webhook, &a.webhook_env) {
        (Some(_), Some(e)) => {
            return cx.err(e.span(), key, "set webhook or webhook_env, not both");
        }
        (Some(u), None) => (u.get_ref().clone(), u.span()),
        (None, Some(e)) => match (cx.env)(e.get_ref()) {
            Some(u) => (u, e.span()),
            None => {
                return cx.err(
                    e.span(),
                    key,
                    format!("environment variable {} is not set", e.get_ref()),
                );
            }
        },
        (None, None) => return Ok(None),
    };
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => return cx.err(at, key, "webhook must be an http:// or https:// URL"),
    }
    crate::secrets::register(&url);
    Ok(Some(Webhook {
        url: Secret::new(url),
        format: a.format.unwrap_or_default(),
        timeout: duration(
            cx,
            a.timeout.as_ref(),
            key,
            Duration::from_secs(5),
            Duration::from_millis(100)..=Duration::from_secs(60),
        )?,
        retries: a.retries.unwrap_or(3).min(10),
    }))
}

/// A rule's route and its (provider, model) target, when it names them.
type Scope = (Option<String>, Option<(String, Option<String>)>);

/// The route and target a rule names, checked against the routes.
fn scope(
    cx: &Ctx<'_>,
    a: &RawAlert,
    key: &str,
    routes: &BTreeMap<String, Route>,
) -> Result<Scope, ConfigError> {
    let route = match &a.route {
        Some(r) if !routes.contains_key(r.get_ref()) => {
            return cx.err(r.span(), key, format!("names no route: '{}'", r.get_ref()));
        }
        Some(r) => Some(r.get_ref().clone()),
        None => None,
    };
    let Some(t) = &a.target else {
        return Ok((route, None));
    };
    let (provider, model) = match t.get_ref().split_once('/') {
        Some((p, m)) => (p.to_string(), Some(m.to_string())),
        None => (t.get_ref().clone(), None),
    };
    let known = routes
        .values()
        .filter(|r| route.as_ref().is_none_or(|n| *n == r.name))
        .flat_map(|r| &r.targets)
        .any(|x| x.provider == provider && model.as_ref().is_none_or(|m| *m == x.model));
    if !known {
        return cx.err(
            t.span(),
            key,
            format!("'{}' is no target of the routes watched", t.get_ref()),
        );
    }
    Ok((route, Some((provider, model))))
}

/// The webhook of each severity in `[alerting]`.
type Routed = BTreeMap<Severity, Option<Webhook>>;

fn rule(
    cx: &Ctx<'_>,
    a: &RawAlert,
    routes: &BTreeMap<String, Route>,
    routed: &Routed,
) -> Result<AlertRule, ConfigError> {
    let name = a.name.get_ref().trim().to_string();
    let key = format!("alerts.{name}");
    let kind = match KINDS.iter().find(|(n, _)| n == a.kind.get_ref()) {
        Some((_, k)) => *k,
        None => {
            let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
            return cx.err(
                a.kind.span(),
                &key,
                format!(
                    "kind '{}' is not one of {}",
                    a.kind.get_ref(),
                    names.join(", ")
                ),
            );
        }
    };
    let (default, range, what) = threshold(kind);
    let above = match (a.above, default) {
        (Some(v), _) if range.contains(&v) && *range.end() > 0.0 => v,
        (Some(v), _) if *range.end() == 0.0 => {
            return cx.err(a.kind.span(), &key, format!("above ({v}) is {what}"));
        }
        (Some(v), _) => return cx.err(a.kind.span(), &key, format!("above ({v}) must be {what}")),
        (None, Some(d)) => d,
        (None, None) => return cx.err(a.kind.span(), &key, format!("above is required: {what}")),
    };
    let (route, target) = scope(cx, a, &key, routes)?;
    if let (AlertKind::SpendRate, Some(t)) = (kind, &a.target) {
        return cx.err(
            t.span(),
            &key,
            "spend_rate watches a route or the gateway, not a target",
        );
    }
    let own = a.webhook.is_some() || a.webhook_env.is_some();
    if !own && (a.format.is_some() || a.timeout.is_some() || a.retries.is_some()) {
        return cx.err(
            a.name.span(),
            &key,
            "format, timeout and retries go with the rule's own webhook (or in [alerting])",
        );
    }
    let severity = a.severity.unwrap_or_default();
    let webhook = match webhook(cx, &a.own_webhook(), &key)? {
        Some(w) => Some(w),
        None => routed.get(&severity).cloned().flatten(),
    };
    let exhausted = match a.at.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("warn") => false,
        Some("exhausted") => true,
        Some(o) => {
            let span = a.at.as_ref().map_or(0..0, |s| s.span());
            return cx.err(
                span,
                &key,
                format!("at must be \"warn\" or \"exhausted\", not '{o}'"),
            );
        }
    };
    Ok(AlertRule {
        kind,
        route,
        target,
        window: duration(
            cx,
            a.window.as_ref(),
            &key,
            Duration::from_secs(300),
            Duration::from_secs(1)..=Duration::from_secs(86_400),
        )?,
        above,
        min_requests: a.min_requests.unwrap_or(1).max(1),
        quantile: a.quantile.unwrap_or(0.95).clamp(0.5, 1.0),
        budget: a.budget.clone(),
        exhausted,
        plugin: a.plugin.clone(),
        cooldown: duration(
            cx,
            a.cooldown.as_ref(),
            &key,
            Duration::from_secs(600),
            Duration::ZERO..=Duration::from_secs(7 * 86_400),
        )?,
        webhook,
        severity,
        log: a.log.unwrap_or(true),
        name,
    })
}

/// Every `[[alerts]]` rule, checked.
pub(super) fn rules(
    cx: &Ctx<'_>,
    (alerts, alerting): (&[RawAlert], Option<&RawAlerting>),
    routes: &BTreeMap<String, Route>,
) -> Result<Vec<AlertRule>, ConfigError> {
    let mut routed = Routed::new();
    if let Some(by) = alerting {
        for (sev, w) in [
            (Severity::Info, &by.info),
            (Severity::Warning, &by.warning),
            (Severity::Critical, &by.critical),
        ] {
            if let Some(w) = w {
                routed.insert(sev, webhook(cx, w, &format!("alerting.{}", sev.label()))?);
            }
        }
    }
    let mut out: Vec<AlertRule> = Vec::new();
    for a in alerts {
        let name = a.name.get_ref().trim();
        if name.is_empty() || out.iter().any(|r| r.name == name) {
            return cx.err(
                a.name.span(),
                "alerts.name",
                format!("'{name}' must be a name no other alert has"),
            );
        }
        out.push(rule(cx, a, routes, &routed)?);
    }
    Ok(out)
}
