//! # switchboard-sdk
//!
//! Write plugins for the [switchboard](https://github.com/switchboard-gateway) LLM
//! gateway in Rust. The crate carries the plugin contract (WIT 0.3), generates its
//! bindings once for every world, and adds what each plugin would otherwise write
//! itself:
//!
//! - [`host`]: the host's capabilities (settings, log, windowed counters, prices,
//!   calendar periods, target tags, and since 0.3 a model's answer, embeddings and a
//!   key-value store) as plain functions;
//! - [`settings`]: a plugin's `settings` table read into a serde struct, and
//!   `validate-settings` implemented from the same struct;
//! - [`decision`]: a policy's allow and deny answers and their headers;
//! - [`openai`]: OpenAI's chat and embeddings wire format read and written, for
//!   adapters (requests typed, answers, stream chunks, errors by status), and what a
//!   translating adapter does around its provider's format (the upstream request, a
//!   whole stream translator, embedding lists);
//! - [`testing`] (not on wasm): a fake host — settings, counters with windows on a
//!   clock the test moves, captured log lines — and builders for the records the host
//!   passes in, so plugin logic is tested with plain `cargo test`.
//!
//! A plugin crate is a `cdylib` built for `wasm32-wasip2`; it implements one world's
//! traits and names its type with that world's export macro:
//!
//! ```ignore
//! use switchboard_sdk::strategy::{self, LoadBalancer};
//! use switchboard_sdk::types::{RouteRequest, TargetStats};
//!
//! struct First;
//! impl strategy::Guest for First {
//!     fn validate_settings(s: Vec<(String, String)>) -> Result<(), String> {
//!         switchboard_sdk::settings::validate::<switchboard_sdk::settings::None>(&s)
//!     }
//! }
//! impl LoadBalancer for First {
//!     fn wants_request_text() -> bool { false }
//!     fn select(_: RouteRequest, t: Vec<TargetStats>) -> Result<Vec<u32>, String> {
//!         Ok((0..t.len() as u32).collect())
//!     }
//! }
//! switchboard_sdk::export_strategy!(First);
//! ```
//!
//! Every world's bindings live in this one crate: `wit-bindgen` records a world's
//! exports only where its export macro is invoked, so a component exports exactly the
//! world its crate names.

// The export macros and the generated code name this crate by its published name.
extern crate self as switchboard_sdk;

#[cfg(not(target_arch = "wasm32"))]
mod calendar;
pub mod decision;
pub mod host;
pub mod openai;
pub mod settings;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[doc(hidden)]
pub use wit_bindgen;

/// The contract's bindings, one module per world. The records and enums are generated
/// once (by the strategy world) and shared by the others.
#[doc(hidden)]
pub mod bindings {
    pub mod strategy {
        wit_bindgen::generate!({
            world: "strategy",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "switchboard_sdk::bindings::strategy",
            runtime_path: "switchboard_sdk::wit_bindgen::rt",
            // The shared types compare, so tests assert on verdicts and records whole.
            additional_derives: [PartialEq],
        });
    }
    pub mod policy {
        wit_bindgen::generate!({
            world: "policy",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "switchboard_sdk::bindings::policy",
            runtime_path: "switchboard_sdk::wit_bindgen::rt",
            with: {
                "switchboard:plugin/types@0.3.0": crate::bindings::strategy::switchboard::plugin::types,
                "switchboard:plugin/host@0.3.0": crate::bindings::strategy::switchboard::plugin::host,
                "switchboard:plugin/keyvalue@0.3.0": crate::bindings::strategy::switchboard::plugin::keyvalue,
            },
        });
    }
    pub mod redactor {
        wit_bindgen::generate!({
            world: "redactor",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "switchboard_sdk::bindings::redactor",
            runtime_path: "switchboard_sdk::wit_bindgen::rt",
            with: {
                "switchboard:plugin/types@0.3.0": crate::bindings::strategy::switchboard::plugin::types,
                "switchboard:plugin/host@0.3.0": crate::bindings::strategy::switchboard::plugin::host,
                "switchboard:plugin/keyvalue@0.3.0": crate::bindings::strategy::switchboard::plugin::keyvalue,
            },
        });
    }
    pub mod guardrail {
        wit_bindgen::generate!({
            world: "guardrail",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "switchboard_sdk::bindings::guardrail",
            runtime_path: "switchboard_sdk::wit_bindgen::rt",
            with: {
                "switchboard:plugin/types@0.3.0": crate::bindings::strategy::switchboard::plugin::types,
                "switchboard:plugin/host@0.3.0": crate::bindings::strategy::switchboard::plugin::host,
                "switchboard:plugin/models@0.3.0": crate::bindings::strategy::switchboard::plugin::models,
                "switchboard:plugin/keyvalue@0.3.0": crate::bindings::strategy::switchboard::plugin::keyvalue,
            },
        });
    }
    pub mod adapter {
        wit_bindgen::generate!({
            world: "adapter",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "switchboard_sdk::bindings::adapter",
            runtime_path: "switchboard_sdk::wit_bindgen::rt",
            with: {
                "switchboard:plugin/types@0.3.0": crate::bindings::strategy::switchboard::plugin::types,
                "switchboard:plugin/host@0.3.0": crate::bindings::strategy::switchboard::plugin::host,
                "switchboard:plugin/keyvalue@0.3.0": crate::bindings::strategy::switchboard::plugin::keyvalue,
            },
        });
    }
}

/// The records, enums and variants of the contract (`switchboard:plugin/types`).
pub mod types {
    pub use crate::bindings::strategy::switchboard::plugin::types::*;
}

/// The strategy world: order a route's targets for each request.
pub mod strategy {
    pub use crate::bindings::strategy::Guest;
    pub use crate::bindings::strategy::exports::switchboard::plugin::load_balancer::Guest as LoadBalancer;
}

/// The policy world: admit or deny a request, then hear how it ended.
pub mod policy {
    pub use crate::bindings::policy::Guest;
    pub use crate::bindings::policy::exports::switchboard::plugin::admission_policy::Guest as AdmissionPolicy;
}

/// The redactor world: mask the sensitive parts of texts in both directions.
pub mod redactor {
    pub use crate::bindings::redactor::Guest;
    pub use crate::bindings::redactor::exports::switchboard::plugin::text_redactor::Guest as TextRedactor;
}

/// The adapter world: translate OpenAI's wire format to a provider's and back.
pub mod adapter {
    pub use crate::bindings::adapter::Guest;
    pub use crate::bindings::adapter::exports::switchboard::plugin::provider_adapter::{
        Guest as ProviderAdapter, GuestStreamTranslator as StreamTranslator,
        StreamTranslator as StreamTranslatorHandle,
    };
}

/// The guardrail world (contract 0.3.0): judge requests, whole answers and windows of
/// a streamed answer; ask models through [`host::infer`] and [`host::embed`].
pub mod guardrail {
    pub use crate::bindings::guardrail::Guest;
    pub use crate::bindings::guardrail::exports::switchboard::plugin::guard::Guest as Guard;
}

/// Exports a type implementing [`guardrail::Guest`] and [`guardrail::Guard`].
#[macro_export]
macro_rules! export_guardrail {
    ($ty:ident) => {
        $crate::bindings::guardrail::export!($ty with_types_in $crate::bindings::guardrail);
    };
}

/// Exports a type implementing [`strategy::Guest`] and [`strategy::LoadBalancer`].
#[macro_export]
macro_rules! export_strategy {
    ($ty:ident) => {
        $crate::bindings::strategy::export!($ty with_types_in $crate::bindings::strategy);
    };
}

/// Exports a type implementing [`policy::Guest`] and [`policy::AdmissionPolicy`].
#[macro_export]
macro_rules! export_policy {
    ($ty:ident) => {
        $crate::bindings::policy::export!($ty with_types_in $crate::bindings::policy);
    };
}

/// Exports a type implementing [`redactor::Guest`] and [`redactor::TextRedactor`].
#[macro_export]
macro_rules! export_redactor {
    ($ty:ident) => {
        $crate::bindings::redactor::export!($ty with_types_in $crate::bindings::redactor);
    };
}

/// Exports a type implementing [`adapter::Guest`] and [`adapter::ProviderAdapter`]
/// (whose `StreamTranslator` implements [`adapter::StreamTranslator`]).
#[macro_export]
macro_rules! export_adapter {
    ($ty:ident) => {
        $crate::bindings::adapter::export!($ty with_types_in $crate::bindings::adapter);
    };
}
