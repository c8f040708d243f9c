//! Datasets (method.md §6): getting them onto the disk and reading them.
//!
//! [`fetch`] downloads and verifies the public ones into the layout the readers
//! expect and tells, before a run, whether a dataset's files are there; it needs
//! no libtorch. The rest (with the `torch` feature) reads them: one reader per
//! on-disk format (idx, CIFAR binary, STL-10 binary, class folders), the
//! built-in synthetic set, [`load`] (a resolved config to a [`Dataset`]) and
//! device-resident batching ([`DeviceData`]).
pub mod fetch;

#[cfg(feature = "torch")]
mod cifar;
#[cfg(feature = "torch")]
mod dataset;
#[cfg(feature = "torch")]
mod error;
#[cfg(feature = "torch")]
mod folder;
#[cfg(feature = "torch")]
mod idx;
#[cfg(feature = "torch")]
mod raw;
#[cfg(feature = "torch")]
mod resident;
#[cfg(feature = "torch")]
mod stl10;
#[cfg(feature = "torch")]
mod synthetic;

#[cfg(feature = "torch")]
pub use dataset::*;
#[cfg(feature = "torch")]
pub use error::DataError;
#[cfg(feature = "torch")]
pub use idx::{IMAGES_MAGIC, LABELS_MAGIC};
#[cfg(feature = "torch")]
pub use resident::DeviceData;
#[cfg(feature = "torch")]
pub use synthetic::PATTERNS;
