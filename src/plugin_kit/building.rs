//! `switchboard plugin build`: a project made by `plugin new` built with its
//! language's toolchain and the flags the host needs — Rust: `cargo build --release
//! --target wasm32-wasip2`; Python: `componentize-py -d wit -w WORLD componentize app`;
//! JavaScript: `npm run build` (componentize-js with the WASI features the host does
//! not provide left out). The caller then inspects the component.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the project at `dir`: the component's path.
pub fn build(dir: &Path) -> Result<PathBuf, String> {
    if dir.join("Cargo.toml").exists() {
        rust(dir)
    } else if dir.join("pyproject.toml").exists() {
        python(dir)
    } else if dir.join("package.json").exists() {
        js(dir)
    } else {
        Err(format!(
            "{}: no Cargo.toml, pyproject.toml or package.json (plugin build runs in a project made by plugin new)",
            dir.display()
        ))
    }
}

fn run(cmd: &mut Command, what: &str, missing: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{what} is not installed: {missing}"),
        _ => format!("{what}: {e}"),
    })?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("{what} failed ({status})")),
    }
}

fn rust(dir: &Path) -> Result<PathBuf, String> {
    let text = read(&dir.join("Cargo.toml"))?;
    let name = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = \"")?.strip_suffix('"'))
        .ok_or("Cargo.toml names no package")?;
    run(
        Command::new("cargo")
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(dir),
        "cargo build",
        "install Rust with rustup, then: rustup target add wasm32-wasip2",
    )
    .map_err(|e| {
        format!("{e} (is the wasm32-wasip2 target installed? rustup target add wasm32-wasip2)")
    })?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    exists(
        target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_"))),
    )
}

/// `[tool.switchboard]` of pyproject.toml, or `"switchboard"` of package.json: the
/// world and the component's file.
fn project(
    world: Option<&str>,
    component: Option<&str>,
    file: &str,
) -> Result<(String, String), String> {
    match (world, component) {
        (Some(w), Some(c)) if !c.contains('/') && c.ends_with(".wasm") => Ok((w.into(), c.into())),
        _ => Err(format!(
            "{file} names no switchboard world and component (made by plugin new?)"
        )),
    }
}

fn python(dir: &Path) -> Result<PathBuf, String> {
    let doc: toml::Value = toml::from_str(&read(&dir.join("pyproject.toml"))?)
        .map_err(|e| format!("pyproject.toml: {e}"))?;
    let tool = &doc.get("tool").and_then(|t| t.get("switchboard"));
    let field = |k: &str| tool.and_then(|t| t.get(k)).and_then(|v| v.as_str());
    let (world, component) = project(field("world"), field("component"), "pyproject.toml")?;
    run(
        Command::new("componentize-py")
            .args([
                "-d",
                "wit",
                "-w",
                &world,
                "componentize",
                "app",
                "-o",
                &component,
            ])
            .current_dir(dir),
        "componentize-py",
        "pip install componentize-py==0.25.1",
    )?;
    exists(dir.join(component))
}

fn js(dir: &Path) -> Result<PathBuf, String> {
    let doc: serde_json::Value = serde_json::from_str(&read(&dir.join("package.json"))?)
        .map_err(|e| format!("package.json: {e}"))?;
    let field = |k: &str| doc["switchboard"][k].as_str();
    let (_, component) = project(field("world"), field("component"), "package.json")?;
    if !dir
        .join("node_modules/@bytecodealliance/componentize-js")
        .exists()
    {
        return Err("componentize-js is not installed here: run npm install first".into());
    }
    run(
        Command::new("npm")
            .args(["run", "--silent", "build"])
            .current_dir(dir),
        "npm run build",
        "install Node.js and npm",
    )?;
    exists(dir.join(component))
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn exists(out: PathBuf) -> Result<PathBuf, String> {
    match out.exists() {
        true => Ok(out),
        false => Err(format!("the build made no {}", out.display())),
    }
}
