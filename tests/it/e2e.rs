//! The real binary on a real sweep: killed with SIGKILL mid-way and run again,
//! every run ends done exactly once and the finished ones are untouched.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A sweep file of two seeds of the tiny run (common::TINY_BASE_KEYS) named `name`,
/// with `rest` after the shared `[base]` keys.
fn tiny_sweep(name: &str, rest: &str) -> String {
    format!("\nname = \"{name}\"\nseeds = [0, 1]\n\n[base]\n{}{rest}", super::common::TINY_BASE_KEYS)
}

/// Two seeds x two settings of a tiny run.
fn sweep_text() -> String {
    tiny_sweep(
        "e2e",
        r#""train.epochs" = 3
"train.batch_size" = 16
"train.checkpoint_every" = 1
"eval.every" = 3
"eval.kmeans_restarts" = 2
"eval.tsne" = false

[axes]
"loss.gamma" = [0.0, 1.0]
"#,
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
        .args([
            "run",
            file.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--devices",
            "cpu",
            "--no-report",
            "--plain",
        ])
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
        let st: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("status.json")).unwrap()).unwrap();
        assert_eq!(st["attempts"], 1, "finished run started once");
    }
    for p in &all {
        let st: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("status.json")).unwrap()).unwrap();
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

/// Two runs packed into one process (`--per-device 2`, one thread each) end with
/// the same weights, byte for byte, as the same runs one at a time: torch's
/// process-global RNG is seeded and drawn under one lock (src/train/rng.rs), so
/// packed runs cannot take each other's augmentations.
#[test]
fn packed_runs_equal_the_same_runs_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pack.toml");
    let text = tiny_sweep(
        "pack",
        r#""train.epochs" = 2
"train.batch_size" = 16
"eval.every" = 0
"eval.kmeans_restarts" = 1
"eval.tsne" = false
"#,
    );
    std::fs::write(&file, text).unwrap();
    let mut weights = Vec::new();
    for per_device in ["1", "2"] {
        let store = tmp.path().join(format!("store-{per_device}"));
        let out = Command::new(sweep_bin())
            .args(["run", file.to_str().unwrap(), "--store", store.to_str().unwrap(), "--devices", "cpu"])
            .args(["--per-device", per_device, "--no-report", "--plain"])
            .env("OMP_NUM_THREADS", "1")
            .output()
            .expect("starting sweep");
        assert!(out.status.success(), "sweep run --per-device {per_device}: {}", String::from_utf8_lossy(&out.stderr));
        let mut runs = done_runs(&store);
        runs.sort();
        assert_eq!(runs.len(), 2, "--per-device {per_device}: both runs done");
        let w: Vec<(String, Vec<u8>)> = runs
            .iter()
            .map(|r| {
                (
                    r.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(r.join("online.safetensors")).unwrap(),
                )
            })
            .collect();
        weights.push(w);
    }
    assert_eq!(weights[0].len(), weights[1].len());
    for ((id_a, a), (id_b, b)) in weights[0].iter().zip(&weights[1]) {
        assert_eq!(id_a, id_b, "same run ids");
        assert!(a == b, "run {id_a}: packed weights differ from the run alone");
    }
}

/// `sweep bench --compare` with a stand-in for the PyTorch side: the script it
/// embeds gets the configuration's batch, M, d', steps and device, each round's
/// figure is read back, and a failing Python is an error that says what it needs.
#[test]
fn bench_compare_runs_both_sides_and_reports_the_ratio() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let args_log = tmp.path().join("args.txt");
    let fake = tmp.path().join("python");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nhead -c 200 \"$1\" | grep -q ConCURL || exit 3\nshift\necho \"$@\" >> {}\necho \"cpu-small images_per_sec=100.0 median_step=0.08\"\n", args_log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let compare = |rounds: &str| {
        Command::new(sweep_bin())
            .args([
                "bench",
                "cpu-small",
                "--compare",
                "--rounds",
                rounds,
                "--steps",
                "1",
                "--warmup",
                "0",
                "--batch",
                "8",
            ])
            .arg("--python")
            .arg(&fake)
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap()
    };
    let out = compare("2");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.lines().any(|l| l.contains("PyTorch eager + kornia (NCHW):") && l.ends_with(" 100.0 images/s")),
        "{stdout}"
    );
    let ratio: f64 = stdout.lines().find_map(|l| l.trim().strip_prefix("ratio: ")).unwrap().parse().unwrap();
    let ours: f64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("sweep:"))
        .unwrap()
        .trim()
        .trim_end_matches(" images/s")
        .trim()
        .parse()
        .unwrap();
    assert!((ratio - ours / 100.0).abs() < 0.01, "ratio {ratio} vs {ours} / 100");
    let log = std::fs::read_to_string(&args_log).unwrap();
    assert_eq!(log.lines().count(), 2, "one PyTorch run per round: {log}");
    assert!(
        log.lines().all(|l| l == "cpu-small --steps 1 --warmup 0 --batch 8 --m 100 --d-prime 64 --device cpu"),
        "{log}"
    );

    std::fs::write(&fake, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'kornia'\" >&2\nexit 1\n").unwrap();
    let out = compare("1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("No module named 'kornia'") && stderr.contains("needs torch 2.11.0 and kornia"),
        "{stderr}"
    );
}
