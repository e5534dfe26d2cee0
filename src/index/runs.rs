//! The `runs` table: one row per build, how it ended and what it did.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::db::now_s;
use super::model::RunState;

/// A run's row id.
pub(crate) type RunId = i64;

/// Records a build as running, inside the refresh's transaction.
pub(crate) fn start_run(tx: &Transaction<'_>) -> rusqlite::Result<RunId> {
    tx.execute(
        "INSERT INTO runs(started_at, status, pid) VALUES (?1, ?2, ?3)",
        params![now_s(), RunState::Running.as_str(), std::process::id()],
    )?;
    Ok(tx.last_insert_rowid())
}

/// How the run before `run` ended, if there was one. A value this version
/// does not know counts as interrupted.
pub(crate) fn previous_run_state(
    conn: &Connection,
    run: RunId,
) -> rusqlite::Result<Option<RunState>> {
    let status: Option<String> = conn
        .query_row(
            "SELECT status FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT 1",
            [run],
            |r| r.get(0),
        )
        .optional()?;
    Ok(status.map(|s| RunState::parse(&s).unwrap_or(RunState::Interrupted)))
}

/// What a finished run did.
pub(crate) struct RunRecord {
    pub state: RunState,
    pub indexed: u64,
    pub failed: u64,
    pub removed: u64,
}

pub(crate) fn finish_run(
    conn: &Connection,
    run: RunId,
    record: &RunRecord,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET finished_at = ?2, status = ?3, indexed = ?4, failed = ?5, removed = ?6 WHERE id = ?1",
        params![
            run,
            now_s(),
            record.state.as_str(),
            record.indexed as i64,
            record.failed as i64,
            record.removed as i64
        ],
    )?;
    Ok(())
}

/// Marks a run interrupted when the writer failed and nothing else can be
/// recorded.
pub(crate) fn abandon_run(conn: &Connection, run: RunId) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET finished_at = ?2, status = ?3 WHERE id = ?1",
        params![run, now_s(), RunState::Interrupted.as_str()],
    )?;
    Ok(())
}
