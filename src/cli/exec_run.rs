//! `sweep exec-run RUN_DIR`: train one prepared run directory in this process.
//! Used by `sweep run --isolate` (the parent holds the lock and writes the status)
//! and by cluster job scripts. Exit status: 0 done, 3 interrupted (checkpointed),
//! 1 failed (reason on stderr).
use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ExecRunArgs {
    /// The run's folder in the store (holds config.toml).
    pub run_dir: PathBuf,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: crate::schedule::DeviceSpec,
    /// Write no TensorBoard event files (the sweep file's `tensorboard = false`
    /// turns them off too).
    #[arg(long)]
    pub no_tensorboard: bool,
}

#[cfg(not(feature = "torch"))]
pub fn exec(_: &ExecRunArgs) -> anyhow::Result<i32> {
    Err(super::no_torch("train a run"))
}

#[cfg(feature = "torch")]
pub fn exec(a: &ExecRunArgs) -> anyhow::Result<i32> {
    use crate::schedule::{RunFailure, EXIT_INTERRUPTED, SUSPENDED_PREFIX};
    let (run_id, end) = crate::ops::exec_run(&a.run_dir, a.device, !a.no_tensorboard)?;
    match end {
        Ok(()) => Ok(0),
        Err(RunFailure::Interrupted) => Ok(EXIT_INTERRUPTED),
        Err(RunFailure::Suspended { reason }) => {
            eprintln!("{SUSPENDED_PREFIX}{}", crate::util::user_message(&reason));
            Ok(EXIT_INTERRUPTED)
        }
        Err(RunFailure::Failed { reason }) => {
            eprintln!("run {run_id} failed: {}", crate::util::strip_backtrace(&reason));
            Ok(1)
        }
    }
}
