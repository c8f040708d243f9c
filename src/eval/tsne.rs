//! 2-D t-SNE coordinates of the learned cluster embeddings (method.md §7, the
//! paper's Figure 2). Plotting is done by the report; this returns coordinates.
//!
//! The optimiser is the `bhtsne` crate's Barnes-Hut t-SNE (theta = 0.5) with the
//! standard schedule of van der Maaten's reference implementation and
//! scikit-learn: early exaggeration 12 for the first 250 iterations, momentum 0.5
//! then 0.8, gains, learning rate max(N / 12 / 4, 50). Two things are done here
//! rather than in the crate, so the result is a function of the seed alone:
//! - the input affinities use exact k-nearest neighbours (k = 3 x perplexity,
//!   Euclidean, ties broken by index) computed below, instead of the crate's
//!   vantage-point tree, which draws from the thread RNG;
//! - the initial embedding is N(0, 1e-4^2) drawn from a ChaCha RNG seeded by
//!   `seed` (the reference initialisation), and the fit runs on a one-thread rayon
//!   pool, so no floating-point reduction changes order between runs.
//!
//! No tch: the caller copies the (at most a few thousand) rows to host memory.
use anyhow::{bail, Context};
use bhtsne::{tSNE, Neighbor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

/// Barnes-Hut accuracy parameter (the reference implementation's default).
const THETA: f64 = 0.5;

/// Embed the rows of `x` (N points of equal dimension) in 2-D.
///
/// `perplexity` is the effective number of neighbours (30 is the usual value);
/// it is lowered to (N - 1) / 3 for small N, as t-SNE needs 3 x perplexity
/// neighbours per point. `iters` counts gradient steps (1000 is the usual value;
/// the first 250 are exaggerated). Errors on fewer than 4 points, ragged rows or
/// non-finite values.
pub fn tsne(x: &[Vec<f32>], perplexity: f64, iters: usize, seed: u64) -> anyhow::Result<Vec<[f64; 2]>> {
    let n = x.len();
    if n < 4 {
        bail!("t-SNE needs at least 4 points, got {n}");
    }
    let dim = x[0].len();
    if let Some(i) = x.iter().position(|r| r.len() != dim) {
        bail!("t-SNE input row {i} has {} values, row 0 has {dim}", x[i].len());
    }
    if x.iter().flatten().any(|v| !v.is_finite()) {
        bail!("t-SNE input holds NaN or infinite values");
    }
    if perplexity.is_nan() || perplexity <= 0.0 {
        bail!("t-SNE perplexity must be positive, got {perplexity}");
    }
    let perplexity = perplexity.min((n - 1) as f64 / 3.0).max(1.0);
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);

    let neighbors = exact_neighbors(x, k);

    let normal = Normal::new(0.0, 1e-4).expect("valid normal");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let init: Vec<f64> = (0..2 * n).map(|_| normal.sample(&mut rng)).collect();

    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(1).build().context("building the one-thread pool for t-SNE")?;
    let samples: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
    let y = pool.install(|| {
        tSNE::<f64, &[f32], 2>::new(&samples)
            .perplexity(perplexity)
            .epochs(iters)
            .initial_embedding(init)
            .barnes_hut_with_neighbors(THETA, &neighbors)
            .embedding()
    });
    if y.iter().any(|v| !v.is_finite()) {
        bail!("t-SNE diverged (non-finite coordinates)");
    }
    Ok(y.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

/// The `k` nearest neighbours of every row (excluding itself) by Euclidean
/// distance, nearest first, ties broken by index. O(N^2 D), rows in parallel
/// (each row's result does not depend on scheduling).
fn exact_neighbors(x: &[Vec<f32>], k: usize) -> Vec<Vec<Neighbor<f64>>> {
    (0..x.len())
        .into_par_iter()
        .map(|i| {
            let mut d: Vec<(f64, usize)> = x
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, r)| {
                    let sq: f64 = x[i].iter().zip(r).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
                    (sq.sqrt(), j)
                })
                .collect();
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.truncate(k);
            d.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.into_iter().map(|(distance, index)| Neighbor { index, distance }).collect()
        })
        .collect()
}
