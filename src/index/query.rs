//! The questions front ends ask of the index, one function each, with typed
//! answers that the command line renders as text or JSON and the MCP server
//! as structured content. Nothing here formats for people.
//!
//! - `find`: symbols by name, glob or qualified-name suffix, ranked.
//! - `info`: what one name stands for (every overload), with its
//!   declarations, documentation, members, bases, overrides, alias types.
//! - `files`: a file's outline, the symbol at a position, the include graph.
//! - `hierarchy`: base and derived classes, as trees.
//! - `calls`: references, callers and callees (as trees with `depth`), and
//!   call paths between two functions.
//! - `status`: what the index holds and how far a running build is.
//!
//! Every list answer is a page (`limit`, `offset`) that says how many
//! items there are in all (`total`) and whether some were left out
//! (`truncated`), since answers may go into a model's context. Every
//! answer is `serde::Serialize` and `schemars::JsonSchema`, so a front end
//! can publish its shape.
//!
//! The queries follow the indexes of `schema.sql` (names, qualified names,
//! rows by symbol, by container and by file, bases, overrides, includes);
//! only `find` scans the symbols table (a substring or a glob cannot use an
//! index), and a file given by a partial path scans the files table.

mod calls;
mod files;
mod find;
mod hierarchy;
mod info;
mod status;

use rusqlite::{Connection, OptionalExtension};
use schemars::JsonSchema;
use serde::Serialize;

pub(crate) use self::calls::{call_paths, callees, callers, refs};
pub use self::calls::{CallNode, CallOptions, CallPath, CallPaths, PathStep, Uses};
pub(crate) use self::files::{at, includes, outline, resolve_file};
pub use self::files::{At, IncludeNode, Includes, Occurrence, Outline, OutlineNode, Position};
pub(crate) use self::find::find;
pub use self::find::{FindOptions, Found, Scope};
pub(crate) use self::hierarchy::hierarchy;
pub use self::hierarchy::{Direction, Hierarchy, HierarchyNode, HierarchyOptions, HierarchyRoot};
pub(crate) use self::info::info;
pub use self::info::{Declaration, SymbolInfo};
pub(crate) use self::status::{status, unit};
pub use self::status::{
    BuildProgress, FailedUnit, Run, Status, Unit, UnitTiming, UnitWithErrors, ERRORS_LISTED,
};

use super::model::{role, SymbolKind, ROLE_NAMES};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no symbol matches `{0}`: try `indexer find {0}` to see what the index holds")]
    NotFound(String),
    #[error("unknown kind `{0}`: pass one of {kinds}", kinds = SymbolKind::names().collect::<Vec<_>>().join(", "))]
    UnknownKind(String),
    #[error("unknown role `{0}`: pass one or more of {roles} (comma-separated)", roles = ROLE_NAMES.iter().map(|(_, name)| *name).collect::<Vec<_>>().join(", "))]
    UnknownRole(String),
    #[error("the pattern is {0} bytes long; patterns are limited to {MAX_PATTERN_BYTES} bytes")]
    PatternTooLong(usize),
    #[error("no file of the index matches `{0}`: pass a path relative to the project (or absolute) of a file some unit reads, as `indexer status` counts them")]
    FileNotFound(String),
    #[error("`{spec}` matches several files of the index; pass one of these paths instead:\n{}", .candidates.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    AmbiguousFile {
        spec: String,
        candidates: Vec<String>,
    },
    #[error(
        "`{0}` is no class, struct, union or class template: `indexer info {0}` says what it is"
    )]
    NotAClass(String),
    #[error(
        "line and column count from 1; `{0}` is no position: pass FILE:LINE or FILE:LINE:COLUMN"
    )]
    BadPosition(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl QueryError {
    /// Whether the question itself is wrong (a usage error, exit 2) rather
    /// than the index or the answer.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            QueryError::UnknownKind(_)
                | QueryError::UnknownRole(_)
                | QueryError::PatternTooLong(_)
                | QueryError::BadPosition(_)
        )
    }
}

/// SQLite refuses longer `LIKE` patterns (`SQLITE_MAX_LIKE_PATTERN_LENGTH`);
/// they are refused here first, as a usage error, for substrings too.
const MAX_PATTERN_BYTES: usize = 50_000;

/// Which part of a list answer to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// At most this many items; 0 for all of them.
    pub limit: usize,
    /// Skip this many first.
    pub offset: usize,
}

impl Page {
    /// Small: answers go into a model's context, and people page on.
    pub const DEFAULT_LIMIT: usize = 50;

    pub fn new(limit: usize, offset: usize) -> Page {
        Page { limit, offset }
    }

    /// Everything.
    pub fn all() -> Page {
        Page::new(0, 0)
    }

    /// SQLite's `LIMIT` (negative for none).
    fn sql_limit(self) -> i64 {
        if self.limit == 0 {
            -1
        } else {
            self.limit as i64
        }
    }

    /// The page of `items`, with their total.
    fn of<T>(self, items: Vec<T>) -> List<T> {
        let total = items.len() as u64;
        let items: Vec<T> = items
            .into_iter()
            .skip(self.offset)
            .take(if self.limit == 0 {
                usize::MAX
            } else {
                self.limit
            })
            .collect();
        List::new(items, total, self)
    }
}

impl Default for Page {
    fn default() -> Page {
        Page::new(Page::DEFAULT_LIMIT, 0)
    }
}

/// A page of a list answer.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Eq)]
pub struct List<T> {
    pub items: Vec<T>,
    /// How many items the whole answer holds.
    pub total: u64,
    /// Whether items were left out (by `limit`, `offset` or a node cap).
    pub truncated: bool,
}

impl<T> List<T> {
    fn new(items: Vec<T>, total: u64, page: Page) -> List<T> {
        let truncated = (page.offset as u64) + (items.len() as u64) < total;
        List {
            items,
            total,
            truncated,
        }
    }
}

/// One answer line: a symbol, and where it is declared or used.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Row {
    pub usr: String,
    pub name: String,
    pub qualified_name: String,
    pub kind: SymbolKind,
    /// The type or signature, e.g. `double () const` (symbol answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Symbol answers: where the symbol is defined (or first declared).
    /// Uses (`refs`, `callers`, `callees`): where the use is.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<bool>,
    /// For uses: libclang's roles, e.g. `["call", "dynamic"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<&'static str>>,
    /// For uses: the function or variable whose body holds the use (for
    /// `callers`, the function called).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_usr: Option<String>,
    /// The row's `symbols.id`, for walks; never shown.
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) id: i64,
}

/// `s` columns of a symbol, as [`symbol_row`] reads them.
const SYMBOL_COLUMNS: &str = "s.id, s.usr, s.name, s.qualified_name, s.kind";

/// Symbols (`s`) with their definition, or else first declaration (`d`,
/// in file `f`; project files first, then by path and position), as
/// [`declared_row`] reads them.
const DECLARED: &str = "SELECT s.id, s.usr, s.name, s.qualified_name, s.kind, s.type, f.path, d.line, d.col, d.is_definition
     FROM symbols s
     LEFT JOIN decls d ON d.rowid = (
         SELECT x.rowid FROM decls x JOIN files g ON g.id = x.file_id WHERE x.symbol_id = s.id
         ORDER BY x.is_definition DESC, g.is_system, g.path, x.line, x.col LIMIT 1)
     LEFT JOIN files f ON f.id = d.file_id";

fn symbol_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        usr: r.get(1)?,
        name: r.get(2)?,
        qualified_name: r.get(3)?,
        kind: r.get(4)?,
        signature: None,
        file: None,
        line: None,
        column: None,
        definition: None,
        roles: None,
        container: None,
        container_usr: None,
    })
}

/// A symbol and where it is declared: [`DECLARED`]'s columns.
fn declared_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let mut row = symbol_row(r)?;
    row.signature = r
        .get::<_, String>(5)
        .map(|t| Some(t).filter(|t| !t.is_empty()))?;
    row.file = r.get(6)?;
    row.line = r.get(7)?;
    row.column = r.get(8)?;
    row.definition = r.get(9)?;
    Ok(row)
}

/// A use of a symbol: [`SYMBOL_COLUMNS`], then the file, line, column,
/// roles, and the qualified name and USR of the other symbol involved.
fn use_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let mut row = symbol_row(r)?;
    row.file = r.get(5)?;
    row.line = r.get(6)?;
    row.column = r.get(7)?;
    row.roles = Some(super::model::role_names(r.get(8)?));
    row.container = r.get(9)?;
    row.container_usr = r.get(10)?;
    Ok(row)
}

/// A symbol with its defining (or first) location.
fn describe(conn: &Connection, id: i64) -> rusqlite::Result<Row> {
    conn.prepare_cached(&format!("{DECLARED} WHERE s.id = ?1"))?
        .query_row([id], declared_row)
}

/// The symbols a name given by a user stands for, by qualified name and
/// USR: a USR; `::name`, a symbol of the global scope; a qualified name; a
/// qualified name's suffix after a `::` (`Circle::area` for
/// `geo::Circle::area`); else a plain name. Several for overloads and
/// same-named statics; never empty.
fn resolve_all(conn: &Connection, symbol: &str) -> Result<Vec<i64>, QueryError> {
    let ids = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Vec<i64>> {
        conn.prepare_cached(sql)?
            .query_map(args, |r| r.get(0))?
            .collect()
    };
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM symbols WHERE usr = ?1")?
        .query_row([symbol], |r| r.get(0))
        .optional()?
    {
        return Ok(vec![id]);
    }
    let found = if let Some(global) = symbol.strip_prefix("::") {
        ids(
            "SELECT id FROM symbols WHERE qualified_name = ?1 ORDER BY usr",
            &[&global],
        )?
    } else {
        let mut found = ids(
            "SELECT id FROM symbols WHERE qualified_name = ?1 ORDER BY usr",
            &[&symbol],
        )?;
        if found.is_empty() {
            found = match symbol.rsplit_once("::") {
                Some((_, name)) => ids(
                    "SELECT id FROM symbols WHERE name = ?1
                       AND substr(qualified_name, -length(?2) - 2) = '::' || ?2
                     ORDER BY qualified_name, usr",
                    &[&name, &symbol],
                )?,
                None => ids(
                    "SELECT id FROM symbols WHERE name = ?1 ORDER BY qualified_name, usr",
                    &[&symbol],
                )?,
            };
        }
        found
    };
    if found.is_empty() {
        return Err(QueryError::NotFound(symbol.to_string()));
    }
    Ok(found)
}

/// The `role` bits of role names (`call`, `read`, ...; `address` for
/// `address_of`); 0 for none given, which means every role.
pub fn role_mask(names: &[String]) -> Result<u32, QueryError> {
    let mut mask = 0;
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let name = if name == "address" {
            "address_of"
        } else {
            name
        };
        let bit = ROLE_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(bit, _)| *bit)
            .ok_or_else(|| QueryError::UnknownRole(name.to_owned()))?;
        mask |= bit;
    }
    Ok(mask)
}

/// `text` with `LIKE`'s wildcards and escape character escaped (`\`).
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A glob (`*`, `?`) as a `LIKE` pattern (escape `\`).
fn glob_to_like(glob: &str) -> String {
    like_escape(glob).replace('*', "%").replace('?', "_")
}

/// The role bits a call walk follows: calls, and where a lambda is
/// defined (what holds it may hand it to what calls it).
const CALL_EDGE: u32 = role::CALL | role::DEFINITION;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_like_patterns_with_their_wildcards_escaped() {
        assert_eq!(glob_to_like("geo::*::are?"), "geo::%::are_");
        assert_eq!(glob_to_like("a_b%c\\"), "a\\_b\\%c\\\\");
    }

    #[test]
    fn role_names_become_bits() {
        assert_eq!(
            role_mask(&["call,read".into(), "address".into()]).unwrap(),
            role::CALL | role::READ | role::ADDRESS_OF
        );
        assert_eq!(role_mask(&[]).unwrap(), 0);
        assert!(matches!(
            role_mask(&["calls".into()]),
            Err(QueryError::UnknownRole(name)) if name == "calls"
        ));
    }

    /// The properties of the JSON schema of `T`, sorted.
    fn properties<T: JsonSchema>() -> Vec<String> {
        let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap();
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties in {schema}"))
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Issue 17: every list answer publishes `items`, `total` and
    /// `truncated` in its schema (a front end such as an MCP server gives
    /// the schema to its clients); a row never shows its internal id.
    #[test]
    fn every_list_answer_publishes_its_schema_with_total_and_truncated() {
        let lists = [
            properties::<Found>(),
            properties::<List<SymbolInfo>>(),
            properties::<Outline>(),
            properties::<At>(),
            properties::<Hierarchy>(),
            properties::<Uses>(),
            properties::<CallPaths>(),
            properties::<Includes>(),
        ];
        for names in &lists {
            for key in ["items", "total", "truncated"] {
                assert!(
                    names.iter().any(|n| n == key),
                    "{key} missing from {names:?}"
                );
            }
        }
        let row = properties::<Row>();
        assert!(row.iter().all(|n| n != "id"), "{row:?}");
        assert!(row.iter().any(|n| n == "qualified_name"), "{row:?}");
        let status = properties::<Status>();
        for key in ["build_running", "build_progress", "units_pending"] {
            assert!(
                status.iter().any(|n| n == key),
                "{key} missing from {status:?}"
            );
        }
    }

    #[test]
    fn pages_count_what_they_leave_out() {
        let list = Page::new(2, 1).of(vec![1, 2, 3, 4]);
        assert_eq!(
            (list.items, list.total, list.truncated),
            (vec![2, 3], 4, true)
        );
        let list = Page::new(0, 0).of(vec![1, 2]);
        assert_eq!(
            (list.items, list.total, list.truncated),
            (vec![1, 2], 2, false)
        );
    }
}
