//! Every change to the registry, in one place: a provider, model or prompt created,
//! changed (JSON merge patch), deleted, adopted from the file, rolled back; a
//! provider's key set and checked with one real call; the master key rotated. Each
//! change is validated as the file is — the candidate registry layered on the file and
//! built into a live state, plugins loaded — before it is written, then versioned,
//! audited, and built into the state every request after it sees (replicas follow
//! within a second). The admin API and the console are two faces of it.
//!
//! Beside it, the rest of operating a running gateway: reloading the config
//! (`reload`), probing providers' health (`probe`), prompt templates (`prompts`),
//! comparing models side by side (`compare`) and scheduled reports (`reports`).

mod checks;
pub mod compare;
pub mod compare_judge;
pub mod probe;
pub mod prompts;
pub mod reload;
pub mod reports;
mod rules;
pub mod view;

pub use checks::{rotate, scheduled, verify};

use rules::{file_refusal, trusted_env, users_of};

use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::control::AuditEntry;
use crate::gateway::Gateway;
use crate::live::LiveState;
use crate::registry::{Kind, RegistryError, Snapshot, Version, layer};
use crate::reply::ApiError;

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    Verification(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ManageError {
    fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        ManageError::Invalid {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    pub fn to_api(&self) -> ApiError {
        let msg = crate::secrets::scrub_owned(self.to_string());
        match self {
            ManageError::Invalid { param, .. } => ApiError::invalid(msg, param.as_deref()),
            ManageError::NotFound(_) => ApiError::not_found(msg),
            ManageError::Conflict { code, .. } => {
                ApiError::new(http::StatusCode::CONFLICT, "invalid_request_error", msg)
                    .with_code(code)
            }
            ManageError::Verification(_) => {
                ApiError::invalid(msg, Some("api_key")).with_code("provider_verification_failed")
            }
            ManageError::Registry(RegistryError::Conflict(_)) => {
                ApiError::new(http::StatusCode::CONFLICT, "invalid_request_error", msg)
                    .with_code("changed_meanwhile")
            }
            ManageError::Registry(RegistryError::NoMasterKey(_)) => {
                ApiError::invalid(msg, Some("api_key")).with_code("no_master_key")
            }
            ManageError::Registry(RegistryError::Store(_)) => {
                ApiError::new(http::StatusCode::SERVICE_UNAVAILABLE, "server_error", msg)
                    .with_code("store_unavailable")
            }
        }
    }
}

/// What comes with a change beside the object's body.
#[derive(Debug, Default)]
pub struct Extras {
    /// A provider's key, sealed into the registry.
    pub api_key: Option<String>,
    /// Make one real call with the key first (on by default when a key or URL changes).
    pub verify: Option<bool>,
    /// The model that call asks (else `GET /models`).
    pub verify_model: Option<String>,
    /// The version the change was made from (a PATCH's merge base): another made since
    /// refuses it. `None`: the newest at the time of the change.
    pub expect: Option<u32>,
}

/// What a change did: the object's new version, and what the check said.
pub struct Done {
    pub version: Version,
    pub verification: Option<Checked>,
}

/// A provider's key tried with one real call (`verified`), or not (`"verify": false`).
pub struct Checked {
    pub verified: bool,
    pub said: String,
}

fn valid_name(kind: Kind, name: &str) -> Result<(), ManageError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
        && !name.starts_with('/');
    if ok {
        Ok(())
    } else {
        Err(ManageError::invalid(
            format!(
                "'{name}' is not a {} name (1 to 128 letters, digits, '-', '_', '.', ':' or '/'; no '@')",
                kind.as_str()
            ),
            Some("name"),
        ))
    }
}

/// A config error as the field it names, relative to the object.
fn field_error(e: ConfigError, kind: Kind, name: &str) -> ManageError {
    match e {
        ConfigError::Invalid { key, message, .. } => {
            let prefix = format!("{}.\"{name}\"", kind.table());
            let param = key
                .strip_prefix(&prefix)
                .map(|rest| rest.trim_start_matches('.').to_string());
            let param = param.filter(|p| !p.is_empty());
            let message = match &param {
                Some(p) => format!("{p}: {message}"),
                None if key.starts_with(&prefix) => message,
                None => format!("{key}: {message}"),
            };
            ManageError::Invalid { message, param }
        }
        other => ManageError::invalid(other.to_string(), None),
    }
}

/// The body of an object as stored: an object without nulls.
fn clean(body: Value) -> Result<Value, ManageError> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.retain(|_, v| !v.is_null());
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut body = body;
    if !body.is_object() {
        return Err(ManageError::invalid("the body must be a JSON object", None));
    }
    strip(&mut body);
    if body.to_string().len() > 256 * 1024 {
        return Err(ManageError::invalid("an object is at most 256 KiB", None));
    }
    Ok(body)
}

/// Where the file is, for the messages that name it.
fn file_name(gw: &Gateway) -> String {
    gw.reload
        .path
        .lock()
        .as_ref()
        .map_or("the config file".into(), |p| p.display().to_string())
}

/// Whether the file (not the registry) declares the object.
pub fn in_file(gw: &Gateway, kind: Kind, name: &str) -> bool {
    let snap = gw.registry.snapshot();
    if snap.owned.contains_key(&(kind, name.to_string())) {
        return false;
    }
    let Some(base) = gw.reload.base_config() else {
        return false;
    };
    match kind {
        Kind::Provider => base.providers.contains_key(name),
        Kind::Model => base.routes.contains_key(name),
        Kind::Prompt => base.prompts.contains_key(name),
    }
}

/// `snap` as it would be with `body` as the object (`None`: gone) and `key` as the
/// provider's credential.
fn candidate(
    snap: &Snapshot,
    kind: Kind,
    name: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> Snapshot {
    let mut s = snap.clone();
    let id = (kind, name.to_string());
    let next = snap.latest(kind, name).map_or(1, |v| v.version + 1);
    let v = Version {
        kind,
        name: name.to_string(),
        version: next,
        at: crate::registry::now_secs(),
        actor: String::new(),
        origin: "registry".into(),
        body: body.cloned(),
        diff: Vec::new(),
    };
    match body {
        Some(_) => {
            s.owned.insert(id.clone(), v.clone());
        }
        None => {
            s.owned.remove(&id);
        }
    }
    s.versions.entry(id).or_default().push(v);
    if let Some(k) = key {
        s.opened
            .insert(name.to_string(), crate::config::Secret::new(k.to_string()));
        s.credentials.insert(
            name.to_string(),
            crate::registry::Credential {
                provider: name.to_string(),
                sealed: Vec::new(),
                key_id: String::new(),
                last4: String::new(),
                set_at: 0,
                verified_at: None,
            },
        );
    }
    s
}

/// The live state the change would make, or what is wrong with it.
async fn build(
    gw: &Gateway,
    snap: &Snapshot,
    kind: Kind,
    name: &str,
) -> Result<LiveState, ManageError> {
    let base = gw
        .reload
        .base_config()
        .unwrap_or_else(|| gw.live.load().config.clone());
    let mut config = layer::compose_checked(&base, snap).map_err(|e| field_error(e, kind, name))?;
    crate::control::apply(&mut config, &gw.control.overrides());
    LiveState::build(config, &gw.runtime)
        .await
        .map_err(|e| ManageError::invalid(e.to_string(), None))
}

pub(super) async fn audit(
    gw: &Gateway,
    actor: &str,
    action: String,
    subject: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    gw.control
        .audit(AuditEntry {
            at: crate::control::now_secs(),
            actor: actor.to_string(),
            action,
            subject: subject.to_string(),
            before,
            after,
        })
        .await;
}

/// The one real call a provider's change makes with its key (unless `verify: false`).
async fn check(
    live: &LiveState,
    kind: Kind,
    name: &str,
    kept: bool,
    extras: &Extras,
) -> Result<Option<Checked>, ManageError> {
    Ok(match extras.verify {
        Some(true) if kind == Kind::Provider && kept => Some(Checked {
            verified: true,
            said: crate::manage::probe::verify(live, name, extras.verify_model.as_deref())
                .await
                .map_err(|e| {
                    ManageError::Verification(format!(
                        "provider '{name}' was not saved: one call with its key failed: {e}"
                    ))
                })?,
        }),
        Some(false) if kind == Kind::Provider => Some(Checked {
            verified: false,
            said: "not verified (\"verify\": false): no call was made with the key".into(),
        }),
        _ => None,
    })
}

/// Validates, checks, writes, versions, audits and applies one change.
async fn change(
    gw: &Gateway,
    kind: Kind,
    name: &str,
    body: Option<Value>,
    actor: &str,
    action: &str,
    extras: Extras,
) -> Result<Done, ManageError> {
    let _one = gw.registry.changing.lock().await;
    let snap = gw.registry.snapshot();
    let key = extras.api_key.as_deref().filter(|k| !k.is_empty());
    if let Some(k) = key {
        gw.registry.master_key()?;
        // Scrubbed from here on: a failed check's message may quote the request it made.
        crate::secrets::register(k);
    }
    if kind == Kind::Provider
        && let Some(b) = &body
    {
        trusted_env(gw, b, key.is_some() || snap.credentials.contains_key(name))?;
    }
    let cand = candidate(&snap, kind, name, body.as_ref(), key);
    let live = build(gw, &cand, kind, name).await?;
    let verification = check(&live, kind, name, body.is_some(), &extras).await?;
    drop(live);
    let before = snap.latest(kind, name).and_then(|v| v.body.clone());
    let old_key = snap.credentials.get(name).cloned();
    if key.is_some() {
        gw.registry.set_credential(name, key).await?;
    }
    let write = crate::registry::Write {
        kind,
        name: name.to_string(),
        body: body.clone(),
        actor: actor.to_string(),
        origin: "registry",
        own: Some(body.is_some()),
        expect: Some(
            extras
                .expect
                .unwrap_or_else(|| snap.latest(kind, name).map_or(0, |v| v.version)),
        ),
    };
    let version = match gw.registry.commit(write).await {
        Ok(v) => v,
        Err(e) => {
            // No version, no new key: the one before stays in force.
            if key.is_some() {
                gw.registry.restore_credential(name, old_key).await?;
            }
            return Err(e.into());
        }
    };
    if body.is_none() && old_key.is_some() {
        gw.registry.set_credential(name, None).await?;
    }
    if verification.as_ref().is_some_and(|c| c.verified) {
        gw.registry.verified(name).await?;
    }
    let mut after = body.clone();
    if let (Some(Value::Object(o)), Some(_)) = (&mut after, key) {
        o.insert("api_key".into(), json!("(set)"));
    }
    audit(
        gw,
        actor,
        format!("{}.{action}", kind.as_str()),
        name,
        before,
        after,
    )
    .await;
    crate::manage::reload::rebuild(gw)
        .await
        .map_err(|e| ManageError::invalid(e, None))?;
    Ok(Done {
        version,
        verification,
    })
}

/// The object's body as the registry or the file has it now.
pub fn current(gw: &Gateway, kind: Kind, name: &str) -> Option<Value> {
    view::bodies(gw, kind).remove(name)
}

/// `POST /admin/{kind}`.
pub async fn create(
    gw: &Gateway,
    kind: Kind,
    name: &str,
    body: Value,
    actor: &str,
    mut extras: Extras,
) -> Result<Done, ManageError> {
    valid_name(kind, name)?;
    if current(gw, kind, name).is_some() {
        return Err(ManageError::Conflict {
            code: "already_exists",
            message: format!("{} '{name}' already exists", kind.as_str()),
        });
    }
    let mut body = clean(body)?;
    if kind == Kind::Model && body.get("state").is_none() {
        body["state"] = json!("draft");
    }
    if kind == Kind::Provider && extras.verify.is_none() {
        extras.verify = Some(true);
    }
    change(gw, kind, name, Some(body), actor, "create", extras).await
}

/// The object's body, if the registry may change it (not the file's, and there).
fn editable(gw: &Gateway, kind: Kind, name: &str) -> Result<Value, ManageError> {
    if in_file(gw, kind, name) {
        return Err(file_refusal(gw, kind, name));
    }
    current(gw, kind, name)
        .ok_or_else(|| ManageError::NotFound(format!("no {} '{name}'", kind.as_str())))
}

/// `PATCH /admin/{kind}/{name}`: a JSON merge patch of the body.
pub async fn patch(
    gw: &Gateway,
    kind: Kind,
    name: &str,
    patch: Value,
    actor: &str,
    mut extras: Extras,
) -> Result<Done, ManageError> {
    extras.expect = Some(
        gw.registry
            .snapshot()
            .latest(kind, name)
            .map_or(0, |v| v.version),
    );
    let mut body = editable(gw, kind, name)?;
    let before = body.clone();
    crate::registry::diff::merge_patch(&mut body, &patch);
    let mut body = clean(body)?;
    if kind == Kind::Model {
        stamp_deprecation(&before, &mut body);
    }
    let moved = before.get("base_url") != body.get("base_url") || extras.api_key.is_some();
    if kind == Kind::Provider && extras.verify.is_none() && moved {
        extras.verify = Some(true);
    }
    change(gw, kind, name, Some(body), actor, "update", extras).await
}

/// A model becoming deprecated records when (the `Deprecation` header's date).
fn stamp_deprecation(before: &Value, body: &mut Value) {
    let now_deprecated = body.get("state").and_then(Value::as_str) == Some("deprecated");
    let was = before.get("state").and_then(Value::as_str) == Some("deprecated");
    if now_deprecated && !was && body.get("deprecated_at").is_none() {
        let now = jiff::Timestamp::now().to_string();
        body["deprecated_at"] = json!(now);
    }
}

/// `DELETE /admin/{kind}/{name}`.
pub async fn delete(
    gw: &Gateway,
    kind: Kind,
    name: &str,
    actor: &str,
) -> Result<Done, ManageError> {
    editable(gw, kind, name)?;
    let users = users_of(gw, kind, name);
    if !users.is_empty() {
        return Err(ManageError::Conflict {
            code: "in_use",
            message: format!(
                "{} '{name}' is in use by {}: change or delete them first",
                kind.as_str(),
                users.join(", ")
            ),
        });
    }
    change(gw, kind, name, None, actor, "delete", Extras::default()).await
}

/// `POST /admin/{kind}/{name}/adopt`: the file's object becomes the registry's.
pub async fn adopt(gw: &Gateway, kind: Kind, name: &str, actor: &str) -> Result<Done, ManageError> {
    if !in_file(gw, kind, name) {
        return Err(ManageError::NotFound(format!(
            "the file declares no {} '{name}' the registry does not already own",
            kind.as_str()
        )));
    }
    // A provider's key stays in its variable (`api_key_env`); the registry owns the rest.
    let body = current(gw, kind, name).unwrap_or(Value::Null);
    change(
        gw,
        kind,
        name,
        Some(body),
        actor,
        "adopt",
        Extras::default(),
    )
    .await
}

/// `POST /admin/{kind}/{name}/rollback`: version `n`'s body as a new version.
pub async fn rollback(
    gw: &Gateway,
    kind: Kind,
    name: &str,
    n: u32,
    actor: &str,
) -> Result<Done, ManageError> {
    if in_file(gw, kind, name) {
        return Err(file_refusal(gw, kind, name));
    }
    let snap = gw.registry.snapshot();
    let Some(v) = snap.version(kind, name, n) else {
        return Err(ManageError::NotFound(format!(
            "{} '{name}' has no version {n} (kept versions are bounded)",
            kind.as_str()
        )));
    };
    let Some(mut body) = v.body.clone() else {
        return Err(ManageError::invalid(
            format!("version {n} is a deletion"),
            Some("version"),
        ));
    };
    // A rollback restores what the model does, not where it is in its life: the
    // lifecycle in force stays (move it with a PATCH of `state`).
    if kind == Kind::Model
        && let (Some(o), Some(Value::Object(now))) = (body.as_object_mut(), current(gw, kind, name))
    {
        for f in layer::LIFECYCLE {
            match now.get(*f) {
                Some(v) => o.insert(f.to_string(), v.clone()),
                None => o.remove(*f),
            };
        }
    }
    change(
        gw,
        kind,
        name,
        Some(body),
        actor,
        &format!("rollback.v{n}"),
        Extras::default(),
    )
    .await
}
