//! `sweep data fetch NAME... --dir DIR` and `sweep data list [--dir DIR]`: get the
//! public datasets into the layout the readers expect (see `crate::data::fetch`).
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cli::table::text_table;
use crate::config::DatasetName;
use crate::data::fetch::{self, FetchOptions, FileOutcome, MIRROR_ENV};

#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DataCommand {
    /// Download, verify (SHA-256, or the authors' MD5) and unpack public datasets.
    Fetch(FetchArgs),
    /// Known datasets, whether they are present under --dir, and the data.root to use.
    List(ListArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// Datasets, spelled as data.dataset: mnist, fashion_mnist, cifar10, cifar100_20, stl10
    /// (imagenet10 and imagenet_dogs print how to build them from your ImageNet copy).
    #[arg(required = true)]
    pub names: Vec<DatasetName>,
    /// Folder the datasets go to (default: $SWEEP_DATA, else ~/.cache/sweep/datasets).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Base address of a mirror holding the same relative paths as DIR (also $SWEEP_DATA_MIRROR).
    #[arg(long)]
    pub mirror: Option<String>,
    /// Download again even when the files are present.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Folder to look in (default: $SWEEP_DATA, else ~/.cache/sweep/datasets).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn exec(args: &DataArgs) -> anyhow::Result<i32> {
    match &args.command {
        DataCommand::Fetch(a) => fetch(a),
        DataCommand::List(a) => list(a),
    }
}

/// --dir, else the data folder ($SWEEP_DATA, else the user's cache folder).
fn data_dir(given: &Option<PathBuf>) -> Option<PathBuf> {
    Some(given.clone().unwrap_or_else(crate::config::dataset::data_home))
}

/// How to write `data.root` in a sweep file for `path`, with and without $SWEEP_DATA.
fn root_lines(dir: &Path, root: &Path) -> String {
    let mut s = format!("  data.root = \"{}\"", root.display());
    if let Ok(rel) = root.strip_prefix(dir) {
        s.push_str(&format!(
            "\n  (or, with SWEEP_DATA={}: data.root = \"$SWEEP_DATA/{}\")",
            dir.display(),
            rel.display()
        ));
    }
    s
}

fn fetch(args: &FetchArgs) -> anyhow::Result<i32> {
    let names = args.names.clone();
    let dir = data_dir(&args.dir).context("give the folder to download into with --dir DIR (or set SWEEP_DATA)")?;
    let dir = std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display()))?;
    let mirror = args.mirror.clone().or_else(|| std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty()));
    let opts = FetchOptions { dir: dir.clone(), mirror, force: args.force, progress: true };
    let mut code = 0;
    for name in names {
        if let Some(text) = fetch::manual_instructions(name, &dir) {
            println!("{text}\n");
            code = 1;
            continue;
        }
        let Some(source) = fetch::source(name) else {
            println!("`{name}` has no files to download: {}\n", no_download_reason(name));
            continue;
        };
        let outcomes = fetch::fetch(&source, &opts).with_context(|| format!("fetching {name}"))?;
        for o in &outcomes {
            match o {
                FileOutcome::AlreadyPresent(p) => println!("present     {} (--force downloads it again)", p.display()),
                FileOutcome::Downloaded { path, bytes } => {
                    println!("downloaded  {} ({bytes} bytes, verified)", path.display())
                }
            }
        }
        println!("{name} is ready; in the sweep file:\n{}\n", root_lines(&dir, &source.data_root(&dir)));
    }
    Ok(code)
}

fn no_download_reason(name: DatasetName) -> &'static str {
    match name {
        DatasetName::Synthetic => "it is generated in memory from data.synthetic.seed",
        _ => "it reads your own tree of class folders (data.root = that folder)",
    }
}

fn list(args: &ListArgs) -> anyhow::Result<i32> {
    let dir = match data_dir(&args.dir) {
        Some(d) => Some(std::path::absolute(&d).with_context(|| format!("resolving {}", d.display()))?),
        None => None,
    };
    let shown_dir = dir.clone().unwrap_or_else(|| PathBuf::from("DIR"));
    let rows: Vec<Vec<String>> = DatasetName::ALL
        .iter()
        .map(|&name| {
            let (how, present, root) = match (fetch::source(name), name) {
                (Some(s), _) => {
                    let present = match &dir {
                        Some(d) if s.is_present(d) => "yes",
                        Some(_) => "no",
                        None => "-",
                    };
                    ("sweep data fetch", present, s.data_root(&shown_dir).display().to_string())
                }
                (None, DatasetName::Imagenet10 | DatasetName::ImagenetDogs) => {
                    let folder = shown_dir.join(name.as_str());
                    let present = match &dir {
                        Some(_) if folder.is_dir() => "folder exists",
                        Some(_) => "no",
                        None => "-",
                    };
                    ("your ImageNet copy", present, folder.display().to_string())
                }
                (None, DatasetName::Synthetic) => ("built in", "always", "(none)".into()),
                (None, _) => ("your class folders", "-", "(your folder)".into()),
            };
            vec![name.as_str().to_string(), how.to_string(), present.to_string(), root]
        })
        .collect();
    print!("{}", text_table(&["dataset", "source", "present", "data.root"], &rows));
    match dir {
        Some(d) => println!(
            "\n`sweep data fetch NAME --dir {}` downloads one; for the ImageNet subsets it prints the class list and layout.",
            d.display()
        ),
        None => println!("\nGive --dir DIR (or set SWEEP_DATA) to see which datasets are present there."),
    }
    Ok(0)
}
