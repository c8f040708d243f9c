//! Time to accuracy: each run's headline ACC ([`super::metric_source`]) at every
//! evaluation against the training minutes it took to get there, and per group
//! the minutes to reach fixed ACC thresholds. What a CPU user asks first.
//!
//! Training minutes add up the `train.seconds` of the epochs in `metrics.jsonl`
//! (the evaluations themselves are not counted). ACC is known only at
//! evaluations, so "minutes to ACC x" is the time of the first evaluation at or
//! above x: an upper bound, as coarse as `eval.every`.
use super::aggregate::{Group, Stat};
use super::collect::{Collected, RunRecord};
use super::metric_source;
use crate::record::EpochRecord;

/// The ACC thresholds of the "minutes to ACC" columns when the sweep file
/// names none (`acc_thresholds`).
const THRESHOLDS: [f64; 2] = [0.80, 0.90];

/// The thresholds of this report: the sweep file's, else [`THRESHOLDS`].
pub fn thresholds(c: &Collected) -> Vec<f64> {
    c.plan.acc_thresholds.clone().unwrap_or_else(|| THRESHOLDS.to_vec())
}

/// One run's headline ACC against training minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCurve {
    /// Index of the run's group in the groups given to [`run_curves`].
    pub group: usize,
    /// `(training minutes at the evaluation, ACC)`, in epoch order.
    pub points: Vec<(f64, f64)>,
}

/// `(training minutes, ACC)` at each evaluation of `r` that logged its headline
/// ACC, and the training minutes of all its logged epochs.
pub fn curve(r: &RunRecord) -> (Vec<(f64, f64)>, f64) {
    let Some(cfg) = r.config.as_ref() else { return (Vec::new(), 0.0) };
    let key = format!("{}.acc", metric_source(&cfg.loss));
    signal_curve(r, &|e| e.eval.get(&key).copied())
}

/// What the time-to-accuracy figure draws beside ACC: signals that read no label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The epoch's mean L2 (ln K when the clusters collapse to uniform).
    L2,
    /// Clusters the codes use at an evaluation.
    ClustersUsed,
}

impl Signal {
    fn value(self, e: &EpochRecord) -> Option<f64> {
        match self {
            // Training epochs only: the self-labelling stage logs no L2.
            Signal::L2 => e.train.get("l2").copied().filter(|_| !e.train.contains_key("self_labelling")),
            Signal::ClustersUsed => e.eval.get("clusters_used").copied(),
        }
    }
}

/// `(training minutes, value)` at each logged epoch of `r` where `value` gives
/// one, and the training minutes of all its logged epochs.
fn signal_curve(r: &RunRecord, value: &dyn Fn(&EpochRecord) -> Option<f64>) -> (Vec<(f64, f64)>, f64) {
    let mut seconds = 0.0;
    let mut points = Vec::new();
    for e in &r.epochs {
        seconds += e.train.get("seconds").copied().unwrap_or(0.0);
        if let Some(v) = value(e) {
            points.push((seconds / 60.0, v));
        }
    }
    (points, seconds / 60.0)
}

/// The curves of `signal` for the done runs of every group, like [`run_curves`].
pub fn signal_curves(c: &Collected, groups: &[Group], signal: Signal) -> Vec<RunCurve> {
    let mut out = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for r in done_runs(c, g) {
            let (points, _) = signal_curve(r, &|e| signal.value(e));
            if !points.is_empty() {
                out.push(RunCurve { group: gi, points });
            }
        }
    }
    out
}

/// The done runs of group `g`, in its order.
fn done_runs<'a>(c: &'a Collected, g: &Group) -> Vec<&'a RunRecord> {
    g.run_ids.iter().filter_map(|id| c.runs.iter().find(|r| &r.entry.run_id == id && r.is_done())).collect()
}

/// The curves of the done runs of every group, groups in order (a run two
/// blocks produced appears under each).
pub fn run_curves(c: &Collected, groups: &[Group]) -> Vec<RunCurve> {
    let mut out = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for r in done_runs(c, g) {
            let (points, _) = curve(r);
            if !points.is_empty() {
                out.push(RunCurve { group: gi, points });
            }
        }
    }
    out
}

/// Whether time to accuracy means anything here: some done run was evaluated
/// at least twice.
pub fn has_curves(curves: &[RunCurve]) -> bool {
    curves.iter().any(|c| c.points.len() >= 2)
}

/// Minutes to one threshold over a group's done runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reached {
    pub threshold: f64,
    /// Over the runs that reached it.
    pub minutes: Stat,
    /// Runs with a curve (reached or not).
    pub of: usize,
}

/// A group's speed: its runs' training and wall-clock minutes, evaluations per
/// run, and the minutes to each of [`thresholds`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpeed {
    pub evaluations: usize,
    pub train_minutes: Stat,
    /// `summary.json`'s `train_seconds` (all attempts, evaluations and start-up
    /// included) in minutes.
    pub wall_minutes: Stat,
    pub reached: Vec<Reached>,
}

/// [`GroupSpeed`] of group `gi` (None: no done run of it has a curve).
pub fn group_speed(c: &Collected, groups: &[Group], gi: usize) -> Option<GroupSpeed> {
    let runs = done_runs(c, &groups[gi]);
    let curves: Vec<(Vec<(f64, f64)>, f64)> = runs.iter().map(|r| curve(r)).filter(|c| !c.0.is_empty()).collect();
    if curves.is_empty() {
        return None;
    }
    let reached = thresholds(c)
        .iter()
        .map(|&t| {
            let first: Vec<f64> =
                curves.iter().filter_map(|(pts, _)| pts.iter().find(|p| p.1 >= t).map(|p| p.0)).collect();
            Reached { threshold: t, minutes: Stat::of(&first), of: curves.len() }
        })
        .collect();
    let wall: Vec<f64> = runs.iter().filter_map(|r| r.summary.as_ref()).map(|s| s.train_seconds / 60.0).collect();
    Some(GroupSpeed {
        evaluations: curves.iter().map(|c| c.0.len()).max().unwrap_or(0),
        train_minutes: Stat::of(&curves.iter().map(|c| c.1).collect::<Vec<_>>()),
        wall_minutes: Stat::of(&wall),
        reached,
    })
}

/// `4.2 ± 0.3 (3)` when every run reached it, `5.1 (2 of 3)` when some did,
/// `not reached (3)` when none did.
pub fn fmt_reached(r: &Reached) -> String {
    match (r.minutes.mean, r.minutes.std) {
        (None, _) => format!("not reached ({})", r.of),
        (Some(m), _) if r.minutes.n < r.of => format!("{m:.1} ({} of {})", r.minutes.n, r.of),
        (Some(m), Some(sd)) => format!("{m:.1} ± {sd:.1} ({})", r.minutes.n),
        (Some(m), None) => format!("{m:.1} ({})", r.minutes.n),
    }
}

/// Minutes as `12.3 ± 0.4 (3)`.
pub fn fmt_minutes(s: &Stat) -> String {
    match (s.mean, s.std) {
        (None, _) => "—".into(),
        (Some(m), Some(sd)) => format!("{m:.1} ± {sd:.1} ({})", s.n),
        (Some(m), None) => format!("{m:.1} ({})", s.n),
    }
}
