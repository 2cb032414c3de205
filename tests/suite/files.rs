//! `/v1/files` and `/v1/batches` through the gateway: uploads routed like requests
//! (policies, the key's model list), everything by id at the provider that keeps it and
//! for the key that made it only — lists, content, batches and the files they produce.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};
use sha2::Digest;

const OTHER: &str = "other-key-0123456789";
const NARROW: &str = "narrow-key-0123456789";

fn config(db: &std::path::Path) -> String {
    let hash = |s: &str| -> String {
        sha2::Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    format!(
        r#"
[responses]
sqlite_path = {db:?}

[files]
route = "gpt"

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "other"
sha256 = "{other}"

[[keys]]
name = "narrow"
sha256 = "{narrow}"
models = ["gpt"]

[providers.oa]
adapter = "builtin:openai"
base_url = "{{mock}}/oa/v1"
api_key_env = "PROVIDER_KEY"

[providers.oa2]
adapter = "builtin:openai"
base_url = "{{mock}}/oa2/v1"
api_key_env = "PROVIDER_KEY"

[policies.one-per-hour]
plugin = "builtin:request-limit"
settings = {{ limit = 1, window_secs = 3600 }}

[models."gpt"]
targets = [{{ provider = "oa", model = "gpt-up" }}]

[models."gpt2"]
targets = [{{ provider = "oa2", model = "gpt-up" }}]

[models."limited"]
targets = [{{ provider = "oa", model = "gpt-up" }}]
policies = ["one-per-hour"]
"#,
        db = db.display().to_string(),
        other = hash(OTHER),
        narrow = hash(NARROW),
    )
}

fn form(content: &[u8]) -> Vec<u8> {
    let mut f = b"--XB\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n".to_vec();
    f.extend_from_slice(content);
    f.extend_from_slice(b"\r\n--XB--\r\n");
    f
}

async fn upload(gw: &Gw, key: &str, route: Option<&str>, content: &[u8]) -> (u16, Value) {
    let mut req = gw
        .client
        .post(format!("{}/v1/files", gw.url))
        .bearer_auth(key)
        .header("content-type", "multipart/form-data; boundary=XB")
        .body(form(content));
    if let Some(r) = route {
        req = req.header("x-switchboard-route", r);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn call(
    gw: &Gw,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let url = format!("{}/v1/{path}", gw.url);
    gw.ask(method, &url, key, body.as_ref()).await
}

#[tokio::test]
async fn files_and_batches_belong_to_the_key_that_made_them() {
    use reqwest::Method;
    let mock = Mock::start().await;
    let db = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("files-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let gw = start(&mock, &config(&db)).await;
    // Uploads: to [files] route, or the route the request names; forwarded whole.
    let (s, a) = upload(&gw, TEAM_KEY, None, b"{\"custom_id\":\"1\"}\n").await;
    assert_eq!((s, a["id"].as_str()), (200, Some("file-oa-0")));
    let seen = mock.seen("oa");
    assert_eq!(seen[0].path, "/v1/files");
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {PROVIDER_KEY}")
    );
    assert!(
        seen[0]
            .body
            .as_str()
            .unwrap()
            .contains("{\"custom_id\":\"1\"}")
    );
    let line = br#"{"custom_id":"2","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt2","messages":[]}}"#;
    let (s, b) = upload(&gw, TEAM_KEY, Some("gpt2"), line).await;
    assert_eq!((s, b["id"].as_str()), (200, Some("file-oa2-1")));
    // Lists: this key's own only.
    let v: Value = call(&gw, Method::GET, TEAM_KEY, "files", None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["file-oa2-1", "file-oa-0"]);
    let v: Value = call(&gw, Method::GET, OTHER, "files", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"], json!([]));
    // By id: for its key, at its provider; another key never reaches the provider.
    let r = call(&gw, Method::GET, TEAM_KEY, "files/file-oa-0/content", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        b"{\"custom_id\":\"1\"}\n"
    );
    let before = mock.count("oa") + mock.count("oa2");
    assert_eq!(
        call(&gw, Method::GET, OTHER, "files/file-oa-0", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        call(&gw, Method::GET, OTHER, "files/file-oa-0/content", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        call(&gw, Method::DELETE, OTHER, "files/file-oa-0", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        call(
            &gw,
            Method::GET,
            TEAM_KEY,
            "files/file-made-elsewhere",
            None
        )
        .await
        .status(),
        404
    );
    assert_eq!(mock.count("oa") + mock.count("oa2"), before);
    // A batch is made where its input file is; the files it produces are its key's.
    let batch = json!({ "input_file_id": "file-oa2-1", "endpoint": "/v1/chat/completions", "completion_window": "24h" });
    assert_eq!(
        call(&gw, Method::POST, OTHER, "batches", Some(batch.clone()))
            .await
            .status(),
        400
    );
    assert_eq!(
        call(&gw, Method::POST, NARROW, "batches", Some(batch.clone()))
            .await
            .status(),
        403
    );
    let r = call(&gw, Method::POST, TEAM_KEY, "batches", Some(batch)).await;
    assert_eq!(r.status(), 200);
    let made: Value = r.json().await.unwrap();
    let id = made["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("batch-oa2-"), "{id}");
    let got: Value = call(&gw, Method::GET, TEAM_KEY, &format!("batches/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let out = got["output_file_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{got}"))
        .to_string();
    let r = call(
        &gw,
        Method::GET,
        TEAM_KEY,
        &format!("files/{out}/content"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        call(&gw, Method::GET, OTHER, &format!("batches/{id}"), None)
            .await
            .status(),
        404
    );
    let r = call(
        &gw,
        Method::POST,
        TEAM_KEY,
        &format!("batches/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = call(&gw, Method::GET, TEAM_KEY, "batches", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][0]["id"], id.as_str());
    // Deleted: then no one's, and not asked for again.
    assert_eq!(
        call(&gw, Method::DELETE, TEAM_KEY, "files/file-oa-0", None)
            .await
            .status(),
        200
    );
    let n = mock.count("oa");
    assert_eq!(
        call(&gw, Method::GET, TEAM_KEY, "files/file-oa-0", None)
            .await
            .status(),
        404
    );
    assert_eq!(mock.count("oa"), n);
}

#[tokio::test]
async fn uploads_are_requests_of_their_route() {
    let mock = Mock::start().await;
    let db = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("files-routes-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let gw = start(&mock, &config(&db)).await;
    // The key's model list and the route's policies apply.
    assert_eq!(upload(&gw, NARROW, Some("gpt2"), b"x").await.0, 403);
    assert_eq!(upload(&gw, NARROW, None, b"x").await.0, 200);
    assert_eq!(upload(&gw, TEAM_KEY, Some("limited"), b"x").await.0, 200);
    assert_eq!(upload(&gw, TEAM_KEY, Some("limited"), b"x").await.0, 429);
    assert_eq!(upload(&gw, TEAM_KEY, Some("nope"), b"x").await.0, 404);
    let r = gw
        .client
        .put(format!("{}/v1/files", gw.url))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn requests_by_id_are_settled_like_every_request() {
    use reqwest::Method;
    let mock = Mock::start().await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (db, usage) = (
        dir.join(format!("files-settled-{}.db", std::process::id())),
        dir.join(format!("files-settled-usage-{}.db", std::process::id())),
    );
    let _ = (std::fs::remove_file(&db), std::fs::remove_file(&usage));
    let text = format!(
        "{}\n[usage]\nsqlite_path = {:?}\n",
        config(&db),
        usage.display().to_string()
    );
    let gw = start(&mock, &text).await;
    assert_eq!(upload(&gw, TEAM_KEY, None, b"{}\n").await.0, 200);
    let r = call(&gw, Method::GET, TEAM_KEY, "files/file-oa-0/content", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"{}\n");
    assert_eq!(
        call(&gw, Method::GET, OTHER, "files/file-oa-0", None)
            .await
            .status(),
        404
    );
    // Metrics name the kind where a route would be, and the provider that keeps it.
    let m = gw.metrics_text().await;
    let line = |status: &str| {
        format!(
            r#"switchboard_requests_total{{route="files",provider="oa",model="",status="{status}"}} 1"#
        )
    };
    assert!(m.contains(&line("200")), "{m}");
    assert!(
        m.contains(
            r#"switchboard_requests_total{route="files",provider="",model="",status="404"} 1"#
        ),
        "{m}"
    );
    // And the request log has them, with the key that asked.
    let mut found = Value::Null;
    for _ in 0..100 {
        found = gw.admin_get("/admin/requests?route=files").await;
        if found["requests"].as_array().is_some_and(|r| r.len() == 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let records = found["requests"].as_array().expect("records");
    assert_eq!(records.len(), 2, "{found}");
    let who: Vec<(&str, &str, u64)> = records
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["provider"].as_str().unwrap_or(""),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(who.contains(&("team", "oa", 200)), "{found}");
    assert!(who.contains(&("other", "", 404)), "{found}");
}
