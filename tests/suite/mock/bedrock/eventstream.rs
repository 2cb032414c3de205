//! Amazon's binary event stream (`application/vnd.amazon.eventstream`, public reference:
//! https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html and the
//! ConverseStream page, framing checked 2026-12), as ConverseStream sends it: a prelude
//! (total length, headers length, CRC32 of those 8 bytes), string headers, the JSON
//! payload, a CRC32 of all before it. The CRC is computed here, independently of the
//! gateway's own decoder.

use serde_json::{Value, json};

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as the event stream frames use.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One event-stream message: prelude (total length, headers length, prelude CRC),
/// string headers (type 7), payload, message CRC.
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// An event message (`:message-type` event) with a JSON payload.
pub fn encode(event_type: &str, payload: &Value) -> Vec<u8> {
    let headers = [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ];
    frame(&headers, payload.to_string().as_bytes())
}

/// An exception message in the stream (e.g. `throttlingException` mid-stream).
pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    let headers = [
        (":exception-type", exception_type),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ];
    frame(
        &headers,
        json!({ "message": message }).to_string().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_the_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn event_stream_lengths_are_consistent() {
        let msgs = [
            encode(
                "contentBlockDelta",
                &json!({ "contentBlockIndex": 0, "delta": { "text": "héllo" }, "p": "abc" }),
            ),
            exception("throttlingException", "slow down"),
        ];
        for msg in msgs {
            let word = |at: usize| u32::from_be_bytes(msg[at..at + 4].try_into().unwrap());
            let (total, headers) = (word(0) as usize, word(4) as usize);
            assert_eq!(total, msg.len());
            assert_eq!(word(8), crc32(&msg[..8]));
            assert_eq!(word(total - 4), crc32(&msg[..total - 4]));
            let (mut at, mut names) = (12, 0);
            while at < 12 + headers {
                let name_len = msg[at] as usize;
                assert_eq!(msg[at + 1 + name_len], 7, "string header");
                let value_len =
                    u16::from_be_bytes([msg[at + 2 + name_len], msg[at + 3 + name_len]]) as usize;
                at += 4 + name_len + value_len;
                names += 1;
            }
            assert_eq!((at, names), (12 + headers, 3));
            let payload: Value = serde_json::from_slice(&msg[12 + headers..total - 4]).unwrap();
            assert!(payload["message"].is_string() || payload["delta"]["text"] == "héllo");
        }
    }
}
