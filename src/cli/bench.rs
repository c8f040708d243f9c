//! `sweep bench`: throughput and memory of named configurations, and k-means.
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Configuration: cpu-small, cifar-r18, cifar-r34, or `kmeans`.
    #[arg(default_value = "cpu-small")]
    pub name: String,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
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
    /// k-means: restarts (n_init).
    #[arg(long, default_value_t = 3)]
    pub n_init: usize,
    /// k-means: rows of the benchmark data.
    #[arg(long, default_value_t = 60_000)]
    pub rows: usize,
}

#[cfg(not(feature = "torch"))]
pub fn exec(_: &BenchArgs) -> anyhow::Result<i32> {
    anyhow::bail!("this build has no libtorch (built without the `torch` feature)")
}

#[cfg(feature = "torch")]
pub fn exec(a: &BenchArgs) -> anyhow::Result<i32> {
    use crate::sweep::schedule::DeviceSpec;
    let spec: DeviceSpec = a.device.parse().map_err(|e| anyhow::anyhow!("--device {}: {e}", a.device))?;
    let device = crate::train::device::to_tch(spec);
    if a.name == "kmeans" {
        let (secs, inertia) = crate::eval::kmeans::bench_kmeans(device, a.rows, 256, 10, a.n_init)?;
        println!(
            "k-means on {} x 256, K = 10, n_init = {} on {}: median {:.3} s (inertia {:.6e})",
            a.rows, a.n_init, a.device, secs, inertia
        );
        return Ok(0);
    }
    let mut cfg = crate::train::bench::named_config(&a.name)?;
    if let Some(b) = a.batch {
        cfg.train.batch_size = Some(b);
    }
    let res = crate::train::bench::run(&cfg, &a.name, device, a.warmup, a.steps, a.breakdown)?;
    print!("{res}");
    Ok(0)
}
