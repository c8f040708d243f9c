//! The public datasets on disk (`sweep data`): [`fetch_dataset`] gets one into
//! the layout the readers expect, [`dataset_table`] says what each dataset is,
//! where it goes and whether it is there. Typed results; the command line
//! prints them.
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::DatasetName;
use crate::data::fetch::{self, FetchOptions, FileOutcome};

/// How one dataset's fetch ended.
#[derive(Debug)]
pub enum Fetched {
    /// Nothing can be downloaded: how to build it by hand (the ImageNet subsets).
    Manual(String),
    /// Nothing to download, and why (generated in memory, or the user's folders).
    NoFiles(&'static str),
    /// Its files, present or downloaded and verified, and the `data.root` to use.
    Ready { files: Vec<FileOutcome>, root: PathBuf },
}

/// Fetch `name` into `opts.dir` (verified; present files are kept unless
/// `opts.force`).
pub fn fetch_dataset(name: DatasetName, opts: &FetchOptions) -> anyhow::Result<Fetched> {
    if let Some(text) = fetch::manual_instructions(name, &opts.dir) {
        return Ok(Fetched::Manual(text));
    }
    let Some(source) = fetch::source(name) else {
        return Ok(Fetched::NoFiles(match name {
            DatasetName::Synthetic => "it is generated in memory from data.synthetic.seed",
            _ => "it reads your own tree of class folders (data.root = that folder)",
        }));
    };
    let files = fetch::fetch(&source, opts).with_context(|| format!("fetching {name}"))?;
    Ok(Fetched::Ready { files, root: source.data_root(&opts.dir) })
}

/// One dataset in `sweep data list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRow {
    pub name: DatasetName,
    /// Where its files come from.
    pub source: &'static str,
    /// Whether it is present under the folder looked in (`-`: no folder, or
    /// nothing to look for).
    pub present: &'static str,
    /// The `data.root` to write for it.
    pub root: String,
}

/// Every known dataset, looked for under `dir` (`None`: shown under `DIR`).
pub fn dataset_table(dir: Option<&Path>) -> Vec<DatasetRow> {
    let shown_dir = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("DIR"));
    DatasetName::ALL
        .iter()
        .map(|&name| {
            let (source, present, root) = match (fetch::source(name), name) {
                (Some(s), _) => {
                    let present = match dir {
                        Some(d) if s.is_present(d) => "yes",
                        Some(_) => "no",
                        None => "-",
                    };
                    ("sweep data fetch", present, s.data_root(&shown_dir).display().to_string())
                }
                (None, DatasetName::Imagenet10 | DatasetName::ImagenetDogs) => {
                    let folder = shown_dir.join(name.as_str());
                    let present = match dir {
                        Some(_) if folder.is_dir() => "folder exists",
                        Some(_) => "no",
                        None => "-",
                    };
                    ("your ImageNet copy", present, folder.display().to_string())
                }
                (None, DatasetName::Synthetic) => ("built in", "always", "(none)".into()),
                (None, _) => ("your class folders", "-", "(your folder)".into()),
            };
            DatasetRow { name, source, present, root }
        })
        .collect()
}
