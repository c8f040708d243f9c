//! The libtorch runtime a run needs besides its networks: devices (parsing,
//! probing, CUDA streams, memory; `sweep doctor`), bf16 autocast, and the
//! process-wide lock around torch's random generators, with the small C++ shim
//! over ATen/c10 (`aten_shim.cpp`, compiled by build.rs) that the first two use.
pub mod autocast;
pub mod device;
pub mod rng;
