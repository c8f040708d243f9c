//! MNIST and Fashion-MNIST in the IDX format (raw or gzip).
//!
//! Images: big-endian u32 magic 2051 (0x00000803: unsigned bytes, 3 dimensions),
//! count, rows, cols, then the pixels row-major. Labels: magic 2049, count, then
//! one byte each. The two files of a split must hold the same count.
use std::path::{Path, PathBuf};

use super::error::{fetch_hint, DataError};
use super::raw::{check_labels, read_all, Part};
use crate::config::{DatasetName, Split};

pub const IMAGES_MAGIC: u32 = 2051;
pub const LABELS_MAGIC: u32 = 2049;

pub(crate) const FASHION_CLASSES: [&str; 10] =
    ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"];

fn hint(ds: DatasetName) -> String {
    let what = if ds == DatasetName::FashionMnist { "Fashion-MNIST IDX files" } else { "MNIST IDX files" };
    fetch_hint(ds.as_str(), what)
}

pub(crate) fn class_names(ds: DatasetName) -> Vec<String> {
    if ds == DatasetName::FashionMnist {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        (0..10).map(|d| d.to_string()).collect()
    }
}

pub(crate) fn read(root: &Path, ds: DatasetName, split: Split) -> Result<Part, DataError> {
    // (images, labels) pairs, train before test (the table shared with the presence check).
    let layout = ds.split_layout(split).expect("MNIST and Fashion-MNIST have a file layout");
    let mut out: Option<Part> = None;
    for pair in layout.files.chunks(2) {
        let locate = |name: &str| -> Result<PathBuf, DataError> {
            layout
                .find(root, name)
                .ok_or_else(|| DataError::Missing { path: root.join(format!("{name}[.gz]")), hint: hint(ds) })
        };
        let img_path = locate(pair[0])?;
        let lab_path = locate(pair[1])?;
        let part = read_pair(&img_path, &lab_path, &hint(ds))?;
        match &mut out {
            None => out = Some(part),
            Some(o) if (o.height, o.width) == (part.height, part.width) => o.extend(part),
            Some(o) => {
                // Both splits must share one image size; report the second file's size as wrong.
                let expected = 16 + (part.len() * o.height * o.width) as u64;
                let got = 16 + part.pixels.len() as u64;
                return Err(DataError::Truncated { path: img_path, expected, got, fetch: None });
            }
        }
    }
    Ok(out.expect("at least one split prefix"))
}

/// Read one images file and its labels file.
pub(crate) fn read_pair(img_path: &Path, lab_path: &Path, hint: &str) -> Result<Part, DataError> {
    let img = read_all(img_path, hint)?;
    let (n, dims) = header(img_path, &img, IMAGES_MAGIC, 3)?;
    let (rows, cols) = (dims[1] as usize, dims[2] as usize);
    let pixels = body(img_path, &img, 16, n * rows * cols)?;

    let lab = read_all(lab_path, hint)?;
    let (n_lab, _) = header(lab_path, &lab, LABELS_MAGIC, 1)?;
    let labels: Vec<i64> = body(lab_path, &lab, 8, n_lab)?.iter().map(|&b| b as i64).collect();
    if n != n_lab {
        return Err(DataError::CountMismatch {
            images_path: img_path.to_path_buf(),
            labels_path: lab_path.to_path_buf(),
            images: n,
            labels: n_lab,
            fetch: None,
        });
    }
    if n == 0 {
        return Err(DataError::Empty { path: img_path.to_path_buf() });
    }
    check_labels(lab_path, &labels, 10)?;
    Ok(Part { pixels: pixels.to_vec(), labels, channels: 1, height: rows, width: cols })
}

/// Check the magic number and read the `ndim` big-endian sizes after it.
fn header(path: &Path, b: &[u8], magic: u32, ndim: usize) -> Result<(usize, Vec<u32>), DataError> {
    let head = 4 + 4 * ndim;
    let truncated =
        || DataError::Truncated { path: path.to_path_buf(), expected: head as u64, got: b.len() as u64, fetch: None };
    if b.len() < 4 {
        return Err(truncated());
    }
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    // The magic first: a labels file given as images is a wrong file, not a short one.
    if be(0) != magic {
        return Err(DataError::BadMagic { path: path.to_path_buf(), expected: magic, found: be(0), fetch: None });
    }
    if b.len() < head {
        return Err(truncated());
    }
    let dims: Vec<u32> = (0..ndim).map(|d| be(4 + 4 * d)).collect();
    Ok((dims[0] as usize, dims))
}

/// The `len` bytes after the header; the file must hold exactly these.
fn body<'a>(path: &Path, b: &'a [u8], head: usize, len: usize) -> Result<&'a [u8], DataError> {
    if b.len() != head + len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: (head + len) as u64,
            got: b.len() as u64,
            fetch: None,
        });
    }
    Ok(&b[head..])
}
