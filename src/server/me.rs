//! `GET /v1/me`: a key asks about itself — its name, whether it is a config or a
//! virtual key, its team, the models it may use (`null`: all), its tags, when it
//! expires, and each budget that follows it onto every route (the gateway's, its
//! own, its team's): limit, spent, remaining and when it resets. A budget is read by
//! asking it about a request that costs nothing (nothing is reserved or counted); a
//! budget kept per route shows on that route's answers instead.

use serde_json::{Value, json};

use super::Body;
use super::routes::json_response;
use crate::config::PluginSource;
use crate::gateway::Gateway;
use crate::live::Principal;
use crate::plugins::calls;
use crate::types::{Decision, PolicyRequest};

/// A budget's figures from the headers it answers with.
fn figures(name: &str, headers: &[crate::types::Header]) -> Value {
    let get = |n: &str| {
        headers
            .iter()
            .find(|h| h.name == n)
            .map(|h| h.value.clone())
    };
    let num = |n: &str| get(n).and_then(|v| v.parse::<f64>().ok());
    let (limit, remaining) = (
        num("x-switchboard-budget-limit"),
        num("x-switchboard-budget-remaining"),
    );
    json!({
        "name": name,
        "limit": limit,
        // What was really spent, over the limit if it ever is (a budget that says
        // so); else what the remaining amount implies.
        "spent": num("x-switchboard-budget-spent")
            .or_else(|| limit.zip(remaining).map(|(l, r)| ((l - r) * 1e6).round() / 1e6)),
        "remaining": remaining,
        "resets": get("x-switchboard-budget-reset"),
    })
}

/// The budgets (`builtin:budget` policies) that follow this key onto every route.
async fn budgets(gw: &Gateway, p: &Principal) -> Vec<Value> {
    let live = gw.live.load_full();
    let probe = PolicyRequest {
        request_id: "me".into(),
        key_name: p.key_name.clone(),
        team: p.team.clone(),
        user: None,
        route: String::new(),
        tags: p.tags.clone(),
        n: 1,
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
        if policy.spec.source != PluginSource::Builtin("budget".into()) {
            continue;
        }
        let headers = match calls::check(&policy.pool, &probe, &counting).await {
            Ok(Decision::Allow(h)) => h,
            Ok(Decision::Deny(d)) => d.headers,
            Err(e) => {
                out.push(json!({ "name": name, "error": e.to_string() }));
                continue;
            }
        };
        out.push(figures(name, &headers));
    }
    out
}

pub async fn me(gw: &Gateway, p: &Principal) -> http::Response<Body> {
    let virtual_key = gw
        .vkeys
        .list()
        .into_iter()
        .find(|k| k.name == p.key_name && k.revoked_at.is_none());
    let budgets = budgets(gw, p).await;
    json_response(
        http::StatusCode::OK,
        json!({
            "object": "key",
            "name": p.key_name,
            "kind": if virtual_key.is_some() { "virtual" } else { "config" },
            "team": p.team,
            "models": p.models,
            "tags": p.tags,
            "expires_at": virtual_key.and_then(|k| k.expires_at),
            "budgets": budgets,
        }),
    )
}
