//! Reports: a finished (or half-finished) store read back into paper-shaped
//! Markdown tables, figures and CSV/JSON exports. No tch here.
//!
//! ```text
//! STORE --collect--> Collected (runs, Polars frames) --aggregate--> Vec<Group>
//!       --render (templates/*.hbs)--> reports/<sweep>.md + reports/<sweep>/figures/
//!       (its header says what the runs ran on: `ran_on`, from provenance.json)
//!       --export--> one row per run, CSV or JSON
//! ```
use std::path::{Path, PathBuf};

use crate::config::LossConfig;

pub mod aggregate;
pub mod collect;
pub mod export;
pub mod figures;
pub mod latex;
pub mod paper;
pub mod paper_tables;
pub mod ran_on;
pub mod render;
mod restarts;
pub mod speed;

pub use aggregate::{aggregate, Counts, Group, Stat};
pub use collect::{collect, Collected, RunRecord};
pub use render::render;

/// Errors a caller may branch on.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("unknown report template `{name}` (available: {})", available.join(", "))]
    UnknownTemplate { name: String, available: Vec<String> },
}

/// The headline columns of the run frame, computed by [`metric_source`]'s rule.
pub const FRAME_REPORTED: [&str; 3] = crate::record::SCORES;

/// Which evaluation method's metrics are "ours" for a run: the one rule every
/// table uses.
///
/// - ConCURL and every setting that trains the clustering head (beta or gamma
///   non-zero: soft clustering, BYOL + soft clustering) are reported as the paper
///   reports them, by the argmax of Sinkhorn codes over the evaluated set: `codes`.
/// - BYOL alone (beta = gamma = 0) has no trained prototypes; the paper's BYOL
///   baseline is k-means on the target projection v_xi: `kmeans_target`.
///
/// NMI is always the arithmetic normalisation (`<source>.nmi`, method.md §7).
pub fn metric_source(loss: &LossConfig) -> &'static str {
    if loss.beta == 0.0 && loss.gamma == 0.0 {
        "kmeans_target"
    } else {
        "codes"
    }
}

/// What `sweep report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// `<sweep>.md` with its figures (the default).
    #[default]
    Markdown,
    /// `<sweep>.tex`: the same tables as booktabs LaTeX, for `\input`.
    Latex,
}

/// Read `store` and write its report in `format` into `out_dir`; the file's path.
pub fn write_report_as(store: &Path, out_dir: &Path, format: ReportFormat) -> anyhow::Result<PathBuf> {
    match format {
        ReportFormat::Markdown => write_report(store, out_dir),
        ReportFormat::Latex => {
            let c = collect(store)?;
            let groups = aggregate(&c)?;
            let tex = latex::render_latex(&c, &groups)?;
            let path = out_dir.join(format!("{}.tex", file_safe(&c.plan.sweep)));
            crate::util::write_atomic(&path, tex.as_bytes())?;
            Ok(path)
        }
    }
}

/// Read `store`, write `out_dir/<sweep>.md` and its figures under
/// `out_dir/<sweep>/figures/`, and return the report's path.
pub fn write_report(store: &Path, out_dir: &Path) -> anyhow::Result<PathBuf> {
    let c = collect(store)?;
    let groups = aggregate(&c)?;
    let name = file_safe(&c.plan.sweep);
    let fig_dir = out_dir.join(&name).join("figures");
    let figs = figures::report_figures(&c, &groups, &fig_dir, &format!("{name}/figures"))?;
    let md = render(&c, &groups, &figs, out_dir)?;
    let path = out_dir.join(format!("{name}.md"));
    crate::util::write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

/// A sweep name as a file name (path separators and odd characters replaced).
pub fn file_safe(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') {
        format!("sweep{s}")
    } else {
        s
    }
}
