//! The scheduler: runs a sweep's jobs on slots (a device and a place on it), a
//! fixed number at a time, skipping what is done and never letting one run's
//! failure stop the others. It knows nothing about training: an [`Executor`]
//! runs one job (in this process, or as a child process with
//! [`IsolatedExecutor`]).
//!
//! Every run is guarded by its lock (see [`super::lock`]), so several
//! `sweep run` processes on one store, on one machine or many sharing a file
//! system, split the work between them instead of doing it twice.
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::record::{PlanEntry, RunState};

use super::lock::{hostname, RunLock};
use super::store::RunDir;

/// Exit status of `exec-run` when it stopped on request after checkpointing.
pub const EXIT_INTERRUPTED: i32 = 3;

/// Where a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = anyhow::Error;

    /// `cpu`, `cuda` (= `cuda:0`) or `cuda:N`.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let s = s.trim();
        match s {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceSpec::Cuda(i)),
                _ => bail!("unknown device `{s}` (expected cpu, cuda or cuda:N)"),
            },
        }
    }
}

/// A comma-separated device list: `cpu`, `cuda:0,cuda:1`.
pub fn parse_devices(s: &str) -> anyhow::Result<Vec<DeviceSpec>> {
    let devices = s.split(',').filter(|x| !x.trim().is_empty()).map(str::parse).collect::<anyhow::Result<Vec<_>>>()?;
    if devices.is_empty() {
        bail!("no devices given");
    }
    Ok(devices)
}

/// A place for one run at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub device: DeviceSpec,
}

/// `per_device` slots on each device, interleaved (slot 0 on the first device,
/// slot 1 on the second...) so the first runs spread over all devices.
pub fn make_slots(devices: &[DeviceSpec], per_device: usize) -> Vec<Slot> {
    (0..per_device)
        .flat_map(|_| devices.iter().copied())
        .enumerate()
        .map(|(index, device)| Slot { index, device })
        .collect()
}

/// One run to do: what the plan says, its config, and its folder in the store.
#[derive(Debug, Clone)]
pub struct Job {
    pub entry: PlanEntry,
    pub config: RunConfig,
    pub dir: RunDir,
}

impl Job {
    /// A prepared run folder outside its plan (`exec-run`, a Slurm task): its
    /// config.toml, and an entry with no block or swept values.
    pub fn from_dir(dir: RunDir) -> anyhow::Result<Job> {
        let config = dir.read_config()?;
        let entry = PlanEntry { run_id: dir.run_id().to_string(), blocks: vec![], swept: Default::default() };
        Ok(Job { entry, config, dir })
    }
}

/// A stop request shared by the scheduler, the executors and the signal handler.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Ctrl-C (and SIGTERM): the first sets `stop` (no new runs start; running ones
/// checkpoint and stop), the second exits at once with status 130. Separate from
/// the scheduler so tests drive the flag without signals. Can be installed once
/// per process.
pub fn install_ctrlc(stop: &StopFlag) -> anyhow::Result<()> {
    let stop = stop.clone();
    ctrlc::set_handler(move || {
        if stop.is_requested() {
            eprintln!("\nstopping now");
            std::process::exit(130);
        }
        stop.request();
        eprintln!("\nstopping: running runs checkpoint and stop, no new run starts (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")
}

/// Where a run is, as reported by the executor after each step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// 1-based epoch in progress.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    pub steps_per_epoch: usize,
    pub loss: f64,
}

/// Tag of progress lines an isolated `exec-run` child prints on stdout.
pub const PROGRESS_TAG: &str = "@sweep-progress ";

impl Progress {
    /// The line a child process prints for its parent.
    pub fn to_line(&self) -> String {
        format!("{PROGRESS_TAG}{}", serde_json::to_string(self).expect("Progress serialises"))
    }
    pub fn parse_line(line: &str) -> Option<Progress> {
        serde_json::from_str(line.strip_prefix(PROGRESS_TAG)?).ok()
    }
}

type Sink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What an executor gets besides its job: the stop request and a place to report
/// progress.
#[derive(Clone)]
pub struct RunControl {
    stop: StopFlag,
    sink: Sink,
}

impl RunControl {
    pub fn new(stop: StopFlag, sink: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        Self { stop, sink: Arc::new(sink) }
    }

    /// Progress goes nowhere.
    pub fn silent(stop: StopFlag) -> Self {
        Self::new(stop, |_| {})
    }

    /// For `exec-run` under [`IsolatedExecutor`]: progress is printed on stdout
    /// as [`PROGRESS_TAG`] lines for the parent to read.
    pub fn stdout_protocol(stop: StopFlag) -> Self {
        Self::new(stop, |p| {
            let mut out = std::io::stdout().lock();
            // A closed pipe means the parent is gone; the run goes on regardless.
            let _ = writeln!(out, "{}", p.to_line());
            let _ = out.flush();
        })
    }

    /// Checked between steps: when true, the executor checkpoints and returns
    /// `Err(RunFailure::Interrupted)`.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_requested()
    }

    pub fn stop_flag(&self) -> &StopFlag {
        &self.stop
    }

    pub fn progress(&self, epoch: usize, epochs: usize, step: usize, steps_per_epoch: usize, loss: f64) {
        (self.sink)(&Progress { epoch, epochs, step, steps_per_epoch, loss });
    }

    fn forward(&self, p: &Progress) {
        (self.sink)(p);
    }
}

/// How a run ended other than done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunFailure {
    /// Stopped on request after a checkpoint: resumes next time.
    #[error("interrupted")]
    Interrupted,
    /// Stopped by its surroundings rather than its own fault (the disk is full):
    /// recorded as interrupted with the reason, and resumed by the next
    /// `sweep run` (no `--retry-failed` needed).
    #[error("{reason}")]
    Suspended { reason: String },
    #[error("{reason}")]
    Failed { reason: String },
}

/// The prefix of the one stderr line by which `exec-run` reports a suspension.
pub const SUSPENDED_PREFIX: &str = "suspended: ";

impl From<anyhow::Error> for RunFailure {
    /// The whole error chain becomes the reason (`outer: inner: cause`).
    fn from(e: anyhow::Error) -> Self {
        RunFailure::Failed { reason: format!("{e:#}") }
    }
}

/// Runs one job on one slot.
pub trait Executor: Sync {
    fn execute(&self, job: &Job, slot: &Slot, ctl: &RunControl) -> Result<(), RunFailure>;
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, log lines otherwise.
    #[default]
    Auto,
    Bars,
    Lines,
    Quiet,
}

#[derive(Debug, Clone, Default)]
pub struct ScheduleOptions {
    /// Run `failed` runs again (otherwise they are skipped).
    pub retry_failed: bool,
    pub progress: ProgressMode,
}

/// What happened to the jobs of one `run_jobs` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    pub total: usize,
    /// Finished in this call.
    pub done: usize,
    pub failed: usize,
    pub interrupted: usize,
    /// Already done before this call.
    pub skipped_done: usize,
    /// Failed before and not retried.
    pub skipped_failed: usize,
    /// Locked by another live process.
    pub elsewhere: usize,
    /// Not started because a stop was requested.
    pub not_started: usize,
}

impl SweepOutcome {
    /// Every job of the sweep is done (now or before).
    pub fn all_done(&self) -> bool {
        self.done + self.skipped_done == self.total
    }

    /// The command's exit status: 0 when every job is done, else 1.
    pub fn exit_code(&self) -> i32 {
        if self.all_done() {
            0
        } else {
            1
        }
    }
}

impl fmt::Display for SweepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} runs: {} done now, {} already done", self.total, self.done, self.skipped_done)?;
        for (n, what) in [
            (self.failed, "failed"),
            (self.skipped_failed, "failed before (not retried; use --retry-failed)"),
            (self.interrupted, "interrupted"),
            (self.elsewhere, "running elsewhere"),
            (self.not_started, "not started"),
        ] {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        Ok(())
    }
}

/// The end of one job in this call.
#[derive(Debug, Clone, PartialEq)]
enum JobEnd {
    Done,
    Failed(String),
    /// Stopped on request (None) or suspended, with the reason.
    Interrupted(Option<String>),
    SkippedDone,
    SkippedFailed,
    Elsewhere,
}

/// Run `jobs` in order on `slots` (one worker thread per slot) and return the
/// counts. Status files record each run's state; a failure, an error or a panic
/// in one run is recorded as `failed` with its reason and the others go on.
pub fn run_jobs(
    jobs: &[Job],
    slots: &[Slot],
    executor: &dyn Executor,
    stop: &StopFlag,
    opts: &ScheduleOptions,
) -> SweepOutcome {
    assert!(!slots.is_empty(), "run_jobs needs at least one slot");
    let reporter = Reporter::new(opts.progress, jobs.len());
    let next = AtomicUsize::new(0);
    let ends: Mutex<Vec<JobEnd>> = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|s| {
        for slot in slots {
            let (next, ends, reporter) = (&next, &ends, &reporter);
            s.spawn(move || loop {
                if stop.is_requested() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { return };
                let end = run_one(job, slot, executor, stop, opts, reporter);
                reporter.finished(job, &end);
                ends.lock().expect("no panics while holding the lock").push(end);
            });
        }
    });
    let ends = ends.into_inner().expect("workers have finished");
    let mut out = SweepOutcome { total: jobs.len(), ..Default::default() };
    for e in &ends {
        match e {
            JobEnd::Done => out.done += 1,
            JobEnd::Failed(_) => out.failed += 1,
            JobEnd::Interrupted(_) => out.interrupted += 1,
            JobEnd::SkippedDone => out.skipped_done += 1,
            JobEnd::SkippedFailed => out.skipped_failed += 1,
            JobEnd::Elsewhere => out.elsewhere += 1,
        }
    }
    out.not_started = jobs.len() - ends.len();
    reporter.close(&out);
    out
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// One job on one slot, in phases: claim it (skip it when done, or failed and
/// not retried; take its lock; mark it running), run it through the executor
/// (a panic becomes a failure), and record how it ended in status.json.
fn run_one(
    job: &Job,
    slot: &Slot,
    executor: &dyn Executor,
    stop: &StopFlag,
    opts: &ScheduleOptions,
    reporter: &Reporter,
) -> JobEnd {
    let (_lock, status) = match claim(job, slot, opts) {
        Ok(claimed) => claimed,
        Err(end) => return end,
    };
    reporter.started(job, slot);
    let ctl = {
        let (reporter, id) = (reporter.clone(), job.entry.run_id.clone());
        RunControl::new(stop.clone(), move |p| reporter.progress(&id, p))
    };
    let result = catch_unwind(AssertUnwindSafe(|| executor.execute(job, slot, &ctl))).unwrap_or_else(|payload| {
        Err(RunFailure::Failed { reason: format!("panicked: {}", panic_message(&*payload)) })
    });
    record_end(job, status, result)
}

fn store_error(e: anyhow::Error) -> JobEnd {
    JobEnd::Failed(format!("store: {e:#}"))
}

/// Take `job` for `slot`: its lock and its status marked running (one more
/// attempt, this process and host, the slot's device). Err: how the job ends
/// without running (done, failed and not retried, running elsewhere, or a store error).
fn claim(job: &Job, slot: &Slot, opts: &ScheduleOptions) -> Result<(RunLock, crate::record::RunStatus), JobEnd> {
    let skip = |state: RunState| match state {
        RunState::Done => Err(JobEnd::SkippedDone),
        RunState::Failed if !opts.retry_failed => Err(JobEnd::SkippedFailed),
        _ => Ok(()),
    };
    skip(job.dir.status().map_err(store_error)?.state)?;
    let lock = match RunLock::try_acquire(&job.dir) {
        Ok(Some(l)) => l,
        Ok(None) => return Err(JobEnd::Elsewhere),
        Err(e) => return Err(store_error(e)),
    };
    // Read again under the lock: another process may have finished it meanwhile.
    let mut status = job.dir.status().map_err(store_error)?;
    skip(status.state)?;
    status.state = RunState::Running;
    status.attempts += 1;
    status.reason = None;
    status.pid = Some(std::process::id());
    status.host = Some(hostname());
    status.device = Some(slot.device.to_string());
    job.dir.set_status(&status).map_err(store_error)?;
    Ok((lock, status))
}

/// Write how the run ended into status.json (over what the executor recorded
/// meanwhile, its epochs), and say it as a [`JobEnd`].
fn record_end(job: &Job, status: crate::record::RunStatus, result: Result<(), RunFailure>) -> JobEnd {
    let mut fin = job.dir.status().unwrap_or(status);
    fin.pid = None;
    let (state, reason, end) = match result {
        Ok(()) => (RunState::Done, None, JobEnd::Done),
        Err(RunFailure::Interrupted) => {
            (RunState::Interrupted, Some("stopped on request".to_string()), JobEnd::Interrupted(None))
        }
        Err(RunFailure::Suspended { reason }) => {
            let short = short_reason(&job.dir, &reason);
            (RunState::Interrupted, Some(short.clone()), JobEnd::Interrupted(Some(short)))
        }
        Err(RunFailure::Failed { reason }) => {
            let short = short_reason(&job.dir, &reason);
            (RunState::Failed, Some(short.clone()), JobEnd::Failed(short))
        }
    };
    fin.state = state;
    fin.reason = reason;
    match job.dir.set_status(&fin) {
        Ok(()) => end,
        Err(e) => store_error(e),
    }
}

/// What the terminal, status.json and `sweep status` show of a failure: one
/// line, without libtorch's C++ backtrace. When that drops anything, the whole
/// text goes to the run's log.txt.
fn short_reason(dir: &RunDir, reason: &str) -> String {
    let short = crate::util::user_message(reason);
    if short != reason.trim() {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(dir.log_path()) {
            let _ = writeln!(f, "the run stopped; the whole message:\n{reason}");
        }
    }
    short
}

/// Progress display: bars on a terminal, log lines otherwise.
#[derive(Clone)]
enum Reporter {
    Bars(Arc<Bars>),
    Lines(Arc<Mutex<HashMap<String, usize>>>),
    Quiet,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    runs: Mutex<HashMap<String, ProgressBar>>,
}

impl Reporter {
    fn new(mode: ProgressMode, total: usize) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            m => m,
        };
        match mode {
            ProgressMode::Bars => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let overall = multi.add(ProgressBar::new(total as u64));
                overall.set_style(
                    ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise}  {msg}")
                        .expect("static template"),
                );
                Reporter::Bars(Arc::new(Bars { multi, overall, runs: Mutex::new(HashMap::new()) }))
            }
            ProgressMode::Lines => Reporter::Lines(Arc::new(Mutex::new(HashMap::new()))),
            _ => Reporter::Quiet,
        }
    }

    fn started(&self, job: &Job, slot: &Slot) {
        let id = &job.entry.run_id;
        let swept = swept_label(&job.entry);
        match self {
            Reporter::Bars(b) => {
                let bar = b.multi.insert_before(&b.overall, ProgressBar::new(1));
                bar.set_style(ProgressStyle::with_template("{prefix:.bold} {msg} ETA {eta}").expect("static template"));
                bar.set_prefix(id.clone());
                bar.set_message(format!("starting on {} {swept}", slot.device));
                b.runs.lock().expect("bars lock").insert(id.clone(), bar);
            }
            Reporter::Lines(_) => eprintln!("[sweep] {id} started on {} {swept}", slot.device),
            Reporter::Quiet => {}
        }
    }

    fn progress(&self, id: &str, p: &Progress) {
        match self {
            Reporter::Bars(b) => {
                if let Some(bar) = b.runs.lock().expect("bars lock").get(id) {
                    let steps = p.steps_per_epoch.max(1) as u64;
                    bar.set_length(p.epochs as u64 * steps);
                    bar.set_position(p.epoch.saturating_sub(1) as u64 * steps + p.step as u64);
                    bar.set_message(format!("epoch {}/{} step {} loss {:.3}", p.epoch, p.epochs, p.step, p.loss));
                }
            }
            Reporter::Lines(last) => {
                // One line per epoch, not per step.
                let mut last = last.lock().expect("lines lock");
                if last.get(id) != Some(&p.epoch) {
                    last.insert(id.to_string(), p.epoch);
                    eprintln!("[sweep] {id} epoch {}/{} loss {:.3}", p.epoch, p.epochs, p.loss);
                }
            }
            Reporter::Quiet => {}
        }
    }

    fn finished(&self, job: &Job, end: &JobEnd) {
        let id = &job.entry.run_id;
        let what = match end {
            JobEnd::Done => "done".to_string(),
            JobEnd::Failed(r) => format!("FAILED: {r}"),
            JobEnd::Interrupted(None) => "interrupted (resumes next time)".to_string(),
            JobEnd::Interrupted(Some(r)) => format!("interrupted (resumes next time): {r}"),
            JobEnd::SkippedDone => "already done".to_string(),
            JobEnd::SkippedFailed => "failed before, skipped".to_string(),
            JobEnd::Elsewhere => "running in another process, skipped".to_string(),
        };
        let quiet_skip = matches!(end, JobEnd::SkippedDone);
        match self {
            Reporter::Bars(b) => {
                if let Some(bar) = b.runs.lock().expect("bars lock").remove(id) {
                    bar.finish_and_clear();
                    b.multi.remove(&bar);
                }
                if !quiet_skip {
                    // println above the bars; fails only when stderr is gone.
                    let _ = b.multi.println(format!("{id} {what}"));
                }
                b.overall.inc(1);
            }
            Reporter::Lines(_) if !quiet_skip => eprintln!("[sweep] {id} {what}"),
            _ => {}
        }
    }

    fn close(&self, out: &SweepOutcome) {
        match self {
            Reporter::Bars(b) => b.overall.finish_with_message(out.to_string()),
            Reporter::Lines(_) => eprintln!("[sweep] {out}"),
            Reporter::Quiet => {}
        }
    }
}

/// `key=value key=value` of a plan entry's swept values.
pub fn swept_label(entry: &PlanEntry) -> String {
    entry.swept.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

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
}

impl IsolatedExecutor {
    /// Children run this very executable.
    pub fn current() -> anyhow::Result<Self> {
        let program = std::env::current_exe().context("finding the path of this executable")?;
        Ok(Self { program, leading_args: Vec::new() })
    }

    /// Children run `program leading_args... exec-run RUN_DIR --device DEV`.
    pub fn with_command(program: impl Into<PathBuf>, leading_args: Vec<String>) -> Self {
        Self { program: program.into(), leading_args }
    }

    fn command(&self, run_dir: &Path, device: DeviceSpec) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.leading_args)
            .arg("exec-run")
            .arg(run_dir)
            .arg("--device")
            .arg(device.to_string())
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
                    match Progress::parse_line(&line) {
                        Some(p) => ctl.forward(&p),
                        None => log_line(&line),
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
