//! The whole dataset resident on the training device as uint8, so a batch is one
//! `index_select` there: no per-image host work and no host-to-device copy per
//! step (CIFAR-10 train+test is 184 MB as uint8).
use tch::{Device, Kind, Tensor};

use super::Dataset;

pub struct DeviceData {
    /// uint8, N x C x H x W, on `device`.
    pub images: Tensor,
    pub n: i64,
}

// SAFETY: the device copy is written once in `new` and only read (index_select)
// afterwards; concurrent reads of a libtorch tensor are safe.
unsafe impl Sync for DeviceData {}

impl DeviceData {
    pub fn new(ds: &Dataset, device: Device) -> Self {
        Self { images: ds.images.to_device(device), n: ds.images.size()[0] }
    }

    pub fn device(&self) -> Device {
        self.images.device()
    }

    /// The images at `idx` (int64 indices on the same device), as a uint8 B x C x H x W batch.
    pub fn batch(&self, idx: &Tensor) -> Tensor {
        assert_eq!(idx.device(), self.images.device(), "batch indices must live on the data's device");
        assert_eq!(idx.kind(), Kind::Int64, "batch indices must be int64");
        self.images.index_select(0, idx)
    }
}
