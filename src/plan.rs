//! The dispatch queue: the pending units, most expensive first.
//!
//! The queue reads the `units` table through its own read-only connection,
//! one page at a time, instead of holding the whole plan in memory: the
//! supervisor's footprint must not grow with the number of units. Pages are
//! taken by keyset on `(cost, id)`, so units the writer marks `indexed`
//! meanwhile neither shift nor repeat the pages.
//!
//! Cost is the unit's parse time in the previous run when known, else its
//! size (roughly a millisecond per kilobyte). Expensive units go first so
//! that the last worker does not finish a long unit alone.

use std::collections::VecDeque;

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
    page: VecDeque<IndexRequest>,
    retries: VecDeque<IndexRequest>,
    exhausted: bool,
    total: u64,
}

impl Queue {
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

    pub(crate) fn next(&mut self) -> rusqlite::Result<Option<Task>> {
        if let Some(request) = self.retries.pop_front() {
            return Ok(Some(Task {
                request,
                retry: true,
            }));
        }
        if self.page.is_empty() && !self.exhausted {
            self.fill()?;
        }
        Ok(self.page.pop_front().map(|request| Task {
            request,
            retry: false,
        }))
    }

    fn fill(&mut self) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT cost, id, path, directory, args FROM (
                 SELECT coalesce(u.parse_ms, f.size / 1024) AS cost, u.id AS id, f.path AS path,
                        u.directory AS directory, u.args AS args
                 FROM units u JOIN files f ON f.id = u.file_id
                 WHERE u.state = 'pending')
             WHERE cost < ?1 OR (cost = ?1 AND id > ?2)
             ORDER BY cost DESC, id
             LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![self.after.0, self.after.1, PAGE])?;
        while let Some(row) = rows.next()? {
            let cost: i64 = row.get(0)?;
            let id: i64 = row.get(1)?;
            let args: String = row.get(4)?;
            self.after = (cost, id);
            self.page.push_back(IndexRequest {
                unit: UnitId::try_from(id).expect("unit ids fit in 32 bits"),
                file: row.get(2)?,
                directory: row.get(3)?,
                args: serde_json::from_str(&args).unwrap_or_default(),
            });
        }
        self.exhausted = (self.page.len() as i64) < PAGE;
        Ok(())
    }
}
