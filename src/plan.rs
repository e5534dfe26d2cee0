//! The dispatch queue: the pending units, most expensive first.
//!
//! The queue reads the `units` table through its own read-only connection,
//! one page at a time (`index::queue`), instead of holding the whole plan
//! in memory: the supervisor's footprint must not grow with the number of
//! units.
//!
//! Cost (`index::units::assign_costs`) is the unit's parse time in the previous run when
//! known, else its size (roughly a millisecond per kilobyte). Expensive
//! units go first so that the last worker does not finish a long unit alone.
//! With `Dispatch::Even` the cost is a key that deals the units into tenths
//! alike in cost instead, for the soak benchmark.
//!
//! A worker may ask for a unit near the one it did last: libclang skips the
//! bodies of headers a worker already parsed, so units of one directory,
//! which share most of their headers, are cheaper on the same worker. Such
//! a unit is taken out of order only while it costs at least a quarter of
//! the next unit in line, so that affinity never leaves an expensive unit
//! for the end.

use std::collections::VecDeque;
use std::path::Path;

use crate::index::queue::PendingUnits;
use crate::protocol::IndexRequest;

const PAGE: i64 = 512;

/// A unit to dispatch, and whether it is the retry of one whose worker died.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub request: IndexRequest,
    pub retry: bool,
    /// The unit fell back from its command's prelude the last time it was
    /// given one (or its worker crashed parsing it with the prelude): it is
    /// parsed as written, once, instead of twice (issue 15).
    pub as_written: bool,
}

pub(crate) struct Queue {
    pending: PendingUnits,
    /// The `(cost, id)` of the last unit read from the table.
    after: (i64, i64),
    /// Units read from the table, most expensive first, with their cost.
    page: VecDeque<(i64, Task)>,
    /// Units whose worker died, and whether to parse them as written.
    retries: VecDeque<(IndexRequest, bool)>,
    exhausted: bool,
    total: u64,
}

impl Queue {
    pub(crate) fn new(pending: PendingUnits) -> rusqlite::Result<Queue> {
        let total = pending.count()?;
        Ok(Queue {
            pending,
            after: (i64::MAX, 0),
            page: VecDeque::new(),
            retries: VecDeque::new(),
            exhausted: false,
            total,
        })
    }

    /// How many units the plan holds (retries not counted).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Puts back a unit whose worker died, ahead of everything else: it
    /// gets its second attempt while its first failure is fresh; `as_written`
    /// when the first attempt had a prelude, which may be what crashed
    /// libclang.
    pub(crate) fn retry(&mut self, request: IndexRequest, as_written: bool) {
        self.retries.push_back((request, as_written));
    }

    /// The next unit to dispatch; preferably one whose source file is in
    /// the directory `near` (see the module comment).
    pub(crate) fn next(&mut self, near: Option<&Path>) -> rusqlite::Result<Option<Task>> {
        if let Some((request, as_written)) = self.retries.pop_front() {
            return Ok(Some(Task {
                request,
                retry: true,
                as_written,
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
                self.page.iter().position(|(cost, task)| {
                    *cost < head_cost / 4 || Path::new(&task.request.file).parent() == Some(dir)
                })
            })
            .filter(|&i| self.page[i].0 >= head_cost / 4)
            .unwrap_or(0);
        Ok(self.page.remove(chosen).map(|(_, task)| task))
    }

    fn fill(&mut self) -> rusqlite::Result<()> {
        let (page, after) = (&mut self.page, &mut self.after);
        let before = page.len();
        self.pending
            .page(*after, PAGE, |keyset, request, as_written| {
                *after = keyset;
                page.push_back((
                    keyset.0,
                    Task {
                        request,
                        retry: false,
                        as_written,
                    },
                ));
            })?;
        self.exhausted = ((page.len() - before) as i64) < PAGE;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Dispatch;
    use rusqlite::{params, Connection};

    /// A queue over pending units `(path, parse_ms)`, in an in-memory index,
    /// in the default order.
    fn queue(units: &[(&str, i64)]) -> Queue {
        queue_in(units, Dispatch::Costliest)
    }

    fn queue_in(units: &[(&str, i64)], dispatch: Dispatch) -> Queue {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::index::SCHEMA).unwrap();
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
        crate::index::units::assign_costs(&conn, dispatch).unwrap();
        Queue::new(PendingUnits::new(conn)).unwrap()
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
        q.retry(retried.request, true);
        let again = q.next(None).unwrap().unwrap();
        assert!(again.retry && again.as_written);
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

    /// Issue 15: `Dispatch::Even` makes every tenth of the build alike in
    /// cost (the soak compares the first and last tenths' throughput), the
    /// costliest of each tenth first.
    #[test]
    fn an_even_dispatch_deals_the_units_by_cost_into_tenths() {
        let paths: Vec<String> = (0..25).map(|i| format!("/p/u{i:02}.c")).collect();
        // u00 costs the most, u24 the least.
        let units: Vec<(&str, i64)> = (0..25)
            .map(|i| (paths[i].as_str(), 100 - i as i64))
            .collect();
        let mut q = queue_in(&units, Dispatch::Even);
        let order: Vec<String> = (0..25).map(|_| next(&mut q, None)).collect();
        let ranks = [
            0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23, 4, 14, 24, 5, 15, 6, 16, 7, 17, 8, 18, 9,
            19,
        ];
        assert_eq!(order, ranks.map(|r| format!("/p/u{r:02}.c")));
        assert_eq!(next(&mut q, None), "-");
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
