//! The built-in dataset: K classes whose class is a texture, generated in memory
//! from a seed (no files), for runs and tests that must not download anything.
//!
//! It is built so that the task needs what ConCURL learns: the class is the kind
//! of pattern alone (stripes across, stripes down, checks, rings, dots,
//! diagonal stripes, cross-hatching, waves), while what dominates the raw pixel
//! distance varies at random per image: the two colours, the pattern's phase,
//! period and a small rotation, a background gradient, a soft distractor blob
//! and pixel noise. k-means on raw pixels therefore groups by colour, not by
//! pattern (tests/it/data.rs checks its accuracy stays low), while features
//! invariant to crops, flips and colour jitter (method.md §5) separate the
//! patterns, and do so from any crop: the pattern fills the image, so two views
//! always share it. (A first version drew one small shape per image; crops then
//! often cut the shape out, leaving colour as the only content the two views
//! shared, and small CPU runs learned nothing in the quickstart's budget.)
//! Every image has its own ChaCha stream seeded from (data.synthetic.seed,
//! index), so the set is the same on every machine and generated in parallel.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::raw::Part;
use crate::config::SyntheticConfig;
use crate::util::mix_seed;

/// Class names, in label order; K classes use the first K. Mirror images stay in
/// their class (diagonal stripes run either way), so horizontal flips, which the
/// augmentation applies, never turn one class into another.
pub const PATTERNS: [&str; 8] =
    ["horizontal_stripes", "vertical_stripes", "checks", "rings", "dots", "diagonal_stripes", "cross_hatch", "waves"];

/// Salt for the class-order shuffle (images use their index as salt).
const SHUFFLE_SALT: u64 = 0x5348_5546_464C_4521;

pub(crate) fn generate(cfg: &SyntheticConfig) -> Part {
    let k = cfg.classes.clamp(1, PATTERNS.len());
    let s = cfg.size as usize;
    // Balanced: per_class of each class, in a seeded random order.
    let mut labels: Vec<i64> = (0..k as i64).flat_map(|c| std::iter::repeat_n(c, cfg.per_class)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(cfg.seed, SHUFFLE_SALT));
    rand::seq::SliceRandom::shuffle(&mut labels[..], &mut rng);
    let images: Vec<Vec<u8>> = labels
        .par_iter()
        .enumerate()
        .map(|(i, &c)| draw(c as usize, s, &mut ChaCha8Rng::seed_from_u64(mix_seed(cfg.seed, i as u64))))
        .collect();
    Part { pixels: images.concat(), labels, channels: 3, height: s, width: s }
}

pub(crate) fn class_names(cfg: &SyntheticConfig) -> Vec<String> {
    PATTERNS[..cfg.classes.clamp(1, PATTERNS.len())].iter().map(|s| s.to_string()).collect()
}

/// The pattern of `class` at (u, v), in units of its period, as a value in
/// about [-1, 1] (positive: foreground). `a` holds per-image random numbers
/// (phases, the sign of the diagonal, the wave's amplitude).
fn pattern(class: usize, u: f64, v: f64, a: &[f64; 4]) -> f64 {
    use std::f64::consts::TAU;
    let stripes = |t: f64, phase: f64| (TAU * t + phase).sin();
    match class {
        0 => stripes(v, a[0]),
        1 => stripes(u, a[0]),
        2 => stripes(u, a[0]) * stripes(v, a[1]) * 1.5,
        3 => stripes(u.hypot(v), a[0]),
        4 => (TAU * u + a[0]).cos() + (TAU * v + a[1]).cos() - 0.8,
        5 => stripes((u + a[2].signum() * v) * std::f64::consts::FRAC_1_SQRT_2, a[0]),
        6 => stripes(u, a[0]).max(stripes(v, a[1])) * 2.0 - 1.0,
        _ => stripes(v + 0.35 * (1.0 + a[3]) * (TAU * u * 0.5 + a[1]).sin(), a[0]),
    }
}

fn draw(class: usize, s: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    use std::f64::consts::TAU;
    let sf = s as f64;
    // Muted colours: a random grey with a random tint. Strong, saturated colours
    // would hand self-supervision a shortcut (two views share their colour) that
    // method.md §5's mild hue jitter does not remove; the raw pixels stay uninformative
    // through the random phase, period and tint.
    let colour = |rng: &mut ChaCha8Rng| {
        let g = rng.random_range(0.15..0.85);
        [0, 1, 2].map(|_| (g + rng.random_range(-0.12..0.12f64)).clamp(0.0, 1.0))
    };
    let bg = colour(rng);
    // Foreground far enough from the background that the pattern is always visible.
    let mut fg = colour(rng);
    for _ in 0..64 {
        let d = (0..3).map(|c| (fg[c] - bg[c]).powi(2)).sum::<f64>().sqrt();
        if d >= 0.4 {
            break;
        }
        fg = colour(rng);
    }
    // Background: a linear gradient of random direction and strength.
    let g_angle = rng.random::<f64>() * TAU;
    let g_amp = rng.random_range(0.0..0.3);
    let (gx, gy) = (g_angle.cos() * g_amp / sf, g_angle.sin() * g_amp / sf);
    // Distractor: a soft blob of a third colour somewhere, over the pattern.
    let blob = colour(rng);
    let (bx, by) = (rng.random::<f64>() * sf, rng.random::<f64>() * sf);
    let b_sigma = rng.random_range(0.08..0.16) * sf;
    // The pattern: period (a fifth to a tenth of the side: crops of the
    // augmentation rescale it, so the period carries no class information),
    // phases, a small rotation, and for rings a random centre.
    let period = rng.random_range(0.1..0.2) * sf;
    let a = [rng.random::<f64>() * TAU, rng.random::<f64>() * TAU, rng.random_range(-1.0..1.0), rng.random::<f64>()];
    let theta = rng.random_range(-10f64..10.0).to_radians();
    let (sin, cos) = theta.sin_cos();
    let (cx, cy) = if class == 3 {
        (rng.random_range(0.2..0.8) * sf, rng.random_range(0.2..0.8) * sf)
    } else {
        (sf / 2.0, sf / 2.0)
    };
    let noise = Normal::new(0.0, 0.03).expect("valid normal");

    let mut out = vec![0u8; 3 * s * s];
    for py in 0..s {
        for px in 0..s {
            let (x, y) = (px as f64 + 0.5, py as f64 + 0.5);
            let (dx, dy) = (x - cx, y - cy);
            let (u, v) = ((cos * dx + sin * dy) / period, (-sin * dx + cos * dy) / period);
            // Soft edges: coverage rises from 0 to 1 across the pattern's zero crossing.
            let cover = (0.5 + 1.5 * pattern(class, u, v, &a)).clamp(0.0, 1.0);
            let grad = gx * (x - sf / 2.0) + gy * (y - sf / 2.0);
            let b_alpha = 0.6 * (-((x - bx).powi(2) + (y - by).powi(2)) / (2.0 * b_sigma * b_sigma)).exp();
            for c in 0..3 {
                let base = bg[c] * (1.0 - cover) + fg[c] * cover + grad;
                let val = base * (1.0 - b_alpha) + blob[c] * b_alpha + noise.sample(rng);
                out[c * s * s + py * s + px] = (val.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    out
}
