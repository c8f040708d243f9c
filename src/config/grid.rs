//! Blocks and grids: each block's dimensions (seeds, axes, `[[zip]]` groups,
//! the `[random]` draws) spanned into candidate runs in plan order, its
//! `[[include]]`s and `[[exclude]]`s, the size check before anything is built,
//! and the runs the candidates build, keyed by run id.
use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::candidate::{build, located_validation, Set};
use super::identity::run_id;
use super::layers::merge_grid;
use super::located::{Axis, Leaves, Origin, Problem};
use super::run::RunConfig;
use super::schema::{json_at, Checker};
use super::sweepfile::{Grid, SweepFile};
use crate::record::PlanEntry;

/// The block name of runs from a sweep file's top level.
pub const MAIN_BLOCK: &str = "main";

/// One dimension of a grid: its points, each setting one or more keys.
type Dim<'a> = Vec<Vec<Set<'a>>>;

fn axis_dim<'a>(key: &'a str, axis: &'a Axis) -> Dim<'a> {
    axis.values.iter().map(|(v, at)| vec![Set { key, value: v, at }]).collect()
}

/// One run's settings before they are built, with its description.
struct Candidate<'a> {
    sets: Vec<Set<'a>>,
    /// `key=value` of the values this candidate chose, for error messages.
    label: String,
    /// Extra swept keys (an include's keys).
    extra_swept: Vec<&'a str>,
}

fn label(sets: &[Set<'_>]) -> String {
    sets.iter().map(|s| format!("{}={}", s.key, s.value)).collect::<Vec<_>>().join(", ")
}

/// Builds the runs of one block (or of the top level).
pub(super) struct BlockPlan<'a> {
    name: &'a str,
    grid: &'a Grid,
    /// Keys shown as the block's swept values, in order.
    swept: Vec<&'a str>,
    candidates: Vec<Candidate<'a>>,
}

/// One block's plan: its dimensions (seeds, axes, zips) and the candidate
/// runs they span (the odometer over the dimensions, on top of `base`, with the
/// pinned overrides last), plus one candidate per `[[include]]`. `with_grid`
/// false: the includes only (the top level's, beside blocks).
fn plan_block<'a>(
    name: &'a str,
    grid: &'a Grid,
    pinned: &'a Leaves,
    with_grid: bool,
    problems: &mut Vec<Problem>,
) -> BlockPlan<'a> {
    let sets_of = |leaves: &'a Leaves| -> Vec<Set<'a>> {
        leaves.iter().map(|(k, l)| Set { key: k, value: &l.value, at: &l.value_at }).collect()
    };
    let pinned: Vec<Set<'a>> = sets_of(pinned);
    let (dims, swept) = if with_grid { block_dims(grid, problems) } else { (Vec::new(), Vec::new()) };
    let mut candidates = Vec::new();
    if with_grid {
        let base = sets_of(&grid.base);
        let total: usize = dims.iter().map(Vec::len).product();
        for mut i in 0..total {
            // Odometer: the last dimension moves fastest.
            let mut chosen: Vec<Set<'a>> = Vec::new();
            for d in dims.iter().rev() {
                chosen.splice(0..0, d[i % d.len()].iter().copied());
                i /= d.len();
            }
            let mut sets = base.clone();
            sets.extend(chosen.iter().copied());
            sets.extend(pinned.iter().copied());
            candidates.push(Candidate { sets, label: label(&chosen), extra_swept: Vec::new() });
        }
    }
    for inc in &grid.include {
        let mut sets = sets_of(&grid.base);
        let own = sets_of(&inc.leaves);
        sets.extend(own.iter().copied());
        sets.extend(pinned.iter().copied());
        candidates.push(Candidate {
            sets,
            label: format!("include {}", label(&own)),
            extra_swept: inc.leaves.keys().map(String::as_str).collect(),
        });
    }
    BlockPlan { name, grid, swept, candidates }
}

/// A grid's dimensions in order (seeds, then each axis, then each `[[zip]]`
/// group moving as one) and the keys they sweep (`seed` only when more than
/// one). A key swept twice, or a zip of unequal lists, is a problem.
fn block_dims<'a>(grid: &'a Grid, problems: &mut Vec<Problem>) -> (Vec<Dim<'a>>, Vec<&'a str>) {
    let mut dims: Vec<Dim<'a>> = Vec::new();
    let mut swept: Vec<&'a str> = Vec::new();
    let mut owner: HashMap<&str, &Origin> = HashMap::new();
    let mut claim = |key: &'a str, at: &'a Origin, problems: &mut Vec<Problem>| {
        if owner.insert(key, at).is_some() {
            problems.push(Problem::new(
                at.clone(),
                format!("`{key}` is swept twice (in axes, seeds, [[zip]] or [random])"),
            ));
        }
    };
    if let Some(seeds) = &grid.seeds {
        claim("seed", &seeds.key_at, problems);
        if seeds.values.len() > 1 {
            swept.push("seed");
        }
        dims.push(axis_dim("seed", seeds));
    }
    for (k, a) in &grid.axes {
        claim(k, &a.key_at, problems);
        swept.push(k);
        dims.push(axis_dim(k, a));
    }
    for z in grid.zip.iter().chain(grid.random.as_ref().map(|r| &r.group)) {
        let lens: Vec<(&String, usize)> = z.axes.iter().map(|(k, a)| (k, a.values.len())).collect();
        if let Some((k0, n0)) = lens.first() {
            if let Some((k, n)) = lens.iter().find(|(_, n)| n != n0) {
                let msg = format!("[[zip]] lists must have equal lengths: `{k0}` has {n0} values but `{k}` has {n}");
                problems.push(Problem::new(z.axes[*k].key_at.clone(), msg));
                continue;
            }
        }
        for (k, a) in &z.axes {
            claim(k, &a.key_at, problems);
            swept.push(k);
        }
        let n = lens.first().map(|x| x.1).unwrap_or(0);
        dims.push(
            (0..n)
                .map(|i| {
                    z.axes.iter().map(|(k, a)| Set { key: k, value: &a.values[i].0, at: &a.values[i].1 }).collect()
                })
                .collect(),
        );
    }
    (dims, swept)
}

/// Does the resolved config match every key of an `[[exclude]]`?
fn excluded(cfg_json: &Json, ex: &Leaves) -> bool {
    ex.iter().all(|(k, l)| {
        let want = serde_json::to_value(&l.value).unwrap_or(Json::Null);
        json_at(cfg_json, k).is_some_and(|have| json_eq(have, &want))
    })
}

/// JSON equality with numbers compared as numbers (an exclude may write `10` for
/// a float field).
fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Json::Object(x), Json::Object(y)) => y.iter().all(|(k, v)| x.get(k).is_some_and(|w| json_eq(w, v))),
        _ => a == b,
    }
}

/// The number of runs one grid produces before exclusions and de-duplication,
/// and its factors (`key x count`), from the structure alone.
fn grid_size(g: &Grid, with_grid: bool) -> (u128, Vec<String>) {
    let mut product: u128 = 1;
    let mut factors = Vec::new();
    if with_grid {
        let dims = g
            .seeds
            .iter()
            .map(|s| ("seeds".to_string(), s.values.len()))
            .chain(g.axes.iter().map(|(k, a)| (k.clone(), a.values.len())))
            .chain(g.zip.iter().map(|z| {
                let keys: Vec<&str> = z.axes.keys().map(String::as_str).collect();
                (format!("[[zip]] {}", keys.join("+")), z.axes.values().map(|a| a.values.len()).max().unwrap_or(0))
            }))
            .chain(g.random.iter().map(|r| ("[random] samples".to_string(), r.samples)));
        for (name, n) in dims {
            product = product.saturating_mul(n as u128);
            factors.push(format!("{name} {n}"));
        }
    } else {
        product = 0;
    }
    (product.saturating_add(g.include.len() as u128), factors)
}

/// Refuses a sweep whose grid is larger than `max_runs`, before any run is built.
pub(super) fn check_size(file: &SweepFile, max_runs: u64) -> Result<(), Problem> {
    let mut total: u128 = 0;
    let mut parts = Vec::new();
    let mut add = |name: &str, (n, factors): (u128, Vec<String>)| {
        total = total.saturating_add(n);
        if !factors.is_empty() {
            parts.push(format!("`{name}`: {} = {n}", factors.join(" x ")));
        }
    };
    if file.blocks.is_empty() {
        add(MAIN_BLOCK, grid_size(&file.grid, true));
    } else {
        add(MAIN_BLOCK, grid_size(&file.grid, false));
        for b in &file.blocks {
            add(&b.name.value, grid_size(&merge_grid(file.grid.clone(), b.grid.clone(), false), true));
        }
    }
    if total <= max_runs as u128 {
        return Ok(());
    }
    Err(Problem::new(
        Origin::file(&file.path),
        format!(
            "the sweep expands to {total} runs ({}), more than the limit of {max_runs}: split it into smaller sweeps, or pass --max-runs {total} if you mean it",
            parts.join("; ")
        ),
    ))
}

/// One plan per block: the whole file as block `main` when it has no blocks;
/// else each block's merged grid, and the top-level includes once under `main`.
pub(super) fn block_plans<'a>(
    file: &'a SweepFile,
    merged: &'a [(String, Grid)],
    problems: &mut Vec<Problem>,
) -> Vec<BlockPlan<'a>> {
    let mut blocks: Vec<BlockPlan<'a>> = Vec::new();
    if file.blocks.is_empty() {
        blocks.push(plan_block(MAIN_BLOCK, &file.grid, &file.pinned, true, problems));
    } else {
        if !file.grid.include.is_empty() {
            blocks.push(plan_block(MAIN_BLOCK, &file.grid, &file.pinned, false, problems));
        }
        for (n, g) in merged {
            blocks.push(plan_block(n, g, &file.pinned, true, problems));
        }
    }
    blocks
}

/// One candidate's run config and its JSON form; None when its block's
/// `exclude` drops it, or when it fails to build or validate (its problems
/// pushed, with `ctx`, the block and values it chose, as their context).
fn build_candidate(
    b: &BlockPlan<'_>,
    c: &Candidate<'_>,
    ctx: &str,
    top: &Origin,
    data_home: &Path,
    problems: &mut Vec<Problem>,
) -> Option<(RunConfig, Json)> {
    let with_ctx = |mut p: Problem| {
        if !ctx.is_empty() {
            p.context = Some(ctx.to_string());
        }
        p
    };
    let (cfg, prov) = match build(&c.sets, top, data_home) {
        Ok(x) => x,
        Err(ps) => {
            problems.extend(ps.into_iter().map(with_ctx));
            return None;
        }
    };
    let json = serde_json::to_value(&cfg).expect("RunConfig serialises to JSON");
    if c.extra_swept.is_empty() && b.grid.exclude.iter().any(|ex| excluded(&json, &ex.leaves)) {
        return None;
    }
    let invalid = located_validation(&cfg, &prov, top);
    if !invalid.is_empty() {
        problems.extend(invalid.into_iter().map(with_ctx));
        return None;
    }
    Some((cfg, json))
}

/// The runs the blocks' candidates build, keyed by run id: a candidate using a
/// value already found bad, or matching its block's `exclude`, builds none; one
/// that fails to build or validate adds its problems (with the block and the
/// values it chose as context). A run that two blocks build is listed once,
/// under both blocks, with the swept keys of both.
pub(super) fn build_runs(
    blocks: &[BlockPlan<'_>],
    has_blocks: bool,
    checker: &Checker,
    top: &Origin,
    data_home: &Path,
    problems: &mut Vec<Problem>,
) -> IndexMap<String, (PlanEntry, RunConfig)> {
    let many_blocks = blocks.len() > 1 || has_blocks;
    let mut runs: IndexMap<String, (PlanEntry, RunConfig)> = IndexMap::new();
    for b in blocks {
        for c in &b.candidates {
            if c.sets.iter().any(|s| checker.bad.contains(s.at)) {
                continue;
            }
            let ctx = match (many_blocks, c.label.is_empty()) {
                (true, true) => format!("block `{}`", b.name),
                (true, false) => format!("block `{}`, run {}", b.name, c.label),
                (false, false) => format!("run {}", c.label),
                (false, true) => String::new(),
            };
            let Some((cfg, json)) = build_candidate(b, c, &ctx, top, data_home, problems) else { continue };
            let id = run_id(&cfg);
            let keys = b.swept.iter().chain(&c.extra_swept).copied();
            let entry = runs
                .entry(id.clone())
                .or_insert_with(|| (PlanEntry { run_id: id, blocks: Vec::new(), swept: IndexMap::new() }, cfg));
            if !entry.0.blocks.iter().any(|x| x == b.name) {
                entry.0.blocks.push(b.name.to_string());
            }
            for k in keys {
                if !entry.0.swept.contains_key(k) {
                    entry.0.swept.insert(k.to_string(), json_at(&json, k).cloned().unwrap_or(Json::Null));
                }
            }
        }
    }
    runs
}
