//! What a change to the registry must respect beyond the config's own validation: a
//! provider made at run time reads a key from a variable only where the file's own
//! providers send that variable to the same host (or `[store] registry_env` lists it),
//! an object in use is not deleted, and the file's objects are the file's until
//! adopted.

use serde_json::Value;

use super::{ManageError, file_name};
use crate::gateway::Gateway;
use crate::registry::{Kind, Snapshot, layer};

/// A provider made at run time may read a key from a variable only where a provider of
/// the file sends that variable to the same host (or `[store] registry_env` lists it):
/// else naming `MASTER_KEY`, or `OPENAI_API_KEY` with a base URL of one's own, would
/// hand out a secret of the gateway's environment.
pub(super) fn trusted_env(gw: &Gateway, body: &Value, has_key: bool) -> Result<(), ManageError> {
    let Some(base) = gw.reload.base_config() else {
        return Ok(());
    };
    let Ok(file) = layer::compose_table(&base, &Snapshot::default(), false) else {
        return Ok(());
    };
    let trusted = trusted(&base, &file);
    let theirs = body
        .get("base_url")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| preset_of(body).map(|p| p.base_url.clone()))
        .and_then(|u| host(&u));
    for (field, var) in named(body, has_key) {
        let listed = base.registry.env.contains(&var);
        let same_host = trusted
            .iter()
            .any(|(v, to)| *v == var && to.is_some() && *to == theirs);
        if !listed && !same_host {
            return Err(ManageError::invalid(
                format!(
                    "'{var}' is not a variable this gateway sends to {}: a provider made at run time reads a variable only where the file's providers send it to the same host, or when [store] registry_env lists it; give the key as api_key instead",
                    theirs.as_deref().unwrap_or("that URL")
                ),
                Some(field),
            ));
        }
    }
    Ok(())
}

fn host(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
}

/// The catalog preset a provider's table names.
fn preset_of(p: &Value) -> Option<&'static crate::catalog::Preset> {
    p.get("preset")
        .and_then(Value::as_str)
        .and_then(crate::catalog::preset)
}

/// The variables a provider's body reads keys from, with the field that names them —
/// a preset's own count as named: `{"preset": "openai", "base_url": …}` would
/// otherwise read OPENAI_API_KEY for a URL of the caller's choosing.
fn named(body: &Value, has_key: bool) -> Vec<(&'static str, String)> {
    let mut named = Vec::new();
    if let Some(v) = body.get("api_key_env").and_then(Value::as_str) {
        named.push(("api_key_env", v.to_string()));
    }
    if let Some(vs) = body.get("aws_credentials_env").and_then(Value::as_array) {
        named.extend(
            vs.iter()
                .filter_map(Value::as_str)
                .map(|v| ("aws_credentials_env", v.to_string())),
        );
    }
    if let Some(p) = preset_of(body) {
        if !has_key
            && body.get("api_key_env").is_none()
            && let Some(v) = &p.api_key_env
        {
            named.push(("preset", v.clone()));
        }
        if body.get("aws_credentials_env").is_none() {
            for v in p.aws_credentials_env.iter().flatten() {
                named.push(("preset", v.clone()));
            }
        }
    }
    named
}

/// Each variable the file's providers read keys from, and the host it is sent to.
fn trusted(base: &crate::config::Config, file: &toml::Table) -> Vec<(String, Option<String>)> {
    let mut trusted = Vec::new();
    let Some(toml::Value::Table(ps)) = file.get("providers") else {
        return trusted;
    };
    for (name, p) in ps {
        let to = base.providers.get(name).and_then(|p| host(&p.base_url));
        let p = crate::config::route_params::json(p);
        // The file's own provider, read as a body: what it names, its preset's otherwise.
        trusted.extend(named(&p, false).into_iter().map(|(_, v)| (v, to.clone())));
    }
    trusted
}

/// The models that name a provider (as a target) or a model (as successor or a
/// prompt's model).
pub(super) fn users_of(gw: &Gateway, kind: Kind, name: &str) -> Vec<String> {
    let live = gw.live.load();
    let c = &live.config;
    let models = c
        .routes
        .values()
        .filter(|r| crate::config::lifecycle::pinned(&r.name).is_none());
    match kind {
        Kind::Provider => models
            .filter(|r| r.targets.iter().any(|t| t.provider == name))
            .map(|r| format!("model '{}'", r.name))
            .collect(),
        Kind::Model => models
            .filter(|r| r.lifecycle.successor.as_deref() == Some(name))
            .map(|r| format!("model '{}' (successor)", r.name))
            .chain(
                c.prompts
                    .values()
                    .filter(|p| p.model.as_deref() == Some(name))
                    .map(|p| format!("prompt '{}'", p.name)),
            )
            .collect(),
        Kind::Prompt => Vec::new(),
    }
}

pub(super) fn file_refusal(gw: &Gateway, kind: Kind, name: &str) -> ManageError {
    ManageError::Conflict {
        code: "declared_in_file",
        message: format!(
            "{} '{name}' is declared in {}: change it there, or adopt it into the registry first (POST /admin/{}/{name}/adopt)",
            kind.as_str(),
            file_name(gw),
            kind.table()
        ),
    }
}
