//! Upstream stream framing by format (contract 0.2 `stream-format`): SSE events,
//! NDJSON lines, or AWS eventstream binary messages, each turned into the events a
//! translator is given. Like the SSE framer, chunks may split anywhere and nothing
//! larger than `MAX_EVENT_BYTES` is buffered.

use super::sse::{MAX_EVENT_BYTES, SseError, SseFramer};
use crate::types::{SseEvent, StreamFormat};

/// One stream's framer.
pub enum Framer {
    Sse(SseFramer),
    Ndjson(Vec<u8>),
    EventStream(Vec<u8>),
}

impl Framer {
    pub fn new(format: StreamFormat) -> Self {
        match format {
            StreamFormat::Sse => Framer::Sse(SseFramer::new()),
            StreamFormat::Ndjson => Framer::Ndjson(Vec::new()),
            StreamFormat::AwsEventstream => Framer::EventStream(Vec::new()),
        }
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        match self {
            Framer::Sse(f) => f.push(chunk, out),
            Framer::Ndjson(buf) => {
                buf.extend_from_slice(chunk);
                let mut start = 0;
                while let Some(n) = memchr::memchr(b'\n', &buf[start..]) {
                    line(&buf[start..start + n], out)?;
                    start += n + 1;
                }
                buf.drain(..start);
                if buf.len() > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge);
                }
                Ok(())
            }
            Framer::EventStream(buf) => {
                buf.extend_from_slice(chunk);
                let mut start = 0;
                while let Some(len) = message_len(&buf[start..])? {
                    out.push(message(&buf[start..start + len])?);
                    start += len;
                }
                buf.drain(..start);
                Ok(())
            }
        }
    }

    /// The stream ended: whatever is complete in what is left.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        match self {
            Framer::Sse(f) => f.finish(out),
            Framer::Ndjson(buf) => {
                let rest = std::mem::take(buf);
                line(&rest, out)
            }
            // A partial binary message is a truncated stream: the caller sees the
            // missing end by the translator's missing last event.
            Framer::EventStream(buf) => {
                buf.clear();
                Ok(())
            }
        }
    }
}

fn line(l: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    if l.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let data = std::str::from_utf8(l).map_err(|_| SseError::NotUtf8)?;
    out.push(SseEvent {
        event: None,
        data: data.to_string(),
    });
    Ok(())
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The length of the complete message at the start of `b`, if it is all there.
fn message_len(b: &[u8]) -> Result<Option<usize>, SseError> {
    if b.len() < 12 {
        return Ok(None);
    }
    let total = be32(b) as usize;
    if total > MAX_EVENT_BYTES {
        return Err(SseError::TooLarge);
    }
    if total < 16 || crc32fast::hash(&b[..8]) != be32(&b[8..12]) {
        return Err(SseError::Malformed("eventstream prelude checksum"));
    }
    Ok((b.len() >= total).then_some(total))
}

/// One whole eventstream message → an event named by `:event-type` (or, for an
/// exception, `:exception-type`), its payload as data.
fn message(m: &[u8]) -> Result<SseEvent, SseError> {
    let total = m.len();
    if crc32fast::hash(&m[..total - 4]) != be32(&m[total - 4..]) {
        return Err(SseError::Malformed("eventstream message checksum"));
    }
    let headers_len = be32(&m[4..8]) as usize;
    let headers = m
        .get(12..12 + headers_len)
        .filter(|_| 12 + headers_len <= total - 4)
        .ok_or(SseError::Malformed("eventstream headers length"))?;
    let payload = &m[12 + headers_len..total - 4];
    let (mut event_type, mut exception_type) = (None, None);
    let mut h = headers;
    while !h.is_empty() {
        let bad = SseError::Malformed("eventstream header");
        let name_len = h[0] as usize;
        let name = h.get(1..1 + name_len).ok_or(bad.clone())?;
        let kind = *h.get(1 + name_len).ok_or(bad.clone())?;
        let rest = &h[2 + name_len..];
        let (value, used) = match kind {
            0 | 1 => (None, 0),
            2 => (None, 1),
            3 => (None, 2),
            4 => (None, 4),
            5 | 8 => (None, 8),
            9 => (None, 16),
            6 | 7 => {
                let len = rest
                    .get(..2)
                    .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize);
                let len = len.ok_or(bad.clone())?;
                let v = rest.get(2..2 + len).ok_or(bad.clone())?;
                (Some(v), 2 + len)
            }
            _ => return Err(bad),
        };
        if rest.len() < used {
            return Err(bad);
        }
        let text = value
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string);
        match name {
            b":event-type" => event_type = text,
            b":exception-type" => exception_type = text,
            _ => {}
        }
        h = &rest[used..];
    }
    let data = std::str::from_utf8(payload).map_err(|_| SseError::NotUtf8)?;
    Ok(SseEvent {
        event: exception_type.or(event_type),
        data: data.to_string(),
    })
}

/// Encodes one eventstream message with string headers (for mock upstreams and tests).
pub fn encode_eventstream(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut hs = Vec::new();
    for (k, v) in headers {
        hs.push(k.len() as u8);
        hs.extend_from_slice(k.as_bytes());
        hs.push(7);
        hs.extend_from_slice(&(v.len() as u16).to_be_bytes());
        hs.extend_from_slice(v.as_bytes());
    }
    let total = 16 + hs.len() + payload.len();
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_be_bytes());
    m.extend_from_slice(&(hs.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&m);
    m.extend_from_slice(&prelude_crc.to_be_bytes());
    m.extend_from_slice(&hs);
    m.extend_from_slice(payload);
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_split_anywhere_are_events() {
        let mut f = Framer::new(StreamFormat::Ndjson);
        let mut out = Vec::new();
        let text = b"{\"a\":1}\n\n{\"b\":2}\r\n{\"done\":true}";
        for b in text.chunks(3) {
            f.push(b, &mut out).unwrap();
        }
        f.finish(&mut out).unwrap();
        let data: Vec<_> = out.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["{\"a\":1}", "{\"b\":2}", "{\"done\":true}"]);
    }

    #[test]
    fn eventstream_messages_split_anywhere_are_events() {
        let mut bytes = encode_eventstream(
            &[
                (":event-type", "contentBlockDelta"),
                (":message-type", "event"),
            ],
            br#"{"delta":{"text":"hi"}}"#,
        );
        bytes.extend(encode_eventstream(
            &[
                (":exception-type", "throttlingException"),
                (":message-type", "exception"),
            ],
            br#"{"message":"slow down"}"#,
        ));
        let mut f = Framer::new(StreamFormat::AwsEventstream);
        let mut out = Vec::new();
        for b in bytes.chunks(7) {
            f.push(b, &mut out).unwrap();
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event.as_deref(), Some("contentBlockDelta"));
        assert_eq!(out[0].data, r#"{"delta":{"text":"hi"}}"#);
        assert_eq!(out[1].event.as_deref(), Some("throttlingException"));
    }

    #[test]
    fn a_corrupt_or_huge_eventstream_message_is_an_error() {
        let mut bytes = encode_eventstream(&[(":event-type", "x")], b"{}");
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        let mut f = Framer::new(StreamFormat::AwsEventstream);
        assert!(f.push(&bytes, &mut Vec::new()).is_err());
        let mut huge = ((MAX_EVENT_BYTES + 1) as u32).to_be_bytes().to_vec();
        huge.extend([0u8; 8]);
        let mut f = Framer::new(StreamFormat::AwsEventstream);
        assert_eq!(f.push(&huge, &mut Vec::new()), Err(SseError::TooLarge));
    }
}
