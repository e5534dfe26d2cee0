//! `find`: symbols by name, case-insensitive.
//!
//! A pattern is matched against names and qualified names:
//! - without `*` or `?`, as a substring, ranked: exact matches first (the
//!   name, the qualified name, or a qualified name's suffix after a `::`,
//!   so `geo::Circle` ranks `app::geo::Circle` exact), then prefixes, then
//!   the rest;
//! - with them, as a glob of the whole name, qualified name, or a
//!   qualified name's suffix after a `::`;
//! - `::name` (a glob or not) matches global symbols only: the whole
//!   qualified name.
//!
//! Filters: kind, scope (project files or also system headers), a file
//! declaring the symbol, a namespace holding it. Both a substring and a
//! glob scan the symbols table; the filters are index lookups per match.

use rusqlite::{params, Connection};
use schemars::JsonSchema;
use serde::Serialize;

use super::{describe, glob_to_like, like_escape, Page, QueryError, Row, MAX_PATTERN_BYTES};
use crate::index::model::SymbolKind;

/// Which symbols `find` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Symbols declared in the project's own files.
    #[default]
    Project,
    /// Also the symbols of system headers the project refers to (they have
    /// no location unless the index was built with `--index-system-headers`).
    All,
}

/// What `find` is asked besides the pattern.
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    /// One of the symbol kinds (`class`, `function`, ...).
    pub kind: Option<String>,
    pub scope: Scope,
    /// Only symbols declared in this file (a path as the index holds it:
    /// see `Index::resolve_file`).
    pub file: Option<String>,
    /// Only symbols inside this namespace (or class): `geo`, `geo::detail`.
    pub namespace: Option<String>,
    pub page: Page,
}

/// What `find` answers: a page of symbols, best matches first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Found {
    /// Each symbol with its definition (or first declaration) and
    /// signature.
    pub items: Vec<Row>,
    /// Matches in all.
    pub total: u64,
    pub truncated: bool,
    /// Matches left out because they are not declared in the project's
    /// files (`Scope::Project` only): `scope: all` shows them.
    pub external_left_out: u64,
}

/// Symbols matching `pattern` (see the module comment).
pub(crate) fn find(
    conn: &Connection,
    pattern: &str,
    options: &FindOptions,
    file_id: Option<i64>,
) -> Result<Found, QueryError> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(QueryError::PatternTooLong(pattern.len()));
    }
    let kind = match options.kind.as_deref() {
        Some(name) => {
            Some(SymbolKind::parse(name).ok_or_else(|| QueryError::UnknownKind(name.to_owned()))?)
        }
        None => None,
    };
    let (global, body) = match pattern.strip_prefix("::") {
        Some(body) => (true, body),
        None => (false, pattern),
    };
    let glob = body.contains(['*', '?']);
    // ?1: the pattern as a LIKE pattern; ?2: as text.
    let like = if glob {
        glob_to_like(body)
    } else {
        like_escape(body)
    };
    let (matches, rank) = if global {
        // `?2 IS NOT NULL`: every statement binds the same parameters.
        (
            "s.qualified_name LIKE ?1 ESCAPE '\\' AND ?2 IS NOT NULL",
            "",
        )
    } else if glob {
        (
            "(s.name LIKE ?1 ESCAPE '\\' OR s.qualified_name LIKE ?1 ESCAPE '\\'
              OR s.qualified_name LIKE '%::' || ?1 ESCAPE '\\') AND ?2 IS NOT NULL",
            "",
        )
    } else {
        // LIKE, not `instr(lower(..), lower(?2))`: the same match (both fold
        // ASCII case only), without a lowered copy of every name (issue
        // 17: half the time of a scan).
        (
            "(s.name LIKE '%' || ?1 || '%' ESCAPE '\\' OR s.qualified_name LIKE '%' || ?1 || '%' ESCAPE '\\')
             AND ?2 IS NOT NULL",
            "CASE WHEN s.name LIKE ?1 ESCAPE '\\' OR s.qualified_name LIKE ?1 ESCAPE '\\'
                       OR s.qualified_name LIKE '%::' || ?1 ESCAPE '\\' THEN 0
                  WHEN s.name LIKE ?1 || '%' ESCAPE '\\' OR s.qualified_name LIKE ?1 || '%' ESCAPE '\\'
                       OR instr(?2, '::') > 0 AND s.qualified_name LIKE '%::' || ?1 || '%' ESCAPE '\\' THEN 1
                  ELSE 2 END,",
        )
    };
    const IN_PROJECT: &str = "EXISTS (SELECT 1 FROM decls x JOIN files g ON g.id = x.file_id
                                      WHERE x.symbol_id = s.id AND g.is_system = 0)";
    let filters = "(?3 IS NULL OR s.kind = ?3)
         AND (?4 IS NULL OR s.qualified_name LIKE ?4 || '::%' ESCAPE '\\')
         AND (?5 IS NULL OR EXISTS (SELECT 1 FROM decls y WHERE y.symbol_id = s.id AND y.file_id = ?5))";
    let in_scope = match options.scope {
        Scope::Project => IN_PROJECT,
        Scope::All => "1",
    };
    let namespace = options.namespace.as_deref().map(like_escape);
    let args = params![like, body, kind, namespace, file_id];
    // The page's symbols first, then where each is declared: looking a
    // declaration up for every match would cost as much as the scan.
    let sql = format!(
        "SELECT s.id FROM symbols s
         WHERE {matches} AND {filters} AND {in_scope}
         ORDER BY {rank} s.qualified_name, s.usr
         LIMIT {} OFFSET {}",
        options.page.sql_limit(),
        options.page.offset
    );
    let ids: Vec<i64> = conn
        .prepare(&sql)?
        .query_map(args, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let items: Vec<Row> = ids
        .into_iter()
        .map(|id| describe(conn, id))
        .collect::<rusqlite::Result<_>>()?;
    // Both counts in one scan: the matches, and those in scope.
    let (matched, total): (i64, i64) = conn.query_row(
        &format!(
            "SELECT count(*), coalesce(sum(in_scope), 0) FROM
               (SELECT {in_scope} AS in_scope FROM symbols s WHERE {matches} AND {filters})"
        ),
        args,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // Scope::All: every match is in scope.
    let external_left_out = matched - total;
    let truncated = (options.page.offset + items.len()) < total as usize;
    Ok(Found {
        items,
        total: total as u64,
        truncated,
        external_left_out: external_left_out as u64,
    })
}
