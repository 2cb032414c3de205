//! The operator console on the admin listener: the page and its script and styles
//! (embedded in the binary; no build chain), the session cookie (the session itself is
//! a grant in `people`) (`HttpOnly`, `SameSite=Strict`, `Secure` behind an HTTPS proxy), the
//! CSRF token every change through a session must carry (`x-csrf-token`), and the
//! Content-Security-Policy every console answer has (no inline script, nothing from
//! elsewhere). The pages read and change the gateway through the admin API only.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::reply::{Body, full};

/// The session cookie's name.
pub const COOKIE: &str = "sb_console";

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const INDEX: &[u8] = include_bytes!("assets/index.html");
const SCRIPT: &[u8] = include_bytes!("assets/console.js");
/// The registry's pages (models, providers, prompts).
const REGISTRY: &[u8] = include_bytes!("assets/registry.js");
/// Their edit forms (models, providers).
const REGISTRY_EDIT: &[u8] = include_bytes!("assets/registry-edit.js");
/// The People and My account pages.
const PEOPLE: &[u8] = include_bytes!("assets/people.js");
/// The Requests and Errors pages (a request's story, its captured bodies, replay).
const REQUESTS: &[u8] = include_bytes!("assets/requests.js");
/// The Trends page and the time charts (Usage too) drawn with uPlot.
const TRENDS: &[u8] = include_bytes!("assets/trends.js");
// uPlot 1.6.32 (https://github.com/leeoniya/uPlot), MIT licence: assets/vendor/uPlot.LICENSE.
const UPLOT: &[u8] = include_bytes!("assets/vendor/uPlot.iife.min.js");
const UPLOT_STYLE: &[u8] = include_bytes!("assets/vendor/uPlot.min.css");
const STYLE: &[u8] = include_bytes!("assets/console.css");

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
        "/console/people.js" => (PEOPLE, "text/javascript; charset=utf-8"),
        "/console/requests.js" => (REQUESTS, "text/javascript; charset=utf-8"),
        "/console/trends.js" => (TRENDS, "text/javascript; charset=utf-8"),
        "/console/vendor/uPlot.iife.min.js" => (UPLOT, "text/javascript; charset=utf-8"),
        "/console/vendor/uPlot.min.css" => (UPLOT_STYLE, "text/css; charset=utf-8"),
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
    redirect_to(to, cookie)
}

/// A redirect to a URL made at run time (the IdP's sign-in or sign-out page).
pub fn redirect_to(to: &str, cookie: Option<String>) -> http::Response<Body> {
    let mut resp = http::Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(http::header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(http::header::SET_COOKIE, c);
    }
    secure_headers(h);
    resp
}

/// The `Set-Cookie` value of a session lasting `max_age` seconds (`secret` empty: the
/// cookie cleared).
pub fn set_cookie(secret: &str, https: bool, max_age: u64) -> String {
    let age = if secret.is_empty() { 0 } else { max_age };
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
