//! `sweep status [FILE|STORE]`: how far a sweep has got, from its store.
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::cli::table::text_table;
use crate::config::load_sweep;
use crate::store::{Damaged, RunView, StateCounts, Store};

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// A sweep file (its runs, in plan order) or a store folder (default: the current folder).
    pub target: Option<PathBuf>,
    /// Store folder, when TARGET is a sweep file stored elsewhere than its default.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Refresh the table every SECS seconds (default 5) until no run is running.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "5")]
    pub watch: Option<u64>,
}

/// Longest reason shown in the table (the whole one is in status.json).
const REASON_CHARS: usize = 100;

pub fn exec(args: &StatusArgs) -> anyhow::Result<i32> {
    let Some(secs) = args.watch else {
        print!("{}", snapshot(args)?.0);
        return Ok(0);
    };
    anyhow::ensure!(secs >= 1, "--watch takes a number of seconds >= 1");
    loop {
        let (text, running) = snapshot(args)?;
        // Clear the screen and home the cursor, as `watch` does.
        print!("\x1b[2J\x1b[H{text}");
        if running == 0 {
            println!("\nno run is running: stopped watching");
            return Ok(0);
        }
        println!("\n{running} running; refreshing every {secs} s (Ctrl-C to stop watching)");
        std::io::Write::flush(&mut std::io::stdout())?;
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}

/// The status text of the sweep or store `args` names, and how many of its runs
/// are running now (live, not stale).
pub fn snapshot(args: &StatusArgs) -> anyhow::Result<(String, usize)> {
    let target = args.target.clone().unwrap_or_else(|| PathBuf::from("."));
    let (store, ids) = if target.is_file() {
        let expanded = load_sweep(&target)?;
        let path = args.store.clone().unwrap_or_else(|| expanded.store.clone());
        let ids: Vec<String> = expanded.runs.iter().map(|(e, _)| e.run_id.clone()).collect();
        (Store::existing(&path).with_context(|| format!("sweep {} has not run yet", target.display()))?, ids)
    } else {
        let store = Store::existing(args.store.as_deref().unwrap_or(Path::new(&target)))?;
        let ids = match store.read_plan()? {
            Some(plan) => plan.runs.into_iter().map(|e| e.run_id).collect(),
            None => store.runs()?.into_iter().map(|r| r.run_id().to_string()).collect(),
        };
        (store, ids)
    };
    let views = ids.iter().map(|id| store.view(id)).collect::<anyhow::Result<Vec<_>>>()?;
    // The store is the truth; Slurm's queue (when there is one and runs were
    // submitted to it) only adds to runs the store has not seen start or end.
    let slurm = crate::backend::slurm::submitted_states(store.root())?;
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            let epoch = match v.epochs {
                Some(e) => format!("{}/{e}", v.status.epoch),
                None => v.status.epoch.to_string(),
            };
            let mut reason = match &v.damaged {
                Some(d) => format!("{} cannot be read (see below)", file_name(&d.file)),
                None => v.status.reason.clone().unwrap_or_default(),
            };
            if reason.chars().count() > REASON_CHARS {
                reason = reason.chars().take(REASON_CHARS - 3).collect::<String>() + "...";
            }
            let state = crate::backend::slurm::status_label(v, slurm.get(&v.run_id));
            vec![v.run_id.clone(), state, epoch, v.status.attempts.to_string(), reason]
        })
        .collect();
    let counts = StateCounts::of(&views);
    let mut text = format!("{}: {} runs: {}\n\n", store.root().display(), views.len(), counts);
    text.push_str(&text_table(&["run", "state", "epoch", "attempts", "reason"], &rows));
    text.push_str(&damaged_lines(&views));
    Ok((text, counts.running))
}

/// Each damaged run in full (which file, why, what to do), under the table.
fn damaged_lines(views: &[RunView]) -> String {
    let damaged: Vec<&Damaged> = views.iter().filter_map(|v| v.damaged.as_ref()).collect();
    if damaged.is_empty() {
        return String::new();
    }
    let mut text = format!("\n{} damaged run(s), left alone by `sweep run` until repaired:\n", damaged.len());
    for d in damaged {
        text.push_str(&format!("  {}: {}\n", d.run_id, d.message));
    }
    text
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}
