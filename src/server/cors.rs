//! CORS on the API listener (`crate::config::cors`): a preflight is answered here,
//! without authentication and without reaching a provider — yes to an origin any key,
//! route or `[server.cors]` names, with the methods, headers and lifetime configured; a
//! request from a page is refused unless its key allows the page (its own
//! `cors_origins`, else the gateway's) — the route may narrow it further — and its
//! answer says which page may read it (`Vary: Origin`, never `*` with credentials).

use http::{HeaderValue, Method, StatusCode, header};

use super::Body;
use crate::config::cors::Cors;
use crate::live::Principal;
use crate::reply::ApiError;

/// The page a request came from, as sent (`null` and malformed origins kept as they
/// are: no list names them).
pub fn origin_of<B>(req: &http::Request<B>) -> Option<String> {
    let v = req.headers().get(header::ORIGIN)?.to_str().ok()?;
    Some(crate::config::cors::origin(v).unwrap_or_else(|_| v.to_string()))
}

/// A preflight's answer, when `req` is one.
pub fn preflight<B>(
    cors: &Cors,
    origin: &str,
    req: &http::Request<B>,
) -> Option<http::Response<Body>> {
    if req.method() != Method::OPTIONS
        || !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    if !cors.preflight_allows(origin) {
        return Some(refused(origin));
    }
    let mut resp = http::Response::new(super::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    allow(cors, origin, h);
    let put = |h: &mut http::HeaderMap, name: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    put(h, header::ACCESS_CONTROL_ALLOW_METHODS, &cors.methods);
    put(h, header::ACCESS_CONTROL_ALLOW_HEADERS, &cors.headers);
    put(
        h,
        header::ACCESS_CONTROL_MAX_AGE,
        &cors.max_age_secs.to_string(),
    );
    Some(resp)
}

fn refused(origin: &str) -> http::Response<Body> {
    let mut e = ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        format!("requests from the page at {origin} are not allowed"),
    );
    e.code = Some(std::borrow::Cow::Borrowed("origin_not_allowed"));
    e.into_response()
}

/// Whether `p` may be used from its page; the refusal when not.
pub fn check(cors: &Cors, p: &Principal) -> Result<(), Box<http::Response<Body>>> {
    match &p.origin {
        Some(o) if !cors.allows(o, p.cors_origins.as_deref()) => Err(Box::new(refused(o))),
        _ => Ok(()),
    }
}

/// The headers that let the page at `origin` read an answer.
pub fn allow(cors: &Cors, origin: &str, h: &mut http::HeaderMap) {
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if !cors.preflight_allows(origin) {
        return;
    }
    let value = if cors.any && !cors.credentials {
        "*"
    } else {
        origin
    };
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if cors.credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&cors.expose) {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
}
