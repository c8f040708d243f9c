//! Slurm job arrays from a sweep (`sweep submit --backend slurm FILE`).
//!
//! A submission is a folder `STORE/slurm/<name>/` holding
//!
//! ```text
//! manifest.txt      one line per array task: the runs it does, TAB-separated,
//!                   each `ATTEMPTS:RUN_DIR` (the attempts recorded at submission)
//! array-<i>.sbatch  one job array per MaxArraySize tasks (`--array=0-(N-1)%K`)
//! report.sbatch     `sweep report STORE`, after every array (`afterany`)
//! submission.json   the Slurm job ids of the above, for `status` and `--retry-failed`
//! logs/             Slurm's stdout/stderr of every task (`%A_%a.out`)
//! ```
//!
//! Each task runs `sweep exec-slurm-task MANIFEST INDEX`, which hands its runs to
//! the ordinary scheduler (run locks, status files, several runs packed on the
//! task's GPU). The store stays the truth: Slurm accounting is often off, and a
//! task that Slurm requeues finds its runs' status and skips what is done or
//! what failed since it was submitted, so no run is executed twice.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::config::Expanded;
use crate::record::{RunState, RunStatus};
use crate::store::{Observed, RunView, Store};
use crate::util::{read_json, write_atomic, write_json_atomic};

/// Slurm's default MaxArraySize (the largest array index is one less).
const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// What goes into the `#SBATCH` lines of every array task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Generic resources per task, e.g. `gpu:1`.
    pub gres: Option<String>,
    /// Wall-clock limit per task, in Slurm's syntax (`1-00:00:00`, `30:00`).
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    /// At most this many tasks of one array at once (`%K`).
    pub max_parallel: Option<usize>,
    /// Runs packed into one task (they share its GPU through the local scheduler).
    pub runs_per_task: usize,
    /// Extra sbatch options, one per line (`--account=x` or `#SBATCH --account=x`).
    pub sbatch: Vec<String>,
    /// `--devices` of each task (`auto`: the GPUs Slurm gave it, else the CPU).
    pub devices: crate::schedule::Devices,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        Self {
            partition: None,
            gres: None,
            time: None,
            cpus_per_task: None,
            max_parallel: None,
            runs_per_task: 1,
            sbatch: Vec::new(),
            devices: crate::schedule::Devices::Auto,
        }
    }
}

// ---------------------------------------------------------------- manifest

/// One run of an array task, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    pub dir: PathBuf,
    /// `status.json`'s attempts when the run was submitted.
    pub attempts: u32,
}

impl TaskRun {
    pub fn run_id(&self) -> String {
        self.dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// The manifest: `runs_per_task` runs per line, in order.
pub fn manifest_text(runs: &[TaskRun], runs_per_task: usize) -> String {
    assert!(runs_per_task >= 1, "runs_per_task must be at least 1");
    let mut out = String::new();
    for chunk in runs.chunks(runs_per_task) {
        let line: Vec<String> = chunk.iter().map(|r| format!("{}:{}", r.attempts, r.dir.display())).collect();
        out.push_str(&line.join("\t"));
        out.push('\n');
    }
    out
}

/// The runs of one manifest line.
pub fn parse_manifest_line(line: &str) -> anyhow::Result<Vec<TaskRun>> {
    line.split('\t')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (attempts, dir) =
                e.split_once(':').with_context(|| format!("manifest entry `{e}` is not ATTEMPTS:RUN_DIR"))?;
            let attempts = attempts.parse().with_context(|| format!("manifest entry `{e}`: bad attempts"))?;
            Ok(TaskRun { dir: PathBuf::from(dir), attempts })
        })
        .collect()
}

/// The runs of task `index` (0-based line) of a manifest file.
pub fn read_task(manifest: &Path, index: usize) -> anyhow::Result<Vec<TaskRun>> {
    let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let line = lines
        .get(index)
        .with_context(|| format!("{} has {} tasks; there is no task {index}", manifest.display(), lines.len()))?;
    parse_manifest_line(line).with_context(|| format!("{}:{}", manifest.display(), index + 1))
}

/// What a task does with one of its runs, given the run's status now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskDecision {
    Run,
    /// Finished (by this task before a requeue, or by anyone).
    SkipDone,
    /// Failed in an attempt made after the submission (e.g. before Slurm
    /// requeued the task): running it again would execute it twice.
    SkipFailedSince,
}

/// A run is executed at most once per submission: done runs are skipped, and a
/// failure recorded after the submission (more attempts than the manifest
/// says) is final. Interrupted or stale runs resume from their checkpoint.
pub fn task_decision(submitted: &TaskRun, status: &RunStatus) -> TaskDecision {
    match status.state {
        RunState::Done => TaskDecision::SkipDone,
        RunState::Failed if status.attempts > submitted.attempts => TaskDecision::SkipFailedSince,
        _ => TaskDecision::Run,
    }
}

// ---------------------------------------------------------------- arrays and scripts

/// One job array: manifest lines `offset .. offset + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArraySpec {
    pub offset: usize,
    pub count: usize,
}

/// `tasks` tasks in arrays of at most `max_array_size` (Slurm refuses array
/// indices >= MaxArraySize, and each array's indices start at 0).
pub fn split_arrays(tasks: usize, max_array_size: usize) -> Vec<ArraySpec> {
    assert!(max_array_size >= 1, "MaxArraySize must be at least 1");
    (0..tasks)
        .step_by(max_array_size)
        .map(|offset| ArraySpec { offset, count: max_array_size.min(tasks - offset) })
        .collect()
}

/// MaxArraySize from `scontrol show config` output.
pub fn parse_max_array_size(scontrol: &str) -> Option<usize> {
    scontrol.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "MaxArraySize").then(|| v.trim().parse().ok()).flatten()
    })
}

/// The cluster's MaxArraySize, or Slurm's default when `scontrol` cannot tell.
pub fn max_array_size() -> usize {
    Command::new("scontrol")
        .args(["show", "config"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| parse_max_array_size(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or(DEFAULT_MAX_ARRAY_SIZE)
}

/// A word for bash, single-quoted.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Everything a submission's scripts refer to.
#[derive(Debug, Clone)]
pub struct Layout {
    /// STORE/slurm/<name>
    pub dir: PathBuf,
    pub store: PathBuf,
    pub sweep: String,
    /// The `sweep` executable the tasks run.
    pub exe: PathBuf,
}

impl Layout {
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.txt")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    pub fn array_script(&self, i: usize) -> PathBuf {
        self.dir.join(format!("array-{i}.sbatch"))
    }
    pub fn report_script(&self) -> PathBuf {
        self.dir.join("report.sbatch")
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("submission.json")
    }
}

fn sbatch_line(out: &mut String, opt: &str) {
    let opt = opt.trim();
    let opt = opt.strip_prefix("#SBATCH").map(str::trim).unwrap_or(opt);
    let _ = writeln!(out, "#SBATCH {opt}");
}

/// The sbatch script of one array.
pub fn array_script(layout: &Layout, opts: &SlurmOptions, spec: ArraySpec) -> String {
    let mut s = String::from("#!/bin/bash\n");
    sbatch_line(&mut s, &format!("--job-name=sweep-{}", layout.sweep));
    let throttle = opts.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
    sbatch_line(&mut s, &format!("--array=0-{}{throttle}", spec.count - 1));
    sbatch_line(&mut s, &format!("--output={}/%A_%a.out", layout.logs().display()));
    if let Some(p) = &opts.partition {
        sbatch_line(&mut s, &format!("--partition={p}"));
    }
    if let Some(g) = &opts.gres {
        sbatch_line(&mut s, &format!("--gres={g}"));
    }
    if let Some(t) = &opts.time {
        sbatch_line(&mut s, &format!("--time={t}"));
    }
    if let Some(c) = opts.cpus_per_task {
        sbatch_line(&mut s, &format!("--cpus-per-task={c}"));
    }
    for l in &opts.sbatch {
        sbatch_line(&mut s, l);
    }
    let _ = writeln!(
        s,
        "\n# Manifest lines {}..{} of {} ({} run(s) per task).",
        spec.offset,
        spec.offset + spec.count - 1,
        layout.manifest().display(),
        opts.runs_per_task
    );
    s.push_str(
        "# libtorch would use every core of the node; keep it to the task's CPUs.\n\
         if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export OMP_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi\n",
    );
    let _ = writeln!(
        s,
        "exec {} exec-slurm-task {} \"$((SLURM_ARRAY_TASK_ID + {}))\" --devices {}",
        shell_quote(&layout.exe.to_string_lossy()),
        shell_quote(&layout.manifest().to_string_lossy()),
        spec.offset,
        shell_quote(&opts.devices.to_string())
    );
    s
}

/// The follow-up job that renders the report into `out` (submitted with
/// [`dependency`] on every array).
pub fn report_script(layout: &Layout, opts: &SlurmOptions, out: &Path) -> String {
    let mut s = String::from("#!/bin/bash\n");
    sbatch_line(&mut s, &format!("--job-name=sweep-{}-report", layout.sweep));
    sbatch_line(&mut s, &format!("--output={}/report-%j.out", layout.logs().display()));
    if let Some(p) = &opts.partition {
        sbatch_line(&mut s, &format!("--partition={p}"));
    }
    for l in &opts.sbatch {
        sbatch_line(&mut s, l);
    }
    let _ = writeln!(
        s,
        "exec {} report {} --out {}",
        shell_quote(&layout.exe.to_string_lossy()),
        shell_quote(&layout.store.to_string_lossy()),
        shell_quote(&out.to_string_lossy())
    );
    s
}

/// `--dependency=afterany:A:B`: after every array has ended, however it ended
/// (failed runs must still show up in the report).
pub fn dependency(job_ids: &[String]) -> String {
    format!("--dependency=afterany:{}", job_ids.join(":"))
}

/// `sbatch --parsable [args] SCRIPT`: the job id.
fn sbatch(script: &Path, args: &[String]) -> anyhow::Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .context("running sbatch (is Slurm's client installed and SLURM_CONF right?)")?;
    if !out.status.success() {
        bail!("sbatch {} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    // `--parsable` prints `id` or `id;cluster`.
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch {} printed no job id: `{}`", script.display(), text.trim());
    }
    Ok(id)
}

// ---------------------------------------------------------------- the queue

/// A snapshot of `squeue`: job (`123`) or array task (`123_4`) -> state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    states: HashMap<String, String>,
}

impl Queue {
    /// Parse `squeue -h -r -o "%i %T"` (one array task per line).
    pub fn parse(text: &str) -> Self {
        let states = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?.to_string(), it.next()?.to_string()))
            })
            .collect();
        Self { states }
    }

    /// The queue now, or None where `squeue` is missing or fails (no Slurm here).
    fn query() -> Option<Self> {
        let out = Command::new("squeue").args(["-h", "-r", "-o", "%i %T"]).output().ok()?;
        out.status.success().then(|| Self::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    /// State of task `task` of array job `job`.
    pub fn task(&self, job: &str, task: usize) -> Option<&str> {
        self.states.get(&format!("{job}_{task}")).map(String::as_str)
    }
}

/// One submitted array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedArray {
    pub job_id: String,
    pub offset: usize,
    pub count: usize,
}

/// `submission.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    pub name: String,
    pub manifest: PathBuf,
    pub arrays: Vec<SubmittedArray>,
    pub report_job: String,
}

/// Every submission of a store, oldest first (names sort by time).
pub fn submissions(store: &Path) -> anyhow::Result<Vec<SubmissionRecord>> {
    let dir = store.join("slurm");
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e.with_context(|| format!("listing {}", dir.display()))?.path().join("submission.json");
        if p.is_file() {
            out.push(read_json::<SubmissionRecord>(&p)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Where a run stands in Slurm, from its latest submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmState {
    /// Its task is in the queue, with Slurm's state (PENDING, RUNNING...).
    Queued(String),
    /// Submitted, but its task is no longer in the queue.
    Gone,
}

/// Each submitted run's Slurm state (later submissions win).
pub fn slurm_states(submissions: &[SubmissionRecord], queue: &Queue) -> anyhow::Result<HashMap<String, SlurmState>> {
    let mut out = HashMap::new();
    for sub in submissions {
        let text =
            std::fs::read_to_string(&sub.manifest).with_context(|| format!("reading {}", sub.manifest.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        for array in &sub.arrays {
            for task in 0..array.count {
                let Some(line) = lines.get(array.offset + task) else { continue };
                let state = match queue.task(&array.job_id, task) {
                    Some(s) => SlurmState::Queued(s.to_string()),
                    None => SlurmState::Gone,
                };
                for run in parse_manifest_line(line)? {
                    out.insert(run.run_id(), state.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Each submitted run's Slurm state; empty (and `squeue` not called) when the
/// store has no submission, or where `squeue` cannot answer.
pub fn submitted_states(store: &Path) -> anyhow::Result<HashMap<String, SlurmState>> {
    let subs = submissions(store)?;
    if subs.is_empty() {
        return Ok(HashMap::new());
    }
    match Queue::query() {
        Some(q) => slurm_states(&subs, &q),
        None => Ok(HashMap::new()),
    }
}

/// The state `sweep status` shows: the store's, unless the store says the run
/// has not finished nor is running, where Slurm's view is added (a task gone
/// from the queue without the run having started or ended: `vanished`).
pub fn status_label(view: &RunView, slurm: Option<&SlurmState>) -> String {
    let open = matches!(
        view.observed,
        Observed::New | Observed::Stale | Observed::State(RunState::Pending | RunState::Interrupted)
    );
    match (open, slurm) {
        (true, Some(SlurmState::Queued(s))) => format!("{} (slurm {})", view.observed, s.to_lowercase()),
        (true, Some(SlurmState::Gone)) => format!("{} (slurm task vanished)", view.observed),
        _ => view.observed.to_string(),
    }
}

// ---------------------------------------------------------------- submitting

/// Why a run is or is not part of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Submit,
    Done,
    /// Running now under a live lock.
    Running,
    /// Its task is still in Slurm's queue.
    Queued,
    /// Failed before, and no --retry-failed.
    Failed,
    /// Its status.json, summary.json or config.toml cannot be read.
    Damaged,
}

/// Store first, then Slurm: done and live runs stay as they are, runs queued in
/// Slurm are not submitted twice, failed ones only with `retry_failed`. What is
/// left (new, pending, interrupted, or whose task vanished) is submitted.
pub fn pick(observed: Observed, slurm: Option<&SlurmState>, retry_failed: bool) -> Pick {
    match observed {
        Observed::State(RunState::Done) => Pick::Done,
        Observed::State(RunState::Running) => Pick::Running,
        // Left alone until repaired, as `sweep run` does (`sweep status` says how).
        Observed::Damaged => Pick::Damaged,
        _ if matches!(slurm, Some(SlurmState::Queued(_))) => Pick::Queued,
        Observed::State(RunState::Failed) if !retry_failed => Pick::Failed,
        _ => Pick::Submit,
    }
}

/// A submission request.
#[derive(Debug, Clone)]
pub struct Submit {
    pub store: PathBuf,
    pub opts: SlurmOptions,
    pub retry_failed: bool,
    /// Print the scripts; write and submit nothing.
    pub dry_run: bool,
    /// Where the follow-up job writes the report.
    pub report_out: PathBuf,
    /// The `sweep` executable the tasks run.
    pub exe: PathBuf,
    /// None: ask `scontrol`.
    pub max_array_size: Option<usize>,
}

/// What a submission did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub submitted: usize,
    pub done: usize,
    pub running: usize,
    pub queued: usize,
    pub failed: usize,
    /// Left alone: their files cannot be read (`sweep status` says what to do).
    pub damaged: usize,
    /// The submission's folder (None: nothing to submit, or a dry run).
    pub dir: Option<PathBuf>,
    pub arrays: Vec<String>,
    pub report_job: Option<String>,
}

impl std::fmt::Display for SubmitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} runs submitted", self.submitted)?;
        for (n, what) in [
            (self.done, "already done"),
            (self.running, "running now"),
            (self.queued, "already queued in Slurm"),
            (self.failed, "failed before (not resubmitted; use --retry-failed)"),
            (self.damaged, "damaged (not submitted; `sweep status` says what to do)"),
        ] {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        if !self.arrays.is_empty() {
            write!(f, "; array job(s) {}", self.arrays.join(", "))?;
        }
        if let Some(r) = &self.report_job {
            write!(f, "; report job {r}")?;
        }
        Ok(())
    }
}

/// A new submission's folder name: seconds since the epoch, made unique.
fn new_submission_name(slurm_dir: &Path) -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let base = format!("{secs:011}");
    (0..)
        .map(|i| if i == 0 { base.clone() } else { format!("{base}-{i}") })
        .find(|n| !slurm_dir.join(n).exists())
        .expect("an unused name")
}

/// Expand, pick the runs to do, write the manifest and scripts under
/// `STORE/slurm/<name>/` and submit the arrays and the report job. With
/// `dry_run` the scripts are printed on stdout and nothing is written.
pub fn submit(expanded: &Expanded, req: &Submit) -> anyhow::Result<SubmitOutcome> {
    anyhow::ensure!(req.opts.runs_per_task >= 1, "--runs-per-task must be at least 1");
    anyhow::ensure!(req.opts.max_parallel != Some(0), "--max-parallel must be at least 1");
    let root = std::path::absolute(&req.store).with_context(|| format!("resolving {}", req.store.display()))?;
    // The store must exist for the tasks; a dry run only reads what is there.
    let store = if req.dry_run { Store::existing(&root).ok() } else { Some(Store::open(&root)?) };
    if let Some(store) = store.as_ref().filter(|_| !req.dry_run) {
        crate::schedule::prepare_jobs(store, expanded)?;
        if expanded.plan.tensorboard {
            crate::tensorboard::write_experiment_or_warn(store, expanded);
        }
    }
    let (runs, mut out) = runs_to_submit(expanded, store.as_ref(), &root, req.retry_failed)?;
    if runs.is_empty() {
        return Ok(out);
    }

    let slurm_dir = root.join("slurm");
    let layout = Layout {
        dir: slurm_dir.join(new_submission_name(&slurm_dir)),
        store: root.clone(),
        sweep: expanded.plan.sweep.clone(),
        exe: req.exe.clone(),
    };
    let manifest = manifest_text(&runs, req.opts.runs_per_task);
    let tasks = manifest.lines().count();
    let arrays = split_arrays(tasks, req.max_array_size.unwrap_or_else(max_array_size));
    let report_out =
        std::path::absolute(&req.report_out).with_context(|| format!("resolving {}", req.report_out.display()))?;
    let report = report_script(&layout, &req.opts, &report_out);

    if req.dry_run {
        println!("# {} ({} tasks)\n{manifest}", layout.manifest().display(), tasks);
        for (i, spec) in arrays.iter().enumerate() {
            println!("# {}\n{}", layout.array_script(i).display(), array_script(&layout, &req.opts, *spec));
        }
        let ids: Vec<String> = (0..arrays.len()).map(|i| format!("<array-{i}>")).collect();
        println!("# {} (sbatch {})\n{report}", layout.report_script().display(), dependency(&ids));
        return Ok(out);
    }
    let (ids, report_job) = write_and_sbatch(&layout, &req.opts, &manifest, &arrays, &report)?;
    out.dir = Some(layout.dir);
    out.arrays = ids;
    out.report_job = Some(report_job);
    Ok(out)
}

/// The runs of `expanded` that a submission sends (with their attempts so
/// far), and the counts of those it leaves: done, running or queued in Slurm,
/// failed and not retried. Without a store (a dry run before the first
/// submission) every run is new.
fn runs_to_submit(
    expanded: &Expanded,
    store: Option<&Store>,
    root: &Path,
    retry_failed: bool,
) -> anyhow::Result<(Vec<TaskRun>, SubmitOutcome)> {
    let slurm = submitted_states(root)?;
    let mut out = SubmitOutcome::default();
    let mut runs = Vec::new();
    for (entry, _) in &expanded.runs {
        let view = match store {
            Some(s) => s.view(&entry.run_id)?,
            None => RunView::new(&entry.run_id),
        };
        match pick(view.observed, slurm.get(&entry.run_id), retry_failed) {
            Pick::Submit => {
                runs.push(TaskRun { dir: root.join("runs").join(&entry.run_id), attempts: view.status.attempts })
            }
            Pick::Done => out.done += 1,
            Pick::Running => out.running += 1,
            Pick::Queued => out.queued += 1,
            Pick::Failed => out.failed += 1,
            Pick::Damaged => out.damaged += 1,
        }
    }
    out.submitted = runs.len();
    Ok((runs, out))
}

/// Write the manifest and the array scripts, sbatch each array (recording the
/// submission after each, so that `status` knows a partial one), then the
/// report job depending on them all. Returns the array job ids and the report's.
fn write_and_sbatch(
    layout: &Layout,
    opts: &SlurmOptions,
    manifest: &str,
    arrays: &[ArraySpec],
    report: &str,
) -> anyhow::Result<(Vec<String>, String)> {
    std::fs::create_dir_all(layout.logs()).with_context(|| format!("creating {}", layout.logs().display()))?;
    write_atomic(&layout.manifest(), manifest.as_bytes())?;
    let mut submitted = Vec::new();
    for (i, spec) in arrays.iter().enumerate() {
        let path = layout.array_script(i);
        write_atomic(&path, array_script(layout, opts, *spec).as_bytes())?;
        let job_id = sbatch(&path, &[])?;
        submitted.push(SubmittedArray { job_id, offset: spec.offset, count: spec.count });
        let record = SubmissionRecord {
            name: layout.dir.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            manifest: layout.manifest(),
            arrays: submitted.clone(),
            report_job: String::new(),
        };
        write_json_atomic(&layout.record(), &record)?;
    }
    let ids: Vec<String> = submitted.iter().map(|a| a.job_id.clone()).collect();
    write_atomic(&layout.report_script(), report.as_bytes())?;
    let report_job = sbatch(&layout.report_script(), &[dependency(&ids)])?;
    let mut record: SubmissionRecord = read_json(&layout.record())?;
    record.report_job = report_job.clone();
    write_json_atomic(&layout.record(), &record)?;
    Ok((ids, report_job))
}
