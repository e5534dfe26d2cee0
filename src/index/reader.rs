//! [`Index`]: a read-only handle on an index, and every question a front
//! end may ask of it, with typed answers. A front end renders them; it
//! never writes SQL.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::db::{open, Access, IndexError};
use super::digest::{digest, TableDigest};
use super::lock::BuildLock;
use super::query::{
    self, At, CallOptions, CallPaths, FindOptions, Found, Hierarchy, HierarchyOptions, Includes,
    List, Outline, Page, Position, QueryError, Status, SymbolInfo, Unit, Uses,
};

/// An index opened for reading; queries may run while a build writes.
pub struct Index {
    pub(super) conn: Connection,
    path: PathBuf,
    /// Directories a relative file name is looked up against, in order.
    roots: Vec<PathBuf>,
}

impl Index {
    /// Opens the index at `path`, which must exist and be current (a build
    /// upgrades an older one). Relative file names are looked up against
    /// the working directory until [`Index::with_roots`] says otherwise.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        Ok(Index {
            conn: open(path, Access::Read)?,
            path: path.to_path_buf(),
            roots: std::env::current_dir().into_iter().collect(),
        })
    }

    /// Looks relative file names up against `roots` (absolute: the
    /// project's directory, say, then the working directory), then as the
    /// end of one file's path.
    pub fn with_roots(mut self, roots: Vec<PathBuf>) -> Index {
        self.roots = roots;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, as the index holds it, of the file a user names: absolute,
    /// relative to a root, or the end of one file's path (`geo/shape.h`).
    pub fn resolve_file(&self, file: &str) -> Result<String, QueryError> {
        Ok(self.file(file)?.1)
    }

    fn file(&self, file: &str) -> Result<(i64, String), QueryError> {
        let given = Path::new(file);
        let candidates: Vec<PathBuf> = if given.is_absolute() {
            vec![crate::discover::normalize(given)]
        } else {
            self.roots
                .iter()
                .filter(|root| root.is_absolute())
                .map(|root| crate::discover::normalize(&root.join(given)))
                .collect()
        };
        query::resolve_file(&self.conn, file, &candidates)
    }

    /// Symbols matching `pattern` (a substring, a `*`/`?` glob, `ns::Name`
    /// as a qualified-name suffix, `::Name` in the global scope only),
    /// case-insensitive, best matches first.
    pub fn find(&self, pattern: &str, options: &FindOptions) -> Result<Found, QueryError> {
        let file = match &options.file {
            Some(file) => Some(self.file(file)?.0),
            None => None,
        };
        query::find(&self.conn, pattern, options, file)
    }

    /// What a name stands for (every overload): kind, signature,
    /// declarations, documentation, container, and as fits its kind its
    /// members, bases, derived classes, overrides, alias types.
    pub fn info(&self, symbol: &str, page: Page) -> Result<List<SymbolInfo>, QueryError> {
        query::info(&self.conn, symbol, page)
    }

    /// The symbols declared in a file, nested by container.
    pub fn outline(&self, file: &str, page: Page) -> Result<Outline, QueryError> {
        let (id, path) = self.file(file)?;
        query::outline(&self.conn, id, path, page)
    }

    /// The symbols declared or referred to at a position, with their
    /// definitions.
    pub fn at(&self, file: &str, position: Position, page: Page) -> Result<At, QueryError> {
        if position.line == 0 || position.column == Some(0) {
            return Err(QueryError::BadPosition(format!(
                "{file}:{}{}",
                position.line,
                position.column.map(|c| format!(":{c}")).unwrap_or_default()
            )));
        }
        let (id, path) = self.file(file)?;
        query::at(&self.conn, id, path, position, page)
    }

    /// A class's bases and derived classes, as trees.
    pub fn hierarchy(
        &self,
        class: &str,
        options: HierarchyOptions,
    ) -> Result<Hierarchy, QueryError> {
        query::hierarchy(&self.conn, class, options)
    }

    /// Every use of a symbol (a USR, a qualified name or its suffix, a
    /// plain name: every symbol it stands for).
    pub fn refs(&self, symbol: &str, options: CallOptions) -> Result<Uses, QueryError> {
        query::refs(&self.conn, symbol, options)
    }

    /// The call sites of a function, with their callers, as a tree
    /// `options.depth` levels deep.
    pub fn callers(&self, symbol: &str, options: CallOptions) -> Result<Uses, QueryError> {
        query::callers(&self.conn, symbol, options)
    }

    /// What a function calls, with the call sites, as a tree.
    pub fn callees(&self, symbol: &str, options: CallOptions) -> Result<Uses, QueryError> {
        query::callees(&self.conn, symbol, options)
    }

    /// Call chains from one function to another, shortest first, virtual
    /// dispatch included.
    pub fn call_paths(
        &self,
        from: &str,
        to: &str,
        max_depth: u32,
        limit: usize,
    ) -> Result<CallPaths, QueryError> {
        query::call_paths(&self.conn, from, to, max_depth, limit)
    }

    /// What a file includes (`reverse`: who includes it), `depth` levels
    /// deep, at most `page.limit` files.
    pub fn includes(
        &self,
        file: &str,
        reverse: bool,
        depth: u32,
        page: Page,
    ) -> Result<Includes, QueryError> {
        let (id, path) = self.file(file)?;
        query::includes(&self.conn, id, path, reverse, depth, page)
    }

    /// Whether a build holds the index's lock now.
    pub fn build_running(&self) -> bool {
        BuildLock::is_held(&self.path)
    }

    /// What the index holds, its last run (and how far it is, if it is
    /// running), the failed units and the `slowest` slowest units.
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
