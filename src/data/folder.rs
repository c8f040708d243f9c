//! Trees of class folders holding JPEG/PNG images (the ImageNet subsets of method.md
//! §6, or any `folder` dataset).
//!
//! Layout: `root/<class>/*.{jpg,jpeg,png}`, or `root/train/<class>/...` with
//! `root/val/` (or `root/test/`) for the test split. The class list is the
//! configured one (data.classes), else the built-in WordNet ids of the ImageNet
//! subsets, else every sub-folder, sorted. Images are resized so the short side
//! is resolution * 256 / 224 (256 at 224 px, method.md §5's evaluation
//! transform) and centre-cropped to resolution x resolution, once, at load.
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::error::DataError;
use super::raw::Part;
use crate::config::Split;

const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The files of a split, before decoding (so `data.limit` can pick first).
pub(crate) struct Listing {
    pub paths: Vec<PathBuf>,
    pub labels: Vec<i64>,
    pub class_names: Vec<String>,
}

fn hint(what: &str) -> String {
    format!(
        "{what}; point data.root at a folder of class folders (root/<class>/*.jpg, or \
         root/train/<class>/ and root/val/<class>/), or list the class folders in data.classes"
    )
}

fn split_dirs(root: &Path, split: Split) -> Result<Vec<PathBuf>, DataError> {
    if !root.is_dir() {
        return Err(DataError::Missing { path: root.to_path_buf(), hint: hint("the dataset folder does not exist") });
    }
    let train = if root.join("train").is_dir() { root.join("train") } else { root.to_path_buf() };
    let test = || {
        ["val", "test"].iter().map(|d| root.join(d)).find(|p| p.is_dir()).ok_or_else(|| DataError::Missing {
            path: root.join("val"),
            hint: hint("the test split needs a `val` or `test` folder of class folders; use data.split = \"train\""),
        })
    };
    Ok(match split {
        Split::Train => vec![train],
        Split::Test => vec![test()?],
        Split::TrainTest => vec![train, test()?],
    })
}

/// List the images of `split`, labelled by the position of their folder in the class list.
pub(crate) fn list(root: &Path, classes: Option<&[String]>, split: Split) -> Result<Listing, DataError> {
    let dirs = split_dirs(root, split)?;
    let class_names: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => {
            let rd = std::fs::read_dir(&dirs[0]).map_err(|e| DataError::io(&dirs[0], e))?;
            let mut names = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| DataError::io(&dirs[0], e))?;
                if entry.path().is_dir() {
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            names.sort();
            names
        }
    };
    if class_names.is_empty() {
        return Err(DataError::Empty { path: dirs[0].clone() });
    }
    let (mut paths, mut labels) = (Vec::new(), Vec::new());
    for dir in &dirs {
        for (label, class) in class_names.iter().enumerate() {
            let cdir = dir.join(class);
            if !cdir.is_dir() {
                return Err(DataError::Missing {
                    path: cdir,
                    hint: hint(&format!("class folder `{class}` is missing")),
                });
            }
            let files = image_files(&cdir)?;
            if files.is_empty() {
                return Err(DataError::Empty { path: cdir });
            }
            labels.extend(std::iter::repeat_n(label as i64, files.len()));
            paths.extend(files);
        }
    }
    Ok(Listing { paths, labels, class_names })
}

/// The image files (by extension) directly inside `dir`, sorted by name.
pub(crate) fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let p = entry.map_err(|e| DataError::io(dir, e))?.path();
        let ext = p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        if p.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// The file's own channel count from its header alone (no decoding): 1 for
/// grey (L, LA), 3 for colour (RGB, RGBA); alpha is dropped at decode.
pub(crate) fn file_channels(path: &Path) -> Result<i64, DataError> {
    use image::ImageDecoder;
    let decoder = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .into_decoder()
        .map_err(|e| DataError::Image { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(if decoder.color_type().has_color() { 3 } else { 1 })
}

/// Decode, resize (short side to resolution * 256 / 224, bilinear with
/// antialiasing) and centre-crop every file, in parallel, as `channels` (1: grey,
/// 3: RGB) channels. N x C x R x R uint8.
pub(crate) fn decode(paths: &[PathBuf], labels: Vec<i64>, resolution: u32, channels: usize) -> Result<Part, DataError> {
    assert!(channels == 1 || channels == 3, "images decode to 1 or 3 channels, not {channels}");
    let r = resolution as usize;
    let images: Vec<Vec<u8>> =
        paths.par_iter().map(|p| decode_one(p, resolution, channels)).collect::<Result<_, _>>()?;
    let mut part = Part::new(channels, r, r);
    part.pixels = images.concat();
    part.labels = labels;
    Ok(part)
}

fn decode_one(path: &Path, resolution: u32, channels: usize) -> Result<Vec<u8>, DataError> {
    let img = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .decode()
        .map_err(|e| DataError::Image { path: path.to_path_buf(), message: e.to_string() })?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(DataError::Image { path: path.to_path_buf(), message: "image has no pixels".into() });
    }
    Ok(if channels == 1 { resize_crop(&img.to_luma8(), resolution) } else { resize_crop(&img.to_rgb8(), resolution) })
}

/// torchvision's Resize(int(R * 256 / 224)) then CenterCrop(R), as C x R x R bytes.
fn resize_crop<P>(img: &image::ImageBuffer<P, Vec<u8>>, resolution: u32) -> Vec<u8>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    let (w, h) = img.dimensions();
    let short = ((resolution as f64) * 256.0 / 224.0).floor().max(resolution as f64) as u32;
    let (nw, nh) = if w <= h {
        (short, ((h as f64) * short as f64 / w as f64).floor().max(short as f64) as u32)
    } else {
        (((w as f64) * short as f64 / h as f64).floor().max(short as f64) as u32, short)
    };
    let resized = image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle);
    let x0 = ((nw - resolution) as f64 / 2.0).round() as u32;
    let y0 = ((nh - resolution) as f64 / 2.0).round() as u32;
    let crop = image::imageops::crop_imm(&resized, x0, y0, resolution, resolution).to_image();
    // HWC -> CHW.
    let c = P::CHANNEL_COUNT as usize;
    let r = resolution as usize;
    let mut out = vec![0u8; c * r * r];
    for (i, px) in crop.pixels().enumerate() {
        for (k, &v) in px.channels().iter().enumerate() {
            out[k * r * r + i] = v;
        }
    }
    out
}
