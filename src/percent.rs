//! Percent-decoding of URL path text, byte by byte: a path may hold any bytes, not
//! only whole UTF-8 characters (slicing the text at a byte offset once panicked on
//! `%4é`), and an escape that is not two hex digits stays as it is. Also the pairs of
//! a query string (contract 0.1 adapters put their query in the path), and the
//! encoding of one path segment.

/// `%XX` escapes of `b` decoded.
pub fn decode(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `text` as one path segment: every byte but RFC 3986's unreserved ones escaped
/// (`:` and `/` of a Bedrock model id or ARN included).
pub fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The pairs of an `application/x-www-form-urlencoded` query (`a=1&b=x+y`), decoded.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    let text =
        |s: &str| String::from_utf8_lossy(&decode(s.replace('+', " ").as_bytes())).into_owned();
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (text(k), text(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_bytes_decode_without_panic() {
        let d = |s: &str| String::from_utf8_lossy(&super::decode(s.as_bytes())).into_owned();
        assert_eq!(d("a%4é"), "a%4é");
        assert_eq!(d("a%41%"), "aA%");
        assert_eq!(d("%e2%82%ac"), "€");
        assert_eq!(d("/%2e%2E/x"), "/../x");
    }

    #[test]
    fn query_pairs_are_decoded() {
        assert_eq!(
            super::query_pairs("a=1&b=x+y%21&&c"),
            [
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), String::new())
            ]
        );
    }
}
