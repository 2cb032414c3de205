//! switchboard: an OpenAI-compatible LLM gateway whose provider adapters, routing
//! strategies, policies and redactors are sandboxed WebAssembly components.
//!
//! The request lifecycle is drawn in `docs/src/architecture.md`; each module below owns
//! one part of it.

// A request's future nests every layer it passes (server, trace, pipeline, attempt,
// stream); computing its layout goes deeper than the default 128.
#![recursion_limit = "256"]

pub mod access_log;
pub mod alerts;
pub mod app;
pub mod auth_throttle;
pub mod batch;
pub mod batch_file;
pub mod builtin;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod compare;
pub mod config;
pub mod configured;
pub mod console;
pub mod control;
pub mod demo;
pub mod end_users;
pub mod files;
pub mod gateway;
pub mod health;
pub mod histogram;
pub mod kept;
pub mod live;
pub mod manage;
pub mod messages;
pub mod metrics;
pub mod multipart;
pub mod native;
pub mod outcomes;
pub mod people;
pub mod percent;
pub mod pg;
pub mod pipeline;
pub mod plugins;
pub mod probe;
pub mod prompts;
pub mod redis_conn;
pub mod registry;
pub mod reload;
pub mod reply;
pub mod reports;
pub mod request_limits;
pub mod response_store;
pub mod responses;
pub mod roles;
pub mod seal;
pub mod secrets;
pub mod server;
pub mod signals;
pub mod sqlite_file;
pub mod surface;
pub mod telemetry;
pub mod translate;
pub mod types;
pub mod upstream;
pub mod usage;
pub mod vkeys;

#[cfg(test)]
mod fuzz_tests;
