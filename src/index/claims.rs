//! What the supervisor asks the index to decide which unit emits a header.

use rusqlite::{params, Connection, OptionalExtension};

use super::db::hash_to_sql;

/// A read connection for the header claims.
pub(crate) struct HeaderLookup {
    conn: Connection,
}

impl HeaderLookup {
    pub(crate) fn new(conn: Connection) -> HeaderLookup {
        HeaderLookup { conn }
    }

    /// Whether some unit of the project compiles `path` as its main file (a
    /// `.cc` included by another unit, say). A failed unit emits nothing, so
    /// its file is left to its includers.
    pub(crate) fn is_main_file(&self, path: &str) -> rusqlite::Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM units u JOIN files f ON f.id = u.file_id
                 WHERE f.path = ?1 AND u.state != 'failed'",
            )?
            .query_row([path], |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
    }

    /// Whether the index already holds rows for exactly this content.
    pub(crate) fn is_current(&self, path: &str, hash: u64) -> rusqlite::Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM files WHERE path = ?1 AND hash = ?2 AND indexed = 1")?
            .query_row(params![path, hash_to_sql(hash)], |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
    }
}
