//! The one thing the gateway reads from, and the one edit it makes to, a
//! `multipart/form-data` upload it forwards (an audio transcription): the `model`
//! field — its value is the route, and it is set to the target's model. The rest of
//! the body (the file) is forwarded byte for byte.

use memchr::memmem;

/// The boundary a `multipart/form-data` content type declares.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// The byte range of the value of the form field `name` in `body` (the first, when
/// there are several: see `fields`).
pub fn field(body: &[u8], boundary: &str, name: &str) -> Option<std::ops::Range<usize>> {
    fields(body, boundary, name).into_iter().next()
}

/// The byte ranges of the values of every form field `name` in `body`. A part names
/// it however a parser downstream might read its disposition (`name="model"`,
/// `NAME=model`), so no second field hides from the gateway.
pub fn fields(body: &[u8], boundary: &str, name: &str) -> Vec<std::ops::Range<usize>> {
    let delim = format!("--{boundary}");
    let finder = memmem::Finder::new(delim.as_bytes());
    let starts: Vec<usize> = finder.find_iter(body).collect();
    let mut out = Vec::new();
    for pair in starts.windows(2) {
        let part = pair[0] + delim.len();
        let next = pair[1];
        let Some(head_end) = memmem::find(&body[part..next], b"\r\n\r\n").map(|e| e + part) else {
            continue;
        };
        let head = String::from_utf8_lossy(&body[part..head_end]);
        let names_it = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("content-disposition:")
                && l.split(';').any(|p| {
                    p.split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("name") && v.trim().trim_matches('"') == name
                    })
                })
        });
        if names_it {
            let start = head_end + 4;
            // The value ends at the CRLF before the next delimiter.
            if let Some(end) = next.checked_sub(2).filter(|e| *e >= start) {
                out.push(start..end);
            }
        }
    }
    out
}

/// `body` with the bytes in `span` replaced by `value`.
pub fn replace(body: &[u8], span: &std::ops::Range<usize>, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + value.len());
    out.extend_from_slice(&body[..span.start]);
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&body[span.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\x00\x01name=\"model\"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--XyZ--\r\n";

    #[test]
    fn every_model_field_is_found_however_it_is_named() {
        let two = b"--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nchat\r\n--B\r\ncontent-disposition: form-data; NAME=model\r\n\r\ngpt-4o-expensive\r\n--B--\r\n";
        let found = fields(two, "B", "model");
        assert_eq!(found.len(), 2);
        assert_eq!(&two[found[1].clone()], b"gpt-4o-expensive");
    }

    #[test]
    fn the_model_field_is_found_and_set_and_the_file_is_untouched() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ")
        );
        assert_eq!(boundary("application/json"), None);
        let span = field(BODY, "XyZ", "model").unwrap();
        assert_eq!(&BODY[span.clone()], b"whisper");
        let out = replace(BODY, &span, "gpt-4o-transcribe");
        let again = field(&out, "XyZ", "model").unwrap();
        assert_eq!(&out[again], b"gpt-4o-transcribe");
        assert!(out.starts_with(&BODY[..span.start]));
        assert_eq!(field(BODY, "XyZ", "language"), None);
        assert_eq!(field(b"garbage", "XyZ", "model"), None);
    }
}
