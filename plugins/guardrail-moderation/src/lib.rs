//! `builtin:moderation`: asks a moderation model — an OpenAI-compatible
//! `/v1/moderations` route of the gateway (`route`), through its own pipeline, billed to
//! the request it judges — about the request's messages or the answer, and denies (or,
//! in `monitor` mode, records) what it flags, naming the categories.
//!
//! A text is refused when a category's score reaches its threshold in `thresholds`
//! (`{ violence = 0.7, "self-harm" = 0.2 }`); categories without one, and every category
//! when no thresholds are set, follow the model's own `flagged`. A model that cannot
//! answer denies, or allows with `if_unanswered = "allow"`.
//!
//! Settings: `route` (required), `thresholds` (category → score, 0 to 1), `check`
//! (`request`, `response` or `both`; default `request`), `code` (default
//! `content_flagged`), `if_unanswered` (`deny` or `allow`; default `deny`).

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard_sdk::guardrail::{Guard, Guest};
use switchboard_sdk::host;
use switchboard_sdk::types::{
    AnswerVerdict, GuardDenial, GuardPhases, GuardRequest, Moderation, RequestVerdict,
    StreamVerdict,
};

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub route: String,
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
    #[serde(default = "default_check")]
    pub check: String,
    #[serde(default = "default_code")]
    pub code: String,
    #[serde(default = "default_unanswered")]
    pub if_unanswered: String,
}

fn default_check() -> String {
    "request".into()
}
fn default_code() -> String {
    "content_flagged".into()
}
fn default_unanswered() -> String {
    "deny".into()
}

impl switchboard_sdk::settings::Settings for Settings {
    fn check(&self) -> Result<(), String> {
        if self.route.is_empty() {
            return Err("route must name the moderation model".into());
        }
        if let Some((k, v)) = self
            .thresholds
            .iter()
            .find(|(_, v)| !(0.0..=1.0).contains(*v))
        {
            return Err(format!("threshold of {k} is {v}: thresholds are 0 to 1"));
        }
        if !matches!(self.check.as_str(), "request" | "response" | "both") {
            return Err(format!(
                "check is \"request\", \"response\" or \"both\", not \"{}\"",
                self.check
            ));
        }
        if !matches!(self.if_unanswered.as_str(), "deny" | "allow") {
            return Err("if_unanswered is \"deny\" or \"allow\"".into());
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if self.code.is_empty() || self.code.len() > 64 || !self.code.chars().all(plain) {
            return Err("code is 1-64 letters, digits or '_'".into());
        }
        Ok(())
    }
}

fn settings() -> Settings {
    switchboard_sdk::settings::load::<Settings>().unwrap_or_else(|e| {
        panic!("builtin:moderation: settings checked at load no longer read: {e}")
    })
}

/// The categories that refuse `m`, by the thresholds (or the model's verdict).
pub fn refused(s: &Settings, m: &Moderation) -> Vec<String> {
    let mut out: Vec<String> = if s.thresholds.is_empty() {
        match m.flagged {
            true => m
                .scores
                .iter()
                .filter(|(_, v)| *v >= 0.5)
                .map(|(k, _)| k.clone())
                .collect(),
            false => Vec::new(),
        }
    } else {
        m.scores
            .iter()
            .filter(|(k, v)| s.thresholds.get(k).is_some_and(|t| v >= t))
            .map(|(k, _)| k.clone())
            .collect()
    };
    if out.is_empty() && m.flagged && s.thresholds.is_empty() {
        out.push("flagged".into());
    }
    out.sort();
    out.dedup();
    out
}

/// The denial for `texts`, if the model refuses any (or cannot answer and must deny).
fn judge(s: &Settings, texts: Vec<String>, what: &str) -> Option<GuardDenial> {
    let texts: Vec<String> = texts.into_iter().filter(|t| !t.trim().is_empty()).collect();
    if texts.is_empty() {
        return None;
    }
    let categories: Vec<String> = match host::moderate(&s.route, &texts) {
        Ok(list) => list.iter().flat_map(|m| refused(s, m)).collect(),
        Err(e) => {
            host::warn(&format!(
                "the moderation model did not answer ({e}); {}",
                s.if_unanswered
            ));
            if s.if_unanswered == "allow" {
                return None;
            }
            vec!["unanswered".into()]
        }
    };
    let mut categories = categories;
    categories.sort();
    categories.dedup();
    (!categories.is_empty()).then(|| GuardDenial {
        message: format!(
            "the {what} was flagged by moderation ({})",
            categories.join(", ")
        ),
        code: Some(s.code.clone()),
        status: None,
    })
}

pub struct Moderate;

impl Guest for Moderate {
    fn validate_settings(s: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Settings>("builtin:moderation", &s)
    }
}

impl Guard for Moderate {
    fn phases() -> GuardPhases {
        match settings().check.as_str() {
            "response" => GuardPhases::RESPONSE,
            "both" => GuardPhases::REQUEST | GuardPhases::RESPONSE,
            _ => GuardPhases::REQUEST,
        }
    }

    /// The user's messages are judged (what the system prompt says is the operator's).
    fn check_request(req: GuardRequest) -> RequestVerdict {
        let s = settings();
        let texts = req
            .messages
            .iter()
            .filter(|m| m.role == "user")
            .map(|m| m.content.clone())
            .collect();
        match judge(&s, texts, "request") {
            Some(d) => RequestVerdict::Deny(d),
            None => RequestVerdict::Allow,
        }
    }

    fn check_response(_req: GuardRequest, texts: Vec<String>) -> AnswerVerdict {
        let s = settings();
        match judge(&s, texts, "answer") {
            Some(d) => AnswerVerdict::Deny(d),
            None => AnswerVerdict::Allow,
        }
    }

    fn check_stream(
        _req: GuardRequest,
        _before: String,
        _window: String,
        _last: bool,
    ) -> StreamVerdict {
        StreamVerdict::Allow
    }
}

switchboard_sdk::export_guardrail!(Moderate);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{FakeHost, guard_request};

    #[test]
    fn the_models_verdict_or_the_thresholds_decide() {
        FakeHost::new()
            .setting("route", "mod")
            .moderation("mod", &[("violence", 0.9), ("harassment", 0.1)])
            .install();
        let v = Moderate::check_request(guard_request("m", "a threat"));
        let RequestVerdict::Deny(d) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            d.message,
            "the request was flagged by moderation (violence)"
        );
        assert_eq!(d.code.as_deref(), Some("content_flagged"));
        // A threshold above the score allows it.
        FakeHost::new()
            .setting("route", "mod")
            .setting("thresholds", serde_json::json!({"violence": 0.95}))
            .moderation("mod", &[("violence", 0.9)])
            .install();
        assert_eq!(
            Moderate::check_request(guard_request("m", "a threat")),
            RequestVerdict::Allow
        );
        // A low threshold refuses what the model let pass.
        FakeHost::new()
            .setting("route", "mod")
            .setting("thresholds", serde_json::json!({"harassment": 0.05}))
            .moderation("mod", &[("harassment", 0.1)])
            .install();
        assert!(matches!(
            Moderate::check_response(guard_request("m", "x"), vec!["rude".into()]),
            AnswerVerdict::Deny(_)
        ));
    }

    #[test]
    fn a_model_that_cannot_answer_denies_unless_allowed_and_settings_are_checked() {
        FakeHost::new().setting("route", "mod").install();
        assert!(matches!(
            Moderate::check_request(guard_request("m", "hi")),
            RequestVerdict::Deny(_)
        ));
        FakeHost::new()
            .setting("route", "mod")
            .setting("if_unanswered", "allow")
            .install();
        assert_eq!(
            Moderate::check_request(guard_request("m", "hi")),
            RequestVerdict::Allow
        );
        let bad = |k: &str, v: &str| {
            let mut s = vec![("route".to_string(), "\"mod\"".to_string())];
            s.push((k.into(), v.into()));
            Moderate::validate_settings(s).is_err()
        };
        assert!(bad("thresholds", r#"{"violence": 2}"#));
        assert!(bad("check", "\"always\""));
        assert!(!bad("check", "\"both\""));
    }
}
