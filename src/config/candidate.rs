//! One run built from its settings: the values set at their dotted keys into
//! one table (remembering where each was written), `data.root` resolved,
//! deserialised into `RunSpec`, resolved into `RunConfig` and validated, each
//! problem located at the value that caused it.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::located::{Origin, Problem};
use super::run::RunConfig;
use super::schema::{clean_de_error, set_dotted};
use super::spec::RunSpec;

/// One value set into a run's table, with where it was written.
#[derive(Clone, Copy)]
pub(super) struct Set<'a> {
    pub(super) key: &'a str,
    pub(super) value: &'a toml::Value,
    pub(super) at: &'a Origin,
}

/// Which origin set each key of one run (later entries win).
pub(super) struct Provenance(Vec<(String, Origin)>);

impl Provenance {
    /// The origin to blame for a message about `key`: the exact key, else the
    /// table value that contains it, else a key inside it.
    fn locate(&self, key: &str) -> Option<&Origin> {
        let exact = self.0.iter().rev().find(|(k, _)| k == key);
        let outer =
            || self.0.iter().rev().filter(|(k, _)| key.starts_with(&format!("{k}."))).max_by_key(|(k, _)| k.len());
        let inner = || self.0.iter().rev().find(|(k, _)| k.starts_with(&format!("{key}.")));
        exact.or_else(outer).or_else(inner).map(|(_, o)| o)
    }
}

/// Assemble, fix up `data.root`, deserialise and resolve one run's config.
pub(super) fn build(
    sets: &[Set<'_>],
    fallback: &Origin,
    data_home: &Path,
) -> Result<(RunConfig, Provenance), Vec<Problem>> {
    let mut table = toml::Table::new();
    let mut prov = Vec::with_capacity(sets.len());
    for s in sets {
        set_dotted(&mut table, s.key, s.value.clone());
        prov.push((s.key.to_string(), s.at.clone()));
    }
    let prov = Provenance(prov);
    let mut problems = Vec::new();
    if let Some(root) = table.get_mut("data").and_then(|d| d.get_mut("root")) {
        let at = prov.locate("data.root").unwrap_or(fallback);
        if let toml::Value::String(s) = root {
            match expand_root(s, at, data_home) {
                Ok(p) => *s = p.to_string_lossy().into_owned(),
                Err(msg) => problems.push(Problem::new(at.clone(), msg)),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    match toml::Value::Table(table).try_into::<RunSpec>() {
        Ok(mut spec) => {
            // No data.root: the dataset's standard folder in the data folder
            // (where `sweep data fetch` puts it). Not part of the run's identity.
            if spec.data.root.is_none() {
                spec.data.root = spec.data.dataset.standard_folder().map(|f| data_home.join(f));
            }
            match spec.resolve() {
                Ok(cfg) => Ok((cfg, prov)),
                Err(msg) => Err(vec![Problem::new(prov.locate(message_key(&msg)).unwrap_or(fallback).clone(), msg)]),
            }
        }
        // Single keys were checked already; this is a combination that only fails
        // as a whole (e.g. a table and a value written at the same key).
        Err(e) => Err(vec![Problem::new(fallback.clone(), clean_de_error(&e.to_string()))]),
    }
}

/// `data.root` as the file `file` wrote it, resolved as in run and sweep files
/// (for readers of a bare `[data]` table, such as `sweep predict`).
pub fn resolve_data_root(raw: &Path, file: &Path, data_home: &Path) -> Result<PathBuf, String> {
    expand_root(&raw.to_string_lossy(), &Origin::file(&Arc::new(file.to_path_buf())), data_home)
}

/// `$SWEEP_DATA` at the start expands to the data folder `data_home`
/// ([`crate::config::Environment::data_home`]: the variable, else the user's
/// cache folder); a relative path is taken from the folder of the file that
/// wrote it.
fn expand_root(raw: &str, at: &Origin, data_home: &Path) -> Result<PathBuf, String> {
    let var = format!("${}", crate::config::environment::DATA_ENV);
    let expanded = match raw.strip_prefix(&var) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => data_home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(raw),
    };
    if expanded.is_absolute() {
        return Ok(expanded);
    }
    let file = std::path::absolute(at.file.as_path()).unwrap_or_else(|_| at.file.to_path_buf());
    Ok(file.parent().unwrap_or(Path::new("/")).join(expanded))
}

/// The key a `RunConfig::validate` message is about: its leading dotted name.
fn message_key(msg: &str) -> &str {
    let end = msg.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(msg.len());
    msg[..end].trim_end_matches('.')
}

pub(super) fn located_validation(cfg: &RunConfig, prov: &Provenance, fallback: &Origin) -> Vec<Problem> {
    cfg.validate()
        .into_iter()
        .map(|msg| {
            let at = prov.locate(message_key(&msg)).unwrap_or(fallback);
            Problem::new(at.clone(), msg)
        })
        .collect()
}
