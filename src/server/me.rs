//! `GET /v1/me`: a key asks about itself — its name, whether it is a config or a
//! virtual key, its team, its end user (bound to the key, or proven by a token), the
//! models it may use (`null`: all), its tags, when it expires, and every policy that
//! follows it onto every route (the gateway's, its own, its team's): budgets, token
//! quotas and request limits, each with its limit, use, remaining and reset. A policy
//! is read by asking it about a request for no choice at no cost (nothing is reserved
//! or counted); a policy kept per route shows on that route's answers instead.

use serde_json::{Value, json};

use super::Body;
use super::wire::json_response;
use crate::config::PluginSource;
use crate::gateway::Gateway;
use crate::live::Principal;
use crate::plugins::calls;
use crate::types::{Decision, PolicyRequest};

/// The builtins `/v1/me` reads, and the headers each says its figures in: (limit,
/// remaining, reset).
const READ: &[(&str, &str, [&str; 3])] = &[
    (
        "budget",
        "budget",
        [
            "x-switchboard-budget-limit",
            "x-switchboard-budget-remaining",
            "x-switchboard-budget-reset",
        ],
    ),
    (
        "token-quota",
        "token_quota",
        [
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ],
    ),
    (
        "request-limit",
        "request_limit",
        [
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ],
    ),
];

/// A policy's figures from the headers it answers with.
fn figures(name: &str, kind: &str, names: [&str; 3], headers: &[crate::types::Header]) -> Value {
    let get = |n: &str| {
        headers
            .iter()
            .find(|h| h.name == n)
            .map(|h| h.value.clone())
    };
    let num = |n: &str| get(n).and_then(|v| v.parse::<f64>().ok());
    let (limit, remaining) = (num(names[0]), num(names[1]));
    // What was really spent, over the limit if it ever is (a budget that says so);
    // else what the remaining amount implies.
    let used = num("x-switchboard-budget-spent")
        .filter(|_| kind == "budget")
        .or_else(|| {
            limit
                .zip(remaining)
                .map(|(l, r)| ((l - r) * 1e6).round() / 1e6)
        });
    let mut v = json!({
        "name": name,
        "kind": kind,
        "limit": limit,
        "used": used,
        "remaining": remaining,
        "resets": get(names[2]),
    });
    if kind == "budget" {
        v["spent"] = v["used"].clone();
    }
    v
}

/// The policies (budgets, token quotas, request limits) that follow this key onto
/// every route, read for its end user.
pub(super) async fn policies(gw: &Gateway, p: &Principal) -> Vec<Value> {
    let live = gw.live.load_full();
    let probe = PolicyRequest {
        request_id: "me".into(),
        key_name: p.key_name.clone(),
        team: p.team.clone(),
        user: p.user.clone().or_else(|| p.verified_user.clone()),
        route: String::new(),
        tags: p.tags.clone(),
        n: 0,
        estimated_input_tokens: 0,
        max_output_tokens: Some(0),
        stream: false,
    };
    let counting = calls::Counting {
        at: crate::pipeline::now_secs(),
        caller: p.key_name.as_str().into(),
    };
    let mut out = Vec::new();
    for policy in live.principal_policies(p) {
        let name = &policy.spec.name;
        let PluginSource::Builtin(b) = &policy.spec.source else {
            continue;
        };
        let Some((_, kind, names)) = READ.iter().find(|(n, _, _)| n == b) else {
            continue;
        };
        let headers = match calls::check(&policy.pool, &probe, &counting).await {
            Ok(Decision::Allow(h)) => h,
            Ok(Decision::Deny(d)) => d.headers,
            Err(e) => {
                out.push(json!({ "name": name, "kind": kind, "error": e.to_string() }));
                continue;
            }
        };
        out.push(figures(name, kind, *names, &headers));
    }
    out
}

pub async fn me(gw: &Gateway, p: &Principal) -> http::Response<Body> {
    let virtual_key = gw
        .vkeys
        .list()
        .into_iter()
        .find(|k| k.name == p.key_name && k.revoked_at.is_none());
    let all = policies(gw, p).await;
    let budgets: Vec<Value> = all
        .iter()
        .filter(|v| v["kind"] == "budget")
        .cloned()
        .collect();
    let (user, verified) = match (&p.user, &p.verified_user) {
        (Some(u), _) => (Some(u.clone()), "key"),
        (None, Some(u)) => (Some(u.clone()), "token"),
        (None, None) => (None, "none"),
    };
    json_response(
        http::StatusCode::OK,
        json!({
            "object": "key",
            "name": p.key_name,
            "kind": if virtual_key.is_some() { "virtual" } else { "config" },
            "team": p.team,
            "user": user,
            "user_from": verified,
            "models": p.models,
            "tags": p.tags,
            "expires_at": virtual_key.and_then(|k| k.expires_at),
            "budgets": budgets,
            "policies": all,
        }),
    )
}
