//! Small shared helpers (no tch).
use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Write a file atomically: a temporary file in the same folder (the tempfile
/// crate), fsync, rename. A reader sees the old content or the new, never a torn
/// file; a failure leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating folder {}", dir.display()))?;
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.as_file().sync_all().with_context(|| format!("syncing {}", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("renaming a temporary file to {}", path.display()))?;
    Ok(())
}

/// Serialise as pretty JSON and write atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(value).context("serialising JSON")?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Read and parse a JSON file, naming it in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&s).with_context(|| format!("parsing {}", path.display()))
}

/// SplitMix64: a tiny, well-known mixer to derive independent seeds
/// (per epoch, per purpose) from the run's one seed.
pub fn mix_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first line of a message: what users see of an error whose later lines are
/// libtorch's C++ backtrace (the whole text goes to the run's log).
pub fn first_line(text: &str) -> &str {
    text.lines().map(str::trim_end).find(|l| !l.is_empty()).unwrap_or("")
}

/// A message without libtorch's C++ backtrace: the "Exception raised from ..."
/// line and the "frame #N: ..." lines after it are cut off; earlier lines (a
/// list of sweep-file problems, say) are kept as they are.
pub fn strip_backtrace(text: &str) -> String {
    text.lines()
        .take_while(|l| {
            let t = l.trim_start();
            !(t.starts_with("Exception raised from") || t.starts_with("frame #"))
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// A run's failure as users see it (terminal, status.json, `sweep status`): the
/// message without the backtrace, on one line.
pub fn user_message(text: &str) -> String {
    strip_backtrace(text).lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
