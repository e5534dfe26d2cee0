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

/// What a symbol is: the worker decides it from libclang's cursor, the
/// wire carries it, the `symbols.kind` column holds its name, and the
/// queries answer it (as that name, in JSON). docs/schema.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    Namespace,
    /// `namespace fs = std::filesystem;`
    NamespaceAlias,
    Class,
    Struct,
    Union,
    Enum,
    /// An enumerator.
    EnumConstant,
    Function,
    Method,
    Constructor,
    Destructor,
    /// `operator bool()` and the like.
    ConversionFunction,
    Field,
    Variable,
    Parameter,
    Typedef,
    /// `using T = ...;` (and alias templates).
    TypeAlias,
    /// A class template (its specializations are classes).
    ClassTemplate,
    ClassTemplatePartialSpecialization,
    /// A function or method template.
    FunctionTemplate,
    /// A lambda's closure, named after where it is defined.
    Lambda,
    /// A using-declaration (`using std::swap;`).
    Using,
    /// A preprocessor macro.
    Macro,
    /// Objective-C.
    Protocol,
    /// Objective-C.
    Category,
    /// Objective-C.
    Property,
    /// Anything else libclang reports.
    Other,
}

impl SymbolKind {
    pub const ALL: [SymbolKind; 27] = [
        SymbolKind::Namespace,
        SymbolKind::NamespaceAlias,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Union,
        SymbolKind::Enum,
        SymbolKind::EnumConstant,
        SymbolKind::Function,
        SymbolKind::Method,
        SymbolKind::Constructor,
        SymbolKind::Destructor,
        SymbolKind::ConversionFunction,
        SymbolKind::Field,
        SymbolKind::Variable,
        SymbolKind::Parameter,
        SymbolKind::Typedef,
        SymbolKind::TypeAlias,
        SymbolKind::ClassTemplate,
        SymbolKind::ClassTemplatePartialSpecialization,
        SymbolKind::FunctionTemplate,
        SymbolKind::Lambda,
        SymbolKind::Using,
        SymbolKind::Macro,
        SymbolKind::Protocol,
        SymbolKind::Category,
        SymbolKind::Property,
        SymbolKind::Other,
    ];

    /// The kinds that can hold others by name (`ns::Type::member`):
    /// namespaces and types.
    pub const SCOPES: [SymbolKind; 9] = [
        SymbolKind::Namespace,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Union,
        SymbolKind::Enum,
        SymbolKind::ClassTemplate,
        SymbolKind::ClassTemplatePartialSpecialization,
        SymbolKind::Protocol,
        SymbolKind::Category,
    ];

    /// The kinds a class hierarchy is made of.
    pub const CLASSES: [SymbolKind; 5] = [
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Union,
        SymbolKind::ClassTemplate,
        SymbolKind::ClassTemplatePartialSpecialization,
    ];

    /// Its name, as the database and the answers spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Namespace => "namespace",
            SymbolKind::NamespaceAlias => "namespace_alias",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Union => "union",
            SymbolKind::Enum => "enum",
            SymbolKind::EnumConstant => "enum_constant",
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Constructor => "constructor",
            SymbolKind::Destructor => "destructor",
            SymbolKind::ConversionFunction => "conversion_function",
            SymbolKind::Field => "field",
            SymbolKind::Variable => "variable",
            SymbolKind::Parameter => "parameter",
            SymbolKind::Typedef => "typedef",
            SymbolKind::TypeAlias => "type_alias",
            SymbolKind::ClassTemplate => "class_template",
            SymbolKind::ClassTemplatePartialSpecialization => {
                "class_template_partial_specialization"
            }
            SymbolKind::FunctionTemplate => "function_template",
            SymbolKind::Lambda => "lambda",
            SymbolKind::Using => "using",
            SymbolKind::Macro => "macro",
            SymbolKind::Protocol => "protocol",
            SymbolKind::Category => "category",
            SymbolKind::Property => "property",
            SymbolKind::Other => "other",
        }
    }

    /// The kind named `name`; `None` for a name no version writes.
    pub fn parse(name: &str) -> Option<SymbolKind> {
        SymbolKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Every kind's name, in the order of docs/schema.md.
    pub fn names() -> impl Iterator<Item = &'static str> {
        SymbolKind::ALL.into_iter().map(SymbolKind::as_str)
    }

    pub fn is_scope(self) -> bool {
        SymbolKind::SCOPES.contains(&self)
    }

    pub fn is_class(self) -> bool {
        SymbolKind::CLASSES.contains(&self)
    }
}

impl std::fmt::Display for SymbolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for SymbolKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

/// A name no version writes is an error, not `other`: it means the file
/// is no index of this version.
impl rusqlite::types::FromSql for SymbolKind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        SymbolKind::parse(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown symbol kind `{name}`").into())
        })
    }
}

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

/// Every `role` bit with its name, as queries report and filter them.
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
