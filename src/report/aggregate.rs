//! Seeds folded into groups: a group is a block together with the values of every
//! swept axis except `seed`, so each group is one setting of the sweep and its
//! rows are the seeds. Per group: mean, sample standard deviation (ddof = 1, none
//! for a single seed) and number of seeds of the headline ACC / NMI / ARI, and how
//! many of its runs are done, failed or missing.
//!
//! A run produced by two blocks belongs to a group of each (a sub-table of each
//! block shows it). Groups come in plan order: the order of their first run.
use std::collections::BTreeMap;

use anyhow::Context;
use polars::prelude::*;

use crate::config::RunConfig;

use super::collect::{Collected, RunRecord};
use super::FRAME_REPORTED;

/// Mean, sample standard deviation and count over the seeds that have a value.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Stat {
    pub mean: Option<f64>,
    /// None below two values (ddof = 1 is undefined for one).
    pub std: Option<f64>,
    pub n: usize,
}

impl Stat {
    /// Mean, sample standard deviation (none below two values) and count of `v`.
    pub fn of(v: &[f64]) -> Self {
        let n = v.len();
        let mean = (n > 0).then(|| v.iter().sum::<f64>() / n as f64);
        let std =
            mean.filter(|_| n >= 2).map(|m| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Self { mean, std, n }
    }
}

/// One setting of the sweep, its seeds folded.
#[derive(Debug, Clone)]
pub struct Group {
    /// The block (empty when the plan names none).
    pub block: String,
    /// Every swept key except `seed`, in plan order, with this group's value
    /// (None where the block does not sweep that key).
    pub key: Vec<(String, Option<serde_json::Value>)>,
    /// Its runs in plan order (one per seed).
    pub run_ids: Vec<String>,
    /// The config of its first run that has one (all runs of a group share
    /// everything but the seed).
    pub config: Option<RunConfig>,
    /// ACC, NMI, ARI under [`super::metric_source`]'s rule.
    pub scores: [Stat; 3],
    pub done: usize,
    /// Done runs flagged as collapsed (method.md §3: L2 stuck at ln K, or one
    /// cluster holding nearly every image): the paper's third open question, counted.
    pub collapsed: usize,
    pub failed: usize,
    /// Neither done nor failed: pending, running, interrupted or never started.
    pub missing: usize,
}

impl Group {
    pub fn method(&self) -> Option<String> {
        self.config.as_ref().map(|c| c.method_name())
    }

    /// The group's swept values as `key=value` text, `seed` excluded.
    pub fn label(&self) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", super::collect::value_text(v))))
            .collect();
        match (self.block.is_empty(), parts.is_empty()) {
            (true, true) => "all runs".into(),
            (true, false) => parts.join(", "),
            (false, true) => self.block.clone(),
            (false, false) => format!("{}: {}", self.block, parts.join(", ")),
        }
    }
}

/// Per-epoch means of one series key: `(epoch, mean over seeds)`, epochs ascending.
pub type Curve = Vec<(f64, f64)>;

/// Mean, std and count columns of one headline metric, a value per group.
struct StatColumns {
    mean: Vec<Option<f64>>,
    std: Vec<Option<f64>>,
    n: Vec<i64>,
}

/// Name of the column holding the exploded block of each row.
const BLOCK: &str = "__block";

/// Group the runs of `c` (see the module doc). Statistics are computed by Polars
/// on [`Collected::frame`], exploded to one row per (run, block).
pub fn aggregate(c: &Collected) -> anyhow::Result<Vec<Group>> {
    let keys: Vec<String> = c.swept_keys.iter().filter(|k| k.as_str() != "seed").cloned().collect();
    let g = group_stats(explode_by_block(c)?, &keys)?;
    groups_from(&g, c, &keys)
}

/// [`Collected::frame`] with one row per (run, block) and the block in column [`BLOCK`].
fn explode_by_block(c: &Collected) -> anyhow::Result<DataFrame> {
    let (mut idx, mut blocks): (Vec<IdxSize>, Vec<String>) = (Vec::new(), Vec::new());
    for (i, r) in c.runs.iter().enumerate() {
        let bs: Vec<String> = if r.entry.blocks.is_empty() { vec![String::new()] } else { r.entry.blocks.clone() };
        for b in bs {
            idx.push(i as IdxSize);
            blocks.push(b);
        }
    }
    let mut rows = c.frame.take(&IdxCa::from_vec("idx".into(), idx)).context("exploding runs by block")?;
    rows.with_column(Column::new(BLOCK.into(), blocks)).context("adding the block column")?;
    Ok(rows)
}

/// One row per (block, swept values but the seed), in first-seen order: the
/// run ids, mean / sample std / count of each reported metric, done, failed and all runs.
fn group_stats(rows: DataFrame, keys: &[String]) -> anyhow::Result<DataFrame> {
    let mut by: Vec<Expr> = vec![col(BLOCK)];
    by.extend(keys.iter().map(|k| col(k.as_str())));
    let mut aggs: Vec<Expr> = vec![col("run_id").alias("run_ids")];
    for m in FRAME_REPORTED {
        aggs.push(col(m).mean().alias(format!("{m}__mean")));
        aggs.push(col(m).std(1).alias(format!("{m}__std")));
        // count() skips nulls: the seeds that produced a value.
        aggs.push(col(m).count().cast(DataType::Int64).alias(format!("{m}__n")));
    }
    let is = |s: &str| col("state").eq(lit(s)).cast(DataType::Int64).sum();
    aggs.push(is("done").alias("done"));
    aggs.push(is("failed").alias("failed"));
    aggs.push(len().cast(DataType::Int64).alias("runs"));
    rows.lazy().group_by_stable(by).agg(aggs).collect().context("aggregating runs")
}

/// The [`Group`]s of [`group_stats`]'s rows.
fn groups_from(g: &DataFrame, c: &Collected, keys: &[String]) -> anyhow::Result<Vec<Group>> {
    let by_id: BTreeMap<&str, &RunRecord> = c.runs.iter().map(|r| (r.entry.run_id.as_str(), r)).collect();
    let ints = |name: &str| -> anyhow::Result<Vec<i64>> {
        Ok(g.column(name)?.i64()?.into_iter().map(|v| v.unwrap_or(0)).collect())
    };
    let floats = |name: &str| -> anyhow::Result<Vec<Option<f64>>> {
        Ok(g.column(name)?.cast(&DataType::Float64)?.f64()?.into_iter().collect())
    };
    let (done, failed, total) = (ints("done")?, ints("failed")?, ints("runs")?);
    let stats: Vec<StatColumns> = FRAME_REPORTED
        .iter()
        .map(|m| {
            Ok(StatColumns {
                mean: floats(&format!("{m}__mean"))?,
                std: floats(&format!("{m}__std"))?,
                n: ints(&format!("{m}__n"))?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let block_col = g.column(BLOCK)?.str()?.clone();
    let ids_col = g.column("run_ids")?.list()?.clone();
    let mut out = Vec::with_capacity(g.height());
    for row in 0..g.height() {
        let run_ids: Vec<String> = match ids_col.get_as_series(row) {
            Some(s) => s.str()?.into_iter().flatten().map(str::to_string).collect(),
            None => Vec::new(),
        };
        let runs: Vec<&RunRecord> = run_ids.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect();
        let first = runs.first().context("a group without runs")?;
        let key = keys.iter().map(|k| (k.clone(), first.entry.swept.get(k).cloned())).collect();
        let scores = std::array::from_fn(|i| {
            let n = stats[i].n[row] as usize;
            Stat { mean: stats[i].mean[row], std: if n >= 2 { stats[i].std[row] } else { None }, n }
        });
        out.push(Group {
            block: block_col.get(row).unwrap_or("").to_string(),
            key,
            config: runs.iter().find_map(|r| r.config.clone()),
            run_ids,
            scores,
            done: done[row] as usize,
            collapsed: runs.iter().filter(|r| r.summary.as_ref().is_some_and(|s| s.collapsed)).count(),
            failed: failed[row] as usize,
            missing: (total[row] - done[row] - failed[row]) as usize,
        });
    }
    Ok(out)
}

/// Run counts over the whole plan (each run once, whatever its blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub runs: usize,
    pub done: usize,
    pub failed: usize,
    pub missing: usize,
}

pub fn counts(c: &Collected) -> Counts {
    let done = c.runs.iter().filter(|r| r.is_done()).count();
    let failed = c.runs.iter().filter(|r| r.is_failed()).count();
    Counts { runs: c.runs.len(), done, failed, missing: c.runs.len() - done - failed }
}

/// Per-epoch mean over a group's seeds of each series key: `curves[g][key]` is
/// the list of `(epoch, mean)` in epoch order, for the keys asked for.
pub fn epoch_curves(c: &Collected, groups: &[Group], wanted: &[&str]) -> anyhow::Result<Vec<BTreeMap<String, Curve>>> {
    let mut gid: Vec<i64> = Vec::new();
    let mut rid: Vec<String> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        for r in &g.run_ids {
            gid.push(i as i64);
            rid.push(r.clone());
        }
    }
    let map = DataFrame::new(vec![Column::new("run_id".into(), rid), Column::new("group".into(), gid)])?;
    let wanted_df =
        DataFrame::new(vec![Column::new("key".into(), wanted.iter().map(|s| s.to_string()).collect::<Vec<_>>())])?;
    let joined = c
        .series
        .clone()
        .lazy()
        // Inner joins keep only the keys asked for and the runs of some group.
        .join(wanted_df.lazy(), [col("key")], [col("key")], JoinArgs::new(JoinType::Inner))
        .join(map.lazy(), [col("run_id")], [col("run_id")], JoinArgs::new(JoinType::Inner))
        .group_by([col("group"), col("key"), col("epoch")])
        .agg([col("value").mean().alias("mean")])
        .sort(["group", "key", "epoch"], SortMultipleOptions::default())
        .collect()
        .context("per-epoch means")?;
    let mut out = vec![BTreeMap::new(); groups.len()];
    let (gs, ks, es, ms) = (
        joined.column("group")?.i64()?,
        joined.column("key")?.str()?,
        joined.column("epoch")?.i64()?,
        joined.column("mean")?.f64()?,
    );
    for i in 0..joined.height() {
        if let (Some(g), Some(k), Some(e), Some(m)) = (gs.get(i), ks.get(i), es.get(i), ms.get(i)) {
            out[g as usize].entry(k.to_string()).or_insert_with(Vec::new).push((e as f64, m));
        }
    }
    Ok(out)
}
