//! AWS Signature Version 4, computed by the host for adapters that ask for it
//! (`auth-scheme::aws-sigv4`): the canonical request over method, path, query, the
//! signed headers and the payload's SHA-256; the string to sign; the derived key; the
//! `Authorization` header. Adapters never see the credentials. Checked against AWS's
//! published examples (tests below).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// AWS credentials, from the environment variables the provider's config names.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCredentials(…)")
    }
}

/// One request to sign.
pub struct Signing<'a> {
    pub method: &'a str,
    /// The path as it is sent (already percent-encoded).
    pub path: &'a str,
    /// Query pairs, not encoded.
    pub query: &'a [(String, String)],
    /// Headers to sign, beside `host` and `x-amz-date` (which the caller includes).
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// S3 encodes the path once; every other service twice (the path as sent, again).
    pub encode_path_again: bool,
}

/// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters (and
/// `/` when `keep_slash`).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn canonical_request(s: &Signing<'_>) -> (String, String) {
    let path = if s.encode_path_again {
        uri_encode(s.path, true)
    } else {
        s.path.to_string()
    };
    let mut query: Vec<(String, String)> = s
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers: Vec<(String, String)> = s
        .headers
        .iter()
        .map(|(k, v)| {
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), v)
        })
        .collect();
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let request = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{signed}\n{}",
        s.method,
        query.join("&"),
        s.payload_sha256
    );
    (request, signed)
}

/// The `Authorization` header value for `s` signed with `creds`.
pub fn authorization(s: &Signing<'_>, creds: &AwsCredentials) -> String {
    let (request, signed) = canonical_request(s);
    let date = &s.amz_date[..8.min(s.amz_date.len())];
    let scope = format!("{date}/{}/{}/aws4_request", s.region, s.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        s.amz_date,
        sha256_hex(request.as_bytes())
    );
    let mut key = hmac(format!("AWS4{}", creds.secret_access_key).as_bytes(), date);
    for part in [s.region, s.service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        creds.access_key_id
    )
}

/// `YYYYMMDDTHHMMSSZ` of Unix seconds (UTC).
pub fn amz_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(secret: &str) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: secret.into(),
            session_token: None,
        }
    }

    /// AWS's SigV4 test suite, `get-vanilla`.
    #[test]
    fn the_get_vanilla_vector() {
        let headers = [
            ("Host".to_string(), "example.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
        ];
        let s = Signing {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            payload_sha256: &sha256_hex(b""),
            amz_date: "20150830T123600Z",
            region: "us-east-1",
            service: "service",
            encode_path_again: true,
        };
        assert_eq!(
            authorization(&s, &creds("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// (name, method, path, query, an extra header, signed headers and signature).
    type Vector<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(String, String)>,
        Option<(&'a str, &'a str)>,
        &'a str,
    );

    /// More of AWS's SigV4 test suite: POST, a query, a sorted extra header, a path of
    /// every unreserved character, query keys sorted.
    #[test]
    fn more_vectors_of_the_aws_suite() {
        let unreserved =
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".to_string();
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases: [Vector; 5] = [
            (
                "post-vanilla",
                "POST",
                "/",
                vec![],
                None,
                "host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "post-vanilla-query",
                "POST",
                "/",
                pairs(&[("Param1", "value1")]),
                None,
                "host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            ),
            (
                "post-header-key-sort",
                "POST",
                "/",
                vec![],
                Some(("My-Header1", "value1")),
                "host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            ),
            (
                "get-unreserved",
                "GET",
                &unreserved,
                vec![],
                None,
                "host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "/",
                pairs(&[("Param2", "value2"), ("Param1", "value1")]),
                None,
                "host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ];
        for (name, method, path, query, extra, expected) in cases {
            let mut headers = vec![
                ("Host".to_string(), "example.amazonaws.com".to_string()),
                ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
            ];
            if let Some((k, v)) = extra {
                headers.push((k.to_string(), v.to_string()));
            }
            let s = Signing {
                method,
                path,
                query: &query,
                headers: &headers,
                payload_sha256: &sha256_hex(b""),
                amz_date: "20150830T123600Z",
                region: "us-east-1",
                service: "service",
                encode_path_again: true,
            };
            let got = authorization(&s, &creds("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
            assert!(
                got.ends_with(&format!("SignedHeaders={expected}")),
                "{name}: {got}"
            );
        }
    }

    /// The S3 documentation's "GET Object" example (path encoded once, extra headers).
    #[test]
    fn the_s3_get_object_example() {
        let empty = sha256_hex(b"");
        let headers = [
            (
                "Host".to_string(),
                "examplebucket.s3.amazonaws.com".to_string(),
            ),
            ("Range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), empty.clone()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let s = Signing {
            method: "GET",
            path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_sha256: &empty,
            amz_date: "20130524T000000Z",
            region: "us-east-1",
            service: "s3",
            encode_path_again: false,
        };
        let mut c = creds("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        c.access_key_id = "AKIAIOSFODNN7EXAMPLE".into();
        assert!(
            authorization(&s, &c).ends_with(
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{}",
            authorization(&s, &c)
        );
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }
}
