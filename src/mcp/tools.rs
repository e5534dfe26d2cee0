//! The tools: one method per tool, each a thin adapter over one
//! [`Index`] method (or, for `refresh_index`, over the child build). A
//! query opens its own read-only connection on a blocking thread, asks,
//! and wraps the typed answer (`answers`); the library's errors become
//! tool errors that say what to call instead (`tool_error`).
//!
//! Adding a tool is: a parameters type and an answer type in `answers`,
//! then one method here whose body is `self.query(move |index, partial|
//! ...)` around the library call, with a description written for a model
//! (what it answers, an example call).

use std::path::PathBuf;
use std::sync::Arc;

use indexer::index::query::{CallOptions, FindOptions, QueryError};
use indexer::index::{Index, IndexError};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ProgressNotificationParam, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, Json, RoleServer, ServerHandler};

use super::answers::{
    page, FindSymbols, IndexStatus, Progress, Refresh, Refreshed, StatusQuery, SymbolQuery,
    Symbols, ToolError, Uses,
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
(libclang): where symbols are defined (find_symbols), where they are used (find_references), \
who calls a function (find_callers) and what it calls (find_callees). Start with find_symbols to \
learn a symbol's qualified name or usr; the other tools take either. get_index_status tells how \
fresh the index is; refresh_index brings it up to date after edits, unless the server watches the \
project (get_index_status says watching: true), which keeps it fresh by itself. Lists are capped by \
max_results (default 50) and say their total.";

impl Tools {
    pub(crate) fn new(shared: Arc<Shared>) -> Tools {
        Tools {
            shared,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `ask` on a blocking thread with a read-only connection of its
    /// own; `partial` is whether a build held the index's lock.
    async fn query<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&Index, bool) -> Result<T, QueryError> + Send + 'static,
    ) -> Result<Json<T>, ToolError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let index = Index::open(&shared.db).map_err(|e| shared.index_error(e))?;
            let partial = index.build_running();
            ask(&index, partial).map(Json).map_err(query_error)
        })
        .await
        .map_err(|e| ToolError::new(format!("the query failed: {e}")))?
    }
}

#[tool_router]
impl Tools {
    /// Finds symbols of the indexed C/C++ project by name: functions,
    /// methods, classes, structs, enums, variables, typedefs, namespaces,
    /// macros. Each comes with its qualified name, kind, usr and where it is
    /// defined (or first declared). Use it first: the other tools take the
    /// qualified_name or usr it answers.
    /// Example: {"pattern": "area", "kind": "method"} finds
    /// geo::Circle::area, geo::Shape::area and geo::Square::area.
    #[tool(annotations(title = "Find symbols", read_only_hint = true, open_world_hint = false))]
    async fn find_symbols(
        &self,
        Parameters(p): Parameters<FindSymbols>,
    ) -> Result<Json<Symbols>, ToolError> {
        self.query(move |index, partial| {
            let options = FindOptions {
                kind: p.kind,
                scope: p.scope.into(),
                file: None,
                namespace: None,
                page: page(p.max_results),
            };
            Ok(Symbols::new(index.find(&p.pattern, &options)?, partial))
        })
        .await
    }

    /// Lists every use of one symbol in the project: calls, reads, writes,
    /// address-taking, mentions of a type, macro expansions. Each use has
    /// its file, line and column, its roles, and the function whose body
    /// holds it (container).
    /// Example: {"symbol": "geo::Circle::area"} lists the call in main.
    #[tool(annotations(
        title = "Find references",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn find_references(
        &self,
        Parameters(p): Parameters<SymbolQuery>,
    ) -> Result<Json<Uses>, ToolError> {
        self.query(move |index, partial| {
            Ok(Uses::new(
                index.refs(&p.symbol, uses_page(p.max_results))?,
                partial,
            ))
        })
        .await
    }

    /// Lists who calls a function or method: one row per call site, the
    /// caller in qualified_name (and usr), the call's location, and the
    /// function called in container. For a virtual method, calls through a
    /// base method it overrides are included (role "dynamic"); for a
    /// lambda, where it is defined (role "definition").
    /// Example: {"symbol": "geo::Shape::area"} answers geo::total_area,
    /// which calls it through a pointer to Shape.
    #[tool(annotations(title = "Find callers", read_only_hint = true, open_world_hint = false))]
    async fn find_callers(
        &self,
        Parameters(p): Parameters<SymbolQuery>,
    ) -> Result<Json<Uses>, ToolError> {
        self.query(move |index, partial| {
            Ok(Uses::new(
                index.callers(&p.symbol, uses_page(p.max_results))?,
                partial,
            ))
        })
        .await
    }

    /// Lists what a function or method calls: one row per call site, the
    /// function called in qualified_name (and usr), the call's location,
    /// and the lambdas it defines (role "definition").
    /// Example: {"symbol": "geo::total_area"} answers geo::weight and
    /// geo::Shape::area.
    #[tool(annotations(title = "Find callees", read_only_hint = true, open_world_hint = false))]
    async fn find_callees(
        &self,
        Parameters(p): Parameters<SymbolQuery>,
    ) -> Result<Json<Uses>, ToolError> {
        self.query(move |index, partial| {
            Ok(Uses::new(
                index.callees(&p.symbol, uses_page(p.max_results))?,
                partial,
            ))
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
        self.query(move |index, _| {
            let place = (
                shared.project.display().to_string(),
                shared.db.display().to_string(),
            );
            let refresh = shared.builds.progress();
            let mut status = IndexStatus::new(index.status(0)?, p.max_results, place, refresh);
            status.watching = shared.watching();
            status.watch_stopped = shared.watcher.as_ref().and_then(Watcher::stopped);
            Ok(status)
        })
        .await
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
        other => ToolError::new(indexer::one_line(&other)),
    }
}

/// The direct uses of a symbol, a page of at most `max_results`.
fn uses_page(max_results: usize) -> CallOptions {
    CallOptions {
        page: page(max_results),
        ..CallOptions::default()
    }
}
