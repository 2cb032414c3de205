//! The file and the registry, one config: the registry's objects are written into the
//! file's `[providers]`, `[models]` and `[prompts]` tables (an object the registry owns
//! wins over the file's of the same name: it was adopted), providers with a sealed
//! credential read it through `api_key_env = "@registry/NAME"`, each kept older
//! version of a model or prompt becomes `NAME@N` (its pin), and the whole is validated
//! by the same `Config::parse` as the file alone. Also: the export of that config as a
//! `config.toml`, and the versions the file's own objects get (actor `config`).

use serde_json::Value;

use super::{Kind, Registry, Snapshot};
use crate::config::{Config, ConfigError};

/// The variable name a registry credential is read through.
pub const CREDENTIAL_VAR: &str = "@registry/";

/// Fields of a model that belong to the model, not to a pinned version of it.
pub const LIFECYCLE: &[&str] = &[
    "state",
    "successor",
    "redirect",
    "sunset",
    "deprecated_at",
    "retire_at",
    "testers",
];

const KINDS: [Kind; 3] = [Kind::Provider, Kind::Model, Kind::Prompt];

/// A JSON body as a TOML value (nulls left out).
pub fn to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(to_toml).collect()),
        Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), to_toml(v)?)))
                .collect(),
        ),
    })
}

/// The file's tables as read.
fn file_table(file: &Config) -> Result<toml::Table, ConfigError> {
    let src = file
        .source
        .as_ref()
        .ok_or_else(|| ConfigError::Syntax("this config has no source text".into()))?;
    toml::from_str(&src.text).map_err(|e| ConfigError::Syntax(e.to_string()))
}

fn section(t: &mut toml::Table, kind: Kind) -> &mut toml::Table {
    let v = t
        .entry(kind.table())
        .or_insert_with(|| toml::Value::Table(Default::default()));
    if !v.is_table() {
        *v = toml::Value::Table(Default::default());
    }
    v.as_table_mut().expect("made a table above")
}

/// The file's table with the registry's objects (and, with `pins`, the kept versions)
/// written in.
pub fn compose_table(
    file: &Config,
    snap: &Snapshot,
    pins: bool,
) -> Result<toml::Table, ConfigError> {
    let mut t = file_table(file)?;
    for ((kind, name), v) in &snap.owned {
        if let Some(body) = v.body.as_ref().and_then(to_toml) {
            section(&mut t, *kind).insert(name.clone(), body);
        }
    }
    for provider in snap.credentials.keys() {
        // A provider whose `credential` table names its secrets reads this one as
        // `@registry/<provider>` where it says, not as an API key.
        if let Some(toml::Value::Table(p)) = section(&mut t, Kind::Provider).get_mut(provider)
            && !p.contains_key("credential")
        {
            p.insert(
                "api_key_env".into(),
                toml::Value::String(format!("{CREDENTIAL_VAR}{provider}")),
            );
        }
    }
    if pins {
        for kind in [Kind::Model, Kind::Prompt] {
            add_pins(&mut t, snap, kind);
        }
    }
    Ok(t)
}

/// `NAME@N` for each kept version older than the one in force — but one whose targets
/// name a provider no longer there (it would not validate, and take every pin down
/// with it).
fn add_pins(t: &mut toml::Table, snap: &Snapshot, kind: Kind) {
    let providers: Vec<String> = section(t, Kind::Provider).keys().cloned().collect();
    let sec = section(t, kind);
    let names: Vec<String> = sec.keys().cloned().collect();
    for name in names {
        let Some(versions) = snap.versions.get(&(kind, name.clone())) else {
            continue;
        };
        let Some(latest) = versions.last() else {
            continue;
        };
        for v in versions.iter().filter(|v| v.version < latest.version) {
            let Some(mut body) = v.body.clone() else {
                continue;
            };
            let gone = body["targets"].as_array().is_some_and(|ts| {
                ts.iter().any(|t| {
                    t["provider"]
                        .as_str()
                        .is_some_and(|p| !providers.iter().any(|x| x == p))
                })
            });
            if gone {
                continue;
            }
            if let Some(o) = body.as_object_mut() {
                o.retain(|k, _| !LIFECYCLE.contains(&k.as_str()));
            }
            if let Some(b) = to_toml(&body) {
                sec.insert(format!("{name}@{}", v.version), b);
            }
        }
    }
}

/// The live config: `file` with the registry layered on it. Only the file itself
/// failing fails it: registry objects that no longer validate with it (a provider
/// the file dropped, a change made on two replicas at once) are left out, each logged.
pub fn compose(file: &Config, snap: &Snapshot) -> Result<Config, ConfigError> {
    let mut config = if snap.is_empty() || file.source.is_none() {
        file.clone()
    } else {
        match parse(file, snap, true) {
            Ok(c) => c,
            Err(e) => tolerant(file, snap, e)?,
        }
    };
    config.versions = snap
        .versions
        .iter()
        .filter_map(|((k, n), vs)| {
            let v = vs.last()?;
            Some((format!("{}/{n}", k.table()), (v.version, v.at)))
        })
        .collect();
    config.source = file.source.clone();
    Ok(config)
}

/// `compose` for a change about to be made: every registry object must validate (only
/// pins that do not are left out), else the error names the object's field.
pub fn compose_checked(file: &Config, snap: &Snapshot) -> Result<Config, ConfigError> {
    if snap.is_empty() || file.source.is_none() {
        return compose(file, snap);
    }
    let mut config = parse(file, snap, true).or_else(|_| parse(file, snap, false))?;
    config.source = file.source.clone();
    Ok(config)
}

/// The registry's objects that validate with the file, added one at a time until no
/// more can be (so one that names another comes after it), and their pins if those
/// validate too.
fn tolerant(file: &Config, snap: &Snapshot, first: ConfigError) -> Result<Config, ConfigError> {
    if let Ok(c) = parse(file, snap, false) {
        tracing::warn!(error = %first, "the registry's kept versions do not validate; pins are off until they do");
        return Ok(c);
    }
    let mut keep = snap.clone();
    keep.owned.clear();
    let mut pending: Vec<_> = snap
        .owned
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    loop {
        let before = pending.len();
        pending.retain(|(id, v)| {
            let mut trial = keep.clone();
            trial.owned.insert(id.clone(), v.clone());
            let fits = parse(file, &trial, false).is_ok();
            if fits {
                keep = trial;
            }
            !fits
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for ((kind, name), v) in &pending {
        let mut trial = keep.clone();
        trial.owned.insert((*kind, name.clone()), v.clone());
        let why = parse(file, &trial, false).err().map(|e| e.to_string());
        tracing::error!(object = %format!("{}/{name}", kind.table()), error = ?why, "a registry object does not validate with the config in force and is left out until it does (fix it, or the file)");
    }
    parse(file, &keep, true).or_else(|_| parse(file, &keep, false))
}

fn parse(file: &Config, snap: &Snapshot, pins: bool) -> Result<Config, ConfigError> {
    let src = file.source.as_ref().expect("checked by the caller");
    let table = compose_table(file, snap, pins)?;
    let text = toml::to_string(&table).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    let env = |k: &str| match k.strip_prefix(CREDENTIAL_VAR) {
        Some(p) => snap.opened.get(p).map(|s| s.expose().to_string()),
        None => match src.env.get(k) {
            Some(v) => v.clone(),
            None => std::env::var(k).ok(),
        },
    };
    Config::parse(&text, &src.base, &env)
}

/// The live config as a `config.toml`: the file and the registry, credentials as the
/// variables to set (`SWITCHBOARD_<PROVIDER>_API_KEY`), named in a header.
pub fn export(file: &Config, snap: &Snapshot) -> Result<String, ConfigError> {
    let mut t = compose_table(file, snap, false)?;
    let mut vars = Vec::new();
    if let Some(toml::Value::Table(ps)) = t.get_mut("providers") {
        for (name, p) in ps.iter_mut() {
            let Some(p) = p.as_table_mut() else { continue };
            if p.get("api_key_env")
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.starts_with(CREDENTIAL_VAR))
            {
                let var = format!("SWITCHBOARD_{}_API_KEY", env_name(name));
                p.insert("api_key_env".into(), toml::Value::String(var.clone()));
                vars.push(var);
            }
        }
    }
    let body = toml::to_string(&t).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    let mut out =
        String::from("# switchboard config export: config.toml and the registry, as one file.\n");
    if !vars.is_empty() {
        out.push_str("# Keys given at run time are not exported; set these variables:\n");
        for v in vars {
            out.push_str(&format!("#   {v}\n"));
        }
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}

/// `export` of the config file at `path` and the registry its `[store]` names.
pub async fn export_file(path: &std::path::Path) -> Result<String, String> {
    let file = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let registry = Registry::default();
    registry.configure(file.store.as_ref(), &file.registry)?;
    registry.refresh().await.map_err(|e| e.to_string())?;
    export(&file, &registry.snapshot()).map_err(|e| e.to_string())
}

fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Each object the file declares (and the registry does not own) as a version when it
/// differs from its newest one — a reload that changed a model is a version, actor
/// `config` — and a deletion when the file no longer has one it had.
pub async fn record_file(registry: &Registry, file: &Config) {
    let Ok(t) = file_table(file) else { return };
    let snap = registry.snapshot();
    for kind in KINDS {
        let declared: serde_json::Map<String, Value> = match t.get(kind.table()) {
            Some(toml::Value::Table(s)) => s
                .iter()
                .map(|(k, v)| (k.clone(), crate::config::route_params::json(v)))
                .collect(),
            _ => Default::default(),
        };
        for (name, body) in &declared {
            if snap.owned.contains_key(&(kind, name.clone())) {
                continue;
            }
            if snap.latest(kind, name).and_then(|v| v.body.as_ref()) != Some(body) {
                note(registry, kind, name, Some(body.clone())).await;
            }
        }
        for ((k, name), vs) in &snap.versions {
            let gone = *k == kind
                && !declared.contains_key(name)
                && !snap.owned.contains_key(&(kind, name.clone()))
                && vs
                    .last()
                    .is_some_and(|v| v.origin == "file" && v.body.is_some());
            if gone {
                note(registry, kind, name, None).await;
            }
        }
    }
}

async fn note(registry: &Registry, kind: Kind, name: &str, body: Option<Value>) {
    let write = super::Write {
        kind,
        name: name.to_string(),
        body,
        actor: "config".into(),
        origin: "file",
        own: None,
        expect: None,
    };
    match registry.commit(write).await {
        // Another replica reading the same file recorded it first.
        Ok(_) | Err(super::RegistryError::Conflict(_)) => {}
        Err(e) => {
            tracing::warn!(error = %e, "recording a version of the file's {} '{name}' failed", kind.as_str())
        }
    }
}
