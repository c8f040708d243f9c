//! `sweep predict RUN_DIR --data SPEC|FOLDER [--out FILE]`: a finished run's
//! final weights applied to other images; writes `assignments.csv`'s columns.
use std::path::PathBuf;

use clap::Args;

use crate::config::{DatasetName, Split};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The finished run's folder in the store (holds config.toml, summary.json, checkpoints/).
    pub run_dir: PathBuf,
    /// A run-config TOML file whose [data] table names the dataset, or a folder
    /// of .jpg/.png images (unlabelled, sorted by name).
    #[arg(long, conflicts_with = "dataset", required_unless_present = "dataset")]
    pub data: Option<PathBuf>,
    /// The dataset, instead of --data FILE (e.g. --dataset mnist --root DIR --split test).
    #[arg(long)]
    pub dataset: Option<DatasetName>,
    /// Folder of the dataset's files (with --dataset).
    #[arg(long, requires = "dataset")]
    pub root: Option<PathBuf>,
    /// train, test or train+test (with --dataset; default: the paper's split).
    #[arg(long, requires = "dataset", value_parser = parse_split)]
    pub split: Option<Split>,
    /// Output CSV (default: predictions.csv in the run's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: crate::schedule::DeviceSpec,
}

fn parse_split(s: &str) -> Result<Split, String> {
    toml::Value::String(s.to_string())
        .try_into()
        .map_err(|_| format!("unknown split `{s}` (train, test or train+test)"))
}

#[cfg(not(feature = "torch"))]
pub fn exec(_: &PredictArgs, _: &crate::config::Environment) -> anyhow::Result<i32> {
    Err(super::no_torch("predict with a trained model"))
}

#[cfg(feature = "torch")]
pub fn exec(a: &PredictArgs, env: &crate::config::Environment) -> anyhow::Result<i32> {
    use crate::config::DataSpec;
    use crate::ops::PredictInput;

    let input = match (&a.data, a.dataset) {
        (Some(p), _) => PredictInput::Path(p.clone()),
        (None, Some(dataset)) => {
            PredictInput::Dataset(DataSpec { dataset, root: a.root.clone(), split: a.split, ..DataSpec::default() })
        }
        (None, None) => anyhow::bail!("give --data FILE|FOLDER or --dataset NAME"),
    };
    let done = crate::ops::predict(&a.run_dir, &input, a.device, a.out.as_deref(), &env.data_home)?;
    println!("{} images predicted with run {}: {}", done.images, done.run_id, done.out.display());
    Ok(0)
}
