//! What `switchboard plugin inspect` and `plugin test` print, made by the engine the
//! gateway uses with its default settings (so a component that passes here loads in a
//! gateway the same way). Each returns the text for standard output and whether the
//! command succeeded.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::config::Config;
use crate::plugins::PluginRuntime;
use crate::plugins::world::Kind;

/// An engine with the default `[plugins]` settings.
fn runtime() -> Result<Arc<PluginRuntime>, String> {
    let engine = Config::parse("", Path::new("."), &|_| None)
        .map_err(|e| e.to_string())?
        .engine;
    PluginRuntime::new(&engine).map_err(|e| e.to_string())
}

fn list(v: &Value, k: &str) -> String {
    v[k].as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `plugin inspect`: the component described (JSON, or aligned text).
pub fn inspect(file: &Path, json: bool) -> Result<(String, bool), String> {
    let v = runtime()?.inspect(file).map_err(|e| e.to_string())?;
    let ok = v["links"] == true && v["world"].is_string();
    if json {
        return Ok((format!("{v:#}\n"), ok));
    }
    let links = match v["link_error"].as_str() {
        None => "yes".to_string(),
        Some(e) => format!("no — {e}\n           {}", link_hint(e)),
    };
    let text = format!(
        "file:      {}\nworld:     {}\ncontract:  {}\nsize:      {} bytes\ncompile:   {:.1} ms\nexports:   {}\nimports:   {}\nlinks:     {links}\n",
        v["file"].as_str().unwrap_or_default(),
        v["world"].as_str().unwrap_or("none of switchboard's"),
        v["contract"].as_str().unwrap_or("-"),
        v["bytes"],
        v["compile_ms"].as_f64().unwrap_or(0.0),
        list(&v, "exports"),
        list(&v, "imports"),
    );
    Ok((text, ok))
}

/// What to do about an import this host does not provide.
pub fn link_hint(error: &str) -> &'static str {
    if error.contains("wasi:http") {
        "plugins get no wasi:http (no network): with componentize-js build with disableFeatures: ['http', 'fetch-event'] (the build.mjs of `plugin new --lang js` does); in Rust, drop the dependency that imports it"
    } else if error.contains("switchboard:plugin") {
        "built against a contract this gateway does not have: build against this gateway's wit/plugin.wit (`plugin new` writes it), or update the gateway"
    } else {
        "plugins get switchboard:plugin/host and WASI 0.2 (no files, sockets or environment): leave out what imports the rest"
    }
}

/// `plugin test`: each case's output, call time and memory, and the summary.
pub async fn test(file: &Path, cases: &Path) -> Result<(String, bool), String> {
    let text = std::fs::read_to_string(cases).map_err(|e| format!("{}: {e}", cases.display()))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", cases.display()))?;
    let list = doc["cases"]
        .as_array()
        .or(doc.as_array())
        .cloned()
        .unwrap_or_default();
    let settings = doc["settings"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
        .unwrap_or_default();
    let runtime = runtime()?;
    let world = runtime.inspect(file).map_err(|e| e.to_string())?["world"]
        .as_str()
        .map(str::to_string);
    let kind = world
        .and_then(|w| Kind::ALL.into_iter().find(|k| w.ends_with(k.world())))
        .ok_or_else(|| format!("{} is no switchboard plugin", file.display()))?;
    let outcomes = super::testing::run(&runtime, file, kind, settings, &list).await?;
    let mut out = String::new();
    let mut failed = 0;
    for (i, (case, o)) in list.iter().zip(&outcomes).enumerate() {
        let name = case["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("case {i}"));
        let mark = if o.ok { "ok  " } else { "FAIL" };
        out.push_str(&format!(
            "{mark} {name}: {} ({:.1} µs, {} KiB)\n",
            o.output,
            o.micros,
            o.memory >> 10
        ));
        if !o.ok {
            failed += 1;
            out.push_str(&format!("     expected {}\n", case["expect"]));
        }
    }
    out.push_str(&format!("{} cases, {failed} failed\n", outcomes.len()));
    Ok((out, failed == 0))
}
