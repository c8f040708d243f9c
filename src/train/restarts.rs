//! The label-free choice among restarts (`train.restarts`, method.md §13).
//!
//! Phases, each resumable: every candidate (the run's seed, then seeds derived
//! from it) trains the run's first `train.restart_epochs` epochs in its own
//! folder under the run's (`candidates/<c>/`, through the store) with the
//! run's whole schedule; the candidate whose last epoch has the lowest mean
//! soft-clustering loss L2 is chosen and the choice recorded (`restarts.json`);
//! the chosen candidate's checkpoint, metrics and losses become the run's
//! start, with the other candidates' training seconds added to the run's;
//! the candidates' folders go. Labels are read only into the record, for
//! reports: the choice never sees them.
use crate::config::RunConfig;
use crate::record::{RestartCandidate, Restarts};
use crate::schedule::{RunControl, RunFailure};
use crate::store::RunDir;
use crate::util::mix_seed;

use super::{checkpoint, fail, failed_ctx, LoadedData, RunOptions, Trainer};

/// Salt of the candidates' seeds.
const SALT_RESTART: u64 = 0x7265_7374_6172_7473;

/// The metric the choice reads, as `restarts.json` names it.
const METRIC: &str = "l2";

/// The seed of candidate `c`: the run's own for 0 (so that a run whose first
/// candidate wins trains exactly as without restarts), a derived one below
/// 2^31 (a TOML integer) for the others.
pub fn candidate_seed(seed: u64, c: usize) -> u64 {
    if c == 0 {
        seed
    } else {
        mix_seed(seed, SALT_RESTART ^ c as u64) & 0x7fff_ffff
    }
}

/// Candidate `c`'s config: the run's with the candidate's seed and no restarts.
pub fn candidate_config(cfg: &RunConfig, c: usize) -> RunConfig {
    let mut cand = cfg.clone();
    cand.seed = candidate_seed(cfg.seed, c);
    cand.train.restarts = 1;
    cand.train.restart_epochs = 0;
    cand
}

/// Brings a run with restarts to its start: the candidates trained and chosen
/// from (unless `restarts.json` says that is done), and the chosen one
/// installed (unless its folder is gone, which means it was).
pub(super) fn choose_start(
    cfg: &RunConfig,
    dir: &RunDir,
    data: &LoadedData,
    device: tch::Device,
    ctl: &RunControl,
) -> Result<(), RunFailure> {
    let record = match dir.read_restarts().map_err(|e| failed_ctx("reading restarts.json", e))? {
        Some(record) => record,
        None => {
            let candidates = (0..cfg.train.restarts)
                .map(|c| probe(cfg, dir, c, data, device, ctl))
                .collect::<Result<Vec<_>, _>>()?;
            let record = choose(cfg, candidates);
            dir.write_restarts(&record).map_err(|e| failed_ctx("writing restarts.json", e))?;
            record
        }
    };
    if dir.has_candidates() {
        install(cfg, dir, &record).map_err(|e| failed_ctx("installing the chosen restart candidate", e))?;
        dir.remove_candidates().map_err(|e| failed_ctx("removing the restart candidates", e))?;
    }
    Ok(())
}

/// Trains candidate `c` to the choice (or finds it there) and reads what the
/// choice and the record need from its metrics.
fn probe(
    cfg: &RunConfig,
    dir: &RunDir,
    c: usize,
    data: &LoadedData,
    device: tch::Device,
    ctl: &RunControl,
) -> Result<RestartCandidate, RunFailure> {
    let cand = candidate_config(cfg, c);
    let epochs = cfg.train.restart_epochs;
    let sub = dir.candidate(c, &cand).map_err(|e| failed_ctx("creating a restart candidate's folder", e))?;
    // The candidates' TensorBoard files would go with their folders: none are written.
    let mut trainer = Trainer::resume(&cand, &sub, data, device, RunOptions { tensorboard: false })?;
    trainer.stop_after(epochs);
    if !trainer.done() {
        tracing::info!(run = %dir.run_id(), candidate = c, of = cfg.train.restarts, seed = cand.seed, epochs, "training a restart candidate");
        trainer.train_to_stop(ctl)?;
    }
    let records = sub.read_metrics().map_err(|e| failed_ctx("reading a restart candidate's metrics", e))?;
    let last = records.last().filter(|r| r.epoch == epochs).ok_or_else(|| {
        fail(format!("restart candidate {c} has no record of epoch {epochs} in {}", sub.path().display()))
    })?;
    let l2 = *last.train.get(METRIC).ok_or_else(|| fail(format!("restart candidate {c} logged no {METRIC}")))?;
    Ok(RestartCandidate {
        seed: cand.seed,
        l2,
        acc: last.eval.get("codes.acc").copied(),
        seconds: records.iter().filter_map(|r| r.train.get("seconds")).sum(),
    })
}

/// The lowest L2 wins (the first of equals).
fn choose(cfg: &RunConfig, candidates: Vec<RestartCandidate>) -> Restarts {
    let chosen = candidates
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.l2.total_cmp(&b.1.l2).then(a.0.cmp(&b.0)))
        .map_or(0, |(i, _)| i);
    Restarts { metric: METRIC.into(), epochs: cfg.train.restart_epochs, chosen, candidates }
}

/// The chosen candidate's checkpoint, metrics and losses become the run's,
/// the others' seconds added to the training time (the checkpoint's counter,
/// and the last record's `seconds`, beside them as `restart_seconds`), so that
/// time to accuracy counts every candidate. Idempotent: a crash before the
/// candidates' folders are removed installs again from the same files.
fn install(cfg: &RunConfig, dir: &RunDir, record: &Restarts) -> anyhow::Result<()> {
    let c = record.chosen;
    let sub = dir.candidate(c, &candidate_config(cfg, c))?;
    let ck = checkpoint::load(&sub.checkpoint_dir())?
        .ok_or_else(|| anyhow::anyhow!("restart candidate {c} has no checkpoint in {}", sub.path().display()))?;
    let others: f64 = record.candidates.iter().enumerate().filter(|(i, _)| *i != c).map(|(_, k)| k.seconds).sum();
    let mut records = sub.read_metrics()?;
    if let Some(last) = records.last_mut() {
        *last.train.entry("seconds".into()).or_insert(0.0) += others;
        last.train.insert("restart_seconds".into(), others);
    }
    dir.replace_metrics(&records)?;
    dir.copy_losses_from(&sub)?;
    let mut meta = ck.meta;
    meta.train_seconds += others;
    checkpoint::save(&dir.checkpoint_dir(), &mut meta, &ck.tensors)
}
