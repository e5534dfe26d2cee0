//! References, callers and callees (trees with `depth`), and call paths.
//!
//! The call graph is the `refs` rows with the `call` role and a container
//! (the `calls` view), plus the `definition` references from what defines
//! a lambda to the lambda (what holds it may hand it to what calls it: a
//! walk through them reaches the function that defines it). A virtual call
//! is stored as a call of the method named (`dynamic` among its roles):
//! going up, the callers of a method include the dynamic calls of the
//! methods it overrides; going along a path, a dynamic call also reaches
//! every method overriding the one named. Every walk is bounded by a depth
//! and a node cap, and marks a function already on its path (recursion)
//! as a cycle instead of expanding it again.

use std::collections::{HashMap, HashSet, VecDeque};

use rusqlite::Connection;
use schemars::JsonSchema;
use serde::Serialize;

use super::files::Budget;
use super::{describe, resolve_all, use_row, Page, QueryError, Row, CALL_EDGE, SYMBOL_COLUMNS};
use crate::index::model::role;

/// What `refs`, `callers` and `callees` are asked besides the symbol.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions {
    /// Only uses with one of these `role` bits (see `role_mask`); 0 for
    /// all.
    pub roles: u32,
    /// `callers`/`callees`: levels of the tree (1: direct ones only).
    pub depth: u32,
    /// The first level's page.
    pub page: Page,
    /// Nodes below the first level at most, over the whole tree; 0 for no
    /// cap.
    pub max_nodes: usize,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            roles: 0,
            depth: 1,
            page: Page::default(),
            max_nodes: 500,
        }
    }
}

/// What `refs`, `callers` and `callees` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Uses {
    pub items: Vec<CallNode>,
    /// First-level rows in all.
    pub total: u64,
    /// Whether rows were left out: by the page, or the node cap.
    pub truncated: bool,
}

/// A use (for `callers`: a call site, the symbol being the caller and the
/// container the function called; for `callees`: the symbol called and the
/// container the caller), with the next level of the tree.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CallNode {
    #[serde(flatten)]
    pub row: Row,
    /// The symbol is already on the path from the root (recursion): not
    /// expanded again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cycle: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<CallNode>,
}

/// `ids` as an SQL list; they are integers.
fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Every use of the symbols `symbol` stands for, in file order.
pub(crate) fn refs(
    conn: &Connection,
    symbol: &str,
    options: CallOptions,
) -> Result<Uses, QueryError> {
    let ids = resolve_all(conn, symbol)?;
    let filter = format!(
        "r.symbol_id IN ({}) AND ({mask} = 0 OR (r.roles & {mask}) != 0)",
        id_list(&ids),
        mask = options.roles
    );
    let sql = format!(
        "SELECT {SYMBOL_COLUMNS}, f.path, r.line, r.col, r.roles, c.qualified_name, c.usr
         FROM refs r
         JOIN symbols s ON s.id = r.symbol_id
         JOIN files f ON f.id = r.file_id
         LEFT JOIN symbols c ON c.id = r.container_id
         WHERE {filter}
         ORDER BY f.path, r.line, r.col, s.usr
         LIMIT {} OFFSET {}",
        options.page.sql_limit(),
        options.page.offset
    );
    let rows = query_rows(conn, &sql)?;
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM refs r WHERE {filter}"),
        [],
        |r| r.get(0),
    )?;
    Ok(leaves(rows, total as u64, options.page))
}

fn leaves(rows: Vec<Row>, total: u64, page: Page) -> Uses {
    let truncated = (page.offset + rows.len()) < total as usize;
    Uses {
        items: rows
            .into_iter()
            .map(|row| CallNode {
                row,
                cycle: false,
                children: Vec::new(),
            })
            .collect(),
        total,
        truncated,
    }
}

fn query_rows(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<Row>> {
    conn.prepare_cached(sql)?.query_map([], use_row)?.collect()
}

/// Which way a call tree grows.
#[derive(Clone, Copy)]
enum Way {
    Callers,
    Callees,
}

/// The call sites of the functions `symbol` stands for, with their callers
/// (and theirs, `depth` levels up). For a virtual method, calls through a
/// method it overrides are included: they may dispatch to it (`dynamic`
/// among the roles). For a lambda, where it is defined is included
/// (`definition`).
pub(crate) fn callers(
    conn: &Connection,
    symbol: &str,
    options: CallOptions,
) -> Result<Uses, QueryError> {
    tree(conn, Way::Callers, resolve_all(conn, symbol)?, options)
}

/// What the functions `symbol` stands for call, with the call sites (and
/// what those call, `depth` levels down), and the lambdas they define
/// (`definition`).
pub(crate) fn callees(
    conn: &Connection,
    symbol: &str,
    options: CallOptions,
) -> Result<Uses, QueryError> {
    tree(conn, Way::Callees, resolve_all(conn, symbol)?, options)
}

fn tree(
    conn: &Connection,
    way: Way,
    ids: Vec<i64>,
    options: CallOptions,
) -> Result<Uses, QueryError> {
    let (rows, total) = level(conn, way, &ids, options.roles, Some(options.page))?;
    let mut budget = Budget::new(options.max_nodes);
    let mut path = ids.clone();
    let items = grow(
        conn,
        way,
        rows,
        options.depth.max(1) - 1,
        options.roles,
        &mut path,
        &mut budget,
    )?;
    let truncated = (options.page.offset + items.len()) < total as usize || budget.cut;
    Ok(Uses {
        items,
        total,
        truncated,
    })
}

/// Nodes for `rows`, each with `depth` more levels below it.
fn grow(
    conn: &Connection,
    way: Way,
    rows: Vec<Row>,
    depth: u32,
    roles: u32,
    path: &mut Vec<i64>,
    budget: &mut Budget,
) -> rusqlite::Result<Vec<CallNode>> {
    // A function with several call sites at one level is expanded at its
    // first.
    let mut expanded = HashSet::new();
    let mut nodes = Vec::with_capacity(rows.len());
    for row in rows {
        let next = row.id;
        let cycle = path.contains(&next);
        let children = if depth == 0 || cycle || !expanded.insert(next) {
            Vec::new()
        } else {
            let (below, _) = level(conn, way, &[next], roles, None)?;
            let mut taken = Vec::new();
            for row in below {
                if !budget.take() {
                    break;
                }
                taken.push(row);
            }
            path.push(next);
            let children = grow(conn, way, taken, depth - 1, roles, path, budget)?;
            path.pop();
            children
        };
        nodes.push(CallNode {
            row,
            cycle,
            children,
        });
    }
    Ok(nodes)
}

/// One level of a call tree: the rows for `ids` (a page of them, if
/// given) and their total.
fn level(
    conn: &Connection,
    way: Way,
    ids: &[i64],
    roles: u32,
    page: Option<Page>,
) -> rusqlite::Result<(Vec<Row>, u64)> {
    let mask = format!("({roles} = 0 OR (r.roles & {roles}) != 0)");
    let (select, filter) = match way {
        Way::Callers => {
            let overridden = overridden_closure(conn, ids)?;
            let either: Vec<i64> = ids.iter().chain(&overridden).copied().collect();
            (
                // For a caller, the "container" columns hold what it calls.
                format!(
                    "SELECT {SYMBOL_COLUMNS}, f.path, r.line, r.col, r.roles, c.qualified_name, c.usr
                     FROM refs r
                     JOIN symbols s ON s.id = r.container_id
                     JOIN symbols c ON c.id = r.symbol_id
                     JOIN files f ON f.id = r.file_id"
                ),
                // One `IN` over both lists, so that SQLite looks the rows up
                // in refs_by_symbol: `ids OR dynamic AND overridden` made it
                // scan all of refs whenever `overridden` was empty (issue
                // 17: 40 ms per call on protobuf).
                format!(
                    "(r.roles & {CALL_EDGE}) != 0 AND r.container_id IS NOT NULL AND {mask}
                     AND r.symbol_id IN ({})
                     AND (r.symbol_id IN ({}) OR (r.roles & {dynamic}) != 0)",
                    id_list(&either),
                    id_list(ids),
                    dynamic = role::DYNAMIC,
                ),
            )
        }
        Way::Callees => (
            format!(
                "SELECT {SYMBOL_COLUMNS}, f.path, r.line, r.col, r.roles, c.qualified_name, c.usr
                 FROM refs r
                 JOIN symbols s ON s.id = r.symbol_id
                 JOIN files f ON f.id = r.file_id
                 LEFT JOIN symbols c ON c.id = r.container_id"
            ),
            format!(
                "r.container_id IN ({}) AND (r.roles & {CALL_EDGE}) != 0 AND {mask}",
                id_list(ids)
            ),
        ),
    };
    let (limit, offset) = page.map_or((-1, 0), |p| (p.sql_limit(), p.offset));
    let rows = query_rows(
        conn,
        &format!(
            "{select} WHERE {filter} ORDER BY f.path, r.line, r.col, s.usr LIMIT {limit} OFFSET {offset}"
        ),
    )?;
    let total = match page {
        Some(_) => conn.query_row(
            &format!("SELECT count(*) FROM refs r WHERE {filter}"),
            [],
            |r| r.get::<_, i64>(0),
        )? as u64,
        None => rows.len() as u64,
    };
    Ok((rows, total))
}

/// The methods `ids` override, directly or not.
fn overridden_closure(conn: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<i64>> {
    closure(
        conn,
        "SELECT overridden_id FROM overrides WHERE method_id = ?1",
        ids,
    )
}

/// The methods overriding `ids`, directly or not.
fn overrider_closure(conn: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<i64>> {
    closure(
        conn,
        "SELECT method_id FROM overrides WHERE overridden_id = ?1",
        ids,
    )
}

/// What `sql` reaches from `ids`, transitively (`ids` themselves left out
/// unless reached again).
fn closure(conn: &Connection, sql: &str, ids: &[i64]) -> rusqlite::Result<Vec<i64>> {
    let mut seen: HashSet<i64> = HashSet::new();
    let mut found = Vec::new();
    let mut queue: VecDeque<i64> = ids.iter().copied().collect();
    let mut stmt = conn.prepare_cached(sql)?;
    while let Some(id) = queue.pop_front() {
        for next in stmt.query_map([id], |r| r.get::<_, i64>(0))? {
            let next = next?;
            if seen.insert(next) {
                found.push(next);
                queue.push_back(next);
            }
        }
    }
    Ok(found)
}

/// What `path` answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CallPaths {
    /// The functions the two names stand for.
    pub from: Vec<Row>,
    pub to: Vec<Row>,
    /// Call chains, shortest first.
    pub items: Vec<CallPath>,
    /// Chains found.
    pub total: u64,
    /// Whether the search stopped before it had looked at every chain up
    /// to the maximal depth (the limit was reached, or the search cap).
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CallPath {
    /// From the first function to the last; each step but the last says
    /// where it calls the next.
    pub steps: Vec<PathStep>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PathStep {
    pub function: Row,
    /// Where this function calls the next step's (none for the last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<CallSite>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CallSite {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// A virtual call that reaches the next function by dispatch (it names
    /// a method the next one overrides, or the next one itself).
    pub dynamic: bool,
    /// Not a call: where a lambda is defined (the next step).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lambda_definition: bool,
}

/// Path extensions a search looks at, at most: a bound on its time on a
/// densely connected graph.
const SEARCH_CAP: usize = 20_000;

/// Call chains from any function `from` stands for to any `to` stands for,
/// shortest first, at most `max_depth` calls long; `limit` chains at most
/// (0: 10). Each function appears at most once in a chain.
pub(crate) fn call_paths(
    conn: &Connection,
    from: &str,
    to: &str,
    max_depth: u32,
    limit: usize,
) -> Result<CallPaths, QueryError> {
    let sources = resolve_all(conn, from)?;
    let targets: HashSet<i64> = resolve_all(conn, to)?.into_iter().collect();
    let limit = if limit == 0 { 10 } else { limit };
    let mut edges: HashMap<i64, Vec<(i64, CallSite)>> = HashMap::new();
    // Breadth first over chains: each is a list of (function, call to the
    // next); a function is entered at most `limit` times, which keeps the
    // `limit` shortest chains through it.
    let mut entered: HashMap<i64, usize> = HashMap::new();
    let mut queue: VecDeque<Vec<(i64, Option<CallSite>)>> =
        sources.iter().map(|&s| vec![(s, None)]).collect();
    let mut found: Vec<Vec<(i64, Option<CallSite>)>> = Vec::new();
    let mut looked = 0;
    let mut truncated = false;
    while let Some(chain) = queue.pop_front() {
        let (last, _) = chain[chain.len() - 1];
        if targets.contains(&last) && chain.len() > 1 {
            found.push(chain);
            if found.len() >= limit {
                truncated = !queue.is_empty();
                break;
            }
            continue;
        }
        if chain.len() > max_depth as usize {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = edges.entry(last) {
            entry.insert(out_edges(conn, last)?);
        }
        for (next, site) in &edges[&last] {
            if chain.iter().any(|(f, _)| f == next) {
                continue;
            }
            let times = entered.entry(*next).or_default();
            if *times >= limit {
                continue;
            }
            *times += 1;
            looked += 1;
            if looked > SEARCH_CAP {
                truncated = true;
                queue.clear();
                break;
            }
            let mut longer = chain.clone();
            let at = longer.len() - 1;
            longer[at].1 = Some(site.clone());
            longer.push((*next, None));
            queue.push_back(longer);
        }
    }
    // A source that is also a target is a chain of its own only through a call.
    let mut described: HashMap<i64, Row> = HashMap::new();
    let mut row_of = |id: i64| -> rusqlite::Result<Row> {
        if let Some(row) = described.get(&id) {
            return Ok(row.clone());
        }
        let row = describe(conn, id)?;
        described.insert(id, row.clone());
        Ok(row)
    };
    let items = found
        .into_iter()
        .map(|chain| {
            Ok(CallPath {
                steps: chain
                    .into_iter()
                    .map(|(id, call)| {
                        Ok(PathStep {
                            function: row_of(id)?,
                            call,
                        })
                    })
                    .collect::<rusqlite::Result<_>>()?,
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut sorted_targets: Vec<i64> = targets.into_iter().collect();
    sorted_targets.sort_unstable();
    let from = sources
        .iter()
        .map(|&id| row_of(id))
        .collect::<rusqlite::Result<_>>()?;
    let mut to: Vec<Row> = sorted_targets
        .into_iter()
        .map(row_of)
        .collect::<rusqlite::Result<_>>()?;
    to.sort_by(|a, b| (&a.qualified_name, &a.usr).cmp(&(&b.qualified_name, &b.usr)));
    Ok(CallPaths {
        from,
        to,
        total: items.len() as u64,
        items,
        truncated,
    })
}

/// Where `function` goes in the call graph: what it calls (first call site
/// of each), the lambdas it defines, and for a dynamic call, every method
/// overriding the one called.
fn out_edges(conn: &Connection, function: i64) -> rusqlite::Result<Vec<(i64, CallSite)>> {
    let calls: Vec<(i64, String, u32, u32, u32)> = conn
        .prepare_cached(&format!(
            "SELECT r.symbol_id, f.path, r.line, r.col, r.roles FROM refs r JOIN files f ON f.id = r.file_id
             WHERE r.container_id = ?1 AND (r.roles & {CALL_EDGE}) != 0
             ORDER BY f.path, r.line, r.col"
        ))?
        .query_map([function], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut seen = HashSet::new();
    let mut edges = Vec::new();
    for (callee, file, line, column, roles) in calls {
        let dynamic = roles & role::DYNAMIC != 0;
        let site = CallSite {
            file,
            line,
            column,
            dynamic,
            lambda_definition: roles & role::CALL == 0,
        };
        if seen.insert(callee) {
            edges.push((callee, site.clone()));
        }
        if dynamic {
            for overrider in overrider_closure(conn, &[callee])? {
                if seen.insert(overrider) {
                    edges.push((overrider, site.clone()));
                }
            }
        }
    }
    Ok(edges)
}
