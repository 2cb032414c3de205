//! Single sign-on for the console: OpenID Connect's authorization code flow with PKCE
//! (the `openidconnect` crate: discovery from the issuer, the ID token's signature
//! checked against the IdP's JWKS, its issuer, audience, expiry and nonce checked).
//! What is kept between the redirect to the IdP and its callback — state, nonce, PKCE
//! verifier — rides in a short-lived `HttpOnly` cookie, so the callback may land on any
//! replica. The IdP is asked through the gateway's own HTTP client (no redirects
//! followed, bounded in time and size); its metadata and keys are discovered again
//! every ten minutes, and at once when a token names a key not yet known.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, Scope, SignatureVerificationError,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::Role;
use crate::config::auth::OidcConfig;

/// Every claim of the ID token beyond the standard ones (`groups`, `roles`, …).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Extra {
    #[serde(flatten)]
    pub claims: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for Extra {}

type Fields = IdTokenFields<
    Extra,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long discovered metadata and keys are used before being asked again.
const REDISCOVER: Duration = Duration::from_secs(600);
/// Most bytes an answer of the IdP may have.
const MAX_ANSWER: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why single sign-on failed (said to the person as a short code, logged in full).
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("single sign-on is not configured")]
    Off,
    #[error("the identity provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("the sign-in expired or did not start here (state)")]
    State,
    #[error("the identity provider refused the code: {0}")]
    Exchange(String),
    #[error("the ID token was refused: {0}")]
    Token(String),
    #[error("the ID token has no '{0}' claim to name the person")]
    NoName(String),
    #[error("no role maps from the person's '{0}' claim")]
    NoRole(String),
    #[error("the name '{0}' is a local account's or another identity's")]
    Taken(String),
}

impl SsoError {
    /// The code the console shows.
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::Off => "off",
            SsoError::Discovery(_) => "idp_unreachable",
            SsoError::State => "state",
            SsoError::Exchange(_) => "exchange",
            SsoError::Token(_) => "token",
            SsoError::NoName(_) => "no_name",
            SsoError::NoRole(_) => "no_role",
            SsoError::Taken(_) => "taken",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The IdP asked through the gateway's client.
struct Http;

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let req = http::Request::from_parts(
                parts,
                http_body_util::Full::new(bytes::Bytes::from(body)),
            );
            let answer = tokio::time::timeout(TIMEOUT, crate::upstream::client().send(req))
                .await
                .map_err(|_| HttpError(format!("no answer within {TIMEOUT:?}")))?
                .map_err(|e| HttpError(e.to_string()))?;
            let (parts, _) = http::Response::new(()).into_parts();
            let mut head = parts;
            head.status = answer.status();
            head.headers = answer.headers().clone();
            let body = crate::upstream::read_body(answer, MAX_ANSWER)
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            Ok(http::Response::from_parts(head, body.to_vec()))
        })
    }
}

struct Discovered {
    /// The settings it was made for.
    for_config: (String, String, url::Url),
    client: OidcClient,
    end_session: Option<url::Url>,
    at: Instant,
}

/// What the callback needs of the redirect that started a sign-in.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Who the IdP vouched for, and the role their claims map to.
pub struct Identity {
    pub name: String,
    pub role: Role,
    /// The issuer and `sub`: the one identity the name stays bound to.
    pub subject: String,
}

#[derive(Default)]
pub struct Sso {
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

fn rank(r: &Role) -> u8 {
    match r {
        Role::Admin => 5,
        Role::Operator => 4,
        Role::TeamAdmin(_) => 3,
        Role::Viewer => 2,
        Role::TeamMember(_) => 1,
    }
}

impl Sso {
    /// The client for `cfg`, discovered when missing, stale or made for other settings.
    async fn client(&self, cfg: &OidcConfig, fresh: bool) -> Result<Arc<Discovered>, SsoError> {
        let key = (
            cfg.issuer.clone(),
            cfg.client_id.clone(),
            cfg.redirect_url.clone(),
        );
        let mut slot = self.discovered.lock().await;
        if let Some(d) = slot.as_ref()
            && d.for_config == key
            && d.at.elapsed() < REDISCOVER
            && !fresh
        {
            return Ok(d.clone());
        }
        let discovery = |e: String| SsoError::Discovery(crate::secrets::scrub_owned(e));
        let issuer = IssuerUrl::new(cfg.issuer.clone()).map_err(|e| discovery(e.to_string()))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &Http)
            .await
            .map_err(|e| discovery(e.to_string()))?;
        let end_session = meta
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|u| u.url().clone());
        let client = OidcClient::from_provider_metadata(
            meta,
            ClientId::new(cfg.client_id.clone()),
            cfg.client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_string())),
        )
        .set_redirect_uri(
            RedirectUrl::new(cfg.redirect_url.to_string()).map_err(|e| discovery(e.to_string()))?,
        );
        let d = Arc::new(Discovered {
            for_config: key,
            client,
            end_session,
            at: Instant::now(),
        });
        *slot = Some(d.clone());
        Ok(d)
    }

    /// Where to send the browser to sign in, and what its callback will need.
    pub async fn start(&self, cfg: &OidcConfig) -> Result<(String, Pending), SsoError> {
        let d = self.client(cfg, false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut ask = d.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &cfg.scopes {
            ask = ask.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = ask.set_pkce_challenge(challenge).url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        };
        Ok((url.to_string(), pending))
    }

    /// The person a callback's `code` signs in, once the ID token checks out.
    pub async fn finish(
        &self,
        cfg: &OidcConfig,
        code: String,
        state: &str,
        pending: Pending,
    ) -> Result<Identity, SsoError> {
        if !crate::console::same(state, &pending.state) {
            return Err(SsoError::State);
        }
        let d = self.client(cfg, false).await?;
        let exchange = |e: String| SsoError::Exchange(crate::secrets::scrub_owned(e));
        let tokens = d
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&Http)
            .await
            .map_err(|e| exchange(e.to_string()))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SsoError::Token("the answer has no id_token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let claims = match id_token.claims(&d.client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The IdP rotated its keys: discover again, once.
                let d = self.client(cfg, true).await?;
                id_token
                    .claims(&d.client.id_token_verifier(), &nonce)
                    .map_err(|e| SsoError::Token(describe(&e)))?
                    .clone()
            }
            Err(e) => return Err(SsoError::Token(describe(&e))),
        };
        let extra = &claims.additional_claims().claims;
        let name = match cfg.user_claim.as_str() {
            "sub" => Some(claims.subject().to_string()),
            // An address the IdP has not verified names no one.
            "email" => claims
                .email()
                .filter(|_| claims.email_verified() == Some(true))
                .map(|e| e.to_string()),
            "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
            other => extra
                .get(other)
                .and_then(|v| v.as_str())
                .map(str::to_string),
        }
        .filter(|n| super::plain_name(n))
        .ok_or_else(|| SsoError::NoName(cfg.user_claim.clone()))?;
        let subject = format!("{} {}", cfg.issuer, claims.subject().as_str());
        let values: Vec<String> = match extra.get(&cfg.role_claim) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        let role = cfg
            .roles
            .iter()
            .filter(|(v, _)| values.contains(v))
            .map(|(_, r)| r.clone())
            .max_by_key(rank)
            .or_else(|| cfg.default_role.clone())
            .ok_or_else(|| SsoError::NoRole(cfg.role_claim.clone()))?;
        Ok(Identity {
            name,
            role,
            subject,
        })
    }

    /// Where the IdP ends its own session after ours (RP-initiated logout), back to
    /// the console's front page, if the IdP has such an endpoint.
    pub async fn end_session_url(&self, cfg: &OidcConfig) -> Option<String> {
        let d = self.client(cfg, false).await.ok()?;
        let mut url = d.end_session.clone()?;
        let mut back = cfg.redirect_url.clone();
        back.set_path("/");
        back.set_query(None);
        url.query_pairs_mut()
            .append_pair("client_id", &cfg.client_id)
            .append_pair("post_logout_redirect_uri", back.as_str());
        Some(url.to_string())
    }
}

fn describe(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::Expired(_) => "it has expired".into(),
        ClaimsVerificationError::InvalidAudience(_) => "it is meant for another client".into(),
        ClaimsVerificationError::InvalidIssuer(_) => "another issuer made it".into(),
        ClaimsVerificationError::InvalidNonce(_) => "its nonce is not this sign-in's".into(),
        ClaimsVerificationError::SignatureVerification(s) => {
            format!("its signature does not verify against the IdP's keys ({s})")
        }
        other => other.to_string(),
    }
}
