//! The library's operations: what each command does, typed settings in and a typed
//! result out (cargo's `ops::*`). `cli/*` parses its arguments, builds these
//! settings, calls one operation and prints; nothing here reads arguments.
//!
//! - [`run_sweep`]: a sweep's unfinished runs across the chosen devices, then its report
//!   (`sweep run`, and `sweep train` through a one-run plan);
//! - [`run_slurm_task`]: the runs of one Slurm array task (`sweep exec-slurm-task`);
//! - [`submit`], [`report`], [`export`]: the Slurm backend's submission, the report
//!   renderer and the exporter, owned by their modules and named here.
mod run;

pub use crate::backend::slurm::submit;
pub use crate::report::export::export;
pub use crate::report::write_report_as as report;
pub use run::{run_slurm_task, run_sweep, RunSettings, SweepRun};

/// The error of every command that needs libtorch, in a build without it
/// (`--no-default-features`): what it cannot do, and how to get a build that can.
/// Here, below `cli`, so both the commands and the operations use it.
#[cfg(not(feature = "torch"))]
pub(crate) fn no_torch(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this build has no libtorch (built without the `torch` feature), so it cannot {what}: build with `make release`"
    )
}
