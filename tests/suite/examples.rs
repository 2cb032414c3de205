//! The example custom plugin (`examples/plugins/strategy-canary`), loaded from its
//! `.wasm` path like any user's plugin, with its settings from config.

use crate::common::*;
use crate::mock::Mock;
use serde_json::json;

const CANARY: &str = env!("SWITCHBOARD_GUEST_STRATEGY_CANARY");

fn config(percent: u32) -> String {
    format!(
        r#"
[providers.stable]
adapter = "builtin:openai"
base_url = "{{mock}}/stable/v1"
[providers.canary]
adapter = "builtin:openai"
base_url = "{{mock}}/canary/v1"
[strategies.canary-split]
plugin = {CANARY:?}
settings = {{ percent = {percent} }}
[models."m"]
strategy = "canary-split"
targets = [{{ provider = "stable", model = "v1" }}, {{ provider = "canary", model = "v2" }}]
"#
    )
}

#[tokio::test]
async fn the_canary_example_splits_by_its_setting() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config(30)).await;
    for _ in 0..300 {
        assert_eq!(
            gw.chat(&json!({ "model": "m", "messages": user("x") }))
                .await
                .0,
            200
        );
    }
    let canary = mock.count("canary");
    assert_eq!(canary + mock.count("stable"), 300);
    // 30% of 300 = 90; the host's random values make this binomial (sd ≈ 8).
    assert!((55..=125).contains(&canary), "canary got {canary} of 300");

    let mock = Mock::start().await;
    let gw = start(&mock, &config(0)).await;
    for _ in 0..20 {
        gw.chat(&json!({ "model": "m", "messages": user("x") }))
            .await;
    }
    assert_eq!(mock.count("canary"), 0);
}
