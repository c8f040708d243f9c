//! TensorBoard event files, pinned with TensorBoard's own readers
//! (scripts/read_tb.py): the TFRecord framing, every scalar and the HParams
//! summaries of a run and of its sweep, a restart that leaves no step twice
//! and none going back, and the switches that turn the files off. With
//! libtorch, the same for a tiny real run and a tiny run stopped and resumed.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use sweep::config::{load_sweep, Expanded};
use sweep::schedule::{make_slots, prepare_jobs, DeviceSpec, Executor, IsolatedExecutor, Job, RunControl, StopFlag};
use sweep::store::Store;
use sweep::tensorboard::file::{self, event_files, masked_crc, records, Tail};
use sweep::tensorboard::{hparams, write_experiment, RunBoard, EVAL_PREFIX, FINAL_PREFIX, LOSS_TOTAL};

/// A Python that has the `tensorboard` package: the repository's .venv (`make
/// venv` installs it), else `python3`. Missing: the test skips loudly, or fails
/// under SWEEP_REQUIRE_DATA=1 (CI, where `make test` has installed it).
fn python_with_tensorboard() -> Option<PathBuf> {
    let venv = crate::common::root().join(".venv/bin/python");
    let found = [venv, PathBuf::from("python3")].into_iter().find(|py| {
        std::process::Command::new(py).args(["-c", "import tensorboard"]).output().is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("SWEEP_REQUIRE_DATA").is_none_or(|v| v != "1"),
            "SWEEP_REQUIRE_DATA=1 but no Python with the `tensorboard` package (make venv installs it into .venv)"
        );
        eprintln!("SKIPPED: no Python with the `tensorboard` package (make venv)");
    }
    found
}

/// scripts/read_tb.py over `dirs`: one JSON entry per folder, in order.
fn read_tb(py: &Path, dirs: &[&Path]) -> Vec<Json> {
    let out = std::process::Command::new(py)
        .arg(crate::common::root().join("scripts/read_tb.py"))
        .args(dirs)
        .output()
        .unwrap();
    assert!(out.status.success(), "read_tb.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let all: Json = serde_json::from_slice(&out.stdout).unwrap();
    dirs.iter().map(|d| all[d.to_str().unwrap()].clone()).collect()
}

/// The points of `tag`: (step, value). The value is a 32-bit float printed as
/// the shortest decimal; serde_json reads it back to within a bit of the
/// double, which rounds to that float exactly.
fn points(run: &Json, tag: &str) -> Vec<(i64, f64)> {
    run["scalars"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar {tag}; tags: {:?}", tags(run)))
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), f32v(p[1].as_f64().unwrap())))
        .collect()
}

fn tags(run: &Json) -> Vec<String> {
    run["scalars"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// A value as an event file holds it (a 32-bit float).
fn f32v(v: f64) -> f64 {
    v as f32 as f64
}

/// Every tag's steps strictly rise: no point twice, none going back.
fn assert_steps_rise(run: &Json) {
    for tag in tags(run) {
        let steps: Vec<i64> = points(run, &tag).iter().map(|p| p.0).collect();
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{tag}: steps {steps:?}");
    }
}

/// One event file per folder, starting with the file-version event.
fn assert_one_file(run: &Json) {
    assert_eq!(run["files"].as_array().unwrap().len(), 1, "{}", run["files"]);
    assert_eq!(run["first"][0]["file_version"], "brain.Event:2");
}

/// A sweep of 8 runs over a number, a string and a boolean, its plan and run
/// folders in `root/store`.
fn sweep_store(root: &Path, extra: &str) -> (Store, Expanded, Vec<Job>) {
    std::fs::create_dir_all(root).unwrap();
    let file = root.join("tb.toml");
    let text = format!(
        "name = \"tb\"\n{extra}\n{}\n[axes]\n\"loss.beta\" = [0.5, 1.0]\n\"eval.consensus\" = [[], [\"cspa\"]]\n\
         \"train.ema_cosine\" = [true, false]\n\"model.backbone\" = [\"resnet18\", \"resnet34\"]\n",
        crate::common::SWEEP_FILE_BASE
    );
    std::fs::write(&file, text).unwrap();
    let expanded = load_sweep(&file).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&root.join("store")).unwrap();
    let jobs = prepare_jobs(&store, &expanded).unwrap();
    (store, expanded, jobs)
}

#[test]
fn records_are_tfrecords_with_masked_crc32c() {
    // CRC-32C of "123456789" is 0xE3069283; masked: ((c >> 15) | (c << 17)) + 0xa282ead8.
    assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    let mut bytes = Vec::new();
    file::frame(b"first", &mut bytes);
    file::frame(b"", &mut bytes);
    file::frame(b"third record", &mut bytes);
    assert_eq!(&bytes[..8], &5u64.to_le_bytes());
    assert_eq!(bytes.len(), 3 * 16 + 5 + 12);
    assert_eq!(records(&bytes), (vec![&b"first"[..], b"", b"third record"], Tail::Clean));
    // A record cut short (a writer killed mid-write): the ones before it.
    assert_eq!(records(&bytes[..bytes.len() - 3]), (vec![&b"first"[..], b""], Tail::Torn));
    let mut bad = bytes.clone();
    bad[16 + 5 + 16 + 14] ^= 1;
    assert_eq!(records(&bad), (vec![&b"first"[..], b""], Tail::Corrupt { offset: 21 + 16 }));
}

/// A run's scalars and HParams summaries (at a number of steps, an evaluation,
/// the final scores, the end) and the sweep's experiment, read back by
/// TensorBoard: every value as written, the hyperparameters the plan's.
#[test]
fn tensorboard_reads_back_every_scalar_and_the_hparams() {
    let Some(py) = python_with_tensorboard() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (store, expanded, jobs) = sweep_store(tmp.path(), "");
    write_experiment(&store, &expanded).unwrap();
    let (ok, failed) = (&jobs[0], &jobs[5]);
    let mut board = RunBoard::open(&ok.dir, 0, true);
    assert!(board.is_on());
    let loss = |s: usize| 1.0 / (s as f64 + 0.3);
    for s in 1..=5 {
        board.scalars(s, &[(LOSS_TOTAL, loss(s)), ("train/lr", 1e-3 * s as f64)]);
    }
    let eval: BTreeMap<String, f64> = [("codes.acc", 0.61), ("codes.nmi", 0.47), ("clusters_used", 3.0)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    board.prefixed(5, EVAL_PREFIX, &eval);
    board.prefixed(5, FINAL_PREFIX, &eval);
    board.end(5, true);
    let mut board = RunBoard::open(&failed.dir, 0, true);
    board.scalars(1, &[(LOSS_TOTAL, 2.5)]);
    board.end(1, false);

    let [run, other, sweep] =
        <[Json; 3]>::try_from(read_tb(&py, &[&ok.dir.tb_dir(), &failed.dir.tb_dir(), &store.tb_dir()])).unwrap();
    for r in [&run, &other, &sweep] {
        assert_one_file(r);
    }
    assert_eq!(points(&run, LOSS_TOTAL), (1..=5).map(|s| (s as i64, f32v(loss(s)))).collect::<Vec<_>>());
    assert_eq!(points(&run, "train/lr")[2], (3, f32v(1e-3 * 3.0)));
    for (k, v) in &eval {
        assert_eq!(points(&run, &format!("eval/{k}")), vec![(5, f32v(*v))]);
        assert_eq!(points(&run, &format!("final/{k}")), vec![(5, f32v(*v))]);
    }
    assert_eq!(run["session_logs"], Json::Array(vec![]), "a first attempt has no restart marker");

    // Each run's session: its swept values, in a group of its own; its status.
    for (r, job, status, step) in [(&run, ok, "STATUS_SUCCESS", 5), (&other, failed, "STATUS_FAILURE", 1)] {
        let start = &r["hparams"]["session_start"];
        assert_eq!(start["group_name"], job.entry.run_id.as_str());
        let want: serde_json::Map<String, Json> = job
            .entry
            .swept
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Json::Number(n) => Json::from(n.as_f64().unwrap()),
                    Json::Array(_) | Json::Null => Json::String(v.to_string()),
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        assert_eq!(start["hparams"], Json::Object(want), "{}", job.entry.run_id);
        assert_eq!(r["hparams"]["session_end"]["status"], status);
        assert_eq!(r["hparams"]["session_end"]["steps"], Json::from(vec![step]));
    }

    // The sweep's experiment: the swept keys with their domains; the final scores as metrics.
    let exp = &sweep["hparams"]["experiment"];
    assert_eq!(exp["name"], "tb");
    let infos: BTreeMap<&str, &Json> =
        exp["hparam_infos"].as_array().unwrap().iter().map(|h| (h["name"].as_str().unwrap(), h)).collect();
    assert_eq!(
        infos.keys().copied().collect::<Vec<_>>(),
        ["eval.consensus", "loss.beta", "model.backbone", "train.ema_cosine"]
    );
    assert_eq!(infos["loss.beta"]["type"], "DATA_TYPE_FLOAT64");
    assert_eq!(infos["loss.beta"]["domain_interval"], serde_json::json!({"min_value": 0.5, "max_value": 1.0}));
    assert_eq!(infos["model.backbone"]["type"], "DATA_TYPE_STRING");
    assert_eq!(infos["model.backbone"]["domain_discrete"], serde_json::json!(["resnet18", "resnet34"]));
    assert_eq!(infos["train.ema_cosine"]["type"], "DATA_TYPE_BOOL");
    assert_eq!(infos["train.ema_cosine"]["domain_discrete"], serde_json::json!([false, true]));
    // An empty list is left out of the config, so the plan says null.
    assert_eq!(infos["eval.consensus"]["domain_discrete"], serde_json::json!(["[\"cspa\"]", "null"]));
    assert!(infos.values().all(|h| h["differs"] == true));
    let metrics: Vec<&str> =
        exp["metric_infos"].as_array().unwrap().iter().map(|m| m["name"]["tag"].as_str().unwrap()).collect();
    let with_cspa = expanded.runs.iter().find(|(_, c)| !c.eval.consensus.is_empty()).unwrap();
    for k in hparams::final_metric_keys(&with_cspa.1) {
        assert!(metrics.contains(&format!("final/{k}").as_str()), "final/{k} not among {metrics:?}");
    }
    assert!(metrics.contains(&"final/consensus_cspa.acc") && metrics.contains(&"final/codes.ari"), "{metrics:?}");

    // Written again (a later `sweep run`): still one experiment file.
    write_experiment(&store, &expanded).unwrap();
    assert_eq!(event_files(&store.tb_dir()).unwrap().len(), 1);

    // What the HParams dashboard over the store shows: the experiment's
    // columns, each started run a session group with its values and status,
    // the finished one with its final scores.
    let dash = dashboard(&py, store.root());
    assert_eq!(dash["hparams"].as_array().unwrap().len(), 4);
    assert_eq!(dash["metrics"].as_array().unwrap().len(), metrics.len());
    let groups = dash["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{dash}");
    let group = |job: &Job| groups.iter().find(|g| g["name"] == job.entry.run_id.as_str()).unwrap();
    let (g_ok, g_failed) = (group(ok), group(failed));
    assert_eq!(g_ok["hparams"], run["hparams"]["session_start"]["hparams"]);
    let session = format!("runs/{}/tb", ok.entry.run_id);
    assert_eq!(g_ok["sessions"], serde_json::json!([{"name": session, "status": "STATUS_SUCCESS"}]));
    assert_eq!(g_failed["sessions"][0]["status"], "STATUS_FAILURE");
    let shown: BTreeMap<String, f64> =
        g_ok["metrics"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), f32v(v.as_f64().unwrap()))).collect();
    let written: BTreeMap<String, f64> = eval.iter().map(|(k, v)| (format!("final/{k}"), f32v(*v))).collect();
    assert_eq!(shown, written);
}

/// scripts/read_tb.py --dashboard over a store.
fn dashboard(py: &Path, logdir: &Path) -> Json {
    let out = std::process::Command::new(py)
        .arg(crate::common::root().join("scripts/read_tb.py"))
        .arg("--dashboard")
        .arg(logdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "read_tb.py --dashboard failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A run restarted from its checkpoint at step 6, after an attempt that got to
/// step 10 (killed mid-record) and a rewrite cut short that left a second copy
/// of its points: one
/// file, every step once and rising, the points up to 6 the first attempt's,
/// the later ones the new attempt's, and a restart marker for a live reader.
#[test]
fn a_restart_keeps_the_points_up_to_its_checkpoint_once() {
    let Some(py) = python_with_tensorboard() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_store, _, jobs) = sweep_store(tmp.path(), "");
    let dir = &jobs[0].dir;
    let mut board = RunBoard::open(dir, 0, true);
    for s in 1..=10 {
        board.scalars(s, &[(LOSS_TOTAL, s as f64)]);
    }
    board.prefixed(5, EVAL_PREFIX, &BTreeMap::from([("codes.acc".to_string(), 0.5)]));
    board.prefixed(10, EVAL_PREFIX, &BTreeMap::from([("codes.acc".to_string(), 0.9)]));
    board.flush();
    drop(board); // killed: no end
    let first = event_files(&dir.tb_dir()).unwrap().remove(0);
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    let secs: u64 = name.split('.').nth(3).unwrap().parse().unwrap();
    let copy = dir.tb_dir().join(format!("events.out.tfevents.{}.elsewhere", secs + 100));
    std::fs::copy(&first, &copy).unwrap();
    // Killed mid-write too: the first file ends in a torn record.
    let mut torn = Vec::new();
    file::frame(b"never finished", &mut torn);
    let mut f = std::fs::OpenOptions::new().append(true).open(&first).unwrap();
    std::io::Write::write_all(&mut f, &torn[..torn.len() - 5]).unwrap();
    drop(f);

    let mut board = RunBoard::open(dir, 6, true);
    for s in 7..=12 {
        board.scalars(s, &[(LOSS_TOTAL, 100.0 + s as f64)]);
    }
    board.end(12, true);
    let files = event_files(&dir.tb_dir()).unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].file_name().unwrap().to_string_lossy().as_ref() > copy.file_name().unwrap().to_str().unwrap());

    let [run] = <[Json; 1]>::try_from(read_tb(&py, &[&dir.tb_dir()])).unwrap();
    assert_one_file(&run);
    assert_steps_rise(&run);
    let want: Vec<(i64, f64)> = (1..=12).map(|s| (s, if s <= 6 { s as f64 } else { 100.0 + s as f64 })).collect();
    assert_eq!(points(&run, LOSS_TOTAL), want);
    assert_eq!(points(&run, "eval/codes.acc"), vec![(5, 0.5)]);
    assert_eq!(run["session_logs"], serde_json::json!([[0, 1]]), "a SessionLog START at step 0");
    assert_eq!(run["hparams"]["session_end"]["steps"], serde_json::json!([12]));
}

/// Off by the command line (nothing touched), by the sweep file (`tensorboard
/// = false`, recorded in plan.json for every process), and for child processes
/// (`exec-run --no-tensorboard`); a non-boolean value is refused.
#[test]
fn the_switches_turn_the_event_files_off() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, jobs) = sweep_store(&tmp.path().join("on"), "");
    assert!(!RunBoard::open(&jobs[0].dir, 0, false).is_on());
    assert!(!jobs[0].dir.tb_dir().exists());
    assert!(!std::fs::read_to_string(tmp.path().join("on/store/plan.json")).unwrap().contains("tensorboard"));

    let (store, expanded, jobs) = sweep_store(&tmp.path().join("off"), "tensorboard = false");
    assert!(!expanded.plan.tensorboard);
    assert!(!store.read_plan().unwrap().unwrap().tensorboard);
    assert!(!RunBoard::open(&jobs[0].dir, 0, true).is_on());
    assert!(!jobs[0].dir.tb_dir().exists());

    std::fs::create_dir_all(tmp.path().join("bad")).unwrap();
    let bad = tmp.path().join("bad/tb.toml");
    std::fs::write(&bad, format!("name = \"tb\"\ntensorboard = \"no\"\n{}", crate::common::SWEEP_FILE_BASE)).unwrap();
    let err = load_sweep(&bad).unwrap_err().to_string();
    assert!(err.contains("tb.toml:2:15: `tensorboard` must be true or false, found a string"), "{err}");

    // The child gets the switch on its command line.
    let exec = IsolatedExecutor::with_command("sh", vec!["-c".into(), r#"echo "$@" > "$2/args""#.into(), "sh".into()])
        .with_tensorboard(false);
    let slot = make_slots(&[DeviceSpec::Cpu], 1).remove(0);
    exec.execute(&jobs[1], &slot, &RunControl::silent(StopFlag::new())).unwrap();
    let args = std::fs::read_to_string(jobs[1].dir.path().join("args")).unwrap();
    assert!(args.trim_end().ends_with("--device cpu --no-tensorboard"), "{args}");
}

#[cfg(feature = "torch")]
mod trained {
    //! A tiny real run on the synthetic set, straight and stopped and resumed.
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::train::{load, tiny_config};
    use sweep::config::{run_id, Feature, RunConfig};
    use sweep::record::{Plan, PlanEntry};
    use sweep::schedule::RunFailure;
    use sweep::store::RunDir;
    use sweep::tensorboard::{loss_tags, EMA_TAU, LR, SELFLABEL_CONFIDENT, SELFLABEL_LOSS, SELFLABEL_LR};
    use tch::Device;

    /// A store whose plan holds `cfg` with `seed` swept, and its run folder.
    fn planned_run(root: &Path, cfg: &RunConfig) -> RunDir {
        let store = Store::open(root).unwrap();
        let swept = [("seed".to_string(), Json::from(cfg.seed))].into_iter().collect();
        let entry = PlanEntry { run_id: run_id(cfg), blocks: vec!["main".into()], swept };
        let plan = serde_json::from_value::<Plan>(serde_json::json!({
            "sweep": "tiny", "template": "generic", "source": "tiny.toml", "runs": [entry],
        }))
        .unwrap();
        store.write_plan(&plan).unwrap();
        RunDir::create(&store, &plan.runs[0], cfg).unwrap()
    }

    /// losses.csv's rows: step -> [L, L1, L2, L3].
    fn losses_csv(dir: &RunDir) -> Vec<(i64, Vec<f64>)> {
        std::fs::read_to_string(dir.losses_path())
            .unwrap()
            .lines()
            .map(|l| {
                let cols: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
                (cols[0] as i64, cols[1..].to_vec())
            })
            .collect()
    }

    /// The run's event files hold exactly what its other files say: each step's
    /// loss terms (losses.csv), its learning rate and EMA rate, each
    /// evaluation's scores (metrics.jsonl), the final scores (summary.json),
    /// and its session from start to a successful end.
    fn assert_matches_run_files(run: &Json, dir: &RunDir, cfg: &RunConfig) {
        assert_one_file(run);
        assert_steps_rise(run);
        let rows = losses_csv(dir);
        let last = rows.last().unwrap().0;
        for (i, tag) in loss_tags(cfg.loss.representation).iter().enumerate() {
            let want: Vec<(i64, f64)> = rows.iter().map(|(s, r)| (*s, f32v(r[i]))).collect();
            assert_eq!(points(run, tag), want, "{tag}");
        }
        assert_eq!(points(run, EMA_TAU).len(), rows.len());
        let records = dir.read_metrics().unwrap();
        let lr = points(run, LR);
        for r in &records {
            assert!(lr.contains(&(r.step as i64, f32v(r.train["lr"]))), "lr at step {}", r.step);
            for (k, v) in &r.eval {
                assert!(points(run, &format!("eval/{k}")).contains(&(r.step as i64, f32v(*v))), "eval/{k}");
            }
        }
        let evals: Vec<i64> = points(run, "eval/codes.acc").iter().map(|p| p.0).collect();
        assert_eq!(evals, records.iter().map(|r| r.step as i64).collect::<Vec<_>>());
        let summary = dir.read_summary().unwrap().unwrap();
        for (k, v) in &summary.metrics {
            assert_eq!(points(run, &format!("final/{k}")), vec![(last, f32v(*v))], "final/{k}");
        }
        for k in hparams::final_metric_keys(cfg) {
            assert!(summary.metrics.contains_key(&k), "the experiment lists final/{k}, which no run logs");
        }
        assert_eq!(run["hparams"]["session_start"]["hparams"], serde_json::json!({"seed": cfg.seed as f64}));
        assert_eq!(run["hparams"]["session_end"]["status"], "STATUS_SUCCESS");
        assert_eq!(run["hparams"]["session_end"]["steps"], serde_json::json!([last]));
    }

    #[test]
    fn a_tiny_run_logs_every_step_evaluation_and_final_score() {
        let Some(py) = python_with_tensorboard() else { return };
        let _rng = crate::common::torch_rng();
        let cfg = tiny_config(16, 2);
        let data = load(&cfg);
        let tmp = tempfile::tempdir().unwrap();
        let dir = planned_run(tmp.path(), &cfg);
        sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
        let [run] = <[Json; 1]>::try_from(read_tb(&py, &[&dir.tb_dir()])).unwrap();
        assert_matches_run_files(&run, &dir, &cfg);
        assert_eq!(points(&run, LOSS_TOTAL).len(), 6, "2 epochs of 48 / 16 steps");
        assert_eq!(points(&run, "eval/codes.acc").len(), 2);
        if !cfg.train.ema_cosine {
            assert!(points(&run, EMA_TAU).iter().all(|p| p.1 == f32v(cfg.train.ema_tau)));
        }
    }

    /// Stopped mid-epoch 2 (checkpoint at step 22 of 24), then an attempt from
    /// that checkpoint killed after it wrote nonsense past it (steps 20 to 30,
    /// stepping back; an evaluation, final scores, an end): the run resumed
    /// from the checkpoint holds every step once, rising, and nothing of that
    /// attempt.
    #[test]
    fn a_resumed_run_has_no_step_twice_and_none_going_back() {
        let Some(py) = python_with_tensorboard() else { return };
        let _rng = crate::common::torch_rng();
        let cfg = tiny_config(64, 2);
        let data = load(&cfg);
        let tmp = tempfile::tempdir().unwrap();
        let dir = planned_run(tmp.path(), &cfg);
        let stop = StopFlag::new();
        let fired = Arc::new(AtomicBool::new(false));
        let (s2, f2) = (stop.clone(), fired.clone());
        let ctl = RunControl::new(stop.clone(), move |p| {
            if p.epoch == 2 && !f2.swap(true, Ordering::SeqCst) {
                s2.request();
            }
        });
        assert_eq!(sweep::train::run(&cfg, &dir, &data, Device::Cpu, &ctl), Err(RunFailure::Interrupted));
        assert_eq!(losses_csv(&dir).last().unwrap().0, 22);

        let mut later = RunBoard::open(&dir, 22, true);
        for s in 20..=30 {
            later.scalars(s, &[(LOSS_TOTAL, -1.0), ("loss/byol", -1.0)]);
        }
        later.prefixed(24, EVAL_PREFIX, &BTreeMap::from([("codes.acc".to_string(), -1.0)]));
        later.prefixed(30, FINAL_PREFIX, &BTreeMap::from([("codes.acc".to_string(), -1.0)]));
        later.end(30, true);

        sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
        let [run] = <[Json; 1]>::try_from(read_tb(&py, &[&dir.tb_dir()])).unwrap();
        assert_matches_run_files(&run, &dir, &cfg);
        assert_eq!(points(&run, LOSS_TOTAL).iter().map(|p| p.0).collect::<Vec<_>>(), (1..=24).collect::<Vec<_>>());
        assert!(points(&run, LOSS_TOTAL).iter().all(|p| p.1 > 0.0), "nothing of the abandoned attempt");
        assert_eq!(run["session_logs"], serde_json::json!([[0, 1]]));
    }

    /// One epoch of training, then one of the self-labelling stage: the stage's
    /// steps are logged under its own names, and the scores before it too.
    #[test]
    fn the_self_labelling_stage_logs_under_its_own_names() {
        let Some(py) = python_with_tensorboard() else { return };
        let _rng = crate::common::torch_rng();
        let mut cfg = tiny_config(16, 1);
        cfg.self_labelling.epochs = 1;
        cfg.self_labelling.confidence = 0.4;
        let data = load(&cfg);
        let tmp = tempfile::tempdir().unwrap();
        let dir = planned_run(tmp.path(), &cfg);
        sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
        let [run] = <[Json; 1]>::try_from(read_tb(&py, &[&dir.tb_dir()])).unwrap();
        assert_steps_rise(&run);
        let rows = losses_csv(&dir);
        let col = |i: usize, steps: std::ops::RangeInclusive<i64>| -> Vec<(i64, f64)> {
            rows.iter().filter(|(s, _)| steps.contains(s)).map(|(s, r)| (*s, f32v(r[i]))).collect()
        };
        assert_eq!(points(&run, LOSS_TOTAL), col(0, 1..=3));
        assert_eq!(points(&run, SELFLABEL_LOSS), col(0, 4..=6));
        assert_eq!(points(&run, SELFLABEL_CONFIDENT), col(1, 4..=6));
        assert_eq!(points(&run, SELFLABEL_LR), (4..=6).map(|s| (s, f32v(cfg.self_labelling.lr))).collect::<Vec<_>>());
        for k in hparams::final_metric_keys(&cfg) {
            assert_eq!(points(&run, &format!("final/{k}")).len(), 1, "final/{k}");
        }
        assert_eq!(points(&run, "eval/codes.acc").iter().map(|p| p.0).collect::<Vec<_>>(), [3, 6]);
    }

    /// The experiment's k-means metric names are the evaluation's.
    #[test]
    fn kmeans_metric_names_match_the_evaluation() {
        for f in [Feature::TargetProjection, Feature::Encoder, Feature::ClusterEmbedding, Feature::Pixels] {
            assert_eq!(hparams::kmeans_key(f), sweep::train::evaluate::feature_key(f));
        }
    }
}
