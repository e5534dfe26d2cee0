//! `info`: everything the index knows of what a name stands for, for every
//! symbol it matches (overloads, same-named statics), each labelled by its
//! USR and qualified name.

use rusqlite::Connection;
use schemars::JsonSchema;
use serde::Serialize;

use super::{describe, resolve_all, List, Page, QueryError, Row};
use crate::index::model::SymbolKind;

/// Members listed per class (`members.total` counts them all).
const MEMBERS_SHOWN: usize = 100;

/// One symbol, all it holds.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SymbolInfo {
    /// The symbol (kind, signature or type), with its definition or first
    /// declaration.
    pub symbol: Row,
    /// Every declaration, the definition first.
    pub declarations: Vec<Declaration>,
    /// The documentation comment of the definition, else of the first
    /// declaration that has one; markers (`///`, `/**`) removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// What holds its definition (or first declaration): a class, a
    /// namespace, a function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Row>,
    /// Typedefs and type aliases: the type as written, and with every
    /// alias resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub underlying_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_type: Option<String>,
    /// Classes and enums: what they declare (at most 100 shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<List<Row>>,
    /// Classes: direct bases and classes deriving directly from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bases: Option<Vec<Row>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<Vec<Row>>,
    /// Methods: the methods it overrides, and those overriding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Vec<Row>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<Vec<Row>>,
}

/// Where a symbol is declared.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Declaration {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub definition: bool,
}

/// The symbols `symbol` stands for, a page of them, each with all it holds.
pub(crate) fn info(
    conn: &Connection,
    symbol: &str,
    page: Page,
) -> Result<List<SymbolInfo>, QueryError> {
    let ids = page.of(resolve_all(conn, symbol)?);
    let items = ids
        .items
        .iter()
        .map(|&id| one(conn, id))
        .collect::<rusqlite::Result<_>>()?;
    Ok(List {
        items,
        total: ids.total,
        truncated: ids.truncated,
    })
}

fn one(conn: &Connection, id: i64) -> rusqlite::Result<SymbolInfo> {
    let symbol = describe(conn, id)?;
    let declarations = conn
        .prepare_cached(
            "SELECT f.path, d.line, d.col, d.end_line, d.end_col, d.is_definition
             FROM decls d JOIN files f ON f.id = d.file_id WHERE d.symbol_id = ?1
             ORDER BY d.is_definition DESC, f.is_system, f.path, d.line, d.col",
        )?
        .query_map([id], |r| {
            Ok(Declaration {
                file: r.get(0)?,
                line: r.get(1)?,
                column: r.get(2)?,
                end_line: r.get(3)?,
                end_column: r.get(4)?,
                definition: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let doc = first(
        conn,
        "SELECT d.doc FROM decls d JOIN files f ON f.id = d.file_id
         WHERE d.symbol_id = ?1 AND d.doc IS NOT NULL
         ORDER BY d.is_definition DESC, f.is_system, f.path, d.line, d.col LIMIT 1",
        id,
    )?;
    let container = match first::<i64>(
        conn,
        "SELECT d.container_id FROM decls d JOIN files f ON f.id = d.file_id
         WHERE d.symbol_id = ?1 AND d.container_id IS NOT NULL
         ORDER BY d.is_definition DESC, f.is_system, f.path, d.line, d.col LIMIT 1",
        id,
    )? {
        Some(container) => Some(describe(conn, container)?),
        None => None,
    };
    let (underlying_type, canonical_type) = conn
        .prepare_cached("SELECT underlying_type, canonical_type FROM symbols WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let class = symbol.kind.is_class();
    let members = if class || symbol.kind == SymbolKind::Enum {
        let ids = related(
            conn,
            // In the order the class declares them (its definition's
            // file first: out-of-line definitions are elsewhere).
            "SELECT d.symbol_id FROM decls d JOIN symbols s ON s.id = d.symbol_id
             WHERE d.container_id = ?1 AND d.symbol_id != ?1
             GROUP BY d.symbol_id
             ORDER BY min(CASE WHEN d.file_id = (
                          SELECT x.file_id FROM decls x WHERE x.symbol_id = ?1
                          ORDER BY x.is_definition DESC, x.line LIMIT 1)
                      THEN d.line END) NULLS LAST,
                      min(d.line), s.usr",
            id,
        )?;
        let page = Page::new(MEMBERS_SHOWN, 0).of(ids);
        Some(List {
            items: page
                .items
                .iter()
                .map(|&m| describe(conn, m))
                .collect::<rusqlite::Result<_>>()?,
            total: page.total,
            truncated: page.truncated,
        })
    } else {
        None
    };
    let described = |sql: &str| -> rusqlite::Result<Vec<Row>> {
        related(conn, sql, id)?
            .into_iter()
            .map(|other| describe(conn, other))
            .collect()
    };
    let (bases, derived) = if class {
        (
            Some(described(
                "SELECT DISTINCT b.base_id FROM bases b JOIN symbols s ON s.id = b.base_id
                 WHERE b.derived_id = ?1 ORDER BY s.qualified_name, s.usr",
            )?),
            Some(described(
                "SELECT DISTINCT b.derived_id FROM bases b JOIN symbols s ON s.id = b.derived_id
                 WHERE b.base_id = ?1 ORDER BY s.qualified_name, s.usr",
            )?),
        )
    } else {
        (None, None)
    };
    let method = matches!(
        symbol.kind,
        SymbolKind::Method
            | SymbolKind::Destructor
            | SymbolKind::ConversionFunction
            | SymbolKind::FunctionTemplate
    );
    let (overrides, overridden_by) = if method {
        (
            Some(described(
                "SELECT DISTINCT o.overridden_id FROM overrides o JOIN symbols s ON s.id = o.overridden_id
                 WHERE o.method_id = ?1 ORDER BY s.qualified_name, s.usr",
            )?),
            Some(described(
                "SELECT DISTINCT o.method_id FROM overrides o JOIN symbols s ON s.id = o.method_id
                 WHERE o.overridden_id = ?1 ORDER BY s.qualified_name, s.usr",
            )?),
        )
    } else {
        (None, None)
    };
    Ok(SymbolInfo {
        symbol,
        declarations,
        doc,
        container,
        underlying_type,
        canonical_type,
        members,
        bases,
        derived,
        overrides,
        overridden_by,
    })
}

/// The first column of the first row of `sql` for `id`, if any.
fn first<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    id: i64,
) -> rusqlite::Result<Option<T>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(sql)?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// The ids `sql` lists for `id`.
pub(super) fn related(conn: &Connection, sql: &str, id: i64) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(sql)?
        .query_map([id], |r| r.get(0))?
        .collect()
}
