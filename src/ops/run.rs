//! Running runs in this process: a sweep's unfinished runs ([`run_sweep`]) and one
//! Slurm array task's runs ([`run_slurm_task`]). Both build their jobs, then share
//! [`execute`]: the devices, their slots, the stop flag (Ctrl-C, Slurm's SIGTERM)
//! and the executor (in-process, or one child process per run).
use std::path::{Path, PathBuf};

use crate::config::Expanded;
use crate::schedule::{Devices, ProgressMode, SweepOutcome};

/// How a sweep's runs are run (`sweep run`, `sweep train`), resolved from the
/// command line and the sweep file.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The store folder (the command line's, else the sweep file's).
    pub store: PathBuf,
    /// `auto` (every GPU, else the CPU), or a list.
    pub devices: Devices,
    /// Concurrent runs per device (at least 1).
    pub per_device: usize,
    /// Run the runs that failed before again.
    pub retry_failed: bool,
    /// Each run in its own child process (`sweep exec-run`).
    pub isolate: bool,
    /// Where the report is rendered when the runs end; `None`: no report.
    pub report_dir: Option<PathBuf>,
    /// libtorch CPU threads per process (`None`: libtorch's choice).
    pub threads: Option<i32>,
    pub progress: ProgressMode,
    /// A missing public dataset is an error instead of being fetched.
    pub offline: bool,
    /// TensorBoard event files (`--no-tensorboard`: none); the sweep file's
    /// `tensorboard = false` turns them off as well.
    pub tensorboard: bool,
    /// A mirror of the public datasets' downloads (`$SWEEP_DATA_MIRROR`).
    pub data_mirror: Option<String>,
}

/// What [`run_sweep`] ended with.
#[derive(Debug)]
pub struct SweepRun {
    pub outcome: SweepOutcome,
    /// The rendered report, when one was asked for.
    pub report: Option<PathBuf>,
}

#[cfg(not(feature = "torch"))]
pub fn run_sweep(_: Expanded, _: &RunSettings) -> anyhow::Result<SweepRun> {
    Err(super::no_torch("train (it can plan and report)"))
}

#[cfg(not(feature = "torch"))]
pub fn run_slurm_task(_: &Path, _: usize, _: &Devices) -> anyhow::Result<SweepOutcome> {
    Err(super::no_torch("run a Slurm task"))
}

/// Every run of `expanded` not yet done, across the devices of `s`; then the
/// sweep's report when `s.report_dir` asks for one.
#[cfg(feature = "torch")]
pub fn run_sweep(expanded: Expanded, s: &RunSettings) -> anyhow::Result<SweepRun> {
    use crate::schedule::ScheduleOptions;
    use crate::store::Store;
    anyhow::ensure!(s.per_device >= 1, "--per-device must be at least 1");
    let store = Store::open(&s.store)?;
    let jobs = crate::schedule::prepare_jobs(&store, &expanded)?;
    ensure_data(&jobs, s.offline, s.data_mirror.clone())?;
    let tensorboard = s.tensorboard && expanded.plan.tensorboard;
    if tensorboard {
        crate::tensorboard::write_experiment_or_warn(&store, &expanded);
    }
    let devices = crate::runtime::device::resolve(&s.devices);
    if let Some(t) = s.threads {
        tch::set_num_threads(t);
    }
    let names: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
    eprintln!(
        "sweep `{}`: {} runs, store {}, devices {} x {} per device{}",
        expanded.plan.sweep,
        jobs.len(),
        store.root().display(),
        names.join(","),
        s.per_device,
        if s.isolate { ", isolated processes" } else { "" }
    );
    let opts = ScheduleOptions { retry_failed: s.retry_failed, progress: s.progress };
    let outcome = execute(&jobs, &devices, s.per_device, &opts, s.isolate, tensorboard)?;
    eprintln!("{outcome}");
    let report = match &s.report_dir {
        Some(out) => Some(crate::report::write_report(store.root(), out)?),
        None => None,
    };
    Ok(SweepRun { outcome, report })
}

/// The runs of line `index` of a Slurm submission's manifest, all at once on the
/// task's devices (see [`crate::backend::slurm`]); each is locked and its status
/// kept as in any sweep.
#[cfg(feature = "torch")]
pub fn run_slurm_task(manifest: &Path, index: usize, devices: &Devices) -> anyhow::Result<SweepOutcome> {
    use crate::backend::slurm::{read_task, task_decision, TaskDecision};
    use crate::schedule::{Job, ScheduleOptions};
    use crate::store::RunDir;

    let mut jobs = Vec::new();
    for run in read_task(manifest, index)? {
        let dir = RunDir::open(&run.dir)?;
        match task_decision(&run, &dir.status()?) {
            TaskDecision::Run => {}
            TaskDecision::SkipDone => {
                eprintln!("[sweep] {} already done, skipped", dir.run_id());
                continue;
            }
            TaskDecision::SkipFailedSince => {
                eprintln!("[sweep] {} failed since it was submitted (a requeued task?), not run again", dir.run_id());
                continue;
            }
        }
        jobs.push(Job::from_dir(dir)?);
    }
    if jobs.is_empty() {
        return Ok(SweepOutcome::default());
    }
    let devices = crate::runtime::device::resolve(devices);
    // The task's runs were chosen at submission; a failed one among them is
    // deliberately retried (`submit --retry-failed`), once: see task_decision.
    let opts = ScheduleOptions { retry_failed: true, progress: ProgressMode::Lines };
    // Every run of the task at once: packing is what --runs-per-task asked for.
    let per_device = jobs.len().div_ceil(devices.len());
    // The sweep file's `tensorboard` key reaches the runs through the store's plan.
    execute(&jobs, &devices, per_device, &opts, false, true)
}

/// Every dataset an unfinished run reads is there (or fetched) before any run starts.
#[cfg(feature = "torch")]
fn ensure_data(jobs: &[crate::schedule::Job], offline: bool, mirror: Option<String>) -> anyhow::Result<()> {
    use crate::data::fetch::{data_needs, ensure_present};
    let pending =
        jobs.iter().filter(|j| j.dir.status().map(|s| s.state != crate::record::RunState::Done).unwrap_or(true));
    let needs = data_needs(pending.map(|j| &j.config));
    ensure_present(&needs, offline, mirror)
}

/// The jobs across `per_device` slots of each device until they end or a stop
/// (Ctrl-C, SIGTERM) checkpoints them.
#[cfg(feature = "torch")]
fn execute(
    jobs: &[crate::schedule::Job],
    devices: &[crate::schedule::DeviceSpec],
    per_device: usize,
    opts: &crate::schedule::ScheduleOptions,
    isolate: bool,
    tensorboard: bool,
) -> anyhow::Result<SweepOutcome> {
    use crate::schedule::{self, StopFlag};
    let slots = schedule::make_slots(devices, per_device);
    let stop = StopFlag::new();
    schedule::install_ctrlc(&stop)?;
    Ok(if isolate {
        let exe = schedule::IsolatedExecutor::current()?
            .with_machine_probe(crate::runtime::provenance::machine)
            .with_tensorboard(tensorboard);
        schedule::run_jobs(jobs, &slots, &exe, &stop, opts)
    } else {
        let options = crate::train::RunOptions { tensorboard };
        let exe = crate::train::executor::TorchExecutor { options, ..Default::default() };
        schedule::run_jobs(jobs, &slots, &exe, &stop, opts)
    })
}
