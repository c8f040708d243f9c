//! Soft cluster assignments and L2, the soft clustering loss (method.md §3).
use tch::{Kind, Tensor};

use super::{dims2, l2_normalize};

/// s_ij = <z_i/||z_i||, c_j/||c_j||>: cosine similarity of each embedding with
/// each prototype. `z` is B x d, `protos` K x d; returns B x K, values in [-1, 1].
/// Only the unit-normalised prototypes are ever used (method.md §2), so their
/// stored scale does not matter.
pub fn cosine_scores(z: &Tensor, protos: &Tensor) -> Tensor {
    let (_, d) = dims2(z, "cosine_scores: z");
    let (_, dc) = dims2(protos, "cosine_scores: protos");
    assert_eq!(d, dc, "cosine_scores: z has dimension {d} but the prototypes {dc}");
    l2_normalize(z).matmul(&l2_normalize(protos).tr())
}

/// log p_ij = log softmax_j(s_ij / tau): log soft assignments, B x K from B x K scores.
/// Returned in log form because the losses only ever use log p (stable).
pub fn log_assignments(scores: &Tensor, tau: f64) -> Tensor {
    dims2(scores, "log_assignments: scores");
    assert!(tau > 0.0, "log_assignments: tau = {tau} must be positive");
    (scores / tau).log_softmax(-1, None::<Kind>)
}

/// L2 = -(1/2B) sum_i sum_j [ q2_ij log p1_ij + q1_ij log p2_ij ].
///
/// Swapped prediction: the codes of one view are the targets of the other view's
/// assignments. `q1`, `q2` (Sinkhorn codes, rows summing to 1) and `logp1`,
/// `logp2` (from [`log_assignments`]) are all B x K. The codes are detached: they
/// are targets. For uniform p the loss is ln K, the collapse signature of method.md §3.
pub fn soft_cluster_loss(q1: &Tensor, q2: &Tensor, logp1: &Tensor, logp2: &Tensor) -> Tensor {
    let shape = dims2(q1, "soft_cluster_loss: q1");
    for (name, t) in [("q2", q2), ("logp1", logp1), ("logp2", logp2)] {
        let s = dims2(t, "soft_cluster_loss");
        assert_eq!(s, shape, "soft_cluster_loss: {name} is {s:?} but q1 is {shape:?}");
    }
    let cross = (q2.detach() * logp1).sum(None::<Kind>) + (q1.detach() * logp2).sum(None::<Kind>);
    cross / (-2.0 * shape.0 as f64)
}
