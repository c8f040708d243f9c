//! The exported model of a finished run, for other tools (PyTorch included):
//! `online.safetensors` (the online VarStore under its parameter names: the names
//! are the format) and `model.json` ([`ModelCard`]), everything needed to rebuild
//! the encoder f_theta, the cluster head g and the prototypes C and to assign
//! clusters as the run did (method.md §2 and §7).
//! `scripts/load_export.py` is the reference consumer.
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::{Backbone, RunConfig, SobelMode, Stem};
use crate::model::{EncoderConfig, Networks};

use super::step::Learner;

const WEIGHTS_FILE: &str = "online.safetensors";
const CARD_FILE: &str = "model.json";
/// Bumped when the card's meaning changes.
const CARD_VERSION: u32 = 1;

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub version: u32,
    pub run_id: String,
    /// The weights file next to this one.
    pub weights: String,
    /// K: rows of the prototypes.
    pub clusters: usize,
    /// Channels of the images the run was trained on (1: grey, replicated to RGB
    /// before normalisation; 3: colour). `sweep predict` refuses other images.
    pub image_channels: i64,
    /// Channels of the network input after the evaluation transform (3; 2 with
    /// Sobel; 5 with RGB + Sobel).
    pub input_channels: i64,
    /// Side length R of the network input.
    pub resolution: u32,
    pub eval_transform: EvalTransform,
    pub encoder: EncoderSpec,
    /// Cluster head g: Linear(in, hidden), BatchNorm1d(hidden), ReLU, Linear(hidden, out).
    pub head: MlpSpec,
    /// Softmax temperature of p = softmax(s / tau).
    pub tau: f64,
    pub sinkhorn_eps: f64,
    pub sinkhorn_iters: usize,
    /// Parameter (and BatchNorm buffer) names in the weights file, by part.
    pub parameters: ParameterNames,
    /// The run's whole resolved config.
    pub config: RunConfig,
}

/// The deterministic evaluation transform (method.md §5), as `Augmenter::eval` applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalTransform {
    /// uint8 / 255, grey replicated to 3 channels, bilinear antialiased resize to
    /// R x R when the size differs, then (x - mean) / std per RGB channel.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub sobel: SobelMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderSpec {
    pub backbone: Backbone,
    /// BasicBlocks per stage.
    pub blocks: [usize; 4],
    /// Channels per stage (the ResNet's 64..512 times `model.width`).
    pub widths: [i64; 4],
    /// `cifar`: 3x3/1 conv, no max-pool; `imagenet`: 7x7/2 conv + 3x3/2 max-pool.
    pub stem: Stem,
    /// Output of the global average pool.
    pub feat_dim: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    pub input: i64,
    pub hidden: i64,
    pub output: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterNames {
    pub encoder: Vec<String>,
    pub head: Vec<String>,
    pub prototypes: String,
    /// The BYOL projector and predictor: exported, not needed to assign clusters.
    pub other: Vec<String>,
}

impl ModelCard {
    /// The card of `learner`'s online network (trained on `image_channels`-channel images).
    pub fn new(run_id: &str, learner: &Learner, image_channels: i64) -> Self {
        let cfg = &learner.cfg;
        let enc: &EncoderConfig = learner.nets.online.encoder.config();
        let mut names: Vec<String> = learner.nets.online_vs.variables().into_keys().collect();
        names.sort();
        let part = |prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).cloned().collect::<Vec<_>>();
        let parameters = ParameterNames {
            encoder: part("encoder."),
            head: part("head."),
            prototypes: "prototypes".into(),
            other: names
                .iter()
                .filter(|n| !n.starts_with("encoder.") && !n.starts_with("head.") && *n != "prototypes")
                .cloned()
                .collect(),
        };
        Self {
            version: CARD_VERSION,
            run_id: run_id.to_string(),
            weights: WEIGHTS_FILE.into(),
            clusters: cfg.data.clusters,
            image_channels,
            input_channels: enc.in_channels,
            resolution: cfg.data.resolution,
            eval_transform: EvalTransform { mean: cfg.augment.mean, std: cfg.augment.std, sobel: cfg.model.sobel },
            encoder: EncoderSpec {
                backbone: cfg.model.backbone,
                blocks: enc.blocks,
                widths: enc.widths,
                stem: enc.stem,
                feat_dim: learner.nets.online.encoder.feat_dim(),
            },
            head: MlpSpec {
                input: learner.nets.online.encoder.feat_dim(),
                hidden: cfg.model.head_hidden as i64,
                output: cfg.model.head_dim as i64,
            },
            tau: cfg.loss.tau,
            sinkhorn_eps: cfg.loss.sinkhorn_eps,
            sinkhorn_iters: cfg.loss.sinkhorn_iters,
            parameters,
            config: cfg.clone(),
        }
    }

    pub fn read(run_dir: &Path) -> anyhow::Result<Self> {
        crate::util::read_json(&run_dir.join(CARD_FILE))
    }
}

/// Writes `online.safetensors` and `model.json` into `run_dir`.
pub fn write(run_dir: &Path, run_id: &str, learner: &Learner, image_channels: i64) -> anyhow::Result<()> {
    let weights = run_dir.join(WEIGHTS_FILE);
    // VarStore::save picks the safetensors format from the extension; written
    // under a temporary name and renamed, as every file of a run.
    let tmp = run_dir.join(format!(".{WEIGHTS_FILE}.{}.tmp.safetensors", std::process::id()));
    if let Err(e) = learner.nets.online_vs.save(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("writing {}", tmp.display())));
    }
    std::fs::rename(&tmp, &weights).with_context(|| format!("renaming {} to {}", tmp.display(), weights.display()))?;
    crate::util::write_json_atomic(&run_dir.join(CARD_FILE), &ModelCard::new(run_id, learner, image_channels))
}

/// Loads an exported `online.safetensors` into `nets`' online network (every
/// variable must be there with its shape: tch's `VarStore::load` checks both).
pub fn load_online(nets: &mut Networks, weights: &Path) -> anyhow::Result<()> {
    nets.online_vs.load(weights).with_context(|| format!("loading {} into the online network", weights.display()))
}

/// `run_dir/online.safetensors`.
pub fn weights_path(run_dir: &Path) -> PathBuf {
    run_dir.join(WEIGHTS_FILE)
}
