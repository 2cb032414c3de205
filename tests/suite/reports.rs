//! `[[reports]]`: a day's spend and health, of the gateway and of one team, built from
//! the usage records of the day before, sent once per period to a local receiver (JSON
//! and Slack-shaped) whichever gateways share the store, on request too, and
//! downloadable as CSV.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::config::reports::Every;
use switchboard::usage::Record;

use crate::common::*;
use crate::mock::Mock;
use crate::mock::hook::Hook;

fn rec(team: &str, model: &str, cost: f64, status: u16) -> Record {
    Record {
        request_id: format!("req_{:016x}", rand::random::<u64>()),
        api: "chat".into(),
        route: model.into(),
        key: "k".into(),
        team: Some(team.into()),
        provider: "p".into(),
        model: model.into(),
        status,
        error: (status >= 400).then(|| "upstream_error".into()),
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_usd: cost,
        duration_ms: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn reports_are_sent_once_per_period_and_download_as_csv() {
    let (mock, hook, channel) = (
        Mock::start().await,
        Hook::start().await,
        Hook::start().await,
    );
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reports-{}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (from, _) = switchboard::manage::reports::period(Every::Day, now);
    let mut conn = switchboard::usage::sqlite::open(&path).unwrap();
    switchboard::usage::sqlite::write(
        &mut conn,
        &[
            (from + 100, rec("search", "a", 0.5, 200)),
            (from + 200, rec("search", "a", 0.5, 200)),
            (from + 300, rec("search", "a", 0.5, 500)),
            (from + 4000, rec("ads", "b", 1.0, 200)),
            (from + 9000, rec("ads", "b", 1.0, 200)),
            (from - 3000, rec("search", "a", 0.75, 200)),
        ],
    )
    .unwrap();
    drop(conn);
    let text = format!(
        r#"
[usage]
sqlite_path = {path:?}

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models.m]
targets = [{{ provider = "p", model = "x" }}]

[[reports]]
name = "daily"
every = "day"
webhook = "{}"

[[reports]]
name = "search-daily"
every = "day"
team = "search"
webhook = "{}"
format = "slack"
"#,
        hook.url, channel.url
    );
    let gw = start(&mock, &text).await;
    let got = hook.wait_for(1).await;
    let r = &got[0];
    assert_eq!(
        (r["report"].as_str(), r["scope"].as_str()),
        (Some("daily"), Some("gateway")),
        "{r}"
    );
    assert_eq!(r["from"], from, "{r}");
    assert_eq!(r["totals"]["requests"], 5, "{r}");
    assert_eq!(r["totals"]["errors"], 1, "{r}");
    assert!(
        (r["totals"]["cost_usd"].as_f64().unwrap() - 3.5).abs() < 1e-9,
        "{r}"
    );
    assert!(
        (r["previous"]["cost_usd"].as_f64().unwrap() - 0.75).abs() < 1e-9,
        "{r}"
    );
    assert_eq!(r["models"][0]["model"], "b", "the costliest first: {r}");
    assert_eq!(r["models"][1]["errors"], 1);
    let said = channel.wait_for(1).await;
    let text = said[0]["text"].as_str().unwrap();
    assert!(
        text.contains("team search") && text.contains("$1.5000"),
        "{text}"
    );
    assert!(
        text.contains("+100.0%"),
        "1.50 against 0.75 the day before: {text}"
    );
    assert!(!text.contains("`b`"), "another team's model: {text}");

    // Another gateway on the same store does not send the day again.
    let again = start(&mock, &text_of(&path, &hook, &channel)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.bodies().len(), 1, "{:?}", hook.bodies());
    drop(again);

    let csv = gw
        .client
        .get(format!("{}/admin/reports/daily?format=csv", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "model,requests,errors,error_rate,tokens,cost_usd,mean_duration_ms,health"
    );
    assert!(lines[1].starts_with("b,2,0,0.0000,30,2.000000"), "{csv}");
    assert!(lines[2].starts_with("a,3,1,0.3333,45,1.500000"), "{csv}");
    assert!(lines[3].starts_with("(total),5,1,"), "{csv}");
    let (status, v) = gw
        .admin_json(
            reqwest::Method::POST,
            "/admin/reports/daily/send",
            Some(json!({})),
        )
        .await;
    assert_eq!((status, v["sent"].clone()), (200, Value::Bool(true)), "{v}");
    assert_eq!(hook.wait_for(2).await.len(), 2);
    let list = gw.admin_get("/admin/reports").await;
    assert_eq!(list["reports"].as_array().unwrap().len(), 2, "{list}");
}

fn text_of(path: &std::path::Path, hook: &Hook, channel: &Hook) -> String {
    format!(
        "[usage]\nsqlite_path = {path:?}\n\n[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/p/v1\"\n\n[models.m]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n\n[[reports]]\nname = \"daily\"\nevery = \"day\"\nwebhook = \"{}\"\n\n[[reports]]\nname = \"search-daily\"\nevery = \"day\"\nteam = \"search\"\nwebhook = \"{}\"\nformat = \"slack\"\n",
        hook.url, channel.url
    )
}
