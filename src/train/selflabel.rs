//! One step of the self-labelling stage (method.md §11): pseudo-labels from the
//! Sinkhorn codes of the un-augmented view, cross-entropy of the cluster head's
//! p on a strongly augmented view. It trains the encoder too, or with
//! `finetune.freeze_encoder` the heads and prototypes only; the target network
//! is neither run nor updated. Labels are never read.
use tch::nn::ModuleT;
use tch::{Kind, Tensor};

use crate::loss;
use crate::util::mix_seed;

use super::step::{Learner, SALT_STEP};
use crate::runtime::autocast;

impl Learner {
    /// One optimisation step of the stage on a uint8 batch already on the
    /// device, at the stage's Adam's `finetune.lr`. Returns [CE, confident share, 0, 0]
    /// (detached, on the device): the shape of [`Learner::step`]'s [L, L1, L2,
    /// L3], so that both phases stack alike; the trainer names them by phase
    /// (`StepTerms` in train/mod.rs).
    pub fn self_label_step(&mut self, batch: &Tensor, global_step: usize) -> Tensor {
        let f = self.cfg.self_labelling.clone();
        let (bf16, device) = (self.cfg.train.bf16, self.device);
        // Every draw a function of (seed, step), as in training: exact resume.
        let seed = mix_seed(self.cfg.seed, SALT_STEP ^ ((global_step as u64) << 8));
        let strong = crate::runtime::rng::seeded(seed, || self.augmenter.strong_view(batch, f.strength, f.cutout));
        let weak = self.augmenter.eval(batch);
        let online = &self.nets.online;
        let lc = &self.cfg.loss;
        // The pseudo-labels: batch Sinkhorn codes of the weak view, in
        // evaluation mode (BatchNorm's running statistics), without gradient.
        let codes = tch::no_grad(|| {
            let (_, z) = autocast::bf16(bf16, device, || online.embed(&weak, false));
            let scores = loss::cosine_scores(&z.to_kind(Kind::Float), &online.prototypes);
            loss::sinkhorn(&scores, lc.sinkhorn_eps, lc.sinkhorn_iters)
        });
        let z = autocast::bf16(bf16, device, || {
            if f.freeze_encoder {
                let y = tch::no_grad(|| online.encoder.forward_t(&strong, false));
                online.head.forward_t(&y, true)
            } else {
                online.embed(&strong, true).1
            }
        });
        let scores = loss::cosine_scores(&z.to_kind(Kind::Float), &online.prototypes);
        let logp = loss::log_assignments(&scores, lc.tau);
        let terms = loss::self_label_loss(&codes, &logp, f.confidence, f.balance);

        // The stage's own Adam at a constant `finetune.lr`, whatever the first
        // phase trained with (method.md §11).
        self.optim.enter_adam_stage(f.lr);
        self.optim.set_frozen(if f.freeze_encoder { self.encoder_params.clone() } else { Vec::new() });
        let grads = self.optim.backward(&terms.loss);
        self.optim.step(&grads);
        if self.cfg.loss.renormalize_prototypes {
            self.nets.online.renormalize_prototypes();
        }
        let zero = Tensor::zeros([], (Kind::Float, device));
        Tensor::stack(&[terms.loss.detach(), terms.confident, zero.shallow_clone(), zero], 0)
    }
}
