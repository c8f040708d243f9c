//! The machine facts a run's provenance.json records: libtorch's version, the
//! CUDA runtime and cuDNN it was built with, ATen's CPU capability (the ISA
//! level its CPU kernels dispatch to), the device (GPU model and memory, or the
//! CPU model) and the CPU's AVX-512 BF16 and AMX flags, libtorch's threads.
//! ATen is reached through the shim (`aten_shim.cpp`); the CPU through
//! /proc/cpuinfo.
use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, c_long, CStr};
use std::sync::OnceLock;

use crate::record::{DeviceFacts, Machine};
use crate::schedule::DeviceSpec;

extern "C" {
    fn sweep_torch_version() -> *const c_char;
    fn sweep_cpu_capability(buf: *mut c_char, len: c_int) -> c_int;
    fn sweep_cuda_version() -> c_long;
    fn sweep_cudnn_version() -> c_long;
}

/// The CPU capabilities ATen knows (`ATen/native/DispatchStub.h`), for checks.
pub const KNOWN_ISA_LEVELS: [&str; 8] = ["DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON", "SVE128", "SVE256"];

/// ATen's CPU capability (`AVX2`), as `torch.backends.cpu.get_cpu_capability()`
/// says it (the `ATEN_CPU_CAPABILITY` variable can lower it).
fn cpu_capability() -> Option<String> {
    let mut buf = [0 as c_char; 64];
    // SAFETY: the shim writes at most buf.len() bytes, NUL-terminated.
    let rc = unsafe { sweep_cpu_capability(buf.as_mut_ptr(), buf.len() as c_int) };
    // SAFETY: on success buf holds a NUL-terminated string.
    (rc == 0).then(|| unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

/// The loaded libtorch's version (`2.11.0+cpu`), else its headers' (`2.11.0`).
pub fn libtorch_version() -> String {
    crate::runtime::device::loaded_torch_version().unwrap_or_else(|| {
        // SAFETY: the shim returns a static NUL-terminated string literal.
        unsafe { CStr::from_ptr(sweep_torch_version()) }.to_string_lossy().into_owned()
    })
}

/// CUDART_VERSION as `major.minor` (12080 -> `12.8`).
pub fn cuda_version_text(v: i64) -> String {
    format!("{}.{}", v / 1000, v % 1000 / 10)
}

/// CUDNN_VERSION as `major.minor.patch` (90100 -> `9.1.0`; 8907 -> `8.9.7`
/// in cuDNN 8's encoding).
pub fn cudnn_version_text(v: i64) -> String {
    if v >= 90_000 {
        format!("{}.{}.{}", v / 10_000, v % 10_000 / 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 1000, v % 1000 / 100, v % 100)
    }
}

/// What /proc/cpuinfo says of the CPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// The first `model name`.
    pub model: Option<String>,
    /// The first `flags` line's flags; None without one (not x86).
    pub flags: Option<BTreeSet<String>>,
}

impl CpuInfo {
    /// Parse /proc/cpuinfo's text (its first processor's lines suffice).
    pub fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        };
        CpuInfo {
            model: field("model name").filter(|m| !m.is_empty()),
            flags: field("flags").map(|f| f.split_whitespace().map(str::to_string).collect()),
        }
    }

    fn has(&self, flags: &[&str]) -> Option<bool> {
        self.flags.as_ref().map(|f| flags.iter().all(|x| f.contains(*x)))
    }

    /// AVX-512 BF16 instructions (`avx512_bf16`).
    pub fn avx512_bf16(&self) -> Option<bool> {
        self.has(&["avx512_bf16"])
    }

    /// AMX with bf16 tiles (`amx_bf16` and `amx_tile`).
    pub fn amx(&self) -> Option<bool> {
        self.has(&["amx_bf16", "amx_tile"])
    }
}

/// What does not change while the process lives, learnt once.
struct Fixed {
    libtorch: String,
    cuda: Option<String>,
    cudnn: Option<String>,
    isa: Option<String>,
    cpu: CpuInfo,
    gpus: Vec<(String, u64)>,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        // SAFETY: the shim's version queries take nothing and catch every C++ exception.
        let (cuda, cudnn) = unsafe { (sweep_cuda_version() as i64, sweep_cudnn_version() as i64) };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Fixed {
            libtorch: libtorch_version(),
            cuda: (cuda > 0).then(|| cuda_version_text(cuda)),
            cudnn: (cudnn > 0).then(|| cudnn_version_text(cudnn)),
            isa: cpu_capability(),
            cpu: CpuInfo::parse(&cpuinfo),
            gpus: crate::runtime::device::gpu_models(),
        }
    })
}

/// What `device` is, in this process: [`Machine`] for provenance.json.
pub fn machine(device: DeviceSpec) -> Machine {
    let f = fixed();
    let gpu = match device {
        DeviceSpec::Cuda(i) => f.gpus.get(i).cloned(),
        DeviceSpec::Cpu => None,
    };
    let (model, memory_bytes) = match (device, gpu) {
        (_, Some((name, bytes))) => (Some(name), Some(bytes)),
        (DeviceSpec::Cpu, None) => (f.cpu.model.clone(), None),
        (DeviceSpec::Cuda(_), None) => (None, None),
    };
    Machine {
        libtorch: Some(f.libtorch.clone()),
        cuda: f.cuda.clone(),
        cudnn: f.cudnn.clone(),
        device: DeviceFacts {
            name: device.to_string(),
            model,
            memory_bytes,
            cpu_model: f.cpu.model.clone(),
            isa: f.isa.clone(),
            avx512_bf16: f.cpu.avx512_bf16(),
            amx: f.cpu.amx(),
        },
        threads: Some(tch::get_num_threads()),
    }
}
