//! Checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! `checkpoints/step-N.ot` holds the online and target weights under their
//! VarStore names (`online.*`, `target.*`: the parameter names are the format),
//! the optimiser's state ([`crate::train::optim`]'s `state()`: `adam.exp_avg` and
//! `adam.exp_avg_sq` for Adam, `sgd.momentum` for SGD and LARS, and the
//! per-parameter step counts `optim.steps`), and the M transforms
//! (`transforms`); `checkpoints/last.json` holds the counters and names the
//! tensor file. The tensor file is written first
//! (atomically), the JSON is then replaced atomically, and the checkpoint it
//! replaces is kept as `previous.json` with its tensor file until the next one
//! is complete: a kill at any moment leaves a consistent pair on disk, and a
//! damaged newest checkpoint falls back to the previous one. No RNG state is
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

/// The checkpoint before the newest: kept until the next one is complete, so a
/// damaged newest checkpoint costs only the epochs since the one before.
fn previous_meta_path(dir: &Path) -> PathBuf {
    dir.join("previous.json")
}

/// Writes `step-N.ot` then `last.json`; `meta.file` is set here. The checkpoint
/// that was newest becomes `previous.json` (with its tensor file); older tensor
/// files are removed only once the new pair is complete.
pub fn save(dir: &Path, meta: &mut CheckpointMeta, tensors: &[(String, Tensor)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = format!("step-{}.ot", meta.global_step);
    let ot = dir.join(&file);
    // libtorch's file writer aborts the process when a write fails (its
    // destructor throws: a full disk would kill every run of the process), so
    // the archive is built in memory and written by us, atomically.
    let bytes = serialize(tensors).context("serialising the checkpoint")?;
    crate::util::write_atomic(&ot, &bytes).with_context(|| format!("writing checkpoint {}", ot.display()))?;
    meta.file = file.clone();
    let last = meta_path(dir);
    let previous: Option<CheckpointMeta> = crate::util::read_json(&last).ok();
    let previous = previous.filter(|p| p.file != file && dir.join(&p.file).is_file());
    if let Some(p) = &previous {
        crate::util::write_json_atomic(&previous_meta_path(dir), p)?;
    }
    crate::util::write_json_atomic(&last, meta)?;
    // Every tensor file but the newest two is now unreferenced.
    let keep = previous.map(|p| p.file);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".ot") && name != file && Some(&name) != keep.as_ref() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// A writer into a shared buffer: tch wants an owned `'static` writer.
#[derive(Clone, Default)]
struct SharedBuf(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The checkpoint archive (the format `Tensor::load_multi` reads) as bytes.
fn serialize(tensors: &[(String, Tensor)]) -> anyhow::Result<Vec<u8>> {
    let buf = SharedBuf::default();
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::save_multi_to_stream(&named, buf.clone())?;
    Ok(buf.0.take())
}

/// One checkpoint (metadata file and the tensor file it names), read whole.
fn read(dir: &Path, json: &Path) -> anyhow::Result<Checkpoint> {
    let meta: CheckpointMeta = crate::util::read_json(json)?;
    let ot = dir.join(&meta.file);
    let tensors = Tensor::load_multi(&ot).with_context(|| format!("reading checkpoint {}", ot.display()))?;
    Ok(Checkpoint { meta, tensors })
}

/// The newest readable checkpoint, if any. An unreadable newest one falls back
/// to the previous one with a warning naming both; only when neither can be
/// read is this an error, and it says how to start over.
pub fn load(dir: &Path) -> anyhow::Result<Option<Checkpoint>> {
    let (last, prev) = (meta_path(dir), previous_meta_path(dir));
    if !last.exists() && !prev.exists() {
        return Ok(None);
    }
    let newest = if last.exists() { read(dir, &last) } else { Err(anyhow::anyhow!("{} is missing", last.display())) };
    let newest_err = match newest {
        Ok(c) => return Ok(Some(c)),
        Err(e) => e,
    };
    if prev.exists() {
        if let Ok(c) = read(dir, &prev) {
            let broken = dir.join(newest_meta_file(&last));
            tracing::warn!(
                "the newest checkpoint ({}, {}) cannot be read ({}); resuming from the previous one ({}, {}) instead",
                last.display(),
                broken.display(),
                crate::util::first_line(&format!("{newest_err:#}")),
                prev.display(),
                dir.join(&c.meta.file).display()
            );
            // The previous checkpoint becomes the newest again; the unreadable
            // tensor file is set aside (not deleted) so it can be inspected.
            if broken.is_file() && broken.extension().is_some_and(|e| e == "ot") {
                let _ = std::fs::rename(&broken, broken.with_extension("ot.unreadable"));
            }
            crate::util::write_json_atomic(&last, &c.meta)?;
            return Ok(Some(c));
        }
    }
    Err(newest_err.context(format!(
        "no readable checkpoint in {} (delete that folder to restart this run from scratch)",
        dir.display()
    )))
}

/// The tensor file a metadata file names, for messages ("?" when unreadable).
fn newest_meta_file(json: &Path) -> String {
    crate::util::read_json::<CheckpointMeta>(json).map(|m| m.file).unwrap_or_else(|_| "?".into())
}
