//! The store (atomic files, metrics, config identity), run locks, the scheduler
//! with fake executors, the isolated (child-process) executor, the example sweep
//! files and the `plan`/`status` commands.
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sweep::config::{load_sweep, run_id};
use sweep::config::{RunConfig, RunSpec};
use sweep::record::{EpochRecord, PlanEntry, RunState, RunStatus, Summary};
use sweep::schedule::{
    make_slots, prepare_jobs, run_jobs, DeviceSpec, Executor, IsolatedExecutor, Job, ProgressMode, RunControl,
    RunFailure, ScheduleOptions, Slot, StopFlag,
};
use sweep::schedule::{parse_devices, Progress};
use sweep::store::{Observed, RunDir, RunLock, Store};

fn config(seed: u64) -> RunConfig {
    let mut c = RunSpec { seed, ..RunSpec::default() };
    c.train.epochs = Some(2);
    c.resolve().unwrap()
}

fn entry(cfg: &RunConfig) -> PlanEntry {
    PlanEntry { run_id: run_id(cfg), blocks: vec!["main".into()], swept: Default::default() }
}

/// `n` jobs (seeds 0..n) in a fresh store.
fn jobs(store: &Store, n: u64) -> Vec<Job> {
    (0..n)
        .map(|s| {
            let cfg = config(s);
            let e = entry(&cfg);
            let dir = RunDir::create(store, &e, &cfg).unwrap();
            Job { entry: e, config: cfg, dir }
        })
        .collect()
}

fn quiet(retry_failed: bool) -> ScheduleOptions {
    ScheduleOptions { retry_failed, progress: ProgressMode::Quiet }
}

fn no_tmp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "temporary file left behind: {name}");
    }
}

fn record(epoch: usize) -> EpochRecord {
    EpochRecord {
        epoch,
        step: epoch * 10,
        train: [("loss".to_string(), 1.0 / epoch as f64)].into_iter().collect(),
        eval: Default::default(),
    }
}

// ---- store -----------------------------------------------------------------

#[test]
fn store_writes_are_atomic_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("s")).unwrap();
    let job = jobs(&store, 1).remove(0);
    let dir = &job.dir;
    assert_eq!(dir.status().unwrap(), RunStatus::pending());
    for epoch in 0..5 {
        let st = RunStatus { state: RunState::Running, epoch, attempts: 1, ..RunStatus::pending() };
        dir.set_status(&st).unwrap();
        assert_eq!(dir.status().unwrap(), st);
    }
    let summary = Summary {
        run_id: dir.run_id().to_string(),
        epochs: 2,
        steps: 20,
        metrics: [("codes.acc".to_string(), 0.75)].into_iter().collect(),
        train: Default::default(),
        collapsed: false,
        warnings: vec![],
        train_seconds: 1.5,
        device: "cpu".into(),
    };
    dir.write_summary(&summary).unwrap();
    assert_eq!(dir.read_summary().unwrap(), Some(summary));
    assert_eq!(dir.read_config().unwrap(), job.config);
    no_tmp_files(dir.path());
    assert_eq!(dir.checkpoint_dir(), dir.path().join("checkpoints"));
    assert_eq!(dir.log_path(), dir.path().join("log.txt"));
    assert_eq!(store.runs().unwrap().len(), 1);
}

#[test]
fn torn_last_metrics_line_is_ignored_and_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let dir = jobs(&store, 1).remove(0).dir;
    assert!(dir.read_metrics().unwrap().is_empty());
    dir.append_metrics(&record(1)).unwrap();
    dir.append_metrics(&record(2)).unwrap();
    // A crash in the middle of an append.
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.metrics_path()).unwrap();
    std::io::Write::write_all(&mut f, b"{\"epoch\": 3, \"st").unwrap();
    drop(f);
    assert_eq!(dir.read_metrics().unwrap(), vec![record(1), record(2)]);
    // The next append cuts the torn tail first.
    dir.append_metrics(&record(3)).unwrap();
    assert_eq!(dir.read_metrics().unwrap(), vec![record(1), record(2), record(3)]);
    // Resuming from the checkpoint of epoch 2 drops epoch 3.
    dir.rewind_metrics(2).unwrap();
    assert_eq!(dir.read_metrics().unwrap(), vec![record(1), record(2)]);
    no_tmp_files(dir.path());
    // A bad line that is not the last is corruption, not a torn append.
    std::fs::write(dir.metrics_path(), "{bad}\n{\"epoch\":1,\"step\":1,\"train\":{}}\n").unwrap();
    let err = dir.read_metrics().unwrap_err();
    assert!(format!("{err:#}").contains("metrics.jsonl:1: bad metrics record"), "{err:#}");
}

#[test]
fn a_different_config_under_the_same_id_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let cfg = config(0);
    let e = entry(&cfg);
    let dir = RunDir::create(&store, &e, &cfg).unwrap();
    // Creating again with the same config is fine (resuming).
    RunDir::create(&store, &e, &cfg).unwrap();
    // Only data.root differs: not part of the identity; the stored root is updated.
    let mut moved = cfg.clone();
    moved.data.root = Some("/elsewhere".into());
    RunDir::create(&store, &e, &moved).unwrap();
    assert_eq!(dir.read_config().unwrap().data.root.as_deref(), Some(Path::new("/elsewhere")));
    // A stored config that differs in substance: a collision or a corrupted store.
    let mut other = cfg.clone();
    other.train.lr = 1.0;
    std::fs::write(dir.config_path(), toml::to_string(&other).unwrap()).unwrap();
    let err = RunDir::create(&store, &e, &cfg).unwrap_err();
    assert!(err.to_string().contains("holds a different config"), "{err}");
    // A plan entry whose id does not match its config is refused too.
    let wrong = PlanEntry { run_id: "000000000000".into(), ..e };
    assert!(RunDir::create(&store, &wrong, &cfg).is_err());
}

// ---- locks -----------------------------------------------------------------

#[test]
fn run_lock_is_exclusive_until_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let dir = jobs(&store, 1).remove(0).dir;
    assert!(!RunLock::is_held(&dir).unwrap());
    let held = RunLock::try_acquire(&dir).unwrap().expect("free lock");
    assert!(RunLock::try_acquire(&dir).unwrap().is_none(), "second acquire while held");
    assert!(RunLock::is_held(&dir).unwrap());
    let holder = RunLock::holder(&dir).unwrap();
    assert!(holder.starts_with(&format!("pid {} host ", std::process::id())), "{holder}");
    drop(held);
    assert!(!RunLock::is_held(&dir).unwrap());
    assert!(RunLock::try_acquire(&dir).unwrap().is_some(), "free again after drop");
}

#[test]
fn running_without_a_lock_is_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let dir = jobs(&store, 1).remove(0).dir;
    dir.set_status(&RunStatus { state: RunState::Running, attempts: 1, ..RunStatus::pending() }).unwrap();
    assert_eq!(dir.observe().unwrap(), Observed::Stale);
    let lock = RunLock::try_acquire(&dir).unwrap().unwrap();
    assert_eq!(dir.observe().unwrap(), Observed::State(RunState::Running));
    drop(lock);
    assert_eq!(store.view("ffffffffffff").unwrap().observed, Observed::New);
}

// ---- scheduler -------------------------------------------------------------

/// What a fake run does, by seed.
#[derive(Clone, Copy, PartialEq)]
enum Act {
    Succeed,
    Fail,
    Panic,
    /// Asks the whole sweep to stop, then stops like a real run would.
    Stop,
}

struct Fake {
    act: HashMap<u64, Act>,
    sleep: Duration,
    current: AtomicUsize,
    max: AtomicUsize,
    per_device: Mutex<HashMap<DeviceSpec, (usize, usize)>>,
    ran: Mutex<Vec<(u64, DeviceSpec)>>,
}

impl Fake {
    fn new(act: &[(u64, Act)], sleep_ms: u64) -> Self {
        Self {
            act: act.iter().copied().collect(),
            sleep: Duration::from_millis(sleep_ms),
            current: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            per_device: Mutex::new(HashMap::new()),
            ran: Mutex::new(Vec::new()),
        }
    }
    fn ran_seeds(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self.ran.lock().unwrap().iter().map(|r| r.0).collect();
        s.sort();
        s
    }
}

impl Executor for Fake {
    fn execute(&self, job: &Job, slot: &Slot, ctl: &RunControl) -> Result<(), RunFailure> {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        {
            let mut d = self.per_device.lock().unwrap();
            let e = d.entry(slot.device).or_default();
            e.0 += 1;
            e.1 = e.1.max(e.0);
        }
        self.ran.lock().unwrap().push((job.config.seed, slot.device));
        ctl.progress(1, 2, 1, 4, 0.5);
        std::thread::sleep(self.sleep);
        self.per_device.lock().unwrap().get_mut(&slot.device).unwrap().0 -= 1;
        self.current.fetch_sub(1, Ordering::SeqCst);
        match self.act.get(&job.config.seed).copied().unwrap_or(Act::Succeed) {
            Act::Succeed => Ok(()),
            Act::Fail => Err(anyhow::anyhow!("loss is NaN").context("epoch 1").into()),
            Act::Panic => panic!("boom in run {}", job.config.seed),
            Act::Stop => {
                ctl.stop_flag().request();
                Err(RunFailure::Interrupted)
            }
        }
    }
}

fn state(job: &Job) -> RunStatus {
    job.dir.status().unwrap()
}

#[test]
fn slots_interleave_devices_and_parse() {
    let devices = parse_devices("cuda:0, cuda:1").unwrap();
    assert_eq!(devices, [DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)]);
    let slots = make_slots(&devices, 2);
    let got: Vec<(usize, String)> = slots.iter().map(|s| (s.index, s.device.to_string())).collect();
    assert_eq!(got, [(0, "cuda:0".into()), (1, "cuda:1".into()), (2, "cuda:0".into()), (3, "cuda:1".into())]);
    assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
    assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
    assert!("gpu:1".parse::<DeviceSpec>().is_err());
    assert!(parse_devices("").is_err());
}

#[test]
fn packing_two_devices_by_two_runs_four_at_most() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 12);
    let slots = make_slots(&[DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)], 2);
    let fake = Fake::new(&[], 80);
    let out = run_jobs(&js, &slots, &fake, &StopFlag::new(), &quiet(false));
    assert_eq!(out.done, 12);
    assert!(out.all_done());
    assert_eq!(fake.max.load(Ordering::SeqCst), 4, "four slots: four concurrent runs");
    let per_device = fake.per_device.lock().unwrap();
    assert_eq!(per_device.len(), 2, "both devices used");
    for (dev, (_, max)) in per_device.iter() {
        assert!(*max <= 2, "{dev} ran {max} at once");
    }
    for j in &js {
        let st = state(j);
        assert_eq!(st.state, RunState::Done);
        assert_eq!(st.attempts, 1);
        assert!(st.device.as_deref().unwrap().starts_with("cuda:"));
        assert!(st.host.is_some());
    }
}

#[test]
fn failures_and_panics_are_recorded_and_others_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 6);
    let slots = make_slots(&[DeviceSpec::Cpu], 2);
    let fake = Fake::new(&[(1, Act::Fail), (4, Act::Panic)], 5);
    let out = run_jobs(&js, &slots, &fake, &StopFlag::new(), &quiet(false));
    assert_eq!((out.done, out.failed, out.interrupted), (4, 2, 0));
    assert!(!out.all_done());
    let failed = state(&js[1]);
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(failed.reason.as_deref(), Some("epoch 1: loss is NaN"), "the whole error chain");
    let panicked = state(&js[4]);
    assert_eq!(panicked.state, RunState::Failed);
    assert_eq!(panicked.reason.as_deref(), Some("panicked: boom in run 4"));
    for i in [0, 2, 3, 5] {
        assert_eq!(state(&js[i]).state, RunState::Done);
    }

    // Again without --retry-failed: nothing runs at all.
    let again = Fake::new(&[], 1);
    let out = run_jobs(&js, &slots, &again, &StopFlag::new(), &quiet(false));
    assert!(again.ran_seeds().is_empty());
    assert_eq!((out.skipped_done, out.skipped_failed), (4, 2));

    // With it: only the failed runs, and done runs are never executed again.
    let retry = Fake::new(&[], 1);
    let out = run_jobs(&js, &slots, &retry, &StopFlag::new(), &quiet(true));
    assert_eq!(retry.ran_seeds(), [1, 4]);
    assert_eq!((out.done, out.skipped_done), (2, 4));
    assert!(out.all_done());
    let st = state(&js[1]);
    assert_eq!((st.state, st.attempts, st.reason), (RunState::Done, 2, None));
}

#[test]
fn stop_flag_starts_no_new_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 5);
    let slots = make_slots(&[DeviceSpec::Cpu], 1);
    let fake = Fake::new(&[(0, Act::Stop)], 1);
    let stop = StopFlag::new();
    let out = run_jobs(&js, &slots, &fake, &stop, &quiet(false));
    assert_eq!(fake.ran_seeds(), [0]);
    assert_eq!((out.interrupted, out.not_started), (1, 4));
    assert_eq!(state(&js[0]).state, RunState::Interrupted);
    assert_eq!(state(&js[1]).state, RunState::Pending);

    // A stop requested before the start runs nothing.
    let none = Fake::new(&[], 1);
    let out = run_jobs(&js, &slots, &none, &stop, &quiet(false));
    assert!(none.ran_seeds().is_empty());
    assert_eq!(out.not_started, 5);

    // The interrupted run resumes next time, as a second attempt.
    let resume = Fake::new(&[], 1);
    let out = run_jobs(&js, &slots, &resume, &StopFlag::new(), &quiet(false));
    assert_eq!(resume.ran_seeds(), [0, 1, 2, 3, 4]);
    assert!(out.all_done());
    assert_eq!(state(&js[0]).attempts, 2);
}

#[test]
fn runs_locked_elsewhere_are_skipped_and_stale_ones_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 3);
    // Run 0: another live process holds it. Run 1: a process died while running it.
    let held = RunLock::try_acquire(&js[0].dir).unwrap().unwrap();
    js[1].dir.set_status(&RunStatus { state: RunState::Running, attempts: 1, ..RunStatus::pending() }).unwrap();
    let fake = Fake::new(&[], 1);
    let out = run_jobs(&js, &make_slots(&[DeviceSpec::Cpu], 2), &fake, &StopFlag::new(), &quiet(false));
    assert_eq!(fake.ran_seeds(), [1, 2]);
    assert_eq!((out.elsewhere, out.done), (1, 2));
    assert_eq!(state(&js[1]).attempts, 2);
    drop(held);
}

#[test]
fn progress_reaches_the_lines_display_without_a_terminal() {
    // Exercises the plain-lines reporter end to end (it writes to stderr).
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 2);
    let opts = ScheduleOptions { retry_failed: false, progress: ProgressMode::Lines };
    let out = run_jobs(&js, &make_slots(&[DeviceSpec::Cpu], 1), &Fake::new(&[], 1), &StopFlag::new(), &opts);
    assert_eq!(out.to_string(), "2 runs: 2 done now, 0 already done");
}

// ---- isolated executor -------------------------------------------------------

/// A stand-in for `sweep exec-run RUN_DIR --device DEV`: behaves as the file
/// `mode` in the run folder says.
const CHILD: &str = r#"
mode=$(cat "$2/mode")
echo '@sweep-progress {"epoch":1,"epochs":2,"step":3,"steps_per_epoch":4,"loss":0.5}'
echo "hello from $1 on $4"
case $mode in
  ok) exit 0 ;;
  interrupt) exit 3 ;;
  fail) echo "Error: reading data" >&2; echo "Caused by: no such file" >&2; exit 1 ;;
  signal) kill -9 $$ ;;
  wait) trap 'exit 3' INT; while :; do sleep 0.05; done ;;
esac
"#;

fn child_executor() -> IsolatedExecutor {
    IsolatedExecutor::with_command("sh", vec!["-c".into(), CHILD.into(), "sh".into()])
}

#[test]
fn isolated_executor_maps_exit_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 4);
    let modes = ["ok", "interrupt", "fail", "signal"];
    for (j, m) in js.iter().zip(modes) {
        std::fs::write(j.dir.path().join("mode"), m).unwrap();
    }
    let exec = child_executor();
    let slot = make_slots(&[DeviceSpec::Cpu], 1).remove(0);
    let seen: std::sync::Arc<Mutex<Vec<Progress>>> = Default::default();
    let ctl = {
        let seen = seen.clone();
        RunControl::new(StopFlag::new(), move |p| seen.lock().unwrap().push(*p))
    };
    assert_eq!(exec.execute(&js[0], &slot, &ctl), Ok(()));
    assert_eq!(exec.execute(&js[1], &slot, &ctl), Err(RunFailure::Interrupted));
    assert_eq!(
        exec.execute(&js[2], &slot, &ctl),
        Err(RunFailure::Failed { reason: "exit status 1: Error: reading data | Caused by: no such file".into() })
    );
    assert_eq!(exec.execute(&js[3], &slot, &ctl), Err(RunFailure::Failed { reason: "killed by signal 9".into() }));
    let progress = seen.lock().unwrap();
    assert_eq!(progress.len(), 4);
    assert_eq!(progress[0], Progress { epoch: 1, epochs: 2, step: 3, steps_per_epoch: 4, loss: 0.5 });
    let log = std::fs::read_to_string(js[2].dir.log_path()).unwrap();
    assert!(log.contains("hello from exec-run on cpu"), "{log}");
    assert!(log.contains("Caused by: no such file"), "{log}");
    assert!(!log.contains("@sweep-progress"), "progress lines are not logged");
}

#[test]
fn isolated_executor_forwards_a_stop_request() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 2);
    for j in &js {
        std::fs::write(j.dir.path().join("mode"), "wait").unwrap();
    }
    let stop = StopFlag::new();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.request();
        })
    };
    let out = run_jobs(&js, &make_slots(&[DeviceSpec::Cpu], 2), &child_executor(), &stop, &quiet(false));
    stopper.join().unwrap();
    assert_eq!(out.interrupted, 2);
    for j in &js {
        assert_eq!(state(j).state, RunState::Interrupted);
    }
}

// ---- examples and commands -------------------------------------------------

#[test]
fn example_sweeps_expand() {
    let dir = common_root().join("sweeps").join("examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let ex = load_sweep(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(!ex.runs.is_empty());
            for (_, c) in &ex.runs {
                assert_eq!(c.data.dataset, sweep::config::DatasetName::Synthetic, "{}", p.display());
                assert!(c.train.epochs <= 3, "examples are tiny: {}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 4, "found {n} examples");
}

/// A done summary.json for `dir`.
fn done_summary(dir: &RunDir, epochs: usize) -> Summary {
    Summary {
        run_id: dir.run_id().to_string(),
        epochs,
        steps: 20,
        metrics: [("codes.acc".to_string(), 0.75)].into_iter().collect(),
        train: Default::default(),
        collapsed: false,
        warnings: vec![],
        train_seconds: 1.5,
        device: "cpu".into(),
    }
}

/// Cut a run's status.json in half, as a crash or a full disk outside the
/// store's atomic writes would.
fn tear_status(dir: &RunDir) {
    let text = std::fs::read(dir.status_path()).unwrap();
    std::fs::write(dir.status_path(), &text[..text.len() / 2]).unwrap();
}

/// One damaged run never blocks the others (issue #35): in `sweep run`, a done
/// run whose status.json is torn but whose summary.json is intact stays done
/// (status.json rebuilt from the summary); a run with nothing to rebuild from
/// is left alone as damaged, saying which file and what to do; the others run.
/// `sweep status` then lists every run and the damaged one in full.
/// A torn config.toml does not stop the sweep: the plan's config has the
/// run's id, so it is written again, and a finished run stays done.
#[test]
fn a_torn_config_is_written_again_from_the_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 2);
    let slots = make_slots(&[DeviceSpec::Cpu], 1);
    assert_eq!(run_jobs(&js, &slots, &Fake::new(&[], 1), &StopFlag::new(), &quiet(false)).done, 2);
    let path = js[0].dir.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    assert!(js[0].dir.read_config().is_err());
    let again = jobs(&store, 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "written again, as it was");
    let fake = Fake::new(&[], 1);
    let out = run_jobs(&again, &slots, &fake, &StopFlag::new(), &quiet(false));
    assert_eq!((out.skipped_done, out.done), (2, 0), "{out}");
    // A readable config of another run is still refused (a collision).
    std::fs::write(&path, toml::to_string(&config(7)).unwrap()).unwrap();
    let err = RunDir::create(&store, &again[0].entry, &again[0].config).unwrap_err();
    assert!(err.to_string().contains("holds a different config"), "{err}");
}

#[test]
fn a_damaged_run_never_blocks_run_or_status() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let js = jobs(&store, 4);
    let slots = make_slots(&[DeviceSpec::Cpu], 1);
    let first = run_jobs(&js[..2], &slots, &Fake::new(&[], 1), &StopFlag::new(), &quiet(false));
    assert_eq!(first.done, 2);
    js[0].dir.write_summary(&done_summary(&js[0].dir, 2)).unwrap();
    tear_status(&js[0].dir);
    tear_status(&js[1].dir);

    let fake = Fake::new(&[], 1);
    let out = run_jobs(&js, &slots, &fake, &StopFlag::new(), &quiet(false));
    assert_eq!(fake.ran_seeds(), [2, 3], "the damaged run is left alone, the others run");
    assert_eq!((out.skipped_done, out.done, out.damaged, out.failed), (1, 2, 1, 0), "{out}");
    assert!(out.to_string().contains("1 damaged"), "{out}");
    let rebuilt = state(&js[0]);
    assert_eq!((rebuilt.state, rebuilt.epoch), (RunState::Done, 2), "rebuilt from summary.json");
    let st: RunStatus = sweep::util::read_json(&js[0].dir.status_path()).unwrap();
    assert_eq!(st, rebuilt, "and written back");
    let damaged = js[1].dir.status().unwrap_err();
    assert_eq!(damaged.file, js[1].dir.status_path());
    assert!(damaged.message.contains("delete status.json"), "{damaged}");

    let view = store.view(&js[1].entry.run_id).unwrap();
    assert_eq!(view.observed, Observed::Damaged);
    let st = sweep::ops::status(tmp.path(), None, &Default::default()).unwrap();
    let counts = st.counts.to_string();
    assert!(counts.contains("3 done, 0 running, 0 failed, 0 interrupted, 0 pending, 1 damaged"), "{counts}");
    let mut listed: Vec<&str> = st.runs.iter().map(|v| v.run_id.as_str()).collect();
    let mut all: Vec<&str> = js.iter().map(|j| j.entry.run_id.as_str()).collect();
    listed.sort();
    all.sort();
    assert_eq!(listed, all, "every run is listed");
    let shown: Vec<_> = st.runs.iter().filter_map(|v| v.damaged.as_ref()).collect();
    assert_eq!(shown.len(), 1);
    assert_eq!((&shown[0].run_id, &shown[0].message), (&js[1].entry.run_id, &damaged.message), "with what is wrong");
}

fn common_root() -> std::path::PathBuf {
    super::common::root()
}

#[test]
fn plan_and_status_commands_run_on_a_store() {
    use sweep::store::Observed;
    let tmp = tempfile::tempdir().unwrap();
    let file = common_root().join("sweeps").join("examples").join("grid.toml");
    let store_path = tmp.path().join("store");
    let plan = || sweep::ops::plan(&file, &Default::default(), Some(&store_path)).unwrap();
    let before = plan();
    assert!(before.states.iter().all(|s| *s == Observed::New) && !store_path.exists(), "planning writes nothing");
    let ex = load_sweep(&file).unwrap();
    let store = Store::open(&store_path).unwrap();
    let js = prepare_jobs(&store, &ex).unwrap();
    let mut written = store.read_plan().unwrap().unwrap();
    let sha = sweep::schedule::provenance::file_sha256(&file);
    assert_eq!(written.source_sha256, sha, "plan.json keeps the SHA-256 of the sweep file's text");
    written.source_sha256 = None;
    assert_eq!(written, ex.plan);
    let out = run_jobs(&js, &make_slots(&[DeviceSpec::Cpu], 1), &Fake::new(&[], 1), &StopFlag::new(), &quiet(false));
    assert!(out.all_done());
    let views = js.iter().map(|j| store.view(&j.entry.run_id).unwrap()).collect::<Vec<_>>();
    assert_eq!(sweep::store::StateCounts::of(&views).done, js.len());
    assert_eq!(plan().counts.done, js.len());
    let st = sweep::ops::status(&store_path, None, &Default::default()).unwrap();
    assert_eq!((st.counts.done, st.runs.len()), (js.len(), js.len()));
    let st = sweep::ops::status(&file, Some(&store_path), &Default::default()).unwrap();
    assert_eq!(st.counts.done, js.len());
}

#[test]
fn text_table_aligns_columns() {
    let t = sweep::cli::table::text_table(
        &["run", "state"],
        &[vec!["abc".into(), "done".into()], vec!["a".into(), "interrupted (stale)".into()]],
    );
    insta::assert_snapshot!("text_table", t);
}

/// The paper's sweep files expand to the paper's settings (method.md §3-§6).
#[test]
fn paper_sweeps_carry_the_papers_settings() {
    use sweep::config::{Backbone, DatasetName, Split, TransformKind};
    if std::env::var_os("SWEEP_DATA").is_none() {
        eprintln!("SKIPPED: the paper sweeps read $SWEEP_DATA (make test sets it)");
        return;
    }
    let load =
        |name: &str| load_sweep(&common_root().join("sweeps").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));

    let t5 = load("table5.toml");
    assert_eq!(t5.plan.template, "table5");
    assert_eq!(t5.runs.len(), 12, "4 diagonal + 4 projection M + 3 new projection d' + BYOL");
    for (_, c) in &t5.runs {
        assert_eq!((c.data.dataset, c.data.split), (DatasetName::Stl10, Split::TrainTest));
        assert_eq!(
            (c.model.backbone, c.train.epochs, c.train.batch_size, c.data.resolution),
            (Backbone::Resnet34, 1000, 128, 96)
        );
        assert_eq!(c.train.lr, 5e-4);
    }
    let diag: Vec<usize> = t5
        .runs
        .iter()
        .filter(|(_, c)| c.transform.kind == TransformKind::Diagonal)
        .map(|(_, c)| c.transform.m)
        .collect();
    assert_eq!(diag, [10, 30, 50, 100]);
    let proj100: Vec<usize> = t5
        .runs
        .iter()
        .filter(|(_, c)| c.transform.kind == TransformKind::Projection && c.transform.m == 100 && c.loss.gamma > 0.0)
        .map(|(_, c)| c.transform.d_prime)
        .collect();
    assert_eq!(proj100, [64, 32, 128, 256]);
    assert_eq!(t5.runs.iter().filter(|(_, c)| c.loss.method_name() == "BYOL").count(), 1);

    let t4 = load("table4.toml");
    let methods: Vec<String> = t4.runs.iter().map(|(_, c)| c.loss.method_name()).collect();
    assert_eq!(methods, ["BYOL", "soft clustering", "BYOL + soft clustering", "ConCURL"]);

    let t3 = load("table3.toml");
    assert_eq!(t3.runs.len(), 10);
    for (_, c) in &t3.runs {
        let (epochs, batch, split, res) = match c.data.dataset {
            DatasetName::Stl10 => (1000, 128, Split::TrainTest, 96),
            DatasetName::Cifar10 | DatasetName::Cifar100_20 => (500, 256, Split::TrainTest, 32),
            DatasetName::Imagenet10 | DatasetName::ImagenetDogs => (500, 128, Split::Train, 224),
            other => panic!("table3 has {other}"),
        };
        assert_eq!(
            (c.train.epochs, c.train.batch_size, c.data.split, c.data.resolution),
            (epochs, batch, split, res),
            "{}",
            c.data.dataset
        );
        assert_eq!((c.transform.m, c.transform.d_prime), (100, 64));
    }
    let fig1 = load("fig1.toml");
    assert_eq!(fig1.runs.len(), 1);
    assert!(fig1.runs[0].1.eval.diversity);
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out =
            std::process::Command::new(env!("CARGO_BIN_EXE_sweep")).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("max-runs") && script.contains("offline"), "{shell}: {script}");
    }
}

/// Output piped into a reader that has gone (`sweep plan x | head`) ends the
/// command quietly instead of with a panic about a broken pipe.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first write
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}

#[test]
fn status_watch_stops_when_no_run_is_running() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let js = jobs(&store, 2);
    let out = run_jobs(&js, &make_slots(&[DeviceSpec::Cpu], 1), &Fake::new(&[], 1), &StopFlag::new(), &quiet(false));
    assert!(out.all_done());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(["status", store.root().to_str().unwrap(), "--watch", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("2 done") && text.contains("no run is running: stopped watching"), "{text}");
}
