//! ACC / NMI / ARI and ensemble diversity against scikit-learn
//! (tests/fixtures/metrics.json, made by tests/fixtures/gen_metrics.py).
use std::collections::BTreeMap;

use serde::Deserialize;
use sweep::eval::metrics::{acc, ari, contingency, nmi, score, NmiNorm};
use sweep::eval::pairwise_nmi;

use crate::common::fixture;

#[derive(Deserialize)]
struct Labelling {
    name: String,
    truth: Vec<i64>,
    pred: Vec<i64>,
    acc: f64,
    nmi: f64,
    nmi_geom: f64,
    ari: f64,
}

#[derive(Deserialize)]
struct Large {
    n: usize,
    acc: f64,
    nmi: f64,
    nmi_geom: f64,
    ari: f64,
}

#[derive(Deserialize)]
struct Diversity {
    assignments: Vec<Vec<i64>>,
    mean: f64,
    std: f64,
}

#[derive(Deserialize)]
struct Fixture {
    labellings: Vec<Labelling>,
    large: Large,
    diversity: Diversity,
}

fn load() -> Fixture {
    sweep::util::read_json(&fixture("metrics.json")).expect("tests/fixtures/metrics.json")
}

const TOL: f64 = 1e-9;

fn close(name: &str, what: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= TOL, "{name}: {what} = {got}, scikit-learn says {want}");
}

#[test]
fn every_labelling_matches_sklearn() {
    let fx = load();
    assert!(fx.labellings.len() >= 15);
    for case in &fx.labellings {
        let s = score(&case.truth, &case.pred);
        close(&case.name, "acc", s.acc, case.acc);
        close(&case.name, "nmi", s.nmi, case.nmi);
        close(&case.name, "nmi_geom", s.nmi_geom, case.nmi_geom);
        close(&case.name, "ari", s.ari, case.ari);
        // The free functions agree with the one-table path.
        assert_eq!(acc(&case.truth, &case.pred), s.acc);
        assert_eq!(nmi(&case.truth, &case.pred, NmiNorm::Arithmetic), s.nmi);
        assert_eq!(nmi(&case.truth, &case.pred, NmiNorm::Geometric), s.nmi_geom);
        assert_eq!(ari(&case.truth, &case.pred), s.ari);
    }
}

/// The same labelling formula as `large_case` in gen_metrics.py.
fn large_case(n: usize) -> (Vec<i64>, Vec<i64>) {
    let mut truth = Vec::with_capacity(n);
    let mut pred = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let t = (i * 7 + i / 13) % 10;
        let noisy = ((i * 2_654_435_761) % (1 << 32)) % 100 < 35;
        truth.push(t);
        pred.push(if noisy { (i * i) % 11 } else { (t * 3 + 1) % 10 });
    }
    (truth, pred)
}

#[test]
fn sixty_thousand_samples_match_sklearn() {
    let fx = load();
    let (truth, pred) = large_case(fx.large.n);
    let s = score(&truth, &pred);
    close("large", "acc", s.acc, fx.large.acc);
    close("large", "nmi", s.nmi, fx.large.nmi);
    close("large", "nmi_geom", s.nmi_geom, fx.large.nmi_geom);
    close("large", "ari", s.ari, fx.large.ari);
}

#[test]
fn all_distinct_predictions_at_full_size_stay_sparse() {
    // 60,000 singleton clusters against 10 classes: a dense table would be
    // 60,000 x 10 for ACC only; NMI and ARI work on the sparse cells.
    let n = 60_000i64;
    let truth: Vec<i64> = (0..n).map(|i| i % 10).collect();
    let pred: Vec<i64> = (0..n).collect();
    let c = contingency(&truth, &pred);
    assert_eq!(c.cells.len(), n as usize);
    // Every class maps to one singleton: 10 right out of 60,000.
    assert!((c.acc() - 10.0 / n as f64).abs() < 1e-15);
    // No pair of samples shares a cluster: ARI = 0 exactly, as sklearn gives.
    assert_eq!(c.ari(), 0.0);
    // MI = H(truth) = ln 10, H(pred) = ln N.
    let want = 10f64.ln() / ((10f64.ln() + (n as f64).ln()) / 2.0);
    assert!((c.nmi(NmiNorm::Arithmetic) - want).abs() < 1e-12);
}

#[test]
fn contingency_table_counts_and_orders_labels() {
    let c = contingency(&[5, -1, 5, 5, 2], &[0, 0, 9, 9, 9]);
    assert_eq!(c.classes, vec![-1, 2, 5]);
    assert_eq!(c.clusters, vec![0, 9]);
    assert_eq!(c.to_dense(), vec![vec![1, 0], vec![0, 1], vec![1, 2]]);
    assert_eq!(c.class_sizes, vec![1, 1, 3]);
    assert_eq!(c.cluster_sizes, vec![2, 3]);
    assert_eq!(c.n, 5);
}

#[test]
#[should_panic(expected = "3 true labels but 2 predicted")]
fn different_lengths_are_a_bug() {
    score(&[0, 1, 2], &[0, 1]);
}

#[test]
fn scores_go_under_the_record_keys() {
    let s = score(&[0, 0, 1, 1], &[1, 1, 0, 0]);
    let mut map = BTreeMap::new();
    s.insert_into("codes", &mut map);
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["codes.acc", "codes.ari", "codes.nmi", "codes.nmi_geom"]);
    assert!(map.values().all(|&v| v == 1.0));
}

#[test]
fn pairwise_nmi_matches_sklearn() {
    let fx = load();
    let (mean, std) = pairwise_nmi(&fx.diversity.assignments);
    close("diversity", "mean", mean, fx.diversity.mean);
    close("diversity", "std", std, fx.diversity.std);
}

#[test]
fn identical_members_have_diversity_one() {
    let member: Vec<i64> = (0..500).map(|i| (i * 7) % 13).collect();
    let relabelled: Vec<i64> = member.iter().map(|l| 100 - l).collect();
    let (mean, std) = pairwise_nmi(&[member.clone(), relabelled, member]);
    assert!((mean - 1.0).abs() < 1e-12 && std.abs() < 1e-12, "{mean} {std}");
    assert!(pairwise_nmi(&[vec![0, 1]]).0.is_nan());
}
