//! The `switchboard` binary as a newcomer runs it: `check` and `serve` on the shipped
//! `config.toml` (no provider keys), config errors that name key and line, and a
//! SIGTERM that lets an in-flight stream finish.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn client() -> reqwest::Client {
    switchboard::app::init_crypto();
    reqwest::Client::new()
}

use crate::common::free_port;

pub fn command() -> Command {
    let mut c = Command::new(BIN);
    for k in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "SWITCHBOARD_ADMIN_TOKEN",
    ] {
        c.env_remove(k);
    }
    c.env(
        "XDG_CACHE_HOME",
        format!("{}/cli-cache", env!("CARGO_TARGET_TMPDIR")),
    );
    c
}

pub fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The shipped config with its three fixed ports moved to free ones.
fn shipped_config_on_free_ports() -> (std::path::PathBuf, u16) {
    let api = free_port();
    let text = shipped_config_text(api, free_port());
    (write_config(&format!("shipped-{api}.toml"), &text), api)
}

/// The shipped config's text with its API and admin listeners on `api` and `admin`
/// and its demo provider on a free port.
fn shipped_config_text(api: u16, admin: u16) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{api}"))
        .replace("127.0.0.1:8089", &format!("127.0.0.1:{}", free_port()))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{admin}"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_healthy(port: u16) {
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("switchboard did not come up on port {port}");
}

#[test]
fn check_accepts_the_shipped_config_and_lists_routes() {
    let out = command()
        .args([
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("demo -> [demo/demo-echo"), "{stdout}");
    assert!(stdout.contains("open to anyone"), "{stdout}");
    assert!(stdout.contains("OPENAI_API_KEY"), "{stdout}");
    assert!(
        stdout.contains("counters: memory\nusage records: off"),
        "{stdout}"
    );
}

#[test]
fn config_errors_name_the_key_and_line() {
    let cases = [
        (
            "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n[models.\"m\"]\ntargets = [{ provider = \"nope\", model = \"x\" }]\n",
            "line 6",
            "unknown provider 'nope'",
        ),
        (
            "[server]\nlisten = \"127.0.0.1:0\"\nlisen = 1\n",
            "line 3",
            "unknown field `lisen`",
        ),
        (
            "[providers.p]\nadapter = \"builtin:nope\"\nbase_url = \"http://x/v1\"\n",
            "line 2",
            "unknown plugin 'builtin:nope'",
        ),
        (
            "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"http://x/v1\"\ntimeout = \"soon\"\n",
            "line 4",
            "providers.p.timeout",
        ),
        (
            "[[keys]]\nname = \"k\"\nsecret_env = \"SURELY_NOT_SET_ANYWHERE\"\n",
            "line 3",
            "SURELY_NOT_SET_ANYWHERE is not set",
        ),
        (
            "[models.\"m\"]\ntargets = []\n",
            "line 1",
            "at least one target",
        ),
    ];
    for (i, (text, line, says)) in cases.iter().enumerate() {
        let path = write_config(&format!("bad-{i}.toml"), text);
        let out = command()
            .args(["check", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} passed check");
        assert!(
            stderr.contains(line) && stderr.contains(says),
            "case {i}: {stderr}"
        );
    }
}

#[test]
fn check_refuses_usage_and_counter_files_it_cannot_write() {
    // Before: `check` said ok, then `serve` refused to start on the same file.
    let text = "[usage]\nsqlite_path = \"/proc/switchboard-nope/usage.db\"\n\n[counters]\nsqlite_path = \"/proc/switchboard-nope/counters.db\"\n";
    let path = write_config("unwritable.toml", text);
    let out = command()
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[usage] sqlite_path cannot be written")
            && stderr.contains("[counters] sqlite_path cannot be written"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_answers_from_the_shipped_config_with_no_keys() {
    let (path, port) = shipped_config_on_free_ports();
    let child = command()
        .args(["serve", "--config", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    wait_healthy(port).await;
    let client = client();
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let v: Value = client
        .post(&url)
        .json(&json!({ "model": "demo", "messages": [{ "role": "user", "content": "hello" }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo from the switchboard demo provider: hello"
    );

    let text = client.post(&url).json(&json!({ "model": "demo", "stream": true, "messages": [{ "role": "user", "content": "hi" }] }))
        .send().await.unwrap().text().await.unwrap();
    let lines = common::data_lines(&text);
    assert_eq!(lines.last().unwrap(), "[DONE]");
    assert!(lines.len() > 3);

    // An Anthropic client on the demo's Anthropic face: passed through, event by event.
    let messages = format!("http://127.0.0.1:{port}/v1/messages");
    let body = json!({ "model": "demo-claude", "max_tokens": 64, "messages": [{ "role": "user", "content": "hello" }] });
    let v: Value = client
        .post(&messages)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["content"][0]["text"],
        "Echo from the switchboard demo provider: hello"
    );
    assert!(v["id"].as_str().unwrap().starts_with("msg_demo"), "{v}");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = client
        .post(&messages)
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(
        text.trim_end()
            .ends_with(r#"data: {"type":"message_stop"}"#),
        "{text}"
    );

    let r = client
        .post(&url)
        .json(&json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(common::error_message(&v).contains("OPENAI_API_KEY"), "{v}");

    let _ = server.0.kill();
    let _ = server.0.wait();
    let mut stderr = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("open to anyone"), "{stderr}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_stream_finish() {
    let mock = Mock::start().await;
    mock.set_fault("p", Some(Fault::SlowEvents(Duration::from_millis(60))));
    let port = free_port();
    let path = write_config(
        &format!("drain-{port}.toml"),
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"http://{}/p/v1\"\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n",
            mock.addr
        ),
    );
    let child = command()
        .args(["serve", "--config", path.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    wait_healthy(port).await;
    let client = client();
    let mut r = client.post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&json!({ "model": "m", "stream": true, "messages": [{ "role": "user", "content": "one two three four five six" }] }))
        .send().await.unwrap();
    let mut body = String::from_utf8(r.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    while let Some(c) = r.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&c).unwrap());
    }
    assert_eq!(
        common::data_lines(&body).last().unwrap(),
        "[DONE]",
        "the stream was cut by shutdown: {body}"
    );
    let exit = tokio::task::spawn_blocking(move || {
        let s = server.0.wait().unwrap();
        std::mem::forget(server);
        s
    })
    .await
    .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_err(),
        "still accepting after shutdown"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Before: each distinct `user` became a counter key of its own size, so 200 requests
/// with 1 MB `user` values held ~230 MB for the whole window.
#[tokio::test]
async fn distinct_huge_users_do_not_grow_the_gateway() {
    let (api, demo) = (free_port(), free_port());
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{api}\"\n\n[demo]\nlisten = \"127.0.0.1:{demo}\"\n\n[providers.demo]\nadapter = \"builtin:openai\"\nbase_url = \"http://127.0.0.1:{demo}/v1\"\n\n[policies.per-user]\nplugin = \"builtin:token-quota\"\nsettings = {{ limit = 1000000000, window_secs = 3600, per = \"user\" }}\n\n[models.\"demo\"]\ntargets = [{{ provider = \"demo\", model = \"demo-echo\" }}]\npolicies = [\"per-user\"]\n"
    );
    let path = write_config(&format!("users-{api}.toml"), &text);
    let child = command()
        .args(["serve", "--config", path.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _server = Server(child);
    wait_healthy(api).await;
    let client = client();
    let url = format!("http://127.0.0.1:{api}/v1/chat/completions");
    let send = |user: String| {
        client
            .post(&url)
            .json(&json!({ "model": "demo", "user": user, "messages": [{ "role": "user", "content": "hi" }] }))
            .send()
    };
    for i in 0..20 {
        assert_eq!(send(format!("warm-{i}")).await.unwrap().status(), 200);
    }
    let before = rss_kib(pid);
    for i in 0..200 {
        let user = format!("{i:04}{}", "u".repeat(1 << 20));
        let status = send(user).await.unwrap().status();
        assert_eq!(status, 400, "a 1 MB user is refused");
    }
    // Many distinct users of an allowed length are counted, each as one small key.
    for i in 0..2000 {
        let user = format!("{i:04}{}", "v".repeat(250));
        assert_eq!(send(user).await.unwrap().status(), 200);
    }
    let grown = rss_kib(pid).saturating_sub(before);
    eprintln!("RSS grew by {grown} KiB after 200 x 1 MB users and 2000 distinct users");
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
}

#[tokio::test]
async fn check_connects_to_the_shared_store_and_migrates_it() {
    let text = "[store]\npostgres_url = \"postgres://sb@127.0.0.1:1/none\"\n\n[usage]\n";
    let path = write_config("store-down.toml", text);
    let out = command()
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("[store]: postgres"), "{stderr}");

    let pg = crate::common::Postgres::start().await;
    let text = format!("[store]\npostgres_url = \"{}\"\n\n[usage]\n", pg.url());
    let path = write_config("store-up.toml", &text);
    let out = command()
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("usage records: PostgreSQL ([store])"),
        "{stdout}"
    );
    // The migrations ran: the tables are there.
    let tables = pg.psql("SELECT count(*) FROM switchboard_migrations");
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(tables.trim(), shipped.to_string(), "{tables}");
}

#[test]
fn help_and_version_need_no_config() {
    let dir = std::env::temp_dir();
    for args in [
        &["--help"][..],
        &["--version"],
        &["serve", "--help"],
        &["completions", "bash"],
    ] {
        let out = command().current_dir(&dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    let out = command()
        .current_dir(&dir)
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[tokio::test]
async fn the_client_subcommands_talk_to_a_running_gateway() {
    let api = free_port();
    let admin = free_port();
    let text = shipped_config_text(api, admin);
    let usage =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-usage-{api}.db"));
    let text = format!(
        "{text}\n[usage]\nsqlite_path = {:?}\n",
        usage.display().to_string()
    );
    let path = write_config(&format!("cli-client-{api}.toml"), &text);
    let log =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-log-{api}.txt"));
    // The config from SWITCHBOARD_CONFIG, logs as JSON.
    let child = command()
        .args(["--log-format", "json", "serve"])
        .env("SWITCHBOARD_CONFIG", &path)
        .env("SWITCHBOARD_ADMIN_TOKEN", "cli-admin-token")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _server = Server(child);
    wait_healthy(api).await;
    let run = |args: Vec<String>| {
        let out = command()
            .env("SWITCHBOARD_URL", format!("http://127.0.0.1:{api}"))
            .env("SWITCHBOARD_ADMIN_URL", format!("http://127.0.0.1:{admin}"))
            .env("SWITCHBOARD_ADMIN_TOKEN", "cli-admin-token")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    assert!(run(args("models")).lines().any(|l| l.starts_with("demo")));
    let said = run(args("chat --model demo hello there"));
    assert!(said.trim().len() > 2, "{said}");
    let compared = run(args("compare --routes demo,demo-claude hi"));
    assert!(
        compared.contains("== demo ") && compared.contains("== demo-claude "),
        "{compared}"
    );
    let table = run(args("usage --group route"));
    let demo = table
        .lines()
        .find(|l| l.starts_with("demo "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        table.starts_with("route") && demo.split_whitespace().nth(1) == Some("2"),
        "{table}"
    );
    let first = std::fs::read_to_string(&log).unwrap();
    let line = first.lines().next().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(v["fields"].is_object(), "{v}");
}

#[test]
fn plugin_inspect_says_what_a_component_is() {
    let canary = env!("SWITCHBOARD_GUEST_STRATEGY_CANARY");
    let out = command()
        .args(["plugin", "inspect", canary])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("world:     switchboard:plugin/strategy"),
        "{text}"
    );
    assert!(
        text.contains("contract:  0.3.0") && text.contains("links:     yes"),
        "{text}"
    );
    let out = command()
        .args(["plugin", "inspect", "--json", canary])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["exports"].to_string().contains("load-balancer@0.3.0"),
        "{v}"
    );
    assert!(v["compile_ms"].as_f64().unwrap() > 0.0 && v["bytes"].as_u64().unwrap() > 1000);
    let junk = write_config("not-a-component.wasm", "garbage");
    let out = command()
        .args(["plugin", "inspect"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid WebAssembly component"));
}

#[test]
fn plugin_test_runs_cases_in_the_real_engine() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let run = |wasm: &std::path::Path, cases: &str, name: &str| {
        let path = write_config(name, cases);
        command()
            .args(["plugin", "test"])
            .arg(wasm)
            .arg("--cases")
            .arg(path)
            .output()
            .unwrap()
    };
    // A strategy: one case as expected, one not (exit 1, the difference shown).
    let canary = std::path::Path::new(env!("SWITCHBOARD_GUEST_STRATEGY_CANARY"));
    let two = r#"[{"provider": "stable", "model": "v1"}, {"provider": "canary", "model": "v2"}]"#;
    let cases = format!(
        r#"{{"settings": {{"percent": 0}}, "cases": [{{"name": "stable first", "targets": {two}, "expect": [0, 1]}}, {{"name": "wrong", "targets": {two}, "expect": [1, 0]}}]}}"#
    );
    let out = run(canary, &cases, "cases-strategy.json");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ok   stable first: [0,1]") && text.contains("FAIL wrong: [0,1]"),
        "{text}"
    );
    assert!(text.contains("2 cases, 1 failed"), "{text}");
    // A policy and a redactor, from the built-in components.
    for (name, file) in [("budget", "budget.wasm"), ("redact-pii", "redact.wasm")] {
        std::fs::write(dir.join(file), switchboard::builtin::bytes(name).unwrap()).unwrap();
    }
    let out = run(
        &dir.join("budget.wasm"),
        r#"{"settings": {"limit": 100}, "cases": [{"name": "fits", "request": {"key": "k"}, "expect": "allow"}]}"#,
        "cases-policy.json",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(
        &dir.join("redact.wasm"),
        r#"[{"name": "mail", "texts": ["mail ann@example.com"], "expect": ["mail [EMAIL]"]}]"#,
        "cases-redactor.json",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("ok   mail"), "{text}");
}
