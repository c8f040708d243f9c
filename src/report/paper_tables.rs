//! The paper's own tables (Tables III, IV and V and the appendix's), each row
//! of the paper set beside the group of this sweep that matches its setting
//! ([`Matcher`]: from the paper's exact setting to looser ones, every
//! ambiguity written down). The cells are computed here; `render` lays them
//! out through the templates, `latex` as booktabs.
use crate::config::{Backbone, DatasetName};

use super::aggregate::Group;
use super::collect::enum_text;
use super::paper::{self, Scores};
use super::render::{best_mask, bold_if, cell, fmt_stat, Table, TitledTable};

/// Picks the group a paper row is compared with, noting ambiguities.
pub(super) struct Matcher<'a> {
    groups: &'a [Group],
    notes: Vec<String>,
}

impl<'a> Matcher<'a> {
    pub(super) fn new(groups: &'a [Group]) -> Self {
        Self { groups, notes: Vec::new() }
    }

    /// What was written down while matching.
    pub(super) fn into_notes(self) -> Vec<String> {
        self.notes
    }

    /// The first group (plan order) passing the first predicate any group passes;
    /// predicates go from the paper's exact setting to looser ones. When several
    /// groups pass, the choice is written down.
    fn pick(&mut self, what: &str, preds: &[&dyn Fn(&Group) -> bool]) -> Option<&'a Group> {
        for p in preds {
            let hits: Vec<&Group> = self.groups.iter().filter(|g| p(g)).collect();
            if let Some(first) = hits.first() {
                // A run of two blocks is a group in each: the same numbers, not a choice.
                let others: Vec<String> = hits[1..]
                    .iter()
                    .filter(|g| g.run_ids != first.run_ids)
                    .map(|g| format!("`{}`", g.label()))
                    .collect();
                if !others.is_empty() {
                    self.notes.push(format!(
                        "{what}: compared with `{}`; also matching: {}.",
                        first.label(),
                        others.join(", ")
                    ));
                }
                return Some(first);
            }
        }
        None
    }
}

fn cfg_is(g: &Group, f: impl Fn(&crate::config::RunConfig) -> bool) -> bool {
    g.config.as_ref().is_some_and(f)
}

/// One row of a paper-versus-ours table.
struct CompareRow<'a> {
    label: String,
    paper: Option<Scores>,
    ours: Option<&'a Group>,
}

/// `| row | ACC paper | ACC ours | Δ | NMI ... | ARI ... |`, the best paper
/// value and the best of ours in each column in bold, Δ = ours - paper.
fn compare_table(first: &str, rows: &[CompareRow]) -> Table {
    let mut head = vec![(first.to_string(), false)];
    for m in ["ACC", "NMI", "ARI"] {
        head.extend([(format!("{m} paper"), true), (format!("{m} ours"), true), (format!("Δ{m}"), true)]);
    }
    let mut t = Table::new(head);
    let paper: Vec<[Option<f64>; 3]> =
        rows.iter().map(|r| r.paper.map(|s| s.as_array().map(Some)).unwrap_or([None; 3])).collect();
    let ours: Vec<[Option<f64>; 3]> =
        rows.iter().map(|r| r.ours.map(|g| g.scores.map(|s| s.mean)).unwrap_or([None; 3])).collect();
    let best_p: Vec<Vec<bool>> = (0..3).map(|i| best_mask(&paper.iter().map(|p| p[i]).collect::<Vec<_>>())).collect();
    let best_o: Vec<Vec<bool>> = (0..3).map(|i| best_mask(&ours.iter().map(|o| o[i]).collect::<Vec<_>>())).collect();
    for (r, row) in rows.iter().enumerate() {
        let mut cells = vec![cell(&row.label)];
        for i in 0..3 {
            cells.push(paper[r][i].map(|v| bold_if(format!("{v:.3}"), best_p[i][r])).unwrap_or_else(|| "—".into()));
            cells.push(match row.ours {
                Some(g) if g.scores[i].mean.is_none() => {
                    format!("— ({} of {} done)", g.done, g.run_ids.len())
                }
                Some(g) => bold_if(fmt_stat(&g.scores[i]), best_o[i][r]),
                None => "—".into(),
            });
            cells.push(match (paper[r][i], ours[r][i]) {
                (Some(p), Some(o)) => format!("{:+.3}", o - p),
                _ => "—".into(),
            });
        }
        t.rows.push(cells);
    }
    t
}

/// Table III: a sub-table per dataset the sweep ran (all five when it ran none
/// of them), the paper's methods in its order; ours for the methods we train
/// (BYOL, ConCURL, and any other weight setting the sweep holds).
pub(super) fn table3(m: &mut Matcher) -> Vec<TitledTable> {
    let ran: Vec<DatasetName> = paper::TABLE3_DATASETS
        .iter()
        .copied()
        .filter(|d| m.groups.iter().any(|g| cfg_is(g, |c| c.data.dataset == *d)))
        .collect();
    let datasets = if ran.is_empty() { paper::TABLE3_DATASETS.to_vec() } else { ran };
    let mut out = Vec::new();
    for d in datasets {
        let title = paper::dataset_title(d);
        let mut methods: Vec<String> = paper::TABLE3.iter().map(|r| r.method.to_string()).collect();
        for g in m.groups {
            if let Some(name) = g.method().filter(|_| cfg_is(g, |c| c.data.dataset == d)) {
                if !methods.contains(&name) {
                    methods.push(name);
                }
            }
        }
        let rows: Vec<CompareRow> = methods
            .iter()
            .map(|name| {
                let ours = if matches!(name.as_str(), "DCCM" | "GATCluster" | "PICA") {
                    None
                } else {
                    let is = |g: &Group| g.method().as_deref() == Some(name) && cfg_is(g, |c| c.data.dataset == d);
                    let r34 = |g: &Group| is(g) && cfg_is(g, |c| c.model.backbone == Backbone::Resnet34);
                    let g = m.pick(&format!("{title}, {name}"), &[&r34, &is]);
                    if let Some(c) =
                        g.and_then(|g| g.config.as_ref()).filter(|c| c.model.backbone != Backbone::Resnet34)
                    {
                        m.notes.push(format!(
                            "{title}, {name}: ours uses a {} backbone, the paper a ResNet-34.",
                            enum_text(&c.model.backbone)
                        ));
                    }
                    g
                };
                CompareRow { label: name.clone(), paper: paper::table3(name, d), ours }
            })
            .collect();
        out.push(TitledTable { title: title.to_string(), table: compare_table("method", &rows) });
    }
    out
}

/// The appendix's ConCURL with ResNet-18 and ResNet-34 backbones.
pub(super) fn appendix(m: &mut Matcher) -> Table {
    let rows: Vec<CompareRow> = paper::APPENDIX_BACKBONES
        .iter()
        .map(|&(d, b, s)| {
            let label = format!("{} {}", paper::dataset_title(d), enum_text(&b));
            let is = |g: &Group| {
                g.method().as_deref() == Some("ConCURL") && cfg_is(g, |c| c.data.dataset == d && c.model.backbone == b)
            };
            let ours = m.pick(&format!("appendix, {label}"), &[&is]);
            CompareRow { label, paper: Some(s), ours }
        })
        .collect();
    compare_table("dataset, backbone", &rows)
}

/// Ours on the paper's dataset of Tables IV and V, else on whatever the sweep ran.
fn stl10_first<'g>(m: &mut Matcher<'g>, what: &str, is: &dyn Fn(&Group) -> bool) -> Option<&'g Group> {
    let on_stl = |g: &Group| is(g) && cfg_is(g, |c| c.data.dataset == paper::TABLE4_5_DATASET);
    let g = m.pick(what, &[&on_stl, is])?;
    if let Some(c) = g.config.as_ref().filter(|c| c.data.dataset != paper::TABLE4_5_DATASET) {
        m.notes.push(format!("{what}: ours ran on {}, the paper on STL10.", paper::dataset_title(c.data.dataset)));
    }
    Some(g)
}

/// Table IV: the four loss-weight settings.
pub(super) fn table4(m: &mut Matcher) -> Table {
    let rows: Vec<CompareRow> = paper::TABLE4
        .iter()
        .map(|&(name, s)| {
            let is = |g: &Group| g.method().as_deref() == Some(name);
            let ours = stl10_first(m, name, &is);
            CompareRow { label: name.to_string(), paper: Some(s), ours }
        })
        .collect();
    compare_table("setting", &rows)
}

/// Table V: three sub-tables of the transform family, M and d', each with the
/// BYOL reference row.
pub(super) fn table5(m: &mut Matcher) -> Vec<TitledTable> {
    paper::TABLE5
        .iter()
        .map(|part| {
            let mut rows: Vec<CompareRow> = part
                .rows
                .iter()
                .map(|r| {
                    let label = match r.d_prime {
                        Some(d) if part.varies == "d'" => format!("d' = {d}"),
                        _ => format!("M = {}", r.m),
                    };
                    let is = |g: &Group| {
                        g.method().as_deref() == Some("ConCURL")
                            && cfg_is(g, |c| {
                                c.transform.kind == r.kind
                                    && c.transform.m == r.m
                                    && r.d_prime.is_none_or(|d| c.transform.d_prime == d)
                            })
                    };
                    let ours = stl10_first(m, &format!("{}, {label}", part.title), &is);
                    CompareRow { label, paper: Some(r.scores), ours }
                })
                .collect();
            let byol = |g: &Group| g.method().as_deref() == Some("BYOL");
            let ours = stl10_first(m, &format!("{}, BYOL", part.title), &byol);
            rows.push(CompareRow { label: "BYOL (reference)".into(), paper: Some(paper::BYOL_REFERENCE), ours });
            TitledTable { title: part.title.to_string(), table: compare_table(part.varies, &rows) }
        })
        .collect()
}
