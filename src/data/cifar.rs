//! CIFAR-10 and CIFAR-100 binary versions (method.md §6).
//!
//! Each record is the label byte(s) followed by 3072 pixel bytes (1024 red, 1024
//! green, 1024 blue, each 32 x 32 row-major), so a record is already C x H x W.
//! CIFAR-10: 1 label byte; files `data_batch_1..5.bin` and `test_batch.bin`.
//! CIFAR-100: coarse label byte (20 super-classes, the paper's CIFAR-100-20),
//! then the fine label byte; files `train.bin` and `test.bin`.
//! The files are read from `root`, from the folder the archive unpacks to, or
//! straight out of the downloaded `.tar.gz` (streamed, nothing written to disk).
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{fetch_hint, DataError};
use super::raw::{check_labels, open_error, Part};
use crate::config::dataset::SplitLayout;
use crate::config::{DatasetName, Split};

const PIXELS: usize = 3 * 32 * 32;

pub(crate) const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

pub(crate) const CIFAR100_COARSE: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cifar {
    Ten,
    /// CIFAR-100 read with its 20 coarse labels.
    Hundred20,
}

impl Cifar {
    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred20 => 2,
        }
    }
    fn classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred20 => 20,
        }
    }
    /// Where each split lies on disk (the table shared with the presence check).
    fn layout(self, split: Split) -> SplitLayout {
        let ds = match self {
            Cifar::Ten => DatasetName::Cifar10,
            Cifar::Hundred20 => DatasetName::Cifar100_20,
        };
        ds.split_layout(split).expect("CIFAR has a file layout")
    }
    fn hint(self) -> String {
        match self {
            Cifar::Ten => fetch_hint("cifar10", "CIFAR-10 binary version (cifar-10-binary.tar.gz)"),
            Cifar::Hundred20 => fetch_hint("cifar100_20", "CIFAR-100 binary version (cifar-100-binary.tar.gz)"),
        }
    }
    pub(crate) fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            Cifar::Ten => &CIFAR10_CLASSES,
            Cifar::Hundred20 => &CIFAR100_COARSE,
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

/// Read `split` of a CIFAR dataset from unpacked files under `root`, or from the archive.
pub(crate) fn read(root: &Path, which: Cifar, split: Split) -> Result<Part, DataError> {
    let layout = which.layout(split);
    let found: Vec<Option<PathBuf>> = layout.files.iter().map(|n| layout.find(root, n)).collect();
    if found.iter().all(Option::is_some) {
        let mut part = Part::new(3, 32, 32);
        for path in found.into_iter().flatten() {
            let bytes = std::fs::read(&path).map_err(|e| open_error(&path, e, &which.hint()))?;
            part.extend(parse_records(&path, &bytes, which)?);
        }
        return Ok(part);
    }
    let archive = root.join(layout.archive.expect("CIFAR has an archive"));
    if archive.is_file() {
        return read_archive(&archive, which, &layout.files);
    }
    // Name the first file that is missing in the unpacked layout.
    let missing =
        layout.files.iter().zip(&found).find(|(_, f)| f.is_none()).map(|(n, _)| *n).unwrap_or(layout.files[0]);
    Err(DataError::Missing {
        path: root.join(missing),
        hint: format!("(nor {} next to it). {}", archive.display(), which.hint()),
    })
}

/// Stream the `.tar.gz` once, keeping only the members `names` (by file name), in that order.
fn read_archive(archive: &Path, which: Cifar, names: &[&str]) -> Result<Part, DataError> {
    let f = std::fs::File::open(archive).map_err(|e| open_error(archive, e, &which.hint()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut members: HashMap<String, (PathBuf, Vec<u8>)> = HashMap::new();
    // The archive opened: what fails from here is its bytes, not its path.
    let entries = tar.entries().map_err(|e| DataError::damaged(archive, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| DataError::damaged(archive, e))?;
        let inner = entry.path().map_err(|e| DataError::damaged(archive, e))?.into_owned();
        let Some(name) = inner.file_name().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
        if names.contains(&name.as_str()) {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut buf).map_err(|e| DataError::damaged(archive.join(&inner), e))?;
            members.insert(name, (archive.join(&inner), buf));
        }
    }
    let mut part = Part::new(3, 32, 32);
    for name in names {
        let (path, bytes) = members.remove(*name).ok_or_else(|| DataError::Missing {
            path: archive.join(name),
            hint: format!("the archive lacks this member; it is damaged or not the binary version. {}", which.hint()),
        })?;
        part.extend(parse_records(&path, &bytes, which)?);
    }
    Ok(part)
}

/// Split a file into records; the first label byte is the label (CIFAR-100: coarse).
fn parse_records(path: &Path, bytes: &[u8], which: Cifar) -> Result<Part, DataError> {
    let rec = which.label_bytes() + PIXELS;
    if bytes.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    if bytes.len() % rec != 0 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: (bytes.len().div_ceil(rec) * rec) as u64,
            got: bytes.len() as u64,
            fetch: None,
        });
    }
    let n = bytes.len() / rec;
    let mut part = Part::new(3, 32, 32);
    part.pixels.reserve(n * PIXELS);
    part.labels.reserve(n);
    for r in bytes.chunks_exact(rec) {
        part.labels.push(r[0] as i64);
        part.pixels.extend_from_slice(&r[which.label_bytes()..]);
    }
    check_labels(path, &part.labels, which.classes())?;
    if which == Cifar::Hundred20 {
        // The fine label is not used, but a value >= 100 means a wrong file.
        let fine: Vec<i64> = bytes.chunks_exact(rec).map(|r| r[1] as i64).collect();
        check_labels(path, &fine, 100)?;
    }
    Ok(part)
}
