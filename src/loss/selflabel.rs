//! The self-labelling loss (method.md §11; SCAN, Van Gansbeke et al. 2020, eq. 3
//! and its `ConfidenceBasedCE`): cross-entropy on the confidently assigned
//! images only, optionally class-balanced.
use tch::{Kind, Tensor};

use super::dims2;

/// The loss and the share of the batch it was taken over, both scalars.
#[derive(Debug)]
pub struct SelfLabelTerms {
    /// -(sum_i w_i log p_i,y_i) / (sum_i w_i), with gradient through `logp`.
    pub loss: Tensor,
    /// Confident images / B (detached): how much of the batch was pseudo-labelled.
    pub confident: Tensor,
}

/// `targets` B x K: the weak view's assignment distribution (its Sinkhorn codes,
/// rows summing to 1; detached: they are labels). `logp` B x K: log p of the
/// strong view (from [`super::log_assignments`]). Image i is pseudo-labelled
/// y_i = argmax_k targets_ik when max_k targets_ik >= `confidence`. Its weight is
/// 1, or with `balance` n / n_y (n confident images, n_y of them labelled y: the
/// inverse of the label's frequency among them), and 0 when not confident. With
/// no confident image the loss is 0 (its gradient too). No dynamic shapes: the
/// mask is a weight vector, so nothing here syncs a GPU with the host.
pub fn self_label_loss(targets: &Tensor, logp: &Tensor, confidence: f64, balance: bool) -> SelfLabelTerms {
    let (b, k) = dims2(targets, "self_label_loss: targets");
    let shape = dims2(logp, "self_label_loss: logp");
    assert_eq!(shape, (b, k), "self_label_loss: logp is {shape:?} but targets {:?}", (b, k));
    let (weights, labels) = tch::no_grad(|| {
        let (conf, labels) = targets.detach().to_kind(Kind::Float).max_dim(-1, false);
        let mask = conf.ge(confidence).to_kind(Kind::Float);
        let weights = if balance {
            // n_y per cluster through a one-hot count; absent clusters weigh 0.
            let onehot = labels.one_hot(k).to_kind(Kind::Float) * mask.unsqueeze(-1);
            let counts = onehot.sum_dim_intlist([0].as_slice(), false, Kind::Float);
            let n = mask.sum(Kind::Float);
            let per_cluster = (&n / counts.clamp_min(1.0)) * counts.gt(0.0).to_kind(Kind::Float);
            per_cluster.gather(0, &labels, false) * &mask
        } else {
            mask
        };
        (weights, labels)
    });
    let picked = logp.to_kind(Kind::Float).gather(1, &labels.unsqueeze(-1), false).squeeze_dim(-1);
    let total = weights.sum(Kind::Float);
    let loss = -(&weights * picked).sum(Kind::Float) / total.clamp_min(1e-12);
    let confident = tch::no_grad(|| weights.gt(0.0).to_kind(Kind::Float).mean(Kind::Float));
    SelfLabelTerms { loss, confident }
}
