//! The console's single sign-on endpoints: `GET /console/sso` sends the browser to the
//! IdP (what the callback needs set in a cookie for ten minutes), `GET
//! /console/sso/callback` checks the IdP's answer, makes or updates the person with the
//! role their claims map to, opens a session and sends the browser to the console. A
//! failure lands on the sign-in page with a short code (`/?sso=token`), and in the log.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;

use crate::access::people::sso::{Pending, SsoError};
use crate::access::people::{GrantKind, SESSION_SECS};
use crate::console;
use crate::gateway::Gateway;
use crate::server::Body;

const COOKIE: &str = "sb_sso";

fn pending_cookie(p: Option<&Pending>, secure: bool) -> String {
    let (value, age) = match p {
        Some(p) => (format!("{}.{}.{}", p.state, p.nonce, p.verifier), 600),
        None => (String::new(), 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    // Lax: the callback is a top-level navigation from the IdP's site.
    format!("{COOKIE}={value}; Path=/console/sso; HttpOnly; SameSite=Lax; Max-Age={age}{secure}")
}

fn pending_of(headers: &http::HeaderMap) -> Option<Pending> {
    let v = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
    let mut parts = v.split('.');
    Some(Pending {
        state: parts.next()?.to_string(),
        nonce: parts.next()?.to_string(),
        verifier: parts.next()?.to_string(),
    })
}

fn query_param(req: &http::Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name)
            .then(|| String::from_utf8_lossy(&crate::percent::decode(v.as_bytes())).into_owned())
    })
}

fn failed(gw: &Gateway, peer: IpAddr, e: &SsoError, secure: bool) -> http::Response<Body> {
    tracing::warn!(error = %e, peer = %peer, "a single sign-on failed");
    if matches!(e, SsoError::Token(_) | SsoError::State) {
        gw.auth_throttle.failed(peer);
    }
    let mut resp = console::redirect_to(&format!("/?sso={}", e.code()), None);
    if let Ok(v) = http::HeaderValue::from_str(&pending_cookie(None, secure)) {
        resp.headers_mut().append(http::header::SET_COOKIE, v);
    }
    resp
}

pub async fn handle(
    gw: &Arc<Gateway>,
    req: &http::Request<Incoming>,
    path: &str,
    peer: IpAddr,
) -> http::Response<Body> {
    let secure = crate::server::wire::https(req);
    let live = gw.live.load_full();
    let Some(cfg) = live.config.auth.oidc.as_ref() else {
        return failed(gw, peer, &SsoError::Off, secure);
    };
    if gw.auth_throttle.admit(peer).is_err() {
        return console::redirect("/?sso=throttled", None);
    }
    if path == "/console/sso" {
        return match gw.sso.start(cfg).await {
            Ok((url, pending)) => {
                console::redirect_to(&url, Some(pending_cookie(Some(&pending), secure)))
            }
            Err(e) => failed(gw, peer, &e, secure),
        };
    }
    if path != "/console/sso/callback" {
        return console::redirect("/", None);
    }
    callback(gw, req, cfg, peer, secure).await
}

/// The IdP's answer: the code exchanged, the ID token checked, the person recorded
/// with their role, a session opened.
async fn callback(
    gw: &Gateway,
    req: &http::Request<Incoming>,
    cfg: &crate::config::auth::OidcConfig,
    peer: IpAddr,
    secure: bool,
) -> http::Response<Body> {
    if let Some(err) = query_param(req, "error") {
        tracing::warn!(error = %crate::secrets::scrub_owned(err), "the identity provider refused a sign-in");
        return console::redirect("/?sso=refused", None);
    }
    let (Some(code), Some(state), Some(pending)) = (
        query_param(req, "code"),
        query_param(req, "state"),
        pending_of(req.headers()),
    ) else {
        return failed(gw, peer, &SsoError::State, secure);
    };
    let who = match gw.sso.finish(cfg, code, &state, pending).await {
        Ok(who) => who,
        Err(e) => return failed(gw, peer, &e, secure),
    };
    match gw
        .people
        .signed_on(&who.name, &who.role, &who.subject)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            // A local account of that name, or another identity's: not taken over.
            let e = SsoError::Taken(who.name.clone());
            return failed(gw, peer, &e, secure);
        }
        Err(e) => {
            tracing::warn!(error = %e, "recording a signed-on person failed");
            return console::redirect("/?unavailable", None);
        }
    }
    let person = gw.people.person(&who.name);
    if person.as_ref().is_none_or(|p| p.disabled_at.is_some()) {
        return console::redirect("/?denied", None);
    }
    let opened = gw
        .people
        .open(
            GrantKind::Session,
            &who.name,
            &who.role,
            "sso",
            None,
            SESSION_SECS,
        )
        .await;
    let actor = format!("{} ({})", who.name, who.role);
    super::control::audit(
        gw,
        &actor,
        "session.open",
        &who.name,
        None,
        Some(serde_json::json!({ "via": "sso" })),
    )
    .await;
    match opened {
        Ok((secret, _)) => {
            let mut resp = console::redirect(
                "/",
                Some(console::set_cookie(&secret, secure, SESSION_SECS)),
            );
            if let Ok(v) = http::HeaderValue::from_str(&pending_cookie(None, secure)) {
                resp.headers_mut().append(http::header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "opening a session failed");
            console::redirect("/?unavailable", None)
        }
    }
}
