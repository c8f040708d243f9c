//! The ConCURL losses (method.md §3) as free functions over tensors:
//! [`byol::byol_loss`] (L1; [`simclr::nt_xent_loss`] in its place with
//! `loss.representation = "simclr"`), [`sinkhorn::sinkhorn`] codes, [`cluster`] soft
//! assignments and L2, [`consensus::consensus_loss`] (L3) over the fixed random
//! [`transforms::Transforms`], and [`concurl_loss`], the weighted total
//! L = alpha L1 + beta L2 + gamma L3; and [`selflabel::self_label_loss`], the
//! optional self-labelling stage's cross-entropy (method.md §11).
//!
//! Shapes are checked on entry; a wrong shape is a bug in the caller (the inputs
//! come from our own networks), so it panics with a message naming the argument.
pub mod byol;
pub mod cluster;
pub mod consensus;
pub mod multicrop;
pub mod selflabel;
pub mod simclr;
pub mod sinkhorn;
pub mod transforms;

use tch::{Kind, Tensor};

pub use byol::byol_loss;
pub use cluster::{cosine_scores, log_assignments, soft_cluster_loss};
pub use consensus::{consensus_loss, transformed_log_assignments};
pub use selflabel::{self_label_loss, SelfLabelTerms};
pub use simclr::nt_xent_loss;
pub use sinkhorn::sinkhorn;
pub use transforms::Transforms;

use crate::config::run::{LossConfig, Representation};

/// What the losses need from one augmented view.
#[derive(Debug, Clone, Copy)]
pub struct ViewOutputs<'a> {
    /// What the representation loss L1 reads of the online network, B x proj_dim:
    /// BYOL's prediction w = h_theta(g_theta(f_theta(x))), or with
    /// `loss.representation = "simclr"` the projection g_theta(f_theta(x)).
    pub w: &'a Tensor,
    /// Target projection v = g_xi(f_xi(x)), B x proj_dim (no gradient); not read
    /// by SimCLR (pass `w` again).
    pub v: &'a Tensor,
    /// Cluster embedding z = g(f_theta(x)), B x head_dim.
    pub z: &'a Tensor,
}

impl ViewOutputs<'_> {
    fn promoted(&self) -> (Tensor, Tensor, Tensor) {
        (promote(self.w), promote(self.v), promote(self.z))
    }
}

/// float32 for half types, the tensor itself otherwise (float32 stays, float64 stays).
fn promote(t: &Tensor) -> Tensor {
    match t.kind() {
        Kind::Half | Kind::BFloat16 => t.to_kind(Kind::Float),
        _ => t.shallow_clone(),
    }
}

/// The three terms and their weighted sum, all scalars.
#[derive(Debug)]
pub struct LossTerms {
    pub l1: Tensor,
    pub l2: Tensor,
    pub l3: Tensor,
    /// alpha L1 + beta L2 + gamma L3: the tensor to call `backward` on.
    pub total: Tensor,
    /// Sinkhorn codes of each view's untransformed scores (B x K), for logging
    /// and the collapse check.
    pub codes: [Tensor; 2],
}

/// L = alpha L1 + beta L2 + gamma L3 for one mini-batch of two views.
///
/// The codes q1, q2 come from each view's own UNtransformed scores s = <z/||z||,
/// c/||c||> and serve as targets of both L2 and L3 (method.md §3), with no gradient.
///
/// A term whose weight is 0 is still computed, under `no_grad`, so every run logs
/// all three (a BYOL-only run then shows whether clusters form on their own, and a
/// collapsed L2 near ln K is visible in any run); it is left out of `total`, so it
/// adds nothing to the graph and no gradient. The cost is small next to the
/// networks' forward passes.
///
/// Half-precision inputs (bf16 from the networks) are promoted to float32 first:
/// Sinkhorn's exp(s / eps) and the temperature-0.1 softmaxes need the mantissa.
/// Call it outside any autocast region, which would push the matmuls back down.
pub fn concurl_loss(
    view1: ViewOutputs<'_>,
    view2: ViewOutputs<'_>,
    prototypes: &Tensor,
    cfg: &LossConfig,
    transforms: &Transforms,
) -> LossTerms {
    concurl_loss_marked(view1, view2, None, prototypes, cfg, transforms, &mut |_| {})
}

/// The parts of [`concurl_loss`], in the order it computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossPart {
    /// L1, the symmetrised BYOL loss (the paper's eq. 1-2).
    Byol,
    /// The scores <z/||z||, c/||c||> and the Sinkhorn codes q of both views (eq. 4).
    Sinkhorn,
    /// L2, soft clustering: the assignments p of eq. 3 against the codes (eq. 5).
    SoftCluster,
    /// L3, the consensus over the M transforms (eq. 6).
    Consensus,
}

/// [`concurl_loss`], with the cluster embeddings of multi-crop's small views
/// (`small`, V B x head_dim, view-major; [`multicrop`]) weighed into L2 and L3
/// when given, calling `mark` after each part (the benchmark's per-phase
/// clock; it synchronises the device, so training passes a no-op).
pub fn concurl_loss_marked(
    view1: ViewOutputs<'_>,
    view2: ViewOutputs<'_>,
    small: Option<&Tensor>,
    prototypes: &Tensor,
    cfg: &LossConfig,
    transforms: &Transforms,
    mark: &mut dyn FnMut(LossPart),
) -> LossTerms {
    let (view1, view2) = (view1.promoted(), view2.promoted());
    let prototypes = &promote(prototypes);
    let view1 = ViewOutputs { w: &view1.0, v: &view1.1, z: &view1.2 };
    let view2 = ViewOutputs { w: &view2.0, v: &view2.1, z: &view2.2 };

    let l1 = with_grad_if(cfg.alpha, &|| match cfg.representation {
        Representation::Byol => byol_loss(view1.w, view2.w, view1.v, view2.v),
        Representation::Simclr => nt_xent_loss(view1.w, view2.w, cfg.simclr_temperature),
    });
    mark(LossPart::Byol);

    let small = small.map(promote);
    let (l2, l3, codes) = clustering_terms(view1.z, view2.z, small.as_ref(), prototypes, cfg, transforms, mark);

    let mut total = Tensor::zeros([], (l1.kind(), l1.device()));
    for (w, term) in [(cfg.alpha, &l1), (cfg.beta, &l2), (cfg.gamma, &l3)] {
        if w != 0.0 {
            total += w * term;
        }
    }
    LossTerms { l1, l2, l3, total, codes }
}

/// A term with gradient when its weight is non-zero, else computed under `no_grad`.
fn with_grad_if(weight: f64, f: &dyn Fn() -> Tensor) -> Tensor {
    if weight != 0.0 {
        f()
    } else {
        tch::no_grad(f)
    }
}

/// L2 and L3 of one cluster head (eq. 4-6): its scores against `prototypes`,
/// the Sinkhorn codes of both views (no gradient), the soft-clustering and the
/// consensus loss, with multi-crop's small views (`small`) weighed in when
/// given; inputs already promoted to float32 or wider. Returns
/// (L2, L3, [q1, q2]), calling `mark` after each part.
fn clustering_terms(
    z1: &Tensor,
    z2: &Tensor,
    small: Option<&Tensor>,
    prototypes: &Tensor,
    cfg: &LossConfig,
    transforms: &Transforms,
    mark: &mut dyn FnMut(LossPart),
) -> (Tensor, Tensor, [Tensor; 2]) {
    let s1 = cosine_scores(z1, prototypes);
    let s2 = cosine_scores(z2, prototypes);
    let q1 = sinkhorn(&s1, cfg.sinkhorn_eps, cfg.sinkhorn_iters);
    let q2 = sinkhorn(&s2, cfg.sinkhorn_eps, cfg.sinkhorn_iters);
    mark(LossPart::Sinkhorn);

    let b = q1.size()[0];
    let l2 = with_grad_if(cfg.beta, &|| {
        let pair = soft_cluster_loss(&q1, &q2, &log_assignments(&s1, cfg.tau), &log_assignments(&s2, cfg.tau));
        match small {
            None => pair,
            Some(zs) => multicrop::with_small_views(
                &pair,
                &multicrop::small_soft_cluster_sum(zs, prototypes, &q1, &q2, cfg.tau),
                multicrop::view_count(zs, b),
            ),
        }
    });
    mark(LossPart::SoftCluster);
    let l3 = with_grad_if(cfg.gamma, &|| {
        let detach = cfg.detach_prototypes_l3;
        let pair = consensus_loss(z1, z2, prototypes, transforms, &q1, &q2, cfg.tau, detach);
        match small {
            None => pair,
            Some(zs) => multicrop::with_small_views(
                &pair,
                &multicrop::small_consensus_sum(zs, prototypes, transforms, &q1, &q2, cfg.tau, detach),
                multicrop::view_count(zs, b),
            ),
        }
    });
    mark(LossPart::Consensus);
    (l2, l3, [q1, q2])
}

/// The over-clustering head's terms (IIC's trick; method.md §11):
/// beta L2 + gamma L3 (eq. 5 and 6) on its embeddings `z1`, `z2` (B x head_dim
/// each) against its own r K x head_dim `prototypes`, with its own Sinkhorn codes
/// and the same M transforms. A scalar, with gradient through every term whose
/// weight is non-zero; added to [`LossTerms::total`] by the caller. `small`:
/// the head's embeddings of multi-crop's small views, as in [`concurl_loss_marked`].
pub fn overcluster_loss(
    z1: &Tensor,
    z2: &Tensor,
    small: Option<&Tensor>,
    prototypes: &Tensor,
    cfg: &LossConfig,
    transforms: &Transforms,
) -> Tensor {
    let (z1, z2, c) = (promote(z1), promote(z2), promote(prototypes));
    let small = small.map(promote);
    let (l2, l3, _) = clustering_terms(&z1, &z2, small.as_ref(), &c, cfg, transforms, &mut |_| {});
    let mut total = Tensor::zeros([], (z1.kind(), z1.device()));
    for (w, term) in [(cfg.beta, &l2), (cfg.gamma, &l3)] {
        if w != 0.0 {
            total += w * term;
        }
    }
    total
}

/// x / max(||x||, 1e-12) along the last axis (torch's F.normalize): method.md's
/// unit normalisation, safe for an all-zero row.
pub(crate) fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x.norm_scalaropt_dim(2.0, [-1], true).clamp_min(1e-12);
    x / norm
}

/// The two sizes of a matrix argument; panics naming `what` otherwise.
pub(crate) fn dims2(t: &Tensor, what: &str) -> (i64, i64) {
    match t.size()[..] {
        [r, c] => (r, c),
        ref s => panic!("{what}: expected a matrix (2 dimensions), got shape {s:?}"),
    }
}
