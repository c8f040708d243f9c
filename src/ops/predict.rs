//! A finished run's final weights applied to other images ([`predict`], for
//! `sweep predict`): the data chosen, the prediction made, its CSV written.
use std::path::{Path, PathBuf};

use crate::config::DataSpec;
use crate::schedule::DeviceSpec;
use crate::train::predict::{read_data_spec, PredictData};

/// What to cluster.
#[derive(Debug, Clone)]
pub enum PredictInput {
    /// A folder of .jpg/.png images, or a TOML file whose `[data]` table names
    /// a dataset (its `data.root` resolved as in run files).
    Path(PathBuf),
    /// A dataset named on the command line.
    Dataset(DataSpec),
}

/// What [`predict`] wrote.
#[derive(Debug, Clone)]
pub struct Predicted {
    pub run_id: String,
    pub images: usize,
    pub out: PathBuf,
}

/// Predict with the finished run in `run_dir` on `device`, writing
/// assignments.csv's columns to `out` (default: predictions.csv in the run's
/// folder); `data_home` resolves `$SWEEP_DATA` in a data file.
pub fn predict(
    run_dir: &Path,
    input: &PredictInput,
    device: DeviceSpec,
    out: Option<&Path>,
    data_home: &Path,
) -> anyhow::Result<Predicted> {
    let data = match input {
        PredictInput::Path(p) if p.is_dir() => PredictData::Images(p.clone()),
        PredictInput::Path(p) => PredictData::Spec(read_data_spec(p, data_home)?),
        PredictInput::Dataset(spec) => PredictData::Spec(spec.clone()),
    };
    let pred = crate::train::predict::predict(run_dir, &data, crate::runtime::device::to_tch(device))?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| run_dir.join("predictions.csv"));
    pred.write_csv(&out)?;
    Ok(Predicted { run_id: pred.run_id.clone(), images: pred.assignments.indices.len(), out })
}
