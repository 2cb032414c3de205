//! `builtin:pii`: finds personal data in requests and answers — e-mail addresses, card
//! numbers that pass the Luhn check, IBANs that pass ISO 13616's mod-97 check,
//! international phone numbers, US social security and UK national insurance numbers
//! by their rules, IPv4 addresses — and names from a configurable `entities` list
//! (a competitor, a codename). Checksums keep random digit runs from being taken
//! for cards. It masks what it finds (`[CARD]`, `[EMAIL]`, …), denies the request or
//! answer (naming the kinds, never the values), or — as a `monitor` guardrail —
//! only records what it would have done.
//!
//! Settings: `kinds` (default all but `entity`: `email`, `card`, `iban`, `phone`,
//! `ssn`, `nino`, `ip`), `entities` (names; adds `entity`), `action` (`mask` or
//! `deny`; default `mask`), `check` (`request`, `response` or `both`; default `both`).
//! Streams are judged window by window (the route's guardrail `window`): a value split
//! across two windows is found when the windows are longer than the value.

pub mod detect;

use serde::Deserialize;
use switchboard_sdk::guardrail::{Guard, Guest};
use switchboard_sdk::types::{
    AnswerVerdict, ChatMessage, GuardDenial, GuardPhases, GuardRequest, RequestVerdict,
    StreamVerdict,
};

use detect::{Found, Kind};

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    #[serde(default)]
    pub entities: Vec<String>,
    #[serde(default = "default_action")]
    pub action: String,
    #[serde(default = "default_check")]
    pub check: String,
}

fn default_action() -> String {
    "mask".into()
}
fn default_check() -> String {
    "both".into()
}

impl switchboard_sdk::settings::Settings for Settings {
    fn check(&self) -> Result<(), String> {
        for k in self.kinds.iter().flatten() {
            if Kind::from_name(k).is_none() {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                return Err(format!("kind \"{k}\" is not one of {}", known.join(", ")));
            }
        }
        if !matches!(self.action.as_str(), "mask" | "deny") {
            return Err(format!(
                "action is \"mask\" or \"deny\", not \"{}\"",
                self.action
            ));
        }
        if !matches!(self.check.as_str(), "request" | "response" | "both") {
            return Err(format!(
                "check is \"request\", \"response\" or \"both\", not \"{}\"",
                self.check
            ));
        }
        if self.entities.len() > 1000 || self.entities.iter().any(|e| e.len() > 200) {
            return Err("entities holds at most 1000 names of at most 200 bytes".into());
        }
        Ok(())
    }
}

impl Settings {
    /// The kinds looked for.
    pub fn kinds(&self) -> Vec<Kind> {
        let mut kinds: Vec<Kind> = match &self.kinds {
            Some(names) => names.iter().filter_map(|n| Kind::from_name(n)).collect(),
            None => Kind::ALL
                .into_iter()
                .filter(|k| *k != Kind::Entity)
                .collect(),
        };
        if !self.entities.is_empty() && !kinds.contains(&Kind::Entity) {
            kinds.push(Kind::Entity);
        }
        kinds
    }
}

fn settings() -> Settings {
    switchboard_sdk::settings::load::<Settings>()
        .unwrap_or_else(|e| panic!("builtin:pii: settings checked at load no longer read: {e}"))
}

/// What a text holds, by the settings.
fn scan(s: &Settings, text: &str) -> Vec<Found> {
    detect::find(text, &s.kinds(), &s.entities)
}

/// The denial naming the kinds found (never the values).
fn denial(found: &[Found], what: &str) -> GuardDenial {
    let mut kinds: Vec<&str> = found.iter().map(|f| f.kind.name()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    GuardDenial {
        message: format!("the {what} contains personal data ({})", kinds.join(", ")),
        code: Some("pii_detected".into()),
        status: None,
    }
}

pub struct Pii;

impl Guest for Pii {
    fn validate_settings(s: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Settings>("builtin:pii", &s)
    }
}

impl Guard for Pii {
    fn phases() -> GuardPhases {
        match settings().check.as_str() {
            "request" => GuardPhases::REQUEST,
            "response" => GuardPhases::RESPONSE | GuardPhases::STREAM,
            _ => GuardPhases::REQUEST | GuardPhases::RESPONSE | GuardPhases::STREAM,
        }
    }

    fn check_request(req: GuardRequest) -> RequestVerdict {
        let s = settings();
        let found: Vec<Vec<Found>> = req.messages.iter().map(|m| scan(&s, &m.content)).collect();
        if found.iter().all(Vec::is_empty) {
            return RequestVerdict::Allow;
        }
        if s.action == "deny" {
            let all: Vec<Found> = found.into_iter().flatten().collect();
            return RequestVerdict::Deny(denial(&all, "request"));
        }
        let masked = req
            .messages
            .iter()
            .zip(&found)
            .map(|(m, f)| ChatMessage {
                role: m.role.clone(),
                content: detect::mask(&m.content, f),
            })
            .collect();
        RequestVerdict::Rewrite(masked)
    }

    fn check_response(_req: GuardRequest, texts: Vec<String>) -> AnswerVerdict {
        let s = settings();
        let found: Vec<Vec<Found>> = texts.iter().map(|t| scan(&s, t)).collect();
        if found.iter().all(Vec::is_empty) {
            return AnswerVerdict::Allow;
        }
        if s.action == "deny" {
            let all: Vec<Found> = found.into_iter().flatten().collect();
            return AnswerVerdict::Deny(denial(&all, "answer"));
        }
        AnswerVerdict::Rewrite(
            texts
                .iter()
                .zip(&found)
                .map(|(t, f)| detect::mask(t, f))
                .collect(),
        )
    }

    fn check_stream(
        _req: GuardRequest,
        _before: String,
        window: String,
        _last: bool,
    ) -> StreamVerdict {
        let s = settings();
        let found = scan(&s, &window);
        if found.is_empty() {
            return StreamVerdict::Allow;
        }
        match s.action.as_str() {
            "deny" => StreamVerdict::Stop(denial(&found, "answer").message),
            _ => StreamVerdict::Mask(detect::mask(&window, &found)),
        }
    }
}

switchboard_sdk::export_guardrail!(Pii);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{FakeHost, guard_request};

    #[test]
    fn masks_by_default_and_denies_naming_kinds_only() {
        FakeHost::new().install();
        let v = Pii::check_request(guard_request("m", "card 4111 1111 1111 1111, mail a@b.io"));
        let RequestVerdict::Rewrite(m) = v else {
            panic!("{v:?}")
        };
        assert_eq!(m[0].content, "card [CARD], mail [EMAIL]");
        assert_eq!(
            Pii::check_request(guard_request("m", "order 4111 1111 1111 1112")),
            RequestVerdict::Allow
        );
        FakeHost::new().setting("action", "deny").install();
        let v = Pii::check_response(
            guard_request("m", "x"),
            vec!["IBAN GB82 WEST 1234 5698 7654 32".into()],
        );
        let AnswerVerdict::Deny(d) = v else {
            panic!("{v:?}")
        };
        assert_eq!(d.message, "the answer contains personal data (iban)");
        assert!(!d.message.contains("GB82"));
    }

    #[test]
    fn entities_and_kinds_come_from_settings() {
        FakeHost::new()
            .setting("kinds", ["email"])
            .setting("entities", ["Acme"])
            .install();
        let v = Pii::check_stream(
            guard_request("m", "x"),
            String::new(),
            "ACME and 4111111111111111".into(),
            false,
        );
        assert_eq!(
            v,
            StreamVerdict::Mask("[ENTITY] and 4111111111111111".into())
        );
        let bad = |k: &str, v: &str| Pii::validate_settings(vec![(k.into(), v.into())]).is_err();
        assert!(bad("kinds", "[\"dna\"]"));
        assert!(bad("action", "\"shout\""));
        assert!(!bad("check", "\"request\""));
    }
}
