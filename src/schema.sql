-- Schema version 5 of the indexer database. Documented in docs/schema.md.
-- Every row of file data (decls, refs, includes, bases, overrides) belongs to
-- the file it is located in, so re-indexing a file is "delete its rows,
-- insert the new ones" in one transaction.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE files (
    id         INTEGER PRIMARY KEY,
    path       TEXT NOT NULL UNIQUE,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    -- xxh3-64 of the content libclang parsed, as a signed 64-bit integer.
    hash       INTEGER NOT NULL,
    is_system  INTEGER NOT NULL,
    -- 1 once some unit emitted this file's rows (its decls, refs, ...).
    indexed    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    file_id     INTEGER NOT NULL UNIQUE REFERENCES files(id),
    directory   TEXT NOT NULL,
    -- JSON array of the arguments given to libclang.
    args        TEXT NOT NULL,
    -- xxh3-64 of directory and arguments: a changed compile command dirties the unit.
    args_hash   INTEGER NOT NULL,
    -- 'indexed', 'pending' or 'failed'.
    state       TEXT NOT NULL,
    -- Why the unit is pending or failed.
    reason      TEXT,
    -- Consecutive failed attempts; a unit failed twice is quarantined.
    failures    INTEGER NOT NULL DEFAULT 0,
    parse_ms    INTEGER,
    worker_rss  INTEGER,
    symbols     INTEGER,
    indexed_at  INTEGER,
    -- Dispatch order, most expensive first (see plan.rs); set by the refresh.
    cost        INTEGER NOT NULL DEFAULT 0,
    -- JSON array of what the command stage (command.rs) changed in the
    -- compile command as written, one sentence each; NULL if nothing.
    changes     TEXT,
    -- 1 when the unit, the last time it was given its command's prelude
    -- (the precompiled standard library), had to be parsed again as
    -- written: later builds parse it as written at once. Reset when every
    -- unit is indexed anew (--full, a new libclang).
    prelude_fell_back INTEGER NOT NULL DEFAULT 0
);
-- The dispatch queue reads pending units in this order, a page at a time,
-- without sorting them (a sort would hold them all).
CREATE INDEX units_by_cost ON units(cost DESC, id) WHERE state = 'pending';

-- Every file a unit read, with the hash it had then. A header whose hash
-- changes dirties exactly the units listed here.
CREATE TABLE unit_deps (
    unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL REFERENCES files(id),
    hash    INTEGER NOT NULL,
    PRIMARY KEY (unit_id, file_id)
) WITHOUT ROWID;
CREATE INDEX unit_deps_by_file ON unit_deps(file_id);

-- underlying_type, canonical_type: a typedef's or type alias's type as
-- written, and with every alias resolved; NULL for other kinds.
CREATE TABLE symbols (
    id              INTEGER PRIMARY KEY,
    usr             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    qualified_name  TEXT NOT NULL,
    kind            TEXT NOT NULL,
    type            TEXT NOT NULL,
    underlying_type TEXT,
    canonical_type  TEXT
);
CREATE INDEX symbols_by_name ON symbols(name);
CREATE INDEX symbols_by_qualified_name ON symbols(qualified_name);

-- doc: the documentation comment written at this declaration, markers
-- removed; NULL if none.
CREATE TABLE decls (
    symbol_id     INTEGER NOT NULL REFERENCES symbols(id),
    file_id       INTEGER NOT NULL REFERENCES files(id),
    line          INTEGER NOT NULL,
    col           INTEGER NOT NULL,
    end_line      INTEGER NOT NULL,
    end_col       INTEGER NOT NULL,
    is_definition INTEGER NOT NULL,
    container_id  INTEGER REFERENCES symbols(id),
    doc           TEXT
);
CREATE INDEX decls_by_symbol ON decls(symbol_id);
CREATE INDEX decls_by_file ON decls(file_id);
CREATE INDEX decls_by_container ON decls(container_id);

CREATE TABLE refs (
    symbol_id    INTEGER NOT NULL REFERENCES symbols(id),
    file_id      INTEGER NOT NULL REFERENCES files(id),
    line         INTEGER NOT NULL,
    col          INTEGER NOT NULL,
    -- libclang's CXSymbolRole bits: 8 read, 16 write, 32 call, 64 dynamic
    -- (virtual) call, 128 address-of, 256 implicit.
    roles        INTEGER NOT NULL,
    container_id INTEGER REFERENCES symbols(id)
);
CREATE INDEX refs_by_symbol ON refs(symbol_id);
CREATE INDEX refs_by_file ON refs(file_id);
CREATE INDEX refs_by_container ON refs(container_id);

CREATE VIEW calls AS
    SELECT container_id AS caller_id, symbol_id AS callee_id, file_id, line, col,
           (roles & 64) != 0 AS is_dynamic
    FROM refs
    WHERE (roles & 32) != 0 AND container_id IS NOT NULL;

CREATE TABLE bases (
    derived_id INTEGER NOT NULL REFERENCES symbols(id),
    base_id    INTEGER NOT NULL REFERENCES symbols(id),
    file_id    INTEGER NOT NULL REFERENCES files(id),
    line       INTEGER NOT NULL,
    col        INTEGER NOT NULL,
    is_virtual INTEGER NOT NULL
);
CREATE INDEX bases_by_derived ON bases(derived_id);
CREATE INDEX bases_by_base ON bases(base_id);
CREATE INDEX bases_by_file ON bases(file_id);

CREATE TABLE overrides (
    method_id     INTEGER NOT NULL REFERENCES symbols(id),
    overridden_id INTEGER NOT NULL REFERENCES symbols(id),
    file_id       INTEGER NOT NULL REFERENCES files(id)
);
CREATE INDEX overrides_by_method ON overrides(method_id);
CREATE INDEX overrides_by_overridden ON overrides(overridden_id);
CREATE INDEX overrides_by_file ON overrides(file_id);

CREATE TABLE includes (
    file_id     INTEGER NOT NULL REFERENCES files(id),
    line        INTEGER NOT NULL,
    included_id INTEGER NOT NULL REFERENCES files(id)
);
CREATE INDEX includes_by_file ON includes(file_id);
CREATE INDEX includes_by_included ON includes(included_id);

CREATE TABLE diagnostics (
    unit_id  INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
    file_id  INTEGER REFERENCES files(id),
    line     INTEGER NOT NULL,
    col      INTEGER NOT NULL,
    -- 'note', 'warning', 'error' or 'fatal'.
    severity TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX diagnostics_by_unit ON diagnostics(unit_id);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    -- 'running', 'complete' or 'interrupted'. A 'running' row whose process
    -- is gone was killed: it reads as interrupted.
    status      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    indexed     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    removed     INTEGER NOT NULL DEFAULT 0
);
