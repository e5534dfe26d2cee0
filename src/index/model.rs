//! The index's model: the states, kinds and roles its rows hold, with the
//! one spelling each has in the database. Queries return them, the wire
//! protocol carries them, and nothing else spells them.

use schemars::JsonSchema;
use serde::Serialize;

/// A unit that failed this many times in a row is quarantined: later
/// builds leave it failed until it (or a file it reads) changes, or
/// `--retry-failed`.
pub(crate) const QUARANTINE_FAILURES: i64 = 2;

/// Where a translation unit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnitState {
    /// To be indexed by the next build, with a reason.
    Pending,
    /// Its rows describe the files it read as they are.
    Indexed,
    /// libclang could not index it, or its worker died twice; with the
    /// reason.
    Failed,
}

impl UnitState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UnitState::Pending => "pending",
            UnitState::Indexed => "indexed",
            UnitState::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<UnitState> {
        [UnitState::Pending, UnitState::Indexed, UnitState::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

impl std::fmt::Display for UnitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a build's run ended, as the `runs` table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// The build is running (or was killed outright: `status` reads such a
    /// row as interrupted when no build holds the lock).
    Running,
    Complete,
    Interrupted,
}

impl RunState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Interrupted => "interrupted",
        }
    }

    /// `None` for a value this version never writes.
    pub(crate) fn parse(text: &str) -> Option<RunState> {
        [RunState::Running, RunState::Complete, RunState::Interrupted]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a unit is pending (or, for [`Dirtiness::NotRegular`], failed), as
/// `units.reason` spells it. One reason is computed in SQL, since it names
/// a different file for each unit: "`PATH` was never indexed"
/// (`units::mark_readers_of_unindexed_headers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dirtiness {
    /// First seen in this discovery.
    New,
    CommandChanged,
    /// `--full`.
    FullRebuild,
    /// The index was written with another libclang.
    OtherLibclang(String),
    /// Its main file changed on disk, or is gone.
    Content(Change),
    /// Another file it read changed (on disk, or was emitted anew by
    /// another unit), or is gone.
    File(String, Change),
    /// A file it reads is `what` (a FIFO, a directory), not a regular file.
    NotRegular {
        path: String,
        what: &'static str,
    },
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Changed,
    Deleted,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::Changed => "changed",
            Change::Deleted => "was deleted",
        })
    }
}

/// Put before the reason of a failed unit given another attempt.
pub(crate) const FAILED_BEFORE: &str = "failed before: ";

impl std::fmt::Display for Dirtiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dirtiness::New => f.write_str("new"),
            Dirtiness::CommandChanged => f.write_str("compile command changed"),
            Dirtiness::FullRebuild => f.write_str("full rebuild requested (--full)"),
            Dirtiness::OtherLibclang(previous) => {
                write!(f, "index written with another libclang ({previous})")
            }
            Dirtiness::Content(change) => write!(f, "content {change}"),
            Dirtiness::File(path, change) => write!(f, "{path} {change}"),
            Dirtiness::NotRegular { path, what } => {
                write!(f, "{path} is {what}, not a regular file")
            }
        }
    }
}

/// Every `Symbol::kind` the worker reports, as docs/schema.md lists them.
pub const SYMBOL_KINDS: &[&str] = &[
    "namespace",
    "namespace_alias",
    "class",
    "struct",
    "union",
    "enum",
    "enum_constant",
    "function",
    "method",
    "constructor",
    "destructor",
    "conversion_function",
    "field",
    "variable",
    "parameter",
    "typedef",
    "type_alias",
    "class_template",
    "class_template_partial_specialization",
    "function_template",
    "lambda",
    "using",
    "macro",
    "protocol",
    "category",
    "property",
    "other",
];

/// The kinds of symbol that can hold others by name (`ns::Type::member`):
/// namespaces and types.
pub(crate) const SCOPE_KINDS: &[&str] = &[
    "namespace",
    "class",
    "struct",
    "union",
    "enum",
    "class_template",
    "class_template_partial_specialization",
    "protocol",
    "category",
];

/// Bits of a reference's roles (`protocol::Reference::roles`, `refs.roles`): the values of libclang's `CXSymbolRole`,
/// and above them the indexer's own.
pub(crate) mod role {
    /// libclang's `CXSymbolRole_Definition`, which its references never
    /// carry: here, where a lambda is defined (a reference from what holds
    /// it, see docs/schema.md).
    pub const DEFINITION: u32 = 1 << 1;
    pub const READ: u32 = 1 << 3;
    pub const WRITE: u32 = 1 << 4;
    pub const CALL: u32 = 1 << 5;
    pub const DYNAMIC: u32 = 1 << 6;
    pub const ADDRESS_OF: u32 = 1 << 7;
    pub const IMPLICIT: u32 = 1 << 8;
    /// The indexer's own: a macro expanded, or tested by `#ifdef`,
    /// `#ifndef` or `defined()`. libclang has no such bit.
    pub const EXPANSION: u32 = 1 << 9;
}

/// Every [`role`] bit with its name, as queries report and filter them.
pub const ROLE_NAMES: [(u32, &str); 8] = [
    (role::CALL, "call"),
    (role::DYNAMIC, "dynamic"),
    (role::READ, "read"),
    (role::WRITE, "write"),
    (role::ADDRESS_OF, "address_of"),
    (role::IMPLICIT, "implicit"),
    (role::EXPANSION, "expansion"),
    (role::DEFINITION, "definition"),
];

/// The names of the [`role`] bits set in `roles`, as queries report them.
pub(crate) fn role_names(roles: u32) -> Vec<&'static str> {
    ROLE_NAMES
        .into_iter()
        .filter(|(bit, _)| roles & bit != 0)
        .map(|(_, name)| name)
        .collect()
}

/// A unit's stored command: its arguments for libclang and what the
/// command stage changed to make them.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub struct Command {
    pub args: Vec<String>,
    pub changes: Vec<String>,
}

impl Command {
    /// From the `units.args` and `units.changes` columns (`changes` may
    /// be NULL, for none).
    pub(crate) fn from_json(args: &str, changes: Option<&str>) -> rusqlite::Result<Command> {
        let parse = |text: &str| {
            serde_json::from_str(text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
            })
        };
        Ok(Command {
            args: parse(args)?,
            changes: changes.map(parse).transpose()?.unwrap_or_default(),
        })
    }
}
