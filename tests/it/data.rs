//! Dataset readers on small files written here in each format, their error
//! paths, the synthetic set, the limit subset and device batches. The real
//! datasets are used only by the tests that say SKIPPED when they are absent.
use std::io::Write;
use std::path::{Path, PathBuf};

use sweep::config::{DatasetName, RunConfig, RunSpec, Split, SyntheticConfig};
use sweep::data::{self, DataError, DeviceData};
use tch::{Device, Kind, Tensor};

use crate::common::shared_data;

fn cfg(ds: DatasetName, root: &Path, split: Split) -> RunConfig {
    let mut c = RunSpec::default();
    c.data.dataset = ds;
    c.data.root = Some(root.to_path_buf());
    c.data.split = Some(split);
    if ds == DatasetName::Folder {
        c.data.clusters = Some(3); // a class-folder set has no K of its own
    }
    c.resolve().unwrap()
}

fn synthetic_cfg(classes: usize, per_class: usize, size: u32, seed: u64) -> RunConfig {
    let mut c = RunSpec::default();
    c.data.synthetic = SyntheticConfig { classes, per_class, size, seed };
    c.resolve().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn u8_at(t: &Tensor, idx: &[i64]) -> i64 {
    t.int64_value(idx)
}

// ---------------------------------------------------------------- IDX (MNIST)

/// Image n has pixel (r, c) = (n * 7 + r * 3 + c) mod 256, so order and layout show.
fn idx_images(n: usize, side: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [2051u32, n as u32, side as u32, side as u32] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    for i in 0..n {
        for r in 0..side {
            for c in 0..side {
                b.push(((i * 7 + r * 3 + c) % 256) as u8);
            }
        }
    }
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&2049u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn write_mnist(dir: &Path, gzip: bool) {
    let files = [
        ("train-images-idx3-ubyte", idx_images(3, 28)),
        ("train-labels-idx1-ubyte", idx_labels(&[5, 0, 9])),
        ("t10k-images-idx3-ubyte", idx_images(2, 28)),
        ("t10k-labels-idx1-ubyte", idx_labels(&[1, 2])),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        if gzip {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn idx_raw_and_gz_read_the_same_and_concatenate_train_then_test() {
    for gzip in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        write_mnist(tmp.path(), gzip);
        let ds = data::load(&cfg(DatasetName::Mnist, tmp.path(), Split::TrainTest)).unwrap();
        assert_eq!(ds.images.size(), [5, 1, 28, 28]);
        assert_eq!(ds.images.kind(), Kind::Uint8);
        assert_eq!(ds.labels, [5, 0, 9, 1, 2]);
        assert_eq!(ds.num_classes, 10);
        // Train image 2, row 4, col 9; then test image 1 (index 4 overall), row 0, col 1.
        assert_eq!(u8_at(&ds.images, &[2, 0, 4, 9]), 2 * 7 + 4 * 3 + 9);
        assert_eq!(u8_at(&ds.images, &[4, 0, 0, 1]), 7 + 1);
        let test = data::load(&cfg(DatasetName::FashionMnist, tmp.path(), Split::Test)).unwrap();
        assert_eq!(test.labels, [1, 2]);
        assert_eq!(test.class_names[1], "trouser");
    }
}

#[test]
fn idx_subfolder_layout_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    write_mnist(&tmp.path().join("mnist"), true);
    let ds = data::load(&cfg(DatasetName::Mnist, tmp.path(), Split::Train)).unwrap();
    assert_eq!(ds.len(), 3);
}

#[test]
fn idx_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    write_mnist(tmp.path(), false);
    let c = cfg(DatasetName::Mnist, tmp.path(), Split::Train);
    let img = tmp.path().join("train-images-idx3-ubyte");
    let lab = tmp.path().join("train-labels-idx1-ubyte");

    // Truncated images.
    let full = std::fs::read(&img).unwrap();
    std::fs::write(&img, &full[..full.len() - 5]).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::Truncated { path, expected, got, .. } => {
            assert_eq!(path, img);
            assert_eq!((expected, got), (16 + 3 * 784, 16 + 3 * 784 - 5));
        }
        e => panic!("expected Truncated, got {e}"),
    }
    // Labels where images should be: wrong magic.
    std::fs::write(&img, idx_labels(&[1, 2, 3])).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::BadMagic { path, expected: 2051, found: 2049, .. } => assert_eq!(path, img),
        e => panic!("expected BadMagic, got {e}"),
    }
    std::fs::write(&img, &full).unwrap();
    // A label of 10.
    std::fs::write(&lab, idx_labels(&[1, 10, 3])).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::LabelOutOfRange { path, index: 1, label: 10, classes: 10, .. } => assert_eq!(path, lab),
        e => panic!("expected LabelOutOfRange, got {e}"),
    }
    // Counts that do not match.
    std::fs::write(&lab, idx_labels(&[1, 2])).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::CountMismatch { images: 3, labels: 2, labels_path, .. } => assert_eq!(labels_path, lab),
        e => panic!("expected CountMismatch, got {e}"),
    }
    // Missing, with the fetch hint in the message.
    std::fs::remove_file(&lab).unwrap();
    let e = data::load(&c).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("train-labels-idx1-ubyte") && msg.contains("sweep data fetch mnist"), "{msg}");
    // A damaged gzip stream is a damaged file naming the .gz file and the fix.
    std::fs::write(tmp.path().join("train-labels-idx1-ubyte.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    match data::load(&c).unwrap_err() {
        e @ DataError::Damaged { .. } => {
            assert!(e.path().ends_with("train-labels-idx1-ubyte.gz"));
            assert!(e.to_string().contains("sweep data fetch mnist --force"), "{e}");
        }
        e => panic!("expected Damaged, got {e}"),
    }
}

// ---------------------------------------------------------------- CIFAR

/// One CIFAR record: label byte(s), then 3072 pixels with pixel 0 of each
/// channel = tag + channel so the record's origin shows.
fn cifar_record(labels: &[u8], tag: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    for c in 0..3u8 {
        let mut plane = vec![c; 1024];
        plane[0] = tag.wrapping_add(c);
        r.extend(plane);
    }
    r
}

fn cifar10_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for f in 0..6u8 {
        let name = if f < 5 { format!("data_batch_{}.bin", f + 1) } else { "test_batch.bin".into() };
        // Two records per file; label = file index, tag = 10 * file + record.
        let bytes = [cifar_record(&[f], 10 * f), cifar_record(&[9 - f], 10 * f + 1)].concat();
        files.push((name, bytes));
    }
    files
}

fn tar_gz(path: &Path, prefix: &str, files: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()));
    // A member that must be skipped.
    let readme = b"not data";
    let mut h = tar::Header::new_gnu();
    h.set_size(readme.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, format!("{prefix}/readme.html"), &readme[..]).unwrap();
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}/{name}"), &bytes[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn cifar10_from_folder_and_from_tar_gz_agree() {
    let files = cifar10_files();
    let unpacked = tempfile::tempdir().unwrap();
    let dir = unpacked.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, b) in &files {
        std::fs::write(dir.join(n), b).unwrap();
    }
    let packed = tempfile::tempdir().unwrap();
    tar_gz(&packed.path().join("cifar-10-binary.tar.gz"), "cifar-10-batches-bin", &files);

    let a = data::load(&cfg(DatasetName::Cifar10, unpacked.path(), Split::TrainTest)).unwrap();
    let b = data::load(&cfg(DatasetName::Cifar10, packed.path(), Split::TrainTest)).unwrap();
    assert_eq!(a.images.size(), [12, 3, 32, 32]);
    assert_eq!(a.labels, [0, 9, 1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    assert_eq!(a.labels, b.labels);
    assert!(a.images.equal(&b.images));
    // Record 1 of data_batch_3: tag 21, channel 2 -> 23 at (0, 0); the rest of the plane is 2.
    assert_eq!(u8_at(&a.images, &[5, 2, 0, 0]), 23);
    assert_eq!(u8_at(&a.images, &[5, 2, 31, 31]), 2);
    assert_eq!(a.class_names[9], "truck");
    let train = data::load(&cfg(DatasetName::Cifar10, packed.path(), Split::Train)).unwrap();
    assert_eq!(train.len(), 10);
    let test = data::load(&cfg(DatasetName::Cifar10, unpacked.path(), Split::Test)).unwrap();
    assert_eq!(test.labels, [5, 4]);
}

#[test]
fn cifar_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cfg(DatasetName::Cifar10, tmp.path(), Split::Test);
    let e = data::load(&c).unwrap_err();
    assert!(matches!(&e, DataError::Missing { path, .. } if path.ends_with("test_batch.bin")), "{e}");
    assert!(e.to_string().contains("sweep data fetch cifar10"), "{e}");

    let test = tmp.path().join("test_batch.bin");
    let rec = cifar_record(&[3], 0);
    std::fs::write(&test, [rec.clone(), rec[..100].to_vec()].concat()).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::Truncated { path, expected, got, .. } => {
            assert_eq!(path, test);
            assert_eq!((expected, got), (2 * 3073, 3073 + 100));
        }
        e => panic!("expected Truncated, got {e}"),
    }
    std::fs::write(&test, [rec, cifar_record(&[10], 0)].concat()).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::LabelOutOfRange { path, index: 1, label: 10, classes: 10, .. } => assert_eq!(path, test),
        e => panic!("expected LabelOutOfRange, got {e}"),
    }
    // An archive without the wanted member names the member.
    std::fs::remove_file(&test).unwrap();
    tar_gz(&tmp.path().join("cifar-10-binary.tar.gz"), "cifar-10-batches-bin", &[]);
    match data::load(&c).unwrap_err() {
        DataError::Missing { path, .. } => assert!(path.ends_with("cifar-10-binary.tar.gz/test_batch.bin"), "{path:?}"),
        e => panic!("expected Missing, got {e}"),
    }
}

#[test]
fn cifar100_uses_the_coarse_labels() {
    let tmp = tempfile::tempdir().unwrap();
    // (coarse, fine) pairs: the coarse byte comes first.
    let train = [cifar_record(&[19, 3], 1), cifar_record(&[0, 99], 2), cifar_record(&[7, 50], 3)].concat();
    let test = cifar_record(&[4, 4], 4);
    tar_gz(
        &tmp.path().join("cifar-100-binary.tar.gz"),
        "cifar-100-binary",
        &[("train.bin".into(), train), ("test.bin".into(), test)],
    );
    let ds = data::load(&cfg(DatasetName::Cifar100_20, tmp.path(), Split::TrainTest)).unwrap();
    assert_eq!(ds.labels, [19, 0, 7, 4]);
    assert_eq!(ds.num_classes, 20);
    assert_eq!(u8_at(&ds.images, &[2, 1, 0, 0]), 4);

    let dir = tmp.path().join("unpacked");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("test.bin"), cifar_record(&[20, 1], 0)).unwrap();
    match data::load(&cfg(DatasetName::Cifar100_20, &dir, Split::Test)).unwrap_err() {
        DataError::LabelOutOfRange { label: 20, classes: 20, .. } => {}
        e => panic!("expected a coarse label out of range, got {e}"),
    }
    std::fs::write(dir.join("test.bin"), cifar_record(&[2, 100], 0)).unwrap();
    match data::load(&cfg(DatasetName::Cifar100_20, &dir, Split::Test)).unwrap_err() {
        DataError::LabelOutOfRange { label: 100, classes: 100, .. } => {}
        e => panic!("expected a fine label out of range, got {e}"),
    }
}

// ---------------------------------------------------------------- STL-10

#[test]
fn stl10_is_transposed_from_column_major() {
    let tmp = tempfile::tempdir().unwrap();
    let px = 3 * 96 * 96;
    let mut x = vec![0u8; 2 * px];
    // Image 1, channel 1, row 5, column 70 is stored at column * 96 + row.
    x[px + 96 * 96 + 70 * 96 + 5] = 200;
    // Image 0, channel 0, row 0, column 1.
    x[96] = 77;
    std::fs::write(tmp.path().join("train_X.bin"), &x).unwrap();
    std::fs::write(tmp.path().join("train_y.bin"), [1u8, 10]).unwrap();
    std::fs::write(tmp.path().join("test_X.bin"), vec![9u8; px]).unwrap();
    std::fs::write(tmp.path().join("test_y.bin"), [4u8]).unwrap();
    let ds = data::load(&cfg(DatasetName::Stl10, tmp.path(), Split::TrainTest)).unwrap();
    assert_eq!(ds.images.size(), [3, 3, 96, 96]);
    assert_eq!(ds.labels, [0, 9, 3]);
    assert_eq!(u8_at(&ds.images, &[1, 1, 5, 70]), 200);
    assert_eq!(u8_at(&ds.images, &[1, 1, 70, 5]), 0);
    assert_eq!(u8_at(&ds.images, &[0, 0, 0, 1]), 77);
    assert_eq!(u8_at(&ds.images, &[2, 2, 50, 50]), 9);

    let c = cfg(DatasetName::Stl10, tmp.path(), Split::Test);
    std::fs::write(tmp.path().join("test_y.bin"), [0u8]).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::LabelOutOfRange { path, index: 0, label: 0, .. } => assert!(path.ends_with("test_y.bin")),
        e => panic!("expected LabelOutOfRange, got {e}"),
    }
    std::fs::write(tmp.path().join("test_y.bin"), [4u8, 4]).unwrap();
    match data::load(&c).unwrap_err() {
        DataError::Truncated { path, expected, got, .. } => {
            assert!(path.ends_with("test_X.bin"));
            assert_eq!((expected, got), (2 * px as u64, px as u64));
        }
        e => panic!("expected Truncated, got {e}"),
    }
}

// ---------------------------------------------------------------- class folders

fn write_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb)).save(path).unwrap();
}

#[test]
fn class_folders_resize_crop_and_label_by_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let colours = [("b_cat", [200u8, 10, 10]), ("a_dog", [10u8, 200, 10]), ("c_fox", [10u8, 10, 200])];
    for (class, rgb) in colours {
        let d = tmp.path().join(class);
        std::fs::create_dir_all(&d).unwrap();
        write_png(&d.join("1.png"), 40, 24, rgb);
        write_png(&d.join("2.PNG"), 24, 50, rgb);
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
    }
    let mut c = cfg(DatasetName::Folder, tmp.path(), Split::Train);
    c.data.resolution = 16;
    let ds = data::load(&c).unwrap();
    assert_eq!(ds.images.size(), [6, 3, 16, 16]);
    assert_eq!(ds.class_names, ["a_dog", "b_cat", "c_fox"]);
    assert_eq!(ds.labels, [0, 0, 1, 1, 2, 2]);
    let paths = ds.paths.as_ref().unwrap();
    assert!(paths[2].ends_with("b_cat/1.png"), "{paths:?}");
    // A flat colour stays that colour through resize and crop.
    assert_eq!(u8_at(&ds.images, &[3, 0, 8, 8]), 200);
    assert_eq!(u8_at(&ds.images, &[0, 1, 0, 15]), 200);

    // An explicit class list picks and orders the folders.
    c.data.classes = Some(vec!["c_fox".into(), "b_cat".into()]);
    let sub = data::load(&c).unwrap();
    assert_eq!(sub.labels, [0, 0, 1, 1]);
    assert_eq!(u8_at(&sub.images, &[0, 2, 5, 5]), 200);

    c.data.classes = Some(vec!["n02085936".into()]);
    match data::load(&c).unwrap_err() {
        DataError::Missing { path, .. } => assert!(path.ends_with("n02085936")),
        e => panic!("expected Missing, got {e}"),
    }
    c.data.classes = None;
    std::fs::write(tmp.path().join("a_dog").join("3.png"), b"not a png").unwrap();
    match data::load(&c).unwrap_err() {
        DataError::Image { path, .. } => assert!(path.ends_with("a_dog/3.png")),
        e => panic!("expected Image, got {e}"),
    }
    // No test split folder.
    c.data.split = Split::Test;
    assert!(matches!(data::load(&c).unwrap_err(), DataError::Missing { .. }));
}

#[test]
fn imagenet10_uses_the_builtin_wordnet_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = sweep::config::dataset::IMAGENET10_WNIDS;
    for id in ids.iter().chain(["n99999999"].iter()) {
        let d = tmp.path().join("train").join(id);
        std::fs::create_dir_all(&d).unwrap();
        write_png(&d.join("x.png"), 10, 10, [1, 2, 3]);
    }
    let mut c = cfg(DatasetName::Imagenet10, tmp.path(), Split::Train);
    c.data.resolution = 8;
    c.data.limit = Some(4);
    let ds = data::load(&c).unwrap();
    assert_eq!(ds.class_names, ids);
    assert_eq!(ds.len(), 4);
    assert_eq!(ds.paths.as_ref().unwrap().len(), 4);
    let again = data::load(&c).unwrap();
    assert_eq!(ds.paths, again.paths);
}

// ---------------------------------------------------------------- synthetic

#[test]
fn synthetic_is_balanced_shuffled_and_deterministic() {
    let c = synthetic_cfg(5, 20, 24, 7);
    let a = data::load(&c).unwrap();
    assert_eq!(a.images.size(), [100, 3, 24, 24]);
    assert_eq!(a.images.kind(), Kind::Uint8);
    assert_eq!(a.class_names, ["horizontal_stripes", "vertical_stripes", "checks", "rings", "dots"]);
    for k in 0..5 {
        assert_eq!(a.labels.iter().filter(|&&l| l == k).count(), 20);
    }
    assert!(a.labels.windows(2).any(|w| w[0] > w[1]), "classes must be shuffled");
    let b = data::load(&c).unwrap();
    assert!(a.images.equal(&b.images));
    assert_eq!(a.labels, b.labels);
    let other = data::load(&synthetic_cfg(5, 20, 24, 8)).unwrap();
    assert!(!a.images.equal(&other.images));
    // Images vary: not two identical ones among the first few.
    let first = a.images.narrow(0, 0, 1);
    assert!(!first.equal(&a.images.narrow(0, 1, 1)));
}

/// Best accuracy over all cluster -> class maps (K! of them; K is small here).
fn best_map_accuracy(pred: &[i64], truth: &[i64], k: usize) -> f64 {
    fn perms(k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in perms(k - 1) {
            for pos in 0..=p.len() {
                let mut q = p.clone();
                q.insert(pos, k - 1);
                out.push(q);
            }
        }
        out
    }
    let mut table = vec![vec![0usize; k]; k];
    for (&p, &t) in pred.iter().zip(truth) {
        table[p as usize][t as usize] += 1;
    }
    let best = perms(k).iter().map(|m| (0..k).map(|c| table[c][m[c]]).sum::<usize>()).max().unwrap();
    best as f64 / pred.len() as f64
}

/// Squared Euclidean distances, N x K.
fn sq_dist(x: &Tensor, c: &Tensor) -> Tensor {
    (x.square().sum_dim_intlist(1, true, Kind::Float) - x.matmul(&c.tr()) * 2.0
        + c.square().sum_dim_intlist(1, false, Kind::Float).unsqueeze(0))
    .clamp_min(0.0)
}

/// Lloyd's k-means with k-means++ seeding, best inertia of several restarts.
fn kmeans(x: &Tensor, k: i64, restarts: usize) -> Vec<i64> {
    // Seeds torch's global generator: keep out of the way of augment's seeded tests.
    let _guard = crate::augment::RNG.lock().unwrap_or_else(|e| e.into_inner());
    let n = x.size()[0];
    let mut best: Option<(f64, Tensor)> = None;
    for r in 0..restarts {
        tch::manual_seed(r as i64);
        let mut centres = vec![x.get(Tensor::randint(n, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]))];
        while centres.len() < k as usize {
            let c = Tensor::stack(&centres, 0);
            let d = sq_dist(x, &c).amin(1, false);
            let pick = d.multinomial(1, false).int64_value(&[0]);
            centres.push(x.get(pick));
        }
        let mut c = Tensor::stack(&centres, 0);
        let mut assign = Tensor::zeros([n], (Kind::Int64, Device::Cpu));
        for _ in 0..100 {
            assign = sq_dist(x, &c).argmin(1, false);
            let onehot = assign.one_hot(k).to_kind(Kind::Float);
            let counts = onehot.sum_dim_intlist(0, false, Kind::Float).clamp_min(1.0).unsqueeze(1);
            let new_c = onehot.tr().matmul(x) / counts;
            let moved = (&new_c - &c).abs().max().double_value(&[]);
            c = new_c;
            if moved < 1e-6 {
                break;
            }
        }
        let inertia = sq_dist(x, &c).amin(1, false).sum(Kind::Double).double_value(&[]);
        if best.as_ref().is_none_or(|(b, _)| inertia < *b) {
            best = Some((inertia, assign));
        }
    }
    Vec::<i64>::try_from(best.unwrap().1).unwrap()
}

/// The point of the synthetic set: raw-pixel k-means must not find the patterns.
#[test]
fn synthetic_defeats_kmeans_on_raw_pixels() {
    let c = synthetic_cfg(4, 128, 32, 1234);
    let ds = data::load(&c).unwrap();
    let x = ds.images.to_kind(Kind::Float).reshape([512, -1]) / 255.0;
    let pred = kmeans(&x, 4, 3);
    let acc = best_map_accuracy(&pred, &ds.labels, 4);
    eprintln!("synthetic 4 x 128 at 32 px: raw-pixel k-means ACC = {acc:.3}");
    assert!(acc < 0.5, "raw-pixel k-means ACC {acc} is too high: the patterns are too easy");
}

// ---------------------------------------------------------------- limit, resize, device

#[test]
fn limit_is_a_reproducible_seeded_subset() {
    let mut c = synthetic_cfg(4, 16, 16, 3);
    let full = data::load(&c).unwrap();
    c.data.limit = Some(10);
    c.seed = 1;
    let a = data::load(&c).unwrap();
    let b = data::load(&c).unwrap();
    assert_eq!(a.len(), 10);
    assert!(a.images.equal(&b.images));
    c.seed = 2;
    let other = data::load(&c).unwrap();
    assert!(!a.images.equal(&other.images));
    // The subset is made of images of the full set, in their original order.
    let keep = data::subset_indices(64, Some(10), 1).unwrap();
    assert!(keep.windows(2).all(|w| w[0] < w[1]));
    let idx = Tensor::from_slice(&keep.iter().map(|&i| i as i64).collect::<Vec<_>>());
    assert!(full.images.index_select(0, &idx).equal(&a.images));
    assert_eq!(data::subset_indices(64, Some(64), 1), None);
}

#[test]
fn resolution_resizes_once_at_load() {
    let mut c = synthetic_cfg(2, 4, 32, 3);
    c.data.resolution = 16;
    let ds = data::load(&c).unwrap();
    assert_eq!(ds.images.size(), [8, 3, 16, 16]);
    assert_eq!(ds.images.kind(), Kind::Uint8);
    // Reference: antialiased bilinear downscaling as PIL defines it (torchvision's
    // antialias=True): output o samples around centre (o + 0.5) * scale with a
    // triangle filter stretched by the scale, weights renormalised at the borders.
    let big = data::load(&synthetic_cfg(2, 4, 32, 3)).unwrap();
    let weights = |n_in: usize, n_out: usize| -> Vec<Vec<f64>> {
        let scale = n_in as f64 / n_out as f64;
        (0..n_out)
            .map(|o| {
                let centre = (o as f64 + 0.5) * scale;
                let w: Vec<f64> =
                    (0..n_in).map(|j| (1.0 - ((j as f64 + 0.5 - centre) / scale).abs()).max(0.0)).collect();
                let s: f64 = w.iter().sum();
                w.iter().map(|v| v / s).collect()
            })
            .collect()
    };
    let a = weights(32, 16);
    let img = Vec::<u8>::try_from(big.images.get(5).flatten(0, -1)).unwrap();
    let got = Vec::<u8>::try_from(ds.images.get(5).flatten(0, -1)).unwrap();
    let mut worst = 0f64;
    for c in 0..3 {
        for y in 0..16 {
            for x in 0..16 {
                let mut v = 0.0;
                for (i, wy) in a[y].iter().enumerate() {
                    for (j, wx) in a[x].iter().enumerate() {
                        v += wy * wx * img[c * 1024 + i * 32 + j] as f64;
                    }
                }
                worst = worst.max((v - got[c * 256 + y * 16 + x] as f64).abs());
            }
        }
    }
    assert!(worst <= 0.51, "largest difference to the PIL-style reference: {worst}");
}

#[test]
fn device_data_batches_by_index() {
    let ds = data::load(&synthetic_cfg(2, 5, 16, 3)).unwrap();
    let dd = DeviceData::new(&ds, Device::Cpu);
    assert_eq!(dd.n, 10);
    let idx = Tensor::from_slice(&[3i64, 0, 7]);
    let b = dd.batch(&idx);
    assert_eq!(b.size(), [3, 3, 16, 16]);
    assert!(b.get(2).equal(&ds.images.get(7)));
}

// ---------------------------------------------------------------- real data (optional)

fn real(sub: &str) -> Option<PathBuf> {
    let p = shared_data()?.join(sub);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} not found", p.display());
        None
    }
}

#[test]
fn real_mnist_train_plus_test_has_70000_images() {
    let Some(root) = real("mnist") else { return };
    let ds = data::load(&cfg(DatasetName::Mnist, &root, Split::TrainTest)).unwrap();
    assert_eq!(ds.images.size(), [70_000, 1, 28, 28]);
    for k in 0..10 {
        assert!(ds.labels.iter().filter(|&&l| l == k).count() > 5000);
    }
}

#[test]
fn real_cifar10_streams_from_the_tarball() {
    let Some(root) = real("cifar-10") else { return };
    let ds = data::load(&cfg(DatasetName::Cifar10, &root, Split::Test)).unwrap();
    assert_eq!(ds.images.size(), [10_000, 3, 32, 32]);
    for k in 0..10 {
        assert_eq!(ds.labels.iter().filter(|&&l| l == k).count(), 1000);
    }
}

/// A fetched file cut short (an interrupted copy, a full disk) names the fix:
/// fetching that dataset again over the damaged copy.
#[test]
fn truncated_fetched_file_says_fetch_again_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = crate::common::fixture("fetch/mirror/mnist");
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(mirror.join(name), tmp.path().join(name)).unwrap();
    }
    let img = tmp.path().join("train-images-idx3-ubyte.gz");
    let full = std::fs::read(&img).unwrap();
    std::fs::write(&img, &full[..full.len() / 2]).unwrap();
    let e = data::load(&cfg(DatasetName::Mnist, tmp.path(), Split::Train)).unwrap_err();
    assert!(matches!(e, DataError::Damaged { .. } | DataError::Truncated { .. }), "{e}");
    assert_eq!(e.path(), img);
    let msg = e.to_string();
    assert!(msg.contains("sweep data fetch mnist --force"), "{msg}");
    assert!(!msg.contains("exists and is readable"), "{msg}");
}
