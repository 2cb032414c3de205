//! The shape of `src/` (issue "One request context, …"): no import cycle between its
//! top-level modules, nor between its files (a module's root may use its own parts, as
//! it declares them; nothing else may go round), and one settle point — the policies'
//! `record`, the request's metrics and its usage record are each reached from
//! `pipeline/ctx.rs` only.

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

/// A file's module path: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn module_of(path: &str) -> Vec<String> {
    let rest = path.strip_prefix("src/").unwrap().trim_end_matches(".rs");
    let mut parts: Vec<String> = rest.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The paths a use or expression names after `crate::`, `super::` or `self::` at `at`
/// (several for a `{…}` group), made absolute from `module`.
fn named_paths(text: &str, at: usize, module: &[String]) -> Vec<Vec<String>> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = &text[at..];
    let mut base: Vec<String> = if let Some(r) = rest.strip_prefix("crate::") {
        rest = r;
        Vec::new()
    } else if let Some(r) = rest.strip_prefix("self::") {
        rest = r;
        module.to_vec()
    } else {
        let mut b = module.to_vec();
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            b.pop();
        }
        b
    };
    // A path: identifiers joined by `::`, maybe ending in a group.
    loop {
        let name = ident(rest);
        if name.is_empty() {
            break;
        }
        rest = &rest[name.len()..];
        base.push(name);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => return vec![base],
        }
    }
    let Some(group) = rest.strip_prefix('{') else {
        return vec![base];
    };
    // The first identifier of each top-level item of the group.
    let (mut depth, mut out, mut item_start) = (0usize, Vec::new(), true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && !c.is_whitespace() => {
                item_start = false;
                let mut p = base.clone();
                p.push(ident(&group[i..]));
                out.push(p);
            }
            _ => {}
        }
    }
    out
}

/// File → the files it uses (`crate::`, `super::` and `self::` paths, comments and
/// tests left out), without the edges from a module to its own parts.
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = all_sources();
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|(p, _)| (module_of(p), p.clone()))
        .filter(|(m, _)| !matches!(m.as_slice(), [x] if x == "lib" || x == "main"))
        .collect();
    let mut g = BTreeMap::new();
    for (path, text) in &files {
        let module = module_of(path);
        if !modules.contains_key(&module) {
            continue;
        }
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let mut edges = BTreeSet::new();
        for kw in ["crate::", "super::", "self::"] {
            for (i, _) in code.match_indices(kw) {
                let before = code[..i].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                for p in named_paths(&code, i, &module) {
                    let target = (1..=p.len())
                        .rev()
                        .find_map(|n| modules.get_key_value(&p[..n]));
                    if let Some((m, file)) = target
                        && *m != module
                        && !m.starts_with(&module)
                    {
                        edges.insert(file.clone());
                    }
                }
            }
        }
        g.insert(path.clone(), edges);
    }
    g
}

#[test]
fn no_import_cycle_between_the_files_of_src() {
    let g = file_graph();
    assert!(g.len() > 100, "the scan found too few files: {}", g.len());
    let edges: usize = g.values().map(BTreeSet::len).sum();
    assert!(edges > 300, "the scan found too few imports: {edges}");
    for f in g.keys() {
        if let Some(c) = cycle_from(&g, f) {
            panic!("import cycle between files: {}", c.join(" → "));
        }
    }
}

#[test]
fn the_file_checker_sees_a_cycle_through_a_use_group() {
    // `use super::{a, b::C}` in a child names its siblings; a root's own parts do not count.
    let m = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let paths = named_paths(
        "super::{stream::{self, Pump}, ctx::X}",
        0,
        &m(&["pipeline", "attempt"]),
    );
    assert_eq!(
        paths,
        vec![m(&["pipeline", "stream"]), m(&["pipeline", "ctx"])]
    );
    let mut g = file_graph();
    let policies = "src/pipeline/ctx/policies.rs".to_string();
    assert!(
        g[&policies].contains("src/pipeline/ctx.rs"),
        "{:?}",
        g[&policies]
    );
    assert!(
        !g["src/pipeline/ctx.rs"].contains(&policies),
        "a root's use of its parts is no edge"
    );
    assert!(cycle_from(&g, &policies).is_none());
    // The edge a root's use of its part would be, were it counted, closes a cycle.
    g.get_mut("src/pipeline/ctx.rs")
        .unwrap()
        .insert(policies.clone());
    assert!(cycle_from(&g, &policies).is_some());
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
