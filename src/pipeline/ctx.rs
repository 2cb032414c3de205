//! One request's context and its one close-out. A `RequestCtx` is made when a request
//! arrives and follows it everywhere (into the stream task when the answer is a
//! stream): who asks, which route, the policies that admitted it, each attempt, the
//! target that answered, usage and cost, the cache's part, timings. `settle` runs
//! exactly once however the request ends (an answer, an error, the end of a stream, a
//! cache hit, a client gone — then from `Drop`): the policies' `record` with the
//! outcome, the request's metrics and its usage record all happen there and nowhere
//! else. Budgets and alerts hook in here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(super) mod policies;
mod records;

use crate::config::Target;
use crate::metrics::Metrics;
use crate::metrics::request::Finished;
use crate::types::{Outcome, PolicyRequest, Usage};
use policies::Pools;

/// The API the client spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    ChatCompletions,
    Embeddings,
    AnthropicMessages,
    Responses,
    /// An OpenAI endpoint with no chat form, forwarded as it is.
    Forwarded(crate::native::NativeApi),
    /// A batch's reservation (`/v1/batches`): run later by the provider.
    Batch,
    /// Objects a provider keeps (`files`, `batches`, `responses`), by id or listed.
    Kept(&'static str),
}

impl Protocol {
    /// How the access log names the inbound API.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::ChatCompletions => "chat",
            Protocol::Embeddings => "embeddings",
            Protocol::AnthropicMessages => "messages",
            Protocol::Responses => "responses",
            Protocol::Forwarded(api) => api.name(),
            Protocol::Batch => "batches",
            Protocol::Kept(kind) => kind,
        }
    }
}

/// How one attempt at a target went.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub provider: String,
    pub model: String,
    /// What the provider's answer amounted to (`None`: not reached).
    pub status: Option<u16>,
    pub started: Instant,
    pub took: Duration,
    /// Why it failed over; `None` for the attempt that answered.
    pub failure: Option<String>,
}

/// What the cache did for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    Hit,
    /// An answer to a prompt similar enough (the semantic cache).
    SemanticHit,
    Miss,
    Bypass,
}

impl CacheResult {
    pub fn label(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::SemanticHit => "semantic",
            CacheResult::Miss => "miss",
            CacheResult::Bypass => "bypass",
        }
    }
}

#[derive(Default)]
struct State {
    route: Option<String>,
    /// The route's outcome counts (alert rules read them).
    outcomes: Option<Arc<crate::health::outcomes::Outcomes>>,
    admitted: Option<Admission>,
    attempts: Vec<AttemptRecord>,
    /// The provider that answered, and its target (none for an object it keeps).
    answered: Option<(String, Option<Target>)>,
    usage: Usage,
    cache: Option<CacheResult>,
    saved: Option<Usage>,
    /// Time spent waiting on providers and backoff, not on the gateway's own work.
    waited: Duration,
    first_byte: Option<Duration>,
    /// When the answer's head was ready.
    head: Option<Duration>,
    streamed: bool,
    error: Option<&'static str>,
    /// The route shows what an answer cost (`x-switchboard-cost`).
    show_cost: bool,
    /// The key's team and the request's `user`, for the usage record.
    team: Option<String>,
    user: Option<String>,
    /// The answer's `finish_reason` (read only when the request is traced).
    finish: Option<String>,
    /// The prompt's estimated tokens: the least an abandoned stream is charged.
    prompt_estimate: u64,
    /// The usage is an estimate (the stream ended before the provider told it).
    estimated: bool,
    /// The prompt template it was made from (`name@version`), and the model the client
    /// named when another served it (a deprecated model's redirect).
    prompt: Option<String>,
    requested: Option<String>,
    /// The story its usage record tells (when usage is recorded).
    story: Option<Box<crate::usage::story::Story>>,
    /// The request a guardrail's model call made this one for (`models.infer`).
    parent: Option<String>,
    /// Guardrails judging in `monitor` mode, still running: their verdicts join the
    /// record when they end (the client does not wait for them).
    monitors: Vec<tokio::task::JoinHandle<crate::usage::story::GuardNote>>,
}

impl State {
    /// The route's outcome counts: a 5xx is a failure.
    fn outcome(&self, status: u16, elapsed: Duration, cost_micros: u64) {
        if let Some(o) = &self.outcomes {
            o.record(status < 500, elapsed);
            o.spend(cost_micros);
            if let Some(t) = self.first_byte {
                o.first_token(t);
            }
        }
    }
}

type Traced = (
    Arc<crate::telemetry::Telemetry>,
    Arc<crate::telemetry::CallLog>,
    Option<crate::telemetry::Parent>,
);

pub struct RequestCtx {
    pub id: String,
    pub started: Instant,
    pub protocol: Protocol,
    pub key: String,
    metrics: Arc<Metrics>,
    usage_log: Option<Arc<crate::usage::Writer>>,
    access_log: Option<Arc<crate::access_log::Writer>>,
    /// `[telemetry]`'s tracer, this request's plugin calls and the client's trace it
    /// continues, when it is traced.
    trace: Option<Traced>,
    state: Mutex<State>,
    settled: AtomicBool,
}

/// What is left to do of a close-out after its synchronous part: the policies' record.
struct Closing {
    metrics: Arc<Metrics>,
    admitted: Option<Admission>,
    outcome: Outcome,
    show_cost: bool,
}

/// The policies that admitted a request, what they were asked, and whose request at
/// which instant their counters count.
type Admission = (Pools, PolicyRequest, crate::plugins::calls::Counting);

/// The header an answer says its cost in.
pub const COST_HEADER: &str = "x-switchboard-cost";

impl Closing {
    /// The policies' record; the headers they add, and the cost when the route shows it.
    async fn record(self) -> Vec<(String, String)> {
        let mut headers = match self.admitted {
            Some((pools, preq, counting)) => {
                let m = &self.metrics;
                policies::record(m, &pools, &preq, &self.outcome, &counting).await
            }
            None => Vec::new(),
        };
        if self.show_cost {
            let cost = self.outcome.cost_micros as f64 / 1e6;
            headers.push((COST_HEADER.to_string(), format!("{cost:.6}")));
        }
        headers
    }
}

impl RequestCtx {
    pub fn new(
        protocol: Protocol,
        key: &str,
        metrics: Arc<Metrics>,
        usage_log: Option<Arc<crate::usage::Writer>>,
        access_log: Option<Arc<crate::access_log::Writer>>,
        telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    ) -> Arc<Self> {
        let recorded = usage_log.is_some();
        Arc::new(RequestCtx {
            id: format!("req_{:016x}", rand::random::<u64>()),
            started: Instant::now(),
            protocol,
            key: key.to_string(),
            metrics,
            usage_log,
            access_log,
            trace: telemetry
                .filter(|t| t.sampled())
                .map(|t| (t, Default::default(), crate::telemetry::incoming_parent())),
            state: Mutex::new(State {
                story: recorded.then(Default::default),
                ..Default::default()
            }),
            settled: AtomicBool::new(false),
        })
    }

    /// Where this request's plugin calls are noted (`telemetry::scope`), if traced.
    pub fn call_log(&self) -> Option<Arc<crate::telemetry::CallLog>> {
        self.trace.as_ref().map(|(_, log, _)| log.clone())
    }

    /// Whether the request's spans are kept (then its finish reason is read).
    pub fn traced(&self) -> bool {
        self.trace.is_some()
    }

    /// The answer's finish reason (`stop`, `length`, `tool_calls`, …).
    pub fn finish_reason(&self, reason: &str) {
        if self.trace.is_some() {
            self.state.lock().finish = Some(reason.chars().take(32).collect());
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// What the usage record says beside the route: `prompt` (the template and its
    /// version) or `requested` (the model the client named, when redirected).
    pub fn note(&self, what: &str, value: &str) {
        let mut s = self.state.lock();
        match what {
            "prompt" => s.prompt = Some(value.to_string()),
            _ => s.requested = Some(value.to_string()),
        }
    }

    pub fn route(&self, name: &str, outcomes: &Arc<crate::health::outcomes::Outcomes>) {
        let mut s = self.state.lock();
        s.route = Some(name.to_string());
        s.outcomes = Some(outcomes.clone());
    }

    /// Who asked, beyond the key: its team and the request's `user` (kept only for the
    /// usage record, so nothing is copied when usage is not recorded).
    pub fn who(&self, team: Option<&String>, user: Option<&String>) {
        if self.usage_log.is_none() {
            return;
        }
        let mut s = self.state.lock();
        s.team = team.cloned();
        s.user = user.cloned();
    }

    /// Adds to the request's story (nothing happens when usage is not recorded).
    pub fn story(&self, f: impl FnOnce(&mut crate::usage::story::Story)) {
        if self.usage_log.is_some()
            && let Some(s) = self.state.lock().story.as_deref_mut()
        {
            f(s);
        }
    }

    /// Whether the request has a story (its usage is recorded).
    pub fn recording(&self) -> bool {
        self.usage_log.is_some()
    }

    /// How much of each body is kept, when this request's bodies are captured.
    pub fn capture_limit(&self) -> Option<usize> {
        self.usage_log.as_ref()?;
        let s = self.state.lock();
        s.story.as_ref()?.payload.as_ref().map(|p| p.limit)
    }

    /// The gateway's own time so far: to the answer's head, less waiting on providers.
    pub fn overhead(&self) -> Duration {
        let s = self.state.lock();
        let head = s.head.unwrap_or_else(|| self.started.elapsed());
        head.saturating_sub(s.waited)
    }

    /// The answer is to say what it cost.
    pub fn show_cost(&self) {
        self.state.lock().show_cost = true;
    }

    /// The policies that allowed the request: each is owed one `record`.
    pub fn admitted(
        &self,
        pools: Pools,
        preq: PolicyRequest,
        counting: crate::plugins::calls::Counting,
    ) {
        if !pools.is_empty() {
            self.state.lock().admitted = Some((pools, preq, counting));
        }
    }

    pub fn attempt(&self, a: AttemptRecord) {
        let mut s = self.state.lock();
        // A request cannot grow this without bound: attempts are capped by the route.
        if s.attempts.len() < 64 {
            s.attempts.push(a);
        }
    }

    /// `provider`'s `target` answered, using `usage` (a stream tells its usage at its end).
    pub fn answered(&self, provider: &str, target: &Target, usage: Usage) {
        let mut s = self.state.lock();
        s.answered = Some((provider.to_string(), Some(target.clone())));
        s.usage = usage;
    }

    /// A request that no route serves — an object a provider keeps, by id — with
    /// `kind` (`files`, `batches`, `responses`) in the route's place: its metrics,
    /// access-log line and usage record name it so.
    pub fn unrouted(&self, kind: &str) {
        self.state.lock().route = Some(kind.to_string());
    }

    /// The provider that keeps the object answered (no model, no tokens).
    pub fn kept_at(&self, provider: &str) {
        self.state.lock().answered = Some((provider.to_string(), None));
    }

    pub fn spent(&self, usage: Usage) {
        self.state.lock().usage = usage;
    }

    /// The prompt's estimated tokens (what an abandoned stream is charged at least).
    pub fn prompt_estimate(&self, tokens: u64) {
        self.state.lock().prompt_estimate = tokens;
    }

    /// The usage is the gateway's estimate, charged as it is (a batch's reservation).
    pub fn spent_estimate(&self, usage: Usage) {
        let mut s = self.state.lock();
        s.usage = usage;
        s.estimated = true;
    }

    /// A stream ended before it was complete (its client left, its provider broke
    /// off): it is charged the usage the provider told, but never less than the
    /// estimate of what it used — the prompt and the text streamed (4 characters a
    /// token) — and its record says when the estimate was used.
    pub fn spent_at_least(&self, told: Usage, streamed_chars: u64) {
        let mut s = self.state.lock();
        let estimate = Usage {
            prompt: s.prompt_estimate,
            completion: streamed_chars.div_ceil(4),
            cached_prompt: 0,
        };
        s.estimated = told.prompt < estimate.prompt || told.completion < estimate.completion;
        s.usage = Usage {
            prompt: told.prompt.max(estimate.prompt),
            completion: told.completion.max(estimate.completion),
            cached_prompt: told.cached_prompt,
        };
    }

    pub fn cache(&self, result: CacheResult, saved: Option<Usage>) {
        let mut s = self.state.lock();
        s.cache = Some(result);
        s.saved = saved;
    }

    pub fn waited(&self, d: Duration) {
        self.state.lock().waited += d;
    }

    /// The first event of a stream reached the client's side.
    pub fn first_byte(&self) {
        let mut s = self.state.lock();
        s.first_byte = Some(self.started.elapsed());
        s.streamed = true;
    }

    pub fn is_stream(&self) -> bool {
        self.state.lock().streamed
    }

    /// The request failed with an error of this label.
    pub fn failed(&self, label: &'static str) {
        self.state.lock().error = Some(label);
    }

    /// The response head is ready (what the gateway's own overhead is measured to).
    pub fn head_ready(&self) {
        let mut s = self.state.lock();
        if s.head.is_none() {
            s.head = Some(self.started.elapsed());
        }
    }

    /// Closes the request: the policies' record with the outcome, the request's
    /// metrics, the usage record. Runs once; later calls return nothing. The headers
    /// the policies add (for an answer whose head is not sent yet).
    pub async fn settle(&self, status: u16) -> Vec<(String, String)> {
        match self.close(status) {
            Some(c) => c.record().await,
            None => Vec::new(),
        }
    }

    /// The synchronous part of `settle`: claims it, records metrics and usage.
    fn close(&self, status: u16) -> Option<Closing> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return None;
        }
        let elapsed = self.started.elapsed();
        let mut s = std::mem::take(&mut *self.state.lock());
        let (provider, target) = match s.answered.take() {
            Some((p, t)) => (Some(p), t),
            None => (None, None),
        };
        let target = target.as_ref();
        let cost_micros = target.map_or(0, |t| cost_micros(t, s.usage));
        let cache_hit = matches!(s.cache, Some(CacheResult::Hit | CacheResult::SemanticHit));
        let routed = s.route.is_some();
        let route = s.route.take().unwrap_or_default();
        let provider_label = if cache_hit {
            "cache"
        } else {
            provider.as_deref().unwrap_or("")
        };
        let model = target.map_or("", |t| t.model.as_str());
        let overhead = s.head.unwrap_or(elapsed).saturating_sub(s.waited);
        s.outcome(status, elapsed, cost_micros);
        self.metrics.finished(&Finished {
            route: &route,
            provider: provider_label,
            model,
            status,
            elapsed,
            overhead,
            ttft: s.first_byte,
            usage: target.map(|_| s.usage),
            cost: cost_micros as f64 / 1e6,
            cache: s.cache.map(CacheResult::label),
            saved: s.saved,
            error: s.error,
        });
        self.access(&s, status, elapsed, (&route, provider_label, model));
        if let Some(traced) = &self.trace {
            self.trace(traced, &s, status, (&route, provider_label, model));
        }
        if routed {
            self.record_usage(
                &mut s,
                records::Closed {
                    route,
                    provider: provider_label,
                    model,
                    status,
                    cost_micros,
                    elapsed,
                    overhead,
                },
            );
        }
        Some(Closing {
            metrics: self.metrics.clone(),
            show_cost: s.show_cost,
            admitted: s.admitted.take(),
            outcome: Outcome {
                status,
                target_model: target.map(|t| t.model.clone()),
                provider,
                usage: s.usage,
                cost_micros,
                cache_hit,
                duration_ms: elapsed.as_millis() as u64,
            },
        })
    }
}

/// What an answer cost at the target's prices (per million tokens), in millionths.
pub fn cost_micros(target: &Target, usage: Usage) -> u64 {
    let cached = usage.cached_prompt.min(usage.prompt);
    let c = (usage.prompt - cached) as f64 * target.input_price
        + cached as f64 * target.cached_input_price
        + usage.completion as f64 * target.output_price;
    if c.is_finite() && c > 0.0 {
        c.round() as u64
    } else {
        0
    }
}

impl Drop for RequestCtx {
    /// A request dropped before it settled (its client went away mid-request): it is
    /// still closed out, as status 499, and its policies still hear of it.
    fn drop(&mut self) {
        let Some(closing) = self.close(499) else {
            return;
        };
        if closing.admitted.is_none() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(closing.record());
        }
    }
}
