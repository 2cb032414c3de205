//! The cache key: SHA-256 of the route, the endpoint, the principal (when the route
//! keeps keys apart) and a canonical form of the request body — object keys sorted,
//! no whitespace, integral numbers written one way, and the fields that do not change
//! the answer (`user`, `stream`, `stream_options`) left out. Also the client's
//! `Cache-Control` wishes.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Top-level fields that do not change what the model answers.
const IGNORED: &[&str] = &["user", "stream", "stream_options"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// What the client asked of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Serve from the cache when there is an answer; store a new one.
    Use,
    /// `no-cache`: do not serve a stored answer, but store the fresh one.
    Refresh,
    /// `no-store`: neither read nor write the cache.
    Bypass,
}

/// Reads `Cache-Control` (and the old `Pragma: no-cache`).
pub fn directive(headers: &http::HeaderMap) -> Directive {
    let mut d = Directive::Use;
    let tokens = headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .chain(headers.get_all(http::header::PRAGMA).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase());
    for t in tokens {
        match t.as_str() {
            "no-store" => return Directive::Bypass,
            "no-cache" | "max-age=0" => d = Directive::Refresh,
            _ => {}
        }
    }
    d
}

/// The key of a request body, or `None` when the body is not a JSON object.
/// `kind` names what is kept (`chat`, `embeddings`, or a pass-through API's answer).
pub fn key(route: &str, kind: &str, principal: Option<&str>, body: &[u8]) -> Option<CacheKey> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(b"switchboard-cache-v1");
    field(route.as_bytes());
    field(kind.as_bytes());
    field(principal.unwrap_or("").as_bytes());
    let mut canonical = Vec::with_capacity(body.len());
    let mut entries: Vec<_> = map
        .iter()
        .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    canonical.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            canonical.push(b',');
        }
        write_string(&mut canonical, k);
        canonical.push(b':');
        write_value(&mut canonical, v);
    }
    canonical.push(b'}');
    field(&canonical);
    Some(CacheKey(h.finalize().into()))
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is deterministic for a given string.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            // 1, 1.0 and 1e0 are the same parameter value.
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    out.extend_from_slice((f as i64).to_string().as_bytes())
                }
                _ => out.extend_from_slice(n.to_string().as_bytes()),
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(body: &str) -> CacheKey {
        key("r", "chat", None, body.as_bytes()).expect("a JSON object")
    }

    #[test]
    fn order_whitespace_user_and_stream_do_not_matter() {
        let a = k(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1}"#);
        let b = k(r#"{ "temperature": 1.0, "stream": true, "user": "bob",
            "stream_options": {"include_usage": true},
            "messages": [ { "content": "hi", "role": "user" } ], "model": "m" }"#);
        assert_eq!(a, b);
    }

    #[test]
    fn anything_that_changes_the_answer_changes_the_key() {
        let base = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let others = [
            r#"{"model":"m","messages":[{"role":"user","content":"hi!"}]}"#,
            r#"{"model":"m2","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"system","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#,
        ];
        for o in others {
            assert_ne!(k(base), k(o), "{o}");
        }
        let body = base.as_bytes();
        assert_ne!(
            key("r", "chat", None, body),
            key("other", "chat", None, body)
        );
        assert_ne!(
            key("r", "chat", Some("team-a"), body),
            key("r", "chat", Some("team-b"), body)
        );
        assert_ne!(
            key("r", "chat", None, body),
            key("r", "embeddings", None, body)
        );
        // A nested `user` is content, not the top-level end-user id.
        assert_ne!(
            k(r#"{"model":"m","metadata":{"user":"a"}}"#),
            k(r#"{"model":"m","metadata":{"user":"b"}}"#)
        );
        assert!(key("r", "chat", None, b"[1,2]").is_none());
    }

    #[test]
    fn cache_control_directives() {
        let mut h = http::HeaderMap::new();
        assert_eq!(directive(&h), Directive::Use);
        h.insert("cache-control", "max-age=60, No-Cache".parse().unwrap());
        assert_eq!(directive(&h), Directive::Refresh);
        h.append("cache-control", "no-store".parse().unwrap());
        assert_eq!(directive(&h), Directive::Bypass);
        let mut p = http::HeaderMap::new();
        p.insert("pragma", "no-cache".parse().unwrap());
        assert_eq!(directive(&p), Directive::Refresh);
    }
}
