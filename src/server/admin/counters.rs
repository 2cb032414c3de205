//! `GET /admin/counters` and `POST /admin/counters/reset`: the policies' live
//! counters (quota and budget state), listed or cleared.

use http::StatusCode;
use hyper::body::Incoming;
use serde_json::json;

use crate::gateway::Gateway;
use crate::reply::ApiError;
use crate::server::Body;
use crate::server::wire::json_response;

/// `GET /admin/counters`: the policies' live counters (quota state);
/// `POST /admin/counters/reset` with an optional JSON body `{"plugin": .., "key": ..}`:
/// forget them (all, one plugin's, or one key of one plugin).
pub async fn counters(
    gw: &Gateway,
    path: &str,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    use http_body_util::BodyExt;
    let reset = path.ends_with("/reset");
    if reset != (req.method() == http::Method::POST) {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "use GET /admin/counters or POST /admin/counters/reset",
        )
        .into_response();
    }
    let c = gw.runtime.counters();
    if reset {
        let body = match http_body_util::Limited::new(req.into_body(), 64 << 10)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return ApiError::invalid(format!("cannot read the body: {e}"), None)
                    .into_response();
            }
        };
        let filter: crate::plugins::counters::CounterFilter =
            if body.iter().all(u8::is_ascii_whitespace) {
                Default::default()
            } else {
                match serde_json::from_slice(&body) {
                    Ok(f) => f,
                    Err(e) => {
                        return ApiError::invalid(
                            format!("body must be {{\"plugin\": .., \"key\": ..}}: {e}"),
                            None,
                        )
                        .into_response();
                    }
                }
            };
        return match c.reset(&filter).await {
            Ok(n) => json_response(StatusCode::OK, json!({ "removed": n })),
            Err(e) => ApiError::new(StatusCode::BAD_GATEWAY, "server_error", e.to_string())
                .into_response(),
        };
    }
    match c.list().await {
        Ok(list) => json_response(
            StatusCode::OK,
            json!({ "backend": c.backend(), "counters": list }),
        ),
        Err(e) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "server_error", e.to_string()).into_response()
        }
    }
}
