//! The gateway as a service: readiness a load balancer can act on while a replica
//! drains, and the container image — built with podman, mounted, and its entrypoint run
//! from the mounted root as an unprivileged user — answering a chat completion.

use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;

/// `GET /ready` on both listeners: 200 while the replica should get traffic; on
/// shutdown 503 `draining` for `drain_delay` while requests are still taken, then the
/// listeners close.
#[tokio::test]
async fn ready_says_draining_before_the_listeners_close() {
    let mock = Mock::start().await;
    let text = "[server]\ndrain_delay = \"1s\"\n\n[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n\n[models.m]\ntargets = [{ provider = \"p\", model = \"x\" }]\n";
    // The test config's [server] comes first; this one's settings are added to it.
    let text = config_text(&mock, "").replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\ndrain_delay = \"1s\"",
    ) + &text
        .replace("[server]\ndrain_delay = \"1s\"\n\n", "")
        .replace("{mock}", &format!("http://{}", mock.addr));
    let env = env_map();
    let config = switchboard::config::Config::parse(&text, std::path::Path::new("."), &move |k| {
        env.get(k).cloned()
    })
    .unwrap();
    assert_eq!(config.server.drain_delay, std::time::Duration::from_secs(1));
    let running = switchboard::app::start(config).await.unwrap();
    let (api, admin) = (
        format!("http://{}", running.api_addr),
        format!("http://{}", running.admin_addr.unwrap()),
    );
    let client = reqwest::Client::new();
    for base in [&api, &admin] {
        let r = client.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    }
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = client.get(format!("{api}/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "draining");
    let r = client
        .post(format!("{api}/v1/chat/completions"))
        .json(&json!({ "model": "m", "messages": user("still here") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a draining replica still serves");
    stopping.await.unwrap();
    assert!(client.get(format!("{api}/ready")).send().await.is_err());
}
