//! Damage a run can survive: a corrupt newest checkpoint (the previous one is
//! kept and used), an unreadable checkpoint everywhere (one clear line, the
//! C++ backtrace only in log.txt), and a full disk (the run is suspended, not
//! failed, finished runs are untouched, and the next `sweep run` finishes it).
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sweep::config::run_id;
use sweep::record::{PlanEntry, RunState};
use sweep::schedule::{
    make_slots, run_jobs, DeviceSpec, Job, ProgressMode, RunControl, RunFailure, ScheduleOptions, StopFlag,
};
use sweep::store::{RunDir, Store};
use sweep::train::executor::TorchExecutor;
use tch::{Device, Tensor};

use super::train::{load, tiny_config};

fn job(store: &Store, cfg: &sweep::config::RunConfig) -> Job {
    let entry = PlanEntry { run_id: run_id(cfg), blocks: vec!["main".into()], swept: Default::default() };
    let dir = RunDir::create(store, &entry, cfg).unwrap();
    Job { entry, config: cfg.clone(), dir }
}

fn weights(dir: &RunDir) -> Vec<(String, Tensor)> {
    let mut w = Tensor::read_safetensors(dir.path().join("online.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn same(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((na, ta), (nb, tb))| na == nb && ta.equal(tb))
}

/// Trains `dir` and stops it at the first progress report of epoch `stop_at`
/// (after the checkpoints of the earlier epochs were written).
fn train_until_epoch(cfg: &sweep::config::RunConfig, dir: &RunDir, data: &sweep::train::LoadedData, stop_at: usize) {
    let stop = StopFlag::new();
    let fired = Arc::new(AtomicBool::new(false));
    let (s2, f2) = (stop.clone(), fired.clone());
    let ctl = RunControl::new(stop.clone(), move |p| {
        if p.epoch == stop_at && !f2.swap(true, Ordering::SeqCst) {
            s2.request();
        }
    });
    assert_eq!(sweep::train::run(cfg, dir, data, Device::Cpu, &ctl), Err(RunFailure::Interrupted));
}

fn ot_files(ckpt: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ckpt)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ot"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_corrupt_newest_checkpoint_falls_back_to_the_previous_one() {
    let _rng = crate::common::torch_rng();
    let cfg = tiny_config(64, 3); // 12 steps an epoch, a checkpoint after every epoch
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let straight = job(&Store::open(&tmp.path().join("straight")).unwrap(), &cfg);
    sweep::train::run(&cfg, &straight.dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();

    let j = job(&store, &cfg);
    train_until_epoch(&cfg, &j.dir, &data, 3);
    let ckpt = j.dir.checkpoint_dir();
    // The stop's checkpoint (mid epoch 3) and the one after epoch 2 are kept.
    let files = ot_files(&ckpt);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(ckpt.join("previous.json").is_file());
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("last.json")).unwrap()).unwrap();
    let newest = ckpt.join(last["file"].as_str().unwrap());
    std::fs::write(&newest, b"not a checkpoint").unwrap();

    sweep::train::run(&cfg, &j.dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    assert!(same(&weights(&straight.dir), &weights(&j.dir)), "resumed from epoch 2, the run ends as if never stopped");
    assert_eq!(j.dir.read_metrics().unwrap().len(), 3, "no epoch logged twice");
    assert!(newest.with_extension("ot.unreadable").is_file(), "the damaged file is set aside, not deleted");
}

#[test]
fn no_readable_checkpoint_fails_in_one_line_and_the_backtrace_goes_to_the_log() {
    let _rng = crate::common::torch_rng();
    let cfg = tiny_config(64, 3);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let j = job(&store, &cfg);
    train_until_epoch(&cfg, &j.dir, &load(&cfg), 3);
    for f in ot_files(&j.dir.checkpoint_dir()) {
        std::fs::write(j.dir.checkpoint_dir().join(f), b"garbage").unwrap();
    }
    let exe = TorchExecutor::default();
    let slots = make_slots(&[DeviceSpec::Cpu], 1);
    let opts = ScheduleOptions { retry_failed: false, progress: ProgressMode::Quiet };
    let out = run_jobs(std::slice::from_ref(&j), &slots, &exe, &StopFlag::new(), &opts);
    assert_eq!(out.failed, 1, "{out}");
    let st = j.dir.status().unwrap();
    assert_eq!(st.state, RunState::Failed);
    let reason = st.reason.unwrap();
    assert!(!reason.contains('\n') && !reason.contains("frame #") && !reason.contains("Exception raised"), "{reason}");
    assert!(reason.contains("delete") && reason.contains("checkpoints"), "the remedy is kept: {reason}");
    let log = std::fs::read_to_string(j.dir.log_path()).unwrap();
    assert!(log.contains("the whole message") && log.contains(&reason[..40]), "{log}");
}

/// Mounts a tmpfs of `size` at `dir` (root only); None (and a loud skip) elsewhere.
fn small_tmpfs(dir: &Path, size: &str) -> Option<Unmount> {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the full-disk test mounts a tmpfs and needs root");
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.to_str().unwrap()])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: cannot mount a tmpfs at {}", dir.display());
        return None;
    }
    Some(Unmount(dir.to_path_buf()))
}

struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "lock") {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_full_disk_suspends_the_run_and_the_next_run_finishes_it() {
    let _rng = crate::common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    let Some(_guard) = small_tmpfs(&mnt, "96m") else { return };
    let store = Store::open(&mnt.join("store")).unwrap();
    let done_cfg = tiny_config(16, 1);
    let mut next_cfg = tiny_config(16, 2);
    next_cfg.seed = 11;
    let finished = job(&store, &done_cfg);
    let next = job(&store, &next_cfg);
    let exe = TorchExecutor::default();
    let slots = make_slots(&[DeviceSpec::Cpu], 1);
    let opts = ScheduleOptions { retry_failed: false, progress: ProgressMode::Quiet };
    assert_eq!(run_jobs(std::slice::from_ref(&finished), &slots, &exe, &StopFlag::new(), &opts).done, 1);
    let before = tree_bytes(finished.dir.path());

    // Fill the disk but for a few KiB: the next run cannot write a checkpoint.
    let filler = mnt.join("filler");
    let free = fs4::available_space(&mnt).unwrap();
    std::fs::write(&filler, vec![0u8; (free - 32 * 1024) as usize]).unwrap();
    let both = [finished.clone(), next.clone()];
    let out = run_jobs(&both, &slots, &exe, &StopFlag::new(), &opts);
    assert_eq!((out.done, out.failed, out.interrupted), (0, 0, 1), "{out}");
    let st = next.dir.status().unwrap();
    assert_eq!(st.state, RunState::Interrupted);
    let reason = st.reason.unwrap();
    assert!(reason.contains("is full") && reason.contains("sweep run") && !reason.contains('\n'), "{reason}");
    assert_eq!(tree_bytes(finished.dir.path()), before, "the finished run is untouched");

    std::fs::remove_file(&filler).unwrap();
    let out = run_jobs(&both, &slots, &exe, &StopFlag::new(), &opts);
    assert_eq!(out.done, 1, "{out}");
    assert_eq!(next.dir.status().unwrap().state, RunState::Done);
    assert_eq!(tree_bytes(finished.dir.path()), before);
}
