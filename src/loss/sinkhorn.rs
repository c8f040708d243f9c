//! Sinkhorn-Knopp codes (method.md §3; SwAV, Caron et al. 2020, section 3.1).
use tch::Tensor;

use super::dims2;

/// Balanced soft codes for a batch, by `iters` Sinkhorn-Knopp iterations.
///
/// `scores` is B x K (sample i, prototype j: s_ij). Returns B x K codes whose rows
/// (one per sample) each sum to 1. In method.md's K x B layout the recipe is
/// Q = exp(S^T / eps), normalise Q to total 1, then `iters` times {each row
/// (cluster) sums to 1/K; each column (sample) sums to 1/B}, finally each column
/// scaled to sum to 1. Here the same steps run on log Q^T (B x K), each division
/// becoming a subtraction of a logsumexp:
/// * it never overflows: exp(s/eps) with eps = 0.05 overflows float32 once
///   s/eps > 88, and float64 once s/eps > 709, while logsumexp subtracts the
///   maximum internally; only the final exp, of values <= 0, leaves log space;
/// * where the plain formula does not overflow the two agree to rounding, since
///   every step is the same normalisation (tests pin both against a float64
///   reference of the plain formula).
///
/// The codes are targets, not predictions: the input is detached and the work
/// runs under `no_grad`, so no gradient flows through them. The computation runs
/// in the input's dtype and device and holds a few B x K temporaries at a time,
/// so the evaluator can call it in float64 on a whole dataset (60000 x 20).
pub fn sinkhorn(scores: &Tensor, eps: f64, iters: usize) -> Tensor {
    let (b, k) = dims2(scores, "sinkhorn: scores");
    assert!(b > 0 && k > 0, "sinkhorn: empty scores {b} x {k}");
    assert!(eps > 0.0 && eps.is_finite(), "sinkhorn: eps = {eps} must be positive");
    let (ln_b, ln_k) = ((b as f64).ln(), (k as f64).ln());
    tch::no_grad(|| {
        // log Q^T: row i is sample i, column j is cluster j.
        let mut log_q = scores.detach() / eps;
        // Q / sum(Q): total mass 1.
        log_q = &log_q - log_q.logsumexp([0, 1], true);
        for _ in 0..iters {
            // Clusters (columns here) each get mass 1/K: the equipartition constraint.
            log_q = &log_q - log_q.logsumexp([0], true) - ln_k;
            // Samples (rows here) each get mass 1/B.
            log_q = &log_q - log_q.logsumexp([1], true) - ln_b;
        }
        // Each sample's code becomes a distribution over the K clusters. After an
        // iteration this is the SwAV `Q *= B` up to rounding; with iters = 0 it is
        // a plain softmax of s/eps.
        (&log_q - log_q.logsumexp([1], true)).exp()
    })
}
