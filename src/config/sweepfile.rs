//! Raw sweep files: the TOML text parsed strictly into values that remember where
//! they were written, so that every later problem (an unknown key, a wrong type, an
//! out-of-range value found by `RunConfig::validate`) can be reported as
//! `FILE:LINE:COL: message`.
//!
//! Parsing uses toml's spanned document tree ([`toml::de::DeTable`]) instead of
//! serde structs: serde stops at the first error, and the sweep tool promises to
//! report *all* problems before anything runs. The format itself is documented in
//! docs/sweep-files.md; the expansion into runs lives in `config::expand`.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub(crate) use super::located::{join_key, type_name, Source};
pub use super::located::{Axis, Leaf, Leaves, Origin, Problem, SweepError, ZipGroup};

/// `[[include]]` / `[[exclude]]`: a set of dotted keys and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Overrides {
    pub at: Origin,
    pub leaves: Leaves,
}

/// What a sweep file and each of its blocks share: a base config and the ways to
/// vary it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    pub base: Leaves,
    pub axes: IndexMap<String, Axis>,
    pub zip: Vec<ZipGroup>,
    pub include: Vec<Overrides>,
    pub exclude: Vec<Overrides>,
    /// `seeds = [...]`: an axis on `seed`.
    pub seeds: Option<Axis>,
    /// `[random]`: configurations drawn at random (`config::sample`).
    pub random: Option<crate::config::sample::Random>,
}

/// A string setting with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub value: String,
    pub at: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockDef {
    pub name: Setting,
    pub grid: Grid,
}

/// One sweep file as written (before `extends` is followed).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFile {
    pub path: Arc<PathBuf>,
    pub name: Option<Setting>,
    pub template: Option<Setting>,
    pub extends: Option<Setting>,
    pub store: Option<Setting>,
    /// Markdown the report shows under "Differences from the paper" (the
    /// budget, what was tuned and how): kept with the sweep, not the store.
    pub notes: Option<Setting>,
    /// `tensorboard = false`: the runs write no TensorBoard event files (a
    /// setting of the sweep, not of its runs: no run id changes).
    pub tensorboard: Option<bool>,
    /// `acc_thresholds = [0.3, 0.4]`: the ACC thresholds of the reports'
    /// "minutes to ACC" columns (default 0.8 and 0.9), chosen per dataset.
    pub acc_thresholds: Option<Vec<f64>>,
    pub grid: Grid,
    pub blocks: Vec<BlockDef>,
    /// Values set on the command line (`--set KEY=VALUE`): applied to every run
    /// after everything the file sets.
    pub pinned: Leaves,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "template",
    "extends",
    "store",
    "notes",
    "seeds",
    "base",
    "axes",
    "zip",
    "exclude",
    "include",
    "random",
    "block",
    "tensorboard",
    "acc_thresholds",
];
const BLOCK_KEYS: &[&str] = &["name", "base", "axes", "zip", "exclude", "include", "seeds", "random"];

/// Flatten a table of config values into dotted leaves (arrays are leaves).
fn flatten(src: &Source<'_>, prefix: &str, table: &DeTable<'_>, out: &mut Leaves, problems: &mut Vec<Problem>) {
    for (k, v) in table.iter() {
        let key = join_key(prefix, k.get_ref());
        match v.get_ref() {
            DeValue::Table(t) => flatten(src, &key, t, out, problems),
            _ => {
                let leaf = Leaf { value: src.plain(v, problems), key_at: src.at(k.span()), value_at: src.at(v.span()) };
                if out.contains_key(&key) {
                    problems.push(src.problem(k.span(), format!("`{key}` is set twice")));
                } else {
                    out.insert(key, leaf);
                }
            }
        }
    }
}

/// Flatten a table whose leaves are lists (axes, zip groups).
fn axes(
    src: &Source<'_>,
    prefix: &str,
    table: &DeTable<'_>,
    out: &mut IndexMap<String, Axis>,
    problems: &mut Vec<Problem>,
) {
    for (k, v) in table.iter() {
        let key = join_key(prefix, k.get_ref());
        match v.get_ref() {
            DeValue::Table(t) => axes(src, &key, t, out, problems),
            DeValue::Array(a) => {
                if a.is_empty() {
                    problems.push(src.problem(k.span(), format!("axis `{key}` has an empty list of values")));
                }
                let values = a.iter().map(|x| (src.plain(x, problems), src.at(x.span()))).collect();
                if out.contains_key(&key) {
                    problems.push(src.problem(k.span(), format!("axis `{key}` is given twice")));
                } else {
                    out.insert(key, Axis { key_at: src.at(k.span()), values });
                }
            }
            other => problems.push(src.problem(
                v.span(),
                format!("axis `{key}` must be a list of values, found {} (write [x] for one value)", type_name(other)),
            )),
        }
    }
}

/// `acc_thresholds`: a non-empty list of increasing numbers in (0, 1].
fn thresholds_setting(src: &Source<'_>, v: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<Vec<f64>> {
    let values: Option<Vec<f64>> = match src.plain(v, problems) {
        toml::Value::Array(a) => a
            .iter()
            .map(|x| match x {
                toml::Value::Float(f) => Some(*f),
                toml::Value::Integer(i) => Some(*i as f64),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    match values {
        Some(t) if !t.is_empty() && t.iter().all(|x| *x > 0.0 && *x <= 1.0) && t.windows(2).all(|w| w[0] < w[1]) => {
            Some(t)
        }
        _ => {
            problems.push(src.problem(
                v.span(),
                "`acc_thresholds` must be a list of increasing ACC values in (0, 1], e.g. [0.3, 0.4]".to_string(),
            ));
            None
        }
    }
}

fn string_setting(
    src: &Source<'_>,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> Option<Setting> {
    match v.get_ref() {
        DeValue::String(s) => Some(Setting { value: s.to_string(), at: src.at(v.span()) }),
        other => {
            problems.push(src.problem(v.span(), format!("`{key}` must be a string, found {}", type_name(other))));
            None
        }
    }
}

/// `[[zip]]`, `[[include]]`, ...: an array of tables (or inline tables).
fn tables<'a, 'i>(
    src: &Source<'_>,
    key: &str,
    v: &'a Spanned<DeValue<'i>>,
    problems: &mut Vec<Problem>,
) -> Vec<&'a Spanned<DeValue<'i>>> {
    match v.get_ref() {
        DeValue::Array(a) => {
            let mut out = Vec::new();
            for item in a.iter() {
                if item.get_ref().is_table() {
                    out.push(item);
                } else {
                    problems.push(src.problem(
                        item.span(),
                        format!("each `{key}` entry must be a table ([[{key}]]), found {}", type_name(item.get_ref())),
                    ));
                }
            }
            out
        }
        other => {
            problems.push(src.problem(
                v.span(),
                format!("`{key}` must be a list of tables ([[{key}]]), found {}", type_name(other)),
            ));
            Vec::new()
        }
    }
}

fn unknown_key(src: &Source<'_>, where_: &str, key: &Spanned<toml::de::DeString<'_>>, known: &[&str]) -> Problem {
    src.problem(key.span(), format!("unknown key `{}` {where_} (expected one of: {})", key.get_ref(), known.join(", ")))
}

/// Read one grid-level key (shared by the top level and blocks). Returns false
/// when the key is not a grid key.
fn grid_key(
    src: &Source<'_>,
    grid: &mut Grid,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> bool {
    match key {
        "base" => match v.get_ref() {
            DeValue::Table(t) => flatten(src, "", t, &mut grid.base, problems),
            other => {
                problems.push(src.problem(v.span(), format!("`base` must be a table, found {}", type_name(other))))
            }
        },
        "axes" => match v.get_ref() {
            DeValue::Table(t) => axes(src, "", t, &mut grid.axes, problems),
            other => {
                problems.push(src.problem(v.span(), format!("`axes` must be a table, found {}", type_name(other))))
            }
        },
        "seeds" => match v.get_ref() {
            DeValue::Array(a) => {
                if a.is_empty() {
                    problems.push(src.problem(v.span(), "`seeds` is an empty list"));
                }
                grid.seeds = Some(Axis {
                    key_at: src.at(v.span()),
                    values: a.iter().map(|x| (src.plain(x, problems), src.at(x.span()))).collect(),
                });
            }
            other => {
                problems.push(src.problem(v.span(), format!("`seeds` must be a list, found {}", type_name(other))))
            }
        },
        "random" => grid.random = crate::config::sample::parse(src, v, problems),
        "zip" => {
            for t in tables(src, "zip", v, problems) {
                let mut group = IndexMap::new();
                if let DeValue::Table(inner) = t.get_ref() {
                    axes(src, "", inner, &mut group, problems);
                }
                if group.is_empty() {
                    problems.push(src.problem(t.span(), "empty [[zip]] group"));
                }
                grid.zip.push(ZipGroup { at: src.at(t.span()), axes: group });
            }
        }
        "include" | "exclude" => {
            for t in tables(src, key, v, problems) {
                let mut leaves = Leaves::new();
                if let DeValue::Table(inner) = t.get_ref() {
                    flatten(src, "", inner, &mut leaves, problems);
                }
                if leaves.is_empty() {
                    problems.push(src.problem(t.span(), format!("empty [[{key}]] entry")));
                }
                let o = Overrides { at: src.at(t.span()), leaves };
                if key == "include" {
                    grid.include.push(o);
                } else {
                    grid.exclude.push(o);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Parse one sweep file's text. Problems are appended; the returned value holds
/// everything that could be read (None: a TOML syntax error, nothing to read).
pub fn parse_sweep_text(path: &Path, text: &str, problems: &mut Vec<Problem>) -> Option<SweepFile> {
    let src = Source { file: Arc::new(path.to_path_buf()), text };
    let mut out = SweepFile {
        path: src.file.clone(),
        name: None,
        template: None,
        extends: None,
        store: None,
        notes: None,
        tensorboard: None,
        acc_thresholds: None,
        grid: Grid::default(),
        blocks: Vec::new(),
        pinned: Leaves::new(),
    };
    let doc = match src.parse() {
        Ok(d) => d,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    for (k, v) in doc.get_ref().iter() {
        let key: &str = k.get_ref();
        match key {
            "name" => out.name = string_setting(&src, key, v, problems),
            "template" => out.template = string_setting(&src, key, v, problems),
            "extends" => out.extends = string_setting(&src, key, v, problems),
            "store" => out.store = string_setting(&src, key, v, problems),
            "notes" => out.notes = string_setting(&src, key, v, problems),
            "tensorboard" => match v.get_ref() {
                DeValue::Boolean(b) => out.tensorboard = Some(*b),
                other => problems.push(
                    src.problem(v.span(), format!("`tensorboard` must be true or false, found {}", type_name(other))),
                ),
            },
            "acc_thresholds" => out.acc_thresholds = thresholds_setting(&src, v, problems),
            "block" => {
                for t in tables(&src, "block", v, problems) {
                    if let Some(b) = parse_block(&src, t, problems) {
                        out.blocks.push(b);
                    }
                }
            }
            _ => {
                if !grid_key(&src, &mut out.grid, key, v, problems) {
                    problems.push(unknown_key(&src, "at the top level", k, TOP_KEYS));
                }
            }
        }
    }
    Some(out)
}

fn parse_block(src: &Source<'_>, t: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<BlockDef> {
    let DeValue::Table(table) = t.get_ref() else { return None };
    let mut name = None;
    let mut grid = Grid::default();
    for (k, v) in table.iter() {
        let key: &str = k.get_ref();
        if key == "name" {
            name = string_setting(src, "name", v, problems);
        } else if !grid_key(src, &mut grid, key, v, problems) {
            problems.push(unknown_key(src, "in [[block]]", k, BLOCK_KEYS));
        }
    }
    match name {
        Some(n) if !n.value.is_empty() => Some(BlockDef { name: n, grid }),
        _ => {
            problems.push(src.problem(t.span(), "[[block]] needs a `name`"));
            None
        }
    }
}

/// Parse a single-run file: the whole document is a `RunConfig`, flattened.
pub fn parse_run_text(path: &Path, text: &str, problems: &mut Vec<Problem>) -> Leaves {
    let src = Source { file: Arc::new(path.to_path_buf()), text };
    let mut leaves = Leaves::new();
    match src.parse() {
        Ok(doc) => flatten(&src, "", doc.get_ref(), &mut leaves, problems),
        Err(p) => problems.push(p),
    }
    leaves
}

/// One `--set KEY=VALUE` from the command line, parsed like a `[base]` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    /// `--set train.epochs=5`: the key takes this value in every run.
    Value { key: String, leaf: Leaf },
    /// `--set 'transform.m=[10,30]'`: the key becomes an axis over these values.
    Axis { key: String, axis: Axis },
}

impl Override {
    pub fn key(&self) -> &str {
        match self {
            Override::Value { key, .. } | Override::Axis { key, .. } => key,
        }
    }
}

/// Parses `KEY=VALUE`. VALUE is a TOML value (`5`, `0.1`, `true`, `"mnist"`,
/// `[10, 30]`, `{ classes = 3 }`); text that is not one is taken as a string, so
/// `data.dataset=mnist` works unquoted. A list is an axis, except for keys whose
/// value is itself a list (`augment.crop_scale`), which need a list of lists to
/// be swept. `list_keys` names those. Problems name the override.
pub fn parse_override(text: &str, list_keys: &dyn Fn(&str) -> bool, problems: &mut Vec<Problem>) -> Option<Override> {
    let file = Arc::new(PathBuf::from(format!("--set {text}")));
    let at = Origin::file(&file);
    let Some((key, value)) = text.split_once('=') else {
        problems.push(Problem::new(at, "expected KEY=VALUE, e.g. --set train.epochs=5"));
        return None;
    };
    let key = key.trim().trim_matches('"').to_string();
    if key.is_empty()
        || !key.split('.').all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        problems.push(Problem::new(at, format!("`{key}` is not a dotted key such as train.epochs")));
        return None;
    }
    let value_text = value.trim();
    let doc = format!("v = {value_text}\n");
    let src = Source { file: file.clone(), text: &doc };
    let parsed = DeTable::parse(&doc).ok().and_then(|t| t.get_ref().get("v").cloned());
    let mut local = Vec::new();
    let value = match &parsed {
        Some(v) => src.plain(v, &mut local),
        None => toml::Value::String(value_text.to_string()),
    };
    // Positions inside the one-line snippet mean nothing to a user: the override names itself.
    problems.extend(local.into_iter().map(|p| Problem::new(at.clone(), p.message)));
    let is_axis = match &value {
        toml::Value::Array(items) => !list_keys(&key) || items.iter().all(toml::Value::is_array) && !items.is_empty(),
        _ => false,
    };
    if is_axis {
        let toml::Value::Array(items) = value else { unreachable!("checked above") };
        if items.is_empty() {
            problems.push(Problem::new(at.clone(), format!("axis `{key}` has an empty list of values")));
        }
        let values = items.into_iter().map(|v| (v, at.clone())).collect();
        Some(Override::Axis { key, axis: Axis { key_at: at, values } })
    } else {
        Some(Override::Value { key, leaf: Leaf { value, key_at: at.clone(), value_at: at } })
    }
}

impl Grid {
    /// Drops every setting of `key` and of the keys under it (base, axes, zip
    /// groups, and the seeds for `seed`), so that an override alone decides it.
    /// A table written at a parent key stays: the override is applied after it.
    pub fn forget(&mut self, key: &str) {
        let under = |k: &str| k == key || k.starts_with(&format!("{key}."));
        self.base.retain(|k, _| !under(k));
        self.axes.retain(|k, _| !under(k));
        for z in &mut self.zip {
            z.axes.retain(|k, _| !under(k));
        }
        self.zip.retain(|z| !z.axes.is_empty());
        for inc in &mut self.include {
            inc.leaves.retain(|k, _| !under(k));
        }
        if key == "seed" {
            self.seeds = None;
        }
        if self.random.as_mut().is_some_and(|r| r.forget(key)) {
            self.random = None;
        }
    }
}

impl SweepFile {
    /// Applies command-line overrides as if the file said them at the top level
    /// and nowhere else: a value is pinned in every run of every block
    /// (`[[include]]` runs too) and applied after everything the file sets; a
    /// list becomes an axis shared by every block.
    pub fn apply(&mut self, overrides: &[Override]) {
        for o in overrides {
            let key = o.key();
            self.grid.forget(key);
            for b in &mut self.blocks {
                b.grid.forget(key);
            }
            self.pinned.retain(|k, _| !(k == key || k.starts_with(&format!("{key}."))));
            match o {
                Override::Value { key, leaf } => {
                    self.pinned.insert(key.clone(), leaf.clone());
                }
                Override::Axis { key, axis } if key == "seed" => self.grid.seeds = Some(axis.clone()),
                Override::Axis { key, axis } => {
                    self.grid.axes.insert(key.clone(), axis.clone());
                }
            }
        }
    }
}
