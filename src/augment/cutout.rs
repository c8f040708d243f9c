//! Cutout (DeVries and Taylor 2017), the last step of the self-labelling
//! stage's strong view (method.md §11): one square per image, of side `frac`
//! of the image side, centred at a uniformly drawn pixel (clipped at the
//! border), set to zero. Applied after normalisation, so the square holds the
//! dataset mean. Batched: one comparison of coordinate grids, no loop.
use tch::{Kind, Tensor};

/// `x`: B x C x H x W float; the squares are drawn from torch's generator.
pub fn cutout(x: &Tensor, frac: f64) -> Tensor {
    if frac <= 0.0 {
        return x.shallow_clone();
    }
    let (b, _, h, w) = x.size4().expect("cutout: a batch is B x C x H x W");
    let opts = (Kind::Float, x.device());
    let half_h = frac * h as f64 / 2.0;
    let half_w = frac * w as f64 / 2.0;
    let cy = (Tensor::rand([b, 1, 1], opts) * h as f64).floor() + 0.5;
    let cx = (Tensor::rand([b, 1, 1], opts) * w as f64).floor() + 0.5;
    let ys = Tensor::arange(h, opts).view([1, h, 1]) + 0.5;
    let xs = Tensor::arange(w, opts).view([1, 1, w]) + 0.5;
    let inside = (ys - cy).abs().lt(half_h).logical_and(&(xs - cx).abs().lt(half_w));
    let keep = inside.logical_not().to_kind(x.kind()).unsqueeze(1);
    x * keep
}
