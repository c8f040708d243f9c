//! Progress: what an executor reports after each step ([`Progress`], through
//! its [`RunControl`]), the line protocol a child process prints it in, and
//! how the scheduler shows it (bars on a terminal, log lines otherwise).
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::record::PlanEntry;

use super::slots::Slot;
use super::stop::StopFlag;
use super::{Job, JobEnd, SweepOutcome};

/// Where a run is, as reported by the executor after each step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// 1-based epoch in progress.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    pub steps_per_epoch: usize,
    pub loss: f64,
}

/// Tag of progress lines an isolated `exec-run` child prints on stdout.
pub const PROGRESS_TAG: &str = "@sweep-progress ";
/// Tag of the line a child prints when an epoch has closed (its records
/// written): the number of epochs done, for the parent's status.json.
pub const EPOCH_TAG: &str = "@sweep-epoch ";

/// The epochs done that an [`EPOCH_TAG`] line reports.
pub fn parse_epoch_line(line: &str) -> Option<usize> {
    line.strip_prefix(EPOCH_TAG)?.trim().parse().ok()
}

impl Progress {
    /// The line a child process prints for its parent.
    pub fn to_line(&self) -> String {
        format!("{PROGRESS_TAG}{}", serde_json::to_string(self).expect("Progress serialises"))
    }
    pub fn parse_line(line: &str) -> Option<Progress> {
        serde_json::from_str(line.strip_prefix(PROGRESS_TAG)?).ok()
    }
}

type Sink = Arc<dyn Fn(&Progress) + Send + Sync>;
type EpochSink = Arc<dyn Fn(usize) + Send + Sync>;

/// What an executor gets besides its job: the stop request and a place to report
/// progress.
#[derive(Clone)]
pub struct RunControl {
    stop: StopFlag,
    sink: Sink,
    epochs: Option<EpochSink>,
}

impl RunControl {
    pub fn new(stop: StopFlag, sink: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        Self { stop, sink: Arc::new(sink), epochs: None }
    }

    /// Where [`RunControl::epoch_closed`] goes: the scheduler writes the
    /// epochs done into status.json, of which it is the only writer.
    pub fn with_epoch_sink(mut self, sink: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.epochs = Some(Arc::new(sink));
        self
    }

    /// Progress goes nowhere.
    pub fn silent(stop: StopFlag) -> Self {
        Self::new(stop, |_| {})
    }

    /// For `exec-run` under [`IsolatedExecutor`]: progress is printed on stdout
    /// as [`PROGRESS_TAG`] lines for the parent to read.
    pub fn stdout_protocol(stop: StopFlag) -> Self {
        // A closed pipe means the parent is gone; the run goes on regardless.
        let say = |line: String| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        };
        Self::new(stop, move |p| say(p.to_line())).with_epoch_sink(move |n| say(format!("{EPOCH_TAG}{n}")))
    }

    /// Checked between steps: when true, the executor checkpoints and returns
    /// `Err(RunFailure::Interrupted)`.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_requested()
    }

    pub fn stop_flag(&self) -> &StopFlag {
        &self.stop
    }

    pub fn progress(&self, epoch: usize, epochs: usize, step: usize, steps_per_epoch: usize, loss: f64) {
        (self.sink)(&Progress { epoch, epochs, step, steps_per_epoch, loss });
    }

    /// An epoch has closed: `done` epochs are recorded.
    pub fn epoch_closed(&self, done: usize) {
        if let Some(sink) = &self.epochs {
            sink(done);
        }
    }

    pub(super) fn forward(&self, p: &Progress) {
        (self.sink)(p);
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, log lines otherwise.
    #[default]
    Auto,
    Bars,
    Lines,
    Quiet,
}

/// Progress display: bars on a terminal, log lines otherwise.
#[derive(Clone)]
pub(super) enum Reporter {
    Bars(Arc<Bars>),
    Lines(Arc<Mutex<HashMap<String, usize>>>),
    Quiet,
}

pub(super) struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    runs: Mutex<HashMap<String, ProgressBar>>,
}

impl Reporter {
    pub(super) fn new(mode: ProgressMode, total: usize) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            m => m,
        };
        match mode {
            ProgressMode::Bars => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let overall = multi.add(ProgressBar::new(total as u64));
                overall.set_style(
                    ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise}  {msg}")
                        .expect("static template"),
                );
                Reporter::Bars(Arc::new(Bars { multi, overall, runs: Mutex::new(HashMap::new()) }))
            }
            ProgressMode::Lines => Reporter::Lines(Arc::new(Mutex::new(HashMap::new()))),
            _ => Reporter::Quiet,
        }
    }

    pub(super) fn started(&self, job: &Job, slot: &Slot) {
        let id = &job.entry.run_id;
        let swept = swept_label(&job.entry);
        match self {
            Reporter::Bars(b) => {
                let bar = b.multi.insert_before(&b.overall, ProgressBar::new(1));
                bar.set_style(ProgressStyle::with_template("{prefix:.bold} {msg} ETA {eta}").expect("static template"));
                bar.set_prefix(id.clone());
                bar.set_message(format!("starting on {} {swept}", slot.device));
                b.runs.lock().expect("bars lock").insert(id.clone(), bar);
            }
            Reporter::Lines(_) => eprintln!("[sweep] {id} started on {} {swept}", slot.device),
            Reporter::Quiet => {}
        }
    }

    pub(super) fn progress(&self, id: &str, p: &Progress) {
        match self {
            Reporter::Bars(b) => {
                if let Some(bar) = b.runs.lock().expect("bars lock").get(id) {
                    let steps = p.steps_per_epoch.max(1) as u64;
                    bar.set_length(p.epochs as u64 * steps);
                    bar.set_position(p.epoch.saturating_sub(1) as u64 * steps + p.step as u64);
                    bar.set_message(format!("epoch {}/{} step {} loss {:.3}", p.epoch, p.epochs, p.step, p.loss));
                }
            }
            Reporter::Lines(last) => {
                // One line per epoch, not per step.
                let mut last = last.lock().expect("lines lock");
                if last.get(id) != Some(&p.epoch) {
                    last.insert(id.to_string(), p.epoch);
                    eprintln!("[sweep] {id} epoch {}/{} loss {:.3}", p.epoch, p.epochs, p.loss);
                }
            }
            Reporter::Quiet => {}
        }
    }

    pub(super) fn finished(&self, job: &Job, end: &JobEnd) {
        let id = &job.entry.run_id;
        let what = match end {
            JobEnd::Done => "done".to_string(),
            JobEnd::Failed(r) => format!("FAILED: {r}"),
            JobEnd::Interrupted(None) => "interrupted (resumes next time)".to_string(),
            JobEnd::Interrupted(Some(r)) => format!("interrupted (resumes next time): {r}"),
            JobEnd::SkippedDone => "already done".to_string(),
            JobEnd::SkippedFailed => "failed before, skipped".to_string(),
            JobEnd::Elsewhere => "running in another process, skipped".to_string(),
            JobEnd::Damaged(what) => format!("DAMAGED, left alone: {what}"),
        };
        let quiet_skip = matches!(end, JobEnd::SkippedDone);
        match self {
            Reporter::Bars(b) => {
                if let Some(bar) = b.runs.lock().expect("bars lock").remove(id) {
                    bar.finish_and_clear();
                    b.multi.remove(&bar);
                }
                if !quiet_skip {
                    // println above the bars; fails only when stderr is gone.
                    let _ = b.multi.println(format!("{id} {what}"));
                }
                b.overall.inc(1);
            }
            Reporter::Lines(_) if !quiet_skip => eprintln!("[sweep] {id} {what}"),
            _ => {}
        }
    }

    pub(super) fn close(&self, out: &SweepOutcome) {
        match self {
            Reporter::Bars(b) => b.overall.finish_with_message(out.to_string()),
            Reporter::Lines(_) => eprintln!("[sweep] {out}"),
            Reporter::Quiet => {}
        }
    }
}

/// `key=value key=value` of a plan entry's swept values.
pub fn swept_label(entry: &PlanEntry) -> String {
    entry.swept.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}
