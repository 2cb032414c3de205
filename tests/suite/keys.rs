//! Virtual keys and teams: keys made, changed, rotated and revoked through
//! `/admin/keys`, kept hashed in the store, their team's models and tags applied, a key
//! asking about itself at `/v1/me`; with PostgreSQL, a key made or revoked on one
//! gateway holds on another within about a second.

use std::time::Duration;

use crate::common::*;
use crate::mock::Mock;
use reqwest::Method;
use serde_json::{Value, json};

fn config(store: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let usage = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "vkeys-usage-{}-{}.db",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&usage);
    format!(
        r#"
{store}

[usage]
sqlite_path = {usage:?}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[teams]]
name = "search"
models = ["m"]
tags = ["search-team"]

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]

[models."other"]
targets = [{{ provider = "p", model = "x" }}]
"#,
        usage = usage.display().to_string()
    )
}

async fn chat(gw: &Gw, key: Option<&str>, model: &str) -> (u16, Value) {
    let mut req = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({ "model": model, "messages": user("hi") }));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn me(gw: &Gw, key: &str) -> Value {
    gw.client
        .get(format!("{}/v1/me", gw.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn sqlite_store(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    format!("[store]\nsqlite_path = {:?}\n", path.display().to_string())
}

#[tokio::test]
async fn virtual_keys_are_made_used_rotated_and_revoked() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config(&sqlite_store("vkeys"))).await;
    let (s, made) = gw
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({
        "name": "ci-bot", "team": "search", "models": ["m", "other"], "tags": ["bot"],
        "metadata": { "owner": "qa" }, "expires_in": 3600 })),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let id = made["key"]["id"].as_str().unwrap().to_string();
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sk-sb-") && secret.len() > 40);
    // Listed without its secret or digest.
    let (_, list) = gw.admin_json(Method::GET, "/admin/keys", None).await;
    assert_eq!(list["keys"][0]["name"], "ci-bot");
    let listed = list.to_string();
    assert!(
        !listed.contains(&secret) && !listed.contains("hash"),
        "{listed}"
    );
    assert_eq!(list["keys"][0]["spend_30d"], 0.0);
    // Used: its team narrows its models and adds its tags; its spend is listed.
    assert_eq!(chat(&gw, Some(&secret), "m").await.0, 200);
    let (_, list) = gw.admin_json(Method::GET, "/admin/keys", None).await;
    assert_eq!(list["keys"][0]["spend_30d"], 0.025, "{list}");
    assert_eq!(chat(&gw, Some(&secret), "other").await.0, 403);
    let v = me(&gw, &secret).await;
    assert_eq!(v["name"], "ci-bot");
    assert_eq!(v["kind"], "virtual");
    assert_eq!(v["team"], "search");
    assert_eq!(v["models"], json!(["m"]));
    assert_eq!(v["tags"], json!(["bot", "search-team"]));
    assert!(v["expires_at"].as_u64().unwrap() > 0);
    assert!(!v.to_string().contains(&secret));
    assert_eq!(me(&gw, TEAM_KEY).await["kind"], "config");
    // Rotated: the old secret stops at once.
    let (s, rotated) = gw
        .admin_json(Method::POST, &format!("/admin/keys/{id}/rotate"), None)
        .await;
    assert_eq!(s, 200);
    let fresh = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(chat(&gw, Some(&secret), "m").await.0, 401);
    assert_eq!(chat(&gw, Some(&fresh), "m").await.0, 200);
    // Expired, then not.
    let (s, _) = gw
        .admin_json(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            Some(json!({ "expires_at": 1 })),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = chat(&gw, Some(&fresh), "m").await;
    assert_eq!(s, 401);
    assert!(error_message(&v).contains("expired"), "{v}");
    gw.admin_json(
        Method::PATCH,
        &format!("/admin/keys/{id}"),
        Some(json!({ "expires_at": null })),
    )
    .await;
    assert_eq!(chat(&gw, Some(&fresh), "m").await.0, 200);
    // Revoked: refused, listed as revoked, no longer changeable.
    let (s, v) = gw
        .admin_json(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert!(v["key"]["revoked_at"].as_u64().is_some());
    assert_eq!(chat(&gw, Some(&fresh), "m").await.0, 401);
    let (s, _) = gw
        .admin_json(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            Some(json!({ "tags": [] })),
        )
        .await;
    assert_eq!(s, 409);
    // What a key may not be.
    for (body, want) in [
        (json!({ "name": "team" }), 409),
        (json!({ "name": "bad name" }), 400),
        (json!({ "name": "x", "models": ["nope"] }), 400),
        (json!({ "name": "x", "metadata": "text" }), 400),
    ] {
        assert_eq!(
            gw.admin_json(Method::POST, "/admin/keys", Some(body.clone()))
                .await
                .0,
            want,
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_open_gateway_closes_once_it_has_a_virtual_key() {
    let mock = Mock::start().await;
    let cfg = format!(
        "{}\n[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/p/v1\"\n\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n",
        sqlite_store("vkeys-open")
    );
    let gw = start(&mock, &cfg).await;
    assert_eq!(chat(&gw, None, "m").await.0, 200);
    let (_, made) = gw
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "first" })),
        )
        .await;
    let secret = made["secret"].as_str().unwrap();
    assert_eq!(chat(&gw, None, "m").await.0, 401);
    assert_eq!(chat(&gw, Some(secret), "m").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_virtual_keys_through_postgres() {
    let pg = Postgres::start().await;
    let mock = Mock::start().await;
    let cfg = config("[store]\npostgres_url_env = \"PG_URL\"\n");
    let url = pg.url();
    let env = [("PG_URL", url.as_str())];
    let a = start_env(&mock, "", &cfg, &env).await;
    let b = start_env(&mock, "", &cfg, &env).await;
    let (s, made) = a
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "shared" })),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_string();
    let id = made["key"]["id"].as_str().unwrap().to_string();
    // Made on one, holds on the other within about a second.
    let until = |want: u16| {
        let (b, secret) = (&b, secret.clone());
        async move {
            for _ in 0..60 {
                if chat(b, Some(&secret), "m").await.0 == want {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(until(200).await, "the key never held on the other replica");
    a.admin_json(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    assert!(
        until(401).await,
        "the revocation never reached the other replica"
    );
    let (_, list) = b.admin_json(Method::GET, "/admin/keys", None).await;
    assert!(list["keys"][0]["revoked_at"].as_u64().is_some(), "{list}");
}
