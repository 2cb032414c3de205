//! Provider keys, known to one process-wide registry so that every way out of the
//! gateway — error bodies, answers, stream events, logs, admin pages, metrics — can
//! scrub them. A key is searched in the forms it can take on the way: as it is,
//! JSON-escaped (also with every character `\u`-escaped, decoded through a JSON
//! parse), and percent-encoded (any case). Every match becomes `[REDACTED]`.
//!
//! The registry only grows (one entry per distinct key ever configured, so it is as
//! bounded as the config): a key removed by a reload may still sit in a log line or a
//! cached answer, and masking more than needed never leaks.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem;
use parking_lot::RwLock;
use serde_json::Value;

pub const REDACTED: &str = "[REDACTED]";

/// Shorter keys are not scrubbed: masking every "abc" of every answer would
/// corrupt traffic and protect nothing.
pub const MIN_KEY_LEN: usize = 6;

#[derive(Default)]
struct Registry {
    keys: Vec<String>,
    /// Tokens the host refreshes (`rotate`): the last two of each slot, so a token
    /// replaced a moment ago is still masked while answers made with it go out.
    rotating: std::collections::BTreeMap<String, [Option<String>; 2]>,
    /// Every byte form of every key (raw, JSON-escaped, percent-encoded), each with
    /// its searcher built once (building one costs more than a search of an answer).
    forms: Vec<memmem::Finder<'static>>,
    /// Length of the longest form (0: no key registered).
    longest: usize,
}

impl Registry {
    fn add_forms(&mut self, key: &str) {
        for f in forms(key) {
            self.longest = self.longest.max(f.len());
            if !self.forms.iter().any(|x| x.needle() == f) {
                self.forms.push(memmem::Finder::new(&f).into_owned());
            }
        }
    }
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(Default::default);

/// Makes `key` one of the secrets every output is scrubbed of.
pub fn register(key: &str) {
    if key.len() < MIN_KEY_LEN {
        return;
    }
    let mut r = REGISTRY.write();
    if r.keys.iter().any(|k| k == key) {
        return;
    }
    r.keys.push(key.to_string());
    r.add_forms(key);
}

/// Makes `token` the newest secret of `slot` (a provider's refreshed token): the slot
/// keeps its last two, so the registry stays as bounded as the config however often
/// tokens are refreshed.
pub fn rotate(slot: &str, token: &str) {
    if token.len() < MIN_KEY_LEN {
        return;
    }
    let mut r = REGISTRY.write();
    let pair = r.rotating.entry(slot.to_string()).or_default();
    if pair[0].as_deref() == Some(token) {
        return;
    }
    pair[1] = pair[0].replace(token.to_string());
    let all: Vec<String> = r
        .keys
        .iter()
        .chain(r.rotating.values().flatten().flatten())
        .cloned()
        .collect();
    r.forms.clear();
    r.longest = 0;
    for k in &all {
        r.add_forms(k);
    }
}

/// The longest form of any registered key, in bytes (0 when none).
pub fn longest() -> usize {
    REGISTRY.read().longest
}

fn forms(key: &str) -> Vec<Vec<u8>> {
    let mut out = vec![key.as_bytes().to_vec()];
    let json = serde_json::to_string(key).unwrap_or_default();
    out.push(json.as_bytes()[1..json.len() - 1].to_vec());
    let mut upper = String::new();
    let mut lower = String::new();
    // As a URL path or query escapes it (RFC 3986 unreserved kept), and as an HTML
    // form / `query_pairs` encodes it (`*-._` kept, space as `+`).
    let mut uri = String::new();
    let mut form = String::new();
    for b in key.bytes() {
        upper.push_str(&format!("%{b:02X}"));
        lower.push_str(&format!("%{b:02x}"));
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            form.push(b as char);
        } else if b == b' ' {
            form.push('+');
        } else {
            form.push_str(&format!("%{b:02X}"));
        }
    }
    out.extend([upper, lower, uri, form].map(String::into_bytes));
    out.retain(|f| !f.is_empty());
    out.dedup();
    out
}

/// `bytes` with every form of every key replaced; borrowed when nothing matched.
pub fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let r = REGISTRY.read();
    if r.forms.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut cur: Cow<'_, [u8]> = Cow::Borrowed(bytes);
    for f in &r.forms {
        if f.find(&cur).is_none() {
            continue;
        }
        let mut out = Vec::with_capacity(cur.len());
        let mut rest: &[u8] = &cur;
        while let Some(i) = f.find(rest) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[i + f.needle().len()..];
        }
        out.extend_from_slice(rest);
        cur = Cow::Owned(out);
    }
    cur
}

/// `bytes` scrubbed, reusing the buffer when nothing matched.
pub fn scrub_body(bytes: bytes::Bytes) -> bytes::Bytes {
    match scrub_bytes(&bytes) {
        Cow::Borrowed(_) => bytes,
        Cow::Owned(b) => bytes::Bytes::from(b),
    }
}

/// A JSON body scrubbed (`scrub_json`), reusing the buffer when nothing matched.
pub fn scrub_json_body(bytes: bytes::Bytes) -> bytes::Bytes {
    match scrub_json(&bytes) {
        Cow::Borrowed(_) => bytes,
        Cow::Owned(b) => bytes::Bytes::from(b),
    }
}

/// `text` with every key form replaced.
pub fn scrub(text: &str) -> Cow<'_, str> {
    match scrub_bytes(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Forms and the marker are whole UTF-8 sequences: the result is UTF-8.
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    }
}

/// `text` scrubbed, as an owned string.
pub fn scrub_owned(text: String) -> String {
    match scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

/// A JSON document scrubbed: byte forms first, then, when the text has `\u`
/// escapes that could spell a key, every string of the parsed document.
pub fn scrub_json(bytes: &[u8]) -> Cow<'_, [u8]> {
    let first = scrub_bytes(bytes);
    // Only `\u` and `\/` escapes can spell a key that the byte forms miss.
    static ESCAPES: LazyLock<[memmem::Finder<'static>; 2]> =
        LazyLock::new(|| [memmem::Finder::new(b"\\u"), memmem::Finder::new(b"\\/")]);
    if REGISTRY.read().forms.is_empty() || ESCAPES.iter().all(|f| f.find(&first).is_none()) {
        return first;
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(&first) else {
        return first;
    };
    if !scrub_value(&mut v) {
        return first;
    }
    Cow::Owned(serde_json::to_vec(&v).unwrap_or_else(|_| first.into_owned()))
}

/// Scrubs every string (and object key) of `v`; true when anything changed.
pub fn scrub_value(v: &mut Value) -> bool {
    match v {
        Value::String(s) => match scrub(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(n) => {
                *s = n;
                true
            }
        },
        Value::Array(a) => a.iter_mut().fold(false, |c, x| scrub_value(x) | c),
        Value::Object(o) => {
            let mut changed = false;
            let renamed: Vec<String> = o
                .keys()
                .filter(|k| matches!(scrub(k), Cow::Owned(_)))
                .cloned()
                .collect();
            for k in renamed {
                if let Some(x) = o.remove(&k) {
                    o.insert(scrub_owned(k), x);
                    changed = true;
                }
            }
            o.values_mut().fold(changed, |c, x| scrub_value(x) | c)
        }
        _ => false,
    }
}

/// How many bytes at the end of `text` could be the start of a key form (a proper
/// prefix of one): what a stream must hold back until more text decides.
pub fn partial_suffix(text: &[u8]) -> usize {
    let r = REGISTRY.read();
    let mut hold = 0;
    for f in r.forms.iter().map(memmem::Finder::needle) {
        let span = (f.len() - 1).min(text.len());
        let tail = &text[text.len() - span..];
        // Candidates start where the tail holds the form's first byte.
        for i in memchr::memchr_iter(f[0], tail) {
            let rest = &tail[i..];
            if rest.len() > hold && f.starts_with(rest) {
                hold = rest.len();
                break;
            }
        }
    }
    hold
}

/// A log writer that scrubs each formatted line before it reaches stderr (or, in
/// tests, any writer).
pub struct Scrubbing<W = std::io::Stderr>(pub W);

/// The log writer `main` installs.
pub type ScrubbingStderr = Scrubbing<std::io::Stderr>;

impl<W: std::io::Write> std::io::Write for Scrubbing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer hands over one whole line per event, so a key is never split
        // between two writes.
        self.0.write_all(&scrub_bytes(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Makes one stderr writer per log event.
pub struct StderrLogs;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrLogs {
    type Writer = ScrubbingStderr;
    fn make_writer(&'a self) -> Self::Writer {
        Scrubbing(std::io::stderr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-UNIT-secret/key+9";

    #[test]
    fn every_form_is_masked() {
        register(KEY);
        let escaped: String = KEY
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let cases = [
            format!("before {KEY} after"),
            format!("{{\"a\":\"{}\"}}", KEY.replace('/', "\\/")),
            "q=sk-UNIT-secret%2Fkey%2B9".to_string(),
            format!("q={}", KEY.replace('/', "%2F").replace('+', "%2B")),
            KEY.bytes().map(|b| format!("%{b:02x}")).collect(),
        ];
        for c in cases {
            let out = scrub_json(c.as_bytes());
            assert!(
                !String::from_utf8_lossy(&out).contains("UNIT-secret"),
                "{c} -> {}",
                String::from_utf8_lossy(&out)
            );
        }
        let doc = format!("{{\"error\":{{\"param\":\"{escaped}\"}}}}");
        let out = scrub_json(doc.as_bytes());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["param"], REDACTED);
    }

    #[test]
    fn a_rotated_token_is_masked_with_its_predecessor_and_no_older_one() {
        let slot = "token:unit-rotation";
        let t = |i: u32| format!("ya29.unit-rotating-token-{i}");
        for i in 0..5 {
            rotate(slot, &t(i));
        }
        let masked = |s: &str| scrub(s).contains(REDACTED);
        assert!(masked(&t(4)) && masked(&t(3)), "the last two are masked");
        assert!(!masked(&t(2)), "an older one is let go");
        let r = REGISTRY.read();
        let held = r.rotating[slot].iter().flatten().count();
        assert_eq!(held, 2, "the slot holds two however often it turns");
    }

    #[test]
    fn a_started_key_is_held_back_and_nothing_else() {
        register(KEY);
        assert_eq!(partial_suffix(b"hello sk-UN"), 5);
        assert_eq!(partial_suffix(b"hello world"), 0);
        assert_eq!(partial_suffix(b"ask"), 2);
        assert_eq!(partial_suffix(b"yes"), 1);
        assert_eq!(partial_suffix(b""), 0);
    }

    #[test]
    fn log_lines_are_scrubbed() {
        use std::io::Write as _;
        register(KEY);
        let mut w = Scrubbing(Vec::new());
        // One write per event, as the fmt layer makes it.
        w.write_all(format!("WARN attempt failed: upstream said {KEY}\n").as_bytes())
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(out, "WARN attempt failed: upstream said [REDACTED]\n");
    }
}
