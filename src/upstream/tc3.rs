//! Tencent Cloud API 3.0's signature v3, TC3-HMAC-SHA256, computed by the host for a
//! provider whose credential kind is `tencent` (`credentials::Tc3`): the canonical
//! request over method, URI, query, the signed headers (`content-type`, `host`, and
//! `x-tc-action` when given) and the payload's SHA-256; the string to sign with the
//! credential scope `<UTC date>/<service>/tc3_request`; the key derived from
//! `"TC3" + SecretKey` by date, service and `tc3_request`; the `Authorization` header
//! and the `X-TC-Timestamp` it is bound to. Adapters never see the credentials.
//!
//! Checked against Tencent Cloud's published worked example (CVM `DescribeInstances`
//! in ap-guangzhou, `X-TC-Timestamp: 1551113065`, "Signature v3" / "签名方法 v3",
//! https://cloud.tencent.com/document/api/213/30654 and its copies such as
//! https://www.tencentcloud.com/document/api/1021/34193), in each version the page has
//! had: `content-type;host` signed with SecretKey `Gu5t9xGARNpq86cd98joQYCN3*******`
//! (Signature `2230eefd…`) or `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE` (`72e494ea…`), and
//! `content-type;host;x-tc-action` signed with a SecretKey of 32 `*` (`10b1a37a…`).
//! The masked keys are the literal key bytes the page signed with (tests below).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::sigv4::sha256_hex;

/// The algorithm's name, first in the string to sign and in `Authorization`.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// A Tencent Cloud API key pair, from the variables the provider's credential names.
#[derive(Clone)]
pub struct Tc3Credentials {
    pub secret_id: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Tc3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tc3Credentials(…)")
    }
}

/// One request to sign, as it is sent.
pub struct Signing<'a> {
    /// `POST` (API 3.0 also takes `GET`).
    pub method: &'a str,
    /// The `Host` header as sent (with `:port` when the URL has one).
    pub host: &'a str,
    /// The canonical URI: always `/` for API 3.0 (the documentation fixes it),
    /// whatever the URL's path (a gateway or the test mock may add a prefix).
    pub path: &'a str,
    /// The query string as sent, already URL-encoded ("" for a POST).
    pub query: &'a str,
    /// The `Content-Type` header exactly as sent (`application/json` and
    /// `application/json; charset=utf-8` sign differently).
    pub content_type: &'a str,
    /// `X-TC-Action`, signed as `x-tc-action` (its value lowercased) when given, as
    /// the current version of the documentation's example does.
    pub action: Option<&'a str>,
    /// The body sent.
    pub payload: &'a [u8],
    /// The product's service name, the first label of its host (`hunyuan`, `cvm`).
    pub service: &'a str,
    /// Unix seconds, sent as `X-TC-Timestamp`; its UTC date is the scope's.
    pub timestamp: u64,
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// `YYYY-MM-DD`, the UTC date of Unix seconds (never the local one: a signature made
/// at 00:44 in UTC+8 belongs to the day before).
pub fn tc3_date(unix: u64) -> String {
    let d = super::sigv4::amz_date(unix);
    format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8])
}

/// The signed headers as `(name, value)`, names lowercase and in ASCII order, values
/// trimmed and lowercased (the documentation's concatenation rules).
fn signed_headers(s: &Signing<'_>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", s.content_type.trim().to_ascii_lowercase()),
        ("host", s.host.trim().to_ascii_lowercase()),
    ];
    if let Some(action) = s.action {
        headers.push(("x-tc-action", action.trim().to_ascii_lowercase()));
    }
    headers
}

/// The canonical request, and the signed headers' names joined by `;`.
pub fn canonical_request(s: &Signing<'_>) -> (String, String) {
    let headers = signed_headers(s);
    let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = names.join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        s.method,
        s.path,
        s.query,
        sha256_hex(s.payload)
    );
    (request, signed)
}

/// `<UTC date>/<service>/tc3_request`.
pub fn credential_scope(s: &Signing<'_>) -> String {
    format!("{}/{}/tc3_request", tc3_date(s.timestamp), s.service)
}

/// The string to sign of a canonical request.
pub fn string_to_sign(s: &Signing<'_>, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        s.timestamp,
        credential_scope(s),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// SecretSigning: HMAC of `tc3_request` under HMAC of the service under HMAC of the
/// date under `"TC3" + SecretKey`.
fn signing_key(secret_key: &str, date: &str, service: &str) -> Vec<u8> {
    let secret_date = hmac(format!("TC3{secret_key}").as_bytes(), date);
    let secret_service = hmac(&secret_date, service);
    hmac(&secret_service, "tc3_request")
}

/// The hex signature of `s` with `creds`.
pub fn signature(s: &Signing<'_>, creds: &Tc3Credentials) -> String {
    let (request, _) = canonical_request(s);
    let key = signing_key(&creds.secret_key, &tc3_date(s.timestamp), s.service);
    hex::encode(hmac(&key, &string_to_sign(s, &request)))
}

/// The `Authorization` header value for `s` signed with `creds`.
pub fn authorization(s: &Signing<'_>, creds: &Tc3Credentials) -> String {
    let (_, signed) = canonical_request(s);
    format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={signed}, Signature={}",
        creds.secret_id,
        credential_scope(s),
        signature(s, creds)
    )
}

/// What a signed request adds to its headers: `x-tc-timestamp` (the time signed) and
/// `authorization`. `X-TC-Action`, `X-TC-Version` and `X-TC-Region` come from the
/// adapter; `Content-Type` and `Host` must be sent exactly as signed.
pub fn headers(s: &Signing<'_>, creds: &Tc3Credentials) -> [(&'static str, String); 2] {
    [
        ("x-tc-timestamp", s.timestamp.to_string()),
        ("authorization", authorization(s, creds)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example's body: JSON as Python's `json.dumps` writes it (`\u` escapes kept).
    const PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const TIMESTAMP: u64 = 1_551_113_065;

    fn example(action: Option<&'static str>) -> Signing<'static> {
        Signing {
            method: "POST",
            host: "cvm.tencentcloudapi.com",
            path: "/",
            query: "",
            content_type: "application/json; charset=utf-8",
            action,
            payload: PAYLOAD.as_bytes(),
            service: "cvm",
            timestamp: TIMESTAMP,
        }
    }

    fn creds(id: &str, key: &str) -> Tc3Credentials {
        Tc3Credentials {
            secret_id: id.into(),
            secret_key: key.into(),
        }
    }

    /// The page's example as published 2019–2023: `content-type;host` signed, the
    /// SecretId `AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******` and SecretKey
    /// `Gu5t9xGARNpq86cd98joQYCN3*******`.
    #[test]
    fn the_documented_example_signing_content_type_and_host() {
        let s = example(None);
        assert_eq!(
            sha256_hex(PAYLOAD.as_bytes()),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let (request, signed) = canonical_request(&s);
        assert_eq!(
            request,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(signed, "content-type;host");
        assert_eq!(
            string_to_sign(&s, &request),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        let c = creds(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
            "Gu5t9xGARNpq86cd98joQYCN3*******",
        );
        assert_eq!(
            authorization(&s, &c),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
        // The English page's variant of the same request: SecretKey ...EXAMPLE.
        let c = creds("AKIDEXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE");
        assert_eq!(
            signature(&s, &c),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    /// The page's current example: `x-tc-action` signed too (its value lowercased),
    /// SecretId `AKID` and 32 `*`, SecretKey 32 `*`; the page also prints the derived
    /// SecretSigning.
    #[test]
    fn the_documented_example_signing_the_action_too() {
        let s = example(Some("DescribeInstances"));
        let (request, signed) = canonical_request(&s);
        assert_eq!(
            request,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\
             x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n\
             35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(signed, "content-type;host;x-tc-action");
        assert_eq!(
            string_to_sign(&s, &request),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        let stars = "*".repeat(32);
        assert_eq!(
            hex::encode(signing_key(&stars, "2019-02-25", "cvm")),
            "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
        );
        let c = creds(&format!("AKID{stars}"), &stars);
        assert_eq!(
            authorization(&s, &c),
            format!(
                "TC3-HMAC-SHA256 Credential=AKID{stars}/2019-02-25/cvm/tc3_request, \
                 SignedHeaders=content-type;host;x-tc-action, \
                 Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
            )
        );
        let [(t, ts), (a, auth)] = headers(&s, &c);
        assert_eq!((t, ts.as_str()), ("x-tc-timestamp", "1551113065"));
        assert_eq!((a, auth), ("authorization", authorization(&s, &c)));
    }

    /// What the gateway sends Hunyuan: the host with its port, `application/json`
    /// without a charset, the action signed; the body and the time are bound, the
    /// key never appears.
    #[test]
    fn a_hunyuan_request_binds_its_body_time_and_host() {
        let body = br#"{"Model":"hunyuan-lite","Messages":[{"Role":"user","Content":"hi"}]}"#;
        let s = Signing {
            method: "POST",
            host: "127.0.0.1:8443",
            path: "/",
            query: "",
            content_type: "application/json",
            action: Some("ChatCompletions"),
            payload: body,
            service: "hunyuan",
            timestamp: 1_767_225_600,
        };
        let c = creds("AKIDmock", "mock-secret-key-never-sent");
        let auth = authorization(&s, &c);
        assert!(
            auth.starts_with(
                "TC3-HMAC-SHA256 Credential=AKIDmock/2026-01-01/hunyuan/tc3_request, \
                 SignedHeaders=content-type;host;x-tc-action, Signature="
            ),
            "{auth}"
        );
        assert!(!auth.contains("mock-secret-key-never-sent"));
        let (request, _) = canonical_request(&s);
        assert!(request.contains("\ncontent-type:application/json\nhost:127.0.0.1:8443\n"));
        let other_body = Signing {
            payload: b"{}",
            ..s
        };
        assert_ne!(signature(&other_body, &c), signature(&s, &c));
        let later = Signing {
            timestamp: 1_767_225_601,
            payload: body,
            ..other_body
        };
        assert_ne!(signature(&later, &c), signature(&s, &c));
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(tc3_date(TIMESTAMP), "2019-02-25");
        assert_eq!(tc3_date(0), "1970-01-01");
        assert_eq!(tc3_date(951_782_400), "2000-02-29");
        assert_eq!(tc3_date(1_767_225_599), "2025-12-31");
    }
}
