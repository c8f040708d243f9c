//! Configuration: a run as a file writes it ([`RunSpec`], the low type with the
//! dataset-dependent keys open), resolved once into [`RunConfig`] (no hole
//! left) and range-checked; the dataset facts both need; the strict sweep-file
//! reader ([`sweepfile`]), the draws of its `[random]` blocks ([`sample`]) and
//! the expansion of a sweep file into its runs and their ids ([`expand`]). No
//! tch here.
pub mod dataset;
pub mod expand;
mod lr;
pub mod run;
pub mod sample;
pub mod spec;
pub mod sweepfile;
mod validate;

pub use dataset::{DatasetName, Split};
pub use expand::{load_run_config, load_sweep, run_id, Expanded};
pub use run::*;
pub use spec::{AugmentSpec, DataSpec, ModelSpec, RunSpec, TrainSpec};
pub use sweepfile::{Problem, SweepError};
pub use validate::{human_bytes, MAX_RUN_BYTES};
