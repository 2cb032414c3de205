//! `credential = { kind = … }` on a provider: a credential the host obtains (a token
//! kind) or signs with (Tencent Cloud's TC3), instead of a static key. Its secrets
//! are read from the environment (or the registry, `@registry/NAME`) like
//! `api_key_env`, a missing one making the provider inactive; a key file is read at
//! load. A preset's credential fills the fields the config leaves unset.

use std::sync::Arc;

use serde::Deserialize;

use super::fields::Ctx;
use super::{ConfigError, Inactive, Secret};
use crate::upstream::credentials::{
    ClientCredentials, Dialect, Metadata, Placement, ProviderCredential, ServiceAccount, Tc3,
    TokenKind, TokenSource,
};

/// A credential as written (each field optional so a preset can fill it).
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    /// `oauth`, `entra`, `google`, `gce-metadata`, `qianfan` or `tencent`.
    pub kind: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_id_env: Option<String>,
    pub client_secret_env: Option<String>,
    pub scope: Option<String>,
    /// Entra ID's directory (tenant) id or domain.
    pub tenant: Option<String>,
    /// A Google service account key file (relative to the config's folder).
    pub key_file: Option<String>,
    /// A variable holding the key file's JSON, or its path.
    pub key_env: Option<String>,
    /// The metadata server (default: `GCE_METADATA_HOST`, else metadata.google.internal).
    pub metadata_url: Option<String>,
    /// Qianfan's API key (AK) and secret key (SK); Tencent's SecretKey.
    pub api_key_env: Option<String>,
    pub secret_key_env: Option<String>,
    /// Tencent's SecretId.
    pub secret_id_env: Option<String>,
    /// Tencent's service (default: the first label of the base URL's host).
    pub service: Option<String>,
}

impl RawCredential {
    /// The config's fields, the preset's where the config has none.
    pub fn or(self, preset: &RawCredential) -> RawCredential {
        let pick = |a: Option<String>, b: &Option<String>| a.or_else(|| b.clone());
        RawCredential {
            kind: pick(self.kind, &preset.kind),
            token_url: pick(self.token_url, &preset.token_url),
            client_id: pick(self.client_id, &preset.client_id),
            client_id_env: pick(self.client_id_env, &preset.client_id_env),
            client_secret_env: pick(self.client_secret_env, &preset.client_secret_env),
            scope: pick(self.scope, &preset.scope),
            tenant: pick(self.tenant, &preset.tenant),
            key_file: pick(self.key_file, &preset.key_file),
            key_env: pick(self.key_env, &preset.key_env),
            metadata_url: pick(self.metadata_url, &preset.metadata_url),
            api_key_env: pick(self.api_key_env, &preset.api_key_env),
            secret_key_env: pick(self.secret_key_env, &preset.secret_key_env),
            secret_id_env: pick(self.secret_id_env, &preset.secret_id_env),
            service: pick(self.service, &preset.service),
        }
    }
}

pub const KINDS: &str = "oauth, entra, google, gce-metadata, qianfan, tencent";
const ENTRA_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
const QIANFAN_TOKEN_URL: &str = "https://aip.baidubce.com/oauth/2.0/token";

/// What a provider's credential table makes: the credential, or why the provider is
/// inactive (a variable not set); a mistake in the table is a config error.
pub(super) enum Built {
    Ready(ProviderCredential),
    Inactive(Inactive),
}

struct Reader<'a, 'c> {
    cx: &'a Ctx<'c>,
    provider: &'a str,
    key: String,
    span: std::ops::Range<usize>,
}

enum Missing {
    Var(String),
    Config(ConfigError),
}

impl From<ConfigError> for Missing {
    fn from(e: ConfigError) -> Self {
        Missing::Config(e)
    }
}

impl Reader<'_, '_> {
    fn bad<T>(&self, field: &str, msg: impl Into<String>) -> Result<T, Missing> {
        Err(Missing::Config(
            self.cx
                .err::<()>(self.span.clone(), format!("{}.{field}", self.key), msg)
                .unwrap_err(),
        ))
    }

    /// A secret from the variable a field names (registered for scrubbing).
    fn secret(&self, field: &str, var: &Option<String>) -> Result<Secret, Missing> {
        let Some(var) = var else {
            return self.bad(field, "must name the variable that holds it");
        };
        match (self.cx.env)(var) {
            Some(v) if !v.is_empty() => {
                crate::secrets::register(&v);
                Ok(Secret::new(v))
            }
            _ => Err(Missing::Var(var.clone())),
        }
    }

    fn plain(
        &self,
        field: &str,
        direct: &Option<String>,
        var: &Option<String>,
    ) -> Result<String, Missing> {
        if let Some(v) = direct {
            return Ok(v.clone());
        }
        match var {
            Some(_) => Ok(self
                .secret(&format!("{field}_env"), var)?
                .expose()
                .to_string()),
            None => self.bad(field, format!("is needed (or {field}_env)")),
        }
    }

    fn url(&self, field: &str, text: &str) -> Result<url::Url, Missing> {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
            _ => self.bad(field, format!("'{text}' is not an http(s) URL")),
        }
    }
}

fn hidden(s: Secret) -> crate::upstream::credentials::Hidden {
    crate::upstream::credentials::Hidden(s.expose().to_string())
}

/// Builds a provider's credential from its (merged) table.
pub(super) fn build(
    cx: &Ctx<'_>,
    provider: &str,
    raw: &RawCredential,
    span: std::ops::Range<usize>,
    base_url: &str,
) -> Result<Built, ConfigError> {
    let r = Reader {
        cx,
        provider,
        key: format!("providers.{provider}.credential"),
        span,
    };
    match kind(&r, raw, base_url) {
        Ok(c) => Ok(Built::Ready(c)),
        Err(Missing::Var(var)) => Ok(Built::Inactive(Inactive::NoCredential {
            provider: provider.to_string(),
            var,
        })),
        Err(Missing::Config(e)) => Err(e),
    }
}

fn kind(
    r: &Reader<'_, '_>,
    raw: &RawCredential,
    base_url: &str,
) -> Result<ProviderCredential, Missing> {
    let token = |kind: TokenKind, placement: Placement| {
        ProviderCredential::Token(Arc::new(TokenSource::new(r.provider, kind, placement)))
    };
    Ok(match raw.kind.as_deref().unwrap_or("") {
        k @ ("oauth" | "entra") => token(
            TokenKind::ClientCredentials(client_credentials(r, raw, k == "entra")?),
            Placement::Bearer,
        ),
        "qianfan" => token(
            TokenKind::ClientCredentials(ClientCredentials {
                dialect: Dialect::Qianfan,
                token_url: r.url(
                    "token_url",
                    raw.token_url.as_deref().unwrap_or(QIANFAN_TOKEN_URL),
                )?,
                client_id: r
                    .secret("api_key_env", &raw.api_key_env)?
                    .expose()
                    .to_string(),
                client_secret: hidden(r.secret("secret_key_env", &raw.secret_key_env)?),
                scope: None,
            }),
            Placement::AsKey,
        ),
        "google" => token(
            TokenKind::ServiceAccount(service_account(r, raw)?),
            Placement::Bearer,
        ),
        "gce-metadata" => {
            let base = raw
                .metadata_url
                .clone()
                .or_else(|| (r.cx.env)("GCE_METADATA_HOST").map(|h| format!("http://{h}")))
                .unwrap_or_else(|| crate::upstream::credentials::METADATA_URL.into());
            token(
                TokenKind::Metadata(Metadata {
                    base: r.url("metadata_url", &base)?,
                    scope: raw.scope.clone(),
                }),
                Placement::Bearer,
            )
        }
        "tencent" => ProviderCredential::Tc3(Arc::new(tencent(r, raw, base_url)?)),
        other => {
            return r.bad(
                "kind",
                format!("'{other}' is not a credential kind (known: {KINDS})"),
            );
        }
    })
}

/// OAuth 2.0 client credentials, or Entra ID's (its token URL from the tenant, Azure
/// OpenAI's scope unless another is set).
fn client_credentials(
    r: &Reader<'_, '_>,
    raw: &RawCredential,
    entra: bool,
) -> Result<ClientCredentials, Missing> {
    let (dialect, url, scope) = if entra {
        let url = match (&raw.token_url, &raw.tenant) {
            (Some(u), _) => u.clone(),
            (None, Some(t)) => format!("https://login.microsoftonline.com/{t}/oauth2/v2.0/token"),
            (None, None) => return r.bad("tenant", "is needed (your directory id)"),
        };
        let scope = raw.scope.clone().unwrap_or(ENTRA_SCOPE.into());
        (Dialect::Entra, url, Some(scope))
    } else {
        let Some(url) = &raw.token_url else {
            return r.bad("token_url", "is needed");
        };
        (Dialect::OAuth, url.clone(), raw.scope.clone())
    };
    Ok(ClientCredentials {
        dialect,
        token_url: r.url("token_url", &url)?,
        client_id: r.plain("client_id", &raw.client_id, &raw.client_id_env)?,
        client_secret: hidden(r.secret("client_secret_env", &raw.client_secret_env)?),
        scope,
    })
}

/// Tencent Cloud's key pair, and the service it signs for (named, or the first label
/// of a `<service>.tencentcloudapi.com` base URL).
fn tencent(r: &Reader<'_, '_>, raw: &RawCredential, base_url: &str) -> Result<Tc3, Missing> {
    let host = url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    let service = match (&raw.service, host) {
        (Some(s), _) => s.clone(),
        (None, Some(h)) if h.ends_with(".tencentcloudapi.com") => {
            h.split('.').next().unwrap_or_default().to_string()
        }
        _ => {
            return r.bad(
                "service",
                "is needed when base_url is not <service>.tencentcloudapi.com",
            );
        }
    };
    let secret = |f: &str, v: &Option<String>| r.secret(f, v).map(|s| s.expose().to_string());
    let creds = crate::upstream::tc3::Tc3Credentials {
        secret_id: secret("secret_id_env", &raw.secret_id_env)?,
        secret_key: secret("secret_key_env", &raw.secret_key_env)?,
    };
    Ok(Tc3 { creds, service })
}

/// A Google service account from its key file or the variable holding it.
fn service_account(r: &Reader<'_, '_>, raw: &RawCredential) -> Result<ServiceAccount, Missing> {
    let (field, json) = match (&raw.key_file, &raw.key_env) {
        (Some(path), _) => ("key_file", read_key(r, "key_file", path)?),
        (None, Some(_)) => {
            let v = r.secret("key_env", &raw.key_env)?;
            let text = v.expose().trim();
            if text.starts_with('{') {
                ("key_env", text.to_string())
            } else {
                ("key_env", read_key(r, "key_env", text)?)
            }
        }
        (None, None) => {
            return r.bad(
                "key_file",
                "is needed (or key_env), a service account's JSON key",
            );
        }
    };
    ServiceAccount::from_json(&json, raw.scope.as_deref(), raw.token_url.as_deref())
        .or_else(|e| r.bad(field, e))
}

fn read_key(r: &Reader<'_, '_>, field: &str, path: &str) -> Result<String, Missing> {
    let p = r.cx.base.join(path);
    let meta = std::fs::metadata(&p);
    if meta.as_ref().is_ok_and(|m| m.len() > 64 << 10) {
        return r.bad(field, format!("{} is larger than a key file", p.display()));
    }
    std::fs::read_to_string(&p)
        .or_else(|e| r.bad(field, format!("cannot read {}: {e}", p.display())))
}
