//! Consensus partitions of a cluster ensemble (the paper's first open direction:
//! "use the clusterings that the ensemble outputs to compute a better partition",
//! its reference [14], Strehl & Ghosh 2002; method.md §11).
//!
//! The ensemble is r partitions of the same N objects: the argmax of p~(m) of each
//! of the M transformed members plus the main codes. Each cluster h of each
//! partition is a hyperedge C_h; H = sum over partitions of their cluster counts.
//! The binary N x H incidence matrix (one 1 per partition in each row) is never
//! built: every function below reads it through the H x H intersection counts
//! |C_h ∩ C_h'| (weighted per object where it needs to), accumulated one
//! partition pair at a time, and maps back to objects through their r hyperedges.
//! Memory is O(N K + H^2), linear in N (70,000 images: a few MiB).
//!
//! - [`ConsensusFn::Cspa`]: Strehl & Ghosh's cluster-based similarity partitioning,
//!   the co-association graph S = H H^T / r partitioned spectrally (normalised
//!   spectral clustering of Ng, Jordan & Weiss instead of METIS): the top-K
//!   eigenvectors of D^-1/2 S D^-1/2 are the left singular vectors of
//!   B = D^-1/2 H / sqrt(r), found from the H x H matrix B^T B.
//! - [`ConsensusFn::Mcla`]: Strehl & Ghosh's meta-clustering algorithm: the H
//!   hyperedges form a graph weighted by their Jaccard similarity, partitioned
//!   into K meta-clusters (spectrally, instead of METIS); each object goes to the
//!   meta-cluster whose hyperedges contain it most often (ties: the lowest index).
//! - [`ConsensusFn::Hbgf`]: Fern & Brodley's hybrid bipartite graph formulation
//!   (2004), objects and clusters as the two sides of one bipartite graph,
//!   partitioned spectrally: objects and clusters embedded together by the
//!   singular vectors of D1^-1/2 H D2^-1/2, and k-means over all N + H rows.
//!
//! The eigenproblems are H x H and dense (torch's `linalg_eigh`, float64); the
//! final k-means is [`super::kmeans`], seeded from the caller's seed.
use anyhow::{bail, ensure};
use rayon::prelude::*;
use tch::{Kind, Tensor};

pub use crate::config::ConsensusFn;

use super::kmeans::{kmeans, KMeansConfig};

/// k-means restarts for the spectral embeddings (they are well separated; a
/// few restarts settle the rare bad start).
const RESTARTS: usize = 5;

/// An ensemble of r partitions of the same N objects, labels re-indexed to
/// 0..k_q per partition (empty clusters dropped) and hyperedges numbered
/// partition by partition.
pub struct Ensemble {
    /// r x N hyperedge index of each object in each partition (offset included).
    edges: Vec<Vec<u32>>,
    /// Offset of each partition's first hyperedge; the last entry is H.
    offsets: Vec<usize>,
    /// |C_h| for every hyperedge.
    sizes: Vec<f64>,
    n: usize,
}

impl Ensemble {
    /// `partitions`: r >= 1 label vectors of equal length N >= 1, labels >= 0.
    pub fn new(partitions: &[&[i64]]) -> anyhow::Result<Self> {
        ensure!(!partitions.is_empty(), "a consensus needs at least one partition");
        let n = partitions[0].len();
        ensure!(n > 0, "a consensus needs at least one object");
        let (mut edges, mut offsets, mut sizes) = (Vec::new(), vec![0usize], Vec::new());
        for (q, part) in partitions.iter().enumerate() {
            ensure!(part.len() == n, "partition {q} labels {} objects, partition 0 labels {n}", part.len());
            if let Some(&bad) = part.iter().find(|&&l| l < 0) {
                bail!("partition {q} has the negative label {bad}");
            }
            let kmax = part.iter().copied().max().unwrap_or(0) as usize + 1;
            // Dense re-indexing of the labels that occur, in label order.
            let mut count = vec![0usize; kmax];
            part.iter().for_each(|&l| count[l as usize] += 1);
            let mut index = vec![u32::MAX; kmax];
            for (l, &c) in count.iter().enumerate().filter(|(_, &c)| c > 0) {
                index[l] = sizes.len() as u32;
                sizes.push(c as f64);
            }
            edges.push(part.iter().map(|&l| index[l as usize]).collect());
            offsets.push(sizes.len());
        }
        Ok(Self { edges, offsets, sizes, n })
    }

    /// H, the number of hyperedges (clusters over all partitions).
    fn hyperedges(&self) -> usize {
        self.sizes.len()
    }

    /// The H x H matrix sum_i w_i [i in C_h][i in C_h'] (w = 1: the intersection
    /// counts), accumulated per pair of partitions (a k_q x k_q' table each),
    /// in parallel over the first partition of the pair.
    fn weighted_intersections(&self, w: Option<&[f64]>) -> Vec<f64> {
        let h = self.hyperedges();
        let r = self.edges.len();
        let rows: Vec<Vec<(usize, Vec<f64>)>> = (0..r)
            .into_par_iter()
            .map(|q| {
                let (lo_q, k_q) = (self.offsets[q], self.offsets[q + 1] - self.offsets[q]);
                (q..r)
                    .map(|p| {
                        let (lo_p, k_p) = (self.offsets[p], self.offsets[p + 1] - self.offsets[p]);
                        let mut t = vec![0.0; k_q * k_p];
                        for (i, (&a, &b)) in self.edges[q].iter().zip(&self.edges[p]).enumerate() {
                            let wi = w.map_or(1.0, |w| w[i]);
                            t[(a as usize - lo_q) * k_p + (b as usize - lo_p)] += wi;
                        }
                        (p, t)
                    })
                    .collect()
            })
            .collect();
        let mut m = vec![0.0; h * h];
        for (q, blocks) in rows.into_iter().enumerate() {
            let (lo_q, k_q) = (self.offsets[q], self.offsets[q + 1] - self.offsets[q]);
            for (p, t) in blocks {
                let (lo_p, k_p) = (self.offsets[p], self.offsets[p + 1] - self.offsets[p]);
                for a in 0..k_q {
                    for b in 0..k_p {
                        let v = t[a * k_p + b];
                        m[(lo_q + a) * h + lo_p + b] = v;
                        m[(lo_p + b) * h + lo_q + a] = v;
                    }
                }
            }
        }
        m
    }

    /// Objects x `cols` matrix: each object's row is the sum of the rows of
    /// `per_edge` (H x cols, row-major) over its r hyperedges.
    fn gather(&self, per_edge: &[f64], cols: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.n * cols];
        out.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
            for part in &self.edges {
                let e = part[i] as usize;
                row.iter_mut().zip(&per_edge[e * cols..(e + 1) * cols]).for_each(|(o, v)| *o += v);
            }
        });
        out
    }
}

/// The consensus partition of `ensemble` into `k` clusters by `f`; labels
/// 0..k (some may be empty), one per object. `seed` seeds the final k-means.
pub fn consensus(f: ConsensusFn, ensemble: &Ensemble, k: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    ensure!(k >= 1, "a consensus into {k} clusters");
    match f {
        ConsensusFn::Cspa => cspa(ensemble, k, seed),
        ConsensusFn::Mcla => mcla(ensemble, k, seed),
        ConsensusFn::Hbgf => hbgf(ensemble, k, seed),
    }
}

/// The eigenvectors of the `h` x `h` symmetric matrix `m` for its `k` largest
/// eigenvalues: (values descending, vectors as an h x k row-major matrix).
fn top_eigen(m: &[f64], h: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let t = Tensor::from_slice(m).view([h as i64, h as i64]);
    let (vals, vecs) = t.linalg_eigh("L");
    let k = k.min(h) as i64;
    let idx = Tensor::arange_start_step(h as i64 - 1, h as i64 - 1 - k, -1, (Kind::Int64, tch::Device::Cpu));
    let vals = Vec::<f64>::try_from(vals.index_select(0, &idx)).expect("f64 eigenvalues");
    let vecs = Vec::<f64>::try_from(vecs.index_select(1, &idx).contiguous().view(-1)).expect("f64 eigenvectors");
    (vals, vecs)
}

/// Unit-length rows (Ng, Jordan & Weiss's normalisation), k-means into `k`.
fn cluster_rows(rows: Vec<f64>, cols: usize, k: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    let n = rows.len() / cols;
    let x = Tensor::from_slice(&rows).view([n as i64, cols as i64]);
    let norm = x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    let x = (x / norm).to_kind(Kind::Float);
    let cfg = KMeansConfig { n_init: RESTARTS, ..KMeansConfig::new(k.min(n), seed) };
    Ok(kmeans(&x, &cfg)?.labels)
}

/// CSPA: normalised spectral clustering of the co-association matrix
/// S = H H^T / r (S_ij: the share of partitions that put i and j together).
fn cspa(e: &Ensemble, k: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    let h = e.hyperedges();
    let r = e.edges.len() as f64;
    // Degree d_i = sum_j S_ij = (1/r) sum_q |C_q(i)|.
    let deg: Vec<f64> = (0..e.n).map(|i| e.edges.iter().map(|p| e.sizes[p[i] as usize]).sum::<f64>() / r).collect();
    let inv: Vec<f64> = deg.iter().map(|d| 1.0 / d).collect();
    // B^T B = H^T D^-1 H / r.
    let mut g = e.weighted_intersections(Some(&inv));
    g.iter_mut().for_each(|v| *v /= r);
    let kk = k.min(h);
    let (vals, v) = top_eigen(&g, h, kk);
    // U = B V diag(sigma)^-1, row i: d_i^-1/2 / sqrt(r) * sum over i's hyperedges of V rows / sigma.
    let scaled: Vec<f64> = (0..h * kk).map(|j| v[j] / vals[j % kk].max(1e-12).sqrt()).collect();
    let mut u = e.gather(&scaled, kk);
    u.par_chunks_mut(kk).zip(&deg).for_each(|(row, d)| row.iter_mut().for_each(|x| *x /= (d * r).sqrt()));
    cluster_rows(u, kk, k, seed)
}

/// MCLA: meta-clusters of the hyperedges (spectral clustering of their Jaccard
/// graph), then each object to the meta-cluster whose hyperedges hold it most.
fn mcla(e: &Ensemble, k: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    let h = e.hyperedges();
    let inter = e.weighted_intersections(None);
    let mut w = vec![0.0; h * h];
    for a in 0..h {
        for b in 0..h {
            let i = inter[a * h + b];
            w[a * h + b] = if a == b { 0.0 } else { i / (e.sizes[a] + e.sizes[b] - i) };
        }
    }
    let meta = spectral_graph(&w, h, k, seed)?;
    // Association a_ig = (number of i's hyperedges in g) / |g|.
    let mut members = vec![0.0f64; k];
    meta.iter().for_each(|&g| members[g as usize] += 1.0);
    let mut onehot = vec![0.0; h * k];
    for (edge, &g) in meta.iter().enumerate() {
        onehot[edge * k + g as usize] = 1.0 / members[g as usize];
    }
    let assoc = e.gather(&onehot, k);
    Ok(assoc
        .par_chunks(k)
        .map(|row| {
            let mut best = 0;
            for (g, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = g;
                }
            }
            best as i64
        })
        .collect())
}

/// Normalised spectral clustering of a small dense graph (`n` x `n` weights).
fn spectral_graph(w: &[f64], n: usize, k: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    let deg: Vec<f64> = w.chunks(n).map(|row| row.iter().sum::<f64>().max(1e-12)).collect();
    let a: Vec<f64> = (0..n * n).map(|j| w[j] / (deg[j / n] * deg[j % n]).sqrt()).collect();
    let kk = k.min(n);
    let (_, v) = top_eigen(&a, n, kk);
    cluster_rows(v, kk, k, seed)
}

/// HBGF: objects and hyperedges as one bipartite graph, partitioned by
/// normalised spectral clustering; the objects' labels are returned.
fn hbgf(e: &Ensemble, k: usize, seed: u64) -> anyhow::Result<Vec<i64>> {
    let h = e.hyperedges();
    let r = e.edges.len() as f64;
    // M = D1^-1/2 H D2^-1/2 with object degrees r and hyperedge degrees |C_h|;
    // M^T M = diag(|C|)^-1/2 (H^T H / r) diag(|C|)^-1/2.
    let inter = e.weighted_intersections(None);
    let g: Vec<f64> = (0..h * h).map(|j| inter[j] / (r * (e.sizes[j / h] * e.sizes[j % h]).sqrt())).collect();
    let kk = k.min(h);
    let (vals, v) = top_eigen(&g, h, kk);
    // Objects: U = M V diag(sigma)^-1; hyperedges: V. Both rows of one embedding.
    let scaled: Vec<f64> =
        (0..h * kk).map(|j| v[j] / (r.sqrt() * e.sizes[j / kk].sqrt() * vals[j % kk].max(1e-12).sqrt())).collect();
    let mut rows = e.gather(&scaled, kk);
    rows.extend_from_slice(&v);
    let labels = cluster_rows(rows, kk, k, seed)?;
    Ok(labels[..e.n].to_vec())
}

/// Average normalised mutual information between `labels` and each partition
/// of the ensemble (Strehl & Ghosh's objective, label-free): the criterion by
/// which one consensus function can be preferred over another without labels.
pub fn anmi(partitions: &[&[i64]], labels: &[i64]) -> f64 {
    let nmis: Vec<f64> =
        partitions.iter().map(|p| super::metrics::nmi(p, labels, super::metrics::NmiNorm::Geometric)).collect();
    nmis.iter().sum::<f64>() / nmis.len().max(1) as f64
}
