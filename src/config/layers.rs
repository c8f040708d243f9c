//! Layers of a sweep: the file, the files it `extends` (parent under child),
//! and the `--set KEY=VALUE` overrides over them.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use super::located::{Origin, Problem};
use super::schema::{json_at, schema};
use super::sweepfile::{parse_override, parse_sweep_text, Grid, Override, Setting, SweepFile};

/// Parses every `--set`; problems name the override.
pub(super) fn parse_overrides(texts: &[String], problems: &mut Vec<Problem>) -> Vec<Override> {
    if texts.is_empty() {
        return Vec::new();
    }
    // Keys holding a list in `RunConfig` take a list as their value (a list of
    // lists sweeps them); `data.classes` defaults to none but is a list too.
    let schema = schema();
    let is_list_key = |key: &str| json_at(&schema, key).is_some_and(Json::is_array) || key == "data.classes";
    texts.iter().filter_map(|t| parse_override(t, &is_list_key, problems)).collect()
}

/// Read a sweep file and, recursively, the file it `extends` (relative to its own
/// folder), merging the parent under the child.
pub(super) fn load_layers(
    path: &Path,
    via: Option<&Setting>,
    stack: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Option<SweepFile> {
    let file = Arc::new(path.to_path_buf());
    let here = |msg: String| match via {
        Some(s) => Problem::new(s.at.clone(), msg),
        None => Problem::new(Origin::file(&file), msg),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let msg = match via {
                Some(s) => format!("extends \"{}\": cannot read {}: {e}", s.value, path.display()),
                None => format!("cannot read the sweep file: {e}"),
            };
            problems.push(here(msg));
            return None;
        }
    };
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(i) = stack.iter().position(|p| *p == key) {
        let chain: Vec<String> =
            stack[i..].iter().chain(std::iter::once(&key)).map(|p| p.display().to_string()).collect();
        problems.push(here(format!("extends cycle: {}", chain.join(" -> "))));
        return None;
    }
    stack.push(key);
    let Some(child) = parse_sweep_text(path, &text, problems) else {
        stack.pop();
        return None;
    };
    let merged = match &child.extends {
        Some(ext) => {
            let parent_path = path.parent().unwrap_or(Path::new("")).join(&ext.value);
            match load_layers(&parent_path, Some(ext), stack, problems) {
                Some(parent) => merge_files(parent, child),
                None => child,
            }
        }
        None => child,
    };
    stack.pop();
    Some(merged)
}

/// The child's settings win; base and axes merge key by key; lists of tables
/// (zip, include, exclude, blocks) append.
fn merge_files(parent: SweepFile, child: SweepFile) -> SweepFile {
    let mut blocks = parent.blocks;
    blocks.extend(child.blocks);
    SweepFile {
        path: child.path,
        name: child.name.or(parent.name),
        template: child.template.or(parent.template),
        extends: child.extends,
        store: child.store.or(parent.store),
        notes: child.notes.or(parent.notes),
        tensorboard: child.tensorboard.or(parent.tensorboard),
        acc_thresholds: child.acc_thresholds.or(parent.acc_thresholds),
        grid: merge_grid(parent.grid, child.grid, true),
        blocks,
        pinned: child.pinned,
    }
}

pub(super) fn merge_grid(mut under: Grid, over: Grid, with_include: bool) -> Grid {
    for (k, v) in over.base {
        under.base.insert(k, v);
    }
    for (k, v) in over.axes {
        under.axes.insert(k, v);
    }
    under.zip.extend(over.zip);
    under.exclude.extend(over.exclude);
    if with_include {
        under.include.extend(over.include);
    } else {
        under.include = over.include;
    }
    under.seeds = over.seeds.or(under.seeds);
    under.random = over.random.or(under.random);
    under
}
