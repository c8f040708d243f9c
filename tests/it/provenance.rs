//! provenance.json: the scheduler's record of every attempt (first kept, later
//! ones appended, an attempt killed mid-way closed as interrupted, a resume on
//! another ISA level or engine warned about), and, with libtorch, the machine
//! facts of a tiny CPU run and of its resume. The report's "ran on" lines and
//! the export's columns are tested in `report.rs`.
use std::sync::atomic::{AtomicUsize, Ordering};

use sweep::config::{RunConfig, RunSpec};
use sweep::record::{Attempt, Machine, Outcome, Provenance};
use sweep::schedule::provenance::{change_warning, engine, file_sha256, rfc3339};
use sweep::schedule::{
    make_slots, prepare_jobs, run_jobs, DeviceSpec, Executor, Job, ProgressMode, RunControl, RunFailure,
    ScheduleOptions, Slot, StopFlag,
};
use sweep::store::Store;

fn quiet() -> ScheduleOptions {
    ScheduleOptions { retry_failed: false, progress: ProgressMode::Quiet }
}

/// `sweep train`'s one-run plan for `cfg` from a run file at `tmp/run.toml`,
/// written into a store at `tmp/store`: the job, and the file's path.
fn one_job(tmp: &std::path::Path, cfg: &RunConfig) -> (Job, std::path::PathBuf) {
    let file = tmp.join("run.toml");
    std::fs::write(&file, toml::to_string(cfg).unwrap()).unwrap();
    let store_path = tmp.join("store");
    let store = Store::open(&store_path).unwrap();
    let ex = sweep::config::expand::single("one", cfg.clone(), &file, store_path);
    let mut jobs = prepare_jobs(&store, &ex).unwrap();
    (jobs.remove(0), file)
}

/// Runs `job` (interrupted once, recorded in `first`) again to its end: its
/// second attempt, after checking that the first was kept as it was.
fn finish_second_attempt(job: &Job, slots: &[Slot], exe: &dyn Executor, first: &Provenance) -> Attempt {
    let out = run_jobs(std::slice::from_ref(job), slots, exe, &StopFlag::new(), &quiet());
    assert_eq!(out.done, 1, "{out}");
    let both = job.dir.read_provenance().unwrap().unwrap();
    assert_eq!(both.attempts.len(), 2);
    assert_eq!(both.attempts[0], first.attempts[0], "the first attempt is kept as it was");
    let b = both.attempts[1].clone();
    assert_eq!((b.number, b.outcome), (2, Some(Outcome::Finished)));
    b
}

#[test]
fn rfc3339_is_utc_with_leap_days() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
}

/// Stops its first job (interrupted) and finishes every later one; each call
/// runs on the next ISA level of `isa`.
struct Resumes {
    calls: AtomicUsize,
    isa: Vec<&'static str>,
}

impl Executor for Resumes {
    fn execute(&self, _: &Job, _: &Slot, _: &RunControl) -> Result<(), RunFailure> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(RunFailure::Interrupted),
            _ => Ok(()),
        }
    }
    fn machine(&self, slot: &Slot) -> Machine {
        let mut m = Machine::unknown(&slot.device.to_string());
        let i = self.calls.load(Ordering::SeqCst).min(self.isa.len() - 1);
        m.device.isa = Some(self.isa[i].to_string());
        m.device.model = Some("Test CPU".into());
        m
    }
}

fn config() -> RunConfig {
    let mut c = RunSpec { seed: 11, ..RunSpec::default() };
    c.train.epochs = Some(2);
    c.resolve().unwrap()
}

#[test]
fn each_attempt_is_appended_the_first_kept_and_a_new_isa_warned() {
    let tmp = tempfile::tempdir().unwrap();
    let (job, file) = one_job(tmp.path(), &config());
    let exe = Resumes { calls: AtomicUsize::new(0), isa: vec!["AVX2", "AVX512"] };
    let slots = make_slots(&[DeviceSpec::Cpu], 1);
    let out = run_jobs(std::slice::from_ref(&job), &slots, &exe, &StopFlag::new(), &quiet());
    assert_eq!(out.interrupted, 1, "{out}");
    let first = job.dir.read_provenance().unwrap().unwrap();
    assert_eq!(first.attempts.len(), 1);
    let a = &first.attempts[0];
    assert_eq!((a.number, a.outcome), (1, Some(Outcome::Interrupted)));
    assert!(a.ended.is_some() && a.warnings.is_empty(), "{a:?}");
    assert_eq!(a.engine, engine());
    assert_eq!(a.engine.version, env!("CARGO_PKG_VERSION"));
    let sf = a.sweep_file.as_ref().expect("the plan's sweep file");
    assert_eq!(sf.path, file.display().to_string());
    assert_eq!(sf.sha256, file_sha256(&file));
    assert_eq!(sf.sha256.as_ref().map(String::len), Some(64));

    let b = &finish_second_attempt(&job, &slots, &exe, &first);
    assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
    assert!(b.warnings[0].starts_with("resumed on ISA level AVX512 where it started on AVX2"), "{}", b.warnings[0]);
}

fn attempt(isa: &str, commit: &str) -> Attempt {
    let mut machine = Machine::unknown("cpu");
    machine.device.isa = Some(isa.into());
    let mut engine = engine();
    engine.commit = commit.into();
    Attempt {
        number: 1,
        started: rfc3339(0),
        ended: None,
        outcome: None,
        reason: None,
        engine,
        machine,
        host: "h".into(),
        sweep_file: None,
        warnings: vec![],
    }
}

#[test]
fn a_killed_attempt_is_closed_as_interrupted_and_a_new_engine_warned() {
    assert_eq!(change_warning(&attempt("AVX2", "a"), &attempt("AVX2", "a")), None);
    let w = change_warning(&attempt("AVX2", "aaaaaaaaaa"), &attempt("AVX512", "bbbbbbbbbb")).unwrap();
    assert!(w.starts_with("resumed on ISA level AVX512 and engine sweep"), "{w}");
    assert!(w.contains("where it started on AVX2 and sweep") && w.contains("(aaaaaaaa"), "{w}");

    let tmp = tempfile::tempdir().unwrap();
    let (job, _) = one_job(tmp.path(), &config());
    // A process killed while running leaves its attempt open.
    let killed = attempt("AVX2", "a");
    job.dir.write_provenance(&Provenance { attempts: vec![killed.clone()] }).unwrap();
    let exe = Resumes { calls: AtomicUsize::new(1), isa: vec!["AVX2"] };
    let out =
        run_jobs(std::slice::from_ref(&job), &make_slots(&[DeviceSpec::Cpu], 1), &exe, &StopFlag::new(), &quiet());
    assert_eq!(out.done, 1, "{out}");
    let p = job.dir.read_provenance().unwrap().unwrap();
    assert_eq!(p.attempts.len(), 2);
    let k = &p.attempts[0];
    assert_eq!((k.outcome, k.ended.as_ref(), &k.started), (Some(Outcome::Interrupted), None, &killed.started));
    assert!(k.reason.as_deref().unwrap().contains("killed"), "{k:?}");
    assert!(p.attempts[1].warnings[0].contains("engine"), "{:?}", p.attempts[1].warnings);
}

#[cfg(feature = "torch")]
mod torch {
    use std::sync::atomic::{AtomicBool, Ordering};

    use sweep::record::{Machine, Outcome};
    use sweep::runtime::provenance::{cuda_version_text, cudnn_version_text, CpuInfo, KNOWN_ISA_LEVELS};
    use sweep::schedule::provenance::file_sha256;
    use sweep::schedule::{make_slots, run_jobs, DeviceSpec, Executor, Job, RunControl, RunFailure, Slot, StopFlag};
    use sweep::train::executor::TorchExecutor;

    use super::{one_job, quiet};
    use crate::train::tiny_config;

    #[test]
    fn version_texts_and_cpuinfo_flags() {
        assert_eq!(cuda_version_text(12080), "12.8");
        assert_eq!(cuda_version_text(13000), "13.0");
        assert_eq!(cudnn_version_text(90100), "9.1.0");
        assert_eq!(cudnn_version_text(8907), "8.9.7");
        let text = "processor\t: 0\nmodel name\t: Test Xeon\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\n";
        let cpu = CpuInfo::parse(text);
        assert_eq!(cpu.model.as_deref(), Some("Test Xeon"));
        assert_eq!((cpu.avx512_bf16(), cpu.amx()), (Some(true), Some(false)), "AMX needs amx_bf16 too");
        let arm = CpuInfo::parse("processor\t: 0\nFeatures\t: fp asimd\n");
        assert_eq!((arm.model.as_deref(), arm.avx512_bf16()), (None, None));
    }

    /// TorchExecutor, but its first job is stopped at epoch 2's first progress
    /// report (10 steps in, after epoch 1's checkpoint), as Ctrl-C would.
    struct StopFirst {
        inner: TorchExecutor,
        stopped: AtomicBool,
    }

    impl Executor for StopFirst {
        fn execute(&self, job: &Job, slot: &Slot, ctl: &RunControl) -> Result<(), RunFailure> {
            if self.stopped.swap(true, Ordering::SeqCst) {
                return self.inner.execute(job, slot, ctl);
            }
            let stop = StopFlag::new();
            let s2 = stop.clone();
            let own = RunControl::new(stop, move |p| {
                if p.epoch == 2 {
                    s2.request();
                }
            });
            self.inner.execute(job, slot, &own)
        }
        fn machine(&self, slot: &Slot) -> Machine {
            self.inner.machine(slot)
        }
    }

    #[test]
    fn a_tiny_cpu_run_records_its_machine_and_its_resume() {
        let _rng = crate::common::torch_rng();
        let tmp = tempfile::tempdir().unwrap();
        let (job, file) = one_job(tmp.path(), &tiny_config(64, 2)); // 12 steps an epoch
        let exe = StopFirst { inner: TorchExecutor::default(), stopped: AtomicBool::new(false) };
        let slots = make_slots(&[DeviceSpec::Cpu], 1);
        let out = run_jobs(std::slice::from_ref(&job), &slots, &exe, &StopFlag::new(), &quiet());
        assert_eq!(out.interrupted, 1, "{out}");
        let first = job.dir.read_provenance().unwrap().unwrap();
        assert_eq!(first.attempts.len(), 1);
        let a = &first.attempts[0];
        assert_eq!(a.outcome, Some(Outcome::Interrupted));
        let d = &a.machine.device;
        let isa = d.isa.as_deref().expect("ATen's CPU capability");
        assert!(KNOWN_ISA_LEVELS.contains(&isa), "{isa}");
        assert_eq!(d.name, "cpu");
        assert!(a.machine.libtorch.as_deref().is_some_and(|v| v.starts_with("2.")), "{:?}", a.machine.libtorch);
        assert!(a.machine.threads.is_some_and(|t| t >= 1));
        assert!(!a.host.is_empty() && a.started.ends_with('Z') && a.ended.as_ref().is_some_and(|e| e >= &a.started));
        let cpuinfo = CpuInfo::parse(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default());
        assert_eq!((&d.model, &d.cpu_model), (&cpuinfo.model, &cpuinfo.model), "on the CPU the device is the CPU");
        assert_eq!((d.avx512_bf16, d.amx), (cpuinfo.avx512_bf16(), cpuinfo.amx()));
        assert_eq!(d.memory_bytes, None);
        assert_eq!(a.sweep_file.as_ref().and_then(|s| s.sha256.clone()), file_sha256(&file));
        // The record reads as documented.
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(job.dir.provenance_path()).unwrap()).unwrap();
        for key in ["number", "started", "ended", "outcome", "engine", "libtorch", "device", "threads", "host"] {
            assert!(json["attempts"][0].get(key).is_some(), "no `{key}` in {json}");
        }
        assert_eq!(json["attempts"][0]["device"]["isa"], isa);

        let b = &super::finish_second_attempt(&job, &slots, &exe, &first);
        assert!(b.warnings.is_empty(), "same machine, same engine: {:?}", b.warnings);
        // (Threads aside: another test may change libtorch's between the attempts.)
        let threadless = |m: &Machine| Machine { threads: None, ..m.clone() };
        assert_eq!(threadless(&b.machine), threadless(&a.machine));
    }
}
