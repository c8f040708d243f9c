//! STL-10 binary version (method.md §6): `train_X.bin` / `test_X.bin` hold
//! 3 x 96 x 96 uint8 images stored column-major (per channel, column by column,
//! as MATLAB wrote them), `train_y.bin` / `test_y.bin` one byte per image with
//! labels 1..10. The paper trains on train + test (13,000); the unlabelled split
//! is not used.
use std::path::Path;

use super::error::{fetch_hint, DataError};
use super::raw::{check_labels, Part};
use crate::config::Split;

const SIDE: usize = 96;
const PIXELS: usize = 3 * SIDE * SIDE;

pub(crate) const STL10_CLASSES: [&str; 10] =
    ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"];

fn hint() -> String {
    fetch_hint("stl10", "STL-10 binary version (stl10_binary.tar.gz, unpacked)")
}

pub(crate) fn read(root: &Path, split: Split) -> Result<Part, DataError> {
    // (images, labels) pairs, train before test (the table shared with the presence check).
    let layout = crate::config::DatasetName::Stl10.split_layout(split).expect("STL-10 has a file layout");
    let mut part = Part::new(3, SIDE, SIDE);
    for pair in layout.files.chunks(2) {
        let locate = |name: &str| {
            layout.find(root, name).ok_or_else(|| DataError::Missing { path: root.join(name), hint: hint() })
        };
        let x_path = locate(pair[0])?;
        let y_path = locate(pair[1])?;
        let y = super::raw::read_all(&y_path, &hint())?;
        if y.is_empty() {
            return Err(DataError::Empty { path: y_path });
        }
        let labels: Vec<i64> = y.iter().map(|&b| b as i64 - 1).collect();
        // Labels are 1..10 on disk: a 0 or 11 shows as out of 0..10 after the shift,
        // reported with the value as stored.
        if let Err(DataError::LabelOutOfRange { index, .. }) = check_labels(&y_path, &labels, 10) {
            return Err(DataError::LabelOutOfRange {
                path: y_path,
                index,
                label: y[index] as i64,
                classes: 10,
                fetch: None,
            });
        }
        let x = super::raw::read_all(&x_path, &hint())?;
        let expected = labels.len() * PIXELS;
        if x.len() != expected {
            return Err(DataError::Truncated {
                path: x_path,
                expected: expected as u64,
                got: x.len() as u64,
                fetch: None,
            });
        }
        part.extend(Part { pixels: column_major_to_row_major(&x), labels, channels: 3, height: SIDE, width: SIDE });
    }
    Ok(part)
}

/// Pixel (row r, column c) of a channel is stored at byte c * 96 + r; write it at r * 96 + c.
fn column_major_to_row_major(x: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; x.len()];
    for (src, dst) in x.chunks_exact(SIDE * SIDE).zip(out.chunks_exact_mut(SIDE * SIDE)) {
        for c in 0..SIDE {
            for r in 0..SIDE {
                dst[r * SIDE + c] = src[c * SIDE + r];
            }
        }
    }
    out
}
