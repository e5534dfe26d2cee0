//! The dispatch queue: the pending units, most expensive first.
//!
//! The queue reads the `units` table through its own read-only connection,
//! one page at a time, instead of holding the whole plan in memory: the
//! supervisor's footprint must not grow with the number of units. Pages are
//! taken by keyset on `(cost, id)` along the partial index `units_by_cost`,
//! so a page costs its own rows and no sort (SQLite would give a sort of
//! every pending unit a temporary B-tree of its own, with a 2 MB cache);
//! units the writer marks `indexed` meanwhile leave the index and neither
//! shift nor repeat the pages.
//!
//! Cost ([`assign_costs`]) is the unit's parse time in the previous run when
//! known, else its size (roughly a millisecond per kilobyte). Expensive
//! units go first so that the last worker does not finish a long unit alone.
//!
//! A worker may ask for a unit near the one it did last: libclang skips the
//! bodies of headers a worker already parsed, so units of one directory,
//! which share most of their headers, are cheaper on the same worker. Such
//! a unit is taken out of order only while it costs at least a quarter of
//! the next unit in line, so that affinity never leaves an expensive unit
//! for the end.

use std::collections::VecDeque;
use std::path::Path;

use rusqlite::{params, Connection};

use crate::protocol::{IndexRequest, UnitId};

const PAGE: i64 = 512;

/// A unit to dispatch, and whether it is the retry of one whose worker died.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub request: IndexRequest,
    pub retry: bool,
}

pub(crate) struct Queue {
    conn: Connection,
    /// The `(cost, id)` of the last unit read from the table.
    after: (i64, i64),
    /// Units read from the table, most expensive first, with their cost.
    page: VecDeque<(i64, IndexRequest)>,
    retries: VecDeque<IndexRequest>,
    exhausted: bool,
    total: u64,
}

/// Sets the dispatch cost of every pending unit; the refresh calls it once
/// the plan is final.
pub(crate) fn assign_costs(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE units SET cost = coalesce(parse_ms, (SELECT size FROM files WHERE files.id = units.file_id) / 1024)
         WHERE state = 'pending'",
        [],
    )?;
    Ok(())
}

impl Queue {
    /// The next page after the keyset `(?1, ?2)`. `cost <= ?1` is the index
    /// range; the rest of the condition only skips the units of cost ?1
    /// already taken.
    const PAGE_SQL: &str = "SELECT u.cost, u.id, f.path, u.directory, u.args
         FROM units u INDEXED BY units_by_cost JOIN files f ON f.id = u.file_id
         WHERE u.state = 'pending' AND u.cost <= ?1 AND (u.cost < ?1 OR u.id > ?2)
         ORDER BY u.cost DESC, u.id
         LIMIT ?3";

    /// `conn` must see the committed plan (see `refresh`).
    pub(crate) fn new(conn: Connection) -> rusqlite::Result<Queue> {
        let total = conn.query_row(
            "SELECT count(*) FROM units WHERE state = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(Queue {
            conn,
            after: (i64::MAX, 0),
            page: VecDeque::new(),
            retries: VecDeque::new(),
            exhausted: false,
            total: total as u64,
        })
    }

    /// How many units the plan holds (retries not counted).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Puts back a unit whose worker died, ahead of everything else: it
    /// gets its second attempt while its first failure is fresh.
    pub(crate) fn retry(&mut self, request: IndexRequest) {
        self.retries.push_back(request);
    }

    /// The next unit to dispatch; preferably one whose source file is in
    /// the directory `near` (see the module comment).
    pub(crate) fn next(&mut self, near: Option<&Path>) -> rusqlite::Result<Option<Task>> {
        if let Some(request) = self.retries.pop_front() {
            return Ok(Some(Task {
                request,
                retry: true,
            }));
        }
        if self.page.is_empty() && !self.exhausted {
            self.fill()?;
        }
        let Some(&(head_cost, _)) = self.page.front() else {
            return Ok(None);
        };
        let chosen = near
            .and_then(|dir| {
                self.page.iter().position(|(cost, request)| {
                    *cost < head_cost / 4 || Path::new(&request.file).parent() == Some(dir)
                })
            })
            .filter(|&i| self.page[i].0 >= head_cost / 4)
            .unwrap_or(0);
        Ok(self.page.remove(chosen).map(|(_, request)| Task {
            request,
            retry: false,
        }))
    }

    fn fill(&mut self) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare_cached(Self::PAGE_SQL)?;
        let mut rows = stmt.query(params![self.after.0, self.after.1, PAGE])?;
        while let Some(row) = rows.next()? {
            let cost: i64 = row.get(0)?;
            let id: i64 = row.get(1)?;
            let args: String = row.get(4)?;
            self.after = (cost, id);
            self.page.push_back((
                cost,
                IndexRequest {
                    unit: UnitId::try_from(id).expect("unit ids fit in 32 bits"),
                    file: row.get(2)?,
                    directory: row.get(3)?,
                    args: serde_json::from_str(&args).unwrap_or_default(),
                    prelude: None,
                },
            ));
        }
        self.exhausted = (self.page.len() as i64) < PAGE;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue over pending units `(path, parse_ms)`, in an in-memory index.
    fn queue(units: &[(&str, i64)]) -> Queue {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("schema.sql")).unwrap();
        for (id, (path, cost)) in units.iter().enumerate() {
            conn.execute(
                "INSERT INTO files(id, path, size, mtime_ns, hash, is_system) VALUES (?1, ?2, 0, 0, 0, 0)",
                params![id as i64, path],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO units(id, file_id, directory, args, args_hash, state, parse_ms)
                 VALUES (?1, ?1, '/build', '[]', 0, 'pending', ?2)",
                params![id as i64, cost],
            )
            .unwrap();
        }
        assign_costs(&conn).unwrap();
        Queue::new(conn).unwrap()
    }

    fn next(queue: &mut Queue, near: Option<&str>) -> String {
        queue
            .next(near.map(Path::new))
            .unwrap()
            .map_or_else(|| "-".to_owned(), |task| task.request.file)
    }

    #[test]
    fn most_expensive_first_then_retries_ahead_of_everything() {
        let mut q = queue(&[("/p/a.c", 10), ("/p/b.c", 30), ("/p/c.c", 20)]);
        assert_eq!(q.total(), 3);
        assert_eq!(next(&mut q, None), "/p/b.c");
        let retried = q.next(None).unwrap().unwrap();
        assert_eq!(retried.request.file, "/p/c.c");
        q.retry(retried.request);
        let again = q.next(None).unwrap().unwrap();
        assert!(again.retry);
        assert_eq!(again.request.file, "/p/c.c");
        assert_eq!(next(&mut q, None), "/p/a.c");
        assert_eq!(next(&mut q, None), "-");
    }

    #[test]
    fn a_worker_gets_a_unit_of_its_directory_unless_it_is_much_cheaper() {
        let mut q = queue(&[
            ("/p/x/big.c", 100),
            ("/p/y/one.c", 90),
            ("/p/x/mid.c", 40),
            ("/p/y/two.c", 30),
            ("/p/x/tiny.c", 5),
        ]);
        // one.c (90) costs at least a quarter of big.c (100): out of order.
        assert_eq!(next(&mut q, Some("/p/y")), "/p/y/one.c");
        assert_eq!(next(&mut q, Some("/p/x")), "/p/x/big.c");
        // two.c (30) is at least a quarter of mid.c (40).
        assert_eq!(next(&mut q, Some("/p/y")), "/p/y/two.c");
        // No unit of /p/z: the head.
        assert_eq!(next(&mut q, Some("/p/z")), "/p/x/mid.c");
        assert_eq!(next(&mut q, Some("/p/x")), "/p/x/tiny.c");
        assert_eq!(next(&mut q, Some("/p/x")), "-");
    }

    #[test]
    fn a_page_is_read_along_the_index_without_a_sort() {
        let q = queue(&[("/p/a.c", 1)]);
        let plan: Vec<String> = q
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", Queue::PAGE_SQL))
            .unwrap()
            .query_map(params![i64::MAX, 0, PAGE], |r| r.get(3))
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

    #[test]
    fn units_of_equal_cost_come_in_id_order_across_pages() {
        let paths: Vec<String> = (0..PAGE * 2 + 3).map(|i| format!("/p/u{i:04}.c")).collect();
        let units: Vec<(&str, i64)> = paths.iter().map(|p| (p.as_str(), 7)).collect();
        let mut q = queue(&units);
        for path in &paths {
            assert_eq!(&next(&mut q, None), path);
        }
        assert_eq!(next(&mut q, None), "-");
    }

    #[test]
    fn affinity_never_skips_over_a_much_more_expensive_unit() {
        let mut q = queue(&[("/p/x/huge.c", 1000), ("/p/y/small.c", 100)]);
        assert_eq!(next(&mut q, Some("/p/y")), "/p/x/huge.c");
        assert_eq!(next(&mut q, Some("/p/y")), "/p/y/small.c");
    }
}
