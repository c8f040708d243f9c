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
         The file is damaged or only partly downloaded: {}",
        path.display(), again(fetch)
    )]
    Truncated { path: PathBuf, expected: u64, got: u64, fetch: Refetch },

    #[error(
        "{}: bad magic number {found} (expected {expected}): this is not the expected IDX file \
         (images and labels swapped, or a different format); {}",
        path.display(), again(fetch)
    )]
    BadMagic { path: PathBuf, expected: u32, found: u32, fetch: Refetch },

    #[error(
        "{}: record {index} has label {label}, outside 0..{classes}: the file is damaged or \
         belongs to another dataset; {}",
        path.display(), again(fetch)
    )]
    LabelOutOfRange { path: PathBuf, index: usize, label: i64, classes: usize, fetch: Refetch },

    #[error(
        "{} holds {images} images but {}: holds {labels} labels: the pair does not belong \
         together; {}",
        images_path.display(), labels_path.display(), again(fetch)
    )]
    CountMismatch { images_path: PathBuf, labels_path: PathBuf, images: usize, labels: usize, fetch: Refetch },

    /// The bytes are there but do not decode (a cut gzip stream, a broken
    /// tar archive): a damaged or partial download, not an unreadable path.
    #[error("{}: damaged or only partly downloaded ({source}); {}", path.display(), again(fetch))]
    Damaged {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        fetch: Refetch,
    },

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
            | Self::Damaged { path, .. }
            | Self::Empty { path } => path,
            Self::CountMismatch { labels_path, .. } => labels_path,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Bytes that do not decode (see [`DataError::Damaged`]).
    pub(crate) fn damaged(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Damaged { path: path.into(), source, fetch: None }
    }

    /// Name `dataset` in the remedy of an error about a damaged file: the
    /// readers of the datasets `sweep data fetch` downloads call this, so the
    /// message says `sweep data fetch DATASET --force`.
    pub fn refetch(mut self, dataset: &str) -> Self {
        match &mut self {
            Self::Truncated { fetch, .. }
            | Self::BadMagic { fetch, .. }
            | Self::LabelOutOfRange { fetch, .. }
            | Self::CountMismatch { fetch, .. }
            | Self::Damaged { fetch, .. } => *fetch = Some(dataset.to_string()),
            _ => {}
        }
        self
    }
}

/// The dataset to fetch again, when the file is one `sweep data fetch` downloads.
pub type Refetch = Option<String>;

/// What to do about a damaged file: fetch it again (by name, when known).
fn again(fetch: &Refetch) -> String {
    match fetch {
        Some(name) => format!("fetch it again with `sweep data fetch {name} --force`"),
        None => "download it again".to_string(),
    }
}

/// What to tell the user when a dataset's files are not where data.root points.
pub(crate) fn fetch_hint(dataset: &str, what: &str) -> String {
    format!(
        "download the {what} with `sweep data fetch {dataset} --dir DIR` and set data.root to the \
         folder it prints, or point data.root at the folder that already holds it"
    )
}
