//! The trainer: one run from its resolved config to a finished run directory.
//!
//! Data order comes from (seed, epoch), every random draw of a step from (seed,
//! step), the transforms and initialisation from the seed: a run resumed from any
//! checkpoint ends with the same weights as one never stopped, also when several
//! runs share a process ([`rng`]). Tested on the CPU; on a GPU, cuDNN's
//! non-deterministic kernels can add rounding differences.
pub mod adam;
pub mod autocast;
pub mod bench;
pub mod checkpoint;
pub mod device;
pub mod evaluate;
pub mod executor;
pub mod export;
pub mod predict;
pub mod rng;
pub mod step;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use crate::config::RunConfig;
use crate::data::{Dataset, DeviceData};
use crate::record::{EpochRecord, Summary};
use crate::sweep::schedule::{RunControl, RunFailure};
use crate::sweep::store::RunDir;
use crate::util::mix_seed;

use checkpoint::CheckpointMeta;
use step::{Engine, SALT_EVAL, SALT_ORDER};

/// Loss terms, in the order [`Engine::step`] stacks them.
const TERMS: [&str; 4] = ["loss", "l1", "l2", "l3"];
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
/// the summary into `dir`.
pub fn run(
    cfg: &RunConfig,
    dir: &RunDir,
    data: &LoadedData,
    device: Device,
    ctl: &RunControl,
) -> Result<(), RunFailure> {
    let started = Instant::now();
    let ds = &data.dataset;
    let n = ds.labels.len();
    let b = cfg.batch_size();
    if b > n {
        return Err(fail(format!("batch size {b} is larger than the dataset ({n} images): lower train.batch_size")));
    }
    let full_steps = n / b;
    let steps = cfg.train.steps_per_epoch.map_or(full_steps, |s| s.min(full_steps));
    let epochs = cfg.epochs();
    let total_steps = steps * epochs;
    let stored_channels = ds.images.size()[1];

    // A process killed after writing the summary but before the scheduler marked
    // the run done left a finished run: nothing is trained or rewritten again.
    if dir.read_summary().ok().flatten().is_some() {
        tracing::info!(run = %dir.run_id(), "already finished (summary.json present)");
        return Ok(());
    }
    let mut engine = Engine::new(cfg, stored_channels, device).map_err(|e| failed_ctx("building the model", e))?;
    let ckpt_dir = dir.checkpoint_dir();
    let mut meta = CheckpointMeta::default();
    if let Some(ck) = checkpoint::load(&ckpt_dir).map_err(|e| failed_ctx("loading the checkpoint", e))? {
        meta = ck.meta;
        engine
            .load_state(ck.tensors, meta.global_step as i64)
            .map_err(|e| failed_ctx(&format!("restoring {}", ckpt_dir.display()), e))?;
        tracing::info!(run = %dir.run_id(), epoch = meta.epoch, step = meta.step_in_epoch, "resuming from checkpoint");
    }
    // Anything logged after the checkpoint we resume from (or everything, when
    // there is none) belongs to steps that will be trained again.
    dir.rewind_metrics(meta.epoch).map_err(|e| failed_ctx("rewinding metrics.jsonl to the checkpoint", e))?;
    rewind_losses(&dir.path().join("losses.csv"), meta.global_step)
        .map_err(|e| failed_ctx("rewinding losses.csv", e))?;
    let eval_idx = eval_indices(cfg, n);
    let eval_labels: Vec<i64> = eval_idx.iter().map(|&i| ds.labels[i as usize]).collect();
    let mut losses_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("losses.csv"))
        .map_err(|e| fail(format!("opening {}: {e}", dir.path().join("losses.csv").display())))?;
    let time_before = meta.train_seconds;
    let mut last_eval: Option<evaluate::EvalOutput> = None;
    let mut last_train = BTreeMap::new();

    while meta.epoch < epochs {
        let epoch = meta.epoch; // 0-based epoch being trained
        let perm = permutation(cfg, epoch, n, device);
        let epoch_start = Instant::now();
        let mut pending: Vec<Tensor> = Vec::with_capacity(FLUSH_EVERY);
        let mut step_in_epoch = meta.step_in_epoch;
        let mut steps_this_attempt = 0usize;
        while step_in_epoch < steps {
            if ctl.stop_requested() {
                flush(&mut pending, &mut meta, &mut losses_log, ctl, epochs, steps)?;
                meta.step_in_epoch = step_in_epoch;
                meta.train_seconds = time_before + started.elapsed().as_secs_f64();
                checkpoint::save(&ckpt_dir, &mut meta, &engine.state_tensors())
                    .map_err(|e| failed_ctx("writing the checkpoint on stop", e))?;
                return Err(RunFailure::Interrupted);
            }
            let idx = perm.narrow(0, (step_in_epoch * b) as i64, b as i64);
            let batch = data.on_device.batch(&idx);
            let terms = engine.step(&batch, meta.global_step, total_steps, None);
            pending.push(terms);
            meta.global_step += 1;
            step_in_epoch += 1;
            steps_this_attempt += 1;
            meta.step_in_epoch = step_in_epoch;
            if pending.len() >= FLUSH_EVERY || step_in_epoch == steps {
                flush(&mut pending, &mut meta, &mut losses_log, ctl, epochs, steps)?;
            }
        }
        let secs = epoch_start.elapsed().as_secs_f64();
        let mut train: BTreeMap<String, f64> = TERMS
            .iter()
            .map(|t| (t.to_string(), meta.epoch_sums.get(*t).copied().unwrap_or(f64::NAN) / steps as f64))
            .collect();
        train.insert("seconds".into(), secs);
        train.insert("images_per_sec".into(), (steps_this_attempt * b) as f64 / secs.max(1e-9));
        train.insert("lr".into(), cfg.train.lr);
        train.insert("ema_tau".into(), engine.ema_tau(meta.global_step, total_steps));
        meta.epoch += 1;
        meta.step_in_epoch = 0;
        meta.epoch_sums.clear();
        let done_epochs = meta.epoch;
        let is_last = done_epochs == epochs;
        let eval_due = is_last || (cfg.eval.every > 0 && done_epochs % cfg.eval.every == 0);
        let mut eval = BTreeMap::new();
        if eval_due {
            let out = evaluate::evaluate(&engine, &data.on_device, &eval_idx, &eval_labels, done_epochs)
                .map_err(|e| failed_ctx(&format!("evaluating after epoch {done_epochs}"), e))?;
            eval = out.metrics.clone();
            last_eval = Some(out);
        }
        dir.append_metrics(&EpochRecord { epoch: done_epochs, step: meta.global_step, train: train.clone(), eval })
            .map_err(|e| failed_ctx("appending metrics", e))?;
        last_train = train;
        // The epoch counter in status.json is ours; the scheduler owns state and reason.
        if let Ok(mut st) = dir.status() {
            st.epoch = done_epochs;
            let _ = dir.set_status(&st);
        }
        meta.train_seconds = time_before + started.elapsed().as_secs_f64();
        if is_last || done_epochs % cfg.train.checkpoint_every == 0 {
            checkpoint::save(&ckpt_dir, &mut meta, &engine.state_tensors())
                .map_err(|e| failed_ctx("writing the checkpoint", e))?;
        }
    }

    // A resumed run whose last epoch finished before the kill has no evaluation in
    // memory: evaluate the final weights now.
    let out = match last_eval {
        Some(o) => o,
        None => evaluate::evaluate(&engine, &data.on_device, &eval_idx, &eval_labels, epochs)
            .map_err(|e| failed_ctx("final evaluation", e))?,
    };
    if last_train.is_empty() {
        last_train = dir.read_metrics().ok().and_then(|m| m.last().map(|r| r.train.clone())).unwrap_or_default();
    }
    finish(cfg, dir, ds, &engine, &out, last_train, meta.global_step, meta.train_seconds, device)
        .map_err(|e| failed_ctx("writing the run's results", e))
}

/// Keeps the rows of `losses.csv` (step,L,L1,L2,L3) up to `step`.
fn rewind_losses(path: &std::path::Path, step: usize) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: String = text
        .lines()
        .filter(|l| l.split(',').next().and_then(|s| s.parse::<usize>().ok()).is_some_and(|s| s <= step))
        .map(|l| format!("{l}\n"))
        .collect();
    if kept.len() != text.len() {
        crate::util::write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
}

/// Reads the pending loss terms to the host (one sync per FLUSH_EVERY steps),
/// checks them, logs them and reports progress.
fn flush(
    pending: &mut Vec<Tensor>,
    meta: &mut CheckpointMeta,
    log: &mut std::fs::File,
    ctl: &RunControl,
    epochs: usize,
    steps: usize,
) -> Result<(), RunFailure> {
    if pending.is_empty() {
        return Ok(());
    }
    let rows = Tensor::stack(pending, 0).to_kind(Kind::Double).to_device(Device::Cpu);
    let k = pending.len();
    let vals = Vec::<f64>::try_from(rows.contiguous().view(-1)).expect("loss terms to Vec");
    pending.clear();
    let first_step = meta.global_step - k;
    for (r, row) in vals.chunks(TERMS.len()).enumerate() {
        let step = first_step + r + 1;
        if row.iter().any(|v| !v.is_finite()) {
            return Err(fail(format!(
                "the loss became non-finite at step {step} (epoch {}): L = {}, L1 = {}, L2 = {}, L3 = {}; lower train.lr or check the data",
                meta.epoch + 1,
                row[0],
                row[1],
                row[2],
                row[3]
            )));
        }
        let _ = writeln!(log, "{step},{},{},{},{}", row[0], row[1], row[2], row[3]);
        for (t, v) in TERMS.iter().zip(row) {
            *meta.epoch_sums.entry(t.to_string()).or_insert(0.0) += v;
        }
    }
    let last = &vals[vals.len() - TERMS.len()..];
    ctl.progress(meta.epoch + 1, epochs, meta.step_in_epoch, steps, last[0]);
    Ok(())
}

/// Collapse (method.md §3): L2 stuck at ln K, or one cluster taking nearly everything.
fn collapse_warnings(cfg: &RunConfig, train: &BTreeMap<String, f64>, metrics: &BTreeMap<String, f64>) -> Vec<String> {
    let mut w = Vec::new();
    let ln_k = (cfg.clusters() as f64).ln();
    if cfg.loss.beta > 0.0 {
        if let Some(l2) = train.get("l2") {
            if (l2 - ln_k).abs() < 0.02 * ln_k {
                w.push(format!("collapsed: L2 = {l2:.4} is stuck at ln K = {ln_k:.4} (uniform assignments)"));
            }
        }
    }
    if let Some(f) = metrics.get("largest_cluster_frac") {
        let k = cfg.clusters() as f64;
        // Balanced data puts 1/K in each cluster; past 90% one cluster has taken nearly everything.
        if *f > 0.9 && k > 1.0 {
            w.push(format!("collapsed: one cluster holds {:.1}% of the images", f * 100.0));
        }
    }
    w
}

#[allow(clippy::too_many_arguments)]
fn finish(
    cfg: &RunConfig,
    dir: &RunDir,
    ds: &Dataset,
    engine: &Engine,
    out: &evaluate::EvalOutput,
    train: BTreeMap<String, f64>,
    steps: usize,
    train_seconds: f64,
    device: Device,
) -> anyhow::Result<()> {
    write_assignments(dir, ds, out)?;
    if cfg.eval.tsne {
        write_tsne(cfg, dir, ds, out)?;
    }
    // The final weights for other tools (and `sweep predict`'s channel rule).
    export::write(dir.path(), dir.run_id(), engine, ds.channels())?;
    let warnings = collapse_warnings(cfg, &train, &out.metrics);
    for w in &warnings {
        tracing::warn!(run = %dir.run_id(), "{w}");
    }
    let summary = Summary {
        run_id: dir.run_id().to_string(),
        epochs: cfg.epochs(),
        steps,
        metrics: out.metrics.clone(),
        train,
        collapsed: !warnings.is_empty(),
        warnings,
        train_seconds,
        device: format!("{device:?}").to_lowercase(),
    };
    dir.write_summary(&summary)
}

/// `assignments.csv`: one row per evaluated image (columns: [`evaluate::Assignments::write_csv`]).
fn write_assignments(dir: &RunDir, ds: &Dataset, out: &evaluate::EvalOutput) -> anyhow::Result<()> {
    out.assignments.write_csv(&dir.assignments_path(), ds.paths.as_deref(), Some(&ds.labels))
}

/// Figure 2: t-SNE of a seeded sample of the cluster embeddings, coloured by class.
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
    let fig = dir.path().join("figures");
    std::fs::create_dir_all(&fig).with_context(|| format!("creating {}", fig.display()))?;
    let mut csv = String::from("x,y,label\n");
    for (p, l) in pts.iter().zip(&labels) {
        csv.push_str(&format!("{},{},{}\n", p[0], p[1], l));
    }
    crate::util::write_atomic(&fig.join("tsne.csv"), csv.as_bytes())?;
    crate::report::figures::scatter_plot(
        &pts,
        &labels,
        &format!("t-SNE of cluster embeddings, run {}", dir.run_id()),
        &fig.join("tsne.png"),
        &fig.join("tsne.svg"),
    )
}
