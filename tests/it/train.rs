//! The trainer end to end on tiny synthetic data: exact resume, labels never
//! used for training, non-finite losses reported.
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sweep::config::run_id;
use sweep::config::{Backbone, DatasetName, RunConfig, RunSpec, SyntheticConfig};
use sweep::record::PlanEntry;
use sweep::schedule::{RunControl, RunFailure, StopFlag};
use sweep::store::{RunDir, Store};
use sweep::train::LoadedData;
use tch::{Device, Tensor};

pub fn tiny_config(per_class: usize, epochs: usize) -> RunConfig {
    let mut c = RunSpec { seed: 3, ..Default::default() };
    c.data.dataset = DatasetName::Synthetic;
    c.data.synthetic = SyntheticConfig { classes: 3, per_class, size: 16, seed: 7 };
    c.model.backbone = Backbone::Resnet18;
    c.model.width = 0.125;
    c.model.proj_hidden = 32;
    c.model.proj_dim = 16;
    c.model.head_hidden = 32;
    c.model.head_dim = 16;
    c.transform.m = 4;
    c.transform.d_prime = 8;
    c.train.epochs = Some(epochs);
    c.train.batch_size = Some(16);
    c.train.checkpoint_every = 1;
    c.eval.every = 1;
    c.eval.kmeans_restarts = 2;
    c.eval.tsne = false;
    let c = c.resolve().unwrap();
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    c
}

pub fn load(cfg: &RunConfig) -> LoadedData {
    let ds = sweep::data::load(cfg).expect("synthetic data");
    let on_device = sweep::data::DeviceData::new(&ds, Device::Cpu);
    LoadedData { dataset: Arc::new(ds), on_device }
}

fn run_dir(root: &std::path::Path, cfg: &RunConfig) -> RunDir {
    let store = Store::open(root).unwrap();
    let entry = PlanEntry { run_id: run_id(cfg), blocks: vec!["test".into()], swept: Default::default() };
    RunDir::create(&store, &entry, cfg).unwrap()
}

fn final_weights(dir: &RunDir) -> Vec<(String, Tensor)> {
    let mut w = Tensor::read_safetensors(dir.path().join("online.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn assert_same_weights(a: &[(String, Tensor)], b: &[(String, Tensor)]) {
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        let diff = (ta - tb).abs().max().double_value(&[]);
        assert_eq!(diff, 0.0, "weights differ in {na} by {diff}");
    }
}

/// Trains `cfg` straight through in `dir/a`, and in `dir/b` stops it at the
/// first progress report of epoch `stop_epoch` (after step 10, mid-epoch, for
/// the tiny configs here) and resumes it to the end; returns both run folders.
fn straight_and_resumed(cfg: &RunConfig, data: &LoadedData, dir: &Path, stop_epoch: usize) -> (RunDir, RunDir) {
    let straight = run_dir(&dir.join("a"), cfg);
    sweep::train::run(cfg, &straight, data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    let resumed = run_dir(&dir.join("b"), cfg);
    let stop = StopFlag::new();
    let fired = Arc::new(AtomicBool::new(false));
    let (s2, f2) = (stop.clone(), fired.clone());
    let ctl = RunControl::new(stop.clone(), move |p| {
        if p.epoch == stop_epoch && !f2.swap(true, Ordering::SeqCst) {
            assert_eq!(p.step, 10, "first report of epoch {stop_epoch} mid-epoch");
            s2.request();
        }
    });
    assert_eq!(sweep::train::run(cfg, &resumed, data, Device::Cpu, &ctl), Err(RunFailure::Interrupted));
    assert!(resumed.read_summary().unwrap().is_none(), "an interrupted run has no summary");
    sweep::train::run(cfg, &resumed, data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    (straight, resumed)
}

#[test]
fn resumed_run_ends_with_the_same_weights() {
    let _rng = crate::common::torch_rng();
    // 3 classes x 64 = 192 images, batch 16: 12 steps an epoch; the first progress
    // report comes after step 10, mid-epoch, and the stop lands there.
    let cfg = tiny_config(64, 2);
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let (straight, resumed) = straight_and_resumed(&cfg, &data, tmp.path(), 1);
    assert_same_weights(&final_weights(&straight), &final_weights(&resumed));
    let (ma, mb) = (straight.read_metrics().unwrap(), resumed.read_metrics().unwrap());
    assert_eq!(ma.len(), 2);
    assert_eq!(mb.len(), 2, "no epoch logged twice after the resume");
    assert_eq!(ma[1].train["loss"], mb[1].train["loss"]);
    assert_eq!(ma[1].eval["codes.acc"], mb[1].eval["codes.acc"]);
}

/// `data` with every label moved (to (l + 1) mod 3, in reverse order): what
/// training must not notice.
fn with_shuffled_labels(data: &LoadedData) -> LoadedData {
    let mut shuffled = (*data.dataset).clone();
    shuffled.labels = shuffled.labels.iter().map(|l| (l + 1) % 3).rev().collect();
    LoadedData { on_device: sweep::data::DeviceData::new(&shuffled, Device::Cpu), dataset: Arc::new(shuffled) }
}

#[test]
fn labels_never_reach_training() {
    let _rng = crate::common::torch_rng();
    let cfg = tiny_config(16, 1);
    let data = load(&cfg);
    let data2 = with_shuffled_labels(&data);
    let tmp = tempfile::tempdir().unwrap();
    let a = run_dir(&tmp.path().join("a"), &cfg);
    let b = run_dir(&tmp.path().join("b"), &cfg);
    let ctl = RunControl::silent(StopFlag::new());
    sweep::train::run(&cfg, &a, &data, Device::Cpu, &ctl).unwrap();
    sweep::train::run(&cfg, &b, &data2, Device::Cpu, &ctl).unwrap();
    assert_same_weights(&final_weights(&a), &final_weights(&b));
}

#[test]
fn non_finite_loss_fails_with_a_reason() {
    let _rng = crate::common::torch_rng();
    let mut cfg = tiny_config(16, 1);
    cfg.train.lr = 1e38; // the first Adam step sends the weights to ~1e38: the next forward overflows
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), &cfg);
    let err = sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap_err();
    match err {
        RunFailure::Failed { reason } => assert!(reason.contains("non-finite"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn finished_run_writes_summary_assignments_and_weights() {
    let _rng = crate::common::torch_rng();
    let cfg = tiny_config(16, 1);
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), &cfg);
    sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    let s = dir.read_summary().unwrap().expect("summary written");
    for k in ["codes.acc", "codes.nmi", "codes.nmi_geom", "codes.ari", "p.acc", "kmeans_target.acc", "diversity.mean"] {
        let v = s.metrics.get(k).unwrap_or_else(|| panic!("summary lacks {k}: {:?}", s.metrics.keys()));
        assert!(v.is_finite(), "{k} = {v}");
    }
    for k in ["loss", "l1", "l2", "l3"] {
        assert!(s.train[k].is_finite());
    }
    let text = std::fs::read_to_string(dir.path().join("assignments.csv")).unwrap();
    assert_eq!(text.lines().count(), 1 + 48);
    assert!(text.starts_with("index,path,codes,codes_conf,p,p_conf,kmeans_target,label"));
    let losses = std::fs::read_to_string(dir.path().join("losses.csv")).unwrap();
    assert_eq!(losses.lines().count(), 3, "one line per step (48 / 16)");
}

/// The options beyond the paper (method.md §11) in one run: SimCLR as L1, an
/// over-clustering head, and the three consensus partitions scored and written.
#[test]
fn simclr_overclustering_and_consensus_train_and_score() {
    let _rng = crate::common::torch_rng();
    let mut cfg = tiny_config(16, 2);
    cfg.loss.representation = sweep::config::Representation::Simclr;
    cfg.model.overcluster = 3;
    cfg.eval.consensus =
        vec![sweep::config::ConsensusFn::Cspa, sweep::config::ConsensusFn::Mcla, sweep::config::ConsensusFn::Hbgf];
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), &cfg);
    sweep::train::run(&cfg, &dir, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    let s = dir.read_summary().unwrap().expect("summary written");
    for k in ["codes.acc", "kmeans_target.acc", "consensus_cspa.acc", "consensus_mcla.ari", "consensus_hbgf.nmi"] {
        let v = s.metrics.get(k).unwrap_or_else(|| panic!("summary lacks {k}: {:?}", s.metrics.keys()));
        assert!(v.is_finite(), "{k} = {v}");
    }
    for k in ["loss", "l1", "l2", "l3"] {
        assert!(s.train[k].is_finite(), "{k}");
    }
    let text = std::fs::read_to_string(dir.path().join("assignments.csv")).unwrap();
    assert!(text.starts_with(
        "index,path,codes,codes_conf,p,p_conf,kmeans_target,consensus_cspa,consensus_mcla,consensus_hbgf,label"
    ));
    let w = final_weights(&dir);
    assert!(
        w.iter().any(|(n, t)| n == "over.prototypes" && t.size() == [9, 16]),
        "over-clustering prototypes: 3 K x d"
    );
    assert_eq!(
        sweep::config::LossConfig { representation: sweep::config::Representation::Simclr, ..Default::default() }
            .method_name(),
        "ConCURL (SimCLR)"
    );
}

/// `train.bf16` selects bfloat16 (not libtorch's default float16 for CUDA
/// autocast), restores the previous state on leaving, and a bf16 step computes
/// the same losses as the float32 step up to bf16 rounding.
#[test]
fn bf16_autocast_is_bfloat16_and_close_to_float32() {
    use sweep::runtime::autocast;
    use sweep::train::step::Learner;
    use tch::Kind;
    let _rng = crate::common::torch_rng();
    // The CUDA autocast dtype is per-thread state: it can be set and read
    // without a GPU. libtorch's default there is float16.
    assert!(!autocast::dtype_is_bf16(Device::Cuda(0)), "CUDA autocast defaults to float16");
    assert!(autocast::bf16(true, Device::Cuda(0), || autocast::dtype_is_bf16(Device::Cuda(0))));
    assert!(!autocast::dtype_is_bf16(Device::Cuda(0)), "left as it was");

    let cfg = tiny_config(8, 1);
    let conv = tch::nn::conv2d(tch::nn::VarStore::new(Device::Cpu).root(), 3, 4, 3, Default::default());
    let x = Tensor::rand([2, 3, 8, 8], (Kind::Float, Device::Cpu));
    assert_eq!(autocast::bf16(true, Device::Cpu, || x.apply(&conv)).kind(), Kind::BFloat16);
    assert_eq!(x.apply(&conv).kind(), Kind::Float, "autocast is off again");
    assert_eq!(autocast::bf16(false, Device::Cpu, || x.apply(&conv)).kind(), Kind::Float);

    let batch = Tensor::randint(256, [16, 3, 16, 16], (Kind::Uint8, Device::Cpu));
    let first_losses = |bf16: bool| {
        let mut c = cfg.clone();
        c.train.bf16 = bf16;
        let mut learner = Learner::new(&c, 3, Device::Cpu).unwrap();
        Vec::<f64>::try_from(learner.step(&batch, 0, 10, None).to_kind(Kind::Double)).unwrap()
    };
    let (f32_terms, bf16_terms) = (first_losses(false), first_losses(true));
    assert!(bf16_terms.iter().all(|v| v.is_finite()), "{bf16_terms:?}");
    let rel = (bf16_terms[0] - f32_terms[0]).abs() / f32_terms[0].abs();
    assert!(rel > 0.0, "bf16 changed nothing: was autocast applied? {bf16_terms:?}");
    assert!(rel < 0.05, "bf16 loss {} vs float32 {} (relative {rel:.3})", bf16_terms[0], f32_terms[0]);
}

/// A packed run's own CUDA stream (the C++ shim over c10's stream pool): taken
/// where there is a GPU, refused cleanly (no crash, no exception) where there is
/// none.
#[test]
fn own_cuda_stream_is_taken_exactly_when_there_is_a_gpu() {
    assert_eq!(sweep::runtime::device::use_own_cuda_stream(0), tch::Cuda::is_available());
}

/// The self-labelling stage (method.md §11): one training epoch, then two of
/// the stage. A run stopped in the middle of the stage and resumed ends with
/// the weights of one never stopped, and so does a run on shuffled labels (the
/// stage never reads them); the scores before the stage are in the summary.
#[test]
fn self_labelling_resumes_exactly_never_reads_labels_and_is_scored_before_and_after() {
    let _rng = crate::common::torch_rng();
    let mut cfg = tiny_config(64, 1);
    cfg.self_labelling.epochs = 2;
    cfg.self_labelling.confidence = 0.4; // a 12-step model is not confident yet; K = 3
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let data = load(&cfg);
    let data2 = with_shuffled_labels(&data);
    let tmp = tempfile::tempdir().unwrap();
    // Trained straight on shuffled labels, and stopped in the stage's first
    // epoch and resumed on the real ones: the same weights.
    let straight = run_dir(&tmp.path().join("straight"), &cfg);
    sweep::train::run(&cfg, &straight, &data2, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    let (_, resumed) = straight_and_resumed(&cfg, &data, tmp.path(), 2);
    assert_same_weights(&final_weights(&straight), &final_weights(&resumed));

    let records = resumed.read_metrics().unwrap();
    assert_eq!(records.len(), 3, "1 training + 2 stage epochs, none logged twice");
    assert!(!records[0].train.contains_key("self_labelling"));
    for r in &records[1..] {
        assert_eq!(r.train["self_labelling"], 1.0);
        let share = r.train["confident"];
        assert!(share > 0.0 && share <= 1.0, "confident share {share}");
        assert!(r.train["loss"].is_finite());
    }
    assert_eq!(records[2].train["loss"], straight.read_metrics().unwrap()[2].train["loss"]);
    let s = resumed.read_summary().unwrap().expect("summary written");
    assert_eq!(s.epochs, 3);
    assert_eq!(s.metrics["before_finetune.codes.acc"], records[0].eval["codes.acc"]);
    assert_eq!(s.metrics["codes.acc"], records[2].eval["codes.acc"]);
}

/// `finetune.freeze_encoder`: the encoder leaves the stage as it entered it (the
/// run without the stage has the same first epoch), the cluster head does not.
#[test]
fn self_labelling_with_a_frozen_encoder_trains_the_head_only() {
    let _rng = crate::common::torch_rng();
    let plain = tiny_config(16, 1);
    let mut frozen = plain.clone();
    frozen.self_labelling.epochs = 1;
    frozen.self_labelling.confidence = 0.4;
    frozen.self_labelling.freeze_encoder = true;
    let data = load(&plain);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (run_dir(&tmp.path().join("a"), &plain), run_dir(&tmp.path().join("b"), &frozen));
    let ctl = RunControl::silent(StopFlag::new());
    sweep::train::run(&plain, &a, &data, Device::Cpu, &ctl).unwrap();
    sweep::train::run(&frozen, &b, &data, Device::Cpu, &ctl).unwrap();
    let (wa, wb) = (final_weights(&a), final_weights(&b));
    let mut head_moved = false;
    for ((name, ta), (_, tb)) in wa.iter().zip(&wb) {
        let diff = (ta - tb).abs().max().double_value(&[]);
        if name.starts_with("encoder.") {
            assert_eq!(diff, 0.0, "frozen encoder weight {name} moved by {diff}");
        } else if name.starts_with("head.") || name == "prototypes" {
            head_moved |= diff > 0.0;
        }
    }
    assert!(head_moved, "the stage trained nothing");
}

/// The convergence options (method.md §12) resume exactly: LARS with a cosine
/// schedule after a linear warm-up, the prototypes held for their warm-up, and
/// two multi-crop views; and SGD with the same and the clustering terms held
/// back for 2 epochs (`train.cluster_delay_epochs`). Stopped mid-epoch inside
/// every warm-up (step 22 of a 24-step learning-rate warm-up, a 30-step
/// prototype warm-up, a 24-step delay) and resumed: the same weights as
/// straight through.
#[test]
fn convergence_options_resume_exactly_mid_warm_up() {
    use sweep::config::{LrSchedule, Optimizer};
    let _rng = crate::common::torch_rng();
    for optimizer in [Optimizer::Lars, Optimizer::Sgd] {
        let mut cfg = tiny_config(64, 3);
        cfg.train.optimizer = optimizer;
        cfg.train.lr = 0.3;
        cfg.train.weight_decay = 1e-5;
        cfg.train.lr_schedule = LrSchedule::Cosine;
        cfg.train.final_lr = 0.003;
        cfg.train.warmup_epochs = 2.0;
        cfg.train.freeze_prototypes_steps = 30;
        cfg.augment.small_crops = 2;
        cfg.augment.small_crop_size = 8;
        if optimizer == Optimizer::Sgd {
            cfg.train.cluster_delay_epochs = 2.0;
        }
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let data = load(&cfg);
        let tmp = tempfile::tempdir().unwrap();
        let (straight, resumed) = straight_and_resumed(&cfg, &data, tmp.path(), 1);
        assert_same_weights(&final_weights(&straight), &final_weights(&resumed));
        let m = resumed.read_metrics().unwrap();
        assert_eq!(m.len(), 3);
        // The learning rate logged is the schedule's at each epoch's last step.
        for (r, step) in m.iter().zip([11usize, 23, 35]) {
            assert_eq!(r.train["lr"], cfg.train.lr_at(step, 12), "{optimizer:?} epoch {}", r.epoch);
        }
        assert!(m[2].train["loss"].is_finite());
    }
}

/// `train.freeze_prototypes_steps`: the prototypes are exactly as initialised
/// after the first N steps, while everything else moved, and move after them.
#[test]
fn prototypes_are_still_during_their_warm_up_and_move_after() {
    use sweep::train::step::Learner;
    let _rng = crate::common::torch_rng();
    let mut cfg = tiny_config(16, 1);
    cfg.train.freeze_prototypes_steps = 3;
    let data = load(&cfg);
    let mut learner = Learner::new(&cfg, data.dataset.images.size()[1], Device::Cpu).unwrap();
    let protos = |e: &Learner| engine_tensor(e, "prototypes");
    let (c0, w0) = (protos(&learner), engine_tensor(&learner, "head.fc1.weight"));
    let idx = Tensor::arange(16, (tch::Kind::Int64, Device::Cpu));
    let batch = data.on_device.batch(&idx);
    for step in 0..3 {
        let _ = learner.step(&batch, step, 3, None);
    }
    assert_eq!(protos(&learner), c0, "the prototypes moved during their warm-up");
    assert_ne!(engine_tensor(&learner, "head.fc1.weight"), w0, "the head did not train");
    let _ = learner.step(&batch, 3, 3, None);
    assert_ne!(protos(&learner), c0, "the prototypes stayed after their warm-up");
    assert_eq!(learner.optim.steps()[learner.prototype_params.iter().position(|p| *p).unwrap()], 1);
}

/// `train.cluster_delay_epochs`: for the delay's steps the loss is L1 alone,
/// so every weight moves exactly as with beta = gamma = 0 and the prototypes
/// not at all; L2 and L3 are still logged. After it the clustering terms train.
#[test]
fn clustering_terms_join_after_their_delay() {
    use sweep::train::step::Learner;
    let _rng = crate::common::torch_rng();
    let mut cfg = tiny_config(16, 4); // 4 epochs of 1 step each
    cfg.train.cluster_delay_epochs = 2.0;
    let mut byol = cfg.clone();
    (byol.loss.beta, byol.loss.gamma, byol.train.cluster_delay_epochs) = (0.0, 0.0, 0.0);
    let data = load(&cfg);
    let channels = data.dataset.images.size()[1];
    let (mut delayed, mut alone) =
        (Learner::new(&cfg, channels, Device::Cpu).unwrap(), Learner::new(&byol, channels, Device::Cpu).unwrap());
    let c0 = engine_tensor(&delayed, "prototypes");
    let batch = data.on_device.batch(&Tensor::arange(16, (tch::Kind::Int64, Device::Cpu)));
    for step in 0..2 {
        assert!(delayed.clusters_delayed(step, 4));
        let (a, b) = (delayed.step(&batch, step, 4, None), alone.step(&batch, step, 4, None));
        assert_eq!(f64::try_from(a.get(0)).unwrap(), f64::try_from(b.get(0)).unwrap(), "L = alpha L1");
        assert!(f64::try_from(a.get(2)).unwrap() > 0.0, "L2 is logged");
    }
    for name in ["encoder.conv1.weight", "head.fc1.weight", "predictor.fc1.weight"] {
        assert_eq!(engine_tensor(&delayed, name), engine_tensor(&alone, name), "{name}");
    }
    assert_eq!(engine_tensor(&delayed, "prototypes"), c0, "the prototypes moved during the delay");
    assert!(!delayed.clusters_delayed(2, 4));
    let _ = delayed.step(&batch, 2, 4, None);
    assert_ne!(engine_tensor(&delayed, "prototypes"), c0, "the prototypes stayed after the delay");
}

fn engine_tensor(learner: &sweep::train::step::Learner, name: &str) -> Tensor {
    let vars = learner.nets.online_vs.variables();
    vars.get(name).unwrap_or_else(|| panic!("no variable {name}: {:?}", vars.keys())).copy()
}

/// `train.restarts` (method.md §13): three candidates train one epoch each,
/// the one with the lowest L2 goes on, its epoch is the run's first, and every
/// candidate's seconds are the run's. Candidate 0 is the run's own seed: its
/// epoch is the plain run's first, to the bit.
#[test]
fn restarts_continue_the_candidate_with_the_lowest_l2() {
    let _rng = crate::common::torch_rng();
    let plain = tiny_config(64, 3);
    let mut cfg = plain.clone();
    (cfg.train.restarts, cfg.train.restart_epochs) = (3, 1);
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let (a, p) = (run_dir(&tmp.path().join("a"), &cfg), run_dir(&tmp.path().join("p"), &plain));
    let ctl = RunControl::silent(StopFlag::new());
    sweep::train::run(&cfg, &a, &data, Device::Cpu, &ctl).unwrap();
    sweep::train::run(&plain, &p, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();

    let r = a.read_restarts().unwrap().expect("restarts.json");
    assert_eq!((r.metric.as_str(), r.epochs, r.candidates.len()), ("l2", 1, 3));
    assert_eq!(r.candidates[0].seed, cfg.seed, "candidate 0 is the run's seed");
    assert!(r.candidates[1].seed != cfg.seed && r.candidates[2].seed != r.candidates[1].seed);
    let l2: Vec<f64> = r.candidates.iter().map(|c| c.l2).collect();
    assert!(l2.iter().any(|v| *v != l2[0]), "the candidates differ: {l2:?}");
    let lowest = (0..3).min_by(|&i, &j| l2[i].total_cmp(&l2[j])).unwrap();
    assert_eq!(r.chosen, lowest, "{l2:?}");
    assert!(!a.path().join("candidates").exists(), "the candidates' folders are removed");

    let (m, mp) = (a.read_metrics().unwrap(), p.read_metrics().unwrap());
    assert_eq!(m.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(m[0].train["l2"], l2[r.chosen], "the run starts from the chosen candidate");
    assert_eq!(mp[0].train["l2"], l2[0], "candidate 0 trains as the plain run");
    let others: f64 = (0..3).filter(|&i| i != r.chosen).map(|i| r.candidates[i].seconds).sum();
    assert!(others > 0.0);
    assert_eq!(m[0].train["restart_seconds"], others);
    let all: f64 = r.candidates.iter().map(|c| c.seconds).sum();
    assert!(a.read_summary().unwrap().unwrap().train_seconds >= all, "every candidate's time is the run's");
}

/// A run with restarts stopped inside its second candidate and resumed ends
/// with the same choice and the same weights as one never stopped.
#[test]
fn restarts_resume_exactly_from_inside_a_candidate() {
    let _rng = crate::common::torch_rng();
    let mut cfg = tiny_config(64, 2);
    (cfg.train.restarts, cfg.train.restart_epochs) = (2, 1);
    let data = load(&cfg);
    let tmp = tempfile::tempdir().unwrap();
    let straight = run_dir(&tmp.path().join("a"), &cfg);
    sweep::train::run(&cfg, &straight, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    let resumed = run_dir(&tmp.path().join("b"), &cfg);
    let stop = StopFlag::new();
    let reports = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s2, r2) = (stop.clone(), reports.clone());
    // Progress comes after step 10 and step 12 of each one-epoch candidate:
    // the third report is candidate 1's first, mid-epoch.
    let ctl = RunControl::new(stop.clone(), move |p| {
        if r2.fetch_add(1, Ordering::SeqCst) == 2 {
            assert_eq!((p.epoch, p.step), (1, 10));
            s2.request();
        }
    });
    assert_eq!(sweep::train::run(&cfg, &resumed, &data, Device::Cpu, &ctl), Err(RunFailure::Interrupted));
    assert!(resumed.read_restarts().unwrap().is_none(), "stopped before the choice");
    assert!(resumed.path().join("candidates/1/checkpoints/last.json").is_file(), "candidate 1 checkpointed");
    sweep::train::run(&cfg, &resumed, &data, Device::Cpu, &RunControl::silent(StopFlag::new())).unwrap();
    let (ra, rb) = (straight.read_restarts().unwrap().unwrap(), resumed.read_restarts().unwrap().unwrap());
    assert_eq!(ra.chosen, rb.chosen);
    assert_eq!(
        ra.candidates.iter().map(|c| c.l2).collect::<Vec<_>>(),
        rb.candidates.iter().map(|c| c.l2).collect::<Vec<_>>()
    );
    assert_same_weights(&final_weights(&straight), &final_weights(&resumed));
}
