//! Several gateways behind one load balancer: two replicas share one PostgreSQL (virtual
//! keys, usage records) and one Redis (plugin counters). A key made on one works on the
//! other, the usage of both is one `/admin/usage` and one `/admin/stats`, a team's
//! budget holds across both under concurrency, and the alerts both raise are one history.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::{Fault, Mock};

/// The mock reports 11 prompt + 7 completion tokens: at 1 000 and 2 000 per million an
/// answer costs 25 000 millionths; a request reserves ~39 000 at `max_tokens` 7.
const COST: f64 = 0.025;

fn config(redis: &str) -> String {
    format!(
        r#"
[store]
postgres_url_env = "PG_URL"

[usage]

[counters]
redis_url = "{redis}"
redis_timeout = "2s"

[[keys]]
name = "team"
secret_env = "TEAM_KEY"
team = "search"

[[teams]]
name = "search"
models = ["m"]
policies = ["team-budget"]

[policies.team-budget]
plugin = "builtin:budget"
settings = {{ limit = 0.2, per = "team", period = "day" }}

[[alerts]]
name = "team-spent"
kind = "budget"
at = "exhausted"
window = "1h"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]
"#
    )
}

async fn chat(gw: &Gw, key: &str) -> u16 {
    let body = json!({ "model": "m", "messages": user("hi"), "max_tokens": 7 });
    let url = format!("{}/v1/chat/completions", gw.url);
    let r = gw.ask(Method::POST, &url, key, Some(&body)).await;
    r.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_keys_usage_and_a_team_budget() {
    let (pg, redis, mock) = (
        Postgres::start().await,
        Redis::start().await,
        Mock::start().await,
    );
    let url = pg.url();
    let env = [("PG_URL", url.as_str())];
    let cfg = config(&redis.url());
    let a = start_env(&mock, "", &cfg, &env).await;
    let b = start_env(&mock, "", &cfg, &env).await;

    // A key of the team, made on one replica, works on the other within a second.
    let (s, made) = a
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "shared", "team": "search" })),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_string();
    let mut held = false;
    for _ in 0..60 {
        if chat(&b, &secret).await == 200 {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the key made on one replica never held on the other");
    // The config key spends once too, so both keys are in the usage whatever the burst
    // below admits.
    assert_eq!(chat(&a, TEAM_KEY).await, 200);

    // Both replicas, both keys of the team, at once: the team's budget holds exactly.
    mock.set_fault("p", Some(Fault::Delay(Duration::from_millis(30))));
    let burst = (0..24).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        let key = if i % 3 == 0 {
            TEAM_KEY
        } else {
            secret.as_str()
        };
        chat(gw, key)
    });
    let statuses = futures_util::future::join_all(burst).await;
    mock.set_fault("p", None);
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let denied = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted + denied, 24, "{statuses:?}");
    // Two answers were spent before the burst; the limit is 0.2 (8 answers).
    assert!(
        admitted >= 3 && (admitted + 2) as f64 * COST <= 0.2 + 1e-9,
        "{admitted} admitted: {statuses:?}"
    );

    // The usage of both replicas is one figure, read from either (the other replica's
    // writer hands its batch over on its own tick).
    let mut usage = Value::Null;
    for _ in 0..50 {
        let (s, u) = a
            .admin_json(Method::GET, "/admin/usage?group=team", None)
            .await;
        assert_eq!(s, 200, "{u}");
        usage = u;
        if usage["rows"][0]["requests"] == 26 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = usage["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{usage}");
    assert_eq!(rows[0]["team"], "search");
    assert_eq!(rows[0]["requests"], 26, "{usage}");
    assert_eq!(rows[0]["errors"], denied as u64, "{usage}");
    let spent = rows[0]["cost_usd"].as_f64().unwrap();
    assert!(
        (spent - (admitted + 2) as f64 * COST).abs() < 1e-9,
        "{usage}"
    );
    let (_, by_key) = b
        .admin_json(Method::GET, "/admin/usage?group=key&status=ok", None)
        .await;
    let keys: Vec<&str> = by_key["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert!(
        keys.contains(&"shared") && keys.contains(&"team"),
        "{by_key}"
    );
    let (_, stats) = b
        .admin_json(Method::GET, "/admin/stats?hours=1", None)
        .await;
    assert_eq!(stats["routes"][0]["requests"], 26, "{stats}");
    assert_eq!(
        stats["targets"][0]["requests"],
        (admitted + 2) as u64,
        "{stats}"
    );

    // Both replicas saw the budget deny: each raised the alert, and either shows both.
    let mut history = Value::Null;
    for _ in 0..50 {
        let (_, view) = b.admin_json(Method::GET, "/admin/alerts", None).await;
        assert_eq!(view["shared_history"], true, "{view}");
        history = view["history"].clone();
        let mut replicas: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["rule"] == "team-spent" && h["state"] == "firing")
            .filter_map(|h| h["replica"].as_str())
            .collect();
        replicas.sort();
        replicas.dedup();
        if replicas.len() == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the shared history never showed both replicas: {history}");
}
