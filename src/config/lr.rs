//! The learning rate as a function of the step (method.md §12): linear warm-up,
//! then constant or half-cosine decay ending at training's last step.
use super::run::{LrSchedule, TrainConfig};

impl TrainConfig {
    /// Steps of the linear warm-up: `warmup_epochs` epochs of `steps_per_epoch`,
    /// rounded to the nearest step.
    pub fn warmup_steps(&self, steps_per_epoch: usize) -> usize {
        (self.warmup_epochs * steps_per_epoch as f64).round() as usize
    }

    /// Steps before L2 and L3 join the loss: `cluster_delay_epochs` epochs of
    /// `steps_per_epoch`, rounded to the nearest step.
    pub fn cluster_delay_steps(&self, steps_per_epoch: usize) -> usize {
        (self.cluster_delay_epochs * steps_per_epoch as f64).round() as usize
    }

    /// The learning rate of 0-based `step` of training proper, which lasts
    /// `epochs x steps_per_epoch` steps.
    ///
    /// - Warm-up (`step < w`): `lr (step + 1) / w`, so the first step is not
    ///   wasted at 0 and step `w - 1` reaches `lr`.
    /// - After it, `constant`: `lr`; `cosine`:
    ///   `final_lr + (lr - final_lr) (1 + cos(pi t)) / 2` with
    ///   `t = (step - w) / (n - w - 1)` over the `n` steps of training, so the
    ///   first step after the warm-up takes `lr` and the last one `final_lr`.
    ///
    /// Steps past the end keep the last value (the self-labelling stage has its
    /// own learning rate and never asks).
    pub fn lr_at(&self, step: usize, steps_per_epoch: usize) -> f64 {
        let total = self.epochs * steps_per_epoch;
        let warm = self.warmup_steps(steps_per_epoch).min(total);
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        match self.lr_schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::Cosine => {
                let span = total.saturating_sub(warm + 1);
                let t = if span == 0 { 1.0 } else { ((step - warm) as f64 / span as f64).min(1.0) };
                self.final_lr + (self.lr - self.final_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}
