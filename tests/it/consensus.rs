//! Consensus partitions (src/eval/consensus.rs, method.md §11) on ensembles whose
//! answer is known: relabelled copies of one partition, noisy copies, and
//! over-clustered refinements, for every consensus function.
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweep::eval::consensus::{anmi, consensus, ConsensusFn, Ensemble};
use sweep::eval::metrics::{acc, ari};

/// N objects in K unequal clusters (sizes 1 : 2 : ... : K), shuffled.
fn truth(n_per: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<i64> {
    let mut t: Vec<i64> = (0..k).flat_map(|c| std::iter::repeat_n(c as i64, n_per * (c + 1))).collect();
    t.shuffle(rng);
    t
}

/// The same partition under a random permutation of its labels.
fn relabel(p: &[i64], k: usize, rng: &mut ChaCha8Rng) -> Vec<i64> {
    let mut perm: Vec<i64> = (0..k as i64).collect();
    perm.shuffle(rng);
    p.iter().map(|&l| perm[l as usize]).collect()
}

fn run_all(parts: &[Vec<i64>], k: usize) -> Vec<(ConsensusFn, Vec<i64>)> {
    let refs: Vec<&[i64]> = parts.iter().map(Vec::as_slice).collect();
    let e = Ensemble::new(&refs).unwrap();
    ConsensusFn::ALL.iter().map(|&f| (f, consensus(f, &e, k, 7).unwrap())).collect()
}

#[test]
fn relabelled_copies_give_back_the_partition() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t = truth(30, 5, &mut rng);
    let parts: Vec<Vec<i64>> = (0..12).map(|_| relabel(&t, 5, &mut rng)).collect();
    for (f, got) in run_all(&parts, 5) {
        assert_eq!(ari(&t, &got), 1.0, "{f:?}");
    }
}

#[test]
fn noisy_members_are_outvoted() {
    // 25 members, each with a random quarter of the objects relabelled at random:
    // every member scores about .8; the consensus recovers the partition.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let k = 4;
    let t = truth(40, k, &mut rng);
    let parts: Vec<Vec<i64>> = (0..25)
        .map(|_| {
            let noisy: Vec<i64> =
                t.iter().map(|&l| if rng.random::<f64>() < 0.25 { rng.random_range(0..k as i64) } else { l }).collect();
            relabel(&noisy, k, &mut rng)
        })
        .collect();
    let best_member = parts.iter().map(|p| acc(&t, p)).fold(0.0, f64::max);
    assert!(best_member < 0.9, "members too clean for the test to mean anything: {best_member}");
    for (f, got) in run_all(&parts, k) {
        let a = acc(&t, &got);
        assert!(a >= 0.99, "{f:?}: ACC {a} (best member {best_member})");
    }
}

#[test]
fn over_clustered_refinements_merge_back() {
    // Each member splits every true cluster in two at random (8 clusters for
    // K = 4): no member is the answer, but they only disagree inside clusters.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let k = 4;
    let t = truth(30, k, &mut rng);
    let parts: Vec<Vec<i64>> = (0..15)
        .map(|_| {
            let split: Vec<i64> = t.iter().map(|&l| 2 * l + rng.random_range(0..2)).collect();
            relabel(&split, 2 * k, &mut rng)
        })
        .collect();
    for (f, got) in run_all(&parts, k) {
        assert_eq!(ari(&t, &got), 1.0, "{f:?}");
    }
}

#[test]
fn labels_stay_in_range_and_results_repeat() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let parts: Vec<Vec<i64>> = (0..6).map(|_| (0..200).map(|_| rng.random_range(0..6)).collect()).collect();
    let first = run_all(&parts, 3);
    for (f, got) in &first {
        assert_eq!(got.len(), 200);
        assert!(got.iter().all(|&l| (0..3).contains(&l)), "{f:?}");
    }
    assert_eq!(first, run_all(&parts, 3), "the same ensemble and seed give the same partitions");
}

#[test]
fn anmi_prefers_the_shared_partition() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let t = truth(20, 3, &mut rng);
    let parts: Vec<Vec<i64>> = (0..5).map(|_| relabel(&t, 3, &mut rng)).collect();
    let refs: Vec<&[i64]> = parts.iter().map(Vec::as_slice).collect();
    let random: Vec<i64> = (0..t.len()).map(|_| rng.random_range(0..3)).collect();
    assert!((anmi(&refs, &t) - 1.0).abs() < 1e-12);
    assert!(anmi(&refs, &random) < 0.1);
}

#[test]
fn bad_ensembles_are_refused() {
    assert!(Ensemble::new(&[]).is_err());
    let a = [0i64, 1, 1];
    let b = [0i64, 1];
    assert!(Ensemble::new(&[&a, &b]).is_err(), "unequal lengths");
    let c = [0i64, -1, 1];
    assert!(Ensemble::new(&[&c]).is_err(), "negative label");
}
