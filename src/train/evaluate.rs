//! Evaluation of a model over the evaluated set (SPEC section 7): the paper's
//! assignment (argmax of Sinkhorn codes over the whole set at once), argmax of
//! p, k-means baselines on chosen features, ensemble diversity (Figure 1).
//! Labels enter only here, and only to score.
use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::config::Feature;
use crate::data::DeviceData;
use crate::eval::{diversity, kmeans, metrics};
use crate::loss;
use crate::util::mix_seed;

use super::step::{Engine, SALT_EVAL};

/// Per-image results of one evaluation (rows follow `indices`).
pub struct Assignments {
    pub indices: Vec<i64>,
    pub codes: Vec<i64>,
    pub codes_conf: Vec<f64>,
    pub p: Vec<i64>,
    pub p_conf: Vec<f64>,
    /// k-means labels per feature, in `EvalConfig::kmeans_features` order.
    pub kmeans: Vec<(Feature, Vec<i64>)>,
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

/// Evaluates `engine` on the images `indices` of `data`; `labels` are the
/// ground truth of those same images (for scoring only).
pub fn evaluate(engine: &Engine, data: &DeviceData, indices: &[i64], labels: &[i64], epoch: usize) -> anyhow::Result<EvalOutput> {
    let cfg = &engine.cfg;
    let ev = &cfg.eval;
    let device = engine.device;
    let t0 = std::time::Instant::now();
    let want = |f: Feature| ev.kmeans_features.contains(&f);
    let (mut zs, mut ys, mut vs, mut xs, mut members) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tch::no_grad(|| {
        for chunk in indices.chunks(ev.chunk) {
            let idx = Tensor::from_slice(chunk).to_device(device);
            let x = engine.augmenter.eval(&data.batch(&idx));
            let o = engine.nets.online.forward_t(&x, false);
            let z = o.z.to_kind(Kind::Float);
            if ev.diversity {
                // argmax of p~(m) for each member m (Figure 1): M x chunk labels.
                let st = loss::transformed_log_assignments(&z, &engine.nets.online.prototypes, &engine.transforms, cfg.loss.tau);
                members.push(st.argmax(-1, false).to_device(tch::Device::Cpu));
            }
            if want(Feature::Encoder) {
                ys.push(o.y.to_kind(Kind::Float));
            }
            if want(Feature::Pixels) {
                xs.push(x.flatten(1, -1).to_kind(Kind::Float));
            }
            if want(Feature::TargetProjection) {
                vs.push(engine.nets.target.forward_t(&x, false).to_kind(Kind::Float));
            }
            zs.push(z);
        }
    });
    let z = Tensor::cat(&zs, 0);
    let k = cfg.clusters() as i64;
    let mut m = BTreeMap::new();

    // The paper's assignment: Sinkhorn codes over the whole set at once, in float64
    // so that N x K with N = 60,000 cannot overflow (SPEC 7).
    let scores = tch::no_grad(|| loss::cosine_scores(&z, &engine.nets.online.prototypes));
    let q = tch::no_grad(|| loss::sinkhorn(&scores.to_kind(Kind::Double), cfg.loss.sinkhorn_eps, cfg.loss.sinkhorn_iters));
    let (qmax, qarg) = q.max_dim(-1, false);
    let codes = to_vec_i64(&qarg);
    let p = (&scores / cfg.loss.tau).softmax(-1, Kind::Double);
    let (pmax, parg) = p.max_dim(-1, false);
    let p_labels = to_vec_i64(&parg);
    metrics::score(labels, &codes).insert_into("codes", &mut m);
    metrics::score(labels, &p_labels).insert_into("p", &mut m);
    let mut counts = vec![0usize; k as usize];
    for &c in &codes {
        counts[c as usize] += 1;
    }
    m.insert("largest_cluster_frac".into(), *counts.iter().max().unwrap_or(&0) as f64 / codes.len().max(1) as f64);
    m.insert("clusters_used".into(), counts.iter().filter(|&&c| c > 0).count() as f64);

    let mut km = Vec::new();
    for &f in &ev.kmeans_features {
        let feats = match f {
            Feature::TargetProjection => Tensor::cat(&vs, 0),
            Feature::Encoder => Tensor::cat(&ys, 0),
            Feature::ClusterEmbedding => z.shallow_clone(),
            Feature::Pixels => Tensor::cat(&xs, 0),
        };
        let res = kmeans::kmeans(
            &feats,
            &kmeans::KMeansConfig {
                k: k as usize,
                n_init: ev.kmeans_restarts,
                max_iter: ev.kmeans_iters,
                tol: ev.kmeans_tol,
                seed: mix_seed(cfg.seed, SALT_EVAL ^ ((epoch as u64) << 8)),
            },
        )?;
        metrics::score(labels, &res.labels).insert_into(feature_key(f), &mut m);
        km.push((f, res.labels));
    }

    if ev.diversity && !members.is_empty() {
        let all = Tensor::cat(&members, 1); // M x N
        let rows: Vec<Vec<i64>> = (0..all.size()[0]).map(|i| to_vec_i64(&all.get(i))).collect();
        let (mean, std) = diversity::pairwise_nmi(&rows);
        m.insert("diversity.mean".into(), mean);
        m.insert("diversity.std".into(), std);
    }
    m.insert("eval_seconds".into(), t0.elapsed().as_secs_f64());
    let assignments = Assignments {
        indices: indices.to_vec(),
        codes,
        codes_conf: to_vec_f64(&qmax),
        p: p_labels,
        p_conf: to_vec_f64(&pmax),
        kmeans: km,
    };
    Ok(EvalOutput { metrics: m, assignments, z: z.to_device(tch::Device::Cpu) })
}
