//! k-means against scikit-learn (tests/fixtures/metrics.json), its seeding,
//! empty clusters and chunking; t-SNE separation and determinism.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Deserialize;
use sweep::eval::kmeans::{assign, bench_blobs, kmeans, lloyd, KMeansConfig};
use sweep::eval::metrics::acc;
use sweep::eval::tsne::tsne;
use tch::{Kind, Tensor};

use crate::common::fixture;

#[derive(Deserialize)]
struct KMeansCase {
    name: String,
    n: i64,
    d: i64,
    k: usize,
    x: Vec<f32>,
    inertia: f64,
    labels: Vec<i64>,
}

#[derive(Deserialize)]
struct Blobs {
    n: usize,
    d: usize,
    k: usize,
    x: Vec<f32>,
}

#[derive(Deserialize)]
struct Fixture {
    kmeans: Vec<KMeansCase>,
    bench_blobs: Blobs,
}

fn load() -> Fixture {
    sweep::util::read_json(&fixture("metrics.json")).expect("tests/fixtures/metrics.json")
}

/// Gaussian blobs: `per` points around each of `centers` (std `sigma`), labels.
fn blobs(centers: &[Vec<f32>], per: usize, sigma: f32, seed: u64) -> (Vec<Vec<f32>>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (j, c) in centers.iter().enumerate() {
        for _ in 0..per {
            x.push(
                c.iter()
                    .map(|&v| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        v + sigma * z as f32
                    })
                    .collect(),
            );
            y.push(j as i64);
        }
    }
    (x, y)
}

fn to_tensor(rows: &[Vec<f32>]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, rows[0].len() as i64])
}

#[test]
fn kmeans_matches_sklearn_on_blobs() {
    for case in load().kmeans {
        let x = Tensor::from_slice(&case.x).view([case.n, case.d]);
        let r = kmeans(&x, &KMeansConfig::new(case.k, 0)).unwrap();
        let rel = (r.inertia - case.inertia).abs() / case.inertia;
        assert!(rel < 1e-3, "{}: inertia {} vs scikit-learn {}", case.name, r.inertia, case.inertia);
        assert_eq!(acc(&case.labels, &r.labels), 1.0, "{}: partition differs from scikit-learn's", case.name);
        assert_eq!(r.centers.size(), vec![case.k as i64, case.d]);
        assert!(r.iterations >= 1 && r.iterations <= 300);
    }
}

#[test]
fn kmeans_is_reproducible_and_leaves_torch_rng_alone() {
    let _rng = crate::common::torch_rng();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // Overlapping data, so different starts give different local optima.
    let rows: Vec<Vec<f32>> = (0..400).map(|_| (0..5).map(|_| rng.random::<f32>()).collect()).collect();
    let x = to_tensor(&rows);
    let cfg = KMeansConfig { n_init: 2, ..KMeansConfig::new(6, 11) };

    tch::manual_seed(7);
    let a = kmeans(&x, &cfg).unwrap();
    let after = Tensor::randn([4], (Kind::Float, tch::Device::Cpu));
    tch::manual_seed(7);
    let untouched = Tensor::randn([4], (Kind::Float, tch::Device::Cpu));
    assert!(after.equal(&untouched), "k-means consumed torch's RNG");

    let b = kmeans(&x, &cfg).unwrap();
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
    assert!(a.centers.equal(&b.centers));

    let other = (1..6u64)
        .map(|s| kmeans(&x, &KMeansConfig { seed: 11 + s, ..cfg.clone() }).unwrap())
        .any(|c| c.labels != a.labels);
    assert!(other, "the seed never changes the result");
}

#[test]
fn empty_cluster_is_reseeded_from_the_farthest_point() {
    // Two tight blobs and a third start far from everything: it gets no point on
    // the first assignment and must take the point farthest from its centre.
    let (mut rows, _) = blobs(&[vec![0.0, 0.0], vec![10.0, 0.0]], 20, 0.1, 5);
    rows.push(vec![10.0, 3.0]); // an outlier of the second blob: the farthest point
    let x = to_tensor(&rows);
    let init = Tensor::from_slice(&[0.0f32, 0.0, 10.0, 0.0, 100.0, 100.0]).view([3, 2]);
    let r = lloyd(&x, &init, 50, 0.0);
    let mut sizes = [0usize; 3];
    for &l in &r.labels {
        sizes[l as usize] += 1;
    }
    assert_eq!(sizes, [20, 20, 1], "labels {:?}", r.labels);
    assert_eq!(r.labels[40], 2);
    let c = Vec::<f32>::try_from(r.centers.get(2)).unwrap();
    assert_eq!(c, vec![10.0, 3.0]);
    // Only the two blobs' spread remains.
    assert!(r.inertia < 40.0 * 2.0 * 0.1f64.powi(2) * 2.0, "inertia {}", r.inertia);
}

#[test]
fn chunked_distances_equal_unchunked() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let rows: Vec<Vec<f32>> = (0..103).map(|_| (0..16).map(|_| rng.random::<f32>() * 4.0).collect()).collect();
    let cents: Vec<Vec<f32>> = (0..7).map(|_| (0..16).map(|_| rng.random::<f32>() * 4.0).collect()).collect();
    let (x, c) = (to_tensor(&rows), to_tensor(&cents));
    let (l_all, d_all) = assign(&x, &c, 1000);
    for chunk in [1, 10, 64] {
        let (l, d) = assign(&x, &c, chunk);
        assert!(l.equal(&l_all), "chunk {chunk}: labels differ");
        assert!(d.allclose(&d_all, 1e-5, 1e-5, false), "chunk {chunk}: distances differ");
    }
    // Against the direct sum of squares.
    let brute = (x.unsqueeze(1) - c.unsqueeze(0)).square().sum_dim_intlist(2, false, Kind::Float);
    let (d_ref, l_ref) = brute.min_dim(1, false);
    assert!(l_all.equal(&l_ref));
    assert!(d_all.allclose(&d_ref, 1e-4, 1e-4, false));
}

#[test]
fn kmeans_rejects_bad_input() {
    let x = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0]).view([2, 2]);
    assert!(kmeans(&x, &KMeansConfig::new(3, 0)).is_err(), "k > N");
    assert!(kmeans(&x.view([4]), &KMeansConfig::new(1, 0)).is_err(), "1-D input");
    let nan = Tensor::from_slice(&[0.0f32, f32::NAN, 2.0, 3.0]).view([2, 2]);
    assert!(kmeans(&nan, &KMeansConfig::new(1, 0)).is_err(), "NaN input");
}

#[test]
fn bench_blobs_match_the_python_formula() {
    let b = load().bench_blobs;
    assert_eq!(bench_blobs(b.n, b.d, b.k), b.x);
}

#[test]
fn tsne_keeps_separated_clusters_apart() {
    let centers: Vec<Vec<f32>> = (0..3).map(|j| (0..10).map(|t| if t == j { 8.0 } else { 0.0 }).collect()).collect();
    let (x, y) = blobs(&centers, 40, 0.5, 1);
    let emb = tsne(&x, 30.0, 500, 42).unwrap();
    assert_eq!(emb.len(), 120);
    let mut mean = [[0.0f64; 2]; 3];
    for (p, &l) in emb.iter().zip(&y) {
        mean[l as usize][0] += p[0] / 40.0;
        mean[l as usize][1] += p[1] / 40.0;
    }
    let dist = |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    for (p, &l) in emb.iter().zip(&y) {
        let own = dist(*p, mean[l as usize]);
        for (j, m) in mean.iter().enumerate() {
            if j != l as usize {
                assert!(own < dist(*p, *m), "a point of cluster {l} lies nearer cluster {j}");
            }
        }
    }
}

#[test]
fn tsne_is_deterministic_from_the_seed() {
    let (x, _) = blobs(&[vec![0.0; 5], vec![3.0; 5]], 30, 1.0, 2);
    let a = tsne(&x, 10.0, 300, 1).unwrap();
    let b = tsne(&x, 10.0, 300, 1).unwrap();
    let c = tsne(&x, 10.0, 300, 2).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(tsne(&x[..3], 30.0, 100, 0).is_err(), "three points");
    // A perplexity too large for the sample is lowered, not a panic.
    assert_eq!(tsne(&x[..10], 30.0, 100, 0).unwrap().len(), 10);
}
