//! Sweep files: expansion (product, zip, blocks, include/exclude, seeds, dotted
//! keys, extends), run ids, and every strict error with its FILE:LINE:COL.
use std::path::{Path, PathBuf};

use serde_json::json;
use sweep::config::expand::{load_sweep_with, LoadOptions};
use sweep::config::{load_run_config, load_sweep, run_id, Expanded, Problem, SweepError};
use sweep::config::{Backbone, DatasetName, TransformKind};

use crate::common::SWEEP_FILE_BASE as BASE;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load(text: &str) -> Expanded {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s.toml", text);
    match load_sweep(&p) {
        Ok(e) => e,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn load_err(text: &str) -> SweepError {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s.toml", text);
    load_sweep(&p).expect_err("the sweep file should be refused")
}

/// The one problem whose message contains `needle`, with its (line, col).
fn problem<'a>(err: &'a SweepError, needle: &str) -> &'a Problem {
    let hits: Vec<&Problem> = err.problems.iter().filter(|p| p.message.contains(needle)).collect();
    assert_eq!(hits.len(), 1, "expected one problem containing {needle:?} in:\n{err}");
    hits[0]
}

#[test]
fn cartesian_product_in_plan_order() {
    let e = load(&format!(
        "name = \"grid\"\n{BASE}\n[axes]\n\"loss.gamma\" = [0.0, 1.0]\n\"transform.m\" = [10, 20, 30]\n"
    ));
    assert_eq!(e.runs.len(), 6);
    // The last axis moves fastest.
    let got: Vec<(f64, usize)> = e.runs.iter().map(|(_, c)| (c.loss.gamma, c.transform.m)).collect();
    assert_eq!(got, vec![(0.0, 10), (0.0, 20), (0.0, 30), (1.0, 10), (1.0, 20), (1.0, 30)]);
    assert_eq!(e.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["loss.gamma", "transform.m"]);
    assert_eq!(e.plan.runs[4].swept["transform.m"], json!(20));
    assert_eq!(e.plan.runs[4].blocks, ["main"]);
    assert_eq!(e.plan.template, "generic");
    assert_eq!(e.store, Path::new("runs").join("grid"));
    // Base values and resolved defaults reach every run.
    for (_, c) in &e.runs {
        assert_eq!(c.data.synthetic.per_class, 16);
        assert_eq!(c.train.epochs, 2);
        assert_eq!(c.data.clusters, 4, "resolve() fills K from the synthetic classes");
    }
}

#[test]
fn zip_groups_move_together() {
    let e = load(&format!(
        "name = \"z\"\n{BASE}\n[axes]\n\"loss.beta\" = [0.5, 1.0]\n\n[[zip]]\n\"transform.m\" = [10, 100]\n\"transform.d_prime\" = [32, 64]\n"
    ));
    let got: Vec<(f64, usize, usize)> =
        e.runs.iter().map(|(_, c)| (c.loss.beta, c.transform.m, c.transform.d_prime)).collect();
    assert_eq!(got, vec![(0.5, 10, 32), (0.5, 100, 64), (1.0, 10, 32), (1.0, 100, 64)]);
    assert_eq!(e.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["loss.beta", "transform.m", "transform.d_prime"]);
}

#[test]
fn blocks_union_and_deduplicate() {
    let e = load(&format!(
        r#"name = "b"
template = "table5"
{BASE}
[[block]]
name = "projection"
[block.axes]
"transform.m" = [10, 50]

[[block]]
name = "wide"
[block.base]
"transform.d_prime" = 64
[block.axes]
"transform.m" = [50, 100]
"#
    ));
    // d_prime 64 is the default, so m = 50 is the same run in both blocks.
    assert_eq!(e.runs.len(), 3);
    let ms: Vec<usize> = e.runs.iter().map(|(_, c)| c.transform.m).collect();
    assert_eq!(ms, [10, 50, 100]);
    assert_eq!(e.plan.runs[0].blocks, ["projection"]);
    assert_eq!(e.plan.runs[1].blocks, ["projection", "wide"]);
    assert_eq!(e.plan.runs[2].blocks, ["wide"]);
    assert_eq!(e.plan.template, "table5");
    let ids: std::collections::HashSet<&str> = e.plan.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn block_base_merges_over_top_level_base_and_axes_are_shared() {
    let e = load(&format!(
        r#"name = "b"
{BASE}
[axes]
"loss.gamma" = [0.0, 1.0]

[[block]]
name = "diagonal"
[block.base]
"transform.kind" = "diagonal"
"transform.d_prime" = 256
[block.axes]
"transform.m" = [10, 30]
"#
    ));
    assert_eq!(e.runs.len(), 4);
    for (_, c) in &e.runs {
        assert_eq!(c.transform.kind, TransformKind::Diagonal);
        assert_eq!(c.data.synthetic.per_class, 16, "top-level base still applies");
    }
    assert_eq!(e.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["loss.gamma", "transform.m"]);
}

#[test]
fn include_and_exclude() {
    let e = load(&format!(
        r#"name = "ie"
{BASE}
[axes]
"transform.m" = [10, 20]
"transform.d_prime" = [32, 64]

[[exclude]]
"transform.m" = 10
"transform.d_prime" = 64

[[include]]
"transform.m" = 7
"#
    ));
    let got: Vec<(usize, usize)> = e.runs.iter().map(|(_, c)| (c.transform.m, c.transform.d_prime)).collect();
    // (10, 64) is excluded; the include comes after the grid, with the base d' (default 64).
    assert_eq!(got, vec![(10, 32), (20, 32), (20, 64), (7, 64)]);
    assert_eq!(e.plan.runs[3].swept["transform.m"], json!(7));
}

#[test]
fn exclude_compares_numbers_as_numbers() {
    let e =
        load(&format!("name = \"x\"\n{BASE}\n[axes]\n\"loss.gamma\" = [0.0, 1.0]\n[[exclude]]\n\"loss.gamma\" = 1\n"));
    assert_eq!(e.runs.len(), 1);
    assert_eq!(e.runs[0].1.loss.gamma, 0.0);
}

#[test]
fn seeds_are_an_axis_on_seed() {
    let e = load(&format!("name = \"s\"\nseeds = [0, 1, 2]\n{BASE}\n[axes]\n\"transform.m\" = [10, 20]\n"));
    assert_eq!(e.runs.len(), 6);
    // The seed moves slowest: the whole grid for seed 0 comes first.
    let got: Vec<(u64, usize)> = e.runs.iter().map(|(_, c)| (c.seed, c.transform.m)).collect();
    assert_eq!(got, vec![(0, 10), (0, 20), (1, 10), (1, 20), (2, 10), (2, 20)]);
    assert_eq!(e.plan.runs[3].swept.keys().collect::<Vec<_>>(), ["seed", "transform.m"]);

    // One seed does not vary: it is set but not a swept value.
    let one = load(&format!("name = \"s\"\nseeds = [5]\n{BASE}\n[axes]\n\"transform.m\" = [10]\n"));
    assert_eq!(one.runs[0].1.seed, 5);
    assert_eq!(one.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["transform.m"]);
}

#[test]
fn dotted_keys_quoted_keys_and_nested_tables_are_the_same() {
    let a = load(
        r#"name = "d"
[base]
"data.synthetic.per_class" = 16
"train.epochs" = 2
[axes]
"loss.gamma" = [0.5]
"#,
    );
    let b = load(
        r#"name = "d"
[base.data.synthetic]
per_class = 16
[base.train]
epochs = 2
[axes.loss]
gamma = [0.5]
"#,
    );
    assert_eq!(a.runs[0].1, b.runs[0].1);
    assert_eq!(a.plan.runs[0].run_id, b.plan.runs[0].run_id);
    assert_eq!(b.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["loss.gamma"]);
}

#[test]
fn run_id_is_stable_under_key_order_and_ignores_data_root() {
    let a = load(
        r#"name = "k"
[base]
train.epochs = 2
data.synthetic.per_class = 16
model.backbone = "resnet18"
[axes]
"transform.m" = [10, 20]
"#,
    );
    let b = load(
        r#"name = "k2"
[axes]
"transform.m" = [10, 20]
[base]
model.backbone = "resnet18"
data.synthetic.per_class = 16
train.epochs = 2
data.root = "somewhere"
[[block]]
name = "other"
"#,
    );
    let ids = |e: &Expanded| e.plan.runs.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(b.plan.runs[0].blocks, ["other"]);
    for id in ids(&a) {
        assert_eq!(id.len(), 12);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
    }
    // Any value that changes a result changes the id.
    let mut c = a.runs[0].1.clone();
    assert_eq!(run_id(&c), a.plan.runs[0].run_id);
    c.loss.tau = 0.2;
    assert_ne!(run_id(&c), a.plan.runs[0].run_id);
}

#[test]
fn extends_merges_base_axes_and_appends_blocks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("common")).unwrap();
    write(
        &dir.path().join("common"),
        "base.toml",
        &format!(
            "name = \"parent\"\ntemplate = \"table4\"\n{BASE}\ndata.root = \"data\"\n[axes]\n\"transform.m\" = [10, 20]\n\"loss.gamma\" = [1.0]\n[[block]]\nname = \"p\"\n"
        ),
    );
    let child = write(
        dir.path(),
        "child.toml",
        r#"name = "child"
extends = "common/base.toml"
[base]
"train.epochs" = 3
[axes]
"transform.m" = [30]
[[block]]
name = "c"
[block.axes]
"loss.beta" = [0.5]
"#,
    );
    let e = load_sweep(&child).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.plan.sweep, "child");
    assert_eq!(e.plan.template, "table4", "inherited");
    assert_eq!(e.runs.len(), 2, "blocks p and c, axis m overridden to [30]");
    assert_eq!(e.plan.runs[0].blocks, ["p"]);
    assert_eq!(e.plan.runs[1].blocks, ["c"]);
    for (_, c) in &e.runs {
        assert_eq!(c.transform.m, 30);
        assert_eq!(c.train.epochs, 3);
        assert_eq!(c.data.synthetic.per_class, 16);
        // A relative data.root is taken from the folder of the file that wrote it.
        let root = c.data.root.as_ref().unwrap();
        assert!(root.is_absolute());
        assert!(root.ends_with("common/data"), "{}", root.display());
    }
    assert_eq!(e.runs[1].1.loss.beta, 0.5);
}

#[test]
fn extends_cycle_and_missing_file_are_located() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", "name = \"a\"\nextends = \"b.toml\"\n");
    write(dir.path(), "b.toml", "name = \"b\"\n\nextends = \"a.toml\"\n");
    let err = load_sweep(&dir.path().join("a.toml")).unwrap_err();
    let p = problem(&err, "extends cycle");
    assert!(p.origin.file.ends_with("b.toml"));
    assert_eq!(p.origin.pos, Some((3, 11)));

    write(dir.path(), "c.toml", "name = \"c\"\nextends = \"nowhere.toml\"\n");
    let err = load_sweep(&dir.path().join("c.toml")).unwrap_err();
    let p = problem(&err, "cannot read");
    assert!(p.message.contains("nowhere.toml"), "{p}");
    assert_eq!(p.origin.pos, Some((2, 11)));
}

#[test]
fn data_root_expands_sweep_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "s.toml",
        "name = \"r\"\n[base]\ndata.dataset = \"stl10\"\ndata.root = \"$SWEEP_DATA/stl10\"\ntrain.epochs = 1\n",
    );
    // The data folder comes from the environment read once (LoadOptions), so a
    // test gives its own without touching the process's variables.
    let opts = LoadOptions { data_home: PathBuf::from("/data/home"), ..LoadOptions::default() };
    let e = load_sweep_with(&p, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.runs[0].1.data.root.as_deref(), Some(Path::new("/data/home/stl10")));
    assert_eq!(e.runs[0].1.data.dataset, DatasetName::Stl10);
    // No data.root: the dataset's standard folder in the data folder.
    let bare = write(dir.path(), "bare.toml", "name = \"r\"\n[base]\ndata.dataset = \"stl10\"\n");
    let e = load_sweep_with(&bare, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.runs[0].1.data.root.as_deref(), Some(Path::new("/data/home/stl10")));
    // The process's environment: $SWEEP_DATA, else the user's cache folder.
    let env = sweep::config::Environment::from_process();
    match std::env::var_os("SWEEP_DATA").filter(|v| !v.is_empty()) {
        Some(base) => assert_eq!(env.data_home, PathBuf::from(base)),
        None => assert!(env.data_home.ends_with("sweep/datasets"), "{}", env.data_home.display()),
    }
    let e = load_sweep(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.runs[0].1.data.root.as_deref(), Some(env.data_home.join("stl10").as_path()));
    // An absolute root is kept as written.
    let q = write(
        dir.path(),
        "abs.toml",
        "name = \"r\"\n[base]\ndata.dataset = \"stl10\"\ndata.root = \"/datasets/stl10\"\n",
    );
    let e = load_sweep(&q).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.runs[0].1.data.root.as_deref(), Some(Path::new("/datasets/stl10")));
}

#[test]
fn single_run_files_are_strict_too() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "run.toml", "seed = 3\n[model]\nbackbone = \"resnet18\"\n[train]\nepochs = 1\n");
    let cfg = load_run_config(&ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.seed, 3);
    assert_eq!(cfg.model.backbone, Backbone::Resnet18);
    assert_eq!(cfg.train.batch_size, 64, "resolved");

    let bad = write(dir.path(), "bad.toml", "seed = 3\n[model]\nbackbone = \"vgg\"\nwidht = 0.5\n[transform]\nm = 0\n");
    let err = load_run_config(&bad).unwrap_err();
    assert_eq!(problem(&err, "unknown variant").origin.pos, Some((3, 12)));
    assert_eq!(problem(&err, "unknown key `model.widht`").origin.pos, Some((4, 1)));
    // With bad keys present the config cannot be built, so range checks wait.
    assert_eq!(err.problems.len(), 2, "{err}");
}

// ---- strict errors, each located ------------------------------------------

#[test]
fn unknown_key_at_top_level() {
    let err = load_err(&format!("name = \"u\"\nnmae = \"x\"\n{BASE}"));
    let p = problem(&err, "unknown key `nmae` at the top level");
    assert_eq!(p.origin.pos, Some((2, 1)));
    assert!(p.message.contains("expected one of: name, template"), "{p}");
}

#[test]
fn unknown_key_in_base() {
    let err = load_err("name = \"u\"\n[base]\ndata.datset = \"stl10\"\n");
    let p = problem(&err, "unknown key `data.datset`");
    assert_eq!(p.origin.pos, Some((3, 6)));
    assert!(p.message.contains("`data` has: classes, clusters, dataset, limit"), "{p}");
}

#[test]
fn unknown_key_in_block_and_in_block_axes() {
    let err = load_err(&format!(
        "name = \"u\"\n{BASE}\n[[block]]\nname = \"b\"\naxis = 1\n[block.axes]\n\"loss.gama\" = [1.0]\n"
    ));
    let p = problem(&err, "unknown key `axis` in [[block]]");
    assert_eq!(p.origin.pos, Some((11, 1)));
    let p = problem(&err, "unknown key `loss.gama`");
    assert_eq!(p.origin.pos, Some((13, 1)));
}

#[test]
fn wrong_type_is_located_at_the_value() {
    let err = load_err(&format!("name = \"t\"\n{BASE}\n[axes]\n\"transform.m\" = [10, \"ten\"]\n"));
    let p = problem(&err, "`transform.m`: invalid type");
    assert_eq!(p.origin.pos, Some((10, 22)));
    assert!(p.message.contains("string \"ten\""), "{p}");
}

#[test]
fn m_zero_is_located_at_the_axis_value_with_its_combination() {
    let err = load_err(&format!("name = \"m\"\n{BASE}\n[axes]\n\"transform.m\" = [10, 0]\n"));
    let p = problem(&err, "transform.m = 0");
    assert_eq!(p.origin.pos, Some((10, 22)));
    assert_eq!(p.context.as_deref(), Some("run transform.m=0"));
}

#[test]
fn d_prime_zero_in_base() {
    let err = load_err("name = \"d\"\n[base]\ntransform.d_prime = 0\n[axes]\n\"seed\" = [0, 1]\n");
    let p = problem(&err, "transform.d_prime must be >= 1");
    assert_eq!(p.origin.pos, Some((3, 21)));
    // Both runs have it; it is reported once, with a count.
    assert_eq!(p.context.as_deref(), Some("run seed=0 and 1 more runs"));
}

#[test]
fn negative_weight_in_a_block() {
    let err =
        load_err(&format!("name = \"w\"\n{BASE}\n[[block]]\nname = \"neg\"\n[block.base]\n\"loss.gamma\" = -1.0\n"));
    let p = problem(&err, "loss.gamma = -1");
    assert_eq!(p.origin.pos, Some((12, 16)));
    assert_eq!(p.context.as_deref(), Some("block `neg`"));
}

#[test]
fn unknown_dataset_and_backbone() {
    let err = load_err("name = \"n\"\n[base]\ndata.dataset = \"imagenet\"\nmodel.backbone = \"resnet50\"\n");
    let p = problem(&err, "`data.dataset`: unknown variant `imagenet`");
    assert_eq!(p.origin.pos, Some((3, 16)));
    assert!(p.message.contains("stl10"), "{p}");
    let p = problem(&err, "`model.backbone`: unknown variant `resnet50`");
    assert_eq!(p.origin.pos, Some((4, 18)));
}

#[test]
fn batch_larger_than_dataset() {
    let err =
        load_err("name = \"b\"\n[base]\ndata.synthetic.per_class = 16\n[axes]\n\"train.batch_size\" = [32, 128]\n");
    let p = problem(&err, "larger than the dataset (64 images)");
    assert_eq!(p.origin.pos, Some((5, 27)));
}

#[test]
fn unequal_zip_and_empty_axis() {
    let err = load_err(&format!(
        "name = \"z\"\n{BASE}\n[axes]\n\"loss.beta\" = []\n[[zip]]\n\"transform.m\" = [10, 100]\n\"transform.d_prime\" = [32, 64, 128]\n"
    ));
    let p = problem(&err, "[[zip]] lists must have equal lengths");
    assert_eq!(p.origin.pos, Some((13, 1)));
    assert!(p.message.contains("`transform.m` has 2 values but `transform.d_prime` has 3"), "{p}");
    let p = problem(&err, "empty list");
    assert_eq!(p.origin.pos, Some((10, 1)));
}

#[test]
fn syntax_error_is_located() {
    let err = load_err("name = \"s\"\n[base\n");
    assert_eq!(err.problems.len(), 1);
    assert!(err.problems[0].message.starts_with("TOML syntax"), "{err}");
    assert_eq!(err.problems[0].origin.pos.map(|p| p.0), Some(2));
}

#[test]
fn all_problems_are_reported_together() {
    let err = load_err(
        r#"name = "all"
colour = "blue"
[base]
data.synthetic.per_class = 16
train.epochs = 1
[axes]
"transform.m" = [0, 10]
"loss.alpha" = [-1.0]
[[zip]]
"eval.every" = [1, 2]
"eval.chunk" = [64]
[[block]]
name = "bad"
[block.base]
model.backbone = "resnet50"
[[block]]
name = "ok"
"#,
    );
    let text = err.to_string();
    let text = text.replace(&*err.problems[0].origin.file.display().to_string(), "FILE");
    insta::assert_snapshot!("all_problems_together", text);
}

// ---- --set overrides -------------------------------------------------------

fn load_with(text: &str, sets: &[&str]) -> Result<Expanded, SweepError> {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s.toml", text);
    let opts = sweep::config::expand::LoadOptions {
        overrides: sets.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    sweep::config::expand::load_sweep_with(&p, &opts)
}

fn ids(e: &Expanded) -> Vec<String> {
    e.plan.runs.iter().map(|r| r.run_id.clone()).collect()
}

#[test]
fn set_pins_a_value_and_gives_the_ids_the_file_would() {
    let file = format!("name = \"o\"\n{BASE}");
    let over = load_with(&file, &["train.epochs=5", "model.backbone=resnet18"]).unwrap_or_else(|e| panic!("{e}"));
    let said = load(
        &BASE
            .replace("train.epochs = 2", "train.epochs = 5\nmodel.backbone = \"resnet18\"")
            .replace("[base]", "name = \"o\"\n[base]"),
    );
    assert_eq!(over.runs[0].1.train.epochs, 5);
    assert_eq!(over.runs[0].1.model.backbone, Backbone::Resnet18, "an unquoted word is a string");
    assert_eq!(ids(&over), ids(&said));
    assert_eq!(over.plan.overrides, ["train.epochs=5", "model.backbone=resnet18"]);
}

#[test]
fn set_with_a_list_sweeps_the_key_except_for_list_valued_keys() {
    let file = format!("name = \"o\"\n{BASE}[axes]\n\"transform.m\" = [5, 6, 7]\n");
    let over = load_with(&file, &["transform.m=[10, 30]"]).unwrap_or_else(|e| panic!("{e}"));
    let said = load(&format!("name = \"o\"\n{BASE}[axes]\n\"transform.m\" = [10, 30]\n"));
    assert_eq!(ids(&over), ids(&said));
    assert_eq!(over.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["transform.m"]);

    let one = load_with(&file, &["augment.crop_scale=[0.5, 1.0]"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.runs.len(), 3, "a list-valued key takes the list as its value");
    assert!(one.runs.iter().all(|(_, c)| c.augment.crop_scale == [0.5, 1.0]));
    let two = load_with(&file, &["augment.crop_scale=[[0.3, 1.0], [0.5, 1.0]]"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(two.runs.len(), 6, "a list of lists sweeps it");
}

#[test]
fn set_wins_over_blocks_and_includes() {
    let file = format!(
        "name = \"o\"\n{BASE}[[include]]\n\"transform.m\" = 9\n[[block]]\nname = \"b\"\n[block.base]\n\"transform.m\" = 3\n[block.axes]\n\"loss.gamma\" = [0.0, 1.0]\n"
    );
    let over = load_with(&file, &["transform.m=12"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        over.runs.iter().all(|(_, c)| c.transform.m == 12),
        "{:?}",
        over.runs.iter().map(|r| r.1.transform.m).collect::<Vec<_>>()
    );
}

#[test]
fn bad_overrides_are_refused_naming_the_override() {
    let file = format!("name = \"o\"\n{BASE}");
    for (set, needle) in [
        ("transform.m=0", "the consensus needs at least one transform"),
        ("colour=1", "unknown key `colour`"),
        ("train.epochs", "expected KEY=VALUE"),
        ("loss.tau=inf", "not a finite number"),
        ("train.epochs=\"five\"", "`train.epochs`"),
    ] {
        let err = load_with(&file, &[set]).expect_err(set);
        let shown = err.to_string();
        assert!(shown.contains(&format!("--set {set}")), "{set}: {shown}");
        assert!(shown.contains(needle), "{set}: {shown}");
    }
}

#[test]
fn a_single_run_file_takes_values_but_no_axes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.toml", "seed = 3\n[data]\ndataset = \"synthetic\"\n[train]\nepochs = 2\n");
    let with = |set: &str| LoadOptions { overrides: vec![set.into()], ..LoadOptions::default() };
    let c = sweep::config::expand::load_run_config_with(&p, &with("train.epochs=4")).unwrap();
    assert_eq!(c.train.epochs, 4);
    let err = sweep::config::expand::load_run_config_with(&p, &with("transform.m=[1,2]")).unwrap_err();
    assert!(err.to_string().contains("a single run has no axes"), "{err}");
}

#[test]
fn run_ids_are_pinned() {
    // A refactor that changes the canonical form of the resolved config changes
    // every id and orphans finished runs: these are the ids of committed reports.
    let e = load_sweep(&crate::common::root().join("sweeps").join("quickstart.toml")).unwrap();
    let got = ids(&e);
    // BYOL and ConCURL for seeds 0 and 1 (the soft-clustering rows, 4871359b02ad
    // and 406ec29a69b0, left the quickstart when it was cut to 4 runs).
    assert_eq!(got, ["850857c09b80", "9e0606e96958", "ce4ecf1bc858", "a114e199e1f0"]);
    // The folders of finished runs behind committed reports (the options beyond
    // the paper, bf16 and the CIFAR stem, Table V's M axis), as sorted sets.
    for (file, want) in [
        (
            "cpu/beyond-mnist.toml",
            "052797327555 0c03f9ad7c47 286d7c3aed9b 29a1bda69e34 2af7f10bf866 2c2b989d8a1d 398bfb4dacdd \
             3bf5d4012763 411c3231038a 5ac7c7b7701b 6ac4ffbeefe4 73cbb1693123 7411deb67946 79c7600bfffb \
             93051baccf1c 975bdcaf0db9 bf35e8bfe986 d71cc5145101 f2a3a646de52 ff5aea5d42c5",
        ),
        (
            "cpu/table5-mnist.toml",
            "1efd36ce5125 2034c03607b8 2c2b989d8a1d 5d93cbc9c109 5e0b001fb198 64d08195511a 79c7600bfffb \
             810ff6f6f4b4 b0d2948c11b0 c368301a567c e60361b46cc8 ff5aea5d42c5",
        ),
        ("gpu/cifar10.toml", "3f8702cfa312 4537bc695f58 4d2e7dabe8be 8e2c3182eb71 e2df4b7aebd5 f32deb3319e7"),
        ("cpu/tune-fashion-mnist.toml", "10074d442639 132daa2208de 3309e8eb902d"),
        ("cpu/tune-fashion-mnist-selflabel.toml", "03fadbc6089c b0966a930ede e70ed3a79201"),
        ("cpu/beyond-cifar10.toml", "5a387f45a045 a41a318c0cbd b81e80ba8e29"),
        // The convergence study (issue #33): 36 runs, 26 of them behind its report.
        (
            "cpu/converge-mnist.toml",
            "054dc043ead3 0dcbe2f3c0dc 0eadf45eb2b5 0effc4534d14 1393ae3d3428 149b65a489a7 1ea809fc7361 \
             200f937f492b 22974ee8812e 2bac1b23e598 31d67ca1a485 32463e5c25f4 37581f0dd100 383372cf0fa3 \
             4d309cf09edd 599191ea7bf9 5d1288bfdcc2 6153e878a27c 6a114258033d 6f25015bd588 732ceb1e5ced \
             7403663d5137 80031b40e0bc 822827df4927 84d680c612b5 9e96cea2ea23 9f6805b22daf b3fdb548ee4b \
             b64a1a7f5623 bcbf787aad4c bcff10f38618 bfb56204bb52 d4dfd0cb6581 dbf010efc199 f6d65491d2d7 \
             f77b3fb4b69b",
        ),
        (
            "cpu/converge-mnist-stage.toml",
            "0895a93820d7 13ac29a8636d 194ca134f8bb 2b18ad5a1612 52d3defea6d0 7485e0f7b0c3 aba4325256ef \
             b14c9e0ab79c f81c131baa26",
        ),
    ] {
        let e = load_sweep(&crate::common::root().join("sweeps").join(file)).unwrap();
        let mut got = ids(&e);
        got.sort();
        assert_eq!(got.join(" "), want.split_whitespace().collect::<Vec<_>>().join(" "), "{file}");
    }
}

/// The options beyond the paper (method.md §11) are left out of a run's
/// serialisation while off; a sweep file must still be able to set each of
/// them, and `--set` must take the list-valued one as a list.
#[test]
fn options_beyond_the_paper_are_keys_of_a_sweep_file() {
    let e = load(
        "name = \"beyond\"\n[base]\ntrain.epochs = 1\nmodel.overcluster = 3\nloss.representation = \"simclr\"\n\
         loss.simclr_temperature = 0.2\neval.consensus = [\"cspa\", \"hbgf\"]\nfinetune.epochs = 2\n\
         finetune.confidence = 0.9\nfinetune.freeze_encoder = true\n",
    );
    let c = &e.runs[0].1;
    assert_eq!(c.model.overcluster, 3);
    assert_eq!(c.loss.representation, sweep::config::Representation::Simclr);
    assert_eq!(c.loss.simclr_temperature, 0.2);
    assert_eq!(c.eval.consensus, [sweep::config::ConsensusFn::Cspa, sweep::config::ConsensusFn::Hbgf]);
    assert_eq!((c.self_labelling.epochs, c.self_labelling.confidence, c.self_labelling.freeze_encoder), (2, 0.9, true));
    assert_eq!(c.total_epochs(), 3);
    let err = load_err("name = \"bad\"\n[base]\nfinetune.epochs = 1\nfinetune.confidence = 1.5\n");
    assert!(err.to_string().contains("finetune.confidence = 1.5"), "{err}");
    let err = load_err("name = \"bad\"\n[base]\nfinetune.epochs = 1\nloss.beta = 0.0\nloss.gamma = 0.0\n");
    assert!(err.to_string().contains("needs a trained cluster head"), "{err}");
}

/// The learning-rate schedule (method.md §12) at given steps: 10 epochs of 100
/// steps, lr 1.0, 1.5 warm-up epochs, cosine to 0.01. Values pinned by hand
/// from the formula.
#[test]
fn lr_schedule_values_are_pinned() {
    use sweep::config::{LrSchedule, RunSpec};
    let mut c = RunSpec::default();
    c.train.epochs = Some(10);
    c.train.lr = 1.0;
    c.train.warmup_epochs = 1.5;
    c.train.lr_schedule = LrSchedule::Cosine;
    c.train.final_lr = 0.01;
    let t = c.resolve().unwrap().train;
    assert_eq!(t.warmup_steps(100), 150);
    let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    close(t.lr_at(0, 100), 1.0 / 150.0);
    close(t.lr_at(74, 100), 0.5);
    close(t.lr_at(149, 100), 1.0);
    close(t.lr_at(150, 100), 1.0);
    // Halfway through the 850 decay steps (t = 424.5 / 849 = 0.5): (1 + 0.01) / 2.
    close(t.lr_at(150 + 424, 100), 0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * 424.0 / 849.0).cos()));
    close(t.lr_at(999, 100), 0.01);
    close(t.lr_at(5000, 100), 0.01);
    // Constant after the warm-up; and the paper's recipe: lr at every step.
    let mut k = t.clone();
    k.lr_schedule = LrSchedule::Constant;
    k.final_lr = 0.0;
    close(k.lr_at(151, 100), 1.0);
    let paper = RunSpec::default().resolve().unwrap().train;
    for step in [0, 1, 10_000] {
        close(paper.lr_at(step, 100), paper.lr);
    }
}

/// The convergence keys (method.md §12) enter the run id only when set, are
/// accepted by the key schema, and are range-checked.
#[test]
fn convergence_keys_enter_the_id_only_when_set() {
    use sweep::config::{LrSchedule, Optimizer, RunSpec};
    let base = RunSpec::default().resolve().unwrap();
    let mut same = RunSpec::default();
    same.train.optimizer = Optimizer::Adam;
    same.train.warmup_epochs = 0.0;
    same.augment.small_crops = 0;
    assert_eq!(run_id(&same.resolve().unwrap()), run_id(&base));
    let text = toml::to_string(&base).unwrap();
    for key in [
        "optimizer",
        "warmup_epochs",
        "lr_schedule",
        "small_crops",
        "freeze_prototypes_steps",
        "cluster_delay",
        "\nrestarts",
        "restart_epochs",
    ] {
        assert!(!text.contains(key), "{key} in the canonical form of the paper's recipe");
    }
    let mut set = base.clone();
    set.train.optimizer = Optimizer::Lars;
    set.train.lr_schedule = LrSchedule::Cosine;
    assert_ne!(run_id(&set), run_id(&base));
    let mut restarts = base.clone();
    (restarts.train.restarts, restarts.train.restart_epochs) = (3, 4);
    assert!(restarts.validate().is_empty(), "{:?}", restarts.validate());
    assert_ne!(run_id(&restarts), run_id(&base));
    let mut bad = base.clone();
    bad.train.momentum = 1.0;
    bad.train.warmup_epochs = 1e9;
    bad.train.final_lr = 0.1;
    bad.augment.small_crops = 2;
    bad.augment.small_crop_size = 4;
    bad.train.cluster_delay_epochs = bad.train.epochs as f64;
    let errs = bad.validate().join("\n");
    for key in [
        "train.momentum",
        "train.warmup_epochs",
        "train.final_lr",
        "augment.small_crop_size",
        "train.cluster_delay_epochs",
    ] {
        assert!(errs.contains(key), "{key} not refused: {errs}");
    }
}

/// `train.restarts` (method.md §13): both keys or neither, a choice with
/// epochs left after it, past the clustering delay, and an L2 to choose by.
#[test]
fn restart_keys_are_checked_together() {
    use sweep::config::RunSpec;
    let base = RunSpec::default().resolve().unwrap();
    let refused = |edit: &dyn Fn(&mut sweep::config::RunConfig), what: &str| {
        let mut c = base.clone();
        edit(&mut c);
        let errs = c.validate().join("\n");
        assert!(errs.contains(what), "expected `{what}` refused: {errs:?}");
    };
    refused(&|c| c.train.restarts = 0, "train.restarts = 0");
    refused(&|c| c.train.restart_epochs = 2, "read with train.restarts >= 2 only");
    refused(&|c| c.train.restarts = 3, "needs train.restart_epochs in [1, train.epochs");
    refused(&|c| (c.train.restarts, c.train.restart_epochs) = (3, c.train.epochs), "needs train.restart_epochs");
    refused(
        &|c| (c.train.restarts, c.train.restart_epochs, c.train.cluster_delay_epochs) = (3, 4, 4.0),
        "must exceed train.cluster_delay_epochs = 4",
    );
    refused(&|c| (c.train.restarts, c.train.restart_epochs, c.loss.beta) = (3, 4, 0.0), "chooses by L2");
}

#[test]
fn schema_example_has_every_key() {
    // The keys come from the spec types' deserialiser alone, the options left
    // out of the serialisation while off included.
    let keys = sweep::config::schema::keys();
    for k in ["seed", "data.classes", "data.synthetic.classes", "finetune.epochs", "train.freeze_prototypes_steps"] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    assert!(keys.len() > 60, "{keys:?}");
    let missing = sweep::config::schema::missing_from_example();
    assert!(
        missing.is_empty(),
        "off by default, so left out of the serialised defaults: switch them on in config::schema::example \
         (docs/architecture.md, \"How to add a run-config key\"): {missing:?}"
    );
}
