//! The library's operations: what each command does, typed settings in and a typed
//! result out (cargo's `ops::*`). `cli/*` parses its arguments, builds these
//! settings, calls one operation and prints; nothing here reads arguments or
//! the environment (the command line reads it once: `config::Environment`).
//!
//! - [`plan`], [`status`]: what a sweep is and how far it has got (`inspect.rs`);
//! - [`run_sweep`]: a sweep's unfinished runs across the chosen devices, then its report
//!   (`sweep run`, and `sweep train` through a one-run plan);
//! - [`run_slurm_task`]: the runs of one Slurm array task (`sweep exec-slurm-task`);
//! - [`exec_run`]: one prepared run folder (`sweep exec-run`);
//! - [`predict`]: a finished run applied to other images;
//! - [`fetch_dataset`], [`dataset_table`]: the public datasets on disk (`sweep data`);
//! - [`submit`], [`report`], [`export`], [`bench`], [`doctor`]: owned by their modules
//!   (the Slurm backend, the report renderer, the exporter, the benchmarks, the
//!   device probe) and named here.
mod data;
#[cfg(feature = "torch")]
mod exec;
mod inspect;
#[cfg(feature = "torch")]
mod predict;
mod run;

pub use crate::backend::slurm::submit;
#[cfg(feature = "torch")]
pub use crate::bench::bench;
pub use crate::report::export::export;
pub use crate::report::write_report_as as report;
#[cfg(feature = "torch")]
pub use crate::runtime::device::probe as doctor;
pub use data::{dataset_table, fetch_dataset, DatasetRow, Fetched};
#[cfg(feature = "torch")]
pub use exec::exec_run;
pub use inspect::{plan, status, PlanView, StatusView};
#[cfg(feature = "torch")]
pub use predict::{predict, PredictInput, Predicted};
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
