//! Credentials the host obtains: each token kind against its mock endpoint (one fetch
//! for a crowd, a refresh when the token runs out, a failed refresh failing over and
//! naming no secret), the token where its kind says it goes, and config mistakes.

use crate::common::*;
use crate::mock::tokens::{CLIENT_ID, CLIENT_SECRET, QIANFAN_AK, QIANFAN_SK};
use crate::mock::{Fault, Mock};
use serde_json::json;

const SECRET_ENV: &[(&str, &str)] = &[
    ("MOCK_CLIENT_SECRET", CLIENT_SECRET),
    ("QIANFAN_AK", QIANFAN_AK),
    ("QIANFAN_SK", QIANFAN_SK),
];

fn entra_provider(name: &str) -> String {
    format!(
        "[providers.{name}]\npreset = \"azure-openai\"\nbase_url = \"{{mock}}/{name}\"\n\
         credential = {{ kind = \"entra\", tenant = \"contoso\", token_url = \"{{mock}}/{name}/oauth2/v2.0/token\", \
         client_id = \"{CLIENT_ID}\", client_secret_env = \"MOCK_CLIENT_SECRET\" }}\n"
    )
}

fn route(targets: &str) -> String {
    format!("[models.\"m\"]\ntargets = [{targets}]\n")
}

#[tokio::test]
async fn an_entra_token_is_fetched_once_for_two_hundred_concurrent_requests() {
    let mock = Mock::start().await;
    let body = entra_provider("p") + &route("{ provider = \"p\", model = \"gpt-4o\" }");
    let gw = start_env(&mock, "", &body, SECRET_ENV).await;
    let gw = std::sync::Arc::new(gw);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            gw.chat(&json!({ "model": "m", "messages": user(&format!("hi {i}")) }))
                .await
        }));
    }
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(mock.token_fetches("p"), 1, "one fetch for the crowd");
    let seen = mock.seen("p");
    let auth = seen[0].headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("Bearer eyJ0eXAiOiJKV1Qi."), "{auth}");
    assert!(
        seen.iter().all(|s| !s.headers.contains_key("api-key")),
        "the token replaces Azure's api-key header"
    );
}

#[tokio::test]
async fn a_token_is_refreshed_when_it_runs_out() {
    let mock = Mock::start().await;
    mock.token_life("p", 2);
    let body = entra_provider("p") + &route("{ provider = \"p\", model = \"gpt-4o\" }");
    let gw = start_env(&mock, "", &body, SECRET_ENV).await;
    let body = json!({ "model": "m", "messages": user("x") });
    let ask = || gw.chat(&body);
    assert_eq!(ask().await.0, 200);
    assert_eq!(ask().await.0, 200);
    assert_eq!(mock.token_fetches("p"), 1);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, v) = ask().await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(mock.token_fetches("p"), 2, "refreshed once it ran out");
}

/// While one request refreshes, the others keep the token that has not expired yet
/// rather than waiting on the token endpoint.
#[tokio::test]
async fn a_refresh_does_not_hold_up_requests_that_still_have_a_valid_token() {
    let mock = Mock::start().await;
    mock.token_life("p", 5);
    let body = entra_provider("p") + &route("{ provider = \"p\", model = \"gpt-4o\" }");
    let gw = std::sync::Arc::new(start_env(&mock, "", &body, SECRET_ENV).await);
    assert_eq!(
        gw.chat(&json!({ "model": "m", "messages": user("x") }))
            .await
            .0,
        200
    );
    // The token was fetched before now: it is refreshed from 4.5 s after its fetch
    // began, and expires at 5 s.
    let fetched_by = tokio::time::Instant::now();
    mock.token_delay("p", 1000);
    tokio::time::sleep_until(fetched_by + std::time::Duration::from_millis(4550)).await;
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            gw.chat(&json!({ "model": "m", "messages": user("y") }))
                .await
                .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let old: Vec<bool> = mock.seen("p")[1..]
        .iter()
        .map(|s| {
            s.headers["authorization"]
                .to_str()
                .unwrap()
                .contains(".p-1-")
        })
        .collect();
    assert_eq!(
        old.iter().filter(|o| **o).count(),
        4,
        "one refreshed, four went on: {old:?}"
    );
    assert_eq!(mock.token_fetches("p"), 2);
}

/// A provider that answers 401 has revoked the token: the next request fetches anew.
#[tokio::test]
async fn a_token_the_provider_refuses_is_not_sent_again() {
    let mock = Mock::start().await;
    let body = entra_provider("p") + &route("{ provider = \"p\", model = \"gpt-4o\" }");
    let gw = start_env(&mock, "", &body, SECRET_ENV).await;
    let body = json!({ "model": "m", "messages": user("x") });
    let ask = || gw.chat(&body);
    assert_eq!(ask().await.0, 200);
    let revoked = r#"{"error":{"message":"token revoked","type":"invalid_request_error"}}"#;
    mock.push_fault("p", Fault::Status(401, revoked.into()));
    assert_eq!(ask().await.0, 502);
    assert_eq!(ask().await.0, 200);
    assert_eq!(mock.token_fetches("p"), 2, "refetched after the 401");
}

#[tokio::test]
async fn a_failed_refresh_fails_over_and_names_no_secret() {
    let mock = Mock::start().await;
    mock.fail_tokens("p", Some(503));
    let body = entra_provider("p")
        + "[providers.q]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/q/v1\"\napi_key_env = \"PROVIDER_KEY\"\n"
        + &route("{ provider = \"p\", model = \"gpt-4o\" }, { provider = \"q\", model = \"x\" }")
        + "[models.\"only-p\"]\ntargets = [{ provider = \"p\", model = \"gpt-4o\" }]\n";
    let gw = start_env(&mock, "", &body, SECRET_ENV).await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("hello") }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "q says: hello");
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "only-p", "messages": user("x") }),
        )
        .await;
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(text.contains("token endpoint answered 503"), "{text}");
    // Its code, not its description (which may name a tenant or a trace).
    assert!(!text.contains("the token service is down"), "{text}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    // A crowd inside the failure's hold does not hammer the endpoint.
    let before = mock.token_fetches("p");
    for _ in 0..5 {
        gw.chat(&json!({ "model": "only-p", "messages": user("x") }))
            .await;
    }
    assert!(
        mock.token_fetches("p") <= before + 1,
        "{}",
        mock.token_fetches("p")
    );
    // It recovers once the endpoint does.
    mock.fail_tokens("p", None);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, v) = gw
        .chat(&json!({ "model": "only-p", "messages": user("back") }))
        .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn a_google_service_account_signs_its_assertion_and_sends_the_token_as_bearer() {
    let mock = Mock::start().await;
    let body = "[providers.p]\npreset = \"gemini\"\nbase_url = \"{mock}/p/v1beta\"\n\
        credential = { kind = \"google\", key_file = \"tests/fixtures/google-service-account.json\", token_url = \"{mock}/p/google/token\" }\n"
        .to_string()
        + &route("{ provider = \"p\", model = \"gemini-2.5-flash\" }");
    let gw = start_env(&mock, "", &body, SECRET_ENV).await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("hello") }))
        .await;
    assert_eq!(status, 200, "{v}");
    let seen = &mock.seen("p")[0];
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("Bearer ya29.c."), "{auth}");
    assert!(
        !seen.query.as_deref().unwrap_or("").contains("key="),
        "no API key in the query: {:?}",
        seen.query
    );
    // The private key is a secret like any other.
    let key = std::fs::read_to_string("tests/fixtures/google-service-account.json").unwrap();
    let pem: serde_json::Value = serde_json::from_str(&key).unwrap();
    let pem = pem["private_key"].as_str().unwrap();
    let line = pem.lines().nth(3).unwrap();
    mock.push_fault("p", Fault::Says(format!("leak {pem}"), 5));
    let (_, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert!(!v.to_string().contains(line), "{v}");
}

#[tokio::test]
async fn the_metadata_server_and_qianfans_exchange_give_tokens_too() {
    let mock = Mock::start().await;
    let body = "[providers.g]\npreset = \"gemini\"\nbase_url = \"{mock}/g/v1beta\"\n\
        credential = { kind = \"gce-metadata\", metadata_url = \"{mock}/g\" }\n\
        [providers.b]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/b/v1\"\n\
        credential = { kind = \"qianfan\", token_url = \"{mock}/b/oauth/2.0/token\", api_key_env = \"QIANFAN_AK\", secret_key_env = \"QIANFAN_SK\" }\n"
        .to_string()
        + &route("{ provider = \"g\", model = \"gemini-2.5-flash\" }")
        + "[models.\"ernie\"]\ntargets = [{ provider = \"b\", model = \"ernie-4.5\" }]\n";
    let gw = start_env(&mock, "", &body, SECRET_ENV).await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("a") }))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = gw
        .chat(&json!({ "model": "ernie", "messages": user("b") }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((mock.token_fetches("g"), mock.token_fetches("b")), (1, 1));
    let issued = mock.seen("b");
    let last = issued.last().unwrap();
    let auth = last.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("Bearer 24.c."),
        "where the adapter puts a key: {auth}"
    );
    // The token is scrubbed from what goes out, as a provider key is.
    let token = auth.trim_start_matches("Bearer ").to_string();
    mock.push_fault("b", Fault::Says(format!("your token is {token}"), 4));
    let (_, v) = gw
        .chat(&json!({ "model": "ernie", "messages": user("c") }))
        .await;
    let said = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        !said.contains(&token) && said.contains("[REDACTED]"),
        "{said}"
    );
}

#[tokio::test]
async fn credential_mistakes_are_config_errors_and_a_missing_secret_makes_the_provider_inactive() {
    let mock = Mock::start().await;
    let bad = |c: &str| {
        let body = format!(
            "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/p/v1\"\n{c}\n{}",
            route("{ provider = \"p\", model = \"x\" }")
        );
        parse(&mock, &body).err().map(|e| e.to_string())
    };
    let e = bad("credential = { kind = \"kerberos\" }").unwrap();
    assert!(
        e.contains("providers.p.credential.kind") && e.contains("entra"),
        "{e}"
    );
    let e =
        bad("api_key_env = \"PROVIDER_KEY\"\ncredential = { kind = \"gce-metadata\" }").unwrap();
    assert!(e.contains("one or the other"), "{e}");
    let e = bad("credential = { kind = \"entra\", client_id = \"a\", client_secret_env = \"PROVIDER_KEY\" }").unwrap();
    assert!(e.contains("tenant"), "{e}");
    let e =
        bad("credential = { kind = \"google\", key_file = \"tests/fixtures/codex_request.json\" }")
            .unwrap();
    assert!(e.contains("key_file"), "{e}");
    assert!(bad("credential = { kind = \"tencent\", secret_id_env = \"PROVIDER_KEY\", secret_key_env = \"PROVIDER_KEY\" }").unwrap().contains("service"));
    // A secret not set: inactive, said, and the request gets the reason.
    let body = "[providers.p]\npreset = \"azure-openai\"\nbase_url = \"{mock}/p\"\n\
        credential = { kind = \"entra\", tenant = \"t\", client_id = \"a\", client_secret_env = \"NOT_SET_ANYWHERE\" }\n"
        .to_string()
        + &route("{ provider = \"p\", model = \"x\" }");
    let gw = start(&mock, &body).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({ "model": "m", "messages": user("x") }),
        )
        .await;
    let text = r.text().await.unwrap();
    assert!(
        text.contains("has no credential (set NOT_SET_ANYWHERE)"),
        "{text}"
    );
}
