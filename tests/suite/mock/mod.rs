//! The one fake in the test suite: an in-process provider on a loopback port that
//! speaks OpenAI's (chat and Responses) and Anthropic's wire formats (JSON and SSE, tool calls included)
//! and injects faults on demand. Each provider name is a path prefix, so one mock
//! plays many providers: `http://127.0.0.1:PORT/<name>/v1`.

#![allow(dead_code)]

pub mod anthropic;
pub mod bedrock;
mod claude_hosted;
pub mod cohere;
pub mod dashscope;
mod files;
pub mod gemini;
pub mod hook;
pub mod hunyuan;
pub mod issuer;
pub mod native;
pub mod ollama;
pub mod openai;
pub mod qianfan;
mod responses;
pub mod surface;
pub mod tokens;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the mock does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status with this body (content-type JSON).
    Status(u16, String),
    /// Wait before answering normally.
    Delay(Duration),
    /// Never answer.
    Hang,
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Stream: send this many events, then break the connection.
    CutAfter(usize),
    /// Stream: wait this long between events.
    SlowEvents(Duration),
    /// 200 with an extra response header (e.g. rate-limit headers).
    Header(String, String),
    /// 429 with `retry-after: N`.
    RateLimited(u64),
    /// This status and body, with `retry-after: N` (a provider's own error shape).
    StatusRetry(u16, String, u64),
    /// Answer with this text instead of the echo; streams send it in pieces of this
    /// many characters (a provider whose answer carries what it should not).
    Says(String, usize),
    /// Answer this 3xx status with a `location` header.
    Redirect(u16, String),
    /// Send the headers of a 200, then break the connection.
    Reset,
    /// Stream this text in pieces of this many characters, this long apart.
    Drip(String, usize, Duration),
    /// Answer (chat, not streamed) with this many completion tokens, or the request's
    /// `max_tokens` / `max_completion_tokens` when it sets fewer (as providers do).
    Verbose(u64),
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub provider: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub query: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    queued: Mutex<HashMap<String, VecDeque<Fault>>>,
    sticky: Mutex<HashMap<String, Fault>>,
    seen: Mutex<Vec<Seen>>,
    /// Streams whose receiver went away before the stream ended.
    cancelled: AtomicUsize,
    /// Uploaded files (id → bytes) and batches (id → (input file, output file)).
    files: Mutex<HashMap<String, Vec<u8>>>,
    batches: Mutex<HashMap<String, (String, String)>>,
    /// The key each provider insists on (401 to any other).
    keys: Mutex<HashMap<String, String>>,
    /// The token endpoints' calls and faults.
    tokens: Mutex<tokens::Tokens>,
}

pub struct Mock {
    pub addr: SocketAddr,
    state: Arc<State>,
}

/// A body fed from a channel; it notices when the peer stops reading.
pub struct ChanBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

pub type MockBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole body of bytes.
pub fn full_body(bytes: Vec<u8>) -> MockBody {
    http_body_util::Full::new(Bytes::from(bytes))
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

pub fn json_resp(status: u16, body: String) -> http::Response<MockBody> {
    let mut r = http::Response::new(
        http_body_util::Full::new(Bytes::from(body))
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    );
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// Streams `events` (already SSE-encoded) with the fault's pacing or cut.
fn sse_resp(
    state: Arc<State>,
    events: Vec<String>,
    fault: Option<Fault>,
) -> http::Response<MockBody> {
    let frames = events.into_iter().map(String::into_bytes).collect();
    frames_resp(state, frames, "text/event-stream", fault)
}

/// Streams `frames` (SSE events, NDJSON lines, eventstream messages) one write each,
/// with the fault's pacing or cut.
fn frames_resp(
    state: Arc<State>,
    events: Vec<Vec<u8>>,
    content_type: &str,
    fault: Option<Fault>,
) -> http::Response<MockBody> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let (cut, pause) = match fault {
            Some(Fault::CutAfter(n)) => (Some(n), None),
            Some(Fault::SlowEvents(d)) => (None, Some(d)),
            _ => (None, None),
        };
        for (i, ev) in events.into_iter().enumerate() {
            if cut == Some(i) {
                // Let what was sent reach the peer before the connection breaks.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx.send(Err(std::io::Error::other("cut"))).await;
                return;
            }
            if let Some(d) = pause
                && i > 0
            {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = tx.closed() => {
                        state.cancelled.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
            if tx.send(Ok(Bytes::from(ev))).await.is_err() {
                state.cancelled.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    });
    let mut r = http::Response::new(ChanBody(rx).boxed_unsync());
    r.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    r
}

pub fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

impl Mock {
    pub async fn start() -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(st, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Mock { addr, state }
    }

    pub fn base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}/v1", self.addr)
    }

    /// The next request to `provider` gets `fault` (queued in order).
    pub fn push_fault(&self, provider: &str, fault: Fault) {
        self.state
            .queued
            .lock()
            .entry(provider.to_string())
            .or_default()
            .push_back(fault);
    }

    /// Every request to `provider` gets `fault` until cleared.
    pub fn set_fault(&self, provider: &str, fault: Option<Fault>) {
        let mut s = self.state.sticky.lock();
        match fault {
            Some(f) => s.insert(provider.to_string(), f),
            None => s.remove(provider),
        };
    }

    /// Requests to `provider` without `key` (as a bearer token or `x-api-key`) get 401,
    /// as a provider answers a wrong key.
    /// How many times `provider`'s token endpoint was asked.
    pub fn token_fetches(&self, provider: &str) -> usize {
        let t = self.state.tokens.lock();
        t.fetches.get(provider).copied().unwrap_or(0)
    }

    /// `provider`'s token endpoint answers `status` (`None`: it works again).
    pub fn fail_tokens(&self, provider: &str, status: Option<u16>) {
        let mut t = self.state.tokens.lock();
        match status {
            Some(s) => t.failing.insert(provider.to_string(), s),
            None => t.failing.remove(provider),
        };
    }

    /// `provider`'s token endpoint takes this much longer to answer.
    pub fn token_delay(&self, provider: &str, ms: u64) {
        let mut t = self.state.tokens.lock();
        t.delay_ms.insert(provider.to_string(), ms);
    }

    /// The tokens `provider`'s endpoint issues live this long.
    pub fn token_life(&self, provider: &str, secs: u64) {
        let mut t = self.state.tokens.lock();
        t.life.insert(provider.to_string(), secs);
    }

    pub fn require_key(&self, provider: &str, key: &str) {
        self.state
            .keys
            .lock()
            .insert(provider.to_string(), key.to_string());
    }

    pub fn seen(&self, provider: &str) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .iter()
            .filter(|s| s.provider == provider)
            .cloned()
            .collect()
    }

    pub fn count(&self, provider: &str) -> usize {
        self.state
            .seen
            .lock()
            .iter()
            .filter(|s| s.provider == provider)
            .count()
    }

    pub fn cancelled(&self) -> usize {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.state.seen.lock().clear();
        self.state.queued.lock().clear();
        self.state.sticky.lock().clear();
    }
}

/// 401 when `provider` insists on a key the last request seen did not carry.
fn wrong_key(state: &State, provider: &str) -> Option<http::Response<MockBody>> {
    let want = state.keys.lock().get(provider).cloned()?;
    let seen = state.seen.lock();
    let h = &seen.last()?.headers;
    let given = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let in_query = seen.last()?.query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p.strip_prefix("access_token=") == Some(want.as_str()))
    });
    let ok = given("authorization") == Some(format!("Bearer {want}"))
        || given("x-api-key").as_deref() == Some(want.as_str())
        || in_query;
    (!ok).then(|| {
        json_resp(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#.into(),
        )
    })
}

async fn handle(state: Arc<State>, req: http::Request<Incoming>) -> http::Response<MockBody> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_string);
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let provider = parts.next().unwrap_or("").to_string();
    let rest = format!("/{}", parts.next().unwrap_or(""));
    if rest == "/v1/files" && method == http::Method::POST {
        state.seen.lock().push(Seen {
            provider: provider.clone(),
            path: rest.clone(),
            headers,
            query,
            body: Value::String(String::from_utf8_lossy(&body).into_owned()),
        });
        return files::upload(&state, &provider, &body);
    }
    if let Some(r) =
        tokens::route(&state, &provider, &rest, query.as_deref(), &headers, &body).await
    {
        return r;
    }
    if rest == "/v1/audio/transcriptions" {
        return surface::transcription(&state, provider, rest, headers, query, &body);
    }
    let raw: &[u8] = if body.is_empty() { b"null" } else { &body };
    let json: Value =
        match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(_) => return json_resp(
                400,
                r#"{"error":{"message":"mock: body is not JSON","type":"invalid_request_error"}}"#
                    .into(),
            ),
        };
    let unsigned =
        native::check_signature(&method, &path, query.as_deref(), &rest, &headers, &body);
    state.seen.lock().push(Seen {
        provider: provider.clone(),
        path: rest.clone(),
        headers,
        query,
        body: json.clone(),
    });
    if let Some(r) = unsigned {
        return r;
    }
    if let Some(r) = wrong_key(&state, &provider) {
        return r;
    }
    let fault = {
        let queued = state
            .queued
            .lock()
            .get_mut(&provider)
            .and_then(|q| q.pop_front());
        queued.or_else(|| state.sticky.lock().get(&provider).cloned())
    };
    let mut stream_fault = None;
    let mut extra_header = None;
    let mut says = None;
    match fault {
        Some(Fault::Status(code, body)) => return json_resp(code, body),
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Malformed) => return json_resp(200, "{\"id\": \"broken".into()),
        Some(Fault::Header(k, v)) => extra_header = Some((k, v)),
        Some(Fault::StatusRetry(code, body, secs)) => {
            let mut r = json_resp(code, body);
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            return r;
        }
        Some(Fault::RateLimited(secs)) => {
            let mut r = json_resp(
                429,
                r#"{"error":{"message":"rate limited","type":"rate_limit_error"}}"#.into(),
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            return r;
        }
        Some(f @ (Fault::CutAfter(_) | Fault::SlowEvents(_))) => stream_fault = Some(f),
        Some(Fault::Says(text, n)) => says = Some((text, n)),
        Some(Fault::Drip(text, n, pause)) => {
            says = Some((text, n));
            stream_fault = Some(Fault::SlowEvents(pause));
        }
        Some(Fault::Verbose(n)) => {
            let most = json["max_completion_tokens"]
                .as_u64()
                .or(json["max_tokens"].as_u64())
                .unwrap_or(u64::MAX);
            let mut v = openai::reply(&json, "verbose");
            v["usage"]["completion_tokens"] = n.min(most).into();
            return json_resp(200, v.to_string());
        }
        Some(Fault::Redirect(code, to)) => {
            let mut r = json_resp(code, "{}".into());
            r.headers_mut().insert("location", to.parse().unwrap());
            return r;
        }
        Some(Fault::Reset) => {
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(Err(std::io::Error::other("reset")));
            let mut r = http::Response::new(ChanBody(rx).boxed_unsync());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            return r;
        }
        None => {}
    }
    let streaming = json.get("stream").and_then(Value::as_bool) == Some(true);
    let text = match &says {
        Some((t, _)) => t.clone(),
        None if rest == "/v1/responses" => {
            format!("{provider} says: {}", responses::last_input_text(&json))
        }
        None => {
            let messages = json["messages"].as_array().cloned().unwrap_or_default();
            format!("{provider} says: {}", last_user_text(&messages))
        }
    };
    let pieces: Vec<String> = match &says {
        Some((t, n)) => {
            let chars: Vec<char> = t.chars().collect();
            chars
                .chunks((*n).max(1))
                .map(|c| c.iter().collect())
                .collect()
        }
        None => text.split_inclusive(' ').map(str::to_string).collect(),
    };
    if rest.starts_with("/v1/files") || rest.starts_with("/v1/batches") {
        return files::other(&state, &provider, &method, &rest[4..], &json);
    }
    if let Some(id) = rest.strip_prefix("/v1/responses/") {
        return responses::by_id(&method, id);
    }
    if let Some(r) = native::route(&state, &provider, &rest, &json, &says, stream_fault.clone()) {
        return r;
    }
    let mut resp = match rest.as_str() {
        "/v1/chat/completions" if streaming => {
            sse_resp(state.clone(), openai::stream(&json, &pieces), stream_fault)
        }
        "/v1/chat/completions" => json_resp(200, openai::reply(&json, &text).to_string()),
        "/v1/embeddings" => json_resp(200, openai::embeddings(&json).to_string()),
        "/v1/models" => json_resp(200, r#"{"object":"list","data":[]}"#.into()),
        "/v1/messages" if streaming => match anthropic::stream(&json, &pieces) {
            Ok(events) => sse_resp(state.clone(), events, stream_fault),
            Err(e) => json_resp(400, e.to_string()),
        },
        "/v1/responses" if streaming => sse_resp(
            state.clone(),
            responses::stream(&json, &pieces),
            stream_fault,
        ),
        "/v1/responses" => json_resp(200, responses::reply(&json, &text).to_string()),
        "/v1/moderations" | "/v1/images/generations" | "/v1/rerank" => {
            json_resp(200, surface::reply(&rest, &json).to_string())
        }
        "/v1/audio/speech" => surface::speech(),
        "/v1/messages/count_tokens" => json_resp(200, r#"{"input_tokens":42}"#.into()),
        "/v1/messages" => match anthropic::reply(&json, &text) {
            Ok(v) => json_resp(200, v.to_string()),
            Err(e) => json_resp(400, e.to_string()),
        },
        _ => json_resp(
            404,
            format!(
                r#"{{"error":{{"message":"mock: no route {rest}","type":"invalid_request_error"}}}}"#
            ),
        ),
    };
    if let Some((k, v)) = extra_header {
        resp.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

/// The text of the last user message (string or text parts), as both formats carry it.
pub fn last_user_text(messages: &[Value]) -> String {
    for m in messages.iter().rev() {
        if m["role"] == "user" {
            return match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
        }
    }
    String::new()
}

/// Whether the last message is a tool result (so the model answers with text).
pub fn answering_tool_results(messages: &[Value]) -> bool {
    messages.last().is_some_and(|m| {
        m["role"] == "tool"
            || m["content"]
                .as_array()
                .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"))
    })
}
