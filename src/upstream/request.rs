//! The request a provider is sent: the adapter's method, path and query under the
//! provider's base URL, the provider's and the adapter's headers, and the credential
//! where the adapter's auth scheme says (bearer, a header, a query parameter, or an
//! AWS SigV4 signature computed here). The one place a provider key is put on the wire.

use bytes::Bytes;

use super::credentials::{Placement, Tc3};
use super::sigv4::{self, AwsCredentials};
use crate::types::{AuthScheme, HttpMethod, Sigv4Scope, UpstreamRequest};

/// What an outbound request is made of.
pub struct Outbound<'a> {
    pub base: &'a url::Url,
    pub up: &'a UpstreamRequest,
    /// The provider's configured extra headers.
    pub provider_headers: &'a [(String, String)],
    pub key: Option<&'a str>,
    /// A token the host fetched for a credential kind, and where it goes.
    pub token: Option<(&'a str, Placement)>,
    pub aws: Option<&'a AwsCredentials>,
    /// Tencent Cloud's credentials: the request is TC3-signed whatever the adapter's
    /// scheme (other than `none`).
    pub tc3: Option<&'a Tc3>,
    pub body: Bytes,
    /// Unix seconds (for SigV4's date).
    pub now: u64,
}

/// Why an outbound request cannot be made from what the adapter and the config say.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("the adapter asks for AWS SigV4, but the provider has no aws_credentials_env")]
    NoAwsCredentials,
    #[error("the provider's base URL has no host")]
    NoHost,
    #[error("the upstream URL is not valid: {0}")]
    Url(#[from] http::uri::InvalidUri),
    #[error("the upstream request is not valid: {0}")]
    Request(#[from] http::Error),
}

/// The request, or why it cannot be made (SigV4 without credentials).
pub fn build(o: Outbound<'_>) -> Result<http::Request<super::OutBody>, OutboundError> {
    let up = o.up;
    // A token placed as a key goes where a key would; a bearer token replaces it.
    let (key, bearer) = match o.token {
        Some((t, Placement::AsKey)) => (Some(t), None),
        Some((t, Placement::Bearer)) => (None, Some(t)),
        None => (o.key, None),
    };
    let signer = (!matches!(up.auth, AuthScheme::None))
        .then_some(o.tc3)
        .flatten();
    let (key, bearer) = if signer.is_some() {
        (None, None)
    } else {
        (key, bearer)
    };
    let mut url = o.base.clone();
    let full_path = format!("{}{}", url.path().trim_end_matches('/'), up.path);
    url.set_path(&full_path);
    url.set_query(None);
    if !up.query.is_empty() {
        url.query_pairs_mut().extend_pairs(up.query.iter());
    }
    if let (AuthScheme::Query(name), Some(k)) = (&up.auth, key) {
        url.query_pairs_mut().append_pair(name, k);
    }
    let (method, verb) = match up.method {
        HttpMethod::Get => (http::Method::GET, "GET"),
        HttpMethod::Post => (http::Method::POST, "POST"),
    };
    let signed = match &up.auth {
        AuthScheme::AwsSigv4(scope) => Some(sign(&o, &url, verb, scope)?),
        _ => None,
    };
    let uri = http::Uri::try_from(url.as_str())?;
    let mut req = http::Request::builder().method(method).uri(uri);
    // JSON unless the request or the provider's headers say otherwise (an upload).
    if content_type(&o).is_none() {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in o.provider_headers {
        req = req.header(k, v);
    }
    for h in &up.headers {
        req = req.header(&h.name, &h.value);
    }
    match (&up.auth, key, bearer) {
        (AuthScheme::None | AuthScheme::AwsSigv4(_), _, _) => {}
        (_, _, Some(t)) => req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}")),
        (AuthScheme::Bearer, Some(k), _) => {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {k}"))
        }
        (AuthScheme::Header(name), Some(k), _) => req = req.header(name.as_str(), k),
        _ => {}
    }
    if let Some(creds) = signer {
        for (k, v) in tc3_headers(&o, &url, verb, creds)? {
            req = req.header(k, v);
        }
    }
    for (k, v) in signed.into_iter().flatten() {
        req = req.header(k, v);
    }
    let body = match up.method {
        HttpMethod::Post => o.body,
        HttpMethod::Get => Bytes::new(),
    };
    // Header values were checked by the host (plugin output) or come from config.
    Ok(req.body(http_body_util::Full::new(body))?)
}

/// The TC3 headers (`x-tc-timestamp`, `authorization`) of a request to `url`.
fn tc3_headers(
    o: &Outbound<'_>,
    url: &url::Url,
    verb: &str,
    creds: &Tc3,
) -> Result<Vec<(String, String)>, OutboundError> {
    let host = host_of(url)?;
    let header = |name: &str| {
        let h =
            o.up.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name));
        h.map(|h| h.value.as_str())
    };
    let payload: &[u8] = match o.up.method {
        HttpMethod::Post => &o.body,
        HttpMethod::Get => &[],
    };
    let signing = super::tc3::Signing {
        method: verb,
        host: &host,
        // API 3.0's canonical URI is always `/` (the base URL's path is not signed).
        path: "/",
        query: url.query().unwrap_or(""),
        // Signed as it is sent.
        content_type: content_type(o).unwrap_or("application/json"),
        action: header("x-tc-action"),
        payload,
        service: &creds.service,
        timestamp: o.now,
    };
    Ok(super::tc3::headers(&signing, &creds.creds)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}

/// The content type the request sets itself (the adapter's, else the provider's).
fn content_type<'a>(o: &'a Outbound<'_>) -> Option<&'a str> {
    let adapter =
        o.up.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-type"));
    let provider = o
        .provider_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    adapter
        .map(|h| h.value.as_str())
        .or(provider.map(|(_, v)| v.as_str()))
}

/// The `Host` header hyper sends for `url` (with the port when it has one).
fn host_of(url: &url::Url) -> Result<String, OutboundError> {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => Ok(format!("{h}:{p}")),
        (Some(h), None) => Ok(h.to_string()),
        (None, _) => Err(OutboundError::NoHost),
    }
}

/// The SigV4 headers (`x-amz-date`, any session token, `authorization`) of a request
/// to `url`, signed with the provider's AWS credentials.
fn sign(
    o: &Outbound<'_>,
    url: &url::Url,
    verb: &str,
    scope: &Sigv4Scope,
) -> Result<Vec<(String, String)>, OutboundError> {
    let up = o.up;
    let creds = o.aws.ok_or(OutboundError::NoAwsCredentials)?;
    let host = host_of(url)?;
    let date = sigv4::amz_date(o.now);
    let mut headers = vec![
        ("host".to_string(), host),
        ("x-amz-date".to_string(), date.clone()),
    ];
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token".to_string(), t.clone()));
    }
    let auth = sigv4::authorization(
        &sigv4::Signing {
            method: verb,
            path: url.path(),
            query: &up.query,
            headers: &headers,
            payload_sha256: &sigv4::sha256_hex(&o.body),
            amz_date: &date,
            region: &scope.region,
            service: &scope.service,
            encode_path_again: scope.service != "s3",
        },
        creds,
    );
    // `host` is signed; hyper sets it from the URI.
    headers.remove(0);
    headers.push(("authorization".to_string(), auth));
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BodyEdit, Sigv4Scope, StreamFormat};

    fn up(auth: AuthScheme, method: HttpMethod) -> UpstreamRequest {
        UpstreamRequest {
            method,
            path: "/model/anthropic.claude:0/converse".into(),
            query: vec![("a b".into(), "c&d".into())],
            headers: Vec::new(),
            auth,
            body: BodyEdit::Keep,
            translate_response: true,
            stream_format: StreamFormat::AwsEventstream,
        }
    }

    #[test]
    fn sigv4_requests_are_signed_by_the_host_and_others_carry_the_key_where_asked() {
        let base = url::Url::parse("https://bedrock-runtime.us-east-1.amazonaws.com/").unwrap();
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret-key-never-sent".into(),
            session_token: Some("session".into()),
        };
        let scope = AuthScheme::AwsSigv4(Sigv4Scope {
            region: "us-east-1".into(),
            service: "bedrock".into(),
        });
        let req = build(Outbound {
            base: &base,
            up: &up(scope, HttpMethod::Post),
            provider_headers: &[],
            key: None,
            token: None,
            aws: Some(&creds),
            tc3: None,
            body: Bytes::from_static(b"{}"),
            now: 1_440_938_160,
        })
        .unwrap();
        let h = req.headers();
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{auth}"
        );
        assert_eq!(h["x-amz-date"], "20150830T123600Z");
        assert_eq!(h["x-amz-security-token"], "session");
        assert!(!format!("{req:?}").contains("secret-key-never-sent"));
        assert_eq!(req.uri().query(), Some("a+b=c%26d"));

        // Without credentials: refused, not sent unsigned.
        let scope = AuthScheme::AwsSigv4(Sigv4Scope {
            region: "us-east-1".into(),
            service: "bedrock".into(),
        });
        let none = build(Outbound {
            base: &base,
            up: &up(scope, HttpMethod::Post),
            provider_headers: &[],
            key: None,
            token: None,
            aws: None,
            tc3: None,
            body: Bytes::new(),
            now: 0,
        });
        assert!(none.is_err());

        // A GET carries no body; a query key goes after the adapter's query.
        let req = build(Outbound {
            base: &base,
            up: &up(AuthScheme::Query("key".into()), HttpMethod::Get),
            provider_headers: &[],
            key: Some("k-123"),
            token: None,
            aws: None,
            tc3: None,
            body: Bytes::from_static(b"ignored"),
            now: 0,
        })
        .unwrap();
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(hyper::body::Body::size_hint(req.body()).exact(), Some(0));
        assert_eq!(req.uri().query(), Some("a+b=c%26d&key=k-123"));
    }
}
