//! Reading a store (the format of [`crate::record`]) into typed run records and
//! two Polars frames: one row per run, and the per-epoch series in long form.
//!
//! Every run of the plan appears, whatever its state: a run without a folder or
//! `status.json` is `missing`, a failed one keeps its reason, one whose files
//! cannot be read is `damaged` with which file and what to do. Nothing is dropped
//! here; the aggregation counts them and the report shows the counts.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::*;

use crate::config::RunConfig;
use crate::record::{Attempt, EpochRecord, Plan, PlanEntry, Provenance, Restarts, RunState, RunStatus, Summary};
use crate::store::{Damaged, RunDir, Store};

use super::{metric_source, FRAME_REPORTED};

/// `state` of a run the plan names but the store holds no status for.
pub const MISSING: &str = "missing";
/// `state` of a run whose status.json, summary.json, config.toml or
/// metrics.jsonl cannot be read ([`RunRecord::damaged`] says which).
pub const DAMAGED: &str = "damaged";

/// One run of the plan with whatever its folder holds.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub entry: PlanEntry,
    /// [`RunState`] as text, [`MISSING`] or [`DAMAGED`].
    pub state: String,
    pub status: Option<RunStatus>,
    pub config: Option<RunConfig>,
    pub summary: Option<Summary>,
    pub epochs: Vec<EpochRecord>,
    /// `provenance.json`: None for runs from before it was written, never
    /// started, or whose file cannot be read (a warning says so).
    pub provenance: Option<Provenance>,
    /// `restarts.json` of a run with restarts, once its candidates were chosen from.
    pub restarts: Option<Restarts>,
    /// Which file cannot be read, why, and what to do ([`DAMAGED`] runs).
    pub damaged: Option<String>,
    pub dir: PathBuf,
}

impl RunRecord {
    pub fn is_done(&self) -> bool {
        self.state == "done"
    }
    pub fn is_failed(&self) -> bool {
        self.state == "failed"
    }

    /// Why the run failed, stopped, or cannot be read.
    pub fn reason(&self) -> Option<&str> {
        self.damaged.as_deref().or(self.status.as_ref().and_then(|s| s.reason.as_deref()))
    }

    /// The headline ACC / NMI / ARI of this run under [`metric_source`]'s rule.
    pub fn reported(&self) -> Option<[Option<f64>; 3]> {
        let (cfg, sum) = (self.config.as_ref()?, self.summary.as_ref()?);
        let src = metric_source(&cfg.loss);
        Some(crate::record::SCORES.map(|m| sum.metrics.get(&format!("{src}.{m}")).copied()))
    }
}

/// A store read in full.
#[derive(Debug)]
pub struct Collected {
    pub store: PathBuf,
    pub plan: Plan,
    /// `notes.md` next to `plan.json`, verbatim.
    pub notes: Option<String>,
    /// In plan order.
    pub runs: Vec<RunRecord>,
    /// Swept keys (dotted) in order of first appearance in the plan, `seed` included.
    pub swept_keys: Vec<String>,
    /// One row per run; the columns are documented in [`run_frame`].
    pub frame: DataFrame,
    /// Long form `run_id, epoch, key, value` of every `metrics.jsonl`.
    pub series: DataFrame,
}

impl Collected {
    /// `summary.json`'s `metrics[key]` of every done run that has it, in plan order.
    pub fn done_metric(&self, key: &str) -> Vec<f64> {
        self.runs.iter().filter(|r| r.is_done()).filter_map(|r| r.summary.as_ref()?.metrics.get(key).copied()).collect()
    }
}

/// Read `STORE/plan.json`, every run folder and `notes.md`, through the store.
pub fn collect(store: &Path) -> anyhow::Result<Collected> {
    let not_a_store = || format!("{} is not a sweep store (no readable plan.json)", store.display());
    let opened = Store::existing(store).with_context(not_a_store)?;
    let plan = opened.read_plan().with_context(not_a_store)?.with_context(not_a_store)?;
    let notes = opened.read_notes()?;
    let runs: Vec<RunRecord> = plan.runs.iter().map(|e| read_run(&opened, e)).collect();
    let mut swept_keys: Vec<String> = Vec::new();
    for e in &plan.runs {
        for k in e.swept.keys() {
            if !swept_keys.contains(k) {
                swept_keys.push(k.clone());
            }
        }
    }
    let frame = run_frame(&runs, &swept_keys)?;
    let series = series_frame(&runs)?;
    Ok(Collected { store: store.to_path_buf(), plan, notes, runs, swept_keys, frame, series })
}

/// Read one run folder through the store. Absent files are absent values; a
/// run whose files cannot be read is [`DAMAGED`], with which file and what to
/// do as its reason (a corrupt run is shown, never averaged over, and never
/// keeps the report of the others from being written).
fn read_run(store: &Store, entry: &PlanEntry) -> RunRecord {
    let mut rec = RunRecord {
        entry: entry.clone(),
        state: MISSING.to_string(),
        status: None,
        config: None,
        summary: None,
        epochs: Vec::new(),
        provenance: None,
        restarts: None,
        damaged: None,
        dir: store.run_path(&entry.run_id),
    };
    // A folder without config.toml is not a run yet, as the store sees it.
    let Some(run) = store.run(&entry.run_id) else { return rec };
    rec.dir = run.path().to_path_buf();
    if let Err(e) = read_files(&run, &mut rec) {
        let what = match e.downcast_ref::<Damaged>() {
            Some(d) => d.message.clone(),
            None => format!("{e:#}"),
        };
        tracing::warn!("run {} is damaged: {what}; the report lists it as such", entry.run_id);
        rec.state = DAMAGED.to_string();
        rec.damaged = Some(what);
    }
    rec
}

/// Fill `rec` from `run`'s files; the first one that cannot be read is the error.
fn read_files(run: &RunDir, rec: &mut RunRecord) -> anyhow::Result<()> {
    rec.config = Some(run.read_config()?);
    let summary = run.read_summary()?;
    let status = if run.status_path().is_file() { Some(run.status()?) } else { None };
    rec.state = match (&status, &summary) {
        (Some(st), _) => st.state.to_string(),
        // A summary is only written at the end: the run finished even if its
        // status file was lost.
        (None, Some(_)) => RunState::Done.to_string(),
        (None, None) => MISSING.to_string(),
    };
    rec.epochs = run.read_metrics()?;
    (rec.status, rec.summary) = (status, summary);
    rec.provenance = read_provenance(run);
    rec.restarts = run.read_restarts()?;
    Ok(())
}

/// A run folder's provenance.json through the store. It describes the results
/// without changing them, so an unreadable one is a warning and the run's
/// provenance unknown, never a refused report.
fn read_provenance(run: &RunDir) -> Option<Provenance> {
    run.read_provenance().unwrap_or_else(|e| {
        tracing::warn!("{e:#}: the run's provenance is shown as unknown");
        None
    })
}

/// The column type a swept key gets: the narrowest one that holds every value.
enum SweptKind {
    Int,
    Float,
    Bool,
    Str,
}

fn swept_kind(values: &[Option<&serde_json::Value>]) -> SweptKind {
    use serde_json::Value;
    let present: Vec<&Value> = values.iter().flatten().copied().collect();
    if present.iter().all(|v| v.is_i64() || v.is_u64()) && !present.is_empty() {
        SweptKind::Int
    } else if present.iter().all(|v| v.is_number()) && !present.is_empty() {
        SweptKind::Float
    } else if present.iter().all(|v| v.is_boolean()) && !present.is_empty() {
        SweptKind::Bool
    } else {
        SweptKind::Str
    }
}

/// A swept value as text: strings bare, everything else as JSON.
pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The run frame, one row per run in plan order. Columns, in this order:
///
/// - `run_id`, `state` (pending/running/interrupted/done/failed, `missing` or
///   `damaged`), `reason` (why it failed or stopped, or what cannot be read), `blocks` (the blocks that produced it,
///   joined by `+`);
/// - each swept key under its dotted name, in plan order (typed: integer, float,
///   boolean, or text; lists and tables as JSON text), `seed` among them when seeds vary;
/// - `method` ([`crate::config::LossConfig::method_name`]), `dataset`, `backbone`,
///   and `seed` from the config when it is not swept;
/// - `metric_source` and `acc`, `nmi`, `ari`: the headline numbers under
///   [`metric_source`]'s rule (`codes.*` or `kmeans_target.*`);
/// - every key of `summary.json`'s `metrics` over all runs, sorted
///   (`codes.acc`, `codes.nmi`, `codes.nmi_geom`, `codes.ari`, `diversity.mean`, ...);
/// - `epochs`, `collapsed`, `train_seconds`, `images_per_sec` (last epoch's mean);
/// - from provenance.json ([`provenance_columns`]): `device`, `isa`,
///   `engine_version`, `commit`, `dirty`, `libtorch`.
///
/// Values a run does not have (not finished, not evaluated) are null.
pub fn run_frame(runs: &[RunRecord], swept_keys: &[String]) -> anyhow::Result<DataFrame> {
    let n = runs.len();
    let mut cols: Vec<Column> = Vec::new();
    let strs = |f: &dyn Fn(&RunRecord) -> Option<String>| -> Vec<Option<String>> { runs.iter().map(f).collect() };
    cols.push(Column::new("run_id".into(), strs(&|r| Some(r.entry.run_id.clone()))));
    cols.push(Column::new("state".into(), strs(&|r| Some(r.state.clone()))));
    cols.push(Column::new("reason".into(), strs(&|r| r.reason().map(str::to_string))));
    cols.push(Column::new("blocks".into(), strs(&|r| Some(r.entry.blocks.join("+")))));
    for key in swept_keys {
        let vals: Vec<Option<&serde_json::Value>> = runs.iter().map(|r| r.entry.swept.get(key)).collect();
        let name: PlSmallStr = key.as_str().into();
        cols.push(match swept_kind(&vals) {
            SweptKind::Int => Column::new(name, vals.iter().map(|v| v.and_then(|v| v.as_i64())).collect::<Vec<_>>()),
            SweptKind::Float => Column::new(name, vals.iter().map(|v| v.and_then(|v| v.as_f64())).collect::<Vec<_>>()),
            SweptKind::Bool => Column::new(name, vals.iter().map(|v| v.and_then(|v| v.as_bool())).collect::<Vec<_>>()),
            SweptKind::Str => Column::new(name, vals.iter().map(|v| v.map(value_text)).collect::<Vec<_>>()),
        });
    }
    cols.push(Column::new("method".into(), strs(&|r| r.config.as_ref().map(|c| c.method_name()))));
    cols.push(Column::new("dataset".into(), strs(&|r| r.config.as_ref().map(|c| c.data.dataset.to_string()))));
    cols.push(Column::new("backbone".into(), strs(&|r| r.config.as_ref().map(|c| enum_text(&c.model.backbone)))));
    if !swept_keys.iter().any(|k| k == "seed") {
        let seeds: Vec<Option<i64>> = runs.iter().map(|r| r.config.as_ref().map(|c| c.seed as i64)).collect();
        cols.push(Column::new("seed".into(), seeds));
    }
    cols.push(Column::new(
        "metric_source".into(),
        strs(&|r| r.config.as_ref().map(|c| metric_source(&c.loss).to_string())),
    ));
    let reported: Vec<Option<[Option<f64>; 3]>> = runs.iter().map(|r| r.reported()).collect();
    for (i, name) in FRAME_REPORTED.iter().enumerate() {
        let v: Vec<Option<f64>> = reported.iter().map(|r| r.and_then(|r| r[i])).collect();
        cols.push(Column::new((*name).into(), v));
    }
    let metric_keys: BTreeSet<&String> =
        runs.iter().filter_map(|r| r.summary.as_ref()).flat_map(|s| s.metrics.keys()).collect();
    for key in metric_keys {
        let v: Vec<Option<f64>> =
            runs.iter().map(|r| r.summary.as_ref().and_then(|s| s.metrics.get(key).copied())).collect();
        cols.push(Column::new(key.as_str().into(), v));
    }
    let epochs: Vec<Option<i64>> = runs.iter().map(|r| r.summary.as_ref().map(|s| s.epochs as i64)).collect();
    cols.push(Column::new("epochs".into(), epochs));
    let collapsed: Vec<Option<bool>> = runs.iter().map(|r| r.summary.as_ref().map(|s| s.collapsed)).collect();
    cols.push(Column::new("collapsed".into(), collapsed));
    let secs: Vec<Option<f64>> = runs.iter().map(|r| r.summary.as_ref().map(|s| s.train_seconds)).collect();
    cols.push(Column::new("train_seconds".into(), secs));
    let ips: Vec<Option<f64>> =
        runs.iter().map(|r| r.summary.as_ref().and_then(|s| s.train.get("images_per_sec").copied())).collect();
    cols.push(Column::new("images_per_sec".into(), ips));
    cols.extend(provenance_columns(runs));
    let df = DataFrame::new(cols).context("building the run frame")?;
    debug_assert_eq!(df.height(), n);
    Ok(df)
}

/// The provenance.json columns of the run frame: `device` (the GPU's or CPU's
/// model), `isa` (ATen's CPU capability), `engine_version` (sweep's version),
/// `commit`, `dirty` (true when any attempt's build had uncommitted changes),
/// `libtorch`. A run whose attempts differ lists each distinct value once,
/// joined by `; `; a run without provenance.json has nulls.
fn provenance_columns(runs: &[RunRecord]) -> Vec<Column> {
    type Field = fn(&Attempt) -> Option<String>;
    let fields: [(&str, Field); 5] = [
        ("device", |a| Some(a.machine.device.model.clone().unwrap_or_else(|| a.machine.device.name.clone()))),
        ("isa", |a| a.machine.device.isa.clone()),
        ("engine_version", |a| Some(a.engine.version.clone())),
        ("commit", |a| Some(a.engine.commit.clone())),
        ("libtorch", |a| a.machine.libtorch.clone()),
    ];
    let attempts = |r: &RunRecord| r.provenance.as_ref().map(|p| p.attempts.clone()).unwrap_or_default();
    let mut cols: Vec<Column> = fields
        .iter()
        .map(|(name, f)| {
            let v: Vec<Option<String>> = runs
                .iter()
                .map(|r| {
                    let mut seen: Vec<String> = Vec::new();
                    for x in attempts(r).iter().filter_map(f) {
                        if !seen.contains(&x) {
                            seen.push(x);
                        }
                    }
                    (!seen.is_empty()).then(|| seen.join("; "))
                })
                .collect();
            Column::new((*name).into(), v)
        })
        .collect();
    let dirty: Vec<Option<bool>> = runs
        .iter()
        .map(|r| {
            let flags: Vec<Option<bool>> = attempts(r).iter().map(|a| a.engine.dirty).collect();
            if flags.contains(&Some(true)) {
                Some(true)
            } else {
                (!flags.is_empty() && flags.iter().all(|d| *d == Some(false))).then_some(false)
            }
        })
        .collect();
    cols.insert(4, Column::new("dirty".into(), dirty));
    cols
}

/// A unit enum's serde name (`resnet34`, `projection`...).
pub fn enum_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Long form of every epoch of every run: `run_id`, `epoch` (1-based), `key`
/// (a `train` key such as `loss`, `l1`, or an `eval` key such as `codes.acc`,
/// `diversity.mean`), `value`. Runs in plan order, epochs ascending, keys sorted.
fn series_frame(runs: &[RunRecord]) -> anyhow::Result<DataFrame> {
    let (mut ids, mut epochs, mut keys, mut values) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in runs {
        for e in &r.epochs {
            // The record's documented train keys (`loss`, `l1`, `seconds`...) and eval keys
            // (`codes.acc`, `eval_seconds`...) are disjoint, so one `key` column holds both.
            let merged: BTreeMap<&String, f64> = e.train.iter().chain(e.eval.iter()).map(|(k, v)| (k, *v)).collect();
            for (k, v) in merged {
                ids.push(r.entry.run_id.clone());
                epochs.push(e.epoch as i64);
                keys.push(k.clone());
                values.push(v);
            }
        }
    }
    DataFrame::new(vec![
        Column::new("run_id".into(), ids),
        Column::new("epoch".into(), epochs),
        Column::new("key".into(), keys),
        Column::new("value".into(), values),
    ])
    .context("building the per-epoch frame")
}
