//! `status`: what the index holds, its last run, the failed and slowest
//! units, and how far a running build is; `unit`: one unit's command.

use rusqlite::{Connection, OptionalExtension};
use schemars::JsonSchema;
use serde::Serialize;

use crate::index::maintenance::query_indexes_deferred;
use crate::index::model::{Command, RunState, UnitState, QUARANTINE_FAILURES};

/// The state of an index, for `indexer status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    pub files: u64,
    pub units: u64,
    pub units_indexed: u64,
    pub units_pending: u64,
    pub units_failed: u64,
    /// Indexed units whose parse reported errors.
    pub units_with_errors: u64,
    /// Units whose compile command the command stage changed.
    pub units_adjusted: u64,
    pub symbols: u64,
    pub references: u64,
    pub last_run: Option<Run>,
    /// A first or `--full` build, running or interrupted, left the query
    /// indexes out: queries work but scan, until a build completes.
    pub query_indexes_deferred: bool,
    pub failed: Vec<FailedUnit>,
    /// The first [`ERRORS_LISTED`] indexed units with errors, by path.
    pub with_errors: Vec<UnitWithErrors>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<UnitTiming>,
    /// Whether a build held the index's lock when the status was read (a
    /// `running` last run without one was killed, and reads as interrupted).
    pub build_running: bool,
    /// How far the running build is, from what it has committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_progress: Option<BuildProgress>,
}

/// How far a running build is, as its committed rows tell: the units it
/// indexed since it started and those still pending. Units it found failed
/// are in neither (a failure records no time).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BuildProgress {
    /// Units indexed since the running build started.
    pub units_done: u64,
    /// Units still to be indexed.
    pub units_pending: u64,
    /// `units_done + units_pending`.
    pub units_total: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Run {
    /// Seconds since the epoch.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// The same moments for people, e.g. `2026-12-02 07:00:00 UTC`.
    pub started: String,
    pub finished: Option<String>,
    /// `complete`, `interrupted`, or `running` (another build is active).
    pub status: RunState,
    pub indexed: u64,
    pub failed: u64,
    pub removed: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FailedUnit {
    pub file: String,
    pub reason: String,
    /// Failed twice: later builds skip it until it changes (or `--retry-failed`).
    pub quarantined: bool,
}

/// How many indexed units with errors `status` lists.
pub const ERRORS_LISTED: usize = 10;

#[derive(Debug, Serialize, JsonSchema)]
pub struct UnitWithErrors {
    pub file: String,
    /// How many errors its parse reported.
    pub errors: u64,
    /// The first, as `FILE:LINE:COLUMN: MESSAGE`.
    pub first: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UnitTiming {
    pub file: String,
    pub parse_ms: u64,
    pub worker_rss_bytes: u64,
    pub symbols: u64,
}

/// `running` is whether a build holds the database's lock now: a `running`
/// row without one was killed and reads as interrupted.
pub fn status(conn: &Connection, running: bool, slowest: usize) -> rusqlite::Result<Status> {
    let count = |sql: &str| {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    };
    let last_run = conn
        .query_row(
            "SELECT started_at, finished_at, status, indexed, failed, removed,
                    datetime(started_at, 'unixepoch') || ' UTC', datetime(finished_at, 'unixepoch') || ' UTC'
             FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(Run {
                    started_at: r.get(0)?,
                    finished_at: r.get(1)?,
                    status: run_state(r.get_ref(2)?.as_str()?),
                    indexed: r.get::<_, i64>(3)? as u64,
                    failed: r.get::<_, i64>(4)? as u64,
                    removed: r.get::<_, i64>(5)? as u64,
                    started: r.get(6)?,
                    finished: r.get(7)?,
                })
            },
        )
        .optional()?
        .map(|mut run| {
            if run.status == RunState::Running && !running {
                run.status = RunState::Interrupted;
            }
            run
        });
    let failed = conn
        .prepare(
            "SELECT f.path, coalesce(u.reason, ''), u.failures >= ?1 FROM units u JOIN files f ON f.id = u.file_id
             WHERE u.state = 'failed' ORDER BY f.path",
        )?
        .query_map([QUARANTINE_FAILURES], |r| Ok(FailedUnit { file: r.get(0)?, reason: r.get(1)?, quarantined: r.get(2)? }))?
        .collect::<rusqlite::Result<_>>()?;
    let slowest = conn
        .prepare(
            "SELECT f.path, u.parse_ms, coalesce(u.worker_rss, 0), coalesce(u.symbols, 0) FROM units u JOIN files f ON f.id = u.file_id
             WHERE u.parse_ms IS NOT NULL ORDER BY u.parse_ms DESC LIMIT ?1",
        )?
        .query_map([slowest as i64], |r| {
            Ok(UnitTiming {
                file: r.get(0)?,
                parse_ms: r.get::<_, i64>(1)? as u64,
                worker_rss_bytes: r.get::<_, i64>(2)? as u64,
                symbols: r.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let build_progress = match &last_run {
        Some(run) if running && run.status == RunState::Running => {
            let (done, pending) = conn.query_row(
                "SELECT count(*) FILTER (WHERE state = 'indexed' AND indexed_at >= ?1),
                        count(*) FILTER (WHERE state = 'pending')
                 FROM units",
                [run.started_at],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?;
            Some(BuildProgress {
                units_done: done,
                units_pending: pending,
                units_total: done + pending,
            })
        }
        _ => None,
    };
    let with_errors = conn
        .prepare(
            "SELECT f.path, count(*),
                    (SELECT coalesce(df.path, '?') || ':' || e.line || ':' || e.col || ': ' || e.message
                     FROM diagnostics e LEFT JOIN files df ON df.id = e.file_id
                     WHERE e.unit_id = u.id AND e.severity IN ('error', 'fatal') ORDER BY e.rowid LIMIT 1)
             FROM units u JOIN files f ON f.id = u.file_id JOIN diagnostics d ON d.unit_id = u.id
             WHERE u.state = 'indexed' AND d.severity IN ('error', 'fatal')
             GROUP BY u.id ORDER BY f.path LIMIT ?1",
        )?
        .query_map([ERRORS_LISTED as i64], |r| {
            Ok(UnitWithErrors {
                file: r.get(0)?,
                errors: r.get::<_, i64>(1)? as u64,
                first: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Status {
        files: count("SELECT count(*) FROM files")?,
        units: count("SELECT count(*) FROM units")?,
        units_indexed: count("SELECT count(*) FROM units WHERE state = 'indexed'")?,
        units_pending: count("SELECT count(*) FROM units WHERE state = 'pending'")?,
        units_failed: count("SELECT count(*) FROM units WHERE state = 'failed'")?,
        units_with_errors: count(
            "SELECT count(*) FROM units u WHERE u.state = 'indexed' AND EXISTS
             (SELECT 1 FROM diagnostics d WHERE d.unit_id = u.id AND d.severity IN ('error', 'fatal'))",
        )?,
        units_adjusted: count("SELECT count(*) FROM units WHERE changes IS NOT NULL")?,
        symbols: count("SELECT count(*) FROM symbols")?,
        references: count("SELECT count(*) FROM refs")?,
        last_run,
        query_indexes_deferred: query_indexes_deferred(conn)?,
        failed,
        with_errors,
        slowest,
        build_running: running,
        build_progress,
    })
}

/// One unit, for `indexer status --unit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Unit {
    pub file: String,
    pub directory: String,
    pub state: UnitState,
    pub reason: Option<String>,
    #[serde(flatten)]
    pub command: Command,
}

/// The unit whose main file is `path` (absolute, normalized), if any.
pub fn unit(conn: &Connection, path: &str) -> rusqlite::Result<Option<Unit>> {
    conn.query_row(
        "SELECT f.path, u.directory, u.state, u.reason, u.args, u.changes
         FROM units u JOIN files f ON f.id = u.file_id WHERE f.path = ?1",
        [path],
        |r| {
            Ok(Unit {
                file: r.get(0)?,
                directory: r.get(1)?,
                state: unit_state(r.get_ref(2)?.as_str()?)?,
                reason: r.get(3)?,
                command: Command::from_json(
                    r.get_ref(4)?.as_str()?,
                    r.get_ref(5)?.as_str_or_null()?,
                )?,
            })
        },
    )
    .optional()
}

/// A `runs.status` this version never writes reads as interrupted: the run
/// did not complete as far as this version can tell.
fn run_state(text: &str) -> RunState {
    RunState::parse(text).unwrap_or(RunState::Interrupted)
}

/// A `units.state`; anything else is a damaged row.
fn unit_state(text: &str) -> rusqlite::Result<UnitState> {
    UnitState::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown unit state `{text}`").into(),
        )
    })
}
