//! `sweep export [FILE|STORE] (--csv | --json) [--out F]`: every run of a sweep
//! with its swept values and final metrics, one row each (columns documented in
//! `report::export` and docs/report-columns.md).
use std::path::PathBuf;

use clap::Args;

use crate::report::export::Format;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("format").args(["csv", "json"])))]
pub struct ExportArgs {
    /// A sweep file (.toml) or a store folder (holding plan.json). Default: the current folder.
    pub target: Option<PathBuf>,
    /// Comma-separated values with a header line (the default).
    #[arg(long)]
    pub csv: bool,
    /// A JSON array of objects, one per run.
    #[arg(long)]
    pub json: bool,
    /// Write here instead of to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn exec(args: ExportArgs) -> anyhow::Result<i32> {
    let store = crate::store::locate(&args.target.unwrap_or_else(|| PathBuf::from(".")), None)?;
    let format = if args.json { Format::Json } else { Format::Csv };
    crate::ops::export(&store, format, args.out.as_deref())?;
    if let Some(out) = &args.out {
        eprintln!("wrote {}", out.display());
    }
    Ok(0)
}
