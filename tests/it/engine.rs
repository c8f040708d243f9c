//! The two binaries (src/cli/engine.rs): `sweep` built without libtorch hands
//! the commands that train over to the `sweep-engine` beside it, with every
//! argument and the engine's exit code, and does the others itself; with
//! libtorch, `sweep-engine` is the same command line.

#[cfg(not(feature = "torch"))]
mod front {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    /// A copy of the front binary in a folder of its own; with `engine`, a
    /// stand-in `sweep-engine` beside it that prints its arguments and exits 7.
    fn front(tmp: &Path, engine: bool) -> PathBuf {
        let bin = tmp.join("sweep");
        std::fs::copy(env!("CARGO_BIN_EXE_sweep"), &bin).unwrap();
        if engine {
            let e = tmp.join("sweep-engine");
            std::fs::write(&e, "#!/bin/sh\necho \"engine got: $*\"\nexit 7\n").unwrap();
            std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        bin
    }

    fn run(bin: &Path, args: &[&str]) -> Output {
        Command::new(bin).args(args).output().unwrap()
    }

    #[test]
    fn training_commands_are_handed_over_with_their_arguments_and_exit_code() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = front(tmp.path(), true);
        for args in [
            &["run", "sweeps/x.toml", "--devices", "cpu", "--set", "train.lr=0.1"][..],
            &["doctor"],
            &["train", "run.toml"],
            &["exec-run", "some/run", "--device", "cpu"],
            &["bench", "cpu-small"],
        ] {
            let out = run(&bin, args);
            assert_eq!(out.status.code(), Some(7), "{args:?}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("engine got: {}", args.join(" ")));
        }
    }

    #[test]
    fn without_an_engine_training_says_what_to_build_and_the_rest_works() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = front(tmp.path(), false);
        let out = run(&bin, &["run", "sweeps/x.toml"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("sweep-engine") && err.contains("make release"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        // Arguments are still checked by the front before anything is handed over.
        let out = run(&bin, &["run"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("<FILE>"));
        let out = run(&bin, &["--version"]);
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("sweep "));
        let quickstart = crate::common::root().join("sweeps/quickstart.toml");
        let out = run(&bin, &["plan", quickstart.to_str().unwrap(), "--store", tmp.path().join("s").to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("4 runs"));
    }
}

#[cfg(feature = "torch")]
#[test]
fn the_engine_is_the_same_command_line() {
    use std::process::Command;
    let version = |bin: &str| Command::new(bin).arg("--version").output().unwrap().stdout;
    let engine = version(env!("CARGO_BIN_EXE_sweep-engine"));
    assert_eq!(engine, version(env!("CARGO_BIN_EXE_sweep")));
    let help = |bin: &str| Command::new(bin).arg("--help").output().unwrap().stdout;
    assert_eq!(help(env!("CARGO_BIN_EXE_sweep-engine")), help(env!("CARGO_BIN_EXE_sweep")));
}
