//! Token quotas with `builtin:token-quota`: a reservation before the call, the
//! provider's real usage after it, the reservation given back whatever else happens
//! (a failed provider, a later policy's denial), and, with `[counters]` in a real
//! `redis-server`, one limit that two gateways together never exceed.

use std::time::Duration;

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

/// The mock reports 11 prompt + 7 completion tokens for every answer.
const USED: i64 = 18;

fn config(limit: u64, counters: &str) -> String {
    format!(
        r#"
{counters}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[policies.tokens]
plugin = "builtin:token-quota"
settings = {{ limit = {limit}, window_secs = 3600 }}

[policies.per-user]
plugin = "builtin:token-quota"
settings = {{ limit = {limit}, window_secs = 3600, per = "user" }}

[policies.tokens-open]
plugin = "builtin:token-quota"
settings = {{ limit = {limit} }}
on_error = "fail-open"

[policies.one-per-hour]
plugin = "builtin:request-limit"
settings = {{ limit = 1, window_secs = 3600 }}

[models."q"]
targets = [{{ provider = "p", model = "x" }}]
policies = ["tokens"]

[models."strict"]
targets = [{{ provider = "p", model = "x" }}]
policies = ["tokens", "one-per-hour"]

[models."users"]
targets = [{{ provider = "p", model = "x" }}]
policies = ["per-user"]

[models."open"]
targets = [{{ provider = "p", model = "x" }}]
policies = ["tokens-open"]
"#
    )
}

async fn send(gw: &Gw, body: &Value) -> reqwest::Response {
    gw.client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn remaining(r: &reqwest::Response) -> i64 {
    r.headers()["x-ratelimit-remaining-tokens"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn ask(model: &str) -> Value {
    json!({ "model": model, "messages": user("hi"), "max_tokens": 7 })
}

#[tokio::test]
async fn the_real_usage_is_charged_and_the_reservation_given_back() {
    let mock = Mock::start().await;
    // Each request reserves its estimate (about 18 prompt tokens for its ~70 bytes)
    // plus max_tokens 7, about 25 tokens, and is charged the 18 it used.
    let gw = start(&mock, &config(75, "")).await;
    let r = send(&gw, &ask("q")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit-tokens"], "75");
    assert_eq!(
        remaining(&r),
        75 - USED,
        "the answer's own usage, not the estimate"
    );

    // A provider that fails costs nothing: the reservation comes back.
    mock.push_fault("p", Fault::Status(500, "{}".into()));
    let r = send(&gw, &ask("q")).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    // A stream is charged its usage too (the gateway asks for the usage chunk).
    let r = send(
        &gw,
        &json!({ "model": "q", "messages": user("hi"), "max_tokens": 7, "stream": true }),
    )
    .await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    let r = send(&gw, &ask("q")).await;
    assert_eq!(remaining(&r), 75 - 3 * USED);

    // 54 used: another reservation of about 25 no longer fits under 75.
    let r = send(&gw, &ask("q")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(remaining(&r), 75 - 3 * USED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["code"], "policy_denied");
    assert!(
        error_message(&v).contains("token quota reached for key team"),
        "{v}"
    );
    assert_eq!(mock.count("p"), 4, "the denied request never left");

    // The admin API shows the quota's state and can lift it.
    let shown = gw.admin_get("/admin/counters").await;
    assert_eq!(shown["backend"], "memory");
    let counters = shown["counters"].as_array().unwrap();
    assert_eq!(counters.len(), 1, "{shown}");
    assert_eq!(counters[0]["plugin"], "tokens");
    assert_eq!(counters[0]["key"], "tokens:key team");
    assert_eq!(counters[0]["value"], 3 * USED);
    assert_eq!(counters[0]["window_secs"], 3600);
    let reset = gw
        .client
        .post(format!("{}/admin/counters/reset", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "plugin": "tokens", "key": "tokens:key team" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.json::<Value>().await.unwrap()["removed"], 1);
    let r = send(&gw, &ask("q")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(remaining(&r), 75 - USED);
}

#[tokio::test]
async fn a_later_policy_s_denial_returns_the_reservation() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config(1000, "")).await;
    assert_eq!(send(&gw, &ask("strict")).await.status(), 200);
    // `one-per-hour` denies after `tokens` reserved: the tokens come back.
    assert_eq!(send(&gw, &ask("strict")).await.status(), 429);
    let r = send(&gw, &ask("q")).await;
    assert_eq!(
        remaining(&r),
        1000 - 2 * USED,
        "route q shares the `tokens` counter"
    );
    // Per user: each `user` has a budget of their own.
    for u in ["ann", "bob", "ann"] {
        let mut body = ask("users");
        body["user"] = json!(u);
        assert_eq!(send(&gw, &body).await.status(), 200);
    }
    let mut body = ask("users");
    body["user"] = json!("ann");
    assert_eq!(remaining(&send(&gw, &body).await), 1000 - 3 * USED);
    body["user"] = json!("bob");
    assert_eq!(remaining(&send(&gw, &body).await), 1000 - 2 * USED);
}

#[tokio::test]
async fn two_gateways_share_one_limit_through_redis() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let counters = format!(
        "[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"",
        redis.url()
    );
    let limit = 300;
    let a = start(&mock, &config(limit, &counters)).await;
    let b = start(&mock, &config(limit, &counters)).await;
    let shown = a.admin_get("/admin/config").await;
    assert_eq!(shown["counters"]["backend"], "redis", "{shown}");
    assert_eq!(shown["counters"]["redis"]["url"], "***");
    // Slow answers keep many requests in flight at once on both gateways.
    mock.set_fault("p", Some(Fault::Delay(Duration::from_millis(30))));
    let burst = (0..40).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        async move { send(gw, &ask("q")).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(burst).await;
    let mut admitted = statuses.iter().filter(|s| **s == 200).count() as i64;
    let denied = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted as usize + denied, 40, "{statuses:?}");
    assert!(
        denied > 0,
        "one shared limit must deny some of 40: {statuses:?}"
    );
    // Then one at a time until the quota is used up: every freed reservation is
    // usable again, on either gateway.
    for i in 0..40 {
        let gw = if i % 2 == 0 { &a } else { &b };
        match send(gw, &ask("q")).await.status().as_u16() {
            200 => admitted += 1,
            429 => break,
            s => panic!("unexpected {s}"),
        }
    }
    mock.set_fault("p", None);
    let mut conn = redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("switchboard:counters:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one counter for key `team`: {keys:?}");
    let total: i64 = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        total,
        admitted * USED,
        "exactly the real usage of what was admitted"
    );
    assert!(total <= limit as i64, "{admitted} admitted, {total} tokens");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 3600 + 60,
        "the window's key expires: {ttl}"
    );
    // Full: the last request's reservation (about 25 tokens) would cross the limit.
    assert!(total + 25 > limit as i64, "{total}");
    assert_eq!(mock.count("p") as i64, admitted);
    // Either gateway's admin API reads the shared counter, and a reset clears it in Redis.
    let shown = b.admin_get("/admin/counters").await;
    assert_eq!(shown["backend"], "redis");
    assert_eq!(shown["counters"][0]["value"], total, "{shown}");
    assert_eq!(shown["counters"][0]["key"], "tokens:key team");
    assert_eq!(a.admin_post("/admin/counters/reset").await["removed"], 1);
    let left: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_counter_store_that_is_down_fails_closed_or_open_as_configured() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mock = Mock::start().await;
    let counters = format!(
        "[counters]\nredis_url = \"redis://127.0.0.1:{port}/0\"\nredis_timeout = \"200ms\""
    );
    let gw = start(&mock, &config(100, &counters)).await;
    let r = send(&gw, &ask("q")).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "plugin_failed");
    assert!(error_message(&v).contains("counter store"), "{v}");
    assert!(
        !error_message(&v).contains(&port.to_string()),
        "no URL in errors: {v}"
    );
    assert_eq!(mock.count("p"), 0);
    // A store outage is not the plugin's fault: however long it lasts, the policy is
    // not quarantined (it answers again the moment the store does).
    for _ in 0..7 {
        let r = send(&gw, &ask("q")).await;
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert!(error_message(&v).contains("counter store"), "{v}");
        assert!(!error_message(&v).contains("quarantined"), "{v}");
    }
    // fail-open: the request goes ahead without the quota.
    assert_eq!(send(&gw, &ask("open")).await.status(), 200);
    let text = gw.metrics_text().await;
    let errors: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_counter_store_errors_total "))
        .expect("the store's errors are exported")
        .parse()
        .unwrap();
    assert!(errors >= 2.0, "{errors}");
}

#[tokio::test]
async fn memory_counters_survive_a_restart_with_a_sqlite_file() {
    let mock = Mock::start().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("counters-{}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let counters = format!("[counters]\nsqlite_path = {:?}", path.display().to_string());
    let gw = start(&mock, &config(1000, &counters)).await;
    send(&gw, &ask("q")).await;
    assert_eq!(remaining(&send(&gw, &ask("q")).await), 1000 - 2 * USED);
    gw.running.shutdown().await;
    // A new gateway on the same file goes on from where the first stopped.
    let gw = start(&mock, &config(1000, &counters)).await;
    assert_eq!(remaining(&send(&gw, &ask("q")).await), 1000 - 3 * USED);
    let shown = gw.admin_get("/admin/counters").await;
    assert_eq!(shown["counters"][0]["value"], 3 * USED);
    // A reset is saved too.
    assert_eq!(gw.admin_post("/admin/counters/reset").await["removed"], 1);
    gw.running.shutdown().await;
    let gw = start(&mock, &config(1000, &counters)).await;
    assert_eq!(remaining(&send(&gw, &ask("q")).await), 1000 - USED);
}

async fn status(gw: &Gw, model: &str, who: &str) -> u16 {
    let body = json!({ "model": model, "messages": user("hi"), "user": who });
    send(gw, &body).await.status().as_u16()
}

#[tokio::test]
async fn request_limits_count_per_scope_and_per_route_and_user() {
    let mock = Mock::start().await;
    let policies = |per: &str| {
        format!(
            "[policies.two]\nplugin = \"builtin:request-limit\"\nsettings = {{ limit = 2, window_secs = 3600, per = \"{per}\" }}\n\n[models.\"a\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\npolicies = [\"two\"]\n\n[models.\"b\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\npolicies = [\"two\"]\n"
        )
    };
    // per = "route+user": each user on each route has two.
    let gw = start(
        &mock,
        &format!("{}\n{}", config(1_000_000, ""), policies("route+user")),
    )
    .await;
    for (model, user) in [
        ("a", "ann"),
        ("a", "ann"),
        ("a", "bob"),
        ("b", "ann"),
        ("b", "ann"),
    ] {
        assert_eq!(status(&gw, model, user).await, 200, "{model} {user}");
    }
    let r = send(
        &gw,
        &json!({ "model": "a", "messages": user("hi"), "user": "ann" }),
    )
    .await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    let said = error_message(&v);
    assert!(said.contains("route a, user ann"), "{said}");
    assert_eq!(status(&gw, "a", "bob").await, 200);
    // per = "gateway": two in all, whoever asks, on any route.
    let gw = start(
        &mock,
        &format!("{}\n{}", config(1_000_000, ""), policies("gateway")),
    )
    .await;
    assert_eq!(status(&gw, "a", "ann").await, 200);
    assert_eq!(status(&gw, "b", "bob").await, 200);
    assert_eq!(status(&gw, "a", "cy").await, 429);
    // A scope that is not one refuses the config, naming the setting.
    let bad = parse(
        &mock,
        &format!("{}\n{}", config(1, ""), policies("route+route")),
    )
    .unwrap();
    let e = match switchboard::app::start(bad).await {
        Ok(_) => panic!("the gateway started with a refused scope"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("per names route twice"), "{e}");
}
