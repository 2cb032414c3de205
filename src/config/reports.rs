//! `[[reports]]`: a spend and health report of the gateway or one team, every day or
//! every week (the period before, in UTC: the day before, or the week from Monday),
//! told to a webhook as JSON or Slack-shaped, and downloadable as CSV on the admin API.

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::alerts::{RawWebhook, Webhook, WebhookFormat, webhook};
use super::fields::Ctx;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    pub name: Spanned<String>,
    /// `day` or `week`.
    pub every: Spanned<String>,
    /// One team's spend and health; the gateway's when absent.
    pub team: Option<String>,
    pub webhook: Option<Spanned<String>>,
    pub webhook_env: Option<Spanned<String>>,
    pub format: Option<WebhookFormat>,
    pub timeout: Option<Spanned<String>>,
    pub retries: Option<u32>,
}

/// How often a report covers and is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Day,
    Week,
}

impl Every {
    pub fn label(self) -> &'static str {
        match self {
            Every::Day => "day",
            Every::Week => "week",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub every: Every,
    pub team: Option<String>,
    /// Where it is sent; `None`: only downloadable.
    pub webhook: Option<Webhook>,
}

/// Every `[[reports]]` entry, checked.
pub(super) fn reports(cx: &Ctx<'_>, raw: &[RawReport]) -> Result<Vec<Report>, ConfigError> {
    let mut out: Vec<Report> = Vec::new();
    for r in raw {
        let name = r.name.get_ref().trim().to_string();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if !ok || out.iter().any(|o| o.name == name) {
            return cx.err(
                r.name.span(),
                "reports.name",
                format!("'{name}' must be a name of letters, digits, - and _ no other report has"),
            );
        }
        let key = format!("reports.{name}");
        let every = match r.every.get_ref().as_str() {
            "day" | "daily" => Every::Day,
            "week" | "weekly" => Every::Week,
            o => {
                return cx.err(
                    r.every.span(),
                    &key,
                    format!("every must be \"day\" or \"week\", not '{o}'"),
                );
            }
        };
        let hook = RawWebhook {
            webhook: r.webhook.clone(),
            webhook_env: r.webhook_env.clone(),
            format: r.format,
            timeout: r.timeout.clone(),
            retries: r.retries,
        };
        out.push(Report {
            every,
            team: r.team.clone(),
            webhook: webhook(cx, &hook, &key)?,
            name,
        });
    }
    Ok(out)
}
