//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Walk through runbooks step by step, with progress kept on disk.
///
/// Without a command, in a terminal, opens the home screen: the runbooks in ./runbooks (and in
/// PATHS) and the runs on this machine.
#[derive(Debug, Parser)]
#[command(
    name = "stepwise",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Runbook files or folders to list on the home screen, besides ./runbooks
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where runs are kept.
#[derive(Debug, Args, Default, Clone)]
pub struct StoreArgs {
    /// Keep runs in S3 (s3://BUCKET/PREFIX) instead of on this machine, to share them with a
    /// team and carry on from another machine
    #[arg(
        long,
        global = true,
        env = "STEPWISE_STORE",
        value_name = "s3://BUCKET/PREFIX"
    )]
    pub store: Option<String>,
    /// Encrypt the store's objects with this KMS key (SSE-KMS) instead of S3's own keys
    #[arg(
        long,
        global = true,
        env = "STEPWISE_STORE_KMS_KEY",
        value_name = "KEY"
    )]
    pub store_kms_key: Option<String>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks without running anything; every problem is reported with its place
    Validate {
        /// Runbook files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Start a run of a runbook
    Run {
        /// The runbook file
        file: PathBuf,
        /// Show what every step would do, and change nothing (writes no run state)
        #[arg(long)]
        dry_run: bool,
        /// In a dry run, also run read-only checks (`check` steps, `skip_if`, read-only AWS actions)
        #[arg(long, requires = "dry_run")]
        with_checks: bool,
        /// Name of the run (default: from the runbook's `run_name`, or its id and the time)
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        common: RunArgs,
    },
    /// Continue a run where it stopped
    Resume {
        /// The run's name (see `stepwise runs`)
        run: String,
        #[command(flatten)]
        common: RunArgs,
    },
    /// List runs with their progress
    Runs {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// Print only the runs' names, one a line (for shell completion)
        #[arg(long, hide = true, conflicts_with = "json")]
        names: bool,
    },
    /// Show each step of a run
    Status {
        /// The run's name
        run: String,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show a run's history: its journal as a timeline, or one step's output
    Log {
        /// The run's name
        run: String,
        /// A step's key: print its output log instead
        step: Option<String>,
        /// Print one JSON object per journal entry
        #[arg(long, conflicts_with = "step")]
        json: bool,
        /// Keep printing what is added, until no process drives the run
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Re-check finished runs: whether what their steps made true still holds (read-only)
    ///
    /// Runs again the read-only part of every done step: a `check`, a `skip_if` or `recheck`
    /// script, an AWS action reading the current state, a `file` compared with what is there.
    /// A `run` step's own script never runs. Writes only a journal entry and the time of the
    /// check in each run's state. Exit status: 0 all hold, 1 something drifted, 5 something
    /// could not be checked, 6 something expires within its `warn_before`.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["runs", "all"])))]
    Check {
        /// The runs' names
        runs: Vec<String>,
        /// Every finished run
        #[arg(long, conflicts_with = "runs")]
        all: bool,
        /// Print JSON instead of lines
        #[arg(long)]
        json: bool,
        /// Print only what did not hold (nothing when all hold)
        #[arg(long, short = 'q', conflicts_with = "json")]
        quiet: bool,
        /// A secret input the check needs (secrets are not kept; repeatable)
        #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// AWS profile for AWS steps (overrides the runbook's)
        #[arg(long)]
        profile: Option<String>,
        /// AWS region for AWS steps (overrides the runbook's)
        #[arg(long)]
        region: Option<String>,
    },
    /// Remove runs (a run a process drives is refused)
    Rm {
        /// The runs' names
        #[arg(required = true)]
        runs: Vec<String>,
        /// Remove unfinished runs without asking
        #[arg(long)]
        force: bool,
    },
    /// Remove runs not updated for a while
    Prune {
        /// How long a run must have been left alone, e.g. `30d`
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only completed runs
        #[arg(long)]
        completed: bool,
        /// Remove unfinished runs without asking
        #[arg(long)]
        force: bool,
    },
    /// Take away a run's lock (in a --store) from a process that stopped renewing it
    Unlock {
        /// The run's name
        run: String,
        /// Also when its holder renewed it within its lease (30 s): be sure it is gone
        #[arg(long)]
        force: bool,
    },
    /// Move a run from this machine to the store given with --store
    Push {
        /// The run's name
        run: String,
    },
    /// Move a run from the store given with --store to this machine
    Pull {
        /// The run's name
        run: String,
    },
    /// Print a shell completion script (bash, zsh or fish)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
    /// Print the JSON Schema of the runbook format
    Schema,
}

/// Options shared by `run` and `resume`.
#[derive(Debug, Args, Default, Clone)]
pub struct RunArgs {
    /// Print progress as lines instead of opening the terminal UI
    #[arg(long)]
    pub plain: bool,
    /// An input value (repeatable)
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Confirm that a manual step (or an interrupted step) is done (repeatable)
    #[arg(long, value_name = "STEP")]
    pub done: Vec<String>,
    /// Skip a step, with a reason (repeatable)
    #[arg(long, value_name = "STEP[=REASON]")]
    pub skip: Vec<String>,
    /// Run a step again: an interrupted one, or one whose definition changed (repeatable)
    #[arg(long, value_name = "STEP")]
    pub rerun: Vec<String>,
    /// When a step's processes still run after the stepwise driving it died: wait until they
    /// have ended, then go on as with an interrupted step (prints lines, as with --plain)
    #[arg(long, conflicts_with = "stop_orphan")]
    pub wait_orphan: bool,
    /// When a step's processes still run after the stepwise driving it died: stop them
    /// (SIGTERM to their process group, SIGKILL after 3s), then go on as with an interrupted
    /// step (prints lines, as with --plain)
    #[arg(long)]
    pub stop_orphan: bool,
    /// Go on with a run last driven on another machine (`resume` says which): its steps'
    /// files are there, not here, and relative paths resolve here
    #[arg(long)]
    pub moved: bool,
    /// Type the confirmation text of a dangerous step (repeatable)
    #[arg(long, value_name = "STEP=TEXT")]
    pub confirm: Vec<String>,
    /// Answer a manual step's prompt (repeatable)
    #[arg(long = "output", value_name = "STEP.NAME=VALUE")]
    pub outputs: Vec<String>,
    /// AWS profile for AWS steps (overrides the runbook's)
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region for AWS steps (overrides the runbook's)
    #[arg(long)]
    pub region: Option<String>,
    /// The current code of the MFA device the runbook's `aws.assume_role` needs (without a
    /// terminal to ask at)
    #[arg(long, value_name = "CODE")]
    pub mfa_code: Option<String>,
}
