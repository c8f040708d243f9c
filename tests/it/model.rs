//! The networks: shapes, parameter names (the checkpoint format), the target
//! copy and its EMA, where gradients go, and a short seeded training run.
use std::collections::BTreeSet;

use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use sweep::config::run::{Backbone, LossConfig, RunConfig, SobelMode, Stem, TransformKind};
use sweep::config::RunSpec;
use sweep::loss::{concurl_loss, Transforms, ViewOutputs};
use sweep::model::{cosine_tau, ema_update, input_channels, is_packed, pack_contiguous, Encoder, Networks, Online};

/// A resolved config with small heads (CPU-sized).
fn small_config(backbone: Backbone, stem: Stem, width: f64) -> RunConfig {
    let mut cfg = RunSpec::default();
    cfg.model.backbone = backbone;
    cfg.model.stem = Some(stem);
    cfg.model.width = width;
    cfg.model.proj_hidden = 32;
    cfg.model.proj_dim = 16;
    cfg.model.head_hidden = 32;
    cfg.model.head_dim = 16;
    let cfg = cfg.resolve().unwrap();
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    cfg
}

/// These nets are tiny: libtorch's intra-op threads only add contention on a
/// shared 2-core machine (measured: 13 s with the default pool, 1 s with one
/// thread, for the training test under load). Process-wide, affects speed only.
fn one_thread() {
    tch::set_num_threads(1);
}

fn names(vs: &nn::VarStore) -> BTreeSet<String> {
    vs.variables().into_keys().collect()
}

#[test]
fn feature_dimensions_for_each_backbone_stem_and_width() {
    let _rng = crate::common::torch_rng();
    one_thread();
    tch::manual_seed(0);
    for backbone in [Backbone::Resnet18, Backbone::Resnet34] {
        for stem in [Stem::Cifar, Stem::Imagenet] {
            for (width, feat) in [(0.25, 128), (0.125, 64)] {
                let cfg = small_config(backbone, stem, width);
                let vs = nn::VarStore::new(Device::Cpu);
                let enc = Encoder::new(&vs.root(), &cfg, 3);
                assert_eq!(enc.feat_dim(), feat, "{backbone:?} {stem:?} width {width}");
                let y = enc.forward_t(&Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)), false);
                assert_eq!(y.size(), vec![2, feat], "{backbone:?} {stem:?} width {width}");
            }
        }
    }
    // Full width: the paper's 512-d feature (built, not run).
    let cfg = small_config(Backbone::Resnet34, Stem::Imagenet, 1.0);
    let vs = nn::VarStore::new(Device::Cpu);
    assert_eq!(Encoder::new(&vs.root(), &cfg, 3).feat_dim(), 512);
    // Channels never drop below 4, however thin.
    let cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.01);
    assert_eq!(Encoder::new(&(vs.root() / "thin"), &cfg, 3).config().widths, [4, 4, 4, 5]);
}

#[test]
fn input_channels_follow_the_sobel_mode() {
    assert_eq!(input_channels(SobelMode::Off, 3), 3);
    assert_eq!(input_channels(SobelMode::Off, 1), 1);
    assert_eq!(input_channels(SobelMode::Sobel, 3), 2);
    assert_eq!(input_channels(SobelMode::RgbSobel, 3), 5);
    let cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    for c in [2, 5] {
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = Encoder::new(&vs.root(), &cfg, c);
        assert_eq!(vs.variables()["conv1.weight"].size(), vec![8, c, 3, 3]);
        let y = enc.forward_t(&Tensor::randn([2, c, 16, 16], (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), vec![2, 64]);
    }
}

#[test]
fn parameter_names_are_stable() {
    let _rng = crate::common::torch_rng();
    tch::manual_seed(0);
    let cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    let nets = Networks::new(&cfg, 3, Device::Cpu);
    let online = names(&nets.online_vs);
    for want in [
        "encoder.conv1.weight",
        "encoder.bn1.weight",
        "encoder.bn1.running_mean",
        "encoder.layer1.0.conv1.weight",
        "encoder.layer1.1.bn2.running_var",
        "encoder.layer2.0.downsample.0.weight",
        "encoder.layer2.0.downsample.1.bias",
        "encoder.layer4.1.conv2.weight",
        "projector.fc1.weight",
        "projector.bn1.running_var",
        "projector.fc2.bias",
        "predictor.fc1.weight",
        "predictor.fc2.weight",
        "head.fc1.weight",
        "head.bn1.weight",
        "head.fc2.weight",
        "prototypes",
    ] {
        assert!(online.contains(want), "online network lacks `{want}`");
    }
    assert!(!online.contains("encoder.layer1.0.downsample.0.weight"), "stage 1 keeps its width: no projection");
    assert!(!online.contains("encoder.conv1.bias"), "convolutions before BatchNorm have no bias");
    // ResNet-18: stem 1 conv + 8 blocks x 2 convs + 3 downsample convs = 20 convolutions.
    let is_conv = |n: &&String| {
        n.starts_with("encoder.")
            && (n.ends_with("conv1.weight") || n.ends_with("conv2.weight") || n.ends_with("downsample.0.weight"))
    };
    assert_eq!(online.iter().filter(is_conv).count(), 20);
    // The target is exactly the online encoder and projector, under the same names.
    let target = names(&nets.target_vs);
    let expected: BTreeSet<String> =
        online.iter().filter(|n| n.starts_with("encoder.") || n.starts_with("projector.")).cloned().collect();
    assert_eq!(target, expected);
    assert_eq!(nets.online.prototypes.size(), vec![4, 16], "K x head_dim");
}

#[test]
fn target_starts_as_an_exact_frozen_copy() {
    let _rng = crate::common::torch_rng();
    tch::manual_seed(1);
    let cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    let nets = Networks::new(&cfg, 3, Device::Cpu);
    let online = nets.online_vs.variables();
    for (name, t) in nets.target_vs.variables() {
        assert!(t.equal(&online[&name]), "`{name}` differs at init");
        assert!(!t.requires_grad(), "target `{name}` must not require grad");
    }
    assert!(is_packed(&nets.target_vs), "the target is packed for the fused EMA");
    let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
    let v = nets.target.forward_t(&x, false);
    let out = nets.online.forward_t(&x, false);
    assert!(v.equal(&out.projection), "same weights, same projection");
    assert!(!v.requires_grad());
}

#[test]
fn ema_is_exact_on_a_hand_computation_packed_or_not() {
    // Dyadic values and tau = 0.75: every product and sum is exact in float32.
    for packed in [false, true] {
        let online = nn::VarStore::new(Device::Cpu);
        let target = nn::VarStore::new(Device::Cpu);
        let (o, t) = (online.root(), target.root());
        let (oa, ta) = (&o / "a", &t / "a");
        let _ = oa.var_copy("weight", &Tensor::from_slice(&[1.0f32, 2.0, -4.0, 8.0]).view([2, 2]));
        let _ = oa.var_copy("bias", &Tensor::from_slice(&[0.5f32]));
        let _ = oa.zeros_no_train("running_mean", &[2]).fill_(4.0);
        let _ = o.var_copy("extra", &Tensor::from_slice(&[9.0f32])); // online only (a predictor)
        let _ = ta.var_copy("weight", &Tensor::from_slice(&[0.0f32, 2.0, 4.0, -8.0]).view([2, 2]));
        let _ = ta.var_copy("bias", &Tensor::from_slice(&[-0.5f32]));
        let _ = ta.zeros_no_train("running_mean", &[2]);
        if packed {
            assert!(pack_contiguous(&target));
            assert!(is_packed(&target));
        } else {
            assert!(!is_packed(&target));
        }
        ema_update(&target, &online, 0.75);
        let vars = target.variables();
        let get = |n: &str| Vec::<f32>::try_from(vars[n].flatten(0, -1)).unwrap();
        // 0.75 xi + 0.25 theta
        assert_eq!(get("a.weight"), vec![0.25, 2.0, 2.0, -4.0], "packed = {packed}");
        assert_eq!(get("a.bias"), vec![-0.25], "packed = {packed}");
        assert_eq!(get("a.running_mean"), vec![1.0, 1.0], "BN statistics are averaged too (packed = {packed})");
        assert!(!vars.contains_key("extra"));
    }
}

#[test]
fn ema_on_the_networks_matches_the_formula() {
    let _rng = crate::common::torch_rng();
    tch::manual_seed(2);
    let cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    let nets = Networks::new(&cfg, 3, Device::Cpu);
    tch::no_grad(|| {
        for (_, mut v) in nets.online_vs.variables() {
            let _ = v.g_add_(&(v.randn_like() * 0.1));
        }
    });
    let before: Vec<(String, Tensor)> = nets.target_vs.variables().into_iter().map(|(n, t)| (n, t.copy())).collect();
    nets.update_target(0.9);
    let online = nets.online_vs.variables();
    let after = nets.target_vs.variables();
    for (name, xi) in before {
        let want = &xi * 0.9 + &online[&name] * 0.1;
        let d = (&after[&name] - want).abs().max().double_value(&[]);
        assert!(d < 1e-6, "`{name}`: off by {d}");
    }
}

#[test]
fn cosine_schedule_runs_from_base_to_one() {
    assert_eq!(cosine_tau(0.99, 0, 100), 0.99);
    assert!((cosine_tau(0.99, 50, 100) - 0.995).abs() < 1e-12);
    assert_eq!(cosine_tau(0.99, 100, 100), 1.0);
    assert_eq!(cosine_tau(0.99, 200, 100), 1.0);
}

/// Four kinds of 16 px pattern (stripes each way, checks, a centred square) with
/// a random colour and noise; two views are two noise draws. Fixed by `seed`.
fn structured_batch(n: i64, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let r = Tensor::arange(16, opts).view([16, 1]).expand([16, 16], false);
    let c = r.transpose(0, 1);
    let patterns = [
        (r.divide_scalar_mode(4, "floor").remainder(2)),
        (c.divide_scalar_mode(4, "floor").remainder(2)),
        ((r.divide_scalar_mode(4, "floor") + c.divide_scalar_mode(4, "floor")).remainder(2)),
        ((r.ge(4).logical_and(&r.lt(12)).logical_and(&c.ge(4)).logical_and(&c.lt(12))).to_kind(Kind::Float)),
    ];
    let imgs: Vec<Tensor> = (0..n)
        .map(|i| {
            let colour = Tensor::rand([3, 1, 1], opts);
            patterns[(i % 4) as usize].unsqueeze(0) * colour
        })
        .collect();
    let clean = Tensor::stack(&imgs, 0);
    let view = |clean: &Tensor| clean + clean.randn_like() * 0.2;
    (view(&clean), view(&clean))
}

#[test]
fn gradients_reach_every_online_part_and_never_the_target() {
    let _rng = crate::common::torch_rng();
    one_thread();
    tch::manual_seed(4);
    let cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    let nets = Networks::new(&cfg, 3, Device::Cpu);
    let tr = Transforms::new(TransformKind::Projection, 3, 8, 16, cfg.seed, Device::Cpu);
    let mut opt = nn::Adam::default().build(&nets.online_vs, 1e-3).unwrap();
    let (x1, x2) = structured_batch(8, 5);
    let (o1, o2) = (nets.online.forward_t(&x1, true), nets.online.forward_t(&x2, true));
    let (v1, v2) = (nets.target.forward_t(&x1, true), nets.target.forward_t(&x2, true));
    let terms = concurl_loss(
        ViewOutputs { w: &o1.prediction, v: &v1, z: &o1.z },
        ViewOutputs { w: &o2.prediction, v: &v2, z: &o2.z },
        &nets.online.prototypes,
        &LossConfig::default(),
        &tr,
    );
    let target_before: Vec<(String, Tensor)> =
        nets.target_vs.variables().into_iter().map(|(n, t)| (n, t.copy())).collect();
    opt.zero_grad();
    terms.total.backward();
    for name in [
        "encoder.conv1.weight",
        "encoder.layer4.1.conv2.weight",
        "projector.fc1.weight",
        "predictor.fc2.weight",
        "head.fc1.weight",
        "head.fc2.bias",
        "prototypes",
    ] {
        let g = nets.online_vs.variables()[name].grad();
        assert!(g.defined() && g.abs().sum(None::<Kind>).double_value(&[]) > 0.0, "no gradient reached `{name}`");
    }
    for (name, t) in nets.target_vs.variables() {
        assert!(!t.grad().defined(), "target `{name}` got a gradient");
    }
    opt.step();
    let after = nets.target_vs.variables();
    for (name, t) in target_before {
        assert!(after[&name].equal(&t), "the optimiser step changed target `{name}`");
    }
}

#[test]
fn online_embed_matches_the_full_forward() {
    let _rng = crate::common::torch_rng();
    tch::manual_seed(6);
    let cfg = small_config(Backbone::Resnet18, Stem::Imagenet, 0.125);
    let vs = nn::VarStore::new(Device::Cpu);
    let online = Online::new(&vs.root(), &cfg, 3);
    let x = Tensor::randn([3, 3, 32, 32], (Kind::Float, Device::Cpu));
    let full = online.forward_t(&x, false);
    let (y, z) = online.embed(&x, false);
    assert!(y.equal(&full.y) && z.equal(&full.z));
    assert_eq!(full.prediction.size(), vec![3, 16]);
    // Re-normalising the prototypes leaves unit rows.
    online.renormalize_prototypes();
    let norms = online.prototypes.norm_scalaropt_dim(2.0, [-1], false);
    assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-6);
}

#[test]
fn concurl_loss_falls_over_thirty_adam_steps() {
    let _rng = crate::common::torch_rng();
    one_thread();
    tch::manual_seed(7);
    let mut cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    cfg.data.clusters = 4;
    let nets = Networks::new(&cfg, 3, Device::Cpu);
    let tr = Transforms::new(TransformKind::Projection, 10, 8, 16, cfg.seed, Device::Cpu);
    let mut opt = nn::Adam::default().build(&nets.online_vs, 1e-3).unwrap();
    let (x1, x2) = structured_batch(16, 8);
    let mut losses = Vec::new();
    for _ in 0..30 {
        let (o1, o2) = (nets.online.forward_t(&x1, true), nets.online.forward_t(&x2, true));
        let (v1, v2) = (nets.target.forward_t(&x1, true), nets.target.forward_t(&x2, true));
        let terms = concurl_loss(
            ViewOutputs { w: &o1.prediction, v: &v1, z: &o1.z },
            ViewOutputs { w: &o2.prediction, v: &v2, z: &o2.z },
            &nets.online.prototypes,
            &cfg.loss,
            &tr,
        );
        opt.backward_step(&terms.total);
        nets.update_target(cfg.train.ema_tau);
        losses.push(terms.total.double_value(&[]));
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (start, end) = (mean(&losses[..3]), mean(&losses[27..]));
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(end < 0.5 * start, "loss did not fall: {start:.4} -> {end:.4} ({losses:?})");
}

/// Reads one float list of the Adam fixture.
fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// A fixture case's parameter shapes (`"shapes": [[2, 3], [3]]`).
fn fixture_shapes(case: &serde_json::Value) -> Vec<Vec<i64>> {
    let dims = |s: &serde_json::Value| s.as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
    case["shapes"].as_array().unwrap().iter().map(dims).collect()
}

/// A fixture's flat float list as a tensor of shape `s`.
fn tensor(v: &serde_json::Value, s: &[i64]) -> Tensor {
    Tensor::from_slice(&floats(v)).reshape(s)
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-6 + 2e-5 * w.abs(), "{name}[{i}]: {g} vs torch {w}");
    }
}

#[test]
fn flat_optimizer_adam_matches_torch_optim_adam() {
    use sweep::train::optim::{FlatOptimizer, OptimSettings};
    let text = std::fs::read_to_string(crate::common::fixture("adam_reference.json")).unwrap();
    let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
    for case in fx["cases"].as_array().unwrap() {
        let (lr, wd) = (case["lr"].as_f64().unwrap(), case["weight_decay"].as_f64().unwrap());
        let shapes = fixture_shapes(case);
        // Fused CPU pass, tensor-op pass (the CUDA path), and the fused pass with
        // the all-zero gradient given as "no gradient" (undefined): all equal torch.
        for (variant, undefined_zero) in [("fused", false), ("unfused", false), ("fused", true)] {
            let params: Vec<Tensor> = case["init"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&shapes)
                .map(|(v, s)| tensor(v, s).set_requires_grad(true))
                .collect();
            let mut adam =
                FlatOptimizer::new(params.iter().map(Tensor::shallow_clone).collect(), OptimSettings::adam(lr, wd));
            for (k, step) in case["grads"].as_array().unwrap().iter().enumerate() {
                let grads: Vec<Tensor> = step
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(&shapes)
                    .enumerate()
                    .map(|(i, (g, s))| if undefined_zero && k == 2 && i == 1 { Tensor::new() } else { tensor(g, s) })
                    .collect();
                if variant == "fused" {
                    adam.step(&grads);
                } else {
                    adam.step_unfused(&grads);
                }
            }
            let label = format!("lr {lr} wd {wd} {variant} (undefined zero grad: {undefined_zero})");
            for (i, p) in params.iter().enumerate() {
                let got = Vec::<f32>::try_from(p.detach().reshape([-1])).unwrap();
                assert_close(&format!("{label}: param {i}"), &got, &floats(&case["final"][i]));
            }
            let state: std::collections::HashMap<String, Tensor> = adam.state().into_iter().collect();
            for key in ["exp_avg", "exp_avg_sq"] {
                let want: Vec<f32> = case[key].as_array().unwrap().iter().flat_map(floats).collect();
                let got = Vec::<f32>::try_from(&state[&format!("adam.{key}")]).unwrap();
                assert_close(&format!("{label}: {key}"), &got, &want);
            }
        }
    }
}

/// A frozen parameter keeps its weights and both moments through steps that
/// give it a gradient; the others end exactly as with nothing frozen (Adam is
/// element-wise), on the fused CPU pass and the tensor-op (CUDA) pass alike.
#[test]
fn flat_optimizer_leaves_frozen_parameters_alone() {
    use sweep::train::optim::{FlatOptimizer, OptimSettings};
    let init = |seed: i64| -> Vec<Tensor> {
        tch::manual_seed(seed);
        [vec![3i64, 4], vec![5], vec![2, 2]]
            .iter()
            .map(|s| Tensor::randn(s.as_slice(), (Kind::Float, Device::Cpu)).set_requires_grad(true))
            .collect()
    };
    let grads = |k: i64| -> Vec<Tensor> {
        tch::manual_seed(100 + k);
        [vec![3i64, 4], vec![5], vec![2, 2]]
            .iter()
            .map(|s| Tensor::randn(s.as_slice(), (Kind::Float, Device::Cpu)))
            .collect()
    };
    let _rng = crate::common::torch_rng();
    for fused in [true, false] {
        let run = |frozen: Vec<bool>| {
            let params = init(1);
            let mut adam =
                FlatOptimizer::new(params.iter().map(Tensor::shallow_clone).collect(), OptimSettings::adam(1e-2, 1e-3));
            adam.set_frozen(frozen);
            for k in 0..4 {
                if fused {
                    adam.step(&grads(k));
                } else {
                    adam.step_unfused(&grads(k));
                }
            }
            let state: std::collections::HashMap<String, Tensor> = adam.state().into_iter().collect();
            (params, state["adam.exp_avg"].copy())
        };
        let (free, m_free) = run(Vec::new());
        let (some, m_some) = run(vec![false, true, false]);
        let before = init(1);
        assert_eq!(some[1], before[1], "fused {fused}: the frozen weights did not move");
        assert_eq!(
            m_some.narrow(0, 12, 5),
            Tensor::zeros([5], (Kind::Float, Device::Cpu)),
            "fused {fused}: nor did their moments"
        );
        for i in [0, 2] {
            assert_eq!(some[i], free[i], "fused {fused}: param {i} steps as with nothing frozen");
        }
        assert_eq!(m_some.narrow(0, 0, 12), m_free.narrow(0, 0, 12), "fused {fused}");
        assert_ne!(free[1], before[1], "the same parameter moves when not frozen");
    }
}

/// Adam, SGD with momentum and LARS against tests/fixtures/optim_reference.json
/// (tests/fixtures/gen_optim.py: torch.optim's Adam and SGD, LARS as solo-learn
/// trains BYOL), with the second parameter frozen for the first steps, as the
/// prototypes are during their warm-up: its state starts at its own first
/// step, as torch starts it for a parameter that had no gradient. Fused CPU
/// pass and tensor-op (CUDA) pass alike.
#[test]
fn flat_optimizer_matches_torch_sgd_lars_and_per_parameter_steps() {
    use sweep::config::Optimizer;
    use sweep::train::optim::{FlatOptimizer, OptimSettings};
    let text = std::fs::read_to_string(crate::common::fixture("optim_reference.json")).unwrap();
    let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sit_out = fx["sit_out"].as_u64().unwrap() as usize;
    for case in fx["cases"].as_array().unwrap() {
        let rule = match case["rule"].as_str().unwrap() {
            "adam" => Optimizer::Adam,
            "sgd" => Optimizer::Sgd,
            _ => Optimizer::Lars,
        };
        let num = |k: &str| case[k].as_f64().unwrap();
        let settings = OptimSettings {
            rule,
            lr: num("lr"),
            weight_decay: num("weight_decay"),
            momentum: num("momentum"),
            trust_coefficient: num("trust_coefficient"),
        };
        let shapes = fixture_shapes(case);
        for fused in [true, false] {
            let params: Vec<Tensor> =
                case["init"].as_array().unwrap().iter().zip(&shapes).map(|(v, s)| tensor(v, s)).collect();
            let mut opt = FlatOptimizer::new(params.iter().map(Tensor::shallow_clone).collect(), settings);
            for (k, step) in case["grads"].as_array().unwrap().iter().enumerate() {
                opt.set_frozen(if k < sit_out { vec![false, true, false] } else { Vec::new() });
                let grads: Vec<Tensor> =
                    step.as_array().unwrap().iter().zip(&shapes).map(|(g, s)| tensor(g, s)).collect();
                if fused {
                    opt.step(&grads);
                } else {
                    opt.step_unfused(&grads);
                }
            }
            let label = format!("{settings:?} fused {fused}");
            assert_eq!(opt.steps(), [6, 4, 6], "{label}: per-parameter step counts");
            for (i, p) in params.iter().enumerate() {
                let got = Vec::<f32>::try_from(p.detach().reshape([-1])).unwrap();
                assert_close(&format!("{label}: param {i}"), &got, &floats(&case["final"][i]));
            }
            if case["buffer"].is_array() {
                let state: std::collections::HashMap<String, Tensor> = opt.state().into_iter().collect();
                let key = if rule == Optimizer::Adam { "adam.exp_avg" } else { "sgd.momentum" };
                let want: Vec<f32> = case["buffer"].as_array().unwrap().iter().flat_map(floats).collect();
                assert_close(&format!("{label}: {key}"), &Vec::<f32>::try_from(&state[key]).unwrap(), &want);
            }
        }
    }
}

/// The optimiser's state round-trips through a checkpoint's tensors: the same
/// next step from the restored copy; and a checkpoint from before per-parameter
/// counts (no `optim.steps`) takes the global step for every parameter.
#[test]
fn flat_optimizer_state_round_trips() {
    use sweep::config::Optimizer;
    use sweep::train::optim::{FlatOptimizer, OptimSettings};
    let _rng = crate::common::torch_rng();
    for rule in [Optimizer::Adam, Optimizer::Sgd, Optimizer::Lars] {
        let settings = OptimSettings { rule, lr: 0.1, weight_decay: 1e-4, momentum: 0.9, trust_coefficient: 0.02 };
        let make = || {
            tch::manual_seed(7);
            let p: Vec<Tensor> = [vec![4i64, 3], vec![3]]
                .iter()
                .map(|s| Tensor::randn(s.as_slice(), (Kind::Float, Device::Cpu)))
                .collect();
            let opt = FlatOptimizer::new(p.iter().map(Tensor::shallow_clone).collect(), settings);
            (p, opt)
        };
        let grads = |k: i64| -> Vec<Tensor> {
            tch::manual_seed(50 + k);
            vec![Tensor::randn([4, 3], (Kind::Float, Device::Cpu)), Tensor::randn([3], (Kind::Float, Device::Cpu))]
        };
        let (pa, mut a) = make();
        a.set_frozen(vec![false, true]);
        a.step(&grads(0));
        a.set_frozen(Vec::new());
        a.step(&grads(1));
        let (pb, mut b) = make();
        tch::no_grad(|| {
            for (x, y) in pb.iter().zip(&pa) {
                x.shallow_clone().copy_(y);
            }
        });
        let mut map: std::collections::HashMap<String, Tensor> =
            a.state().into_iter().map(|(k, t)| (k, t.copy())).collect();
        b.load_state(&mut map, 0).unwrap();
        assert_eq!(b.steps(), [2, 1], "{rule:?}: step counts restored");
        a.step(&grads(2));
        b.step(&grads(2));
        assert_eq!(pa, pb, "{rule:?}: the restored optimiser takes the same step");
        let mut old: std::collections::HashMap<String, Tensor> =
            a.state().into_iter().filter(|(k, _)| k != "optim.steps").collect();
        b.load_state(&mut old, 3).unwrap();
        assert_eq!(b.steps(), [3, 3], "{rule:?}: old checkpoints count the global step");
    }
}

/// Pooled features and every parameter's gradient (as float64, sorted by name) of
/// the seeded encoder under a fixed random linear read-out of its features.
fn encoder_grads(channels_last: bool, kind: Kind) -> (Tensor, Vec<(String, Tensor)>) {
    tch::manual_seed(3);
    let mut cfg = small_config(Backbone::Resnet18, Stem::Cifar, 0.125);
    cfg.train.channels_last = channels_last;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let enc = Encoder::new(&vs.root(), &cfg, 3);
    if kind == Kind::Double {
        vs.double();
    }
    // Drawn in float64 and rounded, so both precisions see the same numbers.
    tch::manual_seed(4);
    let x = Tensor::randn([8, 3, 32, 32], (Kind::Double, Device::Cpu)).to_kind(kind);
    let y = enc.forward_t(&x, true);
    let r = Tensor::randn(y.size(), (Kind::Double, Device::Cpu)).to_kind(kind);
    (&y * &r).sum(kind).backward();
    let mut g: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, t)| (n, t.grad().to_kind(Kind::Double)))
        .collect();
    g.sort_by(|a, b| a.0.cmp(&b.0));
    (y.to_kind(Kind::Double), g)
}

#[test]
fn channels_last_encoder_equals_nchw_forward_and_backward() {
    let _rng = crate::common::torch_rng();
    one_thread();
    // The float64 NCHW encoder is the reference. Channels-last in float64 pins
    // the semantics (a layout mistake shows far above rounding); in float32 it
    // runs oneDNN's NHWC kernels, whose rounding must stay that of float32
    // (measured worst here: 1.2e-5 relative, NCHW float32 3e-6).
    let (y_ref, g_ref) = encoder_grads(false, Kind::Double);
    for (channels_last, kind, tol) in
        [(true, Kind::Double, 1e-9), (false, Kind::Float, 1e-4), (true, Kind::Float, 1e-4)]
    {
        let (y, g) = encoder_grads(channels_last, kind);
        let dy = (&y - &y_ref).abs().max().double_value(&[]) / y_ref.abs().max().double_value(&[]);
        assert!(dy < tol, "channels_last {channels_last} {kind:?}: features differ by {dy:.2e} (relative)");
        assert_eq!(g.len(), g_ref.len());
        for ((name, a), (_, b)) in g_ref.iter().zip(&g) {
            let d = (a - b).abs().max().double_value(&[]) / a.abs().max().double_value(&[]).max(1e-12);
            assert!(d < tol, "channels_last {channels_last} {kind:?} {name}: gradients differ by {d:.2e} (relative)");
        }
    }
}
