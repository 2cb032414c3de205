//! The registry's admin API: `/admin/providers`, `/admin/models` and `/admin/prompts`
//! (`GET` the list, `POST` a new one; `GET`/`PATCH`/`DELETE` one by name; its
//! `versions`, one version, `rollback`, `adopt`; a provider's `verify`),
//! `POST /admin/credentials/rotate` and `GET /admin/config/export`. Every change goes
//! through `manage`, which validates, versions and audits it.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::manage::{self, Extras, ManageError, view};
use crate::registry::Kind;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

/// Whether `path` is one of these endpoints.
pub fn serves(path: &str) -> bool {
    ["/admin/providers", "/admin/models", "/admin/prompts"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        || path == "/admin/credentials/rotate"
        || path == "/admin/config/export"
}

/// What a path under `/admin/{kind}/{name}` asks for.
enum Sub {
    Object,
    Versions,
    Version(u32),
    Rollback,
    Adopt,
    Verify,
}

/// `/admin/{kind}[/{name}[/sub]]` → (kind, name, sub). Names may hold `/`: the
/// sub-resource is read from the end.
fn parse(path: &str) -> Option<(Kind, Option<String>, Sub)> {
    let rest = path.strip_prefix("/admin/")?;
    let (kind, rest) = match rest.split_once('/') {
        Some((k, r)) => (Kind::parse(k)?, r),
        None => return Some((Kind::parse(rest)?, None, Sub::Object)),
    };
    let (name, sub) = if let Some(n) = rest.strip_suffix("/versions") {
        (n, Sub::Versions)
    } else if let Some((n, v)) = rest.rsplit_once("/versions/")
        && let Ok(v) = v.parse()
    {
        (n, Sub::Version(v))
    } else if let Some(n) = rest.strip_suffix("/rollback") {
        (n, Sub::Rollback)
    } else if let Some(n) = rest.strip_suffix("/adopt") {
        (n, Sub::Adopt)
    } else if let Some(n) = rest
        .strip_suffix("/verify")
        .filter(|_| kind == Kind::Provider)
    {
        (n, Sub::Verify)
    } else {
        (rest, Sub::Object)
    };
    let name = String::from_utf8(crate::percent::decode(name.as_bytes())).ok()?;
    (!name.is_empty()).then_some((kind, Some(name), sub))
}

fn not_allowed(method: &Method, path: &str) -> http::Response<Body> {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("{method} is not allowed on {path}"),
    )
    .into_response()
}

fn json_body(body: &[u8]) -> Result<Value, Box<ApiError>> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(ApiError::invalid(
            format!("the body is not JSON: {e}"),
            None,
        ))
    })?;
    if !v.is_object() {
        return Err(Box::new(ApiError::invalid(
            "the body must be a JSON object",
            None,
        )));
    }
    Ok(v)
}

/// The fields of a body that steer the change rather than describe the object.
fn extras(body: &mut Value) -> Result<Extras, Box<ApiError>> {
    let o = body.as_object_mut().expect("checked an object");
    let text = |v: Option<Value>, field: &str| match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Box::new(ApiError::invalid(
            format!("'{field}' must be a string"),
            Some(field),
        ))),
    };
    let verify = match o.remove("verify") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            return Err(Box::new(ApiError::invalid(
                "'verify' must be true or false",
                Some("verify"),
            )));
        }
    };
    let api_key = text(o.remove("api_key"), "api_key")?;
    if api_key
        .as_ref()
        .is_some_and(|k| k.len() > 8192 || k.chars().any(char::is_control))
    {
        return Err(Box::new(ApiError::invalid(
            "'api_key' is not a key",
            Some("api_key"),
        )));
    }
    Ok(Extras {
        api_key,
        verify,
        verify_model: text(o.remove("verify_model"), "verify_model")?,
        expect: None,
    })
}

fn done(
    kind: Kind,
    gw: &Gateway,
    name: &str,
    d: manage::Done,
    status: StatusCode,
) -> http::Response<Body> {
    let body = manage::current(gw, kind, name).unwrap_or(Value::Null);
    let mut out = json!({
        kind.as_str(): view::object(gw, kind, name, &body),
        "version": view::version(&d.version, false),
    });
    if let Some(c) = d.verification {
        out["verified"] = json!(c.verified);
        out["verification"] = json!(c.said);
    }
    json_response(status, out)
}

fn failed(e: ManageError) -> http::Response<Body> {
    e.to_api().into_response()
}

/// Serves one registry request (the body already read).
pub async fn handle(
    gw: &Gateway,
    method: &Method,
    path: &str,
    body: bytes::Bytes,
    actor: &str,
) -> http::Response<Body> {
    if path == "/admin/config/export" {
        return export(gw, method);
    }
    if path == "/admin/credentials/rotate" {
        if method != Method::POST {
            return not_allowed(method, path);
        }
        return match manage::rotate(gw, actor).await {
            Ok(v) => json_response(StatusCode::OK, v),
            Err(e) => failed(e),
        };
    }
    let Some((kind, name, sub)) = parse(path) else {
        return ApiError::not_found(format!("Unknown admin URL: {path}")).into_response();
    };
    let mut body = match json_body(&body) {
        Ok(b) => b,
        Err(e) => return (*e).into_response(),
    };
    let Some(name) = name else {
        return match *method {
            Method::GET => json_response(StatusCode::OK, view::list(gw, kind)),
            Method::POST => create(gw, kind, body, actor).await,
            _ => not_allowed(method, path),
        };
    };
    let ex = match extras(&mut body) {
        Ok(x) => x,
        Err(e) => return (*e).into_response(),
    };
    one(gw, kind, &name, sub, method, path, body, ex, actor).await
}

/// What is asked of one object.
#[allow(clippy::too_many_arguments)]
async fn one(
    gw: &Gateway,
    kind: Kind,
    name: &str,
    sub: Sub,
    method: &Method,
    path: &str,
    body: Value,
    ex: Extras,
    actor: &str,
) -> http::Response<Body> {
    let ok = |d| done(kind, gw, name, d, StatusCode::OK);
    match (sub, method.clone()) {
        (Sub::Object, Method::GET) => match manage::current(gw, kind, name) {
            Some(b) => json_response(StatusCode::OK, view::object(gw, kind, name, &b)),
            None => ApiError::not_found(format!("no {} '{name}'", kind.as_str())).into_response(),
        },
        (Sub::Object, Method::PATCH) => manage::patch(gw, kind, name, body, actor, ex)
            .await
            .map_or_else(failed, ok),
        (Sub::Object, Method::DELETE) => match manage::delete(gw, kind, name, actor).await {
            Ok(d) => json_response(
                StatusCode::OK,
                json!({ "deleted": name, "version": view::version(&d.version, false) }),
            ),
            Err(e) => failed(e),
        },
        (Sub::Versions, Method::GET) => {
            json_response(StatusCode::OK, view::versions(gw, kind, name))
        }
        (Sub::Version(n), Method::GET) => version(gw, kind, name, n),
        (Sub::Rollback, Method::POST) => {
            let Some(n) = body.get("version").and_then(Value::as_u64) else {
                return ApiError::invalid("'version' (a number) is required", Some("version"))
                    .into_response();
            };
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            manage::rollback(gw, kind, name, n, actor)
                .await
                .map_or_else(failed, ok)
        }
        (Sub::Adopt, Method::POST) => manage::adopt(gw, kind, name, actor)
            .await
            .map_or_else(failed, ok),
        (Sub::Verify, Method::POST) => {
            let model = body
                .get("model")
                .and_then(Value::as_str)
                .or(ex.verify_model.as_deref());
            match manage::verify(gw, name, model).await {
                Ok(said) => json_response(
                    StatusCode::OK,
                    json!({ "verified": true, "verification": said }),
                ),
                Err(e) => failed(e),
            }
        }
        (_, m) => not_allowed(&m, path),
    }
}

async fn create(gw: &Gateway, kind: Kind, mut body: Value, actor: &str) -> http::Response<Body> {
    let name = match body.as_object_mut().and_then(|o| o.remove("name")) {
        Some(Value::String(n)) => n,
        _ => {
            return ApiError::invalid("'name' (a string) is required", Some("name"))
                .into_response();
        }
    };
    let ex = match extras(&mut body) {
        Ok(x) => x,
        Err(e) => return (*e).into_response(),
    };
    match manage::create(gw, kind, &name, body, actor, ex).await {
        Ok(d) => done(kind, gw, &name, d, StatusCode::CREATED),
        Err(e) => failed(e),
    }
}

fn version(gw: &Gateway, kind: Kind, name: &str, n: u32) -> http::Response<Body> {
    let snap = gw.registry.snapshot();
    match snap.version(kind, name, n) {
        Some(v) => json_response(StatusCode::OK, view::version(v, true)),
        None => ApiError::not_found(format!(
            "{} '{name}' has no version {n} (kept versions are bounded)",
            kind.as_str()
        ))
        .into_response(),
    }
}

/// `GET /admin/config/export`: the live config as a `config.toml`.
fn export(gw: &Gateway, method: &Method) -> http::Response<Body> {
    if method != Method::GET {
        return not_allowed(method, "/admin/config/export");
    }
    let Some(base) = gw.reload.base_config() else {
        return ApiError::not_found("this gateway has no config to export").into_response();
    };
    match crate::registry::layer::export(&base, &gw.registry.snapshot()) {
        Ok(text) => {
            let mut r = http::Response::new(crate::server::full(bytes::Bytes::from(text)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/toml; charset=utf-8"),
            );
            r
        }
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            e.to_string(),
        )
        .into_response(),
    }
}
