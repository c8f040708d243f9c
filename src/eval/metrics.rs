//! Clustering metrics (method.md §7): ACC, NMI (arithmetic and geometric
//! normalisation), ARI. No tch: labels are plain `i64` slices.
//!
//! The conventions follow scikit-learn exactly (the authors' code scored with it),
//! including its degenerate cases, and the values are pinned to scikit-learn by
//! tests/fixtures/gen_metrics.py:
//! - NMI: both labellings a single cluster (or both empty) -> 1.0 (zero entropy on
//!   both sides is a perfect match); otherwise zero mutual information -> 0.0,
//!   which covers one side being a single cluster.
//! - ARI: no pair on which the labellings disagree (identical partitions, all
//!   singletons on both sides, a single sample, empty) -> 1.0.
//! - ACC: empty labellings -> 1.0 (nothing is misassigned), in line with the above.
//!
//! Label values are arbitrary (negative, sparse, large): they are only compared.
//! All arithmetic on counts is exact (u64 / i128) and the logarithms are f64, so
//! N = 60,000 (the paper's CIFAR sizes) loses nothing.
use std::collections::BTreeMap;

use pathfinding::prelude::{kuhn_munkres, Matrix};

/// How NMI normalises the mutual information: by a mean of the two entropies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NmiNorm {
    /// (H(U) + H(V)) / 2: scikit-learn's default, used by the authors' code.
    Arithmetic,
    /// sqrt(H(U) H(V)): the paper's appendix.
    Geometric,
}

/// The contingency table of two labellings, kept sparse: with all-distinct
/// labels on one side (N = 60,000) a dense table would not fit, and the metrics
/// only need the non-zero cells and the margins.
#[derive(Debug, Clone, PartialEq)]
pub struct Contingency {
    /// Distinct truth labels, ascending: row `i` of the table is `classes[i]`.
    pub classes: Vec<i64>,
    /// Distinct predicted labels, ascending: column `j` is `clusters[j]`.
    pub clusters: Vec<i64>,
    /// Non-zero cells `(row, column, count)`, sorted by row then column.
    pub cells: Vec<(usize, usize, u64)>,
    /// Row sums (samples per class).
    pub class_sizes: Vec<u64>,
    /// Column sums (samples per cluster).
    pub cluster_sizes: Vec<u64>,
    /// Number of samples.
    pub n: u64,
}

/// Recode labels as dense indices 0..U into the sorted distinct values.
/// Returns (codes, distinct values).
pub(crate) fn encode(labels: &[i64]) -> (Vec<usize>, Vec<i64>) {
    let mut values = labels.to_vec();
    values.sort_unstable();
    values.dedup();
    let codes = labels.iter().map(|l| values.binary_search(l).expect("value taken from the same slice")).collect();
    (codes, values)
}

impl Contingency {
    /// The table from dense codes: `a[s]` indexes `classes`, `b[s]` indexes
    /// `clusters` (as [`encode`] returns them).
    pub(crate) fn from_codes(a: &[usize], classes: Vec<i64>, b: &[usize], clusters: Vec<i64>) -> Self {
        assert_eq!(a.len(), b.len(), "contingency: labellings of different lengths");
        let (na, nb) = (classes.len(), clusters.len());
        let mut class_sizes = vec![0u64; na];
        let mut cluster_sizes = vec![0u64; nb];
        for (&i, &j) in a.iter().zip(b) {
            class_sizes[i] += 1;
            cluster_sizes[j] += 1;
        }
        // Dense counting when the table is small (the usual K x K case, and the
        // inner loop of the pairwise diversity); sorting the pairs otherwise.
        let cells = if na.saturating_mul(nb) <= a.len().max(1 << 16) {
            let mut dense = vec![0u64; na * nb];
            for (&i, &j) in a.iter().zip(b) {
                dense[i * nb + j] += 1;
            }
            dense.iter().enumerate().filter(|(_, &c)| c > 0).map(|(ij, &c)| (ij / nb, ij % nb, c)).collect()
        } else {
            let mut pairs: Vec<(usize, usize)> = a.iter().copied().zip(b.iter().copied()).collect();
            pairs.sort_unstable();
            let mut cells: Vec<(usize, usize, u64)> = Vec::new();
            for (i, j) in pairs {
                match cells.last_mut() {
                    Some(last) if last.0 == i && last.1 == j => last.2 += 1,
                    _ => cells.push((i, j, 1)),
                }
            }
            cells
        };
        Contingency { classes, clusters, cells, class_sizes, cluster_sizes, n: a.len() as u64 }
    }
}

/// The contingency table of `truth` (rows) against `pred` (columns).
///
/// Panics if the slices differ in length (a caller bug).
pub fn contingency(truth: &[i64], pred: &[i64]) -> Contingency {
    assert_eq!(truth.len(), pred.len(), "contingency: {} true labels but {} predicted", truth.len(), pred.len());
    let (a, classes) = encode(truth);
    let (b, clusters) = encode(pred);
    Contingency::from_codes(&a, classes, &b, clusters)
}

impl Contingency {
    /// The table as dense rows (classes x clusters). Memory is rows x columns.
    pub fn to_dense(&self) -> Vec<Vec<u64>> {
        let mut t = vec![vec![0u64; self.clusters.len()]; self.classes.len()];
        for &(i, j, c) in &self.cells {
            t[i][j] = c;
        }
        t
    }

    /// ACC: the best one-to-one map of clusters to classes (the Hungarian method,
    /// maximising matched samples), then the share of samples it gets right.
    ///
    /// With more clusters than classes the surplus clusters map to nothing and
    /// count as wrong (and vice versa), as scipy's rectangular
    /// `linear_sum_assignment` does. The smaller side is laid out as the rows, so
    /// the assignment costs O(small^2 x large).
    pub fn acc(&self) -> f64 {
        if self.n == 0 {
            return 1.0;
        }
        let (r, c) = (self.classes.len(), self.clusters.len());
        let transpose = r > c;
        let (rows, cols) = if transpose { (c, r) } else { (r, c) };
        // Weights are counts (<= N), so i64 sums are exact.
        let mut w = Matrix::new(rows, cols, 0i64);
        for &(i, j, n) in &self.cells {
            let (a, b) = if transpose { (j, i) } else { (i, j) };
            w[(a, b)] = n as i64;
        }
        let (matched, _) = kuhn_munkres(&w);
        matched as f64 / self.n as f64
    }

    /// Mutual information in nats, computed term by term as scikit-learn's
    /// `mutual_info_score` does (including its zeroing of terms below f64 eps and
    /// clipping at 0), so exact-zero cases agree with it.
    fn mutual_info(&self) -> f64 {
        if self.class_sizes.len() <= 1 || self.cluster_sizes.len() <= 1 {
            // MI <= min(H(U), H(V)) = 0 with a single cluster on either side.
            return 0.0;
        }
        let n = self.n as f64;
        let ln_n = n.ln();
        let mi: f64 = self
            .cells
            .iter()
            .map(|&(i, j, c)| {
                // n_ij/N * ln(N n_ij / (a_i b_j)); a_i b_j <= N^2 fits u64 exactly.
                let p = c as f64 / n;
                let outer = (self.class_sizes[i] * self.cluster_sizes[j]) as f64;
                let log_outer = -outer.ln() + ln_n + ln_n;
                let term = p * ((c as f64).ln() - ln_n) + p * log_outer;
                if term.abs() < f64::EPSILON {
                    0.0
                } else {
                    term
                }
            })
            .sum();
        mi.max(0.0)
    }

    /// Normalised mutual information with scikit-learn's conventions (module docs).
    pub fn nmi(&self, norm: NmiNorm) -> f64 {
        let (r, c) = (self.classes.len(), self.clusters.len());
        if (r == 1 && c == 1) || (r == 0 && c == 0) {
            return 1.0;
        }
        let mi = self.mutual_info();
        if mi == 0.0 {
            return 0.0;
        }
        let (hu, hv) = (entropy(&self.class_sizes, self.n), entropy(&self.cluster_sizes, self.n));
        let denom = match norm {
            NmiNorm::Arithmetic => (hu + hv) / 2.0,
            NmiNorm::Geometric => (hu * hv).sqrt(),
        };
        mi / denom
    }

    /// Adjusted Rand index from the pair-confusion counts (ordered pairs, as
    /// scikit-learn's `pair_confusion_matrix`). The products reach ~1e19 at
    /// N = 60,000, beyond i64, hence i128.
    pub fn ari(&self) -> f64 {
        let n = self.n as i128;
        let sum_sq: i128 = self.cells.iter().map(|&(_, _, c)| (c as i128) * (c as i128)).sum();
        let sum_rows_sq: i128 = self.class_sizes.iter().map(|&a| (a as i128) * (a as i128)).sum();
        let sum_cols_sq: i128 = self.cluster_sizes.iter().map(|&b| (b as i128) * (b as i128)).sum();
        // Pairs together in both, together in pred only, in truth only, in neither.
        let tp = sum_sq - n;
        let fp = sum_cols_sq - sum_sq;
        let fn_ = sum_rows_sq - sum_sq;
        let tn = n * n - fp - fn_ - sum_sq;
        if fn_ == 0 && fp == 0 {
            return 1.0;
        }
        let num = 2 * (tp * tn - fn_ * fp);
        let den = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
        num as f64 / den as f64
    }
}

/// Entropy in nats of a labelling given its cluster sizes (sizes may include 0).
fn entropy(sizes: &[u64], n: u64) -> f64 {
    let ln_n = (n as f64).ln();
    -sizes
        .iter()
        .filter(|&&s| s > 0)
        .map(|&s| {
            let s = s as f64;
            (s / n as f64) * (s.ln() - ln_n)
        })
        .sum::<f64>()
}

/// Clustering accuracy (see [`Contingency::acc`]).
pub fn acc(truth: &[i64], pred: &[i64]) -> f64 {
    contingency(truth, pred).acc()
}

/// Normalised mutual information (see [`Contingency::nmi`]).
pub fn nmi(truth: &[i64], pred: &[i64], norm: NmiNorm) -> f64 {
    contingency(truth, pred).nmi(norm)
}

/// Adjusted Rand index (see [`Contingency::ari`]).
pub fn ari(truth: &[i64], pred: &[i64]) -> f64 {
    contingency(truth, pred).ari()
}

/// The four numbers reported per assignment method (method.md §7; the paper's
/// tables print ACC / NMI / ARI with the arithmetic NMI).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub acc: f64,
    /// Arithmetic normalisation (scikit-learn's default).
    pub nmi: f64,
    /// Geometric normalisation (the paper's appendix).
    pub nmi_geom: f64,
    pub ari: f64,
}

/// All of [`Scores`] from one contingency table.
pub fn score(truth: &[i64], pred: &[i64]) -> Scores {
    let c = contingency(truth, pred);
    Scores { acc: c.acc(), nmi: c.nmi(NmiNorm::Arithmetic), nmi_geom: c.nmi(NmiNorm::Geometric), ari: c.ari() }
}

impl Scores {
    /// Write `<prefix>.acc`, `<prefix>.nmi`, `<prefix>.nmi_geom`, `<prefix>.ari`
    /// (the `eval` keys of [`crate::record::EpochRecord`]).
    pub fn insert_into(&self, prefix: &str, map: &mut BTreeMap<String, f64>) {
        map.insert(format!("{prefix}.acc"), self.acc);
        map.insert(format!("{prefix}.nmi"), self.nmi);
        map.insert(format!("{prefix}.nmi_geom"), self.nmi_geom);
        map.insert(format!("{prefix}.ari"), self.ari);
    }
}
