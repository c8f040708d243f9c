//! `sweep submit --backend slurm FILE`: the sweep's unfinished runs as Slurm job
//! arrays, and a follow-up job that renders the report (see
//! [`crate::backend::slurm`]).
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::backend::slurm::{self, SlurmOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Slurm,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The sweep file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub load: super::SweepLoadArgs,
    /// The cluster scheduler.
    #[arg(long, value_enum, default_value = "slurm")]
    pub backend: Backend,
    /// Store folder, on a file system every node shares (default: the file's
    /// `store`, else runs/<name>).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Generic resources per task, e.g. `gpu:1`.
    #[arg(long)]
    pub gres: Option<String>,
    /// Wall-clock limit per task (`HH:MM:SS`, `D-HH:MM:SS`).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task (libtorch's threads follow it).
    #[arg(long)]
    pub cpus_per_task: Option<usize>,
    /// At most this many tasks of the sweep at once (`--array=...%K`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Runs per array task, run together on the task's GPU(s).
    #[arg(long, default_value_t = 1)]
    pub runs_per_task: usize,
    /// An extra sbatch option for every job (repeat): `--sbatch "--account=lab"`.
    #[arg(long = "sbatch", value_name = "LINE", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Devices inside each task: `auto` (the GPUs Slurm gives it, else the CPU), `cpu`.
    #[arg(long, default_value = "auto")]
    pub devices: crate::schedule::Devices,
    /// Resubmit failed runs, and runs whose task vanished.
    #[arg(long)]
    pub retry_failed: bool,
    /// Folder the follow-up job writes the report into.
    #[arg(long, default_value = "reports")]
    pub report_out: PathBuf,
    /// Print the manifest and the scripts; write and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn exec(a: &SubmitArgs, env: &crate::config::Environment) -> anyhow::Result<i32> {
    match a.backend {
        Backend::Slurm => {}
    }
    let expanded = crate::config::expand::load_sweep_with(&a.file, &a.load.options(env))?;
    let req = slurm::Submit {
        store: a.store.clone().unwrap_or_else(|| expanded.store.clone()),
        opts: SlurmOptions {
            partition: a.partition.clone(),
            gres: a.gres.clone(),
            time: a.time.clone(),
            cpus_per_task: a.cpus_per_task,
            max_parallel: a.max_parallel,
            runs_per_task: a.runs_per_task,
            sbatch: a.sbatch.clone(),
            devices: a.devices.clone(),
        },
        retry_failed: a.retry_failed,
        dry_run: a.dry_run,
        report_out: a.report_out.clone(),
        exe: std::env::current_exe().context("finding the path of this executable")?,
        max_array_size: None,
    };
    let outcome = crate::ops::submit(&expanded, &req)?;
    eprintln!("sweep `{}`: {outcome}", expanded.plan.sweep);
    if let Some(dir) = &outcome.dir {
        println!("{}", dir.display());
    }
    Ok(0)
}
