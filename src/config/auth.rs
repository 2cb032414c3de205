//! `[auth]`: single sign-on for the console (`[auth.oidc]`: the issuer it discovers,
//! the client, which claim names the person and which claim values map to which role)
//! and end users whose identity a signed token proves (`[auth.end_users]`: the
//! application's issuer, its JWKS, the audience, the claim, the header the token comes
//! in). Roles are checked here, URLs parsed, the client secret read from its variable.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::fields::Ctx;
use super::{ConfigError, Secret};
use crate::roles::Role;

/// Where a request's end user comes from: the `user` field the client sends, or a
/// signed token (`[auth.end_users]`) whose claim names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserFrom {
    #[default]
    Body,
    Jwt,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub oidc: Option<RawOidc>,
    pub end_users: Option<RawEndUsers>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    pub issuer: Spanned<String>,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    /// This console's callback as the IdP sees it: `https://gw.example.com/console/sso/callback`.
    pub redirect_url: Spanned<String>,
    /// The claim naming the person (default `email`; `sub` when the token has none).
    pub user_claim: Option<String>,
    /// The claim holding groups or roles (default `groups`): a string or a list.
    pub role_claim: Option<String>,
    /// Claim value → role; the highest one a person's values map to is theirs.
    #[serde(default)]
    pub roles: BTreeMap<String, Spanned<String>>,
    /// The role of a person none of whose values map to one (default: refused).
    pub default_role: Option<Spanned<String>>,
    /// Scopes asked for besides `openid` (default `email`, `profile`, `groups`).
    pub scopes: Option<Vec<String>>,
    /// The sign-in button's text.
    pub label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndUsers {
    pub issuer: String,
    pub jwks_url: Spanned<String>,
    pub audience: String,
    /// The claim naming the end user (default `sub`).
    pub claim: Option<String>,
    /// The request header the token comes in (default `x-switchboard-user-token`).
    pub header: Option<String>,
    /// Clock skew allowed on `exp`/`nbf`, in seconds (default 30).
    pub leeway_secs: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub oidc: Option<OidcConfig>,
    pub end_users: Option<EndUsersConfig>,
}

#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub redirect_url: url::Url,
    pub user_claim: String,
    pub role_claim: String,
    pub roles: Vec<(String, Role)>,
    pub default_role: Option<Role>,
    pub scopes: Vec<String>,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndUsersConfig {
    pub issuer: String,
    pub jwks_url: url::Url,
    pub audience: String,
    pub claim: String,
    pub header: http::HeaderName,
    pub leeway_secs: u64,
}

fn role(cx: &Ctx<'_>, v: &Spanned<String>, key: &str) -> Result<Role, ConfigError> {
    Role::parse(v.get_ref()).map_or_else(
        || {
            cx.err(
                v.span(),
                key,
                format!(
                    "'{}' is not a role: admin, operator, viewer, team-admin:TEAM or team-member:TEAM",
                    v.get_ref()
                ),
            )
        },
        Ok,
    )
}

fn http_url(cx: &Ctx<'_>, v: &Spanned<String>, key: &str) -> Result<url::Url, ConfigError> {
    match url::Url::parse(v.get_ref()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => cx.err(
            v.span(),
            key,
            format!("'{}' is not an http(s) URL", v.get_ref()),
        ),
    }
}

pub(super) fn auth(cx: &Ctx<'_>, raw: Option<&RawAuth>) -> Result<AuthConfig, ConfigError> {
    let Some(a) = raw else {
        return Ok(AuthConfig::default());
    };
    Ok(AuthConfig {
        oidc: a.oidc.as_ref().map(|o| oidc(cx, o)).transpose()?,
        end_users: a.end_users.as_ref().map(|e| end_users(cx, e)).transpose()?,
    })
}

fn oidc(cx: &Ctx<'_>, o: &RawOidc) -> Result<OidcConfig, ConfigError> {
    http_url(cx, &o.issuer, "auth.oidc.issuer")?;
    let client_secret = match &o.client_secret_env {
        Some(var) => match (cx.env)(var) {
            Some(s) if !s.is_empty() => {
                crate::secrets::register(&s);
                Some(Secret::new(s))
            }
            _ => {
                return cx.err(
                    o.issuer.span(),
                    "auth.oidc.client_secret_env",
                    format!("environment variable {var} is not set"),
                );
            }
        },
        None => None,
    };
    let mut roles = Vec::new();
    for (value, r) in &o.roles {
        roles.push((
            value.clone(),
            role(cx, r, &format!("auth.oidc.roles.{value}"))?,
        ));
    }
    let default_role = match &o.default_role {
        Some(r) => Some(role(cx, r, "auth.oidc.default_role")?),
        None => None,
    };
    let scopes = o
        .scopes
        .clone()
        .unwrap_or_else(|| ["email", "profile", "groups"].map(String::from).to_vec());
    Ok(OidcConfig {
        issuer: o.issuer.get_ref().trim_end_matches('/').to_string(),
        client_id: o.client_id.clone(),
        client_secret,
        redirect_url: http_url(cx, &o.redirect_url, "auth.oidc.redirect_url")?,
        user_claim: o.user_claim.clone().unwrap_or_else(|| "email".into()),
        role_claim: o.role_claim.clone().unwrap_or_else(|| "groups".into()),
        roles,
        default_role,
        scopes,
        label: o
            .label
            .clone()
            .unwrap_or_else(|| "Sign in with single sign-on".into()),
    })
}

fn end_users(cx: &Ctx<'_>, e: &RawEndUsers) -> Result<EndUsersConfig, ConfigError> {
    let header = e
        .header
        .as_deref()
        .unwrap_or("x-switchboard-user-token")
        .to_ascii_lowercase();
    let Ok(header) = http::HeaderName::from_bytes(header.as_bytes()) else {
        return cx.err(
            e.jwks_url.span(),
            "auth.end_users.header",
            format!("'{header}' is not a header name"),
        );
    };
    Ok(EndUsersConfig {
        issuer: e.issuer.clone(),
        jwks_url: http_url(cx, &e.jwks_url, "auth.end_users.jwks_url")?,
        audience: e.audience.clone(),
        claim: e.claim.clone().unwrap_or_else(|| "sub".into()),
        header,
        leeway_secs: e.leeway_secs.unwrap_or(30).min(600),
    })
}

/// A route's or key's `user_from`, refused when it asks for tokens no `[auth.end_users]`
/// can verify.
pub(super) fn user_from(
    cx: &Ctx<'_>,
    raw: Option<&RawAuth>,
    v: Option<&Spanned<UserFrom>>,
    key: &str,
) -> Result<UserFrom, ConfigError> {
    let Some(v) = v else {
        return Ok(UserFrom::Body);
    };
    let configured = raw.is_some_and(|a| a.end_users.is_some());
    if *v.get_ref() == UserFrom::Jwt && !configured {
        return cx.err(
            v.span(),
            format!("{key}.user_from"),
            "\"jwt\" needs [auth.end_users] (the issuer, JWKS URL and audience of the tokens)",
        );
    }
    Ok(*v.get_ref())
}
