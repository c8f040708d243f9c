//! Random search (`[random]` in sweep files, `config::sample`): the draws are
//! deterministic and within their bounds, combine with seeds, axes, blocks,
//! `extends` and `--set` as documented, are validated like written values, and
//! bad blocks are refused at their FILE:LINE:COL.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sweep::config::expand::{load_sweep_with, LoadOptions};
use sweep::config::sample::{draw, round_sig, Dist};
use sweep::config::{load_sweep, Expanded, SweepError};

use crate::common::SWEEP_FILE_BASE as BASE;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load_with(text: &str, sets: &[&str]) -> Result<Expanded, SweepError> {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s.toml", text);
    let opts = LoadOptions { overrides: sets.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    load_sweep_with(&p, &opts)
}

fn load(text: &str) -> Expanded {
    load_with(text, &[]).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

fn ids(e: &Expanded) -> Vec<String> {
    e.plan.runs.iter().map(|r| r.run_id.clone()).collect()
}

/// A sweep over the tiny synthetic base with `extra` after it.
fn sweep(extra: &str) -> String {
    format!("name = \"r\"\n{BASE}{extra}")
}

/// `[random]` drawing `train.lr` (log-uniform) and `loss.tau` (uniform).
fn random(samples: usize) -> String {
    format!(
        "[random]\nsamples = {samples}\nseed = 7\ngenerator = \"chacha8\"\n[random.params]\n\
         \"train.lr\" = {{ dist = \"loguniform\", low = 1e-4, high = 1e-2 }}\n\
         \"loss.tau\" = {{ dist = \"uniform\", low = 0.1, high = 0.9 }}\n"
    )
}

fn lrs(e: &Expanded) -> Vec<f64> {
    e.runs.iter().map(|(_, c)| c.train.lr).collect()
}

fn taus(e: &Expanded) -> Vec<f64> {
    e.runs.iter().map(|(_, c)| c.loss.tau).collect()
}

#[test]
fn the_same_block_draws_the_same_runs_whatever_its_key_order_and_comments() {
    let a = load(&sweep(&random(5)));
    assert_eq!(ids(&a), ids(&load(&sweep(&random(5)))), "twice, the same ids");
    assert_eq!(a.runs.len(), 5);
    let reordered = sweep(
        "[random.params]   # the distributions first\n\
         \"loss.tau\" = { dist = \"uniform\", high = 0.9, low = 0.1 }\n\
         train.lr = { low = 1e-4, dist = \"loguniform\", high = 1e-2 }\n\
         [random]\n# a comment\ngenerator = \"chacha8\"\nseed = 7\nsamples = 5\n",
    );
    let b = load(&reordered);
    assert_eq!(ids(&a), ids(&b), "keys in another order, comments, dotted keys: the same runs");
    assert_eq!(a.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["train.lr", "loss.tau"], "drawn keys are swept");
    let other_seed = load(&sweep(&random(5).replace("seed = 7", "seed = 8")));
    assert!(ids(&a).iter().all(|id| !ids(&other_seed).contains(id)), "another seed draws other runs");
}

#[test]
fn drawing_more_samples_keeps_the_first_ones() {
    let few = load(&sweep(&random(3)));
    let more = load(&sweep(&random(6)));
    assert_eq!(ids(&few), ids(&more)[..3]);
}

#[test]
fn a_key_drawn_beside_others_draws_the_same_values_alone() {
    let both = load(&sweep(&random(4)));
    let alone = load(&sweep(
        "[random]\nsamples = 4\nseed = 7\ngenerator = \"chacha8\"\n[random.params]\n\
         \"loss.tau\" = { dist = \"uniform\", low = 0.1, high = 0.9 }\n",
    ));
    assert_eq!(taus(&both), taus(&alone), "each key has its own stream");
}

#[test]
fn draws_combine_with_seeds_and_axes_as_a_product() {
    let e = load(&format!("name = \"r\"\nseeds = [0, 1, 2]\n{BASE}[axes]\n\"transform.m\" = [4, 8]\n{}", random(5)));
    assert_eq!(e.runs.len(), 3 * 2 * 5);
    let keys: Vec<&String> = e.plan.runs[0].swept.keys().collect();
    assert_eq!(keys, ["seed", "transform.m", "train.lr", "loss.tau"]);
    // The seed moves slowest, the draws fastest: every (seed, m) gets the same 5 draws.
    let first: Vec<f64> = lrs(&e)[..5].to_vec();
    for (i, chunk) in lrs(&e).chunks(5).enumerate() {
        assert_eq!(chunk, first, "grid point {i}");
    }
    assert_eq!(e.runs[0].1.seed, 0);
    assert_eq!(e.runs[29].1.seed, 2);
    assert_eq!((e.runs[4].1.transform.m, e.runs[5].1.transform.m), (4, 8));
    // The size limit counts the draws, before any is built.
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s.toml", &sweep(&random(20)));
    let err = load_sweep_with(&p, &LoadOptions { max_runs: 10, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("[random] samples 20 = 20"), "{err}");
}

#[test]
fn blocks_share_the_top_level_draws_unless_they_carry_their_own() {
    let text = sweep(&format!(
        "{}[[block]]\nname = \"shared\"\n[block.base]\n\"transform.m\" = 5\n\
         [[block]]\nname = \"own\"\n[block.random]\nsamples = 2\nseed = 1\ngenerator = \"chacha8\"\n\
         [block.random.params]\n\"transform.m\" = {{ dist = \"int\", low = 6, high = 40 }}\n",
        random(3)
    ));
    let e = load(&text);
    let of = |b: &str| e.runs.iter().filter(|(p, _)| p.blocks == [b]).collect::<Vec<_>>();
    let (shared, own) = (of("shared"), of("own"));
    assert_eq!((shared.len(), own.len()), (3, 2));
    assert_eq!(own[0].0.swept.keys().collect::<Vec<_>>(), ["transform.m"], "a block's [random] replaces the top's");
    let top = load(&sweep(&random(3)));
    let shared_lrs: Vec<f64> = shared.iter().map(|(_, c)| c.train.lr).collect();
    assert_eq!(shared_lrs, lrs(&top), "the top-level block draws the same values in every block");
}

#[test]
fn extends_inherits_the_random_block_and_a_child_may_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "parent.toml", &sweep(&random(4)));
    let child = write(dir.path(), "child.toml", "name = \"c\"\nextends = \"parent.toml\"\n");
    let parent = load(&sweep(&random(4)));
    let inherited = load_sweep(&child).unwrap();
    assert_eq!(ids(&inherited), ids(&parent));
    let replacing = write(
        dir.path(),
        "child2.toml",
        "name = \"c\"\nextends = \"parent.toml\"\n[random]\nsamples = 2\nseed = 3\ngenerator = \"chacha8\"\n\
         [random.params]\n\"transform.m\" = { dist = \"int\", low = 6, high = 40 }\n",
    );
    let e = load_sweep(&replacing).unwrap();
    assert_eq!(e.runs.len(), 2);
    assert!(lrs(&e).windows(2).all(|w| w[0] == w[1]), "the parent's draws are gone: {:?}", lrs(&e));
    assert_eq!(e.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["transform.m"]);
}

#[test]
fn set_on_a_drawn_key_fixes_it_and_leaves_the_other_draws() {
    let text = sweep(&random(4));
    let plain = load(&text);
    let fixed = load_with(&text, &["train.lr=0.003"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(lrs(&fixed).iter().all(|&lr| lr == 0.003));
    assert_eq!(taus(&fixed), taus(&plain));
    assert_eq!(fixed.plan.runs[0].swept.keys().collect::<Vec<_>>(), ["loss.tau"]);
    let all = load_with(&text, &["train.lr=0.003", "loss.tau=0.5"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.runs.len(), 1, "nothing left to draw: one run");
    let axis = load_with(&text, &["train.lr=[0.001, 0.002]"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(axis.runs.len(), 2 * 4, "a list makes the key an axis, crossed with the other draws");
}

/// (line, col) of `inner` inside the first occurrence of `marker` in `text`.
fn pos_of(text: &str, marker: &str, inner: &str) -> (usize, usize) {
    let at = text.find(marker).unwrap_or_else(|| panic!("{marker:?} not in the text")) + marker.find(inner).unwrap();
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map(|i| i + 1).unwrap_or(0)..].chars().count() + 1;
    (line, col)
}

fn assert_refused(text: &str, needle: &str, marker: &str, inner: &str) {
    let err = load_with(text, &[]).expect_err(needle);
    let hits: Vec<_> = err.problems.iter().filter(|p| p.message.contains(needle)).collect();
    assert!(!hits.is_empty(), "no problem containing {needle:?} in:\n{err}");
    let (line, col) = pos_of(text, marker, inner);
    assert_eq!(hits[0].origin.pos, Some((line, col)), "{needle}: {}", hits[0]);
    assert!(err.to_string().contains(&format!("s.toml:{line}:{col}: ")), "{err}");
}

#[test]
fn bad_distributions_are_refused_where_they_are_written() {
    let head = "[random]\nsamples = 3\nseed = 1\ngenerator = \"chacha8\"\n[random.params]\n";
    // (the distribution, the message, where in the distribution it is located)
    for (param, needle, at) in [
        ("\"loss.tau\" = { dist = \"uniform\", low = 0.5, high = 0.5 }", "must be above `low`", "0.5 }"),
        ("\"transform.m\" = { dist = \"int\", low = 9, high = 3 }", "must be above `low`", "3 }"),
        ("\"train.lr\" = { dist = \"loguniform\", low = 0.0, high = 1.0 }", "needs `low` > 0", "0.0,"),
        ("\"transform.m\" = { dist = \"int\", low = 0, high = 9, log = true }", "needs `low` >= 1", "0, high"),
        ("\"transform.m\" = { dist = \"choice\", values = [] }", "empty list", "[]"),
        ("\"loss.tau\" = { dist = \"normal\", low = 0.1, high = 1.0 }", "unknown distribution", "\"normal\""),
        ("\"loss.tau\" = { dist = \"uniform\", low = 0.1, high = 1.0, mean = 3 }", "unknown key `mean`", "mean"),
        ("\"loss.tau\" = { dist = \"uniform\", low = 0.1, high = 1.0, digits = 16 }", "`digits`", "16"),
        ("\"transform.m\" = { dist = \"int\", low = 1.5, high = 9 }", "`low` must be an integer", "1.5"),
        ("\"loss.tau\" = { dist = \"uniform\", low = 0.1 }", "needs `low` and `high`", "{ dist"),
        ("\"loss.tau\" = 0.5", "must be a distribution", "0.5"),
        ("\"train.lrr\" = { dist = \"uniform\", low = 0.1, high = 1.0 }", "unknown key `train.lrr`", "\"train.lrr\""),
    ] {
        assert_refused(&sweep(&format!("{head}{param}\n")), needle, param, at);
    }
}

#[test]
fn bad_random_settings_are_refused_where_they_are_written() {
    let params = "[random.params]\n\"loss.tau\" = { dist = \"uniform\", low = 0.1, high = 0.9 }\n";
    for (settings, needle, marker, inner) in [
        ("samples = 0\nseed = 1\ngenerator = \"chacha8\"\n", "`samples` must be from 1", "samples = 0", "0"),
        ("samples = 3\nseed = -1\ngenerator = \"chacha8\"\n", "`seed` must be from 0", "seed = -1", "-"),
        ("samples = 3\nseed = 1\ngenerator = \"mt19937\"\n", "unknown generator", "\"mt19937\"", "\""),
        (
            "samples = 3\nseed = 1\ngenerator = \"chacha8\"\ndigits = 0\n",
            "`digits` must be from 1 to 15",
            "digits = 0",
            "0",
        ),
        (
            "samples = 3\nseed = 1\ngenerator = \"chacha8\"\ncount = 3\n",
            "unknown key `count` in [random]",
            "count",
            "c",
        ),
    ] {
        assert_refused(&sweep(&format!("[random]\n{settings}{params}")), needle, marker, inner);
    }
    let err = load_with(&sweep(&format!("[random]\nsamples = 3\ngenerator = \"chacha8\"\n{params}")), &[]).unwrap_err();
    assert!(err.to_string().contains("[random] needs `seed`"), "{err}");
    assert!(err.problems.iter().all(|p| p.origin.pos.is_some()), "{err}");
    let err = load_with(&sweep("[random]\nsamples = 3\nseed = 1\ngenerator = \"chacha8\"\n[random.params]\n"), &[])
        .unwrap_err();
    assert!(err.to_string().contains("lists no key to draw"), "{err}");
}

#[test]
fn drawn_values_are_validated_like_written_ones() {
    let head = "[random]\nsamples = 8\nseed = 1\ngenerator = \"chacha8\"\n[random.params]\n";
    // transform.m = 0 is refused by RunConfig::validate, at the distribution.
    let param = "\"transform.m\" = { dist = \"int\", low = 0, high = 1 }";
    assert_refused(&sweep(&format!("{head}{param}\n")), "the consensus needs at least one transform", param, "{");
    // A float drawn for an integer key is a type error, at the distribution.
    let param = "\"transform.m\" = { dist = \"uniform\", low = 1.0, high = 9.0 }";
    assert_refused(&sweep(&format!("{head}{param}\n")), "`transform.m`", param, "{");
    // A choice's bad value is refused where it is listed.
    let param = "\"model.backbone\" = { dist = \"choice\", values = [\"resnet18\", \"resnet50\"] }";
    assert_refused(&sweep(&format!("{head}{param}\n")), "unknown variant `resnet50`", "\"resnet50\"", "\"");
    // A drawn key swept elsewhere too.
    let text = sweep(&format!("[axes]\n\"loss.tau\" = [0.2]\n{}", random(2)));
    let err = load_with(&text, &[]).unwrap_err();
    assert!(err.to_string().contains("`loss.tau` is swept twice"), "{err}");
}

#[test]
fn plan_shows_the_same_drawn_runs_every_time() {
    let file = crate::common::root().join("sweeps").join("examples").join("random.toml");
    let tmp = tempfile::tempdir().unwrap();
    let plan = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweep"))
            .args(["plan", file.to_str().unwrap(), "--store", tmp.path().join("store").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let (first, second) = (plan(), plan());
    assert_eq!(first, second);
    for id in ids(&load_sweep(&file).unwrap()) {
        assert!(first.contains(&id), "{id} not in:\n{first}");
    }
    assert!(first.contains("train.lr=") && first.contains("transform.d_prime="), "{first}");
}

#[test]
fn random_example_ids_are_pinned() {
    // The draws of sweeps/examples/random.toml, on every machine and across
    // upgrades of rand_chacha: a change here re-draws every random sweep.
    let e = load_sweep(&crate::common::root().join("sweeps").join("examples").join("random.toml")).unwrap();
    assert_eq!(ids(&e), PINNED_RANDOM_IDS);
}

/// 4 draws x seeds 0 and 1, in plan order (the seed moves slowest).
const PINNED_RANDOM_IDS: [&str; 8] = [
    "0f37d58a6b48",
    "b1191ea1f28d",
    "8eefb4e3ed30",
    "fc0674de52ff",
    "a732ea51e4f2",
    "9ba164f691bb",
    "512d86da8655",
    "0461934da6f1",
];

#[test]
fn the_generator_is_pinned() {
    // The first words of one key's stream, through the uniform and integer
    // formulas: `generator = "chacha8"` must mean these forever.
    let u = draw(&Dist::Uniform { low: 0.0, high: 1.0, digits: 15 }, 0, "k", 3);
    assert_eq!(floats(&u), [0.228320400023397, 0.958145923290092, 0.932104237186012]);
    let i = draw(&Dist::Int { low: 0, high: 1_000_000, log: false }, 0, "k", 3);
    assert_eq!(i, [823830, 518229, 518207].map(toml::Value::Integer));
}

#[test]
fn integer_ranges_include_both_ends_and_choices_pick_every_listed_value() {
    let seen = |d: &Dist| draw(d, 3, "x", 400).into_iter().map(|v| v.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(seen(&Dist::Int { low: 1, high: 3, log: false }), ["1", "2", "3"].map(String::from).into());
    assert_eq!(seen(&Dist::Int { low: 1, high: 4, log: true }), ["1", "2", "3", "4"].map(String::from).into());
    let values = vec![toml::Value::from("a"), toml::Value::from("b"), toml::Value::from("c")];
    let picks = draw(&Dist::Choice(values), 3, "x", 600);
    for v in ["a", "b", "c"] {
        let n = picks.iter().filter(|p| p.as_str() == Some(v)).count();
        assert!((150..=250).contains(&n), "{v} picked {n} times in 600");
    }
    // The widest integer range draws without overflow.
    assert_eq!(draw(&Dist::Int { low: i64::MIN, high: i64::MAX, log: false }, 0, "x", 10).len(), 10);
}

fn floats(values: &[toml::Value]) -> Vec<f64> {
    values.iter().map(|v| v.as_float().expect("a float")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn uniform_draws_stay_in_bounds_with_their_digits(
        low in -1e6f64..1e6, width in 1e-6f64..1e6, digits in 1u32..=15, seed: u64, n in 1usize..40,
    ) {
        let high = low + width;
        prop_assume!(low < high);
        let d = Dist::Uniform { low, high, digits };
        let xs = floats(&draw(&d, seed, "k", n));
        prop_assert_eq!(&xs, &floats(&draw(&d, seed, "k", n)));
        for x in xs {
            prop_assert!((low..=high).contains(&x), "{} not in [{}, {}]", x, low, high);
            prop_assert!(x == low || x == high || round_sig(x, digits) == x, "{} has more than {} digits", x, digits);
        }
    }

    #[test]
    fn loguniform_draws_stay_in_bounds(low in 1e-12f64..1e6, ratio in 1.0001f64..1e9, digits in 1u32..=15, seed: u64) {
        let high = low * ratio;
        prop_assume!(low < high && high.is_finite());
        for x in floats(&draw(&Dist::LogUniform { low, high, digits }, seed, "k", 20)) {
            prop_assert!((low..=high).contains(&x), "{} not in [{}, {}]", x, low, high);
        }
    }

    #[test]
    fn int_draws_stay_in_bounds(low in -1_000_000i64..1_000_000, width in 1i64..5_000, log: bool, seed: u64) {
        let low = if log { low.abs().max(1) } else { low };
        let high = low + width;
        for v in draw(&Dist::Int { low, high, log }, seed, "k", 30) {
            let x = v.as_integer().expect("an integer");
            prop_assert!((low..=high).contains(&x), "{} not in [{}, {}]", x, low, high);
        }
    }

    #[test]
    fn choices_pick_only_listed_values(values in prop::collection::vec(any::<i64>(), 1..8), seed: u64) {
        let listed: Vec<toml::Value> = values.iter().map(|&v| toml::Value::Integer(v)).collect();
        for v in draw(&Dist::Choice(listed.clone()), seed, "k", 30) {
            prop_assert!(listed.contains(&v));
        }
    }
}

/// A `[random]` block over real and wrong settings, keys and bounds.
fn random_block_strategy() -> impl Strategy<Value = String> {
    let setting = || prop::sample::select(vec!["0", "1", "3", "-1", "1.5", "\"x\"", "100001", "99999999999999999999"]);
    let number = || {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            Just("inf".to_string()),
            (-3i64..40).prop_map(|i| i.to_string()),
            (-1.0f64..2.0).prop_map(|f| format!("{f:?}")),
        ]
    };
    let dist = (
        prop::sample::select(vec!["train.lr", "loss.tau", "transform.m", "model.backbone", "train", "colour"]),
        prop::sample::select(vec!["\"uniform\"", "\"loguniform\"", "\"int\"", "\"choice\"", "\"normal\"", "3"]),
        number(),
        number(),
        prop::option::of(prop::sample::select(vec!["digits = 0", "digits = 2", "log = true", "log = 1"])),
    );
    let values =
        prop::option::of(prop::sample::select(vec!["[1, 2]", "[\"resnet18\", \"resnet34\"]", "[0.1, \"x\"]", "[]"]));
    (
        setting(),
        setting(),
        prop::sample::select(vec!["\"chacha8\"", "\"pcg\"", "7"]),
        prop::collection::vec((dist, values), 0..4),
    )
        .prop_map(|(samples, seed, generator, params)| {
            let mut t =
                format!("[random]\nsamples = {samples}\nseed = {seed}\ngenerator = {generator}\n[random.params]\n");
            for ((key, dist, low, high, extra), values) in params {
                let extra = extra.map(|e| format!(", {e}")).unwrap_or_default();
                let values = values.map(|v| format!(", values = {v}")).unwrap_or_default();
                t.push_str(&format!("\"{key}\" = {{ dist = {dist}, low = {low}, high = {high}{values}{extra} }}\n"));
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_random_block_expands_or_is_refused_in_place(block in random_block_strategy()) {
        let text = sweep(&block);
        if let Err(e) = load_with(&text, &[]) {
            prop_assert!(!e.problems.is_empty());
            for p in &e.problems {
                prop_assert!(p.origin.file.ends_with("s.toml"), "{}", p);
            }
        }
    }
}
