//! `switchboard plugin new` and `plugin build`: a standalone plugin project (its own
//! `Cargo.toml` with `[package]` and an empty `[workspace]`, so it builds wherever it is
//! copied; the contract's WIT beside it; a commented example of the world) and its
//! build with the right target and flags, followed by what `plugin inspect` says of the
//! result. Rust today (`--lang rust`).

use std::path::{Path, PathBuf};

const WIT: &str = include_str!("../../wit/plugin.wit");
const STRATEGY: &str = include_str!("templates/strategy.rs.txt");
const POLICY: &str = include_str!("templates/policy.rs.txt");
const REDACTOR: &str = include_str!("templates/redactor.rs.txt");

/// The template of `world`, or why there is none.
fn template(world: &str) -> Result<&'static str, String> {
    match world {
        "strategy" => Ok(STRATEGY),
        "policy" => Ok(POLICY),
        "redactor" => Ok(REDACTOR),
        "adapter" => Err(
            "adapters are started from plugins/adapter-openai in the gateway's repository (an adapter maps a whole wire format); plugin new makes strategy, policy or redactor projects".into(),
        ),
        other => Err(format!("'{other}' is not a world: strategy, policy or redactor")),
    }
}

/// Makes the project `name` of `world` in `dir/name`; its path.
pub fn new(dir: &Path, world: &str, name: &str, lang: &str) -> Result<PathBuf, String> {
    if lang != "rust" {
        return Err(format!(
            "--lang {lang}: plugin new makes Rust projects today (see the plugin guide for Python and JavaScript)"
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "'{name}' is not a crate name (letters, digits, - and _, not starting with a digit)"
        ));
    }
    let source = template(world)?;
    let root = dir.join(name);
    if root.exists() {
        return Err(format!("{} already exists", root.display()));
    }
    let krate = name.replace('-', "_");
    let lib = source
        .replace("{{name}}", name)
        .replace("{{crate}}", &krate)
        .replace("{{dir}}", &root.display().to_string());
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false
description = "A switchboard {world} plugin"

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = {{ version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }}

# Small components: the gateway compiles and instantiates them.
[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"

# Its own workspace: the project builds wherever it is copied.
[workspace]
"#
    );
    let readme = format!(
        "# {name}\n\nA switchboard {world} plugin.\n\n```sh\nswitchboard plugin build          # cargo build --release --target wasm32-wasip2, then inspect\nswitchboard plugin test target/wasm32-wasip2/release/{krate}.wasm --cases cases.json\n```\n\nName `target/wasm32-wasip2/release/{krate}.wasm` in the gateway's config (see `src/lib.rs`);\nthe gateway watches the file and takes each rebuild within a second.\n"
    );
    let write = |p: PathBuf, text: &str| {
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    std::fs::create_dir_all(root.join("src")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(root.join("wit")).map_err(|e| e.to_string())?;
    write(root.join("Cargo.toml"), &cargo)?;
    write(root.join("src/lib.rs"), &lib)?;
    write(root.join("wit/plugin.wit"), WIT)?;
    write(root.join("README.md"), &readme)?;
    write(root.join(".gitignore"), "target/\n")?;
    Ok(root)
}

/// Builds the project at `dir`: the component's path.
pub fn build(dir: &Path) -> Result<PathBuf, String> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        format!(
            "{}: {e} (plugin build runs in a project made by plugin new)",
            manifest.display()
        )
    })?;
    let name = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = \"")?.strip_suffix('"'))
        .ok_or("Cargo.toml names no package")?;
    let status = std::process::Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build failed (is the wasm32-wasip2 target installed? rustup target add wasm32-wasip2)".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let out = target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    if !out.exists() {
        return Err(format!("cargo built no {}", out.display()));
    }
    Ok(out)
}
