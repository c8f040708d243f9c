//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! `checkpoints/step-N.ot` holds the online and target weights under their
//! VarStore names (`online.*`, `target.*`: the parameter names are the format),
//! Adam's moments, and the M transforms; `checkpoints/last.json` holds the
//! counters and names the tensor file. The tensor file is written first (under a
//! temporary name, then renamed), the JSON is then replaced atomically, and only
//! then are older tensor files removed: a kill at any moment leaves a consistent
//! pair on disk. No RNG state is
//! needed: torch's RNG is re-seeded from (seed, global step) at every step and the
//! data order from (seed, epoch), so position alone fixes all randomness.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tch::Tensor;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Epochs fully completed.
    pub epoch: usize,
    /// Steps done inside the current (incomplete) epoch.
    pub step_in_epoch: usize,
    /// Optimiser steps in total.
    pub global_step: usize,
    /// Running sums of the current epoch's loss terms (so a resumed epoch's means are right).
    pub epoch_sums: BTreeMap<String, f64>,
    /// Seconds spent training over all attempts.
    pub train_seconds: f64,
    /// The tensor file (in the same folder) this metadata belongs to.
    pub file: String,
}

pub struct Checkpoint {
    pub meta: CheckpointMeta,
    pub tensors: Vec<(String, Tensor)>,
}

pub fn meta_path(dir: &Path) -> PathBuf {
    dir.join("last.json")
}

/// Writes `step-N.ot` then `last.json`; `meta.file` is set here.
pub fn save(dir: &Path, meta: &mut CheckpointMeta, tensors: &[(String, Tensor)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = format!("step-{}.ot", meta.global_step);
    let ot = dir.join(&file);
    let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::save_multi(&named, &tmp).with_context(|| format!("writing checkpoint {}", tmp.display()))?;
    std::fs::rename(&tmp, &ot).with_context(|| format!("renaming {} to {}", tmp.display(), ot.display()))?;
    meta.file = file.clone();
    crate::util::write_json_atomic(&meta_path(dir), meta)?;
    // Older tensor files are now unreferenced.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".ot") && name != file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// The last complete checkpoint, if any.
pub fn load(dir: &Path) -> anyhow::Result<Option<Checkpoint>> {
    let json = meta_path(dir);
    if !json.exists() {
        return Ok(None);
    }
    let meta: CheckpointMeta = crate::util::read_json(&json)?;
    let ot = dir.join(&meta.file);
    let tensors = Tensor::load_multi(&ot).with_context(|| {
        format!("reading checkpoint {} (delete {} to restart this run from scratch)", ot.display(), dir.display())
    })?;
    Ok(Some(Checkpoint { meta, tensors }))
}
