//! `sweep bench`: training throughput of named configurations, warm-up excluded,
//! medians over timed steps, with a per-phase breakdown and peak memory.
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::config::{Backbone, DatasetName, RunConfig, Stem};

use super::step::{Engine, PhaseTimes};

/// The named configurations (issue: at least cpu-small and cifar-r18).
pub const NAMES: [&str; 3] = ["cpu-small", "cifar-r18", "cifar-r34"];

pub fn named_config(name: &str) -> anyhow::Result<RunConfig> {
    let mut cfg = RunConfig::default();
    cfg.data.dataset = DatasetName::Synthetic;
    cfg.data.resolution = Some(32);
    cfg.transform.m = 100;
    cfg.transform.d_prime = 64;
    match name {
        // A narrow ResNet-18 for CPU runs: 16..128 channels.
        "cpu-small" => {
            cfg.model.backbone = Backbone::Resnet18;
            cfg.model.width = 0.25;
            cfg.model.stem = Some(Stem::Cifar);
            cfg.train.batch_size = Some(64);
        }
        "cifar-r18" => {
            cfg.model.backbone = Backbone::Resnet18;
            cfg.model.stem = Some(Stem::Cifar);
            cfg.train.batch_size = Some(256);
        }
        "cifar-r34" => {
            cfg.model.backbone = Backbone::Resnet34;
            cfg.model.stem = Some(Stem::Cifar);
            cfg.train.batch_size = Some(256);
        }
        other => anyhow::bail!("unknown benchmark configuration `{other}`; known: {}", NAMES.join(", ")),
    }
    cfg.data.clusters = Some(10);
    cfg.resolve();
    Ok(cfg)
}

pub struct BenchResult {
    pub name: String,
    pub device: String,
    pub batch: usize,
    pub steps: usize,
    pub median_step_seconds: f64,
    pub images_per_sec: f64,
    /// Median seconds per phase over the timed steps (synchronised).
    pub phases: Vec<(&'static str, f64)>,
    pub peak_rss_mib: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite timings"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Times `steps` training steps after `warmup` untimed ones. Two passes: plain
/// steps for the throughput (no extra synchronisation), then instrumented ones
/// for the breakdown.
pub fn run(cfg: &RunConfig, name: &str, device: Device, warmup: usize, steps: usize, breakdown: bool) -> anyhow::Result<BenchResult> {
    let b = cfg.batch_size() as i64;
    let r = cfg.resolution() as i64;
    let mut engine = Engine::new(cfg, 3, device)?;
    // Random images: throughput does not depend on content.
    tch::manual_seed(0);
    let pool = Tensor::randint(256, [4 * b, 3, r, r], (Kind::Uint8, device));
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let batch_at = |i: usize| pool.narrow(0, (i as i64 % 4) * b, b);
    let total = warmup + steps;
    for i in 0..warmup {
        let _ = engine.step(&batch_at(i), i, total, None);
    }
    sync();
    let mut times = Vec::with_capacity(steps);
    let mut last = Tensor::zeros([4], (Kind::Float, device));
    for i in 0..steps {
        let t0 = Instant::now();
        last = engine.step(&batch_at(i), warmup + i, total, None);
        sync();
        times.push(t0.elapsed().as_secs_f64());
    }
    let check = last.double_value(&[0]);
    anyhow::ensure!(check.is_finite(), "benchmark loss is not finite ({check})");
    let med = median(&mut times);
    let mut phases = Vec::new();
    if breakdown {
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); 8];
        for i in 0..steps.min(10).max(3) {
            let mut pt = PhaseTimes::default();
            let _ = engine.step(&batch_at(i), total + i, total + 10, Some(&mut pt));
            for (j, v) in pt.values().iter().enumerate() {
                per[j].push(*v);
            }
        }
        for (j, n) in PhaseTimes::names().iter().enumerate() {
            phases.push((*n, median(&mut per[j])));
        }
    }
    Ok(BenchResult {
        name: name.to_string(),
        device: format!("{device:?}").to_lowercase(),
        batch: b as usize,
        steps,
        median_step_seconds: med,
        images_per_sec: b as f64 / med,
        phases,
        peak_rss_mib: peak_rss_mib(),
    })
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} on {}: batch {}, {} timed steps", self.name, self.device, self.batch, self.steps)?;
        writeln!(f, "  median step: {:.4} s   throughput: {:.1} images/s", self.median_step_seconds, self.images_per_sec)?;
        if !self.phases.is_empty() {
            let total: f64 = self.phases.iter().map(|p| p.1).sum();
            writeln!(f, "  breakdown (synchronised, median per phase):")?;
            for (n, s) in &self.phases {
                writeln!(f, "    {n:<22} {:>9.2} ms  {:>5.1}%", s * 1e3, 100.0 * s / total.max(1e-12))?;
            }
        }
        if let Some(m) = self.peak_rss_mib {
            writeln!(f, "  peak host memory (RSS): {m:.0} MiB")?;
        }
        Ok(())
    }
}
