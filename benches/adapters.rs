//! What each provider adapter's translation costs, through the real host (wasmtime,
//! warm instance pool) with the built-in components: building the upstream request
//! from a 1.2 KB chat body, mapping a whole answer, and translating one streamed text
//! event; and the host's TC3 signature of that body. Bounded: a fixed number of calls
//! each.
//!
//! Run: `cargo bench --bench adapters`

mod common;

use std::time::Instant;

use common::{chat_body, ctx, report, spec};
use switchboard::plugins::{PluginRuntime, calls};
use switchboard::types::*;

const N: usize = 10_000;

/// (adapter, settings, a whole answer, a stream's opening events, one text event).
struct Case {
    name: &'static str,
    settings: &'static [(&'static str, &'static str)],
    answer: &'static str,
    opening: Vec<SseEvent>,
    text: SseEvent,
}

fn ev(event: Option<&str>, data: &str) -> SseEvent {
    SseEvent {
        event: event.map(str::to_string),
        data: data.to_string(),
    }
}

fn cases() -> Vec<Case> {
    let openai_answer = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hamlet avenges his father and nearly everyone dies."},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":12,"total_tokens":42}}"#;
    let openai_chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#;
    vec![
        Case {
            name: "openai",
            settings: &[],
            answer: openai_answer,
            opening: vec![],
            text: ev(None, openai_chunk),
        },
        Case {
            name: "openai",
            settings: &[
                ("stream_options", "false"),
                ("rename", r#"{"max_completion_tokens":"max_tokens"}"#),
                ("stream_usage", r#""choice""#),
            ],
            answer: openai_answer,
            opening: vec![],
            text: ev(None, openai_chunk),
        },
        Case {
            name: "anthropic",
            settings: &[],
            answer: r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hamlet avenges his father and nearly everyone dies."}],"stop_reason":"end_turn","usage":{"input_tokens":30,"output_tokens":12}}"#,
            opening: vec![ev(
                Some("message_start"),
                r#"{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":10,"output_tokens":1}}}"#,
            )],
            text: ev(
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            ),
        },
        Case {
            name: "gemini",
            settings: &[],
            answer: r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hamlet avenges his father and nearly everyone dies."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":12,"totalTokenCount":42},"modelVersion":"gemini-x","responseId":"r1"}"#,
            opening: vec![],
            text: ev(
                None,
                r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"}]}}],"usageMetadata":{"promptTokenCount":30},"modelVersion":"gemini-x","responseId":"r1"}"#,
            ),
        },
        Case {
            name: "azure-openai",
            settings: &[],
            answer: openai_answer,
            opening: vec![],
            text: ev(None, openai_chunk),
        },
        Case {
            name: "bedrock",
            settings: &[],
            answer: r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hamlet avenges his father and nearly everyone dies."}]}},"stopReason":"end_turn","usage":{"inputTokens":30,"outputTokens":12,"totalTokens":42}}"#,
            opening: vec![ev(
                Some("messageStart"),
                r#"{"role":"assistant","p":"abc"}"#,
            )],
            text: ev(
                Some("contentBlockDelta"),
                r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdef"}"#,
            ),
        },
        Case {
            name: "cohere",
            settings: &[],
            answer: r#"{"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hamlet avenges his father and nearly everyone dies."}]},"usage":{"billed_units":{"input_tokens":30,"output_tokens":12},"tokens":{"input_tokens":30,"output_tokens":12}}}"#,
            opening: vec![ev(
                Some("message-start"),
                r#"{"type":"message-start","id":"c1","delta":{"message":{"role":"assistant"}}}"#,
            )],
            text: ev(
                Some("content-delta"),
                r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hello"}}}}"#,
            ),
        },
        Case {
            name: "hunyuan",
            settings: &[],
            answer: r#"{"Response":{"Id":"h1","Created":1,"Choices":[{"Message":{"Role":"assistant","Content":"Hamlet avenges his father and nearly everyone dies."},"FinishReason":"stop"}],"Usage":{"PromptTokens":30,"CompletionTokens":12,"TotalTokens":42},"RequestId":"h1"}}"#,
            opening: vec![],
            text: ev(
                None,
                r#"{"Choices":[{"Delta":{"Role":"assistant","Content":"Hello"},"FinishReason":""}],"Id":"h1","Usage":{"PromptTokens":30,"CompletionTokens":1,"TotalTokens":31}}"#,
            ),
        },
        Case {
            name: "dashscope",
            settings: &[],
            answer: r#"{"output":{"choices":[{"message":{"role":"assistant","content":"Hamlet avenges his father and nearly everyone dies."},"finish_reason":"stop"}]},"usage":{"input_tokens":30,"output_tokens":12,"total_tokens":42},"request_id":"d1"}"#,
            opening: vec![],
            text: ev(
                Some("result"),
                r#"{"output":{"choices":[{"message":{"role":"assistant","content":"Hello"},"finish_reason":"null"}]},"usage":{"input_tokens":30,"output_tokens":1,"total_tokens":31},"request_id":"d1"}"#,
            ),
        },
        Case {
            name: "qianfan",
            settings: &[],
            answer: r#"{"id":"as-1","object":"chat.completion","created":1,"result":"Hamlet avenges his father and nearly everyone dies.","is_truncated":false,"need_clear_history":false,"usage":{"prompt_tokens":30,"completion_tokens":12,"total_tokens":42}}"#,
            opening: vec![],
            text: ev(
                None,
                r#"{"id":"as-1","object":"chat.completion","created":1,"sentence_id":0,"is_end":false,"result":"Hello","usage":{"prompt_tokens":30,"completion_tokens":1,"total_tokens":31}}"#,
            ),
        },
        Case {
            name: "ollama",
            settings: &[],
            answer: r#"{"model":"llama3","created_at":"2026-12-03T00:00:00Z","message":{"role":"assistant","content":"Hamlet avenges his father and nearly everyone dies."},"done":true,"done_reason":"stop","prompt_eval_count":30,"eval_count":12}"#,
            opening: vec![],
            text: ev(
                None,
                r#"{"model":"llama3","created_at":"2026-12-03T00:00:00Z","message":{"role":"assistant","content":"Hello"},"done":false}"#,
            ),
        },
    ]
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
        let body = chat_body();
        println!("# adapter translation, {N} calls each after 500 warm-up, one thread, warm instance pool; chat body {} bytes", body.len());
        for case in cases() {
            let label = if case.settings.is_empty() { case.name.to_string() } else { format!("{} (quirk settings)", case.name) };
            let pool = runtime.load::<switchboard::plugins::world::Adapter>(&spec(case.name, case.settings), "bench").await.unwrap();
            let c = ctx(false);
            common::time(&format!("{label} to-upstream"), N, 500, || async { calls::to_upstream(&pool, &c, &body).await.unwrap().unwrap(); }).await;
            let answer = UpstreamResponse { status: 200, headers: vec![], body: case.answer.as_bytes().to_vec() };
            common::time(&format!("{label} from-upstream"), N, 500, || async { calls::from_upstream(&pool, &c, answer.clone()).await.unwrap().unwrap(); }).await;
            let sc = ctx(true);
            let mut tr = calls::StreamTranslation::new(&pool, &sc).await.unwrap();
            for e in &case.opening {
                tr.on_event(e).await.unwrap().unwrap();
            }
            let mut samples = Vec::with_capacity(N);
            for i in 0..N + 500 {
                let t = Instant::now();
                tr.on_event(&case.text).await.unwrap().unwrap();
                if i >= 500 {
                    samples.push(t.elapsed());
                }
            }
            report(&format!("{label} stream event (text delta)"), samples);
            tr.close().await;
        }
        // What a Tencent Cloud provider adds to each request: the host's TC3 signature
        // over the body (what `hunyuan-native` requests carry instead of a key).
        use switchboard::upstream::tc3;
        let creds = tc3::Tc3Credentials {
            secret_id: "AKIDbench".into(),
            secret_key: "bench-secret-key".into(),
        };
        common::time("TC3 signature of the 1.2 KB body", N, 500, || async {
            let s = tc3::Signing {
                method: "POST",
                host: "hunyuan.tencentcloudapi.com",
                path: "/",
                query: "",
                content_type: "application/json",
                action: Some("ChatCompletions"),
                payload: &body,
                service: "hunyuan",
                timestamp: 1_765_000_000,
            };
            std::hint::black_box(tc3::authorization(&s, &creds));
        })
        .await;
    });
}
