//! Sweep expansion: a sweep file (and the files it extends) -> the list of runs.
//!
//! Each run is built the same way: the base table, then one combination of axis
//! values, set at their dotted keys into one TOML table -> deserialised into
//! [`RunSpec`](super::RunSpec) (unknown keys are errors) -> [`RunSpec::resolve`](super::RunSpec::resolve) -> a
//! [`RunConfig`] -> [`RunConfig::validate`]. Problems are collected for every run, located at the
//! `FILE:LINE:COL` of the value that caused them, and reported together.
//!
//! The order of runs is the plan order the scheduler follows: blocks in file
//! order; within a block the seed is the slowest-moving dimension (so a whole grid
//! finishes for the first seed before the next seed starts), then axes in file
//! order, then `[[zip]]` groups, then the `[random]` draws (`config::sample`),
//! which move together like one more zip group; `[[include]]` runs come after the grid.
//!
//! This module is the orchestration; each step has its own: the layers
//! (`extends`, `--set`: `layers`), the key schema and single-value checks
//! (`schema`), one run built and validated (`candidate`), blocks and grids
//! (`grid`) and the run id (`identity`).
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::candidate::{build, located_validation, Set};
use super::environment::Environment;
use super::grid::{block_plans, build_runs, check_size};
use super::layers::{load_layers, merge_grid, parse_overrides};
use super::located::{Origin, Problem, SweepError};
use super::run::RunConfig;
use super::schema::Checker;
use super::sweepfile::{parse_run_text, Grid, Override, SweepFile};
use crate::record::{Plan, PlanEntry};

pub use super::candidate::resolve_data_root;
pub use super::grid::MAIN_BLOCK;
pub use super::identity::{identity, run_id};

/// The template used when a sweep file names none.
const DEFAULT_TEMPLATE: &str = crate::record::Template::Generic.name();

/// A fully expanded, validated sweep.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub plan: Plan,
    /// Plan entries with their resolved configs, in plan order.
    pub runs: Vec<(PlanEntry, RunConfig)>,
    /// Where the runs are stored (`store = ...`, else `runs/<name>`).
    pub store: PathBuf,
}

/// The largest sweep expanded without `--max-runs`: far beyond any grid a
/// person runs, small enough to expand in well under a second.
pub const DEFAULT_MAX_RUNS: u64 = 100_000;

/// How a sweep file is loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Refuse a sweep whose grid has more runs than this (counted from the
    /// file's structure, before any run is built).
    pub max_runs: u64,
    /// `--set KEY=VALUE` overrides, in order (a later one wins on the same key).
    pub overrides: Vec<String>,
    /// What `$SWEEP_DATA` in a `data.root`, and a missing `data.root`, resolve
    /// through ([`crate::config::Environment::data_home`]).
    pub data_home: PathBuf,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::with_environment(&Environment::from_process())
    }
}

impl LoadOptions {
    /// The defaults, with the data folder of `env`.
    pub fn with_environment(env: &Environment) -> Self {
        Self { max_runs: DEFAULT_MAX_RUNS, overrides: Vec::new(), data_home: env.data_home.clone() }
    }
}

/// Load, expand and validate a sweep file with the default [`LoadOptions`].
pub fn load_sweep(path: &Path) -> Result<Expanded, SweepError> {
    load_sweep_with(path, &LoadOptions::default())
}

/// Load, expand and validate a sweep file. Every problem in the file, the files
/// it extends and every run it produces is reported together.
pub fn load_sweep_with(path: &Path, opts: &LoadOptions) -> Result<Expanded, SweepError> {
    let mut problems = Vec::new();
    let mut stack = Vec::new();
    let overrides = parse_overrides(&opts.overrides, &mut problems);
    let Some(mut file) = load_layers(path, None, &mut stack, &mut problems) else {
        return Err(SweepError { problems });
    };
    file.apply(&overrides);
    if let Err(p) = check_size(&file, opts.max_runs) {
        problems.push(p);
        return Err(SweepError { problems: dedup(problems) });
    }
    let expanded = expand(&file, &opts.data_home, &mut problems).map(|mut e| {
        e.plan.overrides = opts.overrides.clone();
        e
    });
    let problems = dedup(problems);
    match expanded {
        Some(e) if problems.is_empty() => Ok(e),
        _ => Err(SweepError { problems }),
    }
}

/// Load a single-run TOML file (a bare `RunConfig`), with the same strictness and
/// error locations as sweep files. Relative `data.root` is taken from the file's folder.
pub fn load_run_config(path: &Path) -> Result<RunConfig, SweepError> {
    load_run_config_with(path, &LoadOptions::default())
}

/// [`load_run_config`] with the `--set KEY=VALUE` overrides of `opts` applied
/// over the file (values only: a single run has no axes) and its data folder.
pub fn load_run_config_with(path: &Path, opts: &LoadOptions) -> Result<RunConfig, SweepError> {
    let file = Arc::new(path.to_path_buf());
    let text = std::fs::read_to_string(path).map_err(|e| SweepError {
        problems: vec![Problem::new(Origin::file(&file), format!("cannot read the run file: {e}"))],
    })?;
    let mut problems = Vec::new();
    let mut leaves = parse_run_text(path, &text, &mut problems);
    for o in parse_overrides(&opts.overrides, &mut problems) {
        match o {
            Override::Value { key, leaf } => {
                leaves.retain(|k, _| !(k == &key || k.starts_with(&format!("{key}."))));
                leaves.insert(key, leaf);
            }
            Override::Axis { key, axis } => problems.push(Problem::new(
                axis.key_at,
                format!("`{key}` is given a list of values, but a single run has no axes (use a sweep file)"),
            )),
        }
    }
    let mut checker = Checker::default();
    checker.leaves(&leaves, &mut problems);
    let sets: Vec<Set<'_>> = leaves.iter().map(|(k, l)| Set { key: k, value: &l.value, at: &l.value_at }).collect();
    let fallback = Origin::file(&file);
    if problems.is_empty() {
        match build(&sets, &fallback, &opts.data_home) {
            Ok((cfg, prov)) => {
                problems.extend(located_validation(&cfg, &prov, &fallback));
                if problems.is_empty() {
                    return Ok(cfg);
                }
            }
            Err(p) => problems.extend(p),
        }
    }
    Err(SweepError { problems: dedup(problems) })
}

/// The same problem produced by many runs is reported once, with a count;
/// problems are listed in file order.
fn dedup(problems: Vec<Problem>) -> Vec<Problem> {
    let mut order: Vec<Problem> = Vec::new();
    let mut index: HashMap<(Origin, String), (usize, usize)> = HashMap::new();
    for p in problems {
        let key = (p.origin.clone(), p.message.clone());
        match index.get_mut(&key) {
            Some((_, n)) => *n += 1,
            None => {
                index.insert(key, (order.len(), 1));
                order.push(p);
            }
        }
    }
    for p in &mut order {
        let (_, n) = index[&(p.origin.clone(), p.message.clone())];
        if n > 1 {
            if let Some(c) = &mut p.context {
                c.push_str(&format!(" and {} more runs", n - 1));
            }
        }
    }
    order.sort_by(|a, b| (&a.origin.file, a.origin.pos).cmp(&(&b.origin.file, b.origin.pos)));
    order
}

/// Sweep and block names become folder names, report file names and table
/// cells: printable, no path separators, not `.` or `..`.
fn plain_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("must not be empty");
    }
    if name == "." || name == ".." {
        return Err("must be a plain folder name, not `.` or `..`");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters (newlines, tabs, escapes)");
    }
    if name.contains(['/', '\\']) {
        return Err("must be a plain folder name, without `/` or `\\`");
    }
    if name.len() > 200 {
        return Err("is longer than 200 bytes (it names a folder)");
    }
    Ok(())
}

/// A checked sweep file -> its plan, in phases: the header (name, template), the
/// keys and block names, one plan per block, then the runs those plans build
/// (deduplicated by run id). Every problem found is pushed; None when any was.
fn expand(file: &SweepFile, data_home: &Path, problems: &mut Vec<Problem>) -> Option<Expanded> {
    let top = Origin::file(&file.path);
    let name = check_header(file, &top, problems);
    let mut checker = Checker::default();
    // A value already refused while parsing (a number out of range) builds no run.
    checker.bad.extend(problems.iter().filter(|p| p.origin.pos.is_some()).map(|p| p.origin.clone()));
    check_keys_and_blocks(file, &mut checker, problems);
    // With blocks, the top level's base, axes, zip, exclude and seeds are shared by
    // every block (a block's own entries add to them and win on the same key).
    let merged: Vec<(String, Grid)> = file
        .blocks
        .iter()
        .map(|b| (b.name.value.clone(), merge_grid(file.grid.clone(), b.grid.clone(), false)))
        .collect();
    let blocks = block_plans(file, &merged, problems);
    let runs = build_runs(&blocks, !file.blocks.is_empty(), &checker, &top, data_home, problems);
    if runs.is_empty() && problems.is_empty() {
        problems.push(Problem::new(top.clone(), "the sweep expands to no runs (everything excluded?)"));
    }
    if !problems.is_empty() {
        return None;
    }
    let runs: Vec<(PlanEntry, RunConfig)> = runs.into_values().collect();
    let plan = Plan {
        sweep: name.clone(),
        template: file.template.as_ref().map(|t| t.value.clone()).unwrap_or_else(|| DEFAULT_TEMPLATE.to_string()),
        source: file.path.display().to_string(),
        source_sha256: None,
        overrides: Vec::new(),
        notes: file.notes.as_ref().map(|n| n.value.clone()),
        tensorboard: file.tensorboard.unwrap_or(true),
        acc_thresholds: file.acc_thresholds.clone(),
        runs: runs.iter().map(|(e, _)| e.clone()).collect(),
    };
    let store = store_rule(file, &name);
    Some(Expanded { plan, runs, store })
}

/// A sweep's store folder: its `store` key (through `extends`), else
/// `runs/<name>`, relative to the current folder. The one rule for every
/// command ([`store_of`], `store::locate`).
fn store_rule(file: &SweepFile, name: &str) -> PathBuf {
    match &file.store {
        Some(s) => PathBuf::from(&s.value),
        None => Path::new("runs").join(name),
    }
}

/// The store of the sweep file at `path`, by the rule of `sweep run`, from
/// its layers alone (`extends` followed; no run is built, so neither the
/// data nor the runs' settings need to be valid).
pub fn store_of(path: &Path) -> Result<PathBuf, SweepError> {
    let mut problems = Vec::new();
    let file = load_layers(path, None, &mut Vec::new(), &mut problems);
    match file {
        Some(file) => match &file.name {
            Some(name) => Ok(store_rule(&file, &name.value)),
            None if file.store.is_some() => Ok(store_rule(&file, "")),
            None => Err(SweepError {
                problems: vec![Problem::new(
                    Origin::file(&Arc::new(path.to_path_buf())),
                    "missing `name` (the store folder defaults to runs/<name>)",
                )],
            }),
        },
        None => Err(SweepError { problems: dedup(problems) }),
    }
}

/// The sweep's `name` (a plain folder name; required) and `template` (one of
/// the report templates).
fn check_header(file: &SweepFile, top: &Origin, problems: &mut Vec<Problem>) -> String {
    let name = match &file.name {
        Some(n) => {
            if let Err(why) = plain_name(&n.value) {
                problems.push(Problem::new(n.at.clone(), format!("name = {:?}: {why}", n.value)));
            }
            n.value.clone()
        }
        None => {
            problems.push(Problem::new(top.clone(), "missing `name` (the store folder defaults to runs/<name>)"));
            String::new()
        }
    };
    if let Some(t) = &file.template {
        if crate::record::Template::from_name(&t.value).is_none() || t.value.is_empty() {
            let msg = format!(
                "template = {:?}: no such report template (available: {})",
                t.value,
                crate::record::Template::names().join(", ")
            );
            problems.push(Problem::new(t.at.clone(), msg));
        }
    }
    name
}

/// Every key of the top level and of each block against the run config's
/// schema, and the block names (plain, each used once).
fn check_keys_and_blocks(file: &SweepFile, checker: &mut Checker, problems: &mut Vec<Problem>) {
    checker.grid(&file.grid, problems);
    checker.leaves(&file.pinned, problems);
    let mut seen_blocks: HashSet<&str> = HashSet::new();
    for b in &file.blocks {
        checker.grid(&b.grid, problems);
        if let Err(why) = plain_name(&b.name.value) {
            problems.push(Problem::new(b.name.at.clone(), format!("block name {:?}: {why}", b.name.value)));
        }
        if !seen_blocks.insert(&b.name.value) {
            problems.push(Problem::new(b.name.at.clone(), format!("block name `{}` is used twice", b.name.value)));
        }
    }
}

/// A one-run "sweep" for `sweep train RUN.toml`: the run under block `main`,
/// nothing swept, stored in `store`.
pub fn single(name: &str, config: RunConfig, source: &Path, store: PathBuf) -> Expanded {
    let entry = PlanEntry { run_id: run_id(&config), blocks: vec![MAIN_BLOCK.to_string()], swept: Default::default() };
    let plan = Plan {
        sweep: name.to_string(),
        template: DEFAULT_TEMPLATE.to_string(),
        source: source.display().to_string(),
        source_sha256: None,
        overrides: Vec::new(),
        notes: None,
        tensorboard: true,
        acc_thresholds: None,
        runs: vec![entry.clone()],
    };
    Expanded { plan, runs: vec![(entry, config)], store }
}
