//! The report header's "ran on" lines, from each run's provenance.json: the
//! device model, ISA level and engine version its attempts ran on (never the
//! host name). One line when every run that ran agrees, otherwise one per
//! setting, saying where one setting's runs ran on different machines or engine
//! versions. A run without provenance.json (from before it was written) is
//! `unknown`; runs that never started are left out.
use serde::Serialize;

use crate::record::Attempt;

use super::aggregate::Group;
use super::collect::{Collected, RunRecord, MISSING};

/// What a run without provenance.json ran on.
const UNKNOWN: &str = "unknown";

/// One "ran on" line of the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RanOn {
    /// The setting ([`Group::label`]); None for the line that covers every run.
    pub setting: Option<String>,
    pub text: String,
}

/// `AMD EPYC 7B13, ISA AVX2, sweep 0.1.0 (ba3ff18c)`: one attempt's device
/// model (else the device's name), ATen's CPU capability and the engine.
fn attempt_text(a: &Attempt) -> String {
    let d = &a.machine.device;
    let model = d.model.as_deref().unwrap_or(&d.name);
    let isa = d.isa.as_deref().unwrap_or(UNKNOWN);
    format!("{model}, ISA {isa}, {}", a.engine.label())
}

/// What one run ran on, each distinct text once in attempt order.
fn run_texts(r: &RunRecord) -> Vec<String> {
    let mut out = Vec::new();
    match &r.provenance {
        Some(p) if !p.attempts.is_empty() => {
            for t in p.attempts.iter().map(attempt_text) {
                push_new(&mut out, t);
            }
        }
        _ => out.push(UNKNOWN.to_string()),
    }
    out
}

fn push_new(v: &mut Vec<String>, t: String) {
    if !v.contains(&t) {
        v.push(t);
    }
}

/// A run some process has started (it has a state beyond pending).
fn ran(r: &RunRecord) -> bool {
    r.state != MISSING && r.state != "pending"
}

/// The text of runs that ran on `texts`: the one text, or all of them with
/// a note that they differ.
fn describe(texts: &[String]) -> String {
    match texts {
        [one] => one.clone(),
        many => format!("different machines or engine versions: {}", many.join("; ")),
    }
}

/// The header's lines (none when no run has started).
pub fn ran_on(c: &Collected, groups: &[Group]) -> Vec<RanOn> {
    let started: Vec<(&RunRecord, Vec<String>)> = c.runs.iter().filter(|r| ran(r)).map(|r| (r, run_texts(r))).collect();
    let Some((_, first)) = started.first() else { return Vec::new() };
    if first.len() == 1 && started.iter().all(|(_, t)| t == first) {
        return vec![RanOn { setting: None, text: first[0].clone() }];
    }
    groups
        .iter()
        .filter_map(|g| {
            let mut texts = Vec::new();
            for (_, t) in started.iter().filter(|(r, _)| g.run_ids.contains(&r.entry.run_id)) {
                for t in t {
                    push_new(&mut texts, t.clone());
                }
            }
            (!texts.is_empty()).then(|| RanOn { setting: Some(g.label()), text: describe(&texts) })
        })
        .collect()
}
