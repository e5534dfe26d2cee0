//! `hierarchy`: a class's bases and derived classes, as trees. A base
//! libclang names (a class template for `Base<T>`, a specialization's
//! template) is there; a dependent base (`T`) names no class and is not.

use rusqlite::Connection;
use schemars::JsonSchema;
use serde::Serialize;

use super::files::Budget;
use super::{describe, resolve_all, QueryError, Row};

/// Which way `hierarchy` walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Bases, their bases, ...
    Up,
    /// Derived classes, theirs, ...
    Down,
    #[default]
    Both,
}

/// What `hierarchy` is asked besides the class.
#[derive(Debug, Clone, Copy)]
pub struct HierarchyOptions {
    pub direction: Direction,
    /// Levels each way (at least 1).
    pub depth: u32,
    /// Nodes at most, over all trees; 0 for no cap.
    pub max_nodes: usize,
}

impl Default for HierarchyOptions {
    fn default() -> Self {
        HierarchyOptions {
            direction: Direction::Both,
            depth: 10,
            max_nodes: 200,
        }
    }
}

/// What `hierarchy` answers: one tree pair per class the name stands for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Hierarchy {
    pub items: Vec<HierarchyRoot>,
    /// Nodes in all the trees.
    pub total: u64,
    /// Whether the node cap cut a tree.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HierarchyRoot {
    pub class: Row,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bases: Option<Vec<HierarchyNode>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<Vec<HierarchyNode>>,
}

/// A class in a tree, with the next level (its bases going up, its derived
/// classes going down).
#[derive(Debug, Serialize, JsonSchema)]
pub struct HierarchyNode {
    pub class: Row,
    /// Inherited virtually.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub virtual_base: bool,
    /// Already on the path from the root: not expanded again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cycle: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<HierarchyNode>,
}

pub(crate) fn hierarchy(
    conn: &Connection,
    class: &str,
    options: HierarchyOptions,
) -> Result<Hierarchy, QueryError> {
    let mut classes = Vec::new();
    for id in resolve_all(conn, class)? {
        let row = describe(conn, id)?;
        if row.kind.is_class() {
            classes.push(row);
        }
    }
    if classes.is_empty() {
        return Err(QueryError::NotAClass(class.to_owned()));
    }
    let mut budget = Budget {
        left: if options.max_nodes == 0 {
            usize::MAX
        } else {
            options.max_nodes
        },
        cut: false,
    };
    const UP: &str =
        "SELECT DISTINCT b.base_id, b.is_virtual FROM bases b JOIN symbols s ON s.id = b.base_id
                      WHERE b.derived_id = ?1 ORDER BY s.qualified_name, s.usr";
    const DOWN: &str = "SELECT DISTINCT b.derived_id, b.is_virtual FROM bases b JOIN symbols s ON s.id = b.derived_id
                        WHERE b.base_id = ?1 ORDER BY s.qualified_name, s.usr";
    let depth = options.depth.max(1);
    let mut items = Vec::new();
    for class in classes {
        let mut path = vec![class.id];
        let bases = match options.direction {
            Direction::Up | Direction::Both => {
                Some(level(conn, UP, class.id, depth, &mut path, &mut budget)?)
            }
            Direction::Down => None,
        };
        let derived = match options.direction {
            Direction::Down | Direction::Both => {
                Some(level(conn, DOWN, class.id, depth, &mut path, &mut budget)?)
            }
            Direction::Up => None,
        };
        items.push(HierarchyRoot {
            class,
            bases,
            derived,
        });
    }
    fn count(nodes: &[HierarchyNode]) -> u64 {
        nodes.iter().map(|n| 1 + count(&n.children)).sum()
    }
    let total = items
        .iter()
        .map(|r| 1 + r.bases.as_deref().map_or(0, count) + r.derived.as_deref().map_or(0, count))
        .sum();
    Ok(Hierarchy {
        items,
        total,
        truncated: budget.cut,
    })
}

fn level(
    conn: &Connection,
    sql: &str,
    class: i64,
    depth: u32,
    path: &mut Vec<i64>,
    budget: &mut Budget,
) -> rusqlite::Result<Vec<HierarchyNode>> {
    let next: Vec<(i64, bool)> = conn
        .prepare_cached(sql)?
        .query_map([class], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut nodes = Vec::new();
    for (id, virtual_base) in next {
        if !budget.take() {
            break;
        }
        let cycle = path.contains(&id);
        let children = if cycle || depth <= 1 {
            Vec::new()
        } else {
            path.push(id);
            let children = level(conn, sql, id, depth - 1, path, budget)?;
            path.pop();
            children
        };
        nodes.push(HierarchyNode {
            class: describe(conn, id)?,
            virtual_base,
            cycle,
            children,
        });
    }
    Ok(nodes)
}
