//! Bad input refused before any work: enormous grids, non-finite and
//! out-of-range numbers, sizes no machine holds, unknown templates, names that
//! cannot name a folder, stores that cannot be written; and a property test
//! that no byte string or well-formed sweep over the real keys panics or hangs,
//! and that every refusal names the file.
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sweep::config::expand::{load_sweep_with, LoadOptions};
use sweep::config::{load_sweep, SweepError};
use sweep::store::Store;

use crate::common::SWEEP_FILE_BASE as BASE;

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("s.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn refused(text: &str) -> SweepError {
    let dir = tempfile::tempdir().unwrap();
    load_sweep(&write(dir.path(), text)).expect_err("the sweep file should be refused")
}

/// The one problem containing `needle`, as `FILE:LINE:COL: message` text.
fn problem_text(err: &SweepError, needle: &str) -> String {
    let hits: Vec<String> = err.problems.iter().filter(|p| p.message.contains(needle)).map(|p| p.to_string()).collect();
    assert_eq!(hits.len(), 1, "expected one problem containing {needle:?} in:\n{err}");
    hits.into_iter().next().unwrap()
}

fn position(err: &SweepError, needle: &str) -> Option<(usize, usize)> {
    err.problems.iter().find(|p| p.message.contains(needle)).and_then(|p| p.origin.pos)
}

#[test]
fn an_enormous_grid_is_refused_from_its_structure() {
    // 100^5 = 10^10 runs: expanding them would take hours and all the memory.
    let values: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let list = format!("[{}]", values.join(", "));
    let text = format!(
        "name = \"huge\"\n{BASE}\n[axes]\n\"transform.m\" = {list}\n\"transform.d_prime\" = {list}\n\"eval.kmeans_restarts\" = {list}\n\"train.epochs\" = {list}\n\"seed\" = {list}\n"
    );
    let err = refused(&text);
    assert_eq!(err.problems.len(), 1, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("10000000000 runs"), "{msg}");
    assert!(msg.contains("transform.m 100 x transform.d_prime 100"), "{msg}");
    assert!(msg.contains("--max-runs"), "{msg}");
    assert!(msg.contains("s.toml"), "{msg}");
}

#[test]
fn max_runs_is_the_limit_and_counts_blocks_zips_and_includes() {
    let text = format!(
        "name = \"g\"\nseeds = [0, 1]\n{BASE}\n[[zip]]\n\"loss.beta\" = [0.0, 1.0]\n\"loss.gamma\" = [0.0, 1.0]\n[[include]]\n\"transform.m\" = 7\n[[block]]\nname = \"a\"\n[block.axes]\n\"transform.m\" = [10, 20, 30]\n[[block]]\nname = \"b\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), &text);
    // Block a: 2 seeds x 2 zipped x 3 = 12; block b: 2 x 2 = 4; one include: 17.
    let err = load_sweep_with(&p, &LoadOptions { max_runs: 16, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("17 runs"), "{err}");
    assert!(err.contains("`a`: seeds 2 x transform.m 3 x [[zip]] loss.beta+loss.gamma 2 = 12"), "{err}");
    let ok = load_sweep_with(&p, &LoadOptions { max_runs: 17, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.runs.len(), 17);
}

#[test]
fn non_finite_numbers_are_refused_where_they_are_written() {
    let err = refused(&format!(
        "name = \"f\"\n{BASE}\"loss.tau\" = inf\n\"augment.brightness\" = nan\n[axes]\n\"augment.crop_scale\" = [[0.3, 1.0], [-nan, 1.0]]\n"
    ));
    assert_eq!(position(&err, "`inf` is not a finite number"), Some((8, 14)), "{err}");
    assert_eq!(position(&err, "`nan` is not a finite number"), Some((9, 24)), "{err}");
    assert_eq!(position(&err, "`-nan` is not a finite number"), Some((11, 38)), "{err}");
    assert_eq!(err.problems.len(), 3, "one problem per bad number, nothing more:\n{err}");
}

#[test]
fn an_integer_beyond_toml_range_is_refused_not_clamped() {
    let err = refused(&format!("name = \"i\"\n{BASE}\"transform.m\" = 99999999999999999999\n"));
    let text = problem_text(&err, "99999999999999999999 is too large");
    assert!(text.contains("s.toml:8:17"), "{text}");
    assert_eq!(err.problems.len(), 1, "{err}");
    // Within i64 but beyond the field's type: serde's range check, located.
    let err = refused(&format!("name = \"i\"\n{BASE}\"data.resolution\" = 5000000000\n"));
    assert!(problem_text(&err, "5000000000").contains("s.toml:8:21"), "{err}");
}

#[test]
fn sizes_and_iteration_counts_have_maxima_with_reasons() {
    for (key, value, needle) in [
        ("transform.m", "1000000000", "transform.m = 1000000000: at most 10000"),
        ("transform.d_prime", "3000000000", "transform.d_prime = 3000000000: at most 65536"),
        ("model.head_dim", "100000000", "model.head_dim = 100000000: at most 65536"),
        ("loss.sinkhorn_iters", "100000000", "loss.sinkhorn_iters = 100000000: at most 1000 (Sinkhorn iterations"),
        ("eval.kmeans_iters", "1000000000", "eval.kmeans_iters = 1000000000: at most 100000"),
        ("eval.tsne_samples", "50000000", "eval.tsne_samples = 50000000: at most 100000"),
        ("eval.every", "1000000000000", "eval.every = 1000000000000: at most 1000000"),
        ("train.steps_per_epoch", "100000000000", "train.steps_per_epoch = 100000000000: at most 10000000"),
    ] {
        let err = refused(&format!("name = \"m\"\n{BASE}\"{key}\" = {value}\n"));
        let text = problem_text(&err, needle);
        assert!(text.contains("s.toml:"), "{text}");
    }
}

#[test]
fn a_run_that_fits_no_machine_is_refused_with_its_estimate() {
    // Each value is within its own maximum; together the M transforms alone are
    // 10000 x 65536 x 65536 floats (156 TiB).
    let err = refused(&format!(
        "name = \"mem\"\n{BASE}\"transform.m\" = 10000\n\"transform.d_prime\" = 65536\n\"model.head_dim\" = 65536\n"
    ));
    let text = problem_text(&err, "of memory");
    assert!(text.contains("needs at least 15"), "{text}");
    assert!(text.contains("TiB"), "{text}");
}

#[test]
fn an_unknown_template_is_refused_before_anything_runs() {
    let err = refused(&format!("name = \"t\"\ntemplate = \"table9\"\n{BASE}"));
    let text = problem_text(&err, "no such report template");
    assert!(text.contains("s.toml:2:12"), "{text}");
    assert!(text.contains("generic, table3, table4, table5"), "{text}");
}

#[test]
fn names_with_control_characters_or_separators_are_refused() {
    let err = refused(&format!("name = \"a\\u001b[31mb\"\n{BASE}"));
    assert!(problem_text(&err, "control characters").contains("s.toml:1:8"), "{err}");
    let err = refused(&format!("name = \"ok\"\n{BASE}\n[[block]]\nname = \"x\\ny\"\n"));
    problem_text(&err, "control characters");
    let err = refused(&format!("name = \"ok\"\n{BASE}\n[[block]]\nname = \"x/y\"\n"));
    problem_text(&err, "without `/`");
}

#[test]
fn a_store_that_cannot_be_written_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let err = Store::check_usable(&file.join("store")).unwrap_err().to_string();
    assert!(err.contains("is a file, not a folder"), "{err}");
    assert!(err.contains("--store"), "{err}");
    Store::check_usable(&tmp.path().join("new").join("store")).unwrap();
    assert!(!tmp.path().join("new").exists(), "checking creates nothing");
}

// ---- property tests ------------------------------------------------------

/// Keys of the run config with a value of the right kind, and some wrong ones.
fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        Just("inf".to_string()),
        Just("nan".to_string()),
        Just("99999999999999999999".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z_+]{0,12}".prop_map(|s| format!("{s:?}")),
        (any::<f64>(), any::<f64>()).prop_map(|(a, b)| format!("[{a:?}, {b:?}]")),
        Just("{ classes = 3, per_class = 8 }".to_string()),
    ]
}

const KEYS: &[&str] = &[
    "seed",
    "data.dataset",
    "data.limit",
    "data.resolution",
    "data.clusters",
    "data.synthetic.classes",
    "data.synthetic.per_class",
    "data.synthetic",
    "model.backbone",
    "model.width",
    "model.head_dim",
    "model.sobel",
    "augment.crop_scale",
    "augment.flip_p",
    "augment.blur_kernel",
    "loss.alpha",
    "loss.tau",
    "loss.sinkhorn_iters",
    "transform.kind",
    "transform.m",
    "transform.d_prime",
    "train.epochs",
    "train.batch_size",
    "train.lr",
    "eval.every",
    "eval.kmeans_features",
    "eval.tsne_samples",
    "colour",
];

fn sweep_strategy() -> impl Strategy<Value = String> {
    let base = prop::collection::vec((prop::sample::select(KEYS), value_strategy()), 0..6);
    let axes = prop::collection::vec((prop::sample::select(KEYS), prop::collection::vec(value_strategy(), 0..4)), 0..3);
    let name = prop_oneof![Just("p".to_string()), "[ -~]{0,8}".prop_map(|s| s), Just("a\nb".to_string())];
    (name, base, axes, any::<bool>()).prop_map(|(name, base, axes, template)| {
        let mut t = format!("name = {name:?}\n");
        if template {
            t.push_str("template = \"table4\"\n");
        }
        t.push_str("[base]\ndata.dataset = \"synthetic\"\n");
        for (k, v) in base {
            t.push_str(&format!("\"{k}\" = {v}\n"));
        }
        t.push_str("[axes]\n");
        for (k, vs) in axes {
            t.push_str(&format!("\"{k}\" = [{}]\n", vs.join(", ")));
        }
        t
    })
}

fn check_outcome(dir: &Path, text: &[u8]) {
    let p = dir.join("prop.toml");
    std::fs::write(&p, text).unwrap();
    if let Err(e) = load_sweep(&p) {
        assert!(!e.problems.is_empty());
        for problem in &e.problems {
            assert!(problem.origin.file.ends_with("prop.toml"), "a refusal that does not name the file: {problem}");
            assert!(!problem.message.is_empty());
        }
        let shown = e.to_string();
        assert!(shown.contains("prop.toml"), "{shown}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_refusals_name_the_file(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        check_outcome(dir.path(), &bytes);
    }

    #[test]
    fn well_formed_sweeps_over_real_keys_never_panic(text in sweep_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        check_outcome(dir.path(), text.as_bytes());
    }
}
