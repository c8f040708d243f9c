//! The losses against tests/fixtures/loss_reference.json, written by
//! tests/fixtures/gen_loss.py from docs/method.md in float64 PyTorch (independent
//! formulations: plain-formula Sinkhorn, a loop over the M maps, autograd).
use serde_json::Value;
use tch::{Device, Kind, Tensor};

use sweep::config::run::{LossConfig, TransformKind};
use sweep::loss::{
    byol_loss, concurl_loss, consensus_loss, cosine_scores, log_assignments, nt_xent_loss, sinkhorn, soft_cluster_loss,
    transformed_log_assignments, Transforms, ViewOutputs,
};

use crate::common::fixture;

const TOL64: f64 = 1e-10;
const TOL32: f64 = 1e-6;

fn reference() -> Value {
    let path = fixture("loss_reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// A nested JSON array of numbers as a tensor of `kind`.
fn tensor(v: &Value, kind: Kind) -> Tensor {
    fn walk(v: &Value, shape: &mut Vec<i64>, flat: &mut Vec<f64>, depth: usize) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len() as i64);
                }
                for it in items {
                    walk(it, shape, flat, depth + 1);
                }
            }
            Value::Number(n) => flat.push(n.as_f64().expect("a number")),
            other => panic!("unexpected JSON value {other}"),
        }
    }
    let (mut shape, mut flat) = (Vec::new(), Vec::new());
    walk(v, &mut shape, &mut flat, 0);
    Tensor::from_slice(&flat).view(shape.as_slice()).to_kind(kind)
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor, tol: f64) {
    let d = max_abs_diff(got, want);
    assert!(d <= tol, "{what}: max |difference| {d:e} > {tol:e}");
}

fn assert_scalar(what: &str, got: &Tensor, want: f64, tol: f64) {
    let g = got.double_value(&[]);
    assert!((g - want).abs() <= tol, "{what}: got {g}, want {want} (tolerance {tol:e})");
}

#[test]
fn sinkhorn_matches_plain_formula_and_survives_overflow() {
    let r = reference();
    for case in r["sinkhorn"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (kind, tol) = match case["dtype"].as_str().unwrap() {
            "float64" => (Kind::Double, TOL64),
            _ => (Kind::Float, TOL32),
        };
        let scores = tensor(&case["scores"], kind);
        let iters = case["iters"].as_u64().unwrap() as usize;
        let codes = sinkhorn(&scores, num(&case["eps"]), iters);
        assert_eq!(codes.kind(), kind, "{name}: codes keep the input's dtype");
        assert!(codes.isfinite().all().int64_value(&[]) == 1, "{name}: non-finite codes");
        assert_close(name, &codes, &tensor(&case["codes"], Kind::Double), tol);
        let rows = codes.sum_dim_intlist(1, false, Kind::Double);
        assert_close(&format!("{name}: rows sum to 1"), &rows, &rows.ones_like(), 10.0 * tol);
    }
}

#[test]
fn sinkhorn_takes_no_gradient_and_handles_a_whole_dataset_in_float64() {
    let _rng = crate::common::torch_rng();
    tch::manual_seed(3);
    let (n, k) = (60_000, 20);
    let scores = (Tensor::rand([n, k], (Kind::Double, Device::Cpu)) * 2.0 - 1.0).set_requires_grad(true);
    let codes = sinkhorn(&scores, 0.05, 3);
    assert!(!codes.requires_grad(), "codes must be constants for the losses");
    assert_eq!(codes.size(), vec![n, k]);
    assert_eq!(codes.kind(), Kind::Double);
    let rows = codes.sum_dim_intlist(1, false, None::<Kind>);
    assert_close("rows sum to 1", &rows, &rows.ones_like(), 1e-12);
    // Three iterations on near-uniform scores leave clusters close to equal mass N/K.
    let mass = codes.sum_dim_intlist(0, false, None::<Kind>) / (n as f64 / k as f64);
    assert_close("cluster mass near N/K", &mass, &mass.ones_like(), 0.05);
}

#[test]
fn byol_loss_matches_reference() {
    let b = &reference()["byol"];
    for (kind, tol) in [(Kind::Double, TOL64), (Kind::Float, TOL32 * 4.0)] {
        let t = |key: &str| tensor(&b[key], kind);
        let loss = byol_loss(&t("w1"), &t("w2"), &t("v1"), &t("v2"));
        assert_scalar(&format!("byol {kind:?}"), &loss, num(&b["loss"]), tol);
    }
}

#[test]
fn byol_loss_gives_no_gradient_to_the_target_projections() {
    let b = &reference()["byol"];
    let t = |key: &str| tensor(&b[key], Kind::Double).set_requires_grad(true);
    let (w1, w2, v1, v2) = (t("w1"), t("w2"), t("v1"), t("v2"));
    byol_loss(&w1, &w2, &v1, &v2).backward();
    assert!(w1.grad().defined() && w2.grad().defined());
    assert!(!v1.grad().defined() && !v2.grad().defined(), "v must be detached");
}

#[test]
#[should_panic(expected = "byol_loss: v2 is")]
fn byol_loss_rejects_mismatched_shapes() {
    let x = Tensor::zeros([4, 3], (Kind::Float, Device::Cpu));
    let y = Tensor::zeros([4, 2], (Kind::Float, Device::Cpu));
    let _ = byol_loss(&x, &x, &x, &y);
}

#[test]
fn soft_cluster_loss_matches_reference() {
    let r = reference();
    let c = &r["cluster"];
    let (tau, eps, iters) = (num(&r["tau"]), num(&r["eps"]), r["iters"].as_u64().unwrap() as usize);
    let t = |key: &str| tensor(&c[key], Kind::Double);
    let (s1, s2) = (cosine_scores(&t("z1"), &t("protos")), cosine_scores(&t("z2"), &t("protos")));
    assert_close("scores1", &s1, &t("scores1"), TOL64);
    assert_close("scores2", &s2, &t("scores2"), TOL64);
    let (q1, q2) = (sinkhorn(&s1, eps, iters), sinkhorn(&s2, eps, iters));
    assert_close("q1", &q1, &t("q1"), TOL64);
    assert_close("q2", &q2, &t("q2"), TOL64);
    let (lp1, lp2) = (log_assignments(&s1, tau), log_assignments(&s2, tau));
    assert_close("logp1", &lp1, &t("logp1"), TOL64);
    assert_close("logp2", &lp2, &t("logp2"), TOL64);
    assert_scalar("L2", &soft_cluster_loss(&q1, &q2, &lp1, &lp2), num(&c["loss"]), TOL64);

    // Uniform assignments give exactly ln K, the collapse signature of method.md §3.
    let uniform = lp1.zeros_like().log_softmax(-1, None::<Kind>);
    assert_scalar("L2 at uniform p", &soft_cluster_loss(&q1, &q2, &uniform, &uniform), num(&r["ln_k"]), TOL64);
}

fn transforms_of(case: &Value, kind: Kind) -> Transforms {
    let k = match case["kind"].as_str().unwrap() {
        "projection" => TransformKind::Projection,
        "diagonal" => TransformKind::Diagonal,
        other => panic!("unknown kind {other}"),
    };
    Transforms::from_tensor(k, tensor(&case["a"], kind))
}

#[test]
fn consensus_loss_and_gradients_match_reference() {
    let r = reference();
    let c = &r["cluster"];
    let (tau, eps, iters) = (num(&r["tau"]), num(&r["eps"]), r["iters"].as_u64().unwrap() as usize);
    for case in r["consensus"].as_array().unwrap() {
        let detach = case["detach"].as_bool().unwrap();
        let what = format!("{} detach={detach}", case["kind"]);
        for (kind, tol) in [(Kind::Double, TOL64), (Kind::Float, 1e-5)] {
            let t = |key: &str| tensor(&c[key], kind).set_requires_grad(true);
            let (z1, z2, protos) = (t("z1"), t("z2"), t("protos"));
            let q1 = sinkhorn(&cosine_scores(&z1, &protos), eps, iters);
            let q2 = sinkhorn(&cosine_scores(&z2, &protos), eps, iters);
            let tr = transforms_of(case, kind);
            let loss = consensus_loss(&z1, &z2, &protos, &tr, &q1, &q2, tau, detach);
            assert_scalar(&format!("L3 {what} {kind:?}"), &loss, num(&case["loss"]), tol);
            if kind == Kind::Double {
                loss.backward();
                assert_close(&format!("dL3/dz1 {what}"), &z1.grad(), &tensor(&case["grad_z1"], kind), TOL64);
                assert_close(&format!("dL3/dz2 {what}"), &z2.grad(), &tensor(&case["grad_z2"], kind), TOL64);
                let gp = if protos.grad().defined() { protos.grad() } else { protos.zeros_like() };
                assert_close(&format!("dL3/dC {what}"), &gp, &tensor(&case["grad_protos"], kind), TOL64);
                if detach {
                    assert!(!protos.grad().defined(), "{what}: detached prototypes must get no gradient from L3");
                }
            }
        }
    }
}

#[test]
fn transformed_assignments_are_distributions_per_map() {
    let r = reference();
    let c = &r["cluster"];
    let case = &r["consensus"][0];
    let tr = transforms_of(case, Kind::Double);
    let lp =
        transformed_log_assignments(&tensor(&c["z1"], Kind::Double), &tensor(&c["protos"], Kind::Double), &tr, 0.1);
    assert_eq!(lp.size(), vec![3, 8, 5], "M x B x K");
    let sums = lp.exp().sum_dim_intlist(-1, false, None::<Kind>);
    assert_close("each p~ sums to 1", &sums, &sums.ones_like(), 1e-12);
}

fn loss_config(alpha: f64, beta: f64, gamma: f64, detach: bool) -> LossConfig {
    LossConfig { alpha, beta, gamma, detach_prototypes_l3: detach, ..LossConfig::default() }
}

/// The total's inputs from the fixture, all requiring gradient.
struct Inputs {
    w1: Tensor,
    w2: Tensor,
    v1: Tensor,
    v2: Tensor,
    z1: Tensor,
    z2: Tensor,
    protos: Tensor,
}

fn inputs(r: &Value) -> Inputs {
    let g = |v: &Value| tensor(v, Kind::Double).set_requires_grad(true);
    let (b, c) = (&r["byol"], &r["cluster"]);
    Inputs {
        w1: g(&b["w1"]),
        w2: g(&b["w2"]),
        v1: g(&b["v1"]),
        v2: g(&b["v2"]),
        z1: g(&c["z1"]),
        z2: g(&c["z2"]),
        protos: g(&c["protos"]),
    }
}

fn run_total(x: &Inputs, cfg: &LossConfig, tr: &Transforms) -> sweep::loss::LossTerms {
    concurl_loss(
        ViewOutputs { w: &x.w1, v: &x.v1, z: &x.z1 },
        ViewOutputs { w: &x.w2, v: &x.v2, z: &x.z2 },
        &x.protos,
        cfg,
        tr,
    )
}

#[test]
fn weighted_total_matches_reference() {
    let r = reference();
    let want = &r["total"];
    let proj = r["consensus"].as_array().unwrap().iter().find(|c| c["kind"] == "projection").unwrap();
    let tr = transforms_of(proj, Kind::Double);
    let cfg = loss_config(num(&want["alpha"]), num(&want["beta"]), num(&want["gamma"]), false);
    let terms = run_total(&inputs(&r), &cfg, &tr);
    assert_scalar("L1", &terms.l1, num(&want["l1"]), TOL64);
    assert_scalar("L2", &terms.l2, num(&want["l2"]), TOL64);
    assert_scalar("L3", &terms.l3, num(&want["l3"]), TOL64);
    assert_scalar("total", &terms.total, num(&want["total"]), TOL64);
    assert_close("codes of view 1", &terms.codes[0], &tensor(&r["cluster"]["q1"], Kind::Double), TOL64);
    assert_close("codes of view 2", &terms.codes[1], &tensor(&r["cluster"]["q2"], Kind::Double), TOL64);
}

#[test]
fn zero_weight_terms_are_logged_but_take_no_part_in_the_gradient() {
    let r = reference();
    let want = &r["total"];
    let tr = transforms_of(&r["consensus"][0], Kind::Double);
    // BYOL + soft clustering (Table IV): L3 reported, not trained.
    let terms = run_total(&inputs(&r), &loss_config(1.0, 1.0, 0.0, false), &tr);
    assert_scalar("L3 still reported", &terms.l3, num(&want["l3"]), TOL64);
    assert!(!terms.l3.requires_grad(), "a zero-weight term must not build a graph");
    assert_scalar("total = L1 + L2", &terms.total, num(&want["l1"]) + num(&want["l2"]), TOL64);

    // BYOL only: the clustering branch gets no gradient at all.
    let x = inputs(&r);
    let terms = run_total(&x, &loss_config(1.0, 0.0, 0.0, false), &tr);
    terms.total.backward();
    assert!(x.w1.grad().defined(), "L1 trains the predictions");
    assert!(!x.z1.grad().defined() && !x.protos.grad().defined(), "no clustering gradient with beta = gamma = 0");
}

#[test]
fn detach_option_cuts_only_the_prototype_gradient_of_l3() {
    let r = reference();
    let tr = transforms_of(&r["consensus"][0], Kind::Double);
    let grad_of = |cfg: LossConfig| {
        let x = inputs(&r);
        run_total(&x, &cfg, &tr).total.backward();
        (x.protos.grad(), x.z1.grad())
    };
    let (c_l2_only, _) = grad_of(loss_config(0.0, 1.0, 0.0, false));
    let (c_detached, z_detached) = grad_of(loss_config(0.0, 1.0, 1.0, true));
    let (c_attached, z_attached) = grad_of(loss_config(0.0, 1.0, 1.0, false));
    assert_close("detached: prototypes see L2 only", &c_detached, &c_l2_only, 1e-14);
    assert!(max_abs_diff(&c_attached, &c_l2_only) > 1e-4, "attached: L3 adds a prototype gradient");
    assert_close("z's gradient is unaffected by the option", &z_detached, &z_attached, 1e-14);
}

#[test]
fn transforms_are_fixed_by_the_seed() {
    let _rng = crate::common::torch_rng();
    let draw = |seed| Transforms::new(TransformKind::Projection, 5, 8, 32, seed, Device::Cpu);
    let (a, b, c) = (draw(7), draw(7), draw(8));
    assert!(a.a.equal(&b.a), "same seed, same maps");
    assert!(max_abs_diff(&a.a, &c.a) > 0.1, "another seed, other maps");
    // Independent of torch's RNG state.
    tch::manual_seed(123);
    let _ = Tensor::randn([100], (Kind::Float, Device::Cpu));
    assert!(draw(7).a.equal(&a.a), "torch's RNG must not matter");
}

#[test]
fn projection_rows_are_orthonormal_and_shapes_follow_the_kind() {
    let (m, dp, dim) = (6, 16, 64);
    let p = Transforms::new(TransformKind::Projection, m, dp, dim, 1, Device::Cpu);
    assert_eq!(p.a.size(), vec![m as i64, dp as i64, dim as i64]);
    assert_eq!(p.a.kind(), Kind::Float);
    let gram = p.a.bmm(&p.a.transpose(1, 2));
    let eye = Tensor::eye(dp as i64, (Kind::Float, Device::Cpu)).expand([m as i64, dp as i64, dp as i64], false);
    assert_close("A A^T = I", &gram, &eye, 1e-5);
    assert!(p.note().contains("orthonormal"), "{}", p.note());

    let d = Transforms::new(TransformKind::Diagonal, m, dim, dim, 1, Device::Cpu);
    assert_eq!(d.a.size(), vec![m as i64, dim as i64]);
    assert_eq!((d.m(), d.in_dim(), d.out_dim()), (m as i64, dim as i64, dim as i64));

    // d' > dim: orthonormal rows are impossible, plain N(0, 1/d') and the note says so.
    let wide = Transforms::new(TransformKind::Projection, 2, 128, dim, 1, Device::Cpu);
    assert_eq!(wide.a.size(), vec![2, 128, dim as i64]);
    assert!(wide.note().contains("cannot be orthonormal"), "{}", wide.note());

    let x = Tensor::randn([10, dim as i64], (Kind::Float, Device::Cpu));
    assert_eq!(p.apply(&x).size(), vec![m as i64, 10, dp as i64]);
    assert_eq!(d.apply(&x).size(), vec![m as i64, 10, dim as i64]);
}

#[test]
fn gaussian_and_diagonal_entries_have_their_stated_spread() {
    // 100 x 64 x 256 = 1.6M entries: the sample std is within 1% of the target.
    let g = Transforms::new(TransformKind::Gaussian, 100, 64, 256, 5, Device::Cpu);
    let std = f64::try_from(g.a.to_kind(Kind::Double).std(true)).unwrap();
    assert!((std - 1.0 / 8.0).abs() < 0.00125, "gaussian std {std}, want 1/sqrt(64)");
    let d = Transforms::new(TransformKind::Diagonal, 400, 256, 256, 5, Device::Cpu);
    let std = f64::try_from(d.a.to_kind(Kind::Double).std(true)).unwrap();
    assert!((std - 1.0).abs() < 0.01, "diagonal std {std}, want 1");
}

#[test]
fn half_precision_inputs_are_promoted_before_the_losses() {
    let r = reference();
    let tr = transforms_of(&r["consensus"][0], Kind::Float);
    let x = inputs(&r);
    let bf = |t: &Tensor| t.detach().to_kind(Kind::BFloat16);
    let (w1, w2, v1, v2, z1, z2, c) = (bf(&x.w1), bf(&x.w2), bf(&x.v1), bf(&x.v2), bf(&x.z1), bf(&x.z2), bf(&x.protos));
    let cfg = LossConfig::default();
    let low =
        concurl_loss(ViewOutputs { w: &w1, v: &v1, z: &z1 }, ViewOutputs { w: &w2, v: &v2, z: &z2 }, &c, &cfg, &tr);
    assert_eq!(low.total.kind(), Kind::Float);
    assert_eq!(low.codes[0].kind(), Kind::Float);
    // Same numbers as float32 inputs holding the same (bf16-rounded) values.
    let f = |t: &Tensor| t.to_kind(Kind::Float);
    let (w1, w2, v1, v2, z1, z2, c) = (f(&w1), f(&w2), f(&v1), f(&v2), f(&z1), f(&z2), f(&c));
    let full =
        concurl_loss(ViewOutputs { w: &w1, v: &v1, z: &z1 }, ViewOutputs { w: &w2, v: &v2, z: &z2 }, &c, &cfg, &tr);
    assert_close("total", &low.total, &full.total, 0.0);
}

#[test]
fn nt_xent_matches_reference_with_gradients() {
    let r = &reference()["nt_xent"];
    for case in r["cases"].as_array().unwrap() {
        let temp = num(&case["temperature"]);
        for (kind, tol) in [(Kind::Double, TOL64), (Kind::Float, TOL32 * 10.0)] {
            let p1 = tensor(&r["p1"], kind).set_requires_grad(true);
            let p2 = tensor(&r["p2"], kind).set_requires_grad(true);
            let loss = nt_xent_loss(&p1, &p2, temp);
            assert_scalar(&format!("nt_xent T={temp} {kind:?}"), &loss, num(&case["loss"]), tol);
            loss.backward();
            assert_close("d/dp1", &p1.grad(), &tensor(&case["grad_p1"], Kind::Double), tol);
            assert_close("d/dp2", &p2.grad(), &tensor(&case["grad_p2"], Kind::Double), tol);
        }
    }
}

#[test]
fn nt_xent_of_equal_similarities_is_ln_of_the_negatives() {
    // Identical rows: every logit equal, so the loss is ln(2B - 1).
    let b = 6;
    let p = Tensor::ones([b, 4], (Kind::Double, Device::Cpu));
    let loss = nt_xent_loss(&p, &p, 0.5);
    assert_scalar("equal similarities", &loss, ((2 * b - 1) as f64).ln(), 1e-12);
}

#[test]
#[should_panic(expected = "nt_xent_loss: p2 is")]
fn nt_xent_rejects_mismatched_shapes() {
    let x = Tensor::zeros([4, 3], (Kind::Float, Device::Cpu));
    let y = Tensor::zeros([5, 3], (Kind::Float, Device::Cpu));
    let _ = nt_xent_loss(&x, &y, 0.5);
}

/// SCAN's confidence-masked, class-balanced cross-entropy (method.md §11) on a
/// case worked by hand: confident rows 0, 1 and 3 (labels 0, 1, 0) at 0.75;
/// balanced weights n / n_y = 3/2, 3, 3/2.
#[test]
fn self_label_loss_masks_and_balances_as_worked_by_hand() {
    let targets = Tensor::from_slice(&[0.9f32, 0.1, 0.2, 0.8, 0.6, 0.4, 0.95, 0.05]).view([4, 2]);
    let logits = Tensor::from_slice(&[1.0f32, -0.5, 0.3, 0.7, 2.0, 0.0, -1.0, 0.4]).view([4, 2]);
    let logp = logits.log_softmax(-1, Kind::Float).set_requires_grad(true);
    let lp: Vec<f32> = Vec::try_from(logp.detach().view(-1)).unwrap();
    let (lp00, lp11, lp30) = (lp[0] as f64, lp[3] as f64, lp[6] as f64);

    let balanced = sweep::loss::self_label_loss(&targets, &logp, 0.75, true);
    let want = -(1.5 * lp00 + 3.0 * lp11 + 1.5 * lp30) / 6.0;
    assert_scalar("balanced", &balanced.loss, want, 1e-6);
    assert_scalar("confident share", &balanced.confident, 0.75, 0.0);

    let plain = sweep::loss::self_label_loss(&targets, &logp, 0.75, false);
    assert_scalar("unbalanced", &plain.loss, -(lp00 + lp11 + lp30) / 3.0, 1e-6);

    // Row 2 (not confident) gets no gradient; nothing confident gives 0.
    let g = Tensor::run_backward(&[&balanced.loss], &[&logp], false, false).pop().unwrap();
    assert_eq!(g.get(2).abs().sum(Kind::Float).double_value(&[]), 0.0);
    let none = sweep::loss::self_label_loss(&targets, &logp, 0.99, true);
    assert_scalar("none confident", &none.loss, 0.0, 0.0);
    assert_scalar("none confident share", &none.confident, 0.0, 0.0);
}

/// Multi-crop (method.md §12): with the small views' embeddings given, L2 and
/// L3 become SwAV's average over every (code, other view) pair, computed here
/// from the public pieces: the pair term of the two large views and, per small
/// view, the cross-entropies against both large views' codes. L1 and the codes
/// do not change; V = 0 is the paper's loss.
#[test]
fn multicrop_weighs_small_views_into_l2_and_l3() {
    use sweep::loss::concurl_loss_marked;
    let r = reference();
    let proj = r["consensus"].as_array().unwrap().iter().find(|c| c["kind"] == "projection").unwrap();
    let tr = transforms_of(proj, Kind::Double);
    let cfg = loss_config(1.0, 1.0, 1.0, false);
    let x = inputs(&r);
    let (v1, v2) = (ViewOutputs { w: &x.w1, v: &x.v1, z: &x.z1 }, ViewOutputs { w: &x.w2, v: &x.v2, z: &x.z2 });
    let plain = concurl_loss_marked(v1, v2, None, &x.protos, &cfg, &tr, &mut |_| {});
    // Three small views: two new embeddings and a copy of view 1's.
    tch::manual_seed(11);
    let (b, d) = (x.z1.size()[0], x.z1.size()[1]);
    let zs = Tensor::cat(&[Tensor::randn([2 * b, d], (Kind::Double, Device::Cpu)), x.z1.detach()], 0);
    let mc = concurl_loss_marked(v1, v2, Some(&zs), &x.protos, &cfg, &tr, &mut |_| {});
    assert_scalar("L1 unchanged", &mc.l1, plain.l1.double_value(&[]), 1e-12);
    assert_close("codes unchanged", &mc.codes[0], &plain.codes[0], 1e-12);
    let (q1, q2) = (&plain.codes[0], &plain.codes[1]);
    let ce = |q: &Tensor, logp: &Tensor| -(q * logp).sum(None::<Kind>).double_value(&[]) / b as f64;
    let ce_m =
        |q: &Tensor, logp: &Tensor| -(q.unsqueeze(0) * logp).sum(None::<Kind>).double_value(&[]) / (b * tr.m()) as f64;
    let (mut s2, mut s3) = (0.0, 0.0);
    for s in 0..3 {
        let z = zs.narrow(0, s * b, b);
        let logp = log_assignments(&cosine_scores(&z, &x.protos), cfg.tau);
        let logp_m = transformed_log_assignments(&z, &x.protos, &tr, cfg.tau);
        s2 += ce(q1, &logp) + ce(q2, &logp);
        s3 += ce_m(q1, &logp_m) + ce_m(q2, &logp_m);
    }
    let weigh = |pair: &Tensor, small: f64| (2.0 * pair.double_value(&[]) + small) / (2.0 * 4.0);
    assert_scalar("L2 with 3 small views", &mc.l2, weigh(&plain.l2, s2), 1e-10);
    assert_scalar("L3 with 3 small views", &mc.l3, weigh(&plain.l3, s3), 1e-10);
    assert_scalar("total", &mc.total, (&mc.l1 + &mc.l2 + &mc.l3).double_value(&[]), 1e-12);
    // Gradient reaches the small views' embeddings through both terms.
    let zs = zs.set_requires_grad(true);
    let mc = concurl_loss_marked(v1, v2, Some(&zs), &x.protos, &cfg, &tr, &mut |_| {});
    mc.total.backward();
    assert!(zs.grad().abs().sum(None::<Kind>).double_value(&[]) > 0.0);
}

#[test]
#[should_panic(expected = "not a whole number of views")]
fn multicrop_rejects_a_partial_view() {
    let r = reference();
    let x = inputs(&r);
    let cfg = loss_config(1.0, 1.0, 1.0, false);
    let proj = r["consensus"].as_array().unwrap().iter().find(|c| c["kind"] == "projection").unwrap();
    let tr = transforms_of(proj, Kind::Double);
    let zs = x.z1.narrow(0, 0, x.z1.size()[0] - 1);
    let _ = sweep::loss::concurl_loss_marked(
        ViewOutputs { w: &x.w1, v: &x.v1, z: &x.z1 },
        ViewOutputs { w: &x.w2, v: &x.v2, z: &x.z2 },
        Some(&zs),
        &x.protos,
        &cfg,
        &tr,
        &mut |_| {},
    );
}
