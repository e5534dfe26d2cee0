//! The command line's flags, as clap parses them, and what they become:
//! the raw flags stay here; [`BuildArgs::settings`] turns them into the
//! library's [`BuildSettings`], which the library validates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indexer::build::{default_db, BuildSettings, Dispatch, DEFAULT_FILES_PER_WORKER};
use indexer::index::query::{self, Direction, FindOptions, HierarchyOptions, Page};
use indexer::memory::parse_size;
use indexer::shard::Shard;

#[derive(Debug, Parser)]
#[command(
    name = "indexer",
    version,
    about = "Build and query a semantic index of a C/C++ code base",
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Index a project, or refresh its index (only what changed is re-indexed)
    Build(BuildArgs),
    /// Build, then keep the index fresh: an incremental build whenever files
    /// it reads change (Ctrl-C stops)
    Watch(WatchArgs),
    /// Show what the index holds, its last run, and the units that failed
    Status(StatusArgs),
    /// Find symbols by name: a substring, a `*`/`?` glob, `ns::Name` (a qualified-name
    /// suffix) or `::Name` (global scope only); case-insensitive, exact matches first
    Find(FindArgs),
    /// Everything about a symbol (every overload): kind, signature, declarations,
    /// documentation, container, members, bases, derived classes, overrides, alias types
    Info(InfoArgs),
    /// The symbols declared in a file, nested by container
    Outline(OutlineArgs),
    /// The symbols declared or referred to at FILE:LINE[:COLUMN], with their definitions
    At(AtArgs),
    /// A class's bases and derived classes, as trees
    Hierarchy(HierarchyArgs),
    /// List the uses of a symbol (a qualified name like `geo::Circle::area`, its suffix,
    /// a plain name, or a USR; every symbol it stands for)
    Refs(RefsArgs),
    /// List the call sites of a function or method, with their callers (a tree with --depth)
    Callers(CallArgs),
    /// List what a function or method calls (a tree with --depth)
    Callees(CallArgs),
    /// Call chains from one function to another, shortest first, virtual dispatch included
    Path(PathArgs),
    /// What a file includes, or with --reverse which files include it
    Includes(IncludesArgs),
    /// Serve the index to AI assistants over the Model Context Protocol
    /// (stdio, or Streamable HTTP with --http)
    Mcp(McpArgs),
    /// Print the index's content per table (row count and hash, rows spelled
    /// with USRs and paths): equal for two builds of the same sources
    Digest(DigestArgs),
    /// Write the index in another format (`export scip OUT.scip`)
    Export(ExportArgs),
    /// Combine the databases of a sharded build (`build --shard K/N`) into
    /// one index; a shard merged again replaces its part
    Merge(MergeArgs),
    /// Internal: run as a worker process (started by `build`)
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// The index database [default: PROJECT/.indexer/index.db]
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    pub(crate) indexing: IndexingArgs,
    /// Re-index every unit, ignoring what the index holds
    #[arg(long)]
    pub(crate) full: bool,
    /// List the units that need indexing, with the reason, and index nothing
    #[arg(long)]
    pub(crate) explain: bool,
    /// Retry units quarantined after failing twice
    #[arg(long)]
    pub(crate) retry_failed: bool,
    /// Index only shard K of N (0 <= K < N), a deterministic share of the
    /// units, into its own database; combine the shards with `indexer merge`
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
    /// Balance the shards by the parse times of this earlier index (every
    /// shard must be given the same one) instead of by a hash of the paths
    #[arg(long, value_name = "OLD.db")]
    pub(crate) plan_from: Option<PathBuf>,
    /// The order units are handed to workers in: `costliest` first, or
    /// `even`, every tenth of the build alike in cost (for measuring
    /// whether throughput holds over a long build)
    #[arg(long, value_enum, default_value_t = DispatchOrder::Costliest)]
    pub(crate) dispatch: DispatchOrder,
    /// Print one JSON summary object on stdout when done
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress and no summary (errors are still printed)
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// How progress is shown on stderr: `auto` (a bar on a terminal, a log
    /// line every 5 s otherwise) or `json` (one object per change, for
    /// programs: `{"done":3,"failed":0,"total":10}`)
    #[arg(long, value_enum, default_value_t = ProgressFormat::Auto)]
    pub(crate) progress: ProgressFormat,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) indexing: IndexingArgs,
    /// How long the project must be quiet after a change before its build
    /// starts, in milliseconds (a change waits at most 3 s however busy the disk)
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub(crate) debounce: u64,
    /// Print one JSON object per build on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress and no line per build (errors are still printed)
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// What every build is given, by `build` and `watch` alike.
#[derive(Debug, Args)]
pub(crate) struct IndexingArgs {
    /// The project's root directory
    #[arg(default_value = ".")]
    pub(crate) project: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// compile_commands.json (or its directory) [default: PROJECT/compile_commands.json,
    /// then PROJECT/build/compile_commands.json, else the project's sources are walked]
    #[arg(long, value_name = "PATH")]
    pub(crate) compdb: Option<PathBuf>,
    /// Worker processes [default: available cores]
    #[arg(short, long, value_name = "N")]
    pub(crate) jobs: Option<usize>,
    /// Also index declarations in system headers
    #[arg(long)]
    pub(crate) index_system_headers: bool,
    /// Also index parameters and the local variables of functions
    #[arg(long)]
    pub(crate) index_locals: bool,
    /// Parse every unit exactly as written, without the prelude: the common
    /// standard library headers, precompiled once per compile command
    /// (slower; see docs/ARCHITECTURE.md)
    // `--no-pch` was its name before the concept had one name (issue 16);
    // scripts written for it keep working.
    #[arg(long, alias = "no-pch")]
    pub(crate) no_prelude: bool,
    /// Replace a worker after this many units
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FILES_PER_WORKER)]
    pub(crate) files_per_worker: u32,
    /// Kill a worker stuck this long on one unit (the unit fails) [default: 300]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) tu_timeout: Option<u64>,
    /// Kill a worker owning more memory than this (e.g. 1500M, 2G)
    /// [default: memory budget / jobs, at most 4G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) worker_rss_limit: Option<u64>,
    /// Replace a worker owning more than this after its current unit [default: 75% of the hard limit]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) worker_rss_soft_limit: Option<u64>,
    /// Pause dispatch while all workers together own more than this [default: 75% of RAM]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) memory_budget: Option<u64>,
}

/// `build --dispatch`: [`Dispatch`]'s names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DispatchOrder {
    Costliest,
    Even,
}

/// How `build` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProgressFormat {
    Auto,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// The project whose index to serve (and to build with `refresh_index`)
    #[arg(default_value = ".")]
    pub(crate) project: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Serve Streamable HTTP at http://ADDR:PORT/mcp instead of stdio (e.g.
    /// 127.0.0.1:8765; port 0 picks a free one, printed on stderr). Requests
    /// whose Origin is not local are refused
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) http: Option<std::net::SocketAddr>,
    /// Keep the index fresh while serving: run `indexer watch` as a child
    /// process (a first incremental build, then one per burst of changes,
    /// compile_commands.json's included). refresh_index is refused while it
    /// runs; get_index_status says `watching`, or why the watch stopped
    #[arg(long)]
    pub(crate) watch: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The merged index (created if new; an existing one keeps what the
    /// shards do not replace)
    pub(crate) out: PathBuf,
    /// The shard databases
    #[arg(required = true, value_name = "SHARD.db")]
    pub(crate) shards: Vec<PathBuf>,
    /// Print one JSON summary object on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

/// The flags every query shares: which index, and JSON output.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The project whose index to query
    #[arg(long, default_value = ".")]
    pub(crate) project: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Print the answer as JSON on stdout (lists: an object with `items`, `total`, `truncated`)
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[arg(default_value = ".")]
    pub(crate) project: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Also list the N slowest units of the last builds
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) slowest: usize,
    /// Show one unit instead: its state, and the arguments given to libclang
    /// with what was changed in its compile command to make them
    #[arg(long, value_name = "FILE")]
    pub(crate) unit: Option<PathBuf>,
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which part of a list to print.
#[derive(Debug, Args)]
pub(crate) struct PageArgs {
    /// Print at most N items (0: all of them)
    #[arg(long, value_name = "N", default_value_t = Page::DEFAULT_LIMIT)]
    pub(crate) limit: usize,
    /// Skip the first N items
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) offset: usize,
}

impl PageArgs {
    pub(crate) fn page(&self) -> Page {
        Page::new(self.limit, self.offset)
    }
}

#[derive(Debug, Args)]
pub(crate) struct FindArgs {
    pub(crate) pattern: String,
    /// Only symbols of this kind (class, function, method, ...)
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// `project`: symbols declared in the project's files; `all`: also those
    /// of system headers the project refers to
    #[arg(long, value_enum, default_value_t = Scope::Project)]
    pub(crate) scope: Scope,
    /// Only symbols declared in this file (relative to the project, or the end of a path)
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<String>,
    /// Only symbols inside this namespace or class (`geo`, `geo::detail`)
    #[arg(long, value_name = "NS")]
    pub(crate) namespace: Option<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

impl FindArgs {
    pub(crate) fn options(&self) -> FindOptions {
        FindOptions {
            kind: self.kind.clone(),
            scope: self.scope.into(),
            file: self.file.clone(),
            namespace: self.namespace.clone(),
            page: self.page.page(),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// A qualified name (`geo::Circle::area`), its suffix (`Circle::area`), a plain name,
    /// `::name` (global scope), or a USR
    pub(crate) symbol: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct OutlineArgs {
    /// A file of the index: relative to the project or the working directory, absolute,
    /// or the end of a path (`geo/shape.h`)
    pub(crate) file: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AtArgs {
    /// FILE:LINE or FILE:LINE:COLUMN (1-based; columns count bytes)
    pub(crate) position: String,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HierarchyArgs {
    /// A class, struct, union or class template
    pub(crate) class: String,
    /// Only the bases (and theirs)
    #[arg(long, conflicts_with_all = ["down", "both"])]
    pub(crate) up: bool,
    /// Only the derived classes (and theirs)
    #[arg(long, conflicts_with = "both")]
    pub(crate) down: bool,
    /// Both ways (the default)
    #[arg(long)]
    pub(crate) both: bool,
    /// Levels each way
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) depth: u32,
    /// Classes at most over all trees (0: no cap)
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub(crate) max_nodes: usize,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

impl HierarchyArgs {
    pub(crate) fn options(&self) -> HierarchyOptions {
        HierarchyOptions {
            direction: match (self.up, self.down) {
                (true, _) => Direction::Up,
                (_, true) => Direction::Down,
                _ => Direction::Both,
            },
            depth: self.depth,
            max_nodes: self.max_nodes,
        }
    }
}

/// Role names a `--role` accepts.
const ROLES_HELP: &str =
    "call, dynamic, read, write, address, implicit, expansion, definition (comma-separated or repeated)";

#[derive(Debug, Args)]
pub(crate) struct RefsArgs {
    /// A qualified name (`geo::Circle::area`), its suffix, a plain name, or a USR
    pub(crate) symbol: String,
    /// Only uses with one of these roles
    #[arg(long, value_name = "ROLE", help = format!("Only uses with one of these roles: {ROLES_HELP}"))]
    pub(crate) role: Vec<String>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// A qualified name (`geo::Circle::area`), its suffix, a plain name, or a USR
    pub(crate) symbol: String,
    /// Levels: 1 lists the direct ones; more gives a tree (recursion marked as a cycle)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub(crate) depth: u32,
    /// Only calls with one of these roles
    #[arg(long, value_name = "ROLE", help = format!("Only uses with one of these roles: {ROLES_HELP}"))]
    pub(crate) role: Vec<String>,
    /// Nodes below the first level at most (0: no cap)
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub(crate) max_nodes: usize,
    #[command(flatten)]
    pub(crate) page: PageArgs,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    /// The calling function
    pub(crate) from: String,
    /// The function called, directly or not
    pub(crate) to: String,
    /// Calls in a chain at most
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub(crate) max_depth: u32,
    /// Chains at most
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub(crate) limit: u64,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IncludesArgs {
    /// A file of the index: relative to the project or the working directory, absolute,
    /// or the end of a path
    pub(crate) file: String,
    /// The files that include FILE instead
    #[arg(long)]
    pub(crate) reverse: bool,
    /// Levels (transitive includes)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) depth: u32,
    /// Files at most in the tree (0: all)
    #[arg(long, value_name = "N", default_value_t = Page::DEFAULT_LIMIT)]
    pub(crate) limit: usize,
    #[command(flatten)]
    pub(crate) index: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DigestArgs {
    /// The project whose index to digest
    #[arg(default_value = ".")]
    pub(crate) project: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Also print every row, after its table's name and a tab
    #[arg(long)]
    pub(crate) rows: bool,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(subcommand)]
    pub(crate) format: ExportFormat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportFormat {
    /// A SCIP index (the code-navigation format Sourcegraph reads), symbols
    /// named as scip-clang names them; streamed, one document per project file
    Scip(ScipArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ScipArgs {
    /// The file to write (replaced once complete), or `-` for stdout
    pub(crate) output: PathBuf,
    /// The project's root directory: documents are its files, by their
    /// paths relative to it
    #[arg(default_value = ".")]
    pub(crate) project: PathBuf,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Print no summary
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// Which symbols `find` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scope {
    /// Symbols declared in the project's own files.
    Project,
    /// Also the symbols of system headers the project refers to (they have
    /// no location unless the index was built with `--index-system-headers`).
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

impl DbArgs {
    /// The index database of `project`.
    pub(crate) fn path(&self, project: &Path) -> PathBuf {
        self.db.clone().unwrap_or_else(|| default_db(project))
    }
}

impl IndexingArgs {
    /// The build these flags ask for.
    pub(crate) fn settings(&self) -> BuildSettings {
        BuildSettings {
            db: self.db.db.clone(),
            compdb: self.compdb.clone(),
            jobs: self.jobs,
            index_system_headers: self.index_system_headers,
            index_locals: self.index_locals,
            prelude: !self.no_prelude,
            files_per_worker: Some(self.files_per_worker),
            tu_timeout: self.tu_timeout.map(Duration::from_secs),
            worker_rss_limit: self.worker_rss_limit,
            worker_rss_soft_limit: self.worker_rss_soft_limit,
            memory_budget: self.memory_budget,
            ..BuildSettings::new(&self.project)
        }
    }
}

impl BuildArgs {
    /// The build these flags ask for (`--explain` is the command's choice,
    /// not a setting).
    pub(crate) fn settings(&self) -> BuildSettings {
        BuildSettings {
            full: self.full,
            retry_failed: self.retry_failed,
            shard: self.shard,
            plan_from: self.plan_from.clone(),
            dispatch: match self.dispatch {
                DispatchOrder::Costliest => Dispatch::Costliest,
                DispatchOrder::Even => Dispatch::Even,
            },
            ..self.indexing.settings()
        }
    }
}
