//! What an export reads: the project's files in path order and, one file
//! at a time, its declarations and references, with lookups of the
//! symbols they name (their rows, where each is declared, its bases and
//! the methods it overrides) and, at the end, the symbols of system
//! headers the project refers to.
//!
//! Nothing here holds more than one file's rows or one page of paths: the
//! files are read in pages along the unique index on `files.path`, every
//! other lookup goes through an index of `schema.sql`, and the external
//! symbols stream in USR order (the unique index on `symbols.usr`, no
//! sort). An exporter ([`crate::export`]) therefore keeps memory flat
//! whatever the index's size, as long as it does not accumulate what it
//! reads.

use rusqlite::{Connection, OptionalExtension};

use super::model::SymbolKind;
use super::query::QueryError;
use super::reader::Index;

/// A symbol of the index, as the export refers to it. Valid for the
/// index it was read from, and only while that index is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(i64);

/// A project file (not a system header) whose rows some unit emitted.
#[derive(Debug, Clone)]
pub struct ExportFile {
    id: i64,
    /// Absolute and lexically normalized, as `files.path`.
    pub path: String,
    /// The content hash of the text the rows were extracted from
    /// (`crate::fingerprint::hash_bytes`).
    pub hash: u64,
}

/// A declaration or definition in the file being exported. Lines and
/// columns are 1-based, columns count bytes.
#[derive(Debug, Clone)]
pub struct ExportDecl {
    pub symbol: SymbolId,
    pub line: u32,
    pub col: u32,
    pub end_line: u32,
    pub end_col: u32,
    pub is_definition: bool,
    /// Whether this is the declaration that describes the symbol: its
    /// first definition in a project file (by path, line, column), or its
    /// first declaration there when it has no definition. Exactly one
    /// declaration of each symbol declared in the project is.
    pub describes: bool,
}

/// A use of a symbol in the file being exported.
#[derive(Debug, Clone)]
pub struct ExportRef {
    pub symbol: SymbolId,
    pub line: u32,
    pub col: u32,
    /// `refs.roles`: see [`crate::index::model`]'s `role` bits.
    pub roles: u32,
}

/// A symbol's row.
#[derive(Debug, Clone)]
pub struct ExportSymbol {
    pub usr: String,
    pub name: String,
    pub qualified_name: String,
    pub kind: SymbolKind,
    /// `symbols.type`: a type or signature spelling, a macro's definition.
    pub type_spelling: String,
}

/// Where a symbol is declared: its describing declaration (as
/// [`ExportDecl::describes`], a system header's only when it has no
/// other), with that declaration's semantic parent.
#[derive(Debug, Clone)]
pub struct Placement {
    pub container: Option<SymbolId>,
    pub path: String,
    pub line: u32,
    pub col: u32,
}

/// Read access for an export, borrowed from an open [`Index`].
pub struct ExportReader<'a> {
    conn: &'a Connection,
}

impl Index {
    /// What an export reads; see [`ExportReader`].
    pub fn export_reader(&self) -> ExportReader<'_> {
        ExportReader { conn: &self.conn }
    }
}

/// The order in which a symbol's declarations describe it: project files
/// first, definitions first, then by place.
const DESCRIBING_ORDER: &str = "g.is_system, x.is_definition DESC, g.path, x.line, x.col";

impl ExportReader<'_> {
    /// Up to `limit` project files whose rows were emitted, in path order,
    /// after `after` (from the first when `None`).
    pub fn project_files(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ExportFile>, QueryError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, path, hash FROM files
             WHERE is_system = 0 AND indexed = 1 AND (?1 IS NULL OR path > ?1)
             ORDER BY path LIMIT ?2",
        )?;
        let files = stmt
            .query_map(rusqlite::params![after, limit], |r| {
                Ok(ExportFile {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    hash: r.get::<_, i64>(2)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(files)
    }

    /// The declarations located in `file`, in place order.
    pub fn decls(&self, file: &ExportFile) -> Result<Vec<ExportDecl>, QueryError> {
        let sql = format!(
            "SELECT d.symbol_id, d.line, d.col, d.end_line, d.end_col, d.is_definition,
                    d.rowid = (SELECT x.rowid FROM decls x JOIN files g ON g.id = x.file_id
                               WHERE x.symbol_id = d.symbol_id AND g.is_system = 0
                               ORDER BY {DESCRIBING_ORDER} LIMIT 1)
             FROM decls d WHERE d.file_id = ?1
             ORDER BY d.line, d.col, d.symbol_id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let decls = stmt
            .query_map([file.id], |r| {
                Ok(ExportDecl {
                    symbol: SymbolId(r.get(0)?),
                    line: r.get(1)?,
                    col: r.get(2)?,
                    end_line: r.get(3)?,
                    end_col: r.get(4)?,
                    is_definition: r.get(5)?,
                    describes: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(decls)
    }

    /// The references located in `file`, in place order.
    pub fn refs(&self, file: &ExportFile) -> Result<Vec<ExportRef>, QueryError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT symbol_id, line, col, roles FROM refs WHERE file_id = ?1
             ORDER BY line, col, symbol_id, roles",
        )?;
        let refs = stmt
            .query_map([file.id], |r| {
                Ok(ExportRef {
                    symbol: SymbolId(r.get(0)?),
                    line: r.get(1)?,
                    col: r.get(2)?,
                    roles: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(refs)
    }

    /// A symbol's row.
    pub fn symbol(&self, id: SymbolId) -> Result<ExportSymbol, QueryError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT usr, name, qualified_name, kind, type FROM symbols WHERE id = ?1",
        )?;
        Ok(stmt.query_row([id.0], |r| {
            Ok(ExportSymbol {
                usr: r.get(0)?,
                name: r.get(1)?,
                qualified_name: r.get(2)?,
                kind: r.get(3)?,
                type_spelling: r.get(4)?,
            })
        })?)
    }

    /// Where a symbol is declared, `None` for a symbol without
    /// declarations (one of a system header, by default).
    pub fn placement(&self, id: SymbolId) -> Result<Option<Placement>, QueryError> {
        let sql = format!(
            "SELECT x.container_id, g.path, x.line, x.col
             FROM decls x JOIN files g ON g.id = x.file_id
             WHERE x.symbol_id = ?1 ORDER BY {DESCRIBING_ORDER} LIMIT 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row([id.0], |r| {
                Ok(Placement {
                    container: r.get::<_, Option<i64>>(0)?.map(SymbolId),
                    path: r.get(1)?,
                    line: r.get(2)?,
                    col: r.get(3)?,
                })
            })
            .optional()?)
    }

    /// The namespace or type whose qualified name is `qualified_name`, with
    /// its kind; the first by USR when several are (a namespace and a
    /// class of one name in two programs).
    pub fn scope_named(
        &self,
        qualified_name: &str,
    ) -> Result<Option<(SymbolId, SymbolKind)>, QueryError> {
        let kinds = SymbolKind::SCOPES
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT id, kind FROM symbols WHERE qualified_name = ?1 AND kind IN ({kinds})
             ORDER BY usr LIMIT 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row([qualified_name], |r| Ok((SymbolId(r.get(0)?), r.get(1)?)))
            .optional()?)
    }

    /// Every base of a class, direct or not, each once, nearest first.
    pub fn bases(&self, id: SymbolId) -> Result<Vec<SymbolId>, QueryError> {
        // The depth bound stops a cycle (an ill-formed class deriving from
        // itself through a template) without a visited set.
        let mut stmt = self.conn.prepare_cached(
            "WITH RECURSIVE up(id, depth) AS (
                 SELECT base_id, 1 FROM bases WHERE derived_id = ?1
                 UNION SELECT b.base_id, up.depth + 1 FROM bases b JOIN up ON b.derived_id = up.id
                       WHERE up.depth < 64)
             SELECT id FROM up GROUP BY id ORDER BY min(depth), id",
        )?;
        let bases = stmt
            .query_map([id.0], |r| Ok(SymbolId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(bases)
    }

    /// The methods a method overrides directly, each once.
    pub fn overridden(&self, id: SymbolId) -> Result<Vec<SymbolId>, QueryError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT overridden_id FROM overrides WHERE method_id = ?1 ORDER BY 1",
        )?;
        let methods = stmt
            .query_map([id.0], |r| Ok(SymbolId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(methods)
    }

    /// Calls `each` with every symbol that project files refer to but
    /// none declares (those of system headers, by default), in USR order,
    /// streamed. `each` may run other lookups of this reader.
    pub fn external_symbols<E: From<QueryError>>(
        &self,
        mut each: impl FnMut(SymbolId) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id FROM symbols s
                 WHERE EXISTS (SELECT 1 FROM refs r JOIN files f ON f.id = r.file_id
                               WHERE r.symbol_id = s.id AND f.is_system = 0)
                   AND NOT EXISTS (SELECT 1 FROM decls d JOIN files f ON f.id = d.file_id
                                   WHERE d.symbol_id = s.id AND f.is_system = 0)
                 ORDER BY s.usr",
            )
            .map_err(QueryError::from)?;
        let mut rows = stmt.query([]).map_err(QueryError::from)?;
        while let Some(row) = rows.next().map_err(QueryError::from)? {
            each(SymbolId(row.get(0).map_err(QueryError::from)?))?;
        }
        Ok(())
    }
}
