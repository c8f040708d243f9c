//! Cluster backends: handing a sweep's runs to a batch scheduler instead of
//! running them here. The store stays the single source of truth (it lives on
//! a file system every node shares); the scheduler only decides where and when
//! each run's process starts. No tch here: the tasks themselves train through
//! the ordinary scheduler ([`crate::schedule::run_jobs`]).
pub mod slurm;
