//! Evaluation (method.md §7): metrics (no tch), ensemble diversity (no tch),
//! k-means on feature tensors (the BYOL baseline), t-SNE coordinates (Figure 2),
//! consensus partitions of the cluster ensemble (method.md §11).
#[cfg(feature = "torch")]
pub mod consensus;
pub mod diversity;
#[cfg(feature = "torch")]
pub mod kmeans;
pub mod metrics;
pub mod tsne;

pub use diversity::pairwise_nmi;
pub use metrics::{acc, ari, contingency, nmi, score, Contingency, NmiNorm, Scores};
