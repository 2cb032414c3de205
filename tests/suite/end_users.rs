//! End users a signed token proves (`[auth.end_users]`, `user_from = "jwt"`): the
//! token's `sub` is the user in usage records and per-user budgets; a forged, expired,
//! foreign or missing token is 401; a `user` field that disagrees is 400; a rotated
//! key is picked up by its `kid`; a key bound to a user overrides the request's; and a
//! per-user budget holds for a verified user across two replicas. `/v1/me` shows every
//! policy that follows the caller.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;
use crate::mock::issuer::{AUDIENCE, ISSUER, Issuer, Signer, claims};

const HEADER: &str = "x-switchboard-user-token";

fn config(jwks: &str, store: &str) -> String {
    format!(
        r#"
{store}

[auth.end_users]
issuer = "{ISSUER}"
jwks_url = "{jwks}"
audience = "{AUDIENCE}"

[usage]

[[keys]]
name = "app"
secret_env = "TEAM_KEY"
policies = ["per-user", "per-user-tokens", "per-user-requests"]

[policies.per-user]
plugin = "builtin:budget"
settings = {{ limit = 0.1, per = "user", period = "day" }}

[policies.per-user-tokens]
plugin = "builtin:token-quota"
settings = {{ limit = 100000, per = "user", window_secs = 3600 }}

[policies.per-user-requests]
plugin = "builtin:request-limit"
settings = {{ limit = 1000, per = "user", window_secs = 60 }}

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
user_from = "jwt"
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]

[models."open"]
targets = [{{ provider = "p", model = "y" }}]
"#
    )
}

async fn chat(gw: &Gw, model: &str, token: Option<&str>, user: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "model": model, "messages": user_msg(), "max_tokens": 7 });
    if let Some(u) = user {
        body["user"] = json!(u);
    }
    let mut r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&body);
    if let Some(t) = token {
        r = r.header(HEADER, t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// `/v1/me` of the config key, for the end user `token` names.
async fn me_for(gw: &Gw, token: &str) -> Value {
    gw.client
        .get(format!("{}/v1/me", gw.url))
        .bearer_auth(TEAM_KEY)
        .header(HEADER, token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The end users of the usage records (refused requests are recorded too, with none),
/// once there are `at_least` (the writer is asynchronous).
async fn users_in_usage(gw: &Gw, at_least: usize) -> Vec<Value> {
    let mut users = Vec::new();
    for _ in 0..50 {
        let v = gw.admin_get("/admin/usage?group=user").await;
        users = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["user"].clone())
            .filter(|u| u != "")
            .collect();
        if users.len() >= at_least {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    users
}

fn user_msg() -> Value {
    user("hi")
}

#[tokio::test]
async fn a_verified_token_names_the_user_and_nothing_else_does() {
    let (mock, app) = (Mock::start().await, Issuer::start().await);
    let usage = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("end-users-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&usage);
    let gw = start(
        &mock,
        &config(&app.jwks_url, "").replace(
            "[usage]\n",
            &format!("[usage]\nsqlite_path = {:?}\n", usage.display().to_string()),
        ),
    )
    .await;
    let alice = app.sign(&claims("alice"));
    let (status, v) = chat(&gw, "m", Some(&alice), None).await;
    assert_eq!(status, 200, "{v}");
    // The same user said in the body is fine; another one is refused.
    assert_eq!(chat(&gw, "m", Some(&alice), Some("alice")).await.0, 200);
    let (status, v) = chat(&gw, "m", Some(&alice), Some("mallory")).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("end_user_mismatch"))
    );
    // The route takes its user from tokens only.
    let (status, v) = chat(&gw, "m", None, Some("alice")).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (401, json!("end_user_token_required")),
        "{v}"
    );
    // Forged, expired, foreign, not yet valid, or for another audience: 401.
    let mut expired = claims("alice");
    expired["exp"] = json!(switchboard::access::vkeys::now_secs() - 3600);
    let mut foreign = claims("alice");
    foreign["aud"] = json!("someone-else");
    let mut other_issuer = claims("alice");
    other_issuer["iss"] = json!("https://evil.example.com");
    let mut early = claims("alice");
    early["nbf"] = json!(switchboard::access::vkeys::now_secs() + 3600);
    let mut forged = alice.clone();
    forged.replace_range(forged.len() - 6.., "AAAAAA");
    let stranger = Signer::new("k1").sign(&claims("alice"));
    for (what, token) in [
        ("expired", app.sign(&expired)),
        ("audience", app.sign(&foreign)),
        ("issuer", app.sign(&other_issuer)),
        ("nbf", app.sign(&early)),
        ("forged", forged),
        ("another key, same kid", stranger),
        ("not a jwt", "hello".to_string()),
    ] {
        let (status, v) = chat(&gw, "m", Some(&token), None).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (401, json!("end_user_token_invalid")),
            "{what}: {v}"
        );
    }
    // A route without `user_from` still takes the body's user, or the token's.
    assert_eq!(chat(&gw, "open", None, Some("bob")).await.0, 200);
    // The key rotates: a token signed with the new key is verified after one fetch.
    let before = app.fetches();
    app.rotate("k2");
    let carol = app.sign(&claims("carol"));
    let (status, v) = chat(&gw, "m", Some(&carol), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(app.fetches(), before + 1);
    // Usage and budgets rest on the verified users.
    let mut users = users_in_usage(&gw, 3).await;
    users.sort_by_key(|u| u.to_string());
    assert_eq!(users, vec![json!("alice"), json!("bob"), json!("carol")]);

    // `/v1/me` reads every policy that follows the caller, for its verified user.
    let me = me_for(&gw, &alice).await;
    assert_eq!(me["user"], "alice");
    assert_eq!(me["user_from"], "token");
    let kinds: Vec<_> = me["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            json!("budget"),
            json!("token_quota"),
            json!("request_limit")
        ],
        "{me}"
    );
    let requests = &me["policies"][2];
    assert_eq!(requests["limit"], 1000.0);
    // alice made two requests (the one refused for its `user` never reached the
    // policies): asking is not one.
    assert_eq!(requests["used"], 2.0, "{me}");
    assert!(requests["resets"].as_str().unwrap().ends_with('s'), "{me}");
    let again = me_for(&gw, &alice).await;
    assert_eq!(again["policies"][2]["used"], 2.0);
    assert!(me["policies"][1]["used"].as_f64().unwrap() > 0.0, "{me}");
    assert!(me["policies"][0]["spent"].as_f64().unwrap() > 0.0, "{me}");
}

#[tokio::test]
async fn virtual_keys_bound_to_a_user_or_to_tokens() {
    let (mock, app) = (Mock::start().await, Issuer::start().await);
    let (text, _) = crate::people::config("bound");
    let text = format!(
        "{text}\n[auth.end_users]\nissuer = \"{ISSUER}\"\njwks_url = \"{}\"\naudience = \"{AUDIENCE}\"\n",
        app.jwks_url
    );
    let gw = start(&mock, &text).await;
    // A key whose requests carry a verified token, or are refused.
    let (_, web) = gw
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "web", "user_from": "jwt" })),
        )
        .await;
    assert_eq!(web["key"]["user_from"], "jwt", "{web}");
    let web_secret = web["secret"].as_str().unwrap();
    let url = format!("{}/v1/chat/completions", gw.url);
    let body = json!({ "model": "m", "messages": user("hi"), "user": "whoever" });
    let r = gw.ask(Method::POST, &url, web_secret, Some(&body)).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "end_user_token_required");
    let r = gw
        .client
        .post(&url)
        .bearer_auth(web_secret)
        .header(HEADER, app.sign(&claims("zoe")))
        .json(&json!({ "model": "m", "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, v) = gw
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "kiosk", "user": "kiosk-7" })),
        )
        .await;
    let secret = v["secret"].as_str().unwrap().to_string();
    let body = json!({ "model": "m", "messages": user("hi"), "user": "someone-else" });
    let url = format!("{}/v1/chat/completions", gw.url);
    assert_eq!(
        gw.ask(Method::POST, &url, &secret, Some(&body))
            .await
            .status(),
        200
    );
    let me: Value = gw
        .ask(Method::GET, &format!("{}/v1/me", gw.url), &secret, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["user"].clone(), me["user_from"].clone()),
        (json!("kiosk-7"), json!("key"))
    );
    let mut users = users_in_usage(&gw, 2).await;
    users.sort_by_key(|u| u.to_string());
    assert_eq!(users, vec![json!("kiosk-7"), json!("zoe")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_user_budget_holds_for_a_verified_user_across_two_replicas() {
    let (pg, redis, mock, app) = (
        Postgres::start().await,
        Redis::start().await,
        Mock::start().await,
        Issuer::start().await,
    );
    let url = pg.url();
    let env = [("PG_URL", url.as_str())];
    let store = format!(
        "[store]\npostgres_url_env = \"PG_URL\"\n\n[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"\n",
        redis.url()
    );
    let cfg = config(&app.jwks_url, &store).replace("[usage]\n", "");
    let a = start_env(&mock, "", &cfg, &env).await;
    let b = start_env(&mock, "", &cfg, &env).await;
    let dana = app.sign(&claims("dana"));
    let erin = app.sign(&claims("erin"));
    // Each answer costs $0.025 and reserves ~$0.039 at max_tokens 7: $0.10 a day lets
    // dana make a few requests in all, whichever replica takes them.
    let mut ok = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let (status, v) = chat(gw, "m", Some(&dana), None).await;
        match status {
            200 => ok += 1,
            429 => assert_eq!(v["error"]["code"], "budget_exceeded", "{v}"),
            s => panic!("unexpected {s}: {v}"),
        }
    }
    assert!(
        (2..=4).contains(&ok),
        "{ok} of dana's requests were let through"
    );
    // Another verified user has a budget of their own.
    assert_eq!(chat(&b, "m", Some(&erin), None).await.0, 200);
    assert_eq!(chat(&a, "m", Some(&dana), None).await.0, 429);
}
