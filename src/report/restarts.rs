//! The report's section on restarts (`train.restarts`, method.md §13): per run,
//! each candidate's L2 and ACC at the choice, which one the label-free choice
//! kept, which one the labels would have, and where the run ended.
use super::aggregate::Group;
use super::collect::Collected;
use super::render::{cell, Table};

/// One row per done run with a `restarts.json`, in plan order, and how often
/// the choice kept the candidate that was best by ACC at the choice. None
/// when no run had restarts.
pub(super) fn restarts_table(c: &Collected, groups: &[Group]) -> Option<(Table, String)> {
    let head = ["setting", "seed", "candidates: L2 / ACC at the choice", "kept", "best by ACC", "final ACC"];
    let mut t = Table::new(head.iter().enumerate().map(|(i, h)| (h.to_string(), i == 1 || i >= 3)).collect());
    let (mut agreed, mut counted) = (0, 0);
    for run in c.runs.iter().filter(|r| r.is_done()) {
        let Some(r) = &run.restarts else { continue };
        let group = groups.iter().find(|g| g.run_ids.contains(&run.entry.run_id));
        let setting = group.map_or_else(|| run.entry.blocks.join(", "), |g| g.label());
        let seed = run.config.as_ref().map_or_else(|| "?".into(), |c| c.seed.to_string());
        let shown: Vec<String> = r
            .candidates
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let acc = k.acc.map_or_else(|| "—".into(), |a| format!("{a:.3}"));
                format!("{i}: {:.3} / {acc}", k.l2)
            })
            .collect();
        let best = r
            .candidates
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((i, k.acc?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        if let Some(b) = best {
            counted += 1;
            agreed += usize::from(b == r.chosen);
        }
        let final_acc = run.reported().and_then(|s| s[0]).map_or_else(|| "—".into(), |a| format!("{a:.3}"));
        t.rows.push(vec![
            cell(&setting),
            seed,
            shown.join("; "),
            r.chosen.to_string(),
            best.map_or_else(|| "—".into(), |b| b.to_string()),
            final_acc,
        ]);
    }
    if t.rows.is_empty() {
        return None;
    }
    let summary =
        format!("The label-free choice kept the candidate best by ACC at the choice in {agreed} of {counted} runs.");
    Some((t, summary))
}
