//! The writer thread: the only write connection of a build.
//!
//! Everything a unit produced lands in one transaction together with that
//! unit's row and its files' rows, so a unit is never half-indexed,
//! whatever kills the process. Transactions are batched on a row/time
//! budget because one commit per unit would make the fsyncs, not libclang,
//! the bottleneck.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rusqlite::{params, Connection, OptionalExtension, ToSql, Transaction};
use rustc_hash::FxHashSet;

use super::db::{hash_to_sql, now_s};
use super::model::{Change, Dirtiness, QUARANTINE_FAILURES};
use crate::protocol::{FileIndex, SeenFile, Symbol, UnitId, UnitIndex};

/// A transaction is committed once it holds this many rows...
const COMMIT_ROWS: usize = 200_000;
/// ...or has been open this long, so queries see progress and an interrupt
/// loses little.
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);
/// What the writer thread is asked to store.
pub(crate) enum WriteOp {
    /// A unit's results. `seen` is every file the unit read, in the order
    /// the worker reported them; `index.files` name the granted ones.
    Indexed {
        seen: Vec<SeenFile>,
        index: Box<UnitIndex>,
    },
    /// A unit that could not be indexed; `quarantine` keeps later builds
    /// from retrying it until it changes.
    Failed {
        unit: UnitId,
        reason: String,
        quarantine: bool,
    },
    /// A unit whose worker crashed while parsing it with its prelude: it is
    /// parsed again as written, in this build and in the next that indexes
    /// it (`units.prelude_fell_back`), as after any other fallback.
    FellBack { unit: UnitId },
    /// A later unit of this build understood more of `header` and emits it
    /// instead (`supervise::claims`): `unit`'s results, if still to come,
    /// store nothing for it.
    Disowned { unit: UnitId, header: String },
}

/// What the writer did, for the build summary.
#[derive(Debug, Default, Clone)]
pub(crate) struct WriterStats {
    pub units_indexed: u64,
    /// Indexed units whose parse reported errors (a missing header, code
    /// clang rejects): their rows hold what clang understood.
    pub units_with_errors: u64,
    pub units_failed: u64,
    /// Time spent inside SQLite, to show the writer is not the bottleneck.
    pub busy: Duration,
}

/// Starts the writer thread. It stores every op it receives and returns the
/// connection when the channel closes, after a final commit.
pub(crate) fn spawn_writer(
    conn: Connection,
    ops: Receiver<WriteOp>,
) -> std::thread::JoinHandle<(Connection, Result<WriterStats, rusqlite::Error>)> {
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let result = write_all(&conn, ops);
            (conn, result)
        })
        .expect("spawning the writer thread")
}

fn write_all(conn: &Connection, ops: Receiver<WriteOp>) -> rusqlite::Result<WriterStats> {
    let mut stats = WriterStats::default();
    let mut tx: Option<(Transaction<'_>, Instant, usize)> = None;
    // `(unit, path key)` of the headers units lost before their results
    // came: few, one per header taken over while its first owner parsed.
    let mut disowned: FxHashSet<(UnitId, u64)> = FxHashSet::default();
    loop {
        // Wait for work only while nothing is pending; with an open
        // transaction, wake up in time to honour the commit interval.
        let op = match &tx {
            None => match ops.recv() {
                Ok(op) => Some(op),
                Err(_) => break,
            },
            Some((_, opened, _)) => match ops.recv_deadline(*opened + COMMIT_INTERVAL) {
                Ok(op) => Some(op),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            },
        };
        if let Some(op) = op {
            let started = Instant::now();
            if tx.is_none() {
                tx = Some((conn.unchecked_transaction()?, Instant::now(), 0));
            }
            let (t, _, rows) = tx.as_mut().expect("just opened");
            *rows += match op {
                WriteOp::Indexed { seen, index } => {
                    stats.units_indexed += 1;
                    stats.units_with_errors += u64::from(index.has_errors());
                    store_unit(t, &seen, &index, &mut disowned)?
                }
                WriteOp::Failed {
                    unit,
                    reason,
                    quarantine,
                } => {
                    stats.units_failed += 1;
                    store_failure(t, unit, &reason, quarantine)?
                }
                WriteOp::FellBack { unit } => t
                    .prepare_cached("UPDATE units SET prelude_fell_back = 1 WHERE id = ?1")?
                    .execute([i64::from(unit)])?,
                WriteOp::Disowned { unit, header } => {
                    disowned.insert((unit, crate::fingerprint::path_key(&header)));
                    0
                }
            };
            stats.busy += started.elapsed();
        }
        let due = tx.as_ref().is_some_and(|(_, opened, rows)| {
            *rows >= COMMIT_ROWS || opened.elapsed() >= COMMIT_INTERVAL
        });
        if due {
            let started = Instant::now();
            tx.take().expect("due implies open").0.commit()?;
            stats.busy += started.elapsed();
        }
    }
    if let Some((t, _, _)) = tx {
        let started = Instant::now();
        t.commit()?;
        stats.busy += started.elapsed();
    }
    Ok(stats)
}

/// The parameters of the statements that insert and update a symbol: the
/// row's `key` (its id or USR), then its attributes, ?2 to ?7.
fn attributes<'a>(key: &'a dyn ToSql, s: &'a Symbol) -> [&'a dyn ToSql; 7] {
    [
        key,
        &s.name,
        &s.qualified_name,
        &s.kind,
        &s.type_spelling,
        &s.underlying_type,
        &s.canonical_type,
    ]
}

/// Stores one unit's results and returns the number of rows written.
fn store_unit(
    tx: &Transaction<'_>,
    seen: &[SeenFile],
    index: &UnitIndex,
    disowned: &mut FxHashSet<(UnitId, u64)>,
) -> rusqlite::Result<usize> {
    let unit = i64::from(index.unit);
    let mut rows = 0;

    let file_ids = seen
        .iter()
        .map(|f| seen_file_id(tx, f))
        .collect::<rusqlite::Result<Vec<i64>>>()?;

    // Symbols are shared by every file; look each up once per unit. A
    // symbol's attributes follow its latest indexing: an edit may keep the
    // USR but change them (`struct S` becomes `class S`, `int x` `long x`).
    let mut symbol_ids = Vec::with_capacity(index.symbols.len());
    {
        let mut find = tx.prepare_cached(
            "SELECT id, name, qualified_name, kind, type, underlying_type, canonical_type FROM symbols WHERE usr = ?1",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO symbols(usr, name, qualified_name, kind, type, underlying_type, canonical_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE symbols SET name = ?2, qualified_name = ?3, kind = ?4, type = ?5,
                                underlying_type = ?6, canonical_type = ?7 WHERE id = ?1",
        )?;
        for s in &index.symbols {
            let found = find
                .query_row([&s.usr], |r| {
                    let current = (
                        r.get_ref(1)?.as_str()?,
                        r.get_ref(2)?.as_str()?,
                        r.get_ref(3)?.as_str()?,
                        r.get_ref(4)?.as_str()?,
                        r.get_ref(5)?.as_str_or_null()?,
                        r.get_ref(6)?.as_str_or_null()?,
                    );
                    Ok((
                        r.get::<_, i64>(0)?,
                        current
                            == (
                                &s.name[..],
                                &s.qualified_name[..],
                                s.kind.as_str(),
                                &s.type_spelling[..],
                                s.underlying_type.as_deref(),
                                s.canonical_type.as_deref(),
                            ),
                    ))
                })
                .optional()?;
            let id = match found {
                Some((id, true)) => id,
                Some((id, false)) => {
                    rows += update.execute(attributes(&id, s))?;
                    id
                }
                None => {
                    insert.execute(attributes(&s.usr, s))?;
                    rows += 1;
                    tx.last_insert_rowid()
                }
            };
            symbol_ids.push(id);
        }
    }
    let sym = |i: u32| symbol_ids[i as usize];
    let opt_sym = |i: Option<u32>| i.map(sym);

    for file in &index.files {
        let fid = file_ids[file.file as usize];
        let seen_file = &seen[file.file as usize];
        if disowned.remove(&(index.unit, crate::fingerprint::path_key(&seen_file.path))) {
            // The symbols only its rows named would stay without any: the
            // build's last sweep looks at them.
            let mut touch =
                tx.prepare_cached("INSERT OR IGNORE INTO temp.touched_symbols(id) VALUES (?1)")?;
            for symbol in file_symbols(file) {
                touch.execute([sym(symbol)])?;
            }
            continue;
        }
        rows += replace_file_rows(tx, fid, seen_file)?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO decls(symbol_id, file_id, line, col, end_line, end_col, is_definition, container_id, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for d in &file.decls {
            stmt.execute(params![
                sym(d.symbol),
                fid,
                d.line,
                d.column,
                d.extent.end_line,
                d.extent.end_column,
                d.is_definition,
                opt_sym(d.container),
                d.doc
            ])?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO refs(symbol_id, file_id, line, col, roles, container_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in &file.refs {
            stmt.execute(params![
                sym(r.symbol),
                fid,
                r.line,
                r.column,
                r.roles,
                opt_sym(r.container)
            ])?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO includes(file_id, line, included_id) VALUES (?1, ?2, ?3)",
        )?;
        for i in &file.includes {
            stmt.execute(params![fid, i.line, file_ids[i.included as usize]])?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO bases(derived_id, base_id, file_id, line, col, is_virtual) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for b in &file.bases {
            stmt.execute(params![
                sym(b.derived),
                sym(b.base),
                fid,
                b.line,
                b.column,
                b.is_virtual
            ])?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO overrides(method_id, overridden_id, file_id) VALUES (?1, ?2, ?3)",
        )?;
        for o in &file.overrides {
            stmt.execute(params![sym(o.method), sym(o.overridden), fid])?;
        }
        rows += file.decls.len()
            + file.refs.len()
            + file.includes.len()
            + file.bases.len()
            + file.overrides.len();
    }

    tx.prepare_cached("DELETE FROM unit_deps WHERE unit_id = ?1")?
        .execute([unit])?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO unit_deps(unit_id, file_id, hash) VALUES (?1, ?2, ?3)",
        )?;
        for (f, id) in seen.iter().zip(&file_ids) {
            stmt.execute(params![unit, id, hash_to_sql(f.hash)])?;
        }
    }
    tx.prepare_cached("DELETE FROM diagnostics WHERE unit_id = ?1")?
        .execute([unit])?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO diagnostics(unit_id, file_id, line, col, severity, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for d in &index.diagnostics {
            stmt.execute(params![
                unit,
                d.file.map(|f| file_ids[f as usize]),
                d.line,
                d.column,
                d.severity,
                d.message
            ])?;
        }
    }
    let symbol_count: usize = index.files.iter().map(|f| f.decls.len()).sum();
    // How the unit fared with its prelude, if it was given one;
    // a unit parsed as written without being given one keeps its record.
    let fell_back = match (index.used_prelude, index.prelude_discarded_ms) {
        (_, Some(_)) => Some(true),
        (true, None) => Some(false),
        (false, None) => None,
    };
    tx.prepare_cached(
        "UPDATE units SET state = 'indexed', reason = NULL, failures = 0, parse_ms = ?2, worker_rss = ?3,
                          symbols = ?4, indexed_at = ?5, prelude_fell_back = coalesce(?6, prelude_fell_back)
         WHERE id = ?1",
    )?
    .execute(params![
        unit,
        index.parse_ms,
        index.worker_rss as i64,
        symbol_count as i64,
        now_s(),
        fell_back
    ])?;
    Ok(rows + seen.len() + index.diagnostics.len() + 1)
}

/// The symbols a file's rows name (as indices into the unit's symbols).
fn file_symbols(file: &FileIndex) -> impl Iterator<Item = u32> + '_ {
    let decls = file
        .decls
        .iter()
        .flat_map(|d| [Some(d.symbol), d.container]);
    let refs = file.refs.iter().flat_map(|r| [Some(r.symbol), r.container]);
    let bases = file
        .bases
        .iter()
        .flat_map(|b| [Some(b.derived), Some(b.base)]);
    let overrides = file
        .overrides
        .iter()
        .flat_map(|o| [Some(o.method), Some(o.overridden)]);
    decls.chain(refs).chain(bases).chain(overrides).flatten()
}

/// The id of a file's row, created if the file is new. An existing row is
/// left alone: its hash describes the content its rows were indexed from,
/// which only the unit that emits the file may change.
fn seen_file_id(tx: &Transaction<'_>, f: &SeenFile) -> rusqlite::Result<i64> {
    if let Some(id) = super::db::file_id(tx, &f.path)? {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO files(path, size, mtime_ns, hash, is_system) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        f.path,
        f.size as i64,
        f.mtime_ns,
        hash_to_sql(f.hash),
        f.system
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Drops a file's previous rows before its new ones are inserted, records
/// the content they now describe, and — if that content changed — marks
/// every other unit that read the old content as pending. That last step
/// keeps an invariant the refresh relies on: an `indexed` unit's recorded
/// dependency hashes match the files table.
fn replace_file_rows(tx: &Transaction<'_>, file: i64, seen: &SeenFile) -> rusqlite::Result<usize> {
    let mut rows = delete_file_rows(tx, file)?;
    tx.prepare_cached(
        "UPDATE units SET state = 'pending', reason = ?3
         WHERE state = 'indexed' AND id IN (SELECT unit_id FROM unit_deps WHERE file_id = ?1 AND hash != ?2)",
    )?
    .execute(params![file, hash_to_sql(seen.hash), Dirtiness::File(seen.path.clone(), Change::Changed).to_string()])?;
    rows += tx
        .prepare_cached("UPDATE files SET size = ?2, mtime_ns = ?3, hash = ?4, is_system = ?5, indexed = 1 WHERE id = ?1")?
        .execute(params![file, seen.size as i64, seen.mtime_ns, hash_to_sql(seen.hash), seen.system])?;
    Ok(rows)
}

/// Deletes the rows located in a file (not the file's own row), noting the
/// symbols they named for the garbage collection.
pub(crate) fn delete_file_rows(tx: &Connection, file: i64) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO temp.touched_symbols(id)
         SELECT symbol_id FROM decls WHERE file_id = ?1
         UNION SELECT container_id FROM decls WHERE file_id = ?1 AND container_id IS NOT NULL
         UNION SELECT symbol_id FROM refs WHERE file_id = ?1
         UNION SELECT container_id FROM refs WHERE file_id = ?1 AND container_id IS NOT NULL
         UNION SELECT derived_id FROM bases WHERE file_id = ?1
         UNION SELECT base_id FROM bases WHERE file_id = ?1
         UNION SELECT method_id FROM overrides WHERE file_id = ?1
         UNION SELECT overridden_id FROM overrides WHERE file_id = ?1",
    )?
    .execute([file])?;
    let mut rows = 0;
    for sql in [
        "DELETE FROM decls WHERE file_id = ?1",
        "DELETE FROM refs WHERE file_id = ?1",
        "DELETE FROM includes WHERE file_id = ?1",
        "DELETE FROM bases WHERE file_id = ?1",
        "DELETE FROM overrides WHERE file_id = ?1",
    ] {
        rows += tx.prepare_cached(sql)?.execute([file])?;
    }
    Ok(rows)
}

fn store_failure(
    tx: &Transaction<'_>,
    unit: UnitId,
    reason: &str,
    quarantine: bool,
) -> rusqlite::Result<usize> {
    // A failed unit's old rows stay: stale data about a file beats none, and
    // the unit's state says it is not current.
    tx.prepare_cached(
        "UPDATE units SET state = 'failed', reason = ?2, failures = ?3 WHERE id = ?1",
    )?
    .execute(params![
        i64::from(unit),
        reason,
        if quarantine { QUARANTINE_FAILURES } else { 1 }
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::maintenance::{collect_garbage, Sweep};
    use crate::index::model::SymbolKind;
    use crate::protocol::{Decl, Span};

    fn symbol(name: &str) -> Symbol {
        Symbol {
            usr: format!("c:@F@{name}"),
            name: name.into(),
            qualified_name: name.into(),
            kind: SymbolKind::Function,
            type_spelling: String::new(),
            underlying_type: None,
            canonical_type: None,
        }
    }

    /// A file's data: one declaration of the unit's symbol `symbol`.
    fn declaring(file: u32, symbol: u32) -> FileIndex {
        let extent = Span {
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 9,
        };
        FileIndex {
            file,
            decls: vec![Decl {
                symbol,
                line: 1,
                column: 5,
                extent,
                is_definition: false,
                container: None,
                doc: None,
            }],
            ..FileIndex::default()
        }
    }

    fn names(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Issue 15: a unit whose header a later unit took over stores nothing
    /// for it when its results come after, and the symbols only those rows
    /// named are collected.
    #[test]
    fn a_unit_stores_nothing_for_a_header_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::index::open(&dir.path().join("index.db"), crate::index::Access::Write).unwrap();
        conn.execute_batch(
            "INSERT INTO files(id, path, size, mtime_ns, hash, is_system) VALUES (1, '/p/a.cpp', 1, 0, 1, 0);
             INSERT INTO units(id, file_id, directory, args, args_hash, state)
                 VALUES (1, 1, '/p', '[]', 0, 'pending');",
        )
        .unwrap();
        let (ops, received) = crossbeam_channel::unbounded();
        let writer = spawn_writer(conn, received);
        ops.send(WriteOp::Disowned {
            unit: 1,
            header: "/p/h.h".into(),
        })
        .unwrap();
        ops.send(WriteOp::Indexed {
            seen: vec![SeenFile::project("/p/a.cpp"), SeenFile::project("/p/h.h")],
            index: Box::new(UnitIndex {
                unit: 1,
                parse_ms: 1,
                used_prelude: false,
                used_project_prelude: false,
                prelude_discarded_ms: None,
                worker_rss: 0,
                worker_resident: 0,
                files: vec![declaring(0, 0), declaring(1, 1)],
                symbols: vec![symbol("in_main"), symbol("only_in_header")],
                diagnostics: Vec::new(),
            }),
        })
        .unwrap();
        drop(ops);
        let (conn, stats) = writer.join().unwrap();
        assert_eq!(stats.unwrap().units_indexed, 1);
        let declared = "SELECT f.path FROM decls d JOIN files f ON f.id = d.file_id";
        assert_eq!(names(&conn, declared), ["/p/a.cpp"]);
        collect_garbage(&conn, Sweep::Touched).unwrap();
        assert_eq!(names(&conn, "SELECT name FROM symbols"), ["in_main"]);
    }
}
