//! CORS for browser applications that call the gateway directly: `[server.cors]` (the
//! origins every key may be used from, the methods and headers a preflight allows, the
//! response headers a page may read, how long a preflight is kept), a key's or a
//! route's own `cors_origins` (its requests are refused from any other page), and what
//! a preflight answers — every origin any of them names, since a preflight carries no
//! key and no body. `*` is allowed only without credentials.

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::fields::Ctx;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    /// Origins (`https://app.example.com`) every key may be used from; `["*"]`: any.
    #[serde(default)]
    pub origins: Vec<Spanned<String>>,
    /// Default: GET, POST.
    pub methods: Option<Vec<String>>,
    /// Request headers a page may send (default: what OpenAI and Anthropic SDKs send).
    pub headers: Option<Vec<String>>,
    /// Response headers a page may read (default: request id, rate limits, cost,
    /// overhead, the provider).
    pub expose_headers: Option<Vec<String>>,
    /// How long a browser keeps a preflight's answer, in seconds (default 600).
    pub max_age_secs: Option<u64>,
    /// Pages may send credentials (cookies); never with `*`.
    pub allow_credentials: Option<bool>,
}

/// Who may call from which page, as the server applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cors {
    /// Any origin (`*`).
    pub any: bool,
    /// The origins every key may be used from.
    pub origins: Vec<String>,
    /// Every origin a preflight says yes to: these, and each key's and route's.
    pub preflight: Vec<String>,
    pub methods: String,
    pub headers: String,
    pub expose: String,
    pub max_age_secs: u64,
    pub credentials: bool,
}

const HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "openai-organization",
    "openai-project",
    "x-stainless-arch",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
    "x-switchboard-user-token",
    "x-switchboard-prompt",
    "cache-control",
];

const EXPOSE: &[&str] = &[
    "x-request-id",
    "x-switchboard-overhead-ms",
    "x-switchboard-cost",
    "x-switchboard-provider",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "retry-after",
];

/// An origin as browsers send it (`scheme://host[:port]`, lower case), or why not.
pub fn origin(v: &str) -> Result<String, String> {
    let u = url::Url::parse(v)
        .map_err(|_| format!("'{v}' is not an origin like https://app.example.com"))?;
    let bare =
        u.path() == "/" && u.query().is_none() && u.fragment().is_none() && !v.ends_with('/');
    if !matches!(u.scheme(), "http" | "https")
        || u.host().is_none()
        || !bare
        || !u.username().is_empty()
    {
        return Err(format!(
            "'{v}' is not an origin like https://app.example.com (no path)"
        ));
    }
    Ok(u.origin().ascii_serialization())
}

/// A list of origins (`what` names it in errors).
pub(super) fn origins(
    cx: &Ctx<'_>,
    list: &[Spanned<String>],
    what: &str,
) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .map(|o| origin(o.get_ref()).or_else(|e| cx.err(o.span(), what, e)))
        .collect()
}

/// `[server.cors]` with the keys' and routes' origins (`named`); `None` when neither
/// names any.
pub(super) fn cors(
    cx: &Ctx<'_>,
    raw: Option<&RawCors>,
    named: Vec<String>,
) -> Result<Option<Cors>, ConfigError> {
    let empty = RawCors::default();
    let c = raw.unwrap_or(&empty);
    let any = c.origins.iter().any(|o| o.get_ref() == "*");
    let listed: Vec<Spanned<String>> = c
        .origins
        .iter()
        .filter(|o| o.get_ref() != "*")
        .cloned()
        .collect();
    let origins = origins(cx, &listed, "server.cors.origins")?;
    if raw.is_none() && named.is_empty() {
        return Ok(None);
    }
    let credentials = c.allow_credentials.unwrap_or(false);
    if any && credentials {
        let span = c.origins.first().map_or(0..0, |o| o.span());
        return cx.err(
            span,
            "server.cors",
            "origins = [\"*\"] cannot go with allow_credentials",
        );
    }
    let mut preflight = origins.clone();
    for o in named {
        if !preflight.contains(&o) {
            preflight.push(o);
        }
    }
    let join = |v: Option<&Vec<String>>, d: &[&str]| match v {
        Some(v) => v
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(", "),
        None => d.join(", "),
    };
    Ok(Some(Cors {
        any,
        origins,
        preflight,
        methods: join(c.methods.as_ref(), &["GET", "POST"]).to_ascii_uppercase(),
        headers: join(c.headers.as_ref(), HEADERS),
        expose: join(c.expose_headers.as_ref(), EXPOSE),
        max_age_secs: c.max_age_secs.unwrap_or(600).min(86_400),
        credentials,
    }))
}

impl Cors {
    /// Whether a preflight from `origin` is answered yes.
    pub fn preflight_allows(&self, origin: &str) -> bool {
        self.any || self.preflight.iter().any(|o| o == origin)
    }

    /// Whether `origin` may use a key with `own` origins (`None`: the gateway's).
    pub fn allows(&self, origin: &str, own: Option<&[String]>) -> bool {
        match own {
            Some(list) => list.iter().any(|o| o == origin),
            None => self.any || self.origins.iter().any(|o| o == origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_bare_and_lower_case() {
        assert_eq!(
            origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(origin("https://app.example.com/path").is_err());
        assert!(origin("https://app.example.com/").is_err());
        assert!(origin("ftp://x").is_err());
        assert!(origin("*").is_err());
    }
}
