//! Builds the first-party plugin components (`plugins/`) for `wasm32-wasip2` so that a
//! plain `cargo build` / `cargo test` produces everything.
//!
//! The guests are their own workspace, built by a nested cargo into a fixed sibling
//! target dir (`target/wasm-guests`): building them in this package's target dir would
//! deadlock on cargo's lock. The flags of the outer build (RUSTFLAGS, wrappers such as
//! clippy-driver, the host target) must not leak into the guest build.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (crate, `builtin:` name) of every plugin embedded in the binary.
const EMBEDDED: &[(&str, &str)] = &[
    ("adapter-openai", "openai"),
    ("adapter-anthropic", "anthropic"),
    ("adapter-gemini", "gemini"),
    ("adapter-azure-openai", "azure-openai"),
    ("adapter-bedrock", "bedrock"),
    ("adapter-cohere", "cohere"),
    ("adapter-dashscope", "dashscope"),
    ("adapter-qianfan", "qianfan"),
    ("adapter-hunyuan", "hunyuan"),
    ("adapter-ollama", "ollama"),
    ("strategy-round-robin", "round-robin"),
    ("strategy-weighted", "weighted"),
    ("strategy-priority", "priority"),
    ("strategy-random", "random"),
    ("strategy-least-connections", "least-connections"),
    ("strategy-latency", "latency"),
    ("strategy-ttft", "ttft"),
    ("strategy-cost", "cost"),
    ("strategy-usage-aware", "usage-aware"),
    ("strategy-content-router", "content-router"),
    ("policy-request-limit", "request-limit"),
    ("policy-token-quota", "token-quota"),
    ("policy-budget", "budget"),
    ("redact-pii", "redact-pii"),
    ("guardrail-pii", "pii"),
    ("guardrail-llm-judge", "llm-judge"),
    ("guardrail-json-schema", "json-schema"),
    ("guardrail-moderation", "moderation"),
];

/// Guests built for the tests only, exposed by path through `SWITCHBOARD_GUEST_<NAME>`.
const TEST_ONLY: &[&str] = &[
    "test-hostile",
    "test-hostile-adapter",
    "test-hostile-policy",
    "test-future-version",
    "test-v01-redactor",
    "strategy-canary",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let plugins = manifest_dir.join("plugins");
    let target_dir = manifest_dir.join("target").join("wasm-guests");
    println!("cargo:rerun-if-changed=wit");
    println!("cargo:rerun-if-changed=plugins");
    println!("cargo:rerun-if-changed=examples/plugins");
    println!("cargo:rerun-if-changed=sdk/rust");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_SKIP_GUEST_BUILD");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTDOCFLAGS",
    ] {
        cmd.env_remove(var);
    }
    if env::var_os("SWITCHBOARD_SKIP_GUEST_BUILD").is_none() {
        let mut status = cmd
            .status()
            .expect("failed to run cargo for the plugin components");
        if !status.success() && add_wasm_target() {
            status = cmd
                .status()
                .expect("failed to run cargo for the plugin components");
        }
        if !status.success() {
            panic!(
                "building the plugin components failed; is the wasm32-wasip2 target installed? \
                 (`rustup target add wasm32-wasip2`)"
            );
        }
    }

    let out_dir = target_dir.join("wasm32-wasip2").join("release");
    let mut generated = String::from(
        "/// `builtin:` plugins embedded in the binary: (name, component bytes).\n\
         pub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for (krate, name) in EMBEDDED {
        let path = artifact(&out_dir, krate);
        writeln!(
            generated,
            "    ({name:?}, include_bytes!({:?})),",
            path.display()
        )
        .unwrap();
    }
    generated.push_str("];\n");
    let gen_path = PathBuf::from(env::var("OUT_DIR").unwrap()).join("builtins.rs");
    fs::write(gen_path, generated).unwrap();

    for krate in TEST_ONLY {
        let var = format!(
            "SWITCHBOARD_GUEST_{}",
            krate.to_uppercase().replace('-', "_")
        );
        println!(
            "cargo:rustc-env={var}={}",
            artifact(&out_dir, krate).display()
        );
    }
}

/// Installs the guest target when it is missing (rustup does not fetch targets
/// listed in rust-toolchain.toml when RUSTUP_AUTO_INSTALL=0). True if it was added.
fn add_wasm_target() -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "wasm32-wasip2")
        })
        .unwrap_or(true);
    if installed {
        return false;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target for the plugin components");
    Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn artifact(out_dir: &Path, krate: &str) -> PathBuf {
    let path = out_dir.join(format!("{}.wasm", krate.replace('-', "_")));
    assert!(
        path.exists(),
        "plugin component missing after build: {}",
        path.display()
    );
    path
}
