//! Event files on disk: the TFRecord framing (u64 length, little-endian; its
//! masked CRC-32C; the data; the data's masked CRC-32C), the file names
//! (`events.out.tfevents.<secs>.<host>`), a writer that creates a file whole
//! and then appends, and a reader of the complete records (for rewinding a
//! resumed run, and for tests).
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use prost::Message;

use super::proto::{Event, What};

/// What TensorBoard looks for in a file name.
const PREFIX: &str = "events.out.tfevents.";
/// The first event of every file says this.
const FILE_VERSION: &str = "brain.Event:2";

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC-32C (Castagnoli) of `data`: ((c >> 15) | (c << 17)) + 0xa282ead8.
pub fn masked_crc(data: &[u8]) -> u32 {
    CASTAGNOLI.checksum(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `data` framed as one TFRecord, appended to `out`.
pub fn frame(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

/// How a file's records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// At the end of the file.
    Clean,
    /// In a record cut short (a writer killed mid-write): what came before is kept.
    Torn,
    /// At a record whose checksum fails, `offset` bytes in: what came before is kept.
    Corrupt { offset: usize },
}

/// The complete records of `bytes`, in order, and how they ended.
pub fn records(bytes: &[u8]) -> (Vec<&[u8]>, Tail) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 12 {
            return (out, Tail::Torn);
        }
        let len_bytes = &rest[..8];
        let crc = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        if crc(&rest[8..12]) != masked_crc(len_bytes) {
            return (out, Tail::Corrupt { offset: at });
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(16)) else {
            return (out, Tail::Corrupt { offset: at });
        };
        if rest.len() < end {
            return (out, Tail::Torn);
        }
        let data = &rest[12..end - 4];
        if crc(&rest[end - 4..end]) != masked_crc(data) {
            return (out, Tail::Corrupt { offset: at });
        }
        out.push(data);
        at += end;
    }
    (out, Tail::Clean)
}

/// The events of the file at `path` (the file-version event included), up to
/// its first damaged record, and how the records ended.
pub fn read_events(path: &Path) -> anyhow::Result<(Vec<Event>, Tail)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (recs, tail) = records(&bytes);
    let mut events = Vec::with_capacity(recs.len());
    for (i, r) in recs.iter().enumerate() {
        let e = Event::decode(*r).with_context(|| format!("{}: record {} is not an Event", path.display(), i + 1))?;
        events.push(e);
    }
    Ok((events, tail))
}

/// The seconds in an event file's name.
fn secs_of(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.split('.').next()?.parse().ok()
}

/// The event files in `dir` (none when it does not exist), oldest first: by
/// the seconds in their names, then by name.
pub fn event_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<(u64, String, PathBuf)> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(secs) = secs_of(&name) {
            files.push((secs, name, e.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, _, p)| p).collect())
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// An event with the current time.
pub fn event(step: i64, what: What) -> Event {
    Event { wall_time: now_secs(), step, what: Some(what) }
}

/// One event file, open for appending.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// A new event file in `dir` holding the file-version event and then
    /// `events`, written whole under a temporary name (no `tfevents` in it, so
    /// TensorBoard ignores it) and renamed into place, then open for appending.
    /// Its name sorts after every event file already in `dir`: TensorBoard reads
    /// a folder's files in name order and, live, moves on to a newer one.
    pub fn create(dir: &Path, events: &[Event]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let newest = event_files(dir)?.iter().filter_map(|p| secs_of(&p.file_name()?.to_string_lossy())).max();
        let secs = (now_secs() as u64).max(newest.map_or(0, |s| s + 1));
        let path = dir.join(format!("{PREFIX}{secs}.{}", crate::store::lock::hostname()));
        let mut bytes = Vec::new();
        frame(&event(0, What::FileVersion(FILE_VERSION.into())).encode_to_vec(), &mut bytes);
        for e in events {
            frame(&e.encode_to_vec(), &mut bytes);
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".tb-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(&bytes).with_context(|| format!("writing {}", tmp.path().display()))?;
        tmp.as_file().sync_all().with_context(|| format!("syncing {}", tmp.path().display()))?;
        let file = tmp.persist(&path).with_context(|| format!("renaming a temporary file to {}", path.display()))?;
        Ok(Self { out: BufWriter::new(file), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one event (buffered until [`EventWriter::flush`]).
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        frame(&event.encode_to_vec(), &mut bytes);
        self.out.write_all(&bytes)
    }

    /// Hand what is buffered to the file, for a live TensorBoard to see.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Remove the event files of `dir` that sort before `keep` (see
/// [`event_files`]): what `keep` replaced. Files that sort after it, written by
/// someone else meanwhile, stay.
pub fn remove_older(dir: &Path, keep: &Path) -> anyhow::Result<()> {
    for p in event_files(dir)?.into_iter().take_while(|p| p != keep) {
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}
