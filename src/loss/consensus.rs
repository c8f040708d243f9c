//! L3, the consensus loss over M random transforms (method.md §3).
use tch::{Kind, Tensor};

use super::transforms::Transforms;
use super::{dims2, l2_normalize};

/// log p~(m) for the rows of `z` against the prototypes under every map:
/// log softmax_j(<A_m z_i/||.||, A_m c_j/||.||> / tau), M x B x K.
///
/// `z` is B x d, `protos` K x d. The M x B x K assignments are what the
/// evaluator's ensemble diversity (method.md §7, Figure 1) takes the argmax of.
pub fn transformed_log_assignments(z: &Tensor, protos: &Tensor, t: &Transforms, tau: f64) -> Tensor {
    let (b, _) = dims2(z, "transformed_log_assignments: z");
    let mapped = mapped_unit(&[z, protos], t);
    scores_and_log_softmax(&mapped, b, tau)
}

/// L3 = -(1/2BM) sum_i sum_m sum_j [ q2_ij log p~(1,m)_ij + q1_ij log p~(2,m)_ij ].
///
/// `z1`, `z2`: B x d cluster embeddings of the two views; `protos`: K x d;
/// `q1`, `q2`: B x K Sinkhorn codes of the UNtransformed scores of each view (the
/// same codes as L2: the consensus asks every transformed clustering to agree
/// with the one partition). All M maps are applied in one batched einsum over the
/// stacked rows [z1; z2; C], and the scores are one batched matmul, so the cost
/// does not grow with M in kernel launches.
///
/// Gradient flows to z and, unless `detach_protos`, to the prototypes through the
/// transformed path; `detach_protos` cuts the prototypes out of this path only
/// (the authors' code), leaving their gradient from L2 untouched.
#[allow(clippy::too_many_arguments)]
pub fn consensus_loss(
    z1: &Tensor,
    z2: &Tensor,
    protos: &Tensor,
    t: &Transforms,
    q1: &Tensor,
    q2: &Tensor,
    tau: f64,
    detach_protos: bool,
) -> Tensor {
    let (b, d) = dims2(z1, "consensus_loss: z1");
    let (k, dc) = dims2(protos, "consensus_loss: protos");
    assert_eq!(dims2(z2, "consensus_loss: z2"), (b, d), "consensus_loss: z2 must match z1 ({b} x {d})");
    assert_eq!(d, dc, "consensus_loss: z has dimension {d} but the prototypes {dc}");
    for (name, q) in [("q1", q1), ("q2", q2)] {
        assert_eq!(dims2(q, "consensus_loss"), (b, k), "consensus_loss: {name} must be B x K = {b} x {k}");
    }
    let c = if detach_protos { protos.detach() } else { protos.shallow_clone() };
    let mapped = mapped_unit(&[z1, z2, &c], t);
    // M x 2B x K: rows 0..B are view 1, B..2B view 2.
    let logp = scores_and_log_softmax(&mapped, 2 * b, tau);
    // Swapped targets, broadcast over the M maps: view 1's predictions meet q2.
    let targets = Tensor::cat(&[q2.detach(), q1.detach()], 0).unsqueeze(0);
    let m = t.m();
    (targets * logp).sum(None::<Kind>) / (-2.0 * (b * m) as f64)
}

/// Maps the stacked rows of `parts` with every A_m and unit-normalises them:
/// M x N x d' for N the total number of rows.
pub(super) fn mapped_unit(parts: &[&Tensor], t: &Transforms) -> Tensor {
    l2_normalize(&t.apply(&Tensor::cat(parts, 0)))
}

/// Splits M x (n + K) x d' mapped rows into the first `n` (embeddings) and the
/// rest (prototypes), and returns log softmax over K of their cosine / tau, M x n x K.
pub(super) fn scores_and_log_softmax(mapped: &Tensor, n: i64, tau: f64) -> Tensor {
    assert!(tau > 0.0, "tau = {tau} must be positive");
    let rows = mapped.size()[1];
    let z = mapped.narrow(1, 0, n);
    let c = mapped.narrow(1, n, rows - n);
    (z.bmm(&c.transpose(1, 2)) / tau).log_softmax(-1, None::<Kind>)
}
