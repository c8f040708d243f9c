//! Sweep expansion: a sweep file (and the files it extends) -> the list of runs.
//!
//! Each run is built the same way: the base table, then one combination of axis
//! values, set at their dotted keys into one TOML table -> deserialised into
//! [`RunSpec`] (unknown keys are errors) -> [`RunSpec::resolve`] -> a
//! [`RunConfig`] -> [`RunConfig::validate`]. Problems are collected for every run, located at the
//! `FILE:LINE:COL` of the value that caused them, and reported together.
//!
//! The order of runs is the plan order the scheduler follows: blocks in file
//! order; within a block the seed is the slowest-moving dimension (so a whole grid
//! finishes for the first seed before the next seed starts), then axes in file
//! order, then `[[zip]]` groups, then the `[random]` draws (`config::sample`),
//! which move together like one more zip group; `[[include]]` runs come after the grid.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::config::sweepfile::{
    parse_override, parse_run_text, parse_sweep_text, Axis, Grid, Leaves, Origin, Override, Problem, Setting,
    SweepError, SweepFile,
};
use crate::config::{RunConfig, RunSpec};
use crate::record::{Plan, PlanEntry};

/// The block name of runs from a sweep file's top level.
pub const MAIN_BLOCK: &str = "main";

/// The template used when a sweep file names none.
pub const DEFAULT_TEMPLATE: &str = "generic";

/// A fully expanded, validated sweep.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub plan: Plan,
    /// Plan entries with their resolved configs, in plan order.
    pub runs: Vec<(PlanEntry, RunConfig)>,
    /// Where the runs are stored (`store = ...`, else `runs/<name>`).
    pub store: PathBuf,
}

/// The identity of a run: its resolved config as JSON with `data.root` removed
/// (where the data lives does not change a result), keys sorted.
pub fn identity(cfg: &RunConfig) -> Json {
    let mut v = serde_json::to_value(cfg).expect("RunConfig serialises to JSON");
    if let Some(data) = v.get_mut("data").and_then(Json::as_object_mut) {
        data.remove("root");
    }
    v
}

/// Canonical JSON text: object keys sorted at every level, no whitespace. Written
/// by hand so the result does not depend on serde_json's `preserve_order` feature.
fn canonical(v: &Json, out: &mut String) {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Run id: the first 12 hex digits of the SHA-256 of the canonical identity JSON.
/// Independent of key order in the sweep file and of the block that produced it.
pub fn run_id(cfg: &RunConfig) -> String {
    let mut text = String::new();
    canonical(&identity(cfg), &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
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
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { max_runs: DEFAULT_MAX_RUNS, overrides: Vec::new() }
    }
}

/// Parses every `--set`; problems name the override.
fn parse_overrides(texts: &[String], problems: &mut Vec<Problem>) -> Vec<Override> {
    if texts.is_empty() {
        return Vec::new();
    }
    // Keys holding a list in `RunConfig` take a list as their value (a list of
    // lists sweeps them); `data.classes` defaults to none but is a list too.
    let schema = schema();
    let is_list_key = |key: &str| json_at(&schema, key).is_some_and(Json::is_array) || key == "data.classes";
    texts.iter().filter_map(|t| parse_override(t, &is_list_key, problems)).collect()
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
    let expanded = expand(&file, &mut problems).map(|mut e| {
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
    load_run_config_with(path, &[])
}

/// [`load_run_config`] with `--set KEY=VALUE` overrides applied over the file
/// (values only: a single run has no axes).
pub fn load_run_config_with(path: &Path, overrides: &[String]) -> Result<RunConfig, SweepError> {
    let file = Arc::new(path.to_path_buf());
    let text = std::fs::read_to_string(path).map_err(|e| SweepError {
        problems: vec![Problem::new(Origin::file(&file), format!("cannot read the run file: {e}"))],
    })?;
    let mut problems = Vec::new();
    let mut leaves = parse_run_text(path, &text, &mut problems);
    for o in parse_overrides(overrides, &mut problems) {
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
        match build(&sets, &fallback) {
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

/// Read a sweep file and, recursively, the file it `extends` (relative to its own
/// folder), merging the parent under the child.
fn load_layers(
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

fn merge_grid(mut under: Grid, over: Grid, with_include: bool) -> Grid {
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

/// Checks single keys against `RunConfig`'s schema and types, each (key, value)
/// once, so that a bad value is reported at the place it is written rather than
/// once per run it appears in.
#[derive(Default)]
struct Checker {
    schema: Option<Json>,
    seen: HashSet<(String, String)>,
    /// Origins of values found bad: runs using them are not built (their
    /// problem is reported once, here, not again per run).
    bad: HashSet<Origin>,
}

impl Checker {
    fn schema(&mut self) -> &Json {
        self.schema.get_or_insert_with(schema)
    }

    fn leaves(&mut self, leaves: &Leaves, problems: &mut Vec<Problem>) {
        for (k, l) in leaves {
            self.value(k, &l.value, &l.key_at, &l.value_at, problems);
        }
    }

    fn axis(&mut self, key: &str, axis: &Axis, problems: &mut Vec<Problem>) {
        for (v, at) in &axis.values {
            self.value(key, v, &axis.key_at, at, problems);
        }
    }

    fn grid(&mut self, g: &Grid, problems: &mut Vec<Problem>) {
        self.leaves(&g.base, problems);
        for (k, a) in &g.axes {
            self.axis(k, a, problems);
        }
        for z in &g.zip {
            for (k, a) in &z.axes {
                self.axis(k, a, problems);
            }
        }
        for o in g.include.iter().chain(&g.exclude) {
            self.leaves(&o.leaves, problems);
        }
        if let Some(s) = &g.seeds {
            self.axis("seed", s, problems);
        }
        for (k, a) in g.random.iter().flat_map(|r| &r.group.axes) {
            self.axis(k, a, problems);
        }
    }

    /// A table value (e.g. an axis over `data.synthetic = [{classes = 3}, ...]`) is
    /// checked key by key.
    fn value(&mut self, key: &str, v: &toml::Value, key_at: &Origin, at: &Origin, problems: &mut Vec<Problem>) {
        if let toml::Value::Table(t) = v {
            for (k, x) in t {
                self.value(&format!("{key}.{k}"), x, key_at, at, problems);
            }
            return;
        }
        if !self.seen.insert((key.to_string(), format!("{v:?}@{at:?}"))) {
            return;
        }
        if let Err(msg) = schema_check(self.schema(), key) {
            problems.push(Problem::new(key_at.clone(), msg));
            self.bad.insert(at.clone());
            return;
        }
        let mut t = toml::Table::new();
        set_dotted(&mut t, key, v.clone());
        if let Err(e) = toml::Value::Table(t).try_into::<RunSpec>() {
            problems.push(Problem::new(at.clone(), format!("`{key}`: {}", clean_de_error(&e.to_string()))));
            self.bad.insert(at.clone());
        }
    }
}

/// Every key of `RunConfig` as JSON. The options that are left out of the
/// serialisation while off (so that runs from before them keep their ids) are
/// switched on here, so that the schema has them too.
fn schema() -> Json {
    let mut c = RunSpec::default();
    c.model.overcluster = 1;
    c.loss.representation = crate::config::Representation::Simclr;
    c.loss.simclr_temperature = 0.1;
    c.eval.consensus = vec![crate::config::ConsensusFn::Cspa];
    c.finetune.epochs = 1;
    c.train.optimizer = crate::config::Optimizer::Lars;
    c.train.momentum = 0.5;
    c.train.trust_coefficient = 0.01;
    c.train.lr_schedule = crate::config::LrSchedule::Cosine;
    c.train.warmup_epochs = 1.0;
    c.train.final_lr = 1.0;
    c.train.freeze_prototypes_steps = 1;
    c.augment.small_crops = 1;
    c.augment.small_crop_size = 1;
    c.augment.small_crop_scale = [0.5, 0.5];
    serde_json::to_value(c).expect("RunSpec serialises to JSON")
}

/// Is `key` a field of `RunConfig` (walking nested structs by the dotted segments)?
fn schema_check(schema: &Json, key: &str) -> Result<(), String> {
    let mut node = schema;
    let mut path = String::new();
    for seg in key.split('.') {
        match node {
            Json::Object(m) => match m.get(seg) {
                Some(next) => node = next,
                None => {
                    let known: Vec<&str> = m.keys().map(String::as_str).collect();
                    let place = if path.is_empty() { "a run config".to_string() } else { format!("`{path}`") };
                    return Err(format!("unknown key `{key}` ({place} has: {})", known.join(", ")));
                }
            },
            _ => return Err(format!("unknown key `{key}`: `{path}` is a value, not a table")),
        }
        path = if path.is_empty() { seg.to_string() } else { format!("{path}.{seg}") };
    }
    Ok(())
}

/// serde's messages are good; toml adds a trailing newline and an "in `key`"
/// line that we already say ourselves.
fn clean_de_error(msg: &str) -> String {
    let names_key = |l: &str| l.starts_with("in `") && l.ends_with('`');
    msg.lines().map(str::trim).filter(|l| !l.is_empty() && !names_key(l)).collect::<Vec<_>>().join("; ")
}

/// Set `value` at a dotted key, creating tables on the way; a table value merges
/// into an existing table instead of replacing it.
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut segs = key.split('.').peekable();
    let mut cur = table;
    while let Some(seg) = segs.next() {
        if segs.peek().is_none() {
            match (cur.get_mut(seg), value) {
                (Some(toml::Value::Table(old)), toml::Value::Table(new)) => {
                    for (k, v) in new {
                        set_dotted(old, &k, v);
                    }
                }
                (_, v) => {
                    cur.insert(seg.to_string(), v);
                }
            }
            return;
        }
        let entry = cur.entry(seg.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
}

/// One value set into a run's table, with where it was written.
#[derive(Clone, Copy)]
struct Set<'a> {
    key: &'a str,
    value: &'a toml::Value,
    at: &'a Origin,
}

/// Which origin set each key of one run (later entries win).
struct Provenance(Vec<(String, Origin)>);

impl Provenance {
    /// The origin to blame for a message about `key`: the exact key, else the
    /// table value that contains it, else a key inside it.
    fn locate(&self, key: &str) -> Option<&Origin> {
        let exact = self.0.iter().rev().find(|(k, _)| k == key);
        let outer =
            || self.0.iter().rev().filter(|(k, _)| key.starts_with(&format!("{k}."))).max_by_key(|(k, _)| k.len());
        let inner = || self.0.iter().rev().find(|(k, _)| k.starts_with(&format!("{key}.")));
        exact.or_else(outer).or_else(inner).map(|(_, o)| o)
    }
}

/// Assemble, fix up `data.root`, deserialise and resolve one run's config.
fn build(sets: &[Set<'_>], fallback: &Origin) -> Result<(RunConfig, Provenance), Vec<Problem>> {
    let mut table = toml::Table::new();
    let mut prov = Vec::with_capacity(sets.len());
    for s in sets {
        set_dotted(&mut table, s.key, s.value.clone());
        prov.push((s.key.to_string(), s.at.clone()));
    }
    let prov = Provenance(prov);
    let mut problems = Vec::new();
    if let Some(root) = table.get_mut("data").and_then(|d| d.get_mut("root")) {
        let at = prov.locate("data.root").unwrap_or(fallback);
        if let toml::Value::String(s) = root {
            match expand_root(s, at) {
                Ok(p) => *s = p.to_string_lossy().into_owned(),
                Err(msg) => problems.push(Problem::new(at.clone(), msg)),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    match toml::Value::Table(table).try_into::<RunSpec>() {
        Ok(mut spec) => {
            // No data.root: the dataset's standard folder in the data folder
            // (where `sweep data fetch` puts it). Not part of the run's identity.
            if spec.data.root.is_none() {
                spec.data.root =
                    spec.data.dataset.standard_folder().map(|f| crate::config::dataset::data_home().join(f));
            }
            match spec.resolve() {
                Ok(cfg) => Ok((cfg, prov)),
                Err(msg) => Err(vec![Problem::new(prov.locate(message_key(&msg)).unwrap_or(fallback).clone(), msg)]),
            }
        }
        // Single keys were checked already; this is a combination that only fails
        // as a whole (e.g. a table and a value written at the same key).
        Err(e) => Err(vec![Problem::new(fallback.clone(), clean_de_error(&e.to_string()))]),
    }
}

/// `data.root` as the file `file` wrote it, resolved as in run and sweep files
/// (for readers of a bare `[data]` table, such as `sweep predict`).
pub fn resolve_data_root(raw: &Path, file: &Path) -> Result<PathBuf, String> {
    expand_root(&raw.to_string_lossy(), &Origin::file(&Arc::new(file.to_path_buf())))
}

/// `$SWEEP_DATA` at the start expands to the data folder
/// ([`crate::config::dataset::data_home`]: the variable, else the user's cache
/// folder); a relative path is taken from the folder of the file that wrote it.
fn expand_root(raw: &str, at: &Origin) -> Result<PathBuf, String> {
    let var = format!("${}", crate::config::dataset::DATA_ENV);
    let expanded = match raw.strip_prefix(&var) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            crate::config::dataset::data_home().join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(raw),
    };
    if expanded.is_absolute() {
        return Ok(expanded);
    }
    let file = std::path::absolute(at.file.as_path()).unwrap_or_else(|_| at.file.to_path_buf());
    Ok(file.parent().unwrap_or(Path::new("/")).join(expanded))
}

/// The key a `RunConfig::validate` message is about: its leading dotted name.
fn message_key(msg: &str) -> &str {
    let end = msg.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(msg.len());
    msg[..end].trim_end_matches('.')
}

fn located_validation(cfg: &RunConfig, prov: &Provenance, fallback: &Origin) -> Vec<Problem> {
    cfg.validate()
        .into_iter()
        .map(|msg| {
            let at = prov.locate(message_key(&msg)).unwrap_or(fallback);
            Problem::new(at.clone(), msg)
        })
        .collect()
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

/// One dimension of a grid: its points, each setting one or more keys.
type Dim<'a> = Vec<Vec<Set<'a>>>;

fn axis_dim<'a>(key: &'a str, axis: &'a Axis) -> Dim<'a> {
    axis.values.iter().map(|(v, at)| vec![Set { key, value: v, at }]).collect()
}

/// One run's settings before they are built, with its description.
struct Candidate<'a> {
    sets: Vec<Set<'a>>,
    /// `key=value` of the values this candidate chose, for error messages.
    label: String,
    /// Extra swept keys (an include's keys).
    extra_swept: Vec<&'a str>,
}

fn label(sets: &[Set<'_>]) -> String {
    sets.iter().map(|s| format!("{}={}", s.key, s.value)).collect::<Vec<_>>().join(", ")
}

/// Builds the runs of one block (or of the top level).
struct BlockPlan<'a> {
    name: &'a str,
    grid: &'a Grid,
    /// Keys shown as the block's swept values, in order.
    swept: Vec<&'a str>,
    candidates: Vec<Candidate<'a>>,
}

/// One block's plan: its dimensions (seeds, axes, zips) and the candidate
/// runs they span (the odometer over the dimensions, on top of `base`, with the
/// pinned overrides last), plus one candidate per `[[include]]`. `with_grid`
/// false: the includes only (the top level's, beside blocks).
fn plan_block<'a>(
    name: &'a str,
    grid: &'a Grid,
    pinned: &'a Leaves,
    with_grid: bool,
    problems: &mut Vec<Problem>,
) -> BlockPlan<'a> {
    let sets_of = |leaves: &'a Leaves| -> Vec<Set<'a>> {
        leaves.iter().map(|(k, l)| Set { key: k, value: &l.value, at: &l.value_at }).collect()
    };
    let pinned: Vec<Set<'a>> = sets_of(pinned);
    let (dims, swept) = if with_grid { block_dims(grid, problems) } else { (Vec::new(), Vec::new()) };
    let mut candidates = Vec::new();
    if with_grid {
        let base = sets_of(&grid.base);
        let total: usize = dims.iter().map(Vec::len).product();
        for mut i in 0..total {
            // Odometer: the last dimension moves fastest.
            let mut chosen: Vec<Set<'a>> = Vec::new();
            for d in dims.iter().rev() {
                chosen.splice(0..0, d[i % d.len()].iter().copied());
                i /= d.len();
            }
            let mut sets = base.clone();
            sets.extend(chosen.iter().copied());
            sets.extend(pinned.iter().copied());
            candidates.push(Candidate { sets, label: label(&chosen), extra_swept: Vec::new() });
        }
    }
    for inc in &grid.include {
        let mut sets = sets_of(&grid.base);
        let own = sets_of(&inc.leaves);
        sets.extend(own.iter().copied());
        sets.extend(pinned.iter().copied());
        candidates.push(Candidate {
            sets,
            label: format!("include {}", label(&own)),
            extra_swept: inc.leaves.keys().map(String::as_str).collect(),
        });
    }
    BlockPlan { name, grid, swept, candidates }
}

/// A grid's dimensions in order (seeds, then each axis, then each `[[zip]]`
/// group moving as one) and the keys they sweep (`seed` only when more than
/// one). A key swept twice, or a zip of unequal lists, is a problem.
fn block_dims<'a>(grid: &'a Grid, problems: &mut Vec<Problem>) -> (Vec<Dim<'a>>, Vec<&'a str>) {
    let mut dims: Vec<Dim<'a>> = Vec::new();
    let mut swept: Vec<&'a str> = Vec::new();
    let mut owner: HashMap<&str, &Origin> = HashMap::new();
    let mut claim = |key: &'a str, at: &'a Origin, problems: &mut Vec<Problem>| {
        if owner.insert(key, at).is_some() {
            problems.push(Problem::new(
                at.clone(),
                format!("`{key}` is swept twice (in axes, seeds, [[zip]] or [random])"),
            ));
        }
    };
    if let Some(seeds) = &grid.seeds {
        claim("seed", &seeds.key_at, problems);
        if seeds.values.len() > 1 {
            swept.push("seed");
        }
        dims.push(axis_dim("seed", seeds));
    }
    for (k, a) in &grid.axes {
        claim(k, &a.key_at, problems);
        swept.push(k);
        dims.push(axis_dim(k, a));
    }
    for z in grid.zip.iter().chain(grid.random.as_ref().map(|r| &r.group)) {
        let lens: Vec<(&String, usize)> = z.axes.iter().map(|(k, a)| (k, a.values.len())).collect();
        if let Some((k0, n0)) = lens.first() {
            if let Some((k, n)) = lens.iter().find(|(_, n)| n != n0) {
                let msg = format!("[[zip]] lists must have equal lengths: `{k0}` has {n0} values but `{k}` has {n}");
                problems.push(Problem::new(z.axes[*k].key_at.clone(), msg));
                continue;
            }
        }
        for (k, a) in &z.axes {
            claim(k, &a.key_at, problems);
            swept.push(k);
        }
        let n = lens.first().map(|x| x.1).unwrap_or(0);
        dims.push(
            (0..n)
                .map(|i| {
                    z.axes.iter().map(|(k, a)| Set { key: k, value: &a.values[i].0, at: &a.values[i].1 }).collect()
                })
                .collect(),
        );
    }
    (dims, swept)
}

/// Does the resolved config match every key of an `[[exclude]]`?
fn excluded(cfg_json: &Json, ex: &Leaves) -> bool {
    ex.iter().all(|(k, l)| {
        let want = serde_json::to_value(&l.value).unwrap_or(Json::Null);
        json_at(cfg_json, k).is_some_and(|have| json_eq(have, &want))
    })
}

/// JSON equality with numbers compared as numbers (an exclude may write `10` for
/// a float field).
fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Json::Object(x), Json::Object(y)) => y.iter().all(|(k, v)| x.get(k).is_some_and(|w| json_eq(w, v))),
        _ => a == b,
    }
}

fn json_at<'j>(v: &'j Json, key: &str) -> Option<&'j Json> {
    key.split('.').try_fold(v, |node, seg| node.get(seg))
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

/// The number of runs one grid produces before exclusions and de-duplication,
/// and its factors (`key x count`), from the structure alone.
fn grid_size(g: &Grid, with_grid: bool) -> (u128, Vec<String>) {
    let mut product: u128 = 1;
    let mut factors = Vec::new();
    if with_grid {
        let dims = g
            .seeds
            .iter()
            .map(|s| ("seeds".to_string(), s.values.len()))
            .chain(g.axes.iter().map(|(k, a)| (k.clone(), a.values.len())))
            .chain(g.zip.iter().map(|z| {
                let keys: Vec<&str> = z.axes.keys().map(String::as_str).collect();
                (format!("[[zip]] {}", keys.join("+")), z.axes.values().map(|a| a.values.len()).max().unwrap_or(0))
            }))
            .chain(g.random.iter().map(|r| ("[random] samples".to_string(), r.samples)));
        for (name, n) in dims {
            product = product.saturating_mul(n as u128);
            factors.push(format!("{name} {n}"));
        }
    } else {
        product = 0;
    }
    (product.saturating_add(g.include.len() as u128), factors)
}

/// Refuses a sweep whose grid is larger than `max_runs`, before any run is built.
fn check_size(file: &SweepFile, max_runs: u64) -> Result<(), Problem> {
    let mut total: u128 = 0;
    let mut parts = Vec::new();
    let mut add = |name: &str, (n, factors): (u128, Vec<String>)| {
        total = total.saturating_add(n);
        if !factors.is_empty() {
            parts.push(format!("`{name}`: {} = {n}", factors.join(" x ")));
        }
    };
    if file.blocks.is_empty() {
        add(MAIN_BLOCK, grid_size(&file.grid, true));
    } else {
        add(MAIN_BLOCK, grid_size(&file.grid, false));
        for b in &file.blocks {
            add(&b.name.value, grid_size(&merge_grid(file.grid.clone(), b.grid.clone(), false), true));
        }
    }
    if total <= max_runs as u128 {
        return Ok(());
    }
    Err(Problem::new(
        Origin::file(&file.path),
        format!(
            "the sweep expands to {total} runs ({}), more than the limit of {max_runs}: split it into smaller sweeps, or pass --max-runs {total} if you mean it",
            parts.join("; ")
        ),
    ))
}

/// A checked sweep file -> its plan, in phases: the header (name, template), the
/// keys and block names, one plan per block, then the runs those plans build
/// (deduplicated by run id). Every problem found is pushed; None when any was.
fn expand(file: &SweepFile, problems: &mut Vec<Problem>) -> Option<Expanded> {
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
    let runs = build_runs(&blocks, !file.blocks.is_empty(), &checker, &top, problems);
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
    let store = match &file.store {
        Some(s) => PathBuf::from(&s.value),
        None => Path::new("runs").join(&name),
    };
    Some(Expanded { plan, runs, store })
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
        if !crate::report::TEMPLATES.contains(&t.value.as_str()) {
            let msg = format!(
                "template = {:?}: no such report template (available: {})",
                t.value,
                crate::report::TEMPLATES.join(", ")
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

/// One plan per block: the whole file as block `main` when it has no blocks;
/// else each block's merged grid, and the top-level includes once under `main`.
fn block_plans<'a>(
    file: &'a SweepFile,
    merged: &'a [(String, Grid)],
    problems: &mut Vec<Problem>,
) -> Vec<BlockPlan<'a>> {
    let mut blocks: Vec<BlockPlan<'a>> = Vec::new();
    if file.blocks.is_empty() {
        blocks.push(plan_block(MAIN_BLOCK, &file.grid, &file.pinned, true, problems));
    } else {
        if !file.grid.include.is_empty() {
            blocks.push(plan_block(MAIN_BLOCK, &file.grid, &file.pinned, false, problems));
        }
        for (n, g) in merged {
            blocks.push(plan_block(n, g, &file.pinned, true, problems));
        }
    }
    blocks
}

/// One candidate's run config and its JSON form; None when its block's
/// `exclude` drops it, or when it fails to build or validate (its problems
/// pushed, with `ctx`, the block and values it chose, as their context).
fn build_candidate(
    b: &BlockPlan<'_>,
    c: &Candidate<'_>,
    ctx: &str,
    top: &Origin,
    problems: &mut Vec<Problem>,
) -> Option<(RunConfig, Json)> {
    let with_ctx = |mut p: Problem| {
        if !ctx.is_empty() {
            p.context = Some(ctx.to_string());
        }
        p
    };
    let (cfg, prov) = match build(&c.sets, top) {
        Ok(x) => x,
        Err(ps) => {
            problems.extend(ps.into_iter().map(with_ctx));
            return None;
        }
    };
    let json = serde_json::to_value(&cfg).expect("RunConfig serialises to JSON");
    if c.extra_swept.is_empty() && b.grid.exclude.iter().any(|ex| excluded(&json, &ex.leaves)) {
        return None;
    }
    let invalid = located_validation(&cfg, &prov, top);
    if !invalid.is_empty() {
        problems.extend(invalid.into_iter().map(with_ctx));
        return None;
    }
    Some((cfg, json))
}

/// The runs the blocks' candidates build, keyed by run id: a candidate using a
/// value already found bad, or matching its block's `exclude`, builds none; one
/// that fails to build or validate adds its problems (with the block and the
/// values it chose as context). A run that two blocks build is listed once,
/// under both blocks, with the swept keys of both.
fn build_runs(
    blocks: &[BlockPlan<'_>],
    has_blocks: bool,
    checker: &Checker,
    top: &Origin,
    problems: &mut Vec<Problem>,
) -> IndexMap<String, (PlanEntry, RunConfig)> {
    let many_blocks = blocks.len() > 1 || has_blocks;
    let mut runs: IndexMap<String, (PlanEntry, RunConfig)> = IndexMap::new();
    for b in blocks {
        for c in &b.candidates {
            if c.sets.iter().any(|s| checker.bad.contains(s.at)) {
                continue;
            }
            let ctx = match (many_blocks, c.label.is_empty()) {
                (true, true) => format!("block `{}`", b.name),
                (true, false) => format!("block `{}`, run {}", b.name, c.label),
                (false, false) => format!("run {}", c.label),
                (false, true) => String::new(),
            };
            let Some((cfg, json)) = build_candidate(b, c, &ctx, top, problems) else { continue };
            let id = run_id(&cfg);
            let keys = b.swept.iter().chain(&c.extra_swept).copied();
            let entry = runs
                .entry(id.clone())
                .or_insert_with(|| (PlanEntry { run_id: id, blocks: Vec::new(), swept: IndexMap::new() }, cfg));
            if !entry.0.blocks.iter().any(|x| x == b.name) {
                entry.0.blocks.push(b.name.to_string());
            }
            for k in keys {
                if !entry.0.swept.contains_key(k) {
                    entry.0.swept.insert(k.to_string(), json_at(&json, k).cloned().unwrap_or(Json::Null));
                }
            }
        }
    }
    runs
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
