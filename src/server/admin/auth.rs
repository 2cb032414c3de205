//! Who may use the admin listener, and as whom: the admin token as a bearer token
//! (automation and bootstrap; off when `admin.token_env` is unset), a personal API
//! token (`sbp_…`) as a bearer token, or a console session (its cookie, and for every
//! change its CSRF token in `x-csrf-token`). The console's sign-in (`POST
//! /console/login`: a name and password, or the admin token) and sign-out (`POST
//! /console/logout`); `GET /admin/session` tells the page who is signed in, with which
//! role, what it may do, and its CSRF token. Failed sign-ins are throttled per address
//! here and per account in `people` (five in a row lock it for 15 minutes, audited).

use std::net::IpAddr;
use std::sync::Arc;

use http::StatusCode;
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::access::people::{Actor, GrantKind, Perm, Refusal, Role, SESSION_SECS, Via};
use crate::console;
use crate::gateway::Gateway;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::{bearer, https, json_response};

type Refused = Box<http::Response<Body>>;

/// The admin token's hash, if it is on.
fn admin_token(gw: &Gateway) -> Option<[u8; 32]> {
    gw.live
        .load()
        .config
        .admin
        .as_ref()
        .and_then(|a| a.token_sha256)
}

/// Whether anyone can sign in at all: the admin token, accounts, or single sign-on.
fn open(gw: &Gateway) -> Result<(), Refused> {
    if admin_token(gw).is_some() || gw.people.any() || gw.live.load().config.auth.oidc.is_some() {
        return Ok(());
    }
    Err(Box::new(
        ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "the admin API is disabled: set admin.token_env, or add a person with `switchboard users add`",
        )
        .into_response(),
    ))
}

fn matches(token: &str, expected: &[u8; 32]) -> bool {
    <[u8; 32]>::from(Sha256::digest(token.as_bytes())) == *expected
}

/// The answer refusing a peer that failed too often lately, if it did.
fn throttled(gw: &Gateway, peer: IpAddr) -> Result<(), Refused> {
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
        .add(crate::health::outcomes::Event::AdminAuthFailed, "", "");
}

fn unauthorized() -> Refused {
    Box::new(
        ApiError::unauthorized(
            "sign in: an admin token, a personal API token or a console session",
        )
        .into_response(),
    )
}

/// The actor of an `/admin/*` request, or the answer refusing it.
pub async fn gate(
    gw: &Gateway,
    req: &http::Request<Incoming>,
    peer: IpAddr,
) -> Result<Actor, Refused> {
    open(gw)?;
    throttled(gw, peer)?;
    let token_on = admin_token(gw);
    if let Some(t) = bearer(req) {
        if token_on.is_some_and(|e| matches(t, &e)) {
            return Ok(Actor::admin_token());
        }
        if t.starts_with("sbp_")
            && let Some(h) = gw.people.check(t, token_on.as_ref()).await
            && h.grant.kind == GrantKind::Token
        {
            return Ok(Actor::of(h));
        }
        failed(gw, peer);
        return Err(unauthorized());
    }
    let Some(cookie) = console::cookie(req.headers()) else {
        return Err(unauthorized());
    };
    let Some(holder) = gw
        .people
        .check(&cookie, token_on.as_ref())
        .await
        .filter(|h| h.grant.kind == GrantKind::Session)
    else {
        return Err(unauthorized());
    };
    let reads = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
    let csrf = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if !reads && !csrf.is_some_and(|c| console::same(c, &holder.grant.csrf)) {
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
    Ok(Actor::of(holder))
}

/// Whether `actor` may do what the permission table says `req` needs; the answer
/// refusing it otherwise (404 for an unknown endpoint, 405 for a known one asked with
/// another method, 403 for a role without the permission).
pub fn permitted(actor: &Actor, req: &http::Request<Incoming>) -> Result<(), Refused> {
    let path = req.uri().path();
    let refuse = |status, kind: &'static str, code: &'static str, msg: String| {
        Box::new(
            ApiError::new(status, kind, msg)
                .with_code(code)
                .into_response(),
        )
    };
    match crate::server::permissions::needed(req.method(), path) {
        Ok(perm) if actor.role.may(perm) => Ok(()),
        Ok(perm) => Err(refuse(
            StatusCode::FORBIDDEN,
            "permission_error",
            "role_forbidden",
            format!(
                "{} {path} needs the {} permission, which the role {} does not have",
                req.method(),
                perm_name(perm),
                actor.role
            ),
        )),
        Err(true) => Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("{} is not allowed on {path}", req.method()),
        )),
        Err(false) => Err(Box::new(
            ApiError::not_found(format!("Unknown admin URL: {path}")).into_response(),
        )),
    }
}

pub fn perm_name(p: Perm) -> &'static str {
    match p {
        Perm::Own => "own",
        Perm::Read => "read",
        Perm::Operate => "operate",
        Perm::Admin => "admin",
        Perm::Keys => "keys",
        Perm::KeysWrite => "keys-write",
        Perm::Usage => "usage",
    }
}

/// `GET /admin/session`: who is signed in, with which role and by what, what the role
/// may do (the console hides the rest), and the session's CSRF token.
pub fn session(actor: &Actor) -> http::Response<Body> {
    let (via, csrf) = match &actor.via {
        Via::AdminToken => ("admin-token", None),
        Via::Session { csrf, .. } => ("session", Some(csrf.clone())),
        Via::Token { .. } => ("token", None),
    };
    let may = |p| actor.role.may(p);
    let mut resp = json_response(
        StatusCode::OK,
        json!({
            "actor": actor.label(),
            "name": actor.name,
            "role": actor.role,
            "team": actor.role.team(),
            "via": via,
            "csrf": csrf,
            "can": {
                "read": may(Perm::Read),
                "operate": may(Perm::Operate),
                "admin": may(Perm::Admin),
                "keys_write": may(Perm::KeysWrite),
            },
        }),
    );
    console::secure_headers(resp.headers_mut());
    resp
}

/// The console's pages, its sign-in, sign-out and single sign-on; `Err(req)` for any
/// other path.
pub async fn console_path(
    gw: &Arc<Gateway>,
    req: http::Request<Incoming>,
    path: &str,
    peer: IpAddr,
) -> Result<http::Response<Body>, http::Request<Incoming>> {
    let method = req.method().clone();
    if method == http::Method::GET {
        if let Some(page) = console::asset(path) {
            return Ok(page);
        }
        if path.starts_with("/console/sso") {
            return Ok(super::sso::handle(gw, &req, path, peer).await);
        }
        if path == "/console/methods" {
            return Ok(methods(gw));
        }
    }
    if method != http::Method::POST || !matches!(path, "/console/login" | "/console/logout") {
        return Err(req);
    }
    if cross_site(&req) {
        // Another site's form: no signing a browser in (to the attacker's account) or
        // out behind its back.
        return Ok(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "sign-in and sign-out come from the console's own pages",
        )
        .with_code("cross_site")
        .into_response());
    }
    let secure = https(&req);
    let cookie = console::cookie(req.headers());
    // The page's script signs out with `accept: application/json` and follows the
    // answer's `redirect` itself: a form's redirect to the IdP would break the page's
    // `form-action 'self'`.
    let json = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let body =
        match crate::server::wire::read_body(req, 4096, std::time::Duration::from_secs(10)).await {
            Ok(b) => b,
            Err(e) => return Ok(e.into_response()),
        };
    if path == "/console/logout" {
        return Ok(logout(gw, cookie, &body, secure, json).await);
    }
    if open(gw).is_err() {
        return Ok(console::redirect("/?disabled", None));
    }
    if let Err(resp) = throttled(gw, peer) {
        return Ok(*resp);
    }
    Ok(login(gw, &body, peer, secure).await)
}

/// Whether a browser says the request comes from another site: `Sec-Fetch-Site` when it
/// sends one, else an `Origin` whose host is not the one asked (the console's
/// `no-referrer` policy makes a browser send `Origin: null` for its own forms).
fn cross_site(req: &http::Request<Incoming>) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site") {
        return site.as_bytes() == b"cross-site" || site.as_bytes() == b"same-site";
    }
    let host = h.get(http::header::HOST).and_then(|v| v.to_str().ok());
    match h.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => false,
        Some(origin) => {
            let theirs = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            host.is_none_or(|host| !theirs.eq_ignore_ascii_case(host))
        }
    }
}

/// `GET /console/methods`: how one may sign in here (the sign-in page shows those).
fn methods(gw: &Gateway) -> http::Response<Body> {
    let live = gw.live.load();
    let sso = live
        .config
        .auth
        .oidc
        .as_ref()
        .map(|o| json!({ "label": o.label, "url": "/console/sso" }));
    let mut resp = json_response(
        StatusCode::OK,
        json!({
            "password": gw.people.any(),
            "sso": sso,
            "token": admin_token(gw).is_some(),
        }),
    );
    console::secure_headers(resp.headers_mut());
    resp
}

/// A sign-out is a change: it carries the session's CSRF token. It ends the session
/// (on every replica), and after single sign-on, at the IdP too when it can.
async fn logout(
    gw: &Gateway,
    cookie: Option<String>,
    body: &[u8],
    secure: bool,
    json: bool,
) -> http::Response<Body> {
    let holder = match cookie.as_deref() {
        Some(c) => gw.people.check(c, admin_token(gw).as_ref()).await,
        None => None,
    };
    let sent = console::form_field(body, "csrf");
    let mut to = "/".to_string();
    let Some(h) = holder.filter(|h| sent.is_some_and(|s| console::same(&s, &h.grant.csrf))) else {
        // Without the session's CSRF token nothing ends (the cookie stays too).
        return console::redirect("/", None);
    };
    let _ = gw.people.revoke(&h.grant.id).await;
    let live = gw.live.load_full();
    if h.grant.origin == "sso"
        && let Some(cfg) = live.config.auth.oidc.as_ref()
        && let Some(end) = gw.sso.end_session_url(cfg).await
    {
        to = end;
    }
    if !json {
        return console::redirect_to(&to, Some(console::set_cookie("", secure, 0)));
    }
    let mut resp = json_response(StatusCode::OK, json!({ "redirect": to }));
    let h = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&console::set_cookie("", secure, 0)) {
        h.insert(http::header::SET_COOKIE, v);
    }
    console::secure_headers(h);
    resp
}

/// Signs in with a name and password, or with the admin token.
async fn login(gw: &Gateway, body: &[u8], peer: IpAddr, secure: bool) -> http::Response<Body> {
    let user = console::form_field(body, "user").filter(|u| !u.trim().is_empty());
    let opened = match (user, console::form_field(body, "token")) {
        (Some(name), _) => {
            let password = console::form_field(body, "password").unwrap_or_default();
            // Counted before the password is tried; given back when it was right.
            gw.auth_throttle.attempt(peer);
            match gw.people.sign_in(name.trim(), &password).await {
                Ok(p) => {
                    gw.auth_throttle.forgive(peer);
                    let opened = gw
                        .people
                        .open(
                            GrantKind::Session,
                            &p.name,
                            &p.role,
                            "password",
                            None,
                            SESSION_SECS,
                        )
                        .await;
                    let actor = format!("{} ({})", p.name, p.role);
                    super::control::audit(gw, &actor, "session.open", &p.name, None, None).await;
                    opened.ok().map(|(s, _)| s)
                }
                Err(r) => return refused(gw, peer, name.trim(), r).await,
            }
        }
        (None, Some(t)) if admin_token(gw).is_some_and(|e| matches(t.trim(), &e)) => {
            let mark = admin_token(gw).map(|t| crate::access::people::token_mark(&t));
            let opened = gw
                .people
                .open(
                    GrantKind::Session,
                    "",
                    &Role::Admin,
                    "admin-token",
                    mark,
                    SESSION_SECS,
                )
                .await;
            let actor = Actor::admin_token().label();
            super::control::audit(gw, &actor, "session.open", "admin-token", None, None).await;
            opened.ok().map(|(s, _)| s)
        }
        (None, _) => {
            failed(gw, peer);
            // Slows guessing; the token is long and random anyway.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            return console::redirect("/?denied", None);
        }
    };
    match opened {
        Some(secret) => console::redirect(
            "/",
            Some(console::set_cookie(&secret, secure, SESSION_SECS)),
        ),
        None => console::redirect("/?unavailable", None),
    }
}

/// A refused sign-in (its strike against the address already counted): seen by alert
/// rules; a lock-out audited.
async fn refused(gw: &Gateway, peer: IpAddr, name: &str, r: Refusal) -> http::Response<Body> {
    gw.auth_throttle
        .failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    gw.metrics
        .events
        .add(crate::health::outcomes::Event::AdminAuthFailed, "", "");
    match r {
        Refusal::LockedNow => {
            let after = json!({ "failures": crate::access::people::LOCK_AFTER,
                "locked_for_secs": crate::access::people::LOCK_SECS, "address": peer.to_string() });
            super::control::audit(gw, "sign-in", "person.locked", name, None, Some(after)).await;
            console::redirect("/?locked", None)
        }
        Refusal::Locked(_) => console::redirect("/?locked", None),
        Refusal::Wrong => console::redirect("/?denied", None),
        Refusal::Store(e) => {
            tracing::warn!(error = %e, "a sign-in could not be checked");
            console::redirect("/?unavailable", None)
        }
    }
}
