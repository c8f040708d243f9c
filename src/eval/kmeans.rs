//! k-means on a feature tensor (method.md §7: the BYOL baseline clusters the
//! target projection v_xi with k-means++ starts, several restarts, best inertia).
//!
//! It follows scikit-learn's `KMeans(init="k-means++", algorithm="lloyd")` so the
//! baseline numbers are comparable with the paper's:
//! - greedy k-means++ (Arthur & Vassilvitskii 2007 with 2 + ln k local trials per
//!   centre, as scikit-learn does);
//! - Lloyd iterations stopping when the labels no longer change, or when the
//!   squared centre shift sum_j ||c_j' - c_j||^2 falls to `tol x mean_d Var(X_d)`
//!   (scikit-learn's `tol`, relative to the data's mean variance);
//! - an empty cluster is re-seeded with the point farthest from its centre (the
//!   next farthest for the next empty cluster), which then leaves its old cluster;
//! - the data are centred first (centres are shifted back at the end), which
//!   keeps the float32 expansion below accurate far from the origin.
//!
//! Everything runs on the tensor's device. Squared distances use
//! ||x||^2 - 2 x c^T + ||c||^2 (one matmul) over row chunks, in float32; sums that
//! decide things (inertia, potentials, centre shift) are accumulated in f64. The
//! random draws come from a ChaCha RNG seeded by the config, so results depend on
//! the seed alone and training's torch RNG is never touched.
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::util::mix_seed;

/// Budget for one chunk of the distance matrix, in float32 elements (64 MiB).
const CHUNK_ELEMENTS: i64 = 1 << 24;

#[derive(Debug, Clone, PartialEq)]
pub struct KMeansConfig {
    /// Number of clusters.
    pub k: usize,
    /// Restarts from independent k-means++ starts; the lowest inertia wins.
    pub n_init: usize,
    /// Lloyd iterations per restart at most.
    pub max_iter: usize,
    /// Convergence threshold relative to the mean feature variance (scikit-learn's).
    pub tol: f64,
    pub seed: u64,
}

impl KMeansConfig {
    /// scikit-learn's defaults (n_init = 10, max_iter = 300, tol = 1e-4).
    pub fn new(k: usize, seed: u64) -> Self {
        Self { k, n_init: 10, max_iter: 300, tol: 1e-4, seed }
    }
}

#[derive(Debug)]
pub struct KMeansResult {
    /// Cluster of each row, in 0..k.
    pub labels: Vec<i64>,
    /// k x D float32 centres, on the input's device.
    pub centers: Tensor,
    /// Sum of squared distances of the rows to their centres (f64).
    pub inertia: f64,
    /// Lloyd iterations the winning restart took.
    pub iterations: usize,
}

/// Cluster the rows of `x` (N x D, any float kind, CPU or CUDA) into `cfg.k`
/// clusters. Errors on a non-2-D input, k = 0, k > N, n_init = 0 or non-finite
/// values.
pub fn kmeans(x: &Tensor, cfg: &KMeansConfig) -> anyhow::Result<KMeansResult> {
    let size = x.size();
    ensure!(size.len() == 2, "k-means expects an N x D tensor, got shape {size:?}");
    let (n, _d) = (size[0], size[1]);
    ensure!(cfg.k >= 1, "k-means needs k >= 1");
    ensure!(cfg.n_init >= 1, "k-means needs n_init >= 1");
    ensure!(cfg.k as i64 <= n, "k-means with k = {} clusters needs at least as many rows, got {n}", cfg.k);
    tch::no_grad(|| {
        let x = x.to_kind(Kind::Float);
        let finite = x.isfinite().all().int64_value(&[]) == 1;
        ensure!(finite, "k-means input holds NaN or infinite values");
        let mean = x.mean_dim(0, true, Kind::Float);
        let xc = &x - &mean;
        let x_sq = row_sq_norms(&xc);
        let tol_abs = cfg.tol * xc.var_dim(0, false, false).mean(Kind::Double).double_value(&[]);
        let chunk = chunk_rows(cfg.k.max(n_local_trials(cfg.k)));

        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut best: Option<KMeansResult> = None;
        for _ in 0..cfg.n_init {
            let init = kmeans_plusplus(&xc, &x_sq, cfg.k, chunk, &mut rng);
            let run = lloyd_from(&xc, &x_sq, init, cfg.max_iter, tol_abs, chunk);
            if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
                best = Some(run);
            }
        }
        let mut best = best.expect("n_init >= 1");
        best.centers = &best.centers + &mean;
        Ok(best)
    })
}

/// Lloyd iterations from given initial centres (k x D), with the same stopping
/// rule and empty-cluster handling as [`kmeans`] (`tol_abs` is absolute here).
/// Exposed so a start with a cluster bound to be empty can be tested.
pub fn lloyd(x: &Tensor, init: &Tensor, max_iter: usize, tol_abs: f64) -> KMeansResult {
    tch::no_grad(|| {
        let x = x.to_kind(Kind::Float);
        let x_sq = row_sq_norms(&x);
        let k = init.size()[0] as usize;
        lloyd_from(&x, &x_sq, init.to_kind(Kind::Float).to_device(x.device()), max_iter, tol_abs, chunk_rows(k))
    })
}

/// Nearest centre of every row and its squared distance (labels as int64, the
/// distances as float32), computing the N x k distances `chunk` rows at a time.
pub fn assign(x: &Tensor, centers: &Tensor, chunk: i64) -> (Tensor, Tensor) {
    tch::no_grad(|| {
        let x = x.to_kind(Kind::Float);
        assign_with_norms(&x, &row_sq_norms(&x), &centers.to_kind(Kind::Float), chunk.max(1))
    })
}

fn row_sq_norms(x: &Tensor) -> Tensor {
    x.square().sum_dim_intlist(1, false, Kind::Float)
}

/// Rows per chunk so that a chunk of distances to `cols` points stays in budget.
fn chunk_rows(cols: usize) -> i64 {
    (CHUNK_ELEMENTS / cols.max(1) as i64).max(1)
}

/// scikit-learn's number of candidate centres tried per k-means++ step.
fn n_local_trials(k: usize) -> usize {
    2 + (k as f64).ln() as usize
}

/// Squared distances (rows x points) from ||x||^2 - 2 x p^T + ||p||^2, clamped at 0
/// (the expansion can go slightly negative in float32).
fn sq_dists(x: &Tensor, x_sq: &Tensor, p: &Tensor, p_sq: &Tensor) -> Tensor {
    (x.matmul(&p.tr()) * -2.0 + x_sq.unsqueeze(1) + p_sq.unsqueeze(0)).clamp_min(0.0)
}

fn assign_with_norms(x: &Tensor, x_sq: &Tensor, centers: &Tensor, chunk: i64) -> (Tensor, Tensor) {
    let n = x.size()[0];
    let c_sq = row_sq_norms(centers);
    let mut labels = Vec::new();
    let mut dists = Vec::new();
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let d = sq_dists(&x.narrow(0, start, len), &x_sq.narrow(0, start, len), centers, &c_sq);
        let (min_d, idx) = d.min_dim(1, false);
        labels.push(idx);
        dists.push(min_d);
        start += len;
    }
    (Tensor::cat(&labels, 0), Tensor::cat(&dists, 0))
}

/// Squared distances of every row to a set of points, as (points x N), chunked.
fn dists_to_points(x: &Tensor, x_sq: &Tensor, points: &Tensor, chunk: i64) -> Tensor {
    let n = x.size()[0];
    let p_sq = row_sq_norms(points);
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        parts.push(sq_dists(&x.narrow(0, start, len), &x_sq.narrow(0, start, len), points, &p_sq).tr());
        start += len;
    }
    Tensor::cat(&parts, 1)
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`): the first centre uniform,
/// then each next one the best, by total potential, of `2 + ln k` candidates drawn
/// with probability proportional to D(x)^2.
fn kmeans_plusplus(x: &Tensor, x_sq: &Tensor, k: usize, chunk: i64, rng: &mut ChaCha8Rng) -> Tensor {
    let n = x.size()[0] as usize;
    let device = x.device();
    let trials = n_local_trials(k);
    let first = rng.random_range(0..n) as i64;
    let mut ids = vec![first];
    let mut closest = dists_to_points(x, x_sq, &x.narrow(0, first, 1), chunk).squeeze_dim(0);
    for _ in 1..k {
        // Sampling by inverse CDF on the host, in f64, as numpy's searchsorted over
        // the stable cumulative sum.
        let d: Vec<f32> = Vec::<f32>::try_from(closest.to_device(Device::Cpu)).expect("float32 distances");
        let mut cum = Vec::with_capacity(n);
        let mut acc = 0f64;
        for &v in &d {
            acc += v as f64;
            cum.push(acc);
        }
        let pot = acc;
        let candidates: Vec<i64> = (0..trials)
            .map(|_| {
                let r = rng.random::<f64>() * pot;
                cum.partition_point(|&c| c < r).min(n - 1) as i64
            })
            .collect();
        let cand = Tensor::from_slice(&candidates).to_device(device);
        let to_cand = dists_to_points(x, x_sq, &x.index_select(0, &cand), chunk).minimum(&closest.unsqueeze(0));
        let pots = to_cand.sum_dim_intlist(1, false, Kind::Double);
        let best = pots.argmin(0, false).int64_value(&[]);
        closest = to_cand.get(best);
        ids.push(candidates[best as usize]);
    }
    x.index_select(0, &Tensor::from_slice(&ids).to_device(device))
}

fn lloyd_from(x: &Tensor, x_sq: &Tensor, init: Tensor, max_iter: usize, tol_abs: f64, chunk: i64) -> KMeansResult {
    let (n, d) = (x.size()[0], x.size()[1]);
    let k = init.size()[0];
    let device = x.device();
    let mut centers = init;
    let mut previous: Option<Tensor> = None;
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        let (mut labels, min_d) = assign_with_norms(x, x_sq, &centers, chunk);
        let mut counts = labels.bincount(None::<Tensor>, k);
        let sizes = Vec::<i64>::try_from(counts.to_device(Device::Cpu)).expect("int64 counts");
        let empty: Vec<i64> = (0..k).filter(|&j| sizes[j as usize] == 0).collect();
        if !empty.is_empty() {
            // The farthest points (from their own centres) move to the empty clusters,
            // farthest first, as scikit-learn's `_relocate_empty_clusters`.
            let (_, far) = min_d.topk(empty.len() as i64, 0, true, true);
            let _ = labels.index_copy_(0, &far, &Tensor::from_slice(&empty).to_device(device));
            counts = labels.bincount(None::<Tensor>, k);
        }
        let sums = Tensor::zeros([k, d], (Kind::Float, device)).index_add(0, &labels, x);
        let new_centers = sums / counts.to_kind(Kind::Float).clamp_min(1.0).unsqueeze(1);
        let same_labels = previous.as_ref().is_some_and(|p| p.equal(&labels));
        let shift = (&new_centers - &centers).square().sum(Kind::Double).double_value(&[]);
        centers = new_centers;
        if same_labels || shift <= tol_abs {
            break;
        }
        previous = Some(labels);
    }
    // Labels consistent with the final centres, and the inertia computed directly
    // as sum ||x - c||^2 (not from the expansion) accumulated in f64.
    let (labels, _) = assign_with_norms(x, x_sq, &centers, chunk);
    let mut inertia = 0f64;
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let diff = x.narrow(0, start, len) - centers.index_select(0, &labels.narrow(0, start, len));
        inertia += diff.square().sum(Kind::Double).double_value(&[]);
        start += len;
    }
    let labels = Vec::<i64>::try_from(labels.to_device(Device::Cpu)).expect("int64 labels");
    KMeansResult { labels, centers, inertia, iterations }
}

/// Seed of the benchmark's blob generator (shared with benches/kmeans_sklearn.py).
const BENCH_SEED: u64 = 20_240_601;

/// Uniform in [0, 1) from the SplitMix64 of (BENCH_SEED, index): the 53 high bits.
fn bench_uniform(index: u64) -> f64 {
    (mix_seed(BENCH_SEED, index) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The benchmark's data, by a formula benches/kmeans_sklearn.py implements too:
/// k centres with coordinates U[-5, 5) (indices offset by 2^40), row i in blob
/// i mod k with uniform noise U[-2, 2) per coordinate; row-major N x D float32.
pub fn bench_blobs(n: usize, d: usize, k: usize) -> Vec<f32> {
    let center = |j: usize, t: usize| 10.0 * (bench_uniform((1u64 << 40) + (j * d + t) as u64) - 0.5);
    let mut out = Vec::with_capacity(n * d);
    for i in 0..n {
        for t in 0..d {
            let noise = 4.0 * (bench_uniform((i * d + t) as u64) - 0.5);
            out.push((center(i % k, t) + noise) as f32);
        }
    }
    out
}

/// Time [`kmeans`] (k-means++, `n_init` restarts, max_iter 300, tol 1e-4: the
/// settings of scikit-learn's defaults) on the benchmark blobs on `device`:
/// the median wall-clock seconds of 3 runs, and the inertia found.
/// Compare with `benches/kmeans_sklearn.py` (same data, same settings).
pub fn bench_kmeans(device: Device, n: usize, d: usize, k: usize, n_init: usize) -> anyhow::Result<(f64, f64)> {
    if n == 0 || d == 0 {
        bail!("benchmark needs n, d > 0");
    }
    let data = bench_blobs(n, d, k);
    let x = Tensor::from_slice(&data)
        .view([n as i64, d as i64])
        .f_to_device(device)
        .with_context(|| format!("moving the benchmark data to {device:?}"))?;
    let cfg = KMeansConfig { n_init, ..KMeansConfig::new(k, 0) };
    let mut times = Vec::new();
    let mut inertia = f64::NAN;
    for _ in 0..3 {
        let t0 = Instant::now();
        // The labels come back to the host, so the timing includes the device work.
        let r = kmeans(&x, &cfg)?;
        times.push(t0.elapsed().as_secs_f64());
        inertia = r.inertia;
    }
    times.sort_by(f64::total_cmp);
    Ok((times[1], inertia))
}
