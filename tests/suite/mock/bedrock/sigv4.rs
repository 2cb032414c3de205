//! AWS Signature Version 4, checked independently of the gateway's signer (public
//! reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
//! checked 2026-12): the canonical request is rebuilt from what arrived — the path
//! encoded once more (non-S3 services double-encode), the query decoded, re-encoded and
//! sorted, the signed headers trimmed in `SignedHeaders` order, the body's SHA-256 —
//! then signed with the HMAC key chain and compared with the signature sent.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SigV4's URI encoding: unreserved characters stay, '/' stays when asked, the rest %XX.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let byte = if b[i] == b'%' && i + 2 < b.len() {
            std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        } else {
            None
        };
        match byte {
            Some(x) => {
                out.push(x);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Pairs decoded, re-encoded (slash included), sorted; "" without a query.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

struct Authorization<'a> {
    key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed: Vec<&'a str>,
    signature: &'a str,
}

/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`.
fn parse_authorization(header: &str) -> Result<Authorization<'_>, String> {
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("authorization is not AWS4-HMAC-SHA256")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let scope: Vec<&str> = credential.ok_or("no Credential")?.split('/').collect();
    let &[key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(format!("malformed credential scope {scope:?}"));
    };
    Ok(Authorization {
        key_id,
        date,
        region,
        service,
        signed: signed.ok_or("no SignedHeaders")?.split(';').collect(),
        signature: signature.ok_or("no Signature")?,
    })
}

/// METHOD, URI (the received path encoded again), query, signed headers, their names,
/// the payload hash.
fn canonical_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    signed: &[&str],
    body_hash: &str,
) -> Result<String, String> {
    if signed.windows(2).any(|w| w[0] >= w[1])
        || signed
            .iter()
            .any(|h| h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(format!(
            "SignedHeaders {signed:?} are not lowercase and sorted"
        ));
    }
    let mut canonical_headers = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} was not sent"));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let uri = if path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(path, true)
    };
    let query = canonical_query(query);
    Ok(format!(
        "{method}\n{uri}\n{query}\n{canonical_headers}\n{}\n{body_hash}",
        signed.join(";")
    ))
}

/// Recomputes the AWS Signature V4 of what arrived and compares it with the one sent.
#[allow(clippy::too_many_arguments)]
pub fn verify_sigv4(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = parse_authorization(header("authorization").ok_or("no authorization header")?)?;
    if auth.key_id != access_key_id || auth.region != region || auth.service != service {
        return Err(format!(
            "credential {}/{}/{} is not {access_key_id}/{region}/{service}",
            auth.key_id, auth.region, auth.service
        ));
    }
    for needed in ["host", "x-amz-date"] {
        if !auth.signed.contains(&needed) {
            return Err(format!(
                "{needed} is not among the signed headers {:?}",
                auth.signed
            ));
        }
    }
    let amz_date = header("x-amz-date").ok_or("no x-amz-date header")?;
    if amz_date.len() != 16 || !amz_date.starts_with(auth.date) {
        return Err(format!(
            "x-amz-date {amz_date} does not match the credential date {}",
            auth.date
        ));
    }
    let body_hash = sha256_hex(body);
    if let Some(sent) = header("x-amz-content-sha256")
        && sent != body_hash
    {
        return Err(format!(
            "x-amz-content-sha256 {sent} is not the body's hash {body_hash}"
        ));
    }
    let canonical = canonical_request(method, path, query, headers, &auth.signed, &body_hash)?;
    let scope = format!("{}/{region}/{service}/aws4_request", auth.date);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date);
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let expected = hex::encode(hmac(&key, &to_sign));
    if expected != auth.signature {
        return Err(format!(
            "signature {} is not {expected}; canonical request:\n{canonical}",
            auth.signature
        ));
    }
    Ok(())
}
