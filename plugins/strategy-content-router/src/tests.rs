//! The router's logic on the build machine, against the SDK's fake host.

use switchboard_sdk::strategy::{Guest, LoadBalancer};
use switchboard_sdk::testing::{FakeHost, route_request, target};
use switchboard_sdk::types::{Health, RequestShape};

use super::Router;

fn rules() -> serde_json::Value {
    serde_json::json!([
        { "tag": "vision", "images": true, "only": true },
        { "tag": "code", "regex": "```|\\b(fn|def|class)\\b" },
        { "tag": "cheap", "max_tokens": 50, "keywords": ["hi", "thanks"] },
    ])
}

fn host() -> FakeHost {
    FakeHost::new()
        .setting("rules", rules())
        .setting("default", "general")
        .tags("m", "a", "big", &["general"])
        .tags("m", "b", "coder", &["code"])
        .tags("m", "c", "eye", &["vision"])
        .tags("m", "d", "small", &["cheap"])
}

fn targets() -> Vec<switchboard_sdk::types::TargetStats> {
    vec![
        target("a", "big"),
        target("b", "coder"),
        target("c", "eye"),
        target("d", "small"),
    ]
}

fn pick(text: &str, tokens: u64) -> Vec<u32> {
    let mut req = route_request("m");
    req.text = Some(text.into());
    req.estimated_input_tokens = tokens;
    Router::select(req, targets()).unwrap()
}

#[test]
fn the_first_matching_rule_puts_its_tag_first() {
    host().install();
    assert_eq!(pick("fix this: ```let x = 1```", 400), vec![1, 0, 2, 3]);
    assert_eq!(pick("Hi there!", 10), vec![3, 0, 1, 2]);
    // "hi" but too long for the cheap rule: the default tag.
    assert_eq!(
        pick("hi, summarise this long report", 5000),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn images_go_only_to_vision_targets() {
    host()
        .shape(RequestShape {
            images: true,
            audio: false,
            tools: false,
            json_output: false,
            messages: 1,
        })
        .install();
    assert_eq!(pick("what is in this picture", 800), vec![2]);
}

#[test]
fn a_rule_whose_tag_no_target_has_is_passed_over() {
    host().install();
    let mut req = route_request("m");
    req.text = Some("def main(): pass".into());
    // Without the coder the code rule cannot apply: the default tag's target leads.
    let order = Router::select(req, vec![target("a", "big"), target("d", "small")]).unwrap();
    assert_eq!(order, vec![0, 1]);
}

#[test]
fn open_circuits_go_last_among_equals() {
    host().install();
    let mut ts = targets();
    ts[1].health = Health::Open;
    let mut req = route_request("m");
    req.text = Some("class Foo".into());
    assert_eq!(Router::select(req, ts).unwrap(), vec![1, 0, 2, 3]);
    // The default tag's only target is open: it still leads (the host skips an open
    // circuit), and the others keep config order.
    let mut ts = targets();
    ts[0].health = Health::Open;
    let mut req = route_request("m");
    req.text = Some("good morning".into());
    req.estimated_input_tokens = 400;
    assert_eq!(Router::select(req, ts).unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn bad_settings_are_refused_by_rule() {
    let v = |rules: serde_json::Value| {
        Router::validate_settings(vec![("rules".into(), rules.to_string())])
    };
    assert!(v(rules()).is_ok());
    let e = v(serde_json::json!([{ "tag": "code", "regex": "(" }])).unwrap_err();
    assert!(e.starts_with("rules[0] (tag 'code'): regex:"), "{e}");
    let e = v(serde_json::json!([{ "tag": "x" }])).unwrap_err();
    assert!(e.contains("sets no condition"), "{e}");
    let e = v(serde_json::json!([{ "tag": "x", "min_tokens": 9, "max_tokens": 1 }])).unwrap_err();
    assert!(e.contains("min_tokens 9 is above max_tokens 1"), "{e}");
    let e = v(serde_json::json!([{ "tag": "x", "images": "yes" }])).unwrap_err();
    assert!(e.contains("invalid type"), "{e}");
    let e = Router::validate_settings(vec![("rule".into(), "[]".into())]).unwrap_err();
    assert!(e.contains("unknown field `rule`"), "{e}");
}
