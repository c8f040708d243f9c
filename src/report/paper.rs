//! The paper's published numbers (method.md §8) as data, so that the report can
//! print them beside ours. Nothing here is measured: every value is copied from
//! the paper's Tables III, IV, V and the appendix, in the paper's order.
use crate::config::{Backbone, DatasetName, TransformKind};

/// ACC / NMI / ARI of one method on one dataset (the paper's three columns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
}

const fn s(acc: f64, nmi: f64, ari: f64) -> Scores {
    Scores { acc, nmi, ari }
}

impl Scores {
    /// The three values in the paper's column order.
    pub fn as_array(&self) -> [f64; 3] {
        [self.acc, self.nmi, self.ari]
    }
}

/// The columns of Table III, in the paper's order.
pub const TABLE3_DATASETS: [DatasetName; 5] = [
    DatasetName::Imagenet10,
    DatasetName::ImagenetDogs,
    DatasetName::Stl10,
    DatasetName::Cifar10,
    DatasetName::Cifar100_20,
];

/// How the paper names each dataset in its tables.
pub fn dataset_title(d: DatasetName) -> &'static str {
    match d {
        DatasetName::Imagenet10 => "ImageNet-10",
        DatasetName::ImagenetDogs => "ImageNet-Dogs",
        DatasetName::Stl10 => "STL10",
        DatasetName::Cifar10 => "CIFAR10",
        DatasetName::Cifar100_20 => "CIFAR100-20",
        DatasetName::Mnist => "MNIST",
        DatasetName::FashionMnist => "Fashion-MNIST",
        DatasetName::Synthetic => "synthetic",
        DatasetName::Folder => "folder",
    }
}

/// One row of Table III: a method and its scores per dataset of [`TABLE3_DATASETS`].
#[derive(Debug, Clone, Copy)]
pub struct Table3Row {
    /// As the paper names it; `BYOL` and `ConCURL` equal [`crate::config::LossConfig::method_name`].
    pub method: &'static str,
    pub scores: [Scores; 5],
}

/// Table III: ResNet-34, every method, ACC / NMI / ARI per dataset.
pub const TABLE3: [Table3Row; 5] = [
    Table3Row {
        method: "DCCM",
        scores: [
            s(0.710, 0.608, 0.555),
            s(0.383, 0.321, 0.182),
            s(0.482, 0.376, 0.262),
            s(0.623, 0.496, 0.408),
            s(0.327, 0.285, 0.173),
        ],
    },
    Table3Row {
        method: "GATCluster",
        scores: [
            s(0.762, 0.609, 0.572),
            s(0.333, 0.322, 0.200),
            s(0.583, 0.446, 0.363),
            s(0.610, 0.475, 0.402),
            s(0.281, 0.215, 0.116),
        ],
    },
    Table3Row {
        method: "PICA",
        scores: [
            s(0.870, 0.802, 0.761),
            s(0.352, 0.352, 0.201),
            s(0.713, 0.611, 0.531),
            s(0.696, 0.591, 0.512),
            s(0.337, 0.310, 0.171),
        ],
    },
    Table3Row {
        method: "BYOL",
        scores: [
            s(0.939, 0.885, 0.868),
            s(0.542, 0.522, 0.341),
            s(0.594, 0.506, 0.375),
            s(0.638, 0.429, 0.440),
            s(0.313, 0.287, 0.153),
        ],
    },
    Table3Row {
        method: "ConCURL",
        scores: [
            s(0.931, 0.882, 0.869),
            s(0.447, 0.450, 0.298),
            s(0.752, 0.645, 0.580),
            s(0.785, 0.667, 0.614),
            s(0.409, 0.390, 0.232),
        ],
    },
];

/// Table III's entry for a method and dataset, if the paper has one.
pub fn table3(method: &str, dataset: DatasetName) -> Option<Scores> {
    let col = TABLE3_DATASETS.iter().position(|d| *d == dataset)?;
    TABLE3.iter().find(|r| r.method == method).map(|r| r.scores[col])
}

/// Table IV (STL10): the loss-weight settings, named as
/// [`crate::config::LossConfig::method_name`] names them.
pub const TABLE4: [(&str, Scores); 4] = [
    ("BYOL", s(0.594, 0.506, 0.375)),
    ("soft clustering", s(0.565, 0.533, 0.401)),
    ("BYOL + soft clustering", s(0.651, 0.572, 0.460)),
    ("ConCURL", s(0.752, 0.645, 0.580)),
];

/// The dataset of Tables IV and V.
pub const TABLE4_5_DATASET: DatasetName = DatasetName::Stl10;

/// One row of a Table V sub-table: a transform family with M and d'.
#[derive(Debug, Clone, Copy)]
pub struct Table5Row {
    pub kind: TransformKind,
    pub m: usize,
    /// None for the diagonal family (a diagonal map keeps the head's dimension).
    pub d_prime: Option<usize>,
    pub scores: Scores,
}

const fn t5(kind: TransformKind, m: usize, d_prime: Option<usize>, scores: Scores) -> Table5Row {
    Table5Row { kind, m, d_prime, scores }
}

/// One of Table V's three sub-tables (STL10, 1000 epochs, train+test).
#[derive(Debug, Clone, Copy)]
pub struct Table5Part {
    pub title: &'static str,
    /// Which setting varies across the rows: `M` or `d'`.
    pub varies: &'static str,
    pub rows: [Table5Row; 4],
}

use TransformKind::{Diagonal, Projection};

pub const TABLE5: [Table5Part; 3] = [
    Table5Part {
        title: "Diagonal transformations, varying M",
        varies: "M",
        rows: [
            t5(Diagonal, 10, None, s(0.731, 0.631, 0.551)),
            t5(Diagonal, 30, None, s(0.608, 0.569, 0.440)),
            t5(Diagonal, 50, None, s(0.589, 0.543, 0.412)),
            t5(Diagonal, 100, None, s(0.511, 0.476, 0.316)),
        ],
    },
    Table5Part {
        title: "Random projections, d' = 64, varying M",
        varies: "M",
        rows: [
            t5(Projection, 10, Some(64), s(0.625, 0.580, 0.449)),
            t5(Projection, 30, Some(64), s(0.733, 0.615, 0.547)),
            t5(Projection, 50, Some(64), s(0.610, 0.569, 0.432)),
            // The paper prints .581 here and .580 for the same setting in Tables III-V(c).
            t5(Projection, 100, Some(64), s(0.752, 0.645, 0.581)),
        ],
    },
    Table5Part {
        title: "Random projections, M = 100, varying d'",
        varies: "d'",
        rows: [
            t5(Projection, 100, Some(32), s(0.731, 0.619, 0.545)),
            t5(Projection, 100, Some(64), s(0.752, 0.645, 0.580)),
            t5(Projection, 100, Some(128), s(0.646, 0.556, 0.461)),
            t5(Projection, 100, Some(256), s(0.705, 0.586, 0.515)),
        ],
    },
];

/// The BYOL row repeated in each Table V sub-table (equal to Table IV's).
pub const BYOL_REFERENCE: Scores = s(0.594, 0.506, 0.375);

/// Appendix: ConCURL with a ResNet-18 and a ResNet-34 backbone.
pub const APPENDIX_BACKBONES: [(DatasetName, Backbone, Scores); 4] = [
    (DatasetName::Imagenet10, Backbone::Resnet18, s(0.869, 0.822, 0.767)),
    (DatasetName::Imagenet10, Backbone::Resnet34, s(0.931, 0.882, 0.869)),
    (DatasetName::ImagenetDogs, Backbone::Resnet18, s(0.356, 0.377, 0.207)),
    (DatasetName::ImagenetDogs, Backbone::Resnet34, s(0.447, 0.450, 0.298)),
];
