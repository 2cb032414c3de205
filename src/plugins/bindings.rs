//! Host-side bindings generated from `wit/`, one module per contract version
//! (`v0_1` from `wit/v0.1/`, `v0_2` from `wit/v0.2/`, `v0_3` from `wit/`) and one
//! submodule per world. In each version the shared interfaces (`types`, `host`, and
//! from 0.3.0 `models` and `keyvalue`) are generated once and reused by the other
//! worlds. Nothing outside `plugins` sees these types: the
//! host's own (`crate::types`) are converted at the boundary (`convert`).

#![allow(missing_docs, clippy::too_many_arguments)]

macro_rules! versioned {
    ($path:literal) => {
        pub mod adapter {
            wasmtime::component::bindgen!({
                world: "adapter",
                path: $path,
                exports: { default: async },
                // Counters may live in Redis: these two wait on the network, so they
                // are async on the host (the guest sees plain calls) and may fail.
                imports: {
                    "switchboard:plugin/host.counter-add": async | trappable,
                    "switchboard:plugin/host.counter-get": async | trappable,
                },
            });
        }

        pub mod strategy {
            wasmtime::component::bindgen!({
                world: "strategy",
                path: $path,
                exports: { default: async },
                with: {
                    "switchboard:plugin/types": super::adapter::switchboard::plugin::types,
                    "switchboard:plugin/host": super::adapter::switchboard::plugin::host,
                },
            });
        }

        pub mod policy {
            wasmtime::component::bindgen!({
                world: "policy",
                path: $path,
                exports: { default: async },
                with: {
                    "switchboard:plugin/types": super::adapter::switchboard::plugin::types,
                    "switchboard:plugin/host": super::adapter::switchboard::plugin::host,
                },
            });
        }

        pub mod redactor {
            wasmtime::component::bindgen!({
                world: "redactor",
                path: $path,
                exports: { default: async },
                with: {
                    "switchboard:plugin/types": super::adapter::switchboard::plugin::types,
                    "switchboard:plugin/host": super::adapter::switchboard::plugin::host,
                },
            });
        }

        pub use adapter::switchboard::plugin::{host, types};
    };
}

/// `switchboard:plugin@0.1.0`.
pub mod v0_1 {
    versioned!("wit/v0.1");
}

/// `switchboard:plugin@0.2.0`.
pub mod v0_2 {
    versioned!("wit/v0.2");
}

/// One 0.3.0 world whose shared interfaces come from `guardrail` (the world that
/// imports them all).
macro_rules! three {
    ($m:ident, $world:literal $(, $models:literal)?) => {
        pub mod $m {
            wasmtime::component::bindgen!({
                world: $world,
                path: "wit",
                exports: { default: async },
                with: {
                    "switchboard:plugin/types": super::guardrail::switchboard::plugin::types,
                    "switchboard:plugin/host": super::guardrail::switchboard::plugin::host,
                    "switchboard:plugin/keyvalue": super::guardrail::switchboard::plugin::keyvalue,
                    $($models: super::guardrail::switchboard::plugin::models,)?
                },
            });
        }
    };
}

/// `switchboard:plugin@0.3.0`: the 0.2.0 worlds with `models` and `keyvalue`, and
/// the `guardrail` world.
pub mod v0_3 {
    pub mod guardrail {
        wasmtime::component::bindgen!({
            world: "guardrail",
            path: "wit",
            exports: { default: async },
            // Counters and the key-value store may live in Redis, and a model call
            // waits on a whole request: async on the host (plain calls to the guest).
            imports: {
                "switchboard:plugin/host.counter-add": async | trappable,
                "switchboard:plugin/host.counter-get": async | trappable,
                "switchboard:plugin/models.infer": async | trappable,
                "switchboard:plugin/models.embed": async | trappable,
                "switchboard:plugin/models.moderate": async | trappable,
                "switchboard:plugin/keyvalue.get": async | trappable,
                "switchboard:plugin/keyvalue.set": async | trappable,
                "switchboard:plugin/keyvalue.remove": async | trappable,
            },
        });
    }
    three!(adapter, "adapter");
    three!(strategy, "strategy", "switchboard:plugin/models");
    three!(policy, "policy");
    three!(redactor, "redactor");

    pub use guardrail::switchboard::plugin::{host, keyvalue, models, types};
}
