//! Who may use the admin listener: the admin token as a bearer token, or a console
//! session (its cookie, and for every change its CSRF token in `x-csrf-token`); the
//! console's sign-in (`POST /console/login`, a form with the token) and sign-out
//! (`POST /console/logout`); `GET /admin/session` tells the page its CSRF token.

use std::net::IpAddr;
use std::sync::Arc;

use http::StatusCode;
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Body;
use super::routes::{bearer, json_response};
use crate::console;
use crate::gateway::Gateway;
use crate::reply::ApiError;

/// Who the audit log says made a change through the admin token.
pub const TOKEN_ACTOR: &str = "admin-token";

/// The admin token's hash, or the answer saying the admin API is off.
fn expected(gw: &Gateway) -> Result<[u8; 32], Box<http::Response<Body>>> {
    let live = gw.live.load_full();
    live.config
        .admin
        .as_ref()
        .and_then(|a| a.token_sha256)
        .ok_or_else(|| {
            let e = ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "the admin API is disabled: set admin.token_env",
            );
            Box::new(e.into_response())
        })
}

fn matches(token: &str, expected: &[u8; 32]) -> bool {
    <[u8; 32]>::from(Sha256::digest(token.as_bytes())) == *expected
}

fn https(req: &http::Request<Incoming>) -> bool {
    req.headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The answer refusing a peer that failed too often lately, if it did.
fn throttled(gw: &Gateway, peer: IpAddr) -> Result<(), Box<http::Response<Body>>> {
    gw.auth_throttle.admit(peer).map_err(|wait| {
        Box::new(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("too many failed admin sign-ins from this address; try again in {wait}s"),
            )
            .with_code("auth_throttled")
            .with_retry_after(wait)
            .into_response(),
        )
    })
}

/// `peer` failed to authenticate: counted, and seen by alert rules.
fn failed(gw: &Gateway, peer: IpAddr) {
    gw.auth_throttle.failed(peer);
    gw.metrics
        .events
        .add(crate::outcomes::Event::AdminAuthFailed, "", "");
}

/// The actor of an `/admin/*` request, or the answer refusing it.
pub fn gate(
    gw: &Gateway,
    req: &http::Request<Incoming>,
    peer: IpAddr,
) -> Result<String, Box<http::Response<Body>>> {
    let expected = expected(gw)?;
    throttled(gw, peer)?;
    match bearer(req) {
        Some(t) if matches(t, &expected) => return Ok(TOKEN_ACTOR.to_string()),
        Some(_) => {
            failed(gw, peer);
            return Err(Box::new(
                ApiError::unauthorized("admin token missing or wrong").into_response(),
            ));
        }
        None => {}
    }
    let Some(signed) = console::cookie(req.headers()).and_then(|c| gw.console.check(&c)) else {
        return Err(Box::new(
            ApiError::unauthorized("admin token missing or wrong").into_response(),
        ));
    };
    let reads = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
    let csrf = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if !reads && !csrf.is_some_and(|c| console::same(c, &signed.csrf)) {
        return Err(Box::new(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "a change through the console needs its CSRF token (x-csrf-token)",
            )
            .with_code("csrf_token_missing")
            .into_response(),
        ));
    }
    Ok(signed.actor)
}

/// `GET /admin/session`: the session's actor and CSRF token (or that the token signed in).
pub fn session(gw: &Gateway, req: &http::Request<Incoming>, actor: &str) -> http::Response<Body> {
    let csrf = console::cookie(req.headers())
        .and_then(|c| gw.console.check(&c))
        .map(|s| s.csrf);
    let mut resp = json_response(StatusCode::OK, json!({ "actor": actor, "csrf": csrf }));
    console::secure_headers(resp.headers_mut());
    resp
}

/// The console's pages and its sign-in and sign-out; `None` for any other path.
pub async fn console_path(
    gw: &Arc<Gateway>,
    req: http::Request<Incoming>,
    path: &str,
    peer: IpAddr,
) -> Result<http::Response<Body>, http::Request<Incoming>> {
    let method = req.method().clone();
    if method == http::Method::GET
        && let Some(page) = console::asset(path)
    {
        return Ok(page);
    }
    if method != http::Method::POST || !matches!(path, "/console/login" | "/console/logout") {
        return Err(req);
    }
    let secure = https(&req);
    let cookie = console::cookie(req.headers());
    let body = match super::routes::read_body(req, 4096, std::time::Duration::from_secs(10)).await {
        Ok(b) => b,
        Err(e) => return Ok(e.into_response()),
    };
    if path == "/console/logout" {
        // A sign-out is a change: it carries the session's CSRF token.
        let signed = cookie.as_deref().and_then(|c| gw.console.check(c));
        let sent = console::form_field(&body, "csrf");
        if let (Some(s), Some(c), Some(sent)) = (signed, cookie, sent)
            && console::same(&sent, &s.csrf)
        {
            gw.console.close(&c);
        }
        return Ok(console::redirect(
            "/",
            Some(console::set_cookie("", secure)),
        ));
    }
    let Ok(expected) = expected(gw) else {
        return Ok(console::redirect("/?disabled", None));
    };
    if let Err(resp) = throttled(gw, peer) {
        return Ok(*resp);
    }
    match console::form_field(&body, "token") {
        Some(t) if matches(t.trim(), &expected) => {
            let secret = gw.console.open();
            Ok(console::redirect(
                "/",
                Some(console::set_cookie(&secret, secure)),
            ))
        }
        _ => {
            failed(gw, peer);
            // Slows guessing; the token is long and random anyway.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            Ok(console::redirect("/?denied", None))
        }
    }
}
