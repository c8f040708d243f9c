//! Build-time facts and link-time set-up for libtorch.
//!
//! In every build (with or without the `torch` feature): the git commit the
//! binary is built from and whether the work tree had uncommitted changes, as
//! `SWEEP_GIT_COMMIT` and `SWEEP_GIT_DIRTY` (`unknown` without git), which each
//! run's provenance.json records.
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
    record_git_state();
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

/// `git -C <crate> ARGS`'s trimmed stdout, None when git is absent or fails.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit and dirty flag as `SWEEP_GIT_COMMIT` / `SWEEP_GIT_DIRTY`. The
/// script reruns when HEAD or the branch it points to moves (a commit, a
/// checkout), so the commit stays current; the dirty flag is as of that run.
/// Only files that exist are watched (cargo reruns a script on every build for
/// a watched path that does not).
fn record_git_state() {
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    let dirty = commit.as_ref().and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]));
    println!("cargo:rustc-env=SWEEP_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
    let dirty = match dirty {
        Some(s) if s.is_empty() => "false",
        Some(_) => "true",
        None => "unknown",
    };
    println!("cargo:rustc-env=SWEEP_GIT_DIRTY={dirty}");
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    let root = std::env::var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    for p in watched.into_iter().flatten() {
        let p = root.join(p);
        if p.is_file() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
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
