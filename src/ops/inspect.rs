//! What a sweep is and how far it has got, read without running anything:
//! [`plan`] (`sweep plan`: the runs a file expands to, against its store) and
//! [`status`] (`sweep status`: each run's state from the store, Slurm's queue
//! beside it). Typed results; the command line draws the tables.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::backend::slurm::SlurmState;
use crate::config::expand::{load_sweep_with, LoadOptions};
use crate::config::Expanded;
use crate::data::fetch::{data_needs, DataNeed};
use crate::store::{Observed, RunView, StateCounts, Store};

/// `sweep plan`'s answer.
#[derive(Debug)]
pub struct PlanView {
    pub expanded: Expanded,
    /// The store compared against (`--store`, else the file's).
    pub store: PathBuf,
    /// One per run, in plan order: its state in the store (`new` when the
    /// store or the run is not there yet).
    pub states: Vec<Observed>,
    /// The datasets the runs read, and whether each is present.
    pub data: Vec<DataNeed>,
    pub counts: StateCounts,
}

/// Expand `file` and compare its runs with the store (`store`, else the
/// file's); nothing runs and nothing is written.
pub fn plan(file: &Path, opts: &LoadOptions, store: Option<&Path>) -> anyhow::Result<PlanView> {
    let expanded = load_sweep_with(file, opts)?;
    let store_path = store.map(Path::to_path_buf).unwrap_or_else(|| expanded.store.clone());
    Store::check_usable(&store_path)?;
    // A store that does not exist yet simply has every run `new`.
    let existing = Store::existing(&store_path).ok();
    let mut views = Vec::with_capacity(expanded.runs.len());
    let mut states = Vec::with_capacity(expanded.runs.len());
    for (entry, _) in &expanded.runs {
        let view = existing.as_ref().map(|s| s.view(&entry.run_id)).transpose()?;
        states.push(view.as_ref().map(|v| v.observed).unwrap_or(Observed::New));
        views.extend(view);
    }
    let data = data_needs(expanded.runs.iter().map(|(_, c)| c));
    Ok(PlanView { counts: StateCounts::of(&views), expanded, store: store_path, states, data })
}

/// `sweep status`'s answer.
#[derive(Debug)]
pub struct StatusView {
    pub store: PathBuf,
    /// Every run, in plan order (a damaged one with what is wrong).
    pub runs: Vec<RunView>,
    /// Slurm's state of the runs submitted to it that the store has not seen
    /// start or end, by run id ([`crate::backend::slurm::status_label`]).
    pub slurm: HashMap<String, SlurmState>,
    pub counts: StateCounts,
}

impl StatusView {
    /// The state column of run `v`: the store's, or Slurm's where it knows more.
    pub fn state_label(&self, v: &RunView) -> String {
        crate::backend::slurm::status_label(v, self.slurm.get(&v.run_id))
    }
}

/// Each run of the sweep file or store `target` names (a sweep file: its runs
/// in plan order, expanded with `opts`; a store: its plan's, else every run
/// folder), from the store [`crate::store::locate`] finds.
pub fn status(target: &Path, store: Option<&Path>, opts: &LoadOptions) -> anyhow::Result<StatusView> {
    let (opened, ids): (Store, Vec<String>) = if target.is_file() {
        // The expansion names the store by the rule `store::locate` follows:
        // the file is read once.
        let expanded = load_sweep_with(target, opts)?;
        let root = store.map(Path::to_path_buf).unwrap_or_else(|| expanded.store.clone());
        let ids = expanded.runs.into_iter().map(|(e, _)| e.run_id).collect();
        (Store::existing(&root).with_context(|| format!("sweep {} has not run yet", target.display()))?, ids)
    } else {
        let opened = Store::existing(&crate::store::locate(target, store)?)?;
        let ids = match opened.read_plan()? {
            Some(plan) => plan.runs.into_iter().map(|e| e.run_id).collect(),
            None => opened.runs()?.into_iter().map(|r| r.run_id().to_string()).collect(),
        };
        (opened, ids)
    };
    let runs = ids.iter().map(|id| opened.view(id)).collect::<anyhow::Result<Vec<_>>>()?;
    // The store is the truth; Slurm's queue (when there is one and runs were
    // submitted to it) only adds to runs the store has not seen start or end.
    let slurm = crate::backend::slurm::submitted_states(opened.root())?;
    Ok(StatusView { counts: StateCounts::of(&runs), store: opened.root().to_path_buf(), runs, slurm })
}
