//! Clients that misbehave, and clients over TLS: a slow body gets 408, a client that
//! hangs up mid-body sends nothing upstream, and the optional rustls listener serves
//! HTTP/1.1 and HTTP/2 (ALPN).

use std::time::Duration;

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUTE: &str = r#"
[providers.p]
adapter = "builtin:openai"
base_url = "{mock}/p/v1"

[models."m"]
targets = [{ provider = "p", model = "x" }]
"#;

async fn raw_exchange(
    addr: std::net::SocketAddr,
    head: &str,
    body_part: &[u8],
    close_after: bool,
) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body_part).await.unwrap();
    if close_after {
        drop(s);
        return String::new();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_slow_body_times_out_and_a_broken_one_goes_nowhere() {
    let mock = Mock::start().await;
    let text = config_text(&mock, ROUTE).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nclient_timeout = \"300ms\"",
    );
    let env = env_map();
    let config = switchboard::config::Config::parse(&text, std::path::Path::new("."), &move |k| {
        env.get(k).cloned()
    })
    .unwrap();
    switchboard::app::init_crypto();
    let running = switchboard::app::start(config).await.unwrap();
    let addr = running.api_addr;
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\nconnection: close\r\n\r\n";

    let answer = raw_exchange(addr, head, br#"{"model":"m","#, false).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");

    raw_exchange(addr, head, br#"{"model":"m","messages":[{"role""#, true).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.count("p"), 0);

    // The gateway is unharmed.
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&json!({ "model": "m", "messages": user("ok?") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    running.shutdown().await;
}

#[tokio::test]
async fn tls_listener_serves_http1_and_h2() {
    let mock = Mock::start().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let text = config_text(&mock, ROUTE).replace(
        "shutdown_grace = \"5s\"",
        &format!(
            "shutdown_grace = \"5s\"\ntls = {{ cert = {:?}, key = {:?} }}",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ),
    );
    let env = env_map();
    let config = switchboard::config::Config::parse(&text, std::path::Path::new("."), &move |k| {
        env.get(k).cloned()
    })
    .unwrap();
    switchboard::app::init_crypto();
    let running = switchboard::app::start(config).await.unwrap();
    let port = running.api_addr.port();
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    for h2 in [false, true] {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([root.clone()])
            .resolve("localhost", running.api_addr);
        if !h2 {
            b = b.http1_only();
        }
        let client = b.build().unwrap();
        let r = client
            .post(format!("https://localhost:{port}/v1/chat/completions"))
            .json(&json!({ "model": "m", "messages": user("secure") }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.version(),
            if h2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            }
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "p says: secure");
    }
    // Plain HTTP to the TLS port is refused.
    assert!(
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_err()
    );
    running.shutdown().await;
}
