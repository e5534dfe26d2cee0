//! Incremental refresh: decides which translation units are dirty, and why.
//!
//! The database is the state: every unit row says `indexed`, `pending` (with
//! the reason) or `failed`, and `unit_deps` records every file a unit read
//! with the hash it had then. [`refresh`] brings that state up to date with
//! the disk and the compilation database in one transaction:
//!
//! 1. units no longer discovered are removed (their rows go with them); a
//!    file listed twice keeps its first entry;
//! 2. new units, and units whose compile command changed, become pending;
//! 3. every known file is `stat`ed in parallel; a file whose size or mtime
//!    moved is hashed, and if its content changed (or it is gone) every unit
//!    that read it becomes pending, naming the file;
//! 4. a different libclang or `--full` makes every unit pending;
//! 5. pending units get their dispatch cost (`index::units::assign_costs`).
//!
//! Pending units survive an interrupted build, which is how the next build
//! resumes. The writer keeps the other half of the invariant (see
//! `index::writer`): a unit is only `indexed` while the hashes it
//! recorded match the files table.
//!
//! Memory: files are scanned in pages of [`SCAN_PAGE`] rows, so the scan's
//! footprint does not grow with the project.

use std::path::Path;

use rayon::prelude::*;
use rusqlite::Transaction;

use crate::build::Dispatch;
use crate::discover::{self, UnitSpec};
use crate::fingerprint;
use crate::index::model::{Change, Dirtiness};
use crate::index::units::{self, KnownFile};

const SCAN_PAGE: i64 = 1024;

/// What refresh needs to know besides the disk.
pub(crate) struct Options<'a> {
    pub full: bool,
    pub retry_failed: bool,
    /// Identifies the libclang that will parse; a different one invalidates
    /// everything indexed before.
    pub libclang: &'a str,
    /// The order the pending units get their dispatch costs for.
    pub dispatch: Dispatch,
}

/// How the index compares with the project.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// Units to index in this build.
    pub dirty: u64,
    /// Units whose index is current.
    pub unchanged: u64,
    /// Units dropped because the project no longer lists them.
    pub removed: u64,
    /// Units that failed twice and stay failed until they change.
    pub quarantined: u64,
    /// Entries dropped because their file was already listed.
    pub folded: u64,
    /// Units whose compile command the command stage changed.
    pub adjusted: u64,
}

/// Brings unit states up to date (see the module comment) inside `tx`,
/// whose caller commits, or rolls back for `--explain`. Units stream in
/// through [`Refresher::add`]; [`Refresher::finish`] does the rest.
pub(crate) struct Refresher<'t, 'c> {
    tx: &'t Transaction<'c>,
    options: &'t Options<'t>,
    previous_libclang: Option<String>,
    folded: u64,
}

impl<'t, 'c> Refresher<'t, 'c> {
    pub(crate) fn start(
        tx: &'t Transaction<'c>,
        options: &'t Options<'t>,
    ) -> rusqlite::Result<Self> {
        let previous_libclang = units::swap_libclang(tx, options.libclang)?;
        units::start_listing(tx)?;
        Ok(Refresher {
            tx,
            options,
            previous_libclang,
            folded: 0,
        })
    }

    /// Records `unit`, unless its file was listed before in this discovery:
    /// as with clang's tools, the first entry for a file is its command.
    pub(crate) fn add(&mut self, unit: &UnitSpec) -> rusqlite::Result<()> {
        if !units::list_unit(self.tx, unit, command_hash(unit))? {
            self.folded += 1;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> rusqlite::Result<Freshness> {
        let (tx, options) = (self.tx, self.options);
        let removed = units::remove_unlisted(tx)?;
        let refused = scan_files(tx)?;
        let everything = if options.full {
            Some(Dirtiness::FullRebuild)
        } else {
            match self.previous_libclang {
                Some(previous) if previous != options.libclang => {
                    Some(Dirtiness::OtherLibclang(previous))
                }
                _ => None,
            }
        };
        if let Some(reason) = everything {
            units::mark_all_pending(tx, &reason)?;
        }
        units::mark_readers_of_unindexed_headers(tx)?;
        // A unit that failed once (not quarantined) gets its second chance;
        // with `--retry-failed`, every failed unit.
        units::retry_failed(tx, options.retry_failed)?;
        // Last, so that neither `--full` nor `--retry-failed` sends a worker
        // to block on a FIFO until its timeout: such a unit fails here, with
        // the reason, in every build until the file is a file again.
        for (file, what) in &refused {
            units::fail_readers_of_irregular(tx, file, what)?;
        }
        units::assign_costs(tx, options.dispatch)?;
        let counts = units::count_units(tx)?;
        Ok(Freshness {
            dirty: counts.pending,
            unchanged: counts.indexed,
            removed,
            quarantined: counts.failed,
            folded: self.folded,
            adjusted: counts.adjusted,
        })
    }
}

/// The compile command's identity: directory and arguments, and what the
/// command stage changed (so that the stored changes stay those of the
/// stored arguments). A command used as written hashes as it did before
/// the changes were recorded.
fn command_hash(unit: &UnitSpec) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(unit.directory.as_bytes());
    for arg in &unit.args {
        hasher.update(&[0]);
        hasher.update(arg.as_bytes());
    }
    for change in &unit.changes {
        hasher.update(&[1]);
        hasher.update(change.as_bytes());
    }
    hasher.digest()
}

/// How a file on disk compares with its row.
enum DiskState {
    Same,
    /// Same content, new size or mtime: refresh the row so the next scan
    /// takes the fast path.
    Touched {
        size: i64,
        mtime_ns: i64,
    },
    Changed {
        size: i64,
        mtime_ns: i64,
        hash: u64,
    },
    Deleted,
    /// Something that is not a regular file (a FIFO, a socket, a device, a
    /// directory) stands where a file was: reading it could block forever,
    /// so it is never opened.
    NotRegular(&'static str),
}

/// Compares every known file with the disk and marks the units of changed
/// ones pending. Returns the files that are no longer regular files, with
/// what they are, for [`Refresher::finish`] to fail their units.
fn scan_files(tx: &Transaction<'_>) -> rusqlite::Result<Vec<(KnownFile, &'static str)>> {
    let mut refused = Vec::new();
    let mut after = 0i64;
    loop {
        let page = units::files_after(tx, after, SCAN_PAGE)?;
        let Some(last) = page.last() else {
            return Ok(refused);
        };
        after = last.id;
        let states: Vec<DiskState> = page.par_iter().map(compare_with_disk).collect();
        for (file, state) in page.into_iter().zip(states) {
            match state {
                DiskState::Same => {}
                DiskState::Touched { size, mtime_ns } => {
                    units::touch_file(tx, file.id, size, mtime_ns)?
                }
                DiskState::Changed {
                    size,
                    mtime_ns,
                    hash,
                } => {
                    units::mark_dependents(tx, &file, Change::Changed)?;
                    // No rows describe the old content of a file nobody
                    // emitted (a new unit's placeholder, a unit that never
                    // indexed), so its row follows the disk: a unit failing
                    // on this content stays failed, and quarantined, until
                    // the file changes again.
                    if !file.indexed {
                        units::set_file_content(tx, file.id, size, mtime_ns, hash)?;
                    }
                }
                DiskState::Deleted => units::mark_dependents(tx, &file, Change::Deleted)?,
                DiskState::NotRegular(what) => refused.push((file, what)),
            }
        }
    }
}

fn compare_with_disk(file: &KnownFile) -> DiskState {
    let Ok(meta) = std::fs::metadata(&file.path) else {
        return DiskState::Deleted;
    };
    if let Some(what) = discover::not_regular(&meta) {
        return DiskState::NotRegular(what);
    }
    let size = meta.len() as i64;
    let mtime_ns = fingerprint::mtime_ns(&meta);
    if size == file.size && mtime_ns == file.mtime_ns {
        return DiskState::Same;
    }
    match fingerprint::hash_file(Path::new(&file.path)) {
        Some(hash) if crate::index::hash_to_sql(hash) == file.hash => {
            DiskState::Touched { size, mtime_ns }
        }
        Some(hash) => DiskState::Changed {
            size,
            mtime_ns,
            hash,
        },
        None => DiskState::Deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::hash_to_sql;
    use rusqlite::Connection;

    fn unit(file: &str, flag: &str) -> UnitSpec {
        UnitSpec {
            file: file.to_owned(),
            directory: "/p".to_owned(),
            args: vec![flag.to_owned()],
            changes: Vec::new(),
        }
    }

    /// An index with the schema and nothing in it.
    fn empty_index() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::index::SCHEMA).unwrap();
        conn
    }

    /// A plain build's options.
    const PLAIN: Options<'static> = Options {
        full: false,
        retry_failed: false,
        libclang: "test",
        dispatch: Dispatch::Costliest,
    };

    #[test]
    fn a_file_listed_twice_keeps_its_first_command() {
        let mut conn = empty_index();
        let options = PLAIN;
        let tx = conn.transaction().unwrap();
        let mut refresher = Refresher::start(&tx, &options).unwrap();
        for (file, flag) in [
            ("/p/a.c", "-DFIRST"),
            ("/p/b.c", "-DB"),
            ("/p/a.c", "-DSECOND"),
        ] {
            refresher.add(&unit(file, flag)).unwrap();
        }
        let freshness = refresher.finish().unwrap();
        assert_eq!((freshness.folded, freshness.dirty), (1, 2));
        let args: String = tx
            .query_row(
                "SELECT u.args FROM units u JOIN files f ON f.id = u.file_id WHERE f.path = '/p/a.c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(args, r#"["-DFIRST"]"#);
    }

    /// What the command stage changed is stored with the unit and is part
    /// of its command: new changes make it dirty, and a command used as
    /// written hashes as before schema 3 recorded changes.
    #[test]
    fn the_command_stage_changes_are_stored_and_part_of_the_command() {
        let mut conn = empty_index();
        let options = PLAIN;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.c");
        std::fs::write(&file, "int a;\n").unwrap();
        let plain = unit(file.to_str().unwrap(), "-DX");
        let mut legacy = xxhash_rust::xxh3::Xxh3::new();
        legacy.update(b"/p");
        legacy.update(&[0]);
        legacy.update(b"-DX");
        assert_eq!(command_hash(&plain), legacy.digest());

        let changed = UnitSpec {
            changes: vec!["skipped the compiler wrapper ccache".to_owned()],
            ..plain.clone()
        };
        assert_ne!(command_hash(&changed), command_hash(&plain));
        // Refreshes with `unit` listed, and returns its row; then marks it
        // indexed, as a build would.
        let mut stored = |unit: &UnitSpec| {
            let tx = conn.transaction().unwrap();
            let mut refresher = Refresher::start(&tx, &options).unwrap();
            refresher.add(unit).unwrap();
            refresher.finish().unwrap();
            let row: (Option<String>, i64, Option<String>) = tx
                .query_row("SELECT changes, args_hash, reason FROM units", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap();
            tx.execute("UPDATE units SET state = 'indexed', reason = NULL", [])
                .unwrap();
            tx.commit().unwrap();
            row
        };
        assert_eq!(
            stored(&plain),
            (None, hash_to_sql(legacy.digest()), Some("new".to_owned()))
        );
        let (changes, hash, reason) = stored(&changed);
        assert_eq!(
            changes.as_deref(),
            Some(r#"["skipped the compiler wrapper ccache"]"#)
        );
        assert_eq!(hash, hash_to_sql(command_hash(&changed)));
        assert_eq!(reason.as_deref(), Some("compile command changed"));
        assert_eq!(stored(&changed).2, None);
        assert_eq!(stored(&plain).0, None);
    }
}
