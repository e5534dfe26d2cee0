//! Read-only questions asked of the index: `find`, `refs`, `callers`,
//! `callees` and `status`.
//!
//! Every answer is a list of [`Row`]s (or a [`Status`]) that the CLI prints
//! as text or JSON; this module never formats for people. The queries use
//! the indexes of `schema.sql` (symbol name, qualified name, refs by symbol
//! and by container), so they stay fast on a million-row index; only `find`
//! with a substring scans the symbols table.

use rusqlite::{params, Connection, OptionalExtension};
use schemars::JsonSchema;
use serde::Serialize;

use super::maintenance::query_indexes_deferred;
use super::model::{
    role, role_names, Command, RunState, UnitState, QUARANTINE_FAILURES, SYMBOL_KINDS,
};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no symbol matches `{0}`: try `indexer find {0}` to see what the index holds")]
    NotFound(String),
    #[error("`{name}` is ambiguous; pass one of these USRs instead:\n{}", .candidates.iter().map(|c| format!("  {}  {} {}  {}:{}", c.usr, c.kind, c.qualified_name, c.file.as_deref().unwrap_or("?"), c.line.unwrap_or(0))).collect::<Vec<_>>().join("\n"))]
    Ambiguous { name: String, candidates: Vec<Row> },
    #[error("unknown kind `{0}`: pass one of {kinds}", kinds = SYMBOL_KINDS.join(", "))]
    UnknownKind(String),
    #[error("the pattern is {0} bytes long; patterns are limited to {MAX_PATTERN_BYTES} bytes")]
    PatternTooLong(usize),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl QueryError {
    /// Whether the question itself is wrong (a usage error, exit 2) rather
    /// than the index or the answer.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            QueryError::UnknownKind(_) | QueryError::PatternTooLong(_)
        )
    }
}

/// SQLite refuses longer `GLOB` patterns (`SQLITE_MAX_LIKE_PATTERN_LENGTH`);
/// they are refused here first, as a usage error, for substrings too.
const MAX_PATTERN_BYTES: usize = 50_000;

/// One answer line: a symbol, and where it is declared or used.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Row {
    pub usr: String,
    pub name: String,
    pub qualified_name: String,
    pub kind: String,
    /// `find`: where the symbol is defined (or first declared).
    /// `refs`/`callers`/`callees`: where the use is.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<bool>,
    /// For uses: libclang's roles, e.g. `["call", "dynamic"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<&'static str>>,
    /// For uses: the function or variable whose body holds the use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_usr: Option<String>,
}

/// Which symbols `find` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Symbols declared in the project's own files.
    Project,
    /// Also the symbols of system headers the project refers to (they have
    /// no location unless the index was built with `--index-system-headers`).
    All,
}

/// What `find` answers.
#[derive(Debug)]
pub struct Found {
    pub rows: Vec<Row>,
    /// Matches left out because they are not declared in the project's
    /// files (`Scope::Project` only).
    pub external_left_out: u64,
}

/// Symbols whose name or qualified name contains `pattern`, or matches it
/// as a glob when it holds `*` or `?`, in `scope`.
pub fn find(
    conn: &Connection,
    pattern: &str,
    kind: Option<&str>,
    scope: Scope,
) -> Result<Found, QueryError> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(QueryError::PatternTooLong(pattern.len()));
    }
    if let Some(kind) = kind.filter(|k| !SYMBOL_KINDS.contains(k)) {
        return Err(QueryError::UnknownKind(kind.to_owned()));
    }
    let glob = pattern.contains(['*', '?']);
    let matches = if glob {
        "(s.name GLOB ?1 OR s.qualified_name GLOB ?1) AND (?2 IS NULL OR s.kind = ?2)"
    } else {
        "(instr(s.name, ?1) > 0 OR instr(s.qualified_name, ?1) > 0) AND (?2 IS NULL OR s.kind = ?2)"
    };
    const IN_PROJECT: &str = "EXISTS (SELECT 1 FROM decls x JOIN files g ON g.id = x.file_id
                                      WHERE x.symbol_id = s.id AND g.is_system = 0)";
    let in_scope = match scope {
        Scope::Project => IN_PROJECT,
        Scope::All => "1",
    };
    let sql = format!(
        "{DECLARED}
         WHERE {matches} AND {in_scope}
         ORDER BY s.qualified_name, s.usr"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![pattern, kind], declared_row)?
        .collect::<rusqlite::Result<_>>()?;
    let external_left_out = match scope {
        Scope::Project => conn.query_row(
            &format!("SELECT count(*) FROM symbols s WHERE {matches} AND NOT {IN_PROJECT}"),
            params![pattern, kind],
            |r| r.get(0),
        )?,
        Scope::All => 0,
    };
    Ok(Found {
        rows,
        external_left_out,
    })
}

/// Every use of the symbol, in file order.
pub fn refs(conn: &Connection, symbol: &str) -> Result<Vec<Row>, QueryError> {
    let id = resolve(conn, symbol)?;
    uses(conn, "r.symbol_id = ?1", id)
}

/// The call sites of a function, with the calling symbol. For a virtual
/// method, calls through a method it overrides are included: they may
/// dispatch to it (`dynamic` among the roles). For a lambda, where it is
/// defined is included (`definition`): what holds it may hand it to what
/// calls it (`std::sort`, a thread), so a walk up the callers of a call in
/// its body goes on through the function that defines it.
pub fn callers(conn: &Connection, symbol: &str) -> Result<Vec<Row>, QueryError> {
    let id = resolve(conn, symbol)?;
    let sql = format!(
        "SELECT {SYMBOL_COLUMNS}, f.path, r.line, r.col, r.roles, callee.qualified_name, callee.usr
         FROM refs r
         JOIN symbols s ON s.id = r.container_id
         JOIN symbols callee ON callee.id = r.symbol_id
         JOIN files f ON f.id = r.file_id
         WHERE (r.roles & {call_or_definition}) != 0
           AND (r.symbol_id = ?1
                OR (r.roles & {dynamic}) != 0 AND r.symbol_id IN (
                    WITH RECURSIVE up(id) AS (
                        SELECT overridden_id FROM overrides WHERE method_id = ?1
                        UNION SELECT o.overridden_id FROM overrides o JOIN up ON o.method_id = up.id)
                    SELECT id FROM up))
         ORDER BY f.path, r.line, r.col",
        call_or_definition = role::CALL | role::DEFINITION,
        dynamic = role::DYNAMIC,
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    // For a caller, the "container" columns hold what it calls.
    let rows = stmt.query_map([id], use_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What a function calls, with the call sites, and the lambdas it defines
/// (`definition`), whose calls a walk down goes on to.
pub fn callees(conn: &Connection, symbol: &str) -> Result<Vec<Row>, QueryError> {
    let id = resolve(conn, symbol)?;
    uses(
        conn,
        &format!(
            "r.container_id = ?1 AND (r.roles & {}) != 0",
            role::CALL | role::DEFINITION
        ),
        id,
    )
}

fn uses(conn: &Connection, filter: &str, id: i64) -> Result<Vec<Row>, QueryError> {
    let sql = format!(
        "SELECT {SYMBOL_COLUMNS}, f.path, r.line, r.col, r.roles, c.qualified_name, c.usr
         FROM refs r
         JOIN symbols s ON s.id = r.symbol_id
         JOIN files f ON f.id = r.file_id
         LEFT JOIN symbols c ON c.id = r.container_id
         WHERE {filter}
         ORDER BY f.path, r.line, r.col"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([id], use_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const SYMBOL_COLUMNS: &str = "s.usr, s.name, s.qualified_name, s.kind";

/// Symbols (`s`) with their definition, or else first declaration (`d`,
/// in file `f`), as [`declared_row`] reads them.
const DECLARED: &str = "SELECT s.usr, s.name, s.qualified_name, s.kind, f.path, d.line, d.col, d.is_definition
     FROM symbols s
     LEFT JOIN decls d ON d.rowid = (SELECT rowid FROM decls WHERE symbol_id = s.id ORDER BY is_definition DESC, rowid LIMIT 1)
     LEFT JOIN files f ON f.id = d.file_id";

/// A symbol and where it is declared: [`SYMBOL_COLUMNS`], then the file,
/// line, column and whether the declaration is a definition.
fn declared_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let mut row = symbol_row(r)?;
    row.file = r.get(4)?;
    row.line = r.get(5)?;
    row.column = r.get(6)?;
    row.definition = r.get(7)?;
    Ok(row)
}

/// A use of a symbol: [`SYMBOL_COLUMNS`], then the file, line, column,
/// roles, and the qualified name and USR of the other symbol involved.
fn use_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let mut row = symbol_row(r)?;
    row.file = r.get(4)?;
    row.line = r.get(5)?;
    row.column = r.get(6)?;
    row.roles = Some(role_names(r.get(7)?));
    row.container = r.get(8)?;
    row.container_usr = r.get(9)?;
    Ok(row)
}

fn symbol_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        usr: r.get(0)?,
        name: r.get(1)?,
        qualified_name: r.get(2)?,
        kind: r.get(3)?,
        file: None,
        line: None,
        column: None,
        definition: None,
        roles: None,
        container: None,
        container_usr: None,
    })
}

/// A USR, or else an exact qualified name, or else an exact plain name.
fn resolve(conn: &Connection, symbol: &str) -> Result<i64, QueryError> {
    if let Some(id) = conn
        .query_row("SELECT id FROM symbols WHERE usr = ?1", [symbol], |r| {
            r.get(0)
        })
        .optional()?
    {
        return Ok(id);
    }
    for column in ["qualified_name", "name"] {
        let ids: Vec<i64> = conn
            .prepare_cached(&format!(
                "SELECT id FROM symbols WHERE {column} = ?1 ORDER BY usr"
            ))?
            .query_map([symbol], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        match ids.len() {
            0 => continue,
            1 => return Ok(ids[0]),
            _ => {
                let candidates = ids
                    .iter()
                    .map(|&id| describe(conn, id))
                    .collect::<rusqlite::Result<_>>()?;
                return Err(QueryError::Ambiguous {
                    name: symbol.to_string(),
                    candidates,
                });
            }
        }
    }
    Err(QueryError::NotFound(symbol.to_string()))
}

/// A symbol with its defining (or first) location.
fn describe(conn: &Connection, id: i64) -> rusqlite::Result<Row> {
    conn.query_row(&format!("{DECLARED} WHERE s.id = ?1"), [id], declared_row)
}

/// The state of an index, for `indexer status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    pub files: u64,
    pub units: u64,
    pub units_indexed: u64,
    pub units_pending: u64,
    pub units_failed: u64,
    /// Indexed units whose parse reported errors.
    pub units_with_errors: u64,
    /// Units whose compile command the command stage changed.
    pub units_adjusted: u64,
    pub symbols: u64,
    pub references: u64,
    pub last_run: Option<Run>,
    /// A first or `--full` build, running or interrupted, left the query
    /// indexes out: queries work but scan, until a build completes.
    pub query_indexes_deferred: bool,
    pub failed: Vec<FailedUnit>,
    /// The first [`ERRORS_LISTED`] indexed units with errors, by path.
    pub with_errors: Vec<UnitWithErrors>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<UnitTiming>,
    /// Whether a build held the index's lock when the status was read (a
    /// `running` last run without one was killed, and reads as interrupted).
    #[serde(skip)]
    pub build_running: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Run {
    /// Seconds since the epoch.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// The same moments for people, e.g. `2026-12-02 07:00:00 UTC`.
    pub started: String,
    pub finished: Option<String>,
    /// `complete`, `interrupted`, or `running` (another build is active).
    pub status: RunState,
    pub indexed: u64,
    pub failed: u64,
    pub removed: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FailedUnit {
    pub file: String,
    pub reason: String,
    /// Failed twice: later builds skip it until it changes (or `--retry-failed`).
    pub quarantined: bool,
}

/// How many indexed units with errors `status` lists.
pub const ERRORS_LISTED: usize = 10;

#[derive(Debug, Serialize, JsonSchema)]
pub struct UnitWithErrors {
    pub file: String,
    /// How many errors its parse reported.
    pub errors: u64,
    /// The first, as `FILE:LINE:COLUMN: MESSAGE`.
    pub first: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UnitTiming {
    pub file: String,
    pub parse_ms: u64,
    pub worker_rss_bytes: u64,
    pub symbols: u64,
}

/// `running` is whether a build holds the database's lock now: a `running`
/// row without one was killed and reads as interrupted.
pub fn status(conn: &Connection, running: bool, slowest: usize) -> rusqlite::Result<Status> {
    let count = |sql: &str| {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    };
    let last_run = conn
        .query_row(
            "SELECT started_at, finished_at, status, indexed, failed, removed,
                    datetime(started_at, 'unixepoch') || ' UTC', datetime(finished_at, 'unixepoch') || ' UTC'
             FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(Run {
                    started_at: r.get(0)?,
                    finished_at: r.get(1)?,
                    status: run_state(r.get_ref(2)?.as_str()?),
                    indexed: r.get::<_, i64>(3)? as u64,
                    failed: r.get::<_, i64>(4)? as u64,
                    removed: r.get::<_, i64>(5)? as u64,
                    started: r.get(6)?,
                    finished: r.get(7)?,
                })
            },
        )
        .optional()?
        .map(|mut run| {
            if run.status == RunState::Running && !running {
                run.status = RunState::Interrupted;
            }
            run
        });
    let failed = conn
        .prepare(
            "SELECT f.path, coalesce(u.reason, ''), u.failures >= ?1 FROM units u JOIN files f ON f.id = u.file_id
             WHERE u.state = 'failed' ORDER BY f.path",
        )?
        .query_map([QUARANTINE_FAILURES], |r| Ok(FailedUnit { file: r.get(0)?, reason: r.get(1)?, quarantined: r.get(2)? }))?
        .collect::<rusqlite::Result<_>>()?;
    let slowest = conn
        .prepare(
            "SELECT f.path, u.parse_ms, coalesce(u.worker_rss, 0), coalesce(u.symbols, 0) FROM units u JOIN files f ON f.id = u.file_id
             WHERE u.parse_ms IS NOT NULL ORDER BY u.parse_ms DESC LIMIT ?1",
        )?
        .query_map([slowest as i64], |r| {
            Ok(UnitTiming {
                file: r.get(0)?,
                parse_ms: r.get::<_, i64>(1)? as u64,
                worker_rss_bytes: r.get::<_, i64>(2)? as u64,
                symbols: r.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let with_errors = conn
        .prepare(
            "SELECT f.path, count(*),
                    (SELECT coalesce(df.path, '?') || ':' || e.line || ':' || e.col || ': ' || e.message
                     FROM diagnostics e LEFT JOIN files df ON df.id = e.file_id
                     WHERE e.unit_id = u.id AND e.severity IN ('error', 'fatal') ORDER BY e.rowid LIMIT 1)
             FROM units u JOIN files f ON f.id = u.file_id JOIN diagnostics d ON d.unit_id = u.id
             WHERE u.state = 'indexed' AND d.severity IN ('error', 'fatal')
             GROUP BY u.id ORDER BY f.path LIMIT ?1",
        )?
        .query_map([ERRORS_LISTED as i64], |r| {
            Ok(UnitWithErrors {
                file: r.get(0)?,
                errors: r.get::<_, i64>(1)? as u64,
                first: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Status {
        files: count("SELECT count(*) FROM files")?,
        units: count("SELECT count(*) FROM units")?,
        units_indexed: count("SELECT count(*) FROM units WHERE state = 'indexed'")?,
        units_pending: count("SELECT count(*) FROM units WHERE state = 'pending'")?,
        units_failed: count("SELECT count(*) FROM units WHERE state = 'failed'")?,
        units_with_errors: count(
            "SELECT count(*) FROM units u WHERE u.state = 'indexed' AND EXISTS
             (SELECT 1 FROM diagnostics d WHERE d.unit_id = u.id AND d.severity IN ('error', 'fatal'))",
        )?,
        units_adjusted: count("SELECT count(*) FROM units WHERE changes IS NOT NULL")?,
        symbols: count("SELECT count(*) FROM symbols")?,
        references: count("SELECT count(*) FROM refs")?,
        last_run,
        query_indexes_deferred: query_indexes_deferred(conn)?,
        failed,
        with_errors,
        slowest,
        build_running: running,
    })
}

/// One unit, for `indexer status --unit`.
#[derive(Debug, Serialize)]
pub struct Unit {
    pub file: String,
    pub directory: String,
    pub state: UnitState,
    pub reason: Option<String>,
    #[serde(flatten)]
    pub command: Command,
}

/// The unit whose main file is `path` (absolute, normalized), if any.
pub fn unit(conn: &Connection, path: &str) -> rusqlite::Result<Option<Unit>> {
    conn.query_row(
        "SELECT f.path, u.directory, u.state, u.reason, u.args, u.changes
         FROM units u JOIN files f ON f.id = u.file_id WHERE f.path = ?1",
        [path],
        |r| {
            Ok(Unit {
                file: r.get(0)?,
                directory: r.get(1)?,
                state: unit_state(r.get_ref(2)?.as_str()?)?,
                reason: r.get(3)?,
                command: Command::from_json(
                    r.get_ref(4)?.as_str()?,
                    r.get_ref(5)?.as_str_or_null()?,
                )?,
            })
        },
    )
    .optional()
}

/// A `runs.status` this version never writes reads as interrupted: the run
/// did not complete as far as this version can tell.
fn run_state(text: &str) -> RunState {
    RunState::parse(text).unwrap_or(RunState::Interrupted)
}

/// A `units.state`; anything else is a damaged row.
fn unit_state(text: &str) -> rusqlite::Result<UnitState> {
    UnitState::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown unit state `{text}`").into(),
        )
    })
}
