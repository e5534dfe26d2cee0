//! The build as a library call, which the command line and any other
//! front end share: [`build`] brings a project's index up to date,
//! [`explain`] says what it would index and why.
//!
//! A build runs in this order, each step on the caller's thread unless
//! said otherwise:
//!
//! 1. discovery's first pass validates the whole compilation database
//!    before the index is touched (units are not kept: see `discover`);
//! 2. the build lock is taken and the database opened (and migrated);
//! 3. the first worker starts, so that libclang loads while
//! 4. the refresh reconciles the units table with the second pass of
//!    discovery and the disk, in one transaction with the run's row;
//! 5. the supervisor loop dispatches the pending units to workers, whose
//!    results go to the writer thread ([`Phase::Indexing`]: this is where
//!    a [`Cancel`] stops the build gracefully);
//! 6. a complete build restores deferred query indexes and collects
//!    garbage; the run's row records how it ended.
//!
//! The build never prints: what people may want to know goes to an
//! [`Observer`], and the outcome is returned as data ([`BuildOutcome`]).
//! Every exit path leaves a consistent database (see docs/ARCHITECTURE.md).

mod options;

use std::path::PathBuf;
use std::time::Instant;

use crossbeam_channel::bounded;
use serde::Serialize;

pub use self::options::{
    default_db, BuildOptions, BuildSettings, Dispatch, MemorySetting, OptionsError,
    DEFAULT_FILES_PER_WORKER,
};
pub use crate::cancel::{Cancel, Phase, Signal};
use crate::discover::{self, DiscoverError, Discovery, Source};
pub use crate::index::model::Command;
use crate::index::model::RunState;
use crate::index::queue::PendingUnits;
use crate::index::{self, Access, BuildLock, HeaderLookup, IndexError};
use crate::memory;
use crate::observe::{Event, Observer};
use crate::plan::Queue;
use crate::prelude::{self, Preludes};
use crate::refresh::{self, Freshness};
use crate::shard::Assignment;
pub use crate::supervise::Ending;
use crate::supervise::{self, Supervisor};
use crate::toolchain::{self, Toolchain, ToolchainError};

/// Why a build could not run (how a run that did start ended is
/// [`BuildOutcome::ending`] instead).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error("no C/C++ translation units found in {}: pass --compdb with a compile_commands.json", .project.display())]
    NoUnits { project: PathBuf },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// The index `--plan-from` names cannot be read.
    #[error("--plan-from: {0}")]
    PlanFrom(#[source] IndexError),
    /// Anything else, with the context of what the build was doing.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for BuildError {
    fn from(e: rusqlite::Error) -> Self {
        BuildError::Other(e.into())
    }
}

impl BuildError {
    /// Whether the request itself is wrong (the command line's usage error,
    /// exit 2) rather than the machine or the index.
    pub fn is_usage(&self) -> bool {
        match self {
            BuildError::Options(e) => e.is_usage(),
            BuildError::Discover(_) | BuildError::NoUnits { .. } => true,
            BuildError::Index(e) => matches!(e, IndexError::NotAFile { .. }),
            BuildError::PlanFrom(_) => true,
            BuildError::Toolchain(_) | BuildError::Other(_) => false,
        }
    }
}

impl OptionsError {
    fn is_usage(&self) -> bool {
        !matches!(
            self,
            OptionsError::Project { .. } | OptionsError::NoProgram(_)
        )
    }
}

/// How a build that ran ended, and what it did.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub ending: Ending,
    pub summary: Summary,
}

/// What a build did: the command line's `--json` summary (documented in
/// the README).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `complete` or `cancelled`.
    pub status: &'static str,
    pub files_total: u64,
    pub indexed: u64,
    /// Of `indexed`, the units whose parse reported errors (`indexer
    /// status` lists them): their rows hold what clang understood.
    pub indexed_with_errors: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub removed: u64,
    pub quarantined: u64,
    pub folded: u64,
    /// The compilation database's path, or `walk`.
    pub source: String,
    pub symbols: u64,
    pub references: u64,
    pub elapsed_s: f64,
    pub supervisor_peak_rss_bytes: u64,
    pub worker_peak_rss_bytes: u64,
    pub worker_peak_resident_bytes: u64,
    pub workers_spawned: u64,
    pub workers_recycled: u64,
    pub workers_killed_for_memory: u64,
    pub workers_timed_out: u64,
    pub workers_crashed: u64,
    pub units_with_prelude: u64,
    /// Those whose prelude also held the project headers most units of
    /// their command read.
    pub units_with_project_prelude: u64,
    /// Units given their prelude that were parsed again as written, and
    /// the seconds of the discarded parses.
    pub prelude_fallbacks: u64,
    pub prelude_discarded_s: f64,
    /// Units whose compile command the command stage changed.
    pub adjusted_commands: u64,
    pub writer_busy_fraction: f64,
}

/// One unit a build would index, for [`explain`].
#[derive(Debug)]
pub struct DirtyUnit<'a> {
    pub file: &'a str,
    /// Why it is dirty (`new`, `content changed`, `X changed`, ...).
    pub reason: &'a str,
    /// Its command, when the command stage changed what was written.
    pub adjusted: Option<Command>,
}

/// What [`explain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explained {
    /// Units a build would index.
    pub dirty: u64,
    /// Units of the project.
    pub units: u64,
}

/// What both a build and an explanation do before the refresh.
struct Prepared {
    discovery: Discovery,
    /// The units of this shard, for a sharded build.
    shard: Option<Assignment>,
    toolchain: Toolchain,
    _lock: BuildLock,
    conn: rusqlite::Connection,
}

fn prepare(options: &BuildOptions, observer: &mut dyn Observer) -> Result<Prepared, BuildError> {
    index::check_is_file(&options.db)?;
    // A first pass validates the whole compilation database before the
    // index is touched; units are not kept (see `discover`).
    // Balancing shards needs every unit's file: kept only then.
    let mut files = Vec::new();
    let discovery = discover::discover(&options.project, options.compdb.as_deref(), &mut |unit| {
        if options.plan_from.is_some() {
            files.push(unit.file);
        }
    })?;
    if discovery.units == 0 {
        return Err(BuildError::NoUnits {
            project: options.project.clone(),
        });
    }
    let shard = match (options.shard, &options.plan_from) {
        (None, _) => None,
        (Some(shard), None) => Some(Assignment::hashed(shard, &options.project)),
        (Some(shard), Some(old)) => Some(
            Assignment::planned(shard, &options.project, &files, old)
                .map_err(BuildError::PlanFrom)?,
        ),
    };
    drop(files);
    let toolchain = toolchain::locate()?;
    observer.event(&Event::Source {
        source: discovery.source.clone(),
        project: options.project.clone(),
    });
    for warning in &discovery.warnings {
        observer.event(&Event::DiscoveryWarning(warning.clone()));
    }
    let lock = BuildLock::acquire(&options.db)?;
    let conn = index::open(&options.db, Access::Write)?;
    Ok(Prepared {
        discovery,
        shard,
        toolchain,
        _lock: lock,
        conn,
    })
}

/// Discovery's second pass, streamed into the refresh inside `tx` (only
/// the units of `shard`, if given). Returns the freshness and how many
/// units the build covers.
fn refresh_units(
    options: &BuildOptions,
    shard: Option<&Assignment>,
    tx: &rusqlite::Transaction<'_>,
    libclang: &str,
    observer: &mut dyn Observer,
) -> Result<(Freshness, u64), BuildError> {
    let refresh_options = refresh::Options {
        full: options.full,
        retry_failed: options.retry_failed,
        libclang,
        dispatch: options.dispatch,
    };
    let mut refresher = refresh::Refresher::start(tx, &refresh_options)?;
    let mut failure = None;
    let mut listed = 0;
    discover::discover(&options.project, options.compdb.as_deref(), &mut |unit| {
        if failure.is_none() && shard.is_none_or(|shard| shard.contains(&unit.file)) {
            listed += 1;
            failure = refresher.add(&unit).err();
        }
    })?;
    if let Some(e) = failure {
        return Err(anyhow::Error::from(e)
            .context(format!("recording the units in {}", options.db.display()))
            .into());
    }
    let freshness = refresher.finish()?;
    if freshness.folded > 0 {
        observer.event(&Event::Folded(freshness.folded));
    }
    let units = listed - freshness.folded;
    Ok((freshness, units))
}

/// Lists the units a build would index, with the reason, in path order,
/// and changes nothing (the refresh is rolled back).
pub fn explain(
    options: &BuildOptions,
    observer: &mut dyn Observer,
    visit: &mut dyn FnMut(&DirtyUnit<'_>),
) -> Result<Explained, BuildError> {
    let mut prepared = prepare(options, observer)?;
    let libclang = prepared.toolchain.identity();
    // Dropped without a commit: the refresh rolls back.
    let tx = prepared.conn.transaction()?;
    let (_, units) = refresh_units(options, prepared.shard.as_ref(), &tx, &libclang, observer)?;
    let dirty = crate::index::units::each_dirty_unit(&tx, |file, reason, adjusted| {
        visit(&DirtyUnit {
            file,
            reason,
            adjusted,
        })
    })?;
    Ok(Explained { dirty, units })
}

/// Brings the index of `options.project` up to date: indexes the units that
/// are new or dirty, removes those the project no longer lists. Progress and
/// events go to `observer`; `cancel` stops it (see [`Cancel`]).
pub fn build(
    options: &BuildOptions,
    cancel: &Cancel,
    observer: &mut dyn Observer,
) -> Result<BuildOutcome, BuildError> {
    let started = Instant::now();
    let Prepared {
        discovery,
        shard,
        toolchain,
        _lock,
        mut conn,
    } = prepare(options, observer)?;
    let db = &options.db;
    let libclang = toolchain.identity();
    let config = supervise::Config {
        jobs: options.jobs,
        files_per_worker: options.files_per_worker,
        tu_timeout: options.tu_timeout,
        memory_limits_given: options.memory_limits_given,
        tu_timeout_given: options.tu_timeout_given,
        rss_hard_limit: options.rss_hard_limit,
        rss_soft_limit: options.rss_soft_limit,
        memory_budget: options.memory_budget,
        index_system_headers: options.index_system_headers,
        index_locals: options.index_locals,
        full: options.full,
        toolchain,
        exe: options.worker_program.clone(),
    };
    // A worker that cannot start is reported by the supervisor, which
    // starts its workers again if this one is missing.
    let prestarted = supervise::prestart_worker(&config).ok();
    let tx = conn.transaction()?;
    let (freshness, units) = refresh_units(options, shard.as_ref(), &tx, &libclang, observer)?;
    let run = index::start_run(&tx)?;
    tx.commit()?;
    // Symbols orphaned by a build that never reached its collection are
    // only found by looking at all of them.
    let sweep = match index::previous_run_state(&conn, run)? {
        None | Some(RunState::Complete) => index::Sweep::Touched,
        Some(_) => index::Sweep::Everything,
    };
    if freshness.removed > 0 {
        // The full sweep, if one is due, is left to the end of the build:
        // until then nothing here depends on it.
        index::collect_garbage(&conn, index::Sweep::Touched)?;
    }
    // Discovery and refresh are done with what they allocated in proportion
    // to the project (the duplicate filter, scan pages): hand it back before
    // the long part of the build.
    memory::release_free_memory();

    let queue = Queue::new(PendingUnits::new(index::open(db, Access::Read)?))?;
    let claims = HeaderLookup::new(index::open(db, Access::Read)?);
    // Results are large; a few in flight per worker is all the writer needs
    // to stay busy, and all the memory the supervisor may hold.
    let (writer_tx, writer_rx) = bounded(options.jobs * 2);
    // A first or `--full` build writes most of the index anew: a bulk load,
    // after which one sort per query index beats keeping them ordered.
    if options.full || index::is_empty(&conn)? {
        index::defer_query_indexes(&conn)?;
    }
    let preludes =
        if !options.prelude || options.index_system_headers || freshness.dirty < prelude::MIN_UNITS
        {
            None
        } else {
            match Preludes::create(db) {
                Ok(preludes) => Some(preludes),
                Err(e) => {
                    observer.event(&Event::PreludeUnavailable {
                        reason: crate::one_line(e.as_ref()),
                    });
                    None
                }
            }
        };
    let writer = index::spawn_writer(conn, writer_rx);
    cancel.enter(Phase::Indexing);
    let (ending, report) = Supervisor::new(
        config, queue, claims, writer_tx, observer, prestarted, preludes,
    )
    .run(cancel.requests());
    cancel.enter(Phase::Finishing);
    observer.event(&Event::IndexingFinished);
    // One that came after the loop stopped listening, before the phase
    // changed, waits in the channel: it is told like a later one.
    if let Ok(signal) = cancel.requests().try_recv() {
        observer.event(&Event::CancelledLate(signal));
    }
    let (conn, written) = writer.join().expect("the writer thread does not panic");
    let written = match written {
        Ok(written) => written,
        Err(e) => {
            // Best effort: with a full disk even this may not be stored, and
            // `status` then reads the run as interrupted anyway.
            let _ = index::abandon_run(&conn, run);
            return Err(anyhow::Error::from(e)
                .context(format!(
                    "writing the index {} (what was committed before is intact)",
                    db.display()
                ))
                .into());
        }
    };

    let complete = ending == Ending::Complete;
    let mut writer_busy = written.busy;
    if complete {
        // Whichever build completes first after a bulk load, this one or
        // the next after an interruption, builds the query indexes; the
        // collection needs them. It is the writer's work, moved.
        let restoring = Instant::now();
        index::restore_query_indexes(&conn)?;
        writer_busy += restoring.elapsed();
        index::collect_garbage(&conn, sweep)?;
    }
    index::finish_run(
        &conn,
        run,
        &index::RunRecord {
            state: if complete {
                RunState::Complete
            } else {
                RunState::Interrupted
            },
            indexed: written.units_indexed,
            failed: written.units_failed,
            removed: freshness.removed,
        },
    )?;
    // Fold the WAL into the database so the file is self-contained.
    index::checkpoint(&conn);
    let elapsed = started.elapsed();
    let summary = Summary {
        status: if complete { "complete" } else { "cancelled" },
        files_total: units,
        indexed: written.units_indexed,
        indexed_with_errors: written.units_with_errors,
        unchanged: freshness.unchanged,
        failed: written.units_failed,
        removed: freshness.removed,
        quarantined: freshness.quarantined,
        folded: freshness.folded,
        source: match &discovery.source {
            Source::CompileCommands(path) => path.display().to_string(),
            Source::Walk => "walk".to_string(),
        },
        symbols: index::count(&conn, "symbols")?,
        references: index::count(&conn, "refs")?,
        elapsed_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        supervisor_peak_rss_bytes: memory::own_peak_rss(),
        worker_peak_rss_bytes: report.worker_peak_rss,
        worker_peak_resident_bytes: report.worker_peak_resident,
        workers_spawned: report.workers_spawned,
        workers_recycled: report.workers_recycled,
        workers_killed_for_memory: report.killed_for_memory,
        workers_timed_out: report.timed_out,
        workers_crashed: report.crashed,
        units_with_prelude: report.used_prelude,
        units_with_project_prelude: report.used_project_prelude,
        prelude_fallbacks: report.prelude_fallbacks,
        prelude_discarded_s: (report.prelude_discarded.as_secs_f64() * 1000.0).round() / 1000.0,
        adjusted_commands: freshness.adjusted,
        writer_busy_fraction: (writer_busy.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
            * 1000.0)
            .round()
            / 1000.0,
    };
    Ok(BuildOutcome { ending, summary })
}
