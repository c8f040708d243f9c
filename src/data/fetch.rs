//! `sweep data fetch` / `sweep data list`: the datasets of method.md §6 that have
//! public download addresses (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, STL-10),
//! downloaded, verified and left in the form the readers of `data/` read.
//!
//! The catalogue is data ([`Source`] / [`RemoteFile`]), so tests serve their own
//! small files with their own digests. A download goes to a hidden temporary file
//! next to its destination and is renamed (or unpacked) only after every check
//! passed; a failed check deletes it. Nothing here needs libtorch.
//!
//! Layout under `DIR` (the same as the project's shared data folder):
//!
//! ```text
//! DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz     data.root = DIR/mnist
//! DIR/fashion-mnist/ (same names)                               data.root = DIR/fashion-mnist
//! DIR/cifar-10/cifar-10-binary.tar.gz   (read in place)         data.root = DIR/cifar-10
//! DIR/cifar-100/cifar-100-binary.tar.gz (read in place)         data.root = DIR/cifar-100
//! DIR/stl10/stl10_binary/*.bin          (archive unpacked)      data.root = DIR/stl10
//! ```
//!
//! A mirror (`--mirror URL`, or `SWEEP_DATA_MIRROR`) serves the same relative
//! paths: `URL/mnist/train-images-idx3-ubyte.gz`, `URL/cifar-10/cifar-10-binary.tar.gz`...
//! so any copy of such a `DIR` behind a static HTTP server is a mirror.
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::config::DatasetName;

/// An expected digest, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    Sha256(String),
    /// Only where the dataset's authors publish MD5 and no SHA-256 could be
    /// computed from a trusted copy (CIFAR-100, STL-10): it still catches a
    /// truncated or corrupted transfer, which is what this check is for.
    Md5(String),
}

impl Digest {
    pub fn sha256(hex: &str) -> Self {
        Digest::Sha256(hex.to_ascii_lowercase())
    }
    pub fn md5(hex: &str) -> Self {
        Digest::Md5(hex.to_ascii_lowercase())
    }
    fn algorithm(&self) -> &'static str {
        match self {
            Digest::Sha256(_) => "SHA-256",
            Digest::Md5(_) => "MD5",
        }
    }
    fn hex(&self) -> &str {
        match self {
            Digest::Sha256(h) | Digest::Md5(h) => h,
        }
    }
}

/// What must hold of a downloaded file before it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The digest of the bytes as downloaded.
    File(Digest),
    /// The digest of a `.gz` file's decompressed bytes. The gzip framing (header
    /// time stamp, compression level) differs between copies of MNIST that hold
    /// the same IDX bytes; the IDX bytes are what the reader reads.
    Gunzipped(Digest),
    /// The digest of each named member of a `.tar.gz` (path inside the archive):
    /// every one must be present and match.
    Members(Vec<(String, Digest)>),
}

/// What happens to a verified file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// Kept as downloaded (the readers read `.gz` and CIFAR's `.tar.gz` directly).
    Keep,
    /// Unpacked next to where the archive would land, then the archive removed
    /// (the STL-10 reader reads the unpacked `.bin` files).
    UntarGz,
}

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Destination relative to `DIR`, and the path under a mirror.
    pub path: String,
    /// The official address.
    pub url: String,
    pub checks: Vec<Check>,
    pub unpack: Unpack,
    /// Paths relative to `DIR` whose presence means this file is already fetched.
    pub produces: Vec<String>,
}

/// A downloadable dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub dataset: DatasetName,
    /// The folder under `DIR` that `data.root` points at.
    pub root: String,
    pub files: Vec<RemoteFile>,
}

impl Source {
    /// `data.root` for a dataset fetched into `dir`.
    pub fn data_root(&self, dir: &Path) -> PathBuf {
        dir.join(&self.root)
    }
    /// Every file already in place under `dir`.
    pub fn is_present(&self, dir: &Path) -> bool {
        self.files.iter().all(|f| f.is_present(dir))
    }
    /// Every file in place for a run whose `data.root` is `root` (any folder:
    /// the files sit directly in it, as the readers look for them).
    fn is_present_at_root(&self, root: &Path) -> bool {
        let prefix = format!("{}/", self.root);
        self.files.iter().flat_map(|f| &f.produces).all(|p| root.join(p.strip_prefix(&prefix).unwrap_or(p)).is_file())
    }
}

/// Where a run's dataset is read from and whether it is there: what `sweep
/// plan` shows and what `sweep run` acts on before any run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataNeed {
    pub dataset: DatasetName,
    /// `data.root` (None: generated in memory).
    pub root: Option<PathBuf>,
    pub present: bool,
    /// Can be downloaded into the data folder's standard layout (`root` is
    /// DIR/<standard folder> for a dataset with public files).
    pub fetchable: bool,
}

impl DataNeed {
    /// The data folder a fetch would download into (root's parent).
    fn fetch_dir(&self) -> Option<&Path> {
        self.root.as_deref().and_then(Path::parent)
    }
}

/// The distinct datasets that `configs` read, in first-use order.
pub fn data_needs<'a>(configs: impl IntoIterator<Item = &'a crate::config::RunConfig>) -> Vec<DataNeed> {
    let mut out: Vec<DataNeed> = Vec::new();
    for cfg in configs {
        let (dataset, root) = (cfg.data.dataset, cfg.data.root.clone());
        let split = cfg.data.split;
        if let Some(n) = out.iter_mut().find(|n| n.dataset == dataset && n.root == root) {
            // Another split of a dataset already listed: present only if both are.
            n.present &= present_at(dataset, root.as_deref(), split);
            continue;
        }
        let standard = |r: &Path| dataset.standard_folder().is_some_and(|f| r.file_name().is_some_and(|n| n == f));
        let fetchable = root.as_deref().is_some_and(|r| source(dataset).is_some() && standard(r));
        let present = present_at(dataset, root.as_deref(), split);
        out.push(DataNeed { dataset, root, present, fetchable });
    }
    out
}

/// Can `split` of `dataset` be read from `root`: the files its reader opens for
/// that split (or the archive it reads in place) are there, whether they came
/// from `sweep data fetch` or were put there by hand (only the test split, say).
fn present_at(dataset: DatasetName, root: Option<&Path>, split: crate::config::Split) -> bool {
    let Some(r) = root else { return true };
    match (dataset.split_layout(split), source(dataset)) {
        (Some(layout), _) => layout.is_present(r),
        (None, Some(s)) => s.is_present_at_root(r),
        (None, None) => dataset == DatasetName::Synthetic || r.is_dir(),
    }
}

/// Makes every dataset that `needs` lists present before any run starts: a
/// missing public dataset in its standard place is downloaded and verified
/// (after saying so on stderr), unless `offline`; anything else missing is an
/// error saying what to do. Nothing is trained before this returns.
pub fn ensure_present(needs: &[DataNeed], offline: bool, mirror: Option<String>) -> anyhow::Result<()> {
    for need in needs.iter().filter(|n| !n.present) {
        let root = need.root.as_deref().unwrap_or(Path::new("?"));
        let name = need.dataset;
        if let Some(dir) = need.fetch_dir().filter(|_| need.fetchable) {
            if offline {
                anyhow::bail!(
                    "dataset `{name}` is not at {} and --offline forbids fetching it: run `sweep data fetch {name} --dir {}`, or drop --offline",
                    root.display(),
                    dir.display()
                );
            }
            let source = source(name).expect("fetchable datasets have a source");
            eprintln!("dataset `{name}` is not at {}: fetching it into {} (first use)", root.display(), dir.display());
            let opts = FetchOptions { dir: dir.to_path_buf(), mirror: mirror.clone(), force: false, progress: true };
            fetch(&source, &opts).map_err(|e| anyhow::anyhow!("fetching `{name}` into {}: {e}", dir.display()))?;
            continue;
        }
        let hint = match (source(name), manual_instructions(name, root.parent().unwrap_or(root))) {
            (_, Some(_)) => format!("see `sweep data fetch {name}` for the ImageNet layout to create"),
            (Some(s), None) => format!(
                "run `sweep data fetch {name} --dir DIR` and set data.root = \"DIR/{}\" (or leave data.root out to use the data folder)",
                s.root
            ),
            (None, None) => "point data.root at your class folders".to_string(),
        };
        anyhow::bail!("dataset `{name}` is not at {}: {hint}", root.display());
    }
    Ok(())
}

impl RemoteFile {
    fn is_present(&self, dir: &Path) -> bool {
        self.produces.iter().all(|p| dir.join(p).is_file())
    }
    /// The address to download from: the official one, or `mirror/path`.
    pub fn address(&self, mirror: Option<&str>) -> String {
        match mirror {
            Some(m) => format!("{}/{}", m.trim_end_matches('/'), self.path),
            None => self.url.clone(),
        }
    }
}

/// SHA-256 of the decompressed IDX files, computed here from the project's copies
/// (which match the checksums the original MNIST / Fashion-MNIST releases publish).
const MNIST_IDX_SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];
const FASHION_IDX_SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
];

/// SHA-256 of the members of `cifar-10-binary.tar.gz`, computed here from the
/// project's copy. The archive itself is not pinned: copies repacked by mirrors
/// differ in their gzip/tar framing while holding the same batches.
const CIFAR10_MEMBER_SHA256: [(&str, &str); 7] = [
    ("cifar-10-batches-bin/batches.meta.txt", "558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033"),
    ("cifar-10-batches-bin/data_batch_1.bin", "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"),
    ("cifar-10-batches-bin/data_batch_2.bin", "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"),
    ("cifar-10-batches-bin/data_batch_3.bin", "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"),
    ("cifar-10-batches-bin/data_batch_4.bin", "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"),
    ("cifar-10-batches-bin/data_batch_5.bin", "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"),
    ("cifar-10-batches-bin/test_batch.bin", "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"),
];

/// MD5 of `cifar-100-binary.tar.gz` as published on the CIFAR page (Krizhevsky)
/// and used by other loaders of the binary version. No SHA-256: no trusted copy
/// was at hand to compute one.
const CIFAR100_ARCHIVE_MD5: &str = "03b5dce01913d631647c71ecec9e9cb8";
/// MD5 of `stl10_binary.tar.gz` as pinned by torchvision's `STL10.tgz_md5`. No
/// SHA-256, for the same reason.
const STL10_ARCHIVE_MD5: &str = "91f7769df0f17e558f3565bffb0c7dfb";

fn idx_source(dataset: DatasetName, root: &str, base: &str, sums: &[(&str, &str); 4]) -> Source {
    let files = sums
        .iter()
        .map(|(name, sha)| {
            let path = format!("{root}/{name}.gz");
            RemoteFile {
                url: format!("{base}/{name}.gz"),
                checks: vec![Check::Gunzipped(Digest::sha256(sha))],
                unpack: Unpack::Keep,
                produces: vec![path.clone()],
                path,
            }
        })
        .collect();
    Source { dataset, root: root.into(), files }
}

/// The downloadable datasets with their official addresses and digests.
pub fn catalogue() -> Vec<Source> {
    let cifar10 = "cifar-10/cifar-10-binary.tar.gz".to_string();
    let cifar100 = "cifar-100/cifar-100-binary.tar.gz".to_string();
    vec![
        // The original MNIST host refuses scripted downloads; this is the copy
        // torchvision fetches from (the same IDX bytes, checked above).
        idx_source(DatasetName::Mnist, "mnist", "https://ossci-datasets.s3.amazonaws.com/mnist", &MNIST_IDX_SHA256),
        idx_source(
            DatasetName::FashionMnist,
            "fashion-mnist",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
            &FASHION_IDX_SHA256,
        ),
        Source {
            dataset: DatasetName::Cifar10,
            root: "cifar-10".into(),
            files: vec![RemoteFile {
                url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".into(),
                checks: vec![Check::Members(
                    CIFAR10_MEMBER_SHA256.iter().map(|(p, s)| (p.to_string(), Digest::sha256(s))).collect(),
                )],
                unpack: Unpack::Keep,
                produces: vec![cifar10.clone()],
                path: cifar10,
            }],
        },
        Source {
            dataset: DatasetName::Cifar100_20,
            root: "cifar-100".into(),
            files: vec![RemoteFile {
                url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz".into(),
                checks: vec![Check::File(Digest::md5(CIFAR100_ARCHIVE_MD5))],
                unpack: Unpack::Keep,
                produces: vec![cifar100.clone()],
                path: cifar100,
            }],
        },
        Source {
            dataset: DatasetName::Stl10,
            root: "stl10".into(),
            files: vec![RemoteFile {
                // The authors serve STL-10 over plain HTTP only; the MD5 check
                // is what guards the transfer.
                url: "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz".into(),
                path: "stl10/stl10_binary.tar.gz".into(),
                checks: vec![Check::File(Digest::md5(STL10_ARCHIVE_MD5))],
                unpack: Unpack::UntarGz,
                produces: ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]
                    .iter()
                    .map(|f| format!("stl10/stl10_binary/{f}"))
                    .collect(),
            }],
        },
    ]
}

/// The catalogue entry of `dataset`, if it can be downloaded.
pub fn source(dataset: DatasetName) -> Option<Source> {
    catalogue().into_iter().find(|s| s.dataset == dataset)
}

/// What to tell a user who asks to fetch a dataset with no public download
/// (the ImageNet subsets, method.md §6): the class list, the layout the
/// class-folder reader expects, and the `data.root` to set. None for the others.
pub fn manual_instructions(dataset: DatasetName, dir: &Path) -> Option<String> {
    let wnids = dataset.builtin_classes()?;
    let n = dataset.split_len(crate::config::Split::Train).unwrap_or(0);
    let folder = dir.join(dataset.as_str());
    let mut s = format!(
        "`{ds}` cannot be downloaded: it is a subset of ImageNet (ILSVRC-2012), whose licence \
         requires each user to obtain it from image-net.org. From your copy of the ILSVRC-2012 \
         training images, copy (or link) these {k} class folders, {per} images each ({n} in all, \
         the paper's Table II):\n\n",
        ds = dataset,
        k = wnids.len(),
        per = n / wnids.len().max(1),
    );
    for w in wnids {
        s.push_str(&format!("  {w}\n"));
    }
    s.push_str(&format!(
        "\ninto this layout (file names as in ImageNet; .JPEG, .jpg or .png):\n\n  \
         {f}/<wnid>/*.JPEG\n  or {f}/train/<wnid>/*.JPEG with {f}/val/<wnid>/*.JPEG for data.split = \"test\"\n\n\
         e.g. for w in {first} ...; do ln -s /path/to/ILSVRC2012/train/$w {f}/$w; done\n\n\
         then set in the sweep file:\n\n  [data]\n  dataset = \"{ds}\"\n  root = \"{f}\"\n\n\
         (the WordNet ids are built in; data.classes overrides them)",
        f = folder.display(),
        first = wnids[0],
        ds = dataset,
    ));
    Some(s)
}

/// Errors of a fetch. Each names the file or address and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: the server answered HTTP {status}; check the address (or the mirror given with --mirror / SWEEP_DATA_MIRROR)")]
    Http { url: String, status: u16 },
    #[error("{url}: the download failed ({message}); check the network and run the same command again")]
    Transfer { url: String, message: String },
    #[error(
        "{url}: the transfer stopped after {got} of {expected} bytes; nothing was kept, run the same command again"
    )]
    Truncated { url: String, expected: u64, got: u64 },
    #[error(
        "{file}: {what} {algorithm} mismatch: expected {expected}, got {actual}. The download was deleted. \
         Run the same command again; if it fails again the server (or mirror) holds a different or damaged \
         file: download it from the dataset's own page and check it by hand"
    )]
    Checksum { file: PathBuf, what: String, algorithm: &'static str, expected: String, actual: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable archive ({message}); the download was deleted, run the same command again")]
    Archive { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_path_buf(), source }
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Where the datasets go (created if missing).
    pub dir: PathBuf,
    /// Base address replacing the official hosts (see the module doc).
    pub mirror: Option<String>,
    /// Download again even if the files are present.
    pub force: bool,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// What one fetch did, per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    AlreadyPresent(PathBuf),
    Downloaded { path: PathBuf, bytes: u64 },
}

/// Download, verify and place every file of `source` under `opts.dir`.
pub fn fetch(source: &Source, opts: &FetchOptions) -> Result<Vec<FileOutcome>, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        // A dead host or a server that never answers fails the command; the
        // body itself has no time budget (STL-10 is 2.6 GB on any bandwidth).
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .user_agent(concat!("sweep/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut out = Vec::new();
    for file in &source.files {
        let dest = opts.dir.join(&file.path);
        if !opts.force && file.is_present(&opts.dir) {
            out.push(FileOutcome::AlreadyPresent(dest));
            continue;
        }
        let bytes = fetch_file(&agent, file, &dest, opts)?;
        out.push(FileOutcome::Downloaded { path: dest, bytes });
    }
    Ok(out)
}

/// The hidden temporary name a download is written to before it is verified.
pub fn partial_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.part"))
}

fn fetch_file(agent: &ureq::Agent, file: &RemoteFile, dest: &Path, opts: &FetchOptions) -> Result<u64, FetchError> {
    let folder = dest.parent().expect("a destination under DIR has a parent");
    std::fs::create_dir_all(folder).map_err(io_err(folder))?;
    let part = partial_path(dest);
    let result = download(agent, file, &part, opts).and_then(|(bytes, sums)| {
        verify(file, &part, dest, &sums)?;
        place(file, &part, dest, &opts.dir)?;
        Ok(bytes)
    });
    if result.is_err() {
        // Whatever went wrong, no unverified bytes stay behind.
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Digests of the bytes as they arrived, computed while writing them.
struct StreamSums {
    sha256: String,
    md5: String,
}

fn download(
    agent: &ureq::Agent,
    file: &RemoteFile,
    part: &Path,
    opts: &FetchOptions,
) -> Result<(u64, StreamSums), FetchError> {
    let url = file.address(opts.mirror.as_deref());
    let transfer = |e: &dyn std::fmt::Display| FetchError::Transfer { url: url.clone(), message: e.to_string() };
    let response = agent.get(&url).call().map_err(|e| match e {
        ureq::Error::StatusCode(status) => FetchError::Http { url: url.clone(), status },
        other => transfer(&other),
    })?;
    let expected = response.body().content_length();
    let bar = progress_bar(expected, &file.path, opts.progress);
    let mut reader = response.into_body().into_reader();
    let mut out = std::io::BufWriter::new(File::create(part).map_err(io_err(part))?);
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A connection closed before the announced length ends up here.
            Err(e) => {
                bar.abandon();
                return Err(match expected {
                    Some(expected) if got < expected => FetchError::Truncated { url, expected, got },
                    _ => transfer(&e),
                });
            }
        };
        out.write_all(&buf[..n]).map_err(io_err(part))?;
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        got += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    if let Some(expected) = expected.filter(|&e| e != got) {
        return Err(FetchError::Truncated { url, expected, got });
    }
    let f = out.into_inner().map_err(|e| FetchError::Io { path: part.to_path_buf(), source: e.into_error() })?;
    f.sync_all().map_err(io_err(part))?;
    Ok((got, StreamSums { sha256: hex(&sha.finalize()), md5: hex(&md5.finalize()) }))
}

fn progress_bar(len: Option<u64>, label: &str, shown: bool) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("a valid progress template")
                .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                .expect("a valid progress template"),
        ),
    };
    bar.with_message(label.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Digest of everything `reader` yields.
fn digest_reader(kind: &Digest, mut reader: impl Read) -> std::io::Result<String> {
    let mut buf = vec![0u8; 1 << 16];
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        match kind {
            Digest::Sha256(_) => sha.update(&buf[..n]),
            Digest::Md5(_) => md5.update(&buf[..n]),
        }
    }
    Ok(match kind {
        Digest::Sha256(_) => hex(&sha.finalize()),
        Digest::Md5(_) => hex(&md5.finalize()),
    })
}

fn mismatch(dest: &Path, what: String, want: &Digest, actual: String) -> FetchError {
    FetchError::Checksum {
        file: dest.to_path_buf(),
        what,
        algorithm: want.algorithm(),
        expected: want.hex().to_string(),
        actual,
    }
}

/// Run every check of `file` on the downloaded `part`; errors name `dest`.
fn verify(file: &RemoteFile, part: &Path, dest: &Path, sums: &StreamSums) -> Result<(), FetchError> {
    let archive_err = |e: std::io::Error| FetchError::Archive { path: dest.to_path_buf(), message: e.to_string() };
    for check in &file.checks {
        match check {
            Check::File(want) => {
                let actual = match want {
                    Digest::Sha256(_) => &sums.sha256,
                    Digest::Md5(_) => &sums.md5,
                };
                if actual != want.hex() {
                    return Err(mismatch(dest, "file".into(), want, actual.clone()));
                }
            }
            Check::Gunzipped(want) => {
                let f = File::open(part).map_err(io_err(part))?;
                let actual =
                    digest_reader(want, flate2::read::GzDecoder::new(BufReader::new(f))).map_err(archive_err)?;
                if actual != want.hex() {
                    return Err(mismatch(dest, "decompressed content".into(), want, actual));
                }
            }
            Check::Members(wanted) => {
                let f = File::open(part).map_err(io_err(part))?;
                let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(f)));
                let mut seen: Vec<Option<String>> = vec![None; wanted.len()];
                for entry in tar.entries().map_err(archive_err)? {
                    let entry = entry.map_err(archive_err)?;
                    let name = entry.path().map_err(archive_err)?.to_string_lossy().into_owned();
                    let name = name.trim_start_matches("./").to_string();
                    if let Some(i) = wanted.iter().position(|(p, _)| *p == name) {
                        seen[i] = Some(digest_reader(&wanted[i].1, entry).map_err(archive_err)?);
                    }
                }
                for ((member, want), actual) in wanted.iter().zip(seen) {
                    match actual {
                        None => {
                            return Err(FetchError::Archive {
                                path: dest.to_path_buf(),
                                message: format!("member {member} is missing"),
                            })
                        }
                        Some(a) if a != want.hex() => {
                            return Err(mismatch(dest, format!("member {member}"), want, a));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// Move a verified download to where the readers look.
fn place(file: &RemoteFile, part: &Path, dest: &Path, dir: &Path) -> Result<(), FetchError> {
    match file.unpack {
        Unpack::Keep => std::fs::rename(part, dest).map_err(io_err(dest)),
        Unpack::UntarGz => {
            // Unpack into a staging folder first so that a failure half-way
            // leaves no partial dataset where the reader looks; then move each
            // top-level entry into place and drop the archive.
            let folder = dest.parent().expect("a destination under DIR has a parent");
            let staging = partial_path(&dest.with_extension("unpack"));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
            let f = File::open(part).map_err(io_err(part))?;
            let unpacked = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(f)))
                .unpack(&staging)
                .map_err(|e| FetchError::Archive { path: dest.to_path_buf(), message: e.to_string() });
            if let Err(e) = unpacked {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
            for entry in std::fs::read_dir(&staging).map_err(io_err(&staging))? {
                let entry = entry.map_err(io_err(&staging))?;
                let target = folder.join(entry.file_name());
                if target.is_dir() {
                    std::fs::remove_dir_all(&target).map_err(io_err(&target))?;
                }
                std::fs::rename(entry.path(), &target).map_err(io_err(&target))?;
            }
            std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
            std::fs::remove_file(part).map_err(io_err(part))?;
            match file.produces.iter().find(|p| !dir.join(p).is_file()) {
                Some(p) => Err(FetchError::Archive {
                    path: dest.to_path_buf(),
                    message: format!("it unpacked without {p}, which the reader needs"),
                }),
                None => Ok(()),
            }
        }
    }
}
