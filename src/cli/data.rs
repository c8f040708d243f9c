//! `sweep data fetch NAME... --dir DIR` and `sweep data list [--dir DIR]`: get the
//! public datasets into the layout the readers expect (see `crate::data::fetch`).
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cli::table::text_table;
use crate::config::{DatasetName, Environment};
use crate::data::fetch::{FetchOptions, FileOutcome};
use crate::ops::{self, Fetched};

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

pub fn exec(args: &DataArgs, env: &Environment) -> anyhow::Result<i32> {
    match &args.command {
        DataCommand::Fetch(a) => fetch(a, env),
        DataCommand::List(a) => list(a, env),
    }
}

/// --dir, else the data folder ($SWEEP_DATA, else the user's cache folder), absolute.
fn data_dir(given: &Option<PathBuf>, env: &Environment) -> anyhow::Result<PathBuf> {
    let dir = given.clone().unwrap_or_else(|| env.data_home.clone());
    std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display()))
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

fn fetch(args: &FetchArgs, env: &Environment) -> anyhow::Result<i32> {
    let dir = data_dir(&args.dir, env)?;
    let mirror = args.mirror.clone().or_else(|| env.data_mirror.clone());
    let opts = FetchOptions { dir: dir.clone(), mirror, force: args.force, progress: true };
    let mut code = 0;
    for &name in &args.names {
        match ops::fetch_dataset(name, &opts)? {
            Fetched::Manual(text) => {
                println!("{text}\n");
                code = 1;
            }
            Fetched::NoFiles(why) => println!("`{name}` has no files to download: {why}\n"),
            Fetched::Ready { files, root } => {
                for f in &files {
                    match f {
                        FileOutcome::AlreadyPresent(p) => {
                            println!("present     {} (--force downloads it again)", p.display())
                        }
                        FileOutcome::Downloaded { path, bytes } => {
                            println!("downloaded  {} ({bytes} bytes, verified)", path.display())
                        }
                    }
                }
                println!("{name} is ready; in the sweep file:\n{}\n", root_lines(&dir, &root));
            }
        }
    }
    Ok(code)
}

fn list(args: &ListArgs, env: &Environment) -> anyhow::Result<i32> {
    let dir = data_dir(&args.dir, env)?;
    let rows: Vec<Vec<String>> = ops::dataset_table(Some(&dir))
        .into_iter()
        .map(|r| vec![r.name.as_str().to_string(), r.source.to_string(), r.present.to_string(), r.root])
        .collect();
    print!("{}", text_table(&["dataset", "source", "present", "data.root"], &rows));
    println!(
        "\n`sweep data fetch NAME --dir {}` downloads one; for the ImageNet subsets it prints the class list and layout.",
        dir.display()
    );
    Ok(0)
}
