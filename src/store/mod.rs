//! The store: one folder per sweep, one sub-folder per run, laid out as
//! documented at the top of [`crate::record`]. Everything a process needs to
//! resume a sweep after a crash lives here, so every write is atomic (a reader
//! sees the old file or the new one) or an fsynced append.
pub mod lock;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::expand::{identity, run_id};
use crate::config::{RunConfig, RunSpec};
use crate::record::{EpochRecord, Plan, PlanEntry, Provenance, Restarts, RunState, RunStatus, Summary};
use crate::util::{read_json, write_atomic, write_json_atomic};

pub use lock::RunLock;

/// A command's TARGET that names no store.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{0} is neither a sweep file (.toml) nor a store (a folder holding plan.json)")]
    NotAStore(PathBuf),
}

/// The store a command names, the one rule of `run`, `status`, `report` and
/// `export`: `--store` when given; else TARGET, a store folder (holding
/// plan.json or runs/) as it is, or a sweep file's store by the rule of
/// `sweep run` ([`crate::config::expand::store_of`]: its `store`, through
/// `extends`, else runs/<name>, relative to the current folder).
pub fn locate(target: &Path, store: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(store) = store {
        return Ok(store.to_path_buf());
    }
    if target.is_dir() && (target.join("plan.json").is_file() || target.join("runs").is_dir()) {
        return Ok(target.to_path_buf());
    }
    if target.is_file() && target.extension().is_some_and(|e| e == "toml") {
        return Ok(crate::config::expand::store_of(target)?);
    }
    Err(LocateError::NotAStore(target.to_path_buf()).into())
}

/// A sweep's store folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating it if needed) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::check_usable(path)?;
        std::fs::create_dir_all(path.join("runs"))
            .with_context(|| format!("creating the store folder {}", path.display()))?;
        Ok(Self { root: path.to_path_buf() })
    }

    /// Can a store live at `path`? The folder, or its nearest existing parent,
    /// must be a folder this process can write in (probed with a temporary
    /// file that is removed at once). Nothing else is created. Checked before
    /// any run starts, so a bad `store` is one line, not a failed sweep.
    pub fn check_usable(path: &Path) -> anyhow::Result<()> {
        let shown = path.display();
        let mut probe = path.to_path_buf();
        while !probe.exists() {
            match probe.parent() {
                Some(p) if !p.as_os_str().is_empty() => probe = p.to_path_buf(),
                _ => {
                    probe = PathBuf::from(".");
                    break;
                }
            }
        }
        if !probe.is_dir() {
            bail!(
                "store {shown}: {} is a file, not a folder; choose another store (--store DIR or `store` in the sweep file)",
                probe.display()
            );
        }
        tempfile::tempfile_in(&probe).map_err(|e| {
            anyhow::anyhow!(
                "store {shown}: cannot write in {} ({e}); choose another store (--store DIR or `store` in the sweep file)",
                probe.display()
            )
        })?;
        Ok(())
    }

    /// Open an existing store without creating anything (for read-only commands).
    pub fn existing(path: &Path) -> anyhow::Result<Self> {
        if !path.join("runs").is_dir() && !path.join("plan.json").is_file() {
            bail!("{} is not a sweep store (no plan.json or runs/ inside)", path.display());
        }
        Ok(Self { root: path.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn plan_path(&self) -> PathBuf {
        self.root.join("plan.json")
    }

    /// `tb/`: the sweep's HParams experiment for TensorBoard ([`crate::tensorboard`]).
    pub fn tb_dir(&self) -> PathBuf {
        self.root.join("tb")
    }

    pub fn write_plan(&self, plan: &Plan) -> anyhow::Result<()> {
        write_json_atomic(&self.plan_path(), plan)
    }

    /// `notes.md` beside the plan (a store's own notes, for a plan without
    /// the sweep file's `notes`), verbatim, if there is one.
    pub fn read_notes(&self) -> anyhow::Result<Option<String>> {
        let p = self.root.join("notes.md");
        match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    /// The plan, if one has been written.
    pub fn read_plan(&self) -> anyhow::Result<Option<Plan>> {
        read_json_if_present(&self.plan_path())
    }

    /// Where run `run_id` lives (whether or not it exists yet).
    pub fn run_path(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    /// The run directory of `run_id` if it has been created.
    pub fn run(&self, run_id: &str) -> Option<RunDir> {
        let path = self.run_path(run_id);
        path.join("config.toml").is_file().then(|| RunDir { path, run_id: run_id.to_string() })
    }

    /// How run `run_id` stands (`new` if its folder does not exist yet). A run
    /// whose files cannot be read is [`Observed::Damaged`], with what is wrong
    /// in [`RunView::damaged`]: one damaged run never hides the others.
    pub fn view(&self, run_id: &str) -> anyhow::Result<RunView> {
        let Some(dir) = self.run(run_id) else { return Ok(RunView::new(run_id)) };
        let read = || -> Result<RunView, Damaged> {
            let status = dir.status()?;
            let cfg = dir.read_config().map_err(|e| Damaged::config(&dir, e))?;
            Ok(RunView {
                run_id: run_id.to_string(),
                observed: dir.observe_status(&status)?,
                status,
                epochs: Some(cfg.total_epochs()),
                damaged: None,
            })
        };
        Ok(read().unwrap_or_else(|d| RunView { observed: Observed::Damaged, damaged: Some(d), ..RunView::new(run_id) }))
    }

    /// Every run directory present, sorted by id.
    pub fn runs(&self) -> anyhow::Result<Vec<RunDir>> {
        let dir = self.root.join("runs");
        let mut out = Vec::new();
        if !dir.is_dir() {
            return Ok(out);
        }
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e.with_context(|| format!("listing {}", dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(r) = self.run(&name) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        Ok(out)
    }
}

/// One run as `sweep status` shows it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run_id: String,
    pub observed: Observed,
    /// The recorded status (`pending` for runs not created yet).
    pub status: RunStatus,
    /// Planned epochs, from the stored config.
    pub epochs: Option<usize>,
    /// What cannot be read, when [`Observed::Damaged`].
    pub damaged: Option<Damaged>,
}

impl RunView {
    /// A run not created in the store yet.
    pub fn new(run_id: &str) -> Self {
        Self {
            run_id: run_id.to_string(),
            observed: Observed::New,
            status: RunStatus::pending(),
            epochs: None,
            damaged: None,
        }
    }
}

/// A run folder file that cannot be read (torn, truncated, edited by hand):
/// which file, why, and what to do. Callers show it and go on with the other
/// runs; the scheduler leaves the run alone until it is repaired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run {run_id} is damaged: {message}")]
pub struct Damaged {
    pub run_id: String,
    /// The file that cannot be read.
    pub file: PathBuf,
    /// `FILE cannot be read (WHY); WHAT TO DO`.
    pub message: String,
}

impl Damaged {
    fn new(dir: &RunDir, file: PathBuf, why: &anyhow::Error, remedy: &str) -> Self {
        let message = format!("{} cannot be read ({}); {remedy}", file.display(), root_cause(why));
        Self { run_id: dir.run_id.clone(), file, message }
    }

    /// config.toml: [`read_run_config`]'s message already names the file and the remedy.
    fn config(dir: &RunDir, e: anyhow::Error) -> Self {
        Self { run_id: dir.run_id.clone(), file: dir.config_path(), message: format!("{e:#}") }
    }
}

/// The innermost message of an error chain (the parser's own words, without the path).
fn root_cause(e: &anyhow::Error) -> String {
    e.root_cause().to_string()
}

/// What to do about a damaged status.json (no intact summary.json beside it).
const STATUS_REMEDY: &str = "delete status.json and the next `sweep run` resumes the run from its last checkpoint";
/// What to do about a damaged summary.json.
const SUMMARY_REMEDY: &str =
    "delete summary.json and status.json and the next `sweep run` finishes the run again from its last checkpoint";

/// Runs per state, stale `running` runs counted as interrupted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub done: usize,
    pub running: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub pending: usize,
    pub damaged: usize,
}

impl StateCounts {
    pub fn of(views: &[RunView]) -> Self {
        let mut c = Self::default();
        for v in views {
            match v.observed {
                Observed::State(RunState::Done) => c.done += 1,
                Observed::State(RunState::Running) => c.running += 1,
                Observed::State(RunState::Failed) => c.failed += 1,
                Observed::State(RunState::Interrupted) | Observed::Stale => c.interrupted += 1,
                Observed::State(RunState::Pending) | Observed::New => c.pending += 1,
                Observed::Damaged => c.damaged += 1,
            }
        }
        c
    }
}

impl std::fmt::Display for StateCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} done, {} running, {} failed, {} interrupted, {} pending",
            self.done, self.running, self.failed, self.interrupted, self.pending
        )?;
        if self.damaged > 0 {
            write!(f, ", {} damaged", self.damaged)?;
        }
        Ok(())
    }
}

/// What a run's status file says, checked against its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The recorded state, consistent with the lock.
    State(RunState),
    /// `running` is recorded but nobody holds the lock: the process died
    /// (killed, power loss). The run resumes from its last checkpoint.
    Stale,
    /// Not created in the store yet.
    New,
    /// Its status.json, summary.json or config.toml cannot be read
    /// ([`RunView::damaged`] says which and what to do).
    Damaged,
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observed::State(s) => s.fmt(f),
            Observed::Stale => f.write_str("interrupted (stale)"),
            Observed::New => f.write_str("new"),
            Observed::Damaged => f.write_str("damaged"),
        }
    }
}

/// One run's folder in the store.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    run_id: String,
}

impl RunDir {
    /// Create the run's folder and write its `config.toml` once. An existing
    /// config must describe the same run: a different one means a hash collision
    /// or a corrupted store, and is refused. Only `data.root` may differ (data
    /// moved; it is not part of the run's identity): it is updated.
    pub fn create(store: &Store, entry: &PlanEntry, cfg: &RunConfig) -> anyhow::Result<Self> {
        let id = run_id(cfg);
        if id != entry.run_id {
            bail!("plan entry {} does not match its config (whose id is {id})", entry.run_id);
        }
        let dir = Self { path: store.run_path(&id), run_id: id };
        std::fs::create_dir_all(&dir.path).with_context(|| format!("creating {}", dir.path.display()))?;
        let text = toml::to_string(cfg).context("serialising the run config")?;
        let path = dir.config_path();
        if path.is_file() {
            let old = match dir.read_config() {
                Ok(old) => old,
                Err(e) => {
                    // The plan's config has this run's id, so it is what the
                    // file held: written again, the run goes on (or stays done).
                    tracing::warn!(
                        "run {}: {} cannot be read ({}); written again from the sweep file, whose settings give this run's id",
                        dir.run_id,
                        path.display(),
                        root_cause(&e)
                    );
                    write_atomic(&path, text.as_bytes())?;
                    return Ok(dir);
                }
            };
            if identity(&old) != identity(cfg) {
                bail!(
                    "{} holds a different config for run {}: a run-id collision or a corrupted store \
                     (move the folder away to start this run afresh)",
                    path.display(),
                    dir.run_id
                );
            }
            if old.data.root != cfg.data.root {
                write_atomic(&path, text.as_bytes())?;
            }
        } else {
            write_atomic(&path, text.as_bytes())?;
        }
        Ok(dir)
    }

    /// Open an existing run folder (for `exec-run`, reports).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let run_id = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .with_context(|| format!("{} is not a run folder", path.display()))?;
        if !path.join("config.toml").is_file() {
            bail!("{} is not a run folder (no config.toml)", path.display());
        }
        Ok(Self { path: path.to_path_buf(), run_id })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.toml")
    }
    pub fn status_path(&self) -> PathBuf {
        self.path.join("status.json")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.json")
    }
    pub fn assignments_path(&self) -> PathBuf {
        self.path.join("assignments.csv")
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join("checkpoints")
    }
    fn figures_dir(&self) -> PathBuf {
        self.path.join("figures")
    }
    pub fn log_path(&self) -> PathBuf {
        self.path.join("log.txt")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.path.join("lock")
    }
    pub fn losses_path(&self) -> PathBuf {
        self.path.join("losses.csv")
    }
    /// `tb/`: the run's TensorBoard event files ([`crate::tensorboard`]).
    pub fn tb_dir(&self) -> PathBuf {
        self.path.join("tb")
    }
    pub fn provenance_path(&self) -> PathBuf {
        self.path.join("provenance.json")
    }

    /// `restarts.json` ([`Restarts`]).
    pub fn restarts_path(&self) -> PathBuf {
        self.path.join("restarts.json")
    }
    fn candidates_dir(&self) -> PathBuf {
        self.path.join("candidates")
    }

    /// Restart candidate `c`'s own run folder (`candidates/<c>/`), created with
    /// its `config.toml` when new: the run's config with the candidate's seed
    /// and no restarts (method.md §13).
    pub fn candidate(&self, c: usize, cfg: &RunConfig) -> anyhow::Result<RunDir> {
        let dir = RunDir { path: self.candidates_dir().join(c.to_string()), run_id: format!("{}.c{c}", self.run_id) };
        std::fs::create_dir_all(&dir.path).with_context(|| format!("creating {}", dir.path.display()))?;
        if !dir.config_path().is_file() {
            let text = toml::to_string(cfg).context("serialising a restart candidate's config")?;
            write_atomic(&dir.config_path(), text.as_bytes())?;
        }
        Ok(dir)
    }

    /// Are candidates' folders still here (the chosen one not yet installed)?
    pub fn has_candidates(&self) -> bool {
        self.candidates_dir().is_dir()
    }

    /// Removes `candidates/`, once the chosen candidate is the run's start:
    /// renamed away first (atomic), so a crash mid-removal never leaves a
    /// half-deleted `candidates/` that looks uninstalled; what is left of an
    /// earlier removal goes too.
    pub fn remove_candidates(&self) -> anyhow::Result<()> {
        let (p, gone) = (self.candidates_dir(), self.path.join("candidates.removed"));
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&gone);
            std::fs::rename(&p, &gone).with_context(|| format!("moving {} away", p.display()))?;
        }
        match std::fs::remove_dir_all(&gone) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", gone.display()))
            }
            _ => Ok(()),
        }
    }

    /// `restarts.json`, None before the choice (or without restarts).
    pub fn read_restarts(&self) -> anyhow::Result<Option<Restarts>> {
        read_json_if_present(&self.restarts_path())
    }

    pub fn write_restarts(&self, restarts: &Restarts) -> anyhow::Result<()> {
        write_json_atomic(&self.restarts_path(), restarts)
    }

    /// Replaces `metrics.jsonl` with `records` (a restart candidate's, installed as the run's start).
    pub fn replace_metrics(&self, records: &[EpochRecord]) -> anyhow::Result<()> {
        let mut text = String::new();
        for r in records {
            text.push_str(&serde_json::to_string(r).context("serialising a metrics record")?);
            text.push('\n');
        }
        write_atomic(&self.metrics_path(), text.as_bytes())
    }

    /// Replaces `losses.csv` with `from`'s.
    pub fn copy_losses_from(&self, from: &RunDir) -> anyhow::Result<()> {
        let text = match std::fs::read(from.losses_path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", from.losses_path().display())),
        };
        write_atomic(&self.losses_path(), &text)
    }

    /// The store this run folder is in (`STORE/runs/<run_id>`), if laid out so.
    pub fn store(&self) -> Option<Store> {
        let root = self.path.parent()?.parent()?;
        Store::existing(root).ok()
    }

    /// The run's config as stored ([`read_run_config`]).
    pub fn read_config(&self) -> anyhow::Result<RunConfig> {
        read_run_config(&self.config_path())
    }

    /// The recorded status (`pending` when none has been written). A
    /// status.json that cannot be read beside an intact summary.json (written
    /// only when the run is done) is rebuilt from it, with a warning; without
    /// one the run is [`Damaged`].
    pub fn status(&self) -> Result<RunStatus, Damaged> {
        let p = self.status_path();
        if !p.is_file() {
            return Ok(RunStatus::pending());
        }
        let why = match read_json(&p) {
            Ok(status) => return Ok(status),
            Err(e) => e,
        };
        match self.read_summary() {
            Ok(Some(summary)) => Ok(self.rebuild_status(&summary, &why)),
            _ => Err(Damaged::new(self, p, &why, STATUS_REMEDY)),
        }
    }

    /// A done status from `summary`, written over the damaged status.json
    /// (best effort: a read-only store still gets the rebuilt status).
    fn rebuild_status(&self, summary: &Summary, why: &anyhow::Error) -> RunStatus {
        let p = self.status_path();
        let attempts = match self.read_provenance() {
            Ok(Some(prov)) => prov.attempts.len() as u32,
            _ => 0,
        };
        let status = RunStatus { state: RunState::Done, epoch: summary.epochs, attempts, ..RunStatus::pending() };
        tracing::warn!(
            "run {}: {} cannot be read ({}); its summary.json is intact, so the run is done: status.json rebuilt from it",
            self.run_id,
            p.display(),
            root_cause(why)
        );
        if let Err(e) = self.set_status(&status) {
            tracing::warn!("run {}: could not write the rebuilt status.json: {e:#}", self.run_id);
        }
        status
    }

    pub fn set_status(&self, status: &RunStatus) -> anyhow::Result<()> {
        write_json_atomic(&self.status_path(), status)
    }

    /// The status checked against the lock: a `running` run whose lock nobody
    /// holds is stale.
    pub fn observe(&self) -> anyhow::Result<Observed> {
        Ok(self.observe_status(&self.status()?)?)
    }

    /// [`Self::observe`] of a status already read.
    fn observe_status(&self, st: &RunStatus) -> Result<Observed, Damaged> {
        if st.state == RunState::Running {
            let held = RunLock::is_held(self).map_err(|e| {
                let remedy = "check the folder's permissions; delete the lock file if no process runs the run";
                Damaged::new(self, self.lock_path(), &e, remedy)
            })?;
            if !held {
                return Ok(Observed::Stale);
            }
        }
        Ok(Observed::State(st.state))
    }

    /// Append one epoch's record and fsync, so a crash loses at most the line
    /// being written. A torn last line left by an earlier crash is cut off first
    /// so the new record starts on a line of its own.
    pub fn append_metrics(&self, record: &EpochRecord) -> anyhow::Result<()> {
        let p = self.metrics_path();
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))?;
        cut_torn_tail(&mut f).with_context(|| format!("repairing {}", p.display()))?;
        let mut line = serde_json::to_string(record).context("serialising a metrics record")?;
        line.push('\n');
        f.write_all(line.as_bytes()).with_context(|| format!("appending to {}", p.display()))?;
        f.sync_data().with_context(|| format!("syncing {}", p.display()))?;
        Ok(())
    }

    /// Every complete record. A torn last line (a crash mid-append) is ignored;
    /// a bad line elsewhere is an error naming the line.
    pub fn read_metrics(&self) -> anyhow::Result<Vec<EpochRecord>> {
        let p = self.metrics_path();
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(r) => out.push(r),
                Err(_) if i + 1 == lines.len() && !complete => break,
                Err(e) => return Err(e).with_context(|| format!("{}:{}: bad metrics record", p.display(), i + 1)),
            }
        }
        Ok(out)
    }

    /// Keep only the records of epochs `<= epoch` (a run resuming from the
    /// checkpoint of `epoch` redoes the later ones).
    pub fn rewind_metrics(&self, epoch: usize) -> anyhow::Result<()> {
        let kept: Vec<EpochRecord> = self.read_metrics()?.into_iter().filter(|r| r.epoch <= epoch).collect();
        self.replace_metrics(&kept)
    }

    /// Keep the rows of `losses.csv` (step,L,L1,L2,L3) of steps `<= step` (a run
    /// resuming from the checkpoint of `step` trains the later ones again).
    pub fn rewind_losses(&self, step: usize) -> anyhow::Result<()> {
        let path = self.losses_path();
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
        let kept: String = text
            .lines()
            .filter(|l| l.split(',').next().and_then(|s| s.parse::<usize>().ok()).is_some_and(|s| s <= step))
            .map(|l| format!("{l}\n"))
            .collect();
        if kept.len() != text.len() {
            write_atomic(&path, kept.as_bytes())?;
        }
        Ok(())
    }

    /// `losses.csv` opened for appending one row per step.
    pub fn losses_log(&self) -> anyhow::Result<LossLog> {
        let p = self.losses_path();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))?;
        Ok(LossLog { file })
    }

    /// `figures/tsne.csv`: the 2-d t-SNE points of Figure 2 with their class.
    pub fn write_tsne_csv(&self, points: &[[f64; 2]], labels: &[i64]) -> anyhow::Result<()> {
        let fig = self.figures_dir();
        std::fs::create_dir_all(&fig).with_context(|| format!("creating {}", fig.display()))?;
        let mut csv = String::from("x,y,label\n");
        for (p, l) in points.iter().zip(labels) {
            csv.push_str(&format!("{},{},{}\n", p[0], p[1], l));
        }
        write_atomic(&fig.join("tsne.csv"), csv.as_bytes())
    }

    pub fn write_summary(&self, summary: &Summary) -> anyhow::Result<()> {
        write_json_atomic(&self.summary_path(), summary)
    }

    /// `provenance.json`; None for a run that has none (started before it was
    /// written, or never started).
    pub fn read_provenance(&self) -> anyhow::Result<Option<Provenance>> {
        read_json_if_present(&self.provenance_path())
    }

    pub fn write_provenance(&self, provenance: &Provenance) -> anyhow::Result<()> {
        write_json_atomic(&self.provenance_path(), provenance)
    }

    /// summary.json, None until the run is done; [`Damaged`] when it cannot be read.
    pub fn read_summary(&self) -> Result<Option<Summary>, Damaged> {
        let p = self.summary_path();
        if !p.is_file() {
            return Ok(None);
        }
        read_json(&p).map(Some).map_err(|e| Damaged::new(self, p, &e, SUMMARY_REMEDY))
    }
}

/// `losses.csv` of one run, open for appending: `step,L,L1,L2,L3` per step.
pub struct LossLog {
    file: File,
}

impl LossLog {
    /// One row. Best effort: the log is for people; the metrics and the
    /// checkpoint are what resume reads.
    pub fn append(&mut self, step: usize, terms: &[f64]) {
        let cols: Vec<String> = terms.iter().map(f64::to_string).collect();
        let _ = writeln!(self.file, "{step},{}", cols.join(","));
    }
}

/// A JSON file the store may not have written yet: None when absent.
fn read_json_if_present<T: serde::de::DeserializeOwned>(p: &Path) -> anyhow::Result<Option<T>> {
    if p.is_file() {
        read_json(p).map(Some)
    } else {
        Ok(None)
    }
}

/// If the file does not end in a newline, truncate it after its last newline.
fn cut_torn_tail(f: &mut File) -> std::io::Result<()> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Read backwards in chunks until a newline: records are short.
    let mut end = len;
    let mut keep = 0;
    let mut buf = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    f.set_len(keep)?;
    Ok(())
}

/// A run folder's `config.toml`, through the same resolve and validate as a
/// sweep file's runs (a config written resolved resolves to itself), so a
/// hand-edited or damaged file is refused with what is wrong and its path.
fn read_run_config(p: &Path) -> anyhow::Result<RunConfig> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let spec: RunSpec = match toml::from_str(&text) {
        Ok(spec) => spec,
        Err(e) => bail!("{}: cannot be parsed ({}); {CONFIG_REMEDY}", p.display(), e.message()),
    };
    let problems = match spec.resolve() {
        Ok(cfg) => match cfg.validate() {
            problems if problems.is_empty() => return Ok(cfg),
            problems => problems,
        },
        Err(msg) => vec![msg],
    };
    bail!("{}: {}; {CONFIG_REMEDY}", p.display(), problems.join("; "))
}

/// What to do about a config.toml that cannot be read back.
const CONFIG_REMEDY: &str =
    "the file was edited by hand or damaged: restore it, or move the run folder away to train the run afresh";
