//! CORS for browser applications: a preflight is answered by the gateway (never a
//! provider) for the origins it allows, with the methods and headers configured; a key
//! or route may be used only from its own pages; `*` never goes with credentials; and
//! from a real Chromium page on another origin the call works where it is allowed and
//! the browser refuses the answer where it is not.

use reqwest::Method;
use serde_json::json;

use crate::common::*;
use crate::mock::Mock;

fn config(app: &str, other: &str) -> String {
    format!(
        r#"
[server.cors]
origins = ["{app}"]
max_age_secs = 120

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "locked"
sha256 = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"
cors_origins = ["{other}"]

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models.m]
targets = [{{ provider = "p", model = "x" }}]

[models.narrow]
targets = [{{ provider = "p", model = "x" }}]
cors_origins = ["{other}"]
"#
    )
}

#[tokio::test]
async fn preflights_are_the_gateways_and_pages_are_held_to_their_lists() {
    let mock = Mock::start().await;
    let (app, other) = ("http://127.0.0.1:3000", "https://other.example");
    let gw = start(&mock, &config(app, other)).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let preflight = |origin: &str| {
        gw.client
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let r = preflight(app).await.unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], app);
    assert_eq!(h["access-control-max-age"], "120");
    assert_eq!(h["access-control-allow-methods"], "GET, POST");
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert_eq!(h["vary"], "Origin");
    // A key's own page is answered yes too (a preflight carries no key).
    assert_eq!(preflight(other).await.unwrap().status(), 204);
    let r = preflight("https://evil.example").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    assert_eq!(mock.count("p"), 0, "a preflight reached the provider");

    let ask = |origin: &'static str, key: &'static str, model: &'static str| {
        gw.client
            .post(&url)
            .header("origin", origin)
            .bearer_auth(key)
            .json(&json!({ "model": model, "messages": user("hi") }))
            .send()
    };
    let r = ask(app, TEAM_KEY, "m").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], app);
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-switchboard-overhead-ms")
    );
    // The locked key only from its page; the narrow model only from its page.
    let r = ask(app, "123456", "m").await.unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "origin_not_allowed", "{v}");
    assert_eq!(ask(other, "123456", "m").await.unwrap().status(), 200);
    let r = ask(app, TEAM_KEY, "narrow").await.unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "origin_not_allowed", "{v}");
    // Without an Origin (a server, not a page) nothing changes.
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "narrow", "messages": user("hi") }),
        )
        .await;
    assert_ne!(r.status(), 403);

    // `*` never goes with credentials.
    let bad = parse(
        &mock,
        "[server.cors]\norigins = [\"*\"]\nallow_credentials = true\n",
    );
    assert!(bad.unwrap_err().to_string().contains("allow_credentials"));
    let bad = parse(
        &mock,
        "[server.cors]\norigins = [\"https://a.example/path\"]\n",
    );
    assert!(bad.unwrap_err().to_string().contains("origin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_calls_the_gateway_in_a_real_browser() {
    let mock = Mock::start().await;
    let (app_port, other_port) = (free_port(), free_port());
    // The second page is no origin any list names; the locked key's page is elsewhere.
    let app = format!("http://127.0.0.1:{app_port}");
    let gw = start(&mock, &config(&app, "https://locked.example")).await;
    let args = vec![
        gw.url.clone(),
        app_port.to_string(),
        other_port.to_string(),
        TEAM_KEY.to_string(),
        "123456".to_string(),
    ];
    let said = run_browser_check("cors_check.py", args).await;
    assert!(said.contains("cors ok"), "{said}");
}
