//! Questions about a file: its outline, the symbol at a position in it,
//! and the include graph around it; and how a file a user names is found.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension};
use schemars::JsonSchema;
use serde::Serialize;

use super::{describe, like_escape, List, Page, QueryError, Row};
use crate::index::model::{role_names, SymbolKind};

/// The `files` row a user means by `spec`: the first of `candidates` (the
/// spec made absolute against the project, the working directory, ...)
/// that the index holds; else the one file whose path ends with `/spec`.
/// Returns its id and path.
pub(crate) fn resolve_file(
    conn: &Connection,
    spec: &str,
    candidates: &[PathBuf],
) -> Result<(i64, String), QueryError> {
    let mut by_path = conn.prepare_cached("SELECT id, path FROM files WHERE path = ?1")?;
    for candidate in candidates {
        let found = by_path
            .query_row([candidate.to_string_lossy()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some(found) = found {
            return Ok(found);
        }
    }
    let tail = spec.trim_start_matches("./");
    if tail.is_empty() || tail.starts_with('/') {
        return Err(QueryError::FileNotFound(spec.to_owned()));
    }
    let found: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, path FROM files WHERE path LIKE '%/' || ?1 ESCAPE '\\' ORDER BY path LIMIT 11",
        )?
        .query_map([like_escape(tail)], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // LIKE ignores case; a path does not.
    let found: Vec<(i64, String)> = found
        .into_iter()
        .filter(|(_, path)| path.ends_with(&format!("/{tail}")))
        .collect();
    match found.len() {
        0 => Err(QueryError::FileNotFound(spec.to_owned())),
        1 => Ok(found.into_iter().next().expect("one")),
        _ => Err(QueryError::AmbiguousFile {
            spec: spec.to_owned(),
            candidates: found.into_iter().map(|(_, path)| path).collect(),
        }),
    }
}

/// What `outline` answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Outline {
    /// The file, as the index holds it.
    pub file: String,
    /// The symbols declared at the top of the file, each with what it
    /// holds. `total` counts every symbol of the file; a page takes the
    /// first ones in the file's order.
    #[serde(flatten)]
    pub symbols: List<OutlineNode>,
}

/// A symbol declared in the file, with the symbols declared inside it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OutlineNode {
    pub usr: String,
    pub name: String,
    pub qualified_name: String,
    pub kind: SymbolKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Where its name is (its definition in this file if it has one,
    /// else its first declaration).
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub definition: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<OutlineNode>,
}

/// The symbols declared in a file, nested by container: members in their
/// class, classes in their namespace (when the namespace is declared in
/// the file too; an out-of-line method's class is not, so the method is
/// at the top, qualified).
pub(crate) fn outline(
    conn: &Connection,
    file_id: i64,
    path: String,
    page: Page,
) -> Result<Outline, QueryError> {
    struct Flat {
        node: OutlineNode,
        id: i64,
        container: Option<i64>,
    }
    let mut flat: Vec<Flat> = Vec::new();
    let mut by_symbol: HashMap<i64, usize> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.usr, s.name, s.qualified_name, s.kind, s.type,
                d.line, d.col, d.end_line, d.end_col, d.is_definition, d.container_id
         FROM decls d JOIN symbols s ON s.id = d.symbol_id
         WHERE d.file_id = ?1 ORDER BY d.line, d.col, s.usr",
    )?;
    let mut rows = stmt.query([file_id])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let definition: bool = r.get(10)?;
        let place = (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?);
        if let Some(&seen) = by_symbol.get(&id) {
            // A symbol declared and defined in the file shows its definition.
            let node = &mut flat[seen].node;
            if definition && !node.definition {
                (node.line, node.column, node.end_line, node.end_column) = place;
                node.definition = true;
            }
            continue;
        }
        let signature: String = r.get(5)?;
        by_symbol.insert(id, flat.len());
        flat.push(Flat {
            id,
            container: r.get(11)?,
            node: OutlineNode {
                usr: r.get(1)?,
                name: r.get(2)?,
                qualified_name: r.get(3)?,
                kind: r.get(4)?,
                signature: Some(signature).filter(|s| !s.is_empty()),
                line: place.0,
                column: place.1,
                end_line: place.2,
                end_column: place.3,
                definition,
                children: Vec::new(),
            },
        });
    }
    let total = flat.len() as u64;
    let flat: Vec<Flat> = flat
        .into_iter()
        .skip(page.offset)
        .take(if page.limit == 0 {
            usize::MAX
        } else {
            page.limit
        })
        .collect();
    let shown = flat.len();
    let index: HashMap<i64, usize> = flat.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
    let parent: Vec<Option<usize>> = flat
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.container
                .and_then(|c| index.get(&c).copied())
                .filter(|&p| p != i)
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); flat.len()];
    let mut roots = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(p) => children[*p].push(i),
            None => roots.push(i),
        }
    }
    let mut nodes: Vec<Option<OutlineNode>> = flat.into_iter().map(|f| Some(f.node)).collect();
    // Each node is taken once; a container cycle (none is expected) would
    // leave its nodes out rather than loop.
    fn build(
        i: usize,
        nodes: &mut [Option<OutlineNode>],
        children: &[Vec<usize>],
    ) -> Option<OutlineNode> {
        let mut node = nodes[i].take()?;
        node.children = children[i]
            .iter()
            .filter_map(|&c| build(c, nodes, children))
            .collect();
        Some(node)
    }
    let items = roots
        .into_iter()
        .filter_map(|r| build(r, &mut nodes, &children))
        .collect();
    Ok(Outline {
        file: path,
        symbols: List {
            items,
            total,
            truncated: (page.offset + shown) < total as usize,
        },
    })
}

/// A position in a file, as `at` is asked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    /// `None`: anywhere on the line.
    pub column: Option<u32>,
}

/// What `at` answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct At {
    pub file: String,
    pub line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The symbols declared or referred to there, in column order.
    #[serde(flatten)]
    pub occurrences: List<Occurrence>,
}

/// A name at the position: a declaration or a use of a symbol.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Occurrence {
    /// `definition`, `declaration` or `reference`.
    pub occurrence: &'static str,
    pub line: u32,
    pub column: u32,
    /// For a reference: its roles (`call`, `read`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<&'static str>,
    /// The symbol, with where it is defined (or first declared).
    pub symbol: Row,
}

/// The declarations and references at `position` of a file. With a
/// column, those whose name covers it (it starts at or before the column,
/// and the symbol's name is long enough to reach it).
pub(crate) fn at(
    conn: &Connection,
    file_id: i64,
    path: String,
    position: Position,
    page: Page,
) -> Result<At, QueryError> {
    let mut found: Vec<(u32, u32, &'static str, Vec<&'static str>, i64)> = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT d.line, d.col, d.is_definition, NULL, d.symbol_id, length(CAST(s.name AS BLOB))
         FROM decls d JOIN symbols s ON s.id = d.symbol_id WHERE d.file_id = ?1 AND d.line = ?2
         UNION ALL
         SELECT r.line, r.col, 0, r.roles, r.symbol_id, length(CAST(s.name AS BLOB))
         FROM refs r JOIN symbols s ON s.id = r.symbol_id WHERE r.file_id = ?1 AND r.line = ?2
         ORDER BY 2, 4 NULLS FIRST, 5",
    )?;
    let mut rows = stmt.query(params![file_id, position.line])?;
    let mut seen = HashSet::new();
    while let Some(r) = rows.next()? {
        let (line, col): (u32, u32) = (r.get(0)?, r.get(1)?);
        let roles: Option<u32> = r.get(3)?;
        let symbol: i64 = r.get(4)?;
        let length: u32 = r.get(5)?;
        if let Some(column) = position.column {
            if !(col <= column && column < col + length.max(1)) {
                continue;
            }
        }
        // A lambda is declared and referred to where it is defined: once.
        if !seen.insert((symbol, col)) {
            continue;
        }
        let occurrence = match (roles, r.get::<_, bool>(2)?) {
            (Some(_), _) => "reference",
            (None, true) => "definition",
            (None, false) => "declaration",
        };
        found.push((
            line,
            col,
            occurrence,
            roles.map(role_names).unwrap_or_default(),
            symbol,
        ));
    }
    let page = page.of(found);
    let items = page
        .items
        .into_iter()
        .map(|(line, column, occurrence, roles, symbol)| {
            Ok(Occurrence {
                occurrence,
                line,
                column,
                roles,
                symbol: describe(conn, symbol)?,
            })
        })
        .collect::<rusqlite::Result<_>>()?;
    Ok(At {
        file: path,
        line: position.line,
        column: position.column,
        occurrences: List {
            items,
            total: page.total,
            truncated: page.truncated,
        },
    })
}

/// What `includes` answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Includes {
    pub file: String,
    /// `includes` (what the file includes) or `included_by`.
    pub direction: &'static str,
    /// The tree, `depth` levels deep; `total` counts its nodes, and
    /// `truncated` says the node cap (the page's limit) cut it.
    #[serde(flatten)]
    pub tree: List<IncludeNode>,
}

/// A file in the include tree.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IncludeNode {
    pub file: String,
    /// The line of the `#include` (in the parent for `includes`, in this
    /// file for `included_by`).
    pub line: u32,
    pub system: bool,
    /// Already on the path from the root (an include cycle): not expanded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cycle: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<IncludeNode>,
}

/// The files `file_id` includes (`reverse`: that include it), `depth`
/// levels deep, at most `page.limit` nodes (0: no cap).
pub(crate) fn includes(
    conn: &Connection,
    file_id: i64,
    path: String,
    reverse: bool,
    depth: u32,
    page: Page,
) -> Result<Includes, QueryError> {
    let sql = if reverse {
        "SELECT DISTINCT i.file_id, i.line, f.path, f.is_system FROM includes i JOIN files f ON f.id = i.file_id
         WHERE i.included_id = ?1 ORDER BY f.path, i.line"
    } else {
        "SELECT DISTINCT i.included_id, i.line, f.path, f.is_system FROM includes i JOIN files f ON f.id = i.included_id
         WHERE i.file_id = ?1 ORDER BY i.line, f.path"
    };
    let cap = if page.limit == 0 {
        usize::MAX
    } else {
        page.limit
    };
    let mut budget = Budget {
        left: cap,
        cut: false,
    };
    let mut path_ids = vec![file_id];
    let items = include_level(conn, sql, file_id, depth.max(1), &mut path_ids, &mut budget)?;
    let total = count(&items) as u64;
    Ok(Includes {
        file: path,
        direction: if reverse { "included_by" } else { "includes" },
        tree: List {
            items,
            total,
            truncated: budget.cut,
        },
    })
}

/// How many more nodes a tree may take, and whether it was cut.
pub(super) struct Budget {
    pub(super) left: usize,
    pub(super) cut: bool,
}

impl Budget {
    /// Takes one node, if any is left.
    pub(super) fn take(&mut self) -> bool {
        if self.left == 0 {
            self.cut = true;
            return false;
        }
        self.left -= 1;
        true
    }
}

fn include_level(
    conn: &Connection,
    sql: &str,
    file: i64,
    depth: u32,
    path_ids: &mut Vec<i64>,
    budget: &mut Budget,
) -> rusqlite::Result<Vec<IncludeNode>> {
    let next: Vec<(i64, u32, String, bool)> = conn
        .prepare_cached(sql)?
        .query_map([file], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut nodes = Vec::new();
    for (id, line, path, system) in next {
        if !budget.take() {
            break;
        }
        let cycle = path_ids.contains(&id);
        let children = if cycle || depth <= 1 {
            Vec::new()
        } else {
            path_ids.push(id);
            let children = include_level(conn, sql, id, depth - 1, path_ids, budget)?;
            path_ids.pop();
            children
        };
        nodes.push(IncludeNode {
            file: path,
            line,
            system,
            cycle,
            children,
        });
    }
    Ok(nodes)
}

fn count(nodes: &[IncludeNode]) -> usize {
    nodes.iter().map(|n| 1 + count(&n.children)).sum()
}
