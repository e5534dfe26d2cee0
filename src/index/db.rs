//! Opening the database, the one way every command does: pragmas, the
//! schema, migrations, and the refusal of files that are not ours or come
//! from a newer `indexer`.
//!
//! Readers (queries, `status`) use WAL and may run while a build writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// The schema version this binary reads and writes (`PRAGMA user_version`).
pub(crate) const SCHEMA_VERSION: i64 = 5;
pub(crate) const SCHEMA: &str = include_str!("../schema.sql");
/// `MIGRATIONS[v - 1]` brings schema `v` to `v + 1`: an index written by an
/// older `indexer` is upgraded by the next build, never rebuilt.
const MIGRATIONS: [&str; 4] = [
    "ALTER TABLE units ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX units_by_cost ON units(cost DESC, id) WHERE state = 'pending';",
    // A unit indexed before the command stage keeps its arguments until
    // its command is discovered again: the refresh then sees the changed
    // arguments (and changes) and indexes it anew.
    "ALTER TABLE units ADD COLUMN changes TEXT;",
    "ALTER TABLE units ADD COLUMN prelude_fell_back INTEGER NOT NULL DEFAULT 0;",
    // Documentation comments and alias types are read at indexing: the
    // rows stored before them lack them, so every unit is indexed again
    // and every file emitted anew (no header's rows count as current).
    "ALTER TABLE symbols ADD COLUMN underlying_type TEXT;
     ALTER TABLE symbols ADD COLUMN canonical_type TEXT;
     ALTER TABLE decls ADD COLUMN doc TEXT;
     CREATE INDEX decls_by_container ON decls(container_id);
     UPDATE files SET indexed = 0;
     UPDATE units SET state = 'pending', reason = 'index written by an older indexer (no documentation comments)'
     WHERE state = 'indexed';",
];

/// Prepared statements kept per connection: more than the writer uses.
const STATEMENT_CACHE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
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

impl IndexError {
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => IndexError::NotADatabase { path },
            Some(ErrorCode::DatabaseCorrupt) => IndexError::Corrupt {
                path,
                detail: source.to_string(),
            },
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) if is_read_only(&path) => {
                IndexError::ReadOnly { path }
            }
            // With no room left SQLite often fails to grow the WAL index
            // (`-shm`) first, which it reports as a mere I/O error.
            Some(ErrorCode::DiskFull) | Some(ErrorCode::SystemIoFailure) if is_disk_full(&path) => {
                IndexError::DiskFull {
                    path,
                    detail: source.to_string(),
                }
            }
            _ => IndexError::Sqlite { path, source },
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
pub(crate) fn check_is_file(path: &Path) -> Result<(), IndexError> {
    match std::fs::metadata(path) {
        Ok(meta) => match crate::discover::not_regular(&meta) {
            Some(what) => Err(IndexError::NotAFile {
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
pub fn open(path: &Path, access: Access) -> Result<Connection, IndexError> {
    check_is_file(path)?;
    let flags = match access {
        Access::Write => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        }
        Access::Read => {
            if !path.exists() {
                return Err(IndexError::Missing {
                    path: path.to_path_buf(),
                });
            }
            OpenFlags::SQLITE_OPEN_READ_ONLY
        }
    };
    if access == Access::Write && path.exists() && is_read_only(path) {
        return Err(IndexError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| IndexError::sqlite(path, e))?;
    configure(&conn, access).map_err(|e| IndexError::sqlite(path, e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| IndexError::sqlite(path, e))?;
    match version {
        SCHEMA_VERSION => Ok(conn),
        v if v > SCHEMA_VERSION => Err(IndexError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: SCHEMA_VERSION,
        }),
        0 => {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| IndexError::sqlite(path, e))?;
            if tables != 0 {
                return Err(IndexError::Foreign {
                    path: path.to_path_buf(),
                });
            }
            if access == Access::Read {
                return Err(IndexError::Missing {
                    path: path.to_path_buf(),
                });
            }
            create_schema(&conn).map_err(|e| IndexError::sqlite(path, e))?;
            Ok(conn)
        }
        v if v >= 1 && access == Access::Write => {
            migrate(&conn, v).map_err(|e| IndexError::sqlite(path, e))?;
            Ok(conn)
        }
        v if v >= 1 => Err(IndexError::OlderSchema {
            path: path.to_path_buf(),
            found: v,
        }),
        // Versions start at 1; anything else comes from a foreign file.
        _ => Err(IndexError::Foreign {
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

/// Reads `meta[key]`.
pub(crate) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
    Ok(())
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

/// The id of the `files` row of `path`, if there is one. Rows are created
/// by the refresh (a unit's main file, as a placeholder) and by the writer
/// (a file a unit read), each with what it knows of the file.
pub(crate) fn file_id(conn: &Connection, path: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM files WHERE path = ?1")?
        .query_row([path], |r| r.get(0))
        .optional()
}
