//! What a run directory holds, as types: the contract between the trainer (which
//! writes), the store and scheduler (which read status), and the reports (which
//! read everything). No tch here.
//!
//! ```text
//! STORE/
//!   plan.json              the expanded sweep: [PlanEntry] (written by `sweep run`/`plan`)
//!   runs/<run_id>/
//!     config.toml          the resolved RunConfig
//!     status.json          RunStatus
//!     metrics.jsonl        one EpochRecord per line, appended after each epoch
//!     summary.json         Summary, written once when the run is done
//!     assignments.csv      per-image cluster assignments of the final evaluation
//!     checkpoints/         last.ot (+ last.json), written atomically
//!     figures/             tsne.png, tsne.svg
//!     log.txt              the run's own log
//!     lock                 held (advisory lock + pid) while a process runs it
//! ```
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Pending,
    Running,
    /// Stopped on request (Ctrl-C) or killed: resumes from its last checkpoint.
    Interrupted,
    Done,
    Failed,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Done => "done",
            RunState::Failed => "failed",
        })
    }
}

/// `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    pub state: RunState,
    /// Why it failed or stopped (NaN loss, out of memory, bad data...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Epochs completed so far.
    #[serde(default)]
    pub epoch: usize,
    /// How many times a process has started this run.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl RunStatus {
    pub fn pending() -> Self {
        Self { state: RunState::Pending, reason: None, epoch: 0, attempts: 0, device: None, pid: None, host: None }
    }
}

/// One line of `metrics.jsonl`: what happened in one epoch.
///
/// `train` keys (means over the epoch's steps): `loss`, `l1`, `l2`, `l3`,
/// `seconds`, `images_per_sec`, `lr`, `ema_tau`.
/// `eval` keys (present on evaluation epochs), each `<method>.<metric>` with
/// method in `codes` (argmax of Sinkhorn codes over the evaluated set: the
/// paper's numbers), `p` (argmax of soft assignments), `kmeans_target`,
/// `kmeans_encoder`, `kmeans_cluster`, `kmeans_pixels` (k-means on the named feature) and metric in
/// `acc`, `nmi` (arithmetic normalisation, scikit-learn's default), `nmi_geom`
/// (geometric), `ari`; plus `diversity.mean`, `diversity.std` (pairwise NMI of the
/// M members, Figure 1), `largest_cluster_frac` (share of the biggest codes
/// cluster) and `eval_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based: the epoch just completed.
    pub epoch: usize,
    /// Optimiser steps done in total after this epoch.
    pub step: usize,
    pub train: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eval: BTreeMap<String, f64>,
}

/// Prefix of the summary's metrics measured at the end of training when a
/// self-labelling stage followed (`before_finetune.codes.acc`, ...; method.md §11).
pub const BEFORE_FINETUNE: &str = "before_finetune.";

/// `summary.json`: the finished run in one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub epochs: usize,
    pub steps: usize,
    /// The last evaluation's metrics (keys as in [`EpochRecord::eval`]).
    pub metrics: BTreeMap<String, f64>,
    /// The last epoch's training means (keys as in [`EpochRecord::train`]).
    pub train: BTreeMap<String, f64>,
    /// Clustering collapse detected at the end (L2 near ln K, or one cluster
    /// holding nearly everything).
    pub collapsed: bool,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Wall-clock seconds spent training (all attempts).
    pub train_seconds: f64,
    pub device: String,
}

/// One entry of `plan.json`: a run of the sweep with the values its axes gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub run_id: String,
    /// Blocks that produced this run (a run two blocks produce runs once).
    pub blocks: Vec<String>,
    /// Swept key (dotted) -> value, in axis order; includes `seed` when seeds vary.
    pub swept: indexmap::IndexMap<String, serde_json::Value>,
}

/// `plan.json` at the store's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sweep: String,
    /// Template named by the sweep file (`generic` by default).
    pub template: String,
    /// The sweep file this plan came from, as given.
    pub source: String,
    /// The `--set KEY=VALUE` overrides that built it, in order (none: the file alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// The sweep file's `notes` (Markdown for the report), when it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub runs: Vec<PlanEntry>,
}
