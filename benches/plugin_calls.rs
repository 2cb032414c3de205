//! Micro-benchmark of plugin calls through the real host (wasmtime, pooling
//! allocator, warm instance pool) with the built-in components: what one call of
//! each kind costs on the request path. Bounded: a fixed number of calls each.
//!
//! Run: `cargo bench --bench plugin_calls`

use std::time::{Duration, Instant};

mod common;

use common::{chat_body, ctx, report};
use switchboard::plugins::PluginRuntime;
use switchboard::plugins::calls;
use switchboard::types::*;

const N: usize = 20_000;

async fn time<F, Fut>(name: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..1000 {
        f().await;
    }
    let mut samples = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    report(name, samples);
}

/// Times `N` chunks through a stream redactor, after 1 000 of warm-up.
async fn stream_samples(
    r: &mut switchboard::pipeline::redact::StreamRedactor,
    chunk: &SseEvent,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(N);
    for i in 0..N + 1000 {
        let t = Instant::now();
        r.process(vec![chunk.clone()]).await.unwrap();
        if i >= 1000 {
            samples.push(t.elapsed());
        }
    }
    samples
}

/// A model that answers at once (what a guardrail's own cost is measured against).
struct AtOnce;

impl switchboard::plugins::ModelAccess for AtOnce {
    fn infer(
        &self,
        route: String,
        _m: Vec<ChatMessage>,
        _p: InferParams,
    ) -> futures_util::future::BoxFuture<'static, Result<InferAnswer, String>> {
        Box::pin(async move {
            Ok(InferAnswer {
                text: "no".into(),
                finish_reason: "stop".into(),
                model: route,
                usage: Usage::default(),
            })
        })
    }
    fn embed(
        &self,
        _route: String,
        texts: Vec<String>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Vec<f32>>, String>> {
        Box::pin(async move { Ok(texts.iter().map(|_| vec![1.0; 16]).collect()) })
    }

    fn moderate(
        &self,
        _route: String,
        texts: Vec<String>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Moderation>, String>> {
        Box::pin(async move { Ok(texts.iter().map(|_| Moderation::default()).collect()) })
    }
}

/// The built-in guardrails' calls: `builtin:pii` on a request of four messages and on a
/// 400-character stream window, and `builtin:llm-judge` on a request with a model that
/// answers at once (its own cost; a real judge adds one model call), its verdict asked
/// fresh each time and then cached.
async fn guardrails(runtime: &PluginRuntime) {
    use switchboard::plugins::world::Guardrail;
    let pii = runtime
        .load::<Guardrail>(&common::spec("pii", &[]), "bench")
        .await
        .unwrap();
    let messages: Vec<ChatMessage> = [
        "You are a helpful assistant.",
        "Hi, I need help with my order.",
        "Sure, what is the order number?",
        "It is 4711-2230, and you can mail me at jane@example.com or call +44 20 7946 0958.",
    ]
    .iter()
    .zip(["system", "user", "assistant", "user"])
    .map(|(t, r)| ChatMessage {
        role: r.into(),
        content: t.to_string(),
    })
    .collect();
    let req = GuardRequest {
        request_id: "r".into(),
        key_name: "k".into(),
        team: None,
        user: None,
        route: "m".into(),
        messages,
        response_schema: None,
        json_output: false,
        stream: true,
    };
    time(
        "guardrail pii check-request (4 messages, 2 finds)",
        || async {
            calls::check_request(&pii, &req, None).await.unwrap();
        },
    )
    .await;
    let window: String =
        "The quick brown fox jumps over the lazy dog, then writes to fox@example.org. ".repeat(6)
            [..400]
            .to_string();
    let w = || calls::Window {
        before: "",
        text: &window,
        last: false,
    };
    time(
        "guardrail pii check-stream (a 400-character window)",
        || async {
            calls::check_stream(&pii, &req, w(), None).await.unwrap();
        },
    )
    .await;
    let lent = switchboard::plugins::Lent {
        access: std::sync::Arc::new(AtOnce),
        timeout: Duration::from_secs(1),
    };
    let fresh = runtime
        .load::<Guardrail>(
            &common::spec("llm-judge", &[("route", "\"judge\""), ("cache_secs", "0")]),
            "bench",
        )
        .await
        .unwrap();
    time(
        "guardrail llm-judge check-request (model answers at once)",
        || async {
            calls::check_request(&fresh, &req, Some(&lent))
                .await
                .unwrap();
        },
    )
    .await;
    let cached = runtime
        .load::<Guardrail>(
            &common::spec("llm-judge", &[("route", "\"judge\"")]),
            "bench",
        )
        .await
        .unwrap();
    time(
        "guardrail llm-judge check-request (verdict cached)",
        || async {
            calls::check_request(&cached, &req, Some(&lent))
                .await
                .unwrap();
        },
    )
    .await;
}

fn main() {
    switchboard::app::init_crypto();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = common::engine();
        let runtime = PluginRuntime::new(&engine).unwrap();
        let mut strategies = Vec::new();
        for name in ["round-robin", "weighted", "priority", "random", "least-connections", "latency", "ttft", "cost", "usage-aware"] {
            strategies.push((name, runtime.load::<switchboard::plugins::world::Strategy>(&common::spec(name, &[]), "bench").await.unwrap()));
        }
        let openai = runtime.load::<switchboard::plugins::world::Adapter>(&common::spec("openai", &[]), "bench").await.unwrap();
        let anthropic = runtime.load::<switchboard::plugins::world::Adapter>(&common::spec("anthropic", &[]), "bench").await.unwrap();
        let redact = runtime.load::<switchboard::plugins::world::Redactor>(&common::spec("redact-pii", &[]), "bench").await.unwrap();
        let targets: Vec<TargetStats> = (0..3)
            .map(|i| TargetStats {
                provider: format!("p{i}"),
                model: "m".into(),
                weight: i + 1,
                priority: i,
                health: Health::Healthy,
                in_flight: 0,
                latency_ewma_us: 1000,
                ttft_ewma_us: 0,
                error_rate: 0.0,
                input_price_per_mtok: 1.0,
                output_price_per_mtok: 2.0,
                ratelimit_remaining_requests: None,
                ratelimit_remaining_tokens: None,
                retry_after_secs: None,
            })
            .collect();
        let mut seq = 0u64;
        let mut req = move || {
            seq += 1;
            RouteRequest { route: "m".into(), sequence: seq, random: seq * 7919, estimated_input_tokens: 300, max_output_tokens: Some(100), stream: false, text: None, shape: Default::default() }
        };
        println!("# plugin calls, {N} each after 1000 warm-up, one thread, warm instance pool");
        for (name, pool) in &strategies {
            let label = format!("strategy {name} select (3 targets)");
            time(&label, || {
                let r = req();
                let pool = pool.clone();
                let t = &targets;
                async move {
                    calls::select(&pool, &r, t).await.unwrap();
                }
            })
            .await;
        }
        let body = chat_body();
        println!("# chat body {} bytes", body.len());
        let c = ctx(false);
        time("adapter openai to-upstream", || async { calls::to_upstream(&openai, &c, &body).await.unwrap().unwrap(); }).await;
        time("adapter anthropic to-upstream (translate)", || async { calls::to_upstream(&anthropic, &c, &body).await.unwrap().unwrap(); }).await;
        let answer = UpstreamResponse {
            status: 200,
            headers: vec![],
            body: br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hamlet avenges his father and nearly everyone dies."}],"stop_reason":"end_turn","usage":{"input_tokens":30,"output_tokens":12}}"#.to_vec(),
        };
        time("adapter anthropic from-upstream (translate)", || async { calls::from_upstream(&anthropic, &c, answer.clone()).await.unwrap().unwrap(); }).await;
        let sc = ctx(true);
        let mut tr = calls::StreamTranslation::new(&anthropic, &sc).await.unwrap();
        let start = SseEvent { event: Some("message_start".into()), data: r#"{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":10,"output_tokens":1}}}"#.into() };
        tr.on_event(&start).await.unwrap().unwrap();
        let delta = SseEvent { event: Some("content_block_delta".into()), data: r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#.into() };
        let mut samples = Vec::with_capacity(N);
        for i in 0..N + 1000 {
            let t = Instant::now();
            tr.on_event(&delta).await.unwrap().unwrap();
            if i >= 1000 {
                samples.push(t.elapsed());
            }
        }
        report("adapter anthropic stream on-event (text delta)", samples);
        tr.close().await;
        let texts = vec!["Mail me at jane@example.com about card 4111 1111 1111 1111".to_string(); 4];
        time("redactor redact-pii (4 texts)", || async { calls::redact(&redact, Direction::Request, &texts).await.unwrap(); }).await;
        // A streamed answer through the held-back window (64 characters): one content
        // chunk of ~6 characters in, what may be sent out. Past the window each chunk
        // costs one redactor call over three texts and a JSON re-encode.
        let chain: switchboard::pipeline::redact::Chain = vec![switchboard::live::LivePlugin { spec: common::spec("redact-pii", &[]), pool: redact.clone() }].into();
        let mut sr = switchboard::pipeline::redact::StreamRedactor::new(switchboard::pipeline::redact::Masks { chain: Some(chain) }, 64);
        let chunk = SseEvent { event: None, data: r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"word, "},"finish_reason":null}]}"#.into() };
        report("stream redaction, per content chunk (window 64)", stream_samples(&mut sr, &chunk).await);

        // Provider-key scrubbing (one key registered): a whole 1.2 KB answer, and a
        // streamed content chunk (held back only where it could begin the key).
        switchboard::secrets::register("sk-bench-provider-key-0123456789abcdef");
        let answer = chat_body();
        time("key scrub, whole answer (1.2 KB JSON)", || async {
            std::hint::black_box(switchboard::secrets::scrub_json(&answer));
        })
        .await;
        let mut sk = switchboard::pipeline::redact::StreamRedactor::masking_keys(switchboard::pipeline::redact::Masks { chain: None }, 0);
        report("key scrub, per stream content chunk", stream_samples(&mut sk, &chunk).await);

        guardrails(&runtime).await;

        // A token quota's check (reserve) + record (reconcile) per request, with the
        // counters in memory, then in Redis when BENCH_REDIS_URL names one
        // (e.g. a local `redis-server`: redis://127.0.0.1:6379/0).
        let mut quota_spec = common::spec("token-quota", &[]);
        quota_spec.settings.insert("limit".into(), i64::MAX.to_string());
        let quota = runtime.load::<switchboard::plugins::world::Policy>(&quota_spec, "bench").await.unwrap();
        let preq = PolicyRequest { request_id: "r".into(), key_name: "team".into(), team: None, user: None, route: "m".into(), tags: Vec::new(), n: 1, estimated_input_tokens: 300, max_output_tokens: Some(100), stream: false };
        let counting = calls::Counting { at: switchboard::plugins::counters::now_secs(), caller: "team".into() };
        let outcome = Outcome { status: 200, usage: Usage { prompt: 280, completion: 90, cached_prompt: 0 }, ..Outcome::default() };
        time("policy token-quota check + record (memory counters)", || async {
            calls::check(&quota, &preq, &counting).await.unwrap();
            calls::record(&quota, &preq, &outcome, &counting).await.unwrap();
        }).await;
        // A monthly budget in money: the same reserve + reconcile, plus the calendar
        // period and the route's prices from the host.
        let mut budget_spec = common::spec("budget", &[]);
        budget_spec.settings.insert("limit".into(), "1000000000".into());
        budget_spec.settings.insert("timezone".into(), "\"Europe/Paris\"".into());
        let budget = runtime.load::<switchboard::plugins::world::Policy>(&budget_spec, "bench").await.unwrap();
        let priced = Outcome { cost_micros: 1200, ..outcome.clone() };
        time("policy budget check + record (memory counters)", || async {
            calls::check(&budget, &preq, &counting).await.unwrap();
            calls::record(&budget, &preq, &priced, &counting).await.unwrap();
        }).await;
        if let Ok(url) = std::env::var("BENCH_REDIS_URL") {
            let redis = switchboard::config::RedisConfig {
                url: switchboard::config::Secret::new(url),
                prefix: "switchboard:bench:".into(),
                timeout: Duration::from_secs(1),
            };
            runtime.counters().configure(&switchboard::config::CountersConfig { redis: Some(redis), sqlite_path: None }).unwrap();
            time("policy token-quota check + record (Redis counters)", || async {
                calls::check(&quota, &preq, &counting).await.unwrap();
                calls::record(&quota, &preq, &outcome, &counting).await.unwrap();
            }).await;
            time("policy budget check + record (Redis counters)", || async {
                calls::check(&budget, &preq, &counting).await.unwrap();
                calls::record(&budget, &preq, &priced, &counting).await.unwrap();
            }).await;
        }
    });
}
