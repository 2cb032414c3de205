//! The token kinds' fetches, each written from its provider's public documentation:
//! OAuth 2.0 client credentials (RFC 6749 §4.4, secret in the form) with Microsoft Entra
//! ID as its preset, Baidu Qianfan's `oauth/2.0/token` exchange of an API key and
//! secret key (parameters in the query, 30-day tokens), a Google service account's
//! RS256-signed JWT assertion exchanged at its `token_uri` (RFC 7523), and the Google
//! Cloud metadata server's token of the machine's own service account.

use bytes::Bytes;

use super::{CredentialError, Hidden, Token, exchange, form_post};

/// Which endpoint's dialect a client-credentials exchange speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A form POST: `grant_type=client_credentials`, id, secret, scope.
    OAuth,
    /// The same, at `login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    Entra,
    /// Baidu's `aip.baidubce.com/oauth/2.0/token`: the same fields in the query.
    Qianfan,
}

/// OAuth 2.0 client credentials.
#[derive(Debug)]
pub struct ClientCredentials {
    pub dialect: Dialect,
    pub token_url: url::Url,
    pub client_id: String,
    pub client_secret: Hidden,
    pub scope: Option<String>,
}

impl ClientCredentials {
    pub fn kind_name(&self) -> &'static str {
        match self.dialect {
            Dialect::OAuth => "oauth-client-credentials",
            Dialect::Entra => "entra-id",
            Dialect::Qianfan => "qianfan",
        }
    }

    pub(super) async fn fetch(&self) -> Result<Token, CredentialError> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        if let Some(s) = &self.scope {
            form.push(("scope", s.as_str()));
        }
        let req = match self.dialect {
            Dialect::OAuth | Dialect::Entra => form_post(&self.token_url, &form)?,
            Dialect::Qianfan => {
                let mut url = self.token_url.clone();
                url.query_pairs_mut().extend_pairs(&form);
                http::Request::post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(http::header::ACCEPT, "application/json")
                    .body(http_body_util::Full::new(Bytes::new()))
                    .map_err(|e| CredentialError::Invalid(e.to_string()))?
            }
        };
        exchange(req).await
    }
}

/// A Google service account's JSON key, read at load.
pub struct ServiceAccount {
    pub client_email: String,
    pub key_id: Option<String>,
    pub key: jsonwebtoken::EncodingKey,
    pub token_uri: url::Url,
    pub scope: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri.as_str())
            .finish_non_exhaustive()
    }
}

/// The JWT claims of a service account's assertion.
#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Google's key file fields the host reads (`type` must be `service_account`).
#[derive(serde::Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

impl ServiceAccount {
    /// Reads a key file's JSON; `token_url` overrides its `token_uri`.
    pub fn from_json(
        json: &str,
        scope: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<Self, String> {
        let k: KeyFile = serde_json::from_str(json)
            .map_err(|e| format!("is not a Google service account key file: {e}"))?;
        if k.kind != "service_account" {
            return Err(format!("has type '{}', not a service_account key", k.kind));
        }
        crate::secrets::register(&k.private_key);
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(k.private_key.as_bytes())
            .map_err(|e| format!("has a private_key that is not an RSA key in PEM: {e}"))?;
        let uri = token_url
            .or(k.token_uri.as_deref())
            .unwrap_or(GOOGLE_TOKEN_URI);
        let token_uri =
            url::Url::parse(uri).map_err(|e| format!("has an invalid token_uri: {e}"))?;
        Ok(ServiceAccount {
            client_email: k.client_email,
            key_id: k.private_key_id,
            key,
            token_uri,
            scope: scope.unwrap_or(CLOUD_PLATFORM).to_string(),
        })
    }

    /// The signed assertion: valid for an hour from now (Google's longest).
    pub fn assertion(&self, now: u64) -> Result<String, CredentialError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            scope: &self.scope,
            aud: self.token_uri.as_str(),
            iat: now,
            exp: now + 3600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| CredentialError::Invalid(format!("could not sign the assertion: {e}")))
    }

    pub(super) async fn fetch(&self) -> Result<Token, CredentialError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let assertion = self.assertion(now)?;
        let req = form_post(
            &self.token_uri,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ],
        )?;
        exchange(req).await
    }
}

/// The Google Cloud metadata server (`GCE_METADATA_HOST` or the configured URL).
#[derive(Debug)]
pub struct Metadata {
    pub base: url::Url,
    pub scope: Option<String>,
}

pub const METADATA_URL: &str = "http://metadata.google.internal";

impl Metadata {
    pub(super) async fn fetch(&self) -> Result<Token, CredentialError> {
        let mut url = self.base.clone();
        let path = format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/token",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        if let Some(s) = &self.scope {
            url.query_pairs_mut().append_pair("scopes", s);
        }
        let req = http::Request::get(url.as_str())
            .header("metadata-flavor", "Google")
            .body(http_body_util::Full::new(Bytes::new()))
            .map_err(|e| CredentialError::Invalid(e.to_string()))?;
        exchange(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_that_is_not_a_service_account_is_refused_with_its_reason() {
        let e = ServiceAccount::from_json(r#"{"type":"authorized_user"}"#, None, None)
            .err()
            .unwrap();
        assert!(e.contains("service account"), "{e}");
        let e = ServiceAccount::from_json(
            r#"{"type":"service_account","client_email":"a@b","private_key":"not a key"}"#,
            None,
            None,
        )
        .err()
        .unwrap();
        assert!(e.contains("PEM"), "{e}");
    }
}
