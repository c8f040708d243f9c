//! `sweep export`: one row per run of the plan, as CSV (RFC 4180 through the
//! `csv` crate: a header line, comma separated, quoted where needed, UTF-8, so
//! it opens cleanly in a spreadsheet) or as a JSON array of objects.
//!
//! The columns are the run frame's ([`super::collect::run_frame`]), in this order:
//!
//! | column | meaning |
//! |---|---|
//! | `run_id` | the run's id (hash of its resolved config) |
//! | `state` | `pending`, `running`, `interrupted`, `done`, `failed`, `missing` (no status), or `damaged` (a file cannot be read; `reason` says which and what to do) |
//! | `reason` | why it failed or stopped, else empty |
//! | `blocks` | the blocks that produced it, joined by `+` |
//! | *swept keys* | each swept key by its dotted name, plan order (`seed` among them when swept) |
//! | `method` | BYOL, soft clustering, BYOL + soft clustering, ConCURL (from the loss weights) |
//! | `dataset`, `backbone` | from the run's config |
//! | `seed` | from the config, here only when `seed` is not swept |
//! | `metric_source` | `codes` or `kmeans_target`: where `acc`, `nmi`, `ari` come from |
//! | `acc`, `nmi`, `ari` | the headline scores (see [`super::metric_source`]) |
//! | *metrics* | every key of `summary.json`'s `metrics`, sorted (`codes.acc`, `codes.ari`, ...) |
//! | `epochs`, `collapsed` | epochs trained, collapse detected |
//! | `train_seconds`, `images_per_sec` | wall-clock training time, last epoch's throughput |
//! | `device`, `isa` | from provenance.json: the GPU's or CPU's model, ATen's CPU capability (`AVX2`...) |
//! | `engine_version`, `commit`, `dirty` | the `sweep` build that ran it: version, git commit, uncommitted changes |
//! | `libtorch` | libtorch's version |
//!
//! A run whose attempts ran on different machines or builds lists each distinct
//! value once, joined by `; ` (`dirty` is true when any build was).
//!
//! A value a run lacks is an empty cell (CSV) or `null` (JSON). The same table
//! is in `docs/report-columns.md`.
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use polars::prelude::{AnyValue, DataFrame};

use super::collect::collect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// A frame value as a CSV cell: empty for null, shortest round-trip text for floats.
fn text(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Int64(i) => i.to_string(),
        AnyValue::Int32(i) => i.to_string(),
        AnyValue::UInt32(i) => i.to_string(),
        AnyValue::UInt64(i) => i.to_string(),
        AnyValue::Float64(f) => f.to_string(),
        AnyValue::Float32(f) => f.to_string(),
        other => other.to_string(),
    }
}

/// A frame value as JSON: numbers stay numbers, NaN and null become `null`.
fn json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::Int64(i) => Value::from(*i),
        AnyValue::Int32(i) => Value::from(*i),
        AnyValue::UInt32(i) => Value::from(*i),
        AnyValue::UInt64(i) => Value::from(*i),
        AnyValue::Float64(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        AnyValue::Float32(f) => serde_json::Number::from_f64(*f as f64).map(Value::Number).unwrap_or(Value::Null),
        other => Value::String(text(other)),
    }
}

/// Write `df` as CSV with a header line.
pub fn write_csv<W: Write>(df: &DataFrame, w: W) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(df.get_column_names().iter().map(|n| n.as_str()))?;
    let cols = df.get_columns();
    for row in 0..df.height() {
        let rec: Vec<String> = cols.iter().map(|c| c.get(row).map(|v| text(&v))).collect::<Result<_, _>>()?;
        out.write_record(&rec)?;
    }
    out.flush()?;
    Ok(())
}

/// Write `df` as a pretty JSON array of objects (keys in column order).
fn write_json<W: Write>(df: &DataFrame, mut w: W) -> anyhow::Result<()> {
    let names = df.get_column_names();
    let cols = df.get_columns();
    let mut rows = Vec::with_capacity(df.height());
    for row in 0..df.height() {
        let mut obj = serde_json::Map::new();
        for (n, c) in names.iter().zip(cols) {
            obj.insert(n.to_string(), json(&c.get(row)?));
        }
        rows.push(serde_json::Value::Object(obj));
    }
    serde_json::to_writer_pretty(&mut w, &rows)?;
    w.write_all(b"\n")?;
    Ok(())
}

/// Export the runs of `store` to `out` (a file, written atomically) or stdout.
pub fn export(store: &Path, format: Format, out: Option<&Path>) -> anyhow::Result<()> {
    let c = collect(store)?;
    let mut buf = Vec::new();
    match format {
        Format::Csv => write_csv(&c.frame, &mut buf)?,
        Format::Json => write_json(&c.frame, &mut buf)?,
    }
    match out {
        Some(p) => crate::util::write_atomic(p, &buf),
        None => std::io::stdout().write_all(&buf).context("writing to stdout"),
    }
}
