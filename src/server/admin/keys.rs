//! `/admin/keys`: virtual keys made, read, changed, rotated and revoked at run time.
//! `POST /admin/keys` makes one (the secret is in that answer only); `GET` lists them
//! (never a secret or its digest); `GET|PATCH|DELETE /admin/keys/{id}` reads, changes
//! or revokes one; `POST /admin/keys/{id}/rotate` gives it a new secret (the old one
//! stops working at once here, within a second on other replicas); `GET
//! /admin/keys/{id}/limits` reads the budgets, quotas and limits that follow it (as
//! `/v1/me` does for the key itself). A team role reaches its team's keys only (a
//! member: the keys they made).

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::access::people::{Actor, Scope};
use crate::access::vkeys::{VKey, new_secret, now_secs};
use crate::gateway::Gateway;
use crate::live::LiveState;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

fn bad(message: impl Into<String>) -> http::Response<Body> {
    ApiError::invalid(message, None).into_response()
}

fn forbidden(message: impl Into<String>) -> http::Response<Body> {
    ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
        .with_code("role_forbidden")
        .into_response()
}

fn plain(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn handle(
    gw: &Gateway,
    live: &LiveState,
    method: &Method,
    path: &str,
    body: Bytes,
    actor: &Actor,
) -> http::Response<Body> {
    if !gw.vkeys.enabled() {
        return bad("virtual keys are kept in the store: configure [store]");
    }
    let rest: Vec<&str> = path
        .trim_start_matches("/admin/keys")
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let body: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("the request body must be a JSON object"),
        }
    };
    match (method, rest.as_slice()) {
        (&Method::GET, []) => {
            let spend = spend_by_key(gw).await;
            let keys: Vec<_> = gw
                .vkeys
                .list()
                .iter()
                .filter(|k| in_scope(actor, k))
                .map(|k| {
                    let mut v = json!(**k);
                    v["spend_30d"] = spend.as_ref().map_or(Value::Null, |s| {
                        json!(s.get(&k.name).copied().unwrap_or(0.0))
                    });
                    v
                })
                .collect();
            json_response(StatusCode::OK, json!({ "keys": keys }))
        }
        (&Method::POST, []) => create(gw, live, &body, actor).await,
        (&Method::GET, [id]) => match gw.vkeys.get(id) {
            Some(k) if !in_scope(actor, &k) => out_of_scope(actor, id),
            Some(k) => json_response(StatusCode::OK, json!({ "key": *k })),
            None => not_found(id),
        },
        (&Method::PATCH, [id]) => change(gw, live, id, &body, (Change::Fields, actor)).await,
        (&Method::DELETE, [id]) => change(gw, live, id, &body, (Change::Revoke, actor)).await,
        (&Method::GET, [id, "limits"]) => match gw.vkeys.get(id) {
            Some(k) if !in_scope(actor, &k) => out_of_scope(actor, id),
            Some(k) => {
                let p = k.principal(&live.config.teams);
                let policies = crate::server::me::policies(gw, &p).await;
                json_response(
                    StatusCode::OK,
                    json!({ "key": k.name, "user": k.user, "policies": policies }),
                )
            }
            None => not_found(id),
        },
        (&Method::POST, [id, "rotate"]) => {
            change(gw, live, id, &body, (Change::Rotate, actor)).await
        }
        _ => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{method} is not allowed on {path}"),
        )
        .into_response(),
    }
}

/// What each key spent over the last 30 days, from the usage records (`None` when
/// usage is not recorded).
async fn spend_by_key(gw: &Gateway) -> Option<std::collections::HashMap<String, f64>> {
    let w = gw.usage.sink()?;
    let q = crate::usage::query::Query::parse(Some("days=30&group=key"), now_secs()).ok()?;
    let rows = w.query(&q).await.ok()?;
    Some(
        rows.iter()
            .filter_map(|r| Some((r["key"].as_str()?.to_string(), r["cost_usd"].as_f64()?)))
            .collect(),
    )
}

/// Whether `actor`'s role reaches key `k`: every key, its team's, or its own.
fn in_scope(actor: &Actor, k: &VKey) -> bool {
    match actor.role.scope() {
        Scope::All => true,
        Scope::Team(t) => k.team.as_deref() == Some(&t),
        Scope::Own(t) => k.team.as_deref() == Some(&t) && k.owner.as_deref() == actor.person(),
    }
}

fn out_of_scope(actor: &Actor, id: &str) -> http::Response<Body> {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        format!(
            "key '{id}' is not within what the role {} may manage",
            actor.role
        ),
    )
    .with_code("role_forbidden")
    .into_response()
}

/// What a team role may set on a key of its team: the team (its own), models within
/// the team's list (the team's list when none is given), no policies.
fn team_bounds(live: &LiveState, actor: &Actor, k: &mut VKey, body: &Value) -> Result<(), String> {
    let Some(team) = actor.role.team() else {
        return Ok(());
    };
    if k.team.as_deref() != Some(team) {
        return Err(format!(
            "the role {} manages keys of team '{team}' only",
            actor.role
        ));
    }
    // What decides which policies hold and for whom: an admin's or operator's to set.
    if let Some(f) = ["policies", "tags", "user", "user_from"]
        .iter()
        .find(|f| body.get(**f).is_some())
    {
        return Err(format!("only an admin or operator sets a key's {f}"));
    }
    // A key's own budget: a team admin's to set within the team's cap (never to
    // remove: the key would fall back to the policy's own limit).
    if let Some(b) = body.get("budget") {
        let cap = live.config.teams.get(team).and_then(|t| t.key_budget_cap);
        let asked = k.budget.unwrap_or(0.0);
        match cap {
            _ if !matches!(actor.role, crate::access::people::Role::TeamAdmin(_)) => {
                return Err("a team admin sets a key's budget, within the team's cap".into());
            }
            _ if b.is_null() => {
                return Err(
                    "a team admin changes a key's budget within the cap; an admin removes it"
                        .into(),
                );
            }
            None => {
                return Err(format!(
                    "team '{team}' has no key_budget_cap: an admin sets one first"
                ));
            }
            Some(cap) if asked > cap => {
                return Err(format!(
                    "a budget of {asked} is above team '{team}''s cap of {cap}"
                ));
            }
            Some(_) => {}
        }
    }
    let allowed = live.config.teams.get(team).and_then(|t| t.models.clone());
    if let Some(allowed) = allowed {
        match &k.models {
            None => k.models = Some(allowed),
            Some(m) => {
                if let Some(out) = m.iter().find(|m| !allowed.contains(m)) {
                    return Err(format!(
                        "model '{out}' is not in team '{team}''s model list"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn not_found(id: &str) -> http::Response<Body> {
    ApiError::not_found(format!("no virtual key with id '{id}'")).into_response()
}

/// Sets on `k` whom its requests are for (`user`, `user_from`) and its own `budget`,
/// as `body` names them (a null clears one), checked.
fn apply_end_user_and_budget(
    live: &LiveState,
    k: &mut VKey,
    o: &Map<String, Value>,
) -> Result<(), String> {
    if let Some(u) = o.get("user") {
        k.user = match u {
            Value::Null => None,
            Value::String(s) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
            _ => return Err("user must be the end user's id (1 to 256 characters) or null".into()),
        };
    }
    if let Some(b) = o.get("budget") {
        k.budget = match b {
            Value::Null => None,
            v => Some(
                v.as_f64()
                    .filter(|b| *b > 0.0 && b.is_finite())
                    .ok_or("budget must be an amount of money above 0, or null")?,
            ),
        };
    }
    if let Some(u) = o.get("user_from") {
        k.user_from_jwt = match u.as_str() {
            Some("jwt") if live.config.auth.end_users.is_some() => true,
            Some("jwt") => {
                return Err("user_from \"jwt\" needs [auth.end_users] in the config".into());
            }
            Some("body") => false,
            _ => return Err("user_from must be \"jwt\" or \"body\"".into()),
        };
    }
    Ok(())
}

/// Sets on `k` the fields `body` names (a null clears one), checked.
fn apply(live: &LiveState, k: &mut VKey, body: &Value) -> Result<(), String> {
    let o = body.as_object().expect("checked to be an object");
    if let Some(t) = o.get("team") {
        k.team = match t {
            Value::Null => None,
            Value::String(s) if plain(s, 64) => Some(s.clone()),
            _ => return Err("team must be a name of letters, digits, '.', '_' or '-'".into()),
        };
    }
    if let Some(m) = o.get("models") {
        k.models = match m {
            Value::Null => None,
            Value::Array(a) => {
                let mut models = Vec::new();
                for m in a {
                    let m = m.as_str().ok_or("models must be route names")?;
                    if !live.config.routes.contains_key(m) {
                        return Err(format!("models: unknown model '{m}'"));
                    }
                    models.push(m.to_string());
                }
                Some(models)
            }
            _ => return Err("models must be a list of route names".into()),
        };
    }
    if let Some(t) = o.get("tags") {
        let tags: Vec<String> = serde_json::from_value(t.clone())
            .map_err(|_| "tags must be a list of strings".to_string())?;
        if let Some(t) = tags.iter().find(|t| t.starts_with("switchboard:")) {
            return Err(format!(
                "tags: '{t}': tags beginning with switchboard: are the gateway's own"
            ));
        }
        if tags.len() > 32 || tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            return Err("tags: at most 32, each 1 to 64 characters".into());
        }
        k.tags = tags;
    }
    if let Some(p) = o.get("policies") {
        let names: Vec<String> = serde_json::from_value(p.clone())
            .map_err(|_| "policies must be a list of [policies] names".to_string())?;
        if let Some(n) = names.iter().find(|n| !live.policies.contains_key(*n)) {
            return Err(format!("policies: '{n}' is not a [policies] entry"));
        }
        k.policies = names;
    }
    apply_end_user_and_budget(live, k, o)?;
    if let Some(m) = o.get("metadata") {
        if !m.is_object() || m.to_string().len() > 4096 {
            return Err("metadata must be an object of at most 4096 bytes".into());
        }
        k.metadata = m.clone();
    }
    match (o.get("expires_at"), o.get("expires_in")) {
        (Some(_), Some(_)) => return Err("set expires_at or expires_in, not both".into()),
        (Some(Value::Null), None) => k.expires_at = None,
        (Some(e), None) => {
            k.expires_at = Some(e.as_u64().ok_or("expires_at must be unix seconds")?)
        }
        (None, Some(e)) => {
            let secs = e.as_u64().ok_or("expires_in must be a number of seconds")?;
            k.expires_at = Some(now_secs().saturating_add(secs));
        }
        (None, None) => {}
    }
    Ok(())
}

/// `POST /admin/keys`: a new key and its secret, shown this once.
async fn create(
    gw: &Gateway,
    live: &LiveState,
    body: &Value,
    actor: &Actor,
) -> http::Response<Body> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if !plain(&name, 64) {
        return bad("name is required: 1 to 64 letters, digits, '.', '_' or '-'");
    }
    let taken = live.config.keys.iter().any(|k| k.name == name)
        || gw
            .vkeys
            .list()
            .iter()
            .any(|k| k.name == name && k.revoked_at.is_none());
    if taken {
        return ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("a key named '{name}' exists"),
        )
        .into_response();
    }
    let secret = new_secret();
    let mut k = VKey {
        id: format!("vk_{}", hex::encode(rand::random::<[u8; 8]>())),
        name,
        hash: Sha256::digest(secret.as_bytes()).into(),
        team: None,
        models: None,
        tags: Vec::new(),
        policies: Vec::new(),
        metadata: json!({}),
        expires_at: None,
        created_at: now_secs(),
        revoked_at: None,
        updated: 0,
        owner: actor.person().map(str::to_string),
        user: None,
        user_from_jwt: false,
        budget: None,
    };
    k.team = actor.role.team().map(str::to_string);
    if let Err(e) = apply(live, &mut k, body) {
        return bad(e);
    }
    if let Err(e) = team_bounds(live, actor, &mut k, body) {
        return forbidden(e);
    }
    match gw.vkeys.save(k).await {
        Ok(k) => {
            let after = Some(json!(*k));
            let label = actor.label();
            super::control::audit(gw, &label, "key.create", &k.id, None, after).await;
            json_response(StatusCode::CREATED, json!({ "key": *k, "secret": secret }))
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

enum Change {
    Fields,
    Rotate,
    Revoke,
}

/// `PATCH`, `rotate` or `DELETE` of key `id` (a revoked key stays revoked).
async fn change(
    gw: &Gateway,
    live: &LiveState,
    id: &str,
    body: &Value,
    (what, actor): (Change, &Actor),
) -> http::Response<Body> {
    let Some(current) = gw.vkeys.get(id) else {
        return not_found(id);
    };
    if !in_scope(actor, &current) {
        return out_of_scope(actor, id);
    }
    if current.revoked_at.is_some() {
        return ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("key '{id}' is revoked"),
        )
        .into_response();
    }
    let mut k = (*current).clone();
    let mut secret = None;
    let action = match what {
        Change::Fields => "key.update",
        Change::Rotate => "key.rotate",
        Change::Revoke => "key.revoke",
    };
    match what {
        Change::Fields => {
            if let Err(e) = apply(live, &mut k, body) {
                return bad(e);
            }
            if let Err(e) = team_bounds(live, actor, &mut k, body) {
                return forbidden(e);
            }
        }
        Change::Rotate => {
            let s = new_secret();
            k.hash = Sha256::digest(s.as_bytes()).into();
            secret = Some(s);
        }
        Change::Revoke => k.revoked_at = Some(now_secs()),
    }
    match gw.vkeys.save(k).await {
        Ok(k) => {
            let (before, after) = (Some(json!(*current)), Some(json!(*k)));
            super::control::audit(gw, &actor.label(), action, id, before, after).await;
            let mut out = json!({ "key": *k });
            if let Some(s) = secret {
                out["secret"] = json!(s);
            }
            json_response(StatusCode::OK, out)
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}
