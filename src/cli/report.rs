//! `sweep report [FILE|STORE] [--out DIR]`: the Markdown report of a sweep.
use std::path::PathBuf;

use clap::Args;

use crate::report;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A sweep file (.toml; its store is its `store` key or runs/<name>) or a
    /// store folder (holding plan.json). Default: the current folder.
    pub target: Option<PathBuf>,
    /// Folder for <sweep>.md and <sweep>/figures/.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// markdown (<sweep>.md and figures) or latex (<sweep>.tex, booktabs tables).
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: report::ReportFormat,
}

pub fn exec(args: ReportArgs) -> anyhow::Result<i32> {
    let store = crate::store::locate(&args.target.unwrap_or_else(|| PathBuf::from(".")), None)?;
    let path = crate::ops::report(&store, &args.out, args.format)?;
    println!("{}", path.display());
    Ok(0)
}
