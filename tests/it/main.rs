//! The one integration-test binary (as ripgrep and uv do): a module per area.
#[cfg(feature = "torch")]
mod augment;
mod common;
mod config;
#[cfg(feature = "torch")]
mod consensus;
#[cfg(feature = "torch")]
mod data;
mod docs;
#[cfg(feature = "torch")]
mod e2e;
mod engine;
#[cfg(feature = "torch")]
mod eval;
mod fetch;
mod hardening;
#[cfg(feature = "torch")]
mod loss;
mod metrics;
#[cfg(feature = "torch")]
mod model;
mod modules;
#[cfg(feature = "torch")]
mod predict;
mod provenance;
mod random;
#[cfg(feature = "torch")]
mod recovery;
mod report;
mod slurm;
mod sweep;
mod tensorboard;
#[cfg(feature = "torch")]
mod train;
