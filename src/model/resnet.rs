//! The encoder f: ResNet-18 / ResNet-34 with basic blocks (He et al. 2016), method.md
//! §2, returning the globally pooled feature y (the layer before the
//! classifier; 512-d at width 1).
//!
//! Variable names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`,
//! `layer2.0.downsample.0`, ...) under whatever path the caller gives, and are
//! the checkpoint format.
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::config::run::{Backbone, RunConfig, SobelMode, Stem};

/// Channels of the four stages at width 1 (ResNet's 64, 128, 256, 512).
const BASE_WIDTHS: [f64; 4] = [64.0, 128.0, 256.0, 512.0];
/// Narrowest stage the width multiplier may produce: below this BatchNorm
/// statistics over so few channels make training erratic.
const MIN_CHANNELS: i64 = 4;

/// How the encoder is shaped, from `cfg.model` (resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Basic blocks per stage: [2, 2, 2, 2] for ResNet-18, [3, 4, 6, 3] for ResNet-34.
    pub blocks: [usize; 4],
    pub stem: Stem,
    /// Channels of the four stages (64w, 128w, 256w, 512w rounded, at least 4).
    pub widths: [i64; 4],
    pub in_channels: i64,
    /// Convolve in channels-last (NHWC) memory format (`train.channels_last`).
    pub channels_last: bool,
}

impl EncoderConfig {
    /// Reads backbone, stem and width from a resolved `cfg` (the stem default
    /// depends on the resolution, filled by `RunSpec::resolve`).
    fn from_run(cfg: &RunConfig, in_channels: i64) -> Self {
        let blocks = match cfg.model.backbone {
            Backbone::Resnet18 => [2, 2, 2, 2],
            Backbone::Resnet34 => [3, 4, 6, 3],
        };
        let w = cfg.model.width;
        let widths = BASE_WIDTHS.map(|c| ((c * w).round() as i64).max(MIN_CHANNELS));
        Self { blocks, stem: cfg.model.stem, widths, in_channels, channels_last: cfg.train.channels_last }
    }
}

/// Input channels of the first convolution: the image's own channels, or 2
/// (Sobel: grayscale then the two fixed Sobel filters), or image + 2 (RGB + Sobel).
pub fn input_channels(sobel: SobelMode, image_channels: i64) -> i64 {
    match sobel {
        SobelMode::Off => image_channels,
        SobelMode::Sobel => 2,
        SobelMode::RgbSobel => image_channels + 2,
    }
}

/// A bias-free convolution with torchvision's ResNet initialisation:
/// Kaiming normal, fan-out, ReLU gain (std = sqrt(2 / (c_out k k))).
fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let ws_init = nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Normal,
        fan: nn::init::FanInOut::FanOut,
        non_linearity: nn::init::NonLinearity::ReLU,
    };
    nn::conv2d(p, c_in, c_out, k, nn::ConvConfig { stride, padding, bias: false, ws_init, ..Default::default() })
}

/// BatchNorm2d with weight 1 and bias 0 (tch's and torchvision's default).
fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

/// The basic residual block: two 3x3 convolutions, with a 1x1 projection on the
/// shortcut when the stride or the width changes.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || c_in != c_out)
            .then(|| (conv(&p / "downsample" / "0", c_in, c_out, 1, stride, 0), bn(&p / "downsample" / "1", c_out)));
        Self {
            conv1: conv(&p / "conv1", c_in, c_out, 3, stride, 1),
            bn1: bn(&p / "bn1", c_out),
            conv2: conv(&p / "conv2", c_out, c_out, 3, 1, 1),
            bn2: bn(&p / "bn2", c_out),
            downsample,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // In place where autograd allows it (as torchvision does): BatchNorm's
        // backward needs its input, not its output, and the sum needs neither, so
        // ReLU and the residual add overwrite fresh tensors instead of allocating.
        let mut ys =
            xs.apply(&self.conv1).apply_t(&self.bn1, train).relu_().apply(&self.conv2).apply_t(&self.bn2, train);
        match &self.downsample {
            Some((c, b)) => ys += xs.apply(c).apply_t(b, train),
            None => ys += xs,
        };
        ys.relu_()
    }
}

/// The encoder f: stem, four stages of basic blocks, global average pool.
#[derive(Debug)]
pub struct Encoder {
    config: EncoderConfig,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    stages: Vec<Vec<BasicBlock>>,
}

impl Encoder {
    /// Builds the encoder of `cfg.model` under `p`, taking `in_channels` input planes.
    /// `cfg` must be resolved (the stem default depends on the resolution).
    pub fn new(p: &nn::Path, cfg: &RunConfig, in_channels: i64) -> Self {
        Self::from_config(p, EncoderConfig::from_run(cfg, in_channels))
    }

    fn from_config(p: &nn::Path, config: EncoderConfig) -> Self {
        let c0 = config.widths[0];
        // cifar: 3x3 stride 1 keeps 32 px images at full resolution in stage 1;
        // imagenet: 7x7 stride 2 (then a max-pool in forward) for 96 / 224 px.
        let (conv1, bn1) = match config.stem {
            Stem::Cifar => (conv(p / "conv1", config.in_channels, c0, 3, 1, 1), bn(p / "bn1", c0)),
            Stem::Imagenet => (conv(p / "conv1", config.in_channels, c0, 7, 2, 3), bn(p / "bn1", c0)),
        };
        let mut c_in = c0;
        let mut stages = Vec::with_capacity(4);
        for (i, (&n, &c_out)) in config.blocks.iter().zip(&config.widths).enumerate() {
            let sp = p / format!("layer{}", i + 1);
            // Stage 1 keeps the resolution; each later stage halves it in its first block.
            let stride = if i == 0 { 1 } else { 2 };
            let blocks = (0..n)
                .map(|j| {
                    let b = BasicBlock::new(&sp / j, c_in, c_out, if j == 0 { stride } else { 1 });
                    c_in = c_out;
                    b
                })
                .collect();
            stages.push(blocks);
        }
        Self { config, conv1, bn1, stages }
    }

    /// Dimension of the pooled feature y (512 at width 1).
    pub fn feat_dim(&self) -> i64 {
        self.config.widths[3]
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }
}

impl ModuleT for Encoder {
    /// N x C x H x W images to N x feat_dim features. `train` selects batch
    /// statistics (and updates the running ones) in every BatchNorm.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // Channels-last strides on the input are enough: convolution, BatchNorm
        // and ReLU keep the memory format of their input, so the whole encoder
        // (and its backward) then runs in NHWC.
        let h = if self.config.channels_last {
            xs.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
        } else {
            xs.shallow_clone()
        };
        let mut h = h.apply(&self.conv1).apply_t(&self.bn1, train).relu_();
        if self.config.stem == Stem::Imagenet {
            h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for block in self.stages.iter().flatten() {
            h = h.apply_t(block, train);
        }
        h.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
