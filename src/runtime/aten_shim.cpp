// What tch 0.24 does not expose, reached through ATen/c10's C++ API. Compiled
// by build.rs against the headers of the libtorch the crate links.
//
// bf16 autocast: tch can only switch CUDA autocast on, which then runs in
// libtorch's default CUDA autocast dtype, float16 (and float16 training without
// loss scaling can underflow gradients). sweep_autocast_* choose the dtype and
// the device type.
//
// A CUDA stream per run: runs packed into one process each launch on a stream
// of their own (c10's stream pool), so their kernels can overlap on the GPU
// instead of queueing on one stream. Reached through c10's device-generic guard
// interface, which libc10_cuda registers, so no CUDA header is needed here.
//
// Provenance: the libtorch version these headers are (TORCH_VERSION), ATen's CPU
// capability (the vector ISA its kernels dispatch to: DEFAULT, AVX2, AVX512...),
// and the CUDA runtime and cuDNN versions libtorch was built with, through
// ATen's CUDA hooks (which throw in a build without CUDA).
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/version.h>

#include <cstring>
#include <string>

extern "C" {

// What sweep_autocast_push saved, for sweep_autocast_pop to restore.
struct SweepAutocastPrev {
  int enabled;
  int dtype;
};

static at::DeviceType device_type(int cuda) { return cuda ? at::kCUDA : at::kCPU; }

// Autocast on for the device type (cuda != 0: CUDA, else CPU) in bfloat16, on
// this thread (ATen keeps autocast state per thread). 0 on success.
int sweep_autocast_push(int cuda, SweepAutocastPrev *prev) {
  try {
    auto dt = device_type(cuda);
    prev->enabled = at::autocast::is_autocast_enabled(dt) ? 1 : 0;
    prev->dtype = static_cast<int>(at::autocast::get_autocast_dtype(dt));
    at::autocast::set_autocast_dtype(dt, at::kBFloat16);
    at::autocast::set_autocast_enabled(dt, true);
    at::autocast::increment_nesting();
    return 0;
  } catch (...) {
    return 1;
  }
}

// Undoes sweep_autocast_push; the cast-weight cache is cleared on leaving the
// outermost region (as torch.autocast's __exit__ does). 0 on success.
int sweep_autocast_pop(int cuda, const SweepAutocastPrev *prev) {
  try {
    auto dt = device_type(cuda);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(dt, prev->enabled != 0);
    at::autocast::set_autocast_dtype(dt, static_cast<at::ScalarType>(prev->dtype));
    return 0;
  } catch (...) {
    return 1;
  }
}

// 1 when the device type's autocast dtype on this thread is bfloat16, else 0.
int sweep_autocast_is_bf16(int cuda) {
  try {
    return at::autocast::get_autocast_dtype(device_type(cuda)) == at::kBFloat16 ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

// Makes a stream from c10's pool the current CUDA stream of this thread for
// `device` (c10 keeps the current stream per thread). 0 on success, 1 when no
// CUDA backend is registered, 2 when it refused (no such device, no driver).
int sweep_cuda_use_pool_stream(int device) {
  try {
    if (!c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA)) {
      return 1;
    }
    const auto *impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
    c10::Device d(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device));
    impl->exchangeStream(impl->getStreamFromGlobalPool(d, false));
    return 0;
  } catch (...) {
    return 2;
  }
}

// TORCH_VERSION of the headers the shim was compiled against ("2.11.0").
const char *sweep_torch_version() { return TORCH_VERSION; }

// Copies ATen's CPU capability ("AVX2") into buf (NUL-terminated, cut to len).
// 0 on success.
int sweep_cpu_capability(char *buf, int len) {
  try {
    if (len <= 0) {
      return 1;
    }
    std::string cap = at::get_cpu_capability();
    std::strncpy(buf, cap.c_str(), static_cast<size_t>(len) - 1);
    buf[len - 1] = '\0';
    return 0;
  } catch (...) {
    return 1;
  }
}

// CUDART_VERSION libtorch was built with (12080 for 12.8); -1 without CUDA.
long sweep_cuda_version() {
  try {
    return at::detail::getCUDAHooks().versionCUDART();
  } catch (...) {
    return -1;
  }
}

// CUDNN_VERSION libtorch was built with (90100 for 9.1.0); -1 without cuDNN.
long sweep_cudnn_version() {
  try {
    if (!at::detail::getCUDAHooks().hasCuDNN()) {
      return -1;
    }
    return at::detail::getCUDAHooks().versionCuDNN();
  } catch (...) {
    return -1;
  }
}

}  // extern "C"
