//! `sweep status [FILE|STORE]`: how far a sweep has got, from its store.
use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::table::text_table;
use crate::config::expand::LoadOptions;
use crate::ops::{self, StatusView};
use crate::store::Damaged;

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

pub fn exec(args: &StatusArgs, opts: &LoadOptions) -> anyhow::Result<i32> {
    let Some(secs) = args.watch else {
        print!("{}", snapshot(args, opts)?.0);
        return Ok(0);
    };
    anyhow::ensure!(secs >= 1, "--watch takes a number of seconds >= 1");
    loop {
        let (text, running) = snapshot(args, opts)?;
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
fn snapshot(args: &StatusArgs, opts: &LoadOptions) -> anyhow::Result<(String, usize)> {
    let target = args.target.clone().unwrap_or_else(|| PathBuf::from("."));
    let view = ops::status(&target, args.store.as_deref(), opts)?;
    Ok((render(&view), view.counts.running))
}

/// The counts, a table of the runs, and each damaged run in full.
fn render(view: &StatusView) -> String {
    let rows: Vec<Vec<String>> = view
        .runs
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
            vec![v.run_id.clone(), view.state_label(v), epoch, v.status.attempts.to_string(), reason]
        })
        .collect();
    let mut text = format!("{}: {} runs: {}\n\n", view.store.display(), view.runs.len(), view.counts);
    text.push_str(&text_table(&["run", "state", "epoch", "attempts", "reason"], &rows));
    let damaged: Vec<&Damaged> = view.runs.iter().filter_map(|v| v.damaged.as_ref()).collect();
    if !damaged.is_empty() {
        text.push_str(&format!("\n{} damaged run(s), left alone by `sweep run` until repaired:\n", damaged.len()));
        for d in damaged {
            text.push_str(&format!("  {}: {}\n", d.run_id, d.message));
        }
    }
    text
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}
