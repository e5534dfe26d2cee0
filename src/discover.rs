//! Finds the translation units of a project.
//!
//! Units come from one of two places, in order of preference:
//!
//! 1. A compilation database (`compile_commands.json`): the one given with
//!    `--compdb`, else `PROJECT/compile_commands.json`, else
//!    `PROJECT/build/compile_commands.json`. It holds the flags the build
//!    really uses, so it gives the most faithful index.
//! 2. Otherwise a walk of the project tree, which picks C/C++ sources by
//!    extension and guesses their flags: a language standard, plus the
//!    project root and every `include` directory as include paths.
//!
//! Either way the result is a list of `UnitSpec`s whose arguments are ready
//! for libclang: a database's commands go through the command stage
//! (`command`), which removes the compiler, the source file and
//! output-only flags and adapts what libclang could not parse as written.
//!
//! Paths are absolute and lexically normalized, but symlinks are not
//! resolved: the index should show files where the user sees them, and a
//! canonical path would depend on the state of the disk. They are `String`s
//! because the index stores text, so a file whose name is not UTF-8 is
//! skipped with a warning rather than stored under a mangled name.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Component, Path, PathBuf};

use ignore::WalkBuilder;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;

use crate::command;

const COMPDB_NAME: &str = "compile_commands.json";

/// The fix for almost every broken database, appended to those errors.
const REGENERATE: &str = "regenerate it with the build system \
    (CMake: cmake -DCMAKE_EXPORT_COMPILE_COMMANDS=ON; Make: bear -- make), \
    or pass --compdb with a valid one";

/// Directories that hold build products or tool state rather than sources.
/// `.git` and `.indexer` are hidden, so skipped anyway, but they are named
/// here so that never walking them does not hinge on the hidden-file rule.
const SKIPPED_DIRS: &[&str] = &[".git", ".indexer", "build", "out", "target", "node_modules"];

/// One translation unit to index, ready for libclang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitSpec {
    /// Absolute, lexically normalized path of the source file.
    pub file: String,
    /// Absolute working directory; the worker changes into it, so relative
    /// paths in `args` keep working.
    pub directory: String,
    /// Compiler arguments without the compiler, the source file and
    /// output-only flags, as the command stage made them (`command`).
    pub args: Vec<String>,
    /// What the command stage changed in the command as written, one
    /// sentence each; empty if nothing (and always after a walk).
    pub changes: Vec<String>,
}

/// Where the units came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// This compilation database (absolute path).
    CompileCommands(PathBuf),
    /// No database was found; the project tree was walked.
    Walk,
}

#[derive(Debug)]
pub(crate) struct Discovery {
    /// Units handed to the sink: in database order, or sorted by path
    /// after a walk. A database may list a file twice; the refresh keeps
    /// its first entry (see `refresh::Refresher::add`).
    pub units: usize,
    pub source: Source,
    /// Things skipped along the way, each naming the path concerned.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot open project directory {path}: {source}; pass the root directory of an existing project")]
    ProjectUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("project path {path} is not a directory: pass the project's root directory")]
    ProjectNotDirectory { path: PathBuf },
    #[error("project path {path} is not valid UTF-8, and the index stores paths as text: move or rename the project")]
    ProjectNotUtf8 { path: PathBuf },
    #[error("cannot read compilation database {path}: {source}; check the path, or {REGENERATE}")]
    CompdbUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("compilation database {path} is {what}, not a regular file: the build reads it twice; write it to a file and pass that with --compdb")]
    CompdbNotAFile { path: PathBuf, what: &'static str },
    #[error(
        "{path}:{line}:{column}: compilation database is not valid JSON ({message}); {REGENERATE}"
    )]
    InvalidJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}:{column}: compilation database ends too early (the file is empty or was cut short, e.g. by an interrupted build); {REGENERATE}")]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{path} is not a JSON array of compile commands ({message}); {REGENERATE}")]
    NotAnArray { path: PathBuf, message: String },
    #[error("{path}: the entry at index {index} {problem}; fix that entry, or {REGENERATE}")]
    BadEntry {
        path: PathBuf,
        /// Zero-based, as `jq '.[INDEX]'` takes it.
        index: usize,
        problem: EntryProblem,
    },
    #[error("{path} lists no translation units (it is an empty array): {REGENERATE}")]
    Empty { path: PathBuf },
}

/// What is wrong with one compilation database entry; completes the
/// sentence "the entry at index N ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("has no `{0}` field")]
    MissingField(&'static str),
    #[error("has neither a non-empty `arguments` array nor a `command` string")]
    NoCommand,
    #[error(
        "has a `command` that cannot be split into words (unbalanced quote or trailing backslash)"
    )]
    UnsplittableCommand,
    #[error("resolves to {0}, which is not valid UTF-8 (the index stores paths as text)")]
    NotUtf8(String),
    #[error("is malformed: {0}")]
    Malformed(String),
}

/// Finds the translation units of `project`, from `compdb` if given (a
/// file, or a directory holding `compile_commands.json`), else from the
/// project's own compilation database, else by walking the project.
///
/// Units are handed to `sink` one at a time and not kept: the supervisor's
/// memory must not grow with the project. An error may come after some
/// units were handed over; callers that must not act on a partial list
/// (the build) run a first pass with a sink that does nothing.
pub(crate) fn discover(
    project: &Path,
    compdb: Option<&Path>,
    sink: &mut dyn FnMut(UnitSpec),
) -> Result<Discovery, DiscoverError> {
    let root = project_root(project)?;
    let mut warnings = Vec::new();
    match locate_compdb(&root, compdb, &mut warnings)? {
        Some(path) => {
            let units = read_compdb(&path, &mut warnings, sink)?;
            Ok(Discovery {
                units,
                source: Source::CompileCommands(path),
                warnings,
            })
        }
        None => {
            let units = walk(&root, &mut warnings, sink)?;
            Ok(Discovery {
                units,
                source: Source::Walk,
                warnings,
            })
        }
    }
}

/// Makes `project` absolute and normalized, and checks it is a directory.
fn project_root(project: &Path) -> Result<PathBuf, DiscoverError> {
    let unreadable = |path: &Path, source| DiscoverError::ProjectUnreadable {
        path: path.to_path_buf(),
        source,
    };
    let root = normalize(&std::path::absolute(project).map_err(|e| unreadable(project, e))?);
    let metadata = std::fs::metadata(&root).map_err(|e| unreadable(&root, e))?;
    if !metadata.is_dir() {
        return Err(DiscoverError::ProjectNotDirectory { path: root });
    }
    Ok(root)
}

/// The compilation database to read, or `None` to walk the project.
fn locate_compdb(
    root: &Path,
    explicit: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, DiscoverError> {
    if let Some(path) = explicit {
        let absolute =
            std::path::absolute(path).map_err(|source| DiscoverError::CompdbUnreadable {
                path: path.to_path_buf(),
                source,
            })?;
        let path = normalize(&absolute);
        // A directory stands for the database inside it, as with `clang -p`.
        // A path that does not exist fails when it is opened, with the OS's reason.
        return Ok(Some(if path.is_dir() {
            path.join(COMPDB_NAME)
        } else {
            path
        }));
    }
    for candidate in [root.join(COMPDB_NAME), root.join("build").join(COMPDB_NAME)] {
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
        // Typically a committed symlink into a build directory that has not
        // been configured yet: walking still gives a useful index.
        if candidate.symlink_metadata().is_ok() {
            warnings.push(format!(
                "ignored {}: it is not a readable file (a dangling symlink?)",
                candidate.display()
            ));
        }
    }
    Ok(None)
}

/// Every path where [`discover`] would look for a compilation database of
/// `root` (absolute, normalized): the one given, or the project's two
/// usual places. Watch mode watches them all: one that appears, changes or
/// goes away changes the units.
pub(crate) fn compdb_candidates(root: &Path, explicit: Option<&Path>) -> Vec<PathBuf> {
    match explicit {
        Some(path) => std::path::absolute(path)
            .map(|absolute| {
                let path = normalize(&absolute);
                if path.is_dir() {
                    path.join(COMPDB_NAME)
                } else {
                    path
                }
            })
            .into_iter()
            .collect(),
        None => vec![root.join(COMPDB_NAME), root.join("build").join(COMPDB_NAME)],
    }
}

/// Parses the database at `path` (absolute) into units for `sink`,
/// returning their number; the command stage's warnings go to `warnings`.
fn read_compdb(
    path: &Path,
    warnings: &mut Vec<String>,
    sink: &mut dyn FnMut(UnitSpec),
) -> Result<usize, DiscoverError> {
    // A build reads the database twice (see `discover`), which a pipe or
    // FIFO cannot give, and opening a FIFO nobody writes blocks forever.
    if let Some(what) = std::fs::metadata(path).ok().as_ref().and_then(not_regular) {
        return Err(DiscoverError::CompdbNotAFile {
            path: path.to_path_buf(),
            what,
        });
    }
    let file = File::open(path).map_err(|source| DiscoverError::CompdbUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    // `path` is absolute and names a file, so it has a parent.
    let base = path.parent().unwrap_or(path);
    let mut collector = Collector::new(base, sink);
    let mut deserializer = serde_json::Deserializer::from_reader(BufReader::new(file));
    let parsed = Entries(&mut collector)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(err) = parsed {
        return Err(collector.explain(path, err));
    }
    if collector.entries == 0 {
        return Err(DiscoverError::Empty {
            path: path.to_path_buf(),
        });
    }
    for (warning, commands) in &collector.command_warnings {
        let commands = match commands {
            1 => "1 command".to_owned(),
            n => format!("{n} commands"),
        };
        warnings.push(format!("{warning} ({commands})"));
    }
    Ok(collector.units)
}

/// One element of the database as written. Every field is optional here so
/// that a missing one is reported by name and entry index, not as a generic
/// serde error. Unknown fields such as `output` are ignored.
#[derive(Deserialize)]
#[serde(expecting = "a compile command object")]
struct RawEntry {
    directory: Option<String>,
    file: Option<String>,
    arguments: Option<Vec<String>>,
    command: Option<String>,
}

/// Turns entries into units as they stream out of the parser, so a large
/// database is never held in memory next to the units made from it.
struct Collector<'a> {
    /// Directory holding the database: relative `directory` fields are
    /// relative to it.
    base: &'a Path,
    sink: &'a mut dyn FnMut(UnitSpec),
    units: usize,
    /// Entries accepted so far, which is also the index of the one being
    /// parsed when an error strikes.
    entries: usize,
    /// Whether the top-level array was opened: a type error before that
    /// means the document is not an array at all.
    in_array: bool,
    /// Why an entry was refused. The serde error that stops the parse
    /// cannot carry our type, so the reason waits here.
    refused: Option<EntryProblem>,
    /// The command stage's warnings with the number of commands each
    /// concerns: one line per distinct warning for the whole build, not
    /// one per unit. Bounded by the distinct options and response files
    /// of the project, not by its units.
    command_warnings: BTreeMap<String, usize>,
}

impl<'a> Collector<'a> {
    fn new(base: &'a Path, sink: &'a mut dyn FnMut(UnitSpec)) -> Self {
        Collector {
            base,
            sink,
            units: 0,
            entries: 0,
            in_array: false,
            refused: None,
            command_warnings: BTreeMap::new(),
        }
    }

    fn add(&mut self, raw: RawEntry) -> Result<(), EntryProblem> {
        let directory = raw
            .directory
            .ok_or(EntryProblem::MissingField("directory"))?;
        let file = raw.file.ok_or(EntryProblem::MissingField("file"))?;
        // clang's own loader prefers `arguments` when an entry has both.
        let words = match (raw.arguments.filter(|words| !words.is_empty()), raw.command) {
            (Some(words), _) => words,
            (None, Some(command)) => {
                shlex::split(&command).ok_or(EntryProblem::UnsplittableCommand)?
            }
            (None, None) => Vec::new(),
        };
        if words.is_empty() {
            return Err(EntryProblem::NoCommand);
        }
        // Joining an absolute path replaces the base, so this resolves
        // relative fields and leaves absolute ones alone.
        let directory = normalize(&self.base.join(directory));
        let file = into_utf8(normalize(&directory.join(file)))?;
        let adjusted = command::adjust(words, &directory, Path::new(&file));
        for warning in adjusted.warnings {
            *self.command_warnings.entry(warning).or_default() += 1;
        }
        let directory = into_utf8(directory)?;
        self.units += 1;
        (self.sink)(UnitSpec {
            file,
            directory,
            args: adjusted.args,
            changes: adjusted.changes,
        });
        Ok(())
    }

    /// Turns the error that stopped the parse of `path` into ours.
    fn explain(&mut self, path: &Path, err: serde_json::Error) -> DiscoverError {
        let path = path.to_path_buf();
        if let Some(problem) = self.refused.take() {
            return DiscoverError::BadEntry {
                path,
                index: self.entries,
                problem,
            };
        }
        let (line, column) = (err.line(), err.column());
        match err.classify() {
            Category::Io => DiscoverError::CompdbUnreadable {
                path,
                source: err.into(),
            },
            Category::Eof => DiscoverError::Truncated { path, line, column },
            Category::Syntax => DiscoverError::InvalidJson {
                path,
                line,
                column,
                message: bare_message(&err),
            },
            Category::Data if !self.in_array => DiscoverError::NotAnArray {
                path,
                message: bare_message(&err),
            },
            // serde_json's message ends with the position, which is worth keeping here.
            Category::Data => DiscoverError::BadEntry {
                path,
                index: self.entries,
                problem: EntryProblem::Malformed(err.to_string()),
            },
        }
    }
}

/// Streams the top-level array into a [`Collector`], one entry at a time.
struct Entries<'c, 'a>(&'c mut Collector<'a>);

impl<'de> DeserializeSeed<'de> for Entries<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of compile commands")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.in_array = true;
        while let Some(raw) = seq.next_element::<RawEntry>()? {
            if let Err(problem) = self.0.add(raw) {
                self.0.refused = Some(problem);
                return Err(de::Error::custom("entry refused"));
            }
            self.0.entries += 1;
        }
        Ok(())
    }
}

/// serde_json's message without the " at line L column C" it appends, for
/// errors that report the position separately.
fn bare_message(err: &serde_json::Error) -> String {
    let mut message = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    if message.ends_with(&position) {
        message.truncate(message.len() - position.len());
    }
    message
}

/// Removes `.` and `..` components without touching the disk. `path` must
/// be absolute; `..` at the root stays at the root, as it does in the kernel.
pub fn normalize(path: &Path) -> PathBuf {
    debug_assert!(
        path.is_absolute(),
        "normalize needs an absolute path: {}",
        path.display()
    );
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// What a file that is not a regular file is, for messages; `None` for a
/// regular file.
pub(crate) fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else {
        Some("a special file")
    }
}

fn into_utf8(path: PathBuf) -> Result<String, EntryProblem> {
    path.into_os_string()
        .into_string()
        .map_err(|raw| EntryProblem::NotUtf8(raw.to_string_lossy().into_owned()))
}

#[derive(Debug, Clone, Copy)]
enum Language {
    C,
    Cxx,
}

impl Language {
    /// The language of a source file, by extension; `None` for headers and
    /// everything else. `.C` is C++ by the same convention gcc follows.
    fn of(path: &Path) -> Option<Self> {
        if crate::command::is_cxx_source(path) {
            return Some(Language::Cxx);
        }
        (path.extension()? == "c").then_some(Language::C)
    }

    /// Flags for a unit that has no compile command to say otherwise.
    fn default_flags(self) -> [&'static str; 2] {
        match self {
            Language::C => ["-xc", "-std=c17"],
            Language::Cxx => ["-xc++", "-std=c++17"],
        }
    }
}

/// Walks the project for sources, sorted by path. Everything that goes
/// wrong along the way (unreadable directories, bad ignore files, names
/// that are not UTF-8) becomes a warning: a partial index beats none.
fn walk(
    root: &Path,
    warnings: &mut Vec<String>,
    sink: &mut dyn FnMut(UnitSpec),
) -> Result<usize, DiscoverError> {
    let root_text = root
        .to_str()
        .ok_or_else(|| DiscoverError::ProjectNotUtf8 {
            path: root.to_path_buf(),
        })?
        .to_owned();
    let walker = walker(root);

    let mut sources = Vec::new();
    let mut include_dirs = Vec::new();
    for result in walker {
        let entry = match result {
            Ok(entry) => entry,
            Err(err) => {
                warnings.push(format!("skipped while walking the project: {err}"));
                continue;
            }
        };
        if let Some(err) = entry.error() {
            warnings.push(format!("ignore rules partly unreadable: {err}"));
        }
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            // The root is on the include path anyway, whatever its name.
            if entry.depth() > 0 && entry.file_name() == "include" {
                include_dirs.extend(utf8_or_warn(entry.into_path(), warnings));
            }
            continue;
        }
        let Some(language) = Language::of(entry.path()) else {
            continue;
        };
        // A symlinked source is indexed under the link's name; a link to a
        // directory, or a dangling one, is no source.
        if file_type.is_file() || (file_type.is_symlink() && entry.path().is_file()) {
            if let Some(file) = utf8_or_warn(entry.into_path(), warnings) {
                sources.push((file, language));
            }
        }
    }

    sources.sort_unstable_by(|(a, _), (b, _)| Path::new(a).cmp(Path::new(b)));
    include_dirs.sort_unstable_by(|a, b| Path::new(a).cmp(Path::new(b)));
    let include_flags: Vec<String> = std::iter::once(&root_text)
        .chain(&include_dirs)
        .map(|dir| format!("-I{dir}"))
        .collect();
    let count = sources.len();
    for (file, language) in sources {
        sink(UnitSpec {
            file,
            directory: root_text.clone(),
            args: language
                .default_flags()
                .into_iter()
                .map(String::from)
                .chain(include_flags.iter().cloned())
                .collect(),
            changes: Vec::new(),
        });
    }
    Ok(count)
}

/// The walk of the project tree: the rules that decide which sources a
/// walk finds, shared by the walk itself and by what watch mode watches.
fn walker(root: &Path) -> ignore::Walk {
    WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        // Honour .gitignore in an unpacked tarball or an export without .git too.
        .require_git(false)
        // Not following links makes loops impossible and keeps trees from
        // outside the project out of its index.
        .follow_links(false)
        .filter_entry(|entry| !is_skipped_dir(entry))
        .build()
}

/// The directories a walk of `root` visits (`root` included), sorted:
/// where a new source file would be found; each source file it finds goes
/// to `source`. Unreadable directories are left out.
pub(crate) fn walked_directories(root: &Path, source: &mut dyn FnMut(&Path)) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for entry in walker(root).flatten() {
        match entry.file_type() {
            Some(t) if t.is_dir() => dirs.push(entry.into_path()),
            Some(_) if is_source(entry.path()) => source(entry.path()),
            _ => {}
        }
    }
    dirs.sort_unstable();
    dirs
}

/// Whether a walk of `root` could find `path` (below `root`; a directory
/// if `is_dir`): no part of its path below `root` is hidden or a directory
/// the walk skips. Ignore files are not read, so this errs towards "yes".
pub(crate) fn may_walk(root: &Path, path: &Path, is_dir: bool) -> bool {
    let Ok(below) = path.strip_prefix(root) else {
        return false;
    };
    let mut parts = below.components().peekable();
    while let Some(part) = parts.next() {
        let Some(name) = part.as_os_str().to_str() else {
            return false;
        };
        let dir = is_dir || parts.peek().is_some();
        if name.starts_with('.') || (dir && is_skipped_dir_name(name)) {
            return false;
        }
    }
    true
}

/// Whether a walk would index `path` as a source file (by its extension).
pub(crate) fn is_source(path: &Path) -> bool {
    Language::of(path).is_some()
}

/// Whether the walk should stay out of this entry: a build-output or tool
/// directory below the root (the root itself may well be called `build`).
fn is_skipped_dir(entry: &ignore::DirEntry) -> bool {
    entry.depth() > 0
        && entry.file_type().is_some_and(|t| t.is_dir())
        && entry.file_name().to_str().is_some_and(is_skipped_dir_name)
}

/// Whether a directory of this name below the root holds build products
/// or tool state rather than sources.
fn is_skipped_dir_name(name: &str) -> bool {
    SKIPPED_DIRS.contains(&name) || name.starts_with("cmake-build-")
}

fn utf8_or_warn(path: PathBuf, warnings: &mut Vec<String>) -> Option<String> {
    path.into_os_string()
        .into_string()
        .map_err(|raw| {
            warnings.push(format!(
                "skipped {}: its name is not valid UTF-8, and the index stores paths as text; rename it to index it",
                Path::new(&raw).display()
            ));
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `discover` hands over, collected.
    #[derive(Debug)]
    struct Found {
        units: Vec<UnitSpec>,
        source: Source,
        warnings: Vec<String>,
    }

    fn discover_all(project: &Path, compdb: Option<&Path>) -> Result<Found, DiscoverError> {
        let mut units = Vec::new();
        let d = discover(project, compdb, &mut |unit| units.push(unit))?;
        assert_eq!(d.units, units.len());
        Ok(Found {
            units,
            source: d.source,
            warnings: d.warnings,
        })
    }

    use std::fs;

    use serde_json::json;
    use tempfile::TempDir;

    fn write(path: &Path, contents: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn text(path: &Path) -> String {
        path.to_str().unwrap().to_owned()
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// A project whose `compile_commands.json` holds `json`, and what
    /// discovery makes of it.
    fn with_compdb(json: &str) -> (TempDir, Result<Found, DiscoverError>) {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join(COMPDB_NAME), json);
        let found = discover_all(dir.path(), None);
        (dir, found)
    }

    #[test]
    fn arguments_form() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = json!([{
            "directory": text(root),
            "file": "src/a.cpp",
            "arguments": ["/usr/bin/clang++", "-Iinclude", "-DX=1", "-std=c++20", "-c", "src/a.cpp", "-o", "a.o"],
            "output": "a.o",
        }]);
        write(&root.join(COMPDB_NAME), &db.to_string());

        let found = discover_all(root, None).unwrap();
        assert_eq!(
            found.source,
            Source::CompileCommands(root.join(COMPDB_NAME))
        );
        assert_eq!(
            found.units,
            [UnitSpec {
                file: text(&root.join("src/a.cpp")),
                directory: text(root),
                args: strings(&["-Iinclude", "-DX=1", "-std=c++20"]),
                changes: Vec::new(),
            }]
        );
        assert!(found.warnings.is_empty());
    }

    #[test]
    fn command_form_follows_shell_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = json!([{
            "directory": text(root),
            "file": text(&root.join("a.c")),
            "command": r#"cc -DNAME="a b" -I 'inc dir' -c ./a.c -o a.o"#,
        }]);
        write(&root.join(COMPDB_NAME), &db.to_string());

        let found = discover_all(root, None).unwrap();
        assert_eq!(
            found.units[0].args,
            strings(&["-DNAME=a b", "-I", "inc dir"])
        );
    }

    #[test]
    fn build_dir_database_with_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = json!([{
            "directory": "obj",
            "file": "../../src/a.c",
            "arguments": ["cc", "-I../../include", "-c", "../../src/a.c"],
        }]);
        write(&root.join("build").join(COMPDB_NAME), &db.to_string());

        let found = discover_all(root, None).unwrap();
        assert_eq!(
            found.source,
            Source::CompileCommands(root.join("build").join(COMPDB_NAME))
        );
        assert_eq!(
            found.units,
            [UnitSpec {
                file: text(&root.join("src/a.c")),
                directory: text(&root.join("build/obj")),
                args: strings(&["-I../../include"]),
                changes: Vec::new(),
            }]
        );
    }

    #[test]
    fn duplicates_are_handed_over_as_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let entry = |file: &str, flag: &str| json!({"directory": text(root), "file": file, "arguments": ["cc", flag, file]});
        let db = json!([
            entry("a.c", "-DFIRST"),
            entry("./a.c", "-DSECOND"),
            entry("b.c", "-DB"),
            entry("a.c", "-DTHIRD")
        ]);
        write(&root.join(COMPDB_NAME), &db.to_string());

        // The refresh folds them (keeping the first), by normalized path.
        let found = discover_all(root, None).unwrap();
        let files: Vec<_> = found.units.iter().map(|u| u.file.as_str()).collect();
        let (a, b) = (text(&root.join("a.c")), text(&root.join("b.c")));
        assert_eq!(files, [&a, &a, &b, &a]);
        assert_eq!(found.units[0].args, ["-DFIRST"]);
    }

    #[test]
    fn entries_for_missing_files_are_kept() {
        let (_dir, found) =
            with_compdb(r#"[{"directory": "/", "file": "gone.c", "command": "cc -c gone.c"}]"#);
        let found = found.unwrap();
        assert_eq!(found.units[0].file, "/gone.c");
        assert!(found.warnings.is_empty());
    }

    #[test]
    fn explicit_compdb_as_directory_or_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        let own = json!([{"directory": "/", "file": "own.c", "command": "cc own.c"}]);
        write(&root.join(COMPDB_NAME), &own.to_string());
        let other = json!([{"directory": "/", "file": "other.c", "command": "cc other.c"}]);
        let in_dir = dir.path().join("elsewhere").join(COMPDB_NAME);
        let named = dir.path().join("custom.json");
        write(&in_dir, &other.to_string());
        write(&named, &other.to_string());

        let found = discover_all(&root, Some(in_dir.parent().unwrap())).unwrap();
        assert_eq!(found.source, Source::CompileCommands(in_dir));
        assert_eq!(found.units[0].file, "/other.c");
        let found = discover_all(&root, Some(&named)).unwrap();
        assert_eq!(found.source, Source::CompileCommands(named));
    }

    #[test]
    fn missing_explicit_compdb_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = discover_all(dir.path(), Some(&missing)).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::CompdbUnreadable { path, source }
            if *path == missing && source.kind() == io::ErrorKind::NotFound)
        );
        assert!(err.to_string().contains("nope.json"), "{err}");

        // A directory without a database inside.
        let err = discover_all(dir.path(), Some(dir.path())).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::CompdbUnreadable { path, .. } if path.ends_with(COMPDB_NAME))
        );
    }

    #[test]
    fn dangling_compdb_symlink_falls_back_to_walking() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::os::unix::fs::symlink("build/compile_commands.json", root.join(COMPDB_NAME)).unwrap();
        write(&root.join("a.c"), "");

        let found = discover_all(root, None).unwrap();
        assert_eq!(found.source, Source::Walk);
        assert_eq!(found.units.len(), 1);
        assert!(
            found.warnings[0].contains(COMPDB_NAME),
            "{:?}",
            found.warnings
        );
    }

    #[test]
    fn invalid_json_reports_its_position() {
        let (_dir, found) = with_compdb(
            "[\n  {\"directory\": \"/\", \"file\": \"a.c\", \"command\": \"cc a.c\"},\n  {oops}\n]",
        );
        let err = found.unwrap_err();
        assert!(
            matches!(err, DiscoverError::InvalidJson { line: 3, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("compile_commands.json:3:"), "{message}");
        assert!(
            message.contains("CMAKE_EXPORT_COMPILE_COMMANDS"),
            "{message}"
        );
    }

    #[test]
    fn truncated_or_empty_file() {
        for json in [r#"[{"directory": "/""#, ""] {
            let (_dir, found) = with_compdb(json);
            let err = found.unwrap_err();
            assert!(
                matches!(err, DiscoverError::Truncated { .. }),
                "{json:?}: {err:?}"
            );
            assert!(err.to_string().contains(COMPDB_NAME), "{err}");
        }
    }

    #[test]
    fn not_an_array() {
        let (_dir, found) =
            with_compdb(r#"{"directory": "/", "file": "a.c", "command": "cc a.c"}"#);
        let err = found.unwrap_err();
        assert!(matches!(err, DiscoverError::NotAnArray { .. }), "{err:?}");
        assert!(err.to_string().contains("not a JSON array"), "{err}");
    }

    #[test]
    fn bad_entries_are_named_by_index() {
        let good = r#"{"directory": "/", "file": "a.c", "command": "cc a.c"}"#;
        let cases = [
            (
                r#"{"directory": "/", "command": "cc b.c"}"#,
                EntryProblem::MissingField("file"),
            ),
            (
                r#"{"file": "b.c", "command": "cc b.c"}"#,
                EntryProblem::MissingField("directory"),
            ),
            (
                r#"{"directory": "/", "file": "b.c"}"#,
                EntryProblem::NoCommand,
            ),
            (
                r#"{"directory": "/", "file": "b.c", "arguments": []}"#,
                EntryProblem::NoCommand,
            ),
            (
                r#"{"directory": "/", "file": "b.c", "command": "cc 'b.c"}"#,
                EntryProblem::UnsplittableCommand,
            ),
        ];
        for (bad, expected) in cases {
            let (_dir, found) = with_compdb(&format!("[{good}, {bad}]"));
            let err = found.unwrap_err();
            assert!(
                matches!(&err, DiscoverError::BadEntry { index: 1, problem, .. } if *problem == expected),
                "{bad}: {err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains("index 1") && message.contains(COMPDB_NAME),
                "{message}"
            );
        }
        let (_dir, found) =
            with_compdb(r#"[{"directory": "/", "file": "a.c", "arguments": "cc a.c"}]"#);
        let err = found.unwrap_err();
        assert!(
            matches!(&err, DiscoverError::BadEntry { index: 0, problem: EntryProblem::Malformed(m), .. } if m.contains("line 1")),
            "{err:?}"
        );
    }

    #[test]
    fn empty_array() {
        let (_dir, found) = with_compdb("[]");
        let err = found.unwrap_err();
        assert!(matches!(err, DiscoverError::Empty { .. }), "{err:?}");
        assert!(
            err.to_string().contains("lists no translation units"),
            "{err}"
        );
    }

    #[test]
    fn project_must_be_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = discover_all(&missing, None).unwrap_err();
        assert!(
            matches!(err, DiscoverError::ProjectUnreadable { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("missing"), "{err}");

        let file = dir.path().join("file");
        write(&file, "");
        let err = discover_all(&file, None).unwrap_err();
        assert!(
            matches!(err, DiscoverError::ProjectNotDirectory { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn non_utf8_project_paths_are_refused() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(OsStr::from_bytes(b"proj\xff"));
        write(&root.join("a.c"), "");
        let err = discover_all(&root, None).unwrap_err();
        assert!(
            matches!(err, DiscoverError::ProjectNotUtf8 { .. }),
            "{err:?}"
        );

        // A database there may still name files by absolute UTF-8 paths,
        // but a relative `directory` resolves into the unstorable path.
        let db = root.join(COMPDB_NAME);
        write(
            &db,
            r#"[{"directory": ".", "file": "a.c", "command": "cc a.c"}]"#,
        );
        let err = discover_all(&root, None).unwrap_err();
        assert!(
            matches!(
                &err,
                DiscoverError::BadEntry {
                    index: 0,
                    problem: EntryProblem::NotUtf8(_),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn walk_finds_sources_and_guesses_flags() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "a.c",
            "b.cpp",
            "c.cc",
            "d.cxx",
            "e.c++",
            "f.C",
            "g.h",
            "h.hpp",
            "include/x.h",
            "lib/include/y.h",
            "lib/z.c",
        ] {
            write(&root.join(name), "");
        }

        let found = discover_all(root, None).unwrap();
        assert_eq!(found.source, Source::Walk);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let files: Vec<_> = found.units.iter().map(|u| u.file.as_str()).collect();
        let expected: Vec<_> = ["a.c", "b.cpp", "c.cc", "d.cxx", "e.c++", "f.C", "lib/z.c"]
            .iter()
            .map(|name| text(&root.join(name)))
            .collect();
        assert_eq!(files, expected);

        let includes = [
            format!("-I{}", text(root)),
            format!("-I{}", text(&root.join("include"))),
            format!("-I{}", text(&root.join("lib/include"))),
        ];
        let c = &found.units[0];
        assert_eq!(c.directory, text(root));
        assert_eq!(c.args[..2], ["-xc", "-std=c17"]);
        assert_eq!(c.args[2..], includes);
        for cxx in &found.units[1..6] {
            assert_eq!(cxx.args[..2], ["-xc++", "-std=c++17"], "{}", cxx.file);
            assert_eq!(cxx.args[2..], includes);
        }
    }

    #[test]
    fn walk_skips_ignored_hidden_and_build_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join(".gitignore"), "ignored.c\ngenerated/\n");
        for name in [
            "keep.c",
            "ignored.c",
            "generated/g.c",
            ".hidden/h.c",
            ".git/x.c",
            ".indexer/i.c",
            "build/b.c",
            "build/include/x.h",
            "cmake-build-debug/c.cpp",
            "out/o.c",
            "target/t.c",
            "node_modules/n.c",
        ] {
            write(&root.join(name), "");
        }

        let found = discover_all(root, None).unwrap();
        assert_eq!(
            found.units,
            [UnitSpec {
                file: text(&root.join("keep.c")),
                directory: text(root),
                args: strings(&["-xc", "-std=c17", &format!("-I{}", text(root))]),
                changes: Vec::new(),
            }]
        );
    }

    #[test]
    fn walk_root_may_be_named_like_build_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("build");
        write(&root.join("a.c"), "");
        let found = discover_all(&root, None).unwrap();
        assert_eq!(found.units.len(), 1);
    }

    #[test]
    fn walk_survives_symlink_loop() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("sub/a.c"), "");
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();

        let found = discover_all(root, None).unwrap();
        let files: Vec<_> = found.units.iter().map(|u| u.file.as_str()).collect();
        assert_eq!(files, [text(&root.join("sub/a.c"))]);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn walk_indexes_symlinked_sources_under_the_link_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        write(&dir.path().join("shared/s.c"), "");
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("../shared/s.c", root.join("s.c")).unwrap();
        std::os::unix::fs::symlink("nowhere.c", root.join("dangling.c")).unwrap();

        let found = discover_all(&root, None).unwrap();
        let files: Vec<_> = found.units.iter().map(|u| u.file.as_str()).collect();
        assert_eq!(files, [text(&root.join("s.c"))]);
    }

    #[test]
    fn walk_skips_non_utf8_names_with_a_warning() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("good.c"), "");
        write(&root.join(OsStr::from_bytes(b"bad\xff.cpp")), "");

        let found = discover_all(root, None).unwrap();
        let files: Vec<_> = found.units.iter().map(|u| u.file.as_str()).collect();
        assert_eq!(files, [text(&root.join("good.c"))]);
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(
            found.warnings[0].contains("bad") && found.warnings[0].contains("UTF-8"),
            "{:?}",
            found.warnings
        );
    }
}
