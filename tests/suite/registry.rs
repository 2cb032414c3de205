//! The registry (issue "Model management"): providers, models and prompts made through
//! the admin API on one replica serve on another (real PostgreSQL), keys sealed and
//! never shown, versions and rollback, pins, the lifecycle's answers, the file's objects
//! kept the file's, the export round trip, master-key rotation, prompt templates.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;

pub(crate) const ACME_KEY: &str = "sk-acme-registry-secret-4242";
pub(crate) const MASTER: &str = "6d6173746572206b657920666f722074657374696e6720726567697374727921";
pub(crate) const MASTER2: &str = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";

pub(crate) fn store(pg: Option<&str>, sqlite: Option<&str>) -> String {
    let db = match (pg, sqlite) {
        (Some(_), _) => "postgres_url_env = \"PG_URL\"".to_string(),
        (None, Some(p)) => format!("sqlite_path = {p:?}"),
        (None, None) => String::new(),
    };
    format!(
        "[store]\n{db}\nmaster_key_env = \"MASTER_KEY\"\nprevious_master_key_env = \"OLD_MASTER_KEY\"\n"
    )
}

pub(crate) fn config(store: &str) -> String {
    format!(
        r#"{store}
[providers.mockp]
adapter = "builtin:openai"
base_url = "{{mock}}/mockp/v1"
api_key_env = "PROVIDER_KEY"

[models.m]
targets = [{{ provider = "mockp", model = "file-model" }}]
"#
    )
}

pub(crate) async fn chat_model(gw: &Gw, model: &str) -> reqwest::Response {
    gw.post(
        "/v1/chat/completions",
        &json!({ "model": model, "messages": user("hi") }),
    )
    .await
}

/// The upstream model the mock was last asked for by `provider`.
pub(crate) fn last_model(mock: &Mock, provider: &str) -> String {
    mock.seen(provider)
        .last()
        .map(|s| s.body["model"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

pub(crate) async fn provider(gw: &Gw, mock: &Mock, key: &str, verify: bool) -> (u16, Value) {
    gw.admin_json(
        Method::POST,
        "/admin/providers",
        Some(json!({ "name": "acme", "adapter": "builtin:openai",
                     "base_url": mock.base_url("acme"), "api_key": key, "verify": verify })),
    )
    .await
}

/// Waits up to `within` for `gw` to answer `model` with `status`.
pub(crate) async fn serves(gw: &Gw, model: &str, status: u16, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if chat_model(gw, model).await.status() == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_models_made_on_one_replica_serve_on_the_other() {
    let (pg, mock) = (Postgres::start().await, Mock::start().await);
    mock.require_key("acme", ACME_KEY);
    let url = pg.url();
    let env = [("PG_URL", url.as_str()), ("MASTER_KEY", MASTER)];
    let cfg = config(&store(Some(&url), None));
    let (a, b) = (
        start_env(&mock, "", &cfg, &env).await,
        start_env(&mock, "", &cfg, &env).await,
    );

    // A wrong key is refused at registration: nothing is stored.
    let (s, e) = provider(&a, &mock, "sk-wrong-key-000000", true).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "provider_verification_failed", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("401"),
        "{e}"
    );
    let (_, list) = a.admin_json(Method::GET, "/admin/providers", None).await;
    assert!(!list.to_string().contains("acme"), "{list}");

    let (s, made) = provider(&a, &mock, ACME_KEY, true).await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["verified"], true, "{made}");
    assert_eq!(made["provider"]["credential"]["status"], "set", "{made}");
    assert_eq!(made["provider"]["credential"]["last4"], "4242", "{made}");

    // A model on it, made on `a`: a draft nobody is served, then active on `b` within 2 s.
    let (s, m) = a
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(json!({ "name": "acme-chat", "owner": "ml",
                         "targets": [{ "provider": "acme", "model": "gpt-one", "input_price": 1.0 }] })),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["model"]["state"], "draft", "{m}");
    assert_eq!(chat_model(&a, "acme-chat").await.status(), 404);
    let (s, t) = a
        .admin_json(Method::POST, "/admin/routes/acme-chat/test", None)
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["targets"][0]["status"], 200, "a draft is tested: {t}");
    let (s, _) = a
        .admin_json(
            Method::PATCH,
            "/admin/models/acme-chat",
            Some(json!({ "state": "active" })),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        serves(&b, "acme-chat", 200, Duration::from_secs(2)).await,
        "the model made on one replica did not serve on the other within 2 s"
    );
    assert_eq!(last_model(&mock, "acme"), "gpt-one");

    // The key is nowhere: not in an answer, the audit log, the export, the metrics, the
    // tables (sealed, not plain).
    for path in [
        "/admin/providers",
        "/admin/providers/acme",
        "/admin/providers/acme/versions",
        "/admin/models",
        "/admin/audit",
        "/admin/config",
    ] {
        let (_, v) = b.admin_json(Method::GET, path, None).await;
        assert!(!v.to_string().contains(ACME_KEY), "{path}: {v}");
    }
    let export = admin_text(&a, "/admin/config/export").await;
    assert!(
        !export.contains(ACME_KEY) && export.contains("SWITCHBOARD_ACME_API_KEY"),
        "{export}"
    );
    assert!(!a.metrics_text().await.contains(ACME_KEY));
    let tables = pg.psql(
        "SELECT encode(sealed, 'escape') || last4 FROM switchboard_registry_credentials;
         SELECT coalesce(body, '') FROM switchboard_registry_versions;
         SELECT coalesce(after, '') FROM switchboard_audit;",
    );
    assert!(
        tables.contains("4242") && !tables.contains(ACME_KEY),
        "{tables}"
    );

    versions_rollback_and_pins(&a, &b, &mock).await;
    the_file_keeps_its_own(&a, &mock).await;
    export_round_trips(&a, &mock, &export).await;
    lifecycle_answers(&a, &b).await;
}

async fn admin_text(gw: &Gw, path: &str) -> String {
    gw.client
        .get(format!("{}{path}", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// 2 000 requests over both replicas while the model is changed, rolled back and
/// pinned: none fails, and each answer is from a version in force.
async fn versions_rollback_and_pins(a: &Gw, b: &Gw, mock: &Mock) {
    let load = {
        let (ua, ub, client) = (a.url.clone(), b.url.clone(), a.client.clone());
        tokio::spawn(async move {
            let mut failed = Vec::new();
            let mut sent = 0;
            let started = Instant::now();
            while sent < 2000 && started.elapsed() < Duration::from_secs(120) {
                let batch = (0..8).map(|i| {
                    let url = if (sent + i) % 2 == 0 { &ua } else { &ub };
                    client
                        .post(format!("{url}/v1/chat/completions"))
                        .json(&json!({ "model": "acme-chat", "messages": user("hi") }))
                        .send()
                });
                for r in futures_util::future::join_all(batch).await {
                    match r {
                        Ok(r) if r.status() == 200 => {}
                        Ok(r) => failed.push(r.status().as_u16()),
                        Err(e) => failed.push(e.status().map_or(0, |s| s.as_u16())),
                    }
                }
                sent += 8;
            }
            (sent, failed)
        })
    };
    let patch = |body: Value| a.admin_json(Method::PATCH, "/admin/models/acme-chat", Some(body));
    let (s, v) = patch(json!({ "targets": [{ "provider": "acme", "model": "gpt-two" }] })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"]["version"], 3, "{v}");
    assert!(
        serves_upstream(b, "acme-chat", "gpt-two").await
            && serves_upstream(a, "acme-chat", "gpt-two").await
    );
    // A pin keeps its version's targets after the change (the load above now goes to
    // gpt-two on both replicas: only the pinned request can reach gpt-one).
    let ones = || {
        mock.seen("acme")
            .iter()
            .filter(|s| s.body["model"] == "gpt-one")
            .count()
    };
    let r = chat_model(b, "acme-chat@2").await;
    assert_eq!(r.status(), 200);
    let pinned: Value = r.json().await.unwrap();
    assert_eq!(
        pinned["model"], "gpt-one",
        "the pin did not keep version 2's target"
    );
    assert!(ones() > 0);
    let (s, v) = a
        .admin_json(
            Method::POST,
            "/admin/models/acme-chat/rollback",
            Some(json!({ "version": 2 })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["version"]["version"], 4,
        "a rollback is a new version: {v}"
    );
    assert!(serves_upstream(b, "acme-chat", "gpt-one").await);
    let (sent, failed) = load.await.unwrap();
    assert!(sent >= 2000, "{sent}");
    assert!(
        failed.is_empty(),
        "{} of {sent} failed: {failed:?}",
        failed.len()
    );

    let (_, hist) = a
        .admin_json(Method::GET, "/admin/models/acme-chat/versions", None)
        .await;
    let vs = hist["versions"].as_array().unwrap();
    assert_eq!(vs[0]["version"], 4, "{hist}");
    assert!(
        vs[1]["diff"].to_string().contains("targets[0].model"),
        "{hist}"
    );
    let (s, v2) = a
        .admin_json(Method::GET, "/admin/models/acme-chat/versions/2", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v2["body"]["state"], "active", "{v2}");
    // A version never made answers 404 naming it.
    let r = chat_model(a, "acme-chat@99").await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_version_not_found", "{e}");
}

/// Whether `gw` routes `model` to `upstream` within 2 s.
async fn serves_upstream(gw: &Gw, model: &str, upstream: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        // The answer names the upstream model that made it (what this replica routed to).
        let r = chat_model(gw, model).await;
        if r.status() == 200 && r.json::<Value>().await.unwrap()["model"] == upstream {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// The file's model is refused (409 naming the file) until adopted.
async fn the_file_keeps_its_own(a: &Gw, mock: &Mock) {
    let (s, e) = a
        .admin_json(
            Method::PATCH,
            "/admin/models/m",
            Some(json!({ "description": "changed" })),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "declared_in_file", "{e}");
    let (_, hist) = a
        .admin_json(Method::GET, "/admin/models/m/versions", None)
        .await;
    assert_eq!(hist["versions"][0]["actor"], "config", "{hist}");
    let (s, v) = a
        .admin_json(Method::POST, "/admin/models/m/adopt", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["model"]["origin"], "registry", "{v}");
    let (s, v) = a
        .admin_json(
            Method::PATCH,
            "/admin/models/m",
            Some(json!({ "description": "adopted" })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(chat_model(a, "m").await.status(), 200);
    assert_eq!(last_model(mock, "mockp"), "file-model");
    // Same validation as the file: an unknown provider is named at its field.
    let (s, e) = a
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(json!({ "name": "broken", "targets": [{ "provider": "nope", "model": "x" }] })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "targets[0].provider", "{e}");
}

/// The export, served alone (no store), lists and routes the same.
async fn export_round_trips(a: &Gw, mock: &Mock, export: &str) {
    let mut t: toml::Table = toml::from_str(export).unwrap();
    t.remove("store");
    for k in ["server", "admin", "plugins"] {
        t.remove(k);
    }
    let body = toml::to_string(&t).unwrap();
    let c = start_env(mock, "", &body, &[("SWITCHBOARD_ACME_API_KEY", ACME_KEY)]).await;
    let ids = |v: Value| -> BTreeSet<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let models = |gw: &Gw| {
        let (client, url) = (gw.client.clone(), gw.url.clone());
        async move {
            client
                .get(format!("{url}/v1/models"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(ids(models(a).await), ids(models(&c).await));
    assert_eq!(chat_model(&c, "acme-chat").await.status(), 200);
    assert_eq!(last_model(mock, "acme"), "gpt-one");
    c.running.shutdown().await;
}

/// Deprecated (headers, redirect), retired (410 naming the successor, unlisted).
async fn lifecycle_answers(a: &Gw, b: &Gw) {
    let (s, v) = a
        .admin_json(
            Method::PATCH,
            "/admin/models/acme-chat",
            Some(json!({ "state": "deprecated", "successor": "m", "sunset": "2027-06-30" })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(serves(b, "acme-chat", 200, Duration::from_secs(2)).await);
    let until = Instant::now() + Duration::from_secs(2);
    let r = loop {
        let r = chat_model(b, "acme-chat").await;
        if r.headers().contains_key("deprecation") || Instant::now() > until {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let h = r.headers();
    assert!(h["deprecation"].to_str().unwrap().starts_with('@'), "{h:?}");
    assert_eq!(h["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(h["link"], "</v1/models/m>; rel=\"successor-version\"");
    let counted = b.metrics_text().await;
    assert!(
        counted
            .lines()
            .any(|l| l.starts_with("switchboard_deprecated_requests_total{")
                && l.contains("model=\"acme-chat\"")
                && l.contains("key=")),
        "the deprecation is counted per key: {counted}"
    );
    let (s, _) = a
        .admin_json(
            Method::PATCH,
            "/admin/models/acme-chat",
            Some(json!({ "state": "retired" })),
        )
        .await;
    assert_eq!(s, 200);
    assert!(serves(b, "acme-chat", 410, Duration::from_secs(2)).await);
    let e: Value = chat_model(b, "acme-chat").await.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_retired", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("`m`"),
        "{e}"
    );
    let list: Value = b
        .client
        .get(format!("{}/v1/models", b.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!list.to_string().contains("acme-chat"), "{list}");
    let (_, audit) = a.admin_json(Method::GET, "/admin/audit", None).await;
    assert!(audit.to_string().contains("model.update"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deprecated_model_redirects_and_a_scheduled_retirement_happens_by_itself() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &format!(
            "{}\n[models.old]\ntargets = [{{ provider = \"mockp\", model = \"old-up\" }}]\nstate = \"deprecated\"\nsuccessor = \"m\"\nredirect = true\n",
            config("")
        ),
    )
    .await;
    let r = chat_model(&gw, "old").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-redirected-to"], "m");
    assert_eq!(last_model(&mock, "mockp"), "file-model");
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let (s, v) = gw
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(
                json!({ "name": "brief", "state": "active", "retire_at": at.to_string(),
                         "targets": [{ "provider": "mockp", "model": "x" }] }),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(chat_model(&gw, "brief").await.status(), 200);
    assert!(serves(&gw, "brief", 410, Duration::from_secs(5)).await);
    // The transition is audited by the gateway's own tick (within a second or two).
    let mut audit = Value::Null;
    for _ in 0..40 {
        audit = gw.admin_json(Method::GET, "/admin/audit", None).await.1;
        if audit.to_string().contains("\"schedule\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(audit.to_string().contains("\"schedule\""), "{audit}");
    // A testing model is served only to the keys it names (here none: the open
    // gateway's anonymous key is not one of them).
    let (s, _) = gw
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(
                json!({ "name": "trial", "state": "testing", "testers": ["team:ml"],
                         "targets": [{ "provider": "mockp", "model": "x" }] }),
            ),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(chat_model(&gw, "trial").await.status(), 404);
}
