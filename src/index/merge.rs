//! `indexer merge OUT SHARD.db...`: shard databases (`build --shard K/N`)
//! combined into one index, as if one build had indexed every unit.
//!
//! Each shard is attached to OUT's connection in turn and copied by SQL
//! statements that join on paths and USRs, so the merge holds no rows in
//! memory and its footprint does not grow with the shards. A shard's units
//! replace OUT's units of the same files (a re-run shard replaces its
//! part), with their dependencies and diagnostics, so that a later plain
//! `indexer build` refreshes the merged index incrementally. A file's rows
//! (declarations, references, ...) are copied from the first shard that
//! emitted them unless OUT holds them for the same content already: the
//! rows a header yields are the same whichever unit emits them (see
//! docs/schema.md for the exceptions), so one copy is kept.
//!
//! Refused before anything is written: inputs that are not indexes of
//! this schema, shards whose last build did not complete, shards built
//! with another libclang than each other or than OUT, and two shards that
//! hold the same unit or file with different contents.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::db::{meta, open, set_meta, Access, IndexError};
use super::lock::BuildLock;
use super::maintenance::{
    checkpoint, collect_garbage, count, defer_query_indexes, is_empty, restore_query_indexes, Sweep,
};
use super::model::RunState;
use super::runs::{finish_run, start_run, RunRecord};
use super::writer::delete_file_rows;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{shard} is given twice: pass each shard once")]
    Repeated { shard: PathBuf },
    #[error("{shard} is the output: pass the merged index first, then the shards")]
    IsTheOutput { shard: PathBuf },
    #[error("{shard}: its last build did not complete ({state}): run that shard's build again, then merge")]
    Incomplete { shard: PathBuf, state: String },
    #[error("{shard} was built with {found}, but {other} with {expected}: build every shard with the same libclang (and merge into a new index)")]
    OtherLibclang {
        shard: PathBuf,
        found: String,
        other: PathBuf,
        expected: String,
    },
    #[error("{what} {path} differs between {first} and {second} (another compile command or content): build every shard from the same sources and compile commands")]
    Differs {
        what: &'static str,
        path: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl MergeError {
    /// Whether the inputs are wrong (a usage error) rather than the machine.
    pub fn is_usage(&self) -> bool {
        match self {
            MergeError::Index(e) => !matches!(
                e,
                IndexError::Sqlite { .. } | IndexError::Io { .. } | IndexError::DiskFull { .. }
            ),
            MergeError::Sqlite { .. } => false,
            _ => true,
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary {
    pub shards: u64,
    /// Units copied from the shards (replacing OUT's units of those files).
    pub units: u64,
    /// Files whose rows were copied; the others' were in OUT already.
    pub files_copied: u64,
    /// Rows in the merged index.
    pub units_total: u64,
    pub symbols: u64,
    pub references: u64,
    pub elapsed_s: f64,
}

/// Merges `shards` into the index at `out` (created if new).
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<MergeSummary, MergeError> {
    let started = Instant::now();
    let out_identity = identity(out);
    let mut seen = Vec::new();
    let mut libclang: Option<(PathBuf, String)> = None;
    for shard in shards {
        let id = identity(shard);
        if id.is_some() && id == out_identity {
            return Err(MergeError::IsTheOutput {
                shard: shard.clone(),
            });
        }
        if seen.contains(&id) && id.is_some() {
            return Err(MergeError::Repeated {
                shard: shard.clone(),
            });
        }
        seen.push(id);
        let conn = open(shard, Access::Read)?;
        let sql = |source| MergeError::Sqlite {
            path: shard.clone(),
            source,
        };
        let last: Option<String> = conn
            .query_row(
                "SELECT status FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if last.as_deref() != Some(RunState::Complete.as_str()) || BuildLock::is_held(shard) {
            return Err(MergeError::Incomplete {
                shard: shard.clone(),
                state: if BuildLock::is_held(shard) {
                    "it is running".to_owned()
                } else {
                    last.map_or("it never ran".to_owned(), |s| format!("it is {s}"))
                },
            });
        }
        let found = meta(&conn, "libclang").map_err(sql)?.unwrap_or_default();
        match &libclang {
            Some((other, expected)) if *expected != found => {
                return Err(MergeError::OtherLibclang {
                    shard: shard.clone(),
                    found,
                    other: other.clone(),
                    expected: expected.clone(),
                })
            }
            Some(_) => {}
            None => libclang = Some((shard.clone(), found)),
        }
    }

    let _lock = BuildLock::acquire(out)?;
    let conn = open(out, Access::Write)?;
    let sql = |source| MergeError::Sqlite {
        path: out.to_path_buf(),
        source,
    };
    if let Some((shard, expected)) = &libclang {
        let has_units: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM units)", [], |r| r.get(0))
            .map_err(sql)?;
        let found = meta(&conn, "libclang").map_err(sql)?;
        if let Some(found) = found.filter(|found| has_units && found != expected) {
            return Err(MergeError::OtherLibclang {
                shard: shard.clone(),
                found: expected.clone(),
                other: out.to_path_buf(),
                expected: found,
            });
        }
    }
    check_overlaps(&conn, out, shards)?;

    if is_empty(&conn).map_err(sql)? {
        defer_query_indexes(&conn).map_err(sql)?;
    }
    let (mut units, mut files_copied) = (0, 0);
    for shard in shards {
        let (u, f) = copy_shard(&conn, shard).map_err(|source| MergeError::Sqlite {
            path: shard.clone(),
            source,
        })?;
        units += u;
        files_copied += f;
    }
    if let Some((_, libclang)) = &libclang {
        set_meta(&conn, "libclang", libclang).map_err(sql)?;
        set_meta(&conn, "indexer", env!("CARGO_PKG_VERSION")).map_err(sql)?;
    }
    restore_query_indexes(&conn).map_err(sql)?;
    collect_garbage(&conn, Sweep::Everything).map_err(sql)?;
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let run = start_run(&tx).map_err(sql)?;
    tx.commit().map_err(sql)?;
    finish_run(
        &conn,
        run,
        &RunRecord {
            state: RunState::Complete,
            indexed: units,
            failed: 0,
            removed: 0,
        },
    )
    .map_err(sql)?;
    checkpoint(&conn);
    Ok(MergeSummary {
        shards: shards.len() as u64,
        units,
        files_copied,
        units_total: count(&conn, "units").map_err(sql)?,
        symbols: count(&conn, "symbols").map_err(sql)?,
        references: count(&conn, "refs").map_err(sql)?,
        elapsed_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    })
}

/// The file's device and inode, to tell two spellings of one path apart.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Refuses two shards that hold one unit with different commands or main
/// file contents, or one emitted file with different contents. What each
/// shard holds is gathered in temporary tables (on disk, like the others).
fn check_overlaps(conn: &Connection, out: &Path, shards: &[PathBuf]) -> Result<(), MergeError> {
    let prepare = |source| MergeError::Sqlite {
        path: out.to_path_buf(),
        source,
    };
    conn.execute_batch(
        "CREATE TEMP TABLE merging_units(path TEXT PRIMARY KEY, command INTEGER, hash INTEGER, shard INTEGER);
         CREATE TEMP TABLE merging_files(path TEXT PRIMARY KEY, hash INTEGER, shard INTEGER);",
    )
    .map_err(prepare)?;
    let result = shards.iter().enumerate().try_for_each(|(i, shard)| {
        let sql = |source| MergeError::Sqlite {
            path: shard.clone(),
            source,
        };
        attach(conn, shard).map_err(sql)?;
        let conflict = |what: &'static str, query: &str| -> Result<(), MergeError> {
            let found: Option<(String, usize)> = conn
                .query_row(query, [i], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(sql)?;
            match found {
                Some((path, first)) => Err(MergeError::Differs {
                    what,
                    path,
                    first: shards[first].clone(),
                    second: shard.clone(),
                }),
                None => Ok(()),
            }
        };
        let checked = conflict(
            "the unit",
            "SELECT m.path, m.shard FROM shard.units u JOIN shard.files f ON f.id = u.file_id
             JOIN temp.merging_units m ON m.path = f.path
             WHERE m.shard != ?1 AND (m.command != u.args_hash OR m.hash != f.hash) LIMIT 1",
        )
        .and_then(|()| {
            conflict(
                "the file",
                "SELECT m.path, m.shard FROM shard.files f JOIN temp.merging_files m ON m.path = f.path
                 WHERE f.indexed = 1 AND m.shard != ?1 AND m.hash != f.hash LIMIT 1",
            )
        })
        .and_then(|()| {
            conn.execute(
                "INSERT INTO temp.merging_units SELECT f.path, u.args_hash, f.hash, ?1
                 FROM shard.units u JOIN shard.files f ON f.id = u.file_id WHERE true
                 ON CONFLICT(path) DO NOTHING",
                [i],
            )
            .and_then(|_| {
                conn.execute(
                    "INSERT INTO temp.merging_files SELECT path, hash, ?1 FROM shard.files
                     WHERE indexed = 1 ON CONFLICT(path) DO NOTHING",
                    [i],
                )
            })
            .map(drop)
            .map_err(sql)
        });
        let detached = detach(conn).map_err(sql);
        checked.and(detached)
    });
    let dropped = conn
        .execute_batch("DROP TABLE temp.merging_units; DROP TABLE temp.merging_files;")
        .map_err(prepare);
    result.and(dropped)
}

fn attach(conn: &Connection, shard: &Path) -> rusqlite::Result<()> {
    conn.execute(
        "ATTACH DATABASE ?1 AS shard",
        [shard.to_string_lossy().as_ref()],
    )?;
    Ok(())
}

fn detach(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("DETACH DATABASE shard")
}

/// Copies one shard into OUT in one transaction; returns the units and
/// the files whose rows were copied.
fn copy_shard(conn: &Connection, shard: &Path) -> rusqlite::Result<(u64, u64)> {
    attach(conn, shard)?;
    let copied = copy_attached(conn);
    let detached = detach(conn);
    let copied = copied?;
    detached?;
    Ok(copied)
}

fn copy_attached(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    let tx = conn.unchecked_transaction()?;
    // Every file the shard knows, its rows' owners among them.
    tx.execute_batch(
        "INSERT INTO main.files(path, size, mtime_ns, hash, is_system, indexed)
             SELECT path, size, mtime_ns, hash, is_system, 0 FROM shard.files WHERE true
             ON CONFLICT(path) DO NOTHING;
         CREATE TEMP TABLE copied_files(shard_id INTEGER PRIMARY KEY, main_id INTEGER NOT NULL);
         INSERT INTO temp.copied_files
             SELECT sf.id, mf.id FROM shard.files sf JOIN main.files mf ON mf.path = sf.path
             WHERE sf.indexed = 1 AND (mf.indexed = 0 OR mf.hash != sf.hash);",
    )?;
    // OUT's rows of those files were extracted from other contents, or
    // there are none. (Streamed: SQLite lets the loop delete from the main
    // tables while it reads the temporary one.)
    let mut files = 0;
    {
        let mut stale = tx.prepare("SELECT main_id FROM temp.copied_files")?;
        let mut rows = stale.query([])?;
        while let Some(row) = rows.next()? {
            delete_file_rows(&tx, row.get(0)?)?;
            files += 1;
        }
    }
    tx.execute_batch(
        "UPDATE main.files SET size = sf.size, mtime_ns = sf.mtime_ns, hash = sf.hash,
                               is_system = sf.is_system, indexed = 1
             FROM (SELECT c.main_id, f.size, f.mtime_ns, f.hash, f.is_system
                   FROM temp.copied_files c JOIN shard.files f ON f.id = c.shard_id) AS sf
             WHERE main.files.id = sf.main_id;
         INSERT INTO main.symbols(usr, name, qualified_name, kind, type, underlying_type, canonical_type)
             SELECT usr, name, qualified_name, kind, type, underlying_type, canonical_type
             FROM shard.symbols WHERE true
             ON CONFLICT(usr) DO NOTHING;
         INSERT INTO main.decls(symbol_id, file_id, line, col, end_line, end_col, is_definition, container_id, doc)
             SELECT ms.id, c.main_id, d.line, d.col, d.end_line, d.end_col, d.is_definition, mc.id, d.doc
             FROM temp.copied_files c JOIN shard.decls d ON d.file_id = c.shard_id
             JOIN shard.symbols ss ON ss.id = d.symbol_id JOIN main.symbols ms ON ms.usr = ss.usr
             LEFT JOIN shard.symbols sc ON sc.id = d.container_id
             LEFT JOIN main.symbols mc ON mc.usr = sc.usr;
         INSERT INTO main.refs(symbol_id, file_id, line, col, roles, container_id)
             SELECT ms.id, c.main_id, r.line, r.col, r.roles, mc.id
             FROM temp.copied_files c JOIN shard.refs r ON r.file_id = c.shard_id
             JOIN shard.symbols ss ON ss.id = r.symbol_id JOIN main.symbols ms ON ms.usr = ss.usr
             LEFT JOIN shard.symbols sc ON sc.id = r.container_id
             LEFT JOIN main.symbols mc ON mc.usr = sc.usr;
         INSERT INTO main.bases(derived_id, base_id, file_id, line, col, is_virtual)
             SELECT md.id, mb.id, c.main_id, b.line, b.col, b.is_virtual
             FROM temp.copied_files c JOIN shard.bases b ON b.file_id = c.shard_id
             JOIN shard.symbols sd ON sd.id = b.derived_id JOIN main.symbols md ON md.usr = sd.usr
             JOIN shard.symbols sb ON sb.id = b.base_id JOIN main.symbols mb ON mb.usr = sb.usr;
         INSERT INTO main.overrides(method_id, overridden_id, file_id)
             SELECT mm.id, mo.id, c.main_id
             FROM temp.copied_files c JOIN shard.overrides o ON o.file_id = c.shard_id
             JOIN shard.symbols sm ON sm.id = o.method_id JOIN main.symbols mm ON mm.usr = sm.usr
             JOIN shard.symbols so ON so.id = o.overridden_id JOIN main.symbols mo ON mo.usr = so.usr;
         INSERT INTO main.includes(file_id, line, included_id)
             SELECT c.main_id, i.line, mi.id
             FROM temp.copied_files c JOIN shard.includes i ON i.file_id = c.shard_id
             JOIN shard.files si ON si.id = i.included_id JOIN main.files mi ON mi.path = si.path;",
    )?;
    // The shard's units replace OUT's units of the same files; their
    // dependencies and diagnostics go with them (ON DELETE CASCADE).
    tx.execute_batch(
        "DELETE FROM main.units WHERE file_id IN (
             SELECT mf.id FROM shard.units su JOIN shard.files sf ON sf.id = su.file_id
             JOIN main.files mf ON mf.path = sf.path);
         INSERT INTO main.units(file_id, directory, args, args_hash, state, reason, failures, parse_ms,
                                worker_rss, symbols, indexed_at, cost, changes, prelude_fell_back)
             SELECT mf.id, su.directory, su.args, su.args_hash, su.state, su.reason, su.failures, su.parse_ms,
                    su.worker_rss, su.symbols, su.indexed_at, su.cost, su.changes, su.prelude_fell_back
             FROM shard.units su JOIN shard.files sf ON sf.id = su.file_id JOIN main.files mf ON mf.path = sf.path;
         CREATE TEMP TABLE merged_units(shard_id INTEGER PRIMARY KEY, main_id INTEGER NOT NULL);
         INSERT INTO temp.merged_units
             SELECT su.id, mu.id FROM shard.units su JOIN shard.files sf ON sf.id = su.file_id
             JOIN main.files mf ON mf.path = sf.path JOIN main.units mu ON mu.file_id = mf.id;
         INSERT INTO main.unit_deps(unit_id, file_id, hash)
             SELECT m.main_id, mf.id, d.hash
             FROM temp.merged_units m JOIN shard.unit_deps d ON d.unit_id = m.shard_id
             JOIN shard.files sf ON sf.id = d.file_id JOIN main.files mf ON mf.path = sf.path;
         INSERT INTO main.diagnostics(unit_id, file_id, line, col, severity, message)
             SELECT m.main_id, mf.id, d.line, d.col, d.severity, d.message
             FROM temp.merged_units m JOIN shard.diagnostics d ON d.unit_id = m.shard_id
             LEFT JOIN shard.files sf ON sf.id = d.file_id LEFT JOIN main.files mf ON mf.path = sf.path;",
    )?;
    let units: i64 = tx.query_row("SELECT count(*) FROM temp.merged_units", [], |r| r.get(0))?;
    tx.execute_batch("DROP TABLE temp.copied_files; DROP TABLE temp.merged_units;")?;
    tx.commit()?;
    Ok((units as u64, files))
}
