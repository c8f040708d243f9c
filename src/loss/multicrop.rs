//! Multi-crop (SwAV's, method.md §12): V small extra views per image, each
//! predicted in L2 and L3 against the codes of the two large views. No codes
//! are computed for the small views and they take no part in L1.
//!
//! With the two large views' pair terms L2 = (CE(q2, p1) + CE(q1, p2)) / 2
//! (eq. 5) and L3 likewise (eq. 6), the terms with V small views are SwAV's
//! average over every (code, other view) pair:
//!
//!   L = [ CE(q2, p1) + CE(q1, p2) + sum_s (CE(q1, p_s) + CE(q2, p_s)) ] / (2 (1 + V)),
//!
//! which is the paper's term at V = 0. For L3, CE averages over the M maps too.
use tch::{Kind, Tensor};

use super::cluster::{cosine_scores, log_assignments};
use super::consensus::{mapped_unit, scores_and_log_softmax};
use super::dims2;
use super::transforms::Transforms;

/// Checks the small views' rows against the codes: `zs` is V B x d (view-major)
/// for codes of B rows; returns (V, B).
fn views_of(zs: &Tensor, q1: &Tensor, q2: &Tensor, what: &str) -> (i64, i64) {
    let (rows, _) = dims2(zs, what);
    let (b, k) = dims2(q1, "multicrop: q1");
    assert_eq!(dims2(q2, "multicrop: q2"), (b, k), "multicrop: q2 must match q1 ({b} x {k})");
    assert!(b > 0 && rows % b == 0, "{what}: {rows} rows are not a whole number of views of {b}");
    (rows / b, b)
}

/// Both large views' codes as the targets of every small view: (q1 + q2)
/// repeated V times, detached (V B x K).
fn small_targets(q1: &Tensor, q2: &Tensor, v: i64) -> Tensor {
    (q1.detach() + q2.detach()).repeat([v, 1])
}

/// sum_s [CE(q1, p_s) + CE(q2, p_s)] for the small views' embeddings `zs`
/// (V B x d) against `protos` (K x d), CE averaged over the B images: the small
/// views' share of L2 before [`with_small_views`] weighs it in.
pub fn small_soft_cluster_sum(zs: &Tensor, protos: &Tensor, q1: &Tensor, q2: &Tensor, tau: f64) -> Tensor {
    let (v, b) = views_of(zs, q1, q2, "small_soft_cluster_sum: zs");
    let logp = log_assignments(&cosine_scores(zs, protos), tau);
    (small_targets(q1, q2, v) * logp).sum(None::<Kind>) / (-(b as f64))
}

/// The same for L3: sum_s [CE(q1, p~_s) + CE(q2, p~_s)], CE averaged over the
/// B images and the M maps of `t`. `detach_protos` as in
/// [`consensus_loss`](super::consensus_loss).
#[allow(clippy::too_many_arguments)]
pub fn small_consensus_sum(
    zs: &Tensor,
    protos: &Tensor,
    t: &Transforms,
    q1: &Tensor,
    q2: &Tensor,
    tau: f64,
    detach_protos: bool,
) -> Tensor {
    let (v, b) = views_of(zs, q1, q2, "small_consensus_sum: zs");
    let c = if detach_protos { protos.detach() } else { protos.shallow_clone() };
    let logp = scores_and_log_softmax(&mapped_unit(&[zs, &c], t), v * b, tau);
    (small_targets(q1, q2, v).unsqueeze(0) * logp).sum(None::<Kind>) / (-((b * t.m()) as f64))
}

/// The pair term of the two large views with the small views' sum weighed in:
/// (2 pair + small_sum) / (2 (1 + V)) (module comment).
pub fn with_small_views(pair: &Tensor, small_sum: &Tensor, v: i64) -> Tensor {
    (pair * 2.0 + small_sum) / (2.0 * (1 + v) as f64)
}

/// V of a stack of small views for codes of `b` rows.
pub fn view_count(zs: &Tensor, b: i64) -> i64 {
    zs.size()[0] / b
}
