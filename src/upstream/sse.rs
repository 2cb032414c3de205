//! Server-sent event framing: upstream bytes → whole events, and events → bytes.
//!
//! Chunks may split anywhere (inside a line, between `\r` and `\n`, inside a UTF-8
//! sequence); the framer keeps what it has not finished. Lines end in `\n`, `\r\n`
//! or `\r`; comments are skipped; several `data:` lines join with `\n`. An event
//! larger than `MAX_EVENT_BYTES` is an error, so a lying upstream cannot make us
//! buffer without bound.

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::SseEvent;

pub const MAX_EVENT_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SseError {
    #[error("upstream sent an event larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("upstream sent an event that is not UTF-8")]
    NotUtf8,
    #[error("upstream stream is malformed: {0}")]
    Malformed(&'static str),
}

#[derive(Default)]
pub struct SseFramer {
    line: Vec<u8>,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    /// The last byte seen was `\r`: a `\n` right after it ends no new line.
    after_cr: bool,
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            self.line.extend_from_slice(&chunk[..pos]);
            let cr = chunk[pos] == b'\r';
            chunk = &chunk[pos + 1..];
            if cr {
                if chunk.first() == Some(&b'\n') {
                    chunk = &chunk[1..];
                } else if chunk.is_empty() {
                    self.after_cr = true;
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
        }
        self.line.extend_from_slice(chunk);
        if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
            return Err(SseError::TooLarge);
        }
        Ok(())
    }

    /// The stream ended: a last event without its blank line still counts.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
        }
        self.dispatch(out)
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                if self.data.len() > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge);
                }
            }
            b"event" => {
                self.event =
                    Some(String::from_utf8(value.to_vec()).map_err(|_| SseError::NotUtf8)?);
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let event = self.event.take();
        if !self.has_data {
            return Ok(());
        }
        self.has_data = false;
        let data =
            String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| SseError::NotUtf8)?;
        out.push(SseEvent { event, data });
        Ok(())
    }
}

/// Serialises one event in SSE wire form. Data is split into `data:` lines at every
/// line break a client's parser knows (CRLF, CR, LF), so no text can end the event
/// early or start another; line breaks in a name are dropped (callers refuse such
/// names before they get here).
pub fn encode(ev: &SseEvent, buf: &mut BytesMut) {
    if let Some(e) = &ev.event {
        buf.put_slice(b"event: ");
        for part in e.split(['\r', '\n']) {
            buf.put_slice(part.as_bytes());
        }
        buf.put_u8(b'\n');
    }
    let mut rest = ev.data.as_str();
    loop {
        let (line, next) = match rest.find(['\r', '\n']) {
            None => (rest, None),
            Some(i) if rest[i..].starts_with("\r\n") => (&rest[..i], Some(&rest[i + 2..])),
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        };
        buf.put_slice(b"data: ");
        buf.put_slice(line.as_bytes());
        buf.put_u8(b'\n');
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    buf.put_u8(b'\n');
}

pub fn encode_all(events: &[SseEvent]) -> Bytes {
    let mut buf = BytesMut::with_capacity(events.iter().map(|e| e.data.len() + 16).sum());
    for e in events {
        encode(e, &mut buf);
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut out).unwrap();
        }
        f.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn encoded_line_breaks_cannot_inject_events() {
        let ev = SseEvent {
            event: Some("x\r\ndata: [DONE]".into()),
            data: "a\r\rdata: [DONE]\n\nb\r\nc".into(),
        };
        let framed = frame_all(&[&encode_all(std::slice::from_ref(&ev))]);
        assert_eq!(framed.len(), 1, "{framed:?}");
        assert_eq!(framed[0].data, "a\n\ndata: [DONE]\n\nb\nc");
        assert_eq!(framed[0].event.as_deref(), Some("xdata: [DONE]"));
    }

    #[test]
    fn every_split_of_a_stream_frames_the_same() {
        let wire = "event: a\r\ndata: {\"x\":1}\r\n\r\n: comment\n\ndata: l1\ndata: l2\n\ndata: é😀\r\rdata: [DONE]\n\n";
        let whole = frame_all(&[wire.as_bytes()]);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0].event.as_deref(), Some("a"));
        assert_eq!(whole[1].data, "l1\nl2");
        assert_eq!(whole[2].data, "é😀");
        assert_eq!(whole[3].data, "[DONE]");
        let bytes = wire.as_bytes();
        for i in 0..bytes.len() {
            for j in i..bytes.len() {
                let got = frame_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn encode_then_frame_round_trips() {
        let evs = vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{}".into(),
            },
            SseEvent {
                event: None,
                data: "a\nb".into(),
            },
        ];
        assert_eq!(frame_all(&[&encode_all(&evs)]), evs);
    }

    #[test]
    fn oversized_event_is_refused() {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        let big = vec![b'x'; MAX_EVENT_BYTES + 1];
        f.push(b"data: ", &mut out).unwrap();
        assert_eq!(f.push(&big, &mut out), Err(SseError::TooLarge));
    }
}
