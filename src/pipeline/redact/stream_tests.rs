//! The held-back window against a plain masking function: however a text is cut into
//! chunks, what the client receives is exactly the whole text redacted.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::*;

/// Runs of four or more digits become `[N]`; a run's verdict depends on its right
/// edge, like a card number's.
fn mask(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let end = |run: &mut String, out: &mut String| {
        if run.len() >= 4 {
            out.push_str("[N]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            end(&mut run, &mut out);
            out.push(c);
        }
    }
    end(&mut run, &mut out);
    out
}

struct Masker;

impl Redact for Masker {
    async fn redact(&self, texts: Vec<String>) -> Result<Vec<String>, PluginError> {
        Ok(texts.iter().map(|t| mask(t)).collect())
    }
}

fn chunk(index: u64, content: Option<&str>, finish: Option<&str>) -> SseEvent {
    let mut delta = json!({});
    if let Some(c) = content {
        delta["content"] = json!(c);
    }
    SseEvent {
        event: None,
        data: json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{ "index": index, "delta": delta, "finish_reason": finish }],
        })
        .to_string(),
    }
}

fn done() -> SseEvent {
    SseEvent {
        event: None,
        data: "[DONE]".into(),
    }
}

/// Concatenated content per choice index, and whether `[DONE]` came last.
fn received(events: &[SseEvent]) -> (Vec<(u64, String)>, bool) {
    let mut texts: Vec<(u64, String)> = Vec::new();
    for ev in events {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            continue;
        };
        for c in v["choices"].as_array().into_iter().flatten() {
            let i = c["index"].as_u64().unwrap();
            let t = c["delta"]["content"].as_str().unwrap_or("");
            match texts.iter_mut().find(|(j, _)| *j == i) {
                Some((_, s)) => s.push_str(t),
                None => texts.push((i, t.to_string())),
            }
        }
    }
    let done_last = events.last().is_some_and(|e| e.data == "[DONE]");
    (texts, done_last)
}

/// A text of words and digit runs no longer than `max_run`.
fn text(rng: &mut StdRng, len: usize, max_run: usize) -> String {
    let mut s = String::new();
    while s.chars().count() < len {
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..=max_run) {
                    s.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
            }
            1 => s.push_str(" café "),
            2 => s.push('-'),
            _ => s.push_str("word"),
        }
    }
    s
}

/// Cuts `s` into pieces of 1 to `max` characters.
fn split(rng: &mut StdRng, s: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let n = rng.random_range(1..=max).min(chars.len() - i);
        out.push(chars[i..i + n].iter().collect());
        i += n;
    }
    out
}

#[tokio::test]
async fn any_split_yields_the_whole_text_redacted() {
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..300 {
        let window = rng.random_range(12..40);
        let len = rng.random_range(0..300);
        let whole = text(&mut rng, len, 12);
        let max_piece = rng.random_range(1..20);
        let pieces = split(&mut rng, &whole, max_piece);
        let mut r = StreamRedactor::new(Masker, window);
        let mut sent = Vec::new();
        for p in &pieces {
            sent.extend(r.process(vec![chunk(0, Some(p), None)]).await.unwrap());
        }
        // Half the streams end with a finish_reason, half go straight to [DONE].
        let mut last = Vec::new();
        if round % 2 == 0 {
            last.push(chunk(0, None, Some("stop")));
        }
        last.push(done());
        sent.extend(r.process(last).await.unwrap());
        let (texts, done_last) = received(&sent);
        let got = texts.first().map(|(_, t)| t.as_str()).unwrap_or("");
        assert_eq!(
            got,
            mask(&whole),
            "round {round}, window {window}: {pieces:?}"
        );
        assert!(done_last);
    }
}

#[tokio::test]
async fn a_match_split_across_chunks_never_reaches_the_client_raw() {
    let mut r = StreamRedactor::new(Masker, 6);
    let mut sent = Vec::new();
    for p in [
        "card 41",
        "11 2",
        "222 33",
        "33 end of the message that goes on",
    ] {
        sent.extend(r.process(vec![chunk(0, Some(p), None)]).await.unwrap());
        let (texts, _) = received(&sent);
        assert!(!texts[0].1.contains(char::is_numeric), "{texts:?}");
    }
    sent.extend(
        r.process(vec![chunk(0, Some("."), Some("stop")), done()])
            .await
            .unwrap(),
    );
    let (texts, _) = received(&sent);
    assert_eq!(
        texts[0].1,
        "card [N] [N] [N] end of the message that goes on."
    );
    // The finish_reason chunk carried the rest; the frame of each chunk is kept.
    let finish = serde_json::from_str::<Value>(&sent[sent.len() - 2].data).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["id"], "chatcmpl-1");
}

#[tokio::test]
async fn choices_are_held_apart_and_other_events_pass_untouched() {
    let mut r = StreamRedactor::new(Masker, 8);
    let role = SseEvent {
        event: None,
        data: r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#
            .into(),
    };
    let usage = SseEvent {
        event: None,
        data: r#"{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#.into(),
    };
    let mut sent = r.process(vec![role.clone()]).await.unwrap();
    assert_eq!(
        sent[0].data, role.data,
        "a chunk without text is not re-encoded"
    );
    for (i, p) in [(0, "a 1234"), (1, "b 98"), (0, "5 x"), (1, "76 y")] {
        sent.extend(r.process(vec![chunk(i, Some(p), None)]).await.unwrap());
    }
    // The stream ends with the usage chunk before any finish_reason: pending text is
    // flushed ahead of it, one chunk per choice.
    sent.extend(r.process(vec![usage.clone(), done()]).await.unwrap());
    let (texts, done_last) = received(&sent);
    assert_eq!(texts, vec![(0, "a [N] x".into()), (1, "b [N] y".into())]);
    assert!(done_last);
    assert_eq!(sent[sent.len() - 2].data, usage.data);
}

#[tokio::test]
async fn a_match_longer_than_the_hold_limit_is_sent_as_it_stands() {
    let mut r = StreamRedactor::new(Masker, 4);
    let mut sent = Vec::new();
    // One digit run that never ends: the buffer stays unsettled and is let go,
    // redacted, once it passes HOLD_FACTOR windows.
    for _ in 0..10 {
        sent.extend(
            r.process(vec![chunk(0, Some("12345"), None)])
                .await
                .unwrap(),
        );
    }
    let (texts, _) = received(&sent);
    assert!(texts[0].1.starts_with("[N]"), "{texts:?}");
    assert!(!texts[0].1.contains('1'), "{texts:?}");
}

#[tokio::test]
async fn a_provider_key_split_anywhere_is_masked_without_delaying_other_text() {
    const KEY: &str = "sk-stream-test-key-0123456789";
    crate::secrets::register(KEY);
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..300 {
        let (a, b, max) = (
            rng.random_range(0..80),
            rng.random_range(0..80),
            rng.random_range(1..12),
        );
        let before = text(&mut rng, a, 8);
        let after = text(&mut rng, b, 8);
        let whole = format!("{before}{KEY}{after}");
        let pieces = split(&mut rng, &whole, max);
        let mut r = StreamRedactor::masking_keys(Masks { chain: None }, 0);
        let mut sent = Vec::new();
        for p in &pieces {
            let out = r.process(vec![chunk(0, Some(p), None)]).await.unwrap();
            let (so_far, _) = received(&out);
            for (_, t) in so_far {
                assert!(!t.contains("stream-test"), "round {round}: {t}");
            }
            sent.extend(out);
        }
        sent.extend(
            r.process(vec![chunk(0, None, Some("stop")), done()])
                .await
                .unwrap(),
        );
        let (texts, _) = received(&sent);
        let got = texts.first().map(|(_, t)| t.as_str()).unwrap_or("");
        assert_eq!(
            got,
            format!("{before}[REDACTED]{after}"),
            "round {round}: {pieces:?}"
        );
    }
    // Text that cannot begin a key is sent at once, not a window later.
    let mut r = StreamRedactor::masking_keys(Masks { chain: None }, 0);
    let out = r
        .process(vec![chunk(0, Some("hello there"), None)])
        .await
        .unwrap();
    assert_eq!(received(&out).0[0].1, "hello there");
}

/// An Anthropic text delta for block `index`.
fn anthropic_delta(index: u64, text: &str) -> SseEvent {
    SseEvent {
        event: Some("content_block_delta".into()),
        data: json!({ "type": "content_block_delta", "index": index,
            "delta": { "type": "text_delta", "text": text } })
        .to_string(),
    }
}

#[tokio::test]
async fn any_split_of_passed_through_events_yields_the_whole_text_redacted() {
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..200 {
        let window = rng.random_range(12..40);
        let len = rng.random_range(0..200);
        let whole = text(&mut rng, len, 12);
        let max_piece = rng.random_range(1..20);
        let pieces = split(&mut rng, &whole, max_piece);
        // Anthropic: block 1's deltas, then its stop; the text is what the deltas say.
        let mut r = StreamRedactor::new(Masker, window).for_native(NativeApi::Messages);
        let mut sent = Vec::new();
        for p in &pieces {
            sent.extend(r.process(vec![anthropic_delta(1, p)]).await.unwrap());
        }
        let stop = SseEvent {
            event: Some("content_block_stop".into()),
            data: json!({ "type": "content_block_stop", "index": 1 }).to_string(),
        };
        sent.extend(r.process(vec![stop]).await.unwrap());
        let said: String = sent
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .filter(|v| v["type"] == "content_block_delta")
            .map(|v| v["delta"]["text"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(said, mask(&whole), "anthropic round {round}: {pieces:?}");
        assert_eq!(
            sent.last().unwrap().event.as_deref(),
            Some("content_block_stop")
        );
        // Responses: output_text deltas, then `.done` with the whole text.
        let mut r = StreamRedactor::new(Masker, window).for_native(NativeApi::Responses);
        let mut sent = Vec::new();
        for p in &pieces {
            let ev = json!({ "type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": p });
            let ev = SseEvent {
                event: Some("response.output_text.delta".into()),
                data: ev.to_string(),
            };
            sent.extend(r.process(vec![ev]).await.unwrap());
        }
        let done = json!({ "type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": whole });
        let done = SseEvent {
            event: Some("response.output_text.done".into()),
            data: done.to_string(),
        };
        sent.extend(r.process(vec![done]).await.unwrap());
        let evs: Vec<Value> = sent
            .iter()
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect();
        let said: String = evs
            .iter()
            .filter(|v| v["type"] == "response.output_text.delta")
            .map(|v| v["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(said, mask(&whole), "responses round {round}: {pieces:?}");
        assert_eq!(evs.last().unwrap()["text"], mask(&whole));
    }
}
