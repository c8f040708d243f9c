//! The real binary on a real sweep: killed with SIGKILL mid-way and run again,
//! every run ends done exactly once and the finished ones are untouched.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Two seeds x two settings of a tiny run (common::TINY_BASE_KEYS).
fn sweep_text() -> String {
    format!(
        r#"
name = "e2e"
seeds = [0, 1]

[base]
{}"train.epochs" = 3
"train.batch_size" = 16
"train.checkpoint_every" = 1
"eval.every" = 3
"eval.kmeans_restarts" = 2
"eval.tsne" = false

[axes]
"loss.gamma" = [0.0, 1.0]
"#,
        super::common::TINY_BASE_KEYS
    )
}

fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

/// Runs whose status says done (the scheduler writes it after the summary).
fn done_runs(store: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(store.join("runs")) else { return vec![] };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::read_to_string(p.join("status.json")).is_ok_and(|s| s.contains("\"done\"")))
        .collect()
}

fn run_sweep(file: &Path, store: &Path) -> std::process::Child {
    Command::new(sweep_bin())
        .args(["run", file.to_str().unwrap(), "--store", store.to_str().unwrap(), "--devices", "cpu", "--no-report", "--plain"])
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting sweep")
}

#[test]
fn sigkill_mid_sweep_then_rerun_finishes_every_run_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("e2e.toml");
    std::fs::write(&file, sweep_text()).unwrap();
    let store = tmp.path().join("store");

    let mut child = run_sweep(&file, &store);
    let t0 = Instant::now();
    while done_runs(&store).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(300), "no run finished within 5 minutes");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sweep exited before the kill: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGKILL: no handler runs, nothing is flushed, locks die with the process.
    child.kill().unwrap();
    child.wait().unwrap();
    let finished: Vec<(PathBuf, SystemTime)> = done_runs(&store)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(p.join("summary.json")).unwrap().modified().unwrap();
            (p, m)
        })
        .collect();
    assert!(!finished.is_empty() && finished.len() < 4, "kill landed mid-sweep ({} done)", finished.len());

    let status = run_sweep(&file, &store).wait().unwrap();
    assert!(status.success(), "second run exits 0 once all runs are done");
    let all = done_runs(&store);
    assert_eq!(all.len(), 4, "every run done");
    for (p, m) in &finished {
        let now = std::fs::metadata(p.join("summary.json")).unwrap().modified().unwrap();
        assert_eq!(&now, m, "finished run {} was not run again", p.display());
        let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.join("status.json")).unwrap()).unwrap();
        assert_eq!(st["attempts"], 1, "finished run started once");
    }
    for p in &all {
        let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.join("status.json")).unwrap()).unwrap();
        assert_eq!(st["state"], "done");
        let metrics = std::fs::read_to_string(p.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 3, "each epoch logged once in {}", p.display());
    }

    // A third invocation has nothing to do and says so with exit 0.
    let status = run_sweep(&file, &store).wait().unwrap();
    assert!(status.success());
}

#[test]
fn doctor_reports_libtorch() {
    let out = Command::new(sweep_bin()).arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("libtorch: 2.11.0"), "{text}");
    assert!(text.contains("cpu:"), "{text}");
}

#[test]
fn binary_starts_from_another_folder_without_ld_library_path() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("sweep");
    std::fs::copy(sweep_bin(), &copy).unwrap();
    let out = Command::new(&copy).arg("doctor").env_remove("LD_LIBRARY_PATH").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
