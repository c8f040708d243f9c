//! Devices: parsing `--devices`, probing libtorch and the GPUs (`sweep doctor`).
use std::fmt;
use std::path::PathBuf;

use tch::Device;

use crate::schedule::DeviceSpec;

pub fn to_tch(d: DeviceSpec) -> Device {
    match d {
        DeviceSpec::Cpu => Device::Cpu,
        DeviceSpec::Cuda(i) => Device::Cuda(i),
    }
}

extern "C" {
    fn sweep_cuda_use_pool_stream(device: i32) -> i32;
}

/// Gives this thread a CUDA stream of its own on GPU `index` (from c10's stream
/// pool) for everything it launches there afterwards. Runs packed on one GPU
/// (`--per-device N`) call it in their worker threads so that their kernels can
/// overlap instead of queueing on the one default stream. Returns whether it
/// took effect (false without a CUDA backend or without that GPU).
pub fn use_own_cuda_stream(index: usize) -> bool {
    // SAFETY: the shim takes a device index and touches only c10's per-thread
    // current-stream state.
    let rc = unsafe { sweep_cuda_use_pool_stream(index as i32) };
    if rc != 0 {
        tracing::debug!("no stream of its own on cuda:{index} (shim code {rc}); using the default stream");
    }
    rc == 0
}

/// Keeps freed memory in the process instead of handing it back to the kernel.
///
/// libtorch's CPU tensors come from glibc malloc. By default glibc serves large
/// blocks with fresh mmaps and trims the heap top on free, so every training step
/// re-faults its activations page by page (about 1,600 minor faults per
/// `cpu-small` step here). A fixed 32 MiB mmap threshold and a 1 GiB trim
/// threshold let the same blocks be reused from step to step, as PyTorch's docs
/// suggest doing with jemalloc/tcmalloc. Costs some peak RSS (memory not given
/// back between steps); affects only this process; a no-op off glibc.
pub fn tune_host_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is called
    // before any other thread exists (first thing after parsing the arguments).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Waits for the work queued on `device` (a no-op on the CPU, where ops are
/// synchronous): for timing, and before other threads' streams read a result.
pub fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Every device this process can use: each CUDA GPU, or the CPU when there is none.
pub fn available() -> Vec<DeviceSpec> {
    let n = if tch::Cuda::is_available() { tch::Cuda::device_count() } else { 0 };
    if n > 0 {
        (0..n as usize).map(DeviceSpec::Cuda).collect()
    } else {
        vec![DeviceSpec::Cpu]
    }
}

/// The devices `devices` names: `auto` is [`available`], a list itself.
pub fn resolve(devices: &crate::schedule::Devices) -> Vec<DeviceSpec> {
    match devices {
        crate::schedule::Devices::Auto => available(),
        crate::schedule::Devices::List(list) => list.clone(),
    }
}

pub struct GpuInfo {
    pub index: usize,
    pub name: String,
    pub total_bytes: Option<u64>,
}

pub struct DoctorInfo {
    pub libtorch_ok: bool,
    pub libtorch_version: Option<String>,
    pub libtorch_path: Option<PathBuf>,
    pub cuda_available: bool,
    pub cudnn_available: bool,
    pub cudart_version: i64,
    pub gpus: Vec<GpuInfo>,
    pub torch_threads: i32,
    pub cpu_cores: usize,
    pub error: Option<String>,
}

/// Probe libtorch with a real tensor op, then the devices.
pub fn probe() -> DoctorInfo {
    let op = std::panic::catch_unwind(|| {
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        t.sum(tch::Kind::Float).double_value(&[])
    });
    let (libtorch_ok, error) = match op {
        Ok(v) if (v - 6.0).abs() < 1e-9 => (true, None),
        Ok(v) => (false, Some(format!("1 + 2 + 3 gave {v}"))),
        Err(_) => (false, Some("a tensor operation panicked".into())),
    };
    let libtorch_path = loaded_library("libtorch_cpu.so");
    let libtorch_version = libtorch_path.as_ref().and_then(|p| torch_version_near(p));
    let cuda_available = tch::Cuda::is_available();
    let n = if cuda_available { tch::Cuda::device_count() as usize } else { 0 };
    let names = cuda_driver::devices();
    let gpus = (0..n)
        .map(|i| {
            let (name, total_bytes) =
                names.get(i).map(|(n, b)| (n.clone(), Some(*b))).unwrap_or_else(|| ("(name unavailable)".into(), None));
            GpuInfo { index: i, name, total_bytes }
        })
        .collect();
    DoctorInfo {
        libtorch_ok,
        libtorch_version,
        libtorch_path,
        cuda_available,
        cudnn_available: tch::Cuda::cudnn_is_available(),
        cudart_version: if cuda_available { tch::utils::version_cudart() } else { 0 },
        gpus,
        torch_threads: tch::get_num_threads(),
        cpu_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        error,
    }
}

impl fmt::Display for DoctorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sweep {}", env!("CARGO_PKG_VERSION"))?;
        let ver = self.libtorch_version.as_deref().unwrap_or("unknown");
        let path = self.libtorch_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "unknown".into());
        writeln!(f, "libtorch: {ver} ({})", if self.libtorch_ok { "working" } else { "NOT working" })?;
        writeln!(f, "  loaded from: {path}")?;
        if let Some(e) = &self.error {
            writeln!(f, "  error: {e}")?;
        }
        writeln!(f, "CUDA available: {}", if self.cuda_available { "yes" } else { "no" })?;
        if self.cuda_available {
            writeln!(
                f,
                "  CUDA runtime: {}, cuDNN: {}",
                self.cudart_version,
                if self.cudnn_available { "yes" } else { "no" }
            )?;
        }
        writeln!(f, "devices:")?;
        writeln!(f, "  cpu: {} cores, libtorch uses {} threads", self.cpu_cores, self.torch_threads)?;
        for g in &self.gpus {
            match g.total_bytes {
                Some(b) => writeln!(f, "  cuda:{}: {} ({:.1} GiB)", g.index, g.name, b as f64 / (1u64 << 30) as f64)?,
                None => writeln!(f, "  cuda:{}: {}", g.index, g.name)?,
            }
        }
        if !self.cuda_available {
            writeln!(f, "  (no GPU: runs go to the CPU)")?;
        }
        Ok(())
    }
}

/// The version of the libtorch loaded into this process (`2.11.0+cpu`, from
/// the `version.py` of a PyTorch wheel), when it can be told.
pub fn loaded_torch_version() -> Option<String> {
    loaded_library("libtorch_cpu.so").and_then(|p| torch_version_near(&p))
}

/// Every GPU's name and memory in bytes, in CUDA's order (empty without a driver).
pub fn gpu_models() -> Vec<(String, u64)> {
    cuda_driver::devices()
}

/// The path of a shared library loaded into this process (from /proc/self/maps).
fn loaded_library(name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with(name)).map(PathBuf::from)
}

/// PyTorch wheels keep `version.py` one folder above `lib/`.
fn torch_version_near(lib: &std::path::Path) -> Option<String> {
    let torch_dir = lib.parent()?.parent()?;
    let text = std::fs::read_to_string(torch_dir.join("version.py")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__"))
        // `__version__ = '2.11.0+cu130'` (or with a type annotation before the `=`).
        .and_then(|rest| rest.rsplit('=').next())
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
}

/// Bytes in use on the current thread's CUDA device (total minus free, as
/// `cuMemGetInfo` reports them: every process's allocations and contexts). Call it
/// from a thread that has already run a CUDA tensor operation (libtorch then has
/// made the device's primary context current there); None without a GPU.
pub fn gpu_used_bytes() -> Option<u64> {
    cuda_driver::used_bytes()
}

/// GPU names and memory through the CUDA driver API (libcuda.so.1, stable ABI),
/// which libtorch does not expose to tch.
mod cuda_driver {
    use std::ffi::{c_char, c_int, c_uint, CStr};

    type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
    type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    type CuDeviceTotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
    type CuMemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> c_int;

    /// Total minus free memory of the current context's device.
    pub fn used_bytes() -> Option<u64> {
        // SAFETY: as in `devices`; cuMemGetInfo_v2 writes two size_t values and
        // fails (non-zero) when the thread has no current context.
        unsafe {
            let h = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if h.is_null() {
                return None;
            }
            let f = libc::dlsym(h, c"cuMemGetInfo_v2".as_ptr());
            if f.is_null() {
                return None;
            }
            let f: CuMemGetInfo = std::mem::transmute(f);
            let (mut free, mut total) = (0usize, 0usize);
            (f(&mut free, &mut total) == 0).then(|| (total - free) as u64)
        }
    }

    pub fn devices() -> Vec<(String, u64)> {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the function types match
        // the CUDA driver API's C declarations; buffers are sized as passed.
        unsafe {
            let h = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if h.is_null() {
                return vec![];
            }
            let sym = |n: &CStr| libc::dlsym(h, n.as_ptr());
            let (init, count, get, name, mem) = (
                sym(c"cuInit"),
                sym(c"cuDeviceGetCount"),
                sym(c"cuDeviceGet"),
                sym(c"cuDeviceGetName"),
                sym(c"cuDeviceTotalMem_v2"),
            );
            if [init, count, get, name, mem].iter().any(|p| p.is_null()) {
                return vec![];
            }
            let init: CuInit = std::mem::transmute(init);
            let count: CuDeviceGetCount = std::mem::transmute(count);
            let get: CuDeviceGet = std::mem::transmute(get);
            let name: CuDeviceGetName = std::mem::transmute(name);
            let mem: CuDeviceTotalMem = std::mem::transmute(mem);
            if init(0) != 0 {
                return vec![];
            }
            let mut n: c_int = 0;
            if count(&mut n) != 0 {
                return vec![];
            }
            (0..n)
                .filter_map(|i| {
                    let mut dev: c_int = 0;
                    if get(&mut dev, i) != 0 {
                        return None;
                    }
                    let mut buf = [0 as c_char; 256];
                    if name(buf.as_mut_ptr(), buf.len() as c_int, dev) != 0 {
                        return None;
                    }
                    let mut bytes: usize = 0;
                    let _ = mem(&mut bytes, dev);
                    Some((CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(), bytes as u64))
                })
                .collect()
        }
    }
}
