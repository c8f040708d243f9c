//! One process per run: an exclusive advisory lock (`flock`) on the run's `lock`
//! file. The OS drops the lock when its holder dies, however it dies, so a crashed
//! run is free to be resumed without anyone cleaning up; the pid and host written
//! into the file only tell a person who holds it.
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};

use anyhow::Context;
use fs4::fs_std::FileExt;

use super::RunDir;

/// A held run lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    // Closing the file releases the flock.
    _file: File,
}

impl RunLock {
    /// Take the run's lock if nobody holds it: `Ok(None)` when another process
    /// (or another open of the file in this process) holds it.
    pub fn try_acquire(run: &RunDir) -> anyhow::Result<Option<RunLock>> {
        let path = run.lock_path();
        // No truncation before the lock is ours: the holder's pid must survive.
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // Fully qualified: std's File::try_lock has a different signature.
        let got = FileExt::try_lock_exclusive(&file).with_context(|| format!("locking {}", path.display()))?;
        if !got {
            return Ok(None);
        }
        file.set_len(0).with_context(|| format!("truncating {}", path.display()))?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "pid {}\nhost {}", std::process::id(), hostname())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Some(RunLock { _file: file }))
    }

    /// Is the lock held by someone (this process included, through another
    /// open)? Checked by taking and at once releasing it, leaving the file as is.
    pub fn is_held(run: &RunDir) -> anyhow::Result<bool> {
        let path = run.lock_path();
        if !path.exists() {
            return Ok(false);
        }
        let file = OpenOptions::new().read(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
        let got = FileExt::try_lock_exclusive(&file).with_context(|| format!("locking {}", path.display()))?;
        Ok(!got)
    }

    /// Who holds (or last held) the run's lock, as written in the file.
    pub fn holder(run: &RunDir) -> Option<String> {
        let text = std::fs::read_to_string(run.lock_path()).ok()?;
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then_some(text)
    }
}

/// This machine's host name (for status records and lock files).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".to_string()
    }
}
