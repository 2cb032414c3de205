//! What a request's usage record says beyond its figures: its **story** (the strategy's
//! order, each attempt with its status, timing and why it failed over, targets that
//! could not be tried, each policy's verdict with the numbers it gave, what the
//! redactors masked by kind, the headers the gateway added) and, where capture is on,
//! its **payload** (the request and answer bodies as they left the redactors, each cut
//! at the capture's size). The request path fills these in bounded vectors; the usage
//! writer turns them into JSON off the request path.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Most entries of any list of a story, and most characters of any of its texts: a
/// request cannot grow its record without bound.
const MOST: usize = 64;
const LONGEST: usize = 512;

fn cut(s: &str) -> String {
    match s.char_indices().nth(LONGEST) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn push<T>(v: &mut Vec<T>, x: T) {
    if v.len() < MOST {
        v.push(x);
    }
}

/// One attempt at a target, as the story tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    pub status: Option<u16>,
    /// Since the request arrived.
    pub start_ms: f64,
    pub duration_ms: f64,
    pub failure: Option<String>,
}

/// What a policy said of the request when it was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub policy: String,
    /// `allow`, `deny`, or `error` (the policy failed; `skipped` when fail-open).
    pub verdict: &'static str,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The headers it gave (its limits and what is left of them).
    pub headers: Vec<(String, String)>,
}

/// What a guardrail made of the request, its answer or its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardNote {
    pub guardrail: String,
    /// `request`, `response` or `stream`.
    pub phase: &'static str,
    /// `enforce` or `monitor`.
    pub mode: &'static str,
    /// `allow`, `deny`, `rewrite`, `mask`, `stop`, or `error` (`skipped` when it
    /// failed open).
    pub verdict: &'static str,
    pub message: Option<String>,
    pub duration_ms: f64,
}

/// Which way a text crossed the redactors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

/// A request's story.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Story {
    pub order: Vec<String>,
    pub attempts: Vec<Attempt>,
    pub skipped: Vec<String>,
    pub policies: Vec<Verdict>,
    /// Masks by kind, in the request and in the answer.
    pub masked: [BTreeMap<String, u64>; 2],
    pub headers: Vec<(String, String)>,
    /// What the cache did (`hit`, `miss`, `bypass`).
    pub cache: Option<&'static str>,
    /// The bodies, when this request's are captured.
    pub payload: Option<Payload>,
    /// The guardrails' verdicts, in the order they were given.
    pub guardrails: Vec<GuardNote>,
    /// The requests guardrails made on this one's behalf (`models.infer`/`embed`).
    pub children: Vec<String>,
}

/// A captured request and answer, each at most `limit` bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub limit: usize,
    pub request: Option<String>,
    pub request_truncated: bool,
    pub response: Option<String>,
    pub response_truncated: bool,
}

/// `bytes` as text, cut at `limit` (on a character boundary), and whether it was cut.
fn bounded(bytes: &[u8], limit: usize) -> (String, bool) {
    let cut = bytes.len() > limit;
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(limit)]).into_owned();
    if cut && s.ends_with('\u{FFFD}') {
        s.pop();
    }
    (s, cut)
}

impl Payload {
    pub fn new(limit: usize) -> Self {
        Payload {
            limit,
            ..Default::default()
        }
    }

    /// The request as it left the redactors (scrubbed of any provider key).
    pub fn request(&mut self, body: &[u8]) {
        let (s, cut) = bounded(body, self.limit);
        self.request = Some(crate::secrets::scrub_owned(s));
        self.request_truncated = cut;
    }

    /// The answer as the client got it (a stream assembled), `cut` when it was longer
    /// than what was kept of it already.
    pub fn response(&mut self, body: &[u8], cut: bool) {
        let (s, over) = bounded(body, self.limit);
        self.response = Some(crate::secrets::scrub_owned(s));
        self.response_truncated = cut || over;
    }
}

impl Story {
    pub fn order(&mut self, targets: impl Iterator<Item = String>) {
        self.order = targets.take(MOST).collect();
    }

    pub fn attempt(&mut self, a: Attempt) {
        push(&mut self.attempts, a);
    }

    pub fn skipped(&mut self, reason: &str) {
        push(&mut self.skipped, cut(reason));
    }

    pub fn verdict(&mut self, mut v: Verdict) {
        v.headers.truncate(MOST);
        for (n, x) in &mut v.headers {
            (*n, *x) = (cut(n), cut(x));
        }
        v.message = v.message.as_deref().map(cut);
        push(&mut self.policies, v);
    }

    pub fn guard(&mut self, mut n: GuardNote) {
        n.message = n.message.as_deref().map(cut);
        push(&mut self.guardrails, n);
    }

    pub fn child(&mut self, request_id: &str) {
        push(&mut self.children, cut(request_id));
    }

    pub fn headers(&mut self, headers: &[(String, String)]) {
        for (n, v) in headers {
            push(&mut self.headers, (cut(n), cut(v)));
        }
    }

    /// The masks a redactor wrote going from `before` to `after`, counted by kind.
    pub fn masked(&mut self, side: Side, before: &str, after: &str) {
        self.add_masked(side, new_masks(before, after));
    }

    /// Masks counted elsewhere (a stream's, as it flowed).
    pub fn add_masked(&mut self, side: Side, counted: BTreeMap<String, u64>) {
        let into = &mut self.masked[side as usize];
        for (kind, n) in counted {
            if into.len() < MOST || into.contains_key(&kind) {
                *into.entry(kind).or_default() += n;
            }
        }
    }

    /// The provider of the last attempt that failed, if one did.
    pub fn failed_at(&self) -> Option<(&str, &str)> {
        self.attempts
            .iter()
            .rev()
            .find(|a| a.failure.is_some())
            .map(|a| (a.provider.as_str(), a.model.as_str()))
    }

    /// The story as its record keeps it.
    pub fn to_json(&self, overhead_ms: Option<f64>) -> Value {
        json!({
            "order": self.order,
            "attempts": self.attempts.iter().map(|a| json!({
                "provider": a.provider, "model": a.model, "status": a.status,
                "start_ms": round(a.start_ms), "duration_ms": round(a.duration_ms),
                "failure": a.failure,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped,
            "policies": self.policies.iter().map(|v| json!({
                "name": v.policy, "verdict": v.verdict, "code": v.code,
                "message": v.message, "headers": pairs(&v.headers),
            })).collect::<Vec<_>>(),
            "masked": { "request": self.masked[0], "response": self.masked[1] },
            "headers": pairs(&self.headers),
            "cache": self.cache,
            "guardrails": self.guardrails.iter().map(|g| json!({
                "name": g.guardrail, "phase": g.phase, "mode": g.mode, "verdict": g.verdict,
                "message": g.message, "duration_ms": round(g.duration_ms),
            })).collect::<Vec<_>>(),
            "children": self.children,
            "overhead_ms": overhead_ms.map(round),
        })
    }
}

fn pairs(h: &[(String, String)]) -> Vec<[&str; 2]> {
    h.iter().map(|(n, v)| [n.as_str(), v.as_str()]).collect()
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The masks in `after` that were not in `before`, by kind.
pub fn new_masks(before: &str, after: &str) -> BTreeMap<String, u64> {
    let had = masks(before);
    let mut out = masks(after);
    out.retain(|kind, n| {
        *n = n.saturating_sub(had.get(kind).copied().unwrap_or(0));
        *n > 0
    });
    out
}

/// The `[KIND]` masks in `text` (an upper-case name of 2 to 32 letters, digits or `_`
/// in brackets: what redactors write in place of what they mask), counted by kind.
pub fn masks(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = b[i..].iter().position(|&c| c == b'[') {
        let start = i + at + 1;
        let len = b[start..]
            .iter()
            .take(33)
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
            .count();
        if (2..=32).contains(&len)
            && b[start].is_ascii_uppercase()
            && b.get(start + len) == Some(&b']')
        {
            *out.entry(text[start..start + len].to_string()).or_default() += 1;
            i = start + len + 1;
        } else {
            i = start;
        }
    }
    out
}

/// An upstream message with what differs between occurrences of the same error taken
/// out (ids, numbers, quoted values), so they group together: `request req_81f… failed
/// after 3021 ms` and `request req_a2… failed after 12 ms` are one error.
pub fn normalized(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(LONGEST));
    for word in message.split_inclusive(|c: char| c.is_whitespace() || "\"'`,;:()[]{}=".contains(c))
    {
        let (body, tail) = match word.char_indices().last() {
            Some((i, c)) if c.is_whitespace() || "\"'`,;:()[]{}=".contains(c) => word.split_at(i),
            _ => (word, ""),
        };
        let digits = body.chars().filter(char::is_ascii_digit).count();
        let hexish = body.len() >= 8
            && body
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '_')
            && body.chars().any(|c| c.is_ascii_digit());
        if !body.is_empty() && (digits * 3 >= body.len().max(1) || hexish || looks_like_id(body)) {
            out.push('#');
        } else {
            out.push_str(body);
        }
        out.push_str(tail);
        if out.len() >= LONGEST {
            break;
        }
    }
    cut(out.trim())
}

/// `req_8f2a…`, `chatcmpl-AbC12…`, `msg_01X…`: a prefix and a long run with digits.
fn looks_like_id(word: &str) -> bool {
    let Some(i) = word.find(['_', '-']) else {
        return false;
    };
    let rest = &word[i + 1..];
    rest.len() >= 6
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && rest.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_counted_by_kind_and_only_new_ones() {
        let mut s = Story::default();
        s.masked(
            Side::Request,
            "mail a@b.c and [EMAIL] and 4111 1111 1111 1111",
            "mail [EMAIL] and [EMAIL] and [CARD] [x] [A] [NOT-ONE]",
        );
        assert_eq!(s.masked[0].get("EMAIL"), Some(&1));
        assert_eq!(s.masked[0].get("CARD"), Some(&1));
        assert_eq!(s.masked[0].len(), 2, "{:?}", s.masked[0]);
    }

    #[test]
    fn errors_differing_in_ids_and_numbers_normalize_alike() {
        let a = normalized(
            "request req_81f2a9c3d1 failed after 3021 ms: HTTP 500 (id \"chatcmpl-AbC123xyz\")",
        );
        let b = normalized(
            "request req_00aa11bb22 failed after 12 ms: HTTP 500 (id \"chatcmpl-ZZ9zz9zz\")",
        );
        assert_eq!(a, b);
        assert!(a.starts_with("request # failed after # ms"), "{a}");
        assert_ne!(normalized("rate limited"), normalized("server overloaded"));
    }

    #[test]
    fn payloads_are_cut_at_their_limit_on_a_character() {
        let mut p = Payload::new(5);
        p.request("héllo wörld".as_bytes());
        assert_eq!(p.request.as_deref(), Some("héll"));
        assert!(p.request_truncated);
        p.response(b"ok", false);
        assert!(!p.response_truncated);
    }
}
