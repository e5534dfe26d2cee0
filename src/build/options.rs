//! What a build is asked to do, in two stages as ripgrep takes its flags:
//! [`BuildSettings`] is what a front end asks for, every value optional
//! where a default exists; [`BuildSettings::validate`] resolves the defaults
//! (cores, physical memory) and refuses what cannot work, giving the
//! [`BuildOptions`] a build runs with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::memory::{self, human};
use crate::shard::Shard;

/// `tu_timeout` when not given.
const DEFAULT_TU_TIMEOUT: Duration = Duration::from_secs(300);
/// `files_per_worker` when not given.
pub const DEFAULT_FILES_PER_WORKER: u32 = 1000;

/// A build as a front end asks for it. `None` means the default, as the
/// command line's help describes it.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The project's root directory (relative to the working directory, or
    /// absolute).
    pub project: PathBuf,
    /// The index database [default: PROJECT/.indexer/index.db].
    pub db: Option<PathBuf>,
    /// `compile_commands.json` or its directory [default: the project's
    /// own, else a walk of its sources].
    pub compdb: Option<PathBuf>,
    /// Worker processes [default: available cores].
    pub jobs: Option<usize>,
    /// Re-index every unit, ignoring what the index holds.
    pub full: bool,
    /// Retry units quarantined after failing twice.
    pub retry_failed: bool,
    /// Also index declarations in system headers.
    pub index_system_headers: bool,
    /// Also index parameters and local variables.
    pub index_locals: bool,
    /// Give units of a repeated compile command their prelude, the common
    /// standard library headers precompiled once per command (see
    /// docs/ARCHITECTURE.md); `false` parses every unit as written.
    pub prelude: bool,
    /// Replace a worker after this many units [default: 1000].
    pub files_per_worker: Option<u32>,
    /// Kill a worker stuck this long on one unit [default: 300 s].
    pub tu_timeout: Option<Duration>,
    /// Kill a worker owning more bytes than this [default: memory budget /
    /// jobs, at most 4 GiB].
    pub worker_rss_limit: Option<u64>,
    /// Replace a worker owning more than this after its unit [default: 75%
    /// of the hard limit].
    pub worker_rss_soft_limit: Option<u64>,
    /// Pause dispatch while the workers together own more than this
    /// [default: 75% of RAM].
    pub memory_budget: Option<u64>,
    /// The program to start workers with; it must run
    /// [`crate::worker::run`] when given the argument `worker` [default:
    /// this program].
    pub worker_program: Option<PathBuf>,
    /// Index only this shard's units (see [`crate::shard`]).
    pub shard: Option<Shard>,
    /// Balance the shards by the parse times of this earlier index.
    pub plan_from: Option<PathBuf>,
    /// The order units are handed to workers in.
    pub dispatch: Dispatch,
}

/// The order a build hands its units to workers in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dispatch {
    /// The costliest first (the last build's parse time, else the source's
    /// size), so that the last worker does not finish a long unit alone.
    #[default]
    Costliest,
    /// Every tenth of the build alike: the k-th tenth holds the units
    /// whose rank by cost is k modulo 10, the costliest of them first.
    /// For measuring whether throughput holds over a long build (the soak
    /// benchmark compares its first and last tenths); it sorts every
    /// pending unit once, where `Costliest` reads them along an index.
    Even,
}

impl BuildSettings {
    /// The defaults for `project`.
    pub fn new(project: impl Into<PathBuf>) -> BuildSettings {
        BuildSettings {
            project: project.into(),
            db: None,
            compdb: None,
            jobs: None,
            full: false,
            retry_failed: false,
            index_system_headers: false,
            index_locals: false,
            prelude: true,
            files_per_worker: None,
            tu_timeout: None,
            worker_rss_limit: None,
            worker_rss_soft_limit: None,
            memory_budget: None,
            worker_program: None,
            shard: None,
            plan_from: None,
            dispatch: Dispatch::Costliest,
        }
    }

    /// Resolves the defaults and checks that the settings can work.
    pub fn validate(self) -> Result<BuildOptions, OptionsError> {
        let project =
            std::path::absolute(&self.project).map_err(|source| OptionsError::Project {
                path: self.project.clone(),
                source,
            })?;
        let db = self.db.clone().unwrap_or_else(|| default_db(&project));
        let jobs = self
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        for (setting, size) in [
            (MemorySetting::WorkerLimit, self.worker_rss_limit),
            (MemorySetting::WorkerSoftLimit, self.worker_rss_soft_limit),
            (MemorySetting::Budget, self.memory_budget),
        ] {
            if let Some(size) = size.filter(|&size| size < memory::MIN_WORKER_MEMORY) {
                return Err(OptionsError::BelowWorkerMinimum { setting, size });
            }
        }
        let budget = self
            .memory_budget
            .unwrap_or(memory::physical_memory() / 4 * 3);
        let hard = self
            .worker_rss_limit
            .unwrap_or((budget / jobs as u64).min(4 << 30));
        let soft = self.worker_rss_soft_limit.unwrap_or(hard / 4 * 3);
        if soft > hard {
            return Err(OptionsError::SoftAboveHard { soft, hard });
        }
        if self.tu_timeout == Some(Duration::ZERO) {
            return Err(OptionsError::ZeroTimeout);
        }
        if self.plan_from.is_some() && self.shard.is_none() {
            return Err(OptionsError::PlanWithoutShard);
        }
        let worker_program = match self.worker_program {
            Some(program) => program,
            None => std::env::current_exe().map_err(OptionsError::NoProgram)?,
        };
        Ok(BuildOptions {
            project,
            db,
            compdb: self.compdb,
            jobs,
            full: self.full,
            retry_failed: self.retry_failed,
            index_system_headers: self.index_system_headers,
            index_locals: self.index_locals,
            prelude: self.prelude,
            files_per_worker: self
                .files_per_worker
                .unwrap_or(DEFAULT_FILES_PER_WORKER)
                .max(1),
            tu_timeout: self.tu_timeout.unwrap_or(DEFAULT_TU_TIMEOUT),
            tu_timeout_given: self.tu_timeout.is_some(),
            rss_hard_limit: hard,
            rss_soft_limit: soft,
            memory_budget: budget,
            memory_limits_given: self.worker_rss_limit.is_some()
                || self.worker_rss_soft_limit.is_some()
                || self.memory_budget.is_some(),
            worker_program,
            shard: self.shard,
            plan_from: self.plan_from,
            dispatch: self.dispatch,
        })
    }
}

/// Where a project's index lives unless another database is named.
pub fn default_db(project: &Path) -> PathBuf {
    project.join(".indexer").join("index.db")
}

/// A build's settings with the defaults resolved and checked: what
/// [`crate::build::build`] runs with.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub(crate) project: PathBuf,
    pub(crate) db: PathBuf,
    pub(crate) compdb: Option<PathBuf>,
    pub(crate) jobs: usize,
    pub(crate) full: bool,
    pub(crate) retry_failed: bool,
    pub(crate) index_system_headers: bool,
    pub(crate) index_locals: bool,
    pub(crate) prelude: bool,
    pub(crate) files_per_worker: u32,
    pub(crate) tu_timeout: Duration,
    pub(crate) tu_timeout_given: bool,
    pub(crate) rss_hard_limit: u64,
    pub(crate) rss_soft_limit: u64,
    pub(crate) memory_budget: u64,
    pub(crate) memory_limits_given: bool,
    pub(crate) worker_program: PathBuf,
    pub(crate) shard: Option<Shard>,
    pub(crate) plan_from: Option<PathBuf>,
    pub(crate) dispatch: Dispatch,
}

impl BuildOptions {
    /// The project's root directory, absolute.
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The index database.
    pub fn db(&self) -> &Path {
        &self.db
    }
}

/// Which memory setting an [`OptionsError`] is about; displayed as the
/// command line's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySetting {
    WorkerLimit,
    WorkerSoftLimit,
    Budget,
}

impl std::fmt::Display for MemorySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemorySetting::WorkerLimit => "--worker-rss-limit",
            MemorySetting::WorkerSoftLimit => "--worker-rss-soft-limit",
            MemorySetting::Budget => "--memory-budget",
        })
    }
}

/// Settings that cannot work; each is a usage error.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("{}: {source}", .path.display())]
    Project {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting} is {size} bytes, below the {} a worker needs to start: pass at least that (sizes take a unit: 1500M, 2G)", human(memory::MIN_WORKER_MEMORY))]
    BelowWorkerMinimum { setting: MemorySetting, size: u64 },
    #[error("--worker-rss-soft-limit ({}) is above the hard limit ({})", human(*.soft), human(*.hard))]
    SoftAboveHard { soft: u64, hard: u64 },
    #[error("--tu-timeout must be at least a second")]
    ZeroTimeout,
    #[error("--plan-from balances the shards of a sharded build: pass --shard K/N too")]
    PlanWithoutShard,
    #[error("finding this program's path to start workers: {0}")]
    NoProgram(#[source] std::io::Error),
}
