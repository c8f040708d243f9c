//! `sweep data fetch` against a small HTTP server on 127.0.0.1 serving the files of
//! tests/fixtures/fetch/mirror (tiny MNIST / CIFAR-10 / STL-10 in their real
//! formats, written by tests/fixtures/gen_fetch.py with their hashlib digests), plus
//! corrupted, truncated and missing files. The real catalogue's digests are checked
//! against the project's copies of the real datasets when they are present.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sweep::config::DatasetName;
use sweep::data::fetch::{
    self, catalogue, fetch, partial_path, Check, Digest, FetchError, FetchOptions, FileOutcome, RemoteFile, Source,
    Unpack,
};

use crate::common::{fixture, shared_data};

// ------------------------------------------------------------------ the server

/// What the server sends for one path.
#[derive(Clone)]
enum Reply {
    Bytes(Vec<u8>),
    /// Announce `announced` bytes, send `body`, close the connection.
    Truncated {
        body: Vec<u8>,
        announced: u64,
    },
    NotFound,
}

/// A static file server: `root` answers every path not in `overrides`.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn start(root: PathBuf, overrides: HashMap<String, Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        // Serves one connection at a time until the test binary exits; the
        // client downloads sequentially.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
                let reply = overrides.get(&path).cloned().unwrap_or_else(|| match std::fs::read(root.join(&path)) {
                    Ok(b) => Reply::Bytes(b),
                    Err(_) => Reply::NotFound,
                });
                let (status, body, announced) = match reply {
                    Reply::Bytes(b) => ("200 OK", b.clone(), b.len() as u64),
                    Reply::Truncated { body, announced } => ("200 OK", body, announced),
                    Reply::NotFound => ("404 Not Found", b"not found".to_vec(), 9),
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
                let _ = stream.flush();
                // Dropping the stream closes it: a short body is a truncated transfer.
            }
        });
        Server { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn mirror_dir() -> PathBuf {
    fixture("fetch").join("mirror")
}

fn mirror_file(rel: &str) -> Vec<u8> {
    std::fs::read(mirror_dir().join(rel)).unwrap()
}

// ------------------------------------------------- catalogue from the fixtures

/// hashlib's digests of the fixture files (tests/fixtures/fetch/digests.json).
fn digests() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("fetch").join("digests.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex_at(v: &serde_json::Value, file: &str, key: &str) -> String {
    v[file][key].as_str().unwrap_or_else(|| panic!("digests.json: {file}.{key}")).to_string()
}

const MNIST_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

fn mnist_source() -> Source {
    let d = digests();
    let files = MNIST_FILES
        .iter()
        .map(|name| {
            let path = format!("mnist/{name}.gz");
            RemoteFile {
                url: format!("http://127.0.0.1:9/unused/{name}.gz"),
                checks: vec![Check::Gunzipped(Digest::sha256(&hex_at(&d, &path, "gunzipped_sha256")))],
                unpack: Unpack::Keep,
                produces: vec![path.clone()],
                path,
            }
        })
        .collect();
    Source { dataset: DatasetName::Mnist, root: "mnist".into(), files }
}

fn cifar10_source() -> Source {
    let rel = "cifar-10/cifar-10-binary.tar.gz";
    let members = digests()[rel]["members_sha256"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), Digest::sha256(v.as_str().unwrap())))
        .collect();
    Source {
        dataset: DatasetName::Cifar10,
        root: "cifar-10".into(),
        files: vec![RemoteFile {
            url: "http://127.0.0.1:9/unused".into(),
            path: rel.into(),
            checks: vec![Check::Members(members)],
            unpack: Unpack::Keep,
            produces: vec![rel.into()],
        }],
    }
}

fn stl10_source() -> Source {
    let rel = "stl10/stl10_binary.tar.gz";
    Source {
        dataset: DatasetName::Stl10,
        root: "stl10".into(),
        files: vec![RemoteFile {
            url: "http://127.0.0.1:9/unused".into(),
            path: rel.into(),
            checks: vec![Check::File(Digest::md5(&hex_at(&digests(), rel, "md5")))],
            unpack: Unpack::UntarGz,
            produces: ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]
                .iter()
                .map(|f| format!("stl10/stl10_binary/{f}"))
                .collect(),
        }],
    }
}

fn opts(dir: &Path, server: &Server) -> FetchOptions {
    FetchOptions { dir: dir.to_path_buf(), mirror: Some(server.base.clone()), force: false, progress: false }
}

/// Every regular file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

// ----------------------------------------------------------------------- tests

#[test]
fn mnist_is_downloaded_verified_and_kept_as_gz() {
    let server = Server::start(mirror_dir(), HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let out = fetch(&mnist_source(), &opts(tmp.path(), &server)).unwrap();
    assert_eq!(out.len(), 4);
    for (o, name) in out.iter().zip(MNIST_FILES) {
        let rel = format!("mnist/{name}.gz");
        let want = mirror_file(&rel);
        assert_eq!(o, &FileOutcome::Downloaded { path: tmp.path().join(&rel), bytes: want.len() as u64 });
        assert_eq!(std::fs::read(tmp.path().join(&rel)).unwrap(), want, "{rel}");
    }
    // Only the four files: no temporary file is left behind.
    let mut expected: Vec<String> = MNIST_FILES.iter().map(|n| format!("mnist/{n}.gz")).collect();
    expected.sort();
    assert_eq!(files_under(tmp.path()), expected);

    // A second fetch finds them and asks the server for nothing.
    let hits = server.hits();
    let again = fetch(&mnist_source(), &opts(tmp.path(), &server)).unwrap();
    assert!(again.iter().all(|o| matches!(o, FileOutcome::AlreadyPresent(_))), "{again:?}");
    assert_eq!(server.hits(), hits);
    // --force downloads them again.
    let forced = fetch(&mnist_source(), &FetchOptions { force: true, ..opts(tmp.path(), &server) }).unwrap();
    assert!(forced.iter().all(|o| matches!(o, FileOutcome::Downloaded { .. })));
    assert_eq!(server.hits(), hits + 4);
    // A copy cut short (what the readers' errors send here with
    // `sweep data fetch NAME --force`) is present to the presence check, so only
    // --force replaces it, with the verified file.
    let rel = "mnist/train-images-idx3-ubyte.gz";
    let want = mirror_file(rel);
    std::fs::write(tmp.path().join(rel), &want[..want.len() / 2]).unwrap();
    let kept = fetch(&mnist_source(), &opts(tmp.path(), &server)).unwrap();
    assert!(kept.iter().all(|o| matches!(o, FileOutcome::AlreadyPresent(_))), "{kept:?}");
    fetch(&mnist_source(), &FetchOptions { force: true, ..opts(tmp.path(), &server) }).unwrap();
    assert_eq!(std::fs::read(tmp.path().join(rel)).unwrap(), want, "the damaged copy is replaced");
}

#[test]
fn a_corrupted_file_is_refused_and_deleted() {
    // A well-formed gzip whose IDX content differs in one label (3, 1, 5 instead
    // of 3, 1, 4): only the digest can tell.
    let rel = "mnist/train-labels-idx1-ubyte.gz";
    let mut raw = gunzip(&mirror_file(rel));
    assert_eq!(raw[10], 4);
    raw[10] = 5;
    let server = Server::start(mirror_dir(), HashMap::from([(rel.to_string(), Reply::Bytes(gz(&raw)))]));
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&mnist_source(), &opts(tmp.path(), &server)).unwrap_err();
    let expected = hex_at(&digests(), rel, "gunzipped_sha256");
    match &err {
        FetchError::Checksum { file, algorithm, expected: e, actual, .. } => {
            assert_eq!(file, &tmp.path().join(rel));
            assert_eq!(*algorithm, "SHA-256");
            assert_eq!(e, &expected);
            assert_ne!(actual, &expected);
            assert_eq!(actual.len(), 64);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let msg = err.to_string();
    for needle in [rel, expected.as_str(), "deleted", "same command again"] {
        assert!(msg.contains(needle), "`{needle}` not in: {msg}");
    }
    // The file before it was kept (verified); the corrupted one left nothing.
    assert_eq!(files_under(tmp.path()), vec!["mnist/train-images-idx3-ubyte.gz".to_string()]);
    assert!(!partial_path(&tmp.path().join(rel)).exists());
}

#[test]
fn a_corrupted_archive_is_refused_by_its_md5() {
    let rel = "stl10/stl10_binary.tar.gz";
    let mut bytes = mirror_file(rel);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let server = Server::start(mirror_dir(), HashMap::from([(rel.to_string(), Reply::Bytes(bytes))]));
    let tmp = tempfile::tempdir().unwrap();
    match fetch(&stl10_source(), &opts(tmp.path(), &server)).unwrap_err() {
        FetchError::Checksum { algorithm, expected, .. } => {
            assert_eq!(algorithm, "MD5");
            assert_eq!(expected, hex_at(&digests(), rel, "md5"));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert_eq!(files_under(tmp.path()), Vec::<String>::new());
}

#[test]
fn a_truncated_transfer_is_refused() {
    let rel = "cifar-10/cifar-10-binary.tar.gz";
    let full = mirror_file(rel);
    let reply = Reply::Truncated { body: full[..full.len() / 2].to_vec(), announced: full.len() as u64 };
    let server = Server::start(mirror_dir(), HashMap::from([(rel.to_string(), reply)]));
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&cifar10_source(), &opts(tmp.path(), &server)).unwrap_err();
    match &err {
        FetchError::Truncated { url, expected, got } => {
            assert_eq!(url, &format!("{}/{rel}", server.base));
            assert_eq!(*expected, full.len() as u64);
            assert!(*got < *expected);
        }
        other => panic!("expected a truncated transfer, got {other:?}"),
    }
    assert!(err.to_string().contains("run the same command again"), "{err}");
    assert_eq!(files_under(tmp.path()), Vec::<String>::new());
}

#[test]
fn a_missing_file_is_an_http_error_naming_the_address() {
    let server =
        Server::start(mirror_dir(), HashMap::from([("cifar-10/cifar-10-binary.tar.gz".into(), Reply::NotFound)]));
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&cifar10_source(), &opts(tmp.path(), &server)).unwrap_err();
    match &err {
        FetchError::Http { url, status } => {
            assert_eq!(*status, 404);
            assert_eq!(url, &format!("{}/cifar-10/cifar-10-binary.tar.gz", server.base));
        }
        other => panic!("expected HTTP 404, got {other:?}"),
    }
    assert!(err.to_string().contains("--mirror"), "{err}");
    assert_eq!(files_under(tmp.path()), Vec::<String>::new());
}

#[test]
fn cifar10_members_are_verified_and_the_archive_kept_for_the_reader() {
    let server = Server::start(mirror_dir(), HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    fetch(&cifar10_source(), &opts(tmp.path(), &server)).unwrap();
    let rel = "cifar-10/cifar-10-binary.tar.gz";
    assert_eq!(files_under(tmp.path()), vec![rel.to_string()]);
    assert_eq!(std::fs::read(tmp.path().join(rel)).unwrap(), mirror_file(rel));

    // One member's digest wrong: refused, named, nothing kept.
    let mut wrong = cifar10_source();
    let Check::Members(m) = &mut wrong.files[0].checks[0] else { unreachable!() };
    let i = m.iter().position(|(p, _)| p.ends_with("test_batch.bin")).unwrap();
    m[i].1 = Digest::sha256(&"0".repeat(64));
    let tmp2 = tempfile::tempdir().unwrap();
    let err = fetch(&wrong, &opts(tmp2.path(), &server)).unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err:?}");
    assert!(err.to_string().contains("member cifar-10-batches-bin/test_batch.bin"), "{err}");
    assert_eq!(files_under(tmp2.path()), Vec::<String>::new());

    // A member the archive lacks: refused as a wrong archive.
    let Check::Members(m) = &mut wrong.files[0].checks[0] else { unreachable!() };
    m[i].0 = "cifar-10-batches-bin/data_batch_6.bin".into();
    let err = fetch(&wrong, &opts(tmp2.path(), &server)).unwrap_err();
    assert!(matches!(&err, FetchError::Archive { message, .. } if message.contains("data_batch_6.bin")), "{err:?}");
    assert_eq!(files_under(tmp2.path()), Vec::<String>::new());
}

#[test]
fn stl10_is_unpacked_and_its_archive_removed() {
    let server = Server::start(mirror_dir(), HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    fetch(&stl10_source(), &opts(tmp.path(), &server)).unwrap();
    let members = digests()["stl10/stl10_binary.tar.gz"]["members_sha256"].as_object().unwrap().clone();
    let mut expected: Vec<String> = members.keys().map(|k| format!("stl10/{k}")).collect();
    expected.sort();
    assert_eq!(files_under(tmp.path()), expected);
    for (name, sha) in members {
        use sha2::Digest as _;
        let bytes = std::fs::read(tmp.path().join("stl10").join(&name)).unwrap();
        let got: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, sha.as_str().unwrap(), "{name}");
    }
    assert!(stl10_source().is_present(tmp.path()));
}

#[test]
fn dataset_names_and_the_imagenet_instructions() {
    assert_eq!(DatasetName::parse_cli("fashion-mnist"), Ok(DatasetName::FashionMnist));
    assert_eq!(DatasetName::parse_cli("cifar100"), Ok(DatasetName::Cifar100_20));
    assert_eq!(DatasetName::parse_cli("CIFAR10"), Ok(DatasetName::Cifar10));
    for d in DatasetName::ALL {
        assert_eq!(DatasetName::parse_cli(d.as_str()), Ok(d), "every sweep-file name parses on the command line");
    }
    let err = DatasetName::parse_cli("imagenet").unwrap_err();
    assert!(err.starts_with("unknown dataset `imagenet`; known: synthetic, mnist"), "{err}");

    // Exactly the five datasets with public addresses are downloadable.
    let names: Vec<DatasetName> = catalogue().iter().map(|s| s.dataset).collect();
    assert_eq!(
        names,
        [
            DatasetName::Mnist,
            DatasetName::FashionMnist,
            DatasetName::Cifar10,
            DatasetName::Cifar100_20,
            DatasetName::Stl10
        ]
    );
    for s in catalogue() {
        for f in &s.files {
            assert!(!f.checks.is_empty(), "{} has no check", f.path);
            assert!(f.path.starts_with(&format!("{}/", s.root)), "{} outside {}", f.path, s.root);
        }
    }

    let dir = Path::new("/data/sets");
    for ds in [DatasetName::Imagenet10, DatasetName::ImagenetDogs] {
        assert!(fetch::source(ds).is_none());
        let text = fetch::manual_instructions(ds, dir).unwrap();
        for w in ds.builtin_classes().unwrap() {
            assert!(text.contains(&format!("  {w}\n")), "{ds}: {w} missing from:\n{text}");
        }
        assert!(text.contains(&format!("root = \"/data/sets/{ds}\"")), "{text}");
        assert!(text.contains(&format!("/data/sets/{ds}/<wnid>/*.JPEG")), "{text}");
    }
    assert!(fetch::manual_instructions(DatasetName::Cifar10, dir).is_none());
}

/// The real catalogue's pinned digests against the project's copies of MNIST,
/// Fashion-MNIST and CIFAR-10, served as a mirror (their layout is the one
/// `fetch` writes).
#[test]
fn real_catalogue_digests_match_the_real_datasets() {
    let Some(real) = shared_data() else { return };
    let server = Server::start(real.clone(), HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    for ds in [DatasetName::Mnist, DatasetName::FashionMnist, DatasetName::Cifar10] {
        let source = fetch::source(ds).unwrap();
        if !source.is_present(&real) {
            eprintln!("SKIPPED: {ds} not under {}", real.display());
            continue;
        }
        let out = fetch(&source, &opts(tmp.path(), &server)).unwrap_or_else(|e| panic!("{ds}: {e}"));
        assert!(out.iter().all(|o| matches!(o, FileOutcome::Downloaded { .. })));
        assert!(source.is_present(tmp.path()));
        // Free the space as we go (CIFAR-10 is 170 MB).
        std::fs::remove_dir_all(source.data_root(tmp.path())).unwrap();
    }
}

/// What was fetched is what `sweep::data::load` reads.
#[cfg(feature = "torch")]
#[test]
fn fetched_mnist_loads_through_the_reader() {
    use sweep::config::Split;
    let server = Server::start(mirror_dir(), HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let source = mnist_source();
    fetch(&source, &opts(tmp.path(), &server)).unwrap();
    let mut c = sweep::config::RunSpec::default();
    c.data.dataset = DatasetName::Mnist;
    c.data.root = Some(source.data_root(tmp.path()));
    c.data.split = Some(Split::TrainTest);
    let c = c.resolve().unwrap();
    let ds = sweep::data::load(&c).unwrap();
    // gen_fetch.py: labels 3, 1, 4 (train) then 1, 5 (test); pixel (r, c) of
    // image i of its file is (7 i + 3 r + c) mod 256.
    assert_eq!(ds.labels, vec![3, 1, 4, 1, 5]);
    assert_eq!(ds.images.size(), vec![5, 1, 28, 28]);
    let pixel = |i: i64, r: i64, c: i64| (7 * i + 3 * r + c) % 256;
    assert_eq!(ds.images.int64_value(&[2, 0, 5, 6]), pixel(2, 5, 6));
    // Row 4 is the second image of the test file.
    assert_eq!(ds.images.int64_value(&[4, 0, 27, 27]), pixel(1, 27, 27));
}

// ------------------------------------------------- datasets on first use

fn mnist_config(root: &Path) -> sweep::config::RunConfig {
    let mut c = sweep::config::RunSpec::default();
    c.data.dataset = DatasetName::Mnist;
    c.data.root = Some(root.to_path_buf());
    c.resolve().unwrap()
}

#[test]
fn a_missing_public_dataset_is_fetched_on_first_use_unless_offline() {
    use sweep::data::fetch::{data_needs, ensure_present};
    let Some(shared) = crate::common::shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data").join("mnist");
    let cfg = mnist_config(&root);
    let needs = data_needs([&cfg]);
    assert_eq!(needs.len(), 1);
    assert!(!needs[0].present && needs[0].fetchable, "{needs:?}");

    let err = ensure_present(&needs, true, None).unwrap_err().to_string();
    assert!(err.contains("--offline") && err.contains("sweep data fetch mnist"), "{err}");
    assert!(!root.exists(), "offline fetches nothing");

    // The real files, served from the shared data folder as a mirror.
    let server = Server::start(shared, HashMap::new());
    ensure_present(&needs, false, Some(server.base.clone())).unwrap();
    assert!(data_needs([&cfg])[0].present);
    assert_eq!(server.hits(), 4, "the four IDX files, once each");
    // Present now: nothing is fetched again.
    ensure_present(&data_needs([&cfg]), false, Some(server.base.clone())).unwrap();
    assert_eq!(server.hits(), 4);
}

#[test]
fn missing_data_outside_the_standard_layout_is_an_error_saying_what_to_do() {
    use sweep::data::fetch::{data_needs, ensure_present};
    let tmp = tempfile::tempdir().unwrap();
    let cfg = mnist_config(&tmp.path().join("my-digits"));
    let needs = data_needs([&cfg]);
    assert!(!needs[0].fetchable);
    let err = ensure_present(&needs, false, None).unwrap_err().to_string();
    assert!(err.contains("my-digits") && err.contains("sweep data fetch mnist --dir DIR"), "{err}");

    let mut inet = mnist_config(&tmp.path().join("imagenet10"));
    inet.data.dataset = DatasetName::Imagenet10;
    let err = ensure_present(&data_needs([&inet]), false, None).unwrap_err().to_string();
    assert!(err.contains("ImageNet layout"), "{err}");
}

/// A split on disk is present when its reader can read it, whatever else is
/// missing: the test split of MNIST alone, or CIFAR-10's unpacked test batch
/// without the archive (as a data folder copied by hand holds it); a split whose
/// files are absent is not, and a dataset listed with two splits needs both.
#[test]
fn presence_before_a_run_asks_for_the_files_of_the_split_that_is_read() {
    use sweep::config::Split;
    use sweep::data::fetch::data_needs;
    let tmp = tempfile::tempdir().unwrap();
    let with = |ds: DatasetName, root: &Path, split: Split| {
        let mut c = sweep::config::RunSpec::default();
        c.data.dataset = ds;
        c.data.root = Some(root.to_path_buf());
        c.data.split = Some(split);
        c.resolve().unwrap()
    };
    let mnist = tmp.path().join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"] {
        std::fs::write(mnist.join(f), b"x").unwrap();
    }
    let test = with(DatasetName::Mnist, &mnist, Split::Test);
    let both = with(DatasetName::Mnist, &mnist, Split::TrainTest);
    assert!(data_needs([&test])[0].present, "gzipped or not, the test pair is there");
    assert!(!data_needs([&both])[0].present, "train+test needs the train pair too");
    assert!(!data_needs([&test, &both])[0].present, "one dataset, two splits: both must be there");

    let cifar = tmp.path().join("cifar-10");
    std::fs::create_dir_all(cifar.join("cifar-10-batches-bin")).unwrap();
    std::fs::write(cifar.join("cifar-10-batches-bin").join("test_batch.bin"), b"x").unwrap();
    assert!(data_needs([&with(DatasetName::Cifar10, &cifar, Split::Test)])[0].present);
    assert!(!data_needs([&with(DatasetName::Cifar10, &cifar, Split::Train)])[0].present);
    std::fs::write(cifar.join("cifar-10-binary.tar.gz"), b"x").unwrap();
    assert!(
        data_needs([&with(DatasetName::Cifar10, &cifar, Split::Train)])[0].present,
        "the archive holds every split"
    );
}

/// What the presence check calls present, the reader reads: CIFAR-10's
/// unpacked test batch alone (two records written here) loads for the test split.
#[cfg(feature = "torch")]
#[test]
fn the_cifar10_test_batch_alone_loads_for_the_test_split() {
    use sweep::config::Split;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = Vec::new();
    for (label, value) in [(7u8, 10u8), (2, 200)] {
        bytes.push(label);
        bytes.extend(std::iter::repeat_n(value, 3072));
    }
    std::fs::write(dir.join("test_batch.bin"), &bytes).unwrap();
    let mut c = sweep::config::RunSpec::default();
    c.data.dataset = DatasetName::Cifar10;
    c.data.root = Some(tmp.path().to_path_buf());
    c.data.split = Some(Split::Test);
    let c = c.resolve().unwrap();
    assert!(sweep::data::fetch::data_needs([&c])[0].present);
    let ds = sweep::data::load(&c).unwrap();
    assert_eq!(ds.labels, vec![7, 2]);
    assert_eq!(ds.images.size(), vec![2, 3, 32, 32]);
    assert_eq!(ds.images.int64_value(&[1, 2, 31, 31]), 200);
}

#[test]
fn plan_needs_no_data_and_says_where_each_dataset_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let file = crate::common::root().join("sweeps").join("table5.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(["plan", file.to_str().unwrap(), "--store", tmp.path().join("s").to_str().unwrap()])
        .env("SWEEP_DATA", tmp.path().join("nothing-here"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let want = format!(
        "data `stl10`: {} (missing: `sweep run` fetches it",
        tmp.path().join("nothing-here").join("stl10").display()
    );
    assert!(stdout.contains(&want), "{stdout}");
}

#[test]
fn every_catalogue_entry_lives_in_its_datasets_standard_folder() {
    for s in sweep::data::fetch::catalogue() {
        assert_eq!(Some(s.root.as_str()), s.dataset.standard_folder(), "{:?}", s.dataset);
    }
}
