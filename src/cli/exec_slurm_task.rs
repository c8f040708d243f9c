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
    pub devices: String,
}

#[cfg(not(feature = "torch"))]
pub fn exec(_: &ExecSlurmTaskArgs) -> anyhow::Result<i32> {
    Err(super::no_torch("run a Slurm task"))
}

#[cfg(feature = "torch")]
pub fn exec(a: &ExecSlurmTaskArgs) -> anyhow::Result<i32> {
    use crate::backend::slurm::{read_task, task_decision, TaskDecision};
    use crate::record::PlanEntry;
    use crate::sweep::{self, Job, ProgressMode, RunDir, ScheduleOptions, StopFlag};

    let mut jobs = Vec::new();
    for run in read_task(&a.manifest, a.index)? {
        let dir = RunDir::open(&run.dir)?;
        match task_decision(&run, &dir.status()?) {
            TaskDecision::Run => {}
            TaskDecision::SkipDone => {
                eprintln!("[sweep] {} already done, skipped", dir.run_id());
                continue;
            }
            TaskDecision::SkipFailedSince => {
                eprintln!("[sweep] {} failed since it was submitted (a requeued task?), not run again", dir.run_id());
                continue;
            }
        }
        let config = dir.read_config()?;
        let entry = PlanEntry { run_id: dir.run_id().to_string(), blocks: vec![], swept: Default::default() };
        jobs.push(Job { entry, config, dir });
    }
    if jobs.is_empty() {
        return Ok(0);
    }
    let devices = crate::train::device::resolve(&a.devices)?;
    // Every run of the task at once: packing is what --runs-per-task asked for.
    let slots = sweep::make_slots(&devices, jobs.len().div_ceil(devices.len()));
    let stop = StopFlag::new();
    // Slurm's SIGTERM (time limit, scancel, preemption): checkpoint and stop.
    sweep::install_ctrlc(&stop)?;
    // The task's runs were chosen at submission; a failed one among them is
    // deliberately retried (`submit --retry-failed`), once: see task_decision.
    let opts = ScheduleOptions { retry_failed: true, progress: ProgressMode::Lines };
    let exe = crate::train::executor::TorchExecutor::default();
    let outcome = sweep::run_jobs(&jobs, &slots, &exe, &stop, &opts);
    Ok(if outcome.all_done() { 0 } else { 1 })
}
