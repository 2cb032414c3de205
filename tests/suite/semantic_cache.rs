//! The semantic cache (`[cache] semantic`): a paraphrase of a cached prompt is answered
//! from the cache (whole and streamed) with its similarity, through a real embeddings
//! route whose calls are children of the request; a different question, another key
//! (scope `key`) or other parameters miss; the index's memory bound is unit-tested in
//! `src/cache/semantic.rs` (100 000 entries).

use serde_json::{Value, json};

use crate::common::*;
use crate::mock::{Mock, openai::bag_of_words};

const SECOND: &str = "second-key-0123456789";

fn config() -> String {
    format!(
        r#"
[cache]
semantic = {{ route = "embed", threshold = 0.95, scope = "key" }}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "second"
sha256 = "{}"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[providers.e]
adapter = "builtin:openai"
base_url = "{{mock}}/e/v1"

[models.m]
targets = [{{ provider = "p", model = "x" }}]
cache = {{ ttl = "10m" }}

[models.embed]
targets = [{{ provider = "e", model = "embedder" }}]
"#,
        sha256_hex(SECOND)
    )
}

async fn ask(gw: &Gw, key: &str, body: Value) -> reqwest::Response {
    gw.client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn cache_header(r: &reqwest::Response) -> String {
    r.headers()["x-switchboard-cache"]
        .to_str()
        .unwrap()
        .to_string()
}

const ASKED: &str = "Please explain in a few short sentences why the sky over the ocean looks blue on a clear summer afternoon";
const PARAPHRASE: &str = "Please explain in a few short sentences why the sky over the ocean looks blue on a clear summer day";
const ANOTHER: &str = "What is the boiling point of water at the top of a high mountain in winter";

fn cosine(a: &str, b: &str) -> f64 {
    let (a, b) = (
        bag_of_words(&format!("user: {a}")),
        bag_of_words(&format!("user: {b}")),
    );
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn a_paraphrase_is_answered_from_the_cache_and_nothing_else_is() {
    assert!(cosine(ASKED, PARAPHRASE) >= 0.95 && cosine(ASKED, ANOTHER) < 0.95);
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let r = ask(
        &gw,
        TEAM_KEY,
        json!({ "model": "m", "messages": user(ASKED) }),
    )
    .await;
    assert_eq!(cache_header(&r), "miss");
    let first: Value = r.json().await.unwrap();
    assert_eq!((mock.count("p"), mock.count("e")), (1, 1));

    // The paraphrase: the exact cache misses, the semantic one answers.
    let r = ask(
        &gw,
        TEAM_KEY,
        json!({ "model": "m", "messages": user(PARAPHRASE) }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_header(&r), "semantic");
    let similarity: f64 = r.headers()["x-switchboard-cache-similarity"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (similarity - cosine(ASKED, PARAPHRASE)).abs() < 0.001,
        "{similarity}"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"], first["choices"], "the stored answer");
    assert_eq!(mock.count("p"), 1, "the provider was not asked again");
    assert_eq!(
        mock.seen("e")[1].body["input"][0],
        format!("user: {PARAPHRASE}\n")
    );
    // Streamed, the same answer is replayed.
    let body = json!({ "model": "m", "messages": user(PARAPHRASE), "stream": true });
    let r = ask(&gw, TEAM_KEY, body).await;
    assert_eq!(cache_header(&r), "semantic");
    let (text, done, _) = streamed_text(&data_lines(&r.text().await.unwrap()));
    assert_eq!(
        text,
        first["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert!(done);

    // A different question, another key, other parameters: each goes to the provider.
    let r = ask(
        &gw,
        TEAM_KEY,
        json!({ "model": "m", "messages": user(ANOTHER) }),
    )
    .await;
    assert_eq!(cache_header(&r), "miss");
    let r = ask(
        &gw,
        SECOND,
        json!({ "model": "m", "messages": user(PARAPHRASE) }),
    )
    .await;
    assert_eq!(
        cache_header(&r),
        "miss",
        "scope = \"key\": never across keys"
    );
    let hot = json!({ "model": "m", "messages": user(PARAPHRASE), "temperature": 1.5 });
    assert_eq!(cache_header(&ask(&gw, TEAM_KEY, hot).await), "miss");
    assert_eq!(mock.count("p"), 4);
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains(r#"switchboard_cache_semantic_total{route="m",result="hit"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_embeddings_route_that_is_not_a_model_is_refused_at_load() {
    let mock = Mock::start().await;
    let text = config().replace("route = \"embed\"", "route = \"nowhere\"");
    let err = parse(&mock, &text).unwrap_err().to_string();
    assert!(
        err.contains("cache.semantic.route") && err.contains("nowhere"),
        "{err}"
    );
}
