//! What a failed guest call was and says: its kind (the metric label, and whether it
//! counts toward quarantine) from the store's flags and the trap, and a one-line
//! summary with the guest's stderr and the wasm backtrace's own frames.

use wasmtime::Store;
use wasmtime::Trap;

use super::FailureKind;
use super::host::HostState;

/// What a failed call says: a host call's own error (the counter store), or the
/// trap's cause with what the guest wrote to stderr (a panic message) and the wasm
/// backtrace's frames, each bounded and on one line.
pub fn summary(e: &wasmtime::Error, stderr: Option<&str>) -> String {
    if let Some(c) = e.downcast_ref::<super::CounterError>() {
        return c.to_string();
    }
    let one_line = |t: &str, max: usize| -> String {
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        let skip = t.chars().count().saturating_sub(max);
        t.chars().skip(skip).collect()
    };
    let mut text = one_line(&e.root_cause().to_string(), 300);
    if let Some(out) = stderr.filter(|s| !s.trim().is_empty()) {
        text.push_str(&format!("; guest said: {}", one_line(out, 500)));
    }
    // wasmtime writes the backtrace as lines `N: 0xOFFSET - module!function`.
    let full = format!("{e:#}");
    // The panic machinery's own frames (std, core, alloc, the abort) say nothing.
    let machinery = |f: &str| {
        let krate = f.split(['[', ':']).next().unwrap_or(f);
        ["std", "core", "alloc", "abort"].contains(&krate) || f.starts_with("__rust")
    };
    let frames: Vec<String> = full
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .map(|l| {
            let f = l.rsplit(" - ").next().unwrap_or(l);
            let f = f.split_once(": ").map_or(f, |(f, _)| f);
            f.split_once('!').map_or(f, |(_, name)| name).to_string()
        })
        .filter(|f| !machinery(f))
        .take(8)
        .map(|f| f.chars().take(160).collect())
        .collect();
    if !frames.is_empty() {
        text.push_str(&format!("; wasm backtrace: {}", frames.join(" <- ")));
    }
    text
}

pub fn classify(e: &wasmtime::Error, store: &Store<HostState>) -> FailureKind {
    // The counter store refused or failed: not the plugin's fault, and never a reason
    // to quarantine it (a Redis outage, or clients' fresh `user` values at the cap).
    if e.downcast_ref::<super::CounterError>().is_some() {
        return FailureKind::Store;
    }
    if store.data().memory.exceeded {
        return FailureKind::Memory;
    }
    if store.data().cpu.exceeded {
        return FailureKind::Deadline;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureKind::Deadline,
        Some(_) => FailureKind::Trap,
        None => FailureKind::Trap,
    }
}
