//! `[providers.*]`: base URL, adapter, key (or AWS credentials) from the environment
//! — a missing variable makes the provider inactive, warned — timeout, headers and
//! health checks.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::fields::{Ctx, line_of};
use super::raw::RawConfig;
use super::*;
use crate::native::NativeApi;
use crate::upstream::credentials::ProviderCredential;

pub(super) fn providers(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    default_limits: PluginLimits,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Provider>, ConfigError> {
    let text = cx.text;
    let mut providers = BTreeMap::new();
    for (name, p) in &raw.providers {
        let key = format!("providers.{name}");
        let base_url = base_url(cx, p, &key)?;
        let (api_key, inactive) = api_key(cx, name, p.api_key_env.as_deref(), warnings);
        let (aws, aws_missing) = aws_credentials(p.aws_credentials_env.as_ref(), cx, &key, text)?;
        let inactive = inactive.or(aws_missing.map(|var| {
            warnings.push(format!(
                "provider '{name}' is inactive: environment variable {var} is not set"
            ));
            Inactive::NoAwsCredentials {
                provider: name.to_string(),
                var,
            }
        }));
        let (credential, missing) = credential(cx, name, p, &base_url, warnings)?;
        let inactive = inactive.or(missing);
        let adapter = PluginSpec {
            name: p.adapter.get_ref().clone(),
            source: cx.source(&p.adapter, &format!("{key}.adapter"))?,
            settings: cx.settings(&p.settings),
            limits: cx.limits(&p.deadline, p.memory_mib, &key, default_limits)?,
            on_error: OnError::FailClosed,
        };
        let claude = claude_platform(&adapter);
        let timeout = match &p.timeout {
            Some(t) => cx.duration(t, &format!("{key}.timeout"))?,
            None => Duration::from_secs(60),
        };
        let max_stream_duration = match &p.max_stream_duration {
            Some(t) => cx.duration(t, &format!("{key}.max_stream_duration"))?,
            None => DEFAULT_MAX_STREAM,
        };
        let headers = p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let health_check = health_check(cx, p, &key)?;
        let native = native(cx, p, &key, &base_url)?;
        providers.insert(
            name.clone(),
            Provider {
                name: name.clone(),
                adapter,
                base_url,
                api_key,
                inactive,
                aws,
                credential,
                timeout,
                max_stream_duration,
                headers,
                health_check,
                stream_usage: p.stream_usage.unwrap_or(true),
                native,
                preset: p.preset.as_ref().map(|s| s.get_ref().clone()),
                claude,
            },
        );
    }
    Ok(providers)
}

/// The provider's base URL, without a trailing slash; an http(s) URL.
fn base_url(cx: &Ctx<'_>, p: &super::raw::RawProvider, key: &str) -> Result<String, ConfigError> {
    let base_url = p.base_url.get_ref().trim_end_matches('/').to_string();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return cx.err(
            p.base_url.span(),
            format!("{key}.base_url"),
            "must start with http:// or https://",
        );
    }
    if let Err(e) = url::Url::parse(&base_url) {
        return cx.err(
            p.base_url.span(),
            format!("{key}.base_url"),
            format!("is not a valid URL: {e}"),
        );
    }
    Ok(base_url)
}

/// A provider's `credential` table built, or why it leaves the provider inactive.
fn credential(
    cx: &Ctx<'_>,
    name: &str,
    p: &super::raw::RawProvider,
    base_url: &str,
    warnings: &mut Vec<String>,
) -> Result<(Option<ProviderCredential>, Option<Inactive>), ConfigError> {
    let Some(c) = &p.credential else {
        return Ok((None, None));
    };
    if p.api_key_env.is_some() {
        return cx.err(
            c.span(),
            format!("providers.{name}.credential"),
            "is set beside api_key_env: a provider has one or the other",
        );
    }
    Ok(
        match super::credentials::build(cx, name, c.get_ref(), c.span(), base_url)? {
            super::credentials::Built::Ready(c) => (Some(c), None),
            super::credentials::Built::Inactive(why) => {
                warnings.push(format!("{why}"));
                (None, Some(why))
            }
        },
    )
}

/// The platform a `builtin:anthropic` adapter's settings name (the adapter checks them
/// at load; anything else is Anthropic's own API).
fn claude_platform(adapter: &PluginSpec) -> ClaudePlatform {
    if adapter.name != "builtin:anthropic" {
        return ClaudePlatform::Anthropic;
    }
    let text = |k: &str| {
        let v = adapter.settings.get(k)?;
        serde_json::from_str::<String>(v).ok()
    };
    match (text("platform").as_deref(), text("region")) {
        (Some("vertex"), _) => ClaudePlatform::Vertex,
        (Some("bedrock"), Some(region)) => ClaudePlatform::Bedrock { region },
        _ => ClaudePlatform::Anthropic,
    }
}

/// How long a stream may run when its provider sets no `max_stream_duration`: longer
/// than any answer a model writes, short enough that a trickling upstream cannot hold
/// a connection, an instance and a reservation for ever.
const DEFAULT_MAX_STREAM: Duration = Duration::from_secs(30 * 60);

/// The client APIs a provider serves natively: as configured, else Anthropic's
/// Messages API for `builtin:anthropic` and the Responses API for `builtin:openai`
/// at api.openai.com (OpenAI-compatible servers elsewhere may lack it).
fn native(
    cx: &Ctx<'_>,
    p: &super::raw::RawProvider,
    key: &str,
    base_url: &str,
) -> Result<Vec<NativeApi>, ConfigError> {
    let adapter = p.adapter.get_ref().as_str();
    let mut out = native_list(cx, p, key, base_url, adapter)?;
    // The rest of OpenAI's surface has no chat form: any OpenAI-shaped provider is sent it.
    if adapter == "builtin:openai" {
        out.extend_from_slice(crate::native::SURFACE);
        out.push(NativeApi::Files);
    }
    Ok(out)
}

fn native_list(
    cx: &Ctx<'_>,
    p: &super::raw::RawProvider,
    key: &str,
    base_url: &str,
    adapter: &str,
) -> Result<Vec<NativeApi>, ConfigError> {
    let Some(list) = &p.native else {
        let host = url::Url::parse(base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        return Ok(match adapter {
            "builtin:anthropic" => vec![NativeApi::Messages],
            "builtin:openai" if host.as_deref() == Some("api.openai.com") => {
                vec![NativeApi::Responses]
            }
            _ => Vec::new(),
        });
    };
    let mut out = Vec::new();
    for name in list.get_ref() {
        let Some(api) = NativeApi::parse(name) else {
            return cx.err(
                list.span(),
                format!("{key}.native"),
                format!("'{name}' is not a native API (known: messages, responses)"),
            );
        };
        if api.adapter() != adapter {
            return cx.err(
                list.span(),
                format!("{key}.native"),
                format!(
                    "'{name}' is passed through only to providers with adapter = \"{}\"",
                    api.adapter()
                ),
            );
        }
        if !out.contains(&api) {
            out.push(api);
        }
    }
    Ok(out)
}

/// A provider's API key from its environment variable (registered as a secret), or
/// why the provider is inactive when the variable is not set.
fn api_key(
    cx: &Ctx<'_>,
    name: &str,
    var: Option<&str>,
    warnings: &mut Vec<String>,
) -> (Option<Secret>, Option<Inactive>) {
    let Some(var) = var else {
        return (None, None);
    };
    match (cx.env)(var) {
        Some(v) if !v.is_empty() => {
            crate::secrets::register(&v);
            (Some(Secret::new(v)), None)
        }
        _ => {
            warnings.push(format!(
                "provider '{name}' is inactive: environment variable {var} is not set"
            ));
            (
                None,
                Some(Inactive::NoApiKey {
                    provider: name.to_string(),
                    var: var.to_string(),
                }),
            )
        }
    }
}

/// A provider's active health check, if it has one.
fn health_check(
    cx: &Ctx<'_>,
    p: &super::raw::RawProvider,
    key: &str,
) -> Result<Option<HealthCheck>, ConfigError> {
    let Some(h) = &p.health_check else {
        return Ok(None);
    };
    let d = |v: &Option<Spanned<String>>, what: &str, default: u64| match v {
        Some(v) => cx.duration(v, &format!("{key}.health_check.{what}")),
        None => Ok(Duration::from_secs(default)),
    };
    let path = h.path.clone().unwrap_or_else(|| "/models".into());
    if !path.starts_with('/') {
        return Err(ConfigError::Invalid {
            line: line_of(cx.text, p.base_url.span().start),
            key: format!("{key}.health_check.path"),
            message: "must start with '/'".into(),
        });
    }
    let chat = match h.mode.as_ref().map(|m| m.get_ref().as_str()) {
        None | Some("get") => false,
        Some("chat") => true,
        Some(other) => {
            let at = h.mode.as_ref().map_or(0, |m| m.span().start);
            return Err(ConfigError::Invalid {
                line: line_of(cx.text, at),
                key: format!("{key}.health_check.mode"),
                message: format!("must be \"get\" or \"chat\", not '{other}'"),
            });
        }
    };
    Ok(Some(HealthCheck {
        chat,
        interval: d(&h.interval, "interval", 10)?,
        path,
        timeout: d(&h.timeout, "timeout", 5)?,
    }))
}

/// The AWS credentials named by `aws_credentials_env` (2 or 3 variable names), or the
/// first variable that is not set.
fn aws_credentials(
    names: Option<&Spanned<Vec<String>>>,
    cx: &Ctx<'_>,
    key: &str,
    text: &str,
) -> Result<
    (
        Option<crate::upstream::sigv4::AwsCredentials>,
        Option<String>,
    ),
    ConfigError,
> {
    let Some(names) = names else {
        return Ok((None, None));
    };
    let vars = names.get_ref();
    if !(2..=3).contains(&vars.len()) {
        return Err(ConfigError::Invalid {
            line: line_of(text, names.span().start),
            key: format!("{key}.aws_credentials_env"),
            message: "must name 2 or 3 variables: access key id, secret access key, session token"
                .into(),
        });
    }
    let mut values = Vec::new();
    for var in vars {
        match (cx.env)(var) {
            Some(v) if !v.is_empty() => values.push(v),
            _ => return Ok((None, Some(var.clone()))),
        }
    }
    for v in &values[1..] {
        crate::secrets::register(v);
    }
    let mut values = values.into_iter();
    let (id, secret) = (
        values.next().unwrap_or_default(),
        values.next().unwrap_or_default(),
    );
    Ok((
        Some(crate::upstream::sigv4::AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: values.next(),
        }),
        None,
    ))
}

/// Where Claude is reached: Anthropic's API, Google Vertex AI or Amazon Bedrock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClaudePlatform {
    #[default]
    Anthropic,
    Vertex,
    Bedrock {
        region: String,
    },
}

/// Why a provider takes no requests: a credential its config names is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inactive {
    /// `api_key_env` names a variable that is not set.
    NoApiKey { provider: String, var: String },
    /// `aws_credentials_env` names a variable that is not set.
    NoAwsCredentials { provider: String, var: String },
    /// The `credential` table names a variable that is not set.
    NoCredential { provider: String, var: String },
}

impl std::fmt::Display for Inactive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inactive::NoApiKey { provider, var } => {
                write!(f, "provider '{provider}' has no API key (set {var})")
            }
            Inactive::NoAwsCredentials { provider, var } => {
                write!(
                    f,
                    "provider '{provider}' has no AWS credentials (set {var})"
                )
            }
            Inactive::NoCredential { provider, var } => {
                write!(f, "provider '{provider}' has no credential (set {var})")
            }
        }
    }
}

impl serde::Serialize for Inactive {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
