//! Budgets in money with `builtin:budget`: the reservation at the route's highest
//! prices, the real cost after the answer, one boundary rule for every scope (key,
//! team, user, route, gateway, combinations), calendar periods with their reset time,
//! warnings before the limit, denials that name the budget, and — with Redis counters —
//! one budget two gateways together never overspend.

use std::time::Duration;

use sha2::Digest;

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

/// The mock reports 11 prompt + 7 completion tokens; at 1 000 and 2 000 per million
/// an answer costs 11 000 + 14 000 = 25 000 millionths. A request reserves ~39 000 (its
/// body's estimated ~25 prompt tokens and `max_tokens` 7 at those prices).
const COST: i64 = 25_000;
const SECOND: &str = "second-key-0123456789";

fn config(counters: &str, budgets: &str, route_policies: &str) -> String {
    let second: String = sha2::Sha256::digest(SECOND.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        r#"
{counters}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"
team = "search"

[[keys]]
name = "second"
sha256 = "{second}"
team = "search"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

{budgets}

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]
policies = [{route_policies}]

[models."n"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]
policies = [{route_policies}]
"#
    )
}

async fn ask(gw: &Gw, key: &str, model: &str, user: &str) -> reqwest::Response {
    gw.client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&json!({ "model": model, "messages": crate::common::user("hi"), "max_tokens": 7, "user": user }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_monthly_budget_reserves_charges_warns_and_denies_by_name() {
    let mock = Mock::start().await;
    let budgets = "[policies.key-monthly]\nplugin = \"builtin:budget\"\nsettings = { limit = 0.1, period = \"month\", timezone = \"UTC\", warn_at = 0.5 }\n";
    let gw = start(&mock, &config("", budgets, "\"key-monthly\"")).await;
    // Reserving ~39 000 and charging 25 000 each: three fit in 0.1, a fourth would not.
    let r = ask(&gw, TEAM_KEY, "m", "").await;
    let status = r.status();
    let headers = r.headers().clone();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
    let r = headers;
    assert_eq!(r["x-switchboard-budget-limit"], "0.100000");
    assert_eq!(r["x-switchboard-budget-remaining"], "0.075000");
    assert!(r.get("x-switchboard-budget-warning").is_none());
    let r = ask(&gw, TEAM_KEY, "n", "").await;
    assert_eq!(r.headers()["x-switchboard-budget-remaining"], "0.050000");
    let warning = r.headers()["x-switchboard-budget-warning"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        warning.contains("budget 'key-monthly' for key team (per month) at 50%"),
        "{warning}"
    );
    assert_eq!(ask(&gw, TEAM_KEY, "m", "").await.status(), 200);
    let r = ask(&gw, TEAM_KEY, "m", "").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 31 * 86_400, "{wait}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "insufficient_quota");
    assert_eq!(v["error"]["code"], "budget_exceeded");
    let said = error_message(&v);
    for part in [
        "budget 'key-monthly' for key team (per month)",
        "limit 0.100000",
        "spent 0.075000",
        "resets at 20",
        "-01T00:00:00+00:00",
    ] {
        assert!(said.contains(part), "{part} in {said}");
    }
    assert_eq!(mock.count("p"), 3, "the denied request reached no provider");
    // Another key has its own budget.
    assert_eq!(ask(&gw, SECOND, "m", "").await.status(), 200);
}

#[tokio::test]
async fn every_budget_that_applies_holds_at_once() {
    let mock = Mock::start().await;
    let budgets = r#"
[policies.per-key]
plugin = "builtin:budget"
settings = { limit = 10.0, per = "key" }

[policies.per-team]
plugin = "builtin:budget"
settings = { limit = 0.07, per = "team", period = "day" }

[policies.per-user-route]
plugin = "builtin:budget"
settings = { limit = 0.05, per = "route+user", window_secs = 3600 }
"#;
    let gw = start(
        &mock,
        &config("", budgets, "\"per-key\", \"per-team\", \"per-user-route\""),
    )
    .await;
    // The user×route budget: one answer each (25 000 spent; a second would reserve ~39 000 more).
    assert_eq!(ask(&gw, TEAM_KEY, "m", "ann").await.status(), 200);
    let r = ask(&gw, TEAM_KEY, "m", "ann").await;
    assert_eq!(r.status(), 429);
    let said = error_message(&r.json::<Value>().await.unwrap());
    assert!(
        said.contains("budget 'per-user-route' for route m, user ann (per 3600s)"),
        "{said}"
    );
    // ann on another route, and bob, have their own — but the team shares one: 0.07
    // holds two answers (50 000) and not a third's reservation, whichever key spends it.
    assert_eq!(ask(&gw, SECOND, "n", "ann").await.status(), 200);
    let r = ask(&gw, SECOND, "m", "bob").await;
    assert_eq!(r.status(), 429);
    let said = error_message(&r.json::<Value>().await.unwrap());
    assert!(
        said.contains("budget 'per-team' for team search (per day)"),
        "{said}"
    );
    assert!(said.contains("spent 0.050000"), "{said}");
    // Denied by the team, a request costs the key's budget nothing: the key's counter
    // holds only the one answer it was charged for.
    let r = ask(&gw, TEAM_KEY, "n", "cy").await;
    assert_eq!(r.status(), 429);
    assert_eq!(mock.count("p"), 2);
    let shown = gw.admin_get("/admin/counters").await;
    let key_spend = shown["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["plugin"] == "per-key" && c["key"].as_str().unwrap().starts_with("spend:key team")
        })
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(key_spend["value"], COST);
}

#[tokio::test]
async fn a_wrong_budget_setting_refuses_the_config() {
    let mock = Mock::start().await;
    for (settings, said) in [
        ("{ period = \"month\" }", "limit is required"),
        (
            "{ limit = 1.0, timezone = \"Mars/Olympus\" }",
            "is not a time zone",
        ),
        (
            "{ limit = 1.0, period = \"year\" }",
            "period must be day, week or month",
        ),
        (
            "{ limit = 1.0, period = \"day\", window_secs = 60 }",
            "not both",
        ),
        ("{ limit = 1.0, warn_at = 2 }", "warn_at must be a fraction"),
    ] {
        let budgets = format!("[policies.b]\nplugin = \"builtin:budget\"\nsettings = {settings}\n");
        let cfg = parse(&mock, &config("", &budgets, "\"b\"")).unwrap();
        let e = match switchboard::app::start(cfg).await {
            Ok(_) => panic!("started with {settings}"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(said), "{settings}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_never_overspend_one_budget_through_redis() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let counters = format!(
        "[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"",
        redis.url()
    );
    let budgets = "[policies.shared]\nplugin = \"builtin:budget\"\nsettings = { limit = 0.2, per = \"gateway\" }\n";
    let a = start(&mock, &config(&counters, budgets, "\"shared\"")).await;
    let b = start(&mock, &config(&counters, budgets, "\"shared\"")).await;
    mock.set_fault("p", Some(Fault::Delay(Duration::from_millis(30))));
    let burst = (0..24).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        async move { ask(gw, TEAM_KEY, "m", "").await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(burst).await;
    mock.set_fault("p", None);
    let admitted = statuses.iter().filter(|s| **s == 200).count() as i64;
    let denied = statuses.iter().filter(|s| **s == 429).count() as i64;
    assert_eq!(admitted + denied, 24, "{statuses:?}");
    assert!(
        admitted >= 5 && admitted * COST <= 200_000,
        "{admitted} admitted: {statuses:?}"
    );
    // What the counter holds is exactly the real cost of what was admitted.
    let mut conn = redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("switchboard:counters:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let total: i64 = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(total, admitted * COST);
}

#[tokio::test]
async fn budgets_follow_keys_teams_and_the_gateway_onto_every_route() {
    let mock = Mock::start().await;
    let second: String = sha2::Sha256::digest(SECOND.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("budget-keys-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&store);
    let cfg = format!(
        r#"
[store]
sqlite_path = {store:?}

[gateway]
policies = ["gateway-day"]

[[teams]]
name = "search"
policies = ["team-day"]

[[keys]]
name = "team"
secret_env = "TEAM_KEY"
team = "search"

[[keys]]
name = "second"
sha256 = "{second}"
policies = ["second-cap"]

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[policies.gateway-day]
plugin = "builtin:budget"
settings = {{ limit = 0.2, per = "gateway", period = "day" }}

[policies.team-day]
plugin = "builtin:budget"
settings = {{ limit = 0.05, per = "team", period = "day" }}

[policies.second-cap]
plugin = "builtin:budget"
settings = {{ limit = 0.05, per = "key", period = "day" }}

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]

[models."n"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]
policies = ["team-day"]
"#,
        store = store.display().to_string()
    );
    let gw = start(&mock, &cfg).await;
    // The team's budget holds on a route that names no policy (one answer: 25 000 of
    // 50 000, a second would reserve ~39 000), and once on a route that names it too.
    assert_eq!(ask(&gw, TEAM_KEY, "m", "").await.status(), 200);
    let r = ask(&gw, TEAM_KEY, "n", "").await;
    assert_eq!(r.status(), 429);
    let said = error_message(&r.json::<Value>().await.unwrap());
    assert!(said.contains("budget 'team-day' for team search"), "{said}");
    // The other key has its own cap, and both spend the gateway's.
    assert_eq!(ask(&gw, SECOND, "m", "").await.status(), 200);
    let r = ask(&gw, SECOND, "m", "").await;
    assert!(
        error_message(&r.json::<Value>().await.unwrap())
            .contains("budget 'second-cap' for key second")
    );
    // A virtual key can be given budgets by name.
    let made: Value = gw
        .client
        .post(format!("{}/admin/keys", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "bot", "policies": ["second-cap"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bot = made["secret"].as_str().unwrap().to_string();
    assert_eq!(ask(&gw, &bot, "m", "").await.status(), 200);
    let r = ask(&gw, &bot, "m", "").await;
    assert_eq!(r.status(), 429);
    assert!(error_message(&r.json::<Value>().await.unwrap()).contains("for key bot"));
    // A key sees the budgets that follow it, and what is left of each.
    let me: Value = gw
        .client
        .get(format!("{}/v1/me", gw.url))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let budgets = me["budgets"].as_array().unwrap();
    let names: Vec<&str> = budgets
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gateway-day", "team-day"], "{me}");
    assert_eq!(budgets[1]["limit"], 0.05);
    assert_eq!(budgets[1]["spent"], 0.025);
    assert_eq!(budgets[1]["remaining"], 0.025);
    assert!(
        budgets[1]["resets"].as_str().unwrap().starts_with("at 20"),
        "{me}"
    );
    // The gateway's budget saw all three answers: 75 000 of 200 000 left 125 000.
    let shown = gw.admin_get("/admin/counters").await;
    let total = shown["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["plugin"] == "gateway-day")
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(total["value"], 3 * COST);
}
