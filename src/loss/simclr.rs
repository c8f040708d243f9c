//! NT-Xent, SimCLR's contrastive loss (Chen et al. 2020, eq. 1): the
//! representation term L1 when `loss.representation = "simclr"` (method.md §11),
//! the paper's second open direction (the consensus loss on top of another
//! representation learner than BYOL).
use tch::{Device, Kind, Tensor};

use super::{dims2, l2_normalize};

/// NT-Xent over the 2B projections of a batch of B images in two views:
///
/// l(i, j) = -log( exp(sim(z_i, z_j) / T) / sum_{k != i} exp(sim(z_i, z_k) / T) ),
///
/// sim the cosine similarity, (i, j) the two views of one image, averaged over
/// all 2B anchors (both orders of every positive pair). The other 2B - 2
/// projections of the batch are the negatives. No target network, no stop-gradient.
///
/// Shapes: `p1`, `p2` both B x d (the online projections g(f(x)) of view 1 and
/// view 2, row b of each from the same image), B >= 1. `temperature` > 0.
/// Returns a scalar >= 0 (ln(2B - 1) when every similarity is equal).
pub fn nt_xent_loss(p1: &Tensor, p2: &Tensor, temperature: f64) -> Tensor {
    let shape = dims2(p1, "nt_xent_loss: p1");
    let s2 = dims2(p2, "nt_xent_loss: p2");
    assert_eq!(s2, shape, "nt_xent_loss: p2 is {s2:?} but p1 is {shape:?}");
    assert!(temperature > 0.0, "nt_xent_loss: temperature {temperature} must be positive");
    let b = shape.0;
    let z = l2_normalize(&Tensor::cat(&[p1, p2], 0));
    let logits = z.matmul(&z.tr()) / temperature;
    // An anchor is never its own negative.
    let eye = Tensor::eye(2 * b, (Kind::Bool, z.device()));
    let logits = logits.masked_fill(&eye, f64::NEG_INFINITY);
    let idx = Tensor::arange(2 * b, (Kind::Int64, Device::Cpu));
    let positives = ((idx + b).remainder(2 * b)).to_device(z.device());
    // log_softmax in the input's own precision (tch's cross_entropy_for_logits casts to float32).
    logits.log_softmax(-1, logits.kind()).nll_loss(&positives)
}
