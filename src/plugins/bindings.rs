//! Host-side bindings generated from `wit/`, one module per contract version
//! (`v0_1` from `wit/v0.1/`, `v0_2` from `wit/`) and one submodule per world. In each
//! version the shared `types` and `host` interfaces are generated once (in `adapter`)
//! and reused by the other worlds. Nothing outside `plugins` sees these types: the
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
    versioned!("wit");
}
