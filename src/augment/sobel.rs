//! The optional Sobel input (DeepCluster's choice, method.md §5 "optional
//! Sobel last"): grey level, then the two fixed 3 x 3 Sobel filters (horizontal
//! and vertical gradients), zero padding so the size is kept.
use tch::{Device, Kind, Tensor};

use super::color::grayscale;

/// The two filters, kept on the device (built once, not per batch).
#[derive(Debug)]
pub struct Sobel {
    /// 2 x 1 x 3 x 3: d/dx then d/dy.
    weight: Tensor,
}

impl Sobel {
    pub fn new(device: Device) -> Self {
        let gx = [1.0f32, 0.0, -1.0, 2.0, 0.0, -2.0, 1.0, 0.0, -1.0];
        let gy = [1.0f32, 2.0, 1.0, 0.0, 0.0, 0.0, -1.0, -2.0, -1.0];
        let weight = Tensor::from_slice(&[gx, gy].concat()).view([2, 1, 3, 3]).to_device(device);
        Self { weight }
    }

    /// B x 3 x H x W -> B x 2 x H x W gradients of the grey level.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let w = if x.kind() == Kind::Float { self.weight.shallow_clone() } else { self.weight.to_kind(x.kind()) };
        let none: Option<&Tensor> = None;
        grayscale(x).conv2d(&w, none, [1, 1], [1, 1], [1, 1], 1)
    }
}
