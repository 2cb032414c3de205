//! The request log: every routed request's record tells its story (the strategy's
//! order, each attempt and why it failed over, each policy's verdict with its numbers,
//! the masks the redactors wrote, the headers set) and keeps its bodies where capture
//! is on (sampled, capped, masked, kept for their own retention); `/admin/requests`
//! finds records by filter a page at a time on SQLite and PostgreSQL (by index);
//! `/admin/errors` groups one error whatever its ids; `/admin/trends` adds up to what
//! the records say; every answer says the gateway's own time.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::mock::{Fault, Mock};

fn usage_path(name: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("requests-{name}-{}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Two targets (`bad` first), a request limit, the PII redactor and capture on `m`;
/// `other` to replay to; `plain` captures nothing; `sampled` keeps a tenth; `small`
/// keeps 1 KiB of each body; the key `watched` has capture of its own.
fn config(usage: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[usage]
sqlite_path = {usage:?}
capture_retention_days = 7
{extra}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "watched"
sha256 = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"
capture = {{ sample = 1.0 }}

[providers.bad]
adapter = "builtin:openai"
base_url = "{{mock}}/bad/v1"

[providers.good]
adapter = "builtin:openai"
base_url = "{{mock}}/good/v1"

[policies.hundred]
plugin = "builtin:request-limit"
settings = {{ limit = 100, window_secs = 3600 }}

[models.m]
strategy = "builtin:priority"
targets = [{{ provider = "bad", model = "x" }}, {{ provider = "good", model = "y", input_price = 1.0, output_price = 2.0 }}]
policies = ["hundred"]
redactors = ["builtin:redact-pii"]
capture = {{ sample = 1.0, max_body_kib = 64 }}
breaker = {{ failures = 100000 }}

[models.other]
targets = [{{ provider = "good", model = "z" }}]

[models.plain]
targets = [{{ provider = "good", model = "y" }}]

[models.sampled]
targets = [{{ provider = "good", model = "y" }}]
capture = {{ sample = 0.1 }}

[models.small]
targets = [{{ provider = "good", model = "y" }}]
capture = {{ max_body_kib = 1 }}

[models.failing]
targets = [{{ provider = "bad", model = "x" }}]
breaker = {{ failures = 100000 }}
retry = {{ attempts = 1 }}
"#
    )
}

/// Sends a chat request as `key`; its status, headers and body.
async fn chat(gw: &Gw, key: &str, body: Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

fn id_of(h: &reqwest::header::HeaderMap) -> String {
    h["x-request-id"].to_str().unwrap().to_string()
}

/// One record, once it is written.
async fn record(gw: &Gw, id: &str) -> Value {
    for _ in 0..100 {
        let (status, v) = gw
            .admin_json(reqwest::Method::GET, &format!("/admin/requests/{id}"), None)
            .await;
        if status == 200 {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("request {id} never reached the log");
}

#[tokio::test]
async fn a_failed_over_checked_redacted_stream_tells_its_whole_story() {
    let mock = Mock::start().await;
    mock.set_fault(
        "bad",
        Some(Fault::Status(500, r#"{"error":{"message":"boom"}}"#.into())),
    );
    mock.set_fault(
        "good",
        Some(Fault::Says("write to x@y.org or z@w.net".into(), 5)),
    );
    let path = usage_path("story");
    let gw = start(&mock, &config(&path, "")).await;
    let ask = json!({ "model": "m", "stream": true,
        "messages": user("mail me at alice@example.com please") });
    let (status, headers, body) = chat(&gw, TEAM_KEY, ask).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("x@y.org"), "{body}");
    let overhead: f64 = headers["x-switchboard-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let v = record(&gw, &id_of(&headers)).await;
    assert_eq!(v["route"], "m");
    assert_eq!(
        (v["provider"].as_str(), v["model"].as_str()),
        (Some("good"), Some("y"))
    );
    assert_eq!(v["attempts"], 2, "{v}");
    assert_eq!(v["captured"], true);
    assert!(v["ttft_ms"].is_u64(), "{v}");
    // The overhead the client was told is within the time the gateway measured.
    let duration = v["duration_ms"].as_f64().unwrap();
    assert!(
        overhead >= 0.0 && overhead <= duration + 1.0,
        "{overhead} vs {duration}"
    );
    assert!(v["overhead_ms"].as_f64().unwrap() <= duration + 1.0, "{v}");
    let story = &v["story"];
    assert_eq!(story["order"], json!(["bad/x", "good/y"]), "{story}");
    let attempts = story["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{story}");
    assert_eq!(attempts[0]["provider"], "bad");
    assert_eq!(attempts[0]["status"], 500);
    assert!(
        attempts[0]["failure"].as_str().unwrap().contains("boom"),
        "{story}"
    );
    assert_eq!(attempts[1]["provider"], "good");
    assert_eq!(attempts[1]["status"], 200);
    assert!(attempts[1]["failure"].is_null());
    assert!(
        attempts[1]["start_ms"].as_f64() >= attempts[0]["start_ms"].as_f64(),
        "{story}"
    );
    let policy = &story["policies"][0];
    assert_eq!(
        (policy["name"].as_str(), policy["verdict"].as_str()),
        (Some("hundred"), Some("allow"))
    );
    let remaining = policy["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-ratelimit-remaining-requests")
        .unwrap_or_else(|| panic!("the limit's numbers: {policy}"));
    assert_eq!(remaining[1], "99", "{policy}");
    assert_eq!(story["masked"]["request"], json!({ "EMAIL": 1 }), "{story}");
    assert_eq!(
        story["masked"]["response"],
        json!({ "EMAIL": 2 }),
        "{story}"
    );
    assert!(
        story["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "x-ratelimit-limit-requests"),
        "{story}"
    );
    // The bodies as they left the redactors: masked, the stream assembled.
    let capture = &v["capture"];
    let sent = capture["request"].as_str().unwrap();
    assert!(
        sent.contains("[EMAIL]") && !sent.contains("alice@"),
        "{sent}"
    );
    let answer: Value = serde_json::from_str(capture["response"].as_str().unwrap()).unwrap();
    assert_eq!(answer["object"], "chat.completion", "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "write to [EMAIL] or [EMAIL]"
    );
    // Found by its filters, and not by others.
    let found = gw
        .admin_get("/admin/requests?key=team&route=m&status=2xx&provider=good")
        .await;
    assert_eq!(
        found["requests"][0]["request_id"], v["request_id"],
        "{found}"
    );
    let none = gw.admin_get("/admin/requests?key=team&status=5xx").await;
    assert_eq!(none["requests"], json!([]), "{none}");
    let text = gw.admin_get("/admin/requests?q=%5Bemail%5D").await;
    assert_eq!(text["requests"].as_array().unwrap().len(), 1, "{text}");
}

#[tokio::test]
async fn capture_keeps_what_it_is_told_and_nothing_else() {
    let mock = Mock::start().await;
    let path = usage_path("capture");
    let gw = start(&mock, &config(&path, "")).await;
    let ask = |model: &str, text: &str| json!({ "model": model, "messages": user(text) });
    // No capture on the route or key: no bodies.
    let (_, h, _) = chat(&gw, TEAM_KEY, ask("plain", "nothing kept")).await;
    let v = record(&gw, &id_of(&h)).await;
    assert_eq!(
        (v["captured"].clone(), v["capture"].clone()),
        (json!(false), Value::Null),
        "{v}"
    );
    assert!(
        v["story"]["order"].is_array(),
        "the story is kept all the same: {v}"
    );
    // A key with capture of its own, on a route without.
    let (_, h, _) = chat(&gw, "123456", ask("plain", "the key wants it")).await;
    let v = record(&gw, &id_of(&h)).await;
    assert!(
        v["capture"]["request"]
            .as_str()
            .unwrap()
            .contains("the key wants it"),
        "{v}"
    );
    // Each body cut at its cap.
    let long = "a".repeat(3000);
    let (_, h, _) = chat(&gw, TEAM_KEY, ask("small", &long)).await;
    let v = record(&gw, &id_of(&h)).await;
    let c = &v["capture"];
    assert_eq!(c["request"].as_str().unwrap().len(), 1024, "{c}");
    assert_eq!(
        (
            c["request_truncated"].clone(),
            c["response_truncated"].clone()
        ),
        (json!(true), json!(true))
    );
    // A tenth of the requests, as drawn.
    let mut ids = Vec::new();
    for i in 0..300 {
        let (_, h, _) = chat(&gw, TEAM_KEY, ask("sampled", &format!("n{i}"))).await;
        ids.push(id_of(&h));
    }
    record(&gw, ids.last().unwrap()).await;
    let page = gw
        .admin_get("/admin/requests?route=sampled&limit=500")
        .await;
    let rows = page["requests"].as_array().unwrap();
    assert_eq!(rows.len(), 300, "{page}");
    let kept = rows.iter().filter(|r| r["captured"] == true).count();
    assert!(
        (10..=60).contains(&kept),
        "{kept} of 300 captured at sample = 0.1"
    );
    // Pages follow the cursor without losing or repeating a record.
    let mut seen = std::collections::HashSet::new();
    let mut next = String::new();
    loop {
        let p = gw
            .admin_get(&format!("/admin/requests?route=sampled&limit=70{next}"))
            .await;
        for r in p["requests"].as_array().unwrap() {
            assert!(seen.insert(r["request_id"].as_str().unwrap().to_string()));
        }
        match p["next"].as_str() {
            Some(c) => next = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 300);
    // Bodies past their own retention go; the records stay.
    let victim = rows.iter().find(|r| r["captured"] == true).unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(gw);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let old = now - 10 * 86_400;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "UPDATE usage SET ts = {old} WHERE request_id = '{victim}';
         UPDATE usage_payloads SET ts = {old} WHERE request_id = '{victim}';"
    ))
    .unwrap();
    drop(conn);
    let gw = start(&mock, &config(&path, "")).await;
    let mut v = Value::Null;
    for _ in 0..100 {
        v = record(&gw, &victim).await;
        if v["capture"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        v["capture"].is_null(),
        "a body 10 days old outlived capture_retention_days = 7: {v}"
    );
    assert_eq!(v["ts"], old, "the record itself is kept 30 days: {v}");
    // Another captured request, of today, keeps its bodies.
    let young = rows
        .iter()
        .filter(|r| r["captured"] == true)
        .filter_map(|r| r["request_id"].as_str())
        .find(|id| *id != victim)
        .expect("more than one request captured");
    let young = record(&gw, young).await;
    assert!(young["capture"]["request"].is_string(), "{young}");
}

#[tokio::test]
async fn top_errors_group_one_error_whatever_its_ids_and_trends_add_up() {
    let mock = Mock::start().await;
    let path = usage_path("errors");
    let gw = start(&mock, &config(&path, "")).await;
    let ask = |model: &str| json!({ "model": model, "messages": user("hi") });
    for i in 0..500u32 {
        let body = format!(
            r#"{{"error":{{"message":"upstream failure in request req_{:08x}{i} after {} ms"}}}}"#,
            i.wrapping_mul(2_654_435_761),
            100 + i
        );
        mock.push_fault("bad", Fault::Status(500, body));
        let (status, _, _) = chat(&gw, TEAM_KEY, ask("failing")).await;
        assert!(status >= 500, "{status}");
    }
    for _ in 0..20 {
        chat(&gw, TEAM_KEY, ask("plain")).await;
        chat(&gw, "123456", ask("other")).await;
    }
    let (_, h, _) = chat(&gw, TEAM_KEY, ask("plain")).await;
    record(&gw, &id_of(&h)).await;
    let v = gw.admin_get("/admin/errors").await;
    let groups = v["errors"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        1,
        "500 errors with different ids are one: {v}"
    );
    let g = &groups[0];
    assert_eq!(g["count"], 500, "{g}");
    assert_eq!(
        (g["route"].as_str(), g["provider"].as_str()),
        (Some("failing"), Some("bad")),
        "{g}"
    );
    let message = g["message"].as_str().unwrap();
    assert!(
        message.contains("upstream failure in request # after # ms"),
        "{message}"
    );
    assert!(g["first"].as_i64() <= g["last"].as_i64());
    let sample = g["samples"][0].as_str().unwrap();
    assert_eq!(record(&gw, sample).await["route"], "failing");
    // The trends are the records' sums: per target, requests, errors, spend.
    let trends = gw.admin_get("/admin/trends?by=target&range=1h").await;
    let all = gw.admin_get("/admin/requests?limit=500").await;
    let mut rest = gw
        .admin_get(&format!(
            "/admin/requests?limit=500&cursor={}",
            all["next"].as_str().unwrap()
        ))
        .await;
    let mut records = all["requests"].as_array().unwrap().clone();
    records.append(rest["requests"].as_array_mut().unwrap());
    assert_eq!(records.len(), 541);
    for series in trends["series"].as_array().unwrap() {
        let name = series["name"].as_str().unwrap();
        let mine: Vec<&Value> = records
            .iter()
            .filter(|r| {
                let target = match r["provider"].as_str() {
                    Some("") | None => "bad/x".to_string(),
                    Some(p) => format!("{p}/{}", r["model"].as_str().unwrap()),
                };
                target == name
            })
            .collect();
        let sum = |col: &str| -> f64 {
            series[col]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_f64)
                .sum()
        };
        assert_eq!(sum("requests") as usize, mine.len(), "{name}");
        let errors = mine
            .iter()
            .filter(|r| r["status"].as_u64() >= Some(400))
            .count();
        assert_eq!(sum("errors") as usize, errors, "{name}");
        let cost: f64 = mine.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
        assert!((sum("cost_usd") - cost).abs() < 1e-6, "{name}: {cost}");
        if name == "bad/x" {
            let by_label: f64 = series["errors_by"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|v| v.as_array().unwrap().iter().filter_map(Value::as_f64))
                .sum();
            assert_eq!(by_label as usize, 500, "{series}");
            assert!(
                series["grade"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("failing"))
            );
        }
    }
    assert_eq!(trends["series"].as_array().unwrap().len(), 3, "{trends}");
}

/// On PostgreSQL: a key's records found by filter with their stories and bodies, the
/// trends and errors read from the same database — and the statement a filter by key
/// and time runs is served by an index (`EXPLAIN`, over 50 000 records of 50 keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_finds_a_keys_records_by_its_index() {
    use switchboard::usage::{db, query::Dialect, requests::RequestQuery};
    let (pg, mock) = (Postgres::start().await, Mock::start().await);
    let url = pg.url();
    let text = config(std::path::Path::new("unused"), "")
        .replace("sqlite_path = \"unused\"\n", "")
        .replace(
            "[usage]",
            "[store]\npostgres_url_env = \"PG_URL\"\n\n[usage]",
        );
    let gw = start_env(&mock, "", &text, &[("PG_URL", url.as_str())]).await;
    let ask = |text: &str| json!({ "model": "plain", "messages": user(text) });
    for i in 0..3 {
        chat(&gw, TEAM_KEY, ask(&format!("team {i}"))).await;
    }
    let mut last = String::new();
    for i in 0..2 {
        let (_, h, _) = chat(&gw, "123456", ask(&format!("watched {i}"))).await;
        last = id_of(&h);
    }
    let v = record(&gw, &last).await;
    assert!(
        v["capture"]["request"]
            .as_str()
            .unwrap()
            .contains("watched 1"),
        "{v}"
    );
    assert_eq!(v["story"]["order"], json!(["good/y"]), "{v}");
    let found = gw.admin_get("/admin/requests?key=watched").await;
    let rows = found["requests"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{found}");
    assert!(
        rows.iter()
            .all(|r| r["key"] == "watched" && r["captured"] == true)
    );
    let trends = gw.admin_get("/admin/trends?range=1h&by=route").await;
    let plain = &trends["series"][0];
    assert_eq!(plain["name"], "plain", "{trends}");
    let total: i64 = plain["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(total, 5, "{trends}");
    assert_eq!(gw.admin_get("/admin/errors").await["errors"], json!([]));

    pg.psql(
        "INSERT INTO switchboard_usage (ts, request_id, route, key, provider, model, status,
             prompt_tokens, cached_tokens, completion_tokens, cost_usd, duration_ms, attempts)
         SELECT extract(epoch from now())::bigint - g * 60, 'req_gen' || g, 'r', 'k' || (g % 50),
             'p', 'm', 200, 1, 0, 1, 0, 1, 1 FROM generate_series(1, 50000) g;
         ANALYZE switchboard_usage;",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let q = RequestQuery::parse(Some("key=k7&from=2026-01-01"), now).unwrap();
    let (sql, params) = q.statement();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let plan: Vec<String> = client
        .query(
            &format!("EXPLAIN {}", db::sql(Dialect::Postgres, &sql)),
            &db::pg_params(&params),
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("switchboard_usage_key_ts"),
        "a filter by key and time scans: {plan}"
    );
    let found = gw
        .admin_get("/admin/requests?key=k7&limit=500&from=2026-01-01")
        .await;
    assert_eq!(found["requests"].as_array().unwrap().len(), 500);
    assert!(found["next"].is_string());
}

/// 90 days of hourly trend sums for 50 models, written into the usage file as the
/// writer would have: what the Trends page must stay usable with.
fn ninety_days_of_fifty_models(path: &std::path::Path) {
    let conn = switchboard::usage::sqlite::open(&path.to_path_buf()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let first = now - now % 3600 - 90 * 86_400;
    conn.execute_batch("BEGIN").unwrap();
    {
        let mut put = conn
            .prepare(
                "INSERT INTO usage_trend (width, start, route, provider, model, requests, errors,
                     prompt_tokens, completion_tokens, cost_usd, d5, d8, d11, t3, t6)
                 VALUES (3600, ?1, ?2, 'gen', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .unwrap();
        for m in 0..50i64 {
            let model = format!("model-{m:02}");
            for h in 0..90 * 24i64 {
                let n = 20 + (h * 7 + m * 13) % 40;
                let errors = if (h + m) % 97 == 0 { n / 2 } else { n / 50 };
                let (fast, mid) = (n * 6 / 10, n * 3 / 10);
                put.execute(rusqlite::params![
                    first + h * 3600,
                    model,
                    n,
                    errors,
                    n * 300,
                    n * 120,
                    n as f64 * 0.0004 * (1 + m % 5) as f64,
                    fast,
                    mid,
                    n - fast - mid,
                    n - n / 3,
                    n / 3,
                ])
                .unwrap();
            }
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// The Requests, Trends and Errors pages in a real Chromium
/// (`tests/browser/insight_check.py`): a request found by its key and route, its story
/// opened (two attempts), replayed to another route with both answers shown; the trends
/// of 90 days of 50 models drawn with axes (the time it took printed); the top errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_trends_and_errors_in_a_real_browser() {
    let mock = Mock::start().await;
    mock.push_fault(
        "bad",
        Fault::Status(500, r#"{"error":{"message":"boom"}}"#.into()),
    );
    let path = usage_path("browser");
    ninety_days_of_fifty_models(&path);
    let store = path.with_extension("store.sqlite");
    let _ = std::fs::remove_file(&store);
    let text = config(
        &path,
        &format!("retention_days = 120\n\n[store]\nsqlite_path = {store:?}\n"),
    );
    let gw = start(&mock, &text).await;
    let (status, h, _) = chat(
        &gw,
        TEAM_KEY,
        json!({ "model": "m", "messages": user("mail me at alice@example.com") }),
    )
    .await;
    assert_eq!(status, 200);
    let id = id_of(&h);
    assert_eq!(record(&gw, &id).await["attempts"], 2);
    let body = json!({ "name": "ada", "role": "admin", "password": "correct horse battery" });
    let (status, v) = gw
        .admin_json(reqwest::Method::POST, "/admin/people", Some(body))
        .await;
    assert_eq!(status, 201, "{v}");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let cases = dir.join(format!("insight-cases-{}.json", std::process::id()));
    let case = json!({
        "find": { "key": "team", "route": "m" }, "expect_id": id, "attempts": 2,
        "replay_route": "other", "replay_expect": "good says: mail me at [EMAIL]",
        "trends_range": "90d", "min_series": 50,
    });
    std::fs::write(&cases, case.to_string()).unwrap();
    let shots = dir.join("insight-screens");
    let args = [
        gw.admin.clone(),
        "ada".into(),
        "correct horse battery".into(),
        cases.display().to_string(),
        shots.display().to_string(),
    ];
    let said = run_browser_check("insight_check.py", args.to_vec()).await;
    assert!(said.contains("insight ok"), "{said}");
    let ms: f64 = said
        .lines()
        .find_map(|l| l.strip_prefix("TRENDS_MS="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no TRENDS_MS in {said}"));
    eprintln!("trends of 50 models × 90 days drawn in {ms} ms");
}
