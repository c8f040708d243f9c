//! The child-process executor: each run as `sweep exec-run` in a process of its
//! own, so that a crash in libtorch fails that run only; the exit statuses and
//! the stderr line by which the child says how it ended.
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use super::progress::{parse_epoch_line, Progress, RunControl};
use super::slots::{DeviceSpec, Slot};
use super::{Executor, Job, RunFailure};

/// Exit status of `exec-run` when it stopped on request after checkpointing.
pub const EXIT_INTERRUPTED: i32 = 3;

/// The prefix of the one stderr line by which `exec-run` reports a suspension.
pub const SUSPENDED_PREFIX: &str = "suspended: ";

/// Runs each job as a child process, `EXE exec-run RUN_DIR --device DEV`, so a
/// crash (a segfault in libtorch, an abort on out-of-memory) fails that run
/// only. Exit status 0 is done, [`EXIT_INTERRUPTED`] interrupted, anything else
/// (or death by a signal) failed. The child's progress lines come back on its
/// stdout; everything else it prints is appended to the run's `log.txt`.
///
/// The parent holds the run lock and writes the status; the child only trains.
/// The child gets its own process group so a terminal's Ctrl-C reaches the
/// parent alone, which forwards one SIGINT per child (one press = checkpoint and
/// stop); a child whose parent dies is killed.
#[derive(Debug, Clone)]
pub struct IsolatedExecutor {
    program: PathBuf,
    leading_args: Vec<String>,
    /// What a slot runs on, for provenance.json (the children run on this
    /// machine): set by the caller that links libtorch.
    probe: Option<fn(DeviceSpec) -> crate::record::Machine>,
    /// Children get `--no-tensorboard` when false.
    tensorboard: bool,
}

impl IsolatedExecutor {
    /// Children run this very executable.
    pub fn current() -> anyhow::Result<Self> {
        let program = std::env::current_exe().context("finding the path of this executable")?;
        Ok(Self { program, leading_args: Vec::new(), probe: None, tensorboard: true })
    }

    /// Children run `program leading_args... exec-run RUN_DIR --device DEV`.
    pub fn with_command(program: impl Into<PathBuf>, leading_args: Vec<String>) -> Self {
        Self { program: program.into(), leading_args, probe: None, tensorboard: true }
    }

    /// Whether the children write TensorBoard event files (`exec-run --no-tensorboard` when not).
    pub fn with_tensorboard(mut self, on: bool) -> Self {
        self.tensorboard = on;
        self
    }

    /// Learn each slot's machine with `probe` (see [`Executor::machine`]).
    pub fn with_machine_probe(mut self, probe: fn(DeviceSpec) -> crate::record::Machine) -> Self {
        self.probe = Some(probe);
        self
    }

    fn command(&self, run_dir: &Path, device: DeviceSpec) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.leading_args)
            .arg("exec-run")
            .arg(run_dir)
            .arg("--device")
            .arg(device.to_string())
            .args((!self.tensorboard).then_some("--no-tensorboard"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl and signal are async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    // A parent started in the background (nohup, `cmd &` in a script)
                    // ignores SIGINT and the child would inherit that, so the stop
                    // request forwarded below could never reach it.
                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                    Ok(())
                });
            }
        }
        cmd
    }
}

/// How many of the child's last stderr lines go into a failure reason.
const REASON_LINES: usize = 5;

impl Executor for IsolatedExecutor {
    fn machine(&self, slot: &Slot) -> crate::record::Machine {
        match self.probe {
            Some(probe) => probe(slot.device),
            None => crate::record::Machine::unknown(&slot.device.to_string()),
        }
    }

    fn execute(&self, job: &Job, slot: &Slot, ctl: &RunControl) -> Result<(), RunFailure> {
        let mut child = self
            .command(job.dir.path(), slot.device)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        let log_path = job.dir.log_path();
        let log = Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| format!("opening {}", log_path.display()))?,
        );
        let log_line = |line: &str| {
            // The log is for people; a full disk shows up in the run's own writes.
            let _ = writeln!(log.lock().expect("log lock"), "{line}");
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
        let status = std::thread::scope(|s| {
            s.spawn(|| {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(p) = Progress::parse_line(&line) {
                        ctl.forward(&p);
                    } else if let Some(done) = parse_epoch_line(&line) {
                        ctl.epoch_closed(done);
                    } else {
                        log_line(&line);
                    }
                }
            });
            s.spawn(|| {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log_line(&line);
                    let t = line.trim_start();
                    let backtrace = t.starts_with("frame #") || t.starts_with("Exception raised from");
                    if !t.is_empty() && !backtrace {
                        let mut t = tail.lock().expect("tail lock");
                        if t.len() == REASON_LINES {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
            wait_forwarding_stop(&mut child, ctl)
        })
        .with_context(|| format!("waiting for the child running {}", job.entry.run_id))?;
        let tail: Vec<String> = tail.into_inner().expect("readers have finished").into();
        child_outcome(status, &tail)
    }
}

/// Wait for `child`, forwarding a stop request to it once as SIGINT (one
/// press: checkpoint and stop).
fn wait_forwarding_stop(
    child: &mut std::process::Child,
    ctl: &RunControl,
) -> std::io::Result<std::process::ExitStatus> {
    let mut forwarded = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if ctl.stop_requested() && !forwarded {
            forwarded = true;
            #[cfg(unix)]
            // SAFETY: kill with a pid we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGINT);
            }
            #[cfg(not(unix))]
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How a child `sweep exec-run` ended, from its exit status and the last lines
/// of its stderr (`tail`, libtorch's backtrace lines left out).
fn child_outcome(status: std::process::ExitStatus, tail: &[String]) -> Result<(), RunFailure> {
    match status.code() {
        Some(0) => Ok(()),
        Some(EXIT_INTERRUPTED) => Err(match tail.iter().rev().find_map(|l| l.strip_prefix(SUSPENDED_PREFIX)) {
            Some(reason) => RunFailure::Suspended { reason: reason.to_string() },
            None => RunFailure::Interrupted,
        }),
        Some(code) => Err(RunFailure::Failed {
            reason: if tail.is_empty() {
                format!("exit status {code}")
            } else {
                format!("exit status {code}: {}", tail.join(" | "))
            },
        }),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                let sig = status.signal().unwrap_or(0);
                Err(RunFailure::Failed { reason: format!("killed by signal {sig}") })
            }
            #[cfg(not(unix))]
            Err(RunFailure::Failed { reason: "killed".to_string() })
        }
    }
}
