//! The integration suite, one test binary: the real gateway (in process or as the
//! built binary) in front of the mock provider in `mock/`, driven through the helpers
//! in `common/`. One binary instead of one per file: a single link of wasmtime and
//! the gateway instead of a dozen (each ~0.5 GB with debug info), and every test of
//! the suite shares the two cores instead of waiting for the previous file's.
//!
//! `tests/reload.rs` stays its own binary: it sets a process environment variable,
//! which must not happen while other tests' threads read the environment.

mod common;
mod mock;

mod alerts;
mod balancing;
mod budget;
mod cache;
mod claude_clouds;
mod cli;
mod clients;
mod conformance;
mod console;
mod contract;
mod control;
mod cors;
mod credentials;
mod docs;
mod end_users;
mod examples;
mod fidelity;
mod files;
mod fixtures;
mod guarantees;
mod guardrails;
mod hostile;
mod keys;
mod layout;
mod messages;
mod metrics;
mod openai_sdk;
mod passthrough;
mod people;
mod people_accounts;
mod plugin_host;
mod plugin_kit;
mod proxy;
mod quota;
mod redaction;
mod registry;
mod registry_keys;
mod replicas;
mod reports;
mod requests;
mod responses;
mod routing;
mod sandbox;
mod sdk;
mod semantic_cache;
mod service;
mod sso;
mod telemetry;
mod trust;
mod usage;
