//! Conversions between the host's domain types (`crate::types`) and each contract
//! version's generated types, at the plugin boundary. 0.2.0 and 0.3.0 carry everything
//! the host knows (0.3.0's additions are its own: `guard`); 0.1.0 gets what it always got (e.g. `max-output-tokens` already
//! multiplied by `n`) and its answers are completed with 0.1's defaults (POST, SSE,
//! usage read by the host).

use super::bindings::{v0_1, v0_2, v0_3};
use crate::types as d;

/// A field-by-field conversion, also for lists and options of convertible types.
pub trait Conv<T> {
    fn conv(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => {$(
        impl Conv<$t> for $t {
            fn conv(self) -> $t {
                self
            }
        }
    )*};
}
same!(String, u8, u16, u32, u64, bool, f32, f64);

impl<A: Conv<B>, B> Conv<Vec<B>> for Vec<A> {
    fn conv(self) -> Vec<B> {
        self.into_iter().map(Conv::conv).collect()
    }
}

impl<A: Conv<B>, B> Conv<Option<B>> for Option<A> {
    fn conv(self) -> Option<B> {
        self.map(Conv::conv)
    }
}

impl<A: Conv<C>, B: Conv<D>, C, D> Conv<(C, D)> for (A, B) {
    fn conv(self) -> (C, D) {
        (self.0.conv(), self.1.conv())
    }
}

/// Enums without payloads whose cases are the same, one way.
macro_rules! cases {
    ($from:ty => $to:ty { $($c:ident),* }) => {
        impl Conv<$to> for $from {
            fn conv(self) -> $to {
                match self { $(<$from>::$c => <$to>::$c),* }
            }
        }
    };
}

/// The conversions both versions share, for the version module `$w`.
macro_rules! common {
    ($w:path) => {
        use $w as w;

        impl Conv<w::Header> for d::Header {
            fn conv(self) -> w::Header {
                w::Header { name: self.name, value: self.value }
            }
        }
        impl Conv<d::Header> for w::Header {
            fn conv(self) -> d::Header {
                d::Header { name: self.name, value: self.value }
            }
        }
        impl Conv<w::SseEvent> for d::SseEvent {
            fn conv(self) -> w::SseEvent {
                w::SseEvent { event: self.event, data: self.data }
            }
        }
        impl Conv<d::SseEvent> for w::SseEvent {
            fn conv(self) -> d::SseEvent {
                d::SseEvent { event: self.event, data: self.data }
            }
        }
        cases!(d::Operation => w::Operation { ChatCompletions, Embeddings });
        cases!(d::Health => w::Health { Healthy, HalfOpen, Open });
        cases!(d::Direction => w::Direction { Request, Response });
        cases!(w::LogLevel => d::LogLevel { Debug, Info, Warn, Error });
        cases!(w::ErrorKind => d::ErrorKind {
            InvalidRequest, Authentication, Permission, NotFound, RateLimit, Upstream,
            Overloaded, Timeout, Internal
        });
        impl Conv<w::RequestContext> for d::RequestContext {
            fn conv(self) -> w::RequestContext {
                w::RequestContext {
                    request_id: self.request_id,
                    operation: self.operation.conv(),
                    route: self.route,
                    provider: self.provider,
                    target_model: self.target_model,
                    stream: self.stream,
                    include_usage: self.include_usage,
                    created: self.created,
                }
            }
        }
        impl Conv<w::UpstreamResponse> for d::UpstreamResponse {
            fn conv(self) -> w::UpstreamResponse {
                w::UpstreamResponse {
                    status: self.status,
                    headers: self.headers.conv(),
                    body: self.body,
                }
            }
        }
        impl Conv<d::AdapterError> for w::AdapterError {
            fn conv(self) -> d::AdapterError {
                d::AdapterError {
                    status: self.status,
                    kind: self.kind.conv(),
                    message: self.message,
                    param: self.param,
                }
            }
        }
        impl Conv<d::BodyEdit> for w::BodyEdit {
            fn conv(self) -> d::BodyEdit {
                match self {
                    w::BodyEdit::Keep => d::BodyEdit::Keep,
                    w::BodyEdit::SetModel(m) => d::BodyEdit::SetModel(m),
                    w::BodyEdit::Replace(b) => d::BodyEdit::Replace(b),
                }
            }
        }
        impl Conv<w::TargetStats> for d::TargetStats {
            fn conv(self) -> w::TargetStats {
                w::TargetStats {
                    provider: self.provider,
                    model: self.model,
                    weight: self.weight,
                    priority: self.priority,
                    health: self.health.conv(),
                    in_flight: self.in_flight,
                    latency_ewma_us: self.latency_ewma_us,
                    ttft_ewma_us: self.ttft_ewma_us,
                    error_rate: self.error_rate,
                    input_price_per_mtok: self.input_price_per_mtok,
                    output_price_per_mtok: self.output_price_per_mtok,
                    ratelimit_remaining_requests: self.ratelimit_remaining_requests,
                    ratelimit_remaining_tokens: self.ratelimit_remaining_tokens,
                    retry_after_secs: self.retry_after_secs,
                }
            }
        }
    };
}

mod one {
    use super::*;
    common!(v0_1::types);

    impl Conv<d::AuthScheme> for w::AuthScheme {
        fn conv(self) -> d::AuthScheme {
            match self {
                w::AuthScheme::None => d::AuthScheme::None,
                w::AuthScheme::Bearer => d::AuthScheme::Bearer,
                w::AuthScheme::Header(h) => d::AuthScheme::Header(h),
                w::AuthScheme::Query(q) => d::AuthScheme::Query(q),
            }
        }
    }

    /// 0.1 puts any query in the path; it always POSTs and streams SSE.
    impl Conv<d::UpstreamRequest> for w::UpstreamRequest {
        fn conv(self) -> d::UpstreamRequest {
            let (path, query) = match self.path.split_once('?') {
                Some((p, q)) => (p.to_string(), crate::percent::query_pairs(q)),
                None => (self.path, Vec::new()),
            };
            d::UpstreamRequest {
                method: d::HttpMethod::Post,
                path,
                query,
                headers: self.headers.conv(),
                auth: self.auth.conv(),
                body: self.body.conv(),
                translate_response: self.translate_response,
                stream_format: d::StreamFormat::Sse,
            }
        }
    }

    impl Conv<w::TokenUsage> for d::Usage {
        fn conv(self) -> w::TokenUsage {
            w::TokenUsage {
                prompt_tokens: self.prompt,
                completion_tokens: self.completion,
            }
        }
    }

    impl Conv<w::RouteRequest> for d::RouteRequest {
        fn conv(self) -> w::RouteRequest {
            w::RouteRequest {
                route: self.route,
                sequence: self.sequence,
                random: self.random,
                estimated_input_tokens: self.estimated_input_tokens,
                max_output_tokens: self.max_output_tokens,
                stream: self.stream,
            }
        }
    }

    /// 0.1 policies reserve for every choice from `max-output-tokens` alone.
    impl Conv<w::PolicyRequest> for d::PolicyRequest {
        fn conv(self) -> w::PolicyRequest {
            w::PolicyRequest {
                request_id: self.request_id,
                key_name: self.key_name,
                user: self.user,
                route: self.route,
                estimated_input_tokens: self.estimated_input_tokens,
                max_output_tokens: self
                    .max_output_tokens
                    .map(|m| m.saturating_mul(u64::from(self.n.max(1)))),
            }
        }
    }

    impl Conv<d::Decision> for w::Decision {
        fn conv(self) -> d::Decision {
            match self {
                w::Decision::Allow(h) => d::Decision::Allow(h.conv()),
                w::Decision::Deny(x) => d::Decision::Deny(d::Denial {
                    status: x.status,
                    message: x.message,
                    headers: x.headers.conv(),
                    error_type: None,
                    code: None,
                }),
            }
        }
    }
}

/// The conversions 0.2.0 brought, shared by every version since, for the version
/// module `$w`.
macro_rules! since_two {
    ($w:path) => {
        common!($w);

        impl Conv<d::AuthScheme> for w::AuthScheme {
            fn conv(self) -> d::AuthScheme {
                match self {
                    w::AuthScheme::None => d::AuthScheme::None,
                    w::AuthScheme::Bearer => d::AuthScheme::Bearer,
                    w::AuthScheme::Header(h) => d::AuthScheme::Header(h),
                    w::AuthScheme::Query(q) => d::AuthScheme::Query(q),
                    w::AuthScheme::AwsSigv4(s) => d::AuthScheme::AwsSigv4(d::Sigv4Scope {
                        region: s.region,
                        service: s.service,
                    }),
                }
            }
        }
        cases!(w::HttpMethod => d::HttpMethod { Get, Post });
        cases!(w::StreamFormat => d::StreamFormat { Sse, Ndjson, AwsEventstream });

        impl Conv<d::UpstreamRequest> for w::UpstreamRequest {
            fn conv(self) -> d::UpstreamRequest {
                d::UpstreamRequest {
                    method: self.method.conv(),
                    path: self.path,
                    query: self.query.conv(),
                    headers: self.headers.conv(),
                    auth: self.auth.conv(),
                    body: self.body.conv(),
                    translate_response: self.translate_response,
                    stream_format: self.stream_format.conv(),
                }
            }
        }

        impl Conv<w::TokenUsage> for d::Usage {
            fn conv(self) -> w::TokenUsage {
                w::TokenUsage {
                    prompt_tokens: self.prompt,
                    completion_tokens: self.completion,
                    cached_prompt_tokens: self.cached_prompt,
                }
            }
        }
        impl Conv<d::Usage> for w::TokenUsage {
            fn conv(self) -> d::Usage {
                d::Usage {
                    prompt: self.prompt_tokens,
                    completion: self.completion_tokens,
                    cached_prompt: self.cached_prompt_tokens.min(self.prompt_tokens),
                }
            }
        }
        impl Conv<d::TranslatedAnswer> for w::TranslatedAnswer {
            fn conv(self) -> d::TranslatedAnswer {
                d::TranslatedAnswer {
                    body: self.body,
                    usage: self.usage.conv(),
                }
            }
        }
        impl Conv<d::TranslatedEvents> for w::TranslatedEvents {
            fn conv(self) -> d::TranslatedEvents {
                d::TranslatedEvents {
                    events: self.events.conv(),
                    usage: self.usage.conv(),
                }
            }
        }

        impl Conv<w::RouteRequest> for d::RouteRequest {
            fn conv(self) -> w::RouteRequest {
                w::RouteRequest {
                    route: self.route,
                    sequence: self.sequence,
                    random: self.random,
                    estimated_input_tokens: self.estimated_input_tokens,
                    max_output_tokens: self.max_output_tokens,
                    stream: self.stream,
                    text: self.text,
                }
            }
        }

        impl Conv<w::PolicyRequest> for d::PolicyRequest {
            fn conv(self) -> w::PolicyRequest {
                w::PolicyRequest {
                    request_id: self.request_id,
                    key_name: self.key_name,
                    team: self.team,
                    user: self.user,
                    route: self.route,
                    tags: self.tags,
                    n: self.n,
                    estimated_input_tokens: self.estimated_input_tokens,
                    max_output_tokens: self.max_output_tokens,
                    stream: self.stream,
                }
            }
        }

        impl Conv<w::Outcome> for d::Outcome {
            fn conv(self) -> w::Outcome {
                w::Outcome {
                    status: self.status,
                    provider: self.provider,
                    target_model: self.target_model,
                    usage: self.usage.conv(),
                    cost_micros: self.cost_micros,
                    cache_hit: self.cache_hit,
                    duration_ms: self.duration_ms,
                }
            }
        }

        impl Conv<d::Decision> for w::Decision {
            fn conv(self) -> d::Decision {
                match self {
                    w::Decision::Allow(h) => d::Decision::Allow(h.conv()),
                    w::Decision::Deny(x) => d::Decision::Deny(d::Denial {
                        status: x.status,
                        message: x.message,
                        headers: x.headers.conv(),
                        error_type: x.error_type,
                        code: x.code,
                    }),
                }
            }
        }
    };
}

mod two {
    use super::*;
    since_two!(v0_2::types);
}

mod three {
    use super::*;
    since_two!(v0_3::types);
}
