//! The pending units, read in pages for the dispatch queue (`plan`).
//!
//! Pages are taken by keyset on `(cost, id)` along the partial index
//! `units_by_cost`, so a page costs its own rows and no sort (SQLite would
//! give a sort of every pending unit a temporary B-tree of its own, with a
//! 2 MB cache); units the writer marks `indexed` meanwhile leave the index
//! and neither shift nor repeat the pages.

use rusqlite::{params, Connection};

use crate::protocol::{IndexRequest, UnitId};

/// A read connection over the committed plan.
pub(crate) struct PendingUnits {
    conn: Connection,
}

impl PendingUnits {
    /// The next page after the keyset `(?1, ?2)`. `cost <= ?1` is the index
    /// range; the rest of the condition only skips the units of cost ?1
    /// already taken.
    const PAGE_SQL: &str = "SELECT u.cost, u.id, f.path, u.directory, u.args, u.prelude_fell_back
         FROM units u INDEXED BY units_by_cost JOIN files f ON f.id = u.file_id
         WHERE u.state = 'pending' AND u.cost <= ?1 AND (u.cost < ?1 OR u.id > ?2)
         ORDER BY u.cost DESC, u.id
         LIMIT ?3";

    /// `conn` must see the committed plan (see `refresh`).
    pub(crate) fn new(conn: Connection) -> PendingUnits {
        PendingUnits { conn }
    }

    pub(crate) fn count(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM units WHERE state = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
    }

    /// Up to `limit` units after `after` (a `(cost, id)`, `(i64::MAX, 0)`
    /// to start), most expensive first, each with its cost and keyset, and
    /// whether it fell back from its prelude the last time it
    /// was given it.
    pub(crate) fn page(
        &self,
        after: (i64, i64),
        limit: i64,
        mut each: impl FnMut((i64, i64), IndexRequest, bool),
    ) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare_cached(Self::PAGE_SQL)?;
        let mut rows = stmt.query(params![after.0, after.1, limit])?;
        while let Some(row) = rows.next()? {
            let cost: i64 = row.get(0)?;
            let id: i64 = row.get(1)?;
            let args: String = row.get(4)?;
            // The refresh stored the arguments from a `Vec<String>`; what does
            // not read back as one is a damaged row, not an empty command.
            let args = serde_json::from_str(&args).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, e.into())
            })?;
            each(
                (cost, id),
                IndexRequest {
                    unit: UnitId::try_from(id).expect("unit ids fit in 32 bits"),
                    file: row.get(2)?,
                    directory: row.get(3)?,
                    args,
                    prelude: None,
                },
                row.get(5)?,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_read_along_the_index_without_a_sort() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::index::SCHEMA).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", PendingUnits::PAGE_SQL))
            .unwrap()
            .query_map(params![i64::MAX, 0, 512], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().any(|step| step.contains("units_by_cost")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
