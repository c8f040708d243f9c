//! The libtorch runtime a run needs besides its networks: devices (parsing,
//! probing, CUDA streams, memory; `sweep doctor`), bf16 autocast, the
//! process-wide lock around torch's random generators, and the machine facts of
//! provenance.json (`provenance`), with the small C++ shim over ATen/c10
//! (`aten_shim.cpp`, compiled by build.rs) that all but the lock use.
pub mod autocast;
pub mod device;
pub mod provenance;
pub mod rng;
