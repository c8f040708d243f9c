//! Evaluation: metrics (no tch), k-means, assignments, diversity, t-SNE.
pub mod metrics;
