//! Located values: where each value of a sweep file was written ([`Origin`]),
//! the problems found there ([`Problem`], [`SweepError`]), the positions of one
//! file's text ([`Source`]) and the shapes both the sweep-file reader
//! (`sweepfile`) and the `[random]` draws (`sample`) build: [`Leaf`], [`Axis`],
//! [`ZipGroup`]. Below both, so neither depends on the other's parser.
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Where something was written: a file and, when the parser gave a span, the
/// 1-based line and column of its first character.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: Arc<PathBuf>,
    pub pos: Option<(usize, usize)>,
}

impl Origin {
    /// A whole-file origin (no line): for problems that belong to no single key.
    pub fn file(file: &Arc<PathBuf>) -> Self {
        Self { file: file.clone(), pos: None }
    }
}

/// One problem found in a sweep or run file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub message: String,
    /// Which block / combination of values produced it (None: the file itself).
    pub context: Option<String>,
}

impl Problem {
    pub fn new(origin: Origin, message: impl Into<String>) -> Self {
        Self { origin, message: message.into(), context: None }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin.file.display())?;
        if let Some((line, col)) = self.origin.pos {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(c) = &self.context {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

/// Every problem found in a sweep file (and the files it extends), collected
/// before anything runs.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SweepError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems (nothing was run):", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// A value set at a dotted key of `RunConfig` (`"transform.m" = 10`).
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub value: toml::Value,
    pub key_at: Origin,
    pub value_at: Origin,
}

/// Dotted key -> value, in file order. Nested tables and dotted keys are
/// flattened, so `[base] data.dataset = "x"` and `[base.data] dataset = "x"` are
/// the same leaf `data.dataset`.
pub type Leaves = IndexMap<String, Leaf>;

/// One swept key and its list of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key_at: Origin,
    pub values: Vec<(toml::Value, Origin)>,
}

/// `[[zip]]`: lists of equal length that move together.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipGroup {
    pub at: Origin,
    pub axes: IndexMap<String, Axis>,
}

/// Positions from byte offsets of one file's text.
pub(crate) struct Source<'a> {
    pub(crate) file: Arc<PathBuf>,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    pub(crate) fn at(&self, span: Range<usize>) -> Origin {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        Origin { file: self.file.clone(), pos: Some((line, col)) }
    }

    pub(crate) fn problem(&self, span: Range<usize>, message: impl Into<String>) -> Problem {
        Problem::new(self.at(span), message)
    }

    /// Parse the whole document; a syntax error is one problem at its span.
    pub(crate) fn parse(&self) -> Result<Spanned<DeTable<'_>>, Problem> {
        DeTable::parse(self.text).map_err(|e| {
            let origin = match e.span() {
                Some(s) => self.at(s),
                None => Origin::file(&self.file),
            };
            Problem::new(origin, format!("TOML syntax: {}", e.message().trim()))
        })
    }
}

impl Source<'_> {
    /// A parsed TOML value as a plain `toml::Value` (spans dropped below this
    /// point). Numbers that cannot be what they say are problems at their own
    /// position: an integer beyond TOML's range (i64) would otherwise be some
    /// other number, and no setting takes `inf` or `nan`.
    pub(crate) fn plain(&self, v: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> toml::Value {
        match v.get_ref() {
            DeValue::String(s) => toml::Value::String(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    problems.push(self.problem(
                        v.span(),
                        format!(
                            "the integer {} is too large (TOML integers end at {}; no setting needs more)",
                            i.as_str(),
                            i64::MAX
                        ),
                    ));
                    toml::Value::Integer(0)
                }
            },
            DeValue::Float(x) => {
                let f: f64 = x.as_str().parse().unwrap_or(f64::NAN);
                if !f.is_finite() {
                    problems.push(self.problem(
                        v.span(),
                        format!("`{}` is not a finite number: every number in a sweep file must be finite", x.as_str()),
                    ));
                }
                toml::Value::Float(if f.is_finite() { f } else { 0.0 })
            }
            DeValue::Boolean(b) => toml::Value::Boolean(*b),
            DeValue::Datetime(d) => toml::Value::Datetime(*d),
            DeValue::Array(a) => toml::Value::Array(a.iter().map(|x| self.plain(x, problems)).collect()),
            DeValue::Table(t) => {
                toml::Value::Table(t.iter().map(|(k, x)| (k.get_ref().to_string(), self.plain(x, problems))).collect())
            }
        }
    }
}

pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}
