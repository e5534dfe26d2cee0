//! [`Index`]: a read-only handle on an index, and every question a front
//! end may ask of it, with typed answers. A front end renders them; it
//! never writes SQL.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::db::{open, Access, IndexError};
use super::digest::{digest, TableDigest};
use super::lock::BuildLock;
use super::query::{self, Found, QueryError, Row, Scope, Status, Unit};

/// An index opened for reading; queries may run while a build writes.
pub struct Index {
    pub(super) conn: Connection,
    path: PathBuf,
}

impl Index {
    /// Opens the index at `path`, which must exist and be current (a build
    /// upgrades an older one).
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        Ok(Index {
            conn: open(path, Access::Read)?,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Symbols whose name or qualified name contains `pattern`, or matches
    /// it as a glob when it holds `*` or `?`, of `kind` if given, in `scope`.
    pub fn find(
        &self,
        pattern: &str,
        kind: Option<&str>,
        scope: Scope,
    ) -> Result<Found, QueryError> {
        query::find(&self.conn, pattern, kind, scope)
    }

    /// Every use of a symbol (a USR, a qualified name or a plain name).
    pub fn refs(&self, symbol: &str) -> Result<Vec<Row>, QueryError> {
        query::refs(&self.conn, symbol)
    }

    /// The call sites of a function, with their callers.
    pub fn callers(&self, symbol: &str) -> Result<Vec<Row>, QueryError> {
        query::callers(&self.conn, symbol)
    }

    /// What a function calls, with the call sites.
    pub fn callees(&self, symbol: &str) -> Result<Vec<Row>, QueryError> {
        query::callees(&self.conn, symbol)
    }

    /// Whether a build holds the index's lock now.
    pub fn build_running(&self) -> bool {
        BuildLock::is_held(&self.path)
    }

    /// What the index holds, its last run, the failed units and the
    /// `slowest` slowest units.
    pub fn status(&self, slowest: usize) -> Result<Status, QueryError> {
        Ok(query::status(&self.conn, self.build_running(), slowest)?)
    }

    /// The unit whose main file is `path` (absolute, normalized), if any.
    pub fn unit(&self, path: &str) -> Result<Option<Unit>, QueryError> {
        Ok(query::unit(&self.conn, path)?)
    }

    /// Every table's content as a digest; with `rows`, the rows too.
    pub fn digest(&self, rows: bool) -> Result<Vec<TableDigest>, QueryError> {
        Ok(digest(&self.conn, rows)?)
    }
}
