//! The in-process executor: runs jobs of the scheduler on libtorch devices,
//! loading each dataset once per process and once per device.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::{DataConfig, RunConfig};
use crate::data::{self, Dataset, DeviceData};
use crate::schedule::{DeviceSpec, Executor, Job, RunControl, RunFailure, Slot};

use super::LoadedData;
use crate::runtime::device::to_tch;

/// Datasets shared by all runs of the process: the uint8 images are held once on
/// the host and once per device, however many runs use them.
#[derive(Default)]
pub struct DataCache {
    host: Mutex<HashMap<String, Arc<Dataset>>>,
    device: Mutex<HashMap<(String, String), Arc<LoadedData>>>,
}

/// Everything that decides which images a run sees (not the run's own seed,
/// except through `limit`, whose subset depends on it).
fn data_key(cfg: &RunConfig) -> String {
    let d: &DataConfig = &cfg.data;
    let seed = if d.limit.is_some() { cfg.seed } else { 0 };
    format!("{}#{seed}", serde_json::to_string(d).unwrap_or_default())
}

impl DataCache {
    pub fn get(&self, cfg: &RunConfig, device: DeviceSpec) -> Result<Arc<LoadedData>, data::DataError> {
        let key = data_key(cfg);
        let dkey = (key.clone(), device.to_string());
        let mut dev = self.device.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = dev.get(&dkey) {
            return Ok(d.clone());
        }
        let ds = {
            let mut host = self.host.lock().unwrap_or_else(|e| e.into_inner());
            match host.get(&key) {
                Some(ds) => ds.clone(),
                None => {
                    let ds = Arc::new(data::load(cfg)?);
                    host.insert(key, ds.clone());
                    ds
                }
            }
        };
        let on_device = DeviceData::new(&ds, to_tch(device));
        // The copy ran on the loading run's stream; the other runs read the
        // images from theirs, so it must be complete before anyone uses it.
        crate::runtime::device::synchronize(to_tch(device));
        let loaded = Arc::new(LoadedData { dataset: ds, on_device });
        dev.insert(dkey, loaded.clone());
        Ok(loaded)
    }
}

#[derive(Default)]
pub struct TorchExecutor {
    pub cache: DataCache,
    /// What every run of this executor is asked beyond its config.
    pub options: super::RunOptions,
}

impl Executor for TorchExecutor {
    fn machine(&self, slot: &Slot) -> crate::record::Machine {
        crate::runtime::provenance::machine(slot.device)
    }

    fn execute(&self, job: &Job, slot: &Slot, ctl: &RunControl) -> Result<(), RunFailure> {
        if let DeviceSpec::Cuda(i) = slot.device {
            // Each worker thread launches on a stream of its own, so runs packed
            // on one GPU overlap (the dataset copy is synchronised in `get`).
            crate::runtime::device::use_own_cuda_stream(i);
        }
        let data = self
            .cache
            .get(&job.config, slot.device)
            .map_err(|e| RunFailure::Failed { reason: format!("loading the data: {e}") })?;
        super::run_with(&job.config, &job.dir, &data, to_tch(slot.device), ctl, self.options)
            .map_err(|f| suspend_if_disk_full(f, job.dir.path()))
    }
}

/// Free space below which a failed write is taken as a full disk (libtorch's
/// own writer reports "file write failed" without the operating system's reason).
const LOW_SPACE_BYTES: u64 = 64 << 20;

/// A run that failed because the store's disk is full is not at fault: it is
/// suspended (recorded as interrupted, resumed by the next `sweep run`) with a
/// one-line reason that says what to do. Its checkpoints and every finished
/// run's files are untouched, since every write is atomic.
fn suspend_if_disk_full(f: RunFailure, dir: &std::path::Path) -> RunFailure {
    let RunFailure::Failed { reason } = &f else { return f };
    let says_full = ["No space left on device", "os error 28", "Disk quota exceeded", "os error 122"]
        .iter()
        .any(|s| reason.contains(s));
    let free = fs4::available_space(dir).ok();
    if !(says_full || free.is_some_and(|b| b < LOW_SPACE_BYTES)) {
        return f;
    }
    let free = free.map(|b| format!(" ({} free)", crate::config::human_bytes(b))).unwrap_or_default();
    RunFailure::Suspended {
        reason: format!(
            "the disk holding {} is full{free}: {}; free some space and run `sweep run` again (it resumes from the last checkpoint)",
            dir.display(),
            crate::util::user_message(reason)
        ),
    }
}
