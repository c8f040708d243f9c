//! Gaussian blur with a per-image sigma (method.md §5), as two grouped 1-D
//! convolutions over the whole batch (the kernel is separable).
use tch::{Kind, Tensor};

#[derive(Debug, Clone)]
pub struct BlurConfig {
    /// Odd kernel size (23 at 224 px, about a tenth of the side otherwise).
    pub kernel: i64,
    /// sigma ~ U(sigma[0], sigma[1]) per image.
    pub sigma: [f64; 2],
}

/// Normalised 1-D Gaussian kernels, one row per sigma: B x k, as torchvision's
/// `_get_gaussian_kernel1d` (taps at -k/2 .. k/2).
pub fn gaussian_kernels(sigma: &Tensor, k: i64) -> Tensor {
    let half = (k / 2) as f64;
    let taps = Tensor::arange(k, (Kind::Float, sigma.device())) - half;
    let z = taps.view([1, k]) / sigma.view([-1, 1]);
    let pdf = (z.square() * -0.5).exp();
    &pdf / pdf.sum_dim_intlist(1, true, Kind::Float)
}

/// Blur image b of `x` (B x C x H x W float) with `sigma[b]`, reflect padding as
/// torchvision's `gaussian_blur`. The batch is folded into the channel axis so
/// one conv2d with groups = B*C applies every image's own kernel.
pub fn blur_with_sigma(x: &Tensor, sigma: &Tensor, k: i64) -> Tensor {
    let (b, c, h, w) = x.size4().expect("images are B x C x H x W");
    let ker = gaussian_kernels(sigma, k).to_kind(x.kind());
    // Every channel of image b uses kernel b: (B*C, 1, 1, k) and its transpose.
    let ker = ker.unsqueeze(1).expand([b, c, k], false).reshape([b * c, 1, 1, k]);
    let pad = k / 2;
    let folded = x.reshape([1, b * c, h, w]);
    // Reflection needs pad < side; only a kernel wider than the image falls back to replicate.
    let padded = if pad < h && pad < w {
        folded.reflection_pad2d([pad, pad, pad, pad])
    } else {
        folded.replication_pad2d([pad, pad, pad, pad])
    };
    let none: Option<&Tensor> = None;
    let rows = padded.conv2d(&ker, none, [1, 1], [0, 0], [1, 1], b * c);
    let cols = rows.conv2d(&ker.transpose(2, 3), none, [1, 1], [0, 0], [1, 1], b * c);
    cols.reshape([b, c, h, w])
}

/// Blur each image with probability `p`, sigma drawn per image.
pub fn random_blur(cfg: &BlurConfig, p: f64, x: &Tensor) -> Tensor {
    if p <= 0.0 {
        return x.shallow_clone();
    }
    let b = x.size()[0];
    let dev = x.device();
    let sigma = Tensor::rand([b], (Kind::Float, dev)) * (cfg.sigma[1] - cfg.sigma[0]) + cfg.sigma[0];
    let blurred = blur_with_sigma(x, &sigma, cfg.kernel);
    if p >= 1.0 {
        return blurred;
    }
    let apply = Tensor::rand([b, 1, 1, 1], (Kind::Float, dev)).lt(p);
    blurred.where_self(&apply, x)
}
