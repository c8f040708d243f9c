//! The run configuration as a file writes it: [`RunSpec`], the low type.
//!
//! A sweep file's `base` table and axis values (or a single-run file, or a run
//! folder's `config.toml`) are merged into one TOML table and deserialised into
//! a `RunSpec`: unknown keys are errors, absent keys take the defaults below. Six
//! keys may stay open in a file because their default depends on the dataset
//! (split, resolution, K, stem, epochs, batch size, blur kernel);
//! [`RunSpec::resolve`] fills them once and returns the high type
//! [`RunConfig`](super::RunConfig), which has no hole left and is what every
//! other module reads. The tables without such keys (loss, transform, finetune,
//! eval, the synthetic set) are the same type in both.
//!
//! A resolved config serialises to exactly what its `RunSpec` with every hole
//! filled serialises to, so run ids (the hash of that form) are the same whether
//! a run was written before or after this split (`run_ids_are_pinned` checks).
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::dataset::{DatasetName, Split};
use super::run::{
    AugmentConfig, Backbone, DataConfig, EvalConfig, LossConfig, LrSchedule, ModelConfig, Optimizer, RunConfig,
    SelfLabelConfig, SobelMode, Stem, SyntheticConfig, TrainConfig, TransformConfig, DEFAULT_MOMENTUM,
    DEFAULT_SMALL_CROP_SCALE, DEFAULT_SMALL_CROP_SIZE, DEFAULT_TRUST_COEFFICIENT,
};

/// A run as a file describes it; see the module comment. Field meanings are
/// documented on [`RunConfig`]'s tables.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    pub seed: u64,
    pub data: DataSpec,
    pub model: ModelSpec,
    pub augment: AugmentSpec,
    pub loss: LossConfig,
    pub transform: TransformConfig,
    pub train: TrainSpec,
    /// The self-labelling stage, spelled `finetune` in files ([`RunConfig::self_labelling`]).
    #[serde(rename = "finetune", skip_serializing_if = "SelfLabelConfig::is_off")]
    pub self_labelling: SelfLabelConfig,
    pub eval: EvalConfig,
}

/// `[data]` as written: [`DataConfig`] with the split, resolution and K open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    pub dataset: DatasetName,
    pub root: Option<PathBuf>,
    /// None: the paper's split for this dataset (Table II).
    pub split: Option<Split>,
    /// None: the dataset's native size (224 for class folders).
    pub resolution: Option<u32>,
    pub limit: Option<usize>,
    /// None: the number of classes (of `data.classes` for class folders).
    pub clusters: Option<usize>,
    pub classes: Option<Vec<String>>,
    pub synthetic: SyntheticConfig,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            dataset: DatasetName::Synthetic,
            root: None,
            split: None,
            resolution: None,
            limit: None,
            clusters: None,
            classes: None,
            synthetic: SyntheticConfig::default(),
        }
    }
}

/// A resolved `[data]` table as a spec again (every hole given), e.g. to predict
/// on the data a run was trained on.
impl From<DataConfig> for DataSpec {
    fn from(d: DataConfig) -> Self {
        let DataConfig { dataset, root, split, resolution, limit, clusters, classes, synthetic } = d;
        Self {
            dataset,
            root,
            split: Some(split),
            resolution: Some(resolution),
            limit,
            clusters: Some(clusters),
            classes,
            synthetic,
        }
    }
}

/// `[model]` as written: [`ModelConfig`] with the stem open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    pub backbone: Backbone,
    /// None: `cifar` below 64 px, `imagenet` otherwise (method.md §2).
    pub stem: Option<Stem>,
    pub width: f64,
    pub sobel: SobelMode,
    pub proj_hidden: usize,
    pub proj_dim: usize,
    pub head_hidden: usize,
    pub head_dim: usize,
    #[serde(skip_serializing_if = "super::run::is_zero")]
    pub overcluster: usize,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            backbone: Backbone::Resnet34,
            stem: None,
            width: 1.0,
            sobel: SobelMode::Off,
            proj_hidden: 4096,
            proj_dim: 256,
            head_hidden: 2048,
            head_dim: 256,
            overcluster: 0,
        }
    }
}

/// `[augment]` as written (method.md §5): [`AugmentConfig`] with the blur kernel open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentSpec {
    pub crop_scale: [f64; 2],
    pub crop_ratio: [f64; 2],
    pub flip_p: f64,
    pub jitter_p: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
    pub grayscale_p: f64,
    pub blur_p: [f64; 2],
    pub blur_sigma: [f64; 2],
    /// None: about a tenth of the side, odd (23 at 224 px).
    pub blur_kernel: Option<u32>,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    #[serde(skip_serializing_if = "super::run::is_zero")]
    pub small_crops: usize,
    #[serde(skip_serializing_if = "super::run::is_default_small_size")]
    pub small_crop_size: u32,
    #[serde(skip_serializing_if = "super::run::is_default_small_scale")]
    pub small_crop_scale: [f64; 2],
}

impl Default for AugmentSpec {
    fn default() -> Self {
        Self {
            crop_scale: [0.08, 1.0],
            crop_ratio: [3.0 / 4.0, 4.0 / 3.0],
            flip_p: 0.5,
            jitter_p: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.2,
            hue: 0.1,
            grayscale_p: 0.2,
            blur_p: [1.0, 0.5],
            blur_sigma: [0.1, 2.0],
            blur_kernel: None,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            small_crops: 0,
            small_crop_size: DEFAULT_SMALL_CROP_SIZE,
            small_crop_scale: DEFAULT_SMALL_CROP_SCALE,
        }
    }
}

/// `[train]` as written: [`TrainConfig`] with the epochs and batch size open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// None: method.md §4 (1000 for STL10, 500 otherwise).
    pub epochs: Option<usize>,
    /// None: 256 for CIFAR, 128 otherwise.
    pub batch_size: Option<usize>,
    pub lr: f64,
    pub weight_decay: f64,
    pub ema_tau: f64,
    pub ema_cosine: bool,
    pub bf16: bool,
    pub channels_last: bool,
    pub steps_per_epoch: Option<usize>,
    pub checkpoint_every: usize,
    #[serde(skip_serializing_if = "Optimizer::is_adam")]
    pub optimizer: Optimizer,
    #[serde(skip_serializing_if = "super::run::is_default_momentum")]
    pub momentum: f64,
    #[serde(skip_serializing_if = "super::run::is_default_trust")]
    pub trust_coefficient: f64,
    #[serde(skip_serializing_if = "LrSchedule::is_constant")]
    pub lr_schedule: LrSchedule,
    #[serde(skip_serializing_if = "super::run::is_zero_f64")]
    pub warmup_epochs: f64,
    #[serde(skip_serializing_if = "super::run::is_zero_f64")]
    pub final_lr: f64,
    #[serde(skip_serializing_if = "super::run::is_zero")]
    pub freeze_prototypes_steps: usize,
    #[serde(skip_serializing_if = "super::run::is_zero_f64")]
    pub cluster_delay_epochs: f64,
    #[serde(skip_serializing_if = "super::run::is_one")]
    pub restarts: usize,
    #[serde(skip_serializing_if = "super::run::is_zero")]
    pub restart_epochs: usize,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            epochs: None,
            batch_size: None,
            lr: 5e-4,
            weight_decay: 0.0,
            ema_tau: 0.99,
            ema_cosine: false,
            bf16: false,
            channels_last: true,
            steps_per_epoch: None,
            checkpoint_every: 10,
            optimizer: Optimizer::Adam,
            momentum: DEFAULT_MOMENTUM,
            trust_coefficient: DEFAULT_TRUST_COEFFICIENT,
            lr_schedule: LrSchedule::Constant,
            warmup_epochs: 0.0,
            final_lr: 0.0,
            freeze_prototypes_steps: 0,
            cluster_delay_epochs: 0.0,
            restarts: 1,
            restart_epochs: 0,
        }
    }
}

/// A resolved config read back (a run's `config.toml` or `model.json`): read
/// as a [`RunSpec`] and resolved, so that it has no hole whatever the file left
/// out. Range checks are the reader's ([`RunConfig::validate`]).
impl<'de> Deserialize<'de> for RunConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RunSpec::deserialize(d)?.resolve().map_err(serde::de::Error::custom)
    }
}

impl RunSpec {
    /// Fill every open key with its dataset's default and return the resolved
    /// config. The one failure: K of a class-folder dataset, which has no
    /// default without `data.classes` (the message names the key, as
    /// [`RunConfig::validate`]'s do).
    pub fn resolve(self) -> Result<RunConfig, String> {
        let RunSpec { seed, data, model, augment, loss, transform, train, self_labelling, eval } = self;
        let data = data.resolve()?;
        let model = model.resolve(data.resolution);
        let augment = augment.resolve(data.resolution);
        let train = train.resolve(data.dataset);
        Ok(RunConfig { seed, data, model, augment, loss, transform, train, self_labelling, eval })
    }
}

impl DataSpec {
    fn resolve(self) -> Result<DataConfig, String> {
        let DataSpec { dataset, root, split, resolution, limit, clusters, classes, synthetic } = self;
        let resolution = resolution.unwrap_or(match dataset {
            DatasetName::Synthetic => synthetic.size,
            DatasetName::Folder => 224,
            ds => ds.native_resolution().unwrap_or(224),
        });
        let clusters = match (clusters, dataset) {
            (Some(k), _) => k,
            (None, DatasetName::Synthetic) => synthetic.classes,
            (None, DatasetName::Folder) => match &classes {
                Some(c) => c.len(),
                None => return Err("data.clusters: `folder` datasets need K (or data.classes)".into()),
            },
            (None, ds) => ds.num_classes().expect("every named dataset has a class count"),
        };
        let split = split.unwrap_or(dataset.default_split());
        Ok(DataConfig { dataset, root, split, resolution, limit, clusters, classes, synthetic })
    }
}

impl ModelSpec {
    fn resolve(self, resolution: u32) -> ModelConfig {
        let ModelSpec { backbone, stem, width, sobel, proj_hidden, proj_dim, head_hidden, head_dim, overcluster } =
            self;
        let stem = stem.unwrap_or(if resolution < 64 { Stem::Cifar } else { Stem::Imagenet });
        ModelConfig { backbone, stem, width, sobel, proj_hidden, proj_dim, head_hidden, head_dim, overcluster }
    }
}

impl AugmentSpec {
    fn resolve(self, resolution: u32) -> AugmentConfig {
        let AugmentSpec {
            crop_scale,
            crop_ratio,
            flip_p,
            jitter_p,
            brightness,
            contrast,
            saturation,
            hue,
            grayscale_p,
            blur_p,
            blur_sigma,
            blur_kernel,
            mean,
            std,
            small_crops,
            small_crop_size,
            small_crop_scale,
        } = self;
        // method.md §5: 23 at 224 px, about a tenth of the side, odd.
        let blur_kernel = blur_kernel.unwrap_or(((resolution as f64 / 10.0).round() as u32).max(3) | 1);
        AugmentConfig {
            crop_scale,
            crop_ratio,
            flip_p,
            jitter_p,
            brightness,
            contrast,
            saturation,
            hue,
            grayscale_p,
            blur_p,
            blur_sigma,
            blur_kernel,
            mean,
            std,
            small_crops,
            small_crop_size,
            small_crop_scale,
        }
    }
}

impl TrainSpec {
    fn resolve(self, dataset: DatasetName) -> TrainConfig {
        let TrainSpec {
            epochs,
            batch_size,
            lr,
            weight_decay,
            ema_tau,
            ema_cosine,
            bf16,
            channels_last,
            steps_per_epoch,
            checkpoint_every,
            optimizer,
            momentum,
            trust_coefficient,
            lr_schedule,
            warmup_epochs,
            final_lr,
            freeze_prototypes_steps,
            cluster_delay_epochs,
            restarts,
            restart_epochs,
        } = self;
        TrainConfig {
            epochs: epochs.unwrap_or(dataset.default_epochs()),
            batch_size: batch_size.unwrap_or(dataset.default_batch_size()),
            lr,
            weight_decay,
            ema_tau,
            ema_cosine,
            bf16,
            channels_last,
            steps_per_epoch,
            checkpoint_every,
            optimizer,
            momentum,
            trust_coefficient,
            lr_schedule,
            warmup_epochs,
            final_lr,
            freeze_prototypes_steps,
            cluster_delay_epochs,
            restarts,
            restart_epochs,
        }
    }
}
