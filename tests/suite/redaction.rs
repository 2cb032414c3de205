//! Answers pass through the route's redactors too: the real `builtin:redact-pii`
//! component masks what a provider says, in whole answers and in streams however the
//! provider cuts the text into chunks (OpenAI pass-through and Anthropic translation),
//! and the cache keeps only the masked answer.

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::json;

const CONFIG: &str = r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{mock}/p/v1"

[providers.a]
adapter = "builtin:anthropic"
base_url = "{mock}/a/v1"

[models."m"]
targets = [{ provider = "p", model = "x" }]
redactors = ["builtin:redact-pii"]

[models."claude"]
targets = [{ provider = "a", model = "claude-x" }]
redactors = ["builtin:redact-pii"]

[models."raw"]
targets = [{ provider = "p", model = "x" }]
redactors = ["builtin:redact-pii"]
redact_response = false

[models."cached"]
targets = [{ provider = "p", model = "x" }]
redactors = ["builtin:redact-pii"]
cache = { ttl = "1m" }
"#;

const SAYS: &str = "Write to bob.smith@example.org and bill card 4111-1111-1111-1111 today.";
const MASKED: &str = "Write to [EMAIL] and bill card [CARD] today.";

fn leaks(text: &str) -> bool {
    text.contains("bob.smith") || text.contains("example.org") || text.contains("4111")
}

#[tokio::test]
async fn whole_answers_are_masked_through_both_adapters() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    for (route, provider) in [("m", "p"), ("claude", "a")] {
        mock.push_fault(provider, Fault::Says(SAYS.into(), 0));
        let (status, v) = gw
            .chat(&json!({ "model": route, "messages": user("hi") }))
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["message"]["content"], MASKED, "{route}");
        assert_eq!(
            v["usage"]["completion_tokens"], 7,
            "the rest of the answer is intact"
        );
    }
    // A route that redacts requests only passes the answer as the provider gave it.
    mock.push_fault("p", Fault::Says(SAYS.into(), 0));
    let (_, v) = gw
        .chat(&json!({ "model": "raw", "messages": user("hi") }))
        .await;
    assert_eq!(v["choices"][0]["message"]["content"], SAYS);
}

#[tokio::test]
async fn streams_are_masked_however_the_text_is_cut() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    for (route, provider) in [("m", "p"), ("claude", "a")] {
        for piece in [1, 2, 3, 5, 8, 13, 100] {
            mock.push_fault(provider, Fault::Says(SAYS.into(), piece));
            let body = json!({ "model": route, "messages": user("hi"), "stream": true });
            let (status, lines) = gw.chat_stream(&body).await;
            assert_eq!(status, 200);
            for l in &lines {
                assert!(!leaks(l), "{route}, pieces of {piece}: leaked in {l}");
            }
            let (text, done, _) = streamed_text(&lines);
            assert_eq!(text, MASKED, "{route}, pieces of {piece}");
            assert!(done);
        }
    }
    // Without response redaction the same stream leaks: the check above can fail.
    mock.push_fault("p", Fault::Says(SAYS.into(), 3));
    let body = json!({ "model": "raw", "messages": user("hi"), "stream": true });
    let (_, lines) = gw.chat_stream(&body).await;
    assert_eq!(streamed_text(&lines).0, SAYS);
}

#[tokio::test]
async fn the_cache_keeps_the_masked_answer() {
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    mock.push_fault("p", Fault::Says(SAYS.into(), 4));
    let body = json!({ "model": "cached", "messages": user("once"), "stream": true });
    let (_, lines) = gw.chat_stream(&body).await;
    assert_eq!(streamed_text(&lines).0, MASKED);
    // The stored answer was folded from the masked stream: JSON and stream hits agree.
    let (_, v) = gw
        .chat(&json!({ "model": "cached", "messages": user("once") }))
        .await;
    assert_eq!(v["choices"][0]["message"]["content"], MASKED);
    let (_, lines) = gw.chat_stream(&body).await;
    assert_eq!(streamed_text(&lines).0, MASKED);
    assert_eq!(mock.count("p"), 1, "both later answers came from the cache");
}
