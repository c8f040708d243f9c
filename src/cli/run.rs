//! `sweep run FILE`: every run of a sweep not yet done, across the chosen devices,
//! then the sweep's report.
use std::path::PathBuf;

use clap::Args;

use crate::sweep::{self, Expanded};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The sweep file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub load: super::SweepLoadArgs,
    /// Store folder (default: the file's `store`, else runs/<name>).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Devices: `auto` (every GPU, else the CPU), `cpu`, or `cuda:0,cuda:1`.
    #[arg(long, default_value = "auto")]
    pub devices: String,
    /// Concurrent runs per device (pack several small runs onto one large GPU).
    #[arg(long, default_value_t = 1)]
    pub per_device: usize,
    /// Run the runs that failed before again.
    #[arg(long)]
    pub retry_failed: bool,
    /// Each run in its own child process (`sweep exec-run`), so that a crash or a
    /// CUDA abort cannot take the others down.
    #[arg(long)]
    pub isolate: bool,
    /// Do not render the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// libtorch CPU threads per process (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Plain log lines instead of progress bars.
    #[arg(long)]
    pub plain: bool,
    /// Never download: a public dataset missing from the data folder is an
    /// error instead of being fetched on first use.
    #[arg(long)]
    pub offline: bool,
}

/// What `run` and `train` share.
pub struct RunOptions {
    pub store: Option<PathBuf>,
    pub devices: String,
    pub per_device: usize,
    pub retry_failed: bool,
    pub isolate: bool,
    pub report: bool,
    pub threads: Option<i32>,
    pub plain: bool,
    pub offline: bool,
}

pub fn exec(a: &RunArgs) -> anyhow::Result<i32> {
    let expanded = sweep::expand::load_sweep_with(&a.file, &a.load.options())?;
    run_expanded(
        expanded,
        &RunOptions {
            store: a.store.clone(),
            devices: a.devices.clone(),
            per_device: a.per_device,
            retry_failed: a.retry_failed,
            isolate: a.isolate,
            report: !a.no_report,
            threads: a.threads,
            plain: a.plain,
            offline: a.offline,
        },
    )
}

#[cfg(not(feature = "torch"))]
pub fn run_expanded(_: Expanded, _: &RunOptions) -> anyhow::Result<i32> {
    Err(super::no_torch("train (it can plan and report)"))
}

#[cfg(feature = "torch")]
pub fn run_expanded(expanded: Expanded, o: &RunOptions) -> anyhow::Result<i32> {
    use crate::sweep::{ProgressMode, ScheduleOptions, StopFlag, Store};
    anyhow::ensure!(o.per_device >= 1, "--per-device must be at least 1");
    let store_path = o.store.clone().unwrap_or_else(|| expanded.store.clone());
    let store = Store::open(&store_path)?;
    let jobs = sweep::prepare_jobs(&store, &expanded)?;
    // Every dataset an unfinished run reads is there (or fetched) before any run starts.
    let pending =
        jobs.iter().filter(|j| j.dir.status().map(|s| s.state != crate::record::RunState::Done).unwrap_or(true));
    let needs = crate::data_fetch::data_needs(pending.map(|j| &j.config));
    let mirror = std::env::var(crate::data_fetch::MIRROR_ENV).ok().filter(|m| !m.is_empty());
    crate::data_fetch::ensure_present(&needs, o.offline, mirror)?;
    let devices = crate::train::device::resolve(&o.devices)?;
    if let Some(t) = o.threads {
        tch::set_num_threads(t);
    }
    let slots = sweep::make_slots(&devices, o.per_device);
    let stop = StopFlag::new();
    sweep::install_ctrlc(&stop)?;
    let names: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
    eprintln!(
        "sweep `{}`: {} runs, store {}, devices {} x {} per device{}",
        expanded.plan.sweep,
        jobs.len(),
        store.root().display(),
        names.join(","),
        o.per_device,
        if o.isolate { ", isolated processes" } else { "" }
    );
    let opts = ScheduleOptions {
        retry_failed: o.retry_failed,
        progress: if o.plain { ProgressMode::Lines } else { ProgressMode::Auto },
    };
    let outcome = if o.isolate {
        let exe = sweep::IsolatedExecutor::current()?;
        sweep::run_jobs(&jobs, &slots, &exe, &stop, &opts)
    } else {
        let exe = crate::train::executor::TorchExecutor::default();
        sweep::run_jobs(&jobs, &slots, &exe, &stop, &opts)
    };
    eprintln!("{outcome}");
    if o.report {
        let out = render_report(store.root())?;
        println!("report: {}", out.display());
    }
    Ok(if outcome.all_done() { 0 } else { 1 })
}

/// The sweep's report next to the others (reports/<sweep>.md).
#[cfg(feature = "torch")]
fn render_report(store: &std::path::Path) -> anyhow::Result<PathBuf> {
    crate::report::write_report(store, std::path::Path::new("reports"))
}
