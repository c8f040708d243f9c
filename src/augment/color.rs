//! Colour jitter and grayscale (method.md §5), per image, on B x 3 x H x W
//! float batches in [0, 1]. Each operation follows torchvision's definition
//! (`torchvision.transforms.functional`): brightness scales, contrast blends
//! with the mean grey level of the image, saturation blends with the image's
//! grey version, and hue rotates the H channel of HSV.
//!
//! Hue is done by exact RGB -> HSV -> RGB tensor maths rather than a YIQ
//! rotation: the YIQ shortcut is a linear approximation that leaves the gamut for
//! saturated colours and does not match torchvision/Kornia (which the paper's
//! strengths were tuned with); HSV costs a few element-wise ops more, negligible
//! next to the network.
use tch::{Device, Kind, Tensor};

/// ITU-R 601 luma weights, as torchvision's `rgb_to_grayscale`.
const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

#[derive(Debug, Clone)]
pub struct JitterConfig {
    pub p: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
}

/// Grey level, B x 1 x H x W. Scalar weights, so no constant tensor has to be
/// copied to the device.
pub fn grayscale(x: &Tensor) -> Tensor {
    let c = |i: i64| x.narrow(1, i, 1);
    c(0) * LUMA[0] + c(1) * LUMA[1] + c(2) * LUMA[2]
}

/// Per-image factors are [B] tensors.
pub fn adjust_brightness(x: &Tensor, f: &Tensor) -> Tensor {
    (x * f.view([-1, 1, 1, 1])).clamp(0.0, 1.0)
}

pub fn adjust_contrast(x: &Tensor, f: &Tensor) -> Tensor {
    let mean = grayscale(x).mean_dim([1i64, 2, 3].as_slice(), true, x.kind());
    blend(x, &mean, f)
}

pub fn adjust_saturation(x: &Tensor, f: &Tensor) -> Tensor {
    blend(x, &grayscale(x), f)
}

/// f x + (1 - f) other, clamped (torchvision's `_blend`).
fn blend(x: &Tensor, other: &Tensor, f: &Tensor) -> Tensor {
    let f = f.view([-1, 1, 1, 1]);
    (x * &f + other * (-&f + 1.0)).clamp(0.0, 1.0)
}

/// Shift the hue by `shift` (per image, a fraction of the colour circle).
pub fn adjust_hue(x: &Tensor, shift: &Tensor) -> Tensor {
    let [h, s, v] = rgb_to_hsv(x);
    let h = (h + shift.view([-1, 1, 1])).remainder(1.0);
    hsv_to_rgb(&h, &s, &v)
}

/// torchvision's `_rgb2hsv`: H in [0, 1), S and V in [0, 1]; each B x H x W.
pub fn rgb_to_hsv(x: &Tensor) -> [Tensor; 3] {
    let rgb = x.unbind(1);
    let (r, g, b) = (&rgb[0], &rgb[1], &rgb[2]);
    let maxc = x.amax(1, false);
    let minc = x.amin(1, false);
    let eqc = maxc.eq_tensor(&minc);
    let cr = &maxc - &minc;
    let ones = maxc.ones_like();
    // Grey pixels (max == min) get S = 0 and H = 0, without dividing by zero.
    let s = &cr / ones.where_self(&eqc, &maxc);
    let cr_div = ones.where_self(&eqc, &cr);
    let rc = (&maxc - r) / &cr_div;
    let gc = (&maxc - g) / &cr_div;
    let bc = (&maxc - b) / &cr_div;
    let is_r = maxc.eq_tensor(r);
    let is_g = maxc.eq_tensor(g).logical_and(&is_r.logical_not());
    let is_b = maxc.ne_tensor(g).logical_and(&is_r.logical_not());
    let hr = is_r.to_kind(x.kind()) * (&bc - &gc);
    let hg = is_g.to_kind(x.kind()) * ((&rc - &bc) + 2.0);
    let hb = is_b.to_kind(x.kind()) * ((&gc - &rc) + 4.0);
    let h = ((hr + hg + hb) / 6.0 + 1.0).remainder(1.0);
    [h, s, maxc]
}

/// torchvision's `_hsv2rgb`: the sector i = floor(6 H) picks, per channel, one of
/// v, p = v (1 - s), q = v (1 - s f), t = v (1 - s (1 - f)); done with a gather.
pub fn hsv_to_rgb(h: &Tensor, s: &Tensor, v: &Tensor) -> Tensor {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - &i;
    let i = i.remainder(6.0).to_kind(Kind::Int64).unsqueeze(1);
    let p = (v * (-s + 1.0)).clamp(0.0, 1.0);
    let q = (v * (-(s * &f) + 1.0)).clamp(0.0, 1.0);
    let t = (v * (-(s * (-&f + 1.0)) + 1.0)).clamp(0.0, 1.0);
    let pick = |c: [&Tensor; 6]| Tensor::stack(&c, 1).gather(1, &i, false);
    Tensor::cat(&[pick([v, &q, &p, &p, &t, v]), pick([&t, v, v, &q, &p, &p]), pick([&p, &p, &t, v, v, &q])], 1)
}

/// U(lo, hi) per image.
fn uniform(b: i64, lo: f64, hi: f64, dev: Device) -> Tensor {
    Tensor::rand([b], (Kind::Float, dev)) * (hi - lo) + lo
}

/// ColorJitter applied to each image with probability `p`, factors drawn per
/// image from torchvision's ranges ([max(0, 1 - s), 1 + s], hue [-h, h]). The
/// order of the four operations is one random permutation per batch, as Kornia's
/// `ColorJitter` (which the paper used) draws it; it comes from the CPU generator,
/// so reading it costs no device synchronisation.
pub fn color_jitter(cfg: &JitterConfig, x: &Tensor) -> Tensor {
    if cfg.p <= 0.0 {
        return x.shallow_clone();
    }
    let b = x.size()[0];
    let dev = x.device();
    let order = Vec::<i64>::try_from(Tensor::randperm(4, (Kind::Int64, Device::Cpu))).expect("randperm of 4");
    let mut y = x.shallow_clone();
    for op in order {
        y = match op {
            0 if cfg.brightness > 0.0 => {
                adjust_brightness(&y, &uniform(b, (1.0 - cfg.brightness).max(0.0), 1.0 + cfg.brightness, dev))
            }
            1 if cfg.contrast > 0.0 => {
                adjust_contrast(&y, &uniform(b, (1.0 - cfg.contrast).max(0.0), 1.0 + cfg.contrast, dev))
            }
            2 if cfg.saturation > 0.0 => {
                adjust_saturation(&y, &uniform(b, (1.0 - cfg.saturation).max(0.0), 1.0 + cfg.saturation, dev))
            }
            3 if cfg.hue > 0.0 => adjust_hue(&y, &uniform(b, -cfg.hue, cfg.hue, dev)),
            _ => y,
        };
    }
    let apply = Tensor::rand([b, 1, 1, 1], (Kind::Float, dev)).lt(cfg.p);
    y.where_self(&apply, x)
}

/// Replace each image by its grey version (on all three channels) with probability `p`.
pub fn random_grayscale(p: f64, x: &Tensor) -> Tensor {
    if p <= 0.0 {
        return x.shallow_clone();
    }
    let b = x.size()[0];
    let apply = Tensor::rand([b, 1, 1, 1], (Kind::Float, x.device())).lt(p);
    grayscale(x).expand_as(x).where_self(&apply, x)
}
