//! The stop request: one flag shared by the scheduler, the executors and the
//! Ctrl-C / SIGTERM handler.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

/// A stop request shared by the scheduler, the executors and the signal handler.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Ctrl-C (and SIGTERM): the first sets `stop` (no new runs start; running ones
/// checkpoint and stop), the second exits at once with status 130. Separate from
/// the scheduler so tests drive the flag without signals. Can be installed once
/// per process.
pub fn install_ctrlc(stop: &StopFlag) -> anyhow::Result<()> {
    let stop = stop.clone();
    ctrlc::set_handler(move || {
        if stop.is_requested() {
            eprintln!("\nstopping now");
            std::process::exit(130);
        }
        stop.request();
        eprintln!("\nstopping: running runs checkpoint and stop, no new run starts (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")
}
