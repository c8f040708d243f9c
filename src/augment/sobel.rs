//! The optional Sobel input (DeepCluster's choice, SPEC section 5 "optional
//! Sobel last"): grey level, then the two fixed 3 x 3 Sobel filters (horizontal
//! and vertical gradients), zero padding so the size is kept.
use tch::Tensor;

use super::color::grayscale;

/// B x 3 x H x W -> B x 2 x H x W gradients of the grey level.
pub fn sobel(x: &Tensor) -> Tensor {
    let gx = [1.0f32, 0.0, -1.0, 2.0, 0.0, -2.0, 1.0, 0.0, -1.0];
    let gy = [1.0f32, 2.0, 1.0, 0.0, 0.0, 0.0, -1.0, -2.0, -1.0];
    let w = Tensor::from_slice(&[gx, gy].concat()).view([2, 1, 3, 3]).to_kind(x.kind()).to_device(x.device());
    let none: Option<&Tensor> = None;
    grayscale(x).conv2d(&w, none, [1, 1], [1, 1], [1, 1], 1)
}

