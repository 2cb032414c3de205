//! Tencent Cloud API 3.0's signature v3, TC3-HMAC-SHA256, checked independently of the
//! gateway's signer (public reference: "Signature v3" / "签名方法 v3",
//! https://cloud.tencent.com/document/api/213/30654, and Tencent's demos in
//! github.com/TencentCloud/signature-process-demo `signature-v3/`, checked 2026-12): the
//! canonical request is rebuilt from what arrived — the URI `/` (fixed for API 3.0), the
//! query as sent, the headers `SignedHeaders` names with their values trimmed and
//! lowercased, the body's SHA-256 — then signed with the key chain
//! `"TC3" + SecretKey` → UTC date → service → `tc3_request` and compared with the
//! signature sent; the credential scope's date must be `X-TC-Timestamp`'s UTC date,
//! which must be within five minutes of now.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// `YYYY-MM-DD` of Unix seconds in UTC, counted year by year and month by month.
fn utc_date(unix: u64) -> String {
    let mut days = unix / 86_400;
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let february = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02}", days + 1)
}

/// What `Authorization` carries: (SecretId, date, service, signed header names,
/// signature).
type Parsed<'a> = (&'a str, &'a str, &'a str, Vec<&'a str>, &'a str);

/// `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b,
/// Signature=hex`.
fn parse_authorization(header: &str) -> Result<Parsed<'_>, String> {
    let rest = header
        .strip_prefix("TC3-HMAC-SHA256 ")
        .ok_or("Authorization is not TC3-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    let credential = field("Credential").ok_or("no Credential")?;
    let signed = field("SignedHeaders").ok_or("no SignedHeaders")?;
    let signature = field("Signature").ok_or("no Signature")?;
    match credential.split('/').collect::<Vec<_>>().as_slice() {
        &[id, date, service, "tc3_request"] => {
            Ok((id, date, service, signed.split(';').collect(), signature))
        }
        _ => Err(format!("malformed Credential {credential}")),
    }
}

/// The canonical request of what arrived: the URI `/` (fixed for API 3.0), the query
/// as sent, each signed header's value trimmed and lowercased, the body's SHA-256.
fn canonical(
    method: &str,
    query: &str,
    headers: &http::HeaderMap,
    signed: &[&str],
    body: &[u8],
) -> Result<String, String> {
    let mut lines = String::new();
    for name in signed {
        let value = headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("signed header {name} was not sent"))?;
        lines.push_str(&format!("{name}:{}\n", value.trim().to_lowercase()));
    }
    Ok(format!(
        "{method}\n/\n{query}\n{lines}\n{}\n{}",
        signed.join(";"),
        hex::encode(Sha256::digest(body))
    ))
}

/// The signature of `to_sign` under the key derived for `date` and `service`.
fn sign(secret_key: &str, date: &str, service: &str, to_sign: &str) -> String {
    let secret_date = hmac(format!("TC3{secret_key}").as_bytes(), date);
    let secret_service = hmac(&secret_date, service);
    let secret_signing = hmac(&secret_service, "tc3_request");
    hex::encode(hmac(&secret_signing, to_sign))
}

/// Recomputes the TC3-HMAC-SHA256 signature of what arrived and compares it with the
/// one sent: the error code and message Tencent would answer, else `Ok`.
pub fn verify_tc3(
    method: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    secret_id: &str,
    secret_key: &str,
    service_name: &str,
) -> Result<(), (&'static str, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization").ok_or("no Authorization header".to_string());
    let (id, date, service, signed, signature) = auth
        .and_then(parse_authorization)
        .map_err(|e| ("AuthFailure.InvalidAuthorization", e))?;
    if id != secret_id {
        let message = format!("SecretId {id} is not known");
        return Err(("AuthFailure.SecretIdNotFound", message));
    }
    let timestamp: u64 = header("x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or(("MissingParameter", "no X-TC-Timestamp".to_string()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(timestamp) > 300 {
        let message = format!("X-TC-Timestamp {timestamp} is more than 5 minutes from now");
        return Err(("AuthFailure.SignatureExpire", message));
    }
    let wrong = |m: String| ("AuthFailure.SignatureFailure", m);
    let day = utc_date(timestamp);
    if service != service_name || date != day {
        return Err(wrong(format!(
            "scope {date}/{service} is not {day}/{service_name}"
        )));
    }
    let sorted = signed.windows(2).all(|w| w[0] < w[1]);
    if !sorted || !signed.contains(&"content-type") || !signed.contains(&"host") {
        return Err(wrong(format!(
            "SignedHeaders {signed:?} must be sorted and include content-type and host"
        )));
    }
    let request = canonical(method, query, headers, &signed, body).map_err(wrong)?;
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        hex::encode(Sha256::digest(request.as_bytes()))
    );
    let expected = sign(secret_key, date, service, &to_sign);
    if expected != signature {
        return Err(wrong(format!(
            "signature {signature} is not {expected}; canonical request:\n{request}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_leap_years() {
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_767_225_599), "2025-12-31");
        assert_eq!(utc_date(0), "1970-01-01");
    }

    /// The verifier's parts against the documentation's worked example (its current
    /// version signs x-tc-action; SecretKey 32 `*`).
    #[test]
    fn the_documented_example_verifies() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let mut h = http::HeaderMap::new();
        h.insert(
            "content-type",
            "application/json; charset=utf-8".parse().unwrap(),
        );
        h.insert("host", "cvm.tencentcloudapi.com".parse().unwrap());
        h.insert("x-tc-action", "DescribeInstances".parse().unwrap());
        let signed = ["content-type", "host", "x-tc-action"];
        let request = canonical("POST", "", &h, &signed, payload.as_bytes()).unwrap();
        let hashed = hex::encode(Sha256::digest(request.as_bytes()));
        assert_eq!(
            hashed,
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        let to_sign = format!("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n{hashed}");
        assert_eq!(
            sign(&"*".repeat(32), "2019-02-25", "cvm", &to_sign),
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
        let auth = "TC3-HMAC-SHA256 Credential=AKID/2019-02-25/cvm/tc3_request, \
                    SignedHeaders=content-type;host;x-tc-action, Signature=10b1a37a";
        let (id, date, service, names, signature) = parse_authorization(auth).unwrap();
        assert_eq!(
            (id, date, service, signature),
            ("AKID", "2019-02-25", "cvm", "10b1a37a")
        );
        assert_eq!(names, signed);
    }
}
