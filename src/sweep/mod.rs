//! Sweeps: expansion of a sweep file into runs ([`expand`]), the store that
//! holds them ([`store`], [`lock`]) and the scheduler that runs them
//! ([`schedule`]). No tch here: training is plugged in through
//! [`schedule::Executor`].
pub mod expand;
pub mod lock;
pub mod schedule;
pub mod store;
pub mod table;

pub use crate::config::sweepfile::{Problem, SweepError};
pub use expand::{load_run_config, load_sweep, run_id, Expanded};
pub use lock::RunLock;
pub use schedule::{
    install_ctrlc, make_slots, run_jobs, DeviceSpec, Executor, IsolatedExecutor, Job, Progress, ProgressMode,
    RunControl, RunFailure, ScheduleOptions, Slot, StopFlag, SweepOutcome,
};
pub use store::{Observed, RunDir, RunView, StateCounts, Store};

/// Write the plan into the store and create every run's folder (config.toml
/// written once): the jobs for [`run_jobs`], in plan order.
pub fn prepare_jobs(store: &Store, expanded: &Expanded) -> anyhow::Result<Vec<Job>> {
    store.write_plan(&expanded.plan)?;
    expanded
        .runs
        .iter()
        .map(|(entry, config)| {
            let dir = RunDir::create(store, entry, config)?;
            Ok(Job { entry: entry.clone(), config: config.clone(), dir })
        })
        .collect()
}
