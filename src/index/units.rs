//! The units table's state changes before a build: what the refresh asks
//! of the index (`refresh` decides; this module holds its SQL), the
//! dispatch costs, and the list of dirty units for `--explain`.
//!
//! Every statement here runs inside the refresh's transaction, which its
//! caller commits (or rolls back, for `--explain`).

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::db::{file_id, hash_to_sql, meta, set_meta};
use super::model::{Change, Command, Dirtiness, FAILED_BEFORE, QUARANTINE_FAILURES};
use crate::build::Dispatch;
use crate::discover::UnitSpec;

/// Records the libclang that will parse (and this program's version) and
/// returns the one the index was written with, if any.
pub(crate) fn swap_libclang(
    tx: &Transaction<'_>,
    libclang: &str,
) -> rusqlite::Result<Option<String>> {
    let previous = meta(tx, "libclang")?;
    set_meta(tx, "libclang", libclang)?;
    set_meta(tx, "indexer", env!("CARGO_PKG_VERSION"))?;
    Ok(previous)
}

/// Starts the list of the units this discovery finds: main files seen,
/// the other units were removed from the project. On disk, like every
/// temporary table here: it is as long as the project.
pub(crate) fn start_listing(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS live_units(file_id INTEGER PRIMARY KEY); DELETE FROM temp.live_units;",
    )
}

/// Lists `unit`, unless its file was listed before in this discovery (then
/// returns `false` and changes nothing). A new unit, or one whose command
/// hashes other than `command_hash`, becomes pending.
pub(crate) fn list_unit(
    tx: &Transaction<'_>,
    unit: &UnitSpec,
    command_hash: u64,
) -> rusqlite::Result<bool> {
    let file_id = main_file_id(tx, &unit.file)?;
    let first = tx
        .prepare_cached("INSERT OR IGNORE INTO temp.live_units(file_id) VALUES (?1)")?
        .execute([file_id])?
        == 1;
    if first {
        upsert_unit(tx, file_id, unit, hash_to_sql(command_hash))?;
    }
    Ok(first)
}

/// Removes the units this discovery did not list; returns how many.
pub(crate) fn remove_unlisted(tx: &Transaction<'_>) -> rusqlite::Result<u64> {
    let removed = tx.execute(
        "DELETE FROM units WHERE file_id NOT IN (SELECT file_id FROM temp.live_units)",
        [],
    )? as u64;
    tx.execute_batch("DROP TABLE temp.live_units")?;
    Ok(removed)
}

/// The `files` row of a unit's main file, created as a placeholder (which
/// always looks changed) if the file is new.
fn main_file_id(tx: &Transaction<'_>, path: &str) -> rusqlite::Result<i64> {
    if let Some(id) = file_id(tx, path)? {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO files(path, size, mtime_ns, hash, is_system) VALUES (?1, 0, 0, 0, 0)",
    )?
    .execute([path])?;
    Ok(tx.last_insert_rowid())
}

/// Makes sure `unit` (whose main file is `file_id`) has a row, pending if
/// it is new or its command changed.
fn upsert_unit(
    tx: &Transaction<'_>,
    file_id: i64,
    unit: &UnitSpec,
    args_hash: i64,
) -> rusqlite::Result<()> {
    let args = serde_json::to_string(&unit.args).expect("strings serialize");
    let changes = (!unit.changes.is_empty())
        .then(|| serde_json::to_string(&unit.changes).expect("strings serialize"));
    let existing: Option<(i64, i64)> = tx
        .prepare_cached("SELECT id, args_hash FROM units WHERE file_id = ?1")?
        .query_row([file_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match existing {
        Some((_, old_hash)) if old_hash == args_hash => Ok(()),
        Some((id, _)) => {
            tx.prepare_cached(
                "UPDATE units SET directory = ?2, args = ?3, args_hash = ?4, changes = ?5, state = 'pending',
                                  reason = ?6, failures = 0 WHERE id = ?1",
            )?
            .execute(params![
                id,
                unit.directory,
                args,
                args_hash,
                changes,
                Dirtiness::CommandChanged.to_string()
            ])?;
            Ok(())
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO units(file_id, directory, args, args_hash, changes, state, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
            )?
            .execute(params![
                file_id,
                unit.directory,
                args,
                args_hash,
                changes,
                Dirtiness::New.to_string()
            ])?;
            Ok(())
        }
    }
}

/// A file row as the refresh's scan sees it.
pub(crate) struct KnownFile {
    pub id: i64,
    pub path: String,
    pub size: i64,
    pub mtime_ns: i64,
    /// As stored (see [`hash_to_sql`]).
    pub hash: i64,
    /// Whether some unit emitted the file's rows.
    pub indexed: bool,
}

/// Up to `limit` file rows after the id `after`, in id order.
pub(crate) fn files_after(
    tx: &Transaction<'_>,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<KnownFile>> {
    tx.prepare_cached(
        "SELECT id, path, size, mtime_ns, hash, indexed FROM files WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?
    .query_map(params![after, limit], |r| {
        Ok(KnownFile {
            id: r.get(0)?,
            path: r.get(1)?,
            size: r.get(2)?,
            mtime_ns: r.get(3)?,
            hash: r.get(4)?,
            indexed: r.get(5)?,
        })
    })?
    .collect()
}

/// Records a file's new size and mtime (same content).
pub(crate) fn touch_file(
    tx: &Transaction<'_>,
    file: i64,
    size: i64,
    mtime_ns: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE files SET size = ?2, mtime_ns = ?3 WHERE id = ?1")?
        .execute(params![file, size, mtime_ns])?;
    Ok(())
}

/// Records the content of a file no unit emitted (see `refresh`).
pub(crate) fn set_file_content(
    tx: &Transaction<'_>,
    file: i64,
    size: i64,
    mtime_ns: i64,
    hash: u64,
) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE files SET size = ?2, mtime_ns = ?3, hash = ?4 WHERE id = ?1")?
        .execute(params![file, size, mtime_ns, hash_to_sql(hash)])?;
    Ok(())
}

/// Marks every unit that read `file` as pending, for `change`. The unit
/// whose main file it is says its content changed; the others name the
/// file. A new unit stays "new": its file's row is a placeholder that
/// always looks changed.
pub(crate) fn mark_dependents(
    tx: &Transaction<'_>,
    file: &KnownFile,
    change: Change,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE units SET state = 'pending', failures = 0,
                reason = CASE WHEN state = 'pending' AND reason = ?4 THEN reason
                              WHEN file_id = ?1 THEN ?2 ELSE ?3 END
         WHERE file_id = ?1 OR id IN (SELECT unit_id FROM unit_deps WHERE file_id = ?1)",
    )?
    .execute(params![
        file.id,
        Dirtiness::Content(change).to_string(),
        Dirtiness::File(file.path.clone(), change).to_string(),
        Dirtiness::New.to_string()
    ])?;
    Ok(())
}

/// Makes every unit pending, for `reason`.
pub(crate) fn mark_all_pending(tx: &Transaction<'_>, reason: &Dirtiness) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE units SET state = 'pending', reason = ?1, failures = 0, prelude_fell_back = 0",
        [reason.to_string()],
    )?;
    Ok(())
}

/// A project header no unit emitted (its claimant's worker died, or every
/// unit that read it had skipped its bodies) has no rows: the units that
/// read it are indexed again so that one of them emits it.
pub(crate) fn mark_readers_of_unindexed_headers(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE units SET state = 'pending', reason = (
             SELECT f.path || ' was never indexed' FROM unit_deps d JOIN files f ON f.id = d.file_id
             WHERE d.unit_id = units.id AND f.indexed = 0 AND f.is_system = 0 LIMIT 1)
         WHERE state = 'indexed' AND id IN (
             SELECT d.unit_id FROM unit_deps d JOIN files f ON f.id = d.file_id
             WHERE f.indexed = 0 AND f.is_system = 0)",
        [],
    )?;
    Ok(())
}

/// Gives failed units another attempt: every one (`quarantined_too`, for
/// `--retry-failed`, which also clears their count), or those not
/// quarantined.
pub(crate) fn retry_failed(tx: &Transaction<'_>, quarantined_too: bool) -> rusqlite::Result<()> {
    if quarantined_too {
        tx.execute(
            "UPDATE units SET state = 'pending', reason = ?1 || coalesce(reason, ''), failures = 0
             WHERE state = 'failed'",
            [FAILED_BEFORE],
        )?;
    } else {
        tx.execute(
            "UPDATE units SET state = 'pending', reason = ?1 || coalesce(reason, '')
             WHERE state = 'failed' AND failures < ?2",
            params![FAILED_BEFORE, QUARANTINE_FAILURES],
        )?;
    }
    Ok(())
}

/// Fails, quarantined, every unit that reads `file`, which is `what` (a
/// FIFO, a directory) instead of a regular file.
pub(crate) fn fail_readers_of_irregular(
    tx: &Transaction<'_>,
    file: &KnownFile,
    what: &'static str,
) -> rusqlite::Result<()> {
    let reason = Dirtiness::NotRegular {
        path: file.path.clone(),
        what,
    };
    tx.prepare_cached(
        "UPDATE units SET state = 'failed', failures = max(failures, ?3), reason = ?2
         WHERE file_id = ?1 OR id IN (SELECT unit_id FROM unit_deps WHERE file_id = ?1)",
    )?
    .execute(params![file.id, reason.to_string(), QUARANTINE_FAILURES])?;
    Ok(())
}

/// Sets the dispatch cost of every pending unit (see `plan`), which the
/// queue hands out highest first: its parse time in the previous run when
/// known, else its size (roughly a millisecond per kilobyte). For
/// [`Dispatch::Even`], the cost then becomes a key that orders the units by
/// their rank by cost modulo 10, then by rank: with `n` units,
/// `10n - ((rank % 10) * n + rank)`, from `10n` down to 1.
pub(crate) fn assign_costs(conn: &Connection, dispatch: Dispatch) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE units SET cost = coalesce(parse_ms, (SELECT size FROM files WHERE files.id = units.file_id) / 1024)
         WHERE state = 'pending'",
        [],
    )?;
    if dispatch == Dispatch::Even {
        conn.execute(
            "UPDATE units SET cost = 10 * ranked.n - ((ranked.r % 10) * ranked.n + ranked.r)
             FROM (SELECT id, row_number() OVER (ORDER BY cost DESC, id) - 1 AS r, count(*) OVER () AS n
                   FROM units WHERE state = 'pending') AS ranked
             WHERE units.id = ranked.id",
            [],
        )?;
    }
    Ok(())
}

/// How many units are in each state, and how many commands the command
/// stage adjusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UnitCounts {
    pub pending: u64,
    pub indexed: u64,
    pub failed: u64,
    pub adjusted: u64,
}

pub(crate) fn count_units(conn: &Connection) -> rusqlite::Result<UnitCounts> {
    conn.query_row(
        "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'indexed'),
                count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE changes IS NOT NULL)
         FROM units",
        [],
        |r| {
            Ok(UnitCounts {
                pending: r.get::<_, i64>(0)? as u64,
                indexed: r.get::<_, i64>(1)? as u64,
                failed: r.get::<_, i64>(2)? as u64,
                adjusted: r.get::<_, i64>(3)? as u64,
            })
        },
    )
}

/// Hands each dirty unit's path and reason to `visit`, in path order, for
/// `--explain`, with its command when the command stage changed it;
/// returns how many there were.
pub(crate) fn each_dirty_unit(
    conn: &Connection,
    mut visit: impl FnMut(&str, &str, Option<Command>),
) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare(
        "SELECT f.path, coalesce(u.reason, ''), u.args, u.changes FROM units u JOIN files f ON f.id = u.file_id
         WHERE u.state = 'pending' ORDER BY f.path",
    )?;
    let mut rows = stmt.query([])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let adjusted = match row.get_ref(3)?.as_str_or_null()? {
            Some(changes) => Some(Command::from_json(
                row.get_ref(2)?.as_str()?,
                Some(changes),
            )?),
            None => None,
        };
        visit(
            row.get_ref(0)?.as_str()?,
            row.get_ref(1)?.as_str()?,
            adjusted,
        );
        count += 1;
    }
    Ok(count)
}

/// Each unit's parse time in milliseconds, by its main file's path, for
/// balancing shards (`build --plan-from`). Units never parsed are left out.
pub(crate) fn unit_costs(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    conn.prepare(
        "SELECT f.path, u.parse_ms FROM units u JOIN files f ON f.id = u.file_id
         WHERE u.parse_ms IS NOT NULL",
    )?
    .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
    .collect()
}
