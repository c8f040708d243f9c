//! The target network's exponential moving average (method.md §2; BYOL eq. 1):
//! xi <- tau_B xi + (1 - tau_B) theta after every optimiser step.
use std::f64::consts::PI;

use tch::nn::VarStore;
use tch::Tensor;

/// One EMA step over every variable of `target`, matched by name in `online`.
///
/// Every target variable is averaged, trainable or not, so BatchNorm running
/// statistics too: the target is then the Polyak average of the whole online
/// network, weights and the statistics that go with them, so that when it is
/// run in eval mode (the k-means baseline on v_xi, method.md §7) its normalisation
/// matches its averaged weights, and the target's state never depends on which
/// batches happened to pass through it.
///
/// Speed: tch 0.24 does not generate libtorch's `_foreach_*` kernels (its
/// generator skips them), so instead of a loop of one `lerp_` per tensor (about
/// 200 launches for ResNet-34 plus heads) the target variables are kept as views
/// of ONE flat buffer ([`pack_contiguous`], done by `Networks::new`), and a step is
/// two kernels: one concatenation of the online variables in the same order and
/// one `lerp_` over the whole buffer. If the packing was undone (a device move,
/// a checkpoint loaded in another dtype), the step falls back to the per-tensor
/// loop, which gives the same numbers.
///
/// Panics if a target variable has no online counterpart of the same shape:
/// the two networks were built from different configurations, a bug.
pub fn ema_update(target: &VarStore, online: &VarStore, tau: f64) {
    assert!((0.0..=1.0).contains(&tau), "ema_update: tau = {tau} must be in [0, 1]");
    let pairs = matched(target, online);
    let weight = 1.0 - tau; // lerp(xi, theta, 1 - tau) = tau xi + (1 - tau) theta
    tch::no_grad(|| {
        let targets: Vec<&Tensor> = pairs.iter().map(|(_, t, _)| t).collect();
        if let Some(mut flat) = packed_view(&targets) {
            let onl: Vec<&Tensor> = pairs.iter().map(|(_, _, o)| o).collect();
            let onl_flat = Tensor::flatten_dense_tensors(&onl).to_kind(flat.kind());
            let _ = flat.lerp_(&onl_flat, weight);
        } else {
            for (_, t, o) in &pairs {
                let _ = t.shallow_clone().lerp_(&o.to_kind(t.kind()), weight);
            }
        }
    });
}

/// Copies every variable of `target` from the variable of the same name in
/// `online` (the target's initialisation, method.md §2). Same panics as [`ema_update`].
pub fn copy_matching(target: &VarStore, online: &VarStore) {
    tch::no_grad(|| {
        for (_, t, o) in matched(target, online) {
            t.shallow_clone().copy_(&o);
        }
    });
}

/// Re-homes every variable of `vs` into one contiguous buffer, in name order, so
/// that [`ema_update`] can treat them as one tensor. Values, names, shapes and
/// `requires_grad` are unchanged; modules holding the variables see the move
/// (they share the same tensor object). Returns false and changes nothing when
/// the variables do not share one dtype and device.
pub fn pack_contiguous(vs: &VarStore) -> bool {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let Some((_, first)) = vars.first() else {
        return true;
    };
    let (kind, device) = (first.kind(), first.device());
    if vars.iter().any(|(_, t)| t.kind() != kind || t.device() != device) {
        return false;
    }
    let total: i64 = vars.iter().map(|(_, t)| t.numel() as i64).sum();
    let flat = Tensor::zeros([total], (kind, device));
    tch::no_grad(|| {
        let mut offset = 0;
        for (_, t) in vars.iter_mut() {
            let n = t.numel() as i64;
            let mut view = flat.narrow(0, offset, n).view(t.size().as_slice());
            view.copy_(t);
            t.set_data(&view);
            offset += n;
        }
    });
    true
}

/// BYOL's schedule (section 3.2): tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2,
/// from `base` at step 0 to 1.0 at step `total`. Steps past `total` stay at 1.
pub fn cosine_tau(base: f64, step: usize, total: usize) -> f64 {
    if total == 0 {
        return 1.0;
    }
    let progress = (step.min(total) as f64) / (total as f64);
    1.0 - (1.0 - base) * ((PI * progress).cos() + 1.0) / 2.0
}

/// (name, target variable, online variable), sorted by name.
fn matched(target: &VarStore, online: &VarStore) -> Vec<(String, Tensor, Tensor)> {
    let onl = online.variables();
    let mut pairs: Vec<(String, Tensor, Tensor)> = target
        .variables()
        .into_iter()
        .map(|(name, t)| {
            let o = onl.get(&name).unwrap_or_else(|| panic!("EMA: target variable `{name}` has no online counterpart"));
            assert_eq!(t.size(), o.size(), "EMA: `{name}` is {:?} in the target but {:?} online", t.size(), o.size());
            let o = o.to_device(t.device());
            (name, t, o)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

/// The flat buffer behind `vars` if they are, in this order, adjacent contiguous
/// pieces of one allocation of one dtype (what [`pack_contiguous`] makes).
fn packed_view(vars: &[&Tensor]) -> Option<Tensor> {
    let first = vars.first()?;
    let (kind, device) = (first.kind(), first.device());
    let elem = kind.elt_size_in_bytes();
    let mut expect = first.data_ptr() as usize;
    let mut total = 0i64;
    for t in vars {
        if t.kind() != kind || t.device() != device || !t.is_contiguous() || t.data_ptr() as usize != expect {
            return None;
        }
        let n = t.numel();
        expect += n * elem;
        total += n as i64;
    }
    // Adjacent addresses alone could be two neighbouring allocations; a view of
    // `total` elements from the first variable only exists if its own storage
    // covers them all (libtorch checks the bounds), i.e. one allocation.
    first.f_as_strided([total], [1], None::<i64>).ok()
}

/// Whether the variables of `vs` are packed in one buffer (the fused EMA path).
pub fn is_packed(vs: &VarStore) -> bool {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let refs: Vec<&Tensor> = vars.iter().map(|(_, t)| t).collect();
    packed_view(&refs).is_some()
}
