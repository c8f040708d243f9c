//! What the configuration needs to know about each dataset (method.md §6, the
//! paper's Table II) without reading any file: classes, native shape, the paper's
//! split, epochs and batch size.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetName {
    /// Built-in, generated in memory from a seed: no files.
    Synthetic,
    Mnist,
    FashionMnist,
    Cifar10,
    /// CIFAR-100 with its 20 coarse super-class labels.
    Cifar100_20,
    Stl10,
    /// Class folders, WordNet ids of method.md §6.
    Imagenet10,
    ImagenetDogs,
    /// Any tree of class folders holding JPEG/PNG images.
    Folder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Test,
    #[serde(rename = "train+test")]
    TrainTest,
}

pub const IMAGENET10_WNIDS: [&str; 10] = [
    "n02056570",
    "n02085936",
    "n02128757",
    "n02690373",
    "n02692877",
    "n03095699",
    "n04254680",
    "n04285008",
    "n04467665",
    "n07747607",
];

const IMAGENET_DOGS_WNIDS: [&str; 15] = [
    "n02085936",
    "n02086646",
    "n02088238",
    "n02091467",
    "n02097130",
    "n02099601",
    "n02101388",
    "n02101556",
    "n02102177",
    "n02105056",
    "n02105412",
    "n02105855",
    "n02107142",
    "n02110958",
    "n02112137",
];

impl DatasetName {
    pub const ALL: [DatasetName; 9] = [
        Self::Synthetic,
        Self::Mnist,
        Self::FashionMnist,
        Self::Cifar10,
        Self::Cifar100_20,
        Self::Stl10,
        Self::Imagenet10,
        Self::ImagenetDogs,
        Self::Folder,
    ];

    /// The folder under the data folder where this dataset lives when nobody
    /// says otherwise (where `sweep data fetch` puts it; `data.root` defaults to
    /// DATA/<this>). None: `synthetic` needs no files, `folder` is yours.
    pub fn standard_folder(self) -> Option<&'static str> {
        Some(match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
            Self::Cifar10 => "cifar-10",
            Self::Cifar100_20 => "cifar-100",
            Self::Stl10 => "stl10",
            Self::Imagenet10 => "imagenet10",
            Self::ImagenetDogs => "imagenet_dogs",
            Self::Synthetic | Self::Folder => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synthetic => "synthetic",
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion_mnist",
            Self::Cifar10 => "cifar10",
            Self::Cifar100_20 => "cifar100_20",
            Self::Stl10 => "stl10",
            Self::Imagenet10 => "imagenet10",
            Self::ImagenetDogs => "imagenet_dogs",
            Self::Folder => "folder",
        }
    }

    /// The one parser of a dataset name typed on the command line (`sweep data
    /// fetch`, `predict --dataset`, `bench --dataset`): the names of
    /// [`Self::as_str`] (those a sweep file's `data.dataset` takes), in any case,
    /// with `-` for `_`, and `cifar100` for `cifar100_20`.
    pub fn parse_cli(name: &str) -> Result<Self, String> {
        let n = name.trim().to_ascii_lowercase().replace('-', "_");
        let n = if n == "cifar100" { "cifar100_20".to_string() } else { n };
        Self::ALL.iter().copied().find(|d| d.as_str() == n).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|d| d.as_str()).collect();
            format!("unknown dataset `{name}`; known: {}", known.join(", "))
        })
    }

    /// Number of ground-truth classes (None: known only after reading the folder).
    pub fn num_classes(self) -> Option<usize> {
        match self {
            Self::Synthetic => None, // set by data.synthetic.classes
            Self::Mnist | Self::FashionMnist | Self::Cifar10 | Self::Stl10 | Self::Imagenet10 => Some(10),
            Self::Cifar100_20 => Some(20),
            Self::ImagenetDogs => Some(15),
            Self::Folder => None,
        }
    }

    /// Channels as stored (grayscale datasets are 1).
    pub fn channels(self) -> usize {
        match self {
            Self::Mnist | Self::FashionMnist => 1,
            _ => 3,
        }
    }

    /// Native side length in pixels (what training uses unless data.resolution says otherwise).
    pub fn native_resolution(self) -> Option<u32> {
        match self {
            Self::Mnist | Self::FashionMnist => Some(28),
            Self::Cifar10 | Self::Cifar100_20 => Some(32),
            Self::Stl10 => Some(96),
            Self::Imagenet10 | Self::ImagenetDogs => Some(224),
            Self::Synthetic | Self::Folder => None,
        }
    }

    /// The paper's split (Table II): train+test for STL10 and CIFAR, train for the
    /// ImageNet subsets; MNIST-like sets use train+test like CIFAR.
    pub fn default_split(self) -> Split {
        match self {
            Self::Imagenet10 | Self::ImagenetDogs | Self::Folder | Self::Synthetic => Split::Train,
            _ => Split::TrainTest,
        }
    }

    /// Number of images in the paper's split, where fixed (for validation of batch sizes).
    pub fn split_len(self, split: Split) -> Option<usize> {
        let (train, test) = match self {
            Self::Mnist | Self::FashionMnist => (60_000, 10_000),
            Self::Cifar10 | Self::Cifar100_20 => (50_000, 10_000),
            Self::Stl10 => (5_000, 8_000),
            Self::Imagenet10 => (13_000, 0),
            Self::ImagenetDogs => (19_500, 0),
            Self::Synthetic | Self::Folder => return None,
        };
        Some(match split {
            Split::Train => train,
            Split::Test => test,
            Split::TrainTest => train + test,
        })
    }

    /// method.md §4: 1000 epochs for STL10, 500 otherwise.
    pub fn default_epochs(self) -> usize {
        match self {
            Self::Stl10 => 1000,
            Self::Synthetic => 20,
            _ => 500,
        }
    }

    /// method.md §4: 256 for CIFAR-10/100, 128 otherwise.
    pub fn default_batch_size(self) -> usize {
        match self {
            Self::Cifar10 | Self::Cifar100_20 => 256,
            Self::Synthetic => 64,
            _ => 128,
        }
    }

    /// Built-in class-folder subsets (WordNet ids).
    pub fn builtin_classes(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Imagenet10 => Some(&IMAGENET10_WNIDS),
            Self::ImagenetDogs => Some(&IMAGENET_DOGS_WNIDS),
            _ => None,
        }
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
            Split::TrainTest => "train+test",
        })
    }
}

/// Where one split of a file-based public dataset lies under `data.root`: the
/// files its reader (src/data/) opens, the sub-folders they may sit in besides
/// the root itself (where the download's archive unpacks to), whether each may
/// be gzipped, and the archive the reader also reads in place. The one table the
/// readers and the presence check before a run (`data::fetch::data_needs`) share,
/// so that a split on disk is "present" exactly when its reader can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitLayout {
    pub files: Vec<&'static str>,
    pub subdirs: &'static [&'static str],
    /// `name.gz` stands for `name` (the IDX files).
    pub gz: bool,
    /// An archive in the root that holds every split (CIFAR's `.tar.gz`).
    pub archive: Option<&'static str>,
}

impl SplitLayout {
    /// The folders the files may sit in: the root, then each sub-folder.
    pub fn dirs(&self, root: &std::path::Path) -> Vec<std::path::PathBuf> {
        std::iter::once(root.to_path_buf()).chain(self.subdirs.iter().map(|s| root.join(s))).collect()
    }
    /// The first existing `dir/name` (or `dir/name.gz` where allowed) over the folders.
    pub fn find(&self, root: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
        self.dirs(root).into_iter().find_map(|d| {
            let plain = d.join(name);
            let gz = d.join(format!("{name}.gz"));
            [Some(plain), self.gz.then_some(gz)].into_iter().flatten().find(|p| p.is_file())
        })
    }
    /// Can the reader read this split from `root`: every file found, or the archive there.
    pub fn is_present(&self, root: &std::path::Path) -> bool {
        self.files.iter().all(|f| self.find(root, f).is_some()) || self.archive.is_some_and(|a| root.join(a).is_file())
    }
}

impl DatasetName {
    /// The layout of `split` on disk, for the datasets read from fixed file
    /// names (None: synthetic, or class folders).
    pub fn split_layout(self, split: Split) -> Option<SplitLayout> {
        let pick = |train: &[&'static str], test: &[&'static str]| match split {
            Split::Train => train.to_vec(),
            Split::Test => test.to_vec(),
            Split::TrainTest => [train, test].concat(),
        };
        const IDX_TRAIN: [&str; 2] = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"];
        const IDX_TEST: [&str; 2] = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];
        Some(match self {
            Self::Mnist => {
                SplitLayout { files: pick(&IDX_TRAIN, &IDX_TEST), subdirs: &["mnist"], gz: true, archive: None }
            }
            Self::FashionMnist => {
                SplitLayout { files: pick(&IDX_TRAIN, &IDX_TEST), subdirs: &["fashion-mnist"], gz: true, archive: None }
            }
            Self::Cifar10 => SplitLayout {
                files: pick(
                    &[
                        "data_batch_1.bin",
                        "data_batch_2.bin",
                        "data_batch_3.bin",
                        "data_batch_4.bin",
                        "data_batch_5.bin",
                    ],
                    &["test_batch.bin"],
                ),
                subdirs: &["cifar-10-batches-bin"],
                gz: false,
                archive: Some("cifar-10-binary.tar.gz"),
            },
            Self::Cifar100_20 => SplitLayout {
                files: pick(&["train.bin"], &["test.bin"]),
                subdirs: &["cifar-100-binary"],
                gz: false,
                archive: Some("cifar-100-binary.tar.gz"),
            },
            Self::Stl10 => SplitLayout {
                files: pick(&["train_X.bin", "train_y.bin"], &["test_X.bin", "test_y.bin"]),
                subdirs: &["stl10_binary"],
                gz: false,
                archive: None,
            },
            Self::Synthetic | Self::Folder | Self::Imagenet10 | Self::ImagenetDogs => return None,
        })
    }
}

/// The command line's dataset names ([`DatasetName::parse_cli`]), for clap.
impl std::str::FromStr for DatasetName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse_cli(s)
    }
}
