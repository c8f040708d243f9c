//! `sweep predict`: a finished run's final weights applied to other images.
//!
//! The model is rebuilt by [`Learner::new`] from the run's config and restored
//! from its final checkpoint (online and target weights, prototypes, the M
//! transforms: the state the run's own final evaluation used), the images go
//! through the evaluation transform (`Augmenter::eval`), and every image gets a
//! cluster by each method through [`evaluate::assign`], the code the trainer's
//! evaluation runs: the table has the columns of `assignments.csv`. The Sinkhorn
//! codes are computed over the whole predicted set at once (method.md §7), so a code
//! depends on the other images predicted with it; `p` and its confidence do not.
//!
//! The k-means columns (the run's `eval.kmeans_features`) are left out when
//! fewer than K images are predicted.
//!
//! Channel rule: the images must have the channel count the run was trained on
//! (`model.json`'s `image_channels`: 1 for MNIST-like runs, 3 otherwise).
//! Grey images are not silently replicated for a colour run, nor colour images
//! turned grey for a grey run: the run never saw such images, and its clusters
//! mean nothing for them.
use std::path::{Path, PathBuf};

use tch::Device;

use crate::config::{DataConfig, DataSpec, RunConfig};
use crate::data::DeviceData;
use crate::store::RunDir;

use super::evaluate::{self, Assignments};
use super::step::Learner;
use super::{checkpoint, model_files};

/// Why a prediction is refused (callers and tests branch on the kind).
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(
        "run {run} never finished ({} is absent): only a finished run's final weights are used; \
         finish it with `sweep run` (or `sweep exec-run {}`) first",
        summary.display(), dir.display()
    )]
    NotFinished { run: String, dir: PathBuf, summary: PathBuf },

    #[error(
        "run {run} has no final checkpoint ({} is absent or not the last step): \
         its weights cannot be restored; train it again",
        checkpoint.display()
    )]
    NoFinalCheckpoint { run: String, checkpoint: PathBuf },

    #[error(
        "run {run} was trained on {expected}-channel images, but {what} has {found} channel(s): \
         predict with images of the kind the run was trained on (grey images are not \
         replicated to colour for a colour run, nor colour images turned grey for a grey run)"
    )]
    Channels { run: String, expected: i64, found: i64, what: String },
}

/// The images to predict.
#[derive(Debug, Clone)]
pub enum PredictData {
    /// A dataset as a run config's `[data]` table describes it (its `resolution`
    /// and `clusters` are the run's; `limit` takes the run's seeded subset).
    Spec(DataSpec),
    /// Every `.jpg`/`.jpeg`/`.png` directly inside a folder, sorted by name,
    /// unlabelled; decoded as the class-folder reader does.
    Images(PathBuf),
}

/// The per-image table of a prediction.
pub struct Prediction {
    pub run_id: String,
    /// Rows: `indices` are positions in the predicted set.
    pub assignments: Assignments,
    /// The file of each image, for folder-read images.
    pub paths: Option<Vec<PathBuf>>,
    /// The true class of each image, where the data has one.
    pub labels: Option<Vec<i64>>,
}

impl Prediction {
    /// Writes the table: `assignments.csv`'s columns ([`Assignments::write_csv`]).
    pub fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        self.assignments.write_csv(path, self.paths.as_deref(), self.labels.as_deref())
    }
}

/// The channels of the images `cfg`'s run was trained on: from its `model.json`,
/// else (a run finished before the card existed) from its dataset.
fn trained_channels(dir: &RunDir, cfg: &RunConfig) -> i64 {
    model_files::ModelCard::read(dir.path()).map(|c| c.image_channels).unwrap_or(cfg.data.dataset.channels() as i64)
}

/// The run's summary, or the refusal of a run that never finished.
fn finished(dir: &RunDir) -> anyhow::Result<crate::record::Summary> {
    dir.read_summary()?.ok_or_else(|| {
        PredictError::NotFinished {
            run: dir.run_id().to_string(),
            dir: dir.path().to_path_buf(),
            summary: dir.summary_path(),
        }
        .into()
    })
}

/// The finished run's learner restored to its final weights, and the channel
/// count of the images it was trained on.
pub fn restore(dir: &RunDir, device: Device) -> anyhow::Result<(Learner, i64)> {
    let run = dir.run_id().to_string();
    let summary = finished(dir)?;
    let cfg = dir.read_config()?;
    let channels = trained_channels(dir, &cfg);
    let ckpt_dir = dir.checkpoint_dir();
    let missing = || PredictError::NoFinalCheckpoint { run: run.clone(), checkpoint: checkpoint::meta_path(&ckpt_dir) };
    let ck = checkpoint::load(&ckpt_dir)?.ok_or_else(missing)?;
    // The trainer checkpoints after the last epoch, so the final checkpoint is at
    // the summary's step count; anything else is not the final model.
    if ck.meta.global_step != summary.steps {
        return Err(missing().into());
    }
    // Learner::new seeds torch's RNG for its initialisation; every weight is then
    // overwritten by the checkpoint.
    let mut learner = Learner::new(&cfg, channels, device)?;
    learner.load_state(ck.tensors, ck.meta.global_step as i64)?;
    Ok((learner, channels))
}

/// Predicts `data` with the final weights of the finished run in `run_dir`.
pub fn predict(run_dir: &Path, data: &PredictData, device: Device) -> anyhow::Result<Prediction> {
    let dir = RunDir::open(run_dir)?;
    let run = dir.run_id().to_string();
    // Refusals that need no tensor work come first.
    finished(&dir)?;
    let cfg = dir.read_config()?;
    let expected = trained_channels(&dir, &cfg);
    let refuse = |found: i64, what: String| PredictError::Channels { run: run.clone(), expected, found, what };
    let (images, paths, labels) = match data {
        PredictData::Spec(spec) => {
            let found = spec.dataset.channels() as i64;
            if found != expected {
                return Err(refuse(found, format!("dataset `{}`", spec.dataset)).into());
            }
            let ds = crate::data::load(&spec_config(&cfg, spec))?;
            (ds.images, ds.paths, Some(ds.labels))
        }
        PredictData::Images(folder) => {
            let files = crate::data::list_images(folder)?;
            if let Some((p, c)) = files.iter().find(|(_, c)| *c != expected) {
                return Err(refuse(*c, format!("image {}", p.display())).into());
            }
            let paths: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
            let images = crate::data::decode_images(&paths, cfg.data.resolution, expected)?;
            (images, Some(paths), None)
        }
    };
    let (mut learner, _) = restore(&dir, device)?;
    let n = images.size()[0];
    let k = cfg.data.clusters as i64;
    if n < k && !learner.cfg.eval.kmeans_features.is_empty() {
        // K-means into K clusters needs K images; codes and p do not.
        tracing::warn!(run = %run, "{n} images for K = {k} clusters: no k-means columns");
        learner.cfg.eval.kmeans_features.clear();
    }
    let on_device = DeviceData { images: images.to_device(device), n };
    let indices: Vec<i64> = (0..n).collect();
    // k-means is seeded as the run's final evaluation (after its last epoch).
    let out = evaluate::assign(&learner, &on_device, &indices, cfg.train.epochs, false)?;
    Ok(Prediction { run_id: run, assignments: out.assignments, paths, labels })
}

/// The run's config with its `[data]` replaced by `spec`, at the run's
/// resolution and K (the spec's own split default).
fn spec_config(run: &RunConfig, spec: &DataSpec) -> RunConfig {
    let DataSpec { dataset, root, split, resolution: _, limit, clusters: _, classes, synthetic } = spec.clone();
    let split = split.unwrap_or(dataset.default_split());
    let (resolution, clusters) = (run.data.resolution, run.data.clusters);
    let data = DataConfig { dataset, root, split, resolution, limit, clusters, classes, synthetic };
    RunConfig { data, ..run.clone() }
}

/// A dataset spec from a TOML file: its `[data]` table (a run-config file's, the
/// other tables ignored: nothing is trained), or the file's top level when it
/// has no such table. The keys are `DataSpec`'s, strictly; `data.root` is
/// resolved as in run files (`$SWEEP_DATA` through `data_home`, relative to
/// the file's folder).
pub fn read_data_spec(path: &Path, data_home: &Path) -> anyhow::Result<DataSpec> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut top: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let table = match top.remove("data") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => anyhow::bail!("{}: `data` must be a table of dataset keys", path.display()),
        None => top,
    };
    let mut spec: DataSpec = toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("{}: not a data spec (the keys of a run config's [data] table)", path.display()))?;
    if let Some(raw) = spec.root.take() {
        let root = crate::config::expand::resolve_data_root(&raw, path, data_home)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        spec.root = Some(root);
    }
    Ok(spec)
}
