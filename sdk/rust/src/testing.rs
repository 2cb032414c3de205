//! Testing a plugin with plain `cargo test` on the build machine: a fake host for the
//! test's thread and builders for the records the host passes in.
//!
//! ```ignore
//! use switchboard_sdk::testing::{FakeHost, target, route_request};
//!
//! #[test]
//! fn the_canary_gets_its_share() {
//!     let host = FakeHost::new().setting("percent", 50).install();
//!     let order = Canary::select(route_request("m"), vec![target("a", "x"), target("b", "y")]);
//!     assert_eq!(order.unwrap()[0], 1);
//!     host.advance(60);                       // counters' windows move with the fake clock
//!     assert!(host.logs().is_empty());
//! }
//! ```
//!
//! The fake host answers as the gateway does: settings as JSON text, counters kept per
//! key and window (a window of `w` seconds starts at a multiple of `w` on the fake
//! clock, 0 never resets), calendar periods in UTC, prices and tags as the test sets
//! them. Plugin code calls [`crate::host`], never the fake directly.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::types::{
    ChatMessage, GuardRequest, Health, InferAnswer, LogLevel, Operation, Outcome, PolicyRequest,
    RequestContext, RequestShape, RouteRequest, TargetStats, TokenUsage,
};

#[derive(Default)]
struct State {
    settings: HashMap<String, String>,
    name: String,
    now: u64,
    counters: HashMap<(String, u64, u64), i64>,
    logs: Vec<(LogLevel, String)>,
    prices: HashMap<String, (f64, f64)>,
    tags: HashMap<(String, String, String), Vec<String>>,
    shape: Option<RequestShape>,
    /// What `infer` answers per route (`Err`: the call fails with that message).
    answers: HashMap<String, Result<String, String>>,
    /// Every `infer` call: route and messages.
    asked: Vec<(String, Vec<ChatMessage>)>,
    kv: HashMap<String, String>,
    /// What `moderate` answers per route: each category's score.
    moderations: HashMap<String, Vec<(String, f32)>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// A fake host, built with its settings and facts, then [`FakeHost::install`]ed on the
/// test's thread (each test thread has its own).
#[derive(Clone)]
pub struct FakeHost(Rc<RefCell<State>>);

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeHost {
    /// No settings, plugin name `test`, the clock at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        let state = State {
            name: "test".into(),
            now: 1_767_225_600,
            ..State::default()
        };
        FakeHost(Rc::new(RefCell::new(state)))
    }

    /// Sets `name` to `value` (any serde value: the host passes JSON text).
    pub fn setting(self, name: &str, value: impl serde::Serialize) -> Self {
        let json = serde_json::to_string(&value).expect("a setting serialises to JSON");
        self.0.borrow_mut().settings.insert(name.into(), json);
        self
    }

    /// The name the plugin is configured under (`host::plugin-name`).
    pub fn name(self, name: &str) -> Self {
        self.0.borrow_mut().name = name.into();
        self
    }

    /// A route's reservation prices (`host::route-prices`).
    pub fn route_prices(self, route: &str, input: f64, output: f64) -> Self {
        self.0
            .borrow_mut()
            .prices
            .insert(route.into(), (input, output));
        self
    }

    /// A target's tags (`host::target-tags`).
    pub fn tags(self, route: &str, provider: &str, model: &str, tags: &[&str]) -> Self {
        let key = (route.into(), provider.into(), model.into());
        let tags = tags.iter().map(|t| t.to_string()).collect();
        self.0.borrow_mut().tags.insert(key, tags);
        self
    }

    /// What `host::current-request-shape` answers (default: one message, nothing else).
    pub fn shape(self, shape: RequestShape) -> Self {
        self.0.borrow_mut().shape = Some(shape);
        self
    }

    /// What `host::infer` answers on `route` (a route with no answer set fails the call,
    /// as a route that does not exist would).
    pub fn answer(self, route: &str, text: &str) -> Self {
        let a = Ok(text.to_string());
        self.0.borrow_mut().answers.insert(route.into(), a);
        self
    }

    /// `host::infer` on `route` fails with `message` (a provider down, a budget spent).
    pub fn failing(self, route: &str, message: &str) -> Self {
        let a = Err(message.to_string());
        self.0.borrow_mut().answers.insert(route.into(), a);
        self
    }

    /// What `host::moderate` answers on `route`: these scores for every text (flagged
    /// when one reaches 0.5).
    pub fn moderation(self, route: &str, scores: &[(&str, f32)]) -> Self {
        let s = scores.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        self.0.borrow_mut().moderations.insert(route.into(), s);
        self
    }

    /// The model calls the plugin made (`infer`, and `moderate` with no messages):
    /// route and messages, oldest first.
    pub fn asked(&self) -> Vec<(String, Vec<ChatMessage>)> {
        self.0.borrow().asked.clone()
    }

    /// What the plugin keeps under `key` (`host::kv_get`).
    pub fn kv(&self, key: &str) -> Option<String> {
        self.0.borrow().kv.get(key).cloned()
    }

    /// Sets the fake clock (Unix seconds).
    pub fn at(self, unix_secs: u64) -> Self {
        self.0.borrow_mut().now = unix_secs;
        self
    }

    /// Makes this the host of the calling thread (replacing any other); returns a
    /// handle to move its clock and read what the plugin logged.
    pub fn install(self) -> FakeHost {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.0.clone()));
        self
    }

    /// Moves the clock forward: counters whose window ended start again from zero.
    pub fn advance(&self, secs: u64) {
        self.0.borrow_mut().now += secs;
    }

    /// The lines the plugin logged, oldest first.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.0.borrow().logs.clone()
    }

    /// Counter `key` in the current window of `window_secs`, as the plugin would read it.
    pub fn counter(&self, key: &str, window_secs: u64) -> i64 {
        let s = self.0.borrow();
        let k = (
            key.to_string(),
            window_secs,
            window_start(s.now, window_secs),
        );
        s.counters.get(&k).copied().unwrap_or(0)
    }
}

fn window_start(now: u64, window: u64) -> u64 {
    if window == 0 { 0 } else { now - now % window }
}

/// The installed host's state (`f` runs on it), or a panic saying what to do.
fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    CURRENT.with(|c| {
        let c = c.borrow();
        let state = c.as_ref().expect(
            "no fake host on this thread: call switchboard_sdk::testing::FakeHost::new().install() in the test first",
        );
        f(&mut state.borrow_mut())
    })
}

/// What [`crate::host`] calls on the build machine.
#[doc(hidden)]
pub mod fake {
    /// `models`: answers as the test set them; embeddings are a deterministic function
    /// of the text (the same text, the same vector; unit length).
    pub mod models {
        use super::super::with;
        use crate::types::{ChatMessage, InferAnswer, InferParams, TokenUsage};

        pub fn infer(
            route: &str,
            messages: &[ChatMessage],
            _params: InferParams,
        ) -> Result<InferAnswer, String> {
            with(|s| {
                s.asked.push((route.to_string(), messages.to_vec()));
                let a = s.answers.get(route).cloned().unwrap_or_else(|| {
                    Err(format!("the fake host has no answer for route `{route}`: set one with FakeHost::answer"))
                })?;
                Ok(InferAnswer {
                    text: a,
                    finish_reason: "stop".into(),
                    model: route.into(),
                    usage: TokenUsage {
                        prompt_tokens: 10,
                        completion_tokens: 1,
                        cached_prompt_tokens: 0,
                    },
                })
            })
        }

        pub fn embed(_route: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
            Ok(texts.iter().map(|t| super::super::embedding(t)).collect())
        }

        /// The scores the test set for `route`, for every text; flagged from 0.5.
        pub fn moderate(
            route: &str,
            texts: &[String],
        ) -> Result<Vec<crate::types::Moderation>, String> {
            with(|s| {
                s.asked.push((route.to_string(), Vec::new()));
                let scores = s.moderations.get(route).cloned().ok_or_else(|| {
                    format!("the fake host has no moderation for route `{route}`: set one with FakeHost::moderation")
                })?;
                let flagged = scores.iter().any(|(_, v)| *v >= 0.5);
                Ok(texts
                    .iter()
                    .map(|_| crate::types::Moderation {
                        flagged,
                        scores: scores.clone(),
                    })
                    .collect())
            })
        }
    }

    /// `keyvalue`, in memory (no expiry on the fake clock).
    pub mod kv {
        use super::super::with;

        pub fn get(key: &str) -> Option<String> {
            with(|s| s.kv.get(key).cloned())
        }

        pub fn set(key: &str, value: &str, _ttl_secs: u64) -> Result<(), String> {
            if value.len() > 64 << 10 {
                return Err("a value is at most 64 KiB".into());
            }
            with(|s| s.kv.insert(key.into(), value.into()));
            Ok(())
        }

        pub fn remove(key: &str) {
            with(|s| s.kv.remove(key));
        }
    }

    use super::{LogLevel, window_start, with};

    pub fn setting(name: &str) -> Option<String> {
        with(|s| s.settings.get(name).cloned())
    }

    pub fn log(level: LogLevel, message: &str) {
        with(|s| s.logs.push((level, message.to_string())))
    }

    pub fn counter_add(key: &str, delta: i64, window_secs: u64) -> i64 {
        with(|s| {
            let k = (
                key.to_string(),
                window_secs,
                window_start(s.now, window_secs),
            );
            let v = s.counters.entry(k).or_insert(0);
            *v = v.saturating_add(delta);
            *v
        })
    }

    pub fn counter_get(key: &str, window_secs: u64) -> i64 {
        with(|s| {
            let k = (
                key.to_string(),
                window_secs,
                window_start(s.now, window_secs),
            );
            s.counters.get(&k).copied().unwrap_or(0)
        })
    }

    pub fn window_remaining_secs(window_secs: u64) -> u64 {
        with(|s| match window_secs {
            0 => u64::MAX,
            w => w - s.now % w,
        })
    }

    pub fn plugin_name() -> String {
        with(|s| s.name.clone())
    }

    pub fn route_prices(route: &str) -> (f64, f64) {
        with(|s| s.prices.get(route).copied().unwrap_or((0.0, 0.0)))
    }

    pub fn target_tags(route: &str, provider: &str, model: &str) -> Vec<String> {
        let key = (route.to_string(), provider.to_string(), model.to_string());
        with(|s| s.tags.get(&key).cloned().unwrap_or_default())
    }

    pub fn current_request_shape() -> super::RequestShape {
        with(|s| s.shape).unwrap_or(super::RequestShape {
            images: false,
            audio: false,
            tools: false,
            json_output: false,
            messages: 1,
        })
    }

    /// UTC periods only (the gateway also knows time zones).
    pub fn calendar_period(period: &str, zone: &str) -> Result<(String, u64, String), String> {
        if !matches!(zone, "UTC" | "Z" | "+00:00") {
            return Err(format!("the fake host knows UTC only, not '{zone}'"));
        }
        with(|s| crate::calendar::period(period, s.now))
    }
}

/// A healthy target with weight 1, no latency or prices known yet.
pub fn target(provider: &str, model: &str) -> TargetStats {
    TargetStats {
        provider: provider.into(),
        model: model.into(),
        weight: 1,
        priority: 0,
        health: Health::Healthy,
        in_flight: 0,
        latency_ewma_us: 0,
        ttft_ewma_us: 0,
        error_rate: 0.0,
        input_price_per_mtok: 0.0,
        output_price_per_mtok: 0.0,
        ratelimit_remaining_requests: None,
        ratelimit_remaining_tokens: None,
        retry_after_secs: None,
    }
}

/// The first request of `route`: 100 estimated input tokens, no text.
pub fn route_request(route: &str) -> RouteRequest {
    RouteRequest {
        route: route.into(),
        sequence: 0,
        random: 0,
        estimated_input_tokens: 100,
        max_output_tokens: None,
        stream: false,
        text: None,
    }
}

/// A request by key `key` for `route`: no team or user, `n` 1, 100 input tokens.
pub fn policy_request(key: &str, route: &str) -> PolicyRequest {
    PolicyRequest {
        request_id: "req-test".into(),
        key_name: key.into(),
        team: None,
        user: None,
        route: route.into(),
        tags: Vec::new(),
        n: 1,
        estimated_input_tokens: 100,
        max_output_tokens: None,
        stream: false,
    }
}

/// A request that ended with `status` after using `prompt` and `completion` tokens.
pub fn outcome(status: u16, prompt: u64, completion: u64) -> Outcome {
    Outcome {
        status,
        provider: Some("p".into()),
        target_model: Some("m".into()),
        usage: TokenUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_prompt_tokens: 0,
        },
        cost_micros: 0,
        cache_hit: false,
        duration_ms: 100,
    }
}

/// A chat completion for `route` at `provider`/`model`, not streamed.
pub fn request_context(route: &str, provider: &str, model: &str) -> RequestContext {
    RequestContext {
        request_id: "req-test".into(),
        operation: Operation::ChatCompletions,
        route: route.into(),
        provider: provider.into(),
        target_model: model.into(),
        stream: false,
        include_usage: false,
        created: 1_767_225_600,
    }
}

/// A deterministic 16-dimensional unit vector of `text` (what the fake `embed` gives).
pub fn embedding(text: &str) -> Vec<f32> {
    let mut v = [0f32; 16];
    for (i, b) in text.bytes().enumerate() {
        v[(b as usize + i) % 16] += 1.0;
    }
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / norm).collect()
}

/// A request by key `key` for `route` with one user message `text`, for a guardrail.
pub fn guard_request(route: &str, text: &str) -> GuardRequest {
    GuardRequest {
        request_id: "req-test".into(),
        key_name: "test".into(),
        team: None,
        user: None,
        route: route.into(),
        messages: vec![ChatMessage {
            role: "user".into(),
            content: text.into(),
        }],
        response_schema: None,
        json_output: false,
        stream: false,
    }
}

/// What `infer` answered, as a guardrail's test may build one.
pub fn infer_answer(text: &str) -> InferAnswer {
    InferAnswer {
        text: text.into(),
        finish_reason: "stop".into(),
        model: "m".into(),
        usage: TokenUsage {
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_prompt_tokens: 0,
        },
    }
}
