//! `sweep plan FILE`: expand a sweep file and show its runs; nothing runs and
//! nothing is written.
use std::path::PathBuf;

use clap::Args;

use crate::cli::table::text_table;
use crate::config::expand::load_sweep_with;
use crate::schedule::swept_label;
use crate::store::{Observed, StateCounts, Store};

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

pub fn exec(args: &PlanArgs) -> anyhow::Result<i32> {
    let expanded = load_sweep_with(&args.file, &args.load.options())?;
    let store_path = args.store.clone().unwrap_or_else(|| expanded.store.clone());
    Store::check_usable(&store_path)?;
    // A store that does not exist yet simply has every run `new`.
    let store = Store::existing(&store_path).ok();
    let mut views = Vec::with_capacity(expanded.runs.len());
    let mut rows = Vec::with_capacity(expanded.runs.len());
    for (entry, _) in &expanded.runs {
        let view = match &store {
            Some(s) => Some(s.view(&entry.run_id)?),
            None => None,
        };
        let state = view.as_ref().map(|v| v.observed).unwrap_or(Observed::New);
        rows.push(vec![entry.run_id.clone(), entry.blocks.join(","), swept_label(entry), state.to_string()]);
        views.extend(view);
    }
    print!("{}", text_table(&["run", "blocks", "swept", "state"], &rows));
    for need in crate::data::fetch::data_needs(expanded.runs.iter().map(|(_, c)| c)) {
        let Some(root) = &need.root else { continue };
        let state = match (need.present, need.fetchable) {
            (true, _) => "present".to_string(),
            (false, true) => "missing: `sweep run` fetches it on first use (or `sweep data fetch`)".to_string(),
            (false, false) => format!("missing: see `sweep data fetch {}`", need.dataset),
        };
        println!("data `{}`: {} ({state})", need.dataset, root.display());
    }
    if !expanded.plan.overrides.is_empty() {
        println!("overrides: --set {}", expanded.plan.overrides.join(" --set "));
    }
    let counts = StateCounts::of(&views);
    println!(
        "\nsweep `{}` (template `{}`): {} runs, {} already done; store {}",
        expanded.plan.sweep,
        expanded.plan.template,
        expanded.runs.len(),
        counts.done,
        store_path.display()
    );
    Ok(0)
}
