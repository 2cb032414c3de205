//! People and what they sign in with, through the admin API. `/admin/people` (admin
//! only): list, add a local account, change a role or password, disable (which ends
//! the person's sessions and tokens at once, on every replica within a second) or
//! enable. `/admin/sessions` and `/admin/tokens`: anyone's own (an admin's: everyone's)
//! sessions and personal API tokens — listed, ended; a token made with a role no higher
//! than its maker's, an expiry, its secret shown once and kept as a SHA-256 only.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::access::people::{Actor, GrantKind, MAX_TOKENS, Origin, Role};
use crate::gateway::Gateway;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

/// Longest a personal token may live, and its default.
const TOKEN_MAX_SECS: u64 = 366 * 86_400;
const TOKEN_DEFAULT_SECS: u64 = 30 * 86_400;

pub fn serves(path: &str) -> bool {
    ["/admin/people", "/admin/sessions", "/admin/tokens"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

fn bad(message: impl Into<String>) -> http::Response<Body> {
    ApiError::invalid(message, None).into_response()
}

fn failed(e: String) -> http::Response<Body> {
    ApiError::internal(e).into_response()
}

use crate::access::people::plain_name;

pub async fn handle(
    gw: &Gateway,
    method: &Method,
    path: &str,
    body: Bytes,
    actor: &Actor,
) -> http::Response<Body> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("the request body must be a JSON object"),
        }
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts
        .get(2)
        .map(|n| String::from_utf8_lossy(&crate::percent::decode(n.as_bytes())).into_owned());
    let label = actor.label();
    match (method, parts.get(1).copied(), name) {
        (&Method::GET, Some("people"), None) => people(gw),
        (&Method::POST, Some("people"), None) => add(gw, &body, &label).await,
        (&Method::GET, Some("people"), Some(n)) => match gw.people.person(&n) {
            Some(p) => json_response(StatusCode::OK, person_json(gw, &p)),
            None => no_person(&n),
        },
        (&Method::PATCH, Some("people"), Some(n)) => change(gw, &n, &body, &label).await,
        (&Method::DELETE, Some("people"), Some(n)) => {
            change(gw, &n, &json!({ "disabled": true }), &label).await
        }
        (&Method::GET, Some(kind @ ("sessions" | "tokens")), None) => list(gw, actor, kind),
        (&Method::POST, Some("tokens"), None) => new_token(gw, actor, &body).await,
        (&Method::DELETE, Some(kind @ ("sessions" | "tokens")), Some(id)) => {
            end(gw, actor, kind, &id).await
        }
        _ => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{method} is not allowed on {path}"),
        )
        .into_response(),
    }
}

fn no_person(name: &str) -> http::Response<Body> {
    ApiError::not_found(format!("no person named '{name}'")).into_response()
}

fn person_json(gw: &Gateway, p: &crate::access::people::Person) -> Value {
    let live = |kind| {
        gw.people
            .grants(Some(&p.name), kind)
            .iter()
            .filter(|g| g.revoked_at.is_none() && g.expires_at > crate::access::people::now())
            .count()
    };
    let mut v = json!(p);
    v["sessions"] = json!(live(GrantKind::Session));
    v["tokens"] = json!(live(GrantKind::Token));
    v
}

fn people(gw: &Gateway) -> http::Response<Body> {
    let list: Vec<_> = gw
        .people
        .list()
        .iter()
        .map(|p| person_json(gw, p))
        .collect();
    json_response(StatusCode::OK, json!({ "people": list }))
}

fn role_of(v: &Value) -> Result<Option<Role>, String> {
    match v.get("role") {
        None => Ok(None),
        Some(Value::String(r)) => Role::parse(r).map(Some).ok_or_else(|| {
            format!(
                "'{r}' is not a role: admin, operator, viewer, team-admin:TEAM or team-member:TEAM"
            )
        }),
        Some(_) => Err("role must be a string".into()),
    }
}

/// `POST /admin/people`: a local account.
async fn add(gw: &Gateway, body: &Value, actor: &str) -> http::Response<Body> {
    let name = body["name"].as_str().unwrap_or_default();
    if !plain_name(name) {
        return bad("name is required: 1 to 128 letters, digits, '.', '_', '-', '@' or '+'");
    }
    let role = match role_of(body) {
        Ok(Some(r)) => r,
        Ok(None) => return bad("role is required"),
        Err(e) => return bad(e),
    };
    let Some(password) = body["password"].as_str() else {
        return bad("password is required");
    };
    if gw.people.person(name).is_some() {
        return ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("there is already a person named '{name}'"),
        )
        .into_response();
    }
    if let Err(e) = gw.people.add(name, &role, password).await {
        return bad(e);
    }
    let after = json!({ "name": name, "role": role });
    super::control::audit(gw, actor, "person.create", name, None, Some(after)).await;
    match gw.people.person(name) {
        Some(p) => json_response(StatusCode::CREATED, json!({ "person": p })),
        None => failed("the person vanished".into()),
    }
}

/// `PATCH /admin/people/{name}`: `role`, `password` (local accounts), `disabled`.
async fn change(gw: &Gateway, name: &str, body: &Value, actor: &str) -> http::Response<Body> {
    let Some(before) = gw.people.person(name) else {
        return no_person(name);
    };
    let role = match role_of(body) {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let disabled = match body.get("disabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return bad("disabled must be true or false"),
    };
    let password = body.get("password").map(|p| p.as_str());
    if password.is_some() && before.origin == Origin::Sso {
        return bad("this person signs in through single sign-on: no password is kept");
    }
    // Everything checked before anything is written.
    match password {
        Some(None) => return bad("password must be a string"),
        Some(Some(p)) => {
            if let Err(e) = crate::access::people::password::acceptable(p) {
                return bad(e);
            }
        }
        None => {}
    }
    let done = async {
        if let Some(r) = &role {
            gw.people.set_role(name, r).await?;
        }
        if let Some(Some(p)) = password {
            gw.people.set_password(name, p).await?;
        }
        if let Some(d) = disabled {
            gw.people.set_disabled(name, d).await?;
        }
        Ok::<(), String>(())
    };
    if let Err(e) = done.await {
        return bad(e);
    }
    let after = gw.people.person(name);
    let action = match disabled {
        Some(true) => "person.disable",
        Some(false) => "person.enable",
        None => "person.update",
    };
    let mut said = json!(after);
    if password.is_some() {
        said["password"] = json!("changed");
    }
    super::control::audit(gw, actor, action, name, Some(json!(before)), Some(said)).await;
    json_response(StatusCode::OK, json!({ "person": after }))
}

/// The sessions or tokens the actor may see: their own, or (an admin) everyone's.
fn list(gw: &Gateway, actor: &Actor, kind: &str) -> http::Response<Body> {
    let kind_of = if kind == "tokens" {
        GrantKind::Token
    } else {
        GrantKind::Session
    };
    let whose = if actor.role == Role::Admin {
        None
    } else {
        Some(actor.person().unwrap_or_default())
    };
    let list = gw.people.grants(whose, kind_of);
    json_response(StatusCode::OK, json!({ kind: list }))
}

/// `POST /admin/tokens`: `label`, `role` (default: the maker's), `expires_in` seconds.
async fn new_token(gw: &Gateway, actor: &Actor, body: &Value) -> http::Response<Body> {
    let Some(person) = actor.person() else {
        return bad("personal tokens are a person's: sign in as one (the admin token has none)");
    };
    // A token makes no tokens: a leaked one cannot outlive its own revocation.
    if !matches!(actor.via, crate::access::people::Via::Session { .. }) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "personal tokens are made in a console session, not with another token",
        )
        .with_code("role_forbidden")
        .into_response();
    }
    let role = match role_of(body) {
        Ok(r) => r.unwrap_or_else(|| actor.role.clone()),
        Err(e) => return bad(e),
    };
    if !actor.role.covers(&role) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!(
                "a token's role is no higher than its maker's ({})",
                actor.role
            ),
        )
        .with_code("role_forbidden")
        .into_response();
    }
    let label = match body.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if plain_name(l) && l.len() <= 64 => Some(l.clone()),
        Some(_) => return bad("label: 1 to 64 letters, digits, '.', '_' or '-'"),
    };
    let ttl = match body.get("expires_in") {
        None => TOKEN_DEFAULT_SECS,
        Some(v) => match v.as_u64() {
            Some(s) if (60..=TOKEN_MAX_SECS).contains(&s) => s,
            _ => return bad("expires_in: seconds, from 60 to one year"),
        },
    };
    let live = gw
        .people
        .grants(Some(person), GrantKind::Token)
        .iter()
        .filter(|g| g.revoked_at.is_none() && g.expires_at > crate::access::people::now())
        .count();
    if live >= MAX_TOKENS {
        return bad(format!(
            "at most {MAX_TOKENS} live tokens per person: revoke one first"
        ));
    }
    let kind = GrantKind::Token;
    match gw
        .people
        .open(kind, person, &role, "token", label, ttl)
        .await
    {
        Ok((secret, g)) => {
            let after = json!({ "id": g.id, "role": g.role, "expires_at": g.expires_at });
            let label = actor.label();
            super::control::audit(gw, &label, "token.create", &g.id, None, Some(after)).await;
            json_response(StatusCode::CREATED, json!({ "token": g, "secret": secret }))
        }
        Err(e) => failed(e),
    }
}

/// `DELETE /admin/{sessions|tokens}/{id}`: one's own, or (an admin) anyone's.
async fn end(gw: &Gateway, actor: &Actor, kind: &str, id: &str) -> http::Response<Body> {
    let want = if kind == "tokens" {
        GrantKind::Token
    } else {
        GrantKind::Session
    };
    let Some(g) = gw.people.grant(id).filter(|g| g.kind == want) else {
        return ApiError::not_found(format!("no {} '{id}'", &kind[..kind.len() - 1]))
            .into_response();
    };
    if actor.role != Role::Admin && actor.person() != Some(g.person.as_str()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!("{} '{id}' is someone else's", &kind[..kind.len() - 1]),
        )
        .with_code("role_forbidden")
        .into_response();
    }
    match gw.people.revoke(id).await {
        Ok(_) => {
            let action = if want == GrantKind::Token {
                "token.revoke"
            } else {
                "session.revoke"
            };
            super::control::audit(gw, &actor.label(), action, id, None, None).await;
            json_response(StatusCode::OK, json!({ "revoked": id }))
        }
        Err(e) => failed(e),
    }
}
