//! Link-time set-up for libtorch.
//!
//! torch-sys finds libtorch (LIBTORCH, or LIBTORCH_USE_PYTORCH=1 and the `python`
//! on PATH); what it does not do is make the binary find the shared libraries at
//! run time, nor keep libtorch_cuda when the linker's default `--as-needed` sees no
//! direct symbol use (CUDA then silently vanishes). Both are fixed here.
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python".into());
    let out = Command::new(&python)
        .args(["-c", "import os, torch; print(os.path.dirname(torch.__file__))"])
        .output()
        .or_else(|_| {
            Command::new("python3").args(["-c", "import os, torch; print(os.path.dirname(torch.__file__))"]).output()
        })
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(dir.trim()).join("lib"))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let Some(lib) = torch_lib_dir() else {
        println!("cargo:warning=could not locate libtorch's lib folder; the binary will need LD_LIBRARY_PATH");
        return;
    };
    compile_aten_shim(&lib);
    // rpath so that `sweep` starts without LD_LIBRARY_PATH, wherever it is copied.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=SWEEP_TORCH_LIB_DIR={}", lib.display());
    // Keep libtorch_cuda (and c10_cuda) in DT_NEEDED: nothing references them
    // directly, so `--as-needed` would drop them and CUDA would be unavailable.
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        if lib.join("libc10_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-lc10_cuda");
        }
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// src/runtime/aten_shim.cpp: a few extern "C" functions over ATen/c10's C++ API
/// (bf16 autocast, per-thread CUDA streams), compiled against the headers of the
/// libtorch being linked, with its C++ ABI setting (torch-sys's variable).
fn compile_aten_shim(lib: &std::path::Path) {
    println!("cargo:rerun-if-changed=src/runtime/aten_shim.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let torch = lib.parent().expect("torch lib folder has a parent");
    let include = torch.join("include");
    let cxx11_abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("src/runtime/aten_shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={cxx11_abi}"))
        .warnings(false)
        .compile("sweep_aten_shim");
}
