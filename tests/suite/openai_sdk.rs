//! The official OpenAI Python SDK pointed at switchboard: plain and streamed chat
//! (the stream translated from Anthropic), tool calls, embeddings, models, and the
//! SDK's own error classes for our errors. The SDK is installed into a virtualenv
//! under the target dir on first run (from PyPI).

use crate::common::*;
use crate::mock::Mock;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_unchanged() {
    let mock = Mock::start().await;
    let gw = start(&mock, TWO_PROVIDERS).await;
    let v = run_sdk_script(
        "openai_sdk_check.py",
        vec![format!("{}/v1", gw.url), TEAM_KEY.to_string()],
    )
    .await;
    assert_eq!(v["text"], "oa says: hello sdk");
    assert_eq!(v["usage_total"], 18);
    assert_eq!(v["stream_text"], "an says: streamed words");
    assert_eq!(v["stream_usage"], 18);
    assert_eq!(
        v["tool_args"],
        json!([{ "city": "Paris" }, { "city": "Oslo" }])
    );
    assert_eq!(v["embeddings"], 2);
    assert_eq!(v["models"], json!(["claude", "m"]));
    assert_eq!(v["not_found"], "model_not_found");
    assert_eq!(v["bad_key"], "authentication_error");
}
