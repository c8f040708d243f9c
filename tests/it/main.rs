//! The one integration-test binary (as ripgrep and uv do): a module per area.
mod common;
mod config;
mod hardening;
mod sweep;
mod report;
mod metrics;
mod fetch;
mod slurm;
#[cfg(feature = "torch")]
mod data;
#[cfg(feature = "torch")]
mod augment;
#[cfg(feature = "torch")]
mod loss;
#[cfg(feature = "torch")]
mod model;
#[cfg(feature = "torch")]
mod eval;
#[cfg(feature = "torch")]
mod train;
#[cfg(feature = "torch")]
mod recovery;
#[cfg(feature = "torch")]
mod e2e;
#[cfg(feature = "torch")]
mod predict;
