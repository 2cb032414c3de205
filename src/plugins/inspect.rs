//! `switchboard plugin inspect`: what a component is, as this host sees it — its world
//! and contract version, what it exports and imports, its size, how long it takes to
//! compile, and whether the host can link it (and, when not, what to change).

use std::time::Instant;

use serde_json::{Value, json};
use wasmtime::component::Component;

use super::world::{self, Kind, PACKAGE, Version};
use super::{PluginError, PluginRuntime, load_err};

/// Why a component that imports `name` cannot be linked, and what to do about it.
fn hint(import: &str) -> Option<String> {
    if import.starts_with("wasi:http") {
        return Some(format!(
            "imports {import}: the host offers no HTTP to plugins; build without it (jco componentize --disable http, or leave the fetch shim out)"
        ));
    }
    if import.starts_with("wasi:sockets") {
        return Some(format!(
            "imports {import}: plugins have no network; build without sockets"
        ));
    }
    None
}

impl PluginRuntime {
    /// Describes the component at `path` (compiled afresh, so the time is real).
    pub fn inspect(&self, path: &std::path::Path) -> Result<Value, PluginError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| load_err(&name, e.to_string()))?;
        let started = Instant::now();
        let compiled = self.engine.precompile_component(&bytes).map_err(|e| {
            load_err(
                &name,
                format!("is not a valid WebAssembly component: {e:#}"),
            )
        })?;
        let compile_ms = started.elapsed().as_secs_f64() * 1e3;
        // SAFETY: produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &compiled) }
            .map_err(|e| load_err(&name, format!("{e:#}")))?;
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let found = Kind::ALL.iter().find_map(|k| {
            world::check(&self.engine, &component, *k)
                .ok()
                .map(|v: Version| (*k, v))
        });
        let linked = self
            .linker
            .instantiate_pre(&component)
            .map(|_| ())
            .map_err(|e| {
                let why = format!("{e:#}");
                imports
                    .iter()
                    .find_map(|i| hint(i).filter(|_| why.contains(i.as_str())))
                    .unwrap_or(why)
            });
        Ok(json!({
            "file": name,
            "bytes": bytes.len(),
            "world": found.map(|(k, _)| format!("{PACKAGE}/{}", k.world())),
            "contract": found.map(|(_, v)| v.as_str()),
            "exports": exports,
            "imports": imports,
            "compile_ms": compile_ms,
            "links": linked.is_ok(),
            "link_error": linked.err(),
        }))
    }
}
