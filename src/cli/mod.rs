//! The command line: one file per subcommand, each a clap `Args` struct and an
//! `exec` that resolves its inputs and calls the library. No logic lives here.
use clap::{Parser, Subcommand};

use crate::config::expand::LoadOptions;
use crate::config::Environment;

pub mod bench;
pub mod completions;
pub mod data;
pub mod doctor;
pub mod engine;
pub mod exec_run;
pub mod exec_slurm_task;
pub mod export;
pub mod plan;
pub mod predict;
pub mod report;
pub mod run;
pub mod status;
pub mod submit;
pub mod table;
pub mod train;

/// How a command reads its sweep file: the options shared by `plan`, `run` and
/// `submit`, turned into [`crate::config::expand::LoadOptions`].
#[derive(Debug, Clone, clap::Args)]
pub struct SweepLoadArgs {
    /// Refuse sweeps that expand to more runs than this (counted before any run
    /// is built).
    #[arg(long, value_name = "N", default_value_t = crate::config::expand::DEFAULT_MAX_RUNS)]
    pub max_runs: u64,
    /// Override a setting without editing the file (repeatable): the dotted keys,
    /// types and checks of `[base]`; a list sweeps the key (`--set
    /// 'transform.m=[10,30]'`). Runs get the ids the file would give them.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl Default for SweepLoadArgs {
    fn default() -> Self {
        Self { max_runs: crate::config::expand::DEFAULT_MAX_RUNS, set: Vec::new() }
    }
}

impl SweepLoadArgs {
    pub fn options(&self, env: &Environment) -> LoadOptions {
        let Self { max_runs, set } = self;
        LoadOptions { max_runs: *max_runs, overrides: set.clone(), ..LoadOptions::with_environment(env) }
    }
}

/// ConCURL deep clustering on libtorch: declarative sweeps, resumable runs,
/// paper-shaped reports.
///
/// Typical use:
///   sweep doctor                      check libtorch and the devices
///   sweep plan sweeps/table5.toml     see the runs a sweep file expands to
///   sweep run sweeps/table5.toml      run them (resumes where it stopped)
///   sweep status sweeps/table5.toml   what is done, running, failed
///   sweep report sweeps/table5.toml   Markdown tables shaped like the paper's
///   sweep export sweeps/table5.toml --csv   one row per run, for spreadsheets
///   sweep data fetch cifar10 --dir DATA     download a dataset (verified)
///   sweep predict RUN_DIR --data IMAGES/    cluster new images with a finished run
#[derive(Debug, Parser)]
#[command(name = "sweep", bin_name = "sweep", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// More log output (repeat for more); also RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// libtorch version and location, CUDA, every device, CPU threads.
    Doctor(doctor::DoctorArgs),
    /// Expand a sweep file and show its runs (nothing runs).
    Plan(plan::PlanArgs),
    /// Run a sweep: every run not yet done, across the chosen devices; ends with the report.
    Run(run::RunArgs),
    /// Train one run from a single run-config TOML file, outside any sweep.
    Train(train::TrainArgs),
    /// Counts of done, running, failed and pending runs, and a table of them.
    Status(status::StatusArgs),
    /// Render the sweep's Markdown report (and figures) from its store.
    Report(report::ReportArgs),
    /// One row per run with every swept value and metric, as CSV or JSON.
    Export(export::ExportArgs),
    /// Cluster other images with a finished run's final weights (assignments.csv's columns).
    Predict(predict::PredictArgs),
    /// Training throughput and peak memory of a named configuration.
    Bench(bench::BenchArgs),
    /// Download the public datasets (verified), list what is present and the data.root to use.
    Data(data::DataArgs),
    /// Submit a sweep to a cluster scheduler (Slurm job arrays).
    Submit(submit::SubmitArgs),
    /// Print a shell completion script: `sweep completions bash > /etc/bash_completion.d/sweep`.
    Completions(completions::CompletionsArgs),
    /// Run one prepared run directory (used by --isolate and by cluster jobs).
    #[command(name = "exec-run")]
    ExecRun(exec_run::ExecRunArgs),
    /// Run one Slurm array task's line of a submission manifest (used by `submit`).
    #[command(name = "exec-slurm-task", hide = true)]
    ExecSlurmTask(exec_slurm_task::ExecSlurmTaskArgs),
}

#[cfg(not(feature = "torch"))]
pub(crate) use crate::ops::no_torch;

impl Command {
    /// What the command does with libtorch, when it needs it: the commands that
    /// train, predict, benchmark or probe a device. A build without libtorch
    /// hands these over to the engine ([`engine`]).
    fn needs_libtorch(&self) -> Option<&'static str> {
        match self {
            Command::Doctor(_) => Some("check libtorch and the devices"),
            Command::Run(_) | Command::Train(_) | Command::ExecRun(_) | Command::ExecSlurmTask(_) => Some("train"),
            Command::Predict(_) => Some("predict with a trained model"),
            Command::Bench(_) => Some("benchmark training"),
            Command::Plan(_)
            | Command::Status(_)
            | Command::Report(_)
            | Command::Export(_)
            | Command::Data(_)
            | Command::Submit(_)
            | Command::Completions(_) => None,
        }
    }
}

/// Rust ignores SIGPIPE, so `sweep plan big.toml | head` would panic on the
/// first write after `head` exits. Command-line tools die quietly there
/// instead, as ripgrep and coreutils do: a run cut short this way is resumed
/// like any interrupted run.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Parse, dispatch, print errors with their whole context chain; the exit code.
pub fn main() -> i32 {
    restore_sigpipe();
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    #[cfg(feature = "torch")]
    crate::runtime::device::tune_host_allocator();
    let result = match cli.command.needs_libtorch() {
        Some(what) if !cfg!(feature = "torch") => Err(engine::hand_over(what)),
        // The environment is read here, once, and handed down.
        _ => dispatch(cli.command, &Environment::from_process()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // libtorch's C++ backtraces are for developers: users get the message.
            eprintln!("error: {}", crate::util::strip_backtrace(&err.to_string()));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", crate::util::strip_backtrace(&cause.to_string()));
            }
            2
        }
    }
}

/// The command's own `exec`: its exit code.
fn dispatch(command: Command, env: &Environment) -> anyhow::Result<i32> {
    match command {
        Command::Doctor(a) => doctor::exec(&a),
        Command::Plan(a) => plan::exec(&a, env),
        Command::Run(a) => run::exec(&a, env),
        Command::Train(a) => train::exec(&a, env),
        Command::Status(a) => status::exec(&a, &LoadOptions::with_environment(env)),
        Command::Report(a) => report::exec(a),
        Command::Export(a) => export::exec(a),
        Command::Predict(a) => predict::exec(&a, env),
        Command::Bench(a) => bench::exec(&a, env),
        Command::Data(a) => data::exec(&a, env),
        Command::Submit(a) => submit::exec(&a, env),
        Command::Completions(a) => completions::exec(&a),
        Command::ExecRun(a) => exec_run::exec(&a),
        Command::ExecSlurmTask(a) => exec_slurm_task::exec(&a),
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "sweep=info",
        1 => "sweep=debug",
        _ => "sweep=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
