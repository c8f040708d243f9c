//! `sweep`: ConCURL deep clustering (BYOL + soft clustering with Sinkhorn codes +
//! consensus over random transforms of the cluster embeddings) on libtorch, run as
//! declarative experiment sweeps, reported as the paper's tables.
//!
//! Data flows one way (see docs/architecture.md):
//! sweep file -> [`config`] ([`config::expand`]) -> `Vec<RunConfig>` ->
//! [`schedule`] -> `train::run` -> run directory ([`store`], [`record`]) ->
//! [`report`]. docs/architecture.md has the whole map, module by module.
//!
//! Only the modules behind the `torch` feature touch libtorch; configuration,
//! expansion, the store, reports and the Slurm backend build and test without it.
pub mod backend;
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod ops;
pub mod record;
pub mod report;
pub mod schedule;
pub mod store;
pub mod tensorboard;
pub mod util;

#[cfg(feature = "torch")]
pub mod augment;
#[cfg(feature = "torch")]
pub mod bench;
#[cfg(feature = "torch")]
pub mod loss;
#[cfg(feature = "torch")]
pub mod model;
#[cfg(feature = "torch")]
pub mod runtime;
#[cfg(feature = "torch")]
pub mod train;
