//! The operator console on the admin listener: the page and its script and styles
//! (embedded in the binary; no build chain), sign-in with the admin token into a
//! session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind an HTTPS proxy), the
//! CSRF token every change through a session must carry (`x-csrf-token`), and the
//! Content-Security-Policy every console answer has (no inline script, nothing from
//! elsewhere). The pages read and change the gateway through the admin API only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::reply::{Body, full};

/// The session cookie's name.
pub const COOKIE: &str = "sb_console";
/// How long a session lasts without being used, and most sessions kept at once.
const TTL: Duration = Duration::from_secs(12 * 3600);
const MAX_SESSIONS: usize = 1000;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const INDEX: &[u8] = include_bytes!("assets/index.html");
const SCRIPT: &[u8] = include_bytes!("assets/console.js");
/// The registry's pages (models, providers, prompts).
const REGISTRY: &[u8] = include_bytes!("assets/registry.js");
/// Their edit forms (models, providers).
const REGISTRY_EDIT: &[u8] = include_bytes!("assets/registry-edit.js");
const STYLE: &[u8] = include_bytes!("assets/console.css");

struct Session {
    csrf: String,
    /// Short id the audit log names the session by.
    id: String,
    used: Instant,
}

/// Who a signed-in request comes from.
#[derive(Debug, Clone)]
pub struct Signed {
    pub actor: String,
    pub csrf: String,
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl Sessions {
    /// A new session; the cookie value.
    pub fn open(&self) -> String {
        let secret = random_hex(32);
        let mut m = self.0.lock();
        m.retain(|_, s| s.used.elapsed() < TTL);
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| *k)
        {
            m.remove(&oldest);
        }
        let s = Session {
            csrf: random_hex(16),
            id: random_hex(4),
            used: Instant::now(),
        };
        m.insert(Sha256::digest(secret.as_bytes()).into(), s);
        secret
    }

    /// The session of this cookie value, if it is live (its use renews it).
    pub fn check(&self, secret: &str) -> Option<Signed> {
        let mut m = self.0.lock();
        let key: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let s = m.get_mut(&key)?;
        if s.used.elapsed() >= TTL {
            m.remove(&key);
            return None;
        }
        s.used = Instant::now();
        Some(Signed {
            actor: format!("console:{}", s.id),
            csrf: s.csrf.clone(),
        })
    }

    pub fn close(&self, secret: &str) {
        self.0
            .lock()
            .remove(&<[u8; 32]>::from(Sha256::digest(secret.as_bytes())));
    }
}

/// The session cookie's value in `headers`.
pub fn cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(COOKIE)?
                .strip_prefix('=')
                .map(str::to_string)
        })
}

/// Whether two strings are equal, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The headers every console answer carries.
pub fn secure_headers(h: &mut http::HeaderMap) {
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
}

/// The page, script or styles at `path`, if it is one of them.
pub fn asset(path: &str) -> Option<http::Response<Body>> {
    let (bytes, kind) = match path {
        "/" | "/console" | "/console/" => (INDEX, "text/html; charset=utf-8"),
        "/console/console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/console/registry.js" => (REGISTRY, "text/javascript; charset=utf-8"),
        "/console/registry-edit.js" => (REGISTRY_EDIT, "text/javascript; charset=utf-8"),
        "/console/console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut resp = http::Response::new(full(Bytes::from_static(bytes)));
    resp.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kind));
    secure_headers(resp.headers_mut());
    Some(resp)
}

/// A redirect to `to`, setting `cookie` when given.
pub fn redirect(to: &'static str, cookie: Option<String>) -> http::Response<Body> {
    let mut resp = http::Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    h.insert(http::header::LOCATION, HeaderValue::from_static(to));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(http::header::SET_COOKIE, c);
    }
    secure_headers(h);
    resp
}

/// The `Set-Cookie` value of a session (`secret` empty: the cookie cleared).
pub fn set_cookie(secret: &str, https: bool) -> String {
    let age = if secret.is_empty() { 0 } else { TTL.as_secs() };
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{secure}")
}

/// The `token` field of a form body (`application/x-www-form-urlencoded`).
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body).ok()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            String::from_utf8_lossy(&crate::percent::decode(v.as_bytes())).into_owned()
        })
    })
}
