//! The pieces the binary readers share: a decoded part of a dataset in host
//! memory, reading whole files (raw or gzip) with errors that name them, and
//! finding a dataset's files under `data.root`.
use std::io::Read;
use std::path::Path;

use super::error::DataError;

/// One split of a dataset as read from disk: `pixels` is N x C x H x W, row-major, uint8.
#[derive(Debug, Default)]
pub(crate) struct Part {
    pub pixels: Vec<u8>,
    pub labels: Vec<i64>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Part {
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self { pixels: Vec::new(), labels: Vec::new(), channels, height, width }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Append `other` (same image shape) after `self`: train then test for `train+test`.
    pub fn extend(&mut self, other: Part) {
        debug_assert_eq!(
            (self.channels, self.height, self.width),
            (other.channels, other.height, other.width),
            "parts of one dataset have one image shape"
        );
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
    }
}

/// Read a whole file; a missing file becomes [`DataError::Missing`] with `hint`.
pub(crate) fn read_all(path: &Path, hint: &str) -> Result<Vec<u8>, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| open_error(path, e, hint))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| DataError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(buf.len() * 4);
        flate2::read::GzDecoder::new(&buf[..]).read_to_end(&mut out).map_err(|e| DataError::damaged(path, e))?;
        return Ok(out);
    }
    Ok(buf)
}

pub(crate) fn open_error(path: &Path, e: std::io::Error, hint: &str) -> DataError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DataError::Missing { path: path.to_path_buf(), hint: hint.to_string() }
    } else {
        DataError::io(path, e)
    }
}

/// Check that every label is in `0..classes`.
pub(crate) fn check_labels(path: &Path, labels: &[i64], classes: usize) -> Result<(), DataError> {
    match labels.iter().position(|&l| l < 0 || l as usize >= classes) {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            classes,
            fetch: None,
        }),
        None => Ok(()),
    }
}
