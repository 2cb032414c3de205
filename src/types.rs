//! The host's own domain types: what the pipeline, the plugin host, metrics and the
//! usage log share. They are the superset of every plugin contract version; each
//! version's generated types are converted to and from these at the plugin boundary
//! (`plugins::convert`), so contract 0.1.0 and 0.2.0 components serve side by side.
//! This module imports nothing from the crate.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// Which OpenAI endpoint a request body is for: decides the required fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Embeddings,
}

impl Endpoint {
    /// How the cache key names the endpoint.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

/// Which client-facing operation a request is, as the pipeline runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ChatCompletions,
    Embeddings,
}

/// Facts about the request an adapter is translating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: String,
    pub operation: Operation,
    pub route: String,
    pub provider: String,
    pub target_model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub created: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sigv4Scope {
    pub region: String,
    pub service: String,
}

/// Where the host puts the provider's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    None,
    Bearer,
    Header(String),
    Query(String),
    AwsSigv4(Sigv4Scope),
}

#[derive(Debug, Clone)]
pub enum BodyEdit {
    Keep,
    SetModel(String),
    Replace(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// How the host frames an upstream stream into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    Sse,
    Ndjson,
    AwsEventstream,
}

#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: HttpMethod,
    /// Path under the provider's base path, without a query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<Header>,
    pub auth: AuthScheme,
    pub body: BodyEdit,
    pub translate_response: bool,
    pub stream_format: StreamFormat,
}

#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// One event of a stream: an SSE event, an NDJSON line, an eventstream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    Upstream,
    Overloaded,
    Timeout,
    Internal,
}

impl ErrorKind {
    /// OpenAI's error `type` for this kind.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::NotFound => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Overloaded | ErrorKind::Upstream | ErrorKind::Internal => "upstream_error",
        }
    }

    /// Whether an error of this kind is about the client's request itself, so that
    /// another target would refuse it too.
    pub fn is_clients(self) -> bool {
        matches!(self, ErrorKind::InvalidRequest | ErrorKind::NotFound)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterError {
    pub status: u16,
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<String>,
}

/// Tokens of one answer. `cached_prompt` is part of `prompt`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub cached_prompt: u64,
}

/// A translated whole answer: the body (`None`: forward the upstream one) and the
/// usage the adapter read (`None`: the host reads an OpenAI-shaped `usage`).
#[derive(Debug, Clone, Default)]
pub struct TranslatedAnswer {
    pub body: Option<Vec<u8>>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Default)]
pub struct TranslatedEvents {
    pub events: Vec<SseEvent>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    HalfOpen,
    Open,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetStats {
    pub provider: String,
    pub model: String,
    pub weight: u32,
    pub priority: u32,
    pub health: Health,
    pub in_flight: u32,
    pub latency_ewma_us: u64,
    pub ttft_ewma_us: u64,
    pub error_rate: f32,
    pub input_price_per_mtok: f64,
    pub output_price_per_mtok: f64,
    pub ratelimit_remaining_requests: Option<u64>,
    pub ratelimit_remaining_tokens: Option<u64>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequest {
    pub route: String,
    pub sequence: u64,
    pub random: u64,
    pub estimated_input_tokens: u64,
    pub max_output_tokens: Option<u64>,
    pub stream: bool,
    pub text: Option<String>,
    /// Read only for strategies that want the text (`host::current-request-shape`).
    pub shape: RequestShape,
}

/// What a request carries besides its text, for strategies that route by content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestShape {
    pub images: bool,
    pub audio: bool,
    pub tools: bool,
    pub json_output: bool,
    pub messages: u32,
}

/// Who is asking, and about what, for policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRequest {
    pub request_id: String,
    pub key_name: String,
    pub team: Option<String>,
    pub user: Option<String>,
    pub route: String,
    pub tags: Vec<String>,
    pub n: u32,
    pub estimated_input_tokens: u64,
    /// Per choice.
    pub max_output_tokens: Option<u64>,
    pub stream: bool,
}

/// How a request ended, as policies hear it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    pub provider: Option<String>,
    pub target_model: Option<String>,
    pub usage: Usage,
    pub cost_micros: u64,
    pub cache_hit: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub message: String,
    pub headers: Vec<Header>,
    pub error_type: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Vec<Header>),
    Deny(Denial),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A chat message as guardrails and `models.infer` see it: role and text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// How `models.infer` asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferParams {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub json: bool,
}

/// What `models.infer` answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferAnswer {
    pub text: String,
    pub finish_reason: String,
    pub model: String,
    pub usage: Usage,
}

/// What a moderation model said of one text: its verdict and each category's score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moderation {
    pub flagged: bool,
    pub scores: Vec<(String, f32)>,
}

/// The request a guardrail judges.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardRequest {
    pub request_id: String,
    pub key_name: String,
    pub team: Option<String>,
    pub user: Option<String>,
    pub route: String,
    pub messages: Vec<ChatMessage>,
    pub response_schema: Option<String>,
    pub json_output: bool,
    pub stream: bool,
}

/// Why a guardrail refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardDenial {
    pub message: String,
    pub code: Option<String>,
    pub status: Option<u16>,
}

/// A guardrail's verdict on a request.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestVerdict {
    Allow,
    Deny(GuardDenial),
    Rewrite(Vec<ChatMessage>),
}

/// A guardrail's verdict on a whole answer (a rewrite: one text per choice).
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerVerdict {
    Allow,
    Deny(GuardDenial),
    Rewrite(Vec<String>),
}

/// A guardrail's verdict on a window of streamed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamVerdict {
    Allow,
    Mask(String),
    Stop(String),
}

/// Which checks a guardrail makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardPhases {
    pub request: bool,
    pub response: bool,
    pub stream: bool,
}
