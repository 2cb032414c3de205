//! The book in `docs/` cannot drift from the code: its config reference is generated
//! from the config types themselves (every `Raw*` struct of `src/config`, read with
//! `syn`: each field's TOML key, type, default and doc comment), and every relative
//! link in the README and the book leads to a file and a heading that exist, and every
//! chapter is in `SUMMARY.md`. `SWITCHBOARD_WRITE_DOCS=1 cargo test docs::` rewrites
//! the reference after a change to the config types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use quote::ToTokens;

const REFERENCE: &str = "docs/src/config-reference.md";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A struct's fields: (TOML key, type as written, doc comment).
type Fields = Vec<(String, String, String)>;

fn doc_of(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join(" ").trim().to_string()
}

/// Every `Raw*` struct of `src/config`, by name.
fn raw_structs() -> BTreeMap<String, (String, Fields)> {
    let mut out = BTreeMap::new();
    let dir = repo().join("src/config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let file = syn::parse_file(&std::fs::read_to_string(f).unwrap()).unwrap();
        for item in file.items {
            let syn::Item::Struct(s) = item else { continue };
            let name = s.ident.to_string();
            if !name.starts_with("Raw") {
                continue;
            }
            let fields = s
                .fields
                .iter()
                .filter_map(|f| {
                    let key = f.ident.as_ref()?.to_string();
                    let ty = f.ty.to_token_stream().to_string().replace(' ', "");
                    Some((key, ty, doc_of(&f.attrs)))
                })
                .collect();
            out.insert(name, (doc_of(&s.attrs), fields));
        }
    }
    out
}

/// `Option<Spanned<String>>` → `string`; the `Raw*` struct it holds, and how (a table,
/// a table per name, an array of tables).
fn shape(ty: &str) -> (String, Option<(String, &'static str)>) {
    let mut t = ty.to_string();
    for wrap in ["Option<", "Spanned<", "toml::Spanned<", "Box<"] {
        while let Some(rest) = t.strip_prefix(wrap) {
            t = rest.strip_suffix('>').unwrap_or(rest).to_string();
        }
    }
    let t = t
        .replace("super::", "")
        .replace("toml::", "")
        .replace("std::collections::", "");
    let inner = |p: &str| {
        t.strip_prefix(p)
            .and_then(|r| r.strip_suffix('>'))
            .map(str::to_string)
    };
    let raw = |s: &str| {
        let s = s.replace("Spanned<", "").replace('>', "");
        let last = s.rsplit("::").next().unwrap_or(&s).to_string();
        last.starts_with("Raw").then_some(last)
    };
    if let Some(v) = inner("Vec<")
        && let Some(r) = raw(&v)
    {
        return ("array of tables".into(), Some((r, "[[]]")));
    }
    if let Some(v) = inner("BTreeMap<String,")
        && let Some(r) = raw(&v)
    {
        return ("table per name".into(), Some((r, ".<name>")));
    }
    if let Some(r) = raw(&t) {
        return ("table".into(), Some((r, "")));
    }
    let plain = match t.as_str() {
        "String" => "string".to_string(),
        "bool" => "boolean".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i64" => "integer".into(),
        "f64" | "f32" => "number".into(),
        "Vec<String>" | "Vec<Spanned<String>>" => "array of strings".into(),
        "Table" => "table".into(),
        other => other
            .replace("Spanned<", "")
            .replace('>', "")
            .replace('<', " of ")
            .replace("Vec of ", "array of "),
    };
    (plain, None)
}

/// The default a doc comment states (`default 30`, `default: X`, `(default 7 days)`).
fn default_of(doc: &str) -> String {
    let lower = doc.to_lowercase();
    let Some(at) = lower.find("default") else {
        return String::new();
    };
    let rest = doc[at + "default".len()..].trim_start_matches([':', ' ', '=']);
    let end = rest.find([';', ')', ',']).unwrap_or(rest.len()).min(60);
    let d = rest[..end].trim().trim_end_matches('.');
    if d.is_empty() || d.starts_with("is") || d.starts_with("for") {
        String::new()
    } else {
        format!("`{d}`").replace("``", "")
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The reference, from `RawConfig` down.
fn reference() -> String {
    let structs = raw_structs();
    let mut out = String::from(
        "<!-- generated by tests/suite/docs.rs from the config types in src/config; do not edit:\n     SWITCHBOARD_WRITE_DOCS=1 cargo test docs:: rewrites it -->\n\n# Config reference\n\nEvery key `config.toml` takes, generated from the types the gateway reads it into\n(`src/config`): the key, its type, the default its documentation states, and that\ndocumentation. The [configuration guide](configuration.md) shows them at work.\n",
    );
    let mut todo = vec![(String::new(), "RawConfig".to_string())];
    let mut seen = BTreeSet::new();
    while let Some((path, name)) = todo.pop() {
        if !seen.insert((path.clone(), name.clone())) {
            continue;
        }
        let Some((doc, fields)) = structs.get(&name) else {
            continue;
        };
        let title = if path.is_empty() {
            "Top level".to_string()
        } else {
            format!("`{path}`")
        };
        out.push_str(&format!("\n## {title}\n\n"));
        if !doc.is_empty() {
            out.push_str(&format!("{doc}\n\n"));
        }
        out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
        let mut nested = Vec::new();
        for (key, ty, doc) in fields {
            let (kind, sub) = shape(ty);
            let row = |meaning: &str| {
                format!(
                    "| `{key}` | {} | {} | {} |\n",
                    cell(&kind),
                    cell(&default_of(doc)),
                    cell(meaning)
                )
            };
            let Some((sub, how)) = sub else {
                out.push_str(&row(doc));
                continue;
            };
            // Under an array of tables (`[[keys]]`) or an array (`targets[]`), a table is
            // a key of each entry; under a table, a table of its own.
            let entry = path.ends_with("]]") || path.ends_with("[]");
            let p = match (how, path.is_empty()) {
                ("[[]]", true) => format!("[[{key}]]"),
                ("[[]]", false) => format!("{path}.{key}[]"),
                (".<name>", true) => format!("[{key}.<name>]"),
                (".<name>", false) if entry => format!("{path}.{key}.<name>"),
                (".<name>", false) => format!("{}.{key}.<name>]", path.trim_end_matches(']')),
                (_, true) => format!("[{key}]"),
                _ if entry => format!("{path}.{key}"),
                _ => format!("{}.{key}]", path.trim_end_matches(']')),
            };
            let what = match doc.is_empty() {
                true => structs.get(&sub).map_or(String::new(), |(d, _)| d.clone()),
                false => doc.clone(),
            };
            out.push_str(&row(format!("{what} (see `{p}` below)").trim()));
            nested.push((p, sub));
        }
        todo.extend(nested.into_iter().rev());
    }
    out
}

#[test]
fn the_config_reference_is_generated_from_the_config_types() {
    let want = reference();
    let path = repo().join(REFERENCE);
    if std::env::var_os("SWITCHBOARD_WRITE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{REFERENCE} is not what the config types say; run SWITCHBOARD_WRITE_DOCS=1 cargo test docs:: (first difference at line {})",
        have.lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or(0, |i| i + 1)
    );
    for key in [
        "`capture`",
        "`cors_origins`",
        "`drain_delay`",
        "`severity`",
        "`every`",
    ] {
        assert!(want.contains(key), "{key} is missing from the reference");
    }
}

/// A heading's anchor as mdBook and GitHub make it.
fn slug(text: &str) -> String {
    let mut t = text.replace('`', "");
    while let (Some(a), Some(b)) = (t.find("]("), t.find(')')) {
        if b < a {
            break;
        }
        t.replace_range(a..=b, "");
    }
    t.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect::<String>()
        .replace(['[', ']', '*'], "")
}

/// Lines of a Markdown file outside fenced code blocks, code spans blanked.
fn prose(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            let mut clean = String::new();
            for (i, part) in line.split('`').enumerate() {
                clean.push_str(if i % 2 == 0 { part } else { " " });
            }
            out.push((n + 1, clean));
        }
    }
    out
}

fn anchors(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
        }
        if fenced || !t.starts_with('#') {
            continue;
        }
        let base = slug(t.trim_start_matches('#').trim());
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap_or(after.len());
        out.push(
            after[..end]
                .trim()
                .trim_matches(['<', '>'])
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
        );
        rest = &after[end..];
    }
    out
}

#[test]
fn every_link_of_the_readme_and_the_book_leads_somewhere() {
    let root = repo();
    let src = root.join("docs/src");
    let mut files = vec![root.join("README.md")];
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    files.extend(chapters.iter().cloned());
    let mut problems = Vec::new();
    for f in &files {
        for (n, line) in prose(&std::fs::read_to_string(f).unwrap()) {
            for target in links(&line) {
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let dest = if file.is_empty() {
                    f.clone()
                } else {
                    f.parent().unwrap().join(file)
                };
                if !dest.exists() {
                    problems.push(format!("{}:{n}: {target}: no such file", f.display()));
                } else if !anchor.is_empty()
                    && dest.extension().is_some_and(|e| e == "md")
                    && !anchors(&dest).contains(anchor)
                {
                    problems.push(format!("{}:{n}: {target}: no such heading", f.display()));
                }
            }
        }
    }
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = prose(&summary).iter().flat_map(|(_, l)| links(l)).collect();
    for c in &chapters {
        let name = c.file_name().unwrap().to_string_lossy().to_string();
        if name != "SUMMARY.md" && !listed.contains(&name) {
            problems.push(format!("{name} is not in SUMMARY.md"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
