//! `sweep bench`: throughput and memory of named configurations, the same step
//! in PyTorch for comparison, packed runs, and k-means.
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Configuration: cpu-small, cpu-mnist, cifar-r18, cifar-r34, or `kmeans`.
    #[arg(default_value = "cpu-small")]
    pub name: String,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: crate::schedule::DeviceSpec,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Also time each phase of the step (synchronised).
    #[arg(long)]
    pub breakdown: bool,
    /// Batch size override.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Train on this dataset (e.g. cifar10) instead of random images, loaded as
    /// `sweep run` loads it, so that the peak RSS is that of a real run.
    #[arg(long, requires = "data_root")]
    pub dataset: Option<crate::config::DatasetName>,
    /// Folder holding --dataset's files (as `data.root` in a sweep file).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Run the same step in PyTorch eager + kornia (benches/concurl_torch.py,
    /// embedded) alternating with this one, and print the ratio of images/s.
    #[arg(long, conflicts_with_all = ["pack", "breakdown"])]
    pub compare: bool,
    /// --compare: the Python to run it with (needs torch 2.11.0 and kornia).
    /// Default: $SWEEP_PYTHON, else .venv/bin/python if present, else python3.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// --compare: rounds of (sweep, PyTorch); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// --compare: run the PyTorch side in channels-last memory format too
    /// (default: plain eager, NCHW).
    #[arg(long, requires = "compare")]
    pub torch_channels_last: bool,
    /// Train this many runs (seeds 0..N) in one process at once, one thread
    /// each, and compare with the same runs one after another.
    #[arg(long, conflicts_with = "breakdown")]
    pub pack: Option<usize>,
    /// Convolutions in NCHW instead of channels-last (`train.channels_last = false`).
    #[arg(long)]
    pub nchw: bool,
    /// bfloat16 autocast for the network forwards (`train.bf16 = true`).
    #[arg(long)]
    pub bf16: bool,
    /// Multi-crop: this many small extra views per image (`augment.small_crops`).
    #[arg(long, default_value_t = 0)]
    pub small_crops: usize,
    /// Multi-crop: the small views' side in pixels (`augment.small_crop_size`).
    #[arg(long, default_value_t = crate::config::DEFAULT_SMALL_CROP_SIZE)]
    pub small_size: u32,
    /// Channel width multiplier of the encoder (`model.width`) instead of the configuration's.
    #[arg(long)]
    pub width: Option<f64>,
    /// k-means: restarts (n_init).
    #[arg(long, default_value_t = 3)]
    pub n_init: usize,
    /// k-means: rows of the benchmark data.
    #[arg(long, default_value_t = 60_000)]
    pub rows: usize,
}

#[cfg(not(feature = "torch"))]
pub fn exec(_: &BenchArgs, _: &crate::config::Environment) -> anyhow::Result<i32> {
    Err(super::no_torch("benchmark training"))
}

/// --python, else $SWEEP_PYTHON, else the project venv's python, else python3.
#[cfg(feature = "torch")]
fn python(given: &Option<PathBuf>, env: &crate::config::Environment) -> PathBuf {
    given
        .clone()
        .or_else(|| env.python.clone())
        .or_else(|| Some(PathBuf::from(".venv/bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[cfg(feature = "torch")]
pub fn exec(a: &BenchArgs, env: &crate::config::Environment) -> anyhow::Result<i32> {
    use crate::bench::{BenchChanges, BenchMode, BenchRequest, CompareOptions};
    let mode = if a.name == "kmeans" {
        BenchMode::Kmeans { rows: a.rows, n_init: a.n_init }
    } else if a.compare {
        let python = python(&a.python, env);
        BenchMode::Compare(CompareOptions { python, rounds: a.rounds, torch_channels_last: a.torch_channels_last })
    } else if let Some(n) = a.pack {
        BenchMode::Pack(n)
    } else {
        BenchMode::Steps { breakdown: a.breakdown }
    };
    let changes = BenchChanges {
        batch: a.batch,
        nchw: a.nchw,
        bf16: a.bf16,
        small_crops: a.small_crops,
        small_size: a.small_size,
        width: a.width,
    };
    let data = a.dataset.zip(a.data_root.clone());
    let req =
        BenchRequest { name: a.name.clone(), device: a.device, warmup: a.warmup, steps: a.steps, mode, changes, data };
    print!("{}", crate::ops::bench(&req)?);
    Ok(0)
}
