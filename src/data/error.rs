//! Everything that can go wrong reading a dataset. Callers branch on the kind
//! (the CLI prints the hint; tests check which file was blamed), so this is a
//! typed `thiserror` enum. Every message names the file and says what to do.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: not found. {hint}", path.display())]
    Missing { path: PathBuf, hint: String },

    #[error(
        "{}: truncated or wrong size: expected {expected} bytes, found {got}. \
         The file is damaged or only partly downloaded: download it again",
        path.display()
    )]
    Truncated { path: PathBuf, expected: u64, got: u64 },

    #[error(
        "{}: bad magic number {found} (expected {expected}): this is not the expected IDX file \
         (images and labels swapped, or a different format); download it again",
        path.display()
    )]
    BadMagic { path: PathBuf, expected: u32, found: u32 },

    #[error(
        "{}: record {index} has label {label}, outside 0..{classes}: the file is damaged or \
         belongs to another dataset; download it again",
        path.display()
    )]
    LabelOutOfRange { path: PathBuf, index: usize, label: i64, classes: usize },

    #[error(
        "{} holds {images} images but {}: holds {labels} labels: the pair does not belong \
         together; download both again",
        images_path.display(), labels_path.display()
    )]
    CountMismatch { images_path: PathBuf, labels_path: PathBuf, images: usize, labels: usize },

    #[error("{}: cannot decode image: {message}. Remove or replace the file", path.display())]
    Image { path: PathBuf, message: String },

    #[error("{}: {source}. Check that the path exists and is readable", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: holds no images. Point data.root at a folder with the dataset's files", path.display())]
    Empty { path: PathBuf },
}

impl DataError {
    /// The file (or folder) the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Missing { path, .. }
            | Self::Truncated { path, .. }
            | Self::BadMagic { path, .. }
            | Self::LabelOutOfRange { path, .. }
            | Self::Image { path, .. }
            | Self::Io { path, .. }
            | Self::Empty { path } => path,
            Self::CountMismatch { labels_path, .. } => labels_path,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// What to tell the user when a dataset's files are not where data.root points.
pub(crate) fn fetch_hint(dataset: &str, what: &str) -> String {
    format!(
        "download the {what} with `sweep data fetch {dataset} --dir DIR` and set data.root to the \
         folder it prints, or point data.root at the folder that already holds it"
    )
}
