//! The host's capabilities as plain functions. In a component they call the
//! gateway; in a test on the build machine they call the [`crate::testing`] fake host
//! installed on the test's thread (and panic, saying so, when none is).

use crate::types::LogLevel;

#[cfg(target_arch = "wasm32")]
use crate::bindings::strategy::switchboard::plugin::host as imp;
#[cfg(target_arch = "wasm32")]
use crate::bindings::strategy::switchboard::plugin::{keyvalue as kv, models};
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::fake as imp;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::fake::{kv, models};
use crate::types::{ChatMessage, InferAnswer, InferParams, Moderation};

/// This plugin's setting `name` as JSON text (`None` when the config does not set it).
/// [`crate::settings`] reads them all into a struct.
pub fn setting(name: &str) -> Option<String> {
    imp::setting(name)
}

/// Logs a line, attributed by the host to this plugin (and rate-limited by it).
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message)
}

/// Logs at `info`.
pub fn info(message: &str) {
    log(LogLevel::Info, message)
}

/// Logs at `warn`.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message)
}

/// Adds `delta` to counter `key` in the window of `window_secs` seconds containing now
/// (0: never resets); the new value. Shared by every instance of this configured
/// plugin (and, with Redis counters, by every replica).
pub fn counter_add(key: &str, delta: i64, window_secs: u64) -> i64 {
    imp::counter_add(key, delta, window_secs)
}

/// Counter `key` in the current window, unchanged.
pub fn counter_get(key: &str, window_secs: u64) -> i64 {
    imp::counter_get(key, window_secs)
}

/// Seconds until the window of `window_secs` containing now ends.
pub fn window_remaining_secs(window_secs: u64) -> u64 {
    imp::window_remaining_secs(window_secs)
}

/// The name this plugin is configured under (`[strategies.NAME]`, …).
pub fn plugin_name() -> String {
    imp::plugin_name()
}

/// A route's highest input and output prices per million tokens (0 when unknown).
pub fn route_prices(route: &str) -> (f64, f64) {
    imp::route_prices(route)
}

/// The calendar period (`day`, `week`, `month`) containing now in `zone`: its label,
/// the seconds until it ends and its end (RFC 3339).
pub fn calendar_period(period: &str, zone: &str) -> Result<(String, u64, String), String> {
    imp::calendar_period(period, zone)
}

/// The tags the config gives the target `provider`/`model` of `route` (empty when it
/// gives none).
pub fn target_tags(route: &str, provider: &str, model: &str) -> Vec<String> {
    imp::target_tags(route, provider, model)
}

/// What the request being routed carries besides its text (images, audio, tools, a
/// JSON answer, its message count): answered in `select` of a strategy whose
/// `wants_request_text` says yes.
pub fn request_shape() -> crate::types::RequestShape {
    imp::current_request_shape()
}

/// A chat completion on `route`, through the gateway's own pipeline (its strategy,
/// failover, cache and policies) as a child of the request this call serves: billed to
/// its key, recorded with it as parent. Answers only during a call made for a request;
/// bounded by the plugin's `model_timeout`.
pub fn infer(
    route: &str,
    messages: &[ChatMessage],
    params: InferParams,
) -> Result<InferAnswer, String> {
    models::infer(route, messages, params)
}

/// `infer` with one user message and the route's defaults: the answer's text.
pub fn ask(route: &str, prompt: &str) -> Result<String, String> {
    let m = [ChatMessage {
        role: "user".into(),
        content: prompt.into(),
    }];
    let p = InferParams {
        max_tokens: None,
        temperature: None,
        json: false,
    };
    infer(route, &m, p).map(|a| a.text)
}

/// The embeddings of `texts` on `route`, in order (a child request, as `infer`).
pub fn embed(route: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
    models::embed(route, texts)
}

/// OpenAI's moderation of `texts` on `route` (a `/v1/moderations` route), in order — a
/// child request, as `infer`.
pub fn moderate(route: &str, texts: &[String]) -> Result<Vec<Moderation>, String> {
    models::moderate(route, texts)
}

/// The value this plugin keeps under `key` (`None`: absent or expired).
pub fn kv_get(key: &str) -> Option<String> {
    kv::get(key)
}

/// Keeps `value` under `key` for `ttl_secs` (0: until evicted); values are at most
/// 64 KiB and a plugin's keys are bounded.
pub fn kv_set(key: &str, value: &str, ttl_secs: u64) -> Result<(), String> {
    kv::set(key, value, ttl_secs)
}

/// Forgets `key`.
pub fn kv_delete(key: &str) {
    kv::remove(key)
}
