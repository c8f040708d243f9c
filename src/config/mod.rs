//! Configuration: the typed run config (no tch), the dataset facts it needs, and
//! the raw sweep-file structures that expand into run configs.
pub mod dataset;
mod resolve;
pub use resolve::{human_bytes, MAX_RUN_BYTES};
pub mod run;

pub use dataset::{DatasetName, Split};
pub use run::*;
pub mod sweepfile;
