//! The built-in dataset: K classes whose class is a shape, generated in memory
//! from a seed (no files), for runs and tests that must not download anything.
//!
//! It is built so that the task needs what ConCURL learns: the class is the
//! shape alone, while what dominates the raw pixel distance varies at random per
//! image: background colour and gradient, foreground colour, the shape's
//! position, scale and (a little) rotation, a second, soft distractor blob and
//! pixel noise. k-means on raw pixels therefore groups by colour and place, not
//! by shape (tests/it/data.rs checks its accuracy stays low), while features
//! invariant to crops, flips and colour jitter (SPEC section 5) separate shapes.
//! Shapes are drawn from signed distance functions with one pixel of
//! anti-aliasing. Every image has its own ChaCha stream seeded from
//! (data.synthetic.seed, index), so the set is the same on every machine and
//! generated in parallel.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::raw::Part;
use crate::config::SyntheticConfig;
use crate::util::mix_seed;

/// Class names, in label order; K classes use the first K.
pub const SHAPES: [&str; 8] =
    ["disc", "square", "triangle", "cross", "ring", "horizontal_bars", "vertical_bars", "diamond"];

/// Salt for the class-order shuffle (images use their index as salt).
const SHUFFLE_SALT: u64 = 0x5348_5546_464C_4521;

pub(crate) fn generate(cfg: &SyntheticConfig) -> Part {
    let k = cfg.classes.clamp(1, SHAPES.len());
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
    SHAPES[..cfg.classes.clamp(1, SHAPES.len())].iter().map(|s| s.to_string()).collect()
}

/// Signed distance (negative inside) to an axis-aligned box of half sizes (bx, by).
fn sd_box(x: f64, y: f64, bx: f64, by: f64) -> f64 {
    let (qx, qy) = (x.abs() - bx, y.abs() - by);
    qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0)
}

/// Equilateral triangle of half side `r` (Inigo Quilez's exact distance).
fn sd_triangle(mut x: f64, mut y: f64, r: f64) -> f64 {
    let k = 3f64.sqrt();
    x = x.abs() - r;
    y += r / k;
    if x + k * y > 0.0 {
        (x, y) = ((x - k * y) / 2.0, (-k * x - y) / 2.0);
    }
    x -= x.clamp(-2.0 * r, 0.0);
    -x.hypot(y) * y.signum()
}

/// Distance to shape `class` in its own frame, where the shape spans about [-1, 1].
fn shape_sd(class: usize, x: f64, y: f64) -> f64 {
    let bars = |a: f64, b: f64| (-1..=1).map(|k| sd_box(a, b - 0.6 * k as f64, 0.9, 0.17)).fold(f64::MAX, f64::min);
    match class {
        0 => x.hypot(y) - 0.9,
        1 => sd_box(x, y, 0.75, 0.75),
        2 => sd_triangle(x, y - 0.15, 0.95),
        3 => sd_box(x, y, 0.95, 0.27).min(sd_box(x, y, 0.27, 0.95)),
        4 => (x.hypot(y) - 0.7).abs() - 0.2,
        5 => bars(x, y),
        6 => bars(y, x),
        _ => {
            let h = std::f64::consts::FRAC_1_SQRT_2;
            sd_box(h * (x + y), h * (y - x), 0.65, 0.65)
        }
    }
}

/// Rotation range (radians, +-) per shape: none where it is meaningless (disc,
/// ring), small where a large one would turn the shape into another class
/// (square vs diamond, horizontal vs vertical bars).
fn max_rotation(class: usize) -> f64 {
    match class {
        0 | 4 => 0.0,
        2 => 20f64.to_radians(),
        _ => 15f64.to_radians(),
    }
}

fn draw(class: usize, s: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let sf = s as f64;
    let colour = |rng: &mut ChaCha8Rng| [rng.random::<f64>(), rng.random::<f64>(), rng.random::<f64>()];
    let bg = colour(rng);
    // Foreground far enough from the background that the shape is always visible.
    let mut fg = colour(rng);
    for _ in 0..32 {
        let d = (0..3).map(|c| (fg[c] - bg[c]).powi(2)).sum::<f64>().sqrt();
        if d >= 0.45 {
            break;
        }
        fg = colour(rng);
    }
    // Background: a linear gradient of random direction and strength.
    let g_angle = rng.random::<f64>() * std::f64::consts::TAU;
    let g_amp = rng.random_range(0.0..0.35);
    let (gx, gy) = (g_angle.cos() * g_amp / sf, g_angle.sin() * g_amp / sf);
    // Distractor: a soft blob of a third colour somewhere, drawn behind the shape.
    let blob = colour(rng);
    let (bx, by) = (rng.random::<f64>() * sf, rng.random::<f64>() * sf);
    // Smaller and fainter than the shape: a nuisance for pixel distances, not a
    // second object that competes with the shape for the views' shared content.
    let b_sigma = rng.random_range(0.05..0.10) * sf;
    // The shape: radius, centre (mostly inside the image), rotation.
    let radius = rng.random_range(0.22..0.36) * sf;
    let cx = rng.random_range(radius * 0.8..sf - radius * 0.8);
    let cy = rng.random_range(radius * 0.8..sf - radius * 0.8);
    let rot = max_rotation(class);
    let theta = if rot > 0.0 { rng.random_range(-rot..rot) } else { 0.0 };
    let (sin, cos) = theta.sin_cos();
    let noise = Normal::new(0.0, 0.03).expect("valid normal");

    let mut out = vec![0u8; 3 * s * s];
    for py in 0..s {
        for px in 0..s {
            let (x, y) = (px as f64 + 0.5, py as f64 + 0.5);
            let (dx, dy) = (x - cx, y - cy);
            // Into the shape's frame: rotate by -theta, scale by the radius.
            let (u, v) = ((cos * dx + sin * dy) / radius, (-sin * dx + cos * dy) / radius);
            // Coverage from the distance in pixels: 1 inside, 0 outside, linear over one pixel.
            let cover = (0.5 - shape_sd(class, u, v) * radius).clamp(0.0, 1.0);
            let grad = gx * (x - sf / 2.0) + gy * (y - sf / 2.0);
            let b_alpha = 0.6 * (-((x - bx).powi(2) + (y - by).powi(2)) / (2.0 * b_sigma * b_sigma)).exp();
            for c in 0..3 {
                let back = (bg[c] + grad) * (1.0 - b_alpha) + blob[c] * b_alpha;
                let val = back * (1.0 - cover) + fg[c] * cover + noise.sample(rng);
                out[c * s * s + py * s + px] = (val.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    out
}
