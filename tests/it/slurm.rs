//! The Slurm backend: script generation, manifests, splitting and the submit
//! flow against stand-in `sbatch`/`scontrol`/`squeue` (no Slurm needed), and a
//! whole sweep through a real single-node Slurm on localhost
//! (`scripts/slurm-local.sh`).
use std::path::{Path, PathBuf};
use std::process::Command;

use sweep::backend::slurm::{
    array_script, dependency, manifest_text, parse_manifest_line, parse_max_array_size, pick, report_script,
    slurm_states, split_arrays, status_label, task_decision, ArraySpec, Layout, Pick, Queue, SlurmOptions, SlurmState,
    SubmissionRecord, SubmittedArray, TaskDecision, TaskRun,
};
use sweep::record::{RunState, RunStatus};
use sweep::store::{Observed, RunView};

fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

fn layout() -> Layout {
    Layout {
        dir: PathBuf::from("/shared/store/slurm/00000000042"),
        store: PathBuf::from("/shared/store"),
        sweep: "t5".to_string(),
        exe: PathBuf::from("/opt/sweep's bin/sweep"),
    }
}

fn runs(n: usize) -> Vec<TaskRun> {
    (0..n).map(|i| TaskRun { dir: PathBuf::from(format!("/shared/store/runs/r{i}")), attempts: i as u32 % 2 }).collect()
}

#[test]
fn arrays_split_at_max_array_size() {
    let s = |offset, count| ArraySpec { offset, count };
    assert_eq!(split_arrays(2500, 1001), vec![s(0, 1001), s(1001, 1001), s(2002, 498)]);
    assert_eq!(split_arrays(1001, 1001), vec![s(0, 1001)]);
    assert_eq!(split_arrays(1002, 1001), vec![s(0, 1001), s(1001, 1)]);
    assert_eq!(split_arrays(3, 1001), vec![s(0, 3)]);
    assert!(split_arrays(0, 1001).is_empty());
}

#[test]
fn max_array_size_is_read_from_scontrol() {
    let text = "Configuration data as of 2025-01-01T00:00:00\nMailProg                = /bin/mail\nMaxArraySize            = 40001\nMaxJobCount = 10000\n";
    assert_eq!(parse_max_array_size(text), Some(40001));
    assert_eq!(parse_max_array_size("MaxJobCount = 10000\n"), None);
}

#[test]
fn manifest_packs_runs_per_task_and_parses_back() {
    let rs = runs(5);
    let text = manifest_text(&rs, 2);
    assert_eq!(
        text,
        "0:/shared/store/runs/r0\t1:/shared/store/runs/r1\n\
         0:/shared/store/runs/r2\t1:/shared/store/runs/r3\n\
         0:/shared/store/runs/r4\n"
    );
    let back: Vec<TaskRun> = text.lines().flat_map(|l| parse_manifest_line(l).unwrap()).collect();
    assert_eq!(back, rs);
    assert_eq!(back[3].run_id(), "r3");
    assert_eq!(manifest_text(&rs, 1).lines().count(), 5);
    assert!(parse_manifest_line("x:/a").is_err(), "attempts must be a number");
    assert!(parse_manifest_line("/no/attempts").is_err());
}

#[test]
fn array_script_has_every_option_and_the_task_command() {
    let opts = SlurmOptions {
        partition: Some("gpu".into()),
        gres: Some("gpu:1".into()),
        time: Some("02:00:00".into()),
        cpus_per_task: Some(8),
        max_parallel: Some(4),
        runs_per_task: 3,
        sbatch: vec!["--account=lab".into(), "#SBATCH --qos=long".into()],
        devices: sweep::schedule::Devices::Auto,
    };
    let s = array_script(&layout(), &opts, ArraySpec { offset: 1001, count: 17 });
    assert!(s.starts_with("#!/bin/bash\n"), "{s}");
    for line in [
        "#SBATCH --job-name=sweep-t5\n",
        "#SBATCH --array=0-16%4\n",
        "#SBATCH --output=/shared/store/slurm/00000000042/logs/%A_%a.out\n",
        "#SBATCH --partition=gpu\n",
        "#SBATCH --gres=gpu:1\n",
        "#SBATCH --time=02:00:00\n",
        "#SBATCH --cpus-per-task=8\n",
        "#SBATCH --account=lab\n",
        "#SBATCH --qos=long\n",
        "exec '/opt/sweep'\\''s bin/sweep' exec-slurm-task '/shared/store/slurm/00000000042/manifest.txt' \"$((SLURM_ARRAY_TASK_ID + 1001))\" --devices 'auto'\n",
    ] {
        assert!(s.contains(line), "missing {line:?} in\n{s}");
    }
    // Every #SBATCH line comes before the first command (sbatch stops reading there).
    let first_cmd = s.lines().position(|l| !l.starts_with('#') && !l.trim().is_empty()).unwrap();
    assert!(s.lines().skip(first_cmd).all(|l| !l.starts_with("#SBATCH")), "{s}");

    let plain = array_script(&layout(), &SlurmOptions::default(), ArraySpec { offset: 0, count: 1 });
    assert!(plain.contains("#SBATCH --array=0-0\n"), "{plain}");
    assert!(!plain.contains("--partition") && !plain.contains("--gres"), "{plain}");
}

#[test]
fn report_job_runs_after_every_array() {
    let s = report_script(&layout(), &SlurmOptions::default(), Path::new("/shared/reports"));
    assert!(s.contains("exec '/opt/sweep'\\''s bin/sweep' report '/shared/store' --out '/shared/reports'\n"), "{s}");
    assert!(s.contains("#SBATCH --output=/shared/store/slurm/00000000042/logs/report-%j.out\n"), "{s}");
    assert_eq!(dependency(&["12".into(), "13".into()]), "--dependency=afterany:12:13");
}

#[test]
fn a_task_never_reruns_what_ended_since_submission() {
    let sub = TaskRun { dir: PathBuf::from("/s/runs/a"), attempts: 1 };
    let st = |state, attempts| RunStatus { state, attempts, ..RunStatus::pending() };
    assert_eq!(task_decision(&sub, &st(RunState::Done, 2)), TaskDecision::SkipDone);
    // Submitted as a retry of a failed run: run it.
    assert_eq!(task_decision(&sub, &st(RunState::Failed, 1)), TaskDecision::Run);
    // Failed again after submission (then requeued): not a second time.
    assert_eq!(task_decision(&sub, &st(RunState::Failed, 2)), TaskDecision::SkipFailedSince);
    // Stopped by Slurm (preemption, time limit) or killed: resume from the checkpoint.
    assert_eq!(task_decision(&sub, &st(RunState::Interrupted, 2)), TaskDecision::Run);
    assert_eq!(task_decision(&sub, &st(RunState::Running, 2)), TaskDecision::Run);
    assert_eq!(task_decision(&sub, &st(RunState::Pending, 1)), TaskDecision::Run);
}

#[test]
fn store_first_then_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("manifest.txt");
    let rs: Vec<TaskRun> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|id| TaskRun { dir: PathBuf::from("/s/runs").join(id), attempts: 0 })
        .collect();
    std::fs::write(&manifest, manifest_text(&rs, 2)).unwrap(); // tasks: [a b] [c d] [e]
    let record = SubmissionRecord {
        name: "1".into(),
        manifest,
        arrays: vec![
            SubmittedArray { job_id: "70".into(), offset: 0, count: 2 },
            SubmittedArray { job_id: "71".into(), offset: 2, count: 1 },
        ],
        report_job: "72".into(),
    };
    let queue = Queue::parse("70_1 RUNNING\n71_0 PENDING\n72 PENDING\n");
    let states = slurm_states(&[record], &queue).unwrap();
    assert_eq!(states["a"], SlurmState::Gone);
    assert_eq!(states["b"], SlurmState::Gone);
    assert_eq!(states["c"], SlurmState::Queued("RUNNING".into()));
    assert_eq!(states["d"], SlurmState::Queued("RUNNING".into()));
    assert_eq!(states["e"], SlurmState::Queued("PENDING".into()));

    let view = |observed| RunView { observed, ..RunView::new("x") };
    let gone = SlurmState::Gone;
    let queued = SlurmState::Queued("PENDING".into());
    assert_eq!(status_label(&view(Observed::New), Some(&queued)), "new (slurm pending)");
    assert_eq!(status_label(&view(Observed::State(RunState::Pending)), Some(&gone)), "pending (slurm task vanished)");
    // The store wins over the queue for runs it has seen end.
    assert_eq!(status_label(&view(Observed::State(RunState::Done)), Some(&gone)), "done");
    assert_eq!(status_label(&view(Observed::State(RunState::Failed)), Some(&queued)), "failed");
    assert_eq!(status_label(&view(Observed::New), None), "new");

    let failed = Observed::State(RunState::Failed);
    assert_eq!(pick(Observed::State(RunState::Done), Some(&gone), true), Pick::Done);
    assert_eq!(pick(Observed::State(RunState::Running), None, true), Pick::Running);
    assert_eq!(pick(Observed::New, Some(&queued), true), Pick::Queued);
    assert_eq!(pick(Observed::State(RunState::Pending), Some(&gone), false), Pick::Submit, "vanished");
    assert_eq!(pick(Observed::Stale, None, false), Pick::Submit);
    assert_eq!(pick(failed, Some(&gone), false), Pick::Failed);
    assert_eq!(pick(failed, Some(&gone), true), Pick::Submit);
    assert_eq!(pick(Observed::Damaged, None, true), Pick::Damaged, "left alone until repaired");
}

fn tiny_text() -> String {
    format!(
        r#"
name = "tiny"
seeds = [0, 1, 2]

[base]
{}"train.epochs" = 2
"train.batch_size" = 16
"eval.every" = 2
"eval.kmeans_restarts" = 2
"eval.tsne" = false
"#,
        crate::common::TINY_BASE_KEYS
    )
}

#[test]
fn dry_run_prints_the_scripts_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tiny.toml");
    std::fs::write(&file, tiny_text()).unwrap();
    let store = tmp.path().join("store");
    let out = Command::new(sweep_bin())
        .args(["submit", "--backend", "slurm", "--dry-run", "--runs-per-task", "2", "--max-parallel", "1"])
        .args(["--partition", "debug", "--sbatch", "--account=lab"])
        .arg("--store")
        .arg(&store)
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!store.exists(), "a dry run writes nothing");
    let manifest: Vec<&str> = text.lines().filter(|l| l.contains("/runs/")).collect();
    assert_eq!(manifest.len(), 2, "3 runs, 2 per task: 2 tasks\n{text}");
    assert_eq!(manifest[0].split('\t').count(), 2, "{text}");
    assert!(manifest[0].starts_with(&format!("0:{}", store.join("runs").display())), "{text}");
    assert!(text.contains("#SBATCH --array=0-1%1\n"), "{text}");
    assert!(text.contains("#SBATCH --partition=debug\n#SBATCH --account=lab\n"), "{text}");
    assert!(text.contains("exec-slurm-task"), "{text}");
    assert!(text.contains(&format!("'{}' report", sweep_bin())), "the tasks run this very binary\n{text}");
    assert!(text.contains("--dependency=afterany:<array-0>"), "{text}");
}

/// Stand-ins for Slurm's commands: `sbatch` logs its arguments and prints
/// increasing job ids, `scontrol` reports MaxArraySize = 2, `squeue` an empty queue.
fn fake_slurm(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("sbatch.log");
    let scripts = [
        (
            "sbatch",
            format!(
                "#!/bin/bash\necho \"$@\" >> '{0}'\nn=$(wc -l < '{0}')\necho \"$((100 + n));cluster\"\n",
                log.display()
            ),
        ),
        ("scontrol", "#!/bin/bash\necho 'MaxArraySize            = 2'\n".to_string()),
        ("squeue", "#!/bin/bash\nexit 0\n".to_string()),
    ];
    for (name, text) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn submit_splits_arrays_and_chains_the_report_job() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tiny.toml");
    std::fs::write(&file, tiny_text()).unwrap();
    let store = tmp.path().join("store");
    let bin = fake_slurm(tmp.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(sweep_bin())
        .args(["submit", "--backend", "slurm"])
        .arg("--store")
        .arg(&store)
        .arg(&file)
        .env("PATH", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("3 runs submitted; array job(s) 101, 102; report job 103"), "{stderr}");

    let sub_dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(sub_dir.starts_with(&store), "{}", sub_dir.display());
    let manifest = std::fs::read_to_string(sub_dir.join("manifest.txt")).unwrap();
    assert_eq!(manifest.lines().count(), 3);
    for line in manifest.lines() {
        let run = &parse_manifest_line(line).unwrap()[0];
        assert!(run.dir.join("config.toml").is_file(), "run folders are prepared: {}", run.dir.display());
    }
    // MaxArraySize 2: tasks 0-1 in the first array, task 2 as index 0 of the second.
    let a0 = std::fs::read_to_string(sub_dir.join("array-0.sbatch")).unwrap();
    let a1 = std::fs::read_to_string(sub_dir.join("array-1.sbatch")).unwrap();
    assert!(a0.contains("--array=0-1\n") && a0.contains("$((SLURM_ARRAY_TASK_ID + 0))"), "{a0}");
    assert!(a1.contains("--array=0-0\n") && a1.contains("$((SLURM_ARRAY_TASK_ID + 2))"), "{a1}");
    let calls = std::fs::read_to_string(tmp.path().join("sbatch.log")).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[2].starts_with("--parsable --dependency=afterany:101:102 "), "{calls:?}");
    let record: SubmissionRecord =
        serde_json::from_str(&std::fs::read_to_string(sub_dir.join("submission.json")).unwrap()).unwrap();
    assert_eq!(record.arrays.iter().map(|a| a.job_id.as_str()).collect::<Vec<_>>(), ["101", "102"]);
    assert_eq!(record.report_job, "103");

    // The queue is empty and nothing ran: every task vanished, and status says so.
    let status = Command::new(sweep_bin()).arg("status").arg(&store).env("PATH", &path).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(text.matches("(slurm task vanished)").count(), 3, "{text}");
}

#[cfg(feature = "torch")]
mod real {
    //! A real single-node Slurm on localhost.
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::time::{Duration, Instant, SystemTime};

    use super::sweep_bin;

    /// Started by scripts/slurm-local.sh; stopped (by PID) when dropped.
    struct LocalSlurm {
        conf: String,
    }

    fn script() -> PathBuf {
        crate::common::root().join("scripts").join("slurm-local.sh")
    }

    impl LocalSlurm {
        /// None (with a loud message) where Slurm cannot be started, unless
        /// SWEEP_REQUIRE_SLURM=1 (set by `make test` once Slurm is installed),
        /// where that is a failure.
        fn start() -> Option<Self> {
            let out = Command::new(script()).arg("start").output().expect("running scripts/slurm-local.sh");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let conf = stdout.lines().find_map(|l| l.strip_prefix("SLURM_CONF=")).map(str::to_string);
            match conf {
                Some(conf) if out.status.success() => Some(Self { conf }),
                _ => {
                    let why = String::from_utf8_lossy(&out.stderr);
                    if std::env::var("SWEEP_REQUIRE_SLURM").as_deref() == Ok("1") {
                        panic!("SWEEP_REQUIRE_SLURM=1 but a local Slurm could not be started:\n{why}");
                    }
                    eprintln!(
                        "\n==============================================================\n\
                         SKIPPED: the Slurm test needs a local Slurm (scripts/slurm-local.sh\n\
                         install && start, as root on Debian); it could not start:\n{why}\n\
                         ==============================================================\n"
                    );
                    None
                }
            }
        }

        fn cmd(&self, args: &[&str]) -> Command {
            let mut c = Command::new(sweep_bin());
            c.args(args).env("SLURM_CONF", &self.conf).env("OMP_NUM_THREADS", "1");
            c
        }

        fn queued(&self) -> Vec<String> {
            let out = Command::new("squeue").args(["-h", "-o", "%i"]).env("SLURM_CONF", &self.conf).output().unwrap();
            String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
        }
    }

    impl Drop for LocalSlurm {
        fn drop(&mut self) {
            let _ = Command::new("scancel").args(["-u", "root"]).env("SLURM_CONF", &self.conf).status();
            let _ = Command::new(script()).arg("stop").status();
        }
    }

    fn ok(out: Output) -> (String, String) {
        let (o, e) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "stdout:\n{o}\nstderr:\n{e}");
        (o, e)
    }

    fn status_json(run: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("status.json")).unwrap()).unwrap()
    }

    /// Wait until the submission's report job has left the queue (it runs after
    /// every array task), at most 5 minutes.
    fn wait_for(slurm: &LocalSlurm, sub_dir: &Path) {
        let record: sweep::backend::slurm::SubmissionRecord =
            serde_json::from_str(&std::fs::read_to_string(sub_dir.join("submission.json")).unwrap()).unwrap();
        let t0 = Instant::now();
        while slurm.queued().contains(&record.report_job) {
            if t0.elapsed() > Duration::from_secs(300) {
                let logs: Vec<String> = std::fs::read_dir(sub_dir.join("logs"))
                    .unwrap()
                    .flatten()
                    .map(|e| {
                        format!("{}:\n{}", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default())
                    })
                    .collect();
                panic!("the submission did not finish within 5 minutes; logs:\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn sweep_text() -> String {
        format!(
            r#"
name = "slurm-it"

[base]
{}"train.epochs" = 2
"train.batch_size" = 16
"eval.every" = 2
"eval.kmeans_restarts" = 2
"eval.tsne" = false

[axes]
"loss.gamma" = [0.0, 1.0]

# Fails until its images exist: the test writes them between the submissions.
[[include]]
"data.dataset" = "folder"
"data.root" = "images"
"data.resolution" = 16
"data.clusters" = 3
"#,
            crate::common::TINY_BASE_KEYS
        )
    }

    /// 3 class folders of 8 PNGs of 16 px (one colour per class, noise per image).
    fn write_images(root: &Path) {
        for (c, rgb) in [[220u8, 40, 40], [40, 200, 60], [50, 60, 210]].iter().enumerate() {
            let dir = root.join(format!("class{c}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..8u32 {
                let img = image::RgbImage::from_fn(16, 16, |x, y| {
                    let n = ((x * 7 + y * 13 + i * 31) % 40) as u8;
                    image::Rgb([rgb[0].saturating_sub(n), rgb[1].saturating_sub(n), rgb[2].saturating_sub(n)])
                });
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }

    #[test]
    fn sweep_through_real_slurm_then_retry_the_failed_run() {
        let Some(slurm) = LocalSlurm::start() else { return };
        let t0 = Instant::now();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("slurm-it.toml");
        std::fs::write(&file, sweep_text()).unwrap();
        let store = tmp.path().join("store");
        let reports = tmp.path().join("reports");
        let (s, r) = (store.to_str().unwrap(), reports.to_str().unwrap());
        let f = file.to_str().unwrap();
        let common =
            ["--store", s, "--report-out", r, "--devices", "cpu", "--runs-per-task", "2", "--max-parallel", "2"];

        let mut args = vec!["submit", "--backend", "slurm", f];
        args.extend(common);
        let (out, err) = ok(slurm.cmd(&args).output().unwrap());
        assert!(err.contains("3 runs submitted"), "{err}");
        let sub1 = PathBuf::from(out.trim());
        // Queued: status shows Slurm's view of runs the store has not seen start.
        let (st, _) = ok(slurm.cmd(&["status", s]).output().unwrap());
        assert!(st.contains("3 runs"), "{st}");
        wait_for(&slurm, &sub1);

        let runs: Vec<PathBuf> = std::fs::read_dir(store.join("runs")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(runs.len(), 3);
        let folder_run = runs
            .iter()
            .find(|p| std::fs::read_to_string(p.join("config.toml")).unwrap().contains("folder"))
            .unwrap()
            .clone();
        let mut done_at = Vec::new();
        for run in runs.iter().filter(|p| **p != folder_run) {
            let st = status_json(run);
            assert_eq!(st["state"], "done", "{}: {st}", run.display());
            assert_eq!(st["attempts"], 1, "run once: {st}");
            done_at.push((run.clone(), std::fs::metadata(run.join("summary.json")).unwrap().modified().unwrap()));
        }
        let st = status_json(&folder_run);
        assert_eq!(st["state"], "failed", "{st}");
        assert_eq!(st["attempts"], 1, "{st}");
        assert!(st["reason"].as_str().unwrap().contains("does not exist"), "the reason is recorded: {st}");
        let report = reports.join("slurm-it.md");
        assert!(report.is_file(), "the follow-up job wrote the report");
        let (st, _) = ok(slurm.cmd(&["status", s]).output().unwrap());
        assert!(st.contains("2 done, 0 running, 1 failed"), "{st}");

        // Without --retry-failed nothing is left to submit.
        let mut again = vec!["submit", f];
        again.extend(common);
        let (out, err) = ok(slurm.cmd(&again).output().unwrap());
        assert!(out.trim().is_empty() && err.contains("0 runs submitted, 2 already done, 1 failed before"), "{err}");

        // Fix the cause; the retry resubmits the failed run alone.
        write_images(&tmp.path().join("images"));
        let mut retry = vec!["submit", f, "--retry-failed"];
        retry.extend(common);
        let (out, err) = ok(slurm.cmd(&retry).output().unwrap());
        assert!(err.contains("1 runs submitted, 2 already done"), "{err}");
        let sub2 = PathBuf::from(out.trim());
        assert_eq!(std::fs::read_to_string(sub2.join("manifest.txt")).unwrap().lines().count(), 1);
        wait_for(&slurm, &sub2);

        let st = status_json(&folder_run);
        assert_eq!(st["state"], "done", "{st}");
        assert_eq!(st["attempts"], 2, "{st}");
        for (run, m) in &done_at {
            assert_eq!(status_json(run)["attempts"], 1, "not run again: {}", run.display());
            assert_eq!(&std::fs::metadata(run.join("summary.json")).unwrap().modified().unwrap(), m);
        }
        let (st, _) = ok(slurm.cmd(&["status", s]).output().unwrap());
        assert!(st.contains("3 done"), "{st}");
        assert!(SystemTime::now() > std::fs::metadata(&report).unwrap().modified().unwrap());
        eprintln!("real Slurm test: {:.1} s", t0.elapsed().as_secs_f64());
    }
}
