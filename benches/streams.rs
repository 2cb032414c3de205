//! The streaming bench's two ends (driven by `benches/streams.sh`): an upstream that
//! streams a fixed number of chunks a fixed gap apart, each stamped with the wall-clock
//! time it was written, and a client that opens many streams (spread over a window or all
//! at once), each on its own connection, and measures what a proxy in between adds:
//! time to first token, each chunk's delivery delay (arrival − stamp), stalls (a gap
//! between two chunks 100 ms over the upstream's), and the proxy's memory and CPU.
//!
//! Both ends speak OpenAI's chat-completion stream and Anthropic's messages stream, so
//! a translating adapter can sit between them. The stamp is a run of letters (`TS` and
//! nineteen of `a`..`j`, one per decimal digit of the nanoseconds), which no redactor
//! pattern matches. Bounded: a fixed number of streams and chunks, and a deadline.
//!
//! ```text
//! streams upstream ADDR CHUNKS GAP_MS
//! streams client URL openai|anthropic MODEL STREAMS WINDOW_MS GAP_MS [PID,PID…]
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("upstream") => rt.block_on(upstream(
            args[1].clone(),
            args[2].parse().unwrap(),
            args[3].parse().unwrap(),
        )),
        Some("client") => {
            let pids = args.get(7).map(|p| pids(p)).unwrap_or_default();
            let body = request_body(&args[2], &args[3]);
            rt.block_on(client(
                &args[1],
                body,
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
                args[6].parse().unwrap(),
                pids,
            ))
        }
        // `cargo bench` runs the target with no arguments: nothing to measure alone.
        _ => eprintln!("usage: streams upstream ADDR CHUNKS GAP_MS | streams client …"),
    }
}

fn pids(list: &str) -> Vec<u32> {
    list.split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `TS` and the nanoseconds as letters.
fn stamp() -> String {
    let digits = format!("{:019}", now_ns() % 10u128.pow(19));
    let letters: String = digits.bytes().map(|d| (d - b'0' + b'a') as char).collect();
    format!("TS{letters}")
}

// ---- the upstream -------------------------------------------------------------------

async fn upstream(addr: String, chunks: usize, gap_ms: u64) {
    let listener = TcpListener::bind(&addr).await.unwrap();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(req, chunks, gap_ms));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    req: Request<Incoming>,
    chunks: usize,
    gap_ms: u64,
) -> Result<Response<Body>, Infallible> {
    let anthropic = req.uri().path().ends_with("/messages");
    if req.method() == hyper::Method::GET {
        return Ok(Response::new(Full::new(Bytes::from("ok")).boxed()));
    }
    let _ = req.into_body().collect().await;
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        let send = |s: String| {
            let tx = tx.clone();
            async move { tx.send(Ok(Frame::data(Bytes::from(s)))).await.is_ok() }
        };
        let opening = if anthropic {
            concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_b\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
            )
        } else {
            ""
        };
        let start = tokio::time::Instant::now();
        for i in 0..chunks {
            tokio::time::sleep_until(start + Duration::from_millis(gap_ms * i as u64)).await;
            let text = format!("{} ", stamp());
            let event = if anthropic {
                format!(
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
                )
            } else {
                format!(
                    "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
                )
            };
            let event = if i == 0 {
                format!("{opening}{event}")
            } else {
                event
            };
            if !send(event).await {
                return;
            }
        }
        let closing = if anthropic {
            format!(
                "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\nevent: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{chunks}}}}}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
            )
        } else {
            format!(
                "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":20,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
                chunks + 20
            )
        };
        send(closing).await;
    });
    let body = StreamBody::new(tokio_stream_of(rx)).boxed();
    Ok(Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap())
}

fn tokio_stream_of<T>(mut rx: mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

// ---- the client ---------------------------------------------------------------------

/// What one stream saw.
#[derive(Default)]
struct Seen {
    ttft_us: Option<f64>,
    delays_us: Vec<f64>,
    stalls: usize,
    chunks: usize,
    error: Option<String>,
}

/// A streamed request in the API's shape, for `model`.
fn request_body(api: &str, model: &str) -> &'static str {
    let max_tokens = if api == "anthropic" {
        r#""max_tokens":256,"#
    } else {
        ""
    };
    let body = format!(
        r#"{{"model":"{model}",{max_tokens}"stream":true,"messages":[{{"role":"user","content":"Tell me a long story, please."}}]}}"#
    );
    Box::leak(body.into_boxed_str())
}

async fn client(
    url: &str,
    body: &'static str,
    streams: usize,
    window_ms: u64,
    gap_ms: u64,
    pids: Vec<u32>,
) {
    let url: hyper::Uri = url.parse().unwrap();
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak_open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rss_before = rss_kib(&pids);
    let cpu_before = cpu_ticks(&pids);
    let peak_rss = Arc::new(Mutex::new(rss_before));
    let sampler = {
        let (pids, peak_rss) = (pids.clone(), peak_rss.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let r = rss_kib(&pids);
                let mut p = peak_rss.lock().await;
                *p = (*p).max(r);
            }
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(streams);
    for i in 0..streams {
        let at = started + Duration::from_micros(window_ms * 1000 * i as u64 / streams as u64);
        let (url, open, peak_open) = (url.clone(), open.clone(), peak_open.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let n = open.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak_open.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
            let seen =
                tokio::time::timeout(Duration::from_secs(60), one_stream(&url, body, gap_ms))
                    .await
                    .unwrap_or_else(|_| Seen {
                        error: Some("timed out".into()),
                        ..Seen::default()
                    });
            open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            seen
        }));
    }
    let mut all = Vec::with_capacity(streams);
    for t in tasks {
        all.push(t.await.unwrap());
    }
    sampler.abort();
    let cpu_ms = (cpu_ticks(&pids) - cpu_before) as f64 * 1000.0 / clk_tck();
    let peak = *peak_rss.lock().await;
    report(
        &all,
        started.elapsed(),
        rss_before,
        peak,
        rss_kib(&pids),
        cpu_ms,
        peak_open.load(std::sync::atomic::Ordering::SeqCst),
    );
}

async fn one_stream(url: &hyper::Uri, body: &'static str, gap_ms: u64) -> Seen {
    let mut seen = Seen::default();
    let addr = format!("{}:{}", url.host().unwrap(), url.port_u16().unwrap());
    let tcp = match TcpStream::connect(&addr).await {
        Ok(t) => t,
        Err(e) => {
            return Seen {
                error: Some(format!("connect: {e}")),
                ..seen
            };
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut send, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await {
        Ok(x) => x,
        Err(e) => {
            return Seen {
                error: Some(format!("handshake: {e}")),
                ..seen
            };
        }
    };
    tokio::spawn(conn);
    let req = Request::post(url.clone())
        .header("host", addr.as_str())
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("authorization", "Bearer sb-bench-gateway-key")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let sent = Instant::now();
    let res = match send.send_request(req).await {
        Ok(r) => r,
        Err(e) => {
            return Seen {
                error: Some(format!("request: {e}")),
                ..seen
            };
        }
    };
    if !res.status().is_success() {
        let status = res.status();
        let text = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Seen {
            error: Some(format!("{status}: {}", String::from_utf8_lossy(&text))),
            ..seen
        };
    }
    let mut body = res.into_body();
    // The stream's bytes not yet split into events, and the text of those that were:
    // a proxy may cut and join the text (a redactor's window), not the stamps in it.
    let (mut raw, mut carry): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let mut last: Option<Instant> = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            seen.error = Some("body broke".into());
            break;
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let (arrived, arrived_ns) = (Instant::now(), now_ns());
        raw.extend_from_slice(data);
        text_of_events(&mut raw, &mut carry);
        let stamps = take_stamps(&mut carry);
        if stamps.is_empty() {
            continue;
        }
        if seen.ttft_us.is_none() {
            seen.ttft_us = Some(arrived.duration_since(sent).as_secs_f64() * 1e6);
        }
        if let Some(l) = last
            && arrived.duration_since(l) > Duration::from_millis(gap_ms + 100)
        {
            seen.stalls += 1;
        }
        last = Some(arrived);
        let now19 = arrived_ns % 10u128.pow(19);
        for s in stamps {
            seen.chunks += 1;
            seen.delays_us.push(now19.saturating_sub(s) as f64 / 1e3);
        }
    }
    seen
}

/// Moves the text of each complete event in `raw` to `text`: an OpenAI chunk's
/// `choices[0].delta.content`, an Anthropic event's `delta.text`.
fn text_of_events(raw: &mut Vec<u8>, text: &mut Vec<u8>) {
    while let Some(end) = memchr::memmem::find(raw, b"\n\n") {
        let event: Vec<u8> = raw.drain(..end + 2).collect();
        let Some(at) = memchr::memmem::find(&event, b"data:") else {
            continue;
        };
        let line = event[at + 5..]
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default();
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let t = v
            .pointer("/choices/0/delta/content")
            .or_else(|| v.pointer("/delta/text"))
            .and_then(|t| t.as_str());
        if let Some(t) = t {
            text.extend_from_slice(t.as_bytes());
        }
    }
}

/// The stamps complete in `buf`, leaving a possibly cut one at its end.
fn take_stamps(buf: &mut Vec<u8>) -> Vec<u128> {
    let mut out = Vec::new();
    let (mut i, mut consumed) = (0, 0);
    while let Some(p) = memchr::memmem::find(&buf[i..], b"TS") {
        let at = i + p;
        if at + 21 > buf.len() {
            break;
        }
        let digits = &buf[at + 2..at + 21];
        if digits.iter().all(|b| (b'a'..=b'j').contains(b)) {
            out.push(
                digits
                    .iter()
                    .fold(0u128, |n, d| n * 10 + (d - b'a') as u128),
            );
            i = at + 21;
            consumed = i;
        } else {
            i = at + 2;
        }
    }
    // A stamp cut at the end starts within its last 20 bytes.
    let keep_from = consumed.max(buf.len().saturating_sub(20));
    buf.drain(..keep_from);
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[allow(clippy::too_many_arguments)]
fn report(
    all: &[Seen],
    took: Duration,
    rss0: u64,
    peak: u64,
    rss1: u64,
    cpu_ms: f64,
    peak_open: usize,
) {
    let mut ttft: Vec<f64> = all.iter().filter_map(|s| s.ttft_us).collect();
    let mut delays: Vec<f64> = all
        .iter()
        .flat_map(|s| s.delays_us.iter().copied())
        .collect();
    ttft.sort_by(f64::total_cmp);
    delays.sort_by(f64::total_cmp);
    let errors: Vec<&String> = all.iter().filter_map(|s| s.error.as_ref()).collect();
    let stalls: usize = all.iter().map(|s| s.stalls).sum();
    let chunks: usize = all.iter().map(|s| s.chunks).sum();
    println!(
        "ttft_p50_us={:.0} ttft_p99_us={:.0} chunk_p50_us={:.0} chunk_p99_us={:.0} stalls={stalls} chunks={chunks} errors={} streams={} peak_open={peak_open} took_s={:.2} rss_before_kib={rss0} rss_peak_kib={peak} rss_after_kib={rss1} cpu_ms={cpu_ms:.0}",
        pct(&ttft, 0.5),
        pct(&ttft, 0.99),
        pct(&delays, 0.5),
        pct(&delays, 0.99),
        errors.len(),
        all.len(),
        took.as_secs_f64(),
    );
    if let Some(e) = errors.first() {
        eprintln!("first error: {e}");
    }
}

fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .map(|s| {
            // Fields after the command (which may hold spaces): utime is the 12th, stime the 13th.
            let rest = &s[s.rfind(')').map_or(0, |i| i + 2)..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)
        })
        .sum()
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ: 100 on Linux).
fn clk_tck() -> f64 {
    100.0
}
