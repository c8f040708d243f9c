//! The run config's key schema: which dotted keys a file may set, and each
//! (key, value) checked once against it and against `RunSpec`'s types
//! (`Checker`), so that a bad value is reported where it is written. Also
//! the dotted-key table helpers the builder shares. The schema is derived
//! from the spec types: each table's fields as the deserialiser declares them
//! (`declared_fields`), shaped by an example config ([`keys`],
//! [`missing_from_example`]; docs/architecture.md, "How to add a run-config key").
use std::collections::HashSet;

use serde_json::Value as Json;

use super::located::{Axis, Leaves, Origin, Problem};
use super::spec::RunSpec;
use super::sweepfile::Grid;

/// Checks single keys against `RunConfig`'s schema and types, each (key, value)
/// once, so that a bad value is reported at the place it is written rather than
/// once per run it appears in.
#[derive(Default)]
pub(super) struct Checker {
    schema: Option<Json>,
    seen: HashSet<(String, String)>,
    /// Origins of values found bad: runs using them are not built (their
    /// problem is reported once, here, not again per run).
    pub(super) bad: HashSet<Origin>,
}

impl Checker {
    fn schema(&mut self) -> &Json {
        self.schema.get_or_insert_with(schema)
    }

    pub(super) fn leaves(&mut self, leaves: &Leaves, problems: &mut Vec<Problem>) {
        for (k, l) in leaves {
            self.value(k, &l.value, &l.key_at, &l.value_at, problems);
        }
    }

    fn axis(&mut self, key: &str, axis: &Axis, problems: &mut Vec<Problem>) {
        for (v, at) in &axis.values {
            self.value(key, v, &axis.key_at, at, problems);
        }
    }

    pub(super) fn grid(&mut self, g: &Grid, problems: &mut Vec<Problem>) {
        self.leaves(&g.base, problems);
        for (k, a) in &g.axes {
            self.axis(k, a, problems);
        }
        for z in &g.zip {
            for (k, a) in &z.axes {
                self.axis(k, a, problems);
            }
        }
        for o in g.include.iter().chain(&g.exclude) {
            self.leaves(&o.leaves, problems);
        }
        if let Some(s) = &g.seeds {
            self.axis("seed", s, problems);
        }
        for (k, a) in g.random.iter().flat_map(|r| &r.group.axes) {
            self.axis(k, a, problems);
        }
    }

    /// A table value (e.g. an axis over `data.synthetic = [{classes = 3}, ...]`) is
    /// checked key by key.
    fn value(&mut self, key: &str, v: &toml::Value, key_at: &Origin, at: &Origin, problems: &mut Vec<Problem>) {
        if let toml::Value::Table(t) = v {
            for (k, x) in t {
                self.value(&format!("{key}.{k}"), x, key_at, at, problems);
            }
            return;
        }
        if !self.seen.insert((key.to_string(), format!("{v:?}@{at:?}"))) {
            return;
        }
        if let Err(msg) = schema_check(self.schema(), key) {
            problems.push(Problem::new(key_at.clone(), msg));
            self.bad.insert(at.clone());
            return;
        }
        let mut t = toml::Table::new();
        set_dotted(&mut t, key, v.clone());
        if let Err(e) = toml::Value::Table(t).try_into::<RunSpec>() {
            problems.push(Problem::new(at.clone(), format!("`{key}`: {}", clean_de_error(&e.to_string()))));
            self.bad.insert(at.clone());
        }
    }
}

/// Every key of `RunConfig` as JSON: the example (values give each key's
/// shape: a table, a list, a value) completed from the deserialiser's own field
/// lists ([`declared_fields`]), so that a key cannot be missing from it.
pub(super) fn schema() -> Json {
    let mut v = example();
    complete(&mut v, "");
    v
}

/// The defaults as JSON, with the options that are left out of the
/// serialisation while off (so that runs from before them keep their ids)
/// switched on, so that their shapes are there too. A key forgotten here is
/// still known (added by [`complete`] as a plain value), but a list key would
/// not take a list from `--set`: `config::schema_example_has_every_key` fails.
fn example() -> Json {
    let mut c = RunSpec::default();
    c.model.overcluster = 1;
    c.loss.representation = crate::config::Representation::Simclr;
    c.loss.simclr_temperature = 0.1;
    c.eval.consensus = vec![crate::config::ConsensusFn::Cspa];
    c.self_labelling.epochs = 1;
    c.train.optimizer = crate::config::Optimizer::Lars;
    c.train.momentum = 0.5;
    c.train.trust_coefficient = 0.01;
    c.train.lr_schedule = crate::config::LrSchedule::Cosine;
    c.train.warmup_epochs = 1.0;
    c.train.final_lr = 1.0;
    c.train.freeze_prototypes_steps = 1;
    c.train.cluster_delay_epochs = 1.0;
    c.train.restarts = 2;
    c.train.restart_epochs = 1;
    c.augment.small_crops = 1;
    c.augment.small_crop_size = 1;
    c.augment.small_crop_scale = [0.5, 0.5];
    serde_json::to_value(c).expect("RunSpec serialises to JSON")
}

/// Adds every declared field missing from each table of `node` (at the dotted
/// `path`), as a plain value.
fn complete(node: &mut Json, path: &str) {
    let Some(m) = node.as_object_mut() else { return };
    for f in declared_fields(path).unwrap_or_default() {
        m.entry(f).or_insert(Json::Null);
    }
    for (k, child) in m.iter_mut() {
        complete(child, &super::sweepfile::join_key(path, k));
    }
}

/// A field name no table has.
const PROBE: &str = "__probe__";

/// The fields `RunSpec`'s deserialiser accepts in the table at the dotted
/// `path` (empty: the top level), every one, those left out of the
/// serialisation while off included: read from serde's message for an unknown
/// field (every spec struct denies unknown fields), which lists them. None
/// where `path` is no struct.
fn declared_fields(path: &str) -> Option<Vec<String>> {
    let mut t = toml::Table::new();
    set_dotted(&mut t, &super::sweepfile::join_key(path, PROBE), toml::Value::Integer(0));
    let err = toml::Value::Table(t).try_into::<RunSpec>().err()?.to_string();
    let (_, listed) = err.split_once(&format!("unknown field `{PROBE}`, "))?;
    let listed = listed.lines().next().unwrap_or("");
    // "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, ...".
    Some(listed.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// Every dotted key a run file may set (a table's keys, not the table), as the
/// deserialiser declares them: from the spec types alone, in their field order.
pub fn keys() -> Vec<String> {
    fn walk(path: &str, out: &mut Vec<String>) {
        match declared_fields(path) {
            Some(fields) => fields.iter().for_each(|f| walk(&super::sweepfile::join_key(path, f), out)),
            None => out.push(path.to_string()),
        }
    }
    let mut out = Vec::new();
    walk("", &mut out);
    out
}

/// The keys of [`keys`] that the example in `schema` lacks: an option left
/// out of the serialisation while off and not switched on there. Empty when
/// the schema has every key's shape.
pub fn missing_from_example() -> Vec<String> {
    let mut have = Vec::new();
    leaves(&example(), "", &mut have);
    keys().into_iter().filter(|k| !have.contains(k)).collect()
}

fn leaves(node: &Json, path: &str, out: &mut Vec<String>) {
    match node.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(v, &super::sweepfile::join_key(path, k), out);
            }
        }
        _ => out.push(path.to_string()),
    }
}

/// Is `key` a field of `RunConfig` (walking nested structs by the dotted segments)?
fn schema_check(schema: &Json, key: &str) -> Result<(), String> {
    let mut node = schema;
    let mut path = String::new();
    for seg in key.split('.') {
        match node {
            Json::Object(m) => match m.get(seg) {
                Some(next) => node = next,
                None => {
                    let known: Vec<&str> = m.keys().map(String::as_str).collect();
                    let place = if path.is_empty() { "a run config".to_string() } else { format!("`{path}`") };
                    return Err(format!("unknown key `{key}` ({place} has: {})", known.join(", ")));
                }
            },
            _ => return Err(format!("unknown key `{key}`: `{path}` is a value, not a table")),
        }
        path = if path.is_empty() { seg.to_string() } else { format!("{path}.{seg}") };
    }
    Ok(())
}

/// serde's messages are good; toml adds a trailing newline and an "in `key`"
/// line that we already say ourselves.
pub(super) fn clean_de_error(msg: &str) -> String {
    let names_key = |l: &str| l.starts_with("in `") && l.ends_with('`');
    msg.lines().map(str::trim).filter(|l| !l.is_empty() && !names_key(l)).collect::<Vec<_>>().join("; ")
}

/// Set `value` at a dotted key, creating tables on the way; a table value merges
/// into an existing table instead of replacing it.
pub(super) fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut segs = key.split('.').peekable();
    let mut cur = table;
    while let Some(seg) = segs.next() {
        if segs.peek().is_none() {
            match (cur.get_mut(seg), value) {
                (Some(toml::Value::Table(old)), toml::Value::Table(new)) => {
                    for (k, v) in new {
                        set_dotted(old, &k, v);
                    }
                }
                (_, v) => {
                    cur.insert(seg.to_string(), v);
                }
            }
            return;
        }
        let entry = cur.entry(seg.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
}

pub(super) fn json_at<'j>(v: &'j Json, key: &str) -> Option<&'j Json> {
    key.split('.').try_fold(v, |node, seg| node.get(seg))
}
