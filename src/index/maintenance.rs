//! Upkeep of the index around a build: the query indexes a bulk load
//! defers, garbage collection, counts and the WAL checkpoint.

use rusqlite::{Connection, OptionalExtension};

use super::db::set_meta;
use super::writer::delete_file_rows;

/// Secondary indexes that only queries and the end-of-build collection
/// read; the writer never does (it looks rows up by file, symbols by USR and
/// files by path, which other indexes serve).
pub(super) const QUERY_INDEXES: [&str; 11] = [
    "symbols_by_name",
    "symbols_by_qualified_name",
    "decls_by_symbol",
    "decls_by_container",
    "refs_by_symbol",
    "refs_by_container",
    "bases_by_derived",
    "bases_by_base",
    "overrides_by_method",
    "overrides_by_overridden",
    "includes_by_included",
];
/// Prefix of the `meta` keys that hold a deferred index's `CREATE INDEX`.
const DEFERRED_INDEX: &str = "deferred_index:";

/// Drops the [`QUERY_INDEXES`] before a bulk load (a first or `--full`
/// build): building each once, from sorted rows, at the end costs less than
/// keeping it ordered through every insert. Each one's SQL is kept in `meta`
/// first, so that whichever build completes next re-creates it, even if
/// this one is interrupted ([`restore_query_indexes`]).
pub(crate) fn defer_query_indexes(conn: &Connection) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    for name in QUERY_INDEXES {
        let sql: Option<String> = tx
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        // Already deferred by an interrupted build: its SQL is in `meta`.
        let Some(sql) = sql else { continue };
        set_meta(&tx, &format!("{DEFERRED_INDEX}{name}"), &sql)?;
        tx.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    tx.commit()
}

/// Re-creates the indexes [`defer_query_indexes`] dropped, in one
/// transaction; returns how many.
pub(crate) fn restore_query_indexes(conn: &Connection) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let deferred: Vec<(String, String)> = tx
        .prepare("SELECT key, value FROM meta WHERE key GLOB ?1 || '*'")?
        .query_map([DEFERRED_INDEX], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Each index's sort keeps as much in memory as the page cache holds (at
    // least SQLITE_SORTER_PMASZ pages, .cargo/config.toml) and spills the
    // rest to temporary files: with the writer's cache, that would be 512
    // KiB more for the supervisor at the end of every large first build.
    // The index's pages are written in order, so a small cache costs little.
    let cache: i64 = tx.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    tx.execute_batch("PRAGMA cache_size = -128")?;
    for (key, sql) in &deferred {
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
    }
    tx.pragma_update(None, "cache_size", cache)?;
    tx.commit()?;
    Ok(deferred.len())
}

/// Whether the index holds no declarations or references yet: a first
/// build is a bulk load.
pub(crate) fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM decls) AND NOT EXISTS (SELECT 1 FROM refs)",
        [],
        |r| r.get(0),
    )
}

/// Whether an interrupted bulk load left the query indexes dropped (queries
/// work, but scan).
pub(crate) fn query_indexes_deferred(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM meta WHERE key GLOB ?1 || '*')",
        [DEFERRED_INDEX],
        |r| r.get(0),
    )
}

/// Folds the WAL into the database so the file is self-contained. Best
/// effort: a reader holding an old snapshot only delays it.
pub(crate) fn checkpoint(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Which symbols [`collect_garbage`] checks for orphans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// Those that rows deleted on this connection named: enough when every
    /// earlier build ended with a collection. A no-op refresh then checks
    /// nothing, instead of every symbol of the index.
    Touched,
    /// All of them: after a build that was interrupted before collecting.
    Everything,
}

/// Deletes files that no unit reads any more, with their rows, and symbols
/// nothing mentions. Returns the number of files removed.
pub(crate) fn collect_garbage(conn: &Connection, sweep: Sweep) -> rusqlite::Result<u64> {
    let tx = conn.unchecked_transaction()?;
    let orphans: Vec<i64> = tx
        .prepare(
            "SELECT id FROM files f
             WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.file_id = f.id)
               AND NOT EXISTS (SELECT 1 FROM unit_deps d WHERE d.file_id = f.id)",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for &file in &orphans {
        delete_file_rows(&tx, file)?;
        tx.execute(
            "UPDATE diagnostics SET file_id = NULL WHERE file_id = ?1",
            [file],
        )?;
        tx.execute("DELETE FROM includes WHERE included_id = ?1", [file])?;
        tx.execute("DELETE FROM files WHERE id = ?1", [file])?;
    }
    let candidates = match sweep {
        Sweep::Touched => "temp.touched_symbols",
        Sweep::Everything => "symbols",
    };
    tx.execute_batch(&format!(
        "DELETE FROM symbols WHERE id IN (
             SELECT s.id FROM {candidates} s
             WHERE NOT EXISTS (SELECT 1 FROM decls WHERE symbol_id = s.id)
               AND NOT EXISTS (SELECT 1 FROM refs WHERE symbol_id = s.id)
               AND NOT EXISTS (SELECT 1 FROM refs WHERE container_id = s.id)
               AND NOT EXISTS (SELECT 1 FROM decls WHERE container_id = s.id)
               AND NOT EXISTS (SELECT 1 FROM bases WHERE derived_id = s.id OR base_id = s.id)
               AND NOT EXISTS (SELECT 1 FROM overrides WHERE method_id = s.id OR overridden_id = s.id));
         DELETE FROM temp.touched_symbols;"
    ))?;
    tx.commit()?;
    Ok(orphans.len() as u64)
}

/// Counts used by `status` and the build summary.
pub(crate) fn count(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    debug_assert!(table.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}
