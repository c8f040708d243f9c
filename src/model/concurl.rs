//! The ConCURL networks (method.md §2): the online network (encoder f_theta,
//! BYOL projector g_theta and predictor h_theta, cluster head g, prototypes C,
//! optionally an over-clustering head, method.md §11)
//! and the target network (f_xi, g_xi), which is an EMA of the online one.
//!
//! Variable names are the checkpoint format. Both networks are built at the
//! root of their own VarStore with the same child names (`encoder.*`,
//! `projector.*`), so a target variable and its online source share a name,
//! which is what [`ema_update`] matches on.
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use super::ema::{copy_matching, ema_update, pack_contiguous};
use super::mlp::Mlp;
use super::resnet::Encoder;
use crate::config::run::RunConfig;

/// The online network theta and the prototypes.
#[derive(Debug)]
pub struct Online {
    pub encoder: Encoder,
    /// g_theta: feat -> proj_hidden -> proj_dim.
    pub projector: Mlp,
    /// h_theta: proj_dim -> proj_hidden -> proj_dim.
    pub predictor: Mlp,
    /// The cluster head g: feat -> head_hidden -> head_dim, separate from g_theta.
    pub head: Mlp,
    /// C, K x head_dim (one prototype per row), variable `prototypes`.
    pub prototypes: Tensor,
    /// IIC's over-clustering head (`model.overcluster` = r > 0; method.md §11):
    /// a second head with r K prototypes, trained with the same L2 and L3.
    pub over: Option<OverHead>,
}

/// A second cluster head beside the main one (children `over.head`,
/// variable `over.prototypes`), never used to score.
#[derive(Debug)]
pub struct OverHead {
    /// feat -> head_hidden -> head_dim, like the main head.
    pub head: Mlp,
    /// r K x head_dim.
    pub prototypes: Tensor,
}

impl OverHead {
    fn new(p: &nn::Path, feat: i64, hidden: i64, dim: i64, k: i64) -> Self {
        let head = Mlp::new(&(p / "head"), feat, hidden, dim);
        let prototypes = p.var("prototypes", &[k, dim], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
        Self { head, prototypes }
    }
}

/// What one view through the online network gives the losses.
#[derive(Debug)]
pub struct OnlineOut {
    /// y = f_theta(x), B x feat_dim.
    pub y: Tensor,
    /// g_theta(y), B x proj_dim.
    pub projection: Tensor,
    /// w = h_theta(g_theta(y)), B x proj_dim: the BYOL prediction.
    pub prediction: Tensor,
    /// z = g(y), B x head_dim: the cluster embedding.
    pub z: Tensor,
    /// The over-clustering head's embedding, B x head_dim, when there is one.
    pub z_over: Option<Tensor>,
}

impl Online {
    /// Builds the online network under `p` (children `encoder`, `projector`,
    /// `predictor`, `head`, variable `prototypes`). `cfg` must be resolved (K and
    /// the stem). Initialisation draws from torch's RNG: seed it first.
    pub fn new(p: &nn::Path, cfg: &RunConfig, in_channels: i64) -> Self {
        let m = &cfg.model;
        let encoder = Encoder::new(&(p / "encoder"), cfg, in_channels);
        let feat = encoder.feat_dim();
        let (ph, pd) = (m.proj_hidden as i64, m.proj_dim as i64);
        let (hh, hd) = (m.head_hidden as i64, m.head_dim as i64);
        let projector = Mlp::new(&(p / "projector"), feat, ph, pd);
        let predictor = Mlp::new(&(p / "predictor"), pd, ph, pd);
        let head = Mlp::new(&(p / "head"), feat, hh, hd);
        // Random directions: only c/||c|| is ever used, so the scale is immaterial.
        let k = cfg.data.clusters as i64;
        let prototypes = p.var("prototypes", &[k, hd], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
        // Built last, so that the other weights draw the same values with or without it.
        let over = (m.overcluster > 0).then(|| OverHead::new(&(p / "over"), feat, hh, hd, k * m.overcluster as i64));
        Self { encoder, projector, predictor, head, prototypes, over }
    }

    /// One view through every online branch.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> OnlineOut {
        let y = self.encoder.forward_t(x, train);
        let projection = self.projector.forward_t(&y, train);
        let prediction = self.predictor.forward_t(&projection, train);
        let z = self.head.forward_t(&y, train);
        let z_over = self.over.as_ref().map(|o| o.head.forward_t(&y, train));
        OnlineOut { y, projection, prediction, z, z_over }
    }

    /// (y, z) only: the clustering branch, for evaluation.
    pub fn embed(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let y = self.encoder.forward_t(x, train);
        let z = self.head.forward_t(&y, train);
        (y, z)
    }

    /// c_j <- c_j / ||c_j|| in place (SwAV's optional step, `loss.renormalize_prototypes`).
    /// The losses only see unit prototypes, so this changes the optimiser's path
    /// (Adam's step size relative to ||c||), never a loss value.
    pub fn renormalize_prototypes(&self) {
        tch::no_grad(|| {
            let norm = self.prototypes.norm_scalaropt_dim(2.0, [-1], true).clamp_min(1e-12);
            self.prototypes.shallow_clone().copy_(&(&self.prototypes / norm));
        });
    }
}

/// The target network xi: encoder and projector only (no predictor: BYOL's
/// asymmetry). Never trained by gradient.
#[derive(Debug)]
pub struct Target {
    pub encoder: Encoder,
    /// g_xi.
    pub projector: Mlp,
}

impl Target {
    /// Builds the target under `p` with the online network's child names. Its
    /// weights are meaningless until copied from the online network
    /// ([`Networks::new`] does it).
    pub fn new(p: &nn::Path, cfg: &RunConfig, in_channels: i64) -> Self {
        let m = &cfg.model;
        let encoder = Encoder::new(&(p / "encoder"), cfg, in_channels);
        let projector = Mlp::new(&(p / "projector"), encoder.feat_dim(), m.proj_hidden as i64, m.proj_dim as i64);
        Self { encoder, projector }
    }

    /// v = g_xi(f_xi(x)), B x proj_dim, computed under `no_grad`: the target
    /// receives no gradient. BYOL runs it in training mode (batch statistics).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        tch::no_grad(|| self.projector.forward_t(&self.encoder.forward_t(x, train), train))
    }
}

/// Both networks with their variable stores: what training builds, checkpoints
/// (`online_vs`, `target_vs`) and steps.
pub struct Networks {
    pub online_vs: nn::VarStore,
    pub online: Online,
    pub target_vs: nn::VarStore,
    pub target: Target,
}

impl Networks {
    /// Builds the online network (drawing its initial weights from torch's RNG),
    /// then the target as an exact copy, frozen, with its variables packed in
    /// one buffer for the fused EMA step.
    pub fn new(cfg: &RunConfig, in_channels: i64, device: Device) -> Self {
        let online_vs = nn::VarStore::new(device);
        let online = Online::new(&online_vs.root(), cfg, in_channels);
        let mut target_vs = nn::VarStore::new(device);
        let target = Target::new(&target_vs.root(), cfg, in_channels);
        target_vs.freeze();
        copy_matching(&target_vs, &online_vs);
        pack_contiguous(&target_vs);
        Self { online_vs, online, target_vs, target }
    }

    /// xi <- tau xi + (1 - tau) theta over every target variable.
    pub fn update_target(&self, tau: f64) {
        ema_update(&self.target_vs, &self.online_vs, tau);
    }
}
