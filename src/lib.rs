//! switchboard: an OpenAI-compatible LLM gateway whose provider adapters, routing
//! strategies, policies and redactors are sandboxed WebAssembly components.
//!
//! The request lifecycle is drawn in `docs/src/architecture.md`; each module below owns
//! one part of it.

// A request's future nests every layer it passes (server, trace, pipeline, attempt,
// stream); computing its layout goes deeper than the default 128.
#![recursion_limit = "256"]

pub mod access;
pub mod access_log;
pub mod alerts;
pub mod api;
pub mod app;
pub mod batch;
pub mod builtin;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod config;
pub mod configured;
pub mod console;
pub mod control;
pub mod demo;
pub mod gateway;
pub mod health;
pub mod histogram;
pub mod live;
pub mod manage;
pub mod metrics;
pub mod multipart;
pub mod native;
pub mod percent;
pub mod pipeline;
pub mod plugin_kit;
pub mod plugins;
pub mod registry;
pub mod reply;
pub mod request_limits;
pub mod roles;
pub mod seal;
pub mod secrets;
pub mod server;
pub mod stores;
pub mod telemetry;
pub mod types;
pub mod upstream;
pub mod usage;

#[cfg(test)]
mod fuzz_tests;
