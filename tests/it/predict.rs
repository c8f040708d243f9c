//! Cluster assignments out of a finished run: assignments.csv agrees with the
//! summary, `sweep predict` reproduces it (library and binary), the exported
//! weights load back (in Rust and in plain PyTorch) to the same assignments, and
//! unfinished runs and wrong-channel images are refused.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sweep::augment::Augmenter;
use sweep::config::run_id;
use sweep::eval::metrics;
use sweep::model::Networks;
use sweep::record::PlanEntry;
use sweep::schedule::{RunControl, StopFlag};
use sweep::store::{RunDir, Store};
use sweep::train::evaluate;
use sweep::train::model_files::{self, ModelCard};
use sweep::train::predict::{predict, PredictData, PredictError};
use tch::{Device, Tensor};

use crate::train::{load, tiny_config};

/// A tiny finished run (48 synthetic images, one epoch of 3 steps) in `root`.
fn finished_run(root: &Path) -> (sweep::config::RunConfig, RunDir) {
    let cfg = tiny_config(16, 1);
    let data = load(&cfg);
    let dir = new_run_dir(root, &cfg);
    sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    (cfg, dir)
}

fn new_run_dir(root: &Path, cfg: &sweep::config::RunConfig) -> RunDir {
    let store = Store::open(root).unwrap();
    let entry = PlanEntry { run_id: run_id(cfg), blocks: vec!["test".into()], swept: Default::default() };
    RunDir::create(&store, &entry, cfg).unwrap()
}

/// assignments.csv as columns (header name -> cells).
fn read_table(path: &Path) -> BTreeMap<String, Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let mut cols: BTreeMap<String, Vec<String>> = header.iter().map(|h| (h.clone(), Vec::new())).collect();
    for rec in r.records() {
        for (h, v) in header.iter().zip(rec.unwrap().iter()) {
            cols.get_mut(h).unwrap().push(v.to_string());
        }
    }
    cols
}

fn ints(col: &[String]) -> Vec<i64> {
    col.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn metrics_recomputed_from_assignments_csv_equal_the_summary() {
    let _rng = crate::common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let (_, dir) = finished_run(tmp.path());
    let s = dir.read_summary().unwrap().unwrap();
    let t = read_table(&dir.assignments_path());
    let labels = ints(&t["label"]);
    assert_eq!(labels.len(), 48);
    for method in ["codes", "p", "kmeans_target"] {
        let sc = metrics::score(&labels, &ints(&t[method]));
        for (m, v) in [("acc", sc.acc), ("nmi", sc.nmi), ("nmi_geom", sc.nmi_geom), ("ari", sc.ari)] {
            let stored = s.metrics[&format!("{method}.{m}")];
            assert!((v - stored).abs() < 1e-12, "{method}.{m}: {v} from the CSV, {stored} in summary.json");
        }
    }
}

#[test]
fn predict_on_the_same_data_reproduces_assignments_csv() {
    let _rng = crate::common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dir) = finished_run(tmp.path());
    let expected = std::fs::read_to_string(dir.assignments_path()).unwrap();

    let pred = predict(dir.path(), &PredictData::Spec(cfg.data.clone().into()), Device::Cpu).unwrap();
    let out = tmp.path().join("lib.csv");
    pred.write_csv(&out).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected, "library predict differs from assignments.csv");

    // The binary, with the data given as a run-config file.
    let spec = tmp.path().join("data.toml");
    #[derive(serde::Serialize)]
    struct DataOnly<'a> {
        data: &'a sweep::config::DataConfig,
    }
    std::fs::write(&spec, toml::to_string(&DataOnly { data: &cfg.data }).unwrap()).unwrap();
    let bin_out = tmp.path().join("bin.csv");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args([
            "predict",
            dir.path().to_str().unwrap(),
            "--data",
            spec.to_str().unwrap(),
            "--out",
            bin_out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(status.status.success(), "sweep predict failed: {}", String::from_utf8_lossy(&status.stderr));
    assert_eq!(std::fs::read_to_string(&bin_out).unwrap(), expected, "`sweep predict` differs from assignments.csv");
}

/// The evaluation-transformed images of the run's data, as the run saw them.
fn eval_inputs(cfg: &sweep::config::RunConfig) -> (Tensor, Tensor) {
    let ds = sweep::data::load(cfg).unwrap();
    let aug = Augmenter::new(cfg, ds.channels(), Device::Cpu);
    (ds.images.shallow_clone(), aug.eval(&ds.images))
}

#[test]
fn exported_weights_load_back_to_identical_assignments() {
    let _rng = crate::common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dir) = finished_run(tmp.path());
    let t = read_table(&dir.assignments_path());

    // model.json describes the file: every exported name in exactly one part.
    let card = ModelCard::read(dir.path()).unwrap();
    assert_eq!((card.clusters, card.image_channels, card.input_channels, card.resolution), (3, 3, 3, 16));
    let weights = Tensor::read_safetensors(model_files::weights_path(dir.path())).unwrap();
    let mut in_file: Vec<String> = weights.iter().map(|(n, _)| n.clone()).collect();
    let p = &card.parameters;
    let mut in_card: Vec<String> = p.encoder.iter().chain(&p.head).chain(&p.other).cloned().collect();
    in_card.push(p.prototypes.clone());
    in_file.sort();
    in_card.sort();
    assert_eq!(in_file, in_card);
    assert!(p.encoder.iter().any(|n| n == "encoder.layer4.1.bn2.running_var"));

    // Fresh networks from another seed: different weights until the export is loaded.
    tch::manual_seed(99);
    let mut nets = Networks::new(&cfg, card.input_channels, Device::Cpu);
    let (_, x) = eval_inputs(&cfg);
    let before = evaluate::clusters(&nets.online.forward_t(&x, false).z, &nets.online.prototypes, &cfg.loss);
    model_files::load_online(&mut nets, &model_files::weights_path(dir.path())).unwrap();
    let after =
        tch::no_grad(|| evaluate::clusters(&nets.online.forward_t(&x, false).z, &nets.online.prototypes, &cfg.loss));
    assert_ne!(before.codes_conf, after.codes_conf, "fresh networks already gave the run's assignments");
    assert_eq!(after.codes, ints(&t["codes"]));
    assert_eq!(after.p, ints(&t["p"]));
    let fmt = |v: &[f64]| v.iter().map(|c| format!("{c:.6}")).collect::<Vec<_>>();
    assert_eq!(fmt(&after.codes_conf), t["codes_conf"]);
    assert_eq!(fmt(&after.p_conf), t["p_conf"]);
}

/// A Python with torch: the repository's .venv, else `python3` on PATH.
fn python_with_torch() -> Option<PathBuf> {
    let venv = crate::common::root().join(".venv/bin/python");
    [venv, PathBuf::from("python3")].into_iter().find(|py| {
        std::process::Command::new(py).args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success())
    })
}

#[test]
fn pytorch_script_rebuilds_the_export_to_the_same_assignments() {
    let Some(py) = python_with_torch() else {
        eprintln!("SKIPPED: no Python with torch (make venv)");
        return;
    };
    let _rng = crate::common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dir) = finished_run(tmp.path());
    let t = read_table(&dir.assignments_path());
    let (images, _) = eval_inputs(&cfg);
    let file = tmp.path().join("images.safetensors");
    Tensor::write_safetensors(&[("images", &images)], &file).unwrap();
    let out = std::process::Command::new(&py)
        .arg(crate::common::root().join("scripts/load_export.py"))
        .args([dir.path(), &file])
        .output()
        .unwrap();
    assert!(out.status.success(), "load_export.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 48);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[1], t["codes"][i], "codes of image {i}");
        assert_eq!(row[3], t["p"][i], "p of image {i}");
        for (col, name) in [(2, "codes_conf"), (4, "p_conf")] {
            let (a, b): (f64, f64) = (row[col].parse().unwrap(), t[name][i].parse().unwrap());
            assert!((a - b).abs() <= 2e-6, "{name} of image {i}: PyTorch {a}, sweep {b}");
        }
    }
}

fn predict_error(dir: &Path, data: &PredictData) -> (PredictError, String) {
    let err = match predict(dir, data, Device::Cpu) {
        Ok(_) => panic!("predict accepted {data:?}"),
        Err(e) => e,
    };
    let msg = format!("{err:#}");
    (err.downcast::<PredictError>().unwrap_or_else(|e| panic!("not a PredictError: {e:#}")), msg)
}

fn write_png(path: &Path, grey: bool) {
    if grey {
        image::GrayImage::from_fn(20, 24, |x, y| image::Luma([(x * 9 + y * 3) as u8])).save(path).unwrap();
    } else {
        image::RgbImage::from_fn(24, 20, |x, y| image::Rgb([(x * 9) as u8, (y * 11) as u8, 128])).save(path).unwrap();
    }
}

#[test]
fn unfinished_runs_and_wrong_channel_images_are_refused() {
    let _rng = crate::common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();

    // A run that was created but never trained.
    let unfinished = new_run_dir(&tmp.path().join("u"), &tiny_config(16, 2));
    let (e, msg) = predict_error(unfinished.path(), &PredictData::Spec(tiny_config(16, 2).data.into()));
    assert!(matches!(e, PredictError::NotFinished { .. }), "{e:?}");
    assert!(msg.contains(&format!("run {} never finished", unfinished.run_id())), "{msg}");

    let (_, dir) = finished_run(&tmp.path().join("f"));
    // MNIST is grey (1 channel); the run was trained on colour: refused before any file is read.
    let mnist = sweep::config::DataSpec {
        dataset: sweep::config::DatasetName::Mnist,
        root: Some(tmp.path().join("nowhere")),
        ..Default::default()
    };
    let (e, msg) = predict_error(dir.path(), &PredictData::Spec(mnist));
    assert!(matches!(e, PredictError::Channels { expected: 3, found: 1, .. }), "{e:?}");
    assert!(msg.contains("trained on 3-channel images, but dataset `mnist` has 1 channel"), "{msg}");

    // A folder of images with one grey file among colour ones: refused, naming it.
    let imgs = tmp.path().join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    write_png(&imgs.join("a.png"), false);
    write_png(&imgs.join("b.png"), true);
    write_png(&imgs.join("c.png"), false);
    let (e, msg) = predict_error(dir.path(), &PredictData::Images(imgs.clone()));
    assert!(matches!(e, PredictError::Channels { expected: 3, found: 1, .. }), "{e:?}");
    assert!(msg.contains("b.png"), "{msg}");

    // Without it the folder is predicted: one row per file, its path, no label.
    std::fs::remove_file(imgs.join("b.png")).unwrap();
    let pred = predict(dir.path(), &PredictData::Images(imgs.clone()), Device::Cpu).unwrap();
    let out = tmp.path().join("imgs.csv");
    pred.write_csv(&out).unwrap();
    let t = read_table(&out);
    // Two images, K = 3: no k-means column, the others as in assignments.csv.
    assert_eq!(t.keys().collect::<Vec<_>>(), ["codes", "codes_conf", "index", "label", "p", "p_conf", "path"]);
    assert_eq!(t["path"], [imgs.join("a.png"), imgs.join("c.png")].map(|p| p.display().to_string()));
    assert_eq!(t["label"], ["", ""]);
    assert!(ints(&t["codes"]).iter().all(|&c| (0..3).contains(&c)));
    let conf: Vec<f64> = t["p_conf"].iter().map(|s| s.parse().unwrap()).collect();
    assert!(conf.iter().all(|&c| (1.0 / 3.0 - 1e-6..=1.0).contains(&c)), "{conf:?}");
}
