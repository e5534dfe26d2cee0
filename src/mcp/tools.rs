//! The tools: one method per tool, each a thin adapter over one
//! [`Index`] method (or, for `refresh_index`, over the child build). A
//! query opens its own read-only connection on a blocking thread, asks,
//! and wraps the typed answer (`answers`); the library's errors become
//! tool errors that say what to call instead (`query_error`).
//!
//! Adding a tool is: a parameters type in `answers`, then one method here
//! whose body is `self.query(move |index| ...)` around the library call
//! (the answer is the library's, as `--json` prints it, with `partial`),
//! with a description written for a model (what it answers, an example
//! call).

use std::path::PathBuf;
use std::sync::Arc;

use indexer::index::query::{
    role_mask, At, CallOptions, CallPaths, FindOptions, Found, Hierarchy, HierarchyOptions,
    Includes, List, Outline, Position, QueryError, SymbolInfo, Uses,
};
use indexer::index::{Index, IndexError};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ProgressNotificationParam, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, Json, RoleServer, ServerHandler};

use super::answers::{
    Answer, CallQuery, FileQuery, FindSymbols, HierarchyQuery, IncludeDirection, IncludesQuery,
    IndexStatus, InfoQuery, PathQuery, PositionQuery, Progress, Refresh, Refreshed, StatusQuery,
    SymbolQuery, ToolError,
};
use super::refresh::Builds;
use super::watcher::Watcher;

/// What every session of the server shares: where the index is, and the
/// build that may be running.
pub(crate) struct Shared {
    project: PathBuf,
    db: PathBuf,
    /// This program, which `refresh_index` runs as `indexer build`.
    exe: PathBuf,
    pub(crate) builds: Builds,
    /// The watcher `--watch` started, running or stopped.
    pub(crate) watcher: Option<Watcher>,
}

impl Shared {
    pub(crate) fn new(
        project: PathBuf,
        db: PathBuf,
        exe: PathBuf,
        watcher: Option<Watcher>,
    ) -> Shared {
        Shared {
            project,
            db,
            exe,
            builds: Builds::default(),
            watcher,
        }
    }

    /// Whether the server's watcher keeps the index fresh now.
    fn watching(&self) -> bool {
        self.watcher
            .as_ref()
            .is_some_and(|watcher| watcher.stopped().is_none())
    }
}

/// One MCP session's handler (HTTP makes one per session; they share
/// [`Shared`]).
#[derive(Clone)]
pub(crate) struct Tools {
    shared: Arc<Shared>,
    tool_router: ToolRouter<Tools>,
}

const INSTRUCTIONS: &str = "Answers questions about a C/C++ code base from its semantic index \
(libclang). Start with find_symbols to learn a symbol's qualified name or usr; the other tools \
take either. get_symbol_info: what a symbol is (declarations, documentation, members, bases, \
overrides, alias types). get_file_outline: what a file declares. get_symbol_at: the symbol at a \
file position and its definition. get_class_hierarchy: bases and derived classes. \
find_references: every use. find_callers / find_callees: who calls a function, what it calls \
(depth for more levels). find_call_paths: how one function reaches another. get_includes: a \
file's include graph. get_index_status tells how fresh the index is; refresh_index brings it \
up to date after edits, unless the server watches the project (get_index_status says watching: \
true), which keeps it fresh by itself. Files are named relative to the project. Lists are capped by \
max_results (default 50) and say their total and whether they were truncated.";

impl Tools {
    pub(crate) fn new(shared: Arc<Shared>) -> Tools {
        Tools {
            shared,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `ask` on a blocking thread with a read-only connection of its
    /// own, file names relative to the project.
    async fn read<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&Index) -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T, ToolError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let index = Index::open(&shared.db)
                .map_err(|e| shared.index_error(e))?
                .with_roots(vec![shared.project.clone()]);
            ask(&index).map_err(query_error)
        })
        .await
        .map_err(|e| ToolError::new(format!("the query failed: {e}")))?
    }

    /// [`Tools::read`], the answer saying whether a build held the index's
    /// lock when the query began.
    async fn query<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&Index) -> Result<T, QueryError> + Send + 'static,
    ) -> Result<Json<Answer<T>>, ToolError> {
        self.read(move |index| {
            let partial = index.build_running();
            Ok(Answer {
                answer: ask(index)?,
                partial,
            })
        })
        .await
        .map(Json)
    }
}

#[tool_router]
impl Tools {
    /// Finds symbols of the indexed C/C++ project by name: functions,
    /// methods, classes, structs, enums, variables, typedefs, namespaces,
    /// macros. Each comes with its qualified name, kind, signature, usr and
    /// where it is defined (or first declared). Use it first: the other
    /// tools take the qualified_name or usr it answers.
    /// Example: {"pattern": "area", "kind": "method"} finds
    /// geo::Circle::area, geo::Shape::area and geo::Square::area;
    /// {"pattern": "*", "file": "shape.h", "namespace": "geo"} lists what
    /// shape.h declares in geo.
    #[tool(annotations(title = "Find symbols", read_only_hint = true, open_world_hint = false))]
    async fn find_symbols(
        &self,
        Parameters(p): Parameters<FindSymbols>,
    ) -> Result<Json<Answer<Found>>, ToolError> {
        self.query(move |index| {
            let options = FindOptions {
                kind: p.kind,
                scope: p.scope.into(),
                file: p.file,
                namespace: p.namespace,
                page: p.max_results.page(p.offset),
            };
            index.find(&p.pattern, &options)
        })
        .await
    }

    /// Tells all the index knows of a symbol: kind, signature or type,
    /// every declaration and the definition, its documentation comment,
    /// what holds it; for a class its members, bases and derived classes;
    /// for a method what it overrides and what overrides it; for a typedef
    /// or alias its underlying and canonical types. A name several symbols
    /// have (overloads) answers each of them.
    /// Example: {"symbol": "geo::Shape"} answers the class, its doc
    /// comment, its members area and ~Shape, and its derived classes
    /// geo::Circle and geo::Square.
    #[tool(annotations(title = "Symbol info", read_only_hint = true, open_world_hint = false))]
    async fn get_symbol_info(
        &self,
        Parameters(p): Parameters<InfoQuery>,
    ) -> Result<Json<Answer<List<SymbolInfo>>>, ToolError> {
        self.query(move |index| index.info(&p.symbol, p.max_results.page(0)))
            .await
    }

    /// Lists the symbols a file declares, nested by container (members in
    /// their class, classes in their namespace), in the file's order, each
    /// with its kind, signature and line range.
    /// Example: {"file": "include/geo/shape.h"} answers namespace geo
    /// holding Shape (with area and ~Shape), Circle, Square.
    #[tool(annotations(title = "File outline", read_only_hint = true, open_world_hint = false))]
    async fn get_file_outline(
        &self,
        Parameters(p): Parameters<FileQuery>,
    ) -> Result<Json<Answer<Outline>>, ToolError> {
        self.query(move |index| index.outline(&p.file, p.max_results.page(0)))
            .await
    }

    /// Tells which symbol is declared or used at a position of a file (go
    /// to definition): each name there, whether it is a definition, a
    /// declaration or a reference, and the symbol with where it is defined.
    /// Without a column, every name on the line.
    /// Example: {"file": "src/main.cpp", "line": 10, "column": 65} answers
    /// a call of geo::Circle::area, defined at src/circle.cpp:7.
    #[tool(annotations(
        title = "Symbol at a position",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn get_symbol_at(
        &self,
        Parameters(p): Parameters<PositionQuery>,
    ) -> Result<Json<Answer<At>>, ToolError> {
        self.query(move |index| {
            let position = Position {
                line: p.line,
                column: p.column,
            };
            index.at(&p.file, position, p.max_results.page(0))
        })
        .await
    }

    /// Walks a class's inheritance: its bases and theirs (direction "up"),
    /// the classes derived from it and theirs ("down"), or both, as trees;
    /// virtual inheritance and template bases included.
    /// Example: {"class": "geo::Shape", "direction": "down"} answers
    /// geo::Circle and geo::Square.
    #[tool(annotations(
        title = "Class hierarchy",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn get_class_hierarchy(
        &self,
        Parameters(p): Parameters<HierarchyQuery>,
    ) -> Result<Json<Answer<Hierarchy>>, ToolError> {
        self.query(move |index| {
            let options = HierarchyOptions {
                direction: p.direction.into(),
                depth: p.depth,
                max_nodes: p.max_results.get(),
            };
            index.hierarchy(&p.class, options)
        })
        .await
    }

    /// Lists every use of one symbol in the project: calls, reads, writes,
    /// address-taking, mentions of a type, macro expansions. Each use has
    /// its file, line and column, its roles, and the function whose body
    /// holds it (container).
    /// Example: {"symbol": "geo::Circle::area"} lists the call in main;
    /// {"symbol": "geo::weight", "roles": ["call"]} only its calls.
    #[tool(annotations(
        title = "Find references",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn find_references(
        &self,
        Parameters(p): Parameters<SymbolQuery>,
    ) -> Result<Json<Answer<Uses>>, ToolError> {
        self.query(move |index| {
            let options = CallOptions {
                roles: role_mask(&p.roles)?,
                depth: 1,
                page: p.max_results.page(0),
                max_nodes: 0,
            };
            index.refs(&p.symbol, options)
        })
        .await
    }

    /// Lists who calls a function or method: one row per call site, the
    /// caller in qualified_name (and usr), the call's location, and the
    /// function called in container. For a virtual method, calls through a
    /// base method it overrides are included (role "dynamic"); for a
    /// lambda, where it is defined (role "definition"). With depth > 1,
    /// each caller's own callers as children.
    /// Example: {"symbol": "geo::Shape::area"} answers geo::total_area,
    /// which calls it through a pointer to Shape; {"symbol":
    /// "geo::Shape::area", "depth": 2} adds main, which calls total_area.
    #[tool(annotations(title = "Find callers", read_only_hint = true, open_world_hint = false))]
    async fn find_callers(
        &self,
        Parameters(p): Parameters<CallQuery>,
    ) -> Result<Json<Answer<Uses>>, ToolError> {
        self.query(move |index| index.callers(&p.symbol, p.options()?))
            .await
    }

    /// Lists what a function or method calls: one row per call site, the
    /// function called in qualified_name (and usr), the call's location,
    /// and the lambdas it defines (role "definition"). With depth > 1,
    /// what each callee calls in turn, as children.
    /// Example: {"symbol": "geo::total_area"} answers geo::weight and
    /// geo::Shape::area.
    #[tool(annotations(title = "Find callees", read_only_hint = true, open_world_hint = false))]
    async fn find_callees(
        &self,
        Parameters(p): Parameters<CallQuery>,
    ) -> Result<Json<Answer<Uses>>, ToolError> {
        self.query(move |index| index.callees(&p.symbol, p.options()?))
            .await
    }

    /// Finds call chains from one function to another, shortest first:
    /// each step a function and where it calls the next. Calls through a
    /// virtual method reach its overriders (dynamic: true), and a function
    /// reaches the lambdas it defines.
    /// Example: {"from": "main", "to": "geo::Circle::area"} answers main ->
    /// geo::Circle::area (a direct call), and main -> geo::total_area ->
    /// geo::Circle::area (through Shape::area).
    #[tool(annotations(
        title = "Find call paths",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn find_call_paths(
        &self,
        Parameters(p): Parameters<PathQuery>,
    ) -> Result<Json<Answer<CallPaths>>, ToolError> {
        self.query(move |index| index.call_paths(&p.from, &p.to, p.max_depth, p.max_results.get()))
            .await
    }

    /// Answers a file's include graph: the files it includes (direction
    /// "includes"), or the files that include it ("included_by"), with the
    /// line of each #include; depth > 1 follows them transitively, as a
    /// tree (cycles marked).
    /// Example: {"file": "include/geo/shape.h", "direction":
    /// "included_by"} answers src/circle.cpp, src/main.cpp and
    /// src/total.cpp.
    #[tool(annotations(title = "Includes", read_only_hint = true, open_world_hint = false))]
    async fn get_includes(
        &self,
        Parameters(p): Parameters<IncludesQuery>,
    ) -> Result<Json<Answer<Includes>>, ToolError> {
        self.query(move |index| {
            let reverse = p.direction == IncludeDirection::IncludedBy;
            index.includes(&p.file, reverse, p.depth, p.max_results.page(0))
        })
        .await
    }

    /// Tells what the index holds and how fresh it is: translation units
    /// indexed, pending and failed (with the reason of each failure),
    /// symbol and reference counts, the last build, whether a build runs
    /// now (with how far it got), and whether the server watches the
    /// project for changes (watching; watch_stopped says why it no longer
    /// does). Call it when an answer looks incomplete, or to follow
    /// refresh_index.
    /// Example: {} answers units_indexed 3, units_failed 0, build_running
    /// false.
    #[tool(annotations(title = "Index status", read_only_hint = true, open_world_hint = false))]
    async fn get_index_status(
        &self,
        Parameters(p): Parameters<StatusQuery>,
    ) -> Result<Json<IndexStatus>, ToolError> {
        let shared = self.shared.clone();
        self.read(move |index| {
            let place = (
                shared.project.display().to_string(),
                shared.db.display().to_string(),
            );
            let refresh = shared.builds.progress();
            let mut status =
                IndexStatus::new(index.status(0)?, p.max_results.get(), place, refresh);
            status.watching = shared.watching();
            status.watch_stopped = shared.watcher.as_ref().and_then(Watcher::stopped);
            Ok(status)
        })
        .await
        .map(Json)
    }

    /// Brings the index up to date by running `indexer build` on the
    /// project: re-indexes the translation units that changed since the
    /// last build (mode "incremental", the default) or all of them (mode
    /// "full"), and answers the build's summary. Takes seconds to minutes;
    /// sends progress notifications (units done of total) when the request
    /// has a progressToken. One build at a time: a call while one runs is
    /// refused. Queries keep answering meanwhile from what the build has
    /// committed, with partial: true. Cancelling the request stops the
    /// build; what it indexed is kept, and the next refresh resumes. When
    /// the server watches the project (get_index_status: watching true),
    /// the index follows edits by itself and a call is refused.
    /// Example: {"mode": "incremental"} answers status "complete",
    /// indexed 1, unchanged 2.
    #[tool(annotations(
        title = "Refresh the index",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn refresh_index(
        &self,
        Parameters(p): Parameters<Refresh>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<Refreshed>, ToolError> {
        let shared = &self.shared;
        if shared.watching() {
            return Err(ToolError::new(format!(
                "the server watches {} (`indexer mcp --watch`) and re-indexes what changes by itself, \
                 within a second or so of an edit: there is nothing to refresh. get_index_status says \
                 whether a build runs (build_running) and how the last one ended (last_run). For a full \
                 re-index, run `indexer build --full` on the project outside the server (the watcher \
                 waits for it) or restart the server without --watch.",
                shared.project.display()
            )));
        }
        let build = shared
            .builds
            .start(&shared.exe, &shared.project, &shared.db, p.mode)?;
        let token = request.meta.get_progress_token();
        let peer = &request.peer;
        let report = |progress: Progress| {
            let note = token.clone().map(|token| {
                ProgressNotificationParam::new(token, progress.done as f64)
                    .with_total(progress.total as f64)
                    .with_message(format!(
                        "indexed {} of {} units, {} failed",
                        progress.done, progress.total, progress.failed
                    ))
            });
            async move {
                if let Some(note) = note {
                    let _ = peer.notify_progress(note).await;
                }
            }
        };
        build.answer(request.ct.cancelled(), report).await.map(Json)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("indexer", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

impl Shared {
    /// An index that cannot be opened, as a tool error saying what to do.
    fn index_error(&self, error: IndexError) -> ToolError {
        match error {
            IndexError::Missing { path } if self.builds.progress().is_some() || self.watching() => {
                ToolError::new(format!(
                    "the index at {} is being built for the first time and has nothing committed yet: \
                     call get_index_status in a few seconds, then ask again",
                    path.display()
                ))
            }
            IndexError::Missing { path } => ToolError::new(format!(
                "there is no index at {} yet: call refresh_index to build it (seconds to minutes), then ask again",
                path.display()
            )),
            IndexError::OlderSchema { path, .. } => ToolError::new(format!(
                "the index at {} was written by an older indexer: call refresh_index to upgrade it, then ask again",
                path.display()
            )),
            other => ToolError::new(format!(
                "the index cannot be read: {}",
                indexer::one_line(&other)
            )),
        }
    }
}

/// A query's error, as a tool error saying what to call instead.
fn query_error(error: QueryError) -> ToolError {
    match error {
        QueryError::NotFound(symbol) => ToolError::new(format!(
            "no symbol is named `{symbol}`: call find_symbols with part of its name (e.g. {{\"pattern\": \"{}\"}}) \
             and pass the qualified_name or usr it answers",
            symbol.rsplit("::").next().unwrap_or(&symbol)
        )),
        QueryError::FileNotFound(file) => ToolError::new(format!(
            "no file of the index matches `{file}`: pass a path relative to the project, or the end of one \
             (find_symbols answers the files symbols are declared in; get_includes what a file includes)"
        )),
        QueryError::NotAClass(symbol) => ToolError::new(format!(
            "`{symbol}` is no class, struct, union or class template: get_symbol_info says what it is"
        )),
        other => ToolError::new(indexer::one_line(&other)),
    }
}
