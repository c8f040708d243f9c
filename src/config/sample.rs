//! Random search: a sweep file's `[random]` block (at the top level or in a
//! `[[block]]`), parsed and drawn here; `config::expand` then moves the drawn
//! values together as one more dimension, like a `[[zip]]` group.
//!
//! Determinism: every key under `[random.params]` has its own ChaCha8 stream,
//! seeded with the SHA-256 of `"sweep random chacha8 v1\0"`, the block's `seed`
//! (8 bytes, little-endian) and the key's dotted name. Its values come from the
//! stream's `u64`s by the formulas of [`draw`], written here rather than taken
//! from rand's float sampling (which may change between versions); `exp` and
//! `ln` are the `libm` crate's, the same on every machine. Floats are then
//! rounded to `digits` significant digits. So the draws depend only on the
//! block's parsed contents: not on the order of its keys, its comments, the
//! other keys drawn beside them, or the machine, and drawing more samples keeps
//! the first ones. The format is documented in docs/sweep-files.md ("`[random]`: random search").
use indexmap::IndexMap;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::located::{join_key, type_name, Axis, Origin, Problem, Source, ZipGroup};

/// The generators a `[random]` block may name. Each name fixes the whole
/// recipe (seeding and the formulas of [`draw`]): a change to either gets a new name.
const GENERATORS: &[&str] = &["chacha8"];

/// The most configurations one block draws (the sweep's size limit applies too).
const MAX_SAMPLES: usize = 100_000;

/// Significant digits of drawn floats when the block does not say.
const DEFAULT_DIGITS: u32 = 3;

/// The most significant digits a drawn float keeps (an f64 holds 15 exactly).
const MAX_DIGITS: u32 = 15;

const RANDOM_KEYS: &[&str] = &["samples", "seed", "generator", "digits", "params"];
const DISTS: &[&str] = &["uniform", "loguniform", "int", "choice"];

/// One key's distribution, as `[random.params]` writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// A float in `[low, high]`, uniform.
    Uniform { low: f64, high: f64, digits: u32 },
    /// A float in `[low, high]` whose logarithm is uniform (`low` > 0).
    LogUniform { low: f64, high: f64, digits: u32 },
    /// An integer in `[low, high]`, both ends included; with `log`, its
    /// logarithm is uniform (`low` >= 1).
    Int { low: i64, high: i64, log: bool },
    /// One of the listed values, each as likely.
    Choice(Vec<toml::Value>),
}

/// A parsed and drawn `[random]` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Random {
    /// Where the block was written.
    pub at: Origin,
    /// How many configurations it draws.
    pub samples: usize,
    /// Each drawn key with its `samples` values, in file order; a value is
    /// located at its distribution (a choice: at the listed value picked).
    pub group: ZipGroup,
}

impl Random {
    /// Drops the draws of `key` and of the keys under it (a `--set` fixes
    /// them; the other keys' draws do not move). True when no key is left.
    pub fn forget(&mut self, key: &str) -> bool {
        self.group.axes.retain(|k, _| !(k == key || k.starts_with(&format!("{key}."))));
        self.group.axes.is_empty()
    }
}

/// The `n` values of `key` drawn from `dist` with the block seed `seed`: the
/// `i`-th value is the `i`-th draw of the key's stream, where, with
/// `u = (next_u64 >> 11) * 2^-53` in `[0, 1)` and `lerp(a, b) = a(1-u) + bu`:
/// uniform: `lerp(low, high)`; log-uniform: `exp(lerp(ln low, ln high))`, both
/// rounded to `digits` significant digits (Rust's exact decimal formatting)
/// and clamped into `[low, high]`; int: `low + below(high - low + 1)`; int with
/// log: `floor(exp(lerp(ln low, ln(high + 1))))`, clamped; choice:
/// `values[below(len)]`. `below(n)` takes the first `u64` under the largest
/// multiple of `n` that fits (rejection, so no value is favoured), modulo `n`.
pub fn draw(dist: &Dist, seed: u64, key: &str, n: usize) -> Vec<toml::Value> {
    draw_raw(dist, seed, key, n)
        .into_iter()
        .map(|d| match (d, dist) {
            (Drawn::Value(v), _) => v,
            (Drawn::Pick(i), Dist::Choice(values)) => values[i].clone(),
            (Drawn::Pick(_), _) => unreachable!("only a choice picks"),
        })
        .collect()
}

/// A drawn value, or the index of the listed value a choice picked.
enum Drawn {
    Value(toml::Value),
    Pick(usize),
}

fn draw_raw(dist: &Dist, seed: u64, key: &str, n: usize) -> Vec<Drawn> {
    let mut rng = stream(seed, key);
    (0..n).map(|_| draw_one(dist, &mut rng)).collect()
}

fn stream(seed: u64, key: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"sweep random chacha8 v1\0");
    h.update(seed.to_le_bytes());
    h.update(key.as_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

fn draw_one(dist: &Dist, rng: &mut ChaCha8Rng) -> Drawn {
    match dist {
        Dist::Uniform { low, high, digits } => {
            let x = lerp(*low, *high, unit(rng));
            Drawn::Value(toml::Value::Float(round_sig(x, *digits).clamp(*low, *high)))
        }
        Dist::LogUniform { low, high, digits } => {
            let x = libm::exp(lerp(libm::log(*low), libm::log(*high), unit(rng)));
            Drawn::Value(toml::Value::Float(round_sig(x, *digits).clamp(*low, *high)))
        }
        Dist::Int { low, high, log: false } => {
            let span = (*high as i128 - *low as i128 + 1) as u128;
            Drawn::Value(toml::Value::Integer((*low as i128 + below(rng, span) as i128) as i64))
        }
        Dist::Int { low, high, log: true } => {
            let x = libm::exp(lerp(libm::log(*low as f64), libm::log(*high as f64 + 1.0), unit(rng)));
            Drawn::Value(toml::Value::Integer((libm::floor(x) as i64).clamp(*low, *high)))
        }
        Dist::Choice(values) => Drawn::Pick(below(rng, values.len() as u128) as usize),
    }
}

/// A float in `[0, 1)` from the top 53 bits of one `u64` (exact).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn lerp(a: f64, b: f64, u: f64) -> f64 {
    a * (1.0 - u) + b * u
}

/// An integer in `[0, n)` for `1 <= n <= 2^64`, unbiased (rejection sampling).
fn below(rng: &mut ChaCha8Rng, n: u128) -> u128 {
    if n > u64::MAX as u128 {
        return rng.next_u64() as u128;
    }
    let n = n as u64;
    // 2^64 mod n values at the top would favour the small residues.
    let cut = u64::MAX - (u64::MAX - n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= cut {
            return (x % n) as u128;
        }
    }
}

/// `x` rounded to `digits` significant digits, through Rust's decimal
/// formatting (exact and the same on every platform).
pub fn round_sig(x: f64, digits: u32) -> f64 {
    let digits = digits.clamp(1, MAX_DIGITS) as usize;
    format!("{:.*e}", digits - 1, x).parse().unwrap_or(x)
}

/// The block's own settings, as far as they could be read.
#[derive(Default)]
struct Head<'a, 'i> {
    samples: Option<usize>,
    seed: Option<u64>,
    generator: Option<String>,
    digits: Option<u32>,
    params: Option<&'a Spanned<DeValue<'i>>>,
}

/// Parses and draws one `[random]` block. Every problem is pushed at its
/// place; None when the block cannot be drawn (no valid samples, seed,
/// generator or key).
pub(crate) fn parse(src: &Source<'_>, v: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<Random> {
    let DeValue::Table(t) = v.get_ref() else {
        let found = type_name(v.get_ref());
        problems.push(src.problem(v.span(), format!("`random` must be a table ([random]), found {found}")));
        return None;
    };
    let head = parse_head(src, t, problems);
    let missing = |what: &str, why: &str| src.problem(v.span(), format!("[random] needs `{what}` ({why})"));
    for (absent, what, why) in [
        (head.samples.is_none(), "samples", "how many configurations to draw"),
        (head.seed.is_none(), "seed", "the draws' seed, written so that every machine draws the same"),
        (head.generator.is_none(), "generator", "the generator's name: \"chacha8\""),
        (head.params.is_none(), "params", "a table of distributions, [random.params]"),
    ] {
        // A setting written but refused has its own problem already.
        if absent && !t.iter().any(|(k, _)| k.get_ref() == what) {
            problems.push(missing(what, why));
        }
    }
    let params = parse_params(src, head.params?, head.digits.unwrap_or(DEFAULT_DIGITS), problems);
    let (samples, seed) = (head.samples?, head.seed?);
    head.generator?;
    let mut axes = IndexMap::new();
    for p in params {
        axes.insert(p.key.clone(), p.drawn(seed, samples));
    }
    if axes.is_empty() {
        return None;
    }
    let at = src.at(v.span());
    Some(Random { at: at.clone(), samples, group: ZipGroup { at, axes } })
}

fn parse_head<'a, 'i>(src: &Source<'_>, t: &'a DeTable<'i>, problems: &mut Vec<Problem>) -> Head<'a, 'i> {
    let mut head = Head::default();
    for (k, x) in t.iter() {
        let key: &str = k.get_ref();
        match key {
            "samples" => head.samples = int_in(src, key, x, 1, MAX_SAMPLES as i64, problems).map(|n| n as usize),
            "seed" => head.seed = int_in(src, key, x, 0, i64::MAX, problems).map(|n| n as u64),
            "digits" => head.digits = digits(src, x, problems),
            "generator" => head.generator = generator(src, x, problems),
            "params" => head.params = Some(x),
            _ => problems.push(src.problem(
                k.span(),
                format!("unknown key `{key}` in [random] (expected one of: {})", RANDOM_KEYS.join(", ")),
            )),
        }
    }
    head
}

fn generator(src: &Source<'_>, x: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<String> {
    match x.get_ref() {
        DeValue::String(s) if GENERATORS.contains(&s.as_ref()) => Some(s.to_string()),
        DeValue::String(s) => {
            let msg = format!("unknown generator {:?} (known: {})", s.as_ref(), GENERATORS.join(", "));
            problems.push(src.problem(x.span(), msg));
            None
        }
        other => {
            let msg = format!("`generator` must be a string such as \"chacha8\", found {}", type_name(other));
            problems.push(src.problem(x.span(), msg));
            None
        }
    }
}

fn digits(src: &Source<'_>, x: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<u32> {
    int_in(src, "digits", x, 1, MAX_DIGITS as i64, problems).map(|d| d as u32)
}

/// An integer setting in `[lo, hi]`; anything else is a problem at the value.
fn int_in(
    src: &Source<'_>,
    name: &str,
    x: &Spanned<DeValue<'_>>,
    lo: i64,
    hi: i64,
    problems: &mut Vec<Problem>,
) -> Option<i64> {
    let before = problems.len();
    let value = src.plain(x, problems);
    if problems.len() > before {
        return None;
    }
    let msg = match value {
        toml::Value::Integer(n) if (lo..=hi).contains(&n) => return Some(n),
        toml::Value::Integer(n) => format!("`{name}` must be from {lo} to {hi}, found {n}"),
        _ => format!("`{name}` must be an integer from {lo} to {hi}, found {}", type_name(x.get_ref())),
    };
    problems.push(src.problem(x.span(), msg));
    None
}

/// One key's distribution with the places it was written.
struct Param {
    key: String,
    key_at: Origin,
    at: Origin,
    dist: Dist,
    /// A choice's listed values' places.
    choice_at: Vec<Origin>,
}

impl Param {
    fn drawn(&self, seed: u64, samples: usize) -> Axis {
        let values = draw_raw(&self.dist, seed, &self.key, samples)
            .into_iter()
            .map(|d| match (d, &self.dist) {
                (Drawn::Value(v), _) => (v, self.at.clone()),
                (Drawn::Pick(i), Dist::Choice(values)) => (values[i].clone(), self.choice_at[i].clone()),
                (Drawn::Pick(_), _) => unreachable!("only a choice picks"),
            })
            .collect();
        Axis { key_at: self.key_at.clone(), values }
    }
}

/// `[random.params]`: dotted keys (as in `[axes]`) to distributions, a
/// distribution being a table with a `dist` key.
fn parse_params(src: &Source<'_>, v: &Spanned<DeValue<'_>>, digits: u32, problems: &mut Vec<Problem>) -> Vec<Param> {
    let DeValue::Table(t) = v.get_ref() else {
        let found = type_name(v.get_ref());
        problems.push(src.problem(v.span(), format!("`params` must be a table ([random.params]), found {found}")));
        return Vec::new();
    };
    let mut out = Vec::new();
    walk_params(src, "", t, digits, &mut out, problems);
    if t.is_empty() {
        problems.push(src.problem(v.span(), "[random.params] lists no key to draw"));
    }
    out
}

fn walk_params(
    src: &Source<'_>,
    prefix: &str,
    t: &DeTable<'_>,
    digits: u32,
    out: &mut Vec<Param>,
    problems: &mut Vec<Problem>,
) {
    for (k, x) in t.iter() {
        let key = join_key(prefix, k.get_ref());
        match x.get_ref() {
            DeValue::Table(inner) if inner.get("dist").is_some() => {
                if out.iter().any(|p: &Param| p.key == key) {
                    problems.push(src.problem(k.span(), format!("`{key}` is drawn twice in [random.params]")));
                } else if let Some(dist) = parse_dist(src, x, inner, digits, problems) {
                    let (dist, choice_at) = dist;
                    out.push(Param { key, key_at: src.at(k.span()), at: src.at(x.span()), dist, choice_at });
                }
            }
            DeValue::Table(inner) => walk_params(src, &key, inner, digits, out, problems),
            other => problems.push(src.problem(
                x.span(),
                format!(
                    "`{key}` in [random.params] must be a distribution such as {{ dist = \"uniform\", low = 0.0, high = 1.0 }}, found {}",
                    type_name(other)
                ),
            )),
        }
    }
}

/// The keys each distribution takes.
fn dist_keys(dist: &str) -> &'static [&'static str] {
    match dist {
        "uniform" | "loguniform" => &["dist", "low", "high", "digits"],
        "int" => &["dist", "low", "high", "log"],
        _ => &["dist", "values"],
    }
}

/// One distribution table (`{ dist = "...", ... }`), checked; with a choice's
/// listed values' places.
fn parse_dist(
    src: &Source<'_>,
    v: &Spanned<DeValue<'_>>,
    t: &DeTable<'_>,
    digits: u32,
    problems: &mut Vec<Problem>,
) -> Option<(Dist, Vec<Origin>)> {
    let d = t.get("dist").expect("called on tables with `dist`");
    let name = match d.get_ref() {
        DeValue::String(s) if DISTS.contains(&s.as_ref()) => s.to_string(),
        other => {
            let shown = match other {
                DeValue::String(s) => format!("{:?}", s.as_ref()),
                _ => type_name(other).to_string(),
            };
            let msg = format!("unknown distribution {shown} (expected one of: {})", DISTS.join(", "));
            problems.push(src.problem(d.span(), msg));
            return None;
        }
    };
    let before = problems.len();
    for (k, _) in t.iter() {
        if !dist_keys(&name).contains(&k.get_ref().as_ref()) {
            let msg = format!(
                "unknown key `{}` in a `{name}` distribution (expected one of: {})",
                k.get_ref(),
                dist_keys(&name).join(", ")
            );
            problems.push(src.problem(k.span(), msg));
        }
    }
    let dist = match name.as_str() {
        "uniform" | "loguniform" => float_dist(src, v, t, &name, digits, problems),
        "int" => int_dist(src, v, t, problems),
        _ => return choice_dist(src, t, problems).filter(|_| problems.len() == before),
    };
    dist.filter(|_| problems.len() == before).map(|d| (d, Vec::new()))
}

/// `low` and `high`, both present (a problem at the table when not).
fn bounds<'a, 'i>(
    src: &Source<'_>,
    v: &Spanned<DeValue<'_>>,
    t: &'a DeTable<'i>,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<(&'a Spanned<DeValue<'i>>, &'a Spanned<DeValue<'i>>)> {
    match (t.get("low"), t.get("high")) {
        (Some(lo), Some(hi)) => Some((lo, hi)),
        _ => {
            problems.push(src.problem(v.span(), format!("a `{name}` distribution needs `low` and `high`")));
            None
        }
    }
}

fn float_dist(
    src: &Source<'_>,
    v: &Spanned<DeValue<'_>>,
    t: &DeTable<'_>,
    name: &str,
    default_digits: u32,
    problems: &mut Vec<Problem>,
) -> Option<Dist> {
    let digits = match t.get("digits") {
        Some(x) => digits(src, x, problems)?,
        None => default_digits,
    };
    let (lo, hi) = bounds(src, v, t, name, problems)?;
    let number = |x: &Spanned<DeValue<'_>>, which: &str, problems: &mut Vec<Problem>| match src.plain(x, problems) {
        toml::Value::Integer(n) => Some(n as f64),
        toml::Value::Float(f) => Some(f),
        _ => {
            let msg = format!("`{which}` must be a number, found {}", type_name(x.get_ref()));
            problems.push(src.problem(x.span(), msg));
            None
        }
    };
    let (low, high) = (number(lo, "low", problems), number(hi, "high", problems));
    let (low, high) = (low?, high?);
    if low >= high {
        problems.push(src.problem(hi.span(), format!("`high` = {high} must be above `low` = {low}")));
        return None;
    }
    if name == "loguniform" {
        if low <= 0.0 {
            problems.push(src.problem(lo.span(), format!("a `loguniform` distribution needs `low` > 0, found {low}")));
            return None;
        }
        return Some(Dist::LogUniform { low, high, digits });
    }
    Some(Dist::Uniform { low, high, digits })
}

fn int_dist(src: &Source<'_>, v: &Spanned<DeValue<'_>>, t: &DeTable<'_>, problems: &mut Vec<Problem>) -> Option<Dist> {
    let log = match t.get("log").map(|x| (x, x.get_ref())) {
        None => false,
        Some((_, DeValue::Boolean(b))) => *b,
        Some((x, other)) => {
            problems.push(src.problem(x.span(), format!("`log` must be true or false, found {}", type_name(other))));
            return None;
        }
    };
    let (lo, hi) = bounds(src, v, t, "int", problems)?;
    let (low, high) =
        (int_in(src, "low", lo, i64::MIN, i64::MAX, problems), int_in(src, "high", hi, i64::MIN, i64::MAX, problems));
    let (low, high) = (low?, high?);
    if low >= high {
        problems.push(src.problem(hi.span(), format!("`high` = {high} must be above `low` = {low}")));
        return None;
    }
    if log && low < 1 {
        problems.push(
            src.problem(lo.span(), format!("an `int` distribution with `log = true` needs `low` >= 1, found {low}")),
        );
        return None;
    }
    Some(Dist::Int { low, high, log })
}

fn choice_dist(src: &Source<'_>, t: &DeTable<'_>, problems: &mut Vec<Problem>) -> Option<(Dist, Vec<Origin>)> {
    let Some(x) = t.get("values") else {
        let d = t.get("dist").expect("called on tables with `dist`");
        problems.push(src.problem(d.span(), "a `choice` distribution needs `values`, a list"));
        return None;
    };
    let DeValue::Array(items) = x.get_ref() else {
        let msg = format!("`values` must be a list, found {}", type_name(x.get_ref()));
        problems.push(src.problem(x.span(), msg));
        return None;
    };
    if items.is_empty() {
        problems.push(src.problem(x.span(), "`values` of a `choice` distribution is an empty list"));
        return None;
    }
    let values = items.iter().map(|i| src.plain(i, problems)).collect();
    let at = items.iter().map(|i| src.at(i.span())).collect();
    Some((Dist::Choice(values), at))
}
