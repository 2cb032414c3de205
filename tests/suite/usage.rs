//! Usage records: every routed request leaves one row in the `[usage]` SQLite file
//! (key, route, who answered, status, tokens, cost), streams included once they end,
//! and `GET /admin/usage` sums them by day. The file outlives the gateway.

use std::time::Duration;

use sha2::Digest;

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

fn config(path: &str) -> String {
    format!(
        r#"
[usage]
sqlite_path = {path:?}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "other"
sha256 = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[policies.one-per-hour]
plugin = "builtin:request-limit"
settings = {{ limit = 1, window_secs = 3600 }}

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1.0, output_price = 2.0 }}]

[models."cached"]
targets = [{{ provider = "p", model = "x" }}]
cache = {{ ttl = "1m" }}

[models."limited"]
targets = [{{ provider = "p", model = "x" }}]
policies = ["one-per-hour"]
"#
    )
}

async fn send(gw: &Gw, key: &str, body: Value) -> u16 {
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    r.text().await.unwrap();
    status
}

fn row<'a>(rows: &'a Value, route: &str, key: &str, provider: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == route && r["key"] == key && r["provider"] == provider)
        .unwrap_or_else(|| panic!("no row {route}/{key}/{provider} in {rows}"))
}

#[tokio::test]
async fn every_routed_request_leaves_a_usage_record() {
    let mock = Mock::start().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("usage-{}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let gw = start(&mock, &config(&path.display().to_string())).await;
    let ask = |model: &str| json!({ "model": model, "messages": user("hi") });
    assert_eq!(send(&gw, TEAM_KEY, ask("m")).await, 200);
    assert_eq!(send(&gw, TEAM_KEY, ask("m")).await, 200);
    let mut stream = ask("m");
    stream["stream"] = json!(true);
    assert_eq!(send(&gw, TEAM_KEY, stream).await, 200);
    assert_eq!(send(&gw, "123456", ask("cached")).await, 200);
    assert_eq!(send(&gw, "123456", ask("cached")).await, 200);
    assert_eq!(send(&gw, TEAM_KEY, ask("limited")).await, 200);
    assert_eq!(send(&gw, TEAM_KEY, ask("limited")).await, 429);
    assert_eq!(send(&gw, TEAM_KEY, ask("unknown")).await, 404);

    // A stream's record is written when it ends, just after its last byte.
    let mut usage = Value::Null;
    for _ in 0..100 {
        usage = gw.admin_get("/admin/usage?days=1").await;
        if row(&usage["rows"], "m", "team", "p")["requests"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = &usage["rows"];
    assert_eq!(usage["enabled"], true);
    assert_eq!(usage["dropped"], 0);
    assert!(
        gw.metrics_text()
            .await
            .contains("switchboard_usage_records_dropped_total 0")
    );
    let m = row(rows, "m", "team", "p");
    assert_eq!(m["requests"], 3, "{usage}");
    assert_eq!(m["model"], "x");
    assert_eq!(m["prompt_tokens"], 33);
    assert_eq!(m["completion_tokens"], 21);
    assert_eq!(m["errors"], 0);
    let cost = m["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - 3.0 * 25e-6).abs() < 1e-12,
        "11 × $1 + 7 × $2 per Mtok, 3 times: {cost}"
    );
    let hit = row(rows, "cached", "other", "cache");
    assert_eq!(
        (hit["requests"].as_i64(), hit["cache_hits"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(hit["prompt_tokens"], 0, "a hit spends no provider tokens");
    assert_eq!(row(rows, "cached", "other", "p")["requests"], 1);
    let denied = row(rows, "limited", "team", "");
    assert_eq!(
        (denied["requests"].as_i64(), denied["errors"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        rows.as_array().unwrap().len(),
        5,
        "the unknown model is not a route: {rows}"
    );
    gw.running.shutdown().await;

    // The records outlive the gateway.
    let gw = start(&mock, &config(&path.display().to_string())).await;
    let usage = gw.admin_get("/admin/usage").await;
    assert_eq!(row(&usage["rows"], "m", "team", "p")["requests"], 3);
    let bad = gw.admin_get("/admin/usage?days=zero").await;
    assert_eq!(bad["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn a_reload_turns_usage_records_and_saved_counters_on_and_off() {
    let mock = Mock::start().await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("usage-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let usage_db = dir.join("usage.sqlite").display().to_string();
    // A reload reads the process environment, where TEAM_KEY is not set: name the key
    // by its hash instead.
    let hash: String = sha2::Sha256::digest(TEAM_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let with_usage =
        config(&usage_db).replace("secret_env = \"TEAM_KEY\"", &format!("sha256 = \"{hash}\""));
    let without = with_usage.replace(&format!("[usage]\nsqlite_path = {usage_db:?}\n"), "");
    let saved = format!(
        "[counters]\nsqlite_path = {:?}\n{without}",
        dir.join("counters.sqlite").display().to_string()
    );
    let gw = start(&mock, &without).await;
    assert_eq!(gw.admin_get("/admin/usage").await["enabled"], false);
    let path = dir.join("switchboard.toml");
    let g = gw.running.gateway.clone();
    *g.reload.path.lock() = Some(path.clone());
    let ask = json!({ "model": "m", "messages": user("hi") });

    // After a reload the admin token would come from the process environment, where
    // the tests do not set it: the gateway's usage log is asked directly.
    std::fs::write(&path, config_text(&mock, &with_usage)).unwrap();
    switchboard::manage::reload::reload(&g).await.unwrap();
    assert_eq!(send(&gw, TEAM_KEY, ask.clone()).await, 200);
    let w = g.usage.sink().expect("the reload turned usage records on");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let q = switchboard::usage::query::Query::parse(Some("days=1"), now).unwrap();
    let rows = w.query(&q).await.unwrap();
    assert_eq!(row(&json!(rows), "m", "team", "p")["requests"], 1);

    std::fs::write(&path, config_text(&mock, &saved)).unwrap();
    switchboard::manage::reload::reload(&g).await.unwrap();
    assert!(g.usage.sink().is_none(), "and off again");
    assert_eq!(g.runtime.counters().backend(), "memory");
    assert!(
        dir.join("counters.sqlite").exists(),
        "the counter file is opened at reload"
    );
}

/// `[access_log]`: one line per request — answered, refused, translated — in JSON, with
/// who asked and who answered, and never a provider key.
#[tokio::test]
async fn the_access_log_has_a_line_per_request() {
    let mock = Mock::start().await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("access-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let cfg = format!(
        "[access_log]\nformat = \"json\"\npath = {:?}\n\n[[keys]]\nname = \"team\"\nsecret_env = \"TEAM_KEY\"\n\n\
         [providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/p/v1\"\napi_key_env = \"PROVIDER_KEY\"\n\n\
         [models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n",
        log.display().to_string()
    );
    let gw = start(&mock, &cfg).await;
    assert_eq!(
        send(
            &gw,
            TEAM_KEY,
            json!({ "model": "m", "messages": user("hi") })
        )
        .await,
        200
    );
    assert_eq!(
        send(
            &gw,
            TEAM_KEY,
            json!({ "model": "nope", "messages": user("hi") })
        )
        .await,
        404
    );
    let r = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&json!({ "model": "m", "input": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let w = gw
        .running
        .gateway
        .access_log
        .sink()
        .expect("the access log is on");
    tokio::task::spawn_blocking(move || w.flush())
        .await
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let ok = &lines[0];
    assert_eq!(ok["api"], "chat");
    assert_eq!(ok["key"], "team");
    assert_eq!(ok["route"], "m");
    assert_eq!(ok["provider"], "p");
    assert_eq!(ok["model"], "x");
    assert_eq!(ok["status"], 200);
    assert!(ok["prompt_tokens"].as_u64().unwrap() > 0, "{ok}");
    assert!(ok["request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(lines[1]["status"], 404);
    assert_eq!(lines[1]["error"], "model_not_found");
    assert_eq!(lines[2]["api"], "responses");
    let key = env_map()["PROVIDER_KEY"].clone();
    assert!(!text.contains(&key) && !text.contains(TEAM_KEY), "{text}");
}

#[tokio::test]
async fn a_route_that_shows_cost_says_what_each_answer_cost() {
    let mock = Mock::start().await;
    let cfg = r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{mock}/p/v1"

[models."priced"]
targets = [{ provider = "p", model = "x", input_price = 3.0, output_price = 5.0 }]
show_cost = true

[models."quiet"]
targets = [{ provider = "p", model = "x", input_price = 3.0, output_price = 5.0 }]
"#;
    let gw = start(&mock, cfg).await;
    // The mock charges 11 prompt and 7 completion tokens: 11 × 3 + 7 × 5 = 68 millionths.
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "priced", "messages": user("hi") }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-cost"], "0.000068");
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "quiet", "messages": user("hi") }),
        )
        .await;
    assert!(r.headers().get("x-switchboard-cost").is_none());
}

#[tokio::test]
async fn usage_is_filtered_grouped_ranked_and_exported() {
    let mock = Mock::start().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("usage-query-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let gw = start(&mock, &config(path.to_str().unwrap())).await;
    let other = "123456";
    let ask =
        |user: &str| json!({ "model": "m", "messages": crate::common::user("hi"), "user": user });
    assert_eq!(send(&gw, TEAM_KEY, ask("ann")).await, 200);
    assert_eq!(send(&gw, TEAM_KEY, ask("ann")).await, 200);
    assert_eq!(send(&gw, other, ask("bob")).await, 200);
    mock.push_fault("p", crate::mock::Fault::Status(500, "{}".into()));
    assert_eq!(send(&gw, other, ask("bob")).await, 502);
    let get = |q: &str| {
        let url = format!("{}/admin/usage?{q}", gw.admin);
        let c = gw.client.get(url).bearer_auth(ADMIN_TOKEN);
        async move { c.send().await.unwrap() }
    };
    let v: Value = get("group=key").await.json().await.unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let team = rows.iter().find(|r| r["key"] == "team").unwrap();
    assert_eq!(
        (team["requests"].as_i64(), team["errors"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(team["prompt_tokens"], 22);
    assert!((team["cost_usd"].as_f64().unwrap() - 2.0 * (11.0 + 14.0) / 1e6).abs() < 1e-12);
    let v: Value = get("group=user&status=error").await.json().await.unwrap();
    assert_eq!(
        v["rows"],
        json!([{ "user": "bob", "requests": 1, "errors": 1, "cache_hits": 0,
        "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
        "mean_duration_ms": v["rows"][0]["mean_duration_ms"], "mean_ttft_ms": null }])
    );
    let v: Value = get("group=user&key=team").await.json().await.unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert_eq!(v["rows"][0]["user"], "ann");
    let v: Value = get("group=key&top=1").await.json().await.unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert_eq!(v["rows"][0]["key"], "team", "the most spent first");
    let r = get("group=key&format=csv").await;
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("key,requests,errors,cache_hits,prompt_tokens"),
        "{csv}"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(get("group=route;x").await.status(), 400);
    assert_eq!(get("from=yesterday").await.status(), 400);
}

#[tokio::test]
async fn stats_grade_each_target_against_the_period_before() {
    let mock = Mock::start().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("usage-stats-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let gw = start(&mock, &config(path.to_str().unwrap())).await;
    let ask = json!({ "model": "m", "messages": user("hi") });
    for _ in 0..3 {
        assert_eq!(send(&gw, TEAM_KEY, ask.clone()).await, 200);
    }
    mock.push_fault("p", crate::mock::Fault::Status(500, "{}".into()));
    assert_eq!(send(&gw, TEAM_KEY, ask.clone()).await, 502);
    let get = |q: &str| {
        let c = gw
            .client
            .get(format!("{}/admin/stats?{q}", gw.admin))
            .bearer_auth(ADMIN_TOKEN);
        async move { c.send().await.unwrap() }
    };
    let v: Value = get("hours=1").await.json().await.unwrap();
    let route = &v["routes"][0];
    assert_eq!(route["route"], "m");
    assert_eq!(route["requests"], 4);
    assert_eq!(route["success_rate"], 0.75);
    assert!(route["p95_ms"].as_f64().is_some());
    assert_eq!(route["previous"], Value::Null, "nothing in the hour before");
    let target = &v["targets"][0];
    assert_eq!(
        (target["provider"].as_str(), target["model"].as_str()),
        (Some("p"), Some("x"))
    );
    assert_eq!(
        target["requests"], 3,
        "the failed request reached no target that answered"
    );
    assert_eq!(target["grade"], "healthy");
    // A stricter threshold grades the same target degraded; bad parameters are refused.
    let v: Value = get("hours=1&slow_ms=0.001").await.json().await.unwrap();
    assert_eq!(v["targets"][0]["grade"], "degraded");
    assert_eq!(get("hours=0").await.status(), 400);
    assert_eq!(get("minutes=5").await.status(), 400);
}
