//! Credentials the host obtains and refreshes for a provider, behind one type: a
//! token kind (OAuth 2.0 client credentials and its Microsoft Entra ID preset, a Google
//! service account's signed assertion, Google's metadata server, Baidu Qianfan's
//! key + secret exchange) is fetched from its token endpoint, cached until shortly
//! before it expires and refreshed once for all the requests that need it (single
//! flight); a failed refresh is remembered for a moment so a crowd of requests does
//! not hammer the endpoint, and fails the attempt over like a 5xx. Every token is a
//! secret the gateway's outputs are scrubbed of (`secrets::rotate`). The adapter names
//! where a credential goes; it never sees one.

mod kinds;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::time::Instant;

pub use kinds::{
    CLOUD_PLATFORM, ClientCredentials, Dialect, METADATA_URL, Metadata, ServiceAccount,
};

/// Largest token answer read.
const MAX_TOKEN_BODY: usize = 64 << 10;
/// How long one token request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a failed refresh answers for itself (no new fetch before then).
const FAILURE_HOLD: Duration = Duration::from_secs(2);
/// A token is refreshed this long before it expires (or at 90 % of a shorter life).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Why no token could be had. Its words never carry a secret (they are scrubbed).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the token endpoint's answer has no usable token: {0}")]
    Malformed(String),
    #[error("the credential cannot be used: {0}")]
    Invalid(String),
}

impl CredentialError {
    /// The endpoint's refusal: its error code for the client's eyes (a description may
    /// name the tenant, the application or a trace); the description goes to the log.
    fn refused(status: u16, body: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let said = |keys: &[&str]| {
            keys.iter().find_map(|k| match &v[*k] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        if let Some(d) = said(&["error_description", "error_msg", "message"]) {
            tracing::warn!(status, description = %crate::secrets::scrub(&d), "token endpoint refused");
        }
        let code = said(&["error", "error_code"])
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_else(|| "no error code".into());
        CredentialError::Refused {
            status,
            message: crate::secrets::scrub_owned(code),
        }
    }
}

/// A secret the host holds for a credential: never printed.
#[derive(Clone)]
pub struct Hidden(pub String);

impl Hidden {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(***)")
    }
}

/// A provider's credential besides a static key.
#[derive(Debug, Clone)]
pub enum ProviderCredential {
    /// A token the host fetches and refreshes.
    Token(Arc<TokenSource>),
    /// Tencent Cloud's TC3-HMAC-SHA256 signature, computed over each request.
    Tc3(Arc<Tc3>),
}

impl ProviderCredential {
    /// The kind's name, for pages and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderCredential::Token(t) => t.kind(),
            ProviderCredential::Tc3(_) => "tencent-tc3",
        }
    }
}

/// The token to send for `credential` (none for a static key or a signer), fetched
/// or refreshed when it must be.
pub async fn token_for(
    credential: Option<&ProviderCredential>,
) -> Result<Option<(Arc<str>, Placement)>, CredentialError> {
    match credential {
        Some(ProviderCredential::Token(t)) => Ok(Some((t.token().await?, t.placement()))),
        _ => Ok(None),
    }
}

/// The provider refused the token it was sent: the token kind forgets it.
pub fn rejected(credential: Option<&ProviderCredential>, token: &str) {
    if let Some(ProviderCredential::Token(t)) = credential {
        t.rejected(token);
    }
}

/// The TC3 signer of `credential`, if it is one.
pub fn tc3_of(credential: Option<&ProviderCredential>) -> Option<&Tc3> {
    match credential {
        Some(ProviderCredential::Tc3(t)) => Some(t),
        _ => None,
    }
}

/// Tencent Cloud API credentials and the service they sign for.
pub struct Tc3 {
    pub creds: super::tc3::Tc3Credentials,
    pub service: String,
}

impl std::fmt::Debug for Tc3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tc3")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Where a credential's token goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// `Authorization: Bearer <token>` whatever the adapter's scheme (an OAuth token).
    Bearer,
    /// Where the adapter's scheme puts a key (Qianfan's `access_token` query).
    AsKey,
}

/// One token kind's fetch.
#[derive(Debug)]
pub enum TokenKind {
    ClientCredentials(ClientCredentials),
    ServiceAccount(ServiceAccount),
    Metadata(Metadata),
}

/// A token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    pub value: Arc<str>,
    pub expires_in: Duration,
}

struct Cached {
    value: Arc<str>,
    refresh_at: Instant,
    expires_at: Instant,
}

/// A provider's token credential: its kind, the token it holds, and the one refresh.
pub struct TokenSource {
    /// The provider's name (the scrub registry's slot, the log's words).
    name: String,
    kind: TokenKind,
    placement: Placement,
    current: RwLock<Option<Cached>>,
    /// Held by the one request that refreshes; keeps the last failure and its time.
    refresh: tokio::sync::Mutex<Option<(Instant, CredentialError)>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(name: &str, kind: TokenKind, placement: Placement) -> Self {
        TokenSource {
            name: name.to_string(),
            kind,
            placement,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// How many times the token endpoint was asked.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The kind's name, for pages and logs.
    pub fn kind(&self) -> &'static str {
        match &self.kind {
            TokenKind::ClientCredentials(c) => c.kind_name(),
            TokenKind::ServiceAccount(_) => "google-service-account",
            TokenKind::Metadata(_) => "gce-metadata",
        }
    }

    /// The provider refused `token` (401): it is not used again; the next request
    /// fetches a new one.
    pub fn rejected(&self, token: &str) {
        let mut c = self.current.write();
        if c.as_ref().is_some_and(|c| &*c.value == token) {
            *c = None;
        }
    }

    fn fresh(&self, now: Instant, usable_until: fn(&Cached) -> Instant) -> Option<Arc<str>> {
        let c = self.current.read();
        c.as_ref()
            .filter(|c| now < usable_until(c))
            .map(|c| c.value.clone())
    }

    /// A token to send: the cached one while it is fresh, else one refresh shared by
    /// every caller; while one caller refreshes, the others keep using a token that has
    /// not expired (they wait only when there is none); a still-valid old token outlives
    /// a failed refresh.
    pub async fn token(&self) -> Result<Arc<str>, CredentialError> {
        let now = Instant::now();
        if let Some(t) = self.fresh(now, |c| c.refresh_at) {
            return Ok(t);
        }
        let mut failed = match self.refresh.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.fresh(now, |c| c.expires_at) {
                Some(t) => return Ok(t),
                None => self.refresh.lock().await,
            },
        };
        let now = Instant::now();
        if let Some(t) = self.fresh(now, |c| c.refresh_at) {
            return Ok(t);
        }
        if let Some((at, e)) = &*failed
            && now.duration_since(*at) < FAILURE_HOLD
        {
            return self.fresh(now, |c| c.expires_at).ok_or_else(|| e.clone());
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let got = tokio::time::timeout(FETCH_TIMEOUT, self.kind.fetch())
            .await
            .unwrap_or_else(|_| {
                Err(CredentialError::Unreachable(format!(
                    "no answer within {FETCH_TIMEOUT:?}"
                )))
            });
        match got {
            Ok(t) => {
                crate::secrets::rotate(&format!("token:{}", self.name), &t.value);
                let life = t.expires_in;
                let early = REFRESH_MARGIN.min(life / 10);
                *self.current.write() = Some(Cached {
                    value: t.value.clone(),
                    refresh_at: now + life.saturating_sub(early),
                    expires_at: now + life,
                });
                *failed = None;
                Ok(t.value)
            }
            Err(e) => {
                tracing::warn!(provider = %self.name, error = %e, "token refresh failed");
                // Held from when the fetch ended, however long it took.
                let ended = Instant::now();
                *failed = Some((ended, e.clone()));
                self.fresh(ended, |c| c.expires_at).ok_or(e)
            }
        }
    }
}

impl TokenKind {
    async fn fetch(&self) -> Result<Token, CredentialError> {
        match self {
            TokenKind::ClientCredentials(c) => c.fetch().await,
            TokenKind::ServiceAccount(s) => s.fetch().await,
            TokenKind::Metadata(m) => m.fetch().await,
        }
    }
}

/// Sends a token request and reads `{access_token, expires_in}` from the answer.
async fn exchange(req: http::Request<super::OutBody>) -> Result<Token, CredentialError> {
    let resp = super::client()
        .send(req)
        .await
        .map_err(|e| CredentialError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = super::read_body(resp, MAX_TOKEN_BODY)
        .await
        .map_err(|e| CredentialError::Unreachable(e.to_string()))?;
    if !(200..300).contains(&status) {
        return Err(CredentialError::refused(status, &body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| CredentialError::Malformed(format!("not JSON: {e}")))?;
    // Qianfan answers its errors with 200.
    if v.get("error").is_some() || v.get("error_code").is_some() {
        return Err(CredentialError::refused(status, &body));
    }
    let value = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.len() <= 16 << 10)
        .ok_or_else(|| CredentialError::Malformed("no access_token".into()))?;
    // Entra sends `expires_in` as a string in its v1 endpoint; both are accepted.
    let secs = v["expires_in"]
        .as_u64()
        .or_else(|| v["expires_in"].as_str()?.parse().ok())
        .unwrap_or(3600)
        .clamp(1, 60 * 24 * 3600);
    Ok(Token {
        value: value.into(),
        expires_in: Duration::from_secs(secs),
    })
}

/// A form POST to a token endpoint.
fn form_post(
    url: &url::Url,
    form: &[(&str, &str)],
) -> Result<http::Request<super::OutBody>, CredentialError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    http::Request::post(url.as_str())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json")
        .body(http_body_util::Full::new(Bytes::from(body)))
        .map_err(|e| CredentialError::Invalid(e.to_string()))
}
