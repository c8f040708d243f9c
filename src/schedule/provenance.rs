//! Each run's `provenance.json`, kept by the scheduler because it alone sees
//! every attempt start and end (finished, interrupted, failed, a panic, a child
//! process's crash): one [`Attempt`] appended when a run is claimed and
//! completed when it ends, the first attempt never rewritten. The engine
//! (version and commit, from build.rs) and the clock are read here; the machine
//! comes from the executor ([`super::Executor::machine`]), which alone may know
//! libtorch.
//!
//! Provenance is for people and reports, so a failure to write it is a warning,
//! never a failed run.
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::record::{Attempt, Engine, Machine, Outcome, Provenance, RunState, SweepFile};
use crate::store::RunDir;

use super::Job;

/// This binary: its version, and the commit and dirty flag build.rs recorded.
pub fn engine() -> Engine {
    let dirty = match option_env!("SWEEP_GIT_DIRTY") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    Engine {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: option_env!("SWEEP_GIT_COMMIT").unwrap_or("unknown").to_string(),
        dirty,
    }
}

/// `secs` after the Unix epoch as RFC 3339 in UTC: `2025-01-31T12:00:00Z`.
pub fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn now() -> String {
    rfc3339(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

/// SHA-256 (hex) of the file at `path`; None when it cannot be read.
pub fn file_sha256(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:x}", Sha256::digest(&bytes)))
}

/// The sweep file of the plan in the run's store, when that plan schedules it.
fn sweep_file(job: &Job) -> Option<SweepFile> {
    let plan = job.dir.store()?.read_plan().ok()??;
    plan.runs
        .iter()
        .any(|e| e.run_id == job.entry.run_id)
        .then(|| SweepFile { path: plan.source.clone(), sha256: plan.source_sha256.clone() })
}

/// What to say when `now` runs on another ISA level or engine version than
/// `first`, the run's first attempt (an unknown ISA on either side is no change).
pub fn change_warning(first: &Attempt, now: &Attempt) -> Option<String> {
    let (mut resumed, mut started) = (Vec::new(), Vec::new());
    if let (Some(a), Some(b)) = (&first.machine.device.isa, &now.machine.device.isa) {
        if a != b {
            resumed.push(format!("ISA level {b}"));
            started.push(a.clone());
        }
    }
    if !first.engine.same_version(&now.engine) {
        resumed.push(format!("engine {}", now.engine.label()));
        started.push(first.engine.label());
    }
    (!resumed.is_empty()).then(|| {
        format!(
            "resumed on {} where it started on {}: its results may differ from an uninterrupted run's",
            resumed.join(" and "),
            started.join(" and ")
        )
    })
}

/// Append attempt `number` of `job` on `machine`, starting now. An attempt left
/// open by a killed process is closed as interrupted first; a resume on another
/// ISA level or engine version is warned about, here and in the record.
pub fn begin(job: &Job, machine: Machine, number: u32) {
    let attempt = Attempt {
        number,
        started: now(),
        ended: None,
        outcome: None,
        reason: None,
        engine: engine(),
        machine,
        host: crate::store::lock::hostname(),
        sweep_file: sweep_file(job),
        warnings: Vec::new(),
    };
    let res = update(&job.dir, |p| {
        if let Some(open) = p.attempts.last_mut().filter(|a| a.outcome.is_none()) {
            open.outcome = Some(Outcome::Interrupted);
            open.reason.get_or_insert_with(|| "its process ended without saying how (killed?)".into());
        }
        let mut attempt = attempt;
        if let Some(w) = p.attempts.first().and_then(|first| change_warning(first, &attempt)) {
            tracing::warn!("run {}: {w}", job.entry.run_id);
            attempt.warnings.push(w);
        }
        p.attempts.push(attempt);
    });
    if let Err(e) = res {
        tracing::warn!("run {}: provenance.json not written: {e:#}", job.entry.run_id);
    }
}

/// Close the open attempt of `dir`: ended now, as `state` says, with `reason`.
pub fn end(dir: &RunDir, state: RunState, reason: Option<&str>) {
    let outcome = match state {
        RunState::Done => Outcome::Finished,
        RunState::Failed => Outcome::Failed,
        _ => Outcome::Interrupted,
    };
    let res = update(dir, |p| {
        if let Some(a) = p.attempts.last_mut().filter(|a| a.outcome.is_none()) {
            a.ended = Some(now());
            a.outcome = Some(outcome);
            a.reason = reason.map(str::to_string);
        }
    });
    if let Err(e) = res {
        tracing::warn!("run {}: provenance.json not completed: {e:#}", dir.run_id());
    }
}

/// Read, change and write back the run's provenance (the caller holds its
/// lock); nothing is written when nothing changed.
fn update(dir: &RunDir, change: impl FnOnce(&mut Provenance)) -> anyhow::Result<()> {
    let old = dir.read_provenance().context("reading the run's provenance")?.unwrap_or_default();
    let mut p = old.clone();
    change(&mut p);
    if p == old {
        return Ok(());
    }
    dir.write_provenance(&p)
}
