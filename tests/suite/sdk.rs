//! The plugin kit: `builtin:content-router` (written on the guest SDK) routing real
//! requests by text, length, images and tools to tagged targets, and refusing bad
//! rules at start; the SDK's own example plugins passing their tests.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

const ROUTER: &str = r#"
[providers.general]
adapter = "builtin:openai"
base_url = "{mock}/general/v1"
[providers.coder]
adapter = "builtin:openai"
base_url = "{mock}/coder/v1"
[providers.eye]
adapter = "builtin:openai"
base_url = "{mock}/eye/v1"

[strategies.by-content]
plugin = "builtin:content-router"
settings.default = "general"
settings.rules = [
  { tag = "vision", images = true, only = true },
  { tag = "code", regex = "```|\\b(fn|def|class)\\b" },
  { tag = "tools", tools = true },
  { tag = "long", min_tokens = 2000 },
]

[models.m]
strategy = "by-content"
targets = [
  { provider = "general", model = "big", tags = ["general", "tools"] },
  { provider = "coder", model = "code-1", tags = ["code", "long"] },
  { provider = "eye", model = "vision-1", tags = ["vision"] },
]
"#;

/// Which provider answered `body`.
async fn served_by(gw: &Gw, mock: &Mock, body: Value) -> &'static str {
    let before: Vec<usize> = ["general", "coder", "eye"]
        .iter()
        .map(|p| mock.count(p))
        .collect();
    let (s, v) = gw.chat(&body).await;
    assert_eq!(s, 200, "{v}");
    let after: Vec<usize> = ["general", "coder", "eye"]
        .iter()
        .map(|p| mock.count(p))
        .collect();
    let i = (0..3)
        .find(|&i| after[i] > before[i])
        .expect("a provider was asked");
    ["general", "coder", "eye"][i]
}

fn ask(content: Value) -> Value {
    json!({ "model": "m", "messages": [{ "role": "user", "content": content }] })
}

#[tokio::test]
async fn the_content_router_sends_each_request_to_the_targets_it_needs() {
    let _cpu = crate::common::cpu_heavy_async().await;
    let mock = Mock::start().await;
    let gw = start(&mock, ROUTER).await;
    assert_eq!(
        served_by(&gw, &mock, ask(json!("hello there"))).await,
        "general"
    );
    let code = ask(json!(
        "why does this fail?\n```rust\nfn main() { let x: u8 = 300; }\n```"
    ));
    assert_eq!(served_by(&gw, &mock, code).await, "coder");
    let image = ask(json!([
        { "type": "text", "text": "what is in this picture?" },
        { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } }
    ]));
    assert_eq!(served_by(&gw, &mock, image).await, "eye");
    let mut tools = ask(json!("what is the weather in Lyon"));
    tools["tools"] = json!([{ "type": "function", "function": { "name": "weather", "parameters": { "type": "object" } } }]);
    assert_eq!(served_by(&gw, &mock, tools).await, "general");
    let long = ask(json!(
        "summarise: ".to_string() + &"the quarterly report says sales grew. ".repeat(400)
    ));
    assert_eq!(served_by(&gw, &mock, long).await, "coder");

    // The vision rule is `only`: with its target failing, an image is not sent to a
    // model that cannot see it.
    mock.set_fault(
        "eye",
        Some(crate::mock::Fault::Status(
            500,
            r#"{"error":{"message":"down"}}"#.into(),
        )),
    );
    let image = ask(
        json!([{ "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } }]),
    );
    let (s, v) = gw.chat(&image).await;
    assert!(s >= 500, "{s} {v}");
    assert_eq!(
        mock.count("general") + mock.count("coder"),
        4,
        "only the vision target was tried"
    );
}

#[tokio::test]
async fn bad_rules_and_tags_are_refused_with_their_place() {
    let _cpu = crate::common::cpu_heavy_async().await;
    let mock = Mock::start().await;
    let bad_rule = ROUTER.replace(
        "{ tag = \"long\", min_tokens = 2000 }",
        "{ tag = \"long\", regex = \"(unclosed\" }",
    );
    switchboard::app::init_crypto();
    let config = parse(&mock, &bad_rule).expect("the config parses: the router reads its rules");
    let err = match switchboard::app::start(config).await {
        Ok(_) => panic!("started with a broken regex"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("rules[3] (tag 'long'): regex:"), "{err}");

    let bad_key = ROUTER.replace("min_tokens = 2000", "min_token = 2000");
    let err = match switchboard::app::start(parse(&mock, &bad_key).unwrap()).await {
        Ok(_) => panic!("started with a misspelt rule key"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("unknown field `min_token`"), "{err}");

    let bad_tag = ROUTER.replace("tags = [\"vision\"]", "tags = [\"has space\"]");
    let err = parse(&mock, &bad_tag).unwrap_err().to_string();
    assert!(err.contains("'has space' is not a tag"), "{err}");
}
