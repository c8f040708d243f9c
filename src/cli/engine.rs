//! The hand-over from the light front to the engine: `sweep` built without
//! libtorch (`make release` builds it so) plans, reports and shows status
//! without loading libtorch, and replaces itself with `sweep-engine`, the same
//! command line built with libtorch, for the commands that train or probe a
//! device. One process holds libtorch and schedules the runs, as before: the
//! engine is `exec`ed, not spawned, so signals, exit codes and the terminal
//! are the engine's own. docs/architecture.md ("Two binaries") says why.
use std::path::{Path, PathBuf};

/// The engine binary's file name, looked for beside the running `sweep`.
const ENGINE: &str = "sweep-engine";

/// Where the engine of the running binary is: beside it (symbolic links
/// resolved, so a `sweep` linked into ~/bin finds its engine in the build).
fn engine_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    Ok(exe.with_file_name(ENGINE))
}

/// Replace this process with the engine, given this process's arguments;
/// returns only on failure, with the error to print.
pub fn hand_over(what: &str) -> anyhow::Error {
    let engine = match engine_path() {
        Ok(p) => p,
        Err(e) => return anyhow::anyhow!("cannot find this program's own path to look for {ENGINE}: {e}"),
    };
    if !engine.is_file() {
        return missing(&engine, what);
    }
    exec(&engine, std::env::args_os().skip(1))
}

fn missing(engine: &Path, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "to {what} this `sweep` (built without libtorch) hands over to {}, which is not there: \
         build both with `make release`, or install them side by side",
        engine.display()
    )
}

#[cfg(unix)]
fn exec(engine: &Path, args: impl Iterator<Item = std::ffi::OsString>) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(engine).args(args).exec();
    anyhow::anyhow!("cannot start {}: {err}", engine.display())
}

#[cfg(not(unix))]
fn exec(engine: &Path, args: impl Iterator<Item = std::ffi::OsString>) -> anyhow::Error {
    match std::process::Command::new(engine).args(args).status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(2)),
        Err(err) => anyhow::anyhow!("cannot start {}: {err}", engine.display()),
    }
}
