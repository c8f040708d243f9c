//! torch's random generators are process-global: `manual_seed` seeds them for
//! every thread. Runs packed into one process (`sweep run --per-device N`,
//! `sweep bench --pack N`) would otherwise interleave their re-seeding and their
//! draws, so a packed run would not reproduce the same run alone. Every use of
//! torch's RNG in training goes through [`seeded`], which holds one process-wide
//! lock from the seeding to the last draw.
//!
//! On a GPU the draws are kernels whose generator offset is taken when they are
//! launched, so holding the lock across the launches (not their execution) is
//! enough; nothing here synchronises the device.
use std::sync::Mutex;

static TORCH_RNG: Mutex<()> = Mutex::new(());

/// Seeds torch's generators with `seed` and runs `f` while no other thread can
/// seed or draw through this function. `f` must not call [`seeded`] itself.
pub fn seeded<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    // A panic in another run while it held the lock leaves no state worth
    // protecting (the next holder re-seeds), so a poisoned lock is taken as is.
    let _guard = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    f()
}
