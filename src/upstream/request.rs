//! The request a provider is sent: the adapter's method, path and query under the
//! provider's base URL, the provider's and the adapter's headers, and the credential
//! where the adapter's auth scheme says (bearer, a header, a query parameter, or an
//! AWS SigV4 signature computed here). The one place a provider key is put on the wire.

use bytes::Bytes;

use super::sigv4::{self, AwsCredentials};
use crate::types::{AuthScheme, HttpMethod, UpstreamRequest};

/// What an outbound request is made of.
pub struct Outbound<'a> {
    pub base: &'a reqwest::Url,
    pub up: &'a UpstreamRequest,
    /// The provider's configured extra headers.
    pub provider_headers: &'a [(String, String)],
    pub key: Option<&'a str>,
    pub aws: Option<&'a AwsCredentials>,
    pub body: Bytes,
    /// Unix seconds (for SigV4's date).
    pub now: u64,
}

/// The request, or why it cannot be made (SigV4 without credentials).
pub fn build(o: Outbound<'_>) -> Result<reqwest::RequestBuilder, String> {
    let up = o.up;
    let mut url = o.base.clone();
    let full_path = format!("{}{}", url.path().trim_end_matches('/'), up.path);
    url.set_path(&full_path);
    url.set_query(None);
    if !up.query.is_empty() {
        url.query_pairs_mut().extend_pairs(up.query.iter());
    }
    if let (AuthScheme::Query(name), Some(k)) = (&up.auth, o.key) {
        url.query_pairs_mut().append_pair(name, k);
    }
    let (method, verb) = match up.method {
        HttpMethod::Get => (reqwest::Method::GET, "GET"),
        HttpMethod::Post => (reqwest::Method::POST, "POST"),
    };
    let mut signed = None;
    if let AuthScheme::AwsSigv4(scope) = &up.auth {
        let creds = o.aws.ok_or_else(|| {
            "the adapter asks for AWS SigV4, but the provider has no aws_credentials_env"
                .to_string()
        })?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err("the provider's base URL has no host".into()),
        };
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
        headers.remove(0);
        headers.push(("authorization".to_string(), auth));
        signed = Some(headers);
    }
    let mut req = super::client()
        .request(method, url)
        .header(http::header::CONTENT_TYPE, "application/json");
    for (k, v) in o.provider_headers {
        req = req.header(k, v);
    }
    for h in &up.headers {
        req = req.header(&h.name, &h.value);
    }
    match (&up.auth, o.key) {
        (AuthScheme::Bearer, Some(k)) => req = req.bearer_auth(k),
        (AuthScheme::Header(name), Some(k)) => req = req.header(name.as_str(), k),
        _ => {}
    }
    for (k, v) in signed.into_iter().flatten() {
        req = req.header(k, v);
    }
    if up.method == HttpMethod::Post {
        req = req.body(o.body);
    }
    Ok(req)
}
