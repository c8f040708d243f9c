//! Every TOML example of README.md and docs/*.md still loads as written.
//!
//! Each fenced ```toml block is planned with `load_sweep` (as `sweep plan` does;
//! no libtorch, no data, nothing runs) and must load without a problem. The
//! convention, also documented in docs/sweep-files.md ("Examples are tested"):
//!
//! - a block is a sweep file when it has a top-level `name = ...` or a `[base]`,
//!   `[axes]` or `[[block]]` table; it must load;
//! - an HTML comment on the line before the fence changes that:
//!   `<!-- docs-test: fragment -->` (a piece of a file, not checked),
//!   `<!-- docs-test: run-config -->` (a single-run file, loaded with
//!   `load_run_config`), `<!-- docs-test: error -->` (a sweep file that must be
//!   refused; when a ```text block follows it, every line of that block must be
//!   a line of the error, with the temporary folder left out);
//! - a block that is neither a sweep file nor marked fails the test, so that no
//!   example goes unchecked by accident;
//! - a block whose first line is a comment naming a path under `sweeps/`
//!   (`# sweeps/cpu/mnist-long.toml`) is written at that path in a temporary
//!   copy of the repository's `sweeps/` folder, so its `extends` reaches the
//!   repository's files; any other block is written alone to a temporary folder.
use std::path::{Path, PathBuf};

use sweep::config::{load_run_config, load_sweep};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    None,
    Fragment,
    RunConfig,
    Error,
}

struct Block {
    doc: String,
    line: usize,
    lang: String,
    mark: Mark,
    text: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn parse_mark(line: &str) -> Option<Mark> {
    let inner = line.trim().strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    let kind = inner.strip_prefix("docs-test:")?.trim();
    Some(match kind {
        "fragment" => Mark::Fragment,
        "run-config" => Mark::RunConfig,
        "error" => Mark::Error,
        other => panic!("unknown docs-test mark {other:?} (expected fragment, run-config or error)"),
    })
}

/// Every fenced block of `path`, with the mark on the line before its fence.
fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = path.strip_prefix(repo()).unwrap_or(path).display().to_string();
    let mut out = Vec::new();
    let mut prev = "";
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(b) = open.as_mut() {
            if trimmed == "```" {
                out.push(open.take().unwrap());
            } else {
                b.text.push_str(line);
                b.text.push('\n');
            }
        } else if let Some(lang) = trimmed.strip_prefix("```") {
            let mark = parse_mark(prev).unwrap_or(Mark::None);
            open =
                Some(Block { doc: doc.clone(), line: i + 1, lang: lang.trim().to_string(), mark, text: String::new() });
        }
        if !trimmed.is_empty() {
            prev = line;
        }
    }
    assert!(open.is_none(), "{doc}: a fenced block is never closed");
    out
}

fn is_sweep_file(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l == "[base]" || l == "[axes]" || l == "[[block]]" || l.starts_with("[base.")
    }) || text
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .any(|l| l.trim_start().strip_prefix("name").is_some_and(|r| r.trim_start().starts_with('=')))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Write the block where its first-line comment says (inside a copy of
/// `sweeps/`), or alone; returns the temporary folder and the file.
fn write_block(b: &Block) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let named = b.text.lines().next().and_then(|l| l.trim().strip_prefix('#')).map(str::trim);
    let path = match named {
        Some(p) if p.starts_with("sweeps/") && p.ends_with(".toml") => {
            copy_dir(&repo().join("sweeps"), &dir.path().join("sweeps"));
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            path
        }
        _ => dir.path().join("example.toml"),
    };
    std::fs::write(&path, &b.text).unwrap();
    (dir, path)
}

#[test]
fn every_toml_example_in_the_docs_loads_as_written() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in doc_files() {
        let all = blocks(&file);
        for (i, b) in all.iter().enumerate() {
            if b.lang != "toml" {
                continue;
            }
            let at = format!("{}:{}", b.doc, b.line);
            match b.mark {
                Mark::Fragment => continue,
                Mark::RunConfig => {
                    let (_dir, path) = write_block(b);
                    if let Err(e) = load_run_config(&path) {
                        failures.push(format!("{at}: the run-config example is refused:\n{e}"));
                    }
                }
                Mark::Error => {
                    let (dir, path) = write_block(b);
                    match load_sweep(&path) {
                        Ok(_) => failures.push(format!("{at}: the error example loads without a problem")),
                        Err(e) => {
                            let shown = e.to_string().replace(&format!("{}/", dir.path().display()), "");
                            let shown: Vec<&str> = shown.lines().map(str::trim).collect();
                            let expected = all.get(i + 1).filter(|n| n.lang == "text");
                            for want in expected.map(|n| n.text.lines()).into_iter().flatten() {
                                if !want.trim().is_empty() && !shown.contains(&want.trim()) {
                                    failures.push(format!(
                                        "{at}: the error shown in the docs is not the error given:\n  shown: {}\n  given:\n{}",
                                        want.trim(),
                                        shown.join("\n")
                                    ));
                                }
                            }
                        }
                    }
                }
                Mark::None => {
                    if !is_sweep_file(&b.text) {
                        failures.push(format!(
                            "{at}: a ```toml block that is not a sweep file: complete it or mark it \
                             (<!-- docs-test: fragment --> or <!-- docs-test: run-config -->)"
                        ));
                        continue;
                    }
                    let (_dir, path) = write_block(b);
                    if let Err(e) = load_sweep(&path) {
                        failures.push(format!("{at}: the sweep-file example is refused:\n{e}"));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} of the docs' TOML examples fail:\n\n{}", failures.len(), failures.join("\n\n"));
    assert!(checked >= 10, "only {checked} TOML examples were checked: is the extraction broken?");
}

#[test]
fn the_extraction_reads_marks_and_sweep_files() {
    assert_eq!(parse_mark("<!-- docs-test: fragment -->"), Some(Mark::Fragment));
    assert_eq!(parse_mark("  <!--docs-test:error-->"), Some(Mark::Error));
    assert_eq!(parse_mark("<!-- a comment -->"), None);
    assert_eq!(parse_mark("text"), None);
    assert!(is_sweep_file("name = \"x\"\n"));
    assert!(is_sweep_file("[axes]\n\"transform.m\" = [1, 2]\n"));
    assert!(!is_sweep_file("seeds = [0, 1]\n"));
    assert!(!is_sweep_file("[data]\nname = \"x\"\n"), "a `name` inside a table is not the sweep's");
}
