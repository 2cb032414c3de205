//! `switchboard plugin new`: a standalone plugin project in Rust, Python or JavaScript,
//! with the contract's WIT beside it, a commented example of the world, a test of its
//! logic against a fake host, and cases for `plugin test`. A Rust project carries the
//! guest SDK (`sdk/rust`) in `switchboard-sdk/` and its own `[workspace]`, so it builds
//! wherever it is copied; a Python project the fake host for CPython
//! (`sdk/python/fake_host.py`); a JavaScript project the fake host for Node.js and the
//! componentize-js build script (`sdk/js`). `plugin build` is in `building.rs`.

use std::path::{Path, PathBuf};

const WIT: &str = include_str!("../../wit/plugin.wit");

/// The guest SDK, vendored into Rust projects: (path in the project, text).
const RUST_SDK: &[(&str, &str)] = &[
    (
        "switchboard-sdk/Cargo.toml",
        include_str!("../../sdk/rust/Cargo.toml"),
    ),
    (
        "switchboard-sdk/src/lib.rs",
        include_str!("../../sdk/rust/src/lib.rs"),
    ),
    (
        "switchboard-sdk/src/host.rs",
        include_str!("../../sdk/rust/src/host.rs"),
    ),
    (
        "switchboard-sdk/src/settings.rs",
        include_str!("../../sdk/rust/src/settings.rs"),
    ),
    (
        "switchboard-sdk/src/decision.rs",
        include_str!("../../sdk/rust/src/decision.rs"),
    ),
    (
        "switchboard-sdk/src/testing.rs",
        include_str!("../../sdk/rust/src/testing.rs"),
    ),
    (
        "switchboard-sdk/src/calendar.rs",
        include_str!("../../sdk/rust/src/calendar.rs"),
    ),
    (
        "switchboard-sdk/src/openai/mod.rs",
        include_str!("../../sdk/rust/src/openai/mod.rs"),
    ),
    (
        "switchboard-sdk/src/openai/answer.rs",
        include_str!("../../sdk/rust/src/openai/answer.rs"),
    ),
    (
        "switchboard-sdk/src/openai/errors.rs",
        include_str!("../../sdk/rust/src/openai/errors.rs"),
    ),
    (
        "switchboard-sdk/src/openai/translate.rs",
        include_str!("../../sdk/rust/src/openai/translate.rs"),
    ),
    (
        "switchboard-sdk/src/openai/tests.rs",
        include_str!("../../sdk/rust/src/openai/tests.rs"),
    ),
    ("switchboard-sdk/wit/plugin.wit", WIT),
    (
        "switchboard-sdk/README.md",
        include_str!("../../sdk/rust/README.md"),
    ),
];

/// A world's texts: Rust lib, Python app and test, JS plugin and test, `plugin test` cases.
type Template = [&'static str; 6];

const STRATEGY: Template = [
    include_str!("templates/rust/strategy.rs.txt"),
    include_str!("templates/python/strategy.py.txt"),
    include_str!("templates/python/test_strategy.py.txt"),
    include_str!("templates/js/strategy.js.txt"),
    include_str!("templates/js/strategy.test.mjs.txt"),
    r#"{"settings": {"slow_ms": 100}, "cases": [{"name": "the slow one last", "targets": [{"provider": "a", "model": "x", "latency_ms": 500}, {"provider": "b", "model": "y", "latency_ms": 20}], "expect": [1, 0]}]}"#,
];
const POLICY: Template = [
    include_str!("templates/rust/policy.rs.txt"),
    include_str!("templates/python/policy.py.txt"),
    include_str!("templates/python/test_policy.py.txt"),
    include_str!("templates/js/policy.js.txt"),
    include_str!("templates/js/policy.test.mjs.txt"),
    r#"{"settings": {"max_input_tokens": 50}, "cases": [{"name": "short", "request": {"estimated_input_tokens": 20}, "expect": "allow"}, {"name": "long", "request": {"estimated_input_tokens": 200}, "expect": "deny"}]}"#,
];
const REDACTOR: Template = [
    include_str!("templates/rust/redactor.rs.txt"),
    include_str!("templates/python/redactor.py.txt"),
    include_str!("templates/python/test_redactor.py.txt"),
    include_str!("templates/js/redactor.js.txt"),
    include_str!("templates/js/redactor.test.mjs.txt"),
    r#"{"settings": {"words": ["secret"]}, "cases": [{"name": "masked", "texts": ["a secret plan"], "expect": ["a [REDACTED] plan"]}]}"#,
];

const GUARDRAIL: Template = [
    include_str!("templates/rust/guardrail.rs.txt"),
    include_str!("templates/python/guardrail.py.txt"),
    include_str!("templates/python/test_guardrail.py.txt"),
    include_str!("templates/js/guardrail.js.txt"),
    include_str!("templates/js/guardrail.test.mjs.txt"),
    r#"{"settings": {"blocked": ["refund"], "judge": "j"}, "cases": [{"name": "a blocked word", "check": "request", "text": "I want a Refund", "expect": "deny"}, {"name": "off topic", "check": "request", "text": "write me a poem", "models": {"j": "yes"}, "expect": {"verdict": "deny", "code": "off_topic", "asked": ["j"]}}, {"name": "on topic", "check": "request", "text": "where is my parcel?", "models": {"j": "no"}, "expect": "allow"}, {"name": "masked", "check": "response", "texts": ["no refund, sorry"], "expect": {"verdict": "rewrite", "texts": ["no [BLOCKED], sorry"]}}, {"name": "a clean answer", "check": "response", "texts": ["hello"], "expect": "allow"}]}"#,
];

/// The template of `world`, or why there is none.
fn template(world: &str) -> Result<&'static Template, String> {
    match world {
        "strategy" => Ok(&STRATEGY),
        "policy" => Ok(&POLICY),
        "redactor" => Ok(&REDACTOR),
        "guardrail" => Ok(&GUARDRAIL),
        "adapter" => Err(
            "adapters are started from plugins/adapter-openai in the gateway's repository (an adapter maps a whole wire format); plugin new makes strategy, policy, redactor or guardrail projects".into(),
        ),
        other => Err(format!(
            "'{other}' is not a world: strategy, policy, redactor or guardrail"
        )),
    }
}

/// What a project is made of: (path in the project, text).
type Files = Vec<(String, String)>;

/// Makes the project `name` of `world` in `lang` in `dir/name`; its path.
pub fn new(dir: &Path, world: &str, name: &str, lang: &str) -> Result<PathBuf, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "'{name}' is not a plugin name (letters, digits, - and _, not starting with a digit)"
        ));
    }
    let t = template(world)?;
    let root = dir.join(name);
    let fill = |s: &str| {
        s.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{dir}}", &root.display().to_string())
    };
    let mut files = match lang {
        "rust" => rust(t, world, name, &fill),
        "python" => python(t, world, name, &fill),
        "js" | "javascript" => js(t, world, name, &fill),
        other => return Err(format!("--lang {other}: rust, python or js")),
    };
    files.push(("cases.json".into(), t[5].to_string() + "\n"));
    if root.exists() {
        return Err(format!("{} already exists", root.display()));
    }
    for (path, text) in files {
        let p = root.join(&path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(root)
}

fn rust(t: &Template, world: &str, name: &str, fill: &dyn Fn(&str) -> String) -> Files {
    let krate = name.replace('-', "_");
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
# The guest SDK, carried in this project (or `switchboard-sdk = "0.2"` from a registry).
switchboard-sdk = {{ path = "switchboard-sdk" }}
serde = {{ version = "1", features = ["derive"] }}

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
        "# {name}\n\nA switchboard {world} plugin in Rust, on the guest SDK (`switchboard-sdk/`).\n\n```sh\ncargo test                        # the logic, against the SDK's fake host\nswitchboard plugin build          # cargo build --release --target wasm32-wasip2, then inspect\nswitchboard plugin test target/wasm32-wasip2/release/{krate}.wasm --cases cases.json\n```\n\nName `target/wasm32-wasip2/release/{krate}.wasm` in the gateway's config (see `src/lib.rs`);\nthe gateway watches the file and takes each rebuild within a second.\n"
    );
    let mut files: Files = RUST_SDK
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    files.extend([
        ("Cargo.toml".into(), cargo),
        ("src/lib.rs".into(), fill(t[0])),
        ("wit/plugin.wit".into(), WIT.into()),
        ("README.md".into(), readme),
        (".gitignore".into(), "target/\n".into()),
    ]);
    files
}

fn python(t: &Template, world: &str, name: &str, fill: &dyn Fn(&str) -> String) -> Files {
    let krate = name.replace('-', "_");
    let project = format!(
        "[project]\nname = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"A switchboard {world} plugin\"\nrequires-python = \">=3.11\"\n\n[project.optional-dependencies]\nbuild = [\"componentize-py==0.25.1\"]\n\n# What `switchboard plugin build` runs: componentize-py -d wit -w {world} componentize app -o {krate}.wasm\n[tool.switchboard]\nworld = \"{world}\"\ncomponent = \"{krate}.wasm\"\n"
    );
    let readme = format!(
        "# {name}\n\nA switchboard {world} plugin in Python (componentize-py).\n\n```sh\npip install componentize-py==0.25.1\nswitchboard plugin build          # componentize-py -d wit -w {world} componentize app -o {krate}.wasm\ncomponentize-py -d wit -w {world} bindings gen\nPYTHONPATH=gen python3 -m unittest -v     # the logic in CPython, against fake_host.py\nswitchboard plugin test {krate}.wasm --cases cases.json\n```\n\nName `{krate}.wasm` in the gateway's config (see `app.py`); the gateway watches the\nfile and takes each rebuild within a second.\n"
    );
    vec![
        ("app.py".into(), fill(t[1])),
        ("test_app.py".into(), t[2].into()),
        (
            "fake_host.py".into(),
            include_str!("../../sdk/python/fake_host.py").into(),
        ),
        ("wit/plugin.wit".into(), WIT.into()),
        ("pyproject.toml".into(), project),
        ("README.md".into(), readme),
        (".gitignore".into(), "gen/\n__pycache__/\n*.wasm\n".into()),
    ]
}

fn js(t: &Template, world: &str, name: &str, fill: &dyn Fn(&str) -> String) -> Files {
    let krate = name.replace('-', "_");
    let package = format!(
        r#"{{
  "name": "{name}",
  "private": true,
  "type": "module",
  "description": "A switchboard {world} plugin",
  "switchboard": {{ "world": "{world}", "component": "{krate}.wasm" }},
  "scripts": {{
    "build": "node build.mjs plugin.js {world} {krate}.wasm",
    "test": "jco transpile {krate}.wasm --name plugin -o test/gen --map switchboard:plugin/host@0.3.0=../../fake-host.js --map switchboard:plugin/models@0.3.0=../../fake-host.js --map switchboard:plugin/keyvalue@0.3.0=../../fake-host.js && node --test test/*.test.mjs"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/jco": "1.35.0"
  }}
}}
"#
    );
    let readme = format!(
        "# {name}\n\nA switchboard {world} plugin in JavaScript (componentize-js).\n\n```sh\nnpm install\nswitchboard plugin build          # npm run build: node build.mjs plugin.js {world} {krate}.wasm\nnpm test                          # jco transpile with fake-host.js, then node --test\nswitchboard plugin test {krate}.wasm --cases cases.json\n```\n\nName `{krate}.wasm` in the gateway's config (see `plugin.js`); the gateway watches the\nfile and takes each rebuild within a second.\n"
    );
    vec![
        ("plugin.js".into(), fill(t[3])),
        (format!("test/{world}.test.mjs"), t[4].into()),
        (
            "fake-host.js".into(),
            include_str!("../../sdk/js/fake-host.js").into(),
        ),
        (
            "build.mjs".into(),
            include_str!("../../sdk/js/build.mjs").into(),
        ),
        ("wit/plugin.wit".into(), WIT.into()),
        ("package.json".into(), package),
        ("README.md".into(), readme),
        (
            ".gitignore".into(),
            "node_modules/\ntest/gen/\n*.wasm\n".into(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    /// Every source file of the SDK is vendored (a new module would break new projects).
    #[test]
    fn the_vendored_sdk_is_the_whole_sdk() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/rust/src");
        let mut missing = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
                let vendored = format!("switchboard-sdk/src/{rel}");
                if !super::RUST_SDK.iter().any(|(path, _)| *path == vendored) {
                    missing.push(vendored);
                }
            }
        }
        assert!(missing.is_empty(), "not vendored: {missing:?}");
    }
}
