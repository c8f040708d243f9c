//! RandomResizedCrop + horizontal flip (method.md §5) as one affine map per
//! image, sampled with a single `grid_sample` over the batch.
use tch::{Device, Kind, Tensor};

/// torchvision's number of tries before falling back to a centre crop.
const ATTEMPTS: i64 = 10;

#[derive(Debug, Clone)]
pub struct CropConfig {
    /// Fraction of the image area, U(scale[0], scale[1]).
    pub scale: [f64; 2],
    /// Aspect ratio w / h, log-uniform in [ratio[0], ratio[1]].
    pub ratio: [f64; 2],
    pub flip_p: f64,
    /// Output side length R.
    pub out: i64,
}

/// Per-image crop boxes (in pixels of the H x W input) drawn with torchvision's
/// `RandomResizedCrop.get_params` rule, vectorised: ten (area, log-ratio) tries
/// per image, the first that fits wins, a centre crop clamped to the ratio range
/// if none does. Returns (i, j, h, w), each a float tensor of shape [B].
pub fn sample_boxes(cfg: &CropConfig, b: i64, h_in: i64, w_in: i64, dev: Device) -> [Tensor; 4] {
    let opts = (Kind::Float, dev);
    let (hf, wf) = (h_in as f64, w_in as f64);
    let area = hf * wf;
    let target = (Tensor::rand([b, ATTEMPTS], opts) * (cfg.scale[1] - cfg.scale[0]) + cfg.scale[0]) * area;
    let (lr0, lr1) = (cfg.ratio[0].ln(), cfg.ratio[1].ln());
    let aspect = (Tensor::rand([b, ATTEMPTS], opts) * (lr1 - lr0) + lr0).exp();
    let w = (&target * &aspect).sqrt().round();
    let h = (&target / &aspect).sqrt().round();
    let fits = w.gt(0.0).logical_and(&w.le(wf)).logical_and(&h.gt(0.0)).logical_and(&h.le(hf));
    // argmax returns the first maximal index: the first try that fits.
    let first = fits.to_kind(Kind::Float).argmax(1, true);
    let any = fits.any_dim(1, false);
    let w_try = w.gather(1, &first, false).squeeze_dim(1);
    let h_try = h.gather(1, &first, false).squeeze_dim(1);
    // Fallback: the whole image, narrowed to the nearest allowed ratio.
    let in_ratio = wf / hf;
    let (w_fb, h_fb) = if in_ratio < cfg.ratio[0] {
        (wf, (wf / cfg.ratio[0]).round())
    } else if in_ratio > cfg.ratio[1] {
        ((hf * cfg.ratio[1]).round(), hf)
    } else {
        (wf, hf)
    };
    let w = w_try.where_scalarother(&any, w_fb);
    let h = h_try.where_scalarother(&any, h_fb);
    // Top-left corner uniform over the valid integer positions (torch.randint(0, H - h + 1)).
    let i_rand = (Tensor::rand([b], opts) * (-&h + hf + 1.0)).floor();
    let j_rand = (Tensor::rand([b], opts) * (-&w + wf + 1.0)).floor();
    let i = i_rand.where_self(&any, &((-&h + hf) / 2.0).floor());
    let j = j_rand.where_self(&any, &((-&w + wf) / 2.0).floor());
    [i, j, h, w]
}

/// Crop, resize to R x R and flip every image of `x` (B x C x H x W float) with
/// its own parameters.
///
/// With `align_corners = false`, output pixel centres (x_o + 0.5) / R map to input
/// x = j + w (x_o + 0.5) / R; in grid_sample's normalised coordinates that is
/// x_n,in = (w / W) x_n,out + (2 j + w) / W - 1 (and likewise for rows). A flip
/// negates x_n,out, i.e. the first coefficient.
///
/// Images whose box is the whole image, unflipped, at the output size are passed
/// through untouched: bilinear weights at pixel centres equal 1 only up to
/// rounding, and the identity should be exact.
pub fn random_resized_crop(cfg: &CropConfig, x: &Tensor) -> Tensor {
    let (b, c, h_in, w_in) = x.size4().expect("images are B x C x H x W");
    let dev = x.device();
    let [i, j, h, w] = sample_boxes(cfg, b, h_in, w_in, dev);
    let flip = Tensor::rand([b], (Kind::Float, dev)).lt(cfg.flip_p);
    let sign = flip.to_kind(Kind::Float) * -2.0 + 1.0;
    let (hf, wf) = (h_in as f64, w_in as f64);
    let zero = Tensor::zeros([b], (Kind::Float, dev));
    let row0 = Tensor::stack(&[&w / wf * &sign, zero.shallow_clone(), (&j * 2.0 + &w) / wf - 1.0], 1);
    let row1 = Tensor::stack(&[zero, &h / hf, (&i * 2.0 + &h) / hf - 1.0], 1);
    let theta = Tensor::stack(&[row0, row1], 1);
    let grid = Tensor::affine_grid_generator(&theta, [b, c, cfg.out, cfg.out], false);
    // interpolation 0 = bilinear, padding 1 = border (only half-pixel edges reach it).
    let warped = x.grid_sampler(&grid, 0, 1, false);
    if cfg.out != h_in || cfg.out != w_in {
        return warped;
    }
    let identity = w.eq(wf).logical_and(&h.eq(hf)).logical_and(&flip.logical_not()).view([b, 1, 1, 1]);
    x.where_self(&identity, &warped)
}
