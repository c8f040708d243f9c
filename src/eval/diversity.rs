//! Ensemble diversity (method.md §7, the paper's Figure 1): the M consensus
//! members' hard assignments (argmax of p~(m)) compared pairwise by NMI over the
//! M(M-1)/2 pairs; the mean should rise towards 1 as the members come to agree.
//! No tch.
use rayon::prelude::*;

use super::metrics::{encode, Contingency, NmiNorm};

/// Mean and population standard deviation of the arithmetic NMI over all pairs
/// of `assignments` (each one labelling of the same samples).
///
/// Fewer than two members have no pairs: returns (NaN, NaN). Panics if the
/// members label different numbers of samples (a caller bug).
///
/// Each member is recoded once, so a pair costs O(N) (dense counting of the
/// K x K table); pairs run in parallel. M = 100 members over N = 60,000 is 4,950
/// pairs, about 3e8 increments.
pub fn pairwise_nmi(assignments: &[Vec<i64>]) -> (f64, f64) {
    let m = assignments.len();
    if m < 2 {
        return (f64::NAN, f64::NAN);
    }
    let n = assignments[0].len();
    for (i, a) in assignments.iter().enumerate() {
        assert_eq!(a.len(), n, "pairwise_nmi: member {i} labels {} samples, member 0 labels {n}", a.len());
    }
    let coded: Vec<(Vec<usize>, Vec<i64>)> = assignments.par_iter().map(|a| encode(a)).collect();
    let pairs: Vec<(usize, usize)> = (0..m).flat_map(|a| (a + 1..m).map(move |b| (a, b))).collect();
    let values: Vec<f64> = pairs
        .par_iter()
        .map(|&(a, b)| {
            let (ca, va) = &coded[a];
            let (cb, vb) = &coded[b];
            Contingency::from_codes(ca, va.clone(), cb, vb.clone()).nmi(NmiNorm::Arithmetic)
        })
        .collect();
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
    (mean, var.sqrt())
}
