//! Host-side bindings generated from `wit/`, one module per world. The shared
//! `types` and `host` interfaces are generated once (in `adapter`) and reused by
//! the others, so a `TargetStats` is one Rust type whichever world uses it.

#![allow(missing_docs, clippy::too_many_arguments)]

pub mod adapter {
    wasmtime::component::bindgen!({
        world: "adapter",
        path: "wit",
        additional_derives: [PartialEq],
        exports: { default: async },
        // Counters may live in Redis: these two wait on the network, so they are
        // async on the host (the guest sees plain calls) and may fail the call.
        imports: {
            "switchboard:plugin/host.counter-add": async | trappable,
            "switchboard:plugin/host.counter-get": async | trappable,
        },
    });
}

pub mod strategy {
    wasmtime::component::bindgen!({
        world: "strategy",
        path: "wit",
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
        path: "wit",
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
        path: "wit",
        exports: { default: async },
        with: {
            "switchboard:plugin/types": super::adapter::switchboard::plugin::types,
            "switchboard:plugin/host": super::adapter::switchboard::plugin::host,
        },
    });
}

pub use adapter::switchboard::plugin::types;
