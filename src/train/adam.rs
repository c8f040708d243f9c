//! Adam over one flat parameter buffer.
//!
//! tch's optimiser keeps its moments inside libtorch where they cannot be saved,
//! so a resumed run would restart Adam from zero and end with different weights.
//! Here every trainable tensor of the online network is re-pointed (`set_data`)
//! at a slice of one contiguous buffer: the update is then one fused pass on the
//! CPU, or a handful of whole-buffer kernels on a GPU (no per-tensor loop on the
//! hot path), and the moments are two plain tensors that the checkpoint stores.
//! Gradients come from `autograd.grad` ([`FlatAdam::backward`]) rather than
//! `.grad` fields, so no step spends a pass zeroing them.
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
    /// Parameters left out of the step, weights and moments alike (one flag per
    /// parameter; empty: none). See [`FlatAdam::set_frozen`].
    frozen: Vec<bool>,
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
            frozen: Vec::new(),
        }
    }

    /// Leave the parameters flagged in `frozen` (in parameter order) out of the
    /// following steps: their weights and both moments stay as they are. Without
    /// this, Adam's momentum would go on moving weights that get no gradient
    /// (`finetune.freeze_encoder`). Adam being element-wise, the other weights
    /// step exactly as they would with nothing frozen. An empty list unfreezes.
    pub fn set_frozen(&mut self, frozen: Vec<bool>) {
        assert!(frozen.is_empty() || frozen.len() == self.params.len(), "one flag per parameter");
        self.frozen = frozen;
    }

    fn is_frozen(&self, i: usize) -> bool {
        self.frozen.get(i).copied().unwrap_or(false)
    }

    /// The (offset, length) ranges of the flat buffer that a step updates:
    /// consecutive trained parameters merged.
    fn trained_ranges(&self) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = Vec::new();
        let mut offset = 0i64;
        for (i, p) in self.params.iter().enumerate() {
            let n = p.numel() as i64;
            if !self.is_frozen(i) {
                match out.last_mut() {
                    Some((at, len)) if *at + *len == offset => *len += n,
                    _ => out.push((offset, n)),
                }
            }
            offset += n;
        }
        out
    }

    /// Gradients of `loss` with respect to every parameter, in parameter order, as
    /// `torch.autograd.grad` returns them: nothing is accumulated into `.grad`,
    /// so there is nothing to zero before the next step. A parameter the loss
    /// does not reach (the predictor when alpha = 0) gets an undefined tensor.
    pub fn backward(&self, loss: &Tensor) -> Vec<Tensor> {
        Tensor::run_backward(&[loss], &self.params, false, false)
    }

    /// One Adam step (Kingma & Ba, Alg. 1, in torch.optim.Adam's form: L2 weight
    /// decay added to the gradient, denominator sqrt(v) / sqrt(1 - beta2^t) + eps)
    /// from the gradients of [`FlatAdam::backward`]; an undefined gradient counts
    /// as zero. On the CPU one fused pass over the buffers (rayon); elsewhere
    /// whole-buffer tensor kernels ([`FlatAdam::step_unfused`]).
    pub fn step(&mut self, grads: &[Tensor]) {
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        if self.flat.device() == tch::Device::Cpu
            && grads.iter().all(|g| !g.defined() || (g.device() == tch::Device::Cpu && g.kind() == Kind::Float))
        {
            self.step_cpu_fused(grads);
        } else {
            self.step_unfused(grads);
        }
    }

    fn coefficients(&mut self) -> (f32, f32) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        ((self.lr / bc1) as f32, bc2.sqrt() as f32)
    }

    /// The step as whole-buffer tensor operations: the path for CUDA, public so
    /// that tests can hold the fused CPU pass to it.
    pub fn step_unfused(&mut self, grads: &[Tensor]) {
        let (step_size, bc2_sqrt) = self.coefficients();
        tch::no_grad(|| {
            let g_all = self.flat_grad(grads);
            for (at, n) in self.trained_ranges() {
                let mut w = self.flat.narrow(0, at, n);
                let (mut m, mut v) = (self.exp_avg.narrow(0, at, n), self.exp_avg_sq.narrow(0, at, n));
                let mut g = g_all.narrow(0, at, n);
                if self.weight_decay != 0.0 {
                    g += &w * self.weight_decay;
                }
                let _ = m.lerp_(&g, 1.0 - self.beta1);
                let _ = v.g_mul_scalar_(self.beta2);
                let _ = v.addcmul_(&(&g * (1.0 - self.beta2)), &g);
                // w -= step_size * m / (sqrt(v) / sqrt(bc2) + eps), with the scalar
                // folded into the denominator (tch's addcdiv_ takes no `value`).
                let denom = (v.sqrt() / f64::from(bc2_sqrt) + self.eps) * (-1.0 / f64::from(step_size));
                let _ = w.addcdiv_(&m, &denom);
            }
        });
    }

    /// The CPU step as one pass: each element's gradient, both moments and the
    /// weight are read and written once (the tensor path makes nine passes and
    /// four temporaries; on `cpu-small` the optimiser phase fell from 29 ms to
    /// 7 ms per step, `reports/bench.md`). Chunks of the flat buffers go to rayon.
    fn step_cpu_fused(&mut self, grads: &[Tensor]) {
        let (step_size, bc2_sqrt) = self.coefficients();
        // Contiguous copies only where a gradient came back strided (e.g. a
        // convolution weight's gradient in channels-last).
        let grads: Vec<Tensor> =
            grads.iter().map(|g| if g.defined() { g.contiguous() } else { Tensor::new() }).collect();
        let hp = Hyper {
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            eps: self.eps as f32,
            wd: self.weight_decay as f32,
            step_size,
            bc2_sqrt,
        };
        const CHUNK: usize = 1 << 15;
        let mut chunks = Vec::new();
        let mut offset = 0usize;
        for (i, (p, g)) in self.params.iter().zip(&grads).enumerate() {
            let n = p.numel();
            if self.is_frozen(i) {
                offset += n;
                continue;
            }
            let src = g.defined().then(|| {
                assert_eq!(g.numel(), n, "gradient and parameter sizes differ");
                g.data_ptr() as usize
            });
            let mut start = 0;
            while start < n {
                let len = CHUNK.min(n - start);
                chunks.push(Chunk { grad: src.map(|s| s + 4 * start), at: offset + start, len });
                start += len;
            }
            offset += n;
        }
        assert_eq!(offset, self.flat.numel(), "parameters cover the flat buffer");
        let bufs = Buffers {
            w: self.flat.data_ptr() as usize,
            m: self.exp_avg.data_ptr() as usize,
            v: self.exp_avg_sq.data_ptr() as usize,
        };
        use rayon::prelude::*;
        chunks.par_iter().for_each(|c| {
            // SAFETY: the three buffers are contiguous float32 CPU tensors of
            // `offset` elements owned by `self` (created in `new`, never resized),
            // and each gradient is a contiguous float32 CPU tensor of its
            // parameter's size, kept alive by `grads` until the loop ends. Chunks
            // cover disjoint ranges, and nothing else touches these tensors while
            // the (synchronous) CPU step runs.
            let (w, m, v, g) = unsafe {
                (
                    std::slice::from_raw_parts_mut((bufs.w as *mut f32).add(c.at), c.len),
                    std::slice::from_raw_parts_mut((bufs.m as *mut f32).add(c.at), c.len),
                    std::slice::from_raw_parts_mut((bufs.v as *mut f32).add(c.at), c.len),
                    c.grad.map(|p| std::slice::from_raw_parts(p as *const f32, c.len)),
                )
            };
            adam_chunk(&hp, w, m, v, g);
        });
        drop(grads);
    }

    /// Flat gradient; an undefined one contributes zeros.
    fn flat_grad(&self, grads: &[Tensor]) -> Tensor {
        let parts: Vec<Tensor> = self
            .params
            .iter()
            .zip(grads)
            .map(|(p, g)| {
                if g.defined() {
                    g.reshape([-1])
                } else {
                    Tensor::zeros([p.numel() as i64], (Kind::Float, p.device()))
                }
            })
            .collect();
        Tensor::cat(&parts, 0)
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

#[derive(Clone, Copy)]
struct Hyper {
    b1: f32,
    b2: f32,
    eps: f32,
    wd: f32,
    /// lr / (1 - beta1^t)
    step_size: f32,
    /// sqrt(1 - beta2^t)
    bc2_sqrt: f32,
}

/// A range of the flat buffers and where its gradient is (None: zero).
struct Chunk {
    grad: Option<usize>,
    at: usize,
    len: usize,
}

/// Base addresses of the weight and moment buffers (as integers, so that the
/// rayon closure is Send; see the SAFETY note at the use).
struct Buffers {
    w: usize,
    m: usize,
    v: usize,
}

/// torch.optim.Adam's single-tensor update, element by element, in float32 and
/// in its order of operations: m.lerp_(g, 1 - b1); v.mul_(b2).addcmul_(g, g,
/// value = 1 - b2); w.addcdiv_(m, sqrt(v) / sqrt(bc2) + eps, value = -step_size).
fn adam_chunk(h: &Hyper, w: &mut [f32], m: &mut [f32], v: &mut [f32], g: Option<&[f32]>) {
    for i in 0..w.len() {
        let mut gi = g.map_or(0.0, |g| g[i]);
        if h.wd != 0.0 {
            gi += h.wd * w[i];
        }
        let mi = m[i] + (1.0 - h.b1) * (gi - m[i]);
        let vi = v[i] * h.b2 + (1.0 - h.b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= h.step_size * mi / (vi.sqrt() / h.bc2_sqrt + h.eps);
    }
}
