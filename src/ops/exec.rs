//! One prepared run folder trained in this process ([`exec_run`]): what
//! `sweep exec-run` does for `sweep run --isolate` (the parent holds the lock
//! and writes status.json; this child reports progress and closed epochs on
//! stdout) and for cluster job scripts.
use std::path::Path;

use crate::schedule::{DeviceSpec, Executor, Job, RunControl, RunFailure, Slot, StopFlag};
use crate::store::RunDir;

/// Train the run in `run_dir` on `device` to its end, or until Ctrl-C / SIGTERM
/// checkpoints it: its id and how it ended.
pub fn exec_run(
    run_dir: &Path,
    device: DeviceSpec,
    tensorboard: bool,
) -> anyhow::Result<(String, Result<(), RunFailure>)> {
    let dir = RunDir::open(run_dir)?;
    let stop = StopFlag::new();
    crate::schedule::install_ctrlc(&stop)?;
    let job = Job::from_dir(dir)?;
    let options = crate::train::RunOptions { tensorboard };
    let exe = crate::train::executor::TorchExecutor { options, ..Default::default() };
    let ctl = RunControl::stdout_protocol(stop);
    let end = exe.execute(&job, &Slot { index: 0, device }, &ctl);
    Ok((job.dir.run_id().to_string(), end))
}
