//! Adam over one flat parameter buffer.
//!
//! tch's optimiser keeps its moments inside libtorch where they cannot be saved,
//! so a resumed run would restart Adam from zero and end with different weights.
//! Here every trainable tensor of the online network is re-pointed (`set_data`)
//! at a slice of one contiguous buffer: the update is then a handful of whole-
//! buffer kernels (no per-tensor loop on the hot path), and the moments are two
//! plain tensors that the checkpoint stores.
use tch::{Kind, Tensor};

pub struct FlatAdam {
    params: Vec<Tensor>,
    /// All parameters, concatenated; each entry of `params` is a view into it.
    flat: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// Steps taken (Adam's t, for the bias corrections).
    pub t: i64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl FlatAdam {
    /// Takes the trainable variables (in a fixed order: sorted by name by the caller).
    pub fn new(mut params: Vec<Tensor>, lr: f64, weight_decay: f64) -> Self {
        assert!(!params.is_empty(), "FlatAdam needs at least one parameter");
        let device = params[0].device();
        let numel: i64 = params.iter().map(|p| p.numel() as i64).sum();
        let flat = Tensor::zeros([numel], (Kind::Float, device));
        let mut offset = 0i64;
        tch::no_grad(|| {
            for p in params.iter_mut() {
                let n = p.numel() as i64;
                let mut view = flat.narrow(0, offset, n).view(p.size().as_slice());
                view.copy_(p);
                p.set_data(&view);
                offset += n;
            }
        });
        Self {
            params,
            exp_avg: flat.zeros_like(),
            exp_avg_sq: flat.zeros_like(),
            flat,
            t: 0,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// Flat gradient; a parameter that got no gradient this step (e.g. the
    /// predictor when alpha = 0) contributes zeros.
    fn flat_grad(&self) -> Tensor {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| {
                let g = p.grad();
                if g.defined() {
                    g.reshape([-1])
                } else {
                    Tensor::zeros([p.numel() as i64], (Kind::Float, p.device()))
                }
            })
            .collect();
        Tensor::cat(&grads, 0)
    }

    /// One Adam step (Kingma & Ba, Alg. 1; L2 weight decay added to the gradient
    /// as torch.optim.Adam does).
    pub fn step(&mut self) {
        tch::no_grad(|| {
            let mut g = self.flat_grad();
            if self.weight_decay != 0.0 {
                g = g + &self.flat * self.weight_decay;
            }
            self.t += 1;
            let bc1 = 1.0 - self.beta1.powi(self.t as i32);
            let bc2 = 1.0 - self.beta2.powi(self.t as i32);
            let _ = self.exp_avg.lerp_(&g, 1.0 - self.beta1);
            let _ = self.exp_avg_sq.g_mul_scalar_(self.beta2);
            let _ = self.exp_avg_sq.addcmul_(&(&g * (1.0 - self.beta2)), &g);
            let denom = (&self.exp_avg_sq / bc2).sqrt() + self.eps;
            let _ = self.flat.addcdiv_(&(&self.exp_avg * (-self.lr / bc1)), &denom);
        });
    }

    /// State for the checkpoint: (name, tensor) pairs plus the step count.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        vec![
            ("adam.exp_avg".into(), self.exp_avg.shallow_clone()),
            ("adam.exp_avg_sq".into(), self.exp_avg_sq.shallow_clone()),
        ]
    }

    pub fn load_state(&mut self, exp_avg: &Tensor, exp_avg_sq: &Tensor, t: i64) -> anyhow::Result<()> {
        anyhow::ensure!(
            exp_avg.size() == self.exp_avg.size() && exp_avg_sq.size() == self.exp_avg_sq.size(),
            "optimiser state has {:?} entries, the model {:?}: the checkpoint belongs to another configuration",
            exp_avg.size(),
            self.exp_avg.size()
        );
        tch::no_grad(|| {
            self.exp_avg.copy_(exp_avg);
            self.exp_avg_sq.copy_(exp_avg_sq);
        });
        self.t = t;
        Ok(())
    }
}
