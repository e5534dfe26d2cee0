//! Tests of opening, migrating, locking and collecting.

use std::path::Path;

use rusqlite::Connection;

use super::db::{open, Access, IndexError, SCHEMA, SCHEMA_VERSION};
use super::lock::BuildLock;
use super::maintenance::*;
use super::writer::delete_file_rows;

/// A database holding one unit's file with a declaration of `kept` and
/// a reference to `dropped`, and a symbol `stray` that nothing names.
fn small_index(dir: &Path) -> Connection {
    let conn = open(&dir.join("index.db"), Access::Write).unwrap();
    conn.execute_batch(
        "INSERT INTO files(id, path, size, mtime_ns, hash, is_system, indexed)
             VALUES (1, '/p/a.c', 0, 0, 0, 0, 1);
         INSERT INTO units(id, file_id, directory, args, args_hash, state)
             VALUES (1, 1, '/p', '[]', 0, 'indexed');
         INSERT INTO symbols(id, usr, name, qualified_name, kind, type) VALUES
             (1, 'c:@F@kept', 'kept', 'kept', 'function', ''),
             (2, 'c:@F@dropped', 'dropped', 'dropped', 'function', ''),
             (3, 'c:@F@stray', 'stray', 'stray', 'function', '');
         INSERT INTO decls(symbol_id, file_id, line, col, end_line, end_col, is_definition)
             VALUES (1, 1, 1, 5, 1, 20, 1);
         INSERT INTO refs(symbol_id, file_id, line, col, roles, container_id)
             VALUES (2, 1, 1, 12, 32, 1);",
    )
    .unwrap();
    conn
}

fn symbol_names(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM symbols ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn indexes(conn: &Connection) -> Vec<(String, String)> {
    conn.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn deferred_query_indexes_come_back_exactly_once_restored() {
    let dir = tempfile::tempdir().unwrap();
    let conn = small_index(dir.path());
    let complete = indexes(&conn);
    assert!(!query_indexes_deferred(&conn).unwrap());

    defer_query_indexes(&conn).unwrap();
    let left: Vec<String> = indexes(&conn).into_iter().map(|(name, _)| name).collect();
    assert_eq!(left.len(), complete.len() - QUERY_INDEXES.len());
    assert!(left
        .iter()
        .all(|name| !QUERY_INDEXES.contains(&name.as_str())));
    assert!(query_indexes_deferred(&conn).unwrap());
    // A second bulk load after an interruption finds them gone and
    // keeps what the first one saved.
    defer_query_indexes(&conn).unwrap();

    assert_eq!(restore_query_indexes(&conn).unwrap(), QUERY_INDEXES.len());
    assert_eq!(indexes(&conn), complete);
    assert!(!query_indexes_deferred(&conn).unwrap());
    assert_eq!(restore_query_indexes(&conn).unwrap(), 0);
}

#[test]
fn collection_after_deleting_rows_removes_the_symbols_they_named() {
    let dir = tempfile::tempdir().unwrap();
    let conn = small_index(dir.path());
    // The file is re-emitted without its reference to `dropped`.
    delete_file_rows(&conn, 1).unwrap();
    conn.execute_batch(
        "INSERT INTO decls(symbol_id, file_id, line, col, end_line, end_col, is_definition)
             VALUES (1, 1, 1, 5, 1, 20, 1);",
    )
    .unwrap();
    collect_garbage(&conn, Sweep::Touched).unwrap();
    // `stray` was named by no deleted row, so only a full sweep sees it.
    assert_eq!(symbol_names(&conn), ["kept", "stray"]);
    collect_garbage(&conn, Sweep::Everything).unwrap();
    assert_eq!(symbol_names(&conn), ["kept"]);
}

#[test]
fn a_collection_with_nothing_deleted_keeps_every_symbol_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let conn = small_index(dir.path());
    collect_garbage(&conn, Sweep::Touched).unwrap();
    assert_eq!(symbol_names(&conn), ["kept", "dropped", "stray"]);
    collect_garbage(&conn, Sweep::Everything).unwrap();
    assert_eq!(symbol_names(&conn), ["kept", "dropped"]);
}

#[test]
fn a_new_database_gets_the_schema_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/index.db");
    drop(open(&path, Access::Write).unwrap());
    let conn = open(&path, Access::Read).unwrap();
    assert_eq!(count(&conn, "files").unwrap(), 0);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    std::fs::write(
        &path,
        b"this is not a database, it is a text file with enough bytes to look like a header",
    )
    .unwrap();
    let err = open(&path, Access::Write).unwrap_err();
    assert!(matches!(err, IndexError::NotADatabase { .. }), "{err}");
    assert!(std::fs::read(&path).unwrap().starts_with(b"this is not"));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    drop(open(&path, Access::Write).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = open(&path, Access::Write).unwrap_err();
    assert!(
        matches!(err, IndexError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
}

#[test]
fn an_older_schema_is_upgraded_by_a_build_and_refused_by_queries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let old = Connection::open(&path).unwrap();
    // The schema as version 1 of this program created it.
    old.execute_batch(include_str!("../../testdata/schema-1.sql"))
        .unwrap();
    old.execute_batch(
        "INSERT INTO files(id, path, size, mtime_ns, hash, is_system) VALUES (1, '/p/a.c', 4096, 0, 0, 0);
         INSERT INTO units(file_id, directory, args, args_hash, state) VALUES (1, '/p', '[]', 0, 'indexed');
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(old);

    let err = open(&path, Access::Read).unwrap_err();
    assert!(
        matches!(err, IndexError::OlderSchema { found: 1, .. }),
        "{err}"
    );
    let conn = open(&path, Access::Write).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let (state, reason, cost, changes): (String, String, i64, Option<String>) = conn
        .query_row("SELECT state, reason, cost, changes FROM units", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    // Version 4 stores what older rows lack (documentation comments, alias
    // types): every unit is indexed again, every file emitted anew.
    assert_eq!(
        (state.as_str(), reason.as_str(), cost, changes),
        (
            "pending",
            "index written by an older indexer (no documentation comments)",
            0,
            None
        )
    );
    let indexed: i64 = conn
        .query_row("SELECT count(*) FROM files WHERE indexed = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(indexed, 0);
    // The migrations repeat parts of schema.sql: what they build must
    // be what a new index gets.
    let fresh = Connection::open_in_memory().unwrap();
    fresh.execute_batch(SCHEMA).unwrap();
    assert_eq!(shape(&conn), shape(&fresh));
    drop(conn);
    open(&path, Access::Read).unwrap();
}

/// Every table's columns (name, type, not null, default, key) and every
/// index's definition.
fn shape(conn: &Connection) -> Vec<String> {
    let mut shape: Vec<String> = conn
        .prepare(
            "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' '
                    || coalesce(c.dflt_value, '') || ' ' || c.pk
             FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table'
             UNION ALL
             SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    shape.sort();
    shape
}

/// `.cargo/config.toml` compiles SQLite with a 256 KiB default cache,
/// which is what every temporary B-tree gets, and sorts that spill
/// after 128 KiB (see ARCHITECTURE.md).
#[test]
fn sqlite_is_built_with_the_small_default_cache_and_sorter() {
    let conn = Connection::open_in_memory().unwrap();
    let default: i64 = conn
        .query_row("PRAGMA cache_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(default, -256);
    let options: Vec<String> = conn
        .prepare("PRAGMA compile_options")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o == "SORTER_PMASZ=32"),
        "{options:?}"
    );
}

#[test]
fn a_second_lock_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    assert!(!BuildLock::is_held(&path));
    let _held = BuildLock::acquire(&path).unwrap();
    assert!(BuildLock::is_held(&path));
    match BuildLock::acquire(&path) {
        Err(IndexError::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("two locks on one database"),
    }
}

/// Every SQL statement is the index module's (issue 16): a statement
/// anywhere else in `src/` (tests aside) fails this test.
#[test]
fn no_sql_outside_the_index_module() {
    const STATEMENTS: [&str; 11] = [
        "SELECT ",
        "INSERT INTO",
        "INSERT OR",
        "DELETE FROM",
        "CREATE TABLE",
        "CREATE INDEX",
        "CREATE TEMP",
        "DROP TABLE",
        "DROP INDEX",
        "PRAGMA ",
        "ALTER TABLE",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let index = src.join("index");
    let mut found = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path == index || path == src.join("index.rs") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                let update = line
                    .find("UPDATE ")
                    .is_some_and(|at| line[at..].contains(" SET "));
                if update || STATEMENTS.iter().any(|s| line.contains(s)) {
                    found.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside src/index/:\n{}",
        found.join("\n")
    );
}

/// Every symbol kind has one name, the same in the database, on the wire
/// (serde) and in docs/schema.md's list, which names them all.
#[test]
fn every_symbol_kind_is_named_once_and_documented() {
    use super::model::SymbolKind;
    for kind in SymbolKind::ALL {
        assert_eq!(SymbolKind::parse(kind.as_str()), Some(kind));
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.md"))
            .unwrap();
    let list = docs
        .split("\nKinds: ")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("docs/schema.md lists the kinds in a paragraph beginning `Kinds: `");
    let documented: std::collections::BTreeSet<&str> = list.split('`').skip(1).step_by(2).collect();
    let named: std::collections::BTreeSet<&str> = SymbolKind::names().collect();
    assert_eq!(documented, named);
}
