//! `sweep run FILE`: every run of a sweep not yet done, across the chosen devices,
//! then the sweep's report.
use std::path::PathBuf;

use clap::Args;

use crate::config::Environment;
use crate::ops;
use crate::schedule::{Devices, ProgressMode};

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
    pub devices: Devices,
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
    /// Write no TensorBoard event files (the sweep file's `tensorboard = false`
    /// turns them off too).
    #[arg(long)]
    pub no_tensorboard: bool,
}

pub fn exec(a: &RunArgs, env: &Environment) -> anyhow::Result<i32> {
    let RunArgs {
        file,
        load,
        store,
        devices,
        per_device,
        retry_failed,
        isolate,
        no_report,
        threads,
        plain,
        offline,
        no_tensorboard,
    } = a;
    let expanded = crate::config::expand::load_sweep_with(file, &load.options(env))?;
    let settings = ops::RunSettings {
        store: store.clone().unwrap_or_else(|| expanded.store.clone()),
        devices: devices.clone(),
        per_device: *per_device,
        retry_failed: *retry_failed,
        isolate: *isolate,
        report_dir: (!no_report).then(|| PathBuf::from("reports")),
        threads: *threads,
        progress: if *plain { ProgressMode::Lines } else { ProgressMode::Auto },
        offline: *offline,
        tensorboard: !no_tensorboard,
        data_mirror: env.data_mirror.clone(),
    };
    let run = ops::run_sweep(expanded, &settings)?;
    if let Some(report) = &run.report {
        println!("report: {}", report.display());
    }
    Ok(run.outcome.exit_code())
}
