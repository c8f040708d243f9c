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
pub fn exec(_: &BenchArgs) -> anyhow::Result<i32> {
    Err(super::no_torch("benchmark training"))
}

/// --python, else $SWEEP_PYTHON, else the project venv's python, else python3.
#[cfg(feature = "torch")]
fn python(given: &Option<PathBuf>) -> PathBuf {
    given
        .clone()
        .or_else(|| std::env::var_os("SWEEP_PYTHON").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from(".venv/bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[cfg(feature = "torch")]
pub fn exec(a: &BenchArgs) -> anyhow::Result<i32> {
    use crate::bench::{self, BenchData, CompareOptions};
    let spec = a.device;
    let device = crate::runtime::device::to_tch(spec);
    if a.name == "kmeans" {
        let (secs, inertia) = crate::eval::kmeans::bench_kmeans(device, a.rows, 256, 10, a.n_init)?;
        println!(
            "k-means on {} x 256, K = 10, n_init = {} on {}: median {:.3} s (inertia {:.6e})",
            a.rows, a.n_init, a.device, secs, inertia
        );
        return Ok(0);
    }
    let data = match (&a.dataset, &a.data_root) {
        (Some(ds), Some(root)) => Some((*ds, root.clone())),
        _ => None,
    };
    let mut cfg = bench::named_config(&a.name, data)?;
    if let Some(b) = a.batch {
        cfg.train.batch_size = b;
    }
    cfg.train.channels_last = !a.nchw;
    cfg.train.bf16 = a.bf16;
    cfg.augment.small_crops = a.small_crops;
    cfg.augment.small_crop_size = a.small_size;
    if let Some(w) = a.width {
        cfg.model.width = w;
    }
    let data = if a.dataset.is_some() {
        let cache = crate::train::executor::DataCache::default();
        let loaded = cache.get(&cfg, spec).map_err(anyhow::Error::from)?;
        BenchData::loaded(&cfg, loaded)?
    } else {
        BenchData::random(&cfg, device)
    };
    if a.compare {
        let opts =
            CompareOptions { python: python(&a.python), rounds: a.rounds, torch_channels_last: a.torch_channels_last };
        print!("{}", bench::compare(&cfg, &a.name, device, &data, a.warmup, a.steps, &opts)?);
    } else if let Some(n) = a.pack {
        print!("{}", bench::pack(&cfg, &a.name, device, &data, n, a.warmup, a.steps)?);
    } else {
        print!("{}", bench::run(&cfg, &a.name, device, &data, a.warmup, a.steps, a.breakdown)?);
    }
    Ok(0)
}
