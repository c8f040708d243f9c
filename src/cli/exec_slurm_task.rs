//! `sweep exec-slurm-task MANIFEST INDEX`: what one Slurm array task runs (see
//! [`crate::backend::slurm`]). Its runs go through the ordinary scheduler, so
//! each is locked, its status kept, and several share the task's GPU(s).
//! Exit status 0 when every run of the task is done.
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ExecSlurmTaskArgs {
    /// The submission's manifest.txt.
    pub manifest: PathBuf,
    /// The task's line in the manifest (0-based).
    pub index: usize,
    /// Devices: `auto` (the GPUs Slurm gave the task, else the CPU), `cpu`, `cuda:0,...`.
    #[arg(long, default_value = "auto")]
    pub devices: crate::schedule::Devices,
}

pub fn exec(a: &ExecSlurmTaskArgs) -> anyhow::Result<i32> {
    let outcome = crate::ops::run_slurm_task(&a.manifest, a.index, &a.devices)?;
    Ok(outcome.exit_code())
}
