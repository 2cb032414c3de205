//! Hot reload under load: 50 reloads while clients keep sending, zero failed
//! requests, each new routing applying to the requests that start after its swap,
//! unchanged plugins not recompiled, a bad config refused while the old one serves,
//! and a change of the file picked up by the watcher.

#[path = "suite/mock/mod.rs"]
mod mock;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mock::Mock;
use serde_json::{Value, json};
use switchboard::config::Config;

const TOKEN: &str = "reload-admin-token";

fn config(mock: &Mock, provider: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"SB_RELOAD_TEST_ADMIN\"\n[plugins]\ncache_dir = {:?}\n\
         [providers.a]\nadapter = \"builtin:openai\"\nbase_url = \"http://{addr}/a/v1\"\n\
         [providers.b]\nadapter = \"builtin:openai\"\nbase_url = \"http://{addr}/b/v1\"\n\
         [models.\"m\"]\nstrategy = \"builtin:priority\"\ntargets = [{{ provider = \"{provider}\", model = \"x\" }}]\n",
        format!("{}/plugin-cache", env!("CARGO_TARGET_TMPDIR")),
        addr = mock.addr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_drop_nothing() {
    // SAFETY: the only test in this binary (which is why it is not in `suite/`); set before any thread reads the environment.
    unsafe { std::env::set_var("SB_RELOAD_TEST_ADMIN", TOKEN) };
    switchboard::app::init_crypto();
    let mock = Mock::start().await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reload-{}.toml", std::process::id()));
    std::fs::write(&path, config(&mock, "a")).unwrap();
    let running = switchboard::app::start(Config::load(&path).unwrap())
        .await
        .unwrap();
    let gw = running.gateway.clone();
    *gw.reload.path.lock() = Some(path.clone());
    let url = format!("http://{}/v1/chat/completions", running.api_addr);
    let admin = format!("http://{}", running.admin_addr.unwrap());
    let client = reqwest::Client::new();
    let body = json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] });
    let compiled_before = gw.runtime.compiled_components();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (client, url, body, stop, ok, failed) = (
            client.clone(),
            url.clone(),
            body.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
        );
        load.push(tokio::spawn(async move {
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    let reload = || {
        client
            .post(format!("{admin}/admin/reload"))
            .bearer_auth(TOKEN)
            .send()
    };
    for i in 0..50 {
        let provider = if i % 2 == 0 { "b" } else { "a" };
        std::fs::write(&path, config(&mock, provider)).unwrap();
        let r = reload().await.unwrap();
        assert_eq!(r.status(), 200, "reload {i}: {}", r.text().await.unwrap());
        let r = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(
            r.headers()["x-switchboard-provider"],
            provider,
            "reload {i}: the new routing must apply"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "the load generator barely ran"
    );
    assert_eq!(
        gw.runtime.compiled_components(),
        compiled_before,
        "unchanged plugins were recompiled"
    );

    // A bad config is refused with its reason; the running one keeps serving.
    std::fs::write(
        &path,
        "[models.\"m\"]\ntargets = [{ provider = \"ghost\", model = \"x\" }]\n",
    )
    .unwrap();
    let r = reload().await.unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("unknown provider 'ghost'"),
        "{v}"
    );
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cfg: Value = client
        .get(format!("{admin}/admin/config"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["reloads"]["succeeded"], 50);
    assert_eq!(cfg["reloads"]["failed"], 1);
    assert!(
        cfg["reloads"]["last_error"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );

    // The watcher picks up an edit of the file by itself.
    switchboard::manage::reload::watch(
        gw.clone(),
        Duration::from_millis(50),
        running.stopped.clone(),
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    std::fs::write(&path, config(&mock, "b")).unwrap();
    let mut served_by = String::new();
    for _ in 0..100 {
        let r = client.post(&url).json(&body).send().await.unwrap();
        served_by = r.headers()["x-switchboard-provider"]
            .to_str()
            .unwrap()
            .to_string();
        if served_by == "b" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_by, "b", "the file change was not picked up");

    // A plugin component the config names is watched too: a broken rebuild is refused
    // (the old one keeps serving), a good one is taken, without touching the config.
    let wasm = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reload-canary-{}.wasm", std::process::id()));
    std::fs::copy(env!("SWITCHBOARD_GUEST_STRATEGY_CANARY"), &wasm).unwrap();
    let with_plugin = format!(
        "{}[strategies.canary]\nplugin = {:?}\nsettings = {{ percent = 0 }}\n",
        config(&mock, "b").replace("builtin:priority", "canary"),
        wasm.display().to_string()
    );
    let counts = || {
        (
            gw.reload.succeeded.load(Ordering::Relaxed),
            gw.reload.failed.load(Ordering::Relaxed),
        )
    };
    let until = |want: Box<dyn Fn((u64, u64)) -> bool>| {
        let counts = &counts;
        async move {
            for _ in 0..100 {
                if want(counts()) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    let (ok, failed) = counts();
    std::fs::write(&path, with_plugin).unwrap();
    assert!(
        until(Box::new(move |c| c.0 > ok)).await,
        "the config naming the plugin was not loaded"
    );
    let (ok, _) = counts();
    std::fs::write(&wasm, b"not a component").unwrap();
    assert!(
        until(Box::new(move |c| c.1 > failed)).await,
        "the broken rebuild was not noticed"
    );
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "the old plugin keeps serving");
    std::fs::copy(env!("SWITCHBOARD_GUEST_STRATEGY_CANARY"), &wasm).unwrap();
    assert!(
        until(Box::new(move |c| c.0 > ok)).await,
        "the good rebuild was not taken"
    );
    running.shutdown().await;
}
