//! Configuration: a run as a file writes it ([`RunSpec`], the low type with the
//! dataset-dependent keys open), resolved once into [`RunConfig`] (no hole
//! left) and range-checked; the dataset facts both need; the strict sweep-file
//! reader ([`sweepfile`], over located values: `located`), the draws of its
//! `[random]` blocks ([`sample`]), the keys a file may set ([`schema`]) and the
//! expansion of a sweep file into its runs ([`expand`], orchestrating
//! `layers`, `grid` and `candidate`) and their ids ([`identity`]). No tch here.
//! The submodules form no cycle (docs/architecture.md, "No cycles").
mod candidate;
pub mod dataset;
pub mod environment;
pub mod expand;
mod grid;
pub mod identity;
mod layers;
mod located;
mod lr;
pub mod run;
pub mod sample;
pub mod schema;
pub mod spec;
pub mod sweepfile;
mod validate;

pub use dataset::{DatasetName, Split};
pub use environment::Environment;
pub use expand::{load_run_config, load_sweep, Expanded};
pub use identity::run_id;
pub use run::*;
pub use spec::{AugmentSpec, DataSpec, ModelSpec, RunSpec, TrainSpec};
pub use sweepfile::{Problem, SweepError};
pub use validate::{human_bytes, MAX_RUN_BYTES};
