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
//!     provenance.json      Provenance: what each attempt ran on, when, and how it ended
//!     assignments.csv      per-image cluster assignments of the final evaluation
//!     checkpoints/         step-N.ot (weights, optimiser state, transforms) named by
//!                          last.json, and the pair before it (previous.json): crate::train::checkpoint
//!     figures/             tsne.csv (the report draws the figure from it)
//!     log.txt              the run's own log
//!     restarts.json        Restarts: the label-free choice among restarts (train.restarts)
//!     candidates/<c>/      each restart candidate's own run folder (config.toml, metrics.jsonl,
//!                          losses.csv, checkpoints/) while they train; removed once the chosen
//!                          one is installed as the run's start
//!     lock                 held (advisory lock + pid) while a process runs it
//!     tb/                  TensorBoard event files (crate::tensorboard), unless turned off
//!   tb/                    the sweep's HParams experiment for TensorBoard (same)
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

/// `restarts.json`: the label-free choice among restarts (`train.restarts`,
/// method.md §13), written once every candidate has trained its epochs and
/// before the chosen one is installed as the run's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restarts {
    /// What chose: the mean soft-clustering loss `l2` of each candidate's last epoch, lowest wins.
    pub metric: String,
    /// Epochs each candidate trained before the choice.
    pub epochs: usize,
    /// Index into `candidates` of the one that goes on.
    pub chosen: usize,
    pub candidates: Vec<RestartCandidate>,
}

/// One candidate of [`Restarts`] at the choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartCandidate {
    /// The seed it trained with: the run's for candidate 0, derived from it for the others.
    pub seed: u64,
    /// The label-free value the choice read (`metric`).
    pub l2: f64,
    /// The codes' ACC at the choice: read by reports, to show how the
    /// label-free choice fared, never by the choice itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<f64>,
    /// Its training seconds (all counted in the run's time).
    pub seconds: f64,
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

/// The three scores of every evaluation method, in report order: a method
/// `m` records `m.acc`, `m.nmi`, `m.ari` (metrics.jsonl, summary.json), read by
/// the reports and TensorBoard's HParams columns.
pub const SCORES: [&str; 3] = ["acc", "nmi", "ari"];

/// A training epoch's loss terms in metrics.jsonl's `train` map, by name:
/// L, L1, L2, L3 (method.md §3); losses.csv's columns after `step`.
pub const LOSS_TERMS: [&str; 4] = ["loss", "l1", "l2", "l3"];
/// A self-labelling epoch's terms (method.md §11): its cross-entropy and the
/// share of the images confident enough to be pseudo-labelled.
pub const SELF_LABEL_TERMS: [&str; 2] = ["loss", "confident"];

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

/// The report templates a plan may name (`template` in plan.json, a name of
/// [`Template::name`]); named here, below both the sweep-file checks and the
/// reports that render them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Generic,
    Table3,
    Table4,
    Table5,
}

impl Template {
    pub const ALL: [Template; 4] = [Template::Generic, Template::Table3, Template::Table4, Template::Table5];

    /// The name a sweep file and plan.json use.
    pub const fn name(self) -> &'static str {
        match self {
            Template::Generic => "generic",
            Template::Table3 => "table3",
            Template::Table4 => "table4",
            Template::Table5 => "table5",
        }
    }

    /// The template of that name; an empty name is the default, `generic`.
    pub fn from_name(name: &str) -> Option<Template> {
        if name.is_empty() {
            return Some(Template::Generic);
        }
        Template::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Every name, for messages.
    pub fn names() -> Vec<String> {
        Template::ALL.iter().map(|t| t.name().to_string()).collect()
    }
}

/// `plan.json` at the store's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sweep: String,
    /// Template named by the sweep file (`generic` by default).
    pub template: String,
    /// The sweep file this plan came from, as given.
    pub source: String,
    /// SHA-256 (hex) of the sweep file's text when the plan was written to the
    /// store; absent when it could not be read (or in plans from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    /// The `--set KEY=VALUE` overrides that built it, in order (none: the file alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// The sweep file's `notes` (Markdown for the report), when it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The sweep file's `tensorboard` (default true): whether its runs write
    /// TensorBoard event files. Kept here, not in the runs' configs (it changes
    /// no result, so no run id), for every process that trains them: `sweep
    /// exec-run`, a Slurm task.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub tensorboard: bool,
    /// The sweep file's `acc_thresholds`: the reports' "minutes to ACC"
    /// columns (None: 0.8 and 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc_thresholds: Option<Vec<f64>>,
    pub runs: Vec<PlanEntry>,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// `provenance.json`: every attempt at the run, the first one kept, each later
/// one appended when it starts and completed when it ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub attempts: Vec<Attempt>,
}

/// How an attempt ended. An attempt still open when the next one starts (its
/// process was killed) is recorded as interrupted then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Finished,
    Interrupted,
    Failed,
}

/// One process's go at a run: the engine and machine it ran on, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// status.json's attempt count when this one started (1 for the first).
    pub number: u32,
    /// RFC 3339, UTC (`2025-01-31T12:00:00Z`).
    pub started: String,
    /// Absent while running, and for an attempt whose process was killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// Absent while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why it failed or stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub engine: Engine,
    #[serde(flatten)]
    pub machine: Machine,
    /// The host's name (kept out of reports).
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_file: Option<SweepFile>,
    /// Said once, when the attempt started: a resume on another ISA level or
    /// engine version than the run's first attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The `sweep` binary: its version and the git commit it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Engine {
    pub version: String,
    /// Full hash, or `unknown` (built without git).
    pub commit: String,
    /// Uncommitted changes in the work tree at build time; None: unknown.
    #[serde(default)]
    pub dirty: Option<bool>,
}

impl Engine {
    /// `sweep 0.1.0 (ba3ff18c)`, with `, dirty` for a work tree with changes.
    pub fn label(&self) -> String {
        let commit =
            if self.commit == "unknown" { "commit unknown".to_string() } else { self.commit.chars().take(8).collect() };
        let dirty = if self.dirty == Some(true) { ", dirty" } else { "" };
        format!("sweep {} ({commit}{dirty})", self.version)
    }

    /// The same engine for results: version and commit (the dirty flag aside).
    pub fn same_version(&self, other: &Engine) -> bool {
        self.version == other.version && self.commit == other.commit
    }
}

/// What an attempt ran on, as the executor saw it; fields it could not learn
/// (a build without libtorch) are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// libtorch's version (`2.11.0+cpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libtorch: Option<String>,
    /// The CUDA runtime libtorch was built with (`12.8`), where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    /// cuDNN's version (`9.1.0`), where libtorch has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cudnn: Option<String>,
    pub device: DeviceFacts,
    /// libtorch's intra-op CPU threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<i32>,
}

impl Machine {
    /// Only the device's name: what a build without libtorch knows.
    pub fn unknown(device: &str) -> Self {
        Machine {
            libtorch: None,
            cuda: None,
            cudnn: None,
            device: DeviceFacts {
                name: device.to_string(),
                model: None,
                memory_bytes: None,
                cpu_model: None,
                isa: None,
                avx512_bf16: None,
                amx: None,
            },
            threads: None,
        }
    }
}

/// The device an attempt trained on, and the CPU beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceFacts {
    /// `cpu` or `cuda:N`.
    pub name: String,
    /// The GPU's model (`NVIDIA H100 80GB HBM3`), or the CPU's on `cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The GPU's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The CPU's model (`/proc/cpuinfo`'s `model name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// ATen's CPU capability: the ISA level its CPU kernels dispatch to
    /// (`DEFAULT`, `AVX2`, `AVX512`; `NEON`, `SVE256`... elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<String>,
    /// The CPU has AVX-512 BF16 (`avx512_bf16` in /proc/cpuinfo's flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avx512_bf16: Option<bool>,
    /// The CPU has AMX (`amx_bf16` and `amx_tile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amx: Option<bool>,
}

/// The sweep file behind the plan the run was scheduled from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    /// As given on the command line (plan.json's `source`).
    pub path: String,
    /// plan.json's `source_sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}
