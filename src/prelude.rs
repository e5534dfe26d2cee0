//! Preludes: which units share one, and where they live.
//!
//! A prelude is [`HEADER`], the common standard library headers,
//! precompiled for one compile command and read ahead of each of its
//! units. It is the index's own, unlike a precompiled header the project's
//! build makes (`-include-pch`, CMake's `target_precompile_headers`),
//! which `command` drops from the unit's arguments.
//!
//! A C++ unit spends much of its parse on the standard library headers it
//! includes, the same ones, parsed the same way, in every unit (a C unit
//! less so, but still much). A unit whose compile command (language,
//! arguments and directory) matches an earlier unit's is therefore parsed
//! with a prelude, precompiled in its language once per command by the
//! first worker that needs it (`worker::prelude`), given as `-include-pch`.
//! Commands that differ only in the project's include directories (CMake's
//! targets) share one ([`library_key`]).
//! Its include guards then turn the unit's own `#include <string>` into
//! no-ops. On protobuf this takes a quarter to 30% off a full build, on
//! LevelDB more than half (docs/benchmarks.md).
//!
//! Once the command's first three units are parsed, its prelude also takes
//! in the project headers two of them read, and for C++ the public headers
//! of system libraries (gtest's) ([`Preludes::observe`]): on protobuf,
//! whose units read 2 MB of the project's headers each, that halves the
//! build again; on libgit2 (C) it takes two thirds off. Where the order of
//! its headers matters (one defines a macro another tests without
//! including it: `worker::clang`'s `order_dependence`), the prelude holds
//! them in the order the sampled units read them, and a unit that would
//! read them in another order is parsed as written.
//!
//! This is not exactly the unit as written: the prelude's headers come
//! first, so a unit sees their declarations even where it did not include
//! them, and a macro the unit defines before including one of them no
//! longer reaches it. A unit that gets errors this way (e.g. it defines a
//! global `index`, which `<cstring>` also declares), or whose own files
//! define a macro the prelude's headers test (`worker::directives`), is
//! parsed again without. What remains: a unit that forgot to include a
//! header of the set compiles anyway (its references resolve, the error is
//! not reported), and unresolved calls in templates may list other
//! candidates (docs/benchmarks.md counts them per corpus). A missing header
//! does not count as an error here: it is missing as written too.
//! `--no-prelude` turns it off; it is off with `--index-system-headers`,
//! whose declarations a prelude would hide.
//!
//! A command's first unit (of the commands sharing a prelude, the first
//! one's) is parsed without, so a command used by one unit only never pays
//! for precompiling; nor does a build with fewer than
//! [`MIN_UNITS`] units to index. The files live in `<db>.pch/` (named for
//! clang's precompiled header files they hold), which
//! exists only during a build: it is made afresh at the start and removed at
//! the end. Memory and disk stay bounded: at most [`MAX_COMMANDS`]
//! commands are remembered, [`MAX_SAMPLES`] sampled at once,
//! [`MAX_PRELUDES`] standard preludes built and, besides,
//! [`MAX_PROJECT_PRELUDES`] with project headers; units beyond that are
//! parsed without.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::protocol::{IndexRequest, Language, Prelude, SeenFile};

/// The standard headers most C++ code reads, directly or through others
/// (on protobuf, each is read by about half of the units or more, or costs
/// a lot to parse: `<random>`). Each has include guards, except
/// `<cassert>`, which a unit's own include reads again, so `assert` follows
/// the unit's `NDEBUG` as usual.
///
/// For C, the ISO headers most C code reads and, on Unix, the POSIX ones
/// for files and processes (on libgit2, these system headers are about
/// 45% of a unit's preprocessed lines). Not `<math.h>`, `<signal.h>` and
/// the like, whose short global names (`log`, `round`, `signal`) C code
/// also uses for its own functions: a unit that defines such a name
/// without including the header would get a conflict, and a second parse.
pub(crate) const HEADER: &str = "\
// The prelude indexer precompiles for the units of one compile command (see prelude.rs).
#if defined(__cplusplus) && __cplusplus >= 201103L
#include <algorithm>
#include <array>
#include <atomic>
#include <bitset>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <forward_list>
#include <functional>
#include <iomanip>
#include <iostream>
#include <istream>
#include <iterator>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <optional>
#include <ostream>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <stack>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>
#elif !defined(__cplusplus)
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__unix__)
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#endif
#endif
";

/// Standard preludes per build: each takes about 5.6 MB of disk
/// (protobuf's, with libstdc++ 12). Those with project headers are
/// bounded apart ([`MAX_PROJECT_PRELUDES`]), so that a build trying
/// project preludes that fail (LLVM's, configured only) does not leave
/// commands without their standard one.
const MAX_PRELUDES: usize = 64;
/// Compile commands remembered to spot the second unit of each.
const MAX_COMMANDS: usize = 4096;
/// Units of one command parsed again as written after which the command's
/// units stop getting a prelude, when they outnumber those that used it: a
/// unit that falls back is parsed twice, and where most of a command's
/// units do (they define a macro the prelude tests, say), the prelude made
/// builds up to twice as slow (issue 15).
const FALLBACKS_TO_GIVE_UP: u32 = 3;
/// A build with fewer units to index parses them all as written: building
/// a prelude costs a worker as long as parsing a few units, which a small
/// refresh does not win back (LevelDB: 4 units edited took 0.57 s with,
/// 0.38 s without; 8 units 0.62 against 0.66 s; docs/benchmarks.md).
pub(crate) const MIN_UNITS: u64 = 8;
/// Units of a command whose project headers are counted before its
/// prelude takes in those most of them read.
const SAMPLED_UNITS: u32 = 3;
/// Commands sampled at once, and project headers counted per command: the
/// supervisor's memory for this stays under a few MB.
const MAX_SAMPLES: usize = 16;
const MAX_PROJECT_HEADERS: usize = 1024;
/// Preludes with project headers per build, also those given up: each
/// takes up to about 30 MB of disk (protobuf's largest, 26 MB), where a
/// standard one takes 6. With [`MAX_PRELUDES`], a build's preludes take at
/// most about 0.9 GB.
const MAX_PROJECT_PRELUDES: usize = 16;

/// The supervisor's side: decides, per unit, which prelude it uses, and
/// owns the directory they are built in.
pub(crate) struct Preludes {
    dir: PathBuf,
    header: String,
    /// Standard preludes' keys ([`library_key`]) seen once; their next unit
    /// gets a prelude.
    seen: FxHashSet<u64>,
    /// Standard preludes' keys with a prelude, each built once.
    chosen: FxHashSet<u64>,
    /// How the units of a command fared: with its prelude in this build,
    /// and those parsed as written because they fell back in an earlier
    /// one (they count as falling back again: the command's other units
    /// likely share the reason).
    tallies: FxHashMap<u64, Tally>,
    /// Commands whose units fell back too often: parsed as written.
    given_up: FxHashSet<u64>,
    /// The project headers read by the first units of commands.
    samples: FxHashMap<u64, Sample>,
    /// Commands sampled: those whose prelude takes in project headers are
    /// in `projects`.
    sampled: FxHashSet<u64>,
    /// Commands whose prelude takes in the project headers most of their
    /// sampled units read: its header, and how its units fared.
    projects: FxHashMap<u64, (String, Tally)>,
    /// Preludes with project headers given out in this build, also those
    /// whose command went back to the standard one.
    projects_made: usize,
    /// Of those, how many their commands went back from, and how many units
    /// used one: when the first [`FALLBACKS_TO_GIVE_UP`] went back and no
    /// unit used any, the build makes no more (a tree that was only
    /// configured lacks the generated headers its headers include: every
    /// one of LLVM's failed to build, costing a worker a second each).
    projects_refused: u32,
    units_with_project_prelude: u32,
}

/// The project headers the sampled units of one command read.
#[derive(Default)]
struct Sample {
    units: u32,
    /// Each header, in the order the units met them.
    headers: Vec<Sampled>,
    /// Positions in `headers`, by path key.
    known: FxHashMap<u64, usize>,
}

/// A header sampled units read.
struct Sampled {
    path: String,
    system: bool,
    /// How many of the sampled units read it.
    units: u32,
}

/// How the units of one command fared with its prelude.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    used: u32,
    fell_back: u32,
}

impl Preludes {
    /// Makes `<db>.pch/` afresh (a build holds the database's lock, so no
    /// other build uses it) with [`HEADER`] in it.
    pub(crate) fn create(db: &Path) -> Result<Preludes> {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".pch");
        let dir = PathBuf::from(dir);
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("removing {} left by an earlier build", dir.display()))?;
        }
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let header = dir.join("prelude.hpp");
        fs::write(&header, HEADER).with_context(|| format!("writing {}", header.display()))?;
        Ok(Preludes {
            header: header.to_string_lossy().into_owned(),
            dir,
            seen: FxHashSet::default(),
            chosen: FxHashSet::default(),
            tallies: FxHashMap::default(),
            given_up: FxHashSet::default(),
            samples: FxHashMap::default(),
            sampled: FxHashSet::default(),
            projects: FxHashMap::default(),
            projects_made: 0,
            projects_refused: 0,
            units_with_project_prelude: 0,
        })
    }

    /// Sets the request's prelude, if it gets one.
    pub(crate) fn assign(&mut self, request: &mut IndexRequest) {
        request.prelude = None;
        let Some(language) = language(request) else {
            return;
        };
        let command = command_key(request, language);
        if self.given_up.contains(&command) {
            return;
        }
        let library = library_key(request, language);
        if let Some((header, _)) = self.projects.get(&command) {
            request.prelude = Some(Prelude {
                header: header.clone(),
                pch: self.pch(command, "-project"),
                language,
                instead: Some(Box::new(Prelude {
                    header: self.header.clone(),
                    pch: self.pch(library, ""),
                    language,
                    instead: None,
                })),
            });
            return;
        }
        let ready = self.chosen.contains(&library)
            || (self.seen.contains(&library) && self.chosen.len() < MAX_PRELUDES && {
                self.seen.remove(&library);
                self.chosen.insert(library);
                true
            });
        if ready {
            request.prelude = Some(Prelude {
                header: self.header.clone(),
                pch: self.pch(library, ""),
                language,
                instead: None,
            });
        } else if self.seen.len() < MAX_COMMANDS {
            self.seen.insert(library);
        }
    }
}

impl Preludes {
    fn pch(&self, key: u64, kind: &str) -> String {
        self.dir
            .join(format!("{key:016x}{kind}.pch"))
            .to_string_lossy()
            .into_owned()
    }

    /// Counts the project headers a unit read (`files`, its main file
    /// first), while its command is sampled: the first
    /// [`SAMPLED_UNITS`] units of a command with a prelude. Then the
    /// command's prelude takes in, after the standard headers, the guarded
    /// project headers most of them read, in the order the units met them,
    /// if `emitted` says some unit of the build emits them or the index
    /// holds them (the units parsed with the prelude will not: they do not
    /// walk the prelude's declarations). For a C++ command, also the
    /// guarded system headers a project file includes, but for those that
    /// continue the search for their name ([`system_candidate`]).
    ///
    /// Many of a C++ unit's headers are the project's own (on protobuf, 2
    /// MB of its 5 MB), read and parsed anew by every unit, as the standard
    /// library was; most units of a command read most of the same ones.
    pub(crate) fn observe(
        &mut self,
        request: &IndexRequest,
        files: &[SeenFile],
        emitted: impl Fn(&str) -> bool,
    ) {
        let Some(language) = language(request) else {
            return;
        };
        let command = command_key(request, language);
        let library = library_key(request, language);
        if self.sampled.contains(&command)
            || self.given_up.contains(&command)
            || !(self.chosen.contains(&library) || self.seen.contains(&library))
            || (!self.samples.contains_key(&command) && self.samples.len() >= MAX_SAMPLES)
        {
            return;
        }
        let sample = self.samples.entry(command).or_default();
        sample.units += 1;
        // Of the system headers, a library's public ones (gtest's, gmock's):
        // its internal ones may need others first. Not for C: a C unit may
        // define a name that a C library header it does not include declares
        // (see `HEADER`), where C++ libraries keep to namespaces.
        let systems = language == Language::Cxx;
        for file in files
            .iter()
            .skip(1)
            .filter(|f| f.guarded && (!f.system || (systems && f.from_project)))
        {
            let key = crate::fingerprint::path_key(&file.path);
            match sample.known.get(&key) {
                Some(&at) => sample.headers[at].units += 1,
                None if sample.headers.len() < MAX_PROJECT_HEADERS => {
                    sample.known.insert(key, sample.headers.len());
                    sample.headers.push(Sampled {
                        path: file.path.clone(),
                        system: file.system,
                        units: 1,
                    });
                }
                None => {}
            }
        }
        if sample.units < SAMPLED_UNITS {
            return;
        }
        let sample = self.samples.remove(&command).expect("sampled above");
        self.sampled.insert(command);
        let chosen: Vec<&Sampled> = sample
            .headers
            .iter()
            .filter(|header| {
                2 * header.units > SAMPLED_UNITS
                    && !header.path.contains(['"', '\\', '\n'])
                    && if header.system {
                        system_candidate(&header.path)
                    } else {
                        emitted(&header.path)
                    }
            })
            .collect();
        let none_usable =
            self.projects_refused >= FALLBACKS_TO_GIVE_UP && self.units_with_project_prelude == 0;
        // Worth a prelude of its own only with project headers: the system
        // ones most units of a test suite read (gtest, gmock) come with them.
        if !chosen.iter().any(|header| !header.system)
            || none_usable
            || self.projects_made >= MAX_PROJECT_PRELUDES
        {
            return;
        }
        let header = self.dir.join(format!("{command:016x}-project.hpp"));
        let text = project_header(&header.to_string_lossy(), &chosen);
        if fs::write(&header, text).is_ok() {
            let header = header.to_string_lossy().into_owned();
            self.projects.insert(command, (header, Tally::default()));
            self.projects_made += 1;
        }
    }

    /// Notes how a unit `assign` gave a prelude fared: it `used` it, or it
    /// `fell_back` to a parse as written. A command whose units fell back
    /// [`FALLBACKS_TO_GIVE_UP`] times, more often than they used it, gets
    /// no prelude for the rest of the build; if its prelude took in project
    /// headers, it gets the standard one instead.
    pub(crate) fn record(
        &mut self,
        request: &IndexRequest,
        used: bool,
        used_project: bool,
        fell_back: bool,
    ) {
        let Some(prelude) = &request.prelude else {
            return;
        };
        let command = command_key(request, prelude.language);
        if prelude.pch == self.pch(command, "-project") {
            let Some((_, tally)) = self.projects.get_mut(&command) else {
                return;
            };
            self.units_with_project_prelude += u32::from(used_project);
            // Not used without falling back: it could not be built (the
            // standard one was used instead), or the unit's main file
            // defines a macro one of its headers tests.
            if tally.add(used_project, !used_project) {
                self.projects.remove(&command);
                self.projects_refused += 1;
            }
        } else if self
            .chosen
            .contains(&library_key(request, prelude.language))
        {
            self.tally(command, used, fell_back);
        }
    }

    /// Notes a unit parsed as written, without a prelude, because it fell
    /// back in an earlier build: one more fallback of its command, so
    /// that a command whose units fell back gives up before its other
    /// units fall back one by one, build after build.
    pub(crate) fn fell_back_before(&mut self, request: &IndexRequest) {
        if let Some(language) = language(request) {
            self.tally(command_key(request, language), false, true);
        }
    }

    fn tally(&mut self, command: u64, used: bool, fell_back: bool) {
        if !self.tallies.contains_key(&command) && self.tallies.len() >= MAX_COMMANDS {
            return;
        }
        if self
            .tallies
            .entry(command)
            .or_default()
            .add(used, fell_back)
        {
            // The standard prelude stays for the other commands sharing it.
            self.projects.remove(&command);
            self.given_up.insert(command);
        }
    }
}

impl Tally {
    /// Counts one unit; whether the command should give its prelude up.
    fn add(&mut self, used: bool, fell_back: bool) -> bool {
        self.used += u32::from(used);
        self.fell_back += u32::from(fell_back);
        self.fell_back >= FALLBACKS_TO_GIVE_UP && self.fell_back > self.used
    }
}

impl Drop for Preludes {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The text of a command's prelude with the headers `chosen` after
/// [`HEADER`], written at `path`. Each is included by its path, as found;
/// a system header's include is marked as in a system header (a line
/// marker with flag 3, as in preprocessed output), so that it stays one:
/// clang takes a header included by an absolute path for the project's
/// (its warnings, and libclang's `clang_Location_isInSystemHeader`).
fn project_header(path: &str, chosen: &[&Sampled]) -> String {
    let mut text = format!("{HEADER}// The headers most units of the command read (prelude.rs).\n");
    let mut line = text.lines().count() + 1;
    for header in chosen {
        if header.system {
            text.push_str(&format!(
                "# {} \"{path}\" 3\n#include \"{}\"\n# {} \"{path}\"\n",
                line + 1,
                header.path,
                line + 3
            ));
            line += 3;
        } else {
            text.push_str(&format!("#include \"{}\"\n", header.path));
            line += 1;
        }
    }
    text
}

/// Whether the system header at `path`, which most sampled units of a C++
/// command read, may go in its prelude: not one that continues the search
/// for its name in later directories (`#include_next`: the C library's
/// wrappers in libstdc++ and clang's own headers), which needs the
/// directory it was found in, where the prelude includes it by its path.
/// A header that cannot be read is left out.
fn system_candidate(path: &str) -> bool {
    fs::read(path).is_ok_and(|text| !text.windows(12).any(|w| w == b"include_next"))
}

/// The language of a C or C++ unit whose arguments do not bring a
/// precompiled header or modules of their own (libclang takes one
/// `-include-pch`), as clang's driver decides it: `-x`, else the file's
/// extension; `None` for the others (Objective-C, CUDA, headers without
/// `-x`), which get no prelude.
fn language(request: &IndexRequest) -> Option<Language> {
    let mut language = None;
    let mut gxx = false;
    for (i, arg) in request.args.iter().enumerate() {
        if arg == "-include-pch" || arg.starts_with("-fmodules") || arg.ends_with(".pch") {
            return None;
        }
        if arg == "-x" {
            language = request.args.get(i + 1).map(String::as_str);
        } else if let Some(value) = arg.strip_prefix("-x") {
            language = Some(value);
        } else if let Some(mode) = arg.strip_prefix("--driver-mode=") {
            gxx = mode == "g++";
        }
    }
    let extension = Path::new(&request.file)
        .extension()
        .and_then(|e| e.to_str());
    match (language, extension) {
        (Some("c++"), _) => Some(Language::Cxx),
        (Some("c"), _) => Some(Language::C),
        (Some(_), _) => None,
        // g++ and `--driver-mode=g++` read `.c` files as C++.
        (None, Some("c")) if gxx => Some(Language::Cxx),
        (None, Some("c")) => Some(Language::C),
        (None, _) if crate::command::is_cxx_source(Path::new(&request.file)) => Some(Language::Cxx),
        (None, _) => None,
    }
}

/// Units with equal keys are of one compile command: same language, same
/// directory (relative `-I` paths) and same arguments apart from the source
/// file. A prelude with project headers is built for one command, and
/// whether units fall back is tallied per command.
fn command_key(request: &IndexRequest, language: Language) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&[language as u8]);
    hasher.update(request.directory.as_bytes());
    for arg in request.args.iter().filter(|a| **a != request.file) {
        hasher.update(&[0]);
        hasher.update(arg.as_bytes());
    }
    hasher.digest()
}

/// Units with equal keys can share a standard prelude: [`command_key`],
/// but for the directories a unit's includes are searched first
/// ([`search_dirs`]), and for the unit's directory where no argument may
/// be relative to it. CMake gives each target its own directory and
/// include directories, and its other arguments are often the same for
/// all targets: LLVM's 4,221 units have 458 compile commands, and 27 such
/// keys. The standard library reads the same files whichever project
/// directories come first, unless one of them holds a file of the same
/// name: the worker checks that before using a prelude built for another
/// command (`worker::prelude`'s `PreludeContents::searched_alike`).
fn library_key(request: &IndexRequest, language: Language) -> u64 {
    let args = request.args.iter().filter(|a| **a != request.file);
    if !only_absolute_paths(args.clone()) {
        return command_key(request, language);
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&[language as u8, 1]);
    split_search_dirs(
        args,
        |_| {},
        |arg| {
            hasher.update(&[0]);
            hasher.update(arg.as_bytes());
        },
    );
    hasher.digest()
}

/// The flags naming a directory searched before the system ones, for
/// quoted includes (`-iquote`) or all (`-I`).
const SEARCH_FLAGS: [&str; 2] = ["-I", "-iquote"];

/// The directories the arguments search for includes before the system
/// ones ([`SEARCH_FLAGS`]), in order, as written.
pub(crate) fn search_dirs(args: &[String]) -> Vec<&str> {
    let mut dirs = Vec::new();
    split_search_dirs(args.iter(), |dir| dirs.push(dir), |_| {});
    dirs
}

/// Hands each directory of a [`SEARCH_FLAGS`] flag, joined or the next
/// argument, to `dir`, and every other argument to `other`, in order.
fn split_search_dirs<'a>(
    mut args: impl Iterator<Item = &'a String>,
    mut dir: impl FnMut(&'a str),
    mut other: impl FnMut(&'a str),
) {
    while let Some(arg) = args.next() {
        if SEARCH_FLAGS.contains(&arg.as_str()) {
            if let Some(value) = args.next() {
                dir(value);
            }
        } else if let Some(flag) = SEARCH_FLAGS.iter().find(|flag| arg.starts_with(**flag)) {
            dir(&arg[flag.len()..]);
        } else {
            other(arg);
        }
    }
}

/// Flags whose value, the next argument or joined, is a path.
const PATH_FLAGS: [&str; 12] = [
    "-I",
    "-iquote",
    "-isystem",
    "-idirafter",
    "-isysroot",
    "--sysroot",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-cxx-isystem",
    "-ivfsoverlay",
    "-B",
];

/// Whether no argument could name a path relative to the unit's directory,
/// nor a file found through the include directories (`-include`,
/// `-imacros`): every path (an argument with a slash, a path flag's value)
/// is absolute. Errs on the side of `false`: `-DDIR=a/b` counts as a path.
fn only_absolute_paths<'a>(mut args: impl Iterator<Item = &'a String>) -> bool {
    while let Some(arg) = args.next() {
        let arg = arg.as_str();
        if arg.starts_with("-include")
            || arg.starts_with("-imacros")
            || arg.starts_with("--include")
        {
            return false;
        }
        let (value, is_path) = if PATH_FLAGS.contains(&arg) {
            match args.next() {
                Some(value) => (value.as_str(), true),
                None => return false,
            }
        } else if let Some(flag) = PATH_FLAGS.iter().find(|flag| arg.starts_with(**flag)) {
            // `--sysroot=DIR`; but `-I=DIR` is relative to the sysroot.
            let value = &arg[flag.len()..];
            (
                if flag.starts_with("--") {
                    value.trim_start_matches('=')
                } else {
                    value
                },
                true,
            )
        } else if arg.starts_with('-') {
            (arg.split_once('=').map_or(arg, |(_, value)| value), false)
        } else {
            (arg, false)
        };
        if (is_path || value.contains('/')) && !value.starts_with('/') {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(file: &str, args: &[&str]) -> IndexRequest {
        IndexRequest {
            unit: 0,
            file: file.into(),
            directory: "/build".into(),
            args: args
                .iter()
                .map(|a| a.to_string())
                .chain([file.into()])
                .collect(),
            prelude: None,
        }
    }

    fn assigned(preludes: &mut Preludes, mut request: IndexRequest) -> Option<String> {
        preludes.assign(&mut request);
        request.prelude.map(|p| p.pch)
    }

    #[test]
    fn a_commands_second_unit_on_get_one_header() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("index.db");
        let mut preludes = Preludes::create(&db).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("index.db.pch/prelude.hpp")).unwrap(),
            HEADER
        );
        let flags = ["-std=c++17", "-DX=1"];
        assert_eq!(assigned(&mut preludes, request("/src/a.cpp", &flags)), None);
        let pch = assigned(&mut preludes, request("/src/b.cpp", &flags)).unwrap();
        assert!(pch.starts_with(
            &dir.path()
                .join("index.db.pch")
                .to_string_lossy()
                .into_owned()
        ));
        assert_eq!(
            assigned(&mut preludes, request("/src/c.cc", &flags)),
            Some(pch.clone())
        );
        // Another command has its own.
        assert_eq!(
            assigned(&mut preludes, request("/src/d.cpp", &["-DX=2"])),
            None
        );
        let other = assigned(&mut preludes, request("/src/e.cpp", &["-DX=2"])).unwrap();
        assert_ne!(other, pch);

        drop(preludes);
        assert!(!dir.path().join("index.db.pch").exists());
    }

    /// Issue 15: CMake gives every target a directory and include
    /// directories of its own; commands that differ only there share one
    /// standard prelude (the worker checks their directories before using
    /// it). Any other difference, or a path that may be relative to the
    /// directory, keeps commands apart; and a command giving up its prelude
    /// leaves it to the others.
    #[test]
    fn commands_differing_only_in_absolute_include_directories_share_a_standard_prelude() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        let in_dir = |file: &str, directory: &str, args: &[&str]| IndexRequest {
            directory: directory.into(),
            ..request(file, args)
        };
        let lib = ["-O2", "-I/p/lib", "-iquote", "/p/quoted"];
        assert_eq!(
            assigned(&mut preludes, in_dir("/p/lib/a.cpp", "/b/lib", &lib)),
            None
        );
        let pch = assigned(&mut preludes, in_dir("/p/lib/b.cpp", "/b/lib", &lib)).unwrap();
        let tool = ["-O2", "-I", "/p/tool", "-I/p/lib"];
        assert_eq!(
            assigned(&mut preludes, in_dir("/p/tool/t.cpp", "/b/tool", &tool)),
            Some(pch.clone())
        );
        // Other arguments, relative paths, or a file found through the
        // include directories: another prelude each.
        for (directory, args) in [
            ("/b/tool", &["-O3", "-I/p/tool"][..]),
            ("/b/tool", &["-O2", "-Iinclude"][..]),
            ("/b/tool", &["-O2", "-isystem", "third_party"][..]),
            ("/b/tool", &["-O2", "-I/p/tool", "-include", "config.h"][..]),
            ("/b/tool", &["-O2", "-I=/usr/include"][..]),
            ("/b/tool", &["-O2", "-DROOT=src/a"][..]),
        ] {
            assert_eq!(
                assigned(&mut preludes, in_dir("/p/x.cpp", directory, args)),
                None
            );
            let own = assigned(&mut preludes, in_dir("/p/y.cpp", directory, args)).unwrap();
            assert_ne!(own, pch, "{args:?}");
        }
        // Absolute paths of any kind do not keep them apart.
        let sysroot = ["-O2", "--sysroot=/sys", "-isystem", "/p/ext", "-I/p/other"];
        let with_sysroot = assigned(&mut preludes, in_dir("/p/s.cpp", "/b/s", &sysroot[..]));
        assert_eq!(with_sysroot, None);
        let shared = assigned(
            &mut preludes,
            in_dir(
                "/p/s2.cpp",
                "/b/s2",
                &["-O2", "--sysroot=/sys", "-isystem", "/p/ext"],
            ),
        );
        assert!(shared.is_some_and(|shared| shared != pch));

        // The tool's units fall back: it gives the prelude up, the library
        // keeps it.
        for unit in ["u1", "u2", "u3"] {
            let mut request = in_dir(&format!("/p/tool/{unit}.cpp"), "/b/tool", &tool);
            preludes.assign(&mut request);
            preludes.record(&request, false, false, true);
        }
        assert_eq!(
            assigned(&mut preludes, in_dir("/p/tool/v.cpp", "/b/tool", &tool)),
            None
        );
        assert_eq!(
            assigned(&mut preludes, in_dir("/p/lib/c.cpp", "/b/lib", &lib)),
            Some(pch)
        );
    }

    #[test]
    fn the_include_directories_searched_before_the_system_ones() {
        let args: Vec<String> = [
            "-I/a",
            "-isystem",
            "/s",
            "-I",
            "/b",
            "-iquote/q",
            "-iquote",
            "/r",
            "-DI=1",
        ]
        .map(String::from)
        .into();
        assert_eq!(search_dirs(&args), ["/a", "/b", "/q", "/r"]);
    }

    /// Issue 15: a command whose units fall back to a parse as written
    /// (parsed twice) stops getting the header; one whose units mostly use
    /// it keeps it.
    #[test]
    fn a_command_whose_units_fall_back_gets_no_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        // Returns whether the unit got a header, and records how it fared.
        let mut run = |file: &str, flags: &[&str], falls_back: bool| {
            let mut unit = request(file, flags);
            preludes.assign(&mut unit);
            let got = unit.prelude.is_some();
            preludes.record(&unit, got && !falls_back, false, got && falls_back);
            got
        };
        let falling = ["-DFALLS=1"];
        let got: Vec<bool> = (0..7)
            .map(|k| run(&format!("/src/f{k}.cpp"), &falling, true))
            .collect();
        assert_eq!(got, [false, true, true, true, false, false, false]);

        let mostly_used = ["-DUSES=1"];
        let got: Vec<bool> = (0..12)
            .map(|k| run(&format!("/src/u{k}.cpp"), &mostly_used, k % 3 == 0))
            .collect();
        assert_eq!(
            got,
            [false, true, true, true, true, true, true, true, true, true, true, true]
        );
    }

    /// Issue 15: units parsed as written because they fell back in an
    /// earlier build count as fallbacks of their command, which then gives
    /// up before its other units fall back one by one.
    #[test]
    fn units_that_fell_back_before_count_against_their_command() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        let falling = ["-DFALLS=1"];
        for k in 0..3 {
            preludes.fell_back_before(&request(&format!("/src/f{k}.cpp"), &falling));
        }
        assert!((3..8).all(|k| {
            assigned(&mut preludes, request(&format!("/src/f{k}.cpp"), &falling)).is_none()
        }));
        // One unit that fell back does not outweigh a command whose other
        // units use the prelude.
        let using = ["-DUSES=1"];
        preludes.fell_back_before(&request("/src/u0.cpp", &using));
        let got: Vec<bool> = (1..6)
            .map(|k| {
                let mut unit = request(&format!("/src/u{k}.cpp"), &using);
                preludes.assign(&mut unit);
                let got = unit.prelude.is_some();
                preludes.record(&unit, got, false, false);
                got
            })
            .collect();
        assert_eq!(got, [false, true, true, true, true]);
    }

    #[test]
    fn c_and_cplusplus_units_without_their_own_pch() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        let twice = |preludes: &mut Preludes, file: &str, args: &[&str]| {
            assigned(preludes, request(file, args));
            assigned(preludes, request(file, args)).is_some()
        };
        assert!(twice(&mut preludes, "/src/a.cpp", &[]));
        assert!(twice(&mut preludes, "/src/a.h", &["-x", "c++"]));
        assert!(twice(&mut preludes, "/src/b.c", &["-xc++"]));
        assert!(twice(&mut preludes, "/src/a.c", &[]));
        assert!(twice(&mut preludes, "/src/a.cpp", &["-x", "c"]));
        assert!(!twice(&mut preludes, "/src/a.m", &[]));
        assert!(!twice(&mut preludes, "/src/a.cu", &[]));
        assert!(!twice(&mut preludes, "/src/a.h", &[]));
        assert!(!twice(&mut preludes, "/src/a.c", &["-x", "objective-c"]));
        assert!(!twice(
            &mut preludes,
            "/src/b.cpp",
            &["-include-pch", "x.pch"]
        ));
        assert!(!twice(&mut preludes, "/src/c.cpp", &["-fmodules"]));
    }

    #[test]
    fn a_header_is_precompiled_in_the_units_language() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        let mut second = |file: &str, args: &[&str]| {
            preludes.assign(&mut request(file, args));
            let mut unit = request(file, args);
            preludes.assign(&mut unit);
            let prelude = unit.prelude.unwrap();
            (prelude.language, prelude.pch)
        };
        let (c, c_pch) = second("/src/a.c", &["-O2"]);
        let (cxx, cxx_pch) = second("/src/a.cpp", &["-O2"]);
        assert_eq!((c, cxx), (Language::C, Language::Cxx));
        // The same arguments, two languages: two headers.
        assert_ne!(c_pch, cxx_pch);
        let (gxx, _) = second("/src/m.c", &["--driver-mode=g++"]);
        assert_eq!(gxx, Language::Cxx);
        let (cl, _) = second("/src/m.c", &["--driver-mode=cl"]);
        assert_eq!(cl, Language::C);
    }

    #[test]
    fn an_earlier_builds_directory_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("index.db.pch/0123.pch");
        fs::create_dir_all(stale.parent().unwrap()).unwrap();
        fs::write(&stale, "stale").unwrap();
        let _preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        assert!(!stale.exists());
    }

    fn seen(path: &str, system: bool, guarded: bool) -> SeenFile {
        SeenFile {
            path: path.into(),
            hash: 0,
            size: 0,
            mtime_ns: 0,
            system,
            guarded,
            from_project: true,
        }
    }

    /// Issue 15: after a command's first three units, its prelude also
    /// holds the guarded project headers two of them read, in the order
    /// they met them, that some unit emits, and the public headers of
    /// system libraries they read; the standard one stays its fallback.
    #[test]
    fn a_commands_prelude_takes_in_the_project_headers_most_of_its_first_units_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        let flags = ["-Iinclude"];
        let system = |name: &str, text: &str| {
            let path = dir.path().join(name);
            fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let gtest = system("gtest.h", "#pragma once\nnamespace testing {}\n");
        // Continues the search for its name, which an include by path cannot.
        let wrapper = system("stdlib.h", "#pragma once\n#include_next <stdlib.h>\n");
        // Included by gtest.h only: an internal header.
        let internal = system("gtest-port.h", "#pragma once\n");
        let reads: [&[&str]; 3] = [
            &["/p/b.h", "/p/a.h", "/p/once.h", "/p/x.inc", "/p/gen.h"],
            &["/p/a.h", "/p/b.h", "/p/x.inc", "/p/gen.h"],
            &["/p/c.h", "/p/a.h"],
        ];
        for (k, headers) in reads.iter().enumerate() {
            let mut unit = request(&format!("/src/u{k}.cpp"), &flags);
            preludes.assign(&mut unit);
            assert!(unit.prelude.as_ref().is_none_or(|p| p.instead.is_none()));
            let mut files = vec![seen(&unit.file, false, false)];
            files.extend(
                headers
                    .iter()
                    .map(|&h| seen(h, false, !h.ends_with(".inc"))),
            );
            files.push(seen(&gtest, true, true));
            files.push(seen(&wrapper, true, true));
            files.push(SeenFile {
                from_project: false,
                ..seen(&internal, true, true)
            });
            // Not emitted: a header no unit parsed in full.
            preludes.observe(&unit, &files, |path| path != "/p/gen.h");
        }
        let mut unit = request("/src/u3.cpp", &flags);
        preludes.assign(&mut unit);
        let prelude = unit.prelude.unwrap();
        assert!(prelude.pch.ends_with("-project.pch"), "{prelude:?}");
        let standard = prelude.instead.unwrap();
        assert!(standard.pch.ends_with(".pch") && standard.instead.is_none());
        let header = fs::read_to_string(&prelude.header).unwrap();
        assert!(header.starts_with(HEADER));
        let lines: Vec<&str> = header.lines().collect();
        let at = HEADER.lines().count() + 4;
        let gtest_at = format!("# {} \"{}\" 3", at + 1, prelude.header);
        let after = format!("# {} \"{}\"", at + 3, prelude.header);
        assert_eq!(
            lines[HEADER.lines().count() + 1..],
            [
                "#include \"/p/b.h\"",
                "#include \"/p/a.h\"",
                &gtest_at,
                &format!("#include \"{gtest}\""),
                &after,
            ],
            "{header}"
        );
        // The line markers give each line its own number: a system header's
        // include is on the line its marker names.
        assert!(lines[at - 1].starts_with("# "));
        assert_eq!(lines[at], format!("#include \"{gtest}\""));

        // Its units fall back three times, more than they use it: the
        // command goes back to the standard prelude.
        for k in 4..7 {
            let mut unit = request(&format!("/src/u{k}.cpp"), &flags);
            preludes.assign(&mut unit);
            preludes.record(&unit, false, false, true);
        }
        let mut unit = request("/src/u7.cpp", &flags);
        preludes.assign(&mut unit);
        assert_eq!(unit.prelude.unwrap().pch, standard.pch);

        // A C command's prelude takes in no system header.
        for k in 0..4 {
            let mut unit = request(&format!("/src/c{k}.c"), &flags);
            preludes.assign(&mut unit);
            let files = [
                seen(&unit.file, false, false),
                seen(&gtest, true, true),
                seen("/p/a.h", false, true),
            ];
            preludes.observe(&unit, &files, |_| true);
        }
        let mut unit = request("/src/c4.c", &flags);
        preludes.assign(&mut unit);
        let header = fs::read_to_string(unit.prelude.unwrap().header).unwrap();
        assert_eq!(
            header
                .lines()
                .skip(HEADER.lines().count() + 1)
                .collect::<Vec<_>>(),
            ["#include \"/p/a.h\""]
        );
    }

    /// Issue 15: once three commands went back from their preludes with
    /// project headers and no unit used one (generated headers missing,
    /// say), the build makes no more.
    #[test]
    fn a_build_whose_project_preludes_all_fail_stops_making_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        let mut project_prelude = |command: usize| {
            let flags = [format!("-DCOMMAND={command}")];
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            for k in 0..3 {
                let mut unit = request(&format!("/src/c{command}u{k}.cpp"), &flags);
                preludes.assign(&mut unit);
                let files = [seen(&unit.file, false, false), seen("/p/a.h", false, true)];
                preludes.observe(&unit, &files, |_| true);
            }
            let mut got = false;
            for k in 3..6 {
                let mut unit = request(&format!("/src/c{command}u{k}.cpp"), &flags);
                preludes.assign(&mut unit);
                got |= unit.prelude.as_ref().unwrap().instead.is_some();
                // Built it could not be: the standard one was used.
                preludes.record(&unit, true, false, false);
            }
            got
        };
        let got: Vec<bool> = (0..5).map(&mut project_prelude).collect();
        assert_eq!(got, [true, true, true, false, false]);
    }

    /// Issue 15: the preludes with project headers a build makes, also
    /// those its commands went back from, leave the standard ones their
    /// own bound (on LLVM, 126 units went without a prelude when they
    /// shared one).
    #[test]
    fn project_preludes_do_not_count_against_the_standard_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut preludes = Preludes::create(&dir.path().join("index.db")).unwrap();
        // Whether the command's second unit gets a prelude, after its first
        // three units (if `sample`) were sampled and asked for project ones.
        let mut command = |command: usize, sample: bool| {
            let flags = [format!("-DCOMMAND={command}")];
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let mut units = (0..).map(|k| request(&format!("/src/c{command}u{k}.cpp"), &flags));
            let mut unit = units.next().unwrap();
            preludes.assign(&mut unit);
            let mut second = units.next().unwrap();
            preludes.assign(&mut second);
            if sample {
                for mut unit in [unit, second.clone()].into_iter().chain(units.next()) {
                    preludes.assign(&mut unit);
                    let files = [seen(&unit.file, false, false), seen("/p/a.h", false, true)];
                    preludes.observe(&unit, &files, |_| true);
                }
                let mut unit = units.next().unwrap();
                preludes.assign(&mut unit);
                assert!(unit.prelude.as_ref().unwrap().instead.is_some());
                preludes.record(&unit, true, true, false);
            }
            second.prelude.is_some()
        };
        assert!((0..MAX_PROJECT_PRELUDES).all(|k| command(k, true)));
        let standard_only: Vec<bool> = (MAX_PROJECT_PRELUDES..=MAX_PRELUDES)
            .map(|k| command(k, false))
            .collect();
        assert_eq!(
            standard_only.iter().filter(|got| **got).count(),
            MAX_PRELUDES - MAX_PROJECT_PRELUDES
        );
        assert_eq!(standard_only.last(), Some(&false));
    }
}
