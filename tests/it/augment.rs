//! Batched augmentations: shapes, per-image randomness, seeding, the blur
//! probability per view, exact identity settings, and the colour / blur / flip
//! maths pinned to independent references (Python's `colorsys`, torchvision's
//! kernel formula, a plain index flip).
use sweep::augment::{blur, color, Augmenter};
use sweep::config::{RunConfig, RunSpec, SobelMode};
use tch::{Device, Kind, Tensor};

/// torch's generator is global to the process and the test harness runs tests on
/// several threads: tests that assert on seeded draws hold this lock so no other
/// test of this module or of data.rs draws in between. (Tests of other modules can still draw
/// concurrently; a process-wide lock in tests/it/common.rs would close that.)
pub(crate) use crate::common::TORCH_RNG as RNG;

fn cfg(res: u32) -> RunConfig {
    let mut c = RunSpec::default();
    c.data.synthetic.size = res;
    c.resolve().unwrap()
}

/// A cfg with every random augmentation off and the crop the whole image.
fn identity_cfg(res: u32) -> RunConfig {
    let mut c = cfg(res);
    let a = &mut c.augment;
    a.crop_scale = [1.0, 1.0];
    a.flip_p = 0.0;
    a.jitter_p = 0.0;
    a.grayscale_p = 0.0;
    a.blur_p = [0.0, 0.0];
    c
}

fn batch(b: i64, c: i64, side: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randint(256, [b, c, side, side], (Kind::Uint8, Device::Cpu))
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn shapes_kinds_and_ranges() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let c = cfg(16);
    for (channels, sobel, out) in [
        (3, SobelMode::Off, 3),
        (1, SobelMode::Off, 3),
        (3, SobelMode::Sobel, 2),
        (1, SobelMode::Sobel, 2),
        (3, SobelMode::RgbSobel, 5),
    ] {
        let mut c = c.clone();
        c.model.sobel = sobel;
        let aug = Augmenter::new(&c, channels, Device::Cpu);
        assert_eq!(aug.out_channels(), out);
        // Stored images larger than the resolution: the crop resizes, eval resizes.
        let x = batch(4, channels, 20, 1);
        let (v1, v2) = aug.two_views(&x);
        let e = aug.eval(&x);
        for t in [&v1, &v2, &e] {
            assert_eq!(t.size(), [4, out, 16, 16]);
            assert_eq!(t.kind(), Kind::Float);
            assert!(t.isfinite().all().int64_value(&[]) == 1);
        }
        if sobel == SobelMode::Off {
            // Normalised values of [0, 1] pixels: within [(0 - mean) / std, (1 - mean) / std].
            for (ch, (m, s)) in c.augment.mean.iter().zip(c.augment.std).enumerate() {
                for t in [&v1, &v2, &e] {
                    let plane = t.select(1, ch as i64);
                    assert!(plane.min().double_value(&[]) >= (0.0 - m) / s - 1e-5);
                    assert!(plane.max().double_value(&[]) <= (1.0 - m) / s + 1e-5);
                }
            }
        }
    }
}

#[test]
fn every_image_gets_its_own_parameters() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let aug = Augmenter::new(&cfg(16), 3, Device::Cpu);
    let one = batch(1, 3, 16, 2);
    let x = Tensor::cat(&[&one, &one, &one, &one], 0);
    tch::manual_seed(3);
    let (v1, v2) = aug.two_views(&x);
    for v in [&v1, &v2] {
        for i in 1..4 {
            assert!(max_abs(&v.get(0), &v.get(i)) > 1e-3, "images 0 and {i} got the same view");
        }
    }
    assert!(max_abs(&v1, &v2) > 1e-3, "the two views must differ");
}

#[test]
fn same_seed_same_views_other_seed_other_views() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let aug = Augmenter::new(&cfg(16), 3, Device::Cpu);
    let x = batch(6, 3, 16, 4);
    let run = |seed: i64| {
        tch::manual_seed(seed);
        aug.two_views(&x)
    };
    let (a1, a2) = run(10);
    let (b1, b2) = run(10);
    let (c1, _) = run(11);
    assert!(a1.equal(&b1) && a2.equal(&b2));
    assert!(!a1.equal(&c1));
}

#[test]
fn identity_settings_return_exactly_the_normalised_input() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    for channels in [1, 3] {
        let aug = Augmenter::new(&identity_cfg(16), channels, Device::Cpu);
        let x = batch(5, channels, 16, 5);
        let (v1, v2) = aug.two_views(&x);
        let e = aug.eval(&x);
        assert!(v1.equal(&e) && v2.equal(&e));
        // eval is just (x / 255 - mean) / std.
        let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]);
        let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]).view([1, 3, 1, 1]);
        let want = (x.to_kind(Kind::Float).expand([5, 3, 16, 16], false) / 255.0 - mean) / std;
        assert!(max_abs(&e, &want) < 1e-6);
    }
}

#[test]
fn blur_probability_is_per_view() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = identity_cfg(16);
    c.augment.blur_p = [1.0, 0.0];
    let aug = Augmenter::new(&c, 3, Device::Cpu);
    let x = batch(4, 3, 16, 6);
    let (v1, v2) = aug.two_views(&x);
    let e = aug.eval(&x);
    assert!(v2.equal(&e), "view 2 (p = 0) must be the unblurred image");
    for i in 0..4 {
        assert!(max_abs(&v1.get(i), &e.get(i)) > 1e-3, "view 1 (p = 1) image {i} was not blurred");
    }
}

#[test]
fn eval_is_deterministic() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let aug = Augmenter::new(&cfg(16), 3, Device::Cpu);
    let x = batch(3, 3, 24, 7);
    tch::manual_seed(1);
    let a = aug.eval(&x);
    tch::manual_seed(2);
    let b = aug.eval(&x);
    assert!(a.equal(&b));
}

#[test]
fn flip_mirrors_columns() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = identity_cfg(12);
    c.augment.flip_p = 1.0;
    let aug = Augmenter::new(&c, 3, Device::Cpu);
    let x = batch(2, 3, 12, 8);
    let (v1, _) = aug.two_views(&x);
    let want = aug.eval(&x.flip([3]));
    // grid_sample at mirrored pixel centres: exact up to float rounding.
    assert!(max_abs(&v1, &want) < 1e-4);
}

#[test]
fn crop_is_a_window_of_the_image_resized() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    // Scale fixed at a quarter of the area, ratio 1: every crop is an 8 x 8 window
    // of the 16 x 16 image, upsampled x2. A constant image stays constant and a
    // horizontal ramp stays monotone with the slope halved.
    let mut c = identity_cfg(16);
    c.augment.crop_scale = [0.25, 0.25];
    c.augment.crop_ratio = [1.0, 1.0];
    let aug = Augmenter::new(&c, 1, Device::Cpu);
    let ramp = (Tensor::arange(16, (Kind::Int64, Device::Cpu)) * 16).to_kind(Kind::Uint8);
    let x = ramp.view([1, 1, 1, 16]).expand([3, 1, 16, 16], false).contiguous();
    tch::manual_seed(9);
    let (v, _) = aug.two_views(&x);
    let row = v.select(1, 0).select(1, 5); // [3, 16], normalised red channel
    let std = 0.229;
    let step = (row.narrow(1, 2, 12) - row.narrow(1, 1, 12)) * std * 255.0;
    // Interior steps of a x2 bilinear upsampling of a slope of 16 per pixel are 8.
    assert!(max_abs(&step, &step.full_like(8.0)) < 1e-3, "{step}");
}

/// Mean crop-area fraction of torchvision's `RandomResizedCrop.get_params` with the
/// default scale and ratio, from a 400,000-draw simulation of its Python source
/// (random.seed(0)): 0.3988 for 32 x 48 images, 0.4902 for 32 x 32. Tries that
/// do not fit are rejected, so the mean is below E[U(0.08, 1)] = 0.54.
#[test]
fn crop_boxes_follow_torchvision_rule() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = sweep::augment::crop::CropConfig { scale: [0.08, 1.0], ratio: [0.75, 4.0 / 3.0], flip_p: 0.5, out: 32 };
    tch::manual_seed(12);
    for (hh, ww, reference) in [(32i64, 48i64, 0.3988f32), (32, 32, 0.4902)] {
        let n = 4000;
        let [i, j, h, w] = sweep::augment::crop::sample_boxes(&cfg, n, hh, ww, Device::Cpu);
        let v = |t: &Tensor| Vec::<f32>::try_from(t).unwrap();
        let (i, j, h, w) = (v(&i), v(&j), v(&h), v(&w));
        let (hf, wf) = (hh as f32, ww as f32);
        for k in 0..n as usize {
            assert!(h[k] >= 1.0 && w[k] >= 1.0 && h[k] <= hf && w[k] <= wf);
            assert!(i[k] >= 0.0 && i[k] + h[k] <= hf && j[k] >= 0.0 && j[k] + w[k] <= wf);
            assert_eq!((i[k].fract(), j[k].fract()), (0.0, 0.0));
            let ratio = w[k] / h[k];
            // Rounding to whole pixels moves tiny boxes a little outside the ranges.
            assert!((0.5..=2.0).contains(&ratio), "ratio {ratio}");
            assert!((0.05..=1.0).contains(&(h[k] * w[k] / (hf * wf))));
        }
        let mean: f32 = h.iter().zip(&w).map(|(a, b)| a * b / (hf * wf)).sum::<f32>() / n as f32;
        assert!((mean - reference).abs() < 0.02, "{hh} x {ww}: mean area fraction {mean} vs {reference}");
    }
}

#[test]
fn hsv_round_trip_and_hue_shift_match_colorsys() {
    // colorsys.rgb_to_hsv(0.2, 0.4, 0.8) = (0.611111, 0.75, 0.8);
    // colorsys.rgb_to_hsv(0.9, 0.3, 0.1) = (0.041667, 0.888889, 0.9), and with the
    // hue moved by 0.25, hsv_to_rgb gives (0.3, 0.9, 0.1).
    let x = Tensor::from_slice(&[0.2f32, 0.9, 0.4, 0.3, 0.8, 0.1]).view([1, 3, 1, 2]);
    let [h, s, v] = color::rgb_to_hsv(&x);
    let vals = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
    for (got, want) in [(vals(&h), [0.611111, 0.041667]), (vals(&s), [0.75, 0.888889]), (vals(&v), [0.8, 0.9])] {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }
    assert!(max_abs(&color::hsv_to_rgb(&h, &s, &v), &x) < 1e-6);
    let shifted = color::adjust_hue(&x.narrow(3, 1, 1), &Tensor::from_slice(&[0.25f32]));
    let want = Tensor::from_slice(&[0.3f32, 0.9, 0.1]).view([1, 3, 1, 1]);
    assert!(max_abs(&shifted, &want) < 1e-5);
    // A grey pixel has no hue: shifting it changes nothing (grayscale datasets).
    let grey = Tensor::full([1, 3, 2, 2], 0.4, (Kind::Float, Device::Cpu));
    assert!(max_abs(&color::adjust_hue(&grey, &Tensor::from_slice(&[0.3f32])), &grey) < 1e-6);
}

#[test]
fn brightness_contrast_saturation_follow_torchvision() {
    let x = Tensor::from_slice(&[0.2f32, 0.6, 0.4, 0.8, 0.1, 0.3]).view([1, 3, 1, 2]);
    // Brightness 2: doubled, clamped at 1.
    let b = color::adjust_brightness(&x, &Tensor::from_slice(&[2.0f32]));
    let want_b = Tensor::from_slice(&[0.4f32, 1.0, 0.8, 1.0, 0.2, 0.6]).view([1, 3, 1, 2]);
    assert!(max_abs(&b, &want_b) < 1e-6);
    // Saturation 0: every channel the luma 0.299 R + 0.587 G + 0.114 B.
    let s = color::adjust_saturation(&x, &Tensor::from_slice(&[0.0f32]));
    let l0 = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.1;
    let l1 = 0.299 * 0.6 + 0.587 * 0.8 + 0.114 * 0.3;
    let want_s = Tensor::from_slice(&[l0 as f32, l1 as f32]).view([1, 1, 1, 2]).expand([1, 3, 1, 2], false);
    assert!(max_abs(&s, &want_s) < 1e-6);
    // Contrast 0.5: halfway to the mean luma of the image.
    let c = color::adjust_contrast(&x, &Tensor::from_slice(&[0.5f32]));
    let m = (l0 + l1) / 2.0;
    let want_c = (x.to_kind(Kind::Double) * 0.5 + m * 0.5).to_kind(Kind::Float);
    assert!(max_abs(&c, &want_c) < 1e-6);
}

#[test]
fn blur_kernel_and_grouped_conv() {
    // torchvision: linspace(-1, 1, 3), exp(-x^2 / (2 sigma^2)), normalised; sigma = 1.
    let k = blur::gaussian_kernels(&Tensor::from_slice(&[1.0f32, 0.5]), 3);
    let k0 = Vec::<f32>::try_from(k.get(0)).unwrap();
    for (g, w) in k0.iter().zip([0.274_068_62_f32, 0.451_862_76, 0.274_068_62]) {
        assert!((g - w).abs() < 1e-6);
    }
    // A centred impulse blurs into the outer product of the image's own kernel.
    let x = Tensor::zeros([2, 3, 7, 7], (Kind::Float, Device::Cpu));
    let _ = x.narrow(2, 3, 1).narrow(3, 3, 1).fill_(1.0);
    let y = blur::blur_with_sigma(&x, &Tensor::from_slice(&[1.0f32, 0.5]), 3);
    for b in 0..2 {
        let kb = k.get(b);
        let want = kb.view([3, 1]).matmul(&kb.view([1, 3]));
        let got = y.get(b).get(1).narrow(0, 2, 3).narrow(1, 2, 3);
        assert!(max_abs(&got, &want) < 1e-6);
        assert!((y.get(b).sum(Kind::Double).double_value(&[]) - 3.0).abs() < 1e-5);
    }
}

#[test]
fn sobel_of_a_vertical_edge() {
    let mut c = identity_cfg(8);
    c.model.sobel = SobelMode::Sobel;
    let aug = Augmenter::new(&c, 1, Device::Cpu);
    // Left half 0, right half 255: the x-gradient responds at the edge, y does not (inside).
    let x = Tensor::cat(
        &[
            Tensor::zeros([1, 1, 8, 4], (Kind::Uint8, Device::Cpu)),
            Tensor::full([1, 1, 8, 4], 255, (Kind::Uint8, Device::Cpu)),
        ],
        3,
    );
    let s = aug.eval(&x);
    assert_eq!(s.size(), [1, 2, 8, 8]);
    // Grey level of the normalised image jumps by sum_c luma_c / std_c across the edge.
    let jump: f64 = [0.299 / 0.229, 0.587 / 0.224, 0.114 / 0.225].iter().sum();
    let gx = s.get(0).get(0);
    let gy = s.get(0).get(1);
    assert!((gx.double_value(&[4, 3]) + 4.0 * jump).abs() < 1e-4, "{gx}");
    assert!(gx.double_value(&[4, 1]).abs() < 1e-5);
    assert!(gy.narrow(0, 1, 6).abs().max().double_value(&[]) < 1e-5);
}

/// Multi-crop's small views: n B images of the small side, view-major, each
/// with its own crop (no two views of one image alike), normalised like the
/// large views; drawing them leaves the large views' draws as they were.
#[test]
fn small_views_shapes_and_independence() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = cfg(16);
    c.augment.small_crops = 3;
    c.augment.small_crop_size = 8;
    let a = Augmenter::new(&c, 3, Device::Cpu);
    let x = batch(4, 3, 16, 1);
    tch::manual_seed(5);
    let (l1, _) = a.two_views(&x);
    let s = a.small_views(&x, 3);
    assert_eq!(s.size(), [12, 3, 8, 8], "n B x C x s x s");
    assert_eq!(s.kind(), Kind::Float);
    for v in 1..3 {
        assert!(max_abs(&s.narrow(0, 0, 4), &s.narrow(0, 4 * v, 4)) > 0.0, "view {v} repeats view 0");
    }
    tch::manual_seed(5);
    let (again, _) = a.two_views(&x);
    assert_eq!(max_abs(&l1, &again), 0.0);
}
