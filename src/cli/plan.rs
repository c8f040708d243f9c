//! `sweep plan FILE`: expand a sweep file and show its runs; nothing runs and
//! nothing is written.
use std::path::PathBuf;

use clap::Args;

use crate::cli::table::text_table;
use crate::config::Environment;
use crate::ops::{self, PlanView};
use crate::schedule::swept_label;

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The sweep file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub load: super::SweepLoadArgs,
    /// Store folder to compare against (default: the file's `store`, else runs/<name>).
    #[arg(long)]
    pub store: Option<PathBuf>,
}

pub fn exec(args: &PlanArgs, env: &Environment) -> anyhow::Result<i32> {
    let view = ops::plan(&args.file, &args.load.options(env), args.store.as_deref())?;
    print!("{}", render(&view));
    Ok(0)
}

/// The runs' table, the datasets they read, the overrides and the counts.
fn render(view: &PlanView) -> String {
    let ex = &view.expanded;
    let rows: Vec<Vec<String>> = ex
        .runs
        .iter()
        .zip(&view.states)
        .map(|((entry, _), state)| {
            vec![entry.run_id.clone(), entry.blocks.join(","), swept_label(entry), state.to_string()]
        })
        .collect();
    let mut text = text_table(&["run", "blocks", "swept", "state"], &rows);
    for need in &view.data {
        let Some(root) = &need.root else { continue };
        let state = match (need.present, need.fetchable) {
            (true, _) => "present".to_string(),
            (false, true) => "missing: `sweep run` fetches it on first use (or `sweep data fetch`)".to_string(),
            (false, false) => format!("missing: see `sweep data fetch {}`", need.dataset),
        };
        text.push_str(&format!("data `{}`: {} ({state})\n", need.dataset, root.display()));
    }
    if !ex.plan.overrides.is_empty() {
        text.push_str(&format!("overrides: --set {}\n", ex.plan.overrides.join(" --set ")));
    }
    text.push_str(&format!(
        "\nsweep `{}` (template `{}`): {} runs, {} already done; store {}\n",
        ex.plan.sweep,
        ex.plan.template,
        ex.runs.len(),
        view.counts.done,
        view.store.display()
    ));
    text
}
