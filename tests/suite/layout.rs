//! The shape of `src/` (issue "One request context, …"): no import cycle between its
//! top-level modules, and one settle point — the policies' `record`, the request's
//! metrics and its usage record are each reached from `pipeline/ctx.rs` only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            out.push((
                rel.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
}

fn all_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files
}

/// Top-level module → the top-level modules it names as `crate::X`.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in all_sources() {
        let rest = path.strip_prefix("src/").unwrap();
        let top = rest.split('/').next().unwrap().trim_end_matches(".rs");
        if top == "main" || top == "lib" {
            continue;
        }
        let entry = g.entry(top.to_string()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                !text[i + 7..].starts_with('{'),
                "{path}: `crate::{{…}}` imports hide edges; name each module"
            );
            if !name.is_empty() && name != top {
                entry.insert(name);
            }
        }
    }
    g
}

/// A cycle through `start`, if there is one.
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in g.get(&node).into_iter().flatten() {
            if next == start {
                let mut p = path.clone();
                p.push(next.clone());
                return Some(p);
            }
            if g.contains_key(next) && seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_import_cycle_between_the_modules_of_src() {
    let g = import_graph();
    assert!(g.len() > 10, "the scan found too few modules: {g:?}");
    for m in g.keys() {
        if let Some(c) = cycle_from(&g, m) {
            panic!("import cycle: {}", c.join(" → "));
        }
    }
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let mut g = import_graph();
    g.get_mut("types").unwrap().insert("pipeline".into());
    assert!(cycle_from(&g, "types").is_some());
}

#[test]
fn policies_metrics_and_usage_records_are_settled_in_one_place() {
    let calls = [
        "policies::record(",
        ".finished(&",
        "crate::usage::Record {",
        "usage::Record {",
    ];
    for (path, text) in all_sources() {
        let code = text.split("#[cfg(test)]").next().unwrap();
        for c in calls {
            if code.contains(c) {
                // The context's module: ctx.rs and what it leaves behind (ctx/records.rs).
                assert!(
                    path == "src/pipeline/ctx.rs" || path.starts_with("src/pipeline/ctx/"),
                    "{path} calls `{c}`: requests are closed out in pipeline/ctx.rs only"
                );
            }
        }
    }
}
