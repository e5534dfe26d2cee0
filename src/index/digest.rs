//! The content of an index, independent of how it was built: every table's
//! rows spelled with USRs and paths instead of ids, sorted, and hashed.
//!
//! Two indexes of the same sources hold the same content whatever the
//! build's history (`-j`, interruptions, incremental refreshes, the
//! preludes), and `indexer digest` shows it: tests and
//! benchmarks compare digests, and `--rows` lists the rows to diff. Left
//! out is what records the history itself: ids, timings, costs, mtimes,
//! the `runs` table, and `units.symbols` (which unit emitted a header's
//! declarations is the first to claim it).

use rusqlite::Connection;
use serde::Serialize;

/// Every table's rows with ids replaced by what they stand for, in a total
/// order (every column sorted on).
const TABLES: [(&str, &str); 10] = [
    (
        "files",
        "SELECT path, size, hash, is_system, indexed FROM files ORDER BY 1, 2, 3, 4, 5",
    ),
    (
        "units",
        "SELECT f.path, u.directory, u.args, u.state, u.reason, u.failures
         FROM units u JOIN files f ON f.id = u.file_id ORDER BY 1, 2, 3, 4, 5, 6",
    ),
    (
        "unit_deps",
        "SELECT u.path, f.path, d.hash
         FROM unit_deps d JOIN units n ON n.id = d.unit_id JOIN files u ON u.id = n.file_id
         JOIN files f ON f.id = d.file_id ORDER BY 1, 2, 3",
    ),
    (
        "symbols",
        "SELECT usr, name, qualified_name, kind, type, underlying_type, canonical_type
         FROM symbols ORDER BY 1, 2, 3, 4, 5, 6, 7",
    ),
    (
        "decls",
        "SELECT s.usr, f.path, d.line, d.col, d.end_line, d.end_col, d.is_definition, c.usr, d.doc
         FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id
         LEFT JOIN symbols c ON c.id = d.container_id ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
    ),
    (
        "refs",
        "SELECT s.usr, f.path, r.line, r.col, r.roles, c.usr
         FROM refs r JOIN symbols s ON s.id = r.symbol_id JOIN files f ON f.id = r.file_id
         LEFT JOIN symbols c ON c.id = r.container_id ORDER BY 1, 2, 3, 4, 5, 6",
    ),
    (
        "bases",
        "SELECT d.usr, b.usr, f.path, x.line, x.col, x.is_virtual
         FROM bases x JOIN symbols d ON d.id = x.derived_id JOIN symbols b ON b.id = x.base_id
         JOIN files f ON f.id = x.file_id ORDER BY 1, 2, 3, 4, 5, 6",
    ),
    (
        "overrides",
        "SELECT m.usr, o.usr, f.path
         FROM overrides x JOIN symbols m ON m.id = x.method_id
         JOIN symbols o ON o.id = x.overridden_id JOIN files f ON f.id = x.file_id
         ORDER BY 1, 2, 3",
    ),
    (
        "includes",
        "SELECT f.path, i.line, g.path
         FROM includes i JOIN files f ON f.id = i.file_id JOIN files g ON g.id = i.included_id
         ORDER BY 1, 2, 3",
    ),
    (
        "diagnostics",
        "SELECT u.path, f.path, d.line, d.col, d.severity, d.message
         FROM diagnostics d JOIN units n ON n.id = d.unit_id JOIN files u ON u.id = n.file_id
         LEFT JOIN files f ON f.id = d.file_id ORDER BY 1, 2, 3, 4, 5, 6",
    ),
];

/// One table's content.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableDigest {
    pub table: &'static str,
    pub rows: u64,
    /// xxh3-128 of the rows, in order, each as tab-separated values (NULL
    /// empty) ended by a newline; hexadecimal.
    pub hash: String,
    /// The rows themselves, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<String>>,
}

/// The digest of every table; with `rows`, the rows too. The rows stream
/// through the hash in SQLite's order, so without `rows` memory does not
/// grow with the index.
pub fn digest(conn: &Connection, rows: bool) -> rusqlite::Result<Vec<TableDigest>> {
    TABLES
        .iter()
        .map(|&(table, sql)| {
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            let mut count = 0;
            let mut content = rows.then(Vec::new);
            let mut stmt = conn.prepare(sql)?;
            let columns = stmt.column_count();
            let mut cursor = stmt.query([])?;
            let mut line = String::new();
            while let Some(row) = cursor.next()? {
                line.clear();
                for i in 0..columns {
                    if i > 0 {
                        line.push('\t');
                    }
                    match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => {}
                        rusqlite::types::ValueRef::Integer(n) => line.push_str(&n.to_string()),
                        rusqlite::types::ValueRef::Real(x) => line.push_str(&x.to_string()),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            line.push_str(&String::from_utf8_lossy(t))
                        }
                    }
                }
                hasher.update(line.as_bytes());
                hasher.update(b"\n");
                count += 1;
                if let Some(content) = &mut content {
                    content.push(line.clone());
                }
            }
            Ok(TableDigest {
                table,
                rows: count,
                hash: format!("{:032x}", hasher.digest128()),
                content,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::db::{open, Access};

    #[test]
    fn ids_and_insertion_order_do_not_change_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let fill = |name: &str, ids: [i64; 2]| {
            let path = dir.path().join(name);
            let conn = open(&path, Access::Write).unwrap();
            conn.execute_batch(&format!(
                "INSERT INTO files(id, path, size, mtime_ns, hash, is_system, indexed)
                     VALUES ({a}, '/p/a.c', 1, {a}, 7, 0, 1), ({b}, '/p/b.h', 2, 0, 8, 0, 1);
                 INSERT INTO units(file_id, directory, args, args_hash, state, parse_ms)
                     VALUES ({a}, '/p', '[]', 0, 'indexed', {a});
                 INSERT INTO unit_deps(unit_id, file_id, hash) SELECT id, {a}, 7 FROM units;
                 INSERT INTO unit_deps(unit_id, file_id, hash) SELECT id, {b}, 8 FROM units;
                 INSERT INTO symbols(id, usr, name, qualified_name, kind, type)
                     VALUES ({a}, 'c:@F@f', 'f', 'f', 'function', 'void ()'),
                            ({b}, 'c:@F@g', 'g', 'g', 'function', 'void ()');
                 INSERT INTO refs(symbol_id, file_id, line, col, roles, container_id)
                     VALUES ({b}, {a}, 2, 3, 32, {a}), ({a}, {b}, 1, 1, 32, NULL);",
                a = ids[0],
                b = ids[1],
            ))
            .unwrap();
            drop(conn);
            digest(&open(&path, Access::Read).unwrap(), true).unwrap()
        };
        let one = fill("one.db", [1, 2]);
        let other = fill("other.db", [20, 10]);
        assert_eq!(one, other);
        let refs = one.iter().find(|t| t.table == "refs").unwrap();
        assert_eq!(
            refs.content.as_deref().unwrap(),
            [
                "c:@F@f\t/p/b.h\t1\t1\t32\t",
                "c:@F@g\t/p/a.c\t2\t3\t32\tc:@F@f"
            ]
        );
        let deps = one.iter().find(|t| t.table == "unit_deps").unwrap();
        assert_eq!(deps.rows, 2);
    }
}
