//! A bounded fuzz pass over every parser a client (or a provider) feeds: request body
//! facts, `/v1/messages` translation, SSE framing and encoding, cache keys and the
//! stream assembler. Random JSON documents, mutated real bodies and random byte
//! streams from a seeded generator; each must be answered (Ok or a clean error),
//! never a panic, and the framing invariants must hold. `SWITCHBOARD_FUZZ_CASES`
//! sets the number of cases (default 5000 per target, about a second).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::pipeline::body::{self, Endpoint};
use crate::types::SseEvent;
use crate::upstream::sse::{SseFramer, encode_all};

fn cases() -> usize {
    std::env::var("SWITCHBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

const NASTY: &[&str] = &[
    "",
    "model",
    "messages",
    "stream",
    "user",
    "n",
    "\u{0}",
    "\r\n",
    "\n\ndata: [DONE]\n\n",
    "é",
    "😀",
    "\\u0000",
    "%2e%2e",
    "[DONE]",
    "content",
    "role",
    "system",
    "tool_use",
    "text",
    "image",
    "max_tokens",
    "-1",
    "1e999",
];

fn text(rng: &mut StdRng) -> String {
    match rng.random_range(0..4) {
        0 => NASTY[rng.random_range(0..NASTY.len())].to_string(),
        1 => (0..rng.random_range(0..12))
            .map(|_| char::from_u32(rng.random_range(0..0x11000)).unwrap_or('?'))
            .collect(),
        _ => (0..rng.random_range(0..8))
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect(),
    }
}

fn value(rng: &mut StdRng, depth: u32) -> Value {
    let pick = if depth == 0 {
        rng.random_range(0..5)
    } else {
        rng.random_range(0..7)
    };
    match pick {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>() >> rng.random_range(0..64)),
        3 => json!(rng.random::<f64>() * 1e6),
        4 => json!(text(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..6) {
                m.insert(
                    NASTY[rng.random_range(0..NASTY.len())].to_string(),
                    value(rng, depth - 1),
                );
            }
            Value::Object(m)
        }
    }
}

/// A plausible request, then mutated: fields replaced by random values, bytes
/// flipped or cut.
fn body_bytes(rng: &mut StdRng) -> Vec<u8> {
    let mut v = json!({
        "model": "m", "stream": rng.random::<bool>(), "max_tokens": 16, "user": "u", "n": 1,
        "messages": [{ "role": "user", "content": "hi" }],
        "system": "s", "input": "x",
    });
    for _ in 0..rng.random_range(0..4) {
        let k = NASTY[rng.random_range(0..NASTY.len())];
        v[k] = value(rng, 3);
    }
    let mut b = serde_json::to_vec(&v).unwrap();
    match rng.random_range(0..4) {
        0 if !b.is_empty() => {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        1 if !b.is_empty() => b.truncate(rng.random_range(0..b.len())),
        _ => {}
    }
    b
}

#[test]
fn request_facts_never_panic_and_point_at_the_model() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    for _ in 0..cases() {
        let b = body_bytes(&mut rng);
        for ep in [Endpoint::Chat, Endpoint::Embeddings] {
            if let Ok(f) = body::parse(&b, ep) {
                let raw = &b[f.model_span.clone()];
                let decoded: String = serde_json::from_slice(raw).unwrap();
                assert_eq!(decoded, f.model);
                assert!(
                    f.user
                        .as_ref()
                        .is_none_or(|u| u.len() <= body::MAX_USER_BYTES)
                );
                assert!(f.n >= 1);
                // (Facts read only what routing needs: a body can be accepted whose
                // other strings a full parse refuses; the provider answers that.)
                if serde_json::from_slice::<Value>(&b).is_ok() {
                    let edited = body::set_model(&b, &f.model_span, "other");
                    let v: Value = serde_json::from_slice(&edited).unwrap();
                    assert_eq!(v["model"], "other");
                }
            }
        }
    }
}

#[test]
fn messages_translation_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    for _ in 0..cases() {
        let mut v = value(&mut rng, 4);
        if rng.random::<bool>() {
            v = json!({
                "model": "m", "max_tokens": 5,
                "messages": [{ "role": text(&mut rng), "content": value(&mut rng, 3) }],
                "system": value(&mut rng, 2), "tools": value(&mut rng, 2),
                "tool_choice": value(&mut rng, 2),
            });
        }
        let _ = crate::api::messages::request::to_chat(&v);
    }
}

#[test]
fn sse_framing_is_split_independent_and_encoding_cannot_inject() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let frame = |chunks: &[&[u8]]| {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut out)?;
        }
        f.finish(&mut out)?;
        Ok::<_, crate::upstream::sse::SseError>(out)
    };
    for _ in 0..cases() {
        // Random wire bytes, whole and split at random points: the same events.
        let wire: Vec<u8> = (0..rng.random_range(0..200))
            .map(|_| match rng.random_range(0..6) {
                0 => b'\n',
                1 => b'\r',
                2 => b':',
                _ => b"data event id x[DONE] \xc3\xa9"[rng.random_range(0..20)],
            })
            .collect();
        let whole = frame(&[&wire]);
        let cut = if wire.is_empty() {
            0
        } else {
            rng.random_range(0..wire.len())
        };
        let split = frame(&[&wire[..cut], &wire[cut..]]);
        assert_eq!(whole.is_ok(), split.is_ok());
        if let (Ok(a), Ok(b)) = (whole, split) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((&x.event, &x.data), (&y.event, &y.data));
            }
        }
        // Any event the host encodes frames back as exactly one event.
        let ev = SseEvent {
            event: rng.random::<bool>().then(|| text(&mut rng)),
            data: (0..rng.random_range(1..5))
                .map(|_| text(&mut rng))
                .collect::<Vec<_>>()
                .join("\r\n"),
        };
        let back = frame(&[&encode_all(std::slice::from_ref(&ev))]).unwrap();
        assert_eq!(back.len(), 1, "{ev:?} -> {back:?}");
        let normal = ev.data.replace("\r\n", "\n").replace('\r', "\n");
        assert_eq!(back[0].data, normal);
    }
}

#[test]
fn cache_keys_and_stream_assembly_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    for _ in 0..cases() {
        let b = body_bytes(&mut rng);
        let k1 = crate::cache::key::key("m", Endpoint::Chat.label(), Some("team"), &b);
        let k2 = crate::cache::key::key("m", Endpoint::Chat.label(), Some("team"), &b);
        assert_eq!(k1.is_some(), k2.is_some());
        let mut a = crate::cache::sse::Assembler::default();
        for _ in 0..rng.random_range(0..6) {
            a.push(&serde_json::to_string(&value(&mut rng, 3)).unwrap());
        }
        if let Some(done) = a.finish() {
            let _ = crate::cache::sse::replay(&done, rng.random());
        }
        let _ = crate::cache::sse::replay(&b, rng.random());
    }
}
