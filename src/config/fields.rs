//! Field-level checks shared by config validation: addresses, durations, plugin
//! sources, sandbox limits and settings, each error carrying the key and its line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::*;

/// 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) base: &'a Path,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    pub(super) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            line: line_of(self.text, span.start),
            key: key.into(),
            message: msg.into(),
        })
    }

    pub(super) fn addr(&self, v: &Spanned<String>, key: &str) -> Result<SocketAddr, ConfigError> {
        v.get_ref().parse().or_else(|e| {
            self.err(
                v.span(),
                key,
                format!("'{}' is not an address (ip:port): {e}", v.get_ref()),
            )
        })
    }

    pub(super) fn duration(&self, v: &Spanned<String>, key: &str) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(v.get_ref()).or_else(|e| {
            self.err(
                v.span(),
                key,
                format!(
                    "'{}' is not a duration (e.g. \"30s\", \"250ms\"): {e}",
                    v.get_ref()
                ),
            )
        })?;
        if d.is_zero() {
            return self.err(v.span(), key, "must be greater than zero");
        }
        Ok(d)
    }

    pub(super) fn source(
        &self,
        v: &Spanned<String>,
        key: &str,
    ) -> Result<PluginSource, ConfigError> {
        let s = v.get_ref();
        if let Some(name) = s.strip_prefix("builtin:") {
            if !crate::builtin::exists(name) {
                let known = crate::builtin::names().join(", builtin:");
                return self.err(
                    v.span(),
                    key,
                    format!("unknown plugin '{s}'; built-in plugins are builtin:{known}"),
                );
            }
            return Ok(PluginSource::Builtin(name.to_string()));
        }
        let path = self.base.join(s);
        if path.is_dir() {
            return self.err(
                v.span(),
                key,
                format!(
                    "plugin file '{}' is a directory, not a component file",
                    path.display()
                ),
            );
        }
        if !path.is_file() {
            return self.err(
                v.span(),
                key,
                format!("plugin file '{}' does not exist", path.display()),
            );
        }
        Ok(PluginSource::File(path))
    }

    pub(super) fn limits(
        &self,
        deadline: &Option<Spanned<String>>,
        memory_mib: Option<u64>,
        key: &str,
        defaults: PluginLimits,
    ) -> Result<PluginLimits, ConfigError> {
        let deadline = match deadline {
            Some(d) => self.duration(d, &format!("{key}.deadline"))?,
            None => defaults.deadline,
        };
        let memory_bytes = match memory_mib {
            Some(0) => {
                return Err(ConfigError::Invalid {
                    line: 0,
                    key: format!("{key}.memory_mib"),
                    message: "must be at least 1".into(),
                });
            }
            Some(m) if m > 4096 => {
                return Err(ConfigError::Invalid {
                    line: 0,
                    key: format!("{key}.memory_mib"),
                    message: "must be at most 4096".into(),
                });
            }
            Some(m) => (m as usize) << 20,
            None => defaults.memory_bytes,
        };
        Ok(PluginLimits {
            deadline,
            memory_bytes,
        })
    }

    pub(super) fn settings(&self, s: &BTreeMap<String, toml::Value>) -> BTreeMap<String, String> {
        s.iter()
            .map(|(k, v)| (k.clone(), serde_json::to_string(v).unwrap_or_default()))
            .collect()
    }

    pub(super) fn plugin(
        &self,
        name: &str,
        raw: &RawPlugin,
        key: &str,
        defaults: PluginLimits,
        default_on_error: OnError,
    ) -> Result<PluginSpec, ConfigError> {
        let on_error = match &raw.on_error {
            None => default_on_error,
            Some(v) => match v.get_ref().as_str() {
                "fail-closed" => OnError::FailClosed,
                "fail-open" => OnError::FailOpen,
                other => {
                    return self.err(
                        v.span(),
                        format!("{key}.on_error"),
                        format!("'{other}' must be \"fail-closed\" or \"fail-open\""),
                    );
                }
            },
        };
        Ok(PluginSpec {
            name: name.to_string(),
            source: self.source(&raw.plugin, &format!("{key}.plugin"))?,
            settings: self.settings(&raw.settings),
            limits: self.limits(&raw.deadline, raw.memory_mib, key, defaults)?,
            on_error,
        })
    }
}

pub(super) fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("switchboard");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("switchboard");
    }
    std::env::temp_dir().join("switchboard-cache")
}

pub(super) fn parse_sha256(hex_text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_text.trim()).ok()?;
    bytes.try_into().ok()
}

/// A configured strategy, policy or redactor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub plugin: Spanned<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    pub on_error: Option<Spanned<String>>,
    pub deadline: Option<Spanned<String>>,
    pub memory_mib: Option<u64>,
}
