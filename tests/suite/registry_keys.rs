//! The registry's keys and templates: credentials sealed at rest under a master key
//! that rotates, a key given at run time in no log line (the gateway binary's own log,
//! at debug), the file's changes as versions (actor `config`), prompt templates filling
//! chat and Responses requests, named in usage records.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;
use crate::registry::{ACME_KEY, MASTER, MASTER2, chat_model, config, provider, store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sealed_and_the_master_key_rotates() {
    let mock = Mock::start().await;
    mock.require_key("acme", ACME_KEY);
    let dir = tempdir("registry-rotate");
    let db = dir.join("store.db");
    let cfg = config(&store(None, Some(db.to_str().unwrap())));
    // No master key: the key is refused, and the answer says how to set one.
    let gw = start(&mock, &cfg).await;
    let (s, e) = provider(&gw, &mock, ACME_KEY, false).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "no_master_key", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MASTER_KEY"),
        "{e}"
    );
    gw.running.shutdown().await;

    let gw = start_env(&mock, "", &cfg, &[("MASTER_KEY", MASTER)]).await;
    let (s, v) = provider(&gw, &mock, ACME_KEY, false).await;
    assert_eq!(s, 201, "{v}");
    assert!(
        v["verification"].as_str().unwrap().contains("not verified"),
        "{v}"
    );
    let (s, _) = gw
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(json!({ "name": "acme-chat", "state": "active",
                         "targets": [{ "provider": "acme", "model": "gpt-one" }] })),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(chat_model(&gw, "acme-chat").await.status(), 200);
    // The provider rotates its key: a PATCH with the new one (checked, sealed) serves.
    const NEW_KEY: &str = "sk-acme-registry-rotated-9191";
    mock.require_key("acme", NEW_KEY);
    let (s, v) = gw
        .admin_json(
            Method::PATCH,
            "/admin/providers/acme",
            Some(json!({ "api_key": NEW_KEY })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["provider"]["credential"]["last4"], "9191", "{v}");
    assert!(v["provider"]["body"].get("api_key_env").is_none(), "{v}");
    assert_eq!(chat_model(&gw, "acme-chat").await.status(), 200);
    mock.require_key("acme", ACME_KEY);
    let (s, _) = gw
        .admin_json(
            Method::PATCH,
            "/admin/providers/acme",
            Some(json!({ "api_key": ACME_KEY })),
        )
        .await;
    assert_eq!(s, 200);
    gw.running.shutdown().await;
    let raw = std::fs::read(&db).unwrap();
    assert!(
        !raw.windows(ACME_KEY.len())
            .any(|w| w == ACME_KEY.as_bytes()),
        "the key is in the store in plain text"
    );

    // A new master key, the old one still read during the rotation.
    let env = [("MASTER_KEY", MASTER2), ("OLD_MASTER_KEY", MASTER)];
    let gw = start_env(&mock, "", &cfg, &env).await;
    assert_eq!(chat_model(&gw, "acme-chat").await.status(), 200);
    let (s, r) = gw
        .admin_json(Method::POST, "/admin/credentials/rotate", None)
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["resealed"], 1, "{r}");
    gw.running.shutdown().await;
    // The old key gone: what was re-sealed still opens.
    let gw = start_env(&mock, "", &cfg, &[("MASTER_KEY", MASTER2)]).await;
    assert_eq!(chat_model(&gw, "acme-chat").await.status(), 200);
    let (_, p) = gw
        .admin_json(Method::GET, "/admin/providers/acme", None)
        .await;
    assert_eq!(p["credential"]["status"], "set", "{p}");
    gw.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_templates_fill_chat_and_responses_requests() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config("")).await;
    let (s, v) = gw
        .admin_json(
            Method::POST,
            "/admin/prompts",
            Some(json!({ "name": "greet", "model": "m", "defaults": { "temperature": 0.2 },
                         "messages": [{ "role": "system", "content": "Greet {{who}} in {{lang}}." }] })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["prompt"]["variables"], json!(["who", "lang"]), "{v}");
    let ask = |prompt: &'static str, vars: Value| {
        gw.client
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("x-switchboard-prompt", prompt)
            .json(&json!({ "messages": user("now"), "metadata": { "variables": vars } }))
            .send()
    };
    let r = ask("greet", json!({ "who": "Ada", "lang": "French" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.seen("mockp").last().unwrap().body.clone();
    assert_eq!(
        seen["messages"][0]["content"], "Greet Ada in French.",
        "{seen}"
    );
    assert_eq!(seen["messages"][1]["content"], "now", "{seen}");
    assert_eq!(seen["temperature"], 0.2, "{seen}");
    assert!(seen.get("metadata").is_none(), "{seen}");
    let r = ask("greet", json!({ "who": "Ada" })).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "metadata.variables.lang", "{e}");
    // A second version; the first stays reachable by its number.
    let (s, _) = gw
        .admin_json(
            Method::PATCH,
            "/admin/prompts/greet",
            Some(json!({ "messages": [{ "role": "system", "content": "Hello {{who}}!" }] })),
        )
        .await;
    assert_eq!(s, 200);
    let r = gw
        .post(
            "/v1/responses",
            &json!({ "input": "now", "prompt": { "id": "greet", "version": "1",
                     "variables": { "who": "Bo", "lang": "Welsh" } } }),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let seen = mock.seen("mockp").last().unwrap().body.clone();
    assert!(seen.to_string().contains("Greet Bo in Welsh."), "{seen}");
    let r = ask("greet", json!({ "who": "Cy" })).await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.seen("mockp").last().unwrap().body.clone();
    assert_eq!(seen["messages"][0]["content"], "Hello Cy!", "{seen}");
    let r = ask("nope", json!({})).await.unwrap();
    assert_eq!(r.status(), 404);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

/// The gateway binary at debug level: a key registered, used, refused (a wrong one)
/// and rotated appears in no line it logs; a reload that changes the file's model is a
/// version by `config`; the usage record names the prompt and the redirected model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_given_at_run_time_is_in_no_log_line() {
    let mock = Mock::start().await;
    mock.require_key("acme", ACME_KEY);
    let dir = tempdir("registry-logs");
    let (api, admin) = (free_port(), free_port());
    let file = |upstream: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{api}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_env = \"ADMIN_TOKEN\"\n[usage]\nsqlite_path = \"usage.db\"\n{}",
            config(&store(None, Some("store.db")))
                .replace("{mock}", &format!("http://{}", mock.addr))
                .replace("file-model", upstream)
        )
    };
    let path = dir.join("config.toml");
    std::fs::write(&path, file("file-model")).unwrap();
    let log = std::fs::File::create(dir.join("gateway.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("SWITCHBOARD_LOG", "debug")
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PROVIDER_KEY", PROVIDER_KEY)
        .env("MASTER_KEY", MASTER)
        .stderr(log.try_clone().unwrap())
        .stdout(log)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let admin_url = format!("http://127.0.0.1:{admin}");
    let call = |method: Method, p: &str, body: Option<Value>| {
        let mut r = client
            .request(method, format!("{admin_url}{p}"))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("{admin_url}/health"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the gateway did not start");
    let acme = |key: &str| {
        json!({ "name": "acme", "adapter": "builtin:openai",
        "base_url": mock.base_url("acme"), "api_key": key })
    };
    let (s, e) = call(
        Method::POST,
        "/admin/providers",
        Some(acme(&format!("{ACME_KEY}-wrong"))),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, v) = call(Method::POST, "/admin/providers", Some(acme(ACME_KEY))).await;
    assert_eq!(s, 201, "{v}");
    let model = json!({ "name": "acme-chat", "state": "deprecated", "successor": "m", "redirect": true,
                        "targets": [{ "provider": "acme", "model": "gpt-one" }] });
    let (s, v) = call(Method::POST, "/admin/models", Some(model)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        Method::POST,
        "/admin/prompts",
        Some(json!({ "name": "hello",
        "messages": [{ "role": "user", "content": "Hello {{who}}" }] })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let api_url = format!("http://127.0.0.1:{api}/v1/chat/completions");
    let r = client
        .post(&api_url)
        .header("x-switchboard-prompt", "hello@1")
        .json(&json!({ "model": "acme-chat", "metadata": { "variables": { "who": "Ada" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = call(Method::POST, "/admin/providers/acme/verify", None).await;
    assert_eq!(s, 200);
    // The file's model changes: a version by `config`.
    std::fs::write(&path, file("file-model-2")).unwrap();
    let (s, v) = call(Method::POST, "/admin/reload", None).await;
    assert_eq!(s, 200, "{v}");
    let (_, h) = call(Method::GET, "/admin/models/m/versions", None).await;
    assert_eq!(h["versions"][0]["version"], 2, "{h}");
    assert_eq!(h["versions"][0]["actor"], "config", "{h}");
    assert!(
        h["versions"][0]["diff"]
            .to_string()
            .contains("file-model-2"),
        "{h}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.join("gateway.log")).unwrap();
    assert!(
        text.contains("DEBUG") || text.contains("debug"),
        "logged at debug"
    );
    assert!(!text.contains(ACME_KEY), "the key is in the log:\n{text}");
    let usage = rusqlite::Connection::open(dir.join("usage.db")).unwrap();
    let (route, prompt, requested): (String, Option<String>, Option<String>) = usage
        .query_row(
            "SELECT route, prompt, requested FROM usage ORDER BY ts DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        route, "m",
        "the deprecated model was redirected to its successor"
    );
    assert_eq!(requested.as_deref(), Some("acme-chat"));
    assert_eq!(prompt.as_deref(), Some("hello@1"));
}

/// A provider made at run time reads no variable the file does not already read
/// provider keys from (else it could send the master key to a server of its own), and
/// one in use by a model is not deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_provider_cannot_borrow_the_gateways_secrets() {
    let mock = Mock::start().await;
    let gw = start_env(
        &mock,
        "",
        &config(&store(None, None)),
        &[("MASTER_KEY", MASTER)],
    )
    .await;
    for var in ["MASTER_KEY", "ADMIN_TOKEN"] {
        let (s, e) = gw
            .admin_json(
                Method::POST,
                "/admin/providers",
                Some(
                    json!({ "name": "thief", "adapter": "builtin:openai", "verify": false,
                             "base_url": mock.base_url("thief"), "api_key_env": var }),
                ),
            )
            .await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(e["error"]["param"], "api_key_env", "{e}");
    }
    // A preset's own variable counts: OPENAI_API_KEY goes to OpenAI's host only.
    let (s, e) = gw
        .admin_json(
            Method::POST,
            "/admin/providers",
            Some(
                json!({ "name": "thief", "preset": "openai", "verify": false,
                         "base_url": mock.base_url("thief") }),
            ),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "preset", "{e}");
    assert_eq!(mock.count("thief"), 0);
    // The file's own variable is fine.
    let (s, e) = gw
        .admin_json(
            Method::POST,
            "/admin/providers",
            Some(
                json!({ "name": "twin", "adapter": "builtin:openai", "verify": false,
                         "base_url": mock.base_url("twin"), "api_key_env": "PROVIDER_KEY" }),
            ),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, _) = gw
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(json!({ "name": "t", "targets": [{ "provider": "twin", "model": "x" }] })),
        )
        .await;
    assert_eq!(s, 201);
    let (s, e) = gw
        .admin_json(Method::DELETE, "/admin/providers/twin", None)
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "in_use", "{e}");
    let (s, _) = gw.admin_json(Method::DELETE, "/admin/models/t", None).await;
    assert_eq!(s, 200);
    let (s, _) = gw
        .admin_json(Method::DELETE, "/admin/providers/twin", None)
        .await;
    assert_eq!(s, 200);
    let (_, list) = gw.admin_json(Method::GET, "/admin/providers", None).await;
    assert!(!list.to_string().contains("twin"), "{list}");
}

/// A reload that changes the file's model makes a version its pin serves at once; a
/// file that drops what a registry model needs leaves that model out (logged) and
/// serves the rest — on reload and at start; a draft is not counted either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_outlives_a_file_that_no_longer_fits_it() {
    let mock = Mock::start().await;
    let dir = tempdir("registry-fit");
    let db = dir.join("store.db");
    // Reloads read the process's environment: the provider needs no key here.
    let cfg = config(&store(None, Some(db.to_str().unwrap())))
        .replace("api_key_env = \"PROVIDER_KEY\"\n", "");
    let gw = start(&mock, &cfg).await;
    let path = dir.join("config.toml");
    let write = |body: &str| std::fs::write(&path, config_text(&mock, body)).unwrap();
    write(&cfg);
    *gw.running.gateway.reload.path.lock() = Some(path.clone());
    let (s, _) = gw
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(json!({ "name": "r", "state": "active",
                         "targets": [{ "provider": "mockp", "model": "reg-model" }] })),
        )
        .await;
    assert_eq!(s, 201);
    // A draft is not there for count_tokens either.
    let (s, _) = gw
        .admin_json(
            Method::POST,
            "/admin/models",
            Some(json!({ "name": "d", "targets": [{ "provider": "mockp", "model": "x" }] })),
        )
        .await;
    assert_eq!(s, 201);
    let r = gw
        .post(
            "/v1/messages/count_tokens",
            &json!({ "model": "d", "messages": user("hi") }),
        )
        .await;
    assert_eq!(r.status(), 404);
    // The file's model changes: v2 serves, and `m@1` is v1 at once.
    write(&cfg.replace("file-model", "file-model-2"));
    // (Reloaded in-process: a reload reads the process's environment, where this
    // test's admin token is not, so the admin API is off after it.)
    switchboard::manage::reload::reload(&gw.running.gateway)
        .await
        .unwrap();
    let said =
        |r: reqwest::Response| async move { r.json::<Value>().await.unwrap()["model"].clone() };
    assert_eq!(said(chat_model(&gw, "m").await).await, "file-model-2");
    assert_eq!(said(chat_model(&gw, "m@1").await).await, "file-model");
    // The file drops the provider the registry's models stand on.
    let moved = cfg
        .replace("[providers.mockp]", "[providers.other]")
        .replace("mockp/v1", "other/v1")
        .replace("provider = \"mockp\"", "provider = \"other\"");
    write(&moved);
    switchboard::manage::reload::reload(&gw.running.gateway)
        .await
        .expect("the reload is not refused for the registry's sake");
    assert_eq!(chat_model(&gw, "m").await.status(), 200);
    assert_eq!(chat_model(&gw, "r").await.status(), 404);
    gw.running.shutdown().await;
    // And a gateway starts on it.
    let again = start(&mock, &moved).await;
    assert_eq!(chat_model(&again, "m").await.status(), 200);
    assert_eq!(chat_model(&again, "r").await.status(), 404);
    again.running.shutdown().await;
}
