//! The plugin kit as an author meets it, in each language: `plugin new` makes a project
//! that `plugin build` builds with the language's toolchain (cargo; componentize-py
//! 0.25.1 from PyPI; componentize-js 0.23.0 and jco 1.35.0 from npm, installed once
//! under the target dir), whose own tests pass (cargo test, unittest in CPython, node
//! --test on the component transpiled by jco) and whose cases pass `plugin test` in the
//! real engine; the canary example, the same in the three languages, passes its tests
//! and the cases they share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::python_venv;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Runs `cmd`, failing the test with everything it said unless it succeeds.
fn ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{said}");
    said
}

fn switchboard() -> Command {
    Command::new(BIN)
}

/// A fresh folder for this test's projects.
fn projects(name: &str) -> PathBuf {
    let root = tmp(&format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// `plugin new WORLD NAME --lang LANG` in `root`: the project's folder.
fn new(root: &Path, world: &str, name: &str, lang: &str) -> PathBuf {
    ok(switchboard()
        .args(["plugin", "new", world, name, "--lang", lang])
        .arg("--dir")
        .arg(root));
    root.join(name)
}

/// `plugin test FILE --cases CASES` passes every case.
fn cases_pass(wasm: &Path, cases: &Path) -> String {
    let said = ok(switchboard()
        .args(["plugin", "test"])
        .arg(wasm)
        .arg("--cases")
        .arg(cases));
    assert!(said.contains(", 0 failed"), "{said}");
    said
}

/// Copies `from` into `to`, following symlinks (an example's shared files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if std::fs::metadata(&src).unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// `cargo` for plugin tests on this machine: no debug info or incremental state, so the
/// shared target dir stays small.
fn host_cargo(target: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.env("CARGO_TARGET_DIR", target)
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_INCREMENTAL", "0");
    c
}

/// The repository's crates written on the SDK whose own tests run here.
const SDK_CRATES: &[&str] = &[
    "strategy-canary",
    "strategy-content-router",
    "adapter-gemini",
    "adapter-bedrock",
    "guardrail-pii",
    "guardrail-llm-judge",
    "guardrail-moderation",
    "guardrail-json-schema",
];

#[test]
fn rust_projects_and_examples_build_and_pass_their_tests() {
    let _cpu = crate::common::cpu_heavy();
    let root = projects("kit-rust");
    let again = switchboard()
        .args(["plugin", "new", "strategy", "x"])
        .arg("--dir")
        .arg(&root)
        .output()
        .unwrap();
    assert!(again.status.success());
    for (args, says) in [
        (&["strategy", "x"][..], "already exists"),
        (&["adapter", "y"], "adapter-openai"),
        (&["strategy", "9lives"], "not a plugin name"),
        (&["strategy", "y", "--lang", "cobol"], "rust, python or js"),
    ] {
        let out = switchboard()
            .args(["plugin", "new"])
            .args(args)
            .arg("--dir")
            .arg(&root)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}"
        );
    }
    // Target dirs shared by the projects, so dependencies compile once.
    let (wasm_target, host_target) = (tmp("kit-target"), tmp("kit-host-target"));
    for world in ["strategy", "policy", "redactor", "guardrail"] {
        let project = new(&root, world, &format!("rs-{world}"), "rust");
        let cargo = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("[workspace]") && cargo.contains("path = \"switchboard-sdk\""));
        let built = ok(switchboard()
            .args(["plugin", "build"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &wasm_target));
        assert!(
            built.contains(&format!("world:     switchboard:plugin/{world}"))
                && built.contains("links:     yes"),
            "{built}"
        );
        let tested = ok(host_cargo(&host_target).arg("test").current_dir(&project));
        assert!(tested.contains("test result: ok"), "{tested}");
        let wasm = wasm_target.join(format!("wasm32-wasip2/release/rs_{world}.wasm"));
        cases_pass(&wasm, &project.join("cases.json"));
    }
    // The examples written on the SDK in the repository: their own tests, on this machine.
    let tested = ok(host_cargo(&host_target)
        .arg("test")
        .args(SDK_CRATES.iter().flat_map(|c| ["-p", c]))
        .arg("--manifest-path")
        .arg(Path::new(REPO).join("plugins/Cargo.toml")));
    assert!(
        tested.matches("test result: ok").count() >= SDK_CRATES.len(),
        "{tested}"
    );
    let canary = env!("SWITCHBOARD_GUEST_STRATEGY_CANARY");
    cases_pass(
        Path::new(canary),
        &Path::new(REPO).join("examples/plugins/canary-cases.json"),
    );
    // Their builds are half a gigabyte: not kept (a second run compiles them again).
    let _ = std::fs::remove_dir_all(&wasm_target);
    let _ = std::fs::remove_dir_all(&host_target);
    let _ = std::fs::remove_dir_all(&root);
}

/// componentize-py, in the test virtualenv.
fn componentize_py() -> PathBuf {
    let python = python_venv();
    let bin = python.with_file_name("componentize-py");
    if !bin.exists() {
        ok(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "componentize-py==0.25.1",
        ]));
    }
    bin
}

#[test]
fn python_projects_and_the_example_build_and_pass_their_tests() {
    let _cpu = crate::common::cpu_heavy();
    let cpy = componentize_py();
    let path = format!(
        "{}:{}",
        cpy.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let unittest = |dir: &Path, world: &str, extra: &str| {
        ok(Command::new(&cpy)
            .args(["-d", "wit", "-w", world, "bindings", "gen"])
            .current_dir(dir));
        let said = ok(Command::new("python3")
            .args(["-m", "unittest", "-v"])
            .current_dir(dir)
            .env("PYTHONPATH", format!("gen{extra}")));
        assert!(said.contains("\nOK"), "{said}");
    };
    let root = projects("kit-python");
    for world in ["strategy", "policy", "redactor", "guardrail"] {
        let project = new(&root, world, &format!("py-{world}"), "python");
        let built = ok(switchboard()
            .args(["plugin", "build"])
            .current_dir(&project)
            .env("PATH", &path));
        assert!(
            built.contains(&format!("world:     switchboard:plugin/{world}"))
                && built.contains("links:     yes"),
            "{built}"
        );
        unittest(&project, world, "");
        cases_pass(
            &project.join(format!("py_{world}.wasm")),
            &project.join("cases.json"),
        );
    }
    // Without componentize-py, plugin build says what to install.
    let out = switchboard()
        .args(["plugin", "build"])
        .current_dir(root.join("py-strategy"))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pip install componentize-py"),
        "{out:?}"
    );

    let example = root.join("canary-python");
    copy_tree(
        &Path::new(REPO).join("examples/plugins/canary-python"),
        &example,
    );
    ok(Command::new(&cpy)
        .args([
            "-d",
            "wit",
            "-w",
            "strategy",
            "componentize",
            "app",
            "-o",
            "canary.wasm",
        ])
        .current_dir(&example));
    unittest(&example, "strategy", &format!(":{REPO}/sdk/python"));
    cases_pass(
        &example.join("canary.wasm"),
        &Path::new(REPO).join("examples/plugins/canary-cases.json"),
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// componentize-js and jco, installed once under the target dir.
fn node_modules() -> PathBuf {
    let dir = tmp("plugin-kit-node");
    let modules = dir.join("node_modules");
    if !modules
        .join("@bytecodealliance/componentize-js/package.json")
        .exists()
        || !modules.join(".bin/jco").exists()
    {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            r#"{ "private": true, "type": "module" }"#,
        )
        .unwrap();
        ok(Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund"])
            .args([
                "@bytecodealliance/componentize-js@0.23.0",
                "@bytecodealliance/jco@1.35.0",
            ])
            .current_dir(&dir));
    }
    modules
}

#[test]
fn js_projects_and_the_example_build_and_pass_their_tests() {
    let _cpu = crate::common::cpu_heavy();
    let modules = node_modules();
    let link = |dir: &Path| std::os::unix::fs::symlink(&modules, dir.join("node_modules")).unwrap();
    let node_test = |dir: &Path| {
        let said = ok(Command::new("npm").args(["test"]).current_dir(dir));
        assert!(
            said.contains("# fail 0") && !said.contains("# pass 0"),
            "{said}"
        );
    };
    let root = projects("kit-js");
    for world in ["strategy", "policy", "redactor", "guardrail"] {
        let project = new(&root, world, &format!("js-{world}"), "js");
        let out = switchboard()
            .args(["plugin", "build"])
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("run npm install first"),
            "{out:?}"
        );
        link(&project);
        let built = ok(switchboard()
            .args(["plugin", "build"])
            .current_dir(&project));
        assert!(
            built.contains(&format!("world:     switchboard:plugin/{world}"))
                && built.contains("links:     yes"),
            "{built}"
        );
        node_test(&project);
        cases_pass(
            &project.join(format!("js_{world}.wasm")),
            &project.join("cases.json"),
        );
    }
    let example = root.join("canary-js");
    copy_tree(
        &Path::new(REPO).join("examples/plugins/canary-js"),
        &example,
    );
    link(&example);
    ok(Command::new("npm")
        .args(["run", "build"])
        .current_dir(&example));
    node_test(&example);
    cases_pass(
        &example.join("canary.wasm"),
        &Path::new(REPO).join("examples/plugins/canary-cases.json"),
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn plugin_test_runs_an_adapter_on_requests_answers_and_streams() {
    let anthropic = Path::new(env!("SWITCHBOARD_GUEST_TEST_HOSTILE_ADAPTER"))
        .with_file_name("adapter_anthropic.wasm");
    let cases = r#"{"cases": [
 {"name": "request", "provider": "anthropic", "model": "claude-x", "request": {"model": "m", "max_tokens": 50, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}, "expect": {"method": "POST", "path": "/messages", "auth": {"header": "x-api-key"}, "body": {"model": "claude-x", "system": [{"text": "be brief"}]}}},
 {"name": "answer", "model": "claude-x", "response": {"status": 200, "body": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 2}}}, "expect": {"body": {"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}]}, "usage": {"prompt": 9, "completion": 2}}},
 {"name": "429", "response": {"status": 429, "headers": {"retry-after": "3"}, "body": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}}, "expect": {"adapter_error": {"status": 429, "kind": "RateLimit"}}},
 {"name": "stream", "events": [{"event": "message_start", "data": "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}}"}, {"event": "content_block_delta", "data": "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}"}, {"event": "message_delta", "data": "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}"}, {"event": "message_stop", "data": "{\"type\":\"message_stop\"}"}], "expect": {"usage": {"prompt": 5, "completion": 1}}}
]}"#;
    let path = tmp(&format!("adapter-cases-{}.json", std::process::id()));
    std::fs::write(&path, cases).unwrap();
    let said = cases_pass(&anthropic, &path);
    assert!(
        said.contains("ok   stream: {\"events\":[") && said.contains("\"content\":\"hi\""),
        "{said}"
    );
    // A case whose expectation is not met fails the run, and shows what was expected.
    std::fs::write(
        &path,
        cases.replace("\"status\": 429, \"kind\"", "\"status\": 503, \"kind\""),
    )
    .unwrap();
    let out = switchboard()
        .args(["plugin", "test"])
        .arg(&anthropic)
        .arg("--cases")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("FAIL 429") && text.contains("expected"),
        "{text}"
    );
    let _ = std::fs::remove_file(&path);
}
