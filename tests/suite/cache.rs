//! The response cache end to end: a hit never reaches the provider, a different
//! request never gets another's answer, streaming and JSON clients share entries,
//! `Cache-Control` is obeyed, failures and partial streams are never stored, and
//! replicas share answers through a real `redis-server`.

use std::time::Duration;

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

const CACHED: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "other"
sha256 = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"

[providers.up]
adapter = "builtin:openai"
base_url = "{mock}/up/v1"
api_key_env = "PROVIDER_KEY"

[models."cached"]
targets = [{ provider = "up", model = "m" }]
cache = { ttl = "10m" }

[models."cached-too"]
targets = [{ provider = "up", model = "m" }]
cache = { ttl = "10m" }

[models."per-key"]
targets = [{ provider = "up", model = "m" }]
cache = { ttl = "10m", per_key = true }

[models."short"]
targets = [{ provider = "up", model = "m" }]
cache = { ttl = "300ms" }

[models."tiny"]
targets = [{ provider = "up", model = "m" }]
cache = { ttl = "10m", max_entry_bytes = 64 }

[models."plain"]
targets = [{ provider = "up", model = "m" }]

[models."embed"]
targets = [{ provider = "up", model = "e" }]
cache = { ttl = "10m" }
"#;

/// The key "other" (sha256 of "123456").
const OTHER_KEY: &str = "123456";

async fn send(gw: &Gw, key: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

async fn ask(gw: &Gw, body: &Value, headers: &[(&str, &str)]) -> (String, Value) {
    let r = send(gw, TEAM_KEY, body, headers).await;
    assert_eq!(r.status(), 200);
    let state = header(&r);
    (state, r.json().await.unwrap())
}

fn header(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-switchboard-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn content(v: &Value) -> &str {
    v["choices"][0]["message"]["content"].as_str().unwrap_or("")
}

async fn ask_stream(gw: &Gw, body: &Value) -> (String, Vec<String>) {
    let r = send(gw, TEAM_KEY, body, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let state = header(&r);
    (state, data_lines(&r.text().await.unwrap()))
}

#[tokio::test]
async fn a_hit_never_reaches_the_provider_and_serves_json_and_stream_clients() {
    let mock = Mock::start().await;
    let gw = start(&mock, CACHED).await;
    let req = json!({"model": "cached", "messages": user("what is a cache?"), "temperature": 0});
    let (s1, a1) = ask(&gw, &req, &[]).await;
    assert_eq!((s1.as_str(), mock.count("up")), ("miss", 1));
    assert_eq!(content(&a1), "up says: what is a cache?");

    // Same request, other key order, whitespace, `user` and number spelling: a hit.
    let same = r#"{ "temperature": 0.0, "user": "someone-else",
        "messages": [{"content": "what is a cache?", "role": "user"}], "model": "cached" }"#;
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEAM_KEY)
        .header("content-type", "application/json")
        .body(same)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r), "hit");
    let a2: Value = r.json().await.unwrap();
    assert_eq!(a1, a2);
    assert_eq!(mock.count("up"), 1, "the hit reached the provider");

    // A streaming client gets the stored answer as SSE chunks, usage when asked.
    let mut sreq = req.clone();
    sreq["stream"] = json!(true);
    sreq["stream_options"] = json!({"include_usage": true});
    let (s3, lines) = ask_stream(&gw, &sreq).await;
    assert_eq!(s3, "hit");
    let (text, done, usage) = streamed_text(&lines);
    assert_eq!(text, content(&a1));
    assert!(done, "replay ends with [DONE]: {lines:?}");
    assert_eq!(usage.unwrap()["total_tokens"], 18);
    assert_eq!(mock.count("up"), 1);

    // Embeddings cache too.
    let e = json!({"model": "embed", "input": ["a", "b"]});
    for expect in ["miss", "hit"] {
        let r = gw
            .client
            .post(format!("{}/v1/embeddings", gw.url))
            .bearer_auth(TEAM_KEY)
            .json(&e)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r), expect);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
    }
    assert_eq!(mock.count("up"), 2);

    // The admin API shows the cache and can empty it.
    let stats = gw.admin_get("/admin/cache").await;
    assert_eq!(
        (stats["entries"].as_u64(), stats["stored"].as_u64()),
        (Some(2), Some(2))
    );
    let cleared = gw.admin_post("/admin/cache/clear").await;
    assert_eq!(cleared["entries"], 0);
    assert_eq!(ask(&gw, &req, &[]).await.0, "miss");
    assert_eq!(mock.count("up"), 3);
    gw.running.shutdown().await;
}

#[tokio::test]
async fn a_streamed_miss_fills_the_cache_for_both_kinds_of_client() {
    let mock = Mock::start().await;
    let gw = start(&mock, CACHED).await;
    let req = json!({"model": "cached", "messages": user("stream me please"), "stream": true});
    let (s1, lines) = ask_stream(&gw, &req).await;
    assert_eq!(s1, "miss");
    let (text, done, _) = streamed_text(&lines);
    assert!(done);
    assert_eq!(text, "up says: stream me please");

    let mut json_req = req.clone();
    json_req.as_object_mut().unwrap().remove("stream");
    let (s2, a) = ask(&gw, &json_req, &[]).await;
    assert_eq!(s2, "hit");
    assert_eq!(content(&a), text);
    assert_eq!(a["choices"][0]["finish_reason"], "stop");
    // The stream did not ask for usage, but the gateway did: the stored answer has it.
    assert_eq!(a["usage"]["total_tokens"], 18, "{a}");
    let (s3, again) = ask_stream(&gw, &req).await;
    assert_eq!(s3, "hit");
    assert_eq!(streamed_text(&again).0, text);
    assert_eq!(mock.count("up"), 1);

    // Tool calls survive the fold and the replay.
    let tools = json!({"model": "cached", "messages": user("weather?"), "stream": true,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]});
    let (_, first) = ask_stream(&gw, &tools).await;
    let (s4, replayed) = ask_stream(&gw, &tools).await;
    assert_eq!(s4, "hit");
    let calls = |lines: &[String]| {
        let mut args = String::new();
        for l in lines.iter().filter(|l| *l != "[DONE]") {
            let v: Value = serde_json::from_str(l).unwrap();
            for c in v["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                args.push_str(c["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
        args
    };
    assert_eq!(calls(&first), calls(&replayed));
    assert_eq!(calls(&first), r#"{"city":"Paris"}{"city":"Oslo"}"#);
    assert_eq!(mock.count("up"), 2);
    gw.running.shutdown().await;
}

#[tokio::test]
async fn a_different_request_never_gets_another_requests_answer() {
    let mock = Mock::start().await;
    let gw = start(&mock, CACHED).await;
    // Many distinct prompts at once, each asked twice: every answer is its own.
    let mut tasks = Vec::new();
    for round in 0..2 {
        for i in 0..24 {
            let client = gw.client.clone();
            let url = gw.url.clone();
            tasks.push(tokio::spawn(async move {
                let prompt = format!("question number {i}");
                let r = client
                    .post(format!("{url}/v1/chat/completions"))
                    .bearer_auth(TEAM_KEY)
                    .json(&json!({"model": "cached", "messages": user(&prompt)}))
                    .send()
                    .await
                    .unwrap();
                let v: Value = r.json().await.unwrap();
                (round, prompt, content(&v).to_string())
            }));
        }
        // Let the first round land before the second asks.
        if round == 0 {
            for t in tasks.drain(..) {
                let (_, prompt, answer) = t.await.unwrap();
                assert_eq!(answer, format!("up says: {prompt}"));
            }
        }
    }
    for t in tasks {
        let (_, prompt, answer) = t.await.unwrap();
        assert_eq!(answer, format!("up says: {prompt}"));
    }
    assert_eq!(mock.count("up"), 24, "the second round was all hits");

    // A changed sampling parameter, another route, or tools are other requests.
    let base = json!({"model": "cached", "messages": user("question number 1")});
    let mut hot = base.clone();
    hot["temperature"] = json!(1.5);
    assert_eq!(ask(&gw, &hot, &[]).await.0, "miss");
    let mut other_route = base.clone();
    other_route["model"] = json!("cached-too");
    assert_eq!(ask(&gw, &other_route, &[]).await.0, "miss");
    assert_eq!(mock.count("up"), 26);

    // A per-key route keeps keys apart; a shared route does not.
    let pk = json!({"model": "per-key", "messages": user("private")});
    assert_eq!(header(&send(&gw, TEAM_KEY, &pk, &[]).await), "miss");
    assert_eq!(header(&send(&gw, OTHER_KEY, &pk, &[]).await), "miss");
    assert_eq!(header(&send(&gw, OTHER_KEY, &pk, &[]).await), "hit");
    assert_eq!(header(&send(&gw, OTHER_KEY, &base, &[]).await), "hit");
    assert_eq!(mock.count("up"), 28);
    gw.running.shutdown().await;
}

#[tokio::test]
async fn cache_control_and_what_is_never_stored() {
    let mock = Mock::start().await;
    let gw = start(&mock, CACHED).await;
    let req = json!({"model": "cached", "messages": user("control")});
    assert_eq!(ask(&gw, &req, &[]).await.0, "miss");
    assert_eq!(
        ask(&gw, &req, &[("cache-control", "no-cache")]).await.0,
        "miss"
    );
    assert_eq!(mock.count("up"), 2, "no-cache went to the provider");
    assert_eq!(
        ask(&gw, &req, &[("cache-control", "no-store")]).await.0,
        "bypass"
    );
    assert_eq!(mock.count("up"), 3);
    let fresh = json!({"model": "cached", "messages": user("never kept")});
    assert_eq!(
        ask(&gw, &fresh, &[("cache-control", "no-store")]).await.0,
        "bypass"
    );
    assert_eq!(ask(&gw, &fresh, &[]).await.0, "miss", "no-store stored it");

    // A failed answer is not stored: the next request goes to the provider.
    let failing = json!({"model": "cached", "messages": user("fails first")});
    mock.push_fault(
        "up",
        Fault::Status(500, r#"{"error":{"message":"boom"}}"#.into()),
    );
    let r = send(&gw, TEAM_KEY, &failing, &[]).await;
    assert_eq!(r.status(), 502);
    let before = mock.count("up");
    assert_eq!(ask(&gw, &failing, &[]).await.0, "miss");
    assert_eq!(mock.count("up"), before + 1);

    // A stream cut halfway is not stored.
    let cut = json!({"model": "cached", "messages": user("cut me off now"), "stream": true});
    mock.push_fault("up", Fault::CutAfter(2));
    let r = send(&gw, TEAM_KEY, &cut, &[]).await;
    let _ = r.text().await;
    let (state, lines) = ask_stream(&gw, &cut).await;
    assert_eq!(state, "miss", "a partial stream was stored");
    assert!(streamed_text(&lines).1);

    // An answer above the route's size bound is not stored.
    let big =
        json!({"model": "tiny", "messages": user("a long enough question for sixty four bytes")});
    assert_eq!(ask(&gw, &big, &[]).await.0, "miss");
    assert_eq!(ask(&gw, &big, &[]).await.0, "miss");

    // Entries expire after the route's TTL.
    let short = json!({"model": "short", "messages": user("soon gone")});
    assert_eq!(ask(&gw, &short, &[]).await.0, "miss");
    assert_eq!(ask(&gw, &short, &[]).await.0, "hit");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(ask(&gw, &short, &[]).await.0, "miss");

    // Routes without a cache say nothing about it.
    let plain = json!({"model": "plain", "messages": user("x")});
    assert_eq!(ask(&gw, &plain, &[]).await.0, "");
    gw.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_requests_in_flight_ask_the_provider_once() {
    let mock = Mock::start().await;
    let gw = start(&mock, CACHED).await;
    mock.set_fault("up", Some(Fault::Delay(Duration::from_millis(300))));
    let req = json!({"model": "cached", "messages": user("everyone asks this")});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = gw.client.clone();
        let url = gw.url.clone();
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(TEAM_KEY)
                .json(&req)
                .send()
                .await
                .unwrap();
            let state = header(&r);
            (state, r.json::<Value>().await.unwrap())
        }));
    }
    let mut states = Vec::new();
    for t in tasks {
        let (state, v) = t.await.unwrap();
        assert_eq!(content(&v), "up says: everyone asks this");
        states.push(state);
    }
    states.sort();
    assert_eq!(
        mock.count("up"),
        1,
        "followers went to the provider: {states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| *s == "miss").count(),
        1,
        "{states:?}"
    );

    // When the leader fails, followers ask themselves (nothing is stored to wait for).
    mock.set_fault(
        "up",
        Some(Fault::Status(500, r#"{"error":{"message":"down"}}"#.into())),
    );
    let failing = json!({"model": "cached", "messages": user("leader fails")});
    let (a, b) = tokio::join!(
        send(&gw, TEAM_KEY, &failing, &[]),
        send(&gw, TEAM_KEY, &failing, &[])
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (502, 502));
    assert_eq!(mock.count("up"), 3);
    gw.running.shutdown().await;
}

#[tokio::test]
async fn replicas_share_answers_through_redis_and_survive_it_going_away() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let cfg = format!(
        "[cache]\nredis_url = \"redis://127.0.0.1:{}/0\"\nredis_timeout = \"500ms\"\n{CACHED}",
        redis.port
    );
    let a = start(&mock, &cfg).await;
    let b = start(&mock, &cfg).await;
    let req = json!({"model": "cached", "messages": user("shared between replicas")});
    let (s1, first) = ask(&a, &req, &[]).await;
    assert_eq!(s1, "miss");
    // The write to Redis happens beside the answer: wait until Redis holds it, then
    // ask replica b once (a miss on b would fill b's own memory and prove nothing).
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", redis.port)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..100 {
        let n: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (state, answer) = ask(&b, &req, &[]).await;
    assert_eq!(state, "hit", "replica b did not get replica a's answer");
    assert_eq!(answer, first);
    assert_eq!(mock.count("up"), 1);

    // Clearing the cache clears Redis too (only this cache's prefix).
    let _: () = redis::cmd("SET")
        .arg("someone-else:key")
        .arg("v")
        .query_async(&mut conn)
        .await
        .unwrap();
    let cleared = a.admin_post("/admin/cache/clear").await;
    assert_eq!(cleared["redis_cleared"]["removed"], 1, "{cleared}");
    let left: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(left, 1, "other keys in Redis are left alone");
    assert_eq!(ask(&a, &req, &[]).await.0, "miss");

    // Redis goes away: requests still succeed, as misses.
    drop(redis);
    let other = json!({"model": "cached", "messages": user("after redis died")});
    let (s, v) = ask(&b, &other, &[]).await;
    assert_eq!(s, "miss");
    assert_eq!(content(&v), "up says: after redis died");
    // What b holds in memory still serves.
    assert_eq!(ask(&b, &other, &[]).await.0, "hit");
    a.running.shutdown().await;
    b.running.shutdown().await;
}
