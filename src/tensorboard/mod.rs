//! TensorBoard event files, so that `tensorboard --logdir STORE` shows a sweep
//! live: each run's `tb/` folder (its [`RunBoard`]: every step's loss terms,
//! learning rate and EMA rate, every evaluation's scores, the final scores and
//! the HParams plugin's session start and end), and the store's `tb/` folder
//! (the sweep's HParams experiment: [`write_experiment`]).
//!
//! The format is written here, over prost and a CRC-32C ([`file`], [`proto`],
//! [`hparams`]), with no libtorch: the store-level experiment is written by
//! commands that build without it, and the format's tests run in every build.
//! Event files are for people: a failed write turns them off for the rest of
//! the attempt with a warning; it never fails a run.
//!
//! A resumed run must show no step twice and none going back: [`RunBoard::open`]
//! rewrites the run's event files into a fresh one holding only the points up
//! to the checkpoint's step, then appends.
pub mod file;
pub mod hparams;
pub mod proto;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::config::{Expanded, Representation};
use crate::store::{RunDir, Store};
use file::{event, EventWriter};
use proto::{Event, SessionLog, Summary, SummaryValue, ValueKind, What, SESSION_START};

/// The total loss, L of method.md §6.
pub const LOSS_TOTAL: &str = "loss/total";
/// L2, the soft-clustering loss against the Sinkhorn codes.
const LOSS_SOFT_CLUSTER: &str = "loss/soft_cluster";
/// L3, the consensus loss over the M transforms.
const LOSS_CONSENSUS: &str = "loss/consensus";
/// The learning rate of each training step.
pub const LR: &str = "train/lr";
/// The EMA rate tau the step's target update used.
pub const EMA_TAU: &str = "train/ema_tau";
/// The self-labelling stage's cross-entropy, confident share and learning rate.
pub const SELFLABEL_LOSS: &str = "selflabel/loss";
pub const SELFLABEL_CONFIDENT: &str = "selflabel/confident_share";
pub const SELFLABEL_LR: &str = "selflabel/lr";
/// Each evaluation's metrics, as `eval/<key>` (keys of `EpochRecord::eval`).
pub const EVAL_PREFIX: &str = "eval/";
/// summary.json's metrics at the end, as `final/<key>`: the HParams columns.
pub const FINAL_PREFIX: &str = "final/";

/// The tags of [`crate::train`]'s stacked loss terms [L, L1, L2, L3]; L1 is
/// `loss/byol` or `loss/simclr` by `loss.representation`.
pub fn loss_tags(representation: Representation) -> [&'static str; 4] {
    let l1 = match representation {
        Representation::Byol => "loss/byol",
        Representation::Simclr => "loss/simclr",
    };
    [LOSS_TOTAL, l1, LOSS_SOFT_CLUSTER, LOSS_CONSENSUS]
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// One event holding `values` at `step`, as scalars.
fn scalars_event<'a>(step: usize, values: impl IntoIterator<Item = (&'a str, f64)>) -> Event {
    let value = values
        .into_iter()
        .map(|(tag, v)| SummaryValue { tag: tag.into(), metadata: None, value: Some(ValueKind::SimpleValue(v as f32)) })
        .collect();
    event(step as i64, What::Summary(Summary { value }))
}

/// The sweep's HParams experiment in the store's `tb/` folder, replacing the
/// one an earlier `sweep run` or `sweep submit` wrote (the plan may have
/// changed since).
pub fn write_experiment(store: &Store, expanded: &Expanded) -> anyhow::Result<()> {
    let dir = store.tb_dir();
    let writer = EventWriter::create(&dir, &[hparams::experiment(expanded, now_secs())])?;
    file::remove_older(&dir, writer.path())
}

/// [`write_experiment`], a failure only warned about (event files are for people).
pub fn write_experiment_or_warn(store: &Store, expanded: &Expanded) {
    if let Err(e) = write_experiment(store, expanded) {
        tracing::warn!("writing the sweep's TensorBoard experiment into {}: {e:#}", store.tb_dir().display());
    }
}

/// The events of a run's event files in `dir` that a restart at `step` keeps,
/// oldest file first: the scalars at steps <= `step`, each tag's steps strictly
/// rising (a second copy of a point, left by a rewrite cut short, is dropped).
/// The final scores and the HParams summaries are written anew by each attempt,
/// so none is kept. Also says whether there was any file.
fn kept_events(dir: &Path, step: usize) -> anyhow::Result<(Vec<Event>, bool)> {
    let files = file::event_files(dir)?;
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut kept = Vec::new();
    for path in &files {
        let (events, tail) = file::read_events(path)?;
        if let file::Tail::Corrupt { offset } = tail {
            tracing::warn!("{}: damaged record at byte {offset}; the events after it are dropped", path.display());
        }
        for mut e in events {
            let Some(What::Summary(s)) = &mut e.what else { continue };
            if e.step > step as i64 {
                continue;
            }
            s.value.retain(|v| {
                let own = hparams::is_hparams_tag(&v.tag) || v.tag.starts_with(FINAL_PREFIX);
                let fresh = last.get(&v.tag).is_none_or(|&s| e.step > s);
                if !own && fresh {
                    last.insert(v.tag.clone(), e.step);
                }
                !own && fresh
            });
            if !s.value.is_empty() {
                kept.push(e);
            }
        }
    }
    Ok((kept, !files.is_empty()))
}

/// A run's event files for an attempt that starts at global step `step`: a
/// fresh file holding a restart marker (a `SessionLog` START at step 0, so a
/// live TensorBoard drops what it read of the old files), the run's session
/// start, and the kept points ([`kept_events`]); the old files removed.
fn start(dir: &Path, run_id: &str, step: usize, hparams: &IndexMap<String, Json>) -> anyhow::Result<EventWriter> {
    let (kept, had_files) = kept_events(dir, step)?;
    let mut events = Vec::with_capacity(kept.len() + 2);
    if had_files {
        events.push(event(0, What::SessionLog(SessionLog { status: SESSION_START })));
    }
    events.push(hparams::session_start(run_id, hparams, now_secs()));
    events.extend(kept);
    let writer = EventWriter::create(dir, &events)?;
    file::remove_older(dir, writer.path())?;
    Ok(writer)
}

/// One run's TensorBoard events, open for the attempt in progress; every
/// method does nothing when the files are off.
pub struct RunBoard {
    writer: Option<EventWriter>,
    run_id: String,
}

impl RunBoard {
    /// No event files.
    pub fn off() -> Self {
        Self { writer: None, run_id: String::new() }
    }

    /// The run's board for an attempt starting at global step `step` (its
    /// checkpoint's), when `on` (the command line's switch) and the sweep's
    /// `tensorboard` key (in the store's plan) both allow it. The run's
    /// hyperparameters are its swept values in the plan. Nothing is touched
    /// when off.
    pub fn open(dir: &RunDir, step: usize, on: bool) -> Self {
        if !on {
            return Self::off();
        }
        let plan = match dir.store().map(|s| s.read_plan()).transpose() {
            Ok(p) => p.flatten(),
            Err(e) => {
                tracing::warn!(run = %dir.run_id(), "reading the plan for TensorBoard's hyperparameters: {e:#}");
                None
            }
        };
        if plan.as_ref().is_some_and(|p| !p.tensorboard) {
            return Self::off();
        }
        let hparams = plan.as_ref().and_then(|p| hparams::run_hparams(p, dir.run_id())).unwrap_or_default();
        match start(&dir.tb_dir(), dir.run_id(), step, &hparams) {
            Ok(writer) => Self { writer: Some(writer), run_id: dir.run_id().to_string() },
            Err(e) => {
                tracing::warn!(run = %dir.run_id(), "TensorBoard event files are off for this attempt: {e:#}");
                Self::off()
            }
        }
    }

    pub fn is_on(&self) -> bool {
        self.writer.is_some()
    }

    fn write(&mut self, e: &Event) {
        if let Some(w) = &mut self.writer {
            if let Err(err) = w.write(e) {
                tracing::warn!(run = %self.run_id, "writing {}: {err}; TensorBoard event files are off for this attempt", w.path().display());
                self.writer = None;
            }
        }
    }

    /// Scalars at `step`, by tag (buffered until [`RunBoard::flush`]).
    pub fn scalars(&mut self, step: usize, values: &[(&str, f64)]) {
        if self.is_on() {
            self.write(&scalars_event(step, values.iter().copied()));
        }
    }

    /// Scalars at `step`, tagged `prefix` + key (`eval/`, `final/`).
    pub fn prefixed(&mut self, step: usize, prefix: &str, values: &BTreeMap<String, f64>) {
        if self.is_on() {
            let tags: Vec<(String, f64)> = values.iter().map(|(k, v)| (format!("{prefix}{k}"), *v)).collect();
            self.write(&scalars_event(step, tags.iter().map(|(t, v)| (t.as_str(), *v))));
        }
    }

    /// The run's end at `step`: its session end (success or failure), flushed;
    /// the file is closed (later calls do nothing).
    pub fn end(&mut self, step: usize, success: bool) {
        if self.is_on() {
            self.write(&hparams::session_end(step as i64, success, now_secs()));
            self.flush();
            self.writer = None;
        }
    }

    /// Hand what is buffered to the file, for a live TensorBoard to see.
    pub fn flush(&mut self) {
        if let Some(w) = &mut self.writer {
            if let Err(err) = w.flush() {
                tracing::warn!(run = %self.run_id, "writing {}: {err}; TensorBoard event files are off for this attempt", w.path().display());
                self.writer = None;
            }
        }
    }
}
