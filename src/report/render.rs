//! Markdown through handlebars templates (`templates/*.hbs`, compiled into the
//! binary). The Rust side computes every cell (formatting, differences, which
//! value is best); the templates only lay the tables and sections out.
//!
//! The output is deterministic: no timestamps, groups and runs in plan order,
//! paper rows in the paper's order.
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use handlebars::Handlebars;
use serde::Serialize;

use super::aggregate::{counts, Counts, Group, Stat};
use super::collect::{value_text, Collected, RunRecord};
use super::figures::ReportFigures;
use super::paper_tables::{self, Matcher};
use super::speed;
use super::ReportError;

const PARTIALS: [(&str, &str); 4] = [
    ("header", include_str!("../../templates/_header.hbs")),
    ("groups", include_str!("../../templates/_groups.hbs")),
    ("footer", include_str!("../../templates/_footer.hbs")),
    ("table", include_str!("../../templates/_table.hbs")),
];

pub(super) fn template_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "generic" => include_str!("../../templates/generic.hbs"),
        "table3" => include_str!("../../templates/table3.hbs"),
        "table4" => include_str!("../../templates/table4.hbs"),
        "table5" => include_str!("../../templates/table5.hbs"),
        _ => return None,
    })
}

/// A Markdown table, every cell already text.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Table {
    pub head: Vec<String>,
    /// Separator cells: `---` (text) or `---:` (numbers).
    pub align: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(head: Vec<(String, bool)>) -> Self {
        let align = head.iter().map(|(_, num)| if *num { "---:" } else { "---" }.to_string()).collect();
        Self { head: head.into_iter().map(|h| h.0).collect(), align, rows: Vec::new() }
    }
}

/// A table with a heading (a dataset of Table III, a sub-table of Table V).
#[derive(Debug, Clone, Serialize)]
pub struct TitledTable {
    pub title: String,
    pub table: Table,
}

#[derive(Debug, Clone, Serialize)]
struct Header {
    sweep: String,
    template: String,
    source: String,
    store: String,
    /// `--set KEY=VALUE` overrides the plan was built with, as `` `--set ...` `` text.
    overrides: String,
    counts: Counts,
    /// What the runs ran on ([`super::ran_on`]).
    ran_on: Vec<super::ran_on::RanOn>,
}

#[derive(Debug, Clone, Serialize)]
struct NotDone {
    run_id: String,
    state: String,
    reason: String,
    label: String,
}

#[derive(Debug, Clone, Serialize)]
struct Tsne {
    run_id: String,
    acc: String,
    png: String,
    svg: String,
}

#[derive(Debug, Serialize)]
struct View<'a> {
    header: Header,
    notes: Option<&'a str>,
    groups: Table,
    not_done: Vec<NotDone>,
    figures: &'a ReportFigures,
    tsne: Option<Tsne>,
    /// Which group each paper row was compared with, where more than one fitted.
    match_notes: Vec<String>,
    table3: Vec<TitledTable>,
    appendix: Option<Table>,
    table4: Option<Table>,
    table5: Vec<TitledTable>,
    /// Feature baselines measured in every run (k-means on the raw pixels...).
    baselines: Option<Table>,
    /// Minutes to accuracy per group ([`speed`]), when runs were evaluated more than once.
    speed: Option<Table>,
    /// Consensus partitions beside the codes, when runs computed them.
    consensus: Option<Table>,
    /// Scores before and after the self-labelling stage, when runs had one.
    selflabel: Option<Table>,
    /// Every setting against the block named `reference`, when the sweep has one.
    ablation: Option<Table>,
    /// Each run's choice among restarts, when runs had them, and how often
    /// it agreed with the labels.
    restarts: Option<Table>,
    restarts_agreement: Option<String>,
}

/// k-means baselines that do not depend on the method (method.md §7 evaluates them in
/// every run where `eval.kmeans_features` asks): raw pixels, and the encoder and
/// cluster features of whichever method the run trained.
const BASELINES: [(&str, &str); 3] = [
    ("kmeans_pixels", "k-means on the raw pixels"),
    ("kmeans_encoder", "k-means on the encoder output (each run's own encoder)"),
    ("kmeans_cluster", "k-means on the cluster embedding (each run's own head)"),
];

/// Mean ± sample std over the done runs that measured each baseline.
pub(super) fn baselines(c: &Collected) -> Option<Table> {
    let mut t =
        Table::new(vec![("baseline".into(), false), ("ACC".into(), true), ("NMI".into(), true), ("ARI".into(), true)]);
    for (key, label) in BASELINES {
        let stat = |metric: &str| Stat::of(&c.done_metric(&format!("{key}.{metric}")));
        let stats = [stat("acc"), stat("nmi"), stat("ari")];
        if stats[0].n > 0 {
            let mut row = vec![label.to_string()];
            row.extend(stats.iter().map(fmt_stat));
            t.rows.push(row);
        }
    }
    (!t.rows.is_empty()).then_some(t)
}

/// Consensus partitions (method.md §11) beside each group's codes: ACC mean ±
/// std over the group's done runs, one column per consensus function that some
/// run measured; None when no run did.
pub(super) fn consensus_table(c: &Collected, groups: &[Group]) -> Option<Table> {
    use crate::config::ConsensusFn;
    let fns: Vec<ConsensusFn> =
        ConsensusFn::ALL.into_iter().filter(|f| !c.done_metric(&format!("{}.acc", f.key())).is_empty()).collect();
    if fns.is_empty() {
        return None;
    }
    let mut head: Vec<(String, bool)> =
        vec![("setting".into(), false), ("method".into(), false), ("codes ACC".into(), true)];
    head.extend(fns.iter().map(|f| (format!("{} ACC", f.name().to_uppercase()), true)));
    let mut t = Table::new(head);
    for g in groups {
        let metric = |key: &str| {
            let v: Vec<f64> = c
                .runs
                .iter()
                .filter(|r| r.is_done() && g.run_ids.contains(&r.entry.run_id))
                .filter_map(|r| r.summary.as_ref()?.metrics.get(key).copied())
                .collect();
            Stat::of(&v)
        };
        let per_fn: Vec<Stat> = fns.iter().map(|f| metric(&format!("{}.acc", f.key()))).collect();
        if per_fn.iter().all(|s| s.n == 0) {
            continue;
        }
        let mut row = vec![cell(&g.label()), g.method().map(|m| cell(&m)).unwrap_or_else(|| "—".into())];
        row.push(fmt_stat(&metric("codes.acc")));
        row.extend(per_fn.iter().map(fmt_stat));
        t.rows.push(row);
    }
    (!t.rows.is_empty()).then_some(t)
}

/// The self-labelling stage's gain (method.md §11), per group whose done runs
/// had one: the codes' ACC at the end of training (`before_finetune.codes.acc`)
/// and after the stage, their difference, and the stage's training minutes.
pub(super) fn selflabel_table(c: &Collected, groups: &[Group]) -> Option<Table> {
    let before_key = format!("{}codes.acc", crate::record::BEFORE_FINETUNE);
    let head = ["setting", "method", "ACC before", "ACC after", "gain", "stage minutes"];
    let mut t = Table::new(head.iter().enumerate().map(|(i, h)| (h.to_string(), i >= 2)).collect());
    for g in groups {
        let runs: Vec<&crate::report::collect::RunRecord> =
            c.runs.iter().filter(|r| r.is_done() && g.run_ids.contains(&r.entry.run_id)).collect();
        let per_run: Vec<(f64, f64, f64)> = runs
            .iter()
            .filter_map(|r| {
                let m = &r.summary.as_ref()?.metrics;
                let minutes: f64 = r
                    .epochs
                    .iter()
                    .filter(|e| e.train.contains_key("self_labelling"))
                    .filter_map(|e| e.train.get("seconds"))
                    .sum::<f64>()
                    / 60.0;
                Some((*m.get(&before_key)?, *m.get("codes.acc")?, minutes))
            })
            .collect();
        if per_run.is_empty() {
            continue;
        }
        let col = |f: fn(&(f64, f64, f64)) -> f64| Stat::of(&per_run.iter().map(f).collect::<Vec<_>>());
        let mut row = vec![cell(&g.label()), g.method().map(|m| cell(&m)).unwrap_or_else(|| "—".into())];
        row.push(fmt_stat(&col(|r| r.0)));
        row.push(fmt_stat(&col(|r| r.1)));
        let gain = col(|r| r.1 - r.0);
        row.push(gain.mean.map_or_else(|| "—".into(), |m| format!("{m:+.3} ({})", gain.n)));
        let minutes = col(|r| r.2);
        row.push(minutes.mean.map_or_else(|| "—".into(), |m| format!("{m:.1} ({})", minutes.n)));
        t.rows.push(row);
    }
    (!t.rows.is_empty()).then_some(t)
}

/// The block that [`ablation_table`] measures every other setting against.
const REFERENCE_BLOCK: &str = "reference";

/// Each setting against the sweep's block named [`REFERENCE_BLOCK`] (the
/// ablation of method.md §11: one option on, the rest as the reference): its
/// ACC, the difference of the means from the reference's, and the training
/// minutes per run (every epoch's training time, a self-labelling stage's too)
/// with their difference. None without such a block or a done run in it.
pub(super) fn ablation_table(c: &Collected, groups: &[Group]) -> Option<Table> {
    let minutes = |g: &Group| -> Stat {
        let per_run: Vec<f64> = c
            .runs
            .iter()
            .filter(|r| r.is_done() && g.run_ids.contains(&r.entry.run_id))
            .map(|r| r.epochs.iter().filter_map(|e| e.train.get("seconds")).sum::<f64>() / 60.0)
            .collect();
        Stat::of(&per_run)
    };
    let reference = groups.iter().find(|g| g.block == REFERENCE_BLOCK && g.done > 0)?;
    let (ref_acc, ref_minutes) = (reference.scores[0].mean?, minutes(reference).mean?);
    let head = ["setting", "method", "ACC", "ΔACC", "training minutes", "Δ minutes"];
    let mut t = Table::new(head.iter().enumerate().map(|(i, h)| (h.to_string(), i >= 2)).collect());
    for g in groups.iter().filter(|g| g.done > 0) {
        let is_ref = std::ptr::eq(g, reference);
        let m = minutes(g);
        let delta = |v: Option<f64>, r: f64, digits: usize| match (is_ref, v) {
            (true, _) => "(reference)".to_string(),
            (false, Some(v)) => format!("{:+.*}", digits, v - r),
            (false, None) => "—".into(),
        };
        t.rows.push(vec![
            cell(&g.label()),
            g.method().map(|m| cell(&m)).unwrap_or_else(|| "—".into()),
            fmt_stat(&g.scores[0]),
            delta(g.scores[0].mean, ref_acc, 3),
            m.mean.map_or_else(|| "—".into(), |v| format!("{v:.1} ({})", m.n)),
            delta(m.mean, ref_minutes, 1),
        ]);
    }
    Some(t)
}

/// Time to accuracy per group ([`speed`]), when some done run was evaluated
/// at least twice: evaluations per run, training and wall-clock minutes, and the
/// minutes to each ACC threshold.
pub(super) fn speed_table(c: &Collected, groups: &[Group]) -> Option<Table> {
    if !speed::has_curves(&speed::run_curves(c, groups)) {
        return None;
    }
    let mut head: Vec<(String, bool)> = vec![
        ("setting".into(), false),
        ("method".into(), false),
        ("evaluations".into(), true),
        ("training minutes".into(), true),
        ("wall minutes".into(), true),
    ];
    head.extend(speed::thresholds(c).iter().map(|t| (format!("minutes to ACC {}", fmt_threshold(*t)), true)));
    let mut t = Table::new(head);
    for (gi, g) in groups.iter().enumerate() {
        let Some(s) = speed::group_speed(c, groups, gi) else { continue };
        let mut row = vec![
            cell(&g.label()),
            g.method().map(|m| cell(&m)).unwrap_or_else(|| "—".into()),
            s.evaluations.to_string(),
            speed::fmt_minutes(&s.train_minutes),
            speed::fmt_minutes(&s.wall_minutes),
        ];
        row.extend(s.reached.iter().map(speed::fmt_reached));
        t.rows.push(row);
    }
    Some(t)
}

/// `.80`: a score threshold as the paper writes scores.
fn fmt_threshold(t: f64) -> String {
    let s = format!("{t:.2}");
    s.strip_prefix('0').map(str::to_string).unwrap_or(s)
}

/// Render the plan's template over the groups. `out_dir` is where the report
/// will be written (links to run folders are made relative to it).
pub fn render(c: &Collected, groups: &[Group], figures: &ReportFigures, out_dir: &Path) -> anyhow::Result<String> {
    let name = if c.plan.template.is_empty() { "generic" } else { c.plan.template.as_str() };
    let source = template_source(name).ok_or_else(|| ReportError::UnknownTemplate {
        name: name.to_string(),
        available: crate::record::Template::names(),
    })?;
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    // Markdown, not HTML: cells are escaped for Markdown tables in Rust instead.
    hb.register_escape_fn(handlebars::no_escape);
    for (p, src) in PARTIALS {
        hb.register_partial(p, src).with_context(|| format!("template partial {p}"))?;
    }
    hb.register_template_string(name, source).with_context(|| format!("template {name}"))?;

    let mut ctx = View {
        header: Header {
            sweep: c.plan.sweep.clone(),
            template: name.to_string(),
            source: c.plan.source.clone(),
            store: shown_store(&c.store, std::env::current_dir().ok().as_deref()),
            overrides: c.plan.overrides.iter().map(|o| format!("`--set {o}`")).collect::<Vec<_>>().join(", "),
            counts: counts(c),
            ran_on: super::ran_on::ran_on(c, groups),
        },
        // The sweep file's `notes` first; `notes.md` in the store for a plan without them.
        notes: c.plan.notes.as_deref().or(c.notes.as_deref()).map(str::trim_end),
        groups: groups_table(groups),
        not_done: not_done(c),
        figures,
        tsne: tsne_link(c, out_dir),
        match_notes: Vec::new(),
        table3: Vec::new(),
        appendix: None,
        table4: None,
        table5: Vec::new(),
        baselines: baselines(c),
        speed: speed_table(c, groups),
        consensus: consensus_table(c, groups),
        selflabel: selflabel_table(c, groups),
        ablation: ablation_table(c, groups),
        restarts: None,
        restarts_agreement: None,
    };
    if let Some((table, agreement)) = super::restarts::restarts_table(c, groups) {
        (ctx.restarts, ctx.restarts_agreement) = (Some(table), Some(agreement));
    }
    let mut m = Matcher::new(groups);
    match name {
        "table3" => {
            ctx.table3 = paper_tables::table3(&mut m);
            ctx.appendix = Some(paper_tables::appendix(&mut m));
        }
        "table4" => ctx.table4 = Some(paper_tables::table4(&mut m)),
        "table5" => ctx.table5 = paper_tables::table5(&mut m),
        _ => {}
    }
    ctx.match_notes = m.into_notes();
    let mut out = hb.render(name, &ctx).with_context(|| format!("rendering template {name}"))?;
    // One trailing newline whatever the template ends with.
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

/// Text safe inside a Markdown table cell.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `0.752 ± 0.012 (3)`: mean ± sample std (number of seeds); no ± for one seed.
pub fn fmt_stat(s: &Stat) -> String {
    match (s.mean, s.std) {
        (None, _) => "—".into(),
        (Some(m), Some(sd)) => format!("{m:.3} ± {sd:.3} ({})", s.n),
        (Some(m), None) => format!("{m:.3} ({})", s.n),
    }
}

pub(super) fn bold_if(s: String, best: bool) -> String {
    if best {
        format!("**{s}**")
    } else {
        s
    }
}

/// Which entries hold the column's best (largest) value; ties are all best.
pub fn best_mask(values: &[Option<f64>]) -> Vec<bool> {
    let max = values.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    values.iter().map(|v| v.is_some_and(|v| v == max && max.is_finite())).collect()
}

/// The generic table: one row per group with its swept values, method, ACC /
/// NMI / ARI (best mean per column in bold) and its run counts.
pub(super) fn groups_table(groups: &[Group]) -> Table {
    let show_block = groups.iter().any(|g| !g.block.is_empty());
    let keys: Vec<String> = groups.first().map(|g| g.key.iter().map(|k| k.0.clone()).collect()).unwrap_or_default();
    let mut head: Vec<(String, bool)> = Vec::new();
    if show_block {
        head.push(("block".into(), false));
    }
    head.extend(keys.iter().map(|k| (format!("`{k}`"), false)));
    head.push(("method".into(), false));
    head.extend(["ACC", "NMI", "ARI"].map(|m| (m.to_string(), true)));
    head.extend(["done", "collapsed", "failed", "missing"].map(|m| (m.to_string(), true)));
    let mut t = Table::new(head);
    let best: Vec<Vec<bool>> =
        (0..3).map(|i| best_mask(&groups.iter().map(|g| g.scores[i].mean).collect::<Vec<_>>())).collect();
    for (r, g) in groups.iter().enumerate() {
        let mut row = Vec::new();
        if show_block {
            row.push(cell(&g.block));
        }
        row.extend(g.key.iter().map(|(_, v)| v.as_ref().map(|v| cell(&value_text(v))).unwrap_or_default()));
        row.push(g.method().map(|m| cell(&m)).unwrap_or_else(|| "—".into()));
        for (i, b) in best.iter().enumerate() {
            row.push(bold_if(fmt_stat(&g.scores[i]), b[r]));
        }
        row.extend([g.done, g.collapsed, g.failed, g.missing].map(|n| n.to_string()));
        t.rows.push(row);
    }
    t
}

/// How a report names its store, so that no report carries a machine's
/// absolute path: a relative path as given on the command line (or in the
/// sweep file); an absolute one under the working folder `cwd` relative to it;
/// any other absolute path as `…/` and its last two components
/// (`/scratch/me/store/cpu-mnist` -> `…/store/cpu-mnist`): docs/reports.md.
pub fn shown_store(store: &Path, cwd: Option<&Path>) -> String {
    if store.is_relative() {
        return store.display().to_string();
    }
    if let Some(rel) = cwd.and_then(|c| store.strip_prefix(c).ok()) {
        return if rel.as_os_str().is_empty() { ".".to_string() } else { rel.display().to_string() };
    }
    let names: Vec<String> = store
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let tail = &names[names.len().saturating_sub(2)..];
    format!("…/{}", tail.join("/"))
}

fn not_done(c: &Collected) -> Vec<NotDone> {
    c.runs
        .iter()
        .filter(|r| !r.is_done())
        .map(|r| NotDone {
            run_id: r.entry.run_id.clone(),
            state: r.state.clone(),
            reason: cell(r.reason().unwrap_or("")),
            label: cell(
                &r.entry.swept.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect::<Vec<_>>().join(", "),
            ),
        })
        .collect()
}

/// Figure 2 of the best done run (highest headline ACC, plan order on ties),
/// drawn from the points the trainer wrote (`figures/tsne.csv`), where it wrote them.
fn tsne_link(c: &Collected, out_dir: &Path) -> Option<Tsne> {
    let mut best: Option<(&RunRecord, f64)> = None;
    for r in c.runs.iter().filter(|r| r.is_done()) {
        if let Some(acc) = r.reported().and_then(|s| s[0]) {
            if best.is_none_or(|(_, b)| acc > b) {
                best = Some((r, acc));
            }
        }
    }
    let (run, acc) = best?;
    let csv = run.dir.join("figures").join("tsne.csv");
    if !csv.is_file() {
        return None;
    }
    // Drawn next to the report's other figures: the report stands on its own
    // (a store is rarely published with it).
    let figs = out_dir.join(crate::report::file_safe(&c.plan.sweep)).join("figures");
    let (png, svg) = (figs.join("tsne-best.png"), figs.join("tsne-best.svg"));
    let title = format!("t-SNE of cluster embeddings, run {}", run.entry.run_id);
    if let Err(e) = super::figures::tsne_figure(&csv, &title, &png, &svg) {
        tracing::warn!("no t-SNE figure in the report: {e:#}");
        return None;
    }
    Some(Tsne {
        run_id: run.entry.run_id.clone(),
        acc: format!("{acc:.3}"),
        png: link(&png, out_dir),
        svg: link(&svg, out_dir),
    })
}

/// `target` as the report in `base` links it: relative when both resolve.
fn link(target: &Path, base: &Path) -> String {
    let rel = match (std::fs::canonicalize(target.parent().unwrap_or(target)), std::fs::canonicalize(base)) {
        (Ok(t), Ok(b)) => Some(relative(&t.join(target.file_name().unwrap_or_default()), &b)),
        _ => None,
    };
    rel.unwrap_or_else(|| target.to_path_buf()).to_string_lossy().replace('\\', "/")
}

fn relative(target: &Path, base: &Path) -> PathBuf {
    let t: Vec<Component> = target.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut p = PathBuf::new();
    for _ in common..b.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c);
    }
    p
}
