//! A route's request parameters and description: `defaults` (set when the client sets
//! none: `defaults = { temperature = 0.3, max_tokens = 1024 }`), `limits` (upper bounds
//! of numeric parameters, 400 above: `limits = { max_tokens = 4096 }`), and what
//! `/v1/models` says of it (`context_window`, `capabilities`, `description`).

use serde_json::Value;

use super::ConfigError;
use super::fields::Ctx;
use super::raw::RawModel;

/// Parameters a route's defaults may not set: they are the request itself.
const NOT_DEFAULTS: &[&str] = &["model", "messages", "input", "stream", "stream_options"];

/// Capabilities a route may claim.
pub const CAPABILITIES: &[&str] = &[
    "chat",
    "vision",
    "tools",
    "json",
    "embeddings",
    "audio",
    "reasoning",
    "streaming",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub defaults: Vec<(String, Value)>,
    /// (parameter, most allowed); a `max_tokens` bound also bounds
    /// `max_completion_tokens`.
    pub limits: Vec<(String, f64)>,
}

impl Params {
    pub fn is_empty(&self) -> bool {
        self.defaults.is_empty() && self.limits.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub context_window: Option<u64>,
    pub capabilities: Vec<String>,
    pub description: Option<String>,
}

/// A TOML value as JSON (dates become their text).
pub fn json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
    }
}

pub(super) fn params(cx: &Ctx<'_>, m: &RawModel, key: &str) -> Result<Params, ConfigError> {
    let mut p = Params::default();
    if let Some(d) = &m.defaults {
        for (name, v) in d.get_ref() {
            if NOT_DEFAULTS.contains(&name.as_str()) {
                return cx.err(
                    d.span(),
                    format!("{key}.defaults"),
                    format!("'{name}' is the request itself, not a parameter to default"),
                );
            }
            p.defaults.push((name.clone(), json(v)));
        }
    }
    if let Some(l) = &m.limits {
        for (name, most) in l.get_ref() {
            if !most.is_finite() || *most < 0.0 {
                return cx.err(
                    l.span(),
                    format!("{key}.limits"),
                    format!("'{name}' must be a number of 0 or more"),
                );
            }
            if let Some((_, v)) = p.defaults.iter().find(|(n, _)| n == name)
                && v.as_f64().is_some_and(|v| v > *most)
            {
                return cx.err(
                    l.span(),
                    format!("{key}.limits"),
                    format!("the default {name} ({v}) is above its limit ({most})"),
                );
            }
            p.limits.push((name.clone(), *most));
        }
    }
    Ok(p)
}

pub(super) fn meta(cx: &Ctx<'_>, m: &RawModel, key: &str) -> Result<Meta, ConfigError> {
    let mut capabilities = Vec::new();
    for c in &m.capabilities {
        if !CAPABILITIES.contains(&c.get_ref().as_str()) {
            return cx.err(
                c.span(),
                format!("{key}.capabilities"),
                format!(
                    "'{}' is not one of {}",
                    c.get_ref(),
                    CAPABILITIES.join(", ")
                ),
            );
        }
        capabilities.push(c.get_ref().clone());
    }
    Ok(Meta {
        context_window: m.context_window,
        capabilities,
        description: m.description.clone(),
    })
}
