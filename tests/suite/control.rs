//! Runtime control through the admin API: a route's parameter defaults and limits and
//! its description in `/v1/models`; targets disabled and re-weighted by overrides kept
//! in the store (and reaching another replica through PostgreSQL); comparisons of
//! routes and targets, whole and streamed, kept and reopened; the audit log.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::{Fault, Mock};

async fn chat(gw: &Gw, model: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({ "model": model, "messages": user("hi") });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    gw.chat(&body).await
}

fn store(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("control-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    format!("[store]\nsqlite_path = {:?}\n", path.display().to_string())
}

const ROUTES: &str = r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{mock}/p/v1"

[providers.q]
adapter = "builtin:openai"
base_url = "{mock}/q/v1"

[models."m"]
targets = [{ provider = "p", model = "x", input_price = 1.0, output_price = 2.0 }, { provider = "q", model = "y" }]
defaults = { temperature = 0.3, max_tokens = 64 }
limits = { max_tokens = 1000, temperature = 1.0 }
context_window = 128000
capabilities = ["chat", "tools"]
description = "two providers"
tags = ["general"]

[models."solo"]
targets = [{ provider = "p", model = "z" }]

[models."other"]
targets = [{ provider = "q", model = "w" }]
"#;

#[tokio::test]
async fn defaults_limits_and_what_models_say() {
    let mock = Mock::start().await;
    let gw = start(&mock, ROUTES).await;
    assert_eq!(chat(&gw, "m", json!({ "temperature": 0.9 })).await.0, 200);
    let sent = mock
        .seen("p")
        .into_iter()
        .chain(mock.seen("q"))
        .last()
        .unwrap()
        .body;
    assert_eq!(
        (sent["temperature"].clone(), sent["max_tokens"].clone()),
        (json!(0.9), json!(64))
    );
    let (s, e) = chat(&gw, "m", json!({ "max_completion_tokens": 5000 })).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "max_completion_tokens");
    let url = format!("{}/v1/models", gw.url);
    let models: Value = gw
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let m = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "m")
        .unwrap()
        .clone();
    assert_eq!(m["context_window"], 128000);
    assert_eq!(m["capabilities"], json!(["chat", "tools"]));
    assert_eq!(m["description"], "two providers");
    assert_eq!(m["tags"], json!(["general"]));
    let bad = parse(
        &mock,
        "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n[models.\"m\"]\ntargets = [{ provider = \"p\", model = \"x\" }]\ncapabilities = [\"telepathy\"]\n",
    );
    assert!(bad.unwrap_err().to_string().contains("telepathy"));
}

#[tokio::test]
async fn an_override_disables_a_target_until_reverted_and_is_audited() {
    let mock = Mock::start().await;
    let gw = start(&mock, &format!("{}{ROUTES}", store("overrides"))).await;
    let off = json!({ "route": "m", "provider": "q", "model": "y", "enabled": false });
    let (s, v) = gw
        .admin_json(Method::POST, "/admin/overrides", Some(off))
        .await;
    assert_eq!(s, 200, "{v}");
    let before = mock.count("q");
    for _ in 0..6 {
        assert_eq!(chat(&gw, "m", json!({})).await.0, 200);
    }
    assert_eq!(mock.count("q"), before, "the disabled target took requests");
    let (_, list) = gw.admin_json(Method::GET, "/admin/overrides", None).await;
    assert_eq!(list["overrides"][0]["enabled"], false, "{list}");
    // The last one off: the route says so.
    let p_off = json!({ "route": "m", "provider": "p", "model": "x", "enabled": false });
    gw.admin_json(Method::POST, "/admin/overrides", Some(p_off))
        .await;
    let (s, e) = chat(&gw, "m", json!({})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (503, Some("targets_disabled")),
        "{e}"
    );
    for t in [("p", "x"), ("q", "y")] {
        let back = json!({ "route": "m", "provider": t.0, "model": t.1 });
        assert_eq!(
            gw.admin_json(Method::POST, "/admin/overrides/revert", Some(back))
                .await
                .0,
            200
        );
    }
    for _ in 0..4 {
        chat(&gw, "m", json!({})).await;
    }
    assert!(
        mock.count("q") > before,
        "reverted, the target takes requests again"
    );
    // Unknown targets are refused; every change is in the audit log.
    let (s, _) = gw
        .admin_json(
            Method::POST,
            "/admin/overrides",
            Some(json!({ "route": "m", "provider": "zz", "model": "y", "enabled": false })),
        )
        .await;
    assert_eq!(s, 404);
    let (_, audit) = gw.admin_json(Method::GET, "/admin/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "override.revert",
            "override.revert",
            "override.set",
            "override.set"
        ],
        "{audit}"
    );
    assert_eq!(audit["entries"][3]["subject"], "m/q/y");
    assert_eq!(audit["entries"][3]["after"]["enabled"], false);
    assert_eq!(audit["entries"][0]["before"]["enabled"], false);
    // A counter reset and a cache clear are changes too.
    assert_eq!(
        gw.admin_json(Method::POST, "/admin/counters/reset", None)
            .await
            .0,
        200
    );
    let (_, audit) = gw
        .admin_json(Method::GET, "/admin/audit?limit=1", None)
        .await;
    assert_eq!(audit["entries"][0]["action"], "counters.reset", "{audit}");
    assert_eq!(audit["entries"][0]["actor"], "admin-token (admin)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_reach_another_replica_through_postgres() {
    let (pg, mock) = (Postgres::start().await, Mock::start().await);
    let url = pg.url();
    let env = [("PG_URL", url.as_str())];
    let cfg = format!("[store]\npostgres_url_env = \"PG_URL\"\n{ROUTES}");
    let a = start_env(&mock, "", &cfg, &env).await;
    let b = start_env(&mock, "", &cfg, &env).await;
    let off = json!({ "route": "m", "provider": "q", "model": "y", "enabled": false });
    assert_eq!(
        a.admin_json(Method::POST, "/admin/overrides", Some(off))
            .await
            .0,
        200
    );
    let mut applied = false;
    for _ in 0..40 {
        let (_, routes) = b.admin_json(Method::GET, "/admin/routes", None).await;
        if routes.to_string().contains("\"enabled\":false") {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(applied, "the override never reached the other replica");
    let before = mock.count("q");
    for _ in 0..4 {
        assert_eq!(chat(&b, "m", json!({})).await.0, 200);
    }
    assert_eq!(mock.count("q"), before);
}

#[tokio::test]
async fn a_comparison_shows_each_answer_and_is_kept() {
    let mock = Mock::start().await;
    let gw = start(&mock, &format!("{}{ROUTES}", store("compare"))).await;
    let ask = json!({ "prompt": "hello", "routes": ["m", "solo"], "targets": ["m/q/y"], "max_tokens": 5 });
    let (s, c) = gw
        .admin_json(Method::POST, "/admin/compare", Some(ask))
        .await;
    assert_eq!(s, 200, "{c}");
    let results = c["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r["status"], 200, "{r}");
        assert!(r["answer"].as_str().is_some_and(|a| !a.is_empty()), "{r}");
        assert!(r["latency_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(r["usage"]["completion_tokens"], 7);
    }
    assert_eq!(results[2]["provider"], "q", "the pinned target answered");
    // Kept, and reopened.
    let id = c["id"].as_str().unwrap();
    let (_, again) = gw
        .admin_json(Method::GET, &format!("/admin/compare/{id}"), None)
        .await;
    assert_eq!(again["results"], c["results"]);
    let (_, list) = gw.admin_json(Method::GET, "/admin/compare", None).await;
    assert_eq!(list["comparisons"][0]["id"], id);
    // Streamed: a result per entry, then done.
    let r = gw
        .client
        .post(format!("{}/admin/compare", gw.admin))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "prompt": "hi", "routes": ["m", "other"], "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert_eq!(text.matches("event: result").count(), 2, "{text}");
    assert!(
        text.matches("event: delta").count() >= 2,
        "the answers arrive as they stream: {text}"
    );
    let done: Value =
        serde_json::from_str(text.split("event: done\ndata: ").nth(1).unwrap().trim()).unwrap();
    for r in done["results"].as_array().unwrap() {
        assert_eq!(r["status"], 200, "{r}");
        assert!(r["answer"].as_str().is_some_and(|a| !a.is_empty()), "{r}");
        assert_eq!(r["usage"]["completion_tokens"], 7, "{r}");
        assert!(r["ttft_ms"].as_f64().unwrap() <= r["latency_ms"].as_f64().unwrap());
    }
    assert!(text.contains("event: done"), "{text}");
    // What cannot be compared is refused.
    let (s, e) = gw
        .admin_json(
            Method::POST,
            "/admin/compare",
            Some(json!({ "prompt": "x", "routes": ["nope"] })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
}

#[tokio::test]
async fn a_route_test_calls_each_target() {
    let mock = Mock::start().await;
    let gw = start(&mock, ROUTES).await;
    let (s, t) = gw
        .admin_json(Method::POST, "/admin/routes/m/test", None)
        .await;
    assert_eq!(s, 200, "{t}");
    let targets = t["targets"].as_array().unwrap();
    let providers: Vec<&str> = targets
        .iter()
        .map(|r| r["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["p", "q"], "{t}");
    assert!(
        targets
            .iter()
            .all(|r| r["status"] == 200 && r["answer"].is_string()),
        "{t}"
    );
    assert_eq!(
        gw.admin_json(Method::POST, "/admin/routes/nope/test", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn chat_health_checks_probe_each_target_model() {
    let mock = Mock::start().await;
    let body = ROUTES.replace(
        "[providers.q]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/q/v1\"\n",
        "[providers.q]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/q/v1\"\nhealth_check = { mode = \"chat\", interval = \"100ms\", timeout = \"1s\" }\n",
    );
    mock.set_fault("q", Some(crate::mock::Fault::Status(500, "{}".into())));
    let gw = start(&mock, &body).await;
    let mut open = false;
    for _ in 0..60 {
        let (_, h) = gw.admin_json(Method::GET, "/admin/health", None).await;
        let text = h.to_string();
        if text.matches("\"health\":\"open\"").count() == 2 {
            open = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open, "the probes never opened both of q's targets");
    let probes: Vec<Value> = mock.seen("q").into_iter().map(|s| s.body).collect();
    let mut models: Vec<&str> = probes.iter().filter_map(|b| b["model"].as_str()).collect();
    models.sort();
    models.dedup();
    assert_eq!(models, ["w", "y"]);
    assert!(probes.iter().all(|b| b["max_tokens"] == 1), "{probes:?}");
    // The provider's other model is not reached by client requests any more, p still is.
    assert_eq!(chat(&gw, "m", json!({})).await.0, 200);
}

#[tokio::test]
async fn a_judge_scores_each_answer_of_a_comparison_and_the_scores_are_kept() {
    let mock = Mock::start().await;
    let routes = format!(
        "{ROUTES}\n[providers.j]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/j/v1\"\n\n[models.\"judge\"]\ntargets = [{{ provider = \"j\", model = \"grader\" }}]\n"
    );
    let gw = start(&mock, &format!("{}{routes}", store("judged"))).await;
    mock.set_fault(
        "j",
        Some(Fault::Says(
            r#"{"score": 7, "reason": "right, a little long"}"#.into(),
            0,
        )),
    );
    let ask = json!({ "prompt": "what is 2+2?", "routes": ["solo", "other"], "max_tokens": 5,
        "judge": { "route": "judge", "rubric": "Correct and brief." } });
    let (s, c) = gw
        .admin_json(Method::POST, "/admin/compare", Some(ask))
        .await;
    assert_eq!(s, 200, "{c}");
    for r in c["results"].as_array().unwrap() {
        assert_eq!(r["judge"]["score"], 7.0, "{r}");
        assert_eq!(r["judge"]["reason"], "right, a little long");
    }
    // The judge saw the rubric, the question and each answer.
    let seen = mock.seen("j");
    assert_eq!(seen.len(), 2);
    let shown = seen[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        shown.contains("Correct and brief.")
            && shown.contains("what is 2+2?")
            && shown.contains("says: what is 2+2?"),
        "{shown}"
    );
    // Kept with the comparison.
    let id = c["id"].as_str().unwrap();
    let (_, again) = gw
        .admin_json(Method::GET, &format!("/admin/compare/{id}"), None)
        .await;
    assert_eq!(again["results"][0]["judge"]["score"], 7.0);
    // A judge that is not a route is refused before anything is asked.
    let bad = json!({ "prompt": "x", "routes": ["solo"], "judge": { "route": "nope" } });
    let (s, e) = gw
        .admin_json(Method::POST, "/admin/compare", Some(bad))
        .await;
    assert_eq!(s, 400, "{e}");
}
