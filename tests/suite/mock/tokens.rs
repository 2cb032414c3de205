//! Token endpoints, each shaped from its public documentation, served under a
//! provider's prefix; each counts its calls, takes 100 ms (so concurrent requests
//! meet one refresh), and on success makes the token it issued the only key that
//! provider's mock takes:
//! - OAuth 2.0 client credentials / Microsoft Entra ID, `POST …/oauth2/v2.0/token`, a
//!   form (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
//!   `{token_type, expires_in, ext_expires_in, access_token}`, errors
//!   `{error, error_description, error_codes}` with 400/401;
//! - a Google service account, `POST …/google/token`, `grant_type=urn:ietf:params:oauth:
//!   grant-type:jwt-bearer` and an RS256 `assertion` checked against the test key's public
//!   half (developers.google.com/identity/protocols/oauth2/service-account);
//! - the Google Cloud metadata server, `GET …/computeMetadata/v1/instance/service-accounts/
//!   default/token` with `Metadata-Flavor: Google` (cloud.google.com/compute/docs/
//!   metadata/querying-metadata);
//! - Baidu Qianfan's `POST …/oauth/2.0/token?grant_type=client_credentials&client_id=AK&
//!   client_secret=SK` (cloud.baidu.com/doc/WENXINWORKSHOP/s/Ilkkrb0i5), 30-day tokens,
//!   errors `{error, error_description}`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{MockBody, State, json_resp};

pub const CLIENT_ID: &str = "switchboard-app";
pub const CLIENT_SECRET: &str = "entra-client-secret-~8Q.mock";
pub const QIANFAN_AK: &str = "qianfan-ak-mock";
pub const QIANFAN_SK: &str = "qianfan-sk-mock-secret";
pub const SA_EMAIL: &str = "gateway@switchboard-test.iam.gserviceaccount.com";
const SA_PUBLIC_KEY: &str = include_str!("../../fixtures/google-service-account.pub.pem");

/// What the provider's token endpoint does now.
#[derive(Default)]
pub struct Tokens {
    pub fetches: std::collections::HashMap<String, usize>,
    /// Answer every token request with this status (an outage).
    pub failing: std::collections::HashMap<String, u16>,
    /// Seconds the issued tokens live.
    pub life: std::collections::HashMap<String, u64>,
    /// Extra milliseconds each token request takes.
    pub delay_ms: std::collections::HashMap<String, u64>,
}

fn form(text: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// The token endpoint for `rest` under `provider`, if `rest` is one.
pub(super) async fn route(
    state: &Arc<State>,
    provider: &str,
    rest: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Option<http::Response<MockBody>> {
    let kind = match rest {
        "/oauth2/v2.0/token" => "entra",
        "/google/token" => "google",
        "/computeMetadata/v1/instance/service-accounts/default/token" => "metadata",
        "/oauth/2.0/token" => "qianfan",
        _ => return None,
    };
    let (n, failing, life, delay) = {
        let mut t = state.tokens.lock();
        let n = {
            let c = t.fetches.entry(provider.to_string()).or_default();
            *c += 1;
            *c
        };
        let delay = t.delay_ms.get(provider).copied().unwrap_or(0);
        (
            n,
            t.failing.get(provider).copied(),
            t.life.get(provider).copied(),
            delay,
        )
    };
    tokio::time::sleep(Duration::from_millis(100 + delay)).await;
    if let Some(status) = failing {
        return Some(json_resp(
            status,
            json!({ "error": "temporarily_unavailable", "error_description": "mock: the token service is down" }).to_string(),
        ));
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let checked = match kind {
        "entra" => entra(&form(&text)),
        "google" => google(&form(&text)),
        "metadata" => metadata(headers, query),
        _ => qianfan(&form(query.unwrap_or(""))),
    };
    let (status, v) = match checked {
        Ok(prefix) => {
            let token = format!("{prefix}.{provider}-{n}-mock-token");
            state
                .keys
                .lock()
                .insert(provider.to_string(), token.clone());
            let life = life.unwrap_or(if kind == "qianfan" { 2_592_000 } else { 3599 });
            let mut v =
                json!({ "access_token": token, "expires_in": life, "token_type": "Bearer" });
            if kind == "entra" {
                v["ext_expires_in"] = json!(life);
            }
            (200, v)
        }
        Err((status, v)) => (status, v),
    };
    Some(json_resp(status, v.to_string()))
}

type Checked = Result<&'static str, (u16, Value)>;

fn entra(f: &std::collections::HashMap<String, String>) -> Checked {
    let get = |k: &str| f.get(k).map(String::as_str);
    if get("grant_type") != Some("client_credentials") {
        return Err((
            400,
            json!({ "error": "unsupported_grant_type", "error_description": "AADSTS70003: grant type not supported", "error_codes": [70003] }),
        ));
    }
    if get("client_id") != Some(CLIENT_ID) || get("client_secret") != Some(CLIENT_SECRET) {
        return Err((
            401,
            json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215] }),
        ));
    }
    if get("scope").is_none() {
        return Err((
            400,
            json!({ "error": "invalid_request", "error_description": "AADSTS90014: The required field 'scope' is missing.", "error_codes": [90014] }),
        ));
    }
    Ok("eyJ0eXAiOiJKV1Qi")
}

fn google(f: &std::collections::HashMap<String, String>) -> Checked {
    let refuse = |why: &str| {
        Err((
            400,
            json!({ "error": "invalid_grant", "error_description": why }),
        ))
    };
    if f.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("Invalid grant_type");
    }
    let Some(assertion) = f.get("assertion") else {
        return refuse("Missing assertion");
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(SA_PUBLIC_KEY.as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let Ok(data) = jsonwebtoken::decode::<Value>(assertion, &key, &v) else {
        return refuse("Invalid JWT Signature.");
    };
    let c = data.claims;
    let life = c["exp"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(c["iat"].as_u64().unwrap_or(0));
    if c["iss"] != SA_EMAIL || life > 3600 || c["scope"].as_str().is_none_or(str::is_empty) {
        return refuse("Invalid JWT: claims");
    }
    if !c["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with("/google/token"))
    {
        return refuse("Invalid JWT: audience");
    }
    if data.header.kid.as_deref() != Some("test-key-1") {
        return refuse("Invalid JWT: kid");
    }
    Ok("ya29.c")
}

fn metadata(headers: &http::HeaderMap, _query: Option<&str>) -> Checked {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        // The metadata server's own refusal is HTML; its status is what matters.
        return Err((403, json!("Missing Metadata-Flavor:Google header.")));
    }
    Ok("ya29.m")
}

fn qianfan(q: &std::collections::HashMap<String, String>) -> Checked {
    let get = |k: &str| q.get(k).map(String::as_str);
    if get("grant_type") != Some("client_credentials") {
        return Err((
            400,
            json!({ "error": "unsupported_grant_type", "error_description": "unsupported grant type" }),
        ));
    }
    if get("client_id") != Some(QIANFAN_AK) {
        return Err((
            401,
            json!({ "error": "invalid_client", "error_description": "unknown client id" }),
        ));
    }
    if get("client_secret") != Some(QIANFAN_SK) {
        return Err((
            401,
            json!({ "error": "invalid_client", "error_description": "Client authentication failed" }),
        ));
    }
    Ok("24.c")
}
