//! How the admin API and the console see registry objects: each provider, model and
//! prompt of the live config (the file's and the registry's) with its origin, version,
//! body, and — for providers — the credential's status (set, from env, missing; its
//! last four characters and when it was set and verified, never the key), for models
//! their state; and their versions.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::registry::{Kind, Snapshot, Version, layer};

/// Every object of `kind` by name, as its table in the layered config (pins left out).
pub fn bodies(gw: &Gateway, kind: Kind) -> BTreeMap<String, Value> {
    let Some(base) = gw.reload.base_config() else {
        return BTreeMap::new();
    };
    let snap = gw.registry.snapshot();
    let Ok(t) = layer::compose_table(&base, &snap, false) else {
        return BTreeMap::new();
    };
    let mut out: BTreeMap<String, Value> = match t.get(kind.table()) {
        Some(toml::Value::Table(s)) => s
            .iter()
            .map(|(k, v)| (k.clone(), crate::config::route_params::json(v)))
            .collect(),
        _ => BTreeMap::new(),
    };
    // A sealed key is read through `@registry/NAME`: how it is read, not the object's
    // own (a PATCH starts from the object as it was written).
    for b in out.values_mut() {
        let sealed = b
            .get("api_key_env")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with(layer::CREDENTIAL_VAR));
        if let (true, Some(o)) = (sealed, b.as_object_mut()) {
            o.remove("api_key_env");
        }
    }
    out
}

fn credential(gw: &Gateway, snap: &Snapshot, name: &str, body: &Value) -> Value {
    if let Some(c) = snap.credentials.get(name) {
        let status = if snap.opened.contains_key(name) {
            "set"
        } else {
            "unreadable"
        };
        return json!({ "status": status, "last4": (!c.last4.is_empty()).then_some(&c.last4),
                        "set_at": c.set_at, "verified_at": c.verified_at, "key_id": c.key_id });
    }
    let Some(var) = body.get("api_key_env").and_then(Value::as_str) else {
        return json!({ "status": "none" });
    };
    let live = gw.live.load();
    let set = live
        .providers
        .get(name)
        .is_some_and(|p| p.provider.api_key.is_some());
    json!({ "status": if set { "env" } else { "missing" }, "env": var })
}

/// One object as the API shows it.
pub fn object(gw: &Gateway, kind: Kind, name: &str, body: &Value) -> Value {
    let snap = gw.registry.snapshot();
    let latest = snap.latest(kind, name);
    let owned = snap.owned.contains_key(&(kind, name.to_string()));
    let mut v = json!({
        "name": name,
        "origin": if owned { "registry" } else { "file" },
        "version": latest.map(|v| v.version),
        "updated": latest.map(|v| v.at),
        "actor": latest.map(|v| v.actor.clone()),
        "body": body,
    });
    let live = gw.live.load();
    // Whether the live state has it (a registry object that no longer validates with
    // the file is left out until it does).
    v["in_force"] = json!(match kind {
        Kind::Provider => live.config.providers.contains_key(name),
        Kind::Model => live.config.routes.contains_key(name),
        Kind::Prompt => live.config.prompts.contains_key(name),
    });
    match kind {
        Kind::Provider => {
            v["credential"] = credential(gw, &snap, name, body);
            let p = live.providers.get(name);
            v["active"] = json!(p.is_some_and(|p| p.provider.inactive.is_none()));
            v["inactive"] = json!(p.and_then(|p| p.provider.inactive.clone()));
        }
        Kind::Model => {
            let now = crate::pipeline::now_secs() as i64;
            let r = live.config.routes.get(name);
            v["state"] = json!(r.map(|r| r.lifecycle.state_at(now).as_str()));
        }
        Kind::Prompt => {
            v["variables"] = json!(crate::manage::prompts::variables_of(body));
        }
    }
    v
}

/// `GET /admin/{kind}`.
pub fn list(gw: &Gateway, kind: Kind) -> Value {
    let items: Vec<Value> = bodies(gw, kind)
        .iter()
        .map(|(name, body)| object(gw, kind, name, body))
        .collect();
    json!({ kind.table(): items })
}

/// A version as listed (`body` only when asked for one).
pub fn version(v: &Version, with_body: bool) -> Value {
    let mut out = json!({ "version": v.version, "at": v.at, "actor": v.actor,
                          "origin": v.origin, "deleted": v.body.is_none(), "diff": v.diff });
    if with_body {
        out["body"] = json!(v.body);
    }
    out
}

/// `GET /admin/{kind}/{name}/versions`: newest first.
pub fn versions(gw: &Gateway, kind: Kind, name: &str) -> Value {
    let snap = gw.registry.snapshot();
    let list: Vec<Value> = snap
        .versions
        .get(&(kind, name.to_string()))
        .map(|vs| vs.iter().rev().map(|v| version(v, false)).collect())
        .unwrap_or_default();
    json!({ "name": name, "versions": list })
}
