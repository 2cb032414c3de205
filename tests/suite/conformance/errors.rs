//! Provider errors in each provider's own shape, mapped to OpenAI's: the client's own
//! mistake (400) answered as it is, with the provider's message; a rate limit (429)
//! with the provider's `retry-after`; overload (503, Anthropic's 529) as 503; what
//! the gateway's operator must fix (401, 404) or the provider's failure (500) as 502
//! — every one naming the provider's message, none the provider key.

use super::{Adapter, gateway};
use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

/// (provider status, client status, OpenAI error type).
const CASES: [(u16, u16, &str); 6] = [
    (400, 400, "invalid_request_error"),
    (401, 502, "upstream_error"),
    (404, 502, "upstream_error"),
    (429, 429, "rate_limit_error"),
    (500, 502, "upstream_error"),
    (529, 503, "upstream_error"),
];

pub async fn provider_errors(a: Adapter) {
    let mock = Mock::start().await;
    let gw = gateway(&mock, a).await;
    for (up, client, kind) in CASES {
        let message = format!("the provider says {up} ✗");
        let body = a.error_body(up, &message);
        let fault = if up == 429 {
            Fault::StatusRetry(up, body.clone(), 7)
        } else {
            Fault::Status(up, body.clone())
        };
        mock.push_fault("p", fault);
        let r = gw
            .post(
                "/v1/chat/completions",
                &json!({ "model": "m", "messages": user("x") }),
            )
            .await;
        assert_eq!(r.status().as_u16(), client, "provider {up}");
        let retry_after = r.headers().get("retry-after").cloned();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], kind, "provider {up}: {v}");
        let said = error_message(&v);
        assert!(said.contains(&message), "provider {up}: {v}");
        assert!(!v.to_string().contains(PROVIDER_KEY));
        if up == 429 {
            let secs: u64 = retry_after
                .expect("the provider's retry-after reaches the client")
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((6..=7).contains(&secs), "{secs}");
        }
        // The same for a stream request: the error comes before any byte, as JSON.
        mock.push_fault("p", Fault::Status(up, body));
        let r = gw
            .post(
                "/v1/chat/completions",
                &json!({ "model": "m", "messages": user("x"), "stream": true }),
            )
            .await;
        assert_eq!(r.status().as_u16(), client, "streamed, provider {up}");
        assert!(error_message(&r.json().await.unwrap()).contains(&message));
    }
    // A 200 that is not the provider's format fails as the provider's fault.
    mock.push_fault("p", Fault::Malformed);
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x") }))
        .await;
    assert_eq!(status, 502, "{v}");
    error_message(&v);
}
