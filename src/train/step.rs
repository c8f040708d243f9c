//! One ConCURL training step (method.md §3), shared by the trainer and `sweep bench`.
use std::time::Instant;

use tch::nn::ModuleT;
use tch::{Device, Tensor};

use crate::augment::Augmenter;
use crate::config::{LossConfig, Representation, RunConfig};
use crate::loss::{self, LossPart, LossTerms, Transforms, ViewOutputs};
use crate::model::{ema, Networks, OnlineOut};
use crate::util::mix_seed;

use super::optim::{FlatOptimizer, OptimSettings};
use crate::runtime::autocast;

/// Salts for the seeds derived from the run's one seed.
const SALT_INIT: u64 = 1;
pub const SALT_STEP: u64 = 2;
pub const SALT_ORDER: u64 = 3;
const SALT_TRANSFORMS: u64 = 4;
pub const SALT_EVAL: u64 = 5;

/// Where a step's time goes (seconds; filled only when a timer is passed, which
/// synchronises the device at each boundary).
#[derive(Debug, Default, Clone)]
pub struct PhaseTimes {
    pub augment: f64,
    pub online: f64,
    pub target: f64,
    pub l1: f64,
    pub sinkhorn: f64,
    pub l2: f64,
    pub consensus: f64,
    pub backward: f64,
    pub optimizer: f64,
    pub ema: f64,
}

impl PhaseTimes {
    pub fn names() -> [&'static str; 10] {
        [
            "augment",
            "online forward",
            "target forward",
            "L1 (BYOL)",
            "Sinkhorn codes",
            "L2 (soft clusters)",
            "L3 (consensus, M)",
            "backward",
            "optimiser",
            "EMA",
        ]
    }
    pub fn values(&self) -> [f64; 10] {
        [
            self.augment,
            self.online,
            self.target,
            self.l1,
            self.sinkhorn,
            self.l2,
            self.consensus,
            self.backward,
            self.optimizer,
            self.ema,
        ]
    }
}

/// The phases' clock of one step: when timing, each lap synchronises the device
/// so a phase's time is its kernels' time, not their launch's.
struct StepClock {
    device: Device,
    /// None: not timing (no synchronisation, laps are 0).
    last: Option<Instant>,
    times: PhaseTimes,
}

impl StepClock {
    fn new(timing: bool, device: Device) -> Self {
        Self { device, last: timing.then(Instant::now), times: PhaseTimes::default() }
    }

    fn lap(&mut self) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        crate::runtime::device::synchronize(self.device);
        let now = Instant::now();
        self.last = Some(now);
        now.duration_since(last).as_secs_f64()
    }
}

/// The online outputs of both views, the target's projections (BYOL only),
/// and the multi-crop views' cluster embeddings (method.md §12).
struct StepViews {
    online: [OnlineOut; 2],
    target: Option<[Tensor; 2]>,
    small: Option<SmallViews>,
}

/// All small views of a step stacked (V B rows, view-major): their cluster
/// embeddings, and the over-clustering head's when there is one.
struct SmallViews {
    z: Tensor,
    z_over: Option<Tensor>,
}

/// What learns in one run: its networks, fixed transforms, augmenter and
/// optimiser, and the step that moves them ([`Learner::step`]).
pub struct Learner {
    pub cfg: RunConfig,
    pub device: Device,
    /// Online and target networks (the target packed for a one-kernel EMA).
    pub nets: Networks,
    pub transforms: Transforms,
    pub augmenter: Augmenter,
    pub optim: FlatOptimizer,
    /// Which of the optimiser's parameters (in its order) are the encoder's:
    /// what `finetune.freeze_encoder` freezes.
    pub encoder_params: Vec<bool>,
    /// Which are prototypes (the main head's and the over-clustering head's):
    /// what `train.freeze_prototypes_steps` holds still.
    pub prototype_params: Vec<bool>,
    /// The loss weights while the clustering terms are delayed
    /// (`train.cluster_delay_epochs`): the run's, with beta = gamma = 0.
    delayed_loss: LossConfig,
}

impl Learner {
    /// Builds everything from the seed: initialisation under `manual_seed(seed,
    /// SALT_INIT)`, the transforms from their own RNG stream.
    pub fn new(cfg: &RunConfig, stored_channels: i64, device: Device) -> anyhow::Result<Self> {
        let augmenter = Augmenter::new(cfg, stored_channels, device);
        let in_ch = augmenter.out_channels();
        let nets = crate::runtime::rng::seeded(mix_seed(cfg.seed, SALT_INIT), || Networks::new(cfg, in_ch, device));
        let transforms = Transforms::new(
            cfg.transform.kind,
            cfg.transform.m,
            cfg.transform.d_prime,
            cfg.model.head_dim,
            mix_seed(cfg.seed, SALT_TRANSFORMS),
            device,
        );
        // Fixed order (by name) so that the flat optimiser layout is stable across runs.
        let mut named: Vec<(String, Tensor)> =
            nets.online_vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let encoder_params = named.iter().map(|(name, _)| name.starts_with("encoder.")).collect();
        let prototype_params =
            named.iter().map(|(name, _)| name == "prototypes" || name.ends_with(".prototypes")).collect();
        let t = &cfg.train;
        let settings = OptimSettings {
            rule: t.optimizer,
            lr: t.lr,
            weight_decay: t.weight_decay,
            momentum: t.momentum,
            trust_coefficient: t.trust_coefficient,
        };
        let optim = FlatOptimizer::new(named.into_iter().map(|(_, t)| t).collect(), settings);
        let delayed_loss = LossConfig { beta: 0.0, gamma: 0.0, ..cfg.loss.clone() };
        Ok(Self {
            cfg: cfg.clone(),
            device,
            nets,
            transforms,
            augmenter,
            optim,
            encoder_params,
            prototype_params,
            delayed_loss,
        })
    }

    /// The learning rate of `global_step` (method.md §12): `train.lr` under the
    /// paper's recipe, else the warm-up and decay of `train.lr_schedule` over
    /// the `total_steps` of training proper.
    pub fn lr_at(&self, global_step: usize, total_steps: usize) -> f64 {
        self.cfg.train.lr_at(global_step, self.steps_per_epoch(total_steps))
    }

    fn steps_per_epoch(&self, total_steps: usize) -> usize {
        total_steps / self.cfg.train.epochs.max(1)
    }

    /// Whether this step trains the representation alone (method.md §12,
    /// `train.cluster_delay_epochs`): L2 and L3 without gradient, the
    /// prototypes still.
    pub fn clusters_delayed(&self, global_step: usize, total_steps: usize) -> bool {
        global_step < self.cfg.train.cluster_delay_steps(self.steps_per_epoch(total_steps))
    }

    /// tau_B for this step: fixed, or BYOL's cosine schedule to 1 when enabled.
    pub fn ema_tau(&self, global_step: usize, total_steps: usize) -> f64 {
        if self.cfg.train.ema_cosine {
            ema::cosine_tau(self.cfg.train.ema_tau, global_step, total_steps)
        } else {
            self.cfg.train.ema_tau
        }
    }

    /// One optimisation step on a uint8 batch already on the device.
    /// Returns [L, L1, L2, L3] (detached, on the device: no host sync here).
    pub fn step(
        &mut self,
        batch: &Tensor,
        global_step: usize,
        total_steps: usize,
        times: Option<&mut PhaseTimes>,
    ) -> Tensor {
        let mut clock = StepClock::new(times.is_some(), self.device);
        let views = self.forward_views(batch, global_step, &mut clock);
        let delayed = self.clusters_delayed(global_step, total_steps);
        let (total, terms) = self.step_loss(&views, delayed, &mut clock);
        self.update(&total, global_step, total_steps, delayed, &mut clock);
        if let Some(t) = times {
            *t = clock.times;
        }
        Tensor::stack(&[total.detach(), terms.l1.detach(), terms.l2.detach(), terms.l3.detach()], 0)
    }

    /// The step's two augmented views through the online network and, for BYOL,
    /// the target.
    fn forward_views(&self, batch: &Tensor, global_step: usize, clock: &mut StepClock) -> StepViews {
        let (bf16, device) = (self.cfg.train.bf16, self.device);
        // Re-seeding per step makes every random draw a function of (seed, step):
        // exact resume from any checkpoint needs no RNG state. The augmentations
        // are the step's only draws.
        let seed = mix_seed(self.cfg.seed, SALT_STEP ^ ((global_step as u64) << 8));
        let small_crops = self.cfg.augment.small_crops;
        let (x1, x2, xs) = crate::runtime::rng::seeded(seed, || self.augmenter.views(batch, small_crops));
        clock.times.augment += clock.lap();

        let nets = &self.nets;
        let online =
            autocast::bf16(bf16, device, || [nets.online.forward_t(&x1, true), nets.online.forward_t(&x2, true)]);
        clock.times.online += clock.lap();

        // BYOL: the target gets no gradient (method.md §2); it runs in training
        // mode as in BYOL. SimCLR (method.md §11) has no target: L1 reads the
        // online projections, and the target network is neither run nor updated.
        let target = (self.cfg.loss.representation != Representation::Simclr).then(|| {
            autocast::bf16(bf16, device, || [nets.target.forward_t(&x1, true), nets.target.forward_t(&x2, true)])
        });
        clock.times.target += clock.lap();
        // The small views feed L2 and L3 only: the encoder and cluster heads.
        let small = xs.map(|xs| {
            let (y, z) = autocast::bf16(bf16, device, || nets.online.embed(&xs, true));
            let z_over = nets.online.over.as_ref().map(|o| autocast::bf16(bf16, device, || o.head.forward_t(&y, true)));
            SmallViews { z, z_over }
        });
        clock.times.online += clock.lap();
        StepViews { online, target, small }
    }

    /// L = alpha L1 + beta L2 + gamma L3 (method.md §3), in float32 outside
    /// autocast (softmax, logs and Sinkhorn need the range), plus the
    /// over-clustering head's own L2 and L3 (method.md §11) when there is one.
    /// While the clustering terms are `delayed` (§12), beta = gamma = 0: L2 and
    /// L3 are computed for the log, without gradient, and the over-clustering
    /// head sits out.
    fn step_loss(&self, views: &StepViews, delayed: bool, clock: &mut StepClock) -> (Tensor, LossTerms) {
        let loss_cfg = if delayed { &self.delayed_loss } else { &self.cfg.loss };
        let [o1, o2] = &views.online;
        let (w, v) = match &views.target {
            Some([v1, v2]) => ([&o1.prediction, &o2.prediction], [v1, v2]),
            None => ([&o1.projection, &o2.projection], [&o1.projection, &o2.projection]),
        };
        let nets = &self.nets;
        let small = views.small.as_ref();
        let terms = loss::concurl_loss_marked(
            ViewOutputs { w: w[0], v: v[0], z: &o1.z },
            ViewOutputs { w: w[1], v: v[1], z: &o2.z },
            small.map(|s| &s.z),
            &nets.online.prototypes,
            loss_cfg,
            &self.transforms,
            &mut |part| {
                let dt = clock.lap();
                let t = &mut clock.times;
                match part {
                    LossPart::Byol => t.l1 += dt,
                    LossPart::Sinkhorn => t.sinkhorn += dt,
                    LossPart::SoftCluster => t.l2 += dt,
                    LossPart::Consensus => t.consensus += dt,
                }
            },
        );
        let total = match (&nets.online.over, &o1.z_over, &o2.z_over) {
            (Some(over), Some(zo1), Some(zo2)) if !delayed => {
                let zs = small.and_then(|s| s.z_over.as_ref());
                &terms.total + loss::overcluster_loss(zo1, zo2, zs, &over.prototypes, &self.cfg.loss, &self.transforms)
            }
            _ => terms.total.shallow_clone(),
        };
        (total, terms)
    }

    /// Backward, the optimiser at this step's learning rate (the prototypes
    /// held still during their warm-up and while the clustering terms are
    /// `delayed`), the prototypes' renormalisation when asked, and (BYOL) the
    /// target's EMA.
    fn update(&mut self, total: &Tensor, global_step: usize, total_steps: usize, delayed: bool, clock: &mut StepClock) {
        let grads = self.optim.backward(total);
        clock.times.backward += clock.lap();
        self.optim.settings.lr = self.lr_at(global_step, total_steps);
        let warming = global_step < self.cfg.train.freeze_prototypes_steps || delayed;
        if warming != self.optim.has_frozen() {
            self.optim.set_frozen(if warming { self.prototype_params.clone() } else { Vec::new() });
        }
        self.optim.step(&grads);
        if self.cfg.loss.renormalize_prototypes {
            self.nets.online.renormalize_prototypes();
        }
        clock.times.optimizer += clock.lap();
        if self.cfg.loss.representation != Representation::Simclr {
            self.nets.update_target(self.ema_tau(global_step, total_steps));
        }
        clock.times.ema += clock.lap();
    }

    /// Everything a checkpoint holds besides counters.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (name, t) in self.nets.online_vs.variables() {
            out.push((format!("online.{name}"), t));
        }
        for (name, t) in self.nets.target_vs.variables() {
            out.push((format!("target.{name}"), t));
        }
        out.extend(self.optim.state());
        out.push(("transforms".into(), self.transforms.a.shallow_clone()));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Restores a checkpoint written by [`Learner::state_tensors`].
    pub fn load_state(&mut self, tensors: Vec<(String, Tensor)>, adam_t: i64) -> anyhow::Result<()> {
        let mut map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        let mut take = |name: &str| -> anyhow::Result<Tensor> {
            map.remove(name)
                .ok_or_else(|| anyhow::anyhow!("checkpoint lacks `{name}`: it was written by another configuration"))
        };
        tch::no_grad(|| -> anyhow::Result<()> {
            for (prefix, vs) in [("online", &self.nets.online_vs), ("target", &self.nets.target_vs)] {
                for (name, mut var) in vs.variables() {
                    let src = take(&format!("{prefix}.{name}"))?;
                    anyhow::ensure!(
                        src.size() == var.size(),
                        "checkpoint `{prefix}.{name}` has shape {:?}, the model {:?}",
                        src.size(),
                        var.size()
                    );
                    var.copy_(&src.to_device(self.device));
                }
            }
            let a = take("transforms")?;
            anyhow::ensure!(
                a.size() == self.transforms.a.size(),
                "checkpoint transforms have shape {:?}, expected {:?}",
                a.size(),
                self.transforms.a.size()
            );
            self.transforms.a.copy_(&a.to_device(self.device));
            Ok(())
        })?;
        self.optim.load_state(&mut map, adam_t)
    }
}
