//! The resolved run configuration: one training run, fully described, with no
//! value left open.
//!
//! Every number of method.md §2 to §7 is a default (in [`RunSpec`](super::RunSpec),
//! the type a file is read into) and every choice an option. [`RunSpec::resolve`](super::RunSpec::resolve)
//! fills the dataset-dependent defaults (split, resolution, K, stem, epochs,
//! batch size, blur kernel) and returns a [`RunConfig`]; [`RunConfig::validate`]
//! checks ranges. Everything downstream takes `&RunConfig`. The run id is the
//! hash of its serialised form (see `config::identity::run_id`), so everything that changes
//! a result must live here and nothing else may.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::dataset::{DatasetName, Split};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// One seed drives data order, augmentation, initialisation and the M transforms.
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub augment: AugmentConfig,
    pub loss: LossConfig,
    pub transform: TransformConfig,
    pub train: TrainConfig,
    /// The optional self-labelling stage after training (method.md §11). Off
    /// (`epochs = 0`) by default and then left out of the run id. Its table is
    /// spelled `finetune` in files and in the canonical form the run id hashes
    /// (the name it had first), so no id moves.
    #[serde(rename = "finetune", skip_serializing_if = "SelfLabelConfig::is_off")]
    pub self_labelling: SelfLabelConfig,
    pub eval: EvalConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataConfig {
    pub dataset: DatasetName,
    /// Folder holding the dataset's files (not used by `synthetic`). Relative
    /// paths are taken from the sweep file's folder. `$SWEEP_DATA` expands.
    pub root: Option<PathBuf>,
    /// Default: the paper's split for this dataset (Table II).
    pub split: Split,
    /// Side length the images are trained at. Default: the dataset's native size.
    pub resolution: u32,
    /// Train on a seeded random subset of this many images (None: all).
    pub limit: Option<usize>,
    /// K, the number of clusters. Default: the number of classes.
    pub clusters: usize,
    /// Class folders to use for `folder` datasets (None: all, sorted).
    pub classes: Option<Vec<String>>,
    pub synthetic: SyntheticConfig,
}

/// The built-in dataset: K classes of small colour images whose class is a
/// shape, with position, scale, colours and background varying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    pub classes: usize,
    pub per_class: usize,
    pub size: u32,
    /// Seed of the generator (the dataset, not the run).
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self { classes: 4, per_class: 128, size: 32, seed: 1234 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    Resnet18,
    Resnet34,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stem {
    /// 3x3 conv stride 1, BN, ReLU, no max-pool (32 px inputs).
    Cifar,
    /// 7x7 conv stride 2, BN, ReLU, 3x3 max-pool stride 2.
    Imagenet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SobelMode {
    Off,
    /// Grayscale then two fixed Sobel filters: the first conv takes 2 channels.
    Sobel,
    /// RGB plus the two Sobel channels: 5 input channels.
    RgbSobel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelConfig {
    pub backbone: Backbone,
    /// Default: `cifar` below 64 px, `imagenet` otherwise (method.md §2).
    pub stem: Stem,
    /// Channel width multiplier: 1.0 is the standard ResNet (64..512 channels,
    /// 512-d feature); 0.25 gives 16..128 channels for CPU runs.
    pub width: f64,
    pub sobel: SobelMode,
    /// BYOL projector / predictor: Linear(in, hidden), BN, ReLU, Linear(hidden, dim).
    pub proj_hidden: usize,
    pub proj_dim: usize,
    /// Cluster head g: Linear(feat, hidden), BN, ReLU, Linear(hidden, dim); the
    /// prototypes live in this dim.
    pub head_hidden: usize,
    pub head_dim: usize,
    /// Over-clustering (IIC; method.md §11): r > 0 adds a second cluster head
    /// with r K prototypes, trained with the same L2 and L3 and never scored.
    /// 0: none (left out of the run id then).
    #[serde(skip_serializing_if = "is_zero")]
    pub overcluster: usize,
}

pub(super) fn is_one(v: &usize) -> bool {
    *v == 1
}

pub(super) fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// method.md §5. Probabilities and strengths per run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AugmentConfig {
    pub crop_scale: [f64; 2],
    pub crop_ratio: [f64; 2],
    pub flip_p: f64,
    pub jitter_p: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
    pub grayscale_p: f64,
    /// Blur probability for view 1 and view 2.
    pub blur_p: [f64; 2],
    pub blur_sigma: [f64; 2],
    /// Odd kernel size; default: about a tenth of the side, odd (23 at 224 px).
    pub blur_kernel: u32,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// Multi-crop (SwAV; method.md §12): this many small extra views per image,
    /// each predicted in L2 and L3 against the codes of the two large views.
    /// 0: none (left out of the run id, with the two keys below at their defaults).
    #[serde(skip_serializing_if = "is_zero")]
    pub small_crops: usize,
    /// Side of the small views, in pixels.
    #[serde(skip_serializing_if = "is_default_small_size")]
    pub small_crop_size: u32,
    /// RandomResizedCrop scale range of the small views.
    #[serde(skip_serializing_if = "is_default_small_scale")]
    pub small_crop_scale: [f64; 2],
}

pub const DEFAULT_SMALL_CROP_SIZE: u32 = 16;
/// SwAV's small-crop scale range (its large crops take [0.14, 1]).
pub const DEFAULT_SMALL_CROP_SCALE: [f64; 2] = [0.05, 0.14];

pub(super) fn is_default_small_size(v: &u32) -> bool {
    *v == DEFAULT_SMALL_CROP_SIZE
}

pub(super) fn is_default_small_scale(v: &[f64; 2]) -> bool {
    *v == DEFAULT_SMALL_CROP_SCALE
}

/// method.md §3: L = alpha L1 + beta L2 + gamma L3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    /// Softmax temperature of p and p~.
    pub tau: f64,
    pub sinkhorn_eps: f64,
    pub sinkhorn_iters: usize,
    /// Detach the prototypes in the transformed path of L3 (the authors' code).
    pub detach_prototypes_l3: bool,
    /// Re-normalise the stored prototypes after each step (SwAV); results must
    /// not depend on it since only c/||c|| is used.
    pub renormalize_prototypes: bool,
    /// The representation learner whose loss is L1 (method.md §11): BYOL (the
    /// paper) or SimCLR's NT-Xent. Left out of the run id at `byol`.
    #[serde(skip_serializing_if = "Representation::is_byol")]
    pub representation: Representation,
    /// NT-Xent temperature T (SimCLR only). Left out of the run id at its default.
    #[serde(skip_serializing_if = "is_default_simclr_temperature")]
    pub simclr_temperature: f64,
}

/// SimCLR's temperature for CIFAR-10 (Chen et al. 2020, appendix B.9).
const DEFAULT_SIMCLR_TEMPERATURE: f64 = 0.5;

fn is_default_simclr_temperature(t: &f64) -> bool {
    *t == DEFAULT_SIMCLR_TEMPERATURE
}

/// `loss.representation`: which self-supervised loss is L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Representation {
    /// BYOL's regression of the target projection (the paper).
    #[default]
    Byol,
    /// SimCLR's NT-Xent over the two views' projections: no target network.
    Simclr,
}

impl Representation {
    fn is_byol(&self) -> bool {
        *self == Representation::Byol
    }
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 1.0,
            gamma: 1.0,
            tau: 0.1,
            sinkhorn_eps: 0.05,
            sinkhorn_iters: 3,
            detach_prototypes_l3: false,
            renormalize_prototypes: false,
            representation: Representation::Byol,
            simclr_temperature: DEFAULT_SIMCLR_TEMPERATURE,
        }
    }
}

impl LossConfig {
    /// The paper's names for the weight settings of Table IV.
    pub fn method_name(&self) -> String {
        let on = |w: f64| w != 0.0;
        let simclr = self.representation == Representation::Simclr;
        match (on(self.alpha), on(self.beta), on(self.gamma)) {
            (true, false, false) if simclr => "SimCLR".into(),
            (true, false, false) => "BYOL".into(),
            (false, true, false) => "soft clustering".into(),
            (true, true, false) if simclr => "SimCLR + soft clustering".into(),
            (true, true, false) => "BYOL + soft clustering".into(),
            (true, true, true) if simclr => "ConCURL (SimCLR)".into(),
            (true, true, true) => "ConCURL".into(),
            _ if simclr => format!("SimCLR alpha={} beta={} gamma={}", self.alpha, self.beta, self.gamma),
            _ => format!("alpha={} beta={} gamma={}", self.alpha, self.beta, self.gamma),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformKind {
    /// d' x dim Gaussian with orthonormal rows (QR) when d' <= dim; plain N(0, 1/d') above.
    Projection,
    /// diag(a), a ~ N(0, 1), dimension dim.
    Diagonal,
    /// d' x dim with entries N(0, 1/d'), no orthogonalisation (the authors' code).
    Gaussian,
}

/// The M fixed random maps of L3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    pub kind: TransformKind,
    pub m: usize,
    pub d_prime: usize,
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self { kind: TransformKind::Projection, m: 100, d_prime: 64 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Default: method.md §4 (1000 for STL10, 500 otherwise).
    pub epochs: usize,
    /// Default: 256 for CIFAR, 128 otherwise.
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// EMA rate of the target network, tau_B.
    pub ema_tau: f64,
    /// Cosine schedule of tau_B to 1.0 over training (off in the paper).
    pub ema_cosine: bool,
    /// bfloat16 autocast for the network forwards (convolutions and matrix
    /// products in bf16, the losses and the optimiser in float32), on CUDA and on
    /// the CPU alike. No loss scaling is needed (bf16 has float32's range). Pays
    /// off on GPUs with bf16 tensor cores; a CPU without bf16 instructions
    /// (no avx512_bf16 / AMX) runs it slower than float32.
    pub bf16: bool,
    /// Run the encoder's convolutions in channels-last (NHWC) memory format.
    /// oneDNN on the CPU and tensor cores on the GPU work natively in NHWC, so
    /// this spares a layout reorder around every convolution (1.4x on the
    /// `cpu-small` step here, `reports/bench.md`). Results equal NCHW's up to
    /// float rounding; the layout of checkpoints and exports does not change.
    pub channels_last: bool,
    /// Cap on steps per epoch (None: a full pass, last partial batch dropped).
    pub steps_per_epoch: Option<usize>,
    /// Write a checkpoint every this many epochs (and always at the end).
    pub checkpoint_every: usize,
    /// The optimiser of the first phase (method.md §4, §12): Adam (the paper),
    /// SGD with momentum, or LARS. Left out of the run id at `adam`.
    #[serde(skip_serializing_if = "Optimizer::is_adam")]
    pub optimizer: Optimizer,
    /// Momentum of SGD and LARS (not read by Adam). Left out of the run id at 0.9.
    #[serde(skip_serializing_if = "is_default_momentum")]
    pub momentum: f64,
    /// LARS's trust coefficient eta (You et al. 2017, eq. 6). Left out of the
    /// run id at 0.001.
    #[serde(skip_serializing_if = "is_default_trust")]
    pub trust_coefficient: f64,
    /// The learning rate after the warm-up: `constant` (the paper) or `cosine`
    /// decay to `final_lr` at the last step of training proper. Left out of the
    /// run id at `constant`.
    #[serde(skip_serializing_if = "LrSchedule::is_constant")]
    pub lr_schedule: LrSchedule,
    /// Linear warm-up of the learning rate over this many epochs (fractions
    /// allowed; counted in steps). Left out of the run id at 0.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub warmup_epochs: f64,
    /// Where the cosine decay ends. Left out of the run id at 0.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub final_lr: f64,
    /// Prototype warm-up (SwAV's `freeze_prototypes_niters`): the prototypes
    /// (and the over-clustering head's) get no update for the first this many
    /// steps. Left out of the run id at 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub freeze_prototypes_steps: usize,
    /// The representation first (SCAN's pretext stage, ProPos's warm-up, in
    /// one run): for this many epochs (fractions allowed; counted in steps) the
    /// loss is alpha L1 alone, L2 and L3 computed without gradient and the
    /// prototypes held still. Left out of the run id at 0.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub cluster_delay_epochs: f64,
    /// A label-free choice among restarts (method.md §13): this many
    /// candidates (the run's seed and seeds derived from it) each train
    /// `restart_epochs` epochs, and the one with the lowest soft-clustering
    /// loss L2 goes on to the end; the others' training time is counted in the
    /// run's. Left out of the run id at 1 (no restarts).
    #[serde(skip_serializing_if = "is_one")]
    pub restarts: usize,
    /// The epochs each candidate of `restarts` trains before the choice.
    /// Left out of the run id at 0 (no restarts).
    #[serde(skip_serializing_if = "is_zero")]
    pub restart_epochs: usize,
}

/// `train.optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// torch.optim.Adam (the paper).
    #[default]
    Adam,
    /// torch.optim.SGD with momentum (no dampening, no Nesterov).
    Sgd,
    /// LARS as solo-learn has it: SGD with momentum whose step for each weight
    /// matrix is scaled by eta ||w|| / (||g|| + wd ||w||); biases and BatchNorm
    /// parameters (1-D) are left out of the scaling and of weight decay.
    Lars,
}

impl Optimizer {
    pub fn is_adam(&self) -> bool {
        *self == Optimizer::Adam
    }
}

/// `train.lr_schedule`: the learning rate after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    #[default]
    Constant,
    /// Half a cosine from `train.lr` down to `train.final_lr`.
    Cosine,
}

impl LrSchedule {
    pub fn is_constant(&self) -> bool {
        *self == LrSchedule::Constant
    }
}

pub const DEFAULT_MOMENTUM: f64 = 0.9;
pub const DEFAULT_TRUST_COEFFICIENT: f64 = 0.001;

pub(super) fn is_default_momentum(v: &f64) -> bool {
    *v == DEFAULT_MOMENTUM
}

pub(super) fn is_default_trust(v: &f64) -> bool {
    *v == DEFAULT_TRUST_COEFFICIENT
}

pub(super) fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Self-labelling (SCAN's third step, SPICE's reliable pseudo-labels; method.md
/// §11): `epochs` more epochs after `train.epochs`, in which the images whose
/// Sinkhorn code on the un-augmented view reaches `confidence` are
/// pseudo-labelled by it, and the cluster head's p on a strongly augmented view
/// is trained on those labels by cross-entropy. Labels are never read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelfLabelConfig {
    /// Epochs of the stage; 0: no stage.
    pub epochs: usize,
    /// A code must reach this probability for its image to be pseudo-labelled.
    pub confidence: f64,
    /// Weight each pseudo-label by the inverse of its cluster's share of the
    /// confident images (SCAN), so that large clusters do not swallow small ones.
    pub balance: bool,
    /// The strong view's colour-jitter strengths are the training ones times this.
    pub strength: f64,
    /// Cutout on the strong view: a square of this fraction of the side, zeroed
    /// (after normalisation, so it holds the mean); 0: none.
    pub cutout: f64,
    /// Adam's learning rate in the stage (the moments carry over).
    pub lr: f64,
    /// Train the heads and prototypes only; the encoder runs in evaluation mode.
    pub freeze_encoder: bool,
}

impl SelfLabelConfig {
    pub fn is_off(&self) -> bool {
        self.epochs == 0
    }
}

impl Default for SelfLabelConfig {
    fn default() -> Self {
        Self { epochs: 0, confidence: 0.99, balance: true, strength: 1.5, cutout: 0.5, lr: 1e-4, freeze_encoder: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Target projection v_xi (the paper's BYOL baseline).
    TargetProjection,
    /// Online encoder output y.
    Encoder,
    /// Cluster embedding z = g(y).
    ClusterEmbedding,
    /// The evaluation-transformed pixels themselves (the raw-pixel baseline).
    Pixels,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Evaluate every this many epochs (and always after the last one); 0: only at the end.
    pub every: usize,
    /// Evaluate on at most this many images (seeded subset); None: the whole training split.
    pub max_samples: Option<usize>,
    /// Features k-means runs on (the BYOL baseline and friends).
    pub kmeans_features: Vec<Feature>,
    pub kmeans_restarts: usize,
    pub kmeans_iters: usize,
    pub kmeans_tol: f64,
    /// Pairwise NMI of the M members (Figure 1).
    pub diversity: bool,
    /// t-SNE of the cluster embeddings at the end (Figure 2).
    pub tsne: bool,
    pub tsne_samples: usize,
    /// Rows per forward pass during evaluation.
    pub chunk: usize,
    /// Consensus partitions of the ensemble (the M members' argmax of p~(m) and
    /// the codes; method.md §11), each scored as `consensus_<fn>.*`. Empty: none
    /// (left out of the run id then, so runs from before the option keep theirs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consensus: Vec<ConsensusFn>,
}

/// A consensus function over a cluster ensemble (`eval.consensus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusFn {
    /// Strehl & Ghosh's CSPA: the co-association graph, partitioned spectrally.
    Cspa,
    /// Strehl & Ghosh's MCLA: meta-clusters of the clusters (Jaccard graph).
    Mcla,
    /// Fern & Brodley's HBGF: objects and clusters as one bipartite graph.
    Hbgf,
}

impl ConsensusFn {
    pub const ALL: [ConsensusFn; 3] = [ConsensusFn::Cspa, ConsensusFn::Mcla, ConsensusFn::Hbgf];

    /// The name a sweep file gives it (`eval.consensus`).
    pub fn name(self) -> &'static str {
        match self {
            ConsensusFn::Cspa => "cspa",
            ConsensusFn::Mcla => "mcla",
            ConsensusFn::Hbgf => "hbgf",
        }
    }

    /// The metric prefix and `assignments.csv` column of this function's partition.
    pub fn key(self) -> &'static str {
        match self {
            ConsensusFn::Cspa => "consensus_cspa",
            ConsensusFn::Mcla => "consensus_mcla",
            ConsensusFn::Hbgf => "consensus_hbgf",
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: 10,
            max_samples: None,
            kmeans_features: vec![Feature::TargetProjection],
            kmeans_restarts: 10,
            kmeans_iters: 300,
            kmeans_tol: 1e-4,
            diversity: true,
            tsne: true,
            tsne_samples: 1000,
            chunk: 1024,
            consensus: Vec::new(),
        }
    }
}
