//! What the tools take and what they answer, as the client sees them: the
//! parameters (their JSON Schema is each tool's `inputSchema`) and the
//! results wrapped around the library's typed answers (`outputSchema`,
//! `structuredContent`). Every list is capped to `max_results` and says
//! its `total` and whether it was `truncated`: answers go into a model's
//! context, where a 40,000-token list helps nobody. Every answer says
//! whether a build was running (`partial`).

use std::borrow::Cow;

use indexer::index::model::{SymbolKind, ROLE_NAMES};
use indexer::index::query::{self, Status};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// `max_results` when the client gives none: enough to see a pattern,
/// small enough for a model's context.
pub(crate) const DEFAULT_MAX_RESULTS: usize = 50;
/// The most one call may ask for.
pub(crate) const MAX_MAX_RESULTS: usize = 1000;

/// A tool's `max_results`: at most this many items in the answer, 1 to
/// [`MAX_MAX_RESULTS`], `DEFAULT` when the client gives none. Out of
/// bounds, it is brought within them (0 would answer nothing): the answer
/// says `truncated` when that cut anything.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub(crate) struct MaxResults<const DEFAULT: usize = DEFAULT_MAX_RESULTS>(usize);

impl<const DEFAULT: usize> MaxResults<DEFAULT> {
    /// The cap, within bounds.
    pub(crate) fn get(self) -> usize {
        cap(self.0)
    }

    /// The first page of at most this many items, after `offset`.
    pub(crate) fn page(self, offset: usize) -> query::Page {
        query::Page::new(self.get(), offset)
    }
}

impl<const DEFAULT: usize> Default for MaxResults<DEFAULT> {
    fn default() -> Self {
        MaxResults(DEFAULT)
    }
}

impl<const DEFAULT: usize> JsonSchema for MaxResults<DEFAULT> {
    fn schema_name() -> Cow<'static, str> {
        format!("MaxResults{DEFAULT}").into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_MAX_RESULTS,
            "default": DEFAULT,
        })
    }
}

fn cap(max_results: usize) -> usize {
    max_results.clamp(1, MAX_MAX_RESULTS)
}

/// `rows` cut to `max_results` (within bounds): the rows kept, the total,
/// and whether any were cut.
fn capped<T>(mut rows: Vec<T>, max_results: usize) -> (Vec<T>, usize, bool) {
    let total = rows.len();
    rows.truncate(max_results);
    let truncated = total > rows.len();
    (rows, total, truncated)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindSymbols {
    /// Part of a symbol's name or qualified name (`area` finds
    /// `geo::Circle::area` and `geo::total_area`), a glob over either with
    /// `*` and `?` (`geo::*::area`, `Circle*`), `ns::Name` for names in a
    /// namespace or class ending in `ns`, `::Name` for the global scope
    /// only. Case-insensitive; exact matches first, then prefixes, then
    /// substrings.
    pub(crate) pattern: String,
    /// Only symbols of this kind.
    #[serde(default)]
    #[schemars(schema_with = "symbol_kind")]
    pub(crate) kind: Option<String>,
    /// Which symbols to search.
    #[serde(default)]
    pub(crate) scope: Scope,
    /// Only symbols declared in this file: a path relative to the project
    /// (`include/geo/shape.h`), absolute, or the end of one (`shape.h`).
    #[serde(default)]
    pub(crate) file: Option<String>,
    /// Only symbols inside this namespace or class (`geo`, `geo::Circle`),
    /// at any depth.
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    /// At most this many symbols in the answer.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
    /// Skip this many first: with `max_results`, the next page of a
    /// truncated answer.
    #[serde(default)]
    pub(crate) offset: usize,
}

/// The kinds of docs/schema.md, as an enum: the index's own list.
fn symbol_kind(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = SymbolKind::names().collect();
    schemars::json_schema!({
        "type": "string",
        "enum": names,
    })
}

/// Role names, as an enum: the index's own list.
fn roles(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = ROLE_NAMES.iter().map(|(_, name)| *name).collect();
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "string", "enum": names},
    })
}

/// Which symbols `find_symbols` searches.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    /// Symbols declared in the project's own files.
    #[default]
    Project,
    /// Also symbols of system headers the project uses (`std::vector`); they
    /// have no location unless the index was built with system headers.
    All,
}

impl From<Scope> for query::Scope {
    fn from(scope: Scope) -> query::Scope {
        match scope {
            Scope::Project => query::Scope::Project,
            Scope::All => query::Scope::All,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SymbolQuery {
    /// The symbol: its qualified name (`geo::Circle::area`), its end
    /// (`Circle::area`), its plain name (`area`: every symbol so named), or
    /// its `usr` as find_symbols answers it (`c:@N@geo@S@Circle@F@area#1`).
    pub(crate) symbol: String,
    /// Only uses with one of these roles (none given: every use).
    #[serde(default)]
    #[schemars(schema_with = "roles")]
    pub(crate) roles: Vec<String>,
    /// At most this many rows in the answer.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallQuery {
    /// The function or method: its qualified name (`geo::total_area`), its
    /// end, its plain name (every function so named), or its `usr`.
    pub(crate) symbol: String,
    /// Levels: 1 answers the direct ones; more answers each with its own
    /// (`children`), as a tree; recursion is marked `cycle` and not
    /// followed (1 to 10).
    #[serde(default = "one", deserialize_with = "within::<_, 1, 10>")]
    #[schemars(range(min = 1, max = 10))]
    pub(crate) depth: u32,
    /// Only calls with one of these roles (`dynamic`: through a virtual
    /// method; none given: every call).
    #[serde(default)]
    #[schemars(schema_with = "roles")]
    pub(crate) roles: Vec<String>,
    /// At most this many rows at the first level, and this many more below
    /// it.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

fn one() -> u32 {
    1
}

/// A level count from `MIN` to `MAX`; another is refused (a tool error
/// naming the bounds) rather than brought within them, since a shallower
/// tree than asked would pass for a whole one.
fn within<'de, D: serde::Deserializer<'de>, const MIN: u32, const MAX: u32>(
    deserializer: D,
) -> Result<u32, D::Error> {
    let value = u32::deserialize(deserializer)?;
    if (MIN..=MAX).contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format_args!(
            "{value} is out of range: pass {MIN} to {MAX}"
        )))
    }
}

impl CallQuery {
    /// The library's options: the first level's page and, below it, as
    /// many nodes more.
    pub(crate) fn options(&self) -> Result<query::CallOptions, query::QueryError> {
        Ok(query::CallOptions {
            roles: query::role_mask(&self.roles)?,
            depth: self.depth,
            page: self.max_results.page(0),
            max_nodes: self.max_results.get(),
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InfoQuery {
    /// The symbol: a qualified name (`geo::Circle`), its end, a plain name
    /// (every symbol so named, e.g. each overload), or a `usr`.
    pub(crate) symbol: String,
    /// At most this many symbols in the answer.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileQuery {
    /// A file some unit of the index reads: relative to the project
    /// (`src/circle.cpp`), absolute, or the end of a path (`circle.cpp`).
    pub(crate) file: String,
    /// At most this many symbols in the answer, the file's first.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PositionQuery {
    /// A file of the index: relative to the project, absolute, or the end
    /// of a path.
    pub(crate) file: String,
    /// The line, from 1.
    #[schemars(range(min = 1))]
    pub(crate) line: u32,
    /// The column, from 1 (a byte offset in the line, tabs counting 1);
    /// none: every name on the line.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub(crate) column: Option<u32>,
    /// At most this many names in the answer.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HierarchyQuery {
    /// A class, struct, union or class template: qualified name, end,
    /// plain name or `usr`.
    pub(crate) class: String,
    /// Which way to walk.
    #[serde(default)]
    pub(crate) direction: HierarchyDirection,
    /// Levels each way (1 to 100).
    #[serde(default = "hierarchy_depth", deserialize_with = "within::<_, 1, 100>")]
    #[schemars(range(min = 1, max = 100))]
    pub(crate) depth: u32,
    /// At most this many classes over all the trees.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

fn hierarchy_depth() -> u32 {
    query::HierarchyOptions::default().depth
}

/// Which way `get_class_hierarchy` walks.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HierarchyDirection {
    /// Bases, their bases, ...
    Up,
    /// Derived classes, theirs, ...
    Down,
    /// Both trees.
    #[default]
    Both,
}

impl From<HierarchyDirection> for query::Direction {
    fn from(direction: HierarchyDirection) -> query::Direction {
        match direction {
            HierarchyDirection::Up => query::Direction::Up,
            HierarchyDirection::Down => query::Direction::Down,
            HierarchyDirection::Both => query::Direction::Both,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathQuery {
    /// The calling function: qualified name, end, plain name or `usr`.
    pub(crate) from: String,
    /// The function reached, directly or through other calls.
    pub(crate) to: String,
    /// Calls in a chain at most (1 to 30).
    #[serde(default = "eight", deserialize_with = "within::<_, 1, 30>")]
    #[schemars(range(min = 1, max = 30))]
    pub(crate) max_depth: u32,
    /// At most this many chains, shortest first.
    #[serde(default)]
    pub(crate) max_results: MaxResults<10>,
}

fn eight() -> u32 {
    8
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncludesQuery {
    /// A file of the index: relative to the project, absolute, or the end
    /// of a path.
    pub(crate) file: String,
    /// What the file includes, or which files include it.
    #[serde(default)]
    pub(crate) direction: IncludeDirection,
    /// Levels: 1 answers the direct ones, more the transitive ones as a
    /// tree (1 to 100).
    #[serde(default = "one", deserialize_with = "within::<_, 1, 100>")]
    #[schemars(range(min = 1, max = 100))]
    pub(crate) depth: u32,
    /// At most this many files in the tree.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

/// Which way `get_includes` walks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IncludeDirection {
    /// The files it includes.
    #[default]
    Includes,
    /// The files that include it.
    IncludedBy,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    /// At most this many failed units listed.
    #[serde(default)]
    pub(crate) max_results: MaxResults,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Refresh {
    /// What to index.
    #[serde(default)]
    pub(crate) mode: RefreshMode,
}

/// What `refresh_index` indexes.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RefreshMode {
    /// Only the units that changed since the last build (new files, edited
    /// sources or headers, changed compile commands), and those a build
    /// left pending.
    #[default]
    Incremental,
    /// Every unit again, ignoring what the index holds.
    Full,
}

/// A query's answer as the command line's `--json` prints it, and whether
/// a build was running.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Answer<T> {
    #[serde(flatten)]
    pub(crate) answer: T,
    /// Whether a build was running: the answer holds what it had committed.
    pub(crate) partial: bool,
}

/// The answer of `get_index_status`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct IndexStatus {
    /// The project `refresh_index` builds.
    pub(crate) project: String,
    /// The index file.
    pub(crate) db: String,
    /// The build this server runs, if any, as far as it got.
    pub(crate) refresh: Option<Progress>,
    /// Whether this server watches the project (`--watch`) and re-indexes
    /// what changes by itself; `refresh_index` is refused meanwhile.
    pub(crate) watching: bool,
    /// Why this server's watch stopped, if it was started and has.
    pub(crate) watch_stopped: Option<String>,
    /// What the index holds; its `build_running` says whether a build is
    /// running now (this server's `refresh_index` or another process's
    /// `indexer build`).
    #[serde(flatten)]
    pub(crate) status: Status,
    /// How many units failed (`failed` lists at most `max_results`).
    pub(crate) total_failed: usize,
    /// Whether `failed` holds fewer than `total_failed`.
    pub(crate) truncated: bool,
    /// Whether a build was running: the counts are what it had committed.
    pub(crate) partial: bool,
}

impl IndexStatus {
    pub(crate) fn new(
        mut status: Status,
        max_results: usize,
        place: (String, String),
        refresh: Option<Progress>,
    ) -> IndexStatus {
        let (failed, total_failed, truncated) =
            capped(std::mem::take(&mut status.failed), max_results);
        status.failed = failed;
        IndexStatus {
            project: place.0,
            db: place.1,
            refresh,
            watching: false,
            watch_stopped: None,
            partial: status.build_running,
            status,
            total_failed,
            truncated,
        }
    }
}

/// How far a build got: units done (indexed or failed) of those it
/// indexes, as `indexer build --progress json` prints it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Progress {
    pub(crate) done: u64,
    pub(crate) failed: u64,
    pub(crate) total: u64,
}

/// The answer of `refresh_index`: the build's summary (`indexer build
/// --json`, the fields a model needs) and what it printed for people.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Refreshed {
    /// How the build ended.
    pub(crate) status: Ending,
    /// Units in the project.
    pub(crate) files_total: u64,
    /// Units indexed by this build.
    pub(crate) indexed: u64,
    /// Units that were already current.
    pub(crate) unchanged: u64,
    /// Units that failed in this build (`get_index_status` says why).
    pub(crate) failed: u64,
    /// Units dropped because the project no longer lists them.
    pub(crate) removed: u64,
    /// Units skipped because they failed twice before.
    pub(crate) quarantined: u64,
    /// Symbols and references in the index after the build.
    pub(crate) symbols: u64,
    pub(crate) references: u64,
    /// Wall time in seconds.
    pub(crate) elapsed_s: f64,
    /// What the build said for people: where the compile commands came
    /// from, warnings.
    #[serde(default)]
    pub(crate) notes: Vec<String>,
}

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Ending {
    /// Every unit was indexed or failed.
    Complete,
    /// Stopped early (the request was cancelled, or the server stopped):
    /// what was indexed is kept, and the next refresh resumes.
    Cancelled,
}

/// A tool's error: a result with `isError`, its text saying what to do.
#[derive(Debug)]
pub(crate) struct ToolError(pub(crate) Cow<'static, str>);

impl ToolError {
    pub(crate) fn new(message: impl Into<Cow<'static, str>>) -> ToolError {
        ToolError(message.into())
    }
}

impl rmcp::handler::server::tool::IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let text = rmcp::model::ContentBlock::text(self.0.into_owned());
        Ok(rmcp::model::CallToolResult::error(vec![text]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_capped_and_says_so() {
        assert_eq!(capped(vec![1, 2, 3], 2), (vec![1, 2], 3, true));
        assert_eq!(capped(vec![1, 2, 3], 3), (vec![1, 2, 3], 3, false));
        // 0 reads as 1; more than the most reads as the most; none given
        // is the default.
        let max = |json: &str| serde_json::from_str::<MaxResults>(json).unwrap().get();
        assert_eq!(
            (max("0"), max("7"), max("1000000")),
            (1, 7, MAX_MAX_RESULTS)
        );
        assert_eq!(MaxResults::<10>::default().get(), 10);
        let status: StatusQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(status.max_results.get(), DEFAULT_MAX_RESULTS);
        // The schema says the bounds and the default.
        let schema = schemars::schema_for!(PathQuery);
        let max_results = &schema.as_value()["properties"]["max_results"];
        assert_eq!(
            (
                &max_results["minimum"],
                &max_results["maximum"],
                &max_results["default"]
            ),
            (&1.into(), &1000.into(), &10.into())
        );
    }

    #[test]
    fn the_kind_parameter_lists_every_kind_of_the_index() {
        let schema = schemars::schema_for!(FindSymbols);
        let kinds = &schema.as_value()["properties"]["kind"]["enum"];
        assert_eq!(kinds.as_array().unwrap().len(), SymbolKind::ALL.len());
        assert!(!schema.as_value()["required"]
            .as_array()
            .unwrap()
            .contains(&"kind".into()));
    }
}
