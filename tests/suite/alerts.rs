//! `[[alerts]]` through the real gateway: faults injected at the mock provider fire
//! each kind of rule, a local webhook receiver gets the notices (JSON and Slack-shaped,
//! retried when it fails), a cooldown keeps a flapping alert to one message, recovery
//! resolves, and `/admin/alerts` and `/metrics` say what happened.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

use crate::common::*;
use crate::mock::hook::Hook;
use crate::mock::{Fault, Mock};

async fn chat(gw: &Gw, model: &str) -> u16 {
    let body = json!({ "model": model, "messages": user("hi"), "max_tokens": 7 });
    let url = format!("{}/v1/chat/completions", gw.url);
    let r = gw.ask(Method::POST, &url, TEAM_KEY, Some(&body)).await;
    r.status().as_u16()
}

async fn alerts(gw: &Gw) -> Value {
    gw.admin_get("/admin/alerts").await
}

/// Waits (up to 10 s) until `/admin/alerts` shows `rule` firing (or not); the view.
async fn until_firing(gw: &Gw, rule: &str, firing: bool) -> Value {
    let mut view = Value::Null;
    for _ in 0..100 {
        view = alerts(gw).await;
        let is = view["active"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["rule"] == rule));
        if is == firing {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{rule} never became firing={firing}: {view}");
}

fn error_rate_config(hook: &Hook) -> String {
    format!(
        r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x" }}]

[[alerts]]
name = "errors"
kind = "error_rate"
route = "m"
above = 0.5
min_requests = 3
window = "1h"
cooldown = "1h"
webhook = "{}"
"#,
        hook.url
    )
}

#[tokio::test]
async fn an_error_rate_alert_fires_resolves_and_keeps_quiet_in_its_cooldown() {
    let (mock, hook) = (Mock::start().await, Hook::start().await);
    let gw = start(&mock, &error_rate_config(&hook)).await;
    mock.set_fault("p", Some(Fault::Status(500, "{}".into())));
    for _ in 0..4 {
        assert!(chat(&gw, "m").await >= 500);
    }
    let got = hook.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["rule"], "errors");
    assert_eq!(got[0]["state"], "firing");
    assert_eq!(got[0]["subject"], "m");
    assert_eq!(got[0]["value"], 1.0);
    assert!(
        got[0]["message"].as_str().unwrap().contains("4 of 4"),
        "{got:?}"
    );
    let view = until_firing(&gw, "errors", true).await;
    assert_eq!(view["rules"][0]["kind"], "error_rate");
    assert_eq!(view["rules"][0]["webhook"], true);
    assert!(
        !view.to_string().contains(&hook.url),
        "the webhook URL is shown: {view}"
    );

    // Recovery: four failures in ten requests is below half.
    mock.set_fault("p", None);
    for _ in 0..6 {
        assert_eq!(chat(&gw, "m").await, 200);
    }
    let got = hook.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["state"], "resolved");
    until_firing(&gw, "errors", false).await;

    // It fires again within the cooldown: recorded, not sent.
    mock.set_fault("p", Some(Fault::Status(500, "{}".into())));
    for _ in 0..8 {
        chat(&gw, "m").await;
    }
    let view = until_firing(&gw, "errors", true).await;
    let history = view["history"].as_array().unwrap();
    assert_eq!(history.len(), 3, "{view}");
    assert_eq!(history[0]["state"], "firing");
    assert_eq!(history[0]["notified"], false, "{view}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.bodies().len(), 2, "{:?}", hook.bodies());
    let m = gw.metrics_text().await;
    assert!(
        m.contains("switchboard_alerts_total{rule=\"errors\",state=\"firing\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("switchboard_alerts_total{rule=\"errors\",state=\"resolved\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("switchboard_alerts_firing{rule=\"errors\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn a_failing_webhook_is_retried_and_slack_gets_its_shape() {
    let (mock, hook) = (Mock::start().await, Hook::start().await);
    let body = format!(
        r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x" }}]

[[alerts]]
name = "streak"
kind = "failures"
target = "p/x"
above = 3
format = "slack"
retries = 3
timeout = "2s"
webhook = "{}"
"#,
        hook.url
    );
    let gw = start(&mock, &body).await;
    hook.fail_next(2);
    mock.set_fault("p", Some(Fault::Status(500, "{}".into())));
    for _ in 0..2 {
        chat(&gw, "m").await;
    }
    // Two in a row are not three.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.attempts(), 0);
    chat(&gw, "m").await;
    let got = hook.wait_for(1).await;
    assert_eq!(hook.attempts(), 3, "two refusals, then delivered");
    let text = got[0]["text"].as_str().unwrap();
    assert!(text.contains("FIRING") && text.contains("streak"), "{text}");
    assert!(text.contains("m/p/x: 3 consecutive failures"), "{text}");
    // One success ends the run.
    mock.set_fault("p", None);
    assert_eq!(chat(&gw, "m").await, 200);
    let got = hook.wait_for(2).await;
    assert!(
        got[1]["text"].as_str().unwrap().contains("RESOLVED"),
        "{got:?}"
    );
}

fn kinds_config() -> String {
    let hash: String = sha2::Sha256::digest(TEAM_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        r#"
[[keys]]
name = "team"
sha256 = "{hash}"

[policies.key-budget]
plugin = "builtin:budget"
settings = {{ limit = 0.1, warn_at = 0.5 }}

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[providers.q]
adapter = "builtin:openai"
base_url = "{{mock}}/q/v1"

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]
policies = ["key-budget"]

[models."c"]
targets = [{{ provider = "q", model = "y" }}]
breaker = {{ failures = 2, cooldown = "1h" }}

[[alerts]]
name = "budget-warn"
kind = "budget"
budget = "key-budget"
window = "1h"

[[alerts]]
name = "budget-spent"
kind = "budget"
at = "exhausted"
window = "1h"

[[alerts]]
name = "denials"
kind = "denials"
route = "m"
above = 0
window = "1h"

[[alerts]]
name = "circuit"
kind = "circuit"
route = "c"

[[alerts]]
name = "slow"
kind = "latency"
target = "p"
above = 200
window = "1h"

[[alerts]]
name = "reload"
kind = "reload"
"#
    )
}

fn active(view: &Value) -> Vec<String> {
    let mut names: Vec<String> = view["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["rule"].as_str().unwrap(),
                a["subject"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn budgets_denials_circuits_latency_and_reloads_fire() {
    let mock = Mock::start().await;
    let gw = start(&mock, &kinds_config()).await;
    assert_eq!(active(&alerts(&gw).await), Vec::<String>::new());
    // Slow answers cost 25 000 millionths each of a 0.1 budget warned at half: the
    // second passes the warning, the fourth is denied.
    mock.set_fault("p", Some(Fault::Delay(Duration::from_millis(300))));
    for want in [200, 200, 200, 429] {
        assert_eq!(chat(&gw, "m").await, want);
    }
    mock.set_fault("q", Some(Fault::Status(500, "{}".into())));
    for _ in 0..3 {
        chat(&gw, "c").await;
    }
    let mut view = Value::Null;
    for _ in 0..100 {
        view = alerts(&gw).await;
        if active(&view).len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        active(&view),
        [
            "budget-spent key-budget",
            "budget-warn key-budget",
            "circuit c/q/y",
            "denials m",
            "slow m/p/x",
        ],
        "{view}"
    );

    // A refused reload fires; a good one resolves it.
    let g = gw.running.gateway.clone();
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("alerts-reload-{}.toml", std::process::id()));
    *g.reload.path.lock() = Some(path.clone());
    std::fs::write(&path, "[models.\"broken\"\n").unwrap();
    assert!(switchboard::manage::reload::reload(&g).await.is_err());
    until_firing(&gw, "reload", true).await;
    std::fs::write(&path, config_text(&mock, &kinds_config())).unwrap();
    switchboard::manage::reload::reload(&g).await.unwrap();
    // After the reload the admin token is read from the process environment, which the
    // tests leave alone: the gateway is asked directly.
    let mut view = Value::Null;
    for _ in 0..50 {
        view = g.alerts.view(&g.live.load_full(), 100).await;
        if !active(&view).iter().any(|a| a.starts_with("reload")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !active(&view).iter().any(|a| a.starts_with("reload")),
        "{view}"
    );
    let history = view["history"].as_array().unwrap();
    let reload: Vec<&Value> = history.iter().filter(|h| h["rule"] == "reload").collect();
    assert_eq!(reload.len(), 2, "{view}");
    assert_eq!(reload[1]["state"], "firing");
    assert!(
        reload[1]["message"].as_str().unwrap().contains("refused"),
        "{view}"
    );
    assert_eq!(reload[0]["state"], "resolved");
}

#[tokio::test]
async fn a_rule_that_names_what_is_not_there_is_refused() {
    let mock = Mock::start().await;
    let base = "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n\n[models.\"m\"]\ntargets = [{ provider = \"p\", model = \"x\" }]\n";
    for (rule, says) in [
        ("name = \"a\"\nkind = \"error_rate\"", "above is required"),
        (
            "name = \"a\"\nkind = \"errors\"\nabove = 1",
            "is not one of",
        ),
        ("name = \"a\"\nkind = \"error_rate\"\nabove = 2", "fraction"),
        (
            "name = \"a\"\nkind = \"circuit\"\nroute = \"n\"",
            "names no route",
        ),
        (
            "name = \"a\"\nkind = \"circuit\"\ntarget = \"p/z\"",
            "no target",
        ),
        (
            "name = \"a\"\nkind = \"reload\"\nwebhook = \"file:///etc/passwd\"",
            "http",
        ),
        ("name = \"a\"\nkind = \"budget\"\nat = \"soon\"", "warn"),
        (
            "name = \"a\"\nkind = \"reload\"\nformat = \"slack\"",
            "own webhook",
        ),
        (
            "name = \"a\"\nkind = \"spend_rate\"\nabove = 1\ntarget = \"p\"",
            "not a target",
        ),
        (
            "name = \"a\"\nkind = \"reload\"\nseverity = \"dire\"",
            "severity",
        ),
    ] {
        let e = parse(&mock, &format!("{base}\n[[alerts]]\n{rule}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{rule}: {e}");
    }
    let twice = format!(
        "{base}\n[[alerts]]\nname = \"a\"\nkind = \"reload\"\n\n[[alerts]]\nname = \"a\"\nkind = \"reload\"\n"
    );
    assert!(
        parse(&mock, &twice)
            .unwrap_err()
            .to_string()
            .contains("no other alert")
    );
}

#[tokio::test]
async fn a_failing_plugin_fires() {
    let mock = Mock::start().await;
    let hostile = env!("SWITCHBOARD_GUEST_TEST_HOSTILE");
    let body = format!(
        r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[strategies.hostile]
plugin = {hostile:?}

[models."trap"]
strategy = "hostile"
targets = [{{ provider = "p", model = "x" }}, {{ provider = "p", model = "y" }}]

[[alerts]]
name = "plugins"
kind = "plugin"
window = "1h"
"#
    );
    let gw = start(&mock, &body).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(active(&alerts(&gw).await), Vec::<String>::new());
    chat(&gw, "trap").await;
    let view = until_firing(&gw, "plugins", true).await;
    assert_eq!(active(&view), ["plugins hostile@trap"], "{view}");
    assert!(
        view["active"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 failures"),
        "{view}"
    );
}

/// Severity routes a notice: a rule without a webhook of its own goes to its severity's
/// in `[alerting]` (a critical spend rate to the pager, a warning to a Slack-shaped
/// channel), and says its severity; `spend_rate` fires on spend per hour.
#[tokio::test]
async fn severities_route_notices_and_a_spend_rate_fires() {
    let (mock, pager, channel) = (
        Mock::start().await,
        Hook::start().await,
        Hook::start().await,
    );
    let text = format!(
        r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 5000.0, output_price = 5000.0 }}]

[alerting]
critical = {{ webhook = "{}" }}
warning = {{ webhook = "{}", format = "slack" }}

[[alerts]]
name = "burn"
kind = "spend_rate"
above = 1.0
window = "1h"
severity = "critical"

[[alerts]]
name = "errors"
kind = "error_rate"
route = "m"
above = 0.5
min_requests = 2
"#,
        pager.url, channel.url
    );
    let gw = start(&mock, &text).await;
    // Answers of 18 tokens at $5000 per million: $0.09 each; forty of them are $3.60
    // within the hour's window.
    for _ in 0..40 {
        assert_eq!(chat(&gw, "m").await, 200);
    }
    let got = pager.wait_for(1).await;
    assert_eq!(got[0]["rule"], "burn", "{got:?}");
    assert_eq!(
        (got[0]["severity"].as_str(), got[0]["kind"].as_str()),
        (Some("critical"), Some("spend_rate"))
    );
    assert_eq!(got[0]["subject"], "gateway");
    assert!(got[0]["value"].as_f64().unwrap() > 1.0, "{got:?}");
    mock.set_fault("p", Some(Fault::Status(500, "{}".into())));
    for _ in 0..60 {
        chat(&gw, "m").await;
    }
    let said = channel.wait_for(1).await;
    let text = said[0]["text"].as_str().unwrap();
    assert!(
        text.contains("[warning]") && text.contains("`errors`"),
        "{said:?}"
    );
    assert_eq!(pager.bodies().len(), 1, "the warning went to the pager too");
}
