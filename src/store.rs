//! The SQLite database: opening it, its schema, the build lock and the
//! writer thread.
//!
//! One function, [`open`], opens the database for every command: it sets the
//! pragmas, refuses files that are not ours or come from a newer `indexer`,
//! and creates the schema in one transaction. During a build a single writer
//! thread ([`spawn_writer`]) owns the write connection; everything a unit
//! produced lands in one transaction together with that unit's row and its
//! files' rows, so a unit is never half-indexed, whatever kills the process.
//! Transactions are batched on a row/time budget because one commit per unit
//! would make the fsyncs, not libclang, the bottleneck.
//!
//! Readers (queries, `status`) use WAL and may run while a build writes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use crate::protocol::{SeenFile, UnitId, UnitIndex};

/// The schema version this binary reads and writes (`PRAGMA user_version`).
pub(crate) const SCHEMA_VERSION: i64 = 3;
const SCHEMA: &str = include_str!("schema.sql");
/// `MIGRATIONS[v - 1]` brings schema `v` to `v + 1`: an index written by an
/// older `indexer` is upgraded by the next build, never rebuilt.
const MIGRATIONS: [&str; 2] = [
    "ALTER TABLE units ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX units_by_cost ON units(cost DESC, id) WHERE state = 'pending';",
    // A unit indexed before the command stage keeps its arguments until
    // its command is discovered again: the refresh then sees the changed
    // arguments (and changes) and indexes it anew.
    "ALTER TABLE units ADD COLUMN changes TEXT;",
];

/// Prepared statements kept per connection: more than the writer uses.
const STATEMENT_CACHE: usize = 64;
/// A transaction is committed once it holds this many rows...
const COMMIT_ROWS: usize = 200_000;
/// ...or has been open this long, so queries see progress and an interrupt
/// loses little.
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no index at {path}: run `indexer build` first (or pass --db)")]
    Missing { path: PathBuf },
    #[error("{path} is not an indexer database (not SQLite, or damaged): move it away or pass another --db; it is never overwritten")]
    NotADatabase { path: PathBuf },
    #[error("{path} is corrupt ({detail}): delete it and run `indexer build` again")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} was written by a newer indexer (schema {found}, this one knows {supported}): use that version, or pass another --db")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path} was written by an older indexer (schema {found}): run `indexer build` to upgrade it")]
    OlderSchema { path: PathBuf, found: i64 },
    #[error("{path} is not an indexer database (it has other tables): pass another --db")]
    Foreign { path: PathBuf },
    #[error("{path} is {what}, not a regular file: pass --db with the path of an index file (it need not exist yet)")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{path} is read-only: fix its permissions (and its directory's) or pass another --db")]
    ReadOnly { path: PathBuf },
    #[error("{path}: the disk is full ({detail}): free some space, or pass another --db")]
    DiskFull { path: PathBuf, detail: String },
    #[error("another build (pid {pid}) is running on {path}: wait for it, or stop it")]
    Locked { path: PathBuf, pid: String },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: source.to_string(),
            },
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) if is_read_only(&path) => {
                StoreError::ReadOnly { path }
            }
            // With no room left SQLite often fails to grow the WAL index
            // (`-shm`) first, which it reports as a mere I/O error.
            Some(ErrorCode::DiskFull) | Some(ErrorCode::SystemIoFailure) if is_disk_full(&path) => {
                StoreError::DiskFull {
                    path,
                    detail: source.to_string(),
                }
            }
            _ => StoreError::Sqlite { path, source },
        }
    }
}

fn is_read_only(path: &Path) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) != 0 }
}

/// Whether the file system holding `path` has (almost) no room left.
fn is_disk_full(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statvfs on a valid NUL-terminated path into a zeroed struct.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut stat) == 0
            && (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) < 1 << 20
    }
}

/// How a command means to use the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `build`: create it if missing.
    Write,
    /// Queries: it must exist; nothing is created.
    Read,
}

/// Refuses a database path that names something other than a regular file
/// (a device, a directory, a FIFO), before SQLite or the build lock create
/// anything beside it (`/dev/null.lock`, `/dev/null-journal`).
pub(crate) fn check_is_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) => match crate::discover::not_regular(&meta) {
            Some(what) => Err(StoreError::NotAFile {
                path: path.to_path_buf(),
                what,
            }),
            None => Ok(()),
        },
        // Missing: a new index (or, for a query, `Missing` below).
        Err(_) => Ok(()),
    }
}

/// Opens the database at `path`, the one way every command does.
pub fn open(path: &Path, access: Access) -> Result<Connection, StoreError> {
    check_is_file(path)?;
    let flags = match access {
        Access::Write => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        }
        Access::Read => {
            if !path.exists() {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                });
            }
            OpenFlags::SQLITE_OPEN_READ_ONLY
        }
    };
    if access == Access::Write && path.exists() && is_read_only(path) {
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::sqlite(path, e))?;
    configure(&conn, access).map_err(|e| StoreError::sqlite(path, e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::sqlite(path, e))?;
    match version {
        SCHEMA_VERSION => Ok(conn),
        v if v > SCHEMA_VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: SCHEMA_VERSION,
        }),
        0 => {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| StoreError::sqlite(path, e))?;
            if tables != 0 {
                return Err(StoreError::Foreign {
                    path: path.to_path_buf(),
                });
            }
            if access == Access::Read {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                });
            }
            create_schema(&conn).map_err(|e| StoreError::sqlite(path, e))?;
            Ok(conn)
        }
        v if v >= 1 && access == Access::Write => {
            migrate(&conn, v).map_err(|e| StoreError::sqlite(path, e))?;
            Ok(conn)
        }
        v if v >= 1 => Err(StoreError::OlderSchema {
            path: path.to_path_buf(),
            found: v,
        }),
        // Versions start at 1; anything else comes from a foreign file.
        _ => Err(StoreError::Foreign {
            path: path.to_path_buf(),
        }),
    }
}

/// Upgrades schema `from` to [`SCHEMA_VERSION`] in one transaction.
fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    for step in &MIGRATIONS[from as usize - 1..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

fn configure(conn: &Connection, access: Access) -> rusqlite::Result<()> {
    // Readers wait for the writer's short commits instead of failing.
    conn.busy_timeout(Duration::from_secs(10))?;
    // The writer runs a few dozen distinct statements per unit; with
    // rusqlite's default of 16 they evicted each other and every unit
    // compiled them again (13% of the writer's time at 50k units).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if access == Access::Write {
        // WAL: readers never block the writer and a crash mid-commit leaves
        // the last committed state. NORMAL sync is durable across process
        // crashes; a power loss may drop the last commits, never corrupt.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        debug_assert_eq!(mode, "wal");
        // Temporary storage stays on disk (the default): with it in memory,
        // the statement journal of an UPDATE touching every unit (`--full`)
        // held a copy of the whole units table, 9 MB at 50k units.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )?;
        // The page caches are what would grow with the index; capped (512
        // KiB for the writer, 256 KiB per reader, 128 or 64 KiB for their
        // temporary tables), the OS page cache still serves what they miss,
        // and the supervisor's memory stays flat from a thousand units to
        // fifty thousand. (A writer cache of 1 MiB was no faster at 50k
        // units; readers at 64 or 128 KiB looked slower.)
        conn.execute_batch("PRAGMA cache_size = -512; PRAGMA temp.cache_size = -128;")?;
        // Symbols that rows deleted on this connection pointed to: the only
        // ones that can have become orphans (see `collect_garbage`).
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS touched_symbols(id INTEGER PRIMARY KEY);",
        )?;
    } else {
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA cache_size = -256; PRAGMA temp.cache_size = -64;",
        )?;
    }
    Ok(())
}

fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Secondary indexes that only queries and the end-of-build collection
/// read; the writer never does (it looks rows up by file, symbols by USR and
/// files by path, which other indexes serve).
const QUERY_INDEXES: [&str; 10] = [
    "symbols_by_name",
    "symbols_by_qualified_name",
    "decls_by_symbol",
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

/// Reads `meta[key]`.
pub(crate) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
    Ok(())
}

/// How a build's run ended, as the `runs` table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    /// The build is running (or was killed outright: `status` reads such a
    /// row as interrupted when no build holds the lock).
    Running,
    Complete,
    Interrupted,
}

impl RunState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Interrupted => "interrupted",
        }
    }

    /// `None` for a value this version never writes.
    pub(crate) fn parse(text: &str) -> Option<RunState> {
        [RunState::Running, RunState::Complete, RunState::Interrupted]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

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

/// Folds the WAL into the database so the file is self-contained. Best
/// effort: a reader holding an old snapshot only delays it.
pub(crate) fn checkpoint(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Seconds since the epoch, for the `runs` table.
pub(crate) fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Hashes are stored in SQLite's signed 64-bit integers.
pub(crate) fn hash_to_sql(hash: u64) -> i64 {
    hash as i64
}

/// The exclusive right to build into one database, held for the life of
/// the build. It is an `flock` on `<db>.lock`, so it disappears with the
/// process however that process ends: no stale lock after a SIGKILL.
pub struct BuildLock {
    _file: File,
}

fn lock_path(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

impl BuildLock {
    /// Whether a build holds the lock now. Only probes: takes a shared lock
    /// for an instant and writes nothing, so it never gets in a build's way.
    pub fn is_held(db: &Path) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(file) = File::open(lock_path(db)) else {
            return false;
        };
        // SAFETY: flock on a descriptor we own; released when it closes.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
    }

    pub(crate) fn acquire(db: &Path) -> Result<BuildLock, StoreError> {
        check_is_file(db)?;
        let path = lock_path(db);
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        // The lock is taken before the database is opened (and its
        // directory created), so a first build must create the directory.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(StoreError::Locked {
                path: db.to_path_buf(),
                pid: pid.trim().to_string(),
            });
        }
        file.set_len(0).map_err(io_err)?;
        write!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(BuildLock { _file: file })
    }
}

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
}

/// What the writer did, for the build summary.
#[derive(Debug, Default, Clone)]
pub(crate) struct WriterStats {
    pub units_indexed: u64,
    pub units_failed: u64,
    pub commits: u64,
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
                    store_unit(t, &seen, &index)?
                }
                WriteOp::Failed {
                    unit,
                    reason,
                    quarantine,
                } => {
                    stats.units_failed += 1;
                    store_failure(t, unit, &reason, quarantine)?
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
            stats.commits += 1;
            stats.busy += started.elapsed();
        }
    }
    if let Some((t, _, _)) = tx {
        let started = Instant::now();
        t.commit()?;
        stats.commits += 1;
        stats.busy += started.elapsed();
    }
    Ok(stats)
}

/// Stores one unit's results and returns the number of rows written.
fn store_unit(
    tx: &Transaction<'_>,
    seen: &[SeenFile],
    index: &UnitIndex,
) -> rusqlite::Result<usize> {
    let unit = i64::from(index.unit);
    let mut rows = 0;

    let file_ids = seen
        .iter()
        .map(|f| file_id(tx, f))
        .collect::<rusqlite::Result<Vec<i64>>>()?;

    // Symbols are shared by every file; look each up once per unit. A
    // symbol's attributes follow its latest indexing: an edit may keep the
    // USR but change them (`struct S` becomes `class S`, `int x` `long x`).
    let mut symbol_ids = Vec::with_capacity(index.symbols.len());
    {
        let mut find = tx.prepare_cached(
            "SELECT id, name, qualified_name, kind, type FROM symbols WHERE usr = ?1",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO symbols(usr, name, qualified_name, kind, type) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE symbols SET name = ?2, qualified_name = ?3, kind = ?4, type = ?5 WHERE id = ?1",
        )?;
        for s in &index.symbols {
            let found = find
                .query_row([&s.usr], |r| {
                    let current = (
                        r.get_ref(1)?.as_str()?,
                        r.get_ref(2)?.as_str()?,
                        r.get_ref(3)?.as_str()?,
                        r.get_ref(4)?.as_str()?,
                    );
                    Ok((
                        r.get::<_, i64>(0)?,
                        current
                            == (
                                &s.name[..],
                                &s.qualified_name[..],
                                &s.kind[..],
                                &s.type_spelling[..],
                            ),
                    ))
                })
                .optional()?;
            let id = match found {
                Some((id, true)) => id,
                Some((id, false)) => {
                    rows += update.execute(params![
                        id,
                        s.name,
                        s.qualified_name,
                        s.kind,
                        s.type_spelling
                    ])?;
                    id
                }
                None => {
                    insert.execute(params![
                        s.usr,
                        s.name,
                        s.qualified_name,
                        s.kind,
                        s.type_spelling
                    ])?;
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
        rows += replace_file_rows(tx, fid, seen_file)?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO decls(symbol_id, file_id, line, col, end_line, end_col, is_definition, container_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                opt_sym(d.container)
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
    tx.prepare_cached(
        "UPDATE units SET state = 'indexed', reason = NULL, failures = 0, parse_ms = ?2, worker_rss = ?3,
                          symbols = ?4, indexed_at = ?5 WHERE id = ?1",
    )?
    .execute(params![unit, index.parse_ms, index.worker_rss as i64, symbol_count as i64, now_s()])?;
    Ok(rows + seen.len() + index.diagnostics.len() + 1)
}

/// The id of a file's row, created if the file is new. An existing row is
/// left alone: its hash describes the content its rows were indexed from,
/// which only the unit that emits the file may change.
fn file_id(tx: &Transaction<'_>, f: &SeenFile) -> rusqlite::Result<i64> {
    if let Some(id) = tx
        .prepare_cached("SELECT id FROM files WHERE path = ?1")?
        .query_row([&f.path], |r| r.get(0))
        .optional()?
    {
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
    .execute(params![file, hash_to_sql(seen.hash), format!("{} changed", seen.path)])?;
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
        if quarantine { 2 } else { 1 }
    ])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database holding one unit's file with a declaration of `kept` and
    /// a reference to `dropped`, and a symbol `stray` that nothing names.
    fn small_index(dir: &Path) -> Connection {
        let conn = open(&dir.join("index.db"), Access::Write).unwrap();
        conn.execute_batch(
            "INSERT INTO files(id, path, size, mtime_ns, hash, is_system, indexed)
                 VALUES (1, '/p/a.c', 0, 0, 0, 0, 1);
             INSERT INTO units(id, file_id, directory, args, args_hash, state)
                 VALUES (1, 1, '/p', '[]', 0, 'indexed');
             INSERT INTO symbols(id, usr, name, qualified_name, kind, type) VALUES
                 (1, 'c:@F@kept', 'kept', 'kept', 'function', ''),
                 (2, 'c:@F@dropped', 'dropped', 'dropped', 'function', ''),
                 (3, 'c:@F@stray', 'stray', 'stray', 'function', '');
             INSERT INTO decls(symbol_id, file_id, line, col, end_line, end_col, is_definition)
                 VALUES (1, 1, 1, 5, 1, 20, 1);
             INSERT INTO refs(symbol_id, file_id, line, col, roles, container_id)
                 VALUES (2, 1, 1, 12, 32, 1);",
        )
        .unwrap();
        conn
    }

    fn symbol_names(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT name FROM symbols ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn indexes(conn: &Connection) -> Vec<(String, String)> {
        conn.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn deferred_query_indexes_come_back_exactly_once_restored() {
        let dir = tempfile::tempdir().unwrap();
        let conn = small_index(dir.path());
        let complete = indexes(&conn);
        assert!(!query_indexes_deferred(&conn).unwrap());

        defer_query_indexes(&conn).unwrap();
        let left: Vec<String> = indexes(&conn).into_iter().map(|(name, _)| name).collect();
        assert_eq!(left.len(), complete.len() - QUERY_INDEXES.len());
        assert!(left
            .iter()
            .all(|name| !QUERY_INDEXES.contains(&name.as_str())));
        assert!(query_indexes_deferred(&conn).unwrap());
        // A second bulk load after an interruption finds them gone and
        // keeps what the first one saved.
        defer_query_indexes(&conn).unwrap();

        assert_eq!(restore_query_indexes(&conn).unwrap(), QUERY_INDEXES.len());
        assert_eq!(indexes(&conn), complete);
        assert!(!query_indexes_deferred(&conn).unwrap());
        assert_eq!(restore_query_indexes(&conn).unwrap(), 0);
    }

    #[test]
    fn collection_after_deleting_rows_removes_the_symbols_they_named() {
        let dir = tempfile::tempdir().unwrap();
        let conn = small_index(dir.path());
        // The file is re-emitted without its reference to `dropped`.
        delete_file_rows(&conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO decls(symbol_id, file_id, line, col, end_line, end_col, is_definition)
                 VALUES (1, 1, 1, 5, 1, 20, 1);",
        )
        .unwrap();
        collect_garbage(&conn, Sweep::Touched).unwrap();
        // `stray` was named by no deleted row, so only a full sweep sees it.
        assert_eq!(symbol_names(&conn), ["kept", "stray"]);
        collect_garbage(&conn, Sweep::Everything).unwrap();
        assert_eq!(symbol_names(&conn), ["kept"]);
    }

    #[test]
    fn a_collection_with_nothing_deleted_keeps_every_symbol_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let conn = small_index(dir.path());
        collect_garbage(&conn, Sweep::Touched).unwrap();
        assert_eq!(symbol_names(&conn), ["kept", "dropped", "stray"]);
        collect_garbage(&conn, Sweep::Everything).unwrap();
        assert_eq!(symbol_names(&conn), ["kept", "dropped"]);
    }

    #[test]
    fn a_new_database_gets_the_schema_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/index.db");
        drop(open(&path, Access::Write).unwrap());
        let conn = open(&path, Access::Read).unwrap();
        assert_eq!(count(&conn, "files").unwrap(), 0);
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        std::fs::write(
            &path,
            b"this is not a database, it is a text file with enough bytes to look like a header",
        )
        .unwrap();
        let err = open(&path, Access::Write).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
        assert!(std::fs::read(&path).unwrap().starts_with(b"this is not"));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        drop(open(&path, Access::Write).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = open(&path, Access::Write).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
    }

    #[test]
    fn an_older_schema_is_upgraded_by_a_build_and_refused_by_queries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let old = Connection::open(&path).unwrap();
        // The schema as version 1 of this program created it.
        old.execute_batch(include_str!("../testdata/schema-1.sql"))
            .unwrap();
        old.execute_batch(
            "INSERT INTO files(id, path, size, mtime_ns, hash, is_system) VALUES (1, '/p/a.c', 4096, 0, 0, 0);
             INSERT INTO units(file_id, directory, args, args_hash, state) VALUES (1, '/p', '[]', 0, 'indexed');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(old);

        let err = open(&path, Access::Read).unwrap_err();
        assert!(
            matches!(err, StoreError::OlderSchema { found: 1, .. }),
            "{err}"
        );
        let conn = open(&path, Access::Write).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let (state, cost, changes): (String, i64, Option<String>) = conn
            .query_row("SELECT state, cost, changes FROM units", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((state.as_str(), cost, changes), ("indexed", 0, None));
        // The migrations repeat parts of schema.sql: what they build must
        // be what a new index gets.
        let fresh = Connection::open_in_memory().unwrap();
        fresh.execute_batch(SCHEMA).unwrap();
        assert_eq!(shape(&conn), shape(&fresh));
        drop(conn);
        open(&path, Access::Read).unwrap();
    }

    /// Every table's columns (name, type, not null, default, key) and every
    /// index's definition.
    fn shape(conn: &Connection) -> Vec<String> {
        let mut shape: Vec<String> = conn
            .prepare(
                "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' '
                        || coalesce(c.dflt_value, '') || ' ' || c.pk
                 FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table'
                 UNION ALL
                 SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        shape.sort();
        shape
    }

    /// `.cargo/config.toml` compiles SQLite with a 256 KiB default cache,
    /// which is what every temporary B-tree gets, and sorts that spill
    /// after 128 KiB (see ARCHITECTURE.md).
    #[test]
    fn sqlite_is_built_with_the_small_default_cache_and_sorter() {
        let conn = Connection::open_in_memory().unwrap();
        let default: i64 = conn
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(default, -256);
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "SORTER_PMASZ=32"),
            "{options:?}"
        );
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        assert!(!BuildLock::is_held(&path));
        let _held = BuildLock::acquire(&path).unwrap();
        assert!(BuildLock::is_held(&path));
        match BuildLock::acquire(&path) {
            Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            Err(other) => panic!("unexpected {other}"),
            Ok(_) => panic!("two locks on one database"),
        }
    }
}
