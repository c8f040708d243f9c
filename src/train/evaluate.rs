//! Evaluation of a model over the evaluated set (method.md §7): the paper's
//! assignment (argmax of Sinkhorn codes over the whole set at once), argmax of
//! p, k-means baselines on chosen features, ensemble diversity (Figure 1).
//! Labels enter only here, and only to score.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::{Kind, Tensor};

use crate::config::{ConsensusFn, Feature, LossConfig, Representation, RunConfig};
use crate::data::DeviceData;
use crate::eval::{consensus, diversity, kmeans, metrics};
use crate::loss;
use crate::util::mix_seed;

use super::step::{Learner, SALT_EVAL};

/// Per-image results over a set of images (rows follow `indices`): what
/// `assignments.csv` holds for the evaluated set and what `sweep predict` writes
/// for other images. Columns: [`Assignments::write_csv`].
pub struct Assignments {
    pub indices: Vec<i64>,
    pub codes: Vec<i64>,
    pub codes_conf: Vec<f64>,
    pub p: Vec<i64>,
    pub p_conf: Vec<f64>,
    /// k-means labels per feature, in `EvalConfig::kmeans_features` order.
    pub kmeans: Vec<(Feature, Vec<i64>)>,
    /// Consensus partitions of the ensemble, in `EvalConfig::consensus` order.
    pub consensus: Vec<(ConsensusFn, Vec<i64>)>,
}

/// The two prototype-based assignments of a set of cluster embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    /// argmax_j q_ij, q the Sinkhorn codes over the whole set (the paper's assignment).
    pub codes: Vec<i64>,
    /// max_j q_ij: the row of q is a distribution over the K clusters.
    pub codes_conf: Vec<f64>,
    /// argmax_j p_ij, p_ij = softmax_j(s_ij / tau).
    pub p: Vec<i64>,
    /// max_j p_ij.
    pub p_conf: Vec<f64>,
}

/// What one forward pass of the evaluation transform over a set gives.
pub struct Assigned {
    pub assignments: Assignments,
    /// Cluster embeddings z (CPU, float), for t-SNE.
    pub z: Tensor,
    /// argmax of p~(m) per member m (Figure 1): M label rows of length N, when asked.
    pub members: Option<Vec<Vec<i64>>>,
}

pub struct EvalOutput {
    pub metrics: BTreeMap<String, f64>,
    pub assignments: Assignments,
    /// Cluster embeddings z of the evaluated set (CPU, float), for t-SNE.
    pub z: Tensor,
}

pub fn feature_key(f: Feature) -> &'static str {
    match f {
        Feature::TargetProjection => "kmeans_target",
        Feature::Encoder => "kmeans_encoder",
        Feature::ClusterEmbedding => "kmeans_cluster",
        Feature::Pixels => "kmeans_pixels",
    }
}

fn to_vec_i64(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.to_kind(Kind::Int64).to_device(tch::Device::Cpu).contiguous().view(-1))
        .expect("int64 tensor to Vec")
}

fn to_vec_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(tch::Device::Cpu).contiguous().view(-1))
        .expect("float tensor to Vec")
}

/// The paper's assignment and argmax p for N x D cluster embeddings `z` and
/// K x D `prototypes` (method.md §7): scores s = z/||z|| . (c/||c||)^T; codes by
/// Sinkhorn over the whole set at once, in float64 so that N x K with N = 60,000
/// cannot overflow exp(s / eps); p = softmax(s / tau). The codes depend on the
/// whole set (the column marginals of q are 1/K): the same image can change
/// cluster when predicted among other images.
pub fn clusters(z: &Tensor, prototypes: &Tensor, loss_cfg: &LossConfig) -> Clusters {
    tch::no_grad(|| {
        let scores = loss::cosine_scores(&z.to_kind(Kind::Float), prototypes).to_kind(Kind::Double);
        let q = loss::sinkhorn(&scores, loss_cfg.sinkhorn_eps, loss_cfg.sinkhorn_iters);
        let (qmax, qarg) = q.max_dim(-1, false);
        let p = (&scores / loss_cfg.tau).softmax(-1, Kind::Double);
        let (pmax, parg) = p.max_dim(-1, false);
        Clusters {
            codes: to_vec_i64(&qarg),
            codes_conf: to_vec_f64(&qmax),
            p: to_vec_i64(&parg),
            p_conf: to_vec_f64(&pmax),
        }
    })
}

/// Runs the evaluation transform and the networks over the images `indices` of
/// `data` (chunks of `eval.chunk`) and assigns each image a cluster by every
/// method: codes, p and k-means on `eval.kmeans_features` (seeded from the run's
/// seed and `epoch`, so the same weights and images give the same labels).
/// Training's evaluation and `sweep predict` both go through here.
pub fn assign(
    learner: &Learner,
    data: &DeviceData,
    indices: &[i64],
    epoch: usize,
    with_members: bool,
) -> anyhow::Result<Assigned> {
    let cfg = &learner.cfg;
    let f = forward_features(learner, data, indices, with_members || !cfg.eval.consensus.is_empty());
    let c = clusters(&f.z, &learner.nets.online.prototypes, &cfg.loss);
    let km = kmeans_labels(cfg, &f, epoch)?;
    // One host copy of the M x N member labels, shared by the consensus and diversity.
    let members: Vec<Vec<i64>> = if f.members.is_empty() {
        Vec::new()
    } else {
        let all = Tensor::cat(&f.members, 1);
        let n = all.size()[1] as usize;
        to_vec_i64(&all).chunks(n.max(1)).map(<[i64]>::to_vec).collect()
    };
    let consensus = consensus_partitions(learner, &members, &c.codes, epoch)?;
    let assignments = Assignments {
        indices: indices.to_vec(),
        codes: c.codes,
        codes_conf: c.codes_conf,
        p: c.p,
        p_conf: c.p_conf,
        kmeans: km,
        consensus,
    };
    let members = (with_members && !members.is_empty()).then_some(members);
    Ok(Assigned { assignments, z: f.z.to_device(tch::Device::Cpu), members })
}

/// What one pass of the networks over the evaluated images yields, concatenated
/// over the chunks: the cluster embeddings z, and where asked for the features
/// k-means reads and the members' labels (M x chunk tensors, one per chunk).
struct Features {
    z: Tensor,
    encoder: Option<Tensor>,
    pixels: Option<Tensor>,
    target: Option<Tensor>,
    members: Vec<Tensor>,
}

/// The evaluation transform and the networks (no gradient, evaluation mode)
/// over `indices`, chunk by chunk; only the k-means features that
/// `eval.kmeans_features` names are kept, the members' labels when `want_members`.
fn forward_features(learner: &Learner, data: &DeviceData, indices: &[i64], want_members: bool) -> Features {
    let cfg = &learner.cfg;
    let want = |f: Feature| cfg.eval.kmeans_features.contains(&f);
    let (mut zs, mut ys, mut vs, mut xs, mut members) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tch::no_grad(|| {
        for chunk in indices.chunks(cfg.eval.chunk) {
            let idx = Tensor::from_slice(chunk).to_device(learner.device);
            let x = learner.augmenter.eval(&data.batch(&idx));
            let o = learner.nets.online.forward_t(&x, false);
            let z = o.z.to_kind(Kind::Float);
            if want_members {
                // argmax of p~(m) for each member m (Figure 1): M x chunk labels.
                let st = loss::transformed_log_assignments(
                    &z,
                    &learner.nets.online.prototypes,
                    &learner.transforms,
                    cfg.loss.tau,
                );
                members.push(st.argmax(-1, false).to_device(tch::Device::Cpu));
            }
            if want(Feature::Encoder) {
                ys.push(o.y.to_kind(Kind::Float));
            }
            if want(Feature::Pixels) {
                xs.push(x.flatten(1, -1).to_kind(Kind::Float));
            }
            if want(Feature::TargetProjection) {
                // SimCLR has no target network: its representation is the online projection.
                let v = match cfg.loss.representation {
                    Representation::Byol => learner.nets.target.forward_t(&x, false),
                    Representation::Simclr => o.projection.shallow_clone(),
                };
                vs.push(v.to_kind(Kind::Float));
            }
            zs.push(z);
        }
    });
    let cat = |v: Vec<Tensor>| (!v.is_empty()).then(|| Tensor::cat(&v, 0));
    Features { z: Tensor::cat(&zs, 0), encoder: cat(ys), pixels: cat(xs), target: cat(vs), members }
}

/// k-means labels on each of `eval.kmeans_features`, in their order.
fn kmeans_labels(cfg: &RunConfig, f: &Features, epoch: usize) -> anyhow::Result<Vec<(Feature, Vec<i64>)>> {
    let ev = &cfg.eval;
    let mut km = Vec::new();
    for &feature in &ev.kmeans_features {
        let feats = match feature {
            Feature::TargetProjection => f.target.as_ref(),
            Feature::Encoder => f.encoder.as_ref(),
            Feature::ClusterEmbedding => Some(&f.z),
            Feature::Pixels => f.pixels.as_ref(),
        }
        .expect("forward_features keeps every feature that eval.kmeans_features names");
        let res = kmeans::kmeans(
            feats,
            &kmeans::KMeansConfig {
                k: cfg.data.clusters,
                n_init: ev.kmeans_restarts,
                max_iter: ev.kmeans_iters,
                tol: ev.kmeans_tol,
                seed: mix_seed(cfg.seed, SALT_EVAL ^ ((epoch as u64) << 8)),
            },
        )?;
        km.push((feature, res.labels));
    }
    Ok(km)
}

/// The consensus partitions `eval.consensus` asks for (method.md §11), over the
/// ensemble of the M members' label rows and the codes; the final k-means of
/// each function is seeded from the run's seed and `epoch`.
fn consensus_partitions(
    learner: &Learner,
    members: &[Vec<i64>],
    codes: &[i64],
    epoch: usize,
) -> anyhow::Result<Vec<(ConsensusFn, Vec<i64>)>> {
    let cfg = &learner.cfg;
    if cfg.eval.consensus.is_empty() {
        return Ok(Vec::new());
    }
    let mut parts: Vec<&[i64]> = members.iter().map(Vec::as_slice).collect();
    parts.push(codes);
    let ensemble = consensus::Ensemble::new(&parts)?;
    let seed = mix_seed(cfg.seed, SALT_EVAL ^ ((epoch as u64) << 8) ^ 0xc0);
    cfg.eval.consensus.iter().map(|&f| Ok((f, consensus::consensus(f, &ensemble, cfg.data.clusters, seed)?))).collect()
}

/// Evaluates `learner` on the images `indices` of `data`; `labels` are the
/// ground truth of those same images (for scoring only).
pub fn evaluate(
    learner: &Learner,
    data: &DeviceData,
    indices: &[i64],
    labels: &[i64],
    epoch: usize,
) -> anyhow::Result<EvalOutput> {
    let t0 = std::time::Instant::now();
    let k = learner.cfg.data.clusters;
    let Assigned { assignments: a, z, members } = assign(learner, data, indices, epoch, learner.cfg.eval.diversity)?;
    let mut m = BTreeMap::new();
    metrics::score(labels, &a.codes).insert_into("codes", &mut m);
    metrics::score(labels, &a.p).insert_into("p", &mut m);
    let mut counts = vec![0usize; k];
    for &c in &a.codes {
        counts[c as usize] += 1;
    }
    m.insert("largest_cluster_frac".into(), *counts.iter().max().unwrap_or(&0) as f64 / a.codes.len().max(1) as f64);
    m.insert("clusters_used".into(), counts.iter().filter(|&&c| c > 0).count() as f64);
    for (f, l) in &a.kmeans {
        metrics::score(labels, l).insert_into(feature_key(*f), &mut m);
    }
    for (f, l) in &a.consensus {
        metrics::score(labels, l).insert_into(f.key(), &mut m);
    }
    if let Some(rows) = members {
        let (mean, std) = diversity::pairwise_nmi(&rows);
        m.insert("diversity.mean".into(), mean);
        m.insert("diversity.std".into(), std);
    }
    m.insert("eval_seconds".into(), t0.elapsed().as_secs_f64());
    Ok(EvalOutput { metrics: m, assignments: a, z })
}

impl Assignments {
    /// The per-image table (`assignments.csv`, `sweep predict`'s output), one row
    /// per image in `indices` order:
    /// `index` (row of the image in its dataset), `path` (the file, for
    /// folder-read images; empty otherwise), `codes` (argmax of the Sinkhorn
    /// codes), `codes_conf` (max code), `p` (argmax p), `p_conf` (max p), one
    /// column per k-means feature (`kmeans_target`, `kmeans_encoder`,
    /// `kmeans_cluster`, `kmeans_pixels`, in the run's `eval.kmeans_features`
    /// order), one column per consensus function (`consensus_cspa`,
    /// `consensus_mcla`, `consensus_hbgf`, in `eval.consensus` order), `label`
    /// (the true class; empty where none is known). `paths` and `labels` are
    /// indexed by dataset row, like `indices`.
    pub fn write_csv(&self, path: &Path, paths: Option<&[PathBuf]>, labels: Option<&[i64]>) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        {
            let mut w = csv::Writer::from_writer(&mut buf);
            let mut header = vec![
                "index".to_string(),
                "path".into(),
                "codes".into(),
                "codes_conf".into(),
                "p".into(),
                "p_conf".into(),
            ];
            header.extend(self.kmeans.iter().map(|(f, _)| feature_key(*f).to_string()));
            header.extend(self.consensus.iter().map(|(f, _)| f.key().to_string()));
            header.push("label".into());
            w.write_record(&header)?;
            for (r, &i) in self.indices.iter().enumerate() {
                let i = i as usize;
                let mut row = vec![
                    i.to_string(),
                    paths.map(|p| p[i].display().to_string()).unwrap_or_default(),
                    self.codes[r].to_string(),
                    format!("{:.6}", self.codes_conf[r]),
                    self.p[r].to_string(),
                    format!("{:.6}", self.p_conf[r]),
                ];
                row.extend(self.kmeans.iter().map(|(_, l)| l[r].to_string()));
                row.extend(self.consensus.iter().map(|(_, l)| l[r].to_string()));
                row.push(labels.map(|l| l[i].to_string()).unwrap_or_default());
                w.write_record(&row)?;
            }
            w.flush()?;
        }
        crate::util::write_atomic(path, &buf).with_context(|| format!("writing {}", path.display()))
    }
}
