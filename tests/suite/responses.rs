//! OpenAI's Responses API at `/v1/responses`, translated onto the chat pipeline: the
//! official OpenAI Python SDK against the gateway (create, stream, a function tool round
//! trip, its error class), and the wire details it does not show: what the provider was
//! sent, the event sequence and its numbers, what is refused and what is dropped.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

/// The shared two providers, and a route that refuses what it would drop.
fn config() -> String {
    format!(
        "{TWO_PROVIDERS}\n[models.\"strict\"]\ntargets = [{{ provider = \"oa\", model = \"gpt-x\" }}]\nunsupported_fields = \"error\"\n{NATIVE}"
    )
}

/// An OpenAI provider that takes the Responses API as it is.
const NATIVE: &str = r#"
[providers.openai]
adapter = "builtin:openai"
base_url = "{mock}/openai/v1"
api_key_env = "PROVIDER_KEY"
native = ["responses"]

[models."native"]
targets = [{ provider = "openai", model = "gpt-up" }]
"#;

async fn responses(gw: &Gw, body: &Value) -> reqwest::Response {
    gw.client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_speaks_responses() {
    let mock = Mock::start().await;
    let db = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("responses-sdk-{}.db", std::process::id()));
    let cfg = format!(
        "[responses]\nsqlite_path = {:?}\n{}",
        db.display().to_string(),
        config()
    );
    let gw = start(&mock, &cfg).await;
    let v = run_sdk_script(
        "responses_check.py",
        vec![format!("{}/v1", gw.url), TEAM_KEY.to_string()],
    )
    .await;
    assert_eq!(v["text"], "oa says: hello responses");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["usage"], json!([11, 7, 18]));
    assert_eq!(v["id_prefix"], "resp");
    assert_eq!(v["stream_text"], "an says: streamed words");
    assert_eq!(v["stream_final_text"], "an says: streamed words");
    assert_eq!(v["stream_usage"], 18);
    let both = json!([{ "city": "Paris" }, { "city": "Oslo" }]);
    assert_eq!(v["calls"], both);
    assert_eq!(v["after_tools"], "oa says: Weather?");
    assert_eq!(v["stream_calls"], both);
    assert_eq!(v["continued"], "oa says: and again");
    assert_eq!(v["retrieved"], "oa says: remember me");
    assert_eq!(v["after_delete"], "not_found");
    let refused = v["builtin_tool"].as_str().unwrap();
    assert!(refused.contains("web_search"), "{refused}");
    // Passed through: the built-in tool ran there, the events and usage are OpenAI's,
    // the continuation is OpenAI's to resolve.
    assert_eq!(v["native_types"], json!(["web_search_call", "message"]));
    assert_eq!(v["native_stream"], "openai says: streamed natively");
    assert_eq!(v["native_usage"], json!([9, 7]));
    assert_eq!(v["native_continued"], "openai says: on");
    // The surface through the SDK: moderation, binary speech, a multipart upload.
    assert_eq!(v["moderation_flagged"], false);
    assert_eq!(v["speech_bytes"], crate::mock::surface::SPEECH_BYTES);
    let heard = v["transcript"].as_str().unwrap();
    assert!(heard.ends_with("bytes with gpt-up"), "{heard}");
    assert_eq!(v["file_id"], "file-openai-0");
    assert_eq!(v["file_content"], "{\"custom_id\":\"1\"}\n");
    assert_eq!(v["batch_status"], "completed");
    assert_eq!(v["batch_output"], "{\"ok\":true}\n");
    assert_eq!(v["file_ids"], json!(["file-openai-0", "file-openai-0-out"]));
    assert_eq!(v["file_after_delete"], "not_found");
    let native = mock.seen("openai");
    assert!(native[..3].iter().all(|s| s.path == "/v1/responses"));
    assert_eq!(native[2].body["previous_response_id"], "resp_at_openai");
    // The tool-results turn as the OpenAI-compatible provider got it.
    let seen = mock.seen("oa");
    let turn = &seen
        .iter()
        .find(|s| s.body["messages"].as_array().is_some_and(|m| m.len() == 4))
        .unwrap()
        .body;
    let roles: Vec<_> = turn["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool"], "{turn}");
    assert_eq!(turn["messages"][1]["tool_calls"][1]["id"], "call_2");
    assert_eq!(turn["messages"][3]["tool_call_id"], "call_2");
    assert_eq!(turn["messages"][3]["content"], "18C");
}

#[tokio::test]
async fn what_the_provider_is_sent_is_the_request_in_chat_form() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let body = json!({
        "model": "m", "instructions": "Be brief.", "max_output_tokens": 50,
        "temperature": 0.3, "top_p": 0.9, "user": "u-1", "metadata": { "k": "v" },
        "reasoning": { "effort": "low" },
        "text": { "format": { "type": "json_schema", "name": "out", "schema": schema, "strict": true } },
        "tool_choice": { "type": "function", "name": "f" },
        "tools": [{ "type": "function", "name": "f", "parameters": { "type": "object" } }],
        "input": [
            { "role": "developer", "content": "Dev note." },
            { "type": "message", "role": "user", "content": [
                { "type": "input_text", "text": "Look:" },
                { "type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low" },
                { "type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE" },
            ]},
            { "role": "assistant", "content": [{ "type": "output_text", "text": "Seen." }] },
            { "type": "reasoning", "id": "rs_1", "summary": [] },
            { "role": "user", "content": "And?" },
        ],
    });
    let r = responses(&gw, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-dropped"], "reasoning_items");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["model"], "m");
    assert_eq!(v["metadata"], json!({ "k": "v" }), "echoed back");
    assert_eq!(v["max_output_tokens"], 50);
    let sent = &mock.seen("oa")[0].body;
    assert_eq!(sent["model"], "gpt-x");
    assert_eq!(sent["max_completion_tokens"], 50);
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["top_p"], 0.9);
    assert_eq!(sent["user"], "u-1");
    assert_eq!(sent["reasoning_effort"], "low");
    assert!(sent.get("metadata").is_none(), "{sent}");
    assert_eq!(
        sent["response_format"],
        json!({ "type": "json_schema", "json_schema": { "name": "out", "schema": schema, "strict": true } })
    );
    assert_eq!(
        sent["tool_choice"],
        json!({ "type": "function", "function": { "name": "f" } })
    );
    assert_eq!(sent["tools"][0]["function"]["name"], "f");
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({ "role": "system", "content": "Be brief." }));
    assert_eq!(m[1], json!({ "role": "system", "content": "Dev note." }));
    assert_eq!(
        m[2]["content"][1]["image_url"],
        json!({ "url": "data:image/png;base64,AAAA", "detail": "low" })
    );
    assert_eq!(m[2]["content"][2]["file"]["filename"], "a.pdf");
    assert_eq!(m[3], json!({ "role": "assistant", "content": "Seen." }));
    assert_eq!(m[4], json!({ "role": "user", "content": "And?" }));
    assert_eq!(m.len(), 5);
}

/// The events of an SSE body: (event name, data).
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let name = b
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default();
            let data = b
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (name.to_string(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_stream_is_the_responses_event_sequence() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let r = responses(
        &gw,
        &json!({ "model": "m", "input": "three little words", "stream": true }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let evs = events(&r.text().await.unwrap());
    for (i, (name, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i, "{name}");
    }
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    let deltas = names
        .iter()
        .filter(|n| **n == "response.output_text.delta")
        .count();
    assert!(deltas >= 3, "{names:?}");
    let without_deltas: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != "response.output_text.delta")
        .collect();
    assert_eq!(
        without_deltas,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let (_, done) = evs.last().unwrap();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["usage"]["total_tokens"], 18);
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"],
        "oa says: three little words"
    );
    // The provider was asked for the usage chunk the completed event reports.
    assert_eq!(
        mock.seen("oa")[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn what_a_translated_route_cannot_do_is_refused_by_name() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    for (body, names) in [
        (
            json!({ "model": "m", "input": "x", "tools": [{ "type": "file_search" }] }),
            "file_search",
        ),
        (
            json!({ "model": "m", "input": "x", "previous_response_id": "resp_1" }),
            "previous_response_id",
        ),
        (
            json!({ "model": "m", "input": [{ "type": "item_reference", "id": "x" }] }),
            "item_reference",
        ),
        (
            json!({ "model": "m", "input": "x", "frobnicate": 1 }),
            "frobnicate",
        ),
        (json!({ "model": "m" }), "input"),
    ] {
        let r = responses(&gw, &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(names), "{msg}");
    }
    assert_eq!(mock.count("oa"), 0, "nothing reached the provider");
    // Unknown model: the pipeline's own error, in OpenAI's shape.
    let r = responses(&gw, &json!({ "model": "nope", "input": "x" })).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "model_not_found"
    );
    // No [responses] store: a clear 404, after authentication.
    let url = format!("{}/v1/responses/resp_1", gw.url);
    let r = gw.ask(reqwest::Method::GET, &url, TEAM_KEY, None).await;
    assert_eq!(r.status(), 404);
    let msg = r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("keeps no responses"), "{msg}");
    let r = gw.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_strict_route_refuses_what_would_be_dropped_and_drops_are_counted() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let input = json!([
        { "type": "reasoning", "id": "rs_1", "summary": [] },
        { "role": "user", "content": "hi" },
    ]);
    let r = responses(&gw, &json!({ "model": "strict", "input": input })).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("reasoning_items") && msg.contains("unsupported_fields"),
        "{msg}"
    );
    assert_eq!(mock.count("oa"), 0);
    // The same request on a lenient route goes through, and the drop is counted.
    let r = responses(&gw, &json!({ "model": "m", "input": input })).await;
    assert_eq!(r.status(), 200);
    let text = gw.metrics_text().await;
    for route in ["strict", "m"] {
        let line = format!(
            "switchboard_dropped_fields_total{{api=\"responses\",route=\"{route}\",field=\"reasoning_items\"}} 1"
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vercel_ai_sdk_default_provider_works() {
    let mock = Mock::start().await;
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vercel-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let db = log.with_extension("db");
    let cfg = format!(
        "[access_log]\nformat = \"json\"\npath = {:?}\n[responses]\nsqlite_path = {:?}\n{}",
        log.display().to_string(),
        db.display().to_string(),
        config()
    );
    let gw = start(&mock, &cfg).await;
    let v = run_node_script(
        "vercel_ai_check.mjs",
        vec![format!("{}/v1", gw.url), TEAM_KEY.to_string()],
    )
    .await;
    assert_eq!(v["text"], "oa says: hello vercel");
    assert_eq!(v["usage"], json!([11, 7]));
    assert_eq!(v["next"], "oa says: and more");
    assert_eq!(v["stream_text"], "an says: streamed words");
    assert_eq!(v["stream_usage"], 18);
    assert_eq!(
        v["tool_inputs"],
        json!([{ "city": "Paris" }, { "city": "Oslo" }])
    );
    assert_eq!(v["after_tools"], "oa says: Weather?");
    // The SDK spoke the Responses API, not chat completions.
    let w = gw.running.gateway.access_log.sink().unwrap();
    tokio::task::spawn_blocking(move || w.flush())
        .await
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let apis: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["api"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(apis.len(), 5, "{text}");
    assert!(apis.iter().all(|a| a == "responses"), "{apis:?}");
}

/// `[responses]`: answers are kept for the key that made them; a conversation continues
/// by `previous_response_id` (the stored turns reach the provider first), streams are
/// stored when they complete, `store: false` keeps nothing, and `DELETE` forgets.
#[tokio::test]
async fn stored_responses_continue_a_conversation_for_their_key_only() {
    use sha2::Digest;
    let mock = Mock::start().await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("responses-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let other = "other-key-0123456789";
    let hash: String = sha2::Sha256::digest(other.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cfg = format!(
        "[responses]\nsqlite_path = {:?}\n\n[[keys]]\nname = \"other\"\nsha256 = \"{hash}\"\n{}",
        dir.join("responses.db").display().to_string(),
        config()
    );
    let gw = start(&mock, &cfg).await;
    let first: Value = responses(
        &gw,
        &json!({ "model": "m", "instructions": "Be brief.", "input": "first question" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first["store"], true);
    let id = first["id"].as_str().unwrap().to_string();
    let url = format!("{}/v1/responses/{id}", gw.url);
    let got: Value = gw
        .ask(reqwest::Method::GET, &url, TEAM_KEY, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, first);
    let r = gw.ask(reqwest::Method::GET, &url, other, None).await;
    assert_eq!(r.status(), 404, "another key does not see it");

    // Continued, streamed: the provider gets the stored turn, then the new one.
    let r = responses(&gw, &json!({ "model": "m", "previous_response_id": id, "input": "second question", "stream": true })).await;
    assert_eq!(r.status(), 200);
    let evs = events(&r.text().await.unwrap());
    let done = &evs.last().unwrap().1["response"];
    assert_eq!(done["previous_response_id"], id.as_str());
    let seen = mock.seen("oa");
    let sent = &seen.last().unwrap().body;
    let turns: Vec<(String, String)> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("user", "first question"),
        ("assistant", "oa says: first question"),
        ("user", "second question"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        turns, want,
        "instructions are not carried over, as OpenAI does"
    );
    // The streamed answer is stored as it completes: a third turn continues it at once,
    // naming an earlier answer by reference (as the Vercel AI SDK does).
    let second = done["id"].as_str().unwrap().to_string();
    let first_item = first["output"][0]["id"].as_str().unwrap().to_string();
    let r = responses(
        &gw,
        &json!({ "model": "m", "previous_response_id": second, "store": false,
                 "input": [{ "type": "item_reference", "id": first_item }, { "role": "user", "content": "third" }] }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let third: Value = r.json().await.unwrap();
    assert_eq!(third["store"], false);
    let seen = mock.seen("oa");
    let last = seen.last().unwrap().body["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(last.len(), 6, "{last:?}");
    assert_eq!(
        last[4],
        json!({ "role": "assistant", "content": "oa says: first question" })
    );
    // A reference to an item that is not this key's is a 400.
    let r = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(other)
        .json(&json!({ "model": "m", "input": [{ "type": "item_reference", "id": first_item }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = gw
        .client
        .get(format!(
            "{}/v1/responses/{}",
            gw.url,
            third["id"].as_str().unwrap()
        ))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "store: false keeps nothing");

    // Someone else's id cannot be continued; a deleted one is gone.
    let r = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(other)
        .json(&json!({ "model": "m", "previous_response_id": id, "input": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "previous_response_id"
    );
    let r = gw.ask(reqwest::Method::DELETE, &url, TEAM_KEY, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], true);
    let r = gw.ask(reqwest::Method::GET, &url, TEAM_KEY, None).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_stored_responses_through_postgres() {
    let pg = Postgres::start().await;
    let mock = Mock::start().await;
    let cfg = format!(
        "[store]\npostgres_url_env = \"PG_URL\"\n\n[responses]\nretention_days = 7\n{}",
        config()
    );
    let url = pg.url();
    let env = [("PG_URL", url.as_str())];
    let (a, b) = (
        start_env(&mock, "", &cfg, &env).await,
        start_env(&mock, "", &cfg, &env).await,
    );
    let first: Value = responses(&a, &json!({ "model": "m", "input": "first question" }))
        .await
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap().to_string();
    // Made through one replica, read and continued through the other.
    let on_b = format!("{}/v1/responses/{id}", b.url);
    let mut got = Value::Null;
    for _ in 0..100 {
        let r = b
            .client
            .get(&on_b)
            .bearer_auth(TEAM_KEY)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            got = r.json().await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got, first);
    let r = responses(
        &b,
        &json!({ "model": "m", "previous_response_id": id, "input": "second question" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let seen = mock.seen("oa");
    let sent = &seen.last().unwrap().body;
    let texts: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "first question",
            "oa says: first question",
            "second question"
        ]
    );
    // Deleted through one, gone from the other.
    let r = a
        .client
        .delete(format!("{}/v1/responses/{id}", a.url))
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = b
        .client
        .get(&on_b)
        .bearer_auth(TEAM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
