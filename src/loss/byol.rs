//! L1, the BYOL regression loss (method.md §3; BYOL, Grill et al. 2020, eq. 2).
use tch::{Kind, Tensor};

use super::{dims2, l2_normalize};

/// L1 = (2 - 2 <w1, v2>) + (2 - 2 <w2, v1>), each bracket averaged over the batch,
/// all vectors unit-normalised.
///
/// The view pairing is crossed, as in the paper: the online prediction of view 1
/// (`w1 = h(g(f(x1)))`) regresses the target projection of view 2 (`v2 = g_xi(f_xi(x2))`)
/// and vice versa, which symmetrises the loss.
///
/// Shapes: `w1`, `w2`, `v1`, `v2` all B x d. The target projections are detached
/// here as well as by the caller: the target network never receives gradient.
/// Returns a scalar in [0, 8].
pub fn byol_loss(w1: &Tensor, w2: &Tensor, v1: &Tensor, v2: &Tensor) -> Tensor {
    let shape = dims2(w1, "byol_loss: w1");
    for (name, t) in [("w2", w2), ("v1", v1), ("v2", v2)] {
        let s = dims2(t, "byol_loss");
        assert_eq!(s, shape, "byol_loss: {name} is {s:?} but w1 is {shape:?}");
    }
    let regress = |w: &Tensor, v: &Tensor| {
        let cos = (l2_normalize(w) * l2_normalize(&v.detach())).sum_dim_intlist(-1, false, None);
        (cos * -2.0 + 2.0).mean(None::<Kind>)
    };
    regress(w1, v2) + regress(w2, v1)
}
