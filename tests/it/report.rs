//! Reports over hand-written stores: aggregation against hand-computed numbers,
//! failed and missing runs counted, the rendered tables (insta snapshots), the
//! CSV export read back through Polars, and the errors a user can hit.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use polars::prelude::*;
use serde_json::json;
use sweep::config::{DatasetName, RunSpec, TransformKind};
use sweep::record::{EpochRecord, Plan, PlanEntry, Provenance, RunState, RunStatus, Summary};
use sweep::report::{self, aggregate, collect, metric_source, ReportError};
use sweep::store::{locate, LocateError, Store};
use sweep::util::write_json_atomic;

/// A store being written by hand, the way the orchestrator and trainer would.
struct FakeStore {
    dir: tempfile::TempDir,
    plan: Plan,
}

/// What one fake run left behind.
struct FakeRun<'a> {
    id: String,
    blocks: &'a [&'a str],
    swept: Vec<(&'a str, serde_json::Value)>,
    config: RunSpec,
    /// None: the run folder is never created (missing).
    state: Option<RunState>,
    reason: Option<&'a str>,
    /// Final metrics (summary.json), for done runs.
    metrics: Vec<(&'a str, f64)>,
    epochs: Vec<EpochRecord>,
    /// summary.json's collapse flag.
    collapsed: bool,
    /// provenance.json, when the run has one.
    provenance: Option<Provenance>,
}

impl<'a> FakeRun<'a> {
    fn new(id: impl Into<String>, config: RunSpec) -> Self {
        Self {
            id: id.into(),
            blocks: &[],
            swept: Vec::new(),
            config,
            state: Some(RunState::Done),
            reason: None,
            metrics: Vec::new(),
            epochs: Vec::new(),
            collapsed: false,
            provenance: None,
        }
    }
}

impl FakeStore {
    fn new(sweep: &str, template: &str) -> Self {
        let plan = Plan {
            sweep: sweep.into(),
            template: template.into(),
            source: format!("sweeps/{sweep}.toml"),
            source_sha256: None,
            overrides: vec![],
            notes: None,
            tensorboard: true,
            acc_thresholds: None,
            runs: vec![],
        };
        Self { dir: tempfile::tempdir().unwrap(), plan }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn add(&mut self, run: FakeRun) {
        let swept: IndexMap<String, serde_json::Value> =
            run.swept.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.plan.runs.push(PlanEntry {
            run_id: run.id.clone(),
            blocks: run.blocks.iter().map(|b| b.to_string()).collect(),
            swept,
        });
        let Some(state) = run.state else { return };
        let dir = self.store().join("runs").join(&run.id);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = run.config.clone().resolve().unwrap();
        std::fs::write(dir.join("config.toml"), toml::to_string(&cfg).unwrap()).unwrap();
        let mut status = RunStatus::pending();
        status.state = state;
        status.reason = run.reason.map(str::to_string);
        status.epoch = run.epochs.len();
        write_json_atomic(&dir.join("status.json"), &status).unwrap();
        let lines: String = run.epochs.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
        std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
        if let Some(p) = &run.provenance {
            sweep::store::RunDir::open(&dir).unwrap().write_provenance(p).unwrap();
        }
        if state == RunState::Done {
            let summary = Summary {
                run_id: run.id.clone(),
                epochs: cfg.train.epochs,
                steps: 100,
                metrics: run.metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                train: BTreeMap::from([("images_per_sec".to_string(), 250.0), ("loss".to_string(), 1.5)]),
                collapsed: run.collapsed,
                warnings: vec![],
                train_seconds: 12.5,
                device: "cpu".into(),
            };
            write_json_atomic(&dir.join("summary.json"), &summary).unwrap();
        }
    }

    /// Write plan.json (after every run is added).
    fn finish(&self) -> PathBuf {
        write_json_atomic(&self.store().join("plan.json"), &self.plan).unwrap();
        self.store()
    }
}

fn cfg(dataset: DatasetName, alpha: f64, beta: f64, gamma: f64) -> RunSpec {
    let mut c = RunSpec::default();
    c.data.dataset = dataset;
    if dataset != DatasetName::Synthetic {
        c.data.root = Some(PathBuf::from("/data"));
    }
    c.loss.alpha = alpha;
    c.loss.beta = beta;
    c.loss.gamma = gamma;
    c
}

/// The same scores under `codes.*` and (shifted) `kmeans_target.*`, so a test
/// sees which source a row used.
fn scores(acc: f64, nmi: f64, ari: f64) -> Vec<(&'static str, f64)> {
    vec![
        ("codes.acc", acc),
        ("codes.nmi", nmi),
        ("codes.ari", ari),
        ("kmeans_target.acc", acc - 0.1),
        ("kmeans_target.nmi", nmi - 0.1),
        ("kmeans_target.ari", ari - 0.1),
    ]
}

fn epoch(e: usize, loss: f64, acc: f64, div: f64) -> EpochRecord {
    EpochRecord {
        epoch: e,
        step: e * 10,
        train: BTreeMap::from([
            ("loss".into(), loss),
            ("l1".into(), loss / 2.0),
            ("l2".into(), loss / 4.0),
            ("l3".into(), loss / 4.0),
            ("seconds".into(), 30.0),
        ]),
        eval: BTreeMap::from([
            ("codes.acc".into(), acc),
            ("codes.nmi".into(), acc - 0.1),
            ("codes.ari".into(), acc - 0.2),
            ("diversity.mean".into(), div),
            ("diversity.std".into(), 0.05),
        ]),
    }
}

/// A `transform.m` x `seed` sweep on the synthetic set: m = 10 has three done
/// seeds; m = 30 one done, one failed, one never started.
fn generic_store() -> FakeStore {
    let mut s = FakeStore::new("grid", "generic");
    let base = cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0);
    let accs = [0.5, 0.6, 0.8];
    for (seed, acc) in accs.iter().enumerate() {
        let mut c = base.clone();
        c.transform.m = 10;
        c.seed = seed as u64;
        let mut r = FakeRun::new(format!("m10-s{seed}"), c);
        r.swept = vec![("transform.m", json!(10)), ("seed", json!(seed))];
        r.metrics = scores(*acc, acc - 0.1, acc - 0.2);
        r.metrics.push(("diversity.mean", 0.9));
        // Consensus partitions (method.md §11) for the consensus table.
        r.metrics.push(("consensus_cspa.acc", acc + 0.05));
        r.metrics.push(("consensus_hbgf.acc", acc + 0.02));
        r.collapsed = seed == 0;
        r.epochs = vec![epoch(1, 3.0, acc - 0.2, 0.5), epoch(2, 2.0, *acc, 0.9)];
        s.add(r);
    }
    for seed in 0..3u64 {
        let mut c = base.clone();
        c.transform.m = 30;
        c.seed = seed;
        let mut r = FakeRun::new(format!("m30-s{seed}"), c);
        r.swept = vec![("transform.m", json!(30)), ("seed", json!(seed))];
        match seed {
            0 => {
                r.metrics = scores(0.7, 0.65, 0.55);
                r.epochs = vec![epoch(1, 2.5, 0.7, 0.6)];
            }
            1 => {
                r.state = Some(RunState::Failed);
                r.reason = Some("loss became NaN at epoch 3");
            }
            _ => r.state = None,
        }
        s.add(r);
    }
    s
}

/// Replace the temporary folder in a report by a fixed name: its whole path,
/// and the `…/NAME` a store outside the working folder is shown as
/// ([`report::render::shown_store`]).
fn stable(md: &str, tmp: &Path) -> String {
    let name = tmp.file_name().unwrap().to_string_lossy();
    md.replace(&tmp.display().to_string(), "[TMP]").replace(&format!("…/{name}"), "[TMP]")
}

#[test]
fn aggregate_matches_hand_computed_mean_and_sample_std() {
    let s = generic_store();
    let store = s.finish();
    let c = collect(&store).unwrap();
    let groups = aggregate(&c).unwrap();
    assert_eq!(groups.len(), 2);

    let g = &groups[0];
    assert_eq!(g.key, vec![("transform.m".to_string(), Some(json!(10)))]);
    assert_eq!(g.run_ids, ["m10-s0", "m10-s1", "m10-s2"]);
    // ACC 0.5, 0.6, 0.8: mean 1.9/3; deviations -0.4/3, -0.1/3, 0.5/3, squares
    // summing to 0.42/9 = 0.046667, over n - 1 = 2: variance 0.023333.
    let acc = g.scores[0];
    assert!((acc.mean.unwrap() - 1.9 / 3.0).abs() < 1e-12);
    assert!((acc.std.unwrap() - 0.023_333_333_333_333_33f64.sqrt()).abs() < 1e-12);
    assert_eq!(acc.n, 3);
    // ARI = ACC - 0.2: same spread, shifted mean.
    assert!((g.scores[2].mean.unwrap() - (1.9 / 3.0 - 0.2)).abs() < 1e-12);
    assert!((g.scores[2].std.unwrap() - acc.std.unwrap()).abs() < 1e-12);
    assert_eq!((g.done, g.failed, g.missing), (3, 0, 0));

    // One seed: a mean, no standard deviation; the failed and the missing run counted.
    let g = &groups[1];
    assert_eq!(g.scores[0].mean, Some(0.7));
    assert_eq!(g.scores[0].std, None);
    assert_eq!(g.scores[0].n, 1);
    assert_eq!((g.done, g.failed, g.missing), (1, 1, 1));

    let n = report::aggregate::counts(&c);
    assert_eq!((n.runs, n.done, n.failed, n.missing), (6, 4, 1, 1));
    assert_eq!(c.runs[4].state, "failed");
    assert_eq!(c.runs[5].state, "missing");
}

#[test]
fn run_frame_and_series_frame_columns() {
    let s = generic_store();
    let store = s.finish();
    let c = collect(&store).unwrap();
    let names: Vec<String> = c.frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let expected = [
        "run_id",
        "state",
        "reason",
        "blocks",
        "transform.m",
        "seed",
        "method",
        "dataset",
        "backbone",
        "metric_source",
        "acc",
        "nmi",
        "ari",
        "codes.acc",
        "codes.ari",
        "codes.nmi",
        "consensus_cspa.acc",
        "consensus_hbgf.acc",
        "diversity.mean",
        "kmeans_target.acc",
        "kmeans_target.ari",
        "kmeans_target.nmi",
        "epochs",
        "collapsed",
        "train_seconds",
        "images_per_sec",
        "device",
        "isa",
        "engine_version",
        "commit",
        "dirty",
        "libtorch",
    ];
    assert_eq!(names, expected);
    assert_eq!(c.frame.height(), 6);
    let m: Vec<Option<i64>> = c.frame.column("transform.m").unwrap().i64().unwrap().into_iter().collect();
    assert_eq!(m, [Some(10), Some(10), Some(10), Some(30), Some(30), Some(30)]);
    let method: Vec<Option<&str>> = c.frame.column("method").unwrap().str().unwrap().into_iter().collect();
    assert_eq!(method[0], Some("ConCURL"));
    assert_eq!(method[5], None, "a missing run has no config");

    // 3 runs x 2 epochs + 1 run x 1 epoch, 10 keys each.
    assert_eq!(c.series.height(), 7 * 10);
    let long = c
        .series
        .clone()
        .lazy()
        .filter(col("run_id").eq(lit("m10-s2")).and(col("key").eq(lit("codes.acc"))))
        .collect()
        .unwrap();
    let v: Vec<Option<f64>> = long.column("value").unwrap().f64().unwrap().into_iter().collect();
    assert_eq!(v, [Some(0.8 - 0.2), Some(0.8)]);
}

/// The report reads metrics.jsonl through the store, by its one rule: a torn
/// last line (a crash mid-append) is skipped, a bad line elsewhere is an error
/// naming the line.
#[test]
fn torn_last_metrics_line_is_skipped_but_a_torn_middle_line_is_an_error() {
    let s = generic_store();
    let store = s.finish();
    let plan = Store::existing(&store).unwrap().read_plan().unwrap().unwrap();
    let run = Store::existing(&store).unwrap().run(&plan.runs[0].run_id).unwrap();
    let p = run.metrics_path();
    let good = serde_json::to_string(&epoch(1, 3.0, 0.5, 0.5)).unwrap();
    std::fs::write(&p, format!("{good}\n{{\"epoch\": 2, \"st")).unwrap();
    let recs = run.read_metrics().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].epoch, 1);
    let c = collect(&store).unwrap();
    assert_eq!(c.runs[0].epochs.len(), 1, "the report reads the same");

    std::fs::write(&p, format!("{{\"epoch\": 2, \"st\n{good}\n")).unwrap();
    let err = run.read_metrics().unwrap_err();
    assert!(format!("{err:#}").contains("metrics.jsonl:1:"), "{err:#}");
    let c = collect(&store).unwrap();
    assert!(c.runs[0].damaged.as_deref().is_some_and(|d| d.contains("metrics.jsonl:1:")), "{:?}", c.runs[0].damaged);
}

#[test]
fn metric_source_rule() {
    let c = |a, b, g| cfg(DatasetName::Synthetic, a, b, g).loss;
    assert_eq!(metric_source(&c(1.0, 0.0, 0.0)), "kmeans_target");
    assert_eq!(metric_source(&c(1.0, 1.0, 1.0)), "codes");
    assert_eq!(metric_source(&c(0.0, 1.0, 0.0)), "codes");
    assert_eq!(metric_source(&c(1.0, 1.0, 0.0)), "codes");
}

#[test]
fn generic_report_snapshot_and_figures() {
    let s = generic_store();
    let store = s.finish();
    std::fs::write(store.join("notes.md"), "- 2 epochs instead of 1000.\n- Synthetic data.\n").unwrap();
    // The best done run (m = 10, seed 2, ACC 0.8) has t-SNE points; the
    // report draws Figure 2 from them.
    let best = store.join("runs/m10-s2/figures");
    std::fs::create_dir_all(&best).unwrap();
    std::fs::write(best.join("tsne.csv"), "x,y,label\n0,0,0\n1,1,0\n0,1,1\n2,0.5,1\n").unwrap();
    let out = s.dir.path().join("reports");
    let path = report::write_report(&store, &out).unwrap();
    assert_eq!(path, out.join("grid.md"));
    let md = std::fs::read_to_string(&path).unwrap();
    for f in ["curves-1", "curves-2", "diversity", "time-to-accuracy"] {
        for ext in ["svg", "png"] {
            let p = out.join("grid/figures").join(format!("{f}.{ext}"));
            assert!(std::fs::metadata(&p).unwrap().len() > 1000, "{} is too small", p.display());
        }
    }
    for ext in ["svg", "png"] {
        let p = out.join("grid/figures").join(format!("tsne-best.{ext}"));
        assert!(std::fs::metadata(&p).unwrap().len() > 1000, "{} is too small", p.display());
    }
    let png = image::open(out.join("grid/figures/diversity.png")).unwrap();
    assert_eq!((png.width(), png.height()), (560, 420));
    insta::assert_snapshot!("generic", stable(&md, s.dir.path()));
}

/// One epoch of `seconds` training, evaluated (ACC under `key`) or not.
fn timed_epoch(e: usize, seconds: f64, eval: Option<(&str, f64)>) -> EpochRecord {
    EpochRecord {
        epoch: e,
        step: e * 10,
        train: BTreeMap::from([("loss".into(), 1.0), ("seconds".into(), seconds)]),
        eval: eval.map(|(k, v)| BTreeMap::from([(k.to_string(), v)])).unwrap_or_default(),
    }
}

/// Minutes to ACC .80 / .90 by hand: ConCURL seeds reach .80 after 2 and 3
/// minutes of training (evaluations every minute), one of them .90 after 4;
/// BYOL is read on kmeans_target and never reaches .80. A run not done counts
/// nowhere, and a run evaluated once draws no figure.
#[test]
fn time_to_accuracy_by_hand() {
    let mut s = FakeStore::new("speed", "generic");
    let concurl = cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0);
    let codes = [[0.5, 0.81, 0.85, 0.95], [0.4, 0.7, 0.8, 0.85]];
    for (seed, accs) in codes.iter().enumerate() {
        let mut c = concurl.clone();
        c.seed = seed as u64;
        let mut r = FakeRun::new(format!("c{seed}"), c);
        r.blocks = &["concurl"];
        r.swept = vec![("seed", json!(seed))];
        r.metrics = vec![("codes.acc", accs[3]), ("kmeans_pixels.acc", 0.55)];
        // Epochs of 30 s, evaluated every second epoch: evaluations at 1, 2, 3, 4 minutes.
        r.epochs =
            (1..=8).map(|e| timed_epoch(e, 30.0, (e % 2 == 0).then(|| ("codes.acc", accs[e / 2 - 1])))).collect();
        s.add(r);
    }
    let mut unfinished = FakeRun::new("c2", {
        let mut c = concurl.clone();
        c.seed = 2;
        c
    });
    unfinished.blocks = &["concurl"];
    unfinished.swept = vec![("seed", json!(2))];
    unfinished.state = Some(RunState::Interrupted);
    unfinished.epochs = vec![timed_epoch(1, 6.0, Some(("codes.acc", 0.99)))];
    s.add(unfinished);
    let mut byol = FakeRun::new("b0", cfg(DatasetName::Synthetic, 1.0, 0.0, 0.0));
    byol.blocks = &["byol"];
    byol.swept = vec![("seed", json!(0))];
    byol.metrics = vec![("kmeans_target.acc", 0.6)];
    byol.epochs = vec![
        timed_epoch(1, 90.0, Some(("kmeans_target.acc", 0.5))),
        // codes.acc of a BYOL run is not its headline: ignored.
        timed_epoch(2, 90.0, Some(("codes.acc", 0.95))),
        timed_epoch(3, 90.0, Some(("kmeans_target.acc", 0.6))),
    ];
    s.add(byol);
    let store = s.finish();
    let c = collect(&store).unwrap();
    let groups = aggregate(&c).unwrap();
    assert_eq!(groups.len(), 2);
    let fast = report::speed::group_speed(&c, &groups, 0).unwrap();
    assert_eq!(fast.evaluations, 4);
    assert_eq!(fast.train_minutes.mean, Some(4.0));
    assert_eq!(fast.wall_minutes.mean, Some(12.5 / 60.0));
    let (r80, r90) = (fast.reached[0], fast.reached[1]);
    assert_eq!((r80.threshold, r80.minutes.mean, r80.minutes.n, r80.of), (0.80, Some(2.5), 2, 2));
    assert!((r80.minutes.std.unwrap() - 0.5f64.sqrt()).abs() < 1e-12);
    assert_eq!((r90.minutes.mean, r90.minutes.n, r90.of), (Some(4.0), 1, 2));
    assert_eq!(report::speed::fmt_reached(&r80), "2.5 ± 0.7 (2)");
    assert_eq!(report::speed::fmt_reached(&r90), "4.0 (1 of 2)");
    let slow = report::speed::group_speed(&c, &groups, 1).unwrap();
    assert_eq!(slow.evaluations, 2);
    assert_eq!(slow.train_minutes.mean, Some(4.5));
    assert_eq!(report::speed::fmt_reached(&slow.reached[0]), "not reached (1)");

    let out = tempfile::tempdir().unwrap();
    let md = std::fs::read_to_string(report::write_report(&store, out.path()).unwrap()).unwrap();
    assert!(
        md.contains("| concurl | ConCURL | 4 | 4.0 ± 0.0 (2) | 0.2 ± 0.0 (2) | 2.5 ± 0.7 (2) | 4.0 (1 of 2) |"),
        "{md}"
    );
    assert!(md.contains("| byol | BYOL | 2 | 4.5 (1) | 0.2 (1) | not reached (1) | not reached (1) |"), "{md}");
    assert!(out.path().join("speed/figures/time-to-accuracy.svg").is_file());
}

/// The self-labelling table (method.md §11) by hand: two seeds whose codes' ACC
/// goes .60 -> .70 and .50 -> .70 over a stage of 2 + 4 minutes.
#[test]
fn selflabel_table_by_hand() {
    let mut s = FakeStore::new("selflabel", "generic");
    let mut c = cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0);
    c.self_labelling.epochs = 1;
    for (seed, before, stage_seconds) in [(0u64, 0.6, 120.0), (1, 0.5, 240.0)] {
        let mut cs = c.clone();
        cs.seed = seed;
        let mut r = FakeRun::new(format!("sl-s{seed}"), cs);
        r.swept = vec![("seed", json!(seed))];
        r.metrics = scores(0.7, 0.6, 0.5);
        r.metrics.push(("before_finetune.codes.acc", before));
        let mut stage = epoch(2, 1.0, 0.7, 0.5);
        stage.train = BTreeMap::from([
            ("loss".into(), 0.3),
            ("confident".into(), 0.8),
            ("self_labelling".into(), 1.0),
            ("seconds".into(), stage_seconds),
        ]);
        r.epochs = vec![epoch(1, 2.0, before, 0.5), stage];
        s.add(r);
    }
    let store = s.finish();
    let out = s.dir.path().join("reports");
    let md = std::fs::read_to_string(report::write_report(&store, &out).unwrap()).unwrap();
    assert!(md.contains("## Self-labelling stage"), "{md}");
    let row = md
        .lines()
        .find(|l| l.contains("ConCURL + self-labelling") && l.contains("+0.150"))
        .unwrap_or_else(|| panic!("no self-labelling row with gain +0.150 in\n{md}"));
    assert!(row.contains("0.550 ± 0.071 (2)"), "{row}");
    assert!(row.contains("0.700 ± 0.000 (2)"), "{row}");
    assert!(row.contains("3.0 (2)"), "{row}");
}

/// The ablation table measures every setting against the block named
/// `reference`: ACC 0.700 (2 runs) against the reference's 0.600 gives +0.100;
/// two epochs of 30 s and one of 90 s are 2.5 training minutes, 1.5 more than
/// the reference's two of 30 s.
#[test]
fn ablation_table_against_the_reference_block_by_hand() {
    let mut s = FakeStore::new("ablation", "generic");
    let c = cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0);
    for (block, acc, extra) in [("reference", 0.6, None), ("overcluster", 0.7, Some(90.0))] {
        for seed in [0u64, 1] {
            let mut cs = c.clone();
            cs.seed = seed;
            if extra.is_some() {
                cs.model.overcluster = 3;
            }
            let mut r = FakeRun::new(format!("{block}-s{seed}"), cs);
            r.blocks = if block == "reference" { &["reference"] } else { &["overcluster"] };
            r.swept = vec![("seed", json!(seed))];
            r.metrics = scores(acc, 0.5, 0.4);
            r.epochs = vec![epoch(1, 2.0, acc, 0.5), epoch(2, 1.0, acc, 0.5)];
            if let Some(seconds) = extra {
                let mut e = epoch(3, 1.0, acc, 0.5);
                e.train.insert("seconds".into(), seconds);
                r.epochs.push(e);
            }
            s.add(r);
        }
    }
    let store = s.finish();
    let out = s.dir.path().join("reports");
    let md = std::fs::read_to_string(report::write_report(&store, &out).unwrap()).unwrap();
    assert!(md.contains("## Against the reference"), "{md}");
    let section = &md[md.find("## Against the reference").unwrap()..];
    let row = |name: &str| {
        section
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no {name} row in\n{section}"))
            .to_string()
    };
    let reference = row("reference");
    assert!(reference.contains("0.600 ± 0.000 (2)") && reference.contains("(reference)"), "{reference}");
    assert!(reference.contains("1.0 (2)"), "{reference}");
    let over = row("overcluster");
    assert!(over.contains("0.700 ± 0.000 (2)") && over.contains("+0.100"), "{over}");
    assert!(over.contains("2.5 (2)") && over.contains("+1.5"), "{over}");
}

/// A sweep file's `notes` travel through plan.json into the report's header,
/// ahead of a store's `notes.md`; a child file's notes replace its parent's.
#[test]
fn sweep_file_notes_reach_the_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("parent.toml"),
        "name = \"parent\"\nnotes = \"parent notes\"\n[base]\n\"data.dataset\" = \"synthetic\"\n",
    )
    .unwrap();
    let child = dir.path().join("child.toml");
    std::fs::write(&child, "name = \"child\"\nextends = \"parent.toml\"\nnotes = \"\"\"\n**Budget**: tiny.\n\"\"\"\n")
        .unwrap();
    let expanded = sweep::config::expand::load_sweep(&child).unwrap();
    assert_eq!(expanded.plan.notes.as_deref(), Some("**Budget**: tiny.\n"));
    let parent = sweep::config::expand::load_sweep(&dir.path().join("parent.toml")).unwrap();
    assert_eq!(parent.plan.notes.as_deref(), Some("parent notes"));

    let mut s = FakeStore::new("noted", "generic");
    s.plan.notes = expanded.plan.notes.clone();
    let mut r = FakeRun::new("r0", cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0));
    r.metrics = scores(0.5, 0.4, 0.3);
    s.add(r);
    let store = s.finish();
    std::fs::write(store.join("notes.md"), "store notes").unwrap();
    let out = tempfile::tempdir().unwrap();
    let md = std::fs::read_to_string(report::write_report(&store, out.path()).unwrap()).unwrap();
    assert!(md.contains("## Differences from the paper\n\n**Budget**: tiny.\n"), "{md}");
    assert!(!md.contains("store notes"));
}

/// The four weight settings of Table IV on STL10, two seeds each.
fn table4_store() -> FakeStore {
    let mut s = FakeStore::new("table4", "table4");
    let settings = [
        ("byol", (1.0, 0.0, 0.0), [0.60, 0.62]),
        ("soft", (0.0, 1.0, 0.0), [0.55, 0.57]),
        ("both", (1.0, 1.0, 0.0), [0.66, 0.64]),
        ("concurl", (1.0, 1.0, 1.0), [0.74, 0.78]),
    ];
    for (name, (a, b, g), accs) in settings {
        for (seed, acc) in accs.iter().enumerate() {
            let mut c = cfg(DatasetName::Stl10, a, b, g);
            c.seed = seed as u64;
            let mut r = FakeRun::new(format!("{name}-s{seed}"), c);
            r.blocks = &["weights"];
            r.swept = vec![
                ("loss.alpha", json!(a)),
                ("loss.beta", json!(b)),
                ("loss.gamma", json!(g)),
                ("seed", json!(seed)),
            ];
            r.metrics = scores(*acc, acc - 0.1, acc - 0.2);
            s.add(r);
        }
    }
    s
}

#[test]
fn table4_snapshot_uses_kmeans_for_byol() {
    let s = table4_store();
    let store = s.finish();
    let c = collect(&store).unwrap();
    let groups = aggregate(&c).unwrap();
    // BYOL: kmeans_target (codes - 0.1), so ACC mean 0.61 - 0.1.
    assert!((groups[0].scores[0].mean.unwrap() - 0.51).abs() < 1e-12);
    // ConCURL: codes.
    assert!((groups[3].scores[0].mean.unwrap() - 0.76).abs() < 1e-12);
    let out = s.dir.path().join("reports");
    let md = std::fs::read_to_string(report::write_report(&store, &out).unwrap()).unwrap();
    insta::assert_snapshot!("table4", stable(&md, s.dir.path()));
}

/// Table V's three blocks; the M = 100, d' = 64 run belongs to two blocks; one
/// diagonal setting is still pending; a BYOL reference run.
fn table5_store() -> FakeStore {
    let mut s = FakeStore::new("table5", "table5");
    let concurl = cfg(DatasetName::Stl10, 1.0, 1.0, 1.0);
    let add = |s: &mut FakeStore, id: &'static str, blocks: &'static [&'static str], kind, m, d, acc: Option<f64>| {
        let mut c = concurl.clone();
        c.transform.kind = kind;
        c.transform.m = m;
        c.transform.d_prime = d;
        let mut r = FakeRun::new(id, c);
        r.blocks = blocks;
        r.swept = vec![("transform.m", json!(m)), ("transform.d_prime", json!(d))];
        match acc {
            Some(a) => r.metrics = scores(a, a - 0.1, a - 0.2),
            None => r.state = Some(RunState::Pending),
        }
        s.add(r);
    };
    add(&mut s, "diag10", &["diagonal"], TransformKind::Diagonal, 10, 256, Some(0.70));
    add(&mut s, "diag30", &["diagonal"], TransformKind::Diagonal, 30, 256, None);
    add(&mut s, "proj10", &["projection_m"], TransformKind::Projection, 10, 64, Some(0.61));
    add(&mut s, "proj100", &["projection_m", "projection_d"], TransformKind::Projection, 100, 64, Some(0.75));
    add(&mut s, "proj100d32", &["projection_d"], TransformKind::Projection, 100, 32, Some(0.72));
    let mut r = FakeRun::new("byol", cfg(DatasetName::Stl10, 1.0, 0.0, 0.0));
    r.blocks = &["byol"];
    r.metrics = scores(0.69, 0.6, 0.48);
    s.add(r);
    s
}

#[test]
fn table5_snapshot() {
    let s = table5_store();
    let store = s.finish();
    let c = collect(&store).unwrap();
    let groups = aggregate(&c).unwrap();
    // A run of two blocks is a group in each.
    let blocks: Vec<&str> = groups.iter().map(|g| g.block.as_str()).collect();
    assert_eq!(
        blocks,
        ["diagonal", "diagonal", "projection_m", "projection_m", "projection_d", "projection_d", "byol"]
    );
    assert_eq!(groups[3].run_ids, ["proj100"]);
    assert_eq!(groups[4].run_ids, ["proj100"]);
    let out = s.dir.path().join("reports");
    let md = std::fs::read_to_string(report::write_report(&store, &out).unwrap()).unwrap();
    insta::assert_snapshot!("table5", stable(&md, s.dir.path()));
}

#[test]
fn csv_export_reads_back_through_polars() {
    let s = generic_store();
    let store = s.finish();
    let out = s.dir.path().join("runs.csv");
    report::export::export(&store, report::export::Format::Csv, Some(&out)).unwrap();
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(out.clone()))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(df.height(), 6);
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(&names[..6], ["run_id", "state", "reason", "blocks", "transform.m", "seed"]);
    assert!(names.contains(&"codes.nmi".to_string()) && names.contains(&"images_per_sec".to_string()));
    let ids: Vec<Option<&str>> = df.column("run_id").unwrap().str().unwrap().into_iter().collect();
    assert_eq!(ids[0], Some("m10-s0"));
    let states: Vec<Option<&str>> = df.column("state").unwrap().str().unwrap().into_iter().collect();
    assert_eq!(states, [Some("done"), Some("done"), Some("done"), Some("done"), Some("failed"), Some("missing")]);
    let reason = df.column("reason").unwrap().str().unwrap().get(4);
    assert_eq!(reason, Some("loss became NaN at epoch 3"));
    let acc: Vec<Option<f64>> = df.column("codes.acc").unwrap().f64().unwrap().into_iter().collect();
    assert_eq!(acc, [Some(0.5), Some(0.6), Some(0.8), Some(0.7), None, None]);
    let m: Vec<Option<i64>> = df.column("transform.m").unwrap().i64().unwrap().into_iter().collect();
    assert_eq!(m[3], Some(30));

    // JSON: the same rows, nulls as null.
    let out = s.dir.path().join("runs.json");
    report::export::export(&store, report::export::Format::Json, Some(&out)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 6);
    assert_eq!(v[2]["codes.acc"], json!(0.8));
    assert_eq!(v[5]["codes.acc"], serde_json::Value::Null);
    assert_eq!(v[0]["seed"], json!(0));
}

#[test]
fn unknown_template_is_a_clear_error() {
    let mut s = FakeStore::new("odd", "table9");
    let mut r = FakeRun::new("a", cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0));
    r.metrics = scores(0.5, 0.4, 0.3);
    s.add(r);
    let store = s.finish();
    let err = report::write_report(&store, &s.dir.path().join("reports")).unwrap_err();
    match err.downcast_ref::<ReportError>() {
        Some(ReportError::UnknownTemplate { name, available }) => {
            assert_eq!(name, "table9");
            assert_eq!(available, &["generic", "table3", "table4", "table5"]);
        }
        other => panic!("expected UnknownTemplate, got {other:?} ({err:#})"),
    }
    assert_eq!(err.to_string(), "unknown report template `table9` (available: generic, table3, table4, table5)");
}

#[test]
fn store_is_found_from_a_sweep_file_or_a_folder() {
    let s = generic_store();
    let store = s.finish();
    assert_eq!(locate(&store, None).unwrap(), store);
    let dir = s.dir.path();
    std::fs::write(dir.join("a.toml"), "name = \"grid\"\nstore = \"store\"\n[base]\nseed = 1\n").unwrap();
    assert_eq!(
        locate(&dir.join("a.toml"), None).unwrap(),
        PathBuf::from("store"),
        "`store` is relative to the current folder, as in `sweep run`"
    );
    std::fs::write(dir.join("b.toml"), "name = \"quick\"\n").unwrap();
    assert_eq!(locate(&dir.join("b.toml"), None).unwrap(), PathBuf::from("runs/quick"));
    // Through `extends`, as `sweep run` expands it; `--store` over everything.
    std::fs::write(dir.join("c.toml"), "name = \"child\"\nextends = \"a.toml\"\n").unwrap();
    assert_eq!(locate(&dir.join("c.toml"), None).unwrap(), PathBuf::from("store"));
    assert_eq!(locate(&dir.join("c.toml"), Some(Path::new("elsewhere"))).unwrap(), PathBuf::from("elsewhere"));
    let err = locate(dir, None).unwrap_err();
    assert!(matches!(err.downcast_ref::<LocateError>(), Some(LocateError::NotAStore(_))), "{err:#}");
}

#[test]
fn scatter_plot_checks_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let err = report::figures::scatter_plot(
        &[[0.0, 0.0]],
        &[0, 1],
        "t",
        &dir.path().join("a.png"),
        &dir.path().join("a.svg"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("1 points but 2 labels"), "{err}");
}

/// Table III on CIFAR10 (BYOL and ConCURL, ResNet-34) and the appendix's
/// ImageNet-10 with a ResNet-18, reported through the CLI entry point.
#[test]
fn table3_snapshot_through_the_cli() {
    let mut s = FakeStore::new("table3", "table3");
    let runs: [(&str, &'static [&'static str], _, _, _, _); 3] = [
        ("byol-c10", &["byol"], DatasetName::Cifar10, (1.0, 0.0, 0.0), sweep::config::Backbone::Resnet34, 0.70),
        ("concurl-c10", &["concurl"], DatasetName::Cifar10, (1.0, 1.0, 1.0), sweep::config::Backbone::Resnet34, 0.80),
        (
            "concurl-in10-r18",
            &["concurl"],
            DatasetName::Imagenet10,
            (1.0, 1.0, 1.0),
            sweep::config::Backbone::Resnet18,
            0.85,
        ),
    ];
    for (id, blocks, d, (a, b, g), backbone, acc) in runs {
        let mut c = cfg(d, a, b, g);
        c.model.backbone = backbone;
        let mut r = FakeRun::new(id, c);
        r.blocks = blocks;
        r.swept = vec![("data.dataset", json!(d.as_str())), ("model.backbone", json!(backbone))];
        r.metrics = scores(acc, acc - 0.1, acc - 0.2);
        s.add(r);
    }
    let store = s.finish();
    let out = s.dir.path().join("reports");
    sweep::ops::report(&locate(&store, None).unwrap(), &out, report::ReportFormat::Markdown).unwrap();
    let md = std::fs::read_to_string(out.join("table3.md")).unwrap();
    insta::assert_snapshot!("table3", stable(&md, s.dir.path()));
}

// ---- LaTeX -------------------------------------------------------------------

#[test]
fn latex_cells_escape_and_keep_the_reports_markup() {
    use sweep::report::latex::cell;
    assert_eq!(cell("**0.752 ± 0.012 (3)**"), "\\textbf{0.752 $\\pm$ 0.012 (3)}");
    assert_eq!(cell("`loss.beta`"), "\\texttt{loss.beta}");
    assert_eq!(
        cell("a_b & 50% #1 $x {y} ~ ^ \\| —"),
        "a\\_b \\& 50\\% \\#1 \\$x \\{y\\} \\textasciitilde{} \\textasciicircum{} \\textbar{} ---"
    );
    assert_eq!(cell("Δ ACC"), "$\\Delta$ ACC");
    assert_eq!(cell("-0.031 (a-1)"), "$-$0.031 (a-1)");
}

#[test]
fn latex_table5_snapshot() {
    let s = table5_store();
    let store = s.finish();
    let out = s.dir.path().join("out");
    let path = report::write_report_as(&store, &out, report::ReportFormat::Latex).unwrap();
    assert_eq!(path, out.join("table5.tex"));
    let tex = std::fs::read_to_string(&path).unwrap();
    insta::assert_snapshot!("table5_latex", tex);
}

#[test]
fn latex_reports_of_every_template_compile_with_pdflatex() {
    let stores = [("generic", generic_store()), ("table4", table4_store()), ("table5", table5_store())];
    if std::process::Command::new("pdflatex").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("SWEEP_REQUIRE_LATEX").is_none(),
            "SWEEP_REQUIRE_LATEX is set but pdflatex is missing (apt-get install texlive-latex-recommended)"
        );
        eprintln!(
            "SKIPPED: pdflatex not found (Debian: apt-get install --no-install-recommends texlive-latex-recommended)"
        );
        return;
    }
    for (name, s) in stores {
        let store = s.finish();
        let out = s.dir.path().join("out");
        let tex = report::write_report_as(&store, &out, report::ReportFormat::Latex).unwrap();
        let doc = out.join("doc.tex");
        let input = tex.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(
            &doc,
            format!("\\documentclass{{article}}\n\\usepackage{{booktabs}}\n\\begin{{document}}\n\\input{{{input}}}\n\\end{{document}}\n"),
        )
        .unwrap();
        let run = std::process::Command::new("pdflatex")
            .args(["-interaction=nonstopmode", "-halt-on-error", "doc.tex"])
            .current_dir(&out)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{name}: pdflatex failed:\n{log}");
        assert!(out.join("doc.pdf").is_file(), "{name}");
    }
}

/// A provenance.json of one attempt per `(device model, ISA, commit, dirty)`,
/// with a fixed engine version so the report does not depend on this build.
fn provenance(attempts: &[(&str, &str, &str, bool)]) -> Provenance {
    use sweep::record::{Attempt, Engine, Machine, Outcome};
    let attempts = attempts
        .iter()
        .enumerate()
        .map(|(i, (model, isa, commit, dirty))| {
            let mut machine = Machine::unknown("cpu");
            machine.device.model = Some(model.to_string());
            machine.device.cpu_model = Some(model.to_string());
            machine.device.isa = Some(isa.to_string());
            machine.libtorch = Some("2.11.0+cpu".into());
            Attempt {
                number: i as u32 + 1,
                started: "2025-01-01T00:00:00Z".into(),
                ended: Some("2025-01-01T01:00:00Z".into()),
                outcome: Some(if i + 1 == attempts.len() { Outcome::Finished } else { Outcome::Interrupted }),
                reason: None,
                engine: Engine {
                    version: "0.1.0".into(),
                    commit: commit.repeat(40 / commit.len()),
                    dirty: Some(*dirty),
                },
                machine,
                host: "never-in-a-report".into(),
                sweep_file: None,
                warnings: vec![],
            }
        })
        .collect();
    Provenance { attempts }
}

const EPYC: &str = "AMD EPYC 7B13";
const XEON: &str = "Intel(R) Xeon(R) Platinum 8480+";

/// `transform.m` x seed: m = 10 ran on one machine; m = 30 has a run resumed on
/// another machine and engine, a run from before provenance.json, and one never started.
fn ran_on_store() -> FakeStore {
    let mut s = FakeStore::new("ran-on", "generic");
    type Attempts<'a> = Option<&'a [(&'a str, &'a str, &'a str, bool)]>;
    let runs: [(u64, u64, Attempts, bool); 5] = [
        (10, 0, Some(&[(EPYC, "AVX2", "c1", false)]), true),
        (10, 1, Some(&[(EPYC, "AVX2", "c1", false)]), true),
        (30, 0, Some(&[(EPYC, "AVX2", "c1", false), (XEON, "AVX512", "c2", true)]), true),
        (30, 1, None, true),
        (30, 2, None, false),
    ];
    for (m, seed, prov, started) in runs {
        let mut c = cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0);
        c.transform.m = m as usize;
        c.seed = seed;
        let mut r = FakeRun::new(format!("m{m}-s{seed}"), c);
        r.swept = vec![("transform.m", json!(m)), ("seed", json!(seed))];
        r.metrics = scores(0.5, 0.4, 0.3);
        r.provenance = prov.map(provenance);
        if !started {
            r.state = None;
        }
        s.add(r);
    }
    s
}

fn ran_on_lines(md: &str) -> String {
    md.lines().filter(|l| l.starts_with("- ran on")).collect::<Vec<_>>().join("\n")
}

#[test]
fn ran_on_lines_per_setting_when_runs_differ() {
    let s = ran_on_store();
    let store = s.finish();
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("reports")).unwrap()).unwrap();
    assert!(!md.contains("never-in-a-report"), "the host name stays out of reports");
    insta::assert_snapshot!("ran_on", ran_on_lines(&md));
}

#[test]
fn one_ran_on_line_when_every_run_agrees_and_unknown_without_provenance() {
    let mut s = FakeStore::new("agree", "generic");
    for seed in 0..2u64 {
        let mut r = FakeRun::new(format!("r{seed}"), cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0));
        r.swept = vec![("seed", json!(seed))];
        r.metrics = scores(0.5, 0.4, 0.3);
        r.provenance = Some(provenance(&[(EPYC, "AVX2", "c1", false), (EPYC, "AVX2", "c1", false)]));
        s.add(r);
    }
    let store = s.finish();
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("a")).unwrap()).unwrap();
    assert_eq!(ran_on_lines(&md), "- ran on: AMD EPYC 7B13, ISA AVX2, sweep 0.1.0 (c1c1c1c1)");

    // The same runs from before provenance.json: unknown, never refused.
    for seed in 0..2 {
        std::fs::remove_file(store.join(format!("runs/r{seed}/provenance.json"))).unwrap();
    }
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("b")).unwrap()).unwrap();
    assert_eq!(ran_on_lines(&md), "- ran on: unknown");

    // A damaged provenance.json is unknown too (with a warning), not a failed report.
    std::fs::write(store.join("runs/r0/provenance.json"), "{ torn").unwrap();
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("c")).unwrap()).unwrap();
    assert_eq!(ran_on_lines(&md), "- ran on: unknown");
}

#[test]
fn export_has_the_provenance_columns() {
    let s = ran_on_store();
    let store = s.finish();
    let out = s.dir.path().join("runs.json");
    report::export::export(&store, report::export::Format::Json, Some(&out)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let row = |i: usize, k: &str| v[i][k].clone();
    assert_eq!(row(0, "device"), json!(EPYC));
    assert_eq!(row(0, "isa"), json!("AVX2"));
    assert_eq!(row(0, "engine_version"), json!("0.1.0"));
    assert_eq!(row(0, "commit"), json!("c1".repeat(20)));
    assert_eq!(row(0, "dirty"), json!(false));
    assert_eq!(row(0, "libtorch"), json!("2.11.0+cpu"));
    // Resumed elsewhere: each distinct value once; dirty when any build was.
    assert_eq!(row(2, "device"), json!(format!("{EPYC}; {XEON}")));
    assert_eq!(row(2, "isa"), json!("AVX2; AVX512"));
    assert_eq!(row(2, "dirty"), json!(true));
    assert_eq!(row(2, "libtorch"), json!("2.11.0+cpu"));
    for k in ["device", "isa", "engine_version", "commit", "dirty", "libtorch"] {
        assert_eq!(row(3, k), serde_json::Value::Null, "a run without provenance.json has no {k}");
    }
}

/// The store line names no machine's absolute path: as given when relative,
/// relative to the working folder when under it, else its last two components.
#[test]
fn report_names_the_store_without_a_machine_path() {
    use report::render::shown_store;
    let cwd = Path::new("/home/me/sweep");
    assert_eq!(shown_store(Path::new("runs/quickstart"), Some(cwd)), "runs/quickstart");
    assert_eq!(shown_store(Path::new("../shared/store"), Some(cwd)), "../shared/store");
    assert_eq!(shown_store(Path::new("/home/me/sweep/runs/grid"), Some(cwd)), "runs/grid");
    assert_eq!(shown_store(Path::new("/home/me/sweep"), Some(cwd)), ".");
    assert_eq!(shown_store(Path::new("/work/store/cpu-mnist"), Some(cwd)), "…/store/cpu-mnist");
    assert_eq!(shown_store(Path::new("/store"), None), "…/store");
    // In a whole report: the store is under a temporary folder, outside the working one.
    let s = generic_store();
    let store = s.finish();
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("reports")).unwrap()).unwrap();
    let name = s.dir.path().file_name().unwrap().to_string_lossy();
    assert!(md.contains(&format!("- store: `…/{name}/store`")), "{md}");
    assert!(!md.contains(&s.dir.path().display().to_string()), "no absolute path: {md}");
}

/// One damaged run never blocks the report (issue #35): a done run whose
/// status.json is torn but whose summary.json is intact is reported as done; a
/// run whose summary.json is torn is listed as damaged, with the file and what
/// to do; a run whose config.toml is damaged likewise; the others are reported.
#[test]
fn a_damaged_run_never_blocks_the_report() {
    let s = generic_store();
    let store = s.finish();
    let tear = |run: &str, file: &str| {
        let p = store.join("runs").join(run).join(file);
        let text = std::fs::read(&p).unwrap();
        std::fs::write(&p, &text[..text.len() / 2]).unwrap();
    };
    tear("m10-s0", "status.json");
    tear("m10-s1", "summary.json");
    tear("m30-s0", "config.toml");
    let c = collect(&store).unwrap();
    let state = |id: &str| c.runs.iter().find(|r| r.entry.run_id == id).unwrap();
    assert_eq!(state("m10-s0").state, "done", "rebuilt from summary.json");
    assert!(state("m10-s0").summary.is_some());
    for (id, file) in [("m10-s1", "summary.json"), ("m30-s0", "config.toml")] {
        let r = state(id);
        assert_eq!(r.state, collect::DAMAGED, "{id}");
        let why = r.reason().unwrap();
        assert!(why.contains(file) && (why.contains("delete") || why.contains("move the run folder")), "{why}");
    }
    assert_eq!(state("m10-s2").state, "done");
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("reports")).unwrap()).unwrap();
    assert!(md.contains("| damaged |") || md.contains("damaged"), "{md}");
    assert!(md.contains("m10-s1") && md.contains("summary.json"), "{md}");
}

/// The restarts section (method.md §13): one row per run with restarts.json,
/// each candidate's L2 / ACC, the one kept, the one the labels would have
/// kept, and how often they agree (here 1 of 2).
#[test]
fn restarts_table_by_hand() {
    use sweep::record::{RestartCandidate, Restarts};
    let mut s = FakeStore::new("restarts", "generic");
    let mut c = cfg(DatasetName::Synthetic, 1.0, 1.0, 1.0);
    (c.train.restarts, c.train.restart_epochs, c.train.epochs) = (2, 1, Some(3));
    let cand = |seed, l2, acc| RestartCandidate { seed, l2, acc: Some(acc), seconds: 60.0 };
    let choices =
        [(0u64, vec![cand(0, 1.2, 0.6), cand(77, 1.0, 0.7)], 1), (1, vec![cand(1, 0.9, 0.4), cand(78, 1.1, 0.5)], 0)];
    for (seed, candidates, chosen) in choices {
        let mut cs = c.clone();
        cs.seed = seed;
        let mut r = FakeRun::new(format!("rs-s{seed}"), cs);
        r.swept = vec![("seed", json!(seed))];
        r.metrics = scores(0.8, 0.6, 0.5);
        r.epochs = vec![epoch(1, 2.0, 0.7, 0.5)];
        s.add(r);
        let record = Restarts { metric: "l2".into(), epochs: 1, chosen, candidates };
        let dir = sweep::store::RunDir::open(&s.store().join("runs").join(format!("rs-s{seed}"))).unwrap();
        dir.write_restarts(&record).unwrap();
    }
    let store = s.finish();
    let md = std::fs::read_to_string(report::write_report(&store, &s.dir.path().join("reports")).unwrap()).unwrap();
    assert!(md.contains("## Restarts"), "{md}");
    assert!(md.contains("kept the candidate best by ACC at the choice in 1 of 2 runs"), "{md}");
    let row = md.lines().find(|l| l.contains("0: 1.200 / 0.600; 1: 1.000 / 0.700")).expect("seed 0's row");
    assert!(row.ends_with("| 1 | 1 | 0.800 |"), "{row}");
    let row = md.lines().find(|l| l.contains("0: 0.900 / 0.400; 1: 1.100 / 0.500")).expect("seed 1's row");
    assert!(row.ends_with("| 0 | 1 | 0.800 |"), "{row}");
}
