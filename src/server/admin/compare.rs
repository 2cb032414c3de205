//! `POST /admin/compare` (whole, or `stream: true` as server-sent events: a `result`
//! per entry as it finishes, then `done`), `GET /admin/compare` (the kept comparisons,
//! newest first) and `GET /admin/compare/{id}` (one reopened). See `crate::manage::compare`.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::manage::compare::{Ask, run_one, run_streaming};
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

fn event(name: &str, v: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {v}\n\n"))
}

pub async fn handle(
    gw: &Arc<Gateway>,
    method: &http::Method,
    path: &str,
    body: Bytes,
    actor: &str,
) -> http::Response<Body> {
    let rest = path
        .trim_start_matches("/admin/compare")
        .trim_start_matches('/');
    match (method, rest) {
        (&http::Method::GET, "") => match gw.control.comparisons(50).await {
            Ok(list) => json_response(StatusCode::OK, json!({ "comparisons": list })),
            Err(e) => ApiError::internal(e).into_response(),
        },
        (&http::Method::GET, id) => match gw.control.comparison(id).await {
            Ok(Some(c)) => json_response(StatusCode::OK, c),
            Ok(None) => ApiError::not_found(format!("no comparison '{id}'")).into_response(),
            Err(e) => ApiError::internal(e).into_response(),
        },
        (&http::Method::POST, "") => compare(gw, body, actor).await,
        _ => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{method} is not allowed on {path}"),
        )
        .into_response(),
    }
}

async fn compare(gw: &Arc<Gateway>, body: Bytes, actor: &str) -> http::Response<Body> {
    let ask: Ask = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return ApiError::invalid(format!("invalid comparison: {e}"), None).into_response();
        }
    };
    let (entries, messages) = match ask.plan(gw) {
        Ok(p) => p,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    let id = format!("cmp_{:016x}", rand::random::<u64>());
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let question = crate::manage::compare_judge::question(&messages);
    if !ask.stream {
        let runs = entries.iter().map(|e| run_one(gw, &ask, e, &messages));
        let mut results = futures_util::future::join_all(runs).await;
        judged(gw, &ask, &question, &mut results).await;
        let kept = gw
            .control
            .keep_comparison(&id, actor, &request, &results)
            .await;
        return json_response(StatusCode::OK, kept);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let (gw, actor) = (gw.clone(), actor.to_string());
    tokio::spawn(async move {
        let _ = tx.send(event("start", &json!({ "id": id, "entries": entries.iter().map(|e| &e.label).collect::<Vec<_>>() }))).await;
        let mut runs: futures_util::stream::FuturesUnordered<_> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (gw, ask, messages, tx) = (&gw, &ask, &messages, tx.clone());
                async move {
                    let delta = |text: &str| {
                        // A slow reader loses deltas, never the result.
                        let _ = tx.try_send(event("delta", &json!({ "index": i, "text": text })));
                    };
                    (i, run_streaming(gw, ask, e, messages, delta).await)
                }
            })
            .collect();
        let mut results = vec![Value::Null; entries.len()];
        while let Some((i, mut r)) = futures_util::StreamExt::next(&mut runs).await {
            r["index"] = json!(i);
            let _ = tx.send(event("result", &r)).await;
            results[i] = r;
        }
        drop(runs);
        if ask.judge.is_some() {
            judged(&gw, &ask, &question, &mut results).await;
            for (i, r) in results.iter().enumerate() {
                let _ = tx
                    .send(event("judged", &json!({ "index": i, "judge": r["judge"] })))
                    .await;
            }
        }
        let kept = gw
            .control
            .keep_comparison(&id, &actor, &request, &results)
            .await;
        let _ = tx.send(event("done", &kept)).await;
    });
    let mut resp = http::Response::new(crate::reply::channel(rx));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    resp
}

/// Scores the results with the comparison's judge, when it has one (as the admin).
async fn judged(gw: &Gateway, ask: &Ask, question: &str, results: &mut [Value]) {
    if let Some(j) = &ask.judge {
        let admin = crate::manage::compare::admin_principal();
        crate::manage::compare_judge::score_all((gw, &admin), j, question, results).await;
    }
}

/// `POST /admin/routes/{name}/test`: one short real call through each enabled target
/// of the route (the normal path, pinned to the target): status, latency, answer.
pub async fn test_route(gw: &Arc<Gateway>, name: &str) -> http::Response<Body> {
    let live = gw.live.load_full();
    let Some(route) = live.routes.get(name) else {
        return ApiError::not_found(format!("no route '{name}'")).into_response();
    };
    let ask = Ask {
        prompt: Some("Say OK.".into()),
        messages: None,
        routes: Vec::new(),
        targets: route
            .targets
            .iter()
            .map(|t| format!("{name}/{}/{}", t.target.provider, t.target.model))
            .collect(),
        max_tokens: Some(8),
        temperature: None,
        top_p: None,
        stream: false,
        judge: None,
    };
    drop(live);
    let (entries, messages) = match ask.plan(gw) {
        Ok(p) => p,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    let runs = entries.iter().map(|e| run_one(gw, &ask, e, &messages));
    let results = futures_util::future::join_all(runs).await;
    json_response(StatusCode::OK, json!({ "route": name, "targets": results }))
}
