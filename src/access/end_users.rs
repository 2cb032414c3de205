//! End users proven by signed tokens (`[auth.end_users]`): the application signs a JWT
//! for its user, the client sends it in a header beside its gateway key, and the
//! gateway checks its signature against the issuer's JWKS (`jsonwebtoken`; the keys
//! fetched through the gateway's client, kept ten minutes, fetched again at once when a
//! token names a key not yet known — a rotation by `kid` — but for such misses at most
//! once every 30 s, so made-up `kid`s cannot drive fetches), its issuer,
//! audience, expiry and not-before. The claim it names (`sub` by default) is then the
//! request's end user: what per-user budgets, quotas, usage and `/v1/me` rest on. When
//! the JWKS cannot be fetched, the keys last held go on serving (fetches are retried
//! every ten seconds); with none held, requests that carry a token are 503.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;

use crate::config::auth::EndUsersConfig;

const KEEP: Duration = Duration::from_secs(600);
const REFETCH_AFTER: Duration = Duration::from_secs(30);
const BACKOFF: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS: usize = 256 * 1024;
/// Longest token read.
const MAX_TOKEN: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EndUserError {
    #[error("the end-user token is not valid: {0}")]
    Invalid(String),
    #[error("the end-user token cannot be checked now: {0}")]
    Unavailable(String),
}

struct Keys {
    url: url::Url,
    set: JwkSet,
    at: Instant,
}

#[derive(Default)]
pub struct EndUsers {
    keys: Mutex<Option<std::sync::Arc<Keys>>>,
    /// When a token's unknown `kid` last made a fetch.
    last_miss: Mutex<Option<Instant>>,
    /// When the last fetch failed (none is tried again for `BACKOFF` while keys are held).
    failed_at: Mutex<Option<Instant>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

async fn fetch(url: &url::Url) -> Result<JwkSet, String> {
    let req = http::Request::get(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(TIMEOUT, crate::upstream::client().send(req))
        .await
        .map_err(|_| format!("the JWKS did not answer within {TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    if !answer.status().is_success() {
        return Err(format!("the JWKS answered {}", answer.status()));
    }
    let body = crate::upstream::read_body(answer, MAX_JWKS)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("the JWKS is not a key set: {e}"))
}

impl EndUsers {
    /// The key set, fetched when missing, old, for another URL, or (`missing_kid`)
    /// lacking a key a token names — unless a miss made a fetch in the last 30 s.
    async fn keys(
        &self,
        url: &url::Url,
        missing_kid: bool,
    ) -> Result<std::sync::Arc<Keys>, EndUserError> {
        let refetch = missing_kid
            && self
                .last_miss
                .lock()
                .is_none_or(|at| at.elapsed() >= REFETCH_AFTER);
        let usable = |k: &Keys| k.url == *url && k.at.elapsed() < KEEP && !refetch;
        if let Some(k) = self.keys.lock().clone().filter(|k| usable(k)) {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        if refetch {
            let mut last = self.last_miss.lock();
            if last.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
                // Another request's miss fetched meanwhile.
                drop(last);
                if let Some(k) = self.keys.lock().clone() {
                    return Ok(k);
                }
            } else {
                *last = Some(Instant::now());
            }
        } else if let Some(k) = self.keys.lock().clone().filter(|k| usable(k)) {
            return Ok(k);
        }
        let stale = self.keys.lock().clone().filter(|k| k.url == *url);
        // After a failed fetch, the keys held (however old) serve for a while rather
        // than every request waiting on a JWKS that is down.
        if let Some(k) = &stale
            && self
                .failed_at
                .lock()
                .is_some_and(|at| at.elapsed() < BACKOFF)
        {
            return Ok(k.clone());
        }
        let set = match fetch(url).await {
            Ok(set) => set,
            Err(e) => {
                *self.failed_at.lock() = Some(Instant::now());
                tracing::warn!(error = %e, "fetching the end users' JWKS failed");
                return stale.ok_or(EndUserError::Unavailable(e));
            }
        };
        *self.failed_at.lock() = None;
        let keys = std::sync::Arc::new(Keys {
            url: url.clone(),
            set,
            at: Instant::now(),
        });
        *self.keys.lock() = Some(keys.clone());
        Ok(keys)
    }

    /// The end user `token` names, once it checks out.
    pub async fn verify(&self, cfg: &EndUsersConfig, token: &str) -> Result<String, EndUserError> {
        let invalid = |m: &str| EndUserError::Invalid(m.to_string());
        if token.len() > MAX_TOKEN {
            return Err(invalid("it is too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("it is not a JWT"))?;
        let kid = header
            .kid
            .ok_or_else(|| invalid("its header names no key (kid)"))?;
        let mut keys = self.keys(&cfg.jwks_url, false).await?;
        if keys.set.find(&kid).is_none() {
            keys = self.keys(&cfg.jwks_url, true).await?;
        }
        let jwk = keys
            .set
            .find(&kid)
            .ok_or_else(|| invalid("its key (kid) is not in the issuer's JWKS"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("the JWKS key is unusable"))?;
        // The algorithm is the key's, never the token's own say.
        let mut v = match jwk.common.key_algorithm {
            Some(ka) => Validation::new(
                ka.to_string()
                    .parse::<Algorithm>()
                    .map_err(|_| invalid("the JWKS key's algorithm is unknown"))?,
            ),
            None => Validation::new_for_family(key.family()),
        };
        v.set_audience(&[&cfg.audience]);
        v.set_issuer(&[&cfg.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = cfg.leeway_secs;
        v.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &v)
                .map_err(|e| invalid(describe(&e)))?;
        data.claims
            .get(&cfg.claim)
            .and_then(|c| c.as_str())
            .filter(|u| !u.is_empty() && u.len() <= 256)
            .map(str::to_string)
            .ok_or_else(|| EndUserError::Invalid(format!("it has no '{}' claim", cfg.claim)))
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
        ErrorKind::InvalidSignature => "its signature does not verify",
        ErrorKind::InvalidAudience => "it is meant for another audience",
        ErrorKind::InvalidIssuer => "another issuer made it",
        ErrorKind::InvalidAlgorithm => "its algorithm is not the key's",
        ErrorKind::MissingRequiredClaim(_) => "it lacks exp, iss or aud",
        _ => "it is malformed",
    }
}
