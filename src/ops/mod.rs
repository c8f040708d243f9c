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
