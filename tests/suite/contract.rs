//! Plugin contract 0.2.0 beside 0.1.0 (issue "One request context, plugin contract 0.2
//! beside 0.1, …"): components of both versions, of every world, serve side by side in
//! one gateway; a 0.2.0 component's `validate-settings` refuses a wrong setting at
//! `check`, at start and at reload.

use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;

const ADAPTER_V01: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE_ADAPTER");
const POLICY_V01: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE_POLICY");
const REDACTOR_V01: &str = env!("SWITCHBOARD_GUEST_TEST_V01_REDACTOR");

fn side_by_side() -> String {
    format!(
        r#"
[providers.old]
adapter = {ADAPTER_V01:?}
base_url = "{{mock}}/old/v1"

[providers.new]
adapter = "builtin:openai"
base_url = "{{mock}}/new/v1"

[policies.old-policy]
plugin = {POLICY_V01:?}

[policies.tokens]
plugin = "builtin:token-quota"
settings = {{ limit = 1000, window_secs = 3600, default_output_tokens = 100 }}

[redactors.old-redactor]
plugin = {REDACTOR_V01:?}

[models.old]
strategy = "builtin:round-robin"
targets = [{{ provider = "old", model = "x" }}]
policies = ["old-policy"]
redactors = ["old-redactor"]

[models.new]
strategy = "builtin:cost"
targets = [{{ provider = "new", model = "y" }}]
policies = ["tokens"]
redactors = ["builtin:redact-pii"]
"#
    )
}

#[tokio::test]
async fn components_of_both_contract_versions_serve_side_by_side() {
    let mock = Mock::start().await;
    let gw = start(&mock, &side_by_side()).await;

    let plugins = gw.admin_plugins().await;
    let contract = |name: &str| -> String {
        let list = plugins["plugins"].as_array().unwrap();
        let p = list
            .iter()
            .find(|p| p["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed: {plugins}"));
        p["contract"].as_str().unwrap().to_string()
    };
    for (name, version) in [
        (ADAPTER_V01, "0.1.0"),
        ("builtin:openai", "0.3.0"),
        ("builtin:round-robin", "0.1.0"),
        ("builtin:cost", "0.3.0"),
        ("old-policy", "0.1.0"),
        ("tokens", "0.3.0"),
        ("old-redactor", "0.1.0"),
        ("builtin:redact-pii", "0.2.0"),
    ] {
        assert_eq!(contract(name), version, "{name}");
    }

    // Each route runs through its own adapter, strategy, policy and redactor.
    let text = "classified: write to a@b.example";
    let (s, v) = gw
        .chat(&json!({ "model": "old", "messages": user(text) }))
        .await;
    assert_eq!(s, 200, "{v}");
    let sent = mock.seen("old").pop().unwrap().body;
    let sent = sent["messages"][0]["content"].as_str().unwrap().to_string();
    assert_eq!(
        sent, "[v0.1]: write to a@b.example",
        "the 0.1 redactor ran alone"
    );

    let (s, v) = gw
        .chat(&json!({ "model": "new", "messages": user(text), "n": 2, "max_tokens": 100 }))
        .await;
    assert_eq!(s, 200, "{v}");
    let sent = mock.seen("new").pop().unwrap().body;
    let sent = sent["messages"][0]["content"].as_str().unwrap().to_string();
    assert_eq!(
        sent, "classified: write to [EMAIL]",
        "the 0.2 redactor ran alone"
    );

    // The 0.2 token quota reserves for `n` choices of `max_tokens` each (a 0.1 policy
    // got `max-output-tokens` multiplied): within 1000 tokens, one choice of 600 fits,
    // two do not.
    let ask = |n: u32| json!({ "model": "new", "messages": user("hi"), "n": n, "max_tokens": 600 });
    let (s, v) = gw.chat(&ask(1)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw.chat(&ask(2)).await;
    assert_eq!(s, 429, "{v}");
    assert!(error_message(&v).contains("may need 12"), "{v}");
}

fn refused(setting: &str) -> String {
    format!(
        r#"
[providers.new]
adapter = "builtin:openai"
base_url = "{{mock}}/new/v1"

[policies.limit]
plugin = "builtin:request-limit"
settings = {{ {setting} }}

[models.m]
targets = [{{ provider = "new", model = "y" }}]
policies = ["limit"]
"#
    )
}

#[tokio::test]
async fn a_wrong_setting_is_refused_by_the_plugin_at_check_start_and_reload() {
    let mock = Mock::start().await;
    let bad = config_text(&mock, &refused("limit = \"lots\""));
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("validate-settings-{}.toml", std::process::id()));

    // check
    std::fs::write(&path, &bad).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check passed: {said}");
    assert!(said.contains("limit must be a whole number"), "{said}");

    // start
    switchboard::app::init_crypto();
    let env = env_map();
    let config = switchboard::config::Config::parse(&bad, std::path::Path::new("."), &move |k| {
        env.get(k).cloned()
    })
    .expect("the config itself parses: only the plugin knows the setting is wrong");
    let err = match switchboard::app::start(config).await {
        Ok(_) => panic!("the gateway started with a refused setting"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("limit must be a whole number"), "{err}");

    // reload: refused, and the config in force goes on serving.
    let gw = start(&mock, &refused("limit = 100")).await;
    let g = gw.running.gateway.clone();
    *g.reload.path.lock() = Some(path.clone());
    std::fs::write(&path, config_text(&mock, &refused("limits = 5"))).unwrap();
    let err = switchboard::manage::reload::reload(&g)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no setting 'limits'"), "{err}");
    let (s, v): (u16, Value) = gw
        .chat(&json!({ "model": "m", "messages": user("hi") }))
        .await;
    assert_eq!(s, 200, "{v}");
    let _ = std::fs::remove_file(&path);
}
