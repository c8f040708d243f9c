//! The optimisers (Adam, SGD with momentum, LARS) over one flat parameter buffer,
//! and their checkpointed state (method.md §4, §12).
//!
//! tch's optimisers keep their state inside libtorch where it cannot be saved,
//! so a resumed run would restart it from zero and end with different weights.
//! Here every trainable tensor of the online network is re-pointed (`set_data`)
//! at a slice of one contiguous buffer: the update is then one fused pass on the
//! CPU, or a handful of whole-buffer kernels on a GPU, and the state is plain
//! tensors that the checkpoint stores. Gradients come from `autograd.grad`
//! ([`FlatOptimizer::backward`]) rather than `.grad` fields, so no step spends a
//! pass zeroing them.
//!
//! Step counts are kept per parameter, as PyTorch keeps them: a parameter that
//! sits out steps (the prototypes during their warm-up, the encoder in a frozen
//! self-labelling stage) starts Adam's bias correction, and SGD's momentum
//! buffer, at its own first step.
use std::collections::HashMap;

use tch::{Kind, Tensor};

use crate::config::Optimizer;

/// torch.optim.Adam's defaults.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;
/// solo-learn's LARS denominator guard.
const LARS_EPS: f64 = 1e-8;

/// The hyper-parameters of one optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimSettings {
    pub rule: Optimizer,
    pub lr: f64,
    pub weight_decay: f64,
    /// SGD and LARS.
    pub momentum: f64,
    /// LARS's eta.
    pub trust_coefficient: f64,
}

impl OptimSettings {
    /// Adam at `lr` with L2 weight decay `wd` (the paper's optimiser).
    pub fn adam(lr: f64, weight_decay: f64) -> Self {
        Self { rule: Optimizer::Adam, lr, weight_decay, momentum: 0.0, trust_coefficient: 0.0 }
    }
}

pub struct FlatOptimizer {
    params: Vec<Tensor>,
    /// 1-D parameters (biases, BatchNorm): left out of LARS's scaling and decay.
    one_dim: Vec<bool>,
    /// All parameters, concatenated; each entry of `params` is a view into it.
    flat: Tensor,
    /// Adam's first moment, or the momentum buffer of SGD and LARS.
    buf1: Tensor,
    /// Adam's second moment (kept, unused, for SGD and LARS: one layout).
    buf2: Tensor,
    /// Steps taken by each parameter.
    steps: Vec<i64>,
    pub settings: OptimSettings,
    /// Parameters left out of the step, weights and state alike (one flag per
    /// parameter; empty: none). See [`FlatOptimizer::set_frozen`].
    frozen: Vec<bool>,
}

/// What one parameter's update needs this step.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Coef {
    /// lr / (1 - beta1^t) and sqrt(1 - beta2^t) for this parameter's t.
    Adam { step_size: f32, bc2_sqrt: f32 },
    /// d = (g + wd w) scale; buf = d on the first step, else momentum buf + d;
    /// w -= lr buf. SGD has scale 1; LARS its trust ratio.
    Momentum { first: bool, scale: f32, wd: f32 },
}

impl FlatOptimizer {
    /// Takes the trainable variables (in a fixed order: sorted by name by the caller).
    pub fn new(mut params: Vec<Tensor>, settings: OptimSettings) -> Self {
        assert!(!params.is_empty(), "the optimiser needs at least one parameter");
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
        let one_dim = params.iter().map(|p| p.dim() == 1).collect();
        let steps = vec![0; params.len()];
        Self {
            params,
            one_dim,
            buf1: flat.zeros_like(),
            buf2: flat.zeros_like(),
            flat,
            steps,
            settings,
            frozen: Vec::new(),
        }
    }

    /// Leave the parameters flagged in `frozen` (in parameter order) out of the
    /// following steps: their weights, state and step counts stay as they are.
    /// Without this, momentum would go on moving weights that get no gradient.
    /// Every rule is element-wise per parameter, so the other weights step
    /// exactly as they would with nothing frozen. An empty list unfreezes.
    pub fn set_frozen(&mut self, frozen: Vec<bool>) {
        assert!(frozen.is_empty() || frozen.len() == self.params.len(), "one flag per parameter");
        self.frozen = frozen;
    }

    /// Whether some parameters sit out the steps now ([`FlatOptimizer::set_frozen`]).
    pub fn has_frozen(&self) -> bool {
        self.frozen.iter().any(|&f| f)
    }

    fn is_frozen(&self, i: usize) -> bool {
        self.frozen.get(i).copied().unwrap_or(false)
    }

    /// Steps taken by each parameter, in parameter order.
    pub fn steps(&self) -> &[i64] {
        &self.steps
    }

    /// The self-labelling stage trains with its own Adam (method.md §11): after
    /// SGD or LARS, the rule becomes Adam with fresh state; after Adam, the
    /// moments carry over (as they always have). Idempotent.
    pub fn enter_adam_stage(&mut self, lr: f64) {
        if self.settings.rule != Optimizer::Adam {
            self.settings = OptimSettings::adam(lr, self.settings.weight_decay);
            tch::no_grad(|| {
                let _ = self.buf1.zero_();
                let _ = self.buf2.zero_();
            });
            self.steps.iter_mut().for_each(|s| *s = 0);
        }
        self.settings.lr = lr;
    }

    /// Gradients of `loss` with respect to every parameter, in parameter order, as
    /// `torch.autograd.grad` returns them: nothing is accumulated into `.grad`,
    /// so there is nothing to zero before the next step. A parameter the loss
    /// does not reach (the predictor when alpha = 0) gets an undefined tensor.
    pub fn backward(&self, loss: &Tensor) -> Vec<Tensor> {
        Tensor::run_backward(&[loss], &self.params, false, false)
    }

    /// One step from the gradients of [`FlatOptimizer::backward`]; an undefined
    /// gradient counts as zero (its state still decays: PyTorch would skip the
    /// parameter). On the CPU one fused pass over the buffers (rayon); elsewhere
    /// whole-buffer tensor kernels ([`FlatOptimizer::step_unfused`]).
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

    /// This step's coefficients, one per parameter (None: frozen), counting the
    /// step for every parameter that takes it.
    fn coefficients(&mut self, grads: &[Tensor]) -> Vec<Option<Coef>> {
        let s = self.settings;
        let lars = if s.rule == Optimizer::Lars { self.lars_ratios(grads) } else { Vec::new() };
        (0..self.params.len())
            .map(|i| {
                if self.is_frozen(i) {
                    return None;
                }
                self.steps[i] += 1;
                let t = self.steps[i];
                Some(match s.rule {
                    Optimizer::Adam => {
                        let bc1 = 1.0 - BETA1.powi(t as i32);
                        let bc2 = 1.0 - BETA2.powi(t as i32);
                        Coef::Adam { step_size: (s.lr / bc1) as f32, bc2_sqrt: bc2.sqrt() as f32 }
                    }
                    Optimizer::Sgd => Coef::Momentum { first: t == 1, scale: 1.0, wd: s.weight_decay as f32 },
                    Optimizer::Lars => {
                        let (scale, wd) = lars[i];
                        Coef::Momentum { first: t == 1, scale, wd }
                    }
                })
            })
            .collect()
    }

    /// LARS's trust ratio and weight decay of every parameter (solo-learn's
    /// `LARS`, exclude_bias_n_norm_lars = True, no clipping): a 1-D parameter,
    /// a frozen one, or one whose weight or gradient norm is zero, steps as plain
    /// SGD without weight decay; the others scale (g + wd w) by
    /// eta ||w|| / (||g|| + wd ||w|| + eps). Float32, as torch computes it. The
    /// norms are stacked and read back to the host once per step, not twice per
    /// parameter (each read is a device sync on a GPU).
    fn lars_ratios(&self, grads: &[Tensor]) -> Vec<(f32, f32)> {
        let adapted: Vec<usize> =
            (0..self.params.len()).filter(|&i| !self.one_dim[i] && !self.is_frozen(i) && grads[i].defined()).collect();
        let mut ratios = vec![(1.0, 0.0); self.params.len()];
        if adapted.is_empty() {
            return ratios;
        }
        let norms: Vec<Tensor> =
            adapted.iter().flat_map(|&i| [self.params[i].detach().norm(), grads[i].detach().norm()]).collect();
        let norms = Tensor::stack(&norms, 0).to_kind(Kind::Float).to_device(tch::Device::Cpu);
        let norms = Vec::<f32>::try_from(norms).expect("norms are a float vector");
        let s = self.settings;
        let wd = s.weight_decay as f32;
        for (k, &i) in adapted.iter().enumerate() {
            let (w, g) = (norms[2 * k], norms[2 * k + 1]);
            if w != 0.0 && g != 0.0 {
                ratios[i] = (w / (g + w * wd + LARS_EPS as f32) * s.trust_coefficient as f32, wd);
            }
        }
        ratios
    }

    /// The step as tensor operations over ranges of the flat buffer (consecutive
    /// parameters with the same coefficients merged): the path for CUDA, public
    /// so that tests can hold the fused CPU pass to it.
    pub fn step_unfused(&mut self, grads: &[Tensor]) {
        let coefs = self.coefficients(grads);
        let s = self.settings;
        tch::no_grad(|| {
            let g_all = self.flat_grad(grads);
            for (at, n, coef) in self.ranges(&coefs) {
                let mut w = self.flat.narrow(0, at, n);
                let mut m = self.buf1.narrow(0, at, n);
                let g = g_all.narrow(0, at, n);
                match coef {
                    Coef::Adam { step_size, bc2_sqrt } => {
                        let mut v = self.buf2.narrow(0, at, n);
                        let g = if s.weight_decay != 0.0 { &g + &w * s.weight_decay } else { g };
                        let _ = m.lerp_(&g, 1.0 - BETA1);
                        let _ = v.g_mul_scalar_(BETA2);
                        let _ = v.addcmul_(&(&g * (1.0 - BETA2)), &g);
                        // w -= step_size * m / (sqrt(v) / sqrt(bc2) + eps), the scalar
                        // folded into the denominator (tch's addcdiv_ takes no `value`).
                        let denom = (v.sqrt() / f64::from(bc2_sqrt) + ADAM_EPS) * (-1.0 / f64::from(step_size));
                        let _ = w.addcdiv_(&m, &denom);
                    }
                    Coef::Momentum { first, scale, wd } => {
                        let g = if wd != 0.0 { &g + &w * f64::from(wd) } else { g };
                        let d = if scale != 1.0 { g * f64::from(scale) } else { g };
                        if first {
                            m.copy_(&d);
                        } else {
                            let _ = m.g_mul_scalar_(s.momentum);
                            m += &d;
                        }
                        let _ = w.g_sub_(&(&m * s.lr));
                    }
                }
            }
        });
    }

    /// (offset, length, coefficients) of the trained ranges, consecutive
    /// parameters with equal coefficients merged.
    fn ranges(&self, coefs: &[Option<Coef>]) -> Vec<(i64, i64, Coef)> {
        let mut out: Vec<(i64, i64, Coef)> = Vec::new();
        let mut offset = 0i64;
        for (p, c) in self.params.iter().zip(coefs) {
            let n = p.numel() as i64;
            if let Some(c) = c {
                match out.last_mut() {
                    Some((at, len, prev)) if *at + *len == offset && prev == c => *len += n,
                    _ => out.push((offset, n, *c)),
                }
            }
            offset += n;
        }
        out
    }

    /// The CPU step as one pass: each element's gradient, state and weight are
    /// read and written once (the tensor path makes nine passes and four
    /// temporaries for Adam; on `cpu-small` the optimiser phase fell from 29 ms
    /// to 7 ms per step, `reports/bench.md`). Chunks go to rayon.
    fn step_cpu_fused(&mut self, grads: &[Tensor]) {
        let coefs = self.coefficients(grads);
        // Contiguous copies only where a gradient came back strided (e.g. a
        // convolution weight's gradient in channels-last).
        let grads: Vec<Tensor> =
            grads.iter().map(|g| if g.defined() { g.contiguous() } else { Tensor::new() }).collect();
        let chunks = self.chunks(&grads, &coefs);
        let s = self.settings;
        let hp = Hyper { wd: s.weight_decay as f32, lr: s.lr as f32, momentum: s.momentum as f32 };
        let bufs = Buffers {
            w: self.flat.data_ptr() as usize,
            m: self.buf1.data_ptr() as usize,
            v: self.buf2.data_ptr() as usize,
        };
        use rayon::prelude::*;
        chunks.par_iter().for_each(|c| {
            // SAFETY: the three buffers are contiguous float32 CPU tensors of
            // `flat.numel()` elements owned by `self` (created in `new`, never
            // resized), and each gradient is a contiguous float32 CPU tensor of its
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
            match c.coef {
                Coef::Adam { step_size, bc2_sqrt } => adam_chunk(&hp, step_size, bc2_sqrt, w, m, v, g),
                Coef::Momentum { first, scale, wd } => momentum_chunk(&hp, first, scale, wd, w, m, g),
            }
        });
        drop(grads);
    }

    /// The fused pass's work items: each trained parameter cut into chunks.
    fn chunks(&self, grads: &[Tensor], coefs: &[Option<Coef>]) -> Vec<Chunk> {
        const CHUNK: usize = 1 << 15;
        let mut chunks = Vec::new();
        let mut offset = 0usize;
        for ((p, g), coef) in self.params.iter().zip(grads).zip(coefs) {
            let n = p.numel();
            let Some(coef) = *coef else {
                offset += n;
                continue;
            };
            let src = g.defined().then(|| {
                assert_eq!(g.numel(), n, "gradient and parameter sizes differ");
                g.data_ptr() as usize
            });
            let mut start = 0;
            while start < n {
                let len = CHUNK.min(n - start);
                chunks.push(Chunk { grad: src.map(|s| s + 4 * start), at: offset + start, len, coef });
                start += len;
            }
            offset += n;
        }
        assert_eq!(offset, self.flat.numel(), "parameters cover the flat buffer");
        chunks
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

    /// State for the checkpoint, by name: Adam's moments as `adam.exp_avg` and
    /// `adam.exp_avg_sq` (the names checkpoints have always used), SGD's and
    /// LARS's momentum buffer as `sgd.momentum`, and the per-parameter step
    /// counts as `optim.steps`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = match self.settings.rule {
            Optimizer::Adam => vec![
                ("adam.exp_avg".to_string(), self.buf1.shallow_clone()),
                ("adam.exp_avg_sq".to_string(), self.buf2.shallow_clone()),
            ],
            Optimizer::Sgd | Optimizer::Lars => vec![("sgd.momentum".to_string(), self.buf1.shallow_clone())],
        };
        out.push(("optim.steps".into(), Tensor::from_slice(&self.steps)));
        out
    }

    /// Restores [`FlatOptimizer::state`] from a checkpoint's tensors (taking what
    /// it reads out of `map`). A checkpoint holding Adam's moments while this
    /// optimiser is SGD or LARS was written in the self-labelling stage: the
    /// stage's Adam is restored. A checkpoint from before per-parameter step
    /// counts (no `optim.steps`) gives every parameter `fallback_steps`.
    pub fn load_state(&mut self, map: &mut HashMap<String, Tensor>, fallback_steps: i64) -> anyhow::Result<()> {
        let device = self.flat.device();
        let (b1, b2) = if let Some(m) = map.remove("adam.exp_avg") {
            let v = map
                .remove("adam.exp_avg_sq")
                .ok_or_else(|| anyhow::anyhow!("checkpoint lacks `adam.exp_avg_sq`: it is damaged"))?;
            if self.settings.rule != Optimizer::Adam {
                self.settings = OptimSettings::adam(self.settings.lr, self.settings.weight_decay);
            }
            (m, Some(v))
        } else if let Some(m) = map.remove("sgd.momentum") {
            anyhow::ensure!(
                self.settings.rule != Optimizer::Adam,
                "checkpoint holds SGD/LARS state but the run trains with Adam: it belongs to another configuration"
            );
            (m, None)
        } else {
            anyhow::bail!("checkpoint lacks the optimiser state (`adam.exp_avg` or `sgd.momentum`)");
        };
        for t in std::iter::once(&b1).chain(b2.as_ref()) {
            anyhow::ensure!(
                t.size() == self.buf1.size(),
                "optimiser state has {:?} entries, the model {:?}: the checkpoint belongs to another configuration",
                t.size(),
                self.buf1.size()
            );
        }
        tch::no_grad(|| {
            self.buf1.copy_(&b1.to_device(device));
            if let Some(v) = &b2 {
                self.buf2.copy_(&v.to_device(device));
            }
        });
        self.steps = match map.remove("optim.steps") {
            Some(s) => {
                let v = Vec::<i64>::try_from(&s).map_err(|e| anyhow::anyhow!("checkpoint `optim.steps`: {e}"))?;
                anyhow::ensure!(v.len() == self.params.len(), "checkpoint `optim.steps` has {} entries", v.len());
                v
            }
            None => vec![fallback_steps; self.params.len()],
        };
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Hyper {
    /// Adam's L2 weight decay (SGD's and LARS's is per parameter, in `Coef`).
    wd: f32,
    lr: f32,
    momentum: f32,
}

/// A range of the flat buffers, where its gradient is (None: zero), and its
/// parameter's coefficients.
struct Chunk {
    grad: Option<usize>,
    at: usize,
    len: usize,
    coef: Coef,
}

/// Base addresses of the weight and state buffers (as integers, so that the
/// rayon closure is Send; see the SAFETY note at the use).
struct Buffers {
    w: usize,
    m: usize,
    v: usize,
}

/// torch.optim.Adam's single-tensor update, element by element, in float32 and
/// in its order of operations: m.lerp_(g, 1 - b1); v.mul_(b2).addcmul_(g, g,
/// value = 1 - b2); w.addcdiv_(m, sqrt(v) / sqrt(bc2) + eps, value = -step_size).
fn adam_chunk(
    h: &Hyper,
    step_size: f32,
    bc2_sqrt: f32,
    w: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    g: Option<&[f32]>,
) {
    let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, ADAM_EPS as f32);
    for i in 0..w.len() {
        let mut gi = g.map_or(0.0, |g| g[i]);
        if h.wd != 0.0 {
            gi += h.wd * w[i];
        }
        let mi = m[i] + (1.0 - b1) * (gi - m[i]);
        let vi = v[i] * b2 + (1.0 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= step_size * mi / (vi.sqrt() / bc2_sqrt + eps);
    }
}

/// torch.optim.SGD's momentum update (no dampening, no Nesterov) on
/// d = (g + wd w) scale, element by element in float32: the buffer is d on the
/// parameter's first step, momentum buf + d after; w -= lr buf. LARS is this
/// with its trust ratio as `scale`.
fn momentum_chunk(h: &Hyper, first: bool, scale: f32, wd: f32, w: &mut [f32], m: &mut [f32], g: Option<&[f32]>) {
    for i in 0..w.len() {
        let mut d = g.map_or(0.0, |g| g[i]);
        if wd != 0.0 {
            d += wd * w[i];
        }
        d *= scale;
        let b = if first { d } else { m[i] * h.momentum + d };
        m[i] = b;
        w[i] -= h.lr * b;
    }
}
