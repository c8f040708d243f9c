//! The scheduler: runs a sweep's jobs on slots (a device and a place on it), a
//! fixed number at a time, skipping what is done and never letting one run's
//! failure stop the others. It knows nothing about training: an [`Executor`]
//! runs one job (in this process, or as a child process with
//! [`IsolatedExecutor`]).
//!
//! Every run is guarded by its lock (see [`crate::store::lock`]), so several
//! `sweep run` processes on one store, on one machine or many sharing a file
//! system, split the work between them instead of doing it twice.
//!
//! Its parts: the devices and slots ([`device`]), the stop request and the
//! signal handler ([`stop`]), progress reports and their display
//! ([`progress`]), the child-process executor ([`child`]), and each run's
//! provenance.json, written around every attempt ([`provenance`]).
pub mod child;
pub mod progress;
pub mod provenance;
pub mod slots;
pub mod stop;

use std::fmt;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::RunConfig;
use crate::record::{PlanEntry, RunState};
use crate::store::lock::{hostname, RunLock};
use crate::store::{RunDir, Store};

pub use child::{IsolatedExecutor, EXIT_INTERRUPTED, SUSPENDED_PREFIX};
pub use progress::{swept_label, Progress, ProgressMode, RunControl, EPOCH_TAG, PROGRESS_TAG};
pub use slots::{make_slots, parse_devices, DeviceSpec, Devices, Slot};
pub use stop::{install_ctrlc, StopFlag};

use progress::Reporter;

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

impl From<anyhow::Error> for RunFailure {
    /// The whole error chain becomes the reason (`outer: inner: cause`).
    fn from(e: anyhow::Error) -> Self {
        RunFailure::Failed { reason: format!("{e:#}") }
    }
}

/// Runs one job on one slot.
pub trait Executor: Sync {
    fn execute(&self, job: &Job, slot: &Slot, ctl: &RunControl) -> Result<(), RunFailure>;

    /// What `slot` runs on, for the run's provenance.json: libtorch, the
    /// device, the CPU. The default knows only the device's name.
    fn machine(&self, slot: &Slot) -> crate::record::Machine {
        crate::record::Machine::unknown(&slot.device.to_string())
    }
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
    /// Not started because a status.json or summary.json cannot be read
    /// (each said on the terminal with what to do; `sweep status` lists them).
    pub damaged: usize,
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
            (self.damaged, "damaged (left alone; `sweep status` says what to do)"),
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
pub(super) enum JobEnd {
    Done,
    Failed(String),
    /// Stopped on request (None) or suspended, with the reason.
    Interrupted(Option<String>),
    SkippedDone,
    SkippedFailed,
    Elsewhere,
    /// Its files cannot be read: left alone, with what to do.
    Damaged(String),
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
            JobEnd::Damaged(_) => out.damaged += 1,
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
    provenance::begin(job, executor.machine(slot), status.attempts);
    reporter.started(job, slot);
    let ctl = {
        let (reporter, id, dir) = (reporter.clone(), job.entry.run_id.clone(), job.dir.clone());
        RunControl::new(stop.clone(), move |p| reporter.progress(&id, p))
            .with_epoch_sink(move |n| record_epoch(&dir, n))
    };
    let result = catch_unwind(AssertUnwindSafe(|| executor.execute(job, slot, &ctl))).unwrap_or_else(|payload| {
        Err(RunFailure::Failed { reason: format!("panicked: {}", panic_message(&*payload)) })
    });
    record_end(job, status, result)
}

/// The epochs done into status.json, as the run closes each (best effort:
/// metrics.jsonl holds the record; a full disk shows up in the run's writes).
fn record_epoch(dir: &RunDir, done: usize) {
    if let Ok(mut status) = dir.status() {
        status.epoch = done;
        let _ = dir.set_status(&status);
    }
}

fn store_error(e: anyhow::Error) -> JobEnd {
    JobEnd::Failed(format!("store: {e:#}"))
}

fn damaged(d: crate::store::Damaged) -> JobEnd {
    JobEnd::Damaged(d.message)
}

/// Take `job` for `slot`: its lock and its status marked running (one more
/// attempt, this process and host, the slot's device). Err: how the job ends
/// without running (done, failed and not retried, running elsewhere, damaged,
/// or a store error). A damaged status.json beside an intact summary.json is
/// rebuilt as done by [`RunDir::status`].
fn claim(job: &Job, slot: &Slot, opts: &ScheduleOptions) -> Result<(RunLock, crate::record::RunStatus), JobEnd> {
    let skip = |state: RunState| match state {
        RunState::Done => Err(JobEnd::SkippedDone),
        RunState::Failed if !opts.retry_failed => Err(JobEnd::SkippedFailed),
        _ => Ok(()),
    };
    skip(job.dir.status().map_err(damaged)?.state)?;
    let lock = match RunLock::try_acquire(&job.dir) {
        Ok(Some(l)) => l,
        Ok(None) => return Err(JobEnd::Elsewhere),
        Err(e) => return Err(store_error(e)),
    };
    // Read again under the lock: another process may have finished it meanwhile.
    let mut status = job.dir.status().map_err(damaged)?;
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
    provenance::end(&job.dir, state, reason.as_deref());
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

/// Write the plan into the store, with the SHA-256 of its sweep file's text,
/// and create every run's folder (config.toml written once): the jobs for
/// [`run_jobs`], in plan order.
pub fn prepare_jobs(store: &Store, expanded: &crate::config::expand::Expanded) -> anyhow::Result<Vec<Job>> {
    let mut plan = expanded.plan.clone();
    if plan.source_sha256.is_none() {
        plan.source_sha256 = provenance::file_sha256(std::path::Path::new(&plan.source));
    }
    store.write_plan(&plan)?;
    expanded
        .runs
        .iter()
        .map(|(entry, config)| {
            let dir = RunDir::create(store, entry, config)?;
            Ok(Job { entry: entry.clone(), config: config.clone(), dir })
        })
        .collect()
}
