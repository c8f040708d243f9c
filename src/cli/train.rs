//! `sweep train RUN.toml`: one run outside any sweep (a one-run plan in its own store).
use std::path::PathBuf;

use clap::Args;

use crate::config::expand::LoadOptions;
use crate::config::Environment;
use crate::schedule::{DeviceSpec, Devices};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A run-config TOML file (the keys of a sweep file's `base` table).
    pub file: PathBuf,
    /// Store folder (default: runs/train-<file stem>).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Device: cpu or cuda:N (default: the first GPU, else the CPU).
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// Override a setting of the file (repeatable), e.g. `--set train.epochs=5`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Never download a missing public dataset (an error instead).
    #[arg(long)]
    pub offline: bool,
    /// Write no TensorBoard event files.
    #[arg(long)]
    pub no_tensorboard: bool,
}

pub fn exec(a: &TrainArgs, env: &Environment) -> anyhow::Result<i32> {
    let stem = a.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    let store = a.store.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("train-{stem}")));
    let opts = LoadOptions { overrides: a.set.clone(), ..LoadOptions::with_environment(env) };
    let config = crate::config::expand::load_run_config_with(&a.file, &opts)?;
    let expanded = crate::config::expand::single(&format!("train-{stem}"), config, &a.file, store.clone());
    let settings = crate::ops::RunSettings {
        store,
        devices: a.device.map(|d| Devices::List(vec![d])).unwrap_or(Devices::Auto),
        per_device: 1,
        retry_failed: true,
        isolate: false,
        report_dir: None,
        threads: None,
        progress: crate::schedule::ProgressMode::Auto,
        offline: a.offline,
        tensorboard: !a.no_tensorboard,
        data_mirror: env.data_mirror.clone(),
    };
    let run = crate::ops::run_sweep(expanded, &settings)?;
    Ok(run.outcome.exit_code())
}
