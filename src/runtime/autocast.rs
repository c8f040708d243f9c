//! bf16 autocast (`train.bf16`) for the network forwards.
//!
//! tch's `autocast` turns on CUDA autocast only, in libtorch's default dtype,
//! float16, which trains without loss scaling at the risk of underflowing
//! gradients. [`bf16`] instead selects bfloat16 (float32's range, so no scaler
//! is needed) through a small C++ shim (`aten_shim.cpp`, built by build.rs
//! against the linked libtorch's headers), for CUDA or the CPU. The state is
//! per thread in ATen, so packed runs do not see each other's setting.
use tch::Device;

#[repr(C)]
#[derive(Default)]
struct Prev {
    enabled: i32,
    dtype: i32,
}

extern "C" {
    fn sweep_autocast_push(cuda: i32, prev: *mut Prev) -> i32;
    fn sweep_autocast_pop(cuda: i32, prev: *const Prev) -> i32;
    fn sweep_autocast_is_bf16(cuda: i32) -> i32;
}

/// Runs `f` with bf16 autocast on `device`'s type when `enabled`: convolutions
/// and matrix products in bfloat16, reductions and normalisations as ATen's
/// autocast policy says (float32 where precision matters). Restores the previous
/// state afterwards, also when `f` panics.
pub fn bf16<R>(enabled: bool, device: Device, f: impl FnOnce() -> R) -> R {
    if !enabled {
        return f();
    }
    struct Guard {
        cuda: i32,
        prev: Prev,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            // SAFETY: `prev` was filled by the matching push on this thread.
            let rc = unsafe { sweep_autocast_pop(self.cuda, &self.prev) };
            assert_eq!(rc, 0, "leaving bf16 autocast failed");
        }
    }
    let cuda = i32::from(device.is_cuda());
    let mut prev = Prev::default();
    // SAFETY: the shim writes only through `prev`, a valid pointer to a Prev.
    let rc = unsafe { sweep_autocast_push(cuda, &mut prev) };
    assert_eq!(rc, 0, "entering bf16 autocast failed");
    let _guard = Guard { cuda, prev };
    f()
}

/// Whether autocast on `device`'s type would use bfloat16 on this thread (for tests).
pub fn dtype_is_bf16(device: Device) -> bool {
    // SAFETY: no arguments beyond an int.
    unsafe { sweep_autocast_is_bf16(i32::from(device.is_cuda())) == 1 }
}
