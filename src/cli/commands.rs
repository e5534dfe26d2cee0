//! The commands: each parses nothing (clap did) and computes nothing (the
//! library does); it calls the library and renders what comes back.
//!
//! Exit codes (documented in the README):
//! 0 success (failed units are reported, not fatal), 1 fatal error,
//! 2 usage or configuration error (bad flags, invalid compile_commands.json),
//! 130 cancelled by SIGINT, 143 cancelled by SIGTERM.

use clap::Parser;
use indexer::build::{self, BuildError, Ending, Signal};
use indexer::export::scip::{write_scip, ScipOptions};
use indexer::index::query::{role_mask, CallOptions, Page, Position, QueryError};
use indexer::index::{Index, IndexError};

use super::args::{
    AtArgs, BuildArgs, CallArgs, Cli, Command, DigestArgs, ExportArgs, ExportFormat, FindArgs,
    HierarchyArgs, IncludesArgs, InfoArgs, McpArgs, MergeArgs, OutlineArgs, PathArgs, QueryArgs,
    RefsArgs, ScipArgs, StatusArgs, WatchArgs,
};
use super::output;
use super::progress::{Progress, WatchProgress};
use super::render;
use super::signals;

pub(crate) const EXIT_OK: i32 = 0;
pub(crate) const EXIT_FATAL: i32 = 1;
pub(crate) const EXIT_USAGE: i32 = 2;
pub(crate) const EXIT_INTERRUPTED: i32 = 130;
pub(crate) const EXIT_TERMINATED: i32 = 143;

/// Why a command failed, and whether the request itself was wrong (exit
/// 2) rather than the machine or the index (exit 1). Each command decides
/// where the error arises, so nothing is guessed from the error's type.
struct Failure {
    error: anyhow::Error,
    usage: bool,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            error: error.into(),
            usage: true,
        }
    }
}

/// Any error not classified where it arose is fatal.
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure {
            error: error.into(),
            usage: false,
        }
    }
}

fn from_build(error: BuildError) -> Failure {
    let usage = error.is_usage();
    Failure {
        error: error.into(),
        usage,
    }
}

fn from_query(error: QueryError) -> Failure {
    let usage = error.is_usage();
    Failure {
        error: error.into(),
        usage,
    }
}

fn from_index(error: IndexError) -> Failure {
    let usage = matches!(error, IndexError::NotAFile { .. });
    Failure {
        error: error.into(),
        usage,
    }
}

/// Runs the command line and returns the process exit code.
pub(crate) fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let result = match cli.command {
        Command::Build(args) => build(args),
        Command::Watch(args) => watch(args),
        Command::Status(args) => status(args),
        Command::Find(args) => find(args),
        Command::Info(args) => info(args),
        Command::Outline(args) => outline(args),
        Command::At(args) => at(args),
        Command::Hierarchy(args) => hierarchy(args),
        Command::Refs(args) => refs(args),
        Command::Callers(args) => calls(args, Index::callers),
        Command::Callees(args) => calls(args, Index::callees),
        Command::Path(args) => path(args),
        Command::Includes(args) => includes(args),
        Command::Digest(args) => digest(args),
        Command::Export(args) => export(args),
        Command::Merge(args) => merge(args),
        Command::Mcp(args) => mcp(args),
        Command::Worker => indexer::worker::run()
            .map(|()| EXIT_OK)
            .map_err(Failure::from),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`indexer find '' | head -5`) wanted no more.
        Err(failure) if output::is_broken_pipe(&failure.error) => EXIT_OK,
        Err(failure) => {
            output::note(&format!("error: {}", output::error_line(&failure.error)));
            if failure.usage {
                EXIT_USAGE
            } else {
                EXIT_FATAL
            }
        }
    }
}

fn open_index(db: &std::path::Path) -> Result<Index, Failure> {
    Index::open(db).map_err(from_index)
}

/// The index a query names, with relative file names looked up against
/// the project, then the working directory.
fn query_index(args: &QueryArgs) -> Result<Index, Failure> {
    let index = open_index(&args.db.path(&args.project))?;
    let project = std::path::absolute(&args.project)?;
    Ok(index.with_roots(vec![project, std::env::current_dir()?]))
}

fn find(args: FindArgs) -> Result<i32, Failure> {
    let index = query_index(&args.index)?;
    let found = index
        .find(&args.pattern, &args.options())
        .map_err(from_query)?;
    render::found(&found, args.page.offset, args.index.json)?;
    Ok(EXIT_OK)
}

fn info(args: InfoArgs) -> Result<i32, Failure> {
    let index = query_index(&args.index)?;
    let infos = index
        .info(&args.symbol, args.page.page())
        .map_err(from_query)?;
    render::infos(&infos, args.index.json)?;
    Ok(EXIT_OK)
}

fn outline(args: OutlineArgs) -> Result<i32, Failure> {
    let index = query_index(&args.index)?;
    let outline = index
        .outline(&args.file, args.page.page())
        .map_err(from_query)?;
    render::outline(&outline, args.index.json)?;
    Ok(EXIT_OK)
}

fn at(args: AtArgs) -> Result<i32, Failure> {
    let (file, position) = parse_position(&args.position).ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "`{}` is no position: pass FILE:LINE or FILE:LINE:COLUMN (1-based)",
            args.position
        ))
    })?;
    let index = query_index(&args.index)?;
    let at = index
        .at(file, position, args.page.page())
        .map_err(from_query)?;
    render::at(&at, args.index.json)?;
    Ok(EXIT_OK)
}

/// `FILE:LINE[:COLUMN]`, the numbers taken from the end (a file name may
/// hold a colon).
fn parse_position(text: &str) -> Option<(&str, Position)> {
    let (rest, last) = text.rsplit_once(':')?;
    let last: u32 = last.parse().ok()?;
    if let Some((file, line)) = rest.rsplit_once(':') {
        if let Ok(line) = line.parse::<u32>() {
            if !file.is_empty() {
                return Some((
                    file,
                    Position {
                        line,
                        column: Some(last),
                    },
                ));
            }
        }
    }
    (!rest.is_empty()).then_some((
        rest,
        Position {
            line: last,
            column: None,
        },
    ))
}

fn hierarchy(args: HierarchyArgs) -> Result<i32, Failure> {
    let index = query_index(&args.index)?;
    let hierarchy = index
        .hierarchy(&args.class, args.options())
        .map_err(from_query)?;
    render::hierarchy(&hierarchy, args.index.json)?;
    Ok(EXIT_OK)
}

fn refs(args: RefsArgs) -> Result<i32, Failure> {
    let roles = role_mask(&args.role).map_err(from_query)?;
    let index = query_index(&args.index)?;
    let options = CallOptions {
        roles,
        depth: 1,
        page: args.page.page(),
        ..CallOptions::default()
    };
    let uses = index.refs(&args.symbol, options).map_err(from_query)?;
    render::uses(&uses, args.page.page(), args.index.json)?;
    Ok(EXIT_OK)
}

fn calls(
    args: CallArgs,
    query: fn(&Index, &str, CallOptions) -> Result<indexer::index::query::Uses, QueryError>,
) -> Result<i32, Failure> {
    let roles = role_mask(&args.role).map_err(from_query)?;
    let index = query_index(&args.index)?;
    let options = CallOptions {
        roles,
        depth: args.depth,
        page: args.page.page(),
        max_nodes: args.max_nodes,
    };
    let uses = query(&index, &args.symbol, options).map_err(from_query)?;
    render::uses(&uses, args.page.page(), args.index.json)?;
    Ok(EXIT_OK)
}

fn path(args: PathArgs) -> Result<i32, Failure> {
    let index = query_index(&args.index)?;
    let paths = index
        .call_paths(&args.from, &args.to, args.max_depth, args.limit as usize)
        .map_err(from_query)?;
    render::paths(&paths, args.index.json)?;
    Ok(EXIT_OK)
}

fn includes(args: IncludesArgs) -> Result<i32, Failure> {
    let index = query_index(&args.index)?;
    let includes = index
        .includes(
            &args.file,
            args.reverse,
            args.depth,
            Page::new(args.limit, 0),
        )
        .map_err(from_query)?;
    render::includes(&includes, args.index.json)?;
    Ok(EXIT_OK)
}

fn digest(args: DigestArgs) -> Result<i32, Failure> {
    let index = open_index(&args.db.path(&args.project))?;
    render::digest(&index.digest(args.rows)?, args.json)?;
    Ok(EXIT_OK)
}

fn export(args: ExportArgs) -> Result<i32, Failure> {
    match args.format {
        ExportFormat::Scip(args) => export_scip(args),
    }
}

fn export_scip(args: ScipArgs) -> Result<i32, Failure> {
    use anyhow::Context;
    use std::io::Write;
    let root = indexer::discover::normalize(&std::path::absolute(&args.project)?);
    if !root.is_dir() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} is not a directory: pass the project's root directory (the documents are its files, by their paths relative to it)",
            root.display()
        )));
    }
    let index = open_index(&args.db.path(&args.project))?;
    let options = ScipOptions {
        project_root: root,
        arguments: std::env::args().collect(),
    };
    let summary = if args.output.as_os_str() == "-" {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        write_scip(&index, &options, &mut out)?
    } else {
        // Written beside the target and renamed once complete: a failed
        // or interrupted export leaves the previous file, never half of one.
        let output = std::path::absolute(&args.output)?;
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = output.with_file_name(format!(".{name}.partial"));
        let file = std::fs::File::create(&partial).map_err(|e| {
            Failure::usage(anyhow::anyhow!(
                "cannot create {}: {e}: pass a file in an existing, writable directory (or - for stdout)",
                partial.display()
            ))
        })?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        let written = write_scip(&index, &options, &mut out)
            .map_err(anyhow::Error::from)
            .and_then(|summary| {
                let file = out.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                std::fs::rename(&partial, &output)?;
                Ok(summary)
            })
            .with_context(|| format!("writing {}", output.display()));
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written?
    };
    if !args.quiet {
        output::note(&render::scip_summary(&summary));
    }
    let _ = std::io::stdout().flush();
    Ok(EXIT_OK)
}

fn merge(args: MergeArgs) -> Result<i32, Failure> {
    let summary = indexer::index::merge(&args.out, &args.shards).map_err(|e| {
        let usage = e.is_usage();
        Failure {
            error: e.into(),
            usage,
        }
    })?;
    render::merged(&args.out, &summary, args.json)?;
    Ok(EXIT_OK)
}

fn status(args: StatusArgs) -> Result<i32, Failure> {
    let db = args.db.path(&args.project);
    let index = open_index(&db)?;
    if let Some(file) = &args.unit {
        // `file` as given, relative to the working directory.
        let path = indexer::discover::normalize(&std::path::absolute(file)?);
        let Some(unit) = index.unit(&path.to_string_lossy())? else {
            return Err(Failure::usage(anyhow::anyhow!(
                "{} is not a translation unit of this index: pass a source file that `indexer status` counts (a header is no unit)",
                path.display()
            )));
        };
        render::unit(&unit, args.json)?;
        return Ok(EXIT_OK);
    }
    render::status(&db, &index.status(args.slowest)?, args.json)?;
    Ok(EXIT_OK)
}

fn mcp(args: McpArgs) -> Result<i32, Failure> {
    let db = args.db.path(&args.project);
    let transport = match args.http {
        Some(address) => crate::mcp::Transport::Http(address),
        None => crate::mcp::Transport::Stdio,
    };
    let server = crate::mcp::Server {
        project: args.project,
        db,
        transport,
        watch: args.watch,
    };
    // The test suite and scripts read the address (port 0 picks one).
    crate::mcp::serve(server, |address| {
        output::note(&format!("serving MCP at http://{address}/mcp"))
    })?;
    Ok(EXIT_OK)
}

fn build(args: BuildArgs) -> Result<i32, Failure> {
    // Listen before anything else: a signal during discovery or refresh
    // (seconds on a large project) must still end the build as cancelled,
    // with its exit code and an interrupted run, not kill it outright.
    let cancel = build::Cancel::new();
    signals::listen(&cancel)?;
    let options = args
        .settings()
        .validate()
        .map_err(|e| from_build(e.into()))?;
    // --json owns stdout only: progress and warnings still go to stderr.
    let mut progress = Progress::new(args.quiet, args.progress);
    if args.explain {
        // Streamed: the list is as long as the project.
        let mut out = std::io::stdout().lock();
        let mut written = Ok(());
        let explained = build::explain(&options, &mut progress, &mut |unit| {
            if written.is_ok() {
                written = render::dirty_unit(&mut out, unit);
            }
        })
        .map_err(from_build)?;
        written?;
        render::explained(&mut out, &explained)?;
        return Ok(EXIT_OK);
    }
    let outcome = build::build(&options, &cancel, &mut progress).map_err(from_build)?;
    drop(progress);
    // The build is done and recorded: a summary nobody can read does not
    // make it fail.
    if let Err(e) = render::summary(&outcome, args.json, args.quiet) {
        if !output::is_broken_pipe(&e) {
            output::note(&format!(
                "warning: cannot write the summary: {}",
                output::error_line(&e)
            ));
        }
    }
    Ok(match outcome.ending {
        Ending::Complete => EXIT_OK,
        Ending::Cancelled(Signal::Interrupt) => EXIT_INTERRUPTED,
        Ending::Cancelled(Signal::Terminate) => EXIT_TERMINATED,
        Ending::Fatal(_) => EXIT_FATAL,
    })
}

fn watch(args: WatchArgs) -> Result<i32, Failure> {
    use indexer::watch::{self, WatchError, WatchOptions};
    // As for a build: a signal during the first build's discovery must end
    // it as cancelled, not kill it outright.
    let stop = watch::Stop::new();
    signals::listen_watch(&stop)?;
    let build = args
        .indexing
        .settings()
        .validate()
        .map_err(|e| from_build(e.into()))?;
    let options = WatchOptions {
        quiet: std::time::Duration::from_millis(args.debounce),
        ..WatchOptions::new(build)
    };
    let mut progress =
        WatchProgress::new(options.build.project(), args.json, args.quiet, stop.clone());
    match watch::run(&options, &stop, &mut progress) {
        Ok(stopped) => {
            let reader_gone = progress.reader_gone();
            drop(progress);
            output::note(&format!(
                "stopped watching after {} builds{}; the index keeps what was committed",
                stopped.builds,
                if reader_gone {
                    " (stdout's reader went away)"
                } else {
                    ""
                }
            ));
            Ok(match stopped.signal {
                _ if reader_gone => EXIT_OK,
                Signal::Interrupt => EXIT_INTERRUPTED,
                Signal::Terminate => EXIT_TERMINATED,
            })
        }
        Err(WatchError::Build(e)) => Err(from_build(e)),
        Err(e) => Err(Failure {
            usage: e.is_usage(),
            error: e.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_take_their_numbers_from_the_end() {
        let at = |line, column| Position { line, column };
        assert_eq!(parse_position("a.cpp:3"), Some(("a.cpp", at(3, None))));
        assert_eq!(parse_position("a.cpp:3:7"), Some(("a.cpp", at(3, Some(7)))));
        assert_eq!(
            parse_position("c:/x.h:3:7"),
            Some(("c:/x.h", at(3, Some(7))))
        );
        assert_eq!(parse_position("a.cpp"), None);
        assert_eq!(parse_position("a.cpp:x"), None);
        assert_eq!(parse_position(":3"), None);
    }
}
