//! [`load`] turns a resolved [`RunConfig`] into a [`Dataset`]: every image of the
//! configured split as one N x C x H x W uint8 tensor on the CPU, with the ground
//! truth kept aside for scoring only (training never reads the labels); the
//! seeded `data.limit` subset and the one-off resize to the run's resolution.
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::config::{DatasetName, RunConfig};
use crate::util::mix_seed;

use super::{cifar, folder, idx, stl10, synthetic, DataError};

/// Salt that derives the `data.limit` subset's seed from the run's seed.
const LIMIT_SALT: u64 = 0x4C49_4D49_5400;

/// A dataset in host memory.
#[derive(Debug)]
pub struct Dataset {
    pub name: String,
    /// uint8, N x C x H x W, on the CPU; C = 1 (MNIST-like) or 3.
    pub images: Tensor,
    /// Ground truth in 0..num_classes, used only for scoring.
    pub labels: Vec<i64>,
    pub num_classes: usize,
    pub class_names: Vec<String>,
    /// Class-folder datasets: the file of each image.
    pub paths: Option<Vec<PathBuf>>,
}

// SAFETY: a Dataset is never mutated after `load` returns (its fields are read
// only), libtorch tensors may be read from several threads at once, and their
// reference counts are atomic. Runs of one process share a Dataset through an
// `Arc` so the uint8 images are held once.
unsafe impl Sync for Dataset {}

impl Clone for Dataset {
    /// The images are shared (a shallow clone of the tensor), the rest copied.
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            images: self.images.shallow_clone(),
            labels: self.labels.clone(),
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
            paths: self.paths.clone(),
        }
    }
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Channels as stored (1 or 3).
    pub fn channels(&self) -> i64 {
        self.images.size()[1]
    }
    /// Side length of the (square) images.
    pub fn resolution(&self) -> i64 {
        self.images.size()[3]
    }
}

/// Read the dataset `cfg` describes:
/// the configured split, the seeded `data.limit` subset, resized to
/// `cfg.data.resolution` if that differs from the native size.
pub fn load(cfg: &RunConfig) -> Result<Dataset, DataError> {
    let d = &cfg.data;
    let split = d.split;
    let resolution = cfg.data.resolution;
    let root = || -> Result<&Path, DataError> {
        d.root.as_deref().ok_or_else(|| DataError::Missing {
            path: PathBuf::from("data.root"),
            hint: format!("dataset `{}` reads files: set data.root to the folder that holds them", d.dataset),
        })
    };
    // The damaged-file errors of the datasets `sweep data fetch` downloads name the fix.
    let refetch = |e: DataError| e.refetch(d.dataset.as_str());
    let (part, class_names, paths) = match d.dataset {
        DatasetName::Synthetic => (synthetic::generate(&d.synthetic), synthetic::class_names(&d.synthetic), None),
        DatasetName::Mnist | DatasetName::FashionMnist => {
            (idx::read(root()?, d.dataset, split).map_err(refetch)?, idx::class_names(d.dataset), None)
        }
        DatasetName::Cifar10 => {
            (cifar::read(root()?, cifar::Cifar::Ten, split).map_err(refetch)?, cifar::Cifar::Ten.class_names(), None)
        }
        DatasetName::Cifar100_20 => (
            cifar::read(root()?, cifar::Cifar::Hundred20, split).map_err(refetch)?,
            cifar::Cifar::Hundred20.class_names(),
            None,
        ),
        DatasetName::Stl10 => (
            stl10::read(root()?, split).map_err(refetch)?,
            stl10::STL10_CLASSES.iter().map(|s| s.to_string()).collect(),
            None,
        ),
        DatasetName::Imagenet10 | DatasetName::ImagenetDogs | DatasetName::Folder => {
            let builtin: Option<Vec<String>> =
                d.dataset.builtin_classes().map(|c| c.iter().map(|s| s.to_string()).collect());
            let classes = d.classes.clone().or(builtin);
            let mut listing = folder::list(root()?, classes.as_deref(), split)?;
            // Pick the subset before decoding: only the chosen files are read.
            if let Some(keep) = subset_indices(listing.paths.len(), d.limit, cfg.seed) {
                listing.paths = keep.iter().map(|&i| listing.paths[i].clone()).collect();
                listing.labels = keep.iter().map(|&i| listing.labels[i]).collect();
            }
            let part = folder::decode(&listing.paths, listing.labels, resolution, 3)?;
            (part, listing.class_names, Some(listing.paths))
        }
    };
    let n = part.len();
    let images = Tensor::from_data_size(
        &part.pixels,
        &[n as i64, part.channels as i64, part.height as i64, part.width as i64],
        Kind::Uint8,
    );
    let mut ds = Dataset {
        name: d.dataset.to_string(),
        images,
        labels: part.labels,
        num_classes: class_names.len(),
        class_names,
        paths,
    };
    if ds.paths.is_none() {
        if let Some(keep) = subset_indices(n, d.limit, cfg.seed) {
            ds = ds.select(&keep);
        }
    }
    if ds.images.size()[2] != resolution as i64 || ds.images.size()[3] != resolution as i64 {
        ds.images = resize_uint8(&ds.images, resolution as i64);
    }
    Ok(ds)
}

impl Dataset {
    /// The images at `keep` (in that order), with their labels and paths.
    pub fn select(self, keep: &[usize]) -> Dataset {
        let idx = Tensor::from_slice(&keep.iter().map(|&i| i as i64).collect::<Vec<_>>());
        Dataset {
            images: self.images.index_select(0, &idx),
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
            paths: self.paths.map(|p| keep.iter().map(|&i| p[i].clone()).collect()),
            ..self
        }
    }
}

/// The images directly inside `dir` (`.jpg`, `.jpeg`, `.png`, sorted by name),
/// each with its own channel count read from its header (1 grey, 3 colour):
/// `sweep predict` checks them against the run before decoding anything.
pub fn list_images(dir: &Path) -> Result<Vec<(PathBuf, i64)>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            hint: "point at a folder of .jpg/.png images".into(),
        });
    }
    let files = folder::image_files(dir)?;
    if files.is_empty() {
        return Err(DataError::Empty { path: dir.to_path_buf() });
    }
    files.into_iter().map(|p| folder::file_channels(&p).map(|c| (p, c))).collect()
}

/// Decodes image files exactly as the class-folder reader does (short side to
/// R * 256 / 224, centre crop to R x R), as `channels` (1 or 3) channels:
/// uint8 N x C x R x R on the CPU.
pub fn decode_images(paths: &[PathBuf], resolution: u32, channels: i64) -> Result<Tensor, DataError> {
    let part = folder::decode(paths, vec![0; paths.len()], resolution, channels as usize)?;
    let r = resolution as i64;
    Ok(Tensor::from_data_size(&part.pixels, &[paths.len() as i64, channels, r, r], Kind::Uint8))
}

/// `data.limit`: a uniformly random subset of `limit` of `n` indices, kept in
/// their original order, drawn from a stream derived from the run's seed (the
/// same seed gives the same subset). None when everything is kept.
pub fn subset_indices(n: usize, limit: Option<usize>, seed: u64) -> Option<Vec<usize>> {
    let limit = limit.filter(|&l| l < n)?;
    let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, LIMIT_SALT));
    let mut keep = rand::seq::index::sample(&mut rng, n, limit).into_vec();
    keep.sort_unstable();
    Some(keep)
}

/// Resize N x C x H x W uint8 images to `side` x `side` once at load: bilinear
/// with antialiasing (torchvision's `Resize(antialias=True)`), rounded back to
/// uint8. Done in chunks so the float copy stays small.
fn resize_uint8(images: &Tensor, side: i64) -> Tensor {
    const CHUNK: i64 = 2048;
    let n = images.size()[0];
    let parts: Vec<Tensor> = (0..(n + CHUNK - 1) / CHUNK)
        .map(|c| {
            let x = images.narrow(0, c * CHUNK, CHUNK.min(n - c * CHUNK)).to_kind(Kind::Float);
            x.internal_upsample_bilinear2d_aa([side, side], false, None, None)
                .round()
                .clamp(0.0, 255.0)
                .to_kind(Kind::Uint8)
        })
        .collect();
    if parts.is_empty() {
        let s = images.size();
        return Tensor::zeros([0, s[1], side, side], (Kind::Uint8, tch::Device::Cpu));
    }
    Tensor::cat(&parts, 0)
}
