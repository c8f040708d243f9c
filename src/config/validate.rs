//! Range checks of a resolved run config, and what they need (the memory
//! estimate, the dataset's length): done once, before any run starts, so
//! everything downstream can take `&RunConfig` as settled.
use super::dataset::DatasetName;
use super::run::{RunConfig, SobelMode, Stem, TransformKind};

/// No run is allowed whose fixed tensors alone exceed this (1 TiB).
pub const MAX_RUN_BYTES: u64 = 1 << 40;

/// `1.5 GiB`-style text for a byte count.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl RunConfig {
    /// Range checks; every problem is reported, not only the first. One
    /// section per table of the config, in the order a sweep file lists them.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        self.validate_data(&mut e);
        self.validate_train(&mut e);
        self.validate_loss(&mut e);
        self.validate_transform(&mut e);
        self.validate_model(&mut e);
        self.validate_augment(&mut e);
        self.validate_eval(&mut e);
        self.check_maxima(&mut e);
        if e.is_empty() {
            let bytes = self.memory_estimate();
            if bytes > MAX_RUN_BYTES {
                e.push(format!(
                    "model: this run needs at least {} of memory for its weights, optimiser state, transforms and one batch (more than the {} of any machine it could run on): lower the sizes (model.*, transform.m, transform.d_prime, train.batch_size, data.resolution)",
                    human_bytes(bytes),
                    human_bytes(MAX_RUN_BYTES)
                ));
            }
        }
        e
    }

    /// `[data]`: a root for file datasets, the synthetic set's sizes, K, resolution, limit.
    fn validate_data(&self, e: &mut Vec<String>) {
        let d = &self.data;
        if !matches!(d.dataset, DatasetName::Synthetic) && d.root.is_none() {
            e.push(format!("data.root: dataset `{}` needs the folder that holds its files", d.dataset));
        }
        if d.dataset == DatasetName::Synthetic {
            let s = &d.synthetic;
            if !(2..=8).contains(&s.classes) {
                e.push(format!("data.synthetic.classes = {}: must be 2..=8", s.classes));
            }
            if s.per_class == 0 {
                e.push("data.synthetic.per_class must be >= 1".into());
            }
            if !(8..=256).contains(&s.size) {
                e.push(format!("data.synthetic.size = {}: must be 8..=256", s.size));
            }
        }
        if !(8..=1024).contains(&d.resolution) {
            e.push(format!("data.resolution = {}: must be 8..=1024", d.resolution));
        }
        if d.clusters < 2 {
            e.push(format!("data.clusters = {}: need at least 2 clusters", d.clusters));
        }
        if d.limit == Some(0) {
            e.push("data.limit = 0: must be >= 1 (or absent for all)".into());
        }
    }

    /// `[train]` (and `[finetune]`): batch against BatchNorm and the dataset, epochs, optimiser, EMA, checkpoints.
    fn validate_train(&self, e: &mut Vec<String>) {
        let b = self.train.batch_size;
        if b < 2 {
            e.push(format!("train.batch_size = {b}: BatchNorm needs at least 2"));
        }
        if let Some(n) = self.dataset_len() {
            if b > n {
                e.push(format!("train.batch_size = {b} is larger than the dataset ({n} images)"));
            }
        }
        if self.train.epochs == 0 {
            e.push("train.epochs must be >= 1".into());
        }
        if !(self.train.lr > 0.0 && self.train.lr.is_finite()) {
            e.push(format!("train.lr = {}: must be positive", self.train.lr));
        }
        if self.train.weight_decay < 0.0 {
            e.push("train.weight_decay must be >= 0".into());
        }
        if !(0.0..=1.0).contains(&self.train.ema_tau) {
            e.push(format!("train.ema_tau = {}: must be in [0, 1]", self.train.ema_tau));
        }
        self.validate_self_labelling(e);
        self.validate_optimisation(e);
        if self.train.checkpoint_every == 0 {
            e.push("train.checkpoint_every must be >= 1".into());
        }
        if self.train.steps_per_epoch == Some(0) {
            e.push("train.steps_per_epoch must be >= 1".into());
        }
    }

    /// `[loss]`: weights, temperatures, Sinkhorn's epsilon; `eval.consensus` without repeats.
    fn validate_loss(&self, e: &mut Vec<String>) {
        let l = &self.loss;
        for (name, w) in [("alpha", l.alpha), ("beta", l.beta), ("gamma", l.gamma)] {
            if !(w >= 0.0 && w.is_finite()) {
                e.push(format!("loss.{name} = {w}: weights must be finite and >= 0"));
            }
        }
        if l.alpha == 0.0 && l.beta == 0.0 && l.gamma == 0.0 {
            e.push("loss: alpha, beta and gamma are all 0: nothing to train".into());
        }
        if l.tau.is_nan() || l.tau <= 0.0 {
            e.push(format!("loss.tau = {}: must be > 0", l.tau));
        }
        if l.sinkhorn_eps.is_nan() || l.sinkhorn_eps <= 0.0 {
            e.push(format!("loss.sinkhorn_eps = {}: must be > 0", l.sinkhorn_eps));
        }
        if !(l.simclr_temperature > 0.0 && l.simclr_temperature.is_finite()) {
            e.push(format!("loss.simclr_temperature = {}: must be > 0", l.simclr_temperature));
        }
        let ev = &self.eval;
        for (i, f) in ev.consensus.iter().enumerate() {
            if ev.consensus[..i].contains(f) {
                e.push(format!("eval.consensus lists `{}` twice", f.name()));
            }
        }
    }

    /// `[transform]`: M and d' (a diagonal map keeps the head's dimension).
    fn validate_transform(&self, e: &mut Vec<String>) {
        let t = &self.transform;
        if t.m == 0 {
            e.push("transform.m = 0: the consensus needs at least one transform".into());
        }
        if t.d_prime == 0 {
            e.push("transform.d_prime must be >= 1".into());
        }
        if t.kind == TransformKind::Diagonal && t.d_prime != self.model.head_dim {
            // A diagonal map keeps the dimension; d_prime is ignored but must not mislead.
            e.push(format!(
                "transform.d_prime = {} with kind = \"diagonal\": a diagonal map keeps dimension {} (set d_prime = {})",
                t.d_prime, self.model.head_dim, self.model.head_dim
            ));
        }
    }

    /// `[model]`: width, head sizes, Sobel on grayscale data.
    fn validate_model(&self, e: &mut Vec<String>) {
        let m = &self.model;
        if !(m.width > 0.0 && m.width <= 4.0) {
            e.push(format!("model.width = {}: must be in (0, 4]", m.width));
        }
        for (name, v) in [
            ("proj_hidden", m.proj_hidden),
            ("proj_dim", m.proj_dim),
            ("head_hidden", m.head_hidden),
            ("head_dim", m.head_dim),
        ] {
            if v == 0 {
                e.push(format!("model.{name} must be >= 1"));
            }
        }
        if m.sobel != SobelMode::Off && self.data.dataset.channels() == 1 && m.sobel == SobelMode::RgbSobel {
            e.push("model.sobel = \"rgb_sobel\" on a grayscale dataset: use \"sobel\"".into());
        }
    }

    /// `[augment]`: probabilities, crop and blur ranges, normalisation, jitter strengths.
    /// The optimiser, the learning-rate schedule and the prototype warm-up
    /// (method.md §12).
    fn validate_optimisation(&self, e: &mut Vec<String>) {
        let t = &self.train;
        if !(0.0..1.0).contains(&t.momentum) {
            e.push(format!("train.momentum = {}: must be in [0, 1)", t.momentum));
        }
        if !(t.trust_coefficient > 0.0 && t.trust_coefficient.is_finite()) {
            e.push(format!("train.trust_coefficient = {}: must be positive", t.trust_coefficient));
        }
        if !(t.warmup_epochs >= 0.0 && t.warmup_epochs <= t.epochs as f64) {
            e.push(format!("train.warmup_epochs = {}: must be in [0, train.epochs = {}]", t.warmup_epochs, t.epochs));
        }
        if !(t.cluster_delay_epochs >= 0.0 && t.cluster_delay_epochs < t.epochs as f64) {
            e.push(format!(
                "train.cluster_delay_epochs = {}: must be in [0, train.epochs = {}) (the clustering terms need epochs of their own)",
                t.cluster_delay_epochs, t.epochs
            ));
        }
        self.validate_restarts(e);
        if !(t.final_lr >= 0.0 && t.final_lr <= t.lr) {
            e.push(format!("train.final_lr = {}: must be in [0, train.lr = {}]", t.final_lr, t.lr));
        }
        if t.final_lr != 0.0 && t.lr_schedule.is_constant() {
            e.push("train.final_lr is read by the cosine schedule only: set train.lr_schedule = \"cosine\"".into());
        }
    }

    /// `train.restarts` and `train.restart_epochs` (method.md §13): the choice
    /// reads L2, so each candidate trains past the clustering delay, and the
    /// chosen one has epochs left.
    fn validate_restarts(&self, e: &mut Vec<String>) {
        let t = &self.train;
        match (t.restarts, t.restart_epochs) {
            (0, _) => e.push("train.restarts = 0: must be >= 1 (1: no restarts)".into()),
            (1, 0) => {}
            (1, n) => e.push(format!(
                "train.restart_epochs = {n} is read with train.restarts >= 2 only: set train.restarts, or leave restart_epochs out"
            )),
            (r, n) if n == 0 || n >= t.epochs => e.push(format!(
                "train.restarts = {r} needs train.restart_epochs in [1, train.epochs = {}), the epochs each candidate trains before the choice (got {n})",
                t.epochs
            )),
            (_, n) if (n as f64) <= t.cluster_delay_epochs => e.push(format!(
                "train.restart_epochs = {n}: must exceed train.cluster_delay_epochs = {} (the choice reads L2, which trains only after the delay)",
                t.cluster_delay_epochs
            )),
            _ => {}
        }
        if t.restarts >= 2 && self.loss.beta == 0.0 {
            e.push("train.restarts chooses by L2, which loss.beta = 0 does not train: set loss.beta > 0 or leave restarts out".into());
        }
    }

    fn validate_augment(&self, e: &mut Vec<String>) {
        self.validate_multicrop(e);
        let a = &self.augment;
        for (name, p) in [
            ("flip_p", a.flip_p),
            ("jitter_p", a.jitter_p),
            ("grayscale_p", a.grayscale_p),
            ("blur_p[0]", a.blur_p[0]),
            ("blur_p[1]", a.blur_p[1]),
        ] {
            if !(0.0..=1.0).contains(&p) {
                e.push(format!("augment.{name} = {p}: a probability must be in [0, 1]"));
            }
        }
        if !(a.crop_scale[0] > 0.0 && a.crop_scale[0] <= a.crop_scale[1] && a.crop_scale[1] <= 1.0) {
            e.push(format!("augment.crop_scale = {:?}: need 0 < min <= max <= 1", a.crop_scale));
        }
        if !(a.crop_ratio[0] > 0.0 && a.crop_ratio[0] <= a.crop_ratio[1]) {
            e.push(format!("augment.crop_ratio = {:?}: need 0 < min <= max", a.crop_ratio));
        }
        if !(a.blur_sigma[0] > 0.0 && a.blur_sigma[0] <= a.blur_sigma[1]) {
            e.push(format!("augment.blur_sigma = {:?}: need 0 < min <= max", a.blur_sigma));
        }
        if a.blur_kernel % 2 == 0 || a.blur_kernel < 3 {
            e.push(format!("augment.blur_kernel = {}: must be odd and >= 3", a.blur_kernel));
        }
        if a.std.iter().any(|s| *s <= 0.0) {
            e.push("augment.std: every entry must be > 0".into());
        }
        if a.hue < 0.0 || a.hue > 0.5 {
            e.push(format!("augment.hue = {}: must be in [0, 0.5]", a.hue));
        }
        for (name, v) in [("brightness", a.brightness), ("contrast", a.contrast), ("saturation", a.saturation)] {
            if v < 0.0 {
                e.push(format!("augment.{name} = {v}: must be >= 0"));
            }
        }
    }

    /// Multi-crop's small views (method.md §12).
    fn validate_multicrop(&self, e: &mut Vec<String>) {
        let a = &self.augment;
        let [lo, hi] = a.small_crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            e.push(format!("augment.small_crop_scale = {:?}: need 0 < min <= max <= 1", a.small_crop_scale));
        }
        let r = self.data.resolution;
        if a.small_crops > 0 && !(8..=r).contains(&a.small_crop_size) {
            e.push(format!(
                "augment.small_crop_size = {}: must be in [8, data.resolution = {r}] (smaller views vanish in the encoder's downsampling)",
                a.small_crop_size
            ));
        }
        if a.small_crops > 16 {
            e.push(format!("augment.small_crops = {}: at most 16", a.small_crops));
        }
    }

    /// `[eval]`: k-means restarts and iterations, chunk, sample cap.
    fn validate_eval(&self, e: &mut Vec<String>) {
        let ev = &self.eval;
        if ev.kmeans_restarts == 0 {
            e.push("eval.kmeans_restarts must be >= 1".into());
        }
        if ev.kmeans_iters == 0 {
            e.push("eval.kmeans_iters must be >= 1".into());
        }
        if ev.chunk == 0 {
            e.push("eval.chunk must be >= 1".into());
        }
        if ev.max_samples == Some(0) {
            e.push("eval.max_samples = 0: must be >= 1 (or absent for all)".into());
        }
    }

    /// Upper bounds: values past these can only be typing mistakes, and each
    /// would make a run impossible or make one step last for hours.
    fn check_maxima(&self, e: &mut Vec<String>) {
        let d = &self.data;
        let checks: [(&str, u64, u64, &str); 20] = [
            ("data.synthetic.per_class", d.synthetic.per_class as u64, 1_000_000, "images generated in memory"),
            ("data.clusters", d.clusters as u64, 10_000, "K prototypes, a K-way Sinkhorn over every batch"),
            ("model.proj_hidden", self.model.proj_hidden as u64, 65_536, "a layer width (the paper uses 4096)"),
            ("model.proj_dim", self.model.proj_dim as u64, 65_536, "a layer width (the paper uses 256)"),
            ("model.head_hidden", self.model.head_hidden as u64, 65_536, "a layer width (the paper uses 2048)"),
            ("model.head_dim", self.model.head_dim as u64, 65_536, "a layer width (the paper uses 256)"),
            (
                "transform.m",
                self.transform.m as u64,
                10_000,
                "transforms applied at every step (the paper uses at most 100)",
            ),
            (
                "transform.d_prime",
                self.transform.d_prime as u64,
                65_536,
                "a projection dimension (the paper uses at most 512)",
            ),
            ("train.batch_size", self.train.batch_size as u64, 65_536, "images per step"),
            ("train.epochs", self.train.epochs as u64, 1_000_000, "epochs (the paper uses at most 1000)"),
            ("train.steps_per_epoch", self.train.steps_per_epoch.unwrap_or(1) as u64, 10_000_000, "steps per epoch"),
            ("train.checkpoint_every", self.train.checkpoint_every as u64, 1_000_000, "epochs between checkpoints"),
            ("finetune.epochs", self.self_labelling.epochs as u64, 1_000_000, "self-labelling epochs"),
            (
                "loss.sinkhorn_iters",
                self.loss.sinkhorn_iters as u64,
                1_000,
                "Sinkhorn iterations at every step (the paper uses 3)",
            ),
            ("eval.every", self.eval.every as u64, 1_000_000, "epochs between evaluations"),
            ("eval.kmeans_restarts", self.eval.kmeans_restarts as u64, 1_000, "k-means runs per evaluation"),
            ("eval.kmeans_iters", self.eval.kmeans_iters as u64, 100_000, "Lloyd iterations per k-means run"),
            (
                "eval.tsne_samples",
                self.eval.tsne_samples as u64,
                100_000,
                "t-SNE points (its cost grows with the square)",
            ),
            ("eval.chunk", self.eval.chunk as u64, 1_000_000, "images per evaluation forward pass"),
            ("eval.max_samples", self.eval.max_samples.unwrap_or(1) as u64, 100_000_000, "images evaluated"),
        ];
        for (key, v, max, what) in checks {
            if v > max {
                e.push(format!("{key} = {v}: at most {max} ({what})"));
            }
        }
        if let Some(l) = d.limit {
            if l as u64 > 100_000_000 {
                e.push(format!("data.limit = {l}: at most 100000000 (or absent for all)"));
            }
        }
    }

    /// A lower bound on the bytes one run holds at once: parameters (with their
    /// gradients and Adam's two moments where trained, once more for the EMA
    /// target), the M transforms, the prototypes, two augmented views of one
    /// batch and the encoder's first activation per view. Only sizes are used:
    /// nothing is allocated. Used to refuse runs that can never fit anywhere.
    fn memory_estimate(&self) -> u64 {
        const F32: f64 = 4.0;
        let m = &self.model;
        let w = m.width;
        let feat = (512.0 * w).round().max(8.0);
        let blocks = match m.backbone {
            super::run::Backbone::Resnet18 => 11.2e6,
            super::run::Backbone::Resnet34 => 21.3e6,
        };
        let encoder = blocks * w * w;
        let (ph, pd, hh, hd) = (m.proj_hidden as f64, m.proj_dim as f64, m.head_hidden as f64, m.head_dim as f64);
        let projector = feat * ph + ph * pd;
        let predictor = pd * ph + ph * pd;
        let k = self.data.clusters as f64;
        let head = feat * hh + hh * hd + k * hd;
        let online = encoder + projector + predictor + head;
        let target = encoder + projector;
        let params = online * 4.0 + target;
        let t = &self.transform;
        let transforms = match t.kind {
            TransformKind::Diagonal => t.m as f64 * hd,
            _ => t.m as f64 * t.d_prime as f64 * hd,
        };
        let b = self.train.batch_size as f64;
        let r = self.data.resolution as f64;
        let views = 2.0 * b * 3.0 * r * r;
        let stride = if self.model.stem == Stem::Imagenet { 4.0 } else { 1.0 };
        let first_act = 2.0 * b * (64.0 * w).max(1.0) * (r / stride) * (r / stride);
        let consensus = b * t.m as f64 * (t.d_prime as f64 + k);
        let total = (params + transforms + views + first_act + consensus) * F32;
        if total.is_finite() && total < u64::MAX as f64 {
            total as u64
        } else {
            u64::MAX
        }
    }

    /// Images per epoch where known without reading files.
    fn dataset_len(&self) -> Option<usize> {
        let d = &self.data;
        let full = match d.dataset {
            DatasetName::Synthetic => Some(d.synthetic.classes * d.synthetic.per_class),
            ds => ds.split_len(d.split),
        };
        match (full, d.limit) {
            (Some(n), Some(l)) => Some(n.min(l)),
            (Some(n), None) => Some(n),
            (None, l) => l,
        }
    }

    /// The method's name in reports: the loss weights' name (`LossConfig::method_name`),
    /// with " + self-labelling" when the stage follows.
    pub fn method_name(&self) -> String {
        let base = self.loss.method_name();
        if self.self_labelling.is_off() {
            base
        } else {
            format!("{base} + self-labelling")
        }
    }

    /// Epochs of the whole run: training, then the self-labelling stage.
    pub fn total_epochs(&self) -> usize {
        self.train.epochs + self.self_labelling.epochs
    }

    /// method.md §11's self-labelling stage; nothing to check when it is off.
    fn validate_self_labelling(&self, e: &mut Vec<String>) {
        let f = &self.self_labelling;
        if f.is_off() {
            return;
        }
        if self.loss.beta == 0.0 && self.loss.gamma == 0.0 {
            e.push("finetune.epochs > 0 needs a trained cluster head: set loss.beta or loss.gamma above 0".into());
        }
        if !(f.confidence > 0.0 && f.confidence <= 1.0) {
            e.push(format!("finetune.confidence = {}: must be in (0, 1]", f.confidence));
        }
        if !(f.strength >= 0.0 && f.strength.is_finite()) {
            e.push(format!("finetune.strength = {}: must be a finite number >= 0", f.strength));
        }
        if !(0.0..1.0).contains(&f.cutout) {
            e.push(format!("finetune.cutout = {}: must be in [0, 1)", f.cutout));
        }
        if !(f.lr > 0.0 && f.lr.is_finite()) {
            e.push(format!("finetune.lr = {}: must be a finite number > 0", f.lr));
        }
    }
}
