//! Test harness: starts the real gateway (router, listeners, wasmtime, built-in
//! plugin components) on loopback port 0 from a config snippet, next to the mock.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::app::{self, Running};
use switchboard::config::Config;

use crate::mock::Mock;

mod servers;
pub use servers::{Postgres, Redis};

pub const PROVIDER_KEY: &str = "sk-provider-secret-0123456789";
pub const TEAM_KEY: &str = "sb-team-secret-abcdef";
pub const ADMIN_TOKEN: &str = "admin-token-xyz";

pub struct Gw {
    pub running: Running,
    pub url: String,
    pub admin: String,
    pub client: reqwest::Client,
}

pub fn env_map() -> HashMap<String, String> {
    use crate::mock::hunyuan::{TC_SECRET_ID, TC_SECRET_KEY};
    use crate::mock::native::{AWS_KEY_ID, AWS_SECRET};
    [
        ("PROVIDER_KEY", PROVIDER_KEY),
        ("TEAM_KEY", TEAM_KEY),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("MOCK_AWS_ID", AWS_KEY_ID),
        ("MOCK_AWS_SECRET", AWS_SECRET),
        ("MOCK_TC_ID", TC_SECRET_ID),
        ("MOCK_TC_KEY", TC_SECRET_KEY),
        ("QIANFAN_AK", crate::mock::tokens::QIANFAN_AK),
        ("QIANFAN_SK", crate::mock::tokens::QIANFAN_SK),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The config text the tests use: loopback port 0, the admin listener, a plugin
/// cache under the target dir, then `body` with `{mock}` replaced by the mock's URL.
pub fn config_text(mock: &Mock, body: &str) -> String {
    config_text_with(mock, "", body)
}

/// `config_text` with `plugins` (lines of the `[plugins]` table) added.
pub fn config_text_with(mock: &Mock, plugins: &str, body: &str) -> String {
    let cache = format!("{}/plugin-cache", env!("CARGO_TARGET_TMPDIR"));
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"5s\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"ADMIN_TOKEN\"\n\n[plugins]\ncache_dir = {cache:?}\n{plugins}\n\n{}",
        body.replace("{mock}", &format!("http://{}", mock.addr))
    )
}

pub fn parse(mock: &Mock, body: &str) -> Result<Config, switchboard::config::ConfigError> {
    let env = env_map();
    Config::parse(
        &config_text(mock, body),
        std::path::Path::new("."),
        &move |k| env.get(k).cloned(),
    )
}

pub async fn start(mock: &Mock, body: &str) -> Gw {
    start_with(mock, "", body).await
}

/// `start` with `plugins` (lines of the `[plugins]` table) added to the config.
pub async fn start_with(mock: &Mock, plugins: &str, body: &str) -> Gw {
    start_env(mock, plugins, body, &[]).await
}

/// `start_with` where the config also sees the variables `extra`.
pub async fn start_env(mock: &Mock, plugins: &str, body: &str, extra: &[(&str, &str)]) -> Gw {
    app::init_crypto();
    let mut env = env_map();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::parse(
        &config_text_with(mock, plugins, body),
        std::path::Path::new("."),
        &move |k| env.get(k).cloned(),
    )
    .expect("test config is valid");
    let running = app::start(config).await.expect("gateway starts");
    let url = format!("http://{}", running.api_addr);
    let admin = format!("http://{}", running.admin_addr.expect("admin listener"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    Gw {
        running,
        url,
        admin,
        client,
    }
}

impl Gw {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `method url` with `key` as the bearer token (and a JSON body, if any).
    pub async fn ask(
        &self,
        method: reqwest::Method,
        url: &str,
        key: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method, url).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn chat(&self, body: &Value) -> (u16, Value) {
        let r = self.post("/v1/chat/completions", body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sends a streaming chat request and collects the `data:` payloads.
    pub async fn chat_stream(&self, body: &Value) -> (u16, Vec<String>) {
        let r = self.post("/v1/chat/completions", body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, data_lines(&text))
    }

    /// An admin API call with the admin token: its status and JSON body (`Null` if none).
    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_health(&self) -> Value {
        self.admin_get("/admin/health").await
    }

    pub async fn admin_plugins(&self) -> Value {
        self.admin_get("/admin/plugins").await
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin_call(reqwest::Method::GET, path).await
    }

    pub async fn admin_post(&self, path: &str) -> Value {
        self.admin_call(reqwest::Method::POST, path).await
    }

    async fn admin_call(&self, method: reqwest::Method, path: &str) -> Value {
        self.client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The Prometheus exposition at `/metrics` (no token needed).
    pub async fn metrics_text(&self) -> String {
        let r = self
            .client
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "no token needed for /metrics");
        r.text().await.unwrap()
    }
}

/// A loopback port free at the time of asking (for a gateway binary's listeners).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The hex SHA-256 of `s` (what `[[keys]] sha256` holds).
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn data_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

pub fn user(text: &str) -> Value {
    json!([{ "role": "user", "content": text }])
}

/// Asserts OpenAI's error shape and returns the message.
pub fn error_message(v: &Value) -> String {
    let e = &v["error"];
    assert!(e["message"].is_string(), "not an OpenAI error: {v}");
    assert!(e["type"].is_string(), "not an OpenAI error: {v}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "not an OpenAI error: {v}"
    );
    e["message"].as_str().unwrap().to_string()
}

/// A python with the packages the tests drive switchboard with (the official OpenAI
/// and Anthropic SDKs, the Prometheus client's text parser): a venv under the target
/// dir, made once.
pub fn python_venv() -> std::path::PathBuf {
    static VENV: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(make_python_venv).clone()
}

fn make_python_venv() -> std::path::PathBuf {
    use std::process::Command;
    let venv = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sdk-venv");
    let python = venv.join("bin").join("python3");
    let ready = |p: &std::path::PathBuf| {
        Command::new(p)
            .args([
                "-c",
                "import openai, anthropic, prometheus_client, playwright",
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for the SDK and exposition tests");
        assert!(
            made.success(),
            "cannot create a virtualenv at {}",
            venv.display()
        );
    }
    let pip = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args([
            "openai>=1.66,<3",
            "anthropic>=0.40,<1",
            "prometheus_client>=0.20,<1",
            "playwright>=1.40,<2",
        ])
        .status()
        .expect("pip runs");
    assert!(pip.success(), "pip could not install the test packages");
    assert!(ready(&python));
    python
}

/// The npm packages the JavaScript client tests use (the Vercel AI SDK and its OpenAI
/// provider), installed once under the target dir from the npm registry.
pub fn node_sdk_dir() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(make_node_sdk).clone()
}

fn make_node_sdk() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-sdk");
    let modules = dir.join("node_modules");
    let ready = ["ai", "@ai-sdk/openai"]
        .iter()
        .all(|p| modules.join(p).join("package.json").exists());
    if !ready {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            r#"{ "private": true, "type": "module" }"#,
        )
        .unwrap();
        let npm = std::process::Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "ai@6",
                "@ai-sdk/openai@3",
            ])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the JavaScript client tests");
        assert!(npm.success(), "npm could not install the test packages");
    }
    dir
}

/// Runs one of `tests/sdk/*.mjs` with Node.js (next to the installed packages) with
/// `args` and returns the JSON it prints; fails the test with its output if it fails.
pub async fn run_node_script(script: &str, args: Vec<String>) -> Value {
    let dir = tokio::task::spawn_blocking(node_sdk_dir).await.unwrap();
    let src = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let path = dir.join(script);
    std::fs::copy(&src, &path).unwrap();
    run_json("node".into(), path.display().to_string(), args).await
}

/// Runs `program script args…` off the runtime and returns the JSON it prints; fails the
/// test with its output if it fails.
async fn run_json(program: std::path::PathBuf, script: String, args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(program)
            .arg(script)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Runs `tests/browser/{script}` with the test virtualenv's Python and `args`; its
/// standard output, once it has succeeded (the test fails with its output otherwise).
pub async fn run_browser_check(script: &str, args: Vec<String>) -> String {
    // One Chromium at a time: several at once on two cores time each other out.
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE.lock().await;
    let python = tokio::task::spawn_blocking(python_venv).await.unwrap();
    let path = format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(path)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Reassembles a streamed answer's text and says whether it ended with [DONE].
pub fn streamed_text(lines: &[String]) -> (String, bool, Option<Value>) {
    let mut text = String::new();
    let mut usage = None;
    for l in lines {
        if l == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk", "{v}");
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if v["usage"].is_object() {
            usage = Some(v["usage"].clone());
        }
    }
    (
        text,
        lines.last().map(String::as_str) == Some("[DONE]"),
        usage,
    )
}

/// Runs one of `tests/sdk/*.py` in the test venv with `args` and returns the JSON it
/// prints; fails the test with its output if it fails.
pub async fn run_sdk_script(script: &str, args: Vec<String>) -> Value {
    let python = tokio::task::spawn_blocking(python_venv).await.unwrap();
    let path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    run_json(python, path, args).await
}

/// A gateway key (`team`, from `TEAM_KEY`), an OpenAI-compatible provider `oa` and an
/// Anthropic one `an` on the mock, route `m` to `oa`'s `gpt-x` and `claude` to `an`'s
/// `claude-x`: what the client-protocol tests share.
pub const TWO_PROVIDERS: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[providers.oa]
adapter = "builtin:openai"
base_url = "{mock}/oa/v1"
api_key_env = "PROVIDER_KEY"

[providers.an]
adapter = "builtin:anthropic"
base_url = "{mock}/an/v1"
api_key_env = "PROVIDER_KEY"

[models."m"]
targets = [{ provider = "oa", model = "gpt-x" }]

[models."claude"]
targets = [{ provider = "an", model = "claude-x" }]
"#;

/// Tests that load both cores for minutes (nested toolchain builds) hold this shared;
/// a test that measures latency holds it exclusively, so it is not measuring them.
static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Held by a (synchronous) test that runs toolchains; many may run together.
pub fn cpu_heavy() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CPU.blocking_read()
}

/// `cpu_heavy` for an async test (one compiling large components, say).
pub async fn cpu_heavy_async() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CPU.read().await
}

/// Held by a test whose assertions depend on timing: no toolchain runs meanwhile.
pub async fn timing_sensitive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().await
}
