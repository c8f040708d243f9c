//! The trainer: one run from its resolved config to a finished run directory.
//!
//! Data order comes from (seed, epoch), every random draw of a step from (seed,
//! step), the transforms and initialisation from the seed: a run resumed from any
//! checkpoint ends with the same weights as one never stopped, also when several
//! runs share a process ([`rng`]). Tested on the CPU; on a GPU, cuDNN's
//! non-deterministic kernels can add rounding differences.
pub mod checkpoint;
pub mod evaluate;
pub mod executor;
pub mod model_files;
pub mod optim;
pub mod predict;
pub mod restarts;
pub mod selflabel;
pub mod step;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use crate::config::RunConfig;
use crate::data::{Dataset, DeviceData};
use crate::record::{EpochRecord, Summary, BEFORE_FINETUNE};
use crate::schedule::{RunControl, RunFailure};
use crate::store::{LossLog, RunDir};
use crate::tensorboard::{self as tb, RunBoard};
use crate::util::mix_seed;

use checkpoint::CheckpointMeta;
use step::{Learner, SALT_EVAL, SALT_ORDER};

/// Values an optimisation step returns, stacked as a 4-vector on the device
/// (one read per flush): [L, L1, L2, L3] from [`Learner::step`], [CE,
/// confident share, 0, 0] from [`Learner::self_label_step`].
const STEP_VALUES: usize = 4;

/// One step's logged values by name: where the learner's positions become the
/// terms of training (method.md §3) or of the self-labelling stage (§11).
#[derive(Debug, Clone, Copy)]
enum StepTerms {
    Training { loss: f64, l1: f64, l2: f64, l3: f64 },
    SelfLabelling { loss: f64, confident: f64 },
}

impl StepTerms {
    fn from_row(self_labelling: bool, row: &[f64]) -> Self {
        if self_labelling {
            StepTerms::SelfLabelling { loss: row[0], confident: row[1] }
        } else {
            StepTerms::Training { loss: row[0], l1: row[1], l2: row[2], l3: row[3] }
        }
    }

    /// The terms by their names in metrics.jsonl ([`crate::record::LOSS_TERMS`],
    /// [`crate::record::SELF_LABEL_TERMS`]).
    fn named(&self) -> Vec<(&'static str, f64)> {
        use crate::record::{LOSS_TERMS as T, SELF_LABEL_TERMS as S};
        match *self {
            StepTerms::Training { loss, l1, l2, l3 } => vec![(T[0], loss), (T[1], l1), (T[2], l2), (T[3], l3)],
            StepTerms::SelfLabelling { loss, confident } => vec![(S[0], loss), (S[1], confident)],
        }
    }

    /// losses.csv's columns after `step` (docs/run-folder.md): L, L1, L2, L3;
    /// for the stage CE, confident share, 0, 0.
    fn csv_row(&self) -> [f64; 4] {
        match *self {
            StepTerms::Training { loss, l1, l2, l3 } => [loss, l1, l2, l3],
            StepTerms::SelfLabelling { loss, confident } => [loss, confident, 0.0, 0.0],
        }
    }
}
/// The checkpoint counters' key for the seconds an epoch trained before a
/// stop (the epoch's record adds them to the resumed part's).
const SECONDS_BEFORE_STOP: &str = "seconds_before_stop";
/// Steps between host reads of the loss (finiteness check, progress, log).
const FLUSH_EVERY: usize = 10;

/// A dataset loaded once per process and its copy on one device.
pub struct LoadedData {
    pub dataset: Arc<Dataset>,
    pub on_device: DeviceData,
}

fn fail(reason: impl Into<String>) -> RunFailure {
    RunFailure::Failed { reason: reason.into() }
}

fn failed_ctx(what: &str, e: anyhow::Error) -> RunFailure {
    fail(format!("{what}: {e:#}"))
}

/// Images evaluated: all, or a seeded subset of `eval.max_samples`.
fn eval_indices(cfg: &RunConfig, n: usize) -> Vec<i64> {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    if let Some(max) = cfg.eval.max_samples {
        if max < n {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(cfg.seed, SALT_EVAL));
            idx.shuffle(&mut rng);
            idx.truncate(max);
            idx.sort_unstable();
        }
    }
    idx
}

/// The data order of one epoch.
fn permutation(cfg: &RunConfig, epoch: usize, n: usize, device: Device) -> Tensor {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(cfg.seed, SALT_ORDER ^ ((epoch as u64) << 8)));
    idx.shuffle(&mut rng);
    Tensor::from_slice(&idx).to_device(device)
}

/// Trains (or resumes) one run to completion, writing metrics, checkpoints and
/// the summary into `dir`. The phases, top to bottom: resume from the newest
/// checkpoint, then per epoch train and close it (record, evaluate when due,
/// checkpoint), then finish (final evaluation if none is in memory, the run's
/// results). A stop request checkpoints mid-epoch and returns `Interrupted`.
/// With the default [`RunOptions`].
pub fn run(
    cfg: &RunConfig,
    dir: &RunDir,
    data: &LoadedData,
    device: Device,
    ctl: &RunControl,
) -> Result<(), RunFailure> {
    run_with(cfg, dir, data, device, ctl, RunOptions::default())
}

/// What a process asks of the runs it trains beyond their config: set per
/// process (the command line), never part of a run's config or id.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// TensorBoard event files in the run's `tb/` ([`crate::tensorboard`]);
    /// the sweep file's `tensorboard = false` turns them off as well.
    pub tensorboard: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { tensorboard: true }
    }
}

/// [`run`] with `opts`.
pub fn run_with(
    cfg: &RunConfig,
    dir: &RunDir,
    data: &LoadedData,
    device: Device,
    ctl: &RunControl,
    opts: RunOptions,
) -> Result<(), RunFailure> {
    // A process killed after writing the summary but before the scheduler marked
    // the run done left a finished run: nothing is trained or rewritten again.
    if dir.read_summary().ok().flatten().is_some() {
        tracing::info!(run = %dir.run_id(), "already finished (summary.json present)");
        return Ok(());
    }
    if cfg.train.restarts > 1 {
        restarts::choose_start(cfg, dir, data, device, ctl)?;
    }
    let mut trainer = Trainer::resume(cfg, dir, data, device, opts)?;
    let result = trainer.train_to_end(ctl);
    match &result {
        Err(RunFailure::Failed { .. }) => trainer.board.end(trainer.meta.global_step, false),
        _ => trainer.board.flush(),
    }
    result
}

/// The length of a run in steps: fixed by the config and the dataset size.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// Images in the training set.
    n: usize,
    batch: usize,
    steps_per_epoch: usize,
    /// All epochs: training, then the self-labelling stage's.
    epochs: usize,
    /// Epochs of training proper; the stage's epochs come after these.
    train_epochs: usize,
}

impl Schedule {
    fn of(cfg: &RunConfig, n: usize) -> Result<Self, RunFailure> {
        let batch = cfg.train.batch_size;
        if batch > n {
            return Err(fail(format!(
                "batch size {batch} is larger than the dataset ({n} images): lower train.batch_size"
            )));
        }
        let full = n / batch;
        let steps_per_epoch = cfg.train.steps_per_epoch.map_or(full, |s| s.min(full));
        Ok(Self { n, batch, steps_per_epoch, epochs: cfg.total_epochs(), train_epochs: cfg.train.epochs })
    }

    /// Steps of training proper (the EMA schedule's length).
    fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.train_epochs
    }

    /// Is the 0-based `epoch` one of the self-labelling stage?
    fn is_self_labelling(&self, epoch: usize) -> bool {
        epoch >= self.train_epochs
    }
}

/// What one epoch's training pass measured, for its record.
struct EpochPass {
    seconds: f64,
    /// Steps trained by this process (fewer than an epoch when it resumed mid-epoch).
    steps_trained: usize,
}

/// One run in progress: the model and optimiser, the position (the checkpoint
/// counters), and the run folder it writes to.
struct Trainer<'a> {
    cfg: &'a RunConfig,
    dir: &'a RunDir,
    data: &'a LoadedData,
    device: Device,
    schedule: Schedule,
    learner: Learner,
    meta: CheckpointMeta,
    losses: LossLog,
    board: RunBoard,
    eval_idx: Vec<i64>,
    eval_labels: Vec<i64>,
    /// Process start and the training seconds of earlier attempts.
    started: Instant,
    seconds_before: f64,
    last_eval: Option<evaluate::EvalOutput>,
    last_train: BTreeMap<String, f64>,
}

impl<'a> Trainer<'a> {
    /// Builds the model and restores the newest checkpoint, if any; the logs are
    /// cut back to it, since anything after it will be trained again.
    fn resume(
        cfg: &'a RunConfig,
        dir: &'a RunDir,
        data: &'a LoadedData,
        device: Device,
        opts: RunOptions,
    ) -> Result<Self, RunFailure> {
        let ds = &data.dataset;
        let schedule = Schedule::of(cfg, ds.labels.len())?;
        let mut learner =
            Learner::new(cfg, ds.images.size()[1], device).map_err(|e| failed_ctx("building the model", e))?;
        let ckpt_dir = dir.checkpoint_dir();
        let mut meta = CheckpointMeta::default();
        if let Some(ck) = checkpoint::load(&ckpt_dir).map_err(|e| failed_ctx("loading the checkpoint", e))? {
            meta = ck.meta;
            learner
                .load_state(ck.tensors, meta.global_step as i64)
                .map_err(|e| failed_ctx(&format!("restoring {}", ckpt_dir.display()), e))?;
            tracing::info!(run = %dir.run_id(), epoch = meta.epoch, step = meta.step_in_epoch, "resuming from checkpoint");
        }
        dir.rewind_metrics(meta.epoch).map_err(|e| failed_ctx("rewinding metrics.jsonl to the checkpoint", e))?;
        dir.rewind_losses(meta.global_step).map_err(|e| failed_ctx("rewinding losses.csv", e))?;
        let losses = dir.losses_log().map_err(|e| failed_ctx("opening losses.csv", e))?;
        let board = RunBoard::open(dir, meta.global_step, opts.tensorboard);
        let eval_idx = eval_indices(cfg, schedule.n);
        let eval_labels = eval_idx.iter().map(|&i| ds.labels[i as usize]).collect();
        Ok(Self {
            cfg,
            dir,
            data,
            device,
            schedule,
            learner,
            seconds_before: meta.train_seconds,
            meta,
            losses,
            board,
            eval_idx,
            eval_labels,
            started: Instant::now(),
            last_eval: None,
            last_train: BTreeMap::new(),
        })
    }

    fn done(&self) -> bool {
        self.meta.epoch >= self.schedule.epochs
    }

    fn train_seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }

    fn save_checkpoint(&mut self, what: &str) -> Result<(), RunFailure> {
        self.board.flush();
        self.meta.train_seconds = self.train_seconds();
        checkpoint::save(&self.dir.checkpoint_dir(), &mut self.meta, &self.learner.state_tensors())
            .map_err(|e| failed_ctx(what, e))
    }

    /// Trains the rest of the current epoch, from its step in the checkpoint
    /// counters; the loss terms are read to the host every [`FLUSH_EVERY`] steps.
    fn train_epoch(&mut self, ctl: &RunControl) -> Result<EpochPass, RunFailure> {
        let Schedule { n, batch, steps_per_epoch: steps, .. } = self.schedule;
        let self_labelling = self.schedule.is_self_labelling(self.meta.epoch);
        let perm = permutation(self.cfg, self.meta.epoch, n, self.device);
        let start = Instant::now();
        let mut pending: Vec<Tensor> = Vec::with_capacity(FLUSH_EVERY);
        let mut steps_trained = 0usize;
        while self.meta.step_in_epoch < steps {
            if ctl.stop_requested() {
                self.flush_pending(&mut pending, ctl, self_labelling)?;
                // The epoch's seconds so far, so that its record counts them once resumed.
                *self.meta.epoch_sums.entry(SECONDS_BEFORE_STOP.into()).or_insert(0.0) += start.elapsed().as_secs_f64();
                self.save_checkpoint("writing the checkpoint on stop")?;
                return Err(RunFailure::Interrupted);
            }
            let idx = perm.narrow(0, (self.meta.step_in_epoch * batch) as i64, batch as i64);
            let images = self.data.on_device.batch(&idx);
            let terms = if self_labelling {
                self.learner.self_label_step(&images, self.meta.global_step)
            } else {
                self.learner.step(&images, self.meta.global_step, self.schedule.total_steps(), None)
            };
            pending.push(terms);
            self.meta.global_step += 1;
            self.meta.step_in_epoch += 1;
            steps_trained += 1;
            if pending.len() >= FLUSH_EVERY || self.meta.step_in_epoch == steps {
                self.flush_pending(&mut pending, ctl, self_labelling)?;
            }
        }
        Ok(EpochPass { seconds: start.elapsed().as_secs_f64(), steps_trained })
    }

    /// [`flush`]es the pending loss terms, each step's also into TensorBoard:
    /// the terms by name, the learning rate and (in training proper) the EMA
    /// rate of the step's target update.
    fn flush_pending(
        &mut self,
        pending: &mut Vec<Tensor>,
        ctl: &RunControl,
        self_labelling: bool,
    ) -> Result<(), RunFailure> {
        let Schedule { steps_per_epoch: steps, epochs, .. } = self.schedule;
        let total = self.schedule.total_steps();
        let (cfg, learner, board) = (self.cfg, &self.learner, &mut self.board);
        let mut to_board = |step: usize, terms: StepTerms| match terms {
            StepTerms::SelfLabelling { loss, confident } => {
                let values = [
                    (tb::SELFLABEL_LOSS, loss),
                    (tb::SELFLABEL_CONFIDENT, confident),
                    (tb::SELFLABEL_LR, cfg.self_labelling.lr),
                ];
                board.scalars(step, &values);
            }
            StepTerms::Training { loss, l1, l2, l3 } => {
                let [tl, t1, t2, t3] = tb::loss_tags(cfg.loss.representation);
                // Step `step` (counted from 1) ran at global step `step - 1`.
                let (lr, tau) = (learner.lr_at(step - 1, total), learner.ema_tau(step - 1, total));
                let values = [(tl, loss), (t1, l1), (t2, l2), (t3, l3), (tb::LR, lr), (tb::EMA_TAU, tau)];
                board.scalars(step, &values);
            }
        };
        let phase = Phase { self_labelling, epochs, steps };
        flush(pending, &mut self.meta, &mut self.losses, ctl, phase, &mut to_board)?;
        self.board.flush();
        Ok(())
    }

    /// Ends training after the first `epochs` epochs (a restart candidate's,
    /// [`restarts`]), the schedules still the whole run's.
    fn stop_after(&mut self, epochs: usize) {
        self.schedule.epochs = epochs.min(self.schedule.epochs);
    }

    /// Every epoch until the stop of [`Trainer::stop_after`], the last
    /// evaluated and checkpointed; no results are written.
    fn train_to_stop(&mut self, ctl: &RunControl) -> Result<(), RunFailure> {
        while !self.done() {
            let epoch = self.train_epoch(ctl)?;
            self.close_epoch(epoch)?;
        }
        Ok(())
    }

    /// Every epoch until the last, then the run's results.
    fn train_to_end(&mut self, ctl: &RunControl) -> Result<(), RunFailure> {
        while !self.done() {
            let epoch = self.train_epoch(ctl)?;
            self.close_epoch(epoch)?;
            ctl.epoch_closed(self.meta.epoch);
        }
        self.finish()
    }

    /// Ends an epoch: its record in metrics.jsonl (with an evaluation when one is
    /// due: every `eval.every` epochs, after the last, and before a
    /// self-labelling stage), and a checkpoint every
    /// `train.checkpoint_every` epochs.
    fn close_epoch(&mut self, pass: EpochPass) -> Result<(), RunFailure> {
        let train = self.epoch_means(&pass);
        self.meta.epoch += 1;
        self.meta.step_in_epoch = 0;
        self.meta.epoch_sums.clear();
        let done_epochs = self.meta.epoch;
        let is_last = self.done();
        let every = self.cfg.eval.every;
        let mut eval = BTreeMap::new();
        let before_stage =
            self.schedule.epochs > self.schedule.train_epochs && done_epochs == self.schedule.train_epochs;
        if is_last || before_stage || (every > 0 && done_epochs % every == 0) {
            let out = self
                .evaluate(done_epochs)
                .map_err(|e| failed_ctx(&format!("evaluating after epoch {done_epochs}"), e))?;
            eval = out.metrics.clone();
            self.board.prefixed(self.meta.global_step, tb::EVAL_PREFIX, &out.metrics);
            self.board.flush();
            self.last_eval = Some(out);
        }
        let record = EpochRecord { epoch: done_epochs, step: self.meta.global_step, train: train.clone(), eval };
        self.dir.append_metrics(&record).map_err(|e| failed_ctx("appending metrics", e))?;
        self.last_train = train;
        self.meta.train_seconds = self.train_seconds();
        if is_last || done_epochs % self.cfg.train.checkpoint_every == 0 {
            self.save_checkpoint("writing the checkpoint")?;
        }
        Ok(())
    }

    /// The epoch's mean loss terms and its speed, learning rate and EMA rate.
    /// A self-labelling epoch records `loss` (its cross-entropy), `confident`
    /// (the pseudo-labelled share of the images) and `self_labelling` = 1.
    fn epoch_means(&self, pass: &EpochPass) -> BTreeMap<String, f64> {
        let steps = self.schedule.steps_per_epoch as f64;
        let sums = &self.meta.epoch_sums;
        let mean = |t: &str| sums.get(t).copied().unwrap_or(f64::NAN) / steps;
        let mut train = BTreeMap::new();
        if self.schedule.is_self_labelling(self.meta.epoch) {
            train.extend(crate::record::SELF_LABEL_TERMS.iter().map(|t| (t.to_string(), mean(t))));
            train.insert("self_labelling".into(), 1.0);
            train.insert("lr".into(), self.cfg.self_labelling.lr);
        } else {
            train.extend(crate::record::LOSS_TERMS.iter().map(|t| (t.to_string(), mean(t))));
            // The rate of the epoch's last step (the schedule's, method.md §12).
            let last = self.meta.global_step.saturating_sub(1);
            train.insert("lr".into(), self.learner.lr_at(last, self.schedule.total_steps()));
            train.insert("ema_tau".into(), self.learner.ema_tau(self.meta.global_step, self.schedule.total_steps()));
        }
        // The whole epoch's training time, the part before a stop included.
        train.insert("seconds".into(), pass.seconds + sums.get(SECONDS_BEFORE_STOP).copied().unwrap_or(0.0));
        let images = (pass.steps_trained * self.schedule.batch) as f64;
        train.insert("images_per_sec".into(), images / pass.seconds.max(1e-9));
        train
    }

    fn evaluate(&self, epoch: usize) -> anyhow::Result<evaluate::EvalOutput> {
        evaluate::evaluate(&self.learner, &self.data.on_device, &self.eval_idx, &self.eval_labels, epoch)
    }

    /// The run's results: a resumed run whose last epoch finished before the
    /// kill has no evaluation in memory, so the final weights are evaluated now.
    fn finish(&mut self) -> Result<(), RunFailure> {
        let out = match self.last_eval.take() {
            Some(o) => o,
            None => self.evaluate(self.schedule.epochs).map_err(|e| failed_ctx("final evaluation", e))?,
        };
        let mut train = std::mem::take(&mut self.last_train);
        let records = self.dir.read_metrics().unwrap_or_default();
        if train.is_empty() {
            train = records.last().map(|r| r.train.clone()).unwrap_or_default();
        }
        // With a self-labelling stage: the scores at its start, and the last
        // training epoch's losses for the collapse check (the stage has no L2).
        let stage_start = records.iter().find(|r| r.epoch == self.schedule.train_epochs);
        let before_stage = match stage_start {
            Some(r) if self.schedule.epochs > self.schedule.train_epochs => Some(r.clone()),
            _ => None,
        };
        let results = RunResults {
            out: &out,
            train,
            before_stage,
            steps: self.meta.global_step,
            train_seconds: self.meta.train_seconds,
        };
        let board = &mut self.board;
        write_results(self.cfg, self.dir, &self.data.dataset, &self.learner, results, self.device, board)
            .map_err(|e| failed_ctx("writing the run's results", e))
    }
}

/// What [`flush`] needs of the epoch it flushes: its phase (every step of
/// an epoch is of one), the run's epochs and the epoch's steps.
struct Phase {
    self_labelling: bool,
    epochs: usize,
    steps: usize,
}

/// Reads the pending step values to the host (one sync per FLUSH_EVERY
/// steps), names them ([`StepTerms`]), checks them, logs them (losses.csv, and
/// `on_row` for each step), adds them to the epoch's sums and reports progress.
fn flush(
    pending: &mut Vec<Tensor>,
    meta: &mut CheckpointMeta,
    log: &mut LossLog,
    ctl: &RunControl,
    phase: Phase,
    on_row: &mut dyn FnMut(usize, StepTerms),
) -> Result<(), RunFailure> {
    if pending.is_empty() {
        return Ok(());
    }
    let rows = Tensor::stack(pending, 0).to_kind(Kind::Double).to_device(Device::Cpu);
    let k = pending.len();
    let vals = Vec::<f64>::try_from(rows.contiguous().view(-1)).expect("step values to Vec");
    pending.clear();
    let first_step = meta.global_step - k;
    let mut last = f64::NAN;
    for (r, row) in vals.chunks(STEP_VALUES).enumerate() {
        let step = first_step + r + 1;
        let terms = StepTerms::from_row(phase.self_labelling, row);
        let named = terms.named();
        if named.iter().any(|(_, v)| !v.is_finite()) {
            let shown: Vec<String> = named.iter().map(|(n, v)| format!("{n} = {v}")).collect();
            return Err(fail(format!(
                "the loss became non-finite at step {step} (epoch {}): {}; lower train.lr or check the data",
                meta.epoch + 1,
                shown.join(", ")
            )));
        }
        log.append(step, &terms.csv_row());
        on_row(step, terms);
        for (t, v) in named {
            *meta.epoch_sums.entry(t.to_string()).or_insert(0.0) += v;
        }
        last = row[0];
    }
    ctl.progress(meta.epoch + 1, phase.epochs, meta.step_in_epoch, phase.steps, last);
    Ok(())
}

/// Collapse (method.md §3): L2 stuck at ln K, or one cluster taking nearly everything.
fn collapse_warnings(cfg: &RunConfig, train: &BTreeMap<String, f64>, metrics: &BTreeMap<String, f64>) -> Vec<String> {
    let mut w = Vec::new();
    let ln_k = (cfg.data.clusters as f64).ln();
    if cfg.loss.beta > 0.0 {
        if let Some(l2) = train.get("l2") {
            if (l2 - ln_k).abs() < 0.02 * ln_k {
                w.push(format!("collapsed: L2 = {l2:.4} is stuck at ln K = {ln_k:.4} (uniform assignments)"));
            }
        }
    }
    if let Some(f) = metrics.get("largest_cluster_frac") {
        let k = cfg.data.clusters as f64;
        // Balanced data puts 1/K in each cluster; past 90% one cluster has taken nearly everything.
        if *f > 0.9 && k > 1.0 {
            w.push(format!("collapsed: one cluster holds {:.1}% of the images", f * 100.0));
        }
    }
    w
}

/// The final evaluation and the counters that go into summary.json.
struct RunResults<'e> {
    out: &'e evaluate::EvalOutput,
    train: BTreeMap<String, f64>,
    /// The record of the last training epoch, when a self-labelling stage followed.
    before_stage: Option<EpochRecord>,
    steps: usize,
    train_seconds: f64,
}

/// Writes what a finished run leaves: assignments.csv, the t-SNE figure, the
/// export, and summary.json last (its presence marks the run finished).
fn write_results(
    cfg: &RunConfig,
    dir: &RunDir,
    ds: &Dataset,
    learner: &Learner,
    results: RunResults<'_>,
    device: Device,
    board: &mut RunBoard,
) -> anyhow::Result<()> {
    let out = results.out;
    write_assignments(dir, ds, out)?;
    if cfg.eval.tsne {
        write_tsne(cfg, dir, ds, out)?;
    }
    // The final weights for other tools (and `sweep predict`'s channel rule).
    model_files::write(dir.path(), dir.run_id(), learner, ds.channels())?;
    let train_losses = results.before_stage.as_ref().map_or(&results.train, |r| &r.train);
    let warnings = collapse_warnings(cfg, train_losses, &out.metrics);
    let mut metrics = out.metrics.clone();
    if let Some(r) = &results.before_stage {
        // The scores before the stage, beside the final ones (method.md §11).
        metrics.extend(r.eval.iter().map(|(k, v)| (format!("{BEFORE_FINETUNE}{k}"), *v)));
    }
    for w in &warnings {
        tracing::warn!(run = %dir.run_id(), "{w}");
    }
    let summary = Summary {
        run_id: dir.run_id().to_string(),
        epochs: cfg.total_epochs(),
        steps: results.steps,
        metrics,
        train: results.train,
        collapsed: !warnings.is_empty(),
        warnings,
        train_seconds: results.train_seconds,
        device: format!("{device:?}").to_lowercase(),
    };
    // TensorBoard's last points before the summary marks the run finished:
    // the scores as the HParams experiment's metric columns, and the end.
    board.prefixed(results.steps, tb::FINAL_PREFIX, &summary.metrics);
    board.end(results.steps, true);
    dir.write_summary(&summary)
}

/// `assignments.csv`: one row per evaluated image (columns: [`evaluate::Assignments::write_csv`]).
fn write_assignments(dir: &RunDir, ds: &Dataset, out: &evaluate::EvalOutput) -> anyhow::Result<()> {
    out.assignments.write_csv(&dir.assignments_path(), ds.paths.as_deref(), Some(&ds.labels))
}

/// Figure 2's points: t-SNE of a seeded sample of the cluster embeddings, with
/// their class (`figures/tsne.csv`).
fn write_tsne(cfg: &RunConfig, dir: &RunDir, ds: &Dataset, out: &evaluate::EvalOutput) -> anyhow::Result<()> {
    let n = out.assignments.indices.len();
    let take = cfg.eval.tsne_samples.min(n);
    if take < 10 {
        return Ok(());
    }
    let mut rows: Vec<usize> = (0..n).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(cfg.seed, SALT_EVAL ^ 0x75e));
    rows.shuffle(&mut rng);
    rows.truncate(take);
    rows.sort_unstable();
    let sel = Tensor::from_slice(&rows.iter().map(|&r| r as i64).collect::<Vec<_>>());
    let z = out.z.index_select(0, &sel).to_kind(Kind::Float).contiguous();
    let d = z.size()[1] as usize;
    let flat = Vec::<f32>::try_from(z.view(-1)).context("cluster embeddings to host")?;
    let rows_f: Vec<Vec<f32>> = flat.chunks(d).map(<[f32]>::to_vec).collect();
    let pts = crate::eval::tsne::tsne(&rows_f, 30.0, 1000, mix_seed(cfg.seed, SALT_EVAL ^ 0x75f))?;
    let labels: Vec<i64> = rows.iter().map(|&r| ds.labels[out.assignments.indices[r] as usize]).collect();
    // The points only: the report draws the figure from them.
    dir.write_tsne_csv(&pts, &labels)
}
