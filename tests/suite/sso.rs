//! Single sign-on against a real OpenID provider: the certified `oidc-provider` package
//! from npm (`tests/idp/idp.mjs`, started on a loopback port), the console signed in
//! through it in Chromium (`tests/browser/sso_check.py`): the role from a group claim,
//! a person without a mapped group refused, and ID tokens tampered with at the IdP's
//! token endpoint — a bad signature, another key, the wrong audience, expired, the
//! wrong nonce — each refused; sign-out ends the session here and at the IdP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;

const CLIENT_ID: &str = "switchboard-console";
const CLIENT_SECRET: &str = "idp-client-secret-4711";

/// The IdP's packages, installed once under the target dir from its lock file.
fn idp_dir() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("idp");
        std::fs::create_dir_all(&dir).unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        for f in ["package.json", "package-lock.json", "idp.mjs"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        if !dir.join("node_modules/oidc-provider/package.json").exists() {
            let npm = Command::new("npm")
                .args(["ci", "--silent", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm is needed for the single sign-on test");
            assert!(npm.success(), "npm could not install oidc-provider");
        }
        dir
    })
    .clone()
}

struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    fn start(redirect: &str, users: &Value) -> Idp {
        let port = free_port();
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .current_dir(idp_dir())
            .env("IDP_PORT", port.to_string())
            .env("IDP_CLIENT_ID", CLIENT_ID)
            .env("IDP_CLIENT_SECRET", CLIENT_SECRET)
            .env("IDP_REDIRECT_URI", redirect)
            .env("IDP_USERS", users.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the IdP");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("IDP READY "),
            "the IdP did not start: {line}"
        );
        Idp {
            child,
            issuer: line["IDP READY ".len()..].trim().to_string(),
        }
    }
}

/// The gateway with its admin listener on `port` (the IdP must know the callback).
async fn gateway(mock: &Mock, port: u16, body: &str) -> Gw {
    switchboard::app::init_crypto();
    let text = config_text(mock, body).replace(
        "[admin]\nlisten = \"127.0.0.1:0\"",
        &format!("[admin]\nlisten = \"127.0.0.1:{port}\""),
    );
    let mut env = env_map();
    env.insert("IDP_SECRET".into(), CLIENT_SECRET.into());
    let config = switchboard::config::Config::parse(&text, std::path::Path::new("."), &move |k| {
        env.get(k).cloned()
    })
    .expect("test config is valid");
    let running = switchboard::app::start(config)
        .await
        .expect("gateway starts");
    Gw {
        url: format!("http://{}", running.api_addr),
        admin: format!("http://{}", running.admin_addr.unwrap()),
        running,
        client: reqwest::Client::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_through_a_real_openid_provider() {
    let mock = Mock::start().await;
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/console/sso/callback");
    let users = json!({
        "alice": { "password": "alice-pass", "groups": ["staff", "gw-admins"], "email": "alice@example.com" },
        "vic": { "password": "vic-pass", "groups": ["gw-viewers"], "email": "vic@example.com" },
        "nora": { "password": "nora-pass", "groups": ["staff"], "email": "nora@example.com" },
        // Claims alice's address at the IdP: another subject, so not alice here.
        "mallory": { "password": "mallory-pass", "groups": ["gw-admins"], "email": "alice@example.com" },
    });
    let idp = tokio::task::spawn_blocking(move || Idp::start(&callback, &users))
        .await
        .unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sso-{}", std::process::id()));
    let body = format!(
        r#"
[store]
sqlite_path = {store:?}

[auth.oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret_env = "IDP_SECRET"
redirect_url = "http://127.0.0.1:{port}/console/sso/callback"
roles = {{ "gw-admins" = "admin", "gw-viewers" = "viewer" }}
label = "Sign in with Test IdP"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x" }}]
"#,
        store = dir.join("store.db").display().to_string(),
        issuer = idp.issuer,
    );
    let gw = gateway(&mock, port, &body).await;
    let cases = json!([
        { "login": "alice", "password": "alice-pass", "expect": "alice@example.com · admin", "wrong_first": true },
        { "login": "vic", "password": "vic-pass", "expect": "vic@example.com · viewer" },
        { "login": "nora", "password": "nora-pass", "error": "no_role" },
        { "login": "mallory", "password": "mallory-pass", "error": "taken" },
        { "login": "alice", "password": "alice-pass", "fault": "badsig", "error": "token" },
        { "login": "alice", "password": "alice-pass", "fault": "otherkey", "error": "token" },
        { "login": "alice", "password": "alice-pass", "fault": "aud", "error": "token" },
        { "login": "alice", "password": "alice-pass", "fault": "expired", "error": "token" },
        { "login": "alice", "password": "alice-pass", "fault": "nonce", "error": "token" },
    ]);
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sso-screens");
    let args = vec![
        gw.admin.clone(),
        idp.issuer.clone(),
        shots.display().to_string(),
        cases.to_string(),
    ];
    let said = run_browser_check("sso_check.py", args).await;
    assert!(said.contains("sso ok"), "{said}");
    // The people single sign-on made, with the roles their groups map to.
    let (_, people) = gw.admin_json(Method::GET, "/admin/people", None).await;
    let seen: Vec<(Value, Value, Value)> = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].clone(), p["role"].clone(), p["origin"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!("alice@example.com"), json!("admin"), json!("sso")),
            (json!("vic@example.com"), json!("viewer"), json!("sso")),
        ]
    );
    // Each sign-in is audited; every refused one left no session.
    let (_, audit) = gw
        .admin_json(Method::GET, "/admin/audit?limit=50", None)
        .await;
    let opened = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "session.open")
        .count();
    assert_eq!(opened, 2, "{audit}");
    let (_, sessions) = gw.admin_json(Method::GET, "/admin/sessions", None).await;
    let live = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["revoked_at"].is_null())
        .count();
    assert_eq!(live, 0, "every session was signed out: {sessions}");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
