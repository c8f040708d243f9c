//! Run identity: a resolved config's identity (its JSON with `data.root` left
//! out), written canonically (keys sorted, no whitespace) and hashed into the
//! run id. Pinned by `config::run_ids_are_pinned`: the canonical form must not
//! change, or every stored run's id moves.
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::run::RunConfig;

/// The identity of a run: its resolved config as JSON with `data.root` removed
/// (where the data lives does not change a result), keys sorted.
pub fn identity(cfg: &RunConfig) -> Json {
    let mut v = serde_json::to_value(cfg).expect("RunConfig serialises to JSON");
    if let Some(data) = v.get_mut("data").and_then(Json::as_object_mut) {
        data.remove("root");
    }
    v
}

/// Canonical JSON text: object keys sorted at every level, no whitespace. Written
/// by hand so the result does not depend on serde_json's `preserve_order` feature.
fn canonical(v: &Json, out: &mut String) {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Run id: the first 12 hex digits of the SHA-256 of the canonical identity JSON.
/// Independent of key order in the sweep file and of the block that produced it.
pub fn run_id(cfg: &RunConfig) -> String {
    let mut text = String::new();
    canonical(&identity(cfg), &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
