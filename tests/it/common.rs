//! Helpers shared by the test modules.
#![allow(dead_code)]
use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tests/fixtures/NAME
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests").join("fixtures").join(name)
}

/// The real datasets (../shared/data next to the checkout, or $SWEEP_DATA).
/// Tests that need them say so loudly and skip when absent (a user's machine).
pub fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("SWEEP_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("..").join("shared").join("data"));
    if p.is_dir() {
        Some(p)
    } else {
        // CI has them (../shared/data): there, missing data is a failure.
        assert!(
            std::env::var_os("SWEEP_REQUIRE_DATA").is_none_or(|v| v != "1"),
            "SWEEP_REQUIRE_DATA=1 but the real datasets are not at {} (set SWEEP_DATA)",
            p.display()
        );
        eprintln!("SKIPPED: real datasets not found at {} (set SWEEP_DATA)", p.display());
        None
    }
}

/// libtorch has one process-wide RNG and the test harness runs tests on several
/// threads: every test that seeds it and depends on the draws holds this guard.
pub static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// `[base]` keys of a tiny ConCURL run on the synthetic data (seconds on a CPU),
/// shared by the tests that drive the binary on whole sweeps; each adds its own
/// epochs, batch and evaluation keys.
pub const TINY_BASE_KEYS: &str = r#""data.dataset" = "synthetic"
"data.synthetic" = { classes = 3, per_class = 32, size = 16, seed = 5 }
"model.backbone" = "resnet18"
"model.width" = 0.125
"model.proj_hidden" = 32
"model.proj_dim" = 16
"model.head_hidden" = 32
"model.head_dim" = 16
"transform.m" = 4
"transform.d_prime" = 8
"#;

/// The `[base]` table of a tiny synthetic sweep, for the sweep-file tests (nothing
/// here trains): 2 epochs of batch 16 over 16 images a class.
pub const SWEEP_FILE_BASE: &str = r#"
[base]
data.dataset = "synthetic"
data.synthetic.per_class = 16
train.epochs = 2
train.batch_size = 16
"#;
