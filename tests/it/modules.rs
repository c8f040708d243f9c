//! The module graph has no cycle (docs/architecture.md, "No cycles").
//!
//! Reads every `src/**/*.rs`, drops comments, and collects each file's
//! references to other modules: `crate::X` (also inside `crate::{X, Y}`) and,
//! in a top-level module's own file (`src/x.rs`, `src/x/mod.rs`), `super::X`.
//! Two graphs are checked with a depth-first search:
//!
//! - the top-level modules (`cli`, `ops`, `config`, `report`, ...): an edge
//!   `a -> b` when a file under `a` names `b`;
//! - the submodules of `config/`: an edge `a -> b` when `config/a.rs` names
//!   `super::b` or `crate::config::b`; a name re-exported by `config/mod.rs`
//!   (`crate::config::RunConfig`, `super::RunSpec`) counts as the submodule it
//!   comes from (a glob re-export, `pub use run::*`, answers for any name not
//!   re-exported by name).
//!
//! A cycle fails the test, named in full (`config -> report -> store -> config`).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text without `//` comments (doc comments included) and `/* */` blocks.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['/', '"']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("//") {
            rest = tail.find('\n').map_or("", |j| &tail[j..]);
        } else if tail.starts_with("/*") {
            rest = tail.find("*/").map_or("", |j| &tail[j + 2..]);
        } else if tail.starts_with('"') && (out.ends_with('\'') || out.ends_with("'\\")) {
            // A character literal, `'"'` or `'\"'`.
            out.push('"');
            rest = &tail[1..];
        } else if tail.starts_with('"') {
            // A string literal: skipped whole (a `//` inside it is no comment).
            let end = string_end(tail);
            out.push_str("\"\"");
            rest = &tail[end..];
        } else {
            out.push('/');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The byte just past the string literal that `s` opens.
fn string_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The first path segments after each `prefix` (`crate::`, `super::`): the name
/// itself, or every top-level item of a `{...}` group.
fn first_segments(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let after = &text[i + prefix.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let (mut depth, mut item_start) = (0, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        out.push(ident(&group[j..]).to_string());
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(after).to_string());
        }
    }
    out.retain(|s| !s.is_empty() && s != "self");
    out
}

/// A cycle of `g` as `a -> b -> a`, if there is one.
fn find_cycle(g: &Graph) -> Option<String> {
    fn visit(n: &str, g: &Graph, state: &mut BTreeMap<String, u8>, stack: &mut Vec<String>) -> Option<String> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    return Some(format!("{} -> {m}", stack[from..].join(" -> ")));
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if !state.contains_key(n.as_str()) {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

struct Source {
    /// Path components under `src/`, the `.rs` dropped (`["config", "expand"]`).
    parts: Vec<String>,
    text: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let sources: Vec<Source> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().with_extension("");
            let parts = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            Source { parts, text: strip_comments(&std::fs::read_to_string(f).unwrap()) }
        })
        .collect();
    assert!(sources.len() > 50, "found only {} files under {}", sources.len(), src.display());
    sources
}

fn top_level_graph(sources: &[Source]) -> Graph {
    let tops: BTreeSet<String> = sources.iter().map(|s| s.parts[0].clone()).collect();
    let mut g = Graph::new();
    for s in sources.iter().filter(|s| !["lib", "main"].contains(&s.parts[0].as_str())) {
        let me = &s.parts[0];
        let own_file = s.parts.len() == 1 || (s.parts.len() == 2 && s.parts[1] == "mod");
        let mut names = first_segments(&s.text, "crate::");
        if own_file {
            names.extend(first_segments(&s.text, "super::"));
        }
        let edges = g.entry(me.clone()).or_default();
        edges.extend(names.into_iter().filter(|n| n != me && tops.contains(n)));
    }
    g
}

/// `config/`'s submodules; names re-exported by `config/mod.rs` resolved to
/// the submodule they come from.
fn config_graph(sources: &[Source]) -> Graph {
    let in_config = |s: &&Source| s.parts.len() == 2 && s.parts[0] == "config";
    let subs: BTreeSet<String> =
        sources.iter().filter(in_config).map(|s| s.parts[1].clone()).filter(|n| n != "mod").collect();
    let facade = sources.iter().find(|s| s.parts == ["config", "mod"]).expect("src/config/mod.rs");
    let (mut named, mut globs) = (BTreeMap::new(), Vec::new());
    for line in facade.text.lines().filter_map(|l| l.trim().strip_prefix("pub use ")) {
        let sub = ident(line).to_string();
        let rest = &line[sub.len()..];
        if rest.starts_with("::*") {
            globs.push(sub);
        } else {
            for n in first_segments(&format!(" {rest}"), "::") {
                named.insert(n, sub.clone());
            }
        }
    }
    let mut g = Graph::new();
    for s in sources.iter().filter(in_config).filter(|s| s.parts[1] != "mod") {
        let me = &s.parts[1];
        let names = first_segments(&s.text, "super::").into_iter().chain(first_segments(&s.text, "crate::config::"));
        let mut targets = BTreeSet::new();
        for n in names {
            if subs.contains(&n) {
                targets.insert(n);
            } else if let Some(sub) = named.get(&n) {
                targets.insert(sub.clone());
            } else if n.chars().next().is_some_and(char::is_uppercase) {
                targets.extend(globs.iter().cloned());
            }
        }
        targets.remove(me);
        g.insert(me.clone(), targets);
    }
    g
}

#[test]
fn cycles_are_found() {
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")].into_iter().fold(Graph::new(), |mut g, (a, b)| {
        g.entry(a.into()).or_default().insert(b.into());
        g
    });
    assert_eq!(find_cycle(&g).as_deref(), Some("a -> b -> c -> a"));
    assert_eq!(first_segments("use crate::{config::X, record, ops::{a, b}};", "crate::"), ["config", "record", "ops"]);
    assert_eq!(strip_comments("a // crate::x\n\"// y\" /* crate::z */ b"), "a \n\"\"  b");
}

#[test]
fn top_level_modules_have_no_cycle() {
    let g = top_level_graph(&sources());
    assert!(g["config"].contains("record"), "the scan sees config -> record: {g:?}");
    assert!(g["cli"].contains("ops"), "the scan sees cli -> ops: {g:?}");
    if let Some(c) = find_cycle(&g) {
        panic!("the top-level modules form a cycle: {c}\n(the whole graph: {g:#?})");
    }
}

#[test]
fn config_submodules_have_no_cycle() {
    let g = config_graph(&sources());
    assert!(g["spec"].contains("run"), "the scan sees spec -> run: {g:?}");
    if let Some(c) = find_cycle(&g) {
        panic!("config/'s submodules form a cycle: {c}\n(the whole graph: {g:#?})");
    }
}
