//! Compatible endpoints that differ, through `builtin:openai`'s settings as their
//! presets set them (Mistral refuses `stream_options` and `max_completion_tokens`;
//! Moonshot streams its usage inside the choice), Azure's `/openai/v1` form, and the
//! catalog's prices reaching cost.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

async fn one(mock: &Mock, provider: &str, table: &str) -> Gw {
    start(
        mock,
        &format!(
            "[providers.{provider}]\n{table}\n[models.\"m\"]\ntargets = [{{ provider = \"{provider}\", model = \"upstream-model\" }}]\n"
        ),
    )
    .await
}

#[tokio::test]
async fn mistral_is_not_sent_what_it_refuses() {
    let mock = Mock::start().await;
    let body = json!({ "model": "m", "messages": user("hi"), "max_completion_tokens": 20, "stream": true, "stream_options": { "include_usage": true } });
    // Without the preset's settings Mistral refuses the request (as it does).
    let plain = one(&mock, "mistral", "adapter = \"builtin:openai\"\nbase_url = \"{mock}/mistral/v1\"\napi_key_env = \"PROVIDER_KEY\"\n").await;
    let r = plain.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 422, "the provider's refusal, as it is");
    drop(plain);
    let gw = one(
        &mock,
        "mistral",
        "preset = \"mistral\"\nbase_url = \"{mock}/mistral/v1\"\napi_key_env = \"PROVIDER_KEY\"\n",
    )
    .await;
    let (status, lines) = gw.chat_stream(&body).await;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(crate::conformance::assemble(&lines).0, "mistral says: hi");
    let sent = mock.seen("mistral").last().unwrap().body.clone();
    assert!(sent.get("stream_options").is_none(), "{sent}");
    assert_eq!(sent["max_tokens"], 20, "renamed: {sent}");
    assert!(sent.get("max_completion_tokens").is_none());
    assert_eq!(sent["model"], "upstream-model");
}

#[tokio::test]
async fn moonshots_streamed_usage_is_counted() {
    let mock = Mock::start().await;
    let gw = one(&mock, "moonshot", "preset = \"moonshot\"\nbase_url = \"{mock}/moonshot/v1\"\napi_key_env = \"PROVIDER_KEY\"\n").await;
    let (status, lines) = gw.chat_stream(&json!({ "model": "m", "messages": user("hi"), "stream": true, "stream_options": { "include_usage": true } })).await;
    assert_eq!(status, 200);
    let (text, _, finish, usage) = crate::conformance::assemble(&lines);
    assert_eq!(
        (text.as_str(), finish.as_deref()),
        ("moonshot says: hi", Some("stop"))
    );
    let usage = usage.expect("the usage, moved to where clients read it");
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(11), Some(7))
    );
    let m = gw.metrics_text().await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("gen_ai_client_token_usage_sum{")
                && l.contains("\"output\"")
                && l.ends_with(" 7")),
        "the stream's tokens are counted: {m}"
    );
}

#[tokio::test]
async fn azure_v1_takes_the_model_in_the_body_and_a_bearer_token() {
    let mock = Mock::start().await;
    let gw = one(&mock, "az", "preset = \"azure-openai\"\nbase_url = \"{mock}/az\"\napi_key_env = \"PROVIDER_KEY\"\nsettings = { api = \"v1\", auth = \"bearer\" }\n").await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("hi") }))
        .await;
    assert_eq!(status, 200, "{v}");
    let seen = &mock.seen("az")[0];
    assert_eq!(seen.path, "/openai/v1/chat/completions");
    assert_eq!(
        seen.query.as_deref(),
        Some("api-version=2024-10-21"),
        "the preset's version, kept when set"
    );
    assert_eq!(seen.body["model"], "upstream-model");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {PROVIDER_KEY}").as_str()
    );
    assert!(seen.headers.get("api-key").is_none());
}

#[tokio::test]
async fn bad_quirk_settings_and_presets_are_refused_by_name() {
    switchboard::app::init_crypto();
    let parse = |table: &str| {
        let text = format!(
            "[providers.p]\n{table}\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n"
        );
        switchboard::config::Config::parse(&text, std::path::Path::new("."), &|_| Some("k".into()))
    };
    let e = parse("preset = \"nope\"").unwrap_err().to_string();
    assert!(
        e.contains("unknown preset 'nope'") && e.contains("gemini"),
        "{e}"
    );
    let e = parse("preset = \"azure-openai\"").unwrap_err().to_string();
    assert!(
        e.contains("providers.p.base_url") && e.contains("your own resource"),
        "{e}"
    );
    let e = parse("adapter = \"builtin:openai\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1:") && e.contains("base_url") && e.contains("preset"),
        "{e}"
    );
    // Adapter settings are the adapter's to check, as it loads.
    let mut refused = Vec::new();
    for table in [
        "preset = \"mistral\"\nsettings = { stream_usage = \"elsewhere\" }",
        "preset = \"bedrock\"\nsettings = { region = \"Mars 1\" }",
        "preset = \"azure-openai\"\nbase_url = \"https://r.openai.azure.com\"\nsettings = { api = \"v2\" }",
        "preset = \"cohere\"\nsettings = { input_type = \"poetry\" }",
        "preset = \"gemini\"\nsettings = { temperature = 1 }",
    ] {
        let config = parse(table).expect("the config parses");
        match switchboard::app::start(config).await {
            Ok(_) => panic!("started with {table}"),
            Err(e) => refused.push(e.to_string()),
        }
    }
    let bad = |i: usize| refused[i].clone();
    for (i, what) in [
        "stream_usage",
        "region",
        "api must be",
        "input_type",
        "temperature",
    ]
    .iter()
    .enumerate()
    {
        assert!(bad(i).contains(what), "{}", bad(i));
    }
}

/// A target without prices is priced from its preset's catalog entry (cached input
/// at its own price); a target's own prices win.
#[tokio::test]
async fn catalog_prices_reach_the_cost() {
    let mock = Mock::start().await;
    let preset = switchboard::catalog::preset("gemini").unwrap();
    let (model, prices) = preset
        .models
        .iter()
        .find(|(_, p)| p.cached_input.is_some_and(|c| c != p.input))
        .expect("a Gemini model with a cache price");
    let gw = start(&mock, &format!(
        "[providers.p]\npreset = \"gemini\"\nbase_url = \"{{mock}}/p/v1beta\"\napi_key_env = \"PROVIDER_KEY\"\n\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"{model}\" }}]\n\n[models.\"own\"]\ntargets = [{{ provider = \"p\", model = \"{model}\", input_price = 1.0, output_price = 2.0 }}]\n"
    )).await;
    let cost = |v: &Value| v["choices"][0].clone();
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert_eq!(status, 200, "{v}");
    let _ = cost(&v);
    // The mock: 11 prompt tokens (2 cached), 7 completion tokens.
    // Costs are kept in millionths of the currency, per request.
    let expected =
        ((9.0 * prices.input + 2.0 * prices.cached_input.unwrap() + 7.0 * prices.output).round())
            / 1e6;
    let own = (11.0 * 1.0 + 7.0 * 2.0) / 1e6;
    gw.chat(&json!({ "model": "own", "messages": user("x") }))
        .await;
    let m = gw.metrics_text().await;
    let sum = |route: &str| -> f64 {
        m.lines()
            .find(|l| {
                l.starts_with("switchboard_request_cost_usd_sum{")
                    && l.contains(&format!("route=\"{route}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no cost for {route}: {m}"))
    };
    assert!(
        (sum("m") - expected).abs() < 1e-9,
        "{} vs {expected}",
        sum("m")
    );
    assert!((sum("own") - own).abs() < 1e-9, "{} vs {own}", sum("own"));
}

/// `switchboard check` says which preset a provider starts from and where each
/// target's prices come from.
#[test]
fn check_names_presets_and_price_sources() {
    let preset = switchboard::catalog::preset("deepseek").unwrap();
    let (model, p) = preset.models.iter().next().unwrap();
    let text = format!(
        "[providers.ds]\npreset = \"deepseek\"\n\n[providers.local]\npreset = \"ollama\"\n\n[models.\"m\"]\ntargets = [{{ provider = \"ds\", model = \"{model}\" }}, {{ provider = \"ds\", model = \"custom\", input_price = 1.5, output_price = 3 }}, {{ provider = \"local\", model = \"llama3\" }}]\n"
    );
    let path = crate::cli::write_config("presets-check.toml", &text);
    let out = crate::cli::command()
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("provider ds: preset deepseek"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "m ds/{model}: {} / {} / {} (catalog preset deepseek, checked {})",
            p.input,
            p.cached_input.unwrap_or(p.input),
            p.output,
            preset.checked
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("m ds/custom: 1.5 / 1.5 / 3 (set in config)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("m local/llama3: no price (counted as free)"),
        "{stdout}"
    );
}

/// A budget reserves and charges at the catalog's prices for a target that sets none:
/// a budget smaller than one answer's reservation refuses a priced route and lets a
/// route the catalog does not price through (it counts as free).
#[tokio::test]
async fn budgets_use_catalog_prices() {
    let mock = Mock::start().await;
    let preset = switchboard::catalog::preset("gemini").unwrap();
    let (model, _) = preset.models.iter().find(|(_, p)| p.input > 0.0).unwrap();
    let gw = start(&mock, &format!(
        "[policies.tiny]\nplugin = \"builtin:budget\"\nsettings = {{ limit = 0.000001, period = \"month\" }}\n\n[providers.p]\npreset = \"gemini\"\nbase_url = \"{{mock}}/p/v1beta\"\napi_key_env = \"PROVIDER_KEY\"\n\n[models.\"priced\"]\ntargets = [{{ provider = \"p\", model = \"{model}\" }}]\npolicies = [\"tiny\"]\n\n[models.\"unpriced\"]\ntargets = [{{ provider = \"p\", model = \"not-in-the-catalog\" }}]\npolicies = [\"tiny\"]\n"
    )).await;
    let (status, v) = gw
        .chat(&json!({ "model": "priced", "messages": user("x"), "max_tokens": 100 }))
        .await;
    assert_eq!(status, 429, "{v}");
    assert!(error_message(&v).contains("tiny"), "{v}");
    assert_eq!(mock.count("p"), 0);
    let (status, v) = gw
        .chat(&json!({ "model": "unpriced", "messages": user("x"), "max_tokens": 100 }))
        .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn dashscope_streams_when_its_header_asks_with_incremental_output() {
    let mock = Mock::start().await;
    let table =
        "preset = \"dashscope\"\nbase_url = \"{mock}/ds/api/v1\"\napi_key_env = \"PROVIDER_KEY\"\n";
    let gw = one(&mock, "ds", table).await;
    let (status, lines) = gw
        .chat_stream(&json!({ "model": "m", "messages": user("hi"), "stream": true }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(crate::conformance::assemble(&lines).0, "ds says: hi");
    let seen = &mock.seen("ds")[0];
    assert_eq!(seen.headers["x-dashscope-sse"], "enable");
    assert_eq!(seen.body["parameters"]["incremental_output"], true);
    assert!(
        seen.body.get("stream").is_none(),
        "DashScope's body has no stream"
    );
}

/// Qianfan and Tencent answer their errors with HTTP 200, a stream request's too (as
/// one JSON document): each becomes the error its code says, never a broken stream.
#[tokio::test]
async fn errors_sent_with_200_are_errors_whole_or_streamed() {
    use crate::mock::{Fault, hunyuan, qianfan};
    let mock = Mock::start().await;
    let table = "preset = \"qianfan-legacy\"\nbase_url = \"{mock}/qf\"\ncredential = { token_url = \"{mock}/qf/oauth/2.0/token\" }\n";
    let gw = one(&mock, "qf", table).await;
    let limited = qianfan::error_body(429, "Open api qps request limit reached");
    mock.push_fault("qf", Fault::Status(200, limited));
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert_eq!(status, 429, "{v}");
    assert!(error_message(&v).contains("qps request limit"), "{v}");
    drop(gw);
    let table = "preset = \"hunyuan-native\"\nbase_url = \"{mock}/hy\"\ncredential = { secret_id_env = \"MOCK_TC_ID\", secret_key_env = \"MOCK_TC_KEY\", service = \"hunyuan\" }\n";
    let gw = one(&mock, "hy", table).await;
    let limited = hunyuan::error_body(429, "request limit exceeded");
    mock.push_fault("hy", Fault::Status(200, limited));
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "m", "messages": user("x"), "stream": true }),
        )
        .await;
    assert_eq!(r.status(), 429, "a streamed request refused with 200 JSON");
    let v: Value = r.json().await.unwrap();
    assert!(error_message(&v).contains("request limit exceeded"), "{v}");
}

/// A preset priced in yuan needs a rate to dollars, and its costs are converted with it.
#[tokio::test]
async fn cny_prices_need_a_rate_and_are_converted() {
    let mock = Mock::start().await;
    let preset = switchboard::catalog::preset("dashscope-cn").unwrap();
    assert_eq!(preset.currency.as_deref(), Some("CNY"));
    let (model, prices) = preset
        .models
        .iter()
        .find(|(_, p)| p.input > 0.0)
        .expect("a priced model");
    let body = |fx: &str| {
        format!(
            "{fx}[providers.p]\npreset = \"dashscope-cn\"\nbase_url = \"{{mock}}/p/api/v1\"\napi_key_env = \"PROVIDER_KEY\"\n\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"{model}\" }}]\n"
        )
    };
    let e = parse(&mock, &body("")).err().unwrap().to_string();
    assert!(e.contains("in CNY") && e.contains("[catalog] fx"), "{e}");
    let gw = start(&mock, &body("[catalog]\nfx = { CNY = 0.14 }\n\n")).await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert_eq!(status, 200, "{v}");
    // The mock: 11 prompt tokens (2 cached), 7 completion tokens; millionths per request.
    let cached = prices.cached_input.unwrap_or(prices.input);
    let cny = 9.0 * prices.input + 2.0 * cached + 7.0 * prices.output;
    let expected = (cny * 0.14).round() / 1e6;
    let m = gw.metrics_text().await;
    let got: f64 = m
        .lines()
        .find(|l| l.starts_with("switchboard_request_cost_usd_sum{") && l.contains("route=\"m\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("a cost");
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
}
