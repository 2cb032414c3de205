//! OpenTelemetry traces over OTLP/HTTP (`[telemetry]`): per request a server span
//! with the GenAI semantic conventions' attributes (operation, provider, requested and
//! answering model, tokens, finish reasons), a client span per attempt at a target and
//! an internal span per plugin call. The spans are built once, at the request's
//! settle point, from what its context recorded (with explicit start and end times),
//! so nothing is traced on the request path itself and a gateway without
//! `[telemetry]` pays nothing. Plugin calls are collected through a task-local log the
//! request's tasks run in (`scope`). The SDK's batch processor sends them from its own
//! thread; its HTTP requests go through the gateway's own client on the runtime that
//! started telemetry.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

use crate::config::telemetry::{OtlpProtocol, TelemetryConfig};
use crate::types::Usage;

/// The tracer and the provider that exports its spans.
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
    /// The share of requests traced, decided when a request arrives (an untraced one
    /// records nothing for its spans).
    sample_ratio: f64,
}

/// One plugin call of a request: which plugin, of which world, when and how long.
#[derive(Debug, Clone)]
pub struct PluginCall {
    pub plugin: String,
    pub world: &'static str,
    pub started: Instant,
    pub took: Duration,
    pub failed: bool,
}

/// The plugin calls made for one request (at most `MAX_CALLS`).
#[derive(Default)]
pub struct CallLog(parking_lot::Mutex<Vec<PluginCall>>);

const MAX_CALLS: usize = 128;

tokio::task_local! {
    static CALLS: Arc<CallLog>;
    static PARENT: Option<Parent>;
}

/// A client's trace the request's spans continue (its W3C `traceparent`).
pub type Parent = opentelemetry::trace::SpanContext;

/// Runs `f` (a client request) in the client's trace `parent`.
pub async fn continuing<F: std::future::Future>(parent: Parent, f: F) -> F::Output {
    PARENT.scope(Some(parent), f).await
}

/// The trace the current request continues, if its client sent one.
pub fn incoming_parent() -> Option<Parent> {
    PARENT.try_with(Clone::clone).ok().flatten()
}

/// A W3C `traceparent` (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`).
pub fn traceparent(v: &str) -> Option<Parent> {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
    let parts: Vec<&str> = v.trim().split('-').collect();
    let [version, trace, span, flags, ..] = parts[..] else {
        return None;
    };
    let sizes = (version.len(), trace.len(), span.len(), flags.len());
    if sizes != (2, 32, 16, 2) || version == "ff" || (version == "00" && parts.len() != 4) {
        return None;
    }
    let trace = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    Some(Parent::new(trace, span, flags, true, TraceState::default()))
}

impl CallLog {
    pub fn take(&self) -> Vec<PluginCall> {
        std::mem::take(&mut self.0.lock())
    }
}

/// Runs `f` with `log` collecting its plugin calls (nothing when `log` is `None`).
pub async fn scope<F: std::future::Future>(log: Option<Arc<CallLog>>, f: F) -> F::Output {
    match log {
        Some(l) => CALLS.scope(l, f).await,
        None => f.await,
    }
}

/// Notes a plugin call in the current request's log, if it keeps one.
pub fn plugin_call(plugin: &str, world: &'static str, started: Instant, failed: bool) {
    let _ = CALLS.try_with(|log| {
        let mut calls = log.0.lock();
        if calls.len() < MAX_CALLS {
            calls.push(PluginCall {
                plugin: plugin.to_string(),
                world,
                started,
                took: started.elapsed(),
                failed,
            });
        }
    });
}

/// One attempt at a target, as the request context recorded it.
pub struct Attempt<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub status: Option<u16>,
    pub started: Instant,
    pub took: Duration,
    pub failure: Option<&'a str>,
}

/// What a settled request amounted to, for its spans.
pub struct RequestTrace<'a> {
    pub id: &'a str,
    /// `chat`, `embeddings`, … (GenAI's operation name).
    pub operation: &'static str,
    pub api: &'static str,
    pub key: &'a str,
    pub route: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub status: u16,
    pub started: Instant,
    pub usage: Usage,
    pub finish_reason: Option<&'a str>,
    pub cache: Option<&'static str>,
    pub error: Option<&'static str>,
    pub attempts: Vec<Attempt<'a>>,
    pub calls: Vec<PluginCall>,
    pub parent: Option<Parent>,
}

impl Telemetry {
    /// Starts the exporter; must run inside the tokio runtime that is to send spans.
    pub fn start(config: &TelemetryConfig) -> Result<Arc<Telemetry>, String> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(Sender(tokio::runtime::Handle::current()))
            .with_endpoint(config.traces_url.clone())
            .with_protocol(match config.protocol {
                OtlpProtocol::Protobuf => Protocol::HttpBinary,
                OtlpProtocol::Json => Protocol::HttpJson,
            })
            .with_timeout(config.timeout)
            .build()
            .map_err(|e| format!("telemetry: {e}"))?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(config.flush_interval)
            .with_max_queue_size(8192)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("switchboard");
        Ok(Arc::new(Telemetry {
            provider,
            tracer,
            sample_ratio: config.sample_ratio,
        }))
    }

    /// Whether a request arriving now is traced.
    pub fn sampled(&self) -> bool {
        self.sample_ratio >= 1.0 || rand::random::<f64>() < self.sample_ratio
    }

    /// Sends what is queued and stops the exporter (blocking: not on a runtime thread).
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }

    /// The request's spans, handed to the batch processor.
    pub fn record(&self, r: RequestTrace<'_>) {
        let now = Instant::now();
        let at = |i: Instant| SystemTime::now() - now.saturating_duration_since(i);
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", r.operation),
            KeyValue::new("gen_ai.request.model", r.route.to_string()),
            KeyValue::new("http.response.status_code", i64::from(r.status)),
            KeyValue::new("switchboard.request_id", r.id.to_string()),
            KeyValue::new("switchboard.api", r.api),
            KeyValue::new("switchboard.key", r.key.to_string()),
        ];
        if !r.provider.is_empty() {
            attrs.push(KeyValue::new(
                "gen_ai.provider.name",
                r.provider.to_string(),
            ));
            attrs.push(KeyValue::new("gen_ai.response.model", r.model.to_string()));
            attrs.push(KeyValue::new(
                "gen_ai.usage.input_tokens",
                r.usage.prompt as i64,
            ));
            attrs.push(KeyValue::new(
                "gen_ai.usage.output_tokens",
                r.usage.completion as i64,
            ));
        }
        if let Some(f) = r.finish_reason {
            let reasons = opentelemetry::Array::String(vec![f.to_string().into()]);
            attrs.push(KeyValue::new(
                "gen_ai.response.finish_reasons",
                opentelemetry::Value::Array(reasons),
            ));
        }
        if let Some(c) = r.cache {
            attrs.push(KeyValue::new("switchboard.cache", c));
        }
        if let Some(e) = r.error {
            attrs.push(KeyValue::new("error.type", e));
        }
        let parent = match r.parent {
            Some(p) => Context::new().with_remote_span_context(p),
            None => Context::new(),
        };
        let mut span = self
            .tracer
            .span_builder(format!("{} {}", r.operation, r.route))
            .with_kind(SpanKind::Server)
            .with_start_time(at(r.started))
            .with_attributes(attrs)
            .start_with_context(&self.tracer, &parent);
        if r.status >= 500 {
            span.set_status(Status::error(r.error.unwrap_or("server error")));
        }
        let cx = Context::current_with_span(span);
        for a in &r.attempts {
            self.attempt(&cx, a, at(a.started), at(a.started + a.took));
        }
        for c in &r.calls {
            self.call(&cx, c, at(c.started), at(c.started + c.took));
        }
        cx.span().end_with_timestamp(at(now));
    }

    fn attempt(&self, cx: &Context, a: &Attempt<'_>, start: SystemTime, end: SystemTime) {
        let mut attrs = vec![
            KeyValue::new("gen_ai.provider.name", a.provider.to_string()),
            KeyValue::new("gen_ai.request.model", a.model.to_string()),
        ];
        if let Some(s) = a.status {
            attrs.push(KeyValue::new("http.response.status_code", i64::from(s)));
        }
        let mut span = self
            .tracer
            .span_builder(format!("attempt {}/{}", a.provider, a.model))
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attrs)
            .start_with_context(&self.tracer, cx);
        if let Some(f) = a.failure {
            span.set_status(Status::error(f.to_string()));
        }
        span.end_with_timestamp(end);
    }

    fn call(&self, cx: &Context, c: &PluginCall, start: SystemTime, end: SystemTime) {
        let mut span = self
            .tracer
            .span_builder(format!("plugin {} {}", c.world, c.plugin))
            .with_kind(SpanKind::Internal)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("switchboard.plugin", c.plugin.clone()),
                KeyValue::new("switchboard.plugin.world", c.world),
            ])
            .start_with_context(&self.tracer, cx);
        if c.failed {
            span.set_status(Status::error("the plugin call failed"));
        }
        span.end_with_timestamp(end);
    }
}

/// The exporter's HTTP client: each request is sent by the gateway's own client on the
/// runtime telemetry started in (the batch processor's thread has no runtime).
#[derive(Debug)]
struct Sender(tokio::runtime::Handle);

/// Most bytes of a collector's answer read.
const MAX_ANSWER: usize = 1 << 20;

impl opentelemetry_http::HttpClient for Sender {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: http::Request<bytes::Bytes>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError>,
                > + Send
                + 'b,
        >,
    >
    where
        'a: 'b,
    {
        let task = self.0.spawn(async move {
            let (parts, body) = request.into_parts();
            let req = http::Request::from_parts(parts, http_body_util::Full::new(body));
            let resp = crate::upstream::client()
                .send(req)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, _) = http::Response::new(()).into_parts();
            let status = resp.status();
            let body = crate::upstream::read_body(resp, MAX_ANSWER)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = http::Response::from_parts(parts, body);
            *out.status_mut() = status;
            Ok::<_, String>(out)
        });
        Box::pin(async move {
            match task.await {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.to_string().into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traceparent_is_read_as_w3c_writes_it() {
        let p =
            super::traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(p.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(p.span_id().to_string(), "b7ad6b7169203331");
        assert!(p.is_sampled() && p.is_remote());
        for bad in [
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd-b7ad6b7169203331-01",
            "garbage",
        ] {
            assert!(super::traceparent(bad).is_none(), "{bad}");
        }
    }
}
