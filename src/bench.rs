//! `sweep bench`: training throughput of named configurations, warm-up excluded,
//! medians over timed steps, with a per-phase breakdown and peak memory.
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::config::{Backbone, DatasetName, RunConfig, RunSpec, Stem};

use crate::runtime::device::synchronize;
use crate::train::step::{Learner, PhaseTimes};

/// The named configurations (issue: at least cpu-small and cifar-r18).
const NAMES: [&str; 4] = ["cpu-small", "cpu-mnist", "cifar-r18", "cifar-r34"];

/// The configuration `name` (synthetic data), or trained on `data` (a dataset
/// and the folder holding it) instead, at the same 32 px resolution.
fn named_config(name: &str, data: Option<(DatasetName, std::path::PathBuf)>) -> anyhow::Result<RunConfig> {
    let mut cfg = RunSpec::default();
    cfg.data.dataset = DatasetName::Synthetic;
    if let Some((dataset, root)) = data {
        cfg.data.dataset = dataset;
        cfg.data.root = Some(root);
    }
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
        // The convergence study's network (sweeps/cpu/converge-mnist.toml).
        "cpu-mnist" => {
            cfg.model.backbone = Backbone::Resnet18;
            cfg.model.width = 0.5;
            cfg.model.stem = Some(Stem::Imagenet);
            cfg.train.batch_size = Some(256);
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
    cfg.resolve().map_err(anyhow::Error::msg)
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
    /// CUDA only: device memory in use after the timed steps minus before the
    /// engine was built. libtorch's caching allocator keeps what it reserved, so
    /// this is the run's peak reservation (plus cuDNN/cuBLAS workspaces).
    pub gpu_mib: Option<f64>,
}

/// Where the benchmark's uint8 batches come from.
pub enum BenchData {
    /// Four batches of random images: throughput does not depend on content.
    Random(Tensor),
    /// A real dataset (loaded once per process through the executors'
    /// [`crate::train::executor::DataCache`], as `sweep run` holds it) and a fixed
    /// pseudo-random order to gather batches from, as training does.
    Loaded { data: std::sync::Arc<crate::train::LoadedData>, order: Tensor },
}

impl BenchData {
    pub fn random(cfg: &RunConfig, device: Device) -> Self {
        let (b, r) = (cfg.train.batch_size as i64, cfg.data.resolution as i64);
        BenchData::Random(crate::runtime::rng::seeded(0, || {
            Tensor::randint(256, [4 * b, 3, r, r], (Kind::Uint8, device))
        }))
    }

    /// Four batches' worth of indices drawn (seeded) from the whole dataset.
    pub fn loaded(cfg: &RunConfig, data: std::sync::Arc<crate::train::LoadedData>) -> anyhow::Result<Self> {
        use rand::seq::index::sample;
        use rand::SeedableRng;
        let n = data.on_device.n as usize;
        let want = 4 * cfg.train.batch_size;
        anyhow::ensure!(n >= want, "the dataset has {n} images, the benchmark needs {want} (4 batches)");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let idx: Vec<i64> = sample(&mut rng, n, want).into_iter().map(|i| i as i64).collect();
        let order = Tensor::from_slice(&idx).to_device(data.on_device.device());
        Ok(BenchData::Loaded { data, order })
    }

    fn channels(&self) -> i64 {
        match self {
            BenchData::Random(_) => 3,
            BenchData::Loaded { data, .. } => data.dataset.channels(),
        }
    }

    fn batch(&self, i: usize, b: i64) -> Tensor {
        let at = (i as i64 % 4) * b;
        match self {
            BenchData::Random(pool) => pool.narrow(0, at, b),
            BenchData::Loaded { data, order } => data.on_device.batch(&order.narrow(0, at, b)),
        }
    }

    /// Another handle on the same images, for another thread.
    fn share(&self) -> Self {
        match self {
            BenchData::Random(pool) => BenchData::Random(pool.shallow_clone()),
            BenchData::Loaded { data, order } => BenchData::Loaded { data: data.clone(), order: order.shallow_clone() },
        }
    }
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
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Times `steps` training steps after `warmup` untimed ones. Two passes: plain
/// steps for the throughput (no extra synchronisation), then instrumented ones
/// for the breakdown.
pub fn run(
    cfg: &RunConfig,
    name: &str,
    device: Device,
    data: &BenchData,
    warmup: usize,
    steps: usize,
    breakdown: bool,
) -> anyhow::Result<BenchResult> {
    let b = cfg.train.batch_size as i64;
    let gpu_before = gpu_baseline(device);
    let mut learner = Learner::new(cfg, data.channels(), device)?;
    let batch_at = |i: usize| data.batch(i, b);
    let total = warmup + steps;
    for i in 0..warmup {
        let _ = learner.step(&batch_at(i), i, total, None);
    }
    synchronize(device);
    let mut times = Vec::with_capacity(steps);
    let mut last = Tensor::zeros([4], (Kind::Float, device));
    for i in 0..steps {
        let t0 = Instant::now();
        last = learner.step(&batch_at(i), warmup + i, total, None);
        synchronize(device);
        times.push(t0.elapsed().as_secs_f64());
    }
    let check = last.double_value(&[0]);
    anyhow::ensure!(check.is_finite(), "benchmark loss is not finite ({check})");
    let med = median(&mut times);
    let mut phases = Vec::new();
    if breakdown {
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); PhaseTimes::names().len()];
        for i in 0..steps.clamp(3, 10) {
            let mut pt = PhaseTimes::default();
            let _ = learner.step(&batch_at(i), total + i, total + 10, Some(&mut pt));
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
        gpu_mib: gpu_growth_mib(device, gpu_before),
    })
}

/// Device memory in use now (after making sure the CUDA context exists), or
/// None on the CPU.
fn gpu_baseline(device: Device) -> Option<u64> {
    if !device.is_cuda() {
        return None;
    }
    let _ = Tensor::zeros([1], (Kind::Float, device));
    crate::runtime::device::gpu_used_bytes()
}

fn gpu_growth_mib(device: Device, before: Option<u64>) -> Option<f64> {
    let before = before?;
    synchronize(device);
    let after = crate::runtime::device::gpu_used_bytes()?;
    Some(after.saturating_sub(before) as f64 / (1024.0 * 1024.0))
}

/// What `sweep bench --pack N` measured: N runs (seeds 0..N) of one configuration
/// trained one after another, then all at once in one process (one thread each,
/// as `sweep run --per-device N` does).
pub struct PackResult {
    pub name: String,
    pub device: String,
    pub runs: usize,
    pub batch: usize,
    pub steps: usize,
    pub sequential_seconds: f64,
    pub packed_seconds: f64,
    /// CUDA only: device memory the packed runs held together, per run.
    pub gpu_mib_per_run: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

impl PackResult {
    fn images(&self) -> f64 {
        (self.runs * self.steps * self.batch) as f64
    }
    fn sequential_images_per_sec(&self) -> f64 {
        self.images() / self.sequential_seconds
    }
    fn packed_images_per_sec(&self) -> f64 {
        self.images() / self.packed_seconds
    }
    /// Packed over sequential throughput (the target on a GPU: >= 3 for 8 runs).
    fn speedup(&self) -> f64 {
        self.sequential_seconds / self.packed_seconds
    }
}

/// Times `runs` engines doing `steps` steps each (after `warmup` untimed ones),
/// first packed (all threads start together; the clock stops when the last one
/// ends), then sequentially (the sum of each run's timed steps).
pub fn pack(
    cfg: &RunConfig,
    name: &str,
    device: Device,
    data: &BenchData,
    runs: usize,
    warmup: usize,
    steps: usize,
) -> anyhow::Result<PackResult> {
    anyhow::ensure!(runs >= 1, "--pack needs at least one run");
    let b = cfg.train.batch_size as i64;
    let gpu_before = gpu_baseline(device);
    let learners = (0..runs).map(|i| seeded_engine(cfg, data, device, i)).collect::<anyhow::Result<Vec<_>>>()?;
    // Built on this thread's stream; each packed thread launches on its own.
    synchronize(device);
    let packed = time_packed(learners, data, b, warmup, steps)?;
    let gpu_mib_per_run = gpu_growth_mib(device, gpu_before).map(|m| m / runs as f64);

    let mut sequential = 0.0;
    for i in 0..runs {
        let mut e = seeded_engine(cfg, data, device, i)?;
        let _ = drive(&mut e, data, b, 0, warmup, warmup + steps);
        let t0 = Instant::now();
        let loss = drive(&mut e, data, b, warmup, steps, warmup + steps).double_value(&[0]);
        sequential += t0.elapsed().as_secs_f64();
        anyhow::ensure!(loss.is_finite(), "benchmark loss is not finite ({loss})");
    }
    Ok(PackResult {
        name: name.to_string(),
        device: format!("{device:?}").to_lowercase(),
        runs,
        batch: b as usize,
        steps,
        sequential_seconds: sequential,
        packed_seconds: packed,
        gpu_mib_per_run,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// The learner of run `i` of a pack: `cfg` with seed `i`.
fn seeded_engine(cfg: &RunConfig, data: &BenchData, device: Device, i: usize) -> anyhow::Result<Learner> {
    let mut c = cfg.clone();
    c.seed = i as u64;
    Learner::new(&c, data.channels(), device)
}

/// Steps `from..from + n` of `learner` on batches of `b` from `pool` (of a
/// schedule of `total` steps), then the device synchronised; the last step's terms.
fn drive(learner: &mut Learner, pool: &BenchData, b: i64, from: usize, n: usize, total: usize) -> Tensor {
    let device = learner.device;
    let mut last = Tensor::zeros([4], (Kind::Float, device));
    for i in from..from + n {
        last = learner.step(&pool.batch(i, b), i, total, None);
    }
    synchronize(device);
    last
}

/// Seconds for every learner's `steps` timed steps, all at once, one thread
/// (and on CUDA one stream) each, after `warmup` untimed steps each; a barrier
/// starts the clock when every thread has warmed up.
fn time_packed(learners: Vec<Learner>, data: &BenchData, b: i64, warmup: usize, steps: usize) -> anyhow::Result<f64> {
    let barrier = std::sync::Barrier::new(learners.len() + 1);
    std::thread::scope(|s| -> anyhow::Result<f64> {
        let handles: Vec<_> = learners
            .into_iter()
            .map(|mut e| {
                let (pool, barrier) = (data.share(), &barrier);
                s.spawn(move || {
                    if let Device::Cuda(i) = e.device {
                        crate::runtime::device::use_own_cuda_stream(i);
                    }
                    let _ = drive(&mut e, &pool, b, 0, warmup, warmup + steps);
                    barrier.wait();
                    drive(&mut e, &pool, b, warmup, steps, warmup + steps).double_value(&[0])
                })
            })
            .collect();
        barrier.wait();
        let t0 = Instant::now();
        for h in handles {
            let loss = h.join().map_err(|_| anyhow::anyhow!("a packed benchmark run panicked"))?;
            anyhow::ensure!(loss.is_finite(), "benchmark loss is not finite ({loss})");
        }
        Ok(t0.elapsed().as_secs_f64())
    })
}

impl std::fmt::Display for PackResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} on {}: {} runs, batch {}, {} timed steps each",
            self.name, self.device, self.runs, self.batch, self.steps
        )?;
        writeln!(
            f,
            "  one after another: {:>8.2} s  {:>9.1} images/s",
            self.sequential_seconds,
            self.sequential_images_per_sec()
        )?;
        writeln!(
            f,
            "  packed:            {:>8.2} s  {:>9.1} images/s",
            self.packed_seconds,
            self.packed_images_per_sec()
        )?;
        writeln!(f, "  packed / sequential throughput: {:.2}x", self.speedup())?;
        if let Some(m) = self.gpu_mib_per_run {
            writeln!(f, "  GPU memory, packed: {m:.0} MiB per run")?;
        }
        if let Some(m) = self.peak_rss_mib {
            writeln!(f, "  peak host memory (RSS): {m:.0} MiB")?;
        }
        Ok(())
    }
}

/// `benches/concurl_torch.py`, embedded so that `sweep bench --compare` works
/// from any directory with any Python that has torch and kornia.
const TORCH_SCRIPT: &str = include_str!("../benches/concurl_torch.py");

/// How `sweep bench --compare` runs the PyTorch side.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// A Python with torch (2.11.0, as linked here) and kornia.
    pub python: std::path::PathBuf,
    pub rounds: usize,
    /// Pass `--channels-last` to the PyTorch script (default: plain eager NCHW).
    pub torch_channels_last: bool,
}

/// Images per second of both sides, one pair per round.
pub struct CompareResult {
    pub name: String,
    pub device: String,
    pub torch_channels_last: bool,
    pub rounds: Vec<(f64, f64)>,
}

impl CompareResult {
    pub fn ours(&self) -> f64 {
        median(&mut self.rounds.iter().map(|r| r.0).collect::<Vec<_>>())
    }
    pub fn theirs(&self) -> f64 {
        median(&mut self.rounds.iter().map(|r| r.1).collect::<Vec<_>>())
    }
    /// Median of ours over median of PyTorch's.
    pub fn ratio(&self) -> f64 {
        self.ours() / self.theirs()
    }
}

/// The `images_per_sec=X` field of the PyTorch script's output line.
fn parse_images_per_sec(stdout: &str) -> Option<f64> {
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("images_per_sec="))
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
}

/// `sweep bench NAME --compare`: `rounds` rounds, each timing this engine and
/// then the same step in PyTorch eager + kornia (a child process, so the two
/// never share the cores), with the same batch, M, d', warm-up and steps.
pub fn compare(
    cfg: &RunConfig,
    name: &str,
    device: Device,
    data: &BenchData,
    warmup: usize,
    steps: usize,
    opts: &CompareOptions,
) -> anyhow::Result<CompareResult> {
    use anyhow::Context;
    anyhow::ensure!(opts.rounds >= 1, "--rounds must be at least 1");
    let dir = tempfile::tempdir().context("creating a temporary directory for the PyTorch script")?;
    let script = dir.path().join("concurl_torch.py");
    std::fs::write(&script, TORCH_SCRIPT).with_context(|| format!("writing {}", script.display()))?;
    let dev = match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    };
    let mut rounds = Vec::with_capacity(opts.rounds);
    for round in 1..=opts.rounds {
        let ours = run(cfg, name, device, data, warmup, steps, false)?.images_per_sec;
        let mut cmd = std::process::Command::new(&opts.python);
        cmd.arg(&script).arg(name);
        for (flag, v) in [
            ("--steps", steps.to_string()),
            ("--warmup", warmup.to_string()),
            ("--batch", cfg.train.batch_size.to_string()),
            ("--m", cfg.transform.m.to_string()),
            ("--d-prime", cfg.transform.d_prime.to_string()),
            ("--device", dev.clone()),
        ] {
            cmd.arg(flag).arg(v);
        }
        if opts.torch_channels_last {
            cmd.arg("--channels-last");
        }
        let py = opts.python.display();
        let out = cmd.output().with_context(|| {
            format!("could not start `{py}`: pass --python with a Python that has torch 2.11.0 and kornia")
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
            anyhow::bail!(
                "the PyTorch side (`{py} {}`) failed ({}):\n{}\nIt needs torch 2.11.0 and kornia in that Python (`make bench-compare` installs kornia into .venv).",
                script.display(),
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let theirs = parse_images_per_sec(&stdout)
            .with_context(|| format!("the PyTorch side printed no `images_per_sec=` (output: {:?})", stdout.trim()))?;
        eprintln!("round {round}/{}: sweep {ours:.1} images/s, PyTorch {theirs:.1} images/s", opts.rounds);
        rounds.push((ours, theirs));
    }
    Ok(CompareResult { name: name.to_string(), device: dev, torch_channels_last: opts.torch_channels_last, rounds })
}

impl std::fmt::Display for CompareResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = if self.torch_channels_last { "channels-last" } else { "NCHW" };
        writeln!(f, "{} on {}: {} rounds, medians", self.name, self.device, self.rounds.len())?;
        let torch = format!("PyTorch eager + kornia ({layout}):");
        writeln!(f, "  {:<44}{:>9.1} images/s", "sweep:", self.ours())?;
        writeln!(f, "  {torch:<44}{:>9.1} images/s", self.theirs())?;
        writeln!(f, "  ratio: {:.2}", self.ratio())
    }
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} on {}: batch {}, {} timed steps", self.name, self.device, self.batch, self.steps)?;
        writeln!(
            f,
            "  median step: {:.4} s   throughput: {:.1} images/s",
            self.median_step_seconds, self.images_per_sec
        )?;
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
        if let Some(m) = self.gpu_mib {
            writeln!(f, "  GPU memory held by the run: {m:.0} MiB")?;
        }
        Ok(())
    }
}

/// What `sweep bench` measures, typed.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    /// A named configuration ([`named_config`]); ignored by [`BenchMode::Kmeans`].
    pub name: String,
    pub device: crate::schedule::DeviceSpec,
    pub warmup: usize,
    pub steps: usize,
    pub mode: BenchMode,
    /// Changes to the named configuration.
    pub changes: BenchChanges,
    /// Train on this dataset, in this folder, instead of random images.
    pub data: Option<(DatasetName, std::path::PathBuf)>,
}

/// Which measurement.
#[derive(Debug, Clone)]
pub enum BenchMode {
    /// The training step's median time (each phase's too, with `breakdown`).
    Steps { breakdown: bool },
    /// The same step in PyTorch, alternating with this one.
    Compare(CompareOptions),
    /// N runs trained at once against one after another.
    Pack(usize),
    /// k-means on `rows` x 256 random rows, K = 10.
    Kmeans { rows: usize, n_init: usize },
}

/// The command line's changes to a named configuration.
#[derive(Debug, Clone, Default)]
pub struct BenchChanges {
    pub batch: Option<usize>,
    pub nchw: bool,
    pub bf16: bool,
    pub small_crops: usize,
    pub small_size: u32,
    pub width: Option<f64>,
}

impl BenchChanges {
    fn apply(&self, cfg: &mut RunConfig) {
        if let Some(b) = self.batch {
            cfg.train.batch_size = b;
        }
        cfg.train.channels_last = !self.nchw;
        cfg.train.bf16 = self.bf16;
        cfg.augment.small_crops = self.small_crops;
        cfg.augment.small_crop_size = self.small_size;
        if let Some(w) = self.width {
            cfg.model.width = w;
        }
    }
}

/// `sweep bench`: the measurement `req` asks for, as the text to print.
pub fn bench(req: &BenchRequest) -> anyhow::Result<String> {
    let device = crate::runtime::device::to_tch(req.device);
    if let BenchMode::Kmeans { rows, n_init } = req.mode {
        let (secs, inertia) = crate::eval::kmeans::bench_kmeans(device, rows, 256, 10, n_init)?;
        return Ok(format!(
            "k-means on {rows} x 256, K = 10, n_init = {n_init} on {}: median {secs:.3} s (inertia {inertia:.6e})\n",
            req.device
        ));
    }
    let mut cfg = named_config(&req.name, req.data.clone())?;
    req.changes.apply(&mut cfg);
    let data = if req.data.is_some() {
        let cache = crate::train::executor::DataCache::default();
        let loaded = cache.get(&cfg, req.device).map_err(anyhow::Error::from)?;
        BenchData::loaded(&cfg, loaded)?
    } else {
        BenchData::random(&cfg, device)
    };
    let (name, warmup, steps) = (&req.name, req.warmup, req.steps);
    match &req.mode {
        BenchMode::Compare(opts) => Ok(compare(&cfg, name, device, &data, warmup, steps, opts)?.to_string()),
        BenchMode::Pack(n) => Ok(pack(&cfg, name, device, &data, *n, warmup, steps)?.to_string()),
        BenchMode::Steps { breakdown } => Ok(run(&cfg, name, device, &data, warmup, steps, *breakdown)?.to_string()),
        BenchMode::Kmeans { .. } => unreachable!("answered above"),
    }
}
