//! What watch mode asks of the index: which files it knows, and in which
//! directories they are.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rusqlite::Connection;

/// The bounds of the paths below directory `dir`: `dir/` up to `dir0`
/// (`0` is the character after `/`), an index range of `files.path`.
fn below(dir: &str) -> (String, String) {
    (format!("{dir}/"), format!("{dir}0"))
}

/// Whether `path` is a file the index knows (a unit or a file a unit
/// read), or a directory holding one.
pub(crate) fn is_known(conn: &Connection, path: &str) -> rusqlite::Result<bool> {
    let (from, to) = below(path);
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM files WHERE path = ?1)
             OR EXISTS (SELECT 1 FROM files WHERE path >= ?2 AND path < ?3)",
    )?
    .query_row((path, from, to), |row| row.get(0))
}

/// The directories of the files the index knows, but for system headers
/// outside `root` (the project's directory, absolute): the compiler's and
/// the system's own headers are not the project's to watch.
pub(crate) fn known_directories(
    conn: &Connection,
    root: &str,
) -> rusqlite::Result<BTreeSet<PathBuf>> {
    let (from, to) = below(root);
    let mut stmt =
        conn.prepare("SELECT path FROM files WHERE is_system = 0 OR (path >= ?1 AND path < ?2)")?;
    let mut rows = stmt.query((from, to))?;
    let mut dirs = BTreeSet::new();
    while let Some(row) = rows.next()? {
        let path: String = row.get(0)?;
        if let Some(dir) = std::path::Path::new(&path).parent() {
            if !dirs.contains(dir) {
                dirs.insert(dir.to_path_buf());
            }
        }
    }
    Ok(dirs)
}
