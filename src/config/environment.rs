//! The process environment, read once: the variables `sweep` honours, as one
//! settings value that the command line builds at start and hands down. No
//! other module reads an environment variable (RUST_LOG aside, which the
//! logger reads).
use std::path::PathBuf;

/// The data folder's variable.
pub const DATA_ENV: &str = "SWEEP_DATA";
/// A mirror of the public datasets' downloads (same relative paths).
const MIRROR_ENV: &str = "SWEEP_DATA_MIRROR";
/// The Python that `sweep bench --compare` runs PyTorch with.
const PYTHON_ENV: &str = "SWEEP_PYTHON";

/// What the environment says, with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The data folder: `$SWEEP_DATA` when set, else the user's cache folder
    /// (`~/.cache/sweep/datasets` on Linux, the platform's equivalent
    /// elsewhere), else `./datasets`. `$SWEEP_DATA` in a `data.root` and a
    /// missing `data.root` both resolve through it, so a sweep plans without
    /// any data present.
    pub data_home: PathBuf,
    /// `$SWEEP_DATA_MIRROR`, when set and not empty.
    pub data_mirror: Option<String>,
    /// `$SWEEP_PYTHON`, when set and not empty.
    pub python: Option<PathBuf>,
}

impl Environment {
    /// The variables of this process, read now.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Self {
            data_home: match var(DATA_ENV) {
                Some(v) => PathBuf::from(v),
                None => dirs::cache_dir()
                    .map(|c| c.join("sweep").join("datasets"))
                    .unwrap_or_else(|| PathBuf::from("datasets")),
            },
            data_mirror: var(MIRROR_ENV).map(|m| m.to_string_lossy().into_owned()),
            python: var(PYTHON_ENV).map(PathBuf::from),
        }
    }
}
