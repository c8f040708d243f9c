//! Batched, per-image-random augmentations (method.md §5), as the paper ran
//! them with Kornia: whole batches as tensor ops on the batch's device, every
//! image with its own parameters, every draw from torch's generator (so
//! `tch::manual_seed` reproduces a run's views). No host-device copies and no
//! loops over the batch.
//!
//! A view is: RandomResizedCrop + horizontal flip (one affine per image, one
//! `grid_sample`) -> colour jitter (p = jitter_p) -> grayscale (p = grayscale_p)
//! -> Gaussian blur (p = blur_p[view]) -> normalise -> optional Sobel. The
//! self-labelling stage's strong view scales the jitter and adds [`cutout`].
//!
//! Grayscale datasets (MNIST-like) are replicated to three channels first, so the
//! network and the normalisation (with the configured RGB statistics) are the same
//! as for colour data; jitter's saturation and hue then have no effect (a grey
//! pixel has no saturation and no hue), brightness and contrast still do.
pub mod blur;
pub mod color;
pub mod crop;
pub mod cutout;
pub mod sobel;

use tch::{Device, Kind, Tensor};

use crate::config::{RunConfig, SobelMode};
use blur::BlurConfig;
use color::JitterConfig;
use crop::CropConfig;

/// The two-view training transform and the evaluation transform of one run.
#[derive(Debug)]
pub struct Augmenter {
    crop: CropConfig,
    /// Multi-crop's small views (`augment.small_crop_*`; method.md §12).
    small_crop: CropConfig,
    jitter: JitterConfig,
    grayscale_p: f64,
    blur: BlurConfig,
    /// Blur probability of view 1 and view 2 (1.0 and 0.5 in BYOL).
    blur_p: [f64; 2],
    sobel: SobelMode,
    sobel_filters: sobel::Sobel,
    in_channels: i64,
    /// 1 x 3 x 1 x 1, on the device.
    mean: Tensor,
    std: Tensor,
}

impl Augmenter {
    /// `in_channels_stored`: 1 or 3, as the dataset holds its images.
    pub fn new(cfg: &RunConfig, in_channels_stored: i64, device: Device) -> Self {
        assert!(
            in_channels_stored == 1 || in_channels_stored == 3,
            "datasets store 1 or 3 channels, got {in_channels_stored}"
        );
        let a = &cfg.augment;
        let stat = |v: [f64; 3]| Tensor::from_slice(&v).to_kind(Kind::Float).view([1, 3, 1, 1]).to_device(device);
        Self {
            crop: CropConfig {
                scale: a.crop_scale,
                ratio: a.crop_ratio,
                flip_p: a.flip_p,
                out: cfg.data.resolution as i64,
            },
            small_crop: CropConfig {
                scale: a.small_crop_scale,
                ratio: a.crop_ratio,
                flip_p: a.flip_p,
                out: a.small_crop_size as i64,
            },
            jitter: JitterConfig {
                p: a.jitter_p,
                brightness: a.brightness,
                contrast: a.contrast,
                saturation: a.saturation,
                hue: a.hue,
            },
            grayscale_p: a.grayscale_p,
            blur: BlurConfig { kernel: cfg.augment.blur_kernel as i64, sigma: a.blur_sigma },
            blur_p: a.blur_p,
            sobel: cfg.model.sobel,
            sobel_filters: sobel::Sobel::new(device),
            in_channels: in_channels_stored,
            mean: stat(a.mean),
            std: stat(a.std),
        }
    }

    /// Channels of the network input: 3; 2 with Sobel; 5 with RGB + Sobel.
    pub fn out_channels(&self) -> i64 {
        match self.sobel {
            SobelMode::Off => 3,
            SobelMode::Sobel => 2,
            SobelMode::RgbSobel => 5,
        }
    }

    /// Side length of the network input.
    pub fn resolution(&self) -> i64 {
        self.crop.out
    }

    /// Two independently augmented views of a uint8 B x C x H x W batch, as float
    /// B x C' x R x R, normalised. View 1 is blurred with p = blur_p[0], view 2
    /// with p = blur_p[1].
    pub fn two_views(&self, batch: &Tensor) -> (Tensor, Tensor) {
        let (v1, v2, _) = self.views(batch, 0);
        (v1, v2)
    }

    /// A training step's views: the two large ones of [`Augmenter::two_views`]
    /// and, when `small > 0`, multi-crop's small ones of
    /// [`Augmenter::small_views`], drawn after them (so that runs without small
    /// views draw as before), the batch converted to float once.
    pub fn views(&self, batch: &Tensor, small: usize) -> (Tensor, Tensor, Option<Tensor>) {
        let x = self.to_unit_rgb(batch);
        let (v1, v2) = (self.view(&x, self.blur_p[0]), self.view(&x, self.blur_p[1]));
        let vs = (small > 0).then(|| self.small_views_of(&x, small));
        (v1, v2, vs)
    }

    /// The self-labelling stage's strong view (method.md §11): view 1's
    /// transform with the colour-jitter strengths times `strength` (hue at most
    /// 0.5), then Cutout of `cutout` of the side after normalisation.
    pub fn strong_view(&self, batch: &Tensor, strength: f64, cutout: f64) -> Tensor {
        let x = self.to_unit_rgb(batch);
        let j = &self.jitter;
        let jitter = JitterConfig {
            p: j.p,
            brightness: j.brightness * strength,
            contrast: j.contrast * strength,
            saturation: j.saturation * strength,
            hue: (j.hue * strength).min(0.5),
        };
        let y = self.view_with(&x, &self.crop, &jitter, self.blur_p[0]);
        cutout::cutout(&y, cutout)
    }

    /// Multi-crop's `n` small views of a uint8 B x C x H x W batch (method.md
    /// §12), stacked view-major as n B x C' x s x s: each a RandomResizedCrop
    /// of `augment.small_crop_scale` to `small_crop_size` pixels, then view 2's
    /// colour, grayscale and blur (p = blur_p[1]), every image its own draws.
    pub fn small_views(&self, batch: &Tensor, n: usize) -> Tensor {
        self.small_views_of(&self.to_unit_rgb(batch), n)
    }

    /// [`Augmenter::small_views`] of a batch already in [0, 1] RGB.
    fn small_views_of(&self, x: &Tensor, n: usize) -> Tensor {
        let x = x.repeat([n as i64, 1, 1, 1]);
        self.view_with(&x, &self.small_crop, &self.jitter, self.blur_p[1])
    }

    /// One augmented view of `x` (B x 3 x H x W float in [0, 1]).
    fn view(&self, x: &Tensor, blur_p: f64) -> Tensor {
        self.view_with(x, &self.crop, &self.jitter, blur_p)
    }

    fn view_with(&self, x: &Tensor, crop: &CropConfig, jitter: &JitterConfig, blur_p: f64) -> Tensor {
        let y = crop::random_resized_crop(crop, x);
        let y = color::color_jitter(jitter, &y);
        let y = color::random_grayscale(self.grayscale_p, &y);
        let y = blur::random_blur(&self.blur, blur_p, &y);
        self.finish(&y)
    }

    /// The evaluation transform (method.md §5): to float, resize to R x R if the
    /// stored size differs (bilinear, antialiased), normalise, Sobel if configured.
    /// Deterministic. (The ImageNet subsets' short-side-256 resize and centre crop
    /// happen once when the folder is read.)
    pub fn eval(&self, batch: &Tensor) -> Tensor {
        let x = self.to_unit_rgb(batch);
        let r = self.crop.out;
        let s = x.size();
        let x = if s[2] != r || s[3] != r {
            x.internal_upsample_bilinear2d_aa([r, r], false, None, None).clamp(0.0, 1.0)
        } else {
            x
        };
        self.finish(&x)
    }

    /// uint8 B x C x H x W -> float B x 3 x H x W in [0, 1] (grey replicated).
    fn to_unit_rgb(&self, batch: &Tensor) -> Tensor {
        let (b, c, h, w) = batch.size4().expect("a batch is B x C x H x W");
        assert_eq!(batch.kind(), Kind::Uint8, "augmentations take the stored uint8 images");
        assert_eq!(c, self.in_channels, "batch has {c} channels, the augmenter was built for {}", self.in_channels);
        let x = batch.to_kind(Kind::Float) / 255.0;
        if c == 1 {
            x.expand([b, 3, h, w], false)
        } else {
            x
        }
    }

    /// Normalise with the configured mean / std, then the Sobel channels if asked.
    fn finish(&self, x: &Tensor) -> Tensor {
        let n = (x - &self.mean) / &self.std;
        match self.sobel {
            SobelMode::Off => n,
            SobelMode::Sobel => self.sobel_filters.forward(&n),
            SobelMode::RgbSobel => {
                let s = self.sobel_filters.forward(&n);
                Tensor::cat(&[n, s], 1)
            }
        }
    }
}
