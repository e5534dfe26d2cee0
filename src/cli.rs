//! The command line: flags, the `build` sequence, query printing, exit codes.
//!
//! Exit codes (documented in the README):
//! 0 success (failed units are reported, not fatal), 1 fatal error,
//! 2 usage or configuration error (bad flags, invalid compile_commands.json),
//! 130 cancelled by SIGINT, 143 cancelled by SIGTERM.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use crossbeam_channel::{bounded, Receiver};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::discover::{self, Source};
use crate::memory::{self, human};
use crate::output;
use crate::plan::Queue;
use crate::prelude::{self, Preludes};
use crate::progress::Progress;
use crate::query;
use crate::refresh;
use crate::store::{self, Access, BuildLock};
use crate::supervise::{self, Ending, Signal, Supervisor};
use crate::toolchain;

/// `--tu-timeout` when not given.
const DEFAULT_TU_TIMEOUT_S: u64 = 300;

pub(crate) const EXIT_OK: i32 = 0;
pub(crate) const EXIT_FATAL: i32 = 1;
pub(crate) const EXIT_USAGE: i32 = 2;
pub(crate) const EXIT_INTERRUPTED: i32 = 130;
pub(crate) const EXIT_TERMINATED: i32 = 143;

#[derive(Debug, Parser)]
#[command(
    name = "indexer",
    version,
    about = "Build and query a semantic index of a C/C++ code base",
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Index a project, or refresh its index (only what changed is re-indexed)
    Build(BuildArgs),
    /// Show what the index holds, its last run, and the units that failed
    Status(StatusArgs),
    /// List symbols whose name or qualified name contains PATTERN (`*` and `?` glob)
    Find(FindArgs),
    /// List the uses of a symbol (a qualified name like `geo::Circle::area`, or a USR)
    Refs(SymbolArgs),
    /// List the call sites of a function or method, with their callers
    Callers(SymbolArgs),
    /// List what a function or method calls
    Callees(SymbolArgs),
    /// Print the index's content per table (row count and hash, rows spelled
    /// with USRs and paths): equal for two builds of the same sources
    Digest(DigestArgs),
    /// Internal: run as a worker process (started by `build`)
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
struct DbArgs {
    /// The index database [default: PROJECT/.indexer/index.db]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The project's root directory
    #[arg(default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// compile_commands.json (or its directory) [default: PROJECT/compile_commands.json,
    /// then PROJECT/build/compile_commands.json, else the project's sources are walked]
    #[arg(long, value_name = "PATH")]
    compdb: Option<PathBuf>,
    /// Worker processes [default: available cores]
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Re-index every unit, ignoring what the index holds
    #[arg(long)]
    full: bool,
    /// List the units that need indexing, with the reason, and index nothing
    #[arg(long)]
    explain: bool,
    /// Retry units quarantined after failing twice
    #[arg(long)]
    retry_failed: bool,
    /// Also index declarations in system headers
    #[arg(long)]
    index_system_headers: bool,
    /// Also index parameters and the local variables of functions
    #[arg(long)]
    index_locals: bool,
    /// Parse every unit exactly as written, without the standard library
    /// precompiled once per compile command (slower; see docs/ARCHITECTURE.md)
    #[arg(long)]
    no_pch: bool,
    /// Replace a worker after this many units
    #[arg(long, value_name = "N", default_value_t = 1000)]
    files_per_worker: u32,
    /// Kill a worker stuck this long on one unit (the unit fails) [default: 300]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    tu_timeout: Option<u64>,
    /// Kill a worker owning more memory than this (e.g. 1500M, 2G)
    /// [default: memory budget / jobs, at most 4G]
    #[arg(long, value_name = "SIZE", value_parser = memory::parse_size)]
    worker_rss_limit: Option<u64>,
    /// Replace a worker owning more than this after its current unit [default: 75% of the hard limit]
    #[arg(long, value_name = "SIZE", value_parser = memory::parse_size)]
    worker_rss_soft_limit: Option<u64>,
    /// Pause dispatch while all workers together own more than this [default: 75% of RAM]
    #[arg(long, value_name = "SIZE", value_parser = memory::parse_size)]
    memory_budget: Option<u64>,
    /// Print one JSON summary object on stdout when done
    #[arg(long)]
    json: bool,
    /// No progress and no summary (errors are still printed)
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[arg(default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// Also list the N slowest units of the last builds
    #[arg(long, value_name = "N", default_value_t = 0)]
    slowest: usize,
    /// Show one unit instead: its state, and the arguments given to libclang
    /// with what was changed in its compile command to make them
    #[arg(long, value_name = "FILE")]
    unit: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FindArgs {
    pattern: String,
    /// Only symbols of this kind (class, function, method, ...)
    #[arg(long)]
    kind: Option<String>,
    /// `project`: symbols declared in the project's files; `all`: also those
    /// of system headers the project refers to
    #[arg(long, value_enum, default_value_t = query::Scope::Project)]
    scope: query::Scope,
    /// The project whose index to query
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SymbolArgs {
    /// A qualified name (`geo::Circle::area`), a plain name, or a USR
    symbol: String,
    /// The project whose index to query
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DigestArgs {
    /// The project whose index to digest
    #[arg(default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// Also print every row, after its table's name and a tab
    #[arg(long)]
    rows: bool,
    #[arg(long)]
    json: bool,
}

fn db_path(project: &Path, db: &DbArgs) -> PathBuf {
    db.db
        .clone()
        .unwrap_or_else(|| project.join(".indexer").join("index.db"))
}

/// Runs the command line and returns the process exit code.
pub(crate) fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let result = match cli.command {
        Command::Build(args) => build(args),
        Command::Status(args) => status(args),
        Command::Find(args) => {
            let db = db_path(&args.project, &args.db);
            with_index(&db, |conn| {
                query::find(conn, &args.pattern, args.kind.as_deref(), args.scope)
            })
            .and_then(|found| {
                let code = print_rows(&found.rows, args.json)?;
                if found.external_left_out > 0 {
                    output::note(&format!(
                        "({} more in system headers: pass --scope all)",
                        found.external_left_out
                    ));
                }
                Ok(code)
            })
        }
        Command::Refs(args) => symbol_query(args, query::refs),
        Command::Callers(args) => symbol_query(args, query::callers),
        Command::Callees(args) => symbol_query(args, query::callees),
        Command::Digest(args) => digest(args),
        Command::Worker => crate::worker::run().map(|()| EXIT_OK),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`indexer find '' | head -5`) wanted no more.
        Err(e) if output::is_broken_pipe(&e) => EXIT_OK,
        Err(e) => {
            output::note(&format!("error: {}", output::error_line(&e)));
            if e.downcast_ref::<discover::DiscoverError>().is_some()
                || e.downcast_ref::<query::QueryError>()
                    .is_some_and(query::QueryError::is_usage)
                || matches!(
                    e.downcast_ref::<store::StoreError>(),
                    Some(store::StoreError::NotAFile { .. })
                )
            {
                EXIT_USAGE
            } else {
                EXIT_FATAL
            }
        }
    }
}

fn with_index<T>(
    db: &Path,
    f: impl FnOnce(&Connection) -> Result<T, query::QueryError>,
) -> anyhow::Result<T> {
    let conn = store::open(db, Access::Read)?;
    Ok(f(&conn)?)
}

fn symbol_query(
    args: SymbolArgs,
    f: fn(&Connection, &str) -> Result<Vec<query::Row>, query::QueryError>,
) -> anyhow::Result<i32> {
    let db = db_path(&args.project, &args.db);
    let rows = with_index(&db, |conn| f(conn, &args.symbol))?;
    print_rows(&rows, args.json)
}

fn print_rows(rows: &[query::Row], json: bool) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, rows)?;
        writeln!(out)?;
        return Ok(EXIT_OK);
    }
    for row in rows {
        // A symbol of a system header that the index holds no declaration of.
        let place = match &row.file {
            Some(file) => format!(
                "{file}:{}:{}",
                row.line.unwrap_or(0),
                row.column.unwrap_or(0)
            ),
            None => "(system header)".to_string(),
        };
        match (&row.roles, &row.container) {
            (Some(roles), container) => writeln!(
                out,
                "{place}  {} {}{}{}",
                row.kind,
                row.qualified_name,
                if roles.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", roles.join(","))
                },
                container
                    .as_ref()
                    .map(|c| format!("  in {c}"))
                    .unwrap_or_default()
            )?,
            (None, _) => writeln!(out, "{place}  {} {}", row.kind, row.qualified_name)?,
        }
    }
    if rows.is_empty() && !json {
        output::note("(no results)");
    }
    Ok(EXIT_OK)
}

fn digest(args: DigestArgs) -> anyhow::Result<i32> {
    let db = db_path(&args.project, &args.db);
    let conn = store::open(&db, Access::Read)?;
    let tables = crate::digest::digest(&conn, args.rows)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &tables)?;
        writeln!(out)?;
        return Ok(EXIT_OK);
    }
    for table in &tables {
        writeln!(
            out,
            "{:12} {:>9} rows  {}",
            table.table, table.rows, table.hash
        )?;
    }
    for table in &tables {
        for row in table.content.iter().flatten() {
            writeln!(out, "{}\t{row}", table.table)?;
        }
    }
    Ok(EXIT_OK)
}

fn status(args: StatusArgs) -> anyhow::Result<i32> {
    let db = db_path(&args.project, &args.db);
    let conn = store::open(&db, Access::Read)?;
    if let Some(file) = &args.unit {
        return unit_status(&conn, file, args.json);
    }
    let running = BuildLock::is_held(&db);
    let status = query::status(&conn, running, args.slowest)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "index:       {}", db.display())?;
    writeln!(out, "files:       {}", status.files)?;
    writeln!(
        out,
        "units:       {} ({} indexed, {} pending, {} failed)",
        status.units, status.units_indexed, status.units_pending, status.units_failed
    )?;
    if status.units_adjusted > 0 {
        writeln!(
            out,
            "commands:    {} adjusted for libclang (see `indexer status --unit FILE`)",
            status.units_adjusted
        )?;
    }
    writeln!(out, "symbols:     {}", status.symbols)?;
    writeln!(out, "references:  {}", status.references)?;
    match &status.last_run {
        Some(run) => writeln!(
            out,
            "last run:    {} (started {}{}; {} indexed, {} failed, {} removed)",
            run.status,
            run.started,
            run.finished
                .as_ref()
                .map(|f| format!(", finished {f}"))
                .unwrap_or_default(),
            run.indexed,
            run.failed,
            run.removed
        )?,
        None => writeln!(out, "last run:    none")?,
    }
    if status.query_indexes_deferred {
        let why = if running {
            "a first or --full build is running"
        } else {
            "an interrupted first or --full build left out the query indexes"
        };
        writeln!(
            out,
            "note:        {why}; queries scan (slower) until `indexer build` completes"
        )?;
    }
    for failed in &status.failed {
        writeln!(
            out,
            "failed:      {}: {}{}",
            failed.file,
            failed.reason,
            if failed.quarantined {
                " (quarantined)"
            } else {
                ""
            }
        )?;
    }
    for unit in &status.slowest {
        writeln!(
            out,
            "slow:        {:>7} ms  {:>9}  {:>6} symbols  {}",
            unit.parse_ms,
            human(unit.worker_rss_bytes),
            unit.symbols,
            unit.file
        )?;
    }
    Ok(EXIT_OK)
}

/// `indexer status --unit FILE`: `file` as given, relative to the
/// working directory.
fn unit_status(conn: &Connection, file: &Path, json: bool) -> anyhow::Result<i32> {
    let path = discover::normalize(&std::path::absolute(file)?);
    let Some(unit) = query::unit(conn, &path.to_string_lossy())? else {
        output::note(&format!(
            "error: {} is not a translation unit of this index: pass a source file that `indexer status` counts (a header is no unit)",
            path.display()
        ));
        return Ok(EXIT_USAGE);
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &unit)?;
        writeln!(out)?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "unit:        {}", unit.file)?;
    writeln!(
        out,
        "state:       {}{}",
        unit.state,
        unit.reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "directory:   {}", unit.directory)?;
    write_command(&mut out, &unit.command)?;
    if unit.command.changes.is_empty() {
        writeln!(
            out,
            "changed:     nothing (the compile command is used as written)"
        )?;
    }
    Ok(EXIT_OK)
}

/// A unit's arguments, as a shell would take them, and each change the
/// command stage made.
fn write_command(out: &mut impl Write, command: &refresh::Command) -> std::io::Result<()> {
    let args = shlex::try_join(command.args.iter().map(String::as_str))
        .unwrap_or_else(|_| command.args.join(" "));
    writeln!(out, "    arguments: {args}")?;
    for change in &command.changes {
        writeln!(out, "    changed:   {change}")?;
    }
    Ok(())
}

/// The `--json` summary of a build. Documented in the README.
#[derive(Debug, Serialize)]
struct Summary {
    /// `complete` or `cancelled`.
    status: &'static str,
    files_total: u64,
    indexed: u64,
    unchanged: u64,
    failed: u64,
    removed: u64,
    quarantined: u64,
    folded: u64,
    source: String,
    symbols: u64,
    references: u64,
    elapsed_s: f64,
    supervisor_peak_rss_bytes: u64,
    worker_peak_rss_bytes: u64,
    worker_peak_resident_bytes: u64,
    workers_spawned: u64,
    workers_recycled: u64,
    workers_killed_for_memory: u64,
    workers_timed_out: u64,
    workers_crashed: u64,
    units_with_pch: u64,
    /// Units given the precompiled library that were parsed again as
    /// written, and the seconds of the discarded parses.
    pch_fallbacks: u64,
    pch_discarded_s: f64,
    /// Units whose compile command the command stage changed.
    adjusted_commands: u64,
    writer_busy_fraction: f64,
}

fn build(args: BuildArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    // Listen before anything else: a signal during discovery or refresh
    // (seconds on a large project) must still end the build as cancelled,
    // with its exit code and an interrupted run, not kill it outright.
    let signals = listen_for_signals()?;
    let project = std::path::absolute(&args.project)
        .with_context(|| format!("{}", args.project.display()))?;
    let db = db_path(&project, &args.db);
    store::check_is_file(&db)?;
    // A first pass validates the whole compilation database before the
    // index is touched; units are not kept (see `discover`).
    let discovery = discover::discover(&project, args.compdb.as_deref(), &mut |_| {})?;
    if discovery.units == 0 {
        output::note(&format!("error: no C/C++ translation units found in {}: pass --compdb with a compile_commands.json", project.display()));
        return Ok(EXIT_USAGE);
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let budget = args
        .memory_budget
        .unwrap_or(memory::physical_memory() / 4 * 3);
    let hard = args
        .worker_rss_limit
        .unwrap_or((budget / jobs as u64).min(4 << 30));
    let soft = args.worker_rss_soft_limit.unwrap_or(hard / 4 * 3);
    for (flag, size) in [
        ("--worker-rss-limit", args.worker_rss_limit),
        ("--worker-rss-soft-limit", args.worker_rss_soft_limit),
        ("--memory-budget", args.memory_budget),
    ] {
        if let Some(size) = size.filter(|&size| size < memory::MIN_WORKER_MEMORY) {
            output::note(&format!(
                "error: {flag} is {size} bytes, below the {} a worker needs to start: pass at least that (sizes take a unit: 1500M, 2G)",
                human(memory::MIN_WORKER_MEMORY)
            ));
            return Ok(EXIT_USAGE);
        }
    }
    if soft > hard {
        output::note(&format!(
            "error: --worker-rss-soft-limit ({}) is above the hard limit ({})",
            human(soft),
            human(hard)
        ));
        return Ok(EXIT_USAGE);
    }
    let toolchain = toolchain::locate()?;

    // --json owns stdout only: progress and warnings still go to stderr.
    let mut progress = Progress::new(args.quiet);
    match &discovery.source {
        Source::CompileCommands(path) => {
            progress.note(&format!("using {}", path.display()));
        }
        Source::Walk => progress.note(&format!(
            "no compile_commands.json in {}: indexing its C/C++ sources with default flags (pass --compdb for exact ones)",
            project.display()
        )),
    }
    for warning in &discovery.warnings {
        progress.note(&format!("warning: {warning}"));
    }

    let _lock = BuildLock::acquire(&db)?;
    let mut conn = store::open(&db, Access::Write)?;
    let libclang = toolchain.identity();
    let config = supervise::Config {
        jobs,
        files_per_worker: args.files_per_worker.max(1),
        tu_timeout: Duration::from_secs(args.tu_timeout.unwrap_or(DEFAULT_TU_TIMEOUT_S)),
        memory_limits_given: args.worker_rss_limit.is_some()
            || args.worker_rss_soft_limit.is_some()
            || args.memory_budget.is_some(),
        tu_timeout_given: args.tu_timeout.is_some(),
        rss_hard_limit: hard,
        rss_soft_limit: soft,
        memory_budget: budget,
        index_system_headers: args.index_system_headers,
        index_locals: args.index_locals,
        full: args.full,
        toolchain,
        exe: std::env::current_exe().context("finding this program's path to start workers")?,
    };
    // A worker that cannot start is reported by the supervisor, which
    // starts its workers again if this one is missing.
    let prestarted = if args.explain {
        None
    } else {
        supervise::prestart_worker(&config).ok()
    };
    let options = refresh::Options {
        full: args.full,
        retry_failed: args.retry_failed,
        libclang: &libclang,
    };
    let tx = conn.transaction()?;
    let mut refresher = refresh::Refresher::start(&tx, &options)?;
    let mut failure = None;
    discover::discover(&project, args.compdb.as_deref(), &mut |unit| {
        if failure.is_none() {
            failure = refresher.add(&unit).err();
        }
    })?;
    if let Some(e) = failure {
        return Err(e).context(format!("recording the units in {}", db.display()));
    }
    let freshness = refresher.finish()?;
    if freshness.folded > 0 {
        progress.note(&format!(
            "{} duplicate entries folded (each file is indexed once, with its first command)",
            freshness.folded
        ));
    }
    let units = discovery.units as u64 - freshness.folded;
    if args.explain {
        // Streamed: the list is as long as the project.
        let mut out = std::io::stdout().lock();
        let mut written = Ok(());
        let dirty = refresh::each_dirty_unit(&tx, |file, reason, adjusted| {
            if written.is_ok() {
                written = writeln!(out, "{file}: {reason}");
            }
            if let (Ok(()), Some(command)) = (&written, adjusted) {
                written = write_command(&mut out, &command);
            }
        })?;
        written?;
        writeln!(out, "{dirty} of {units} units would be indexed")?;
        return Ok(EXIT_OK);
    }
    tx.execute(
        "INSERT INTO runs(started_at, status, pid) VALUES (?1, 'running', ?2)",
        rusqlite::params![store::now_s(), std::process::id()],
    )?;
    let run = tx.last_insert_rowid();
    tx.commit()?;
    // Symbols orphaned by a build that never reached its collection are
    // only found by looking at all of them.
    let previous_run: Option<String> = conn
        .query_row(
            "SELECT status FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT 1",
            [run],
            |r| r.get(0),
        )
        .optional()?;
    let sweep = match previous_run.as_deref() {
        None | Some("complete") => store::Sweep::Touched,
        Some(_) => store::Sweep::Everything,
    };
    if freshness.removed > 0 {
        // The full sweep, if one is due, is left to the end of the build:
        // until then nothing here depends on it.
        store::collect_garbage(&conn, store::Sweep::Touched)?;
    }
    // Discovery and refresh are done with what they allocated in proportion
    // to the project (the duplicate filter, scan pages): hand it back before
    // the long part of the build.
    memory::release_free_memory();

    let queue = Queue::new(store::open(&db, Access::Read)?)?;
    let claims_conn = store::open(&db, Access::Read)?;
    // Results are large; a few in flight per worker is all the writer needs
    // to stay busy, and all the memory the supervisor may hold.
    let (writer_tx, writer_rx) = bounded(jobs * 2);
    // A first or `--full` build writes most of the index anew: a bulk load,
    // after which one sort per query index beats keeping them ordered.
    if args.full || store::is_empty(&conn)? {
        store::defer_query_indexes(&conn)?;
    }
    let preludes =
        if args.no_pch || args.index_system_headers || freshness.dirty < prelude::MIN_UNITS {
            None
        } else {
            match Preludes::create(&db) {
                Ok(preludes) => Some(preludes),
                Err(e) => {
                    progress.note(&format!(
                        "warning: parsing every unit without a precompiled standard library: {}",
                        output::error_line(&e)
                    ));
                    None
                }
            }
        };
    let writer = store::spawn_writer(conn, writer_rx);
    signals.phase.store(PHASE_LOOP, Ordering::SeqCst);
    let (ending, report) = Supervisor::new(
        config,
        queue,
        claims_conn,
        writer_tx,
        &mut progress,
        prestarted,
        preludes,
    )
    .run(&signals.receiver);
    // From here on a signal has nothing left to save (see `listen_for_signals`).
    signals.phase.store(PHASE_AFTER, Ordering::SeqCst);
    // One that came after the loop stopped listening, before the phase
    // changed, waits in the channel: it ends the process like a later one.
    if let Ok(signal) = signals.receiver.try_recv() {
        exit_cancelled(signal, false);
    }
    let (conn, written) = writer.join().expect("the writer thread does not panic");
    let written = match written {
        Ok(written) => written,
        Err(e) => {
            // Best effort: with a full disk even this may not be stored, and
            // `status` then reads the run as interrupted anyway.
            let _ = conn.execute(
                "UPDATE runs SET finished_at = ?2, status = 'interrupted' WHERE id = ?1",
                rusqlite::params![run, store::now_s()],
            );
            return Err(e).context(format!(
                "writing the index {} (what was committed before is intact)",
                db.display()
            ));
        }
    };

    let complete = ending == Ending::Complete;
    let mut writer_busy = written.busy;
    if complete {
        // Whichever build completes first after a bulk load, this one or
        // the next after an interruption, builds the query indexes; the
        // collection needs them. It is the writer's work, moved.
        let restoring = Instant::now();
        store::restore_query_indexes(&conn)?;
        writer_busy += restoring.elapsed();
        store::collect_garbage(&conn, sweep)?;
    }
    conn.execute(
        "UPDATE runs SET finished_at = ?2, status = ?3, indexed = ?4, failed = ?5, removed = ?6 WHERE id = ?1",
        rusqlite::params![
            run,
            store::now_s(),
            if complete { "complete" } else { "interrupted" },
            written.units_indexed as i64,
            written.units_failed as i64,
            freshness.removed as i64
        ],
    )?;
    // Fold the WAL into the database so the file is self-contained.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let elapsed = started.elapsed();
    let summary = Summary {
        status: if complete { "complete" } else { "cancelled" },
        files_total: units,
        indexed: written.units_indexed,
        unchanged: freshness.unchanged,
        failed: written.units_failed,
        removed: freshness.removed,
        quarantined: freshness.quarantined,
        folded: freshness.folded,
        source: match &discovery.source {
            Source::CompileCommands(path) => path.display().to_string(),
            Source::Walk => "walk".to_string(),
        },
        symbols: store::count(&conn, "symbols")?,
        references: store::count(&conn, "refs")?,
        elapsed_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        supervisor_peak_rss_bytes: memory::own_peak_rss(),
        worker_peak_rss_bytes: report.worker_peak_rss,
        worker_peak_resident_bytes: report.worker_peak_resident,
        workers_spawned: report.workers_spawned,
        workers_recycled: report.workers_recycled,
        workers_killed_for_memory: report.killed_for_memory,
        workers_timed_out: report.timed_out,
        workers_crashed: report.crashed,
        units_with_pch: report.used_prelude,
        pch_fallbacks: report.prelude_fallbacks,
        pch_discarded_s: (report.prelude_discarded.as_secs_f64() * 1000.0).round() / 1000.0,
        adjusted_commands: freshness.adjusted,
        writer_busy_fraction: (writer_busy.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
            * 1000.0)
            .round()
            / 1000.0,
    };
    drop(conn);
    // The build is done and recorded: a summary nobody can read does not
    // make it fail.
    if let Err(e) = print_summary(&summary, &ending, args.json, args.quiet) {
        if !output::is_broken_pipe(&e) {
            output::note(&format!(
                "warning: cannot write the summary: {}",
                output::error_line(&e)
            ));
        }
    }
    Ok(match ending {
        Ending::Complete => EXIT_OK,
        Ending::Cancelled(Signal::Interrupt) => EXIT_INTERRUPTED,
        Ending::Cancelled(Signal::Terminate) => EXIT_TERMINATED,
        Ending::Fatal(_) => EXIT_FATAL,
    })
}

fn print_summary(s: &Summary, ending: &Ending, json: bool, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, s)?;
        writeln!(out)?;
    }
    match ending {
        Ending::Fatal(reason) => output::note(&format!("error: {reason}")),
        Ending::Cancelled(_) => output::note(&format!(
            "cancelled: {} units indexed and kept; run `indexer build` again to resume",
            s.indexed
        )),
        Ending::Complete if !json && !quiet => {
            writeln!(
                out,
                "indexed {} units, {} unchanged, {} failed, {} removed in {:.2} s; index holds {} symbols, {} references",
                s.indexed, s.unchanged, s.failed, s.removed, s.elapsed_s, s.symbols, s.references
            )?;
            writeln!(
                out,
                "memory: supervisor peak {}, largest worker {}; {} workers started, {} recycled, {} killed for memory, {} timed out, {} crashed",
                human(s.supervisor_peak_rss_bytes),
                human(s.worker_peak_rss_bytes),
                s.workers_spawned,
                s.workers_recycled,
                s.workers_killed_for_memory,
                s.workers_timed_out,
                s.workers_crashed
            )?;
            if s.adjusted_commands > 0 {
                writeln!(
                    out,
                    "{} compile commands adjusted for libclang (see `indexer status --unit FILE`)",
                    s.adjusted_commands
                )?;
            }
            if s.failed > 0 {
                writeln!(out, "see the failures with `indexer status`")?;
            }
        }
        Ending::Complete => {}
    }
    Ok(())
}

/// Where SIGINT and SIGTERM go.
struct Signals {
    receiver: Receiver<Signal>,
    /// [`PHASE_BEFORE`], [`PHASE_LOOP`] or [`PHASE_AFTER`] the supervisor loop.
    phase: Arc<AtomicU8>,
}

const PHASE_BEFORE: u8 = 0;
const PHASE_LOOP: u8 = 1;
const PHASE_AFTER: u8 = 2;

/// How long a first signal before the supervisor loop waits for the loop
/// to start and cancel gracefully (with a summary), before the process
/// exits at once. Discovery and refresh usually take less; a huge or
/// stalled one must not hold a Ctrl-C longer.
const GRACE_BEFORE_LOOP: Duration = Duration::from_millis(500);

/// While the supervisor loop runs, a first SIGINT or SIGTERM becomes a
/// message to it: it stops dispatch, kills the workers, keeps every unit
/// that finished and prints the summary. Outside the loop nothing is worth
/// waiting for, so the process exits at once (before the loop, after
/// [`GRACE_BEFORE_LOOP`]), as it does on a second signal anywhere:
/// discovery has written nothing, the refresh's transaction rolls back, the
/// run row of a build whose process is gone reads as interrupted, and the
/// query indexes and garbage collection at the end are left to the next
/// build. Workers die with the process (PR_SET_PDEATHSIG), and SQLite's
/// journal keeps the database consistent.
fn listen_for_signals() -> anyhow::Result<Signals> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    let (tx, receiver) = bounded(4);
    let phase = Arc::new(AtomicU8::new(PHASE_BEFORE));
    let build_phase = phase.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = 0;
            for signal in signals.forever() {
                received += 1;
                let signal = if signal == SIGTERM {
                    Signal::Terminate
                } else {
                    Signal::Interrupt
                };
                let waited = Instant::now();
                while build_phase.load(Ordering::SeqCst) == PHASE_BEFORE
                    && waited.elapsed() < GRACE_BEFORE_LOOP
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if received > 1 || build_phase.load(Ordering::SeqCst) != PHASE_LOOP {
                    exit_cancelled(signal, received > 1);
                }
                let _ = tx.try_send(signal);
            }
        })?;
    Ok(Signals { receiver, phase })
}

/// Ends the process at once on `signal` (outside the supervisor loop, or
/// `again`).
fn exit_cancelled(signal: Signal, again: bool) -> ! {
    output::note(if again {
        "\ncancelled again: exiting now"
    } else {
        "\ncancelled: exiting now (the index keeps what was committed before)"
    });
    std::process::exit(if signal == Signal::Terminate {
        EXIT_TERMINATED
    } else {
        EXIT_INTERRUPTED
    });
}
