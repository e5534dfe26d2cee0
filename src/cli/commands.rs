//! The commands: each parses nothing (clap did) and computes nothing (the
//! library does); it calls the library and renders what comes back.
//!
//! Exit codes (documented in the README):
//! 0 success (failed units are reported, not fatal), 1 fatal error,
//! 2 usage or configuration error (bad flags, invalid compile_commands.json),
//! 130 cancelled by SIGINT, 143 cancelled by SIGTERM.

use clap::Parser;
use indexer::build::{self, BuildError, Ending, Signal};
use indexer::index::query::{role_mask, CallOptions, Page, Position, QueryError};
use indexer::index::{Index, IndexError};

use super::args::{
    AtArgs, BuildArgs, CallArgs, Cli, Command, DigestArgs, FindArgs, HierarchyArgs, IncludesArgs,
    InfoArgs, OutlineArgs, PathArgs, QueryArgs, RefsArgs, StatusArgs,
};
use super::output;
use super::progress::Progress;
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
    let mut progress = Progress::new(args.quiet);
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
