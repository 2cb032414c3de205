//! What a change to the registry must respect beyond the config's own validation: a
//! provider made at run time reads keys only from variables the file already trusts
//! for provider keys, an object in use is not deleted, and the file's objects are the
//! file's until adopted.

use serde_json::Value;

use super::{ManageError, file_name};
use crate::gateway::Gateway;
use crate::registry::{Kind, Snapshot, layer};

/// A provider made at run time may read a key from a variable only where the file
/// already reads provider keys from it (or `[store] registry_env` lists it): else
/// naming `MASTER_KEY` and a base URL of one's own would hand out any secret of the
/// gateway's environment.
pub(super) fn trusted_env(gw: &Gateway, body: &Value) -> Result<(), ManageError> {
    let Some(base) = gw.reload.base_config() else {
        return Ok(());
    };
    let mut named: Vec<(&str, &str)> = Vec::new();
    if let Some(v) = body.get("api_key_env").and_then(Value::as_str) {
        named.push(("api_key_env", v));
    }
    if let Some(vs) = body.get("aws_credentials_env").and_then(Value::as_array) {
        named.extend(
            vs.iter()
                .filter_map(Value::as_str)
                .map(|v| ("aws_credentials_env", v)),
        );
    }
    let Ok(file) = layer::compose_table(&base, &Snapshot::default(), false) else {
        return Ok(());
    };
    let mut trusted: Vec<String> = base.registry.env.clone();
    if let Some(toml::Value::Table(ps)) = file.get("providers") {
        for p in ps.values() {
            if let Some(v) = p.get("api_key_env").and_then(|v| v.as_str()) {
                trusted.push(v.to_string());
            }
            if let Some(vs) = p.get("aws_credentials_env").and_then(|v| v.as_array()) {
                trusted.extend(vs.iter().filter_map(|v| v.as_str()).map(str::to_string));
            }
        }
    }
    for (field, var) in named {
        if !trusted.iter().any(|t| t == var) {
            return Err(ManageError::invalid(
                format!(
                    "'{var}' is not a variable this gateway reads provider keys from (the file's providers' variables and [store] registry_env are); give the key as api_key instead"
                ),
                Some(field),
            ));
        }
    }
    Ok(())
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
