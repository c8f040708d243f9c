//! The HParams plugin's summaries, as `tensorboard.plugins.hparams.summary_v2`
//! writes them: the sweep's experiment (its swept keys as hyperparameters, the
//! final metrics as the columns to compare), each run's session start (its
//! values of those keys) and session end (its status).
use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;
use prost::Message;
use serde_json::Value as Json;

use super::file::event;
use super::proto::{
    Dim, Domain, Event, Experiment, HParamInfo, HParamsData, HParamsPluginData, Interval, Kind, ListValue, MetricInfo,
    MetricName, PluginData, SessionEndInfo, SessionStartInfo, Summary, SummaryMetadata, SummaryValue, TensorProto,
    TensorShapeProto, Value, ValueKind, What, DATA_TYPE_BOOL, DATA_TYPE_FLOAT64, DATA_TYPE_STRING, STATUS_FAILURE,
    STATUS_SUCCESS,
};
use super::FINAL_PREFIX;
use crate::config::{Expanded, Feature, RunConfig};
use crate::record::Plan;

/// `metadata.PLUGIN_NAME`.
const PLUGIN_NAME: &str = "hparams";
const EXPERIMENT_TAG: &str = "_hparams_/experiment";
const SESSION_START_INFO_TAG: &str = "_hparams_/session_start_info";
const SESSION_END_INFO_TAG: &str = "_hparams_/session_end_info";
/// The hyperparameter naming a run's block(s), in sweeps of several blocks.
const BLOCK_HPARAM: &str = "block";

/// A summary of the plugin: one value tagged `tag` whose metadata carries
/// `data`, over the plugin's null tensor (a float vector of length 0).
fn summary_event(step: i64, tag: &str, data: HParamsData) -> Event {
    let content = HParamsPluginData { version: 0, data: Some(data) }.encode_to_vec();
    let value = SummaryValue {
        tag: tag.into(),
        metadata: Some(SummaryMetadata { plugin_data: Some(PluginData { plugin_name: PLUGIN_NAME.into(), content }) }),
        value: Some(ValueKind::Tensor(TensorProto {
            dtype: 1,
            tensor_shape: Some(TensorShapeProto { dim: vec![Dim { size: 0 }] }),
        })),
    };
    event(step, What::Summary(Summary { value: vec![value] }))
}

/// Is `tag` one of the plugin's?
pub fn is_hparams_tag(tag: &str) -> bool {
    tag.starts_with("_hparams_/")
}

/// A plan's JSON value as a hyperparameter: numbers, strings and booleans as
/// themselves, anything else (a list, a table) as its JSON text.
fn value_of(v: &Json) -> Value {
    let kind = match v {
        Json::Number(n) => Kind::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::String(s.clone()),
        Json::Bool(b) => Kind::Bool(*b),
        other => Kind::String(other.to_string()),
    };
    Value { kind: Some(kind) }
}

/// The hyperparameters of run `run_id` in `plan`: its swept values and, in a
/// sweep of several blocks, its block(s) (`+`-joined). None when the plan does
/// not hold the run.
pub fn run_hparams(plan: &Plan, run_id: &str) -> Option<IndexMap<String, Json>> {
    let entry = plan.runs.iter().find(|e| e.run_id == run_id)?;
    let mut out = entry.swept.clone();
    if several_blocks(plan) {
        out.insert(BLOCK_HPARAM.into(), Json::String(entry.blocks.join("+")));
    }
    Some(out)
}

fn several_blocks(plan: &Plan) -> bool {
    plan.runs.iter().flat_map(|e| &e.blocks).collect::<BTreeSet<_>>().len() > 1
}

/// A run's session start at step 0: its hyperparameters, in a group of its
/// own (named by its run id).
pub fn session_start(run_id: &str, hparams: &IndexMap<String, Json>, start_secs: f64) -> Event {
    let info = SessionStartInfo {
        hparams: hparams.iter().map(|(k, v)| (k.clone(), value_of(v))).collect::<HashMap<_, _>>(),
        model_uri: String::new(),
        group_name: run_id.into(),
        start_time_secs: start_secs,
    };
    summary_event(0, SESSION_START_INFO_TAG, HParamsData::SessionStartInfo(info))
}

/// A run's session end at `step`: success or failure.
pub fn session_end(step: i64, success: bool, end_secs: f64) -> Event {
    let status = if success { STATUS_SUCCESS } else { STATUS_FAILURE };
    summary_event(
        step,
        SESSION_END_INFO_TAG,
        HParamsData::SessionEndInfo(SessionEndInfo { status, end_time_secs: end_secs }),
    )
}

/// The experiment of a sweep: one hyperparameter per key swept anywhere in
/// its plan (plus `block` with several blocks), with the values the plan gives
/// it, and one metric per final score the runs report ([`final_metric_keys`]).
pub fn experiment(expanded: &Expanded, created_secs: f64) -> Event {
    let plan = &expanded.plan;
    let mut values: IndexMap<String, Vec<Json>> = IndexMap::new();
    for entry in &plan.runs {
        let hp = run_hparams(plan, &entry.run_id).unwrap_or_default();
        for (k, v) in hp {
            values.entry(k).or_default().push(v);
        }
    }
    let mut keys: Vec<String> = Vec::new();
    for (_, cfg) in &expanded.runs {
        for k in final_metric_keys(cfg) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let metric_infos = keys
        .iter()
        .map(|k| MetricInfo {
            name: Some(MetricName { group: String::new(), tag: format!("{FINAL_PREFIX}{k}") }),
            display_name: k.clone(),
            description: String::new(),
        })
        .collect();
    let exp = Experiment {
        name: plan.sweep.clone(),
        description: format!("sweep `{}` ({})", plan.sweep, plan.source),
        time_created_secs: created_secs,
        hparam_infos: values.iter().map(|(k, vs)| hparam_info(k, vs)).collect(),
        metric_infos,
    };
    summary_event(0, EXPERIMENT_TAG, HParamsData::Experiment(exp))
}

/// One hyperparameter's type and domain from the values it takes: an interval
/// when all are numbers, a list of the distinct values when all are booleans,
/// else a list of the distinct values as strings.
fn hparam_info(name: &str, values: &[Json]) -> HParamInfo {
    let as_string = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (r#type, domain, distinct) = if values.iter().all(Json::is_number) {
        let xs: Vec<f64> = values.iter().filter_map(Json::as_f64).collect();
        let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let distinct = xs.iter().map(|x| x.to_bits()).collect::<BTreeSet<_>>().len();
        (DATA_TYPE_FLOAT64, Domain::Interval(Interval { min_value: lo, max_value: hi }), distinct)
    } else if values.iter().all(Json::is_boolean) {
        let set: BTreeSet<bool> = values.iter().filter_map(Json::as_bool).collect();
        let list = set.iter().map(|b| Value { kind: Some(Kind::Bool(*b)) }).collect();
        (DATA_TYPE_BOOL, Domain::Discrete(ListValue { values: list }), set.len())
    } else {
        let set: BTreeSet<String> = values.iter().map(as_string).collect();
        let list = set.iter().map(|s| Value { kind: Some(Kind::String(s.clone())) }).collect();
        (DATA_TYPE_STRING, Domain::Discrete(ListValue { values: list }), set.len())
    };
    HParamInfo {
        name: name.into(),
        display_name: String::new(),
        description: String::new(),
        r#type,
        domain: Some(domain),
        differs: distinct > 1,
    }
}

/// The metric prefix of k-means on `f` (`train::evaluate::feature_key`, which
/// needs libtorch; a test holds the two together).
pub fn kmeans_key(f: Feature) -> &'static str {
    match f {
        Feature::TargetProjection => "kmeans_target",
        Feature::Encoder => "kmeans_encoder",
        Feature::ClusterEmbedding => "kmeans_cluster",
        Feature::Pixels => "kmeans_pixels",
    }
}

/// The keys of summary.json's metrics that the experiment lists as its
/// metrics (each logged as `final/<key>`): ACC, NMI and ARI of every assignment
/// the run scores, the clusters used, the largest cluster's share, the
/// ensemble's diversity when measured, and the paper's assignment before a
/// self-labelling stage when there is one.
pub fn final_metric_keys(cfg: &RunConfig) -> Vec<String> {
    let mut methods: Vec<&str> = vec!["codes", "p"];
    methods.extend(cfg.eval.kmeans_features.iter().map(|&f| kmeans_key(f)));
    methods.extend(cfg.eval.consensus.iter().map(|f| f.key()));
    let mut keys: Vec<String> =
        methods.iter().flat_map(|m| crate::record::SCORES.map(|s| format!("{m}.{s}"))).collect();
    keys.extend(["clusters_used", "largest_cluster_frac"].map(String::from));
    if cfg.eval.diversity {
        keys.push("diversity.mean".into());
    }
    if cfg.self_labelling.epochs > 0 {
        let before = crate::record::BEFORE_FINETUNE;
        keys.extend(crate::record::SCORES.map(|s| format!("{before}codes.{s}")));
    }
    keys
}
