//! The operator console: its page under a Content-Security-Policy, sign-in with the
//! admin token into an HttpOnly, SameSite=Strict session, the CSRF token every change
//! through a session needs, sign-out — and the whole console in a real headless
//! Chromium (`tests/browser/console_check.py`, Playwright for Python driving Debian's
//! `chromium`), which writes a screenshot of each page under `target/`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;

fn config(name: &str) -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    format!(
        r#"
[store]
sqlite_path = {store:?}

[usage]
sqlite_path = {usage:?}

[gateway]
policies = ["monthly"]

[policies.monthly]
plugin = "builtin:budget"
settings = {{ limit = 5, per = "gateway" }}

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[providers.q]
adapter = "builtin:openai"
base_url = "{{mock}}/q/v1"

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1.0, output_price = 2.0 }}, {{ provider = "q", model = "y" }}]

[models."n"]
targets = [{{ provider = "p", model = "z" }}]

[models."o"]
targets = [{{ provider = "q", model = "w" }}]
"#,
        store = dir.join("store.db").display().to_string(),
        usage = dir.join("usage.db").display().to_string(),
    )
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(gw: &Gw, token: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/console/login", gw.admin))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_sessions_and_csrf() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config("session")).await;
    let page = gw
        .client
        .get(format!("{}/", gw.admin))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/console/console.js") && !html.contains("<script>"),
        "{html}"
    );

    let wrong = sign_in(&gw, "not-it").await;
    assert_eq!(wrong.status(), 303);
    assert_eq!(wrong.headers()["location"], "/?denied");
    assert!(wrong.headers().get("set-cookie").is_none());

    let right = sign_in(&gw, ADMIN_TOKEN).await;
    assert_eq!(right.status(), 303);
    let set = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let with = |m: Method, path: &str| {
        no_redirects()
            .request(m, format!("{}{path}", gw.admin))
            .header("cookie", cookie.clone())
    };
    let session: Value = with(Method::GET, "/admin/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = session["csrf"].as_str().unwrap().to_string();
    assert!(
        session["actor"] == "admin-token (admin)" && session["via"] == "session",
        "{session}"
    );

    // A change through the session needs the CSRF token.
    let off = json!({ "route": "m", "provider": "q", "model": "y", "enabled": false });
    let r = with(Method::POST, "/admin/overrides")
        .json(&off)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "csrf_token_missing");
    let r = with(Method::POST, "/admin/overrides")
        .header("x-csrf-token", "0".repeat(csrf.len()))
        .json(&off)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong token is no token");
    let r = with(Method::POST, "/admin/overrides")
        .header("x-csrf-token", &csrf)
        .json(&off)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let audit: Value = with(Method::GET, "/admin/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"][0]["actor"], session["actor"], "{audit}");

    // Sign-out needs the token too; then the session is gone.
    let out = |body: String| {
        with(Method::POST, "/console/logout")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    out("csrf=nope".into()).await.unwrap();
    assert_eq!(
        with(Method::GET, "/admin/session")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    out(format!("csrf={csrf}")).await.unwrap();
    assert_eq!(
        with(Method::GET, "/admin/session")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config("browser")).await;
    // Known traffic for the overview.
    for _ in 0..5 {
        let (s, _) = gw
            .chat(&json!({ "model": "m", "messages": user("hi") }))
            .await;
        assert_eq!(s, 200);
    }
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screens");
    let args = vec![
        gw.admin.clone(),
        gw.url.clone(),
        ADMIN_TOKEN.to_string(),
        shots.display().to_string(),
    ];
    run_browser_check("console_check.py", args).await;
    for page in [
        "signin", "overview", "routes", "compare", "keys", "usage", "config",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}

/// The registry's pages (issue "Model management"): an operator adds a provider with
/// its key, makes a model on it, tests the draft, activates it, and a client is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_pages_in_a_real_browser() {
    const KEY: &str = "sk-browser-acme-key-7788";
    let mock = Mock::start().await;
    mock.require_key("acme", KEY);
    let master = "a1".repeat(32);
    let cfg = config("registry").replace("[store]\n", "[store]\nmaster_key_env = \"MASTER_KEY\"\n");
    let gw = start_env(&mock, "", &cfg, &[("MASTER_KEY", master.as_str())]).await;
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("registry-screens");
    let args = vec![
        gw.admin.clone(),
        gw.url.clone(),
        ADMIN_TOKEN.to_string(),
        shots.display().to_string(),
        mock.base_url("acme"),
        KEY.to_string(),
        String::new(),
    ];
    run_browser_check("registry_check.py", args).await;
    for page in ["providers", "models", "prompts", "edit"] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
    let (_, made) = gw
        .admin_json(Method::GET, "/admin/models/acme-chat/versions", None)
        .await;
    assert!(made["versions"].as_array().unwrap().len() >= 2, "{made}");
}
