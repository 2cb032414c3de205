//! `builtin:json-schema`: checks that a whole answer is the JSON the request asked for —
//! valid against the JSON schema of its `response_format: json_schema` (or the
//! `schema` of the settings), or at least JSON for `response_format: json_object` — and
//! asks the model once more for a corrected answer before it denies one that is not.
//!
//! Each choice's text is read as JSON, around surrounding whitespace and one
//! `` ```json `` fence (a fenced answer that is valid is answered bare). The schema is
//! `schema` when the settings set it (every answer of the route is then checked), else
//! the request's; a request that asked for no JSON is let through unchecked, and one
//! whose schema this guardrail cannot read (a `$ref` to another document) is checked
//! as JSON only, with a warning. Schemas are read by a small validator ([`schema`]):
//! `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`,
//! `anyOf`, `oneOf`, `allOf`, local `$ref`s and the bounds of numbers, strings, arrays
//! and objects; `pattern` and `format` are not checked. Empty choices (an answer that
//! is a tool call) are not checked.
//!
//! A choice that is not valid is asked again (`retry`, up to `max_retries` times): the
//! conversation, the bad answer and a user message naming the error and the schema go
//! to `route` (default: the request's own route) as a child request — with a
//! temperature of 0 and a JSON answer asked for, and without guardrails of its own, so
//! it cannot recurse — and a valid answer replaces the choice. A choice still not
//! valid (or a model that cannot answer) denies the answer with code
//! `json_schema_mismatch`, naming where the JSON breaks the schema
//! (`/items/2/name: expected string, found number`).
//!
//! Streamed answers are not checked: the guardrail judges whole answers only.
//!
//! Settings: `schema` (a JSON Schema object, or JSON text holding one; its `$ref`s must
//! be local), `route`, `retry` (default true), `max_retries` (1 to 3, default 1).

pub mod schema;

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use switchboard_sdk::guardrail::{Guard, Guest};
use switchboard_sdk::host;
use switchboard_sdk::types::{
    AnswerVerdict, ChatMessage, GuardDenial, GuardPhases, GuardRequest, InferParams,
    RequestVerdict, StreamVerdict,
};

use schema::SchemaError;

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, deserialize_with = "object_or_text")]
    pub schema: Option<Value>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default = "default_retry")]
    pub retry: bool,
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

fn default_retry() -> bool {
    true
}
fn default_max_retries() -> u32 {
    1
}

/// `schema` as an object, or as JSON text holding one (TOML has no `null` to write an
/// `enum` with).
fn object_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("schema is not JSON text: {e}"))),
        v => Ok(Some(v)),
    }
}

impl switchboard_sdk::settings::Settings for Settings {
    fn check(&self) -> Result<(), String> {
        if let Some(s) = &self.schema {
            if !s.is_object() {
                return Err("schema is a JSON Schema object".into());
            }
            schema::check_schema(s).map_err(|e| format!("schema: {e}"))?;
        }
        if self.route.as_deref() == Some("") {
            return Err("route, when set, names a route".into());
        }
        if !(1..=3).contains(&self.max_retries) {
            return Err(format!("max_retries is 1 to 3, not {}", self.max_retries));
        }
        Ok(())
    }
}

fn settings() -> Settings {
    switchboard_sdk::settings::load::<Settings>().unwrap_or_else(|e| {
        panic!("builtin:json-schema: settings checked at load no longer read: {e}")
    })
}

/// What an answer must be.
pub enum Want {
    /// JSON of any shape.
    Json,
    /// JSON valid against this schema.
    Schema(Value),
}

/// What the answers to `req` must be: the settings' schema, the request's, or JSON
/// (`None`: anything).
fn wanted(configured: Option<Value>, req: &GuardRequest) -> Option<Want> {
    if let Some(s) = configured {
        return Some(Want::Schema(s));
    }
    let Some(text) = &req.response_schema else {
        return req.json_output.then_some(Want::Json);
    };
    let read = serde_json::from_str::<Value>(text)
        .map_err(|e| e.to_string())
        .and_then(|s| schema::check_schema(&s).map(|()| s));
    match read {
        Ok(s) => Some(Want::Schema(s)),
        Err(e) => {
            host::warn(&format!(
                "the request's response schema is not one this guardrail reads ({e}); its answer is checked as JSON only"
            ));
            Some(Want::Json)
        }
    }
}

/// Why a text is not the answer wanted.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// Not JSON (the parser's error).
    NotJson(String),
    /// JSON, but not valid against the schema.
    Mismatch(SchemaError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotJson(e) => write!(f, "the answer is not valid JSON: {e}"),
            Problem::Mismatch(e) => write!(f, "the answer does not match the response schema: {e}"),
        }
    }
}

impl Problem {
    /// The user message asking the model to correct its answer.
    fn correction(&self, want: &Want) -> String {
        let problem = match self {
            Problem::NotJson(e) => format!("not valid JSON: {e}"),
            Problem::Mismatch(e) => format!("not valid against the JSON schema: {e}"),
        };
        let schema = match want {
            Want::Schema(s) => format!("\nThe schema: {s}"),
            Want::Json => String::new(),
        };
        format!("Your answer is {problem}. Answer again with only the corrected JSON.{schema}")
    }
}

/// The JSON inside one `` ```json `` (or bare `` ``` ``) fence around `text`, if it has
/// one.
pub fn unfence(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("```")?.strip_suffix("```")?;
    let (info, body) = inner
        .split_once('\n')
        .unwrap_or(("", inner.strip_prefix("json").unwrap_or(inner)));
    let info = info.trim();
    if !(info.is_empty() || info.eq_ignore_ascii_case("json")) || body.contains("```") {
        return None;
    }
    Some(body.trim())
}

/// Checks one text: `Ok` with the bare JSON when a fence had to be stripped (`None`:
/// the text answers as it is).
pub fn check_text(want: &Want, text: &str) -> Result<Option<String>, Problem> {
    let bare = unfence(text);
    let value: Value =
        serde_json::from_str(bare.unwrap_or(text)).map_err(|e| Problem::NotJson(e.to_string()))?;
    if let Want::Schema(s) = want {
        schema::validate(s, &value).map_err(Problem::Mismatch)?;
    }
    Ok(bare.map(str::to_string))
}

/// Asks for a corrected answer to `req` in place of `bad`, up to `max_retries` times:
/// the first valid one, or the last problem.
fn corrected(
    s: &Settings,
    req: &GuardRequest,
    want: &Want,
    bad: &str,
    problem: Problem,
) -> Result<String, Problem> {
    if !s.retry {
        return Err(problem);
    }
    let route = s.route.as_deref().unwrap_or(&req.route);
    let mut messages = req.messages.clone();
    let asked = messages.len();
    let (mut bad, mut problem) = (bad.to_string(), problem);
    for _ in 0..s.max_retries {
        messages.truncate(asked);
        messages.push(ChatMessage {
            role: "assistant".into(),
            content: bad,
        });
        messages.push(ChatMessage {
            role: "user".into(),
            content: problem.correction(want),
        });
        let params = InferParams {
            max_tokens: None,
            temperature: Some(0.0),
            json: true,
        };
        let answer = match host::infer(route, &messages, params) {
            Ok(a) => a.text,
            Err(e) => {
                host::warn(&format!("no corrected answer from route {route}: {e}"));
                return Err(problem);
            }
        };
        match check_text(want, &answer) {
            Ok(bare) => return Ok(bare.unwrap_or(answer)),
            Err(p) => (bad, problem) = (answer, p),
        }
    }
    Err(problem)
}

fn denial(problem: &Problem) -> GuardDenial {
    GuardDenial {
        message: problem.to_string(),
        code: Some("json_schema_mismatch".into()),
        status: None,
    }
}

pub struct JsonSchema;

impl Guest for JsonSchema {
    fn validate_settings(s: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate_as::<Settings>("builtin:json-schema", &s)
    }
}

impl Guard for JsonSchema {
    fn phases() -> GuardPhases {
        GuardPhases::RESPONSE
    }

    fn check_request(_req: GuardRequest) -> RequestVerdict {
        RequestVerdict::Allow
    }

    fn check_response(req: GuardRequest, texts: Vec<String>) -> AnswerVerdict {
        let mut s = settings();
        let Some(want) = wanted(s.schema.take(), &req) else {
            return AnswerVerdict::Allow;
        };
        let mut answers = Vec::with_capacity(texts.len());
        let mut rewritten = false;
        for text in texts {
            if text.trim().is_empty() {
                answers.push(text);
                continue;
            }
            let fixed = match check_text(&want, &text) {
                Ok(bare) => bare,
                Err(p) => match corrected(&s, &req, &want, &text, p) {
                    Ok(answer) => Some(answer),
                    Err(p) => return AnswerVerdict::Deny(denial(&p)),
                },
            };
            rewritten |= fixed.is_some();
            answers.push(fixed.unwrap_or(text));
        }
        match rewritten {
            true => AnswerVerdict::Rewrite(answers),
            false => AnswerVerdict::Allow,
        }
    }

    /// Streams are not checked: their text has left before it is whole.
    fn check_stream(
        _req: GuardRequest,
        _before: String,
        _window: String,
        _last: bool,
    ) -> StreamVerdict {
        StreamVerdict::Allow
    }
}

switchboard_sdk::export_guardrail!(JsonSchema);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_sdk::testing::{FakeHost, guard_request};

    fn person() -> Value {
        json!({
            "type": "object",
            "properties": { "name": { "type": "string" }, "age": { "type": "integer" } },
            "required": ["name", "age"],
            "additionalProperties": false
        })
    }

    /// A request on route `m` asking for a `person`.
    fn asking(schema: Option<Value>) -> GuardRequest {
        let mut r = guard_request("m", "who wrote the first program?");
        r.json_output = schema.is_some();
        r.response_schema = schema.map(|s| s.to_string());
        r
    }

    fn check(req: GuardRequest, texts: &[&str]) -> AnswerVerdict {
        JsonSchema::check_response(req, texts.iter().map(|t| t.to_string()).collect())
    }

    const ADA: &str = r#"{"name": "Ada", "age": 36}"#;

    #[test]
    fn valid_answers_pass_and_fenced_ones_are_answered_bare() {
        let host = FakeHost::new().install();
        assert_eq!(JsonSchema::phases(), GuardPhases::RESPONSE);
        assert_eq!(check(asking(Some(person())), &[ADA]), AnswerVerdict::Allow);
        assert_eq!(
            check(asking(Some(person())), &[&format!("\n {ADA} \n")]),
            AnswerVerdict::Allow
        );
        let fenced = format!("```json\n{ADA}\n```");
        assert_eq!(
            check(asking(Some(person())), &[ADA, &fenced, ""]),
            AnswerVerdict::Rewrite(vec![ADA.into(), ADA.into(), String::new()])
        );
        assert_eq!(unfence(&format!("```\n{ADA}```")), Some(ADA));
        assert_eq!(unfence("```json[1]```"), Some("[1]"));
        assert_eq!(unfence("```python\nprint(1)\n```"), None);
        assert_eq!(unfence("```json\n1\n```\n```json\n2\n```"), None);
        assert!(host.asked().is_empty());
        // Neither checks nor calls apply to requests and streams.
        let r = asking(Some(person()));
        assert_eq!(JsonSchema::check_request(r.clone()), RequestVerdict::Allow);
        let v = JsonSchema::check_stream(r, String::new(), "not json".into(), true);
        assert_eq!(v, StreamVerdict::Allow);
    }

    #[test]
    fn an_invalid_answer_is_asked_again_once_and_replaced() {
        let host = FakeHost::new().answer("m", ADA).install();
        let bad = r#"{"name": 3, "age": 36}"#;
        let v = check(asking(Some(person())), &[ADA, bad]);
        assert_eq!(v, AnswerVerdict::Rewrite(vec![ADA.into(), ADA.into()]));
        let asked = host.asked();
        assert_eq!(asked.len(), 1);
        let (route, messages) = &asked[0];
        assert_eq!(route, "m");
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(messages[0].content, "who wrote the first program?");
        assert_eq!(messages[1].content, bad);
        let correction = &messages[2].content;
        assert!(
            correction.starts_with(
                "Your answer is not valid against the JSON schema: /name: expected string, found number. Answer again with only the corrected JSON."
            ),
            "{correction}"
        );
        assert!(
            correction.contains(r#""required":["name","age"]"#),
            "{correction}"
        );
        // Another route, and an answer that is not JSON at all.
        let host = FakeHost::new()
            .setting("route", "fixer")
            .answer("fixer", &format!("```json\n{ADA}\n```"))
            .install();
        let v = check(asking(Some(person())), &["Sure! Here it is: Ada, 36"]);
        assert_eq!(v, AnswerVerdict::Rewrite(vec![ADA.into()]));
        assert_eq!(host.asked()[0].0, "fixer");
        assert!(
            host.asked()[0].1[2]
                .content
                .starts_with("Your answer is not valid JSON: ")
        );
    }

    #[test]
    fn an_answer_still_invalid_is_denied_naming_where() {
        let host = FakeHost::new().answer("m", r#"{"name": "Ada"}"#).install();
        let v = check(asking(Some(person())), &[r#"{"name": 3, "age": 36}"#]);
        let AnswerVerdict::Deny(d) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            d.message,
            "the answer does not match the response schema: /: property \"age\" is required"
        );
        assert_eq!(d.code.as_deref(), Some("json_schema_mismatch"));
        assert_eq!(d.status, None);
        assert_eq!(host.asked().len(), 1);
        // Up to max_retries, each asked about the last answer.
        let host = FakeHost::new()
            .setting("max_retries", 3)
            .answer("m", "[]")
            .install();
        assert!(matches!(
            check(asking(Some(person())), &["{}"]),
            AnswerVerdict::Deny(_)
        ));
        let asked = host.asked();
        assert_eq!(asked.len(), 3);
        assert_eq!(asked[2].1[1].content, "[]");
        assert_eq!(asked[2].1.len(), 3);
        // No retry: denied at once; a route that cannot answer: denied, with a warning.
        let host = FakeHost::new().setting("retry", false).install();
        let v = check(asking(Some(person())), &[r#"{"name": "Ada", "age": 1.5}"#]);
        let AnswerVerdict::Deny(d) = v else {
            panic!("{v:?}")
        };
        assert!(
            d.message.ends_with("/age: expected integer, found number"),
            "{}",
            d.message
        );
        assert!(host.asked().is_empty());
        let host = FakeHost::new().failing("m", "budget spent").install();
        assert!(matches!(
            check(asking(Some(person())), &["nope"]),
            AnswerVerdict::Deny(_)
        ));
        assert!(host.logs()[0].1.contains("budget spent"));
    }

    #[test]
    fn what_is_checked_follows_the_request_and_settings() {
        // No JSON asked for: anything passes, nothing is asked.
        let host = FakeHost::new().install();
        assert_eq!(check(asking(None), &["plain words"]), AnswerVerdict::Allow);
        // json_object: JSON of any shape.
        let mut r = asking(None);
        r.json_output = true;
        assert_eq!(check(r.clone(), &["[1, 2]"]), AnswerVerdict::Allow);
        assert!(host.asked().is_empty());
        let host = FakeHost::new().setting("retry", false).install();
        let AnswerVerdict::Deny(d) = check(r, &["plain words"]) else {
            panic!()
        };
        assert!(d.message.starts_with("the answer is not valid JSON: "));
        // A schema this guardrail cannot read: JSON only, with a warning.
        assert_eq!(
            check(asking(Some(json!({ "$ref": "https://x/s.json" }))), &["1"]),
            AnswerVerdict::Allow
        );
        assert!(host.logs()[0].1.contains("checked as JSON only"));
        // The settings' schema applies to every answer, in place of the request's.
        FakeHost::new()
            .setting("schema", json!({ "type": "array" }))
            .setting("retry", false)
            .install();
        assert_eq!(check(asking(None), &["[]"]), AnswerVerdict::Allow);
        assert!(matches!(
            check(asking(Some(person())), &[ADA]),
            AnswerVerdict::Deny(_)
        ));
        // As JSON text too.
        FakeHost::new()
            .setting("schema", r#"{"enum": ["yes", null]}"#)
            .install();
        assert_eq!(check(asking(None), &["null"]), AnswerVerdict::Allow);
    }

    #[test]
    fn settings_are_checked() {
        let validate = |pairs: &[(&str, &str)]| {
            let p: Vec<(String, String)> = pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            JsonSchema::validate_settings(p)
        };
        assert!(validate(&[]).is_ok());
        assert!(
            validate(&[
                ("max_retries", "3"),
                ("retry", "false"),
                ("route", "\"fix\"")
            ])
            .is_ok()
        );
        assert!(validate(&[("schema", &person().to_string())]).is_ok());
        let text = serde_json::to_string(&person().to_string()).unwrap();
        assert!(validate(&[("schema", &text)]).is_ok());
        for n in ["0", "4", "-1"] {
            assert!(validate(&[("max_retries", n)]).is_err(), "{n}");
        }
        let e = validate(&[("schema", r##"{"$ref": "other.json#/a"}"##)]).unwrap_err();
        assert!(
            e.starts_with("builtin:json-schema: schema: /: $ref \"other.json#/a\" is not local"),
            "{e}"
        );
        assert!(validate(&[("schema", r##"{"$ref": "#/$defs/none"}"##)]).is_err());
        assert!(validate(&[("schema", "[1]")]).is_err());
        assert!(validate(&[("schema", "\"{not json\"")]).is_err());
        assert!(validate(&[("route", "\"\"")]).is_err());
        assert!(validate(&[("retries", "1")]).is_err());
    }
}
