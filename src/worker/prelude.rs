//! Sharing each prelude among the workers of a build.
//!
//! The supervisor names its file (see `crate::prelude`); the first worker
//! that needs it builds it, and every worker reuses it. Next to `X.pch`
//! (the prelude as clang's precompiled header) live:
//!
//! - `X.pch.json`: what it was built from ([`PreludeContents`]), written before
//!   `X.pch` appears, so a worker that sees `X.pch` can always read it;
//! - `X.pch.lock`: created exclusively by the worker building it; the
//!   others parse without it meanwhile rather than wait;
//! - `X.pch.failed`: why it could not be built; nobody tries again.
//!
//! `X.pch` is written under another name and renamed, so no worker ever
//! reads half of one.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::protocol::{Prelude, SeenFile};

/// What a prelude was built from.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PreludeContents {
    /// The headers it read, each once.
    pub files: Vec<SeenFile>,
    /// The macros those headers test (see `directives`), each with the
    /// headers (indices into `files`) that test it, but for the headers
    /// the command includes (`-include`), which precede the unit's code
    /// either way: a unit whose own files define one before they would
    /// have included such a header is parsed without the prelude.
    pub tested_macros: FxHashMap<String, Vec<u32>>,
    /// The macros it defined at some point, the compiler's and the command
    /// line's included (see `directives::changes`).
    pub defined_macros: FxHashSet<String>,
    /// One entry each time the build entered a header, in that order: a
    /// header without include guard (`stddef.h`) is entered again, and
    /// includes other headers depending on where.
    pub entries: Vec<Entry>,
    /// Every `#include` directive among `files` that the build evaluated,
    /// `(including, included)` as indices into `files`, each file's in the
    /// order of its text; also those whose header was already read (include
    /// guards), since a unit that includes the first reads the second
    /// whether or not the prelude read it earlier.
    pub includes: Vec<(u32, u32)>,
    /// Pairs `(changer, tester)` of its project headers whose order matters:
    /// the first leaves changed a macro the second tests without reading the
    /// first or changing the macro itself first (see `worker::clang`'s
    /// `order_dependence`). The prelude read them in one order; a unit that
    /// would read them in the other as written is parsed as written
    /// ([`Self::read_out_of_order`]).
    pub ordered: Vec<(u32, u32)>,
    /// The include directories of the command it was built for
    /// (`crate::prelude::search_dirs`).
    pub search_dirs: Vec<String>,
}

/// A header entered: `file` indexes [`PreludeContents::files`], `parent`
/// [`PreludeContents::entries`] (`None` for a header the prelude's header or
/// the command line included).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub file: u32,
    pub parent: Option<u32>,
    /// Included by the command (`-include config.h`), which every unit of
    /// the command reads; libclang does not report it to a unit that reads
    /// it through the prelude.
    pub command_line: bool,
}

impl PreludeContents {
    /// Whether a unit with arguments `args` reads through the prelude the
    /// files it would read as written, though it may have been built for
    /// another command (see `crate::prelude::library_key`), with other
    /// include directories. They are searched before the system ones: with
    /// the same directories, yes; else only if the prelude read no project
    /// file (none of its builder's directories held a header the standard
    /// library includes) and none of the unit's other directories holds a
    /// file by a name the prelude's headers might be included by (the last
    /// one to three components of its path: `string.h`, `bits/types.h`,
    /// `bits/types/FILE.h`), which would come first. A stat per name and
    /// directory, on the side of parsing as written. `dirs`: the unit's
    /// (`crate::prelude::search_dirs`).
    pub(crate) fn searched_alike(&self, dirs: &[&str]) -> bool {
        if dirs == self.search_dirs {
            return true;
        }
        let others: Vec<&Path> = dirs
            .iter()
            .filter(|dir| !self.search_dirs.iter().any(|mine| mine == *dir))
            .map(Path::new)
            .collect();
        self.files.iter().all(|file| {
            let components: Vec<_> = Path::new(&file.path).components().collect();
            file.system
                && (1..=3.min(components.len())).all(|n| {
                    let name: PathBuf = components[components.len() - n..].iter().collect();
                    !others.iter().any(|dir| dir.join(&name).is_file())
                })
        })
    }

    /// The headers a unit that read `seen` with the prelude would
    /// have read as written, and not already in `seen`: those the prelude
    /// read from the headers the unit's own files include
    /// (whose `#include` lines the unit's parse reports even though their
    /// guard made them no-ops). A unit that includes `<vector>` depends on
    /// `<vector>`'s headers, not on `<regex>`'s.
    ///
    /// A header entered once (it has a guard) reads the same headers
    /// wherever it is included: its entry's and all its directives'.
    /// A header entered several times is followed from each of its entries
    /// the unit reaches and from its first (for a header the unit includes
    /// itself, which it enters again but for what a partial guard skips),
    /// and through all its directives to guarded headers: which entry
    /// evaluated which directive is not known,
    /// so a header that includes another only in some contexts
    /// (`stddef.h` and `__stddef_max_align_t.h`) may add one the unit
    /// would not read. The error is on the side of a unit re-indexed for
    /// nothing, never of a stale one.
    pub(crate) fn read_through(&self, seen: &[SeenFile]) -> Vec<SeenFile> {
        let graph = Graph::new(self);
        let known: FxHashSet<&str> = seen.iter().map(|f| f.path.as_str()).collect();
        let mut reached: Vec<bool> = self
            .files
            .iter()
            .map(|f| known.contains(f.path.as_str()))
            .collect();
        // A header the unit includes is followed from the prelude's first
        // entry of it: one without a full guard (`<cstdlib>`) the unit
        // enters again, but the part its guard macro skips, which the
        // prelude defined, it read as written.
        let mut start: Vec<u32> = (0..self.files.len() as u32)
            .filter(|&f| reached[f as usize])
            .filter_map(|f| graph.entry_of[f as usize])
            .collect();
        let mut read = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.command_line {
                if !std::mem::replace(&mut reached[entry.file as usize], true) {
                    read.push(self.files[entry.file as usize].clone());
                }
                start.push(i as u32);
            }
        }
        let mut visited = vec![false; self.entries.len()];
        graph.walk(start, &mut visited, |file| {
            if !std::mem::replace(&mut reached[file as usize], true) {
                read.push(self.files[file as usize].clone());
            }
        });
        read
    }

    /// Where a unit would first have read each of the prelude's files as
    /// written, given `(file, position)` for the prelude's files the unit
    /// itself includes, at that position in its order of files: the
    /// least position from which the file is reached (see
    /// [`Self::read_through`]); `None` for the files it does not read.
    pub(crate) fn first_reach(&self, mut includes: Vec<(u32, u32)>) -> Vec<Option<u32>> {
        let graph = Graph::new(self);
        includes.sort_unstable_by_key(|&(_, position)| position);
        let mut reach = vec![None; self.files.len()];
        let mut visited = vec![false; self.entries.len()];
        for (file, position) in includes {
            reach[file as usize].get_or_insert(position);
            let start = graph.entry_of[file as usize];
            graph.walk(start, &mut visited, |file| {
                reach[file as usize].get_or_insert(position);
            });
        }
        reach
    }
}

impl PreludeContents {
    /// Whether a unit that includes the prelude's files `includes`, as
    /// `(file, position)` in its order of files (see [`Self::first_reach`]),
    /// would have read a pair of [`Self::ordered`] in the other order than
    /// the prelude as written: a tester before its changer where the prelude
    /// read the changer first, or the reverse. A tester the unit does not
    /// read does not matter; one it reads without the changer counts as
    /// read before it.
    ///
    /// libgit2's `util/thread.h` tests `GIT_THREADS` without including
    /// `git2/sys/features.h`, which defines it: every unit reads the second
    /// first, through its common header, and may use a prelude holding both.
    pub(crate) fn read_out_of_order(&self, includes: &[(u32, u32)]) -> bool {
        if self.ordered.is_empty() {
            return false;
        }
        let graph = Graph::new(self);
        let order = graph.read_order(includes);
        self.ordered.iter().any(|&(changer, tester)| {
            let Some(tested_at) = order[tester as usize] else {
                return false;
            };
            let changer_first = order[changer as usize].is_some_and(|at| at < tested_at);
            changer_first != (graph.entry_of[changer as usize] < graph.entry_of[tester as usize])
        })
    }

    /// The files each file reads, from its first entry (see
    /// [`Self::read_through`]), with the inclusion graph built once.
    pub(crate) fn read_by(&self) -> impl Fn(u32) -> FxHashSet<u32> + '_ {
        let graph = Graph::new(self);
        move |file| {
            let mut read = FxHashSet::default();
            let mut visited = vec![false; self.entries.len()];
            graph.walk(graph.entry_of[file as usize], &mut visited, |f| {
                read.insert(f);
            });
            read
        }
    }

    /// The files the command's own `-include`s read, themselves included.
    pub(crate) fn read_by_command(&self) -> FxHashSet<u32> {
        let graph = Graph::new(self);
        let mut read = FxHashSet::default();
        let mut visited = vec![false; self.entries.len()];
        let start: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&i| self.entries[i as usize].command_line)
            .inspect(|&i| {
                read.insert(self.entries[i as usize].file);
            })
            .collect();
        graph.walk(start, &mut visited, |f| {
            read.insert(f);
        });
        read
    }
}

/// The inclusion graph of a prelude, for walks from the headers a unit
/// includes.
struct Graph {
    /// The file of each entry.
    entry_file: Vec<u32>,
    /// The first entry of each file.
    entry_of: Vec<Option<u32>>,
    /// How many times each file was entered.
    entered: Vec<u32>,
    /// The entries each entry led to.
    children: Vec<Vec<u32>>,
    /// The files each file's `#include` directives name, in the order of
    /// its text.
    directives: Vec<Vec<u32>>,
}

impl Graph {
    fn new(contents: &PreludeContents) -> Graph {
        let files = contents.files.len();
        let mut entry_of: Vec<Option<u32>> = vec![None; files];
        let mut entered = vec![0u32; files];
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); contents.entries.len()];
        for (i, entry) in contents.entries.iter().enumerate() {
            entered[entry.file as usize] += 1;
            entry_of[entry.file as usize].get_or_insert(i as u32);
            if let Some(parent) = entry.parent {
                children[parent as usize].push(i as u32);
            }
        }
        let mut directives: Vec<Vec<u32>> = vec![Vec::new(); files];
        for &(from, to) in &contents.includes {
            directives[from as usize].push(to);
        }
        Graph {
            entry_file: contents.entries.iter().map(|entry| entry.file).collect(),
            entry_of,
            entered,
            children,
            directives,
        }
    }

    /// The order in which a unit that includes `includes` (as in
    /// [`PreludeContents::read_out_of_order`]) first reads each file as
    /// written: each include in the unit's order, and depth first through
    /// the directives of each file read, in the order of its text; a file
    /// already read is not followed again (its guard). For a file entered
    /// several times, its directives of all entries are followed, in the
    /// order the prelude met them.
    fn read_order(&self, includes: &[(u32, u32)]) -> Vec<Option<u32>> {
        let mut includes = includes.to_vec();
        includes.sort_by_key(|&(_, position)| position);
        let mut order = vec![None; self.directives.len()];
        let mut next = 0;
        let mut stack = Vec::new();
        for (file, _) in includes {
            stack.push(file);
            while let Some(file) = stack.pop() {
                if order[file as usize].is_some() {
                    continue;
                }
                order[file as usize] = Some(next);
                next += 1;
                stack.extend(self.directives[file as usize].iter().rev());
            }
        }
        order
    }

    /// Visits every file read from the entries `start`: the entries they
    /// led to, and the files their directives name (followed from their
    /// entry if they were entered once: a guarded header reads the same
    /// wherever it is included). `visited` marks the entries already
    /// walked, across walks.
    fn walk(
        &self,
        start: impl IntoIterator<Item = u32>,
        visited: &mut [bool],
        mut read: impl FnMut(u32),
    ) {
        let single_entry = |file: u32| {
            (self.entered[file as usize] == 1)
                .then_some(self.entry_of[file as usize])
                .flatten()
        };
        let mut next: Vec<u32> = start.into_iter().collect();
        while let Some(entry) = next.pop() {
            if std::mem::replace(&mut visited[entry as usize], true) {
                continue;
            }
            let file = self.entry_file[entry as usize];
            for &child in &self.children[entry as usize] {
                read(self.entry_file[child as usize]);
                next.push(child);
            }
            for &to in &self.directives[file as usize] {
                read(to);
                next.extend(single_entry(to));
            }
        }
    }
}

/// What this worker knows of the build's preludes.
#[derive(Default)]
pub(crate) struct KnownPreludes {
    /// By `.pch` path: what it was built from, or `None` if it cannot be
    /// used. Preludes being built by another worker are not recorded.
    known: FxHashMap<String, Option<Arc<PreludeContents>>>,
    /// [`PreludeContents::searched_alike`]'s answers, by xxh3 of the
    /// `.pch` path and the include directories asked about.
    alike: FxHashMap<u64, bool>,
}

impl KnownPreludes {
    /// What `prelude` was built from once it is ready to use, building it
    /// with `build` (which writes the header to the path it is given) if no
    /// worker has.
    pub(crate) fn get(
        &mut self,
        prelude: &Prelude,
        build: impl FnOnce(&Path) -> Result<PreludeContents, String>,
    ) -> Option<Arc<PreludeContents>> {
        if let Some(known) = self.known.get(&prelude.pch) {
            return known.clone();
        }
        let state = find(&prelude.pch).or_else(|| try_build(&prelude.pch, build))?;
        self.known.insert(prelude.pch.clone(), state.clone());
        state
    }
}

impl KnownPreludes {
    /// [`PreludeContents::searched_alike`] for the prelude at `pch`,
    /// remembered for the include directories of `args`.
    pub(crate) fn searched_alike(
        &mut self,
        pch: &str,
        contents: &PreludeContents,
        args: &[String],
    ) -> bool {
        let dirs = crate::prelude::search_dirs(args);
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(pch.as_bytes());
        for dir in &dirs {
            hasher.update(&[0]);
            hasher.update(dir.as_bytes());
        }
        *self
            .alike
            .entry(hasher.digest())
            .or_insert_with(|| contents.searched_alike(&dirs))
    }

    /// Marks a prelude libclang failed to load as unusable for this worker.
    pub(crate) fn reject(&mut self, pch: &str) {
        self.known.insert(pch.to_owned(), None);
    }
}

fn sibling(pch: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{pch}{suffix}"))
}

/// The state another worker left: `Some(Some(contents))` ready,
/// `Some(None)` failed, `None` not there (yet).
fn find(pch: &str) -> Option<Option<Arc<PreludeContents>>> {
    if Path::new(pch).exists() {
        let contents = fs::read(sibling(pch, ".json"))
            .ok()
            .and_then(|json| serde_json::from_slice::<PreludeContents>(&json).ok());
        return Some(contents.map(Arc::new));
    }
    sibling(pch, ".failed").exists().then_some(None)
}

/// Builds the header unless another worker is doing so (`None`).
fn try_build(
    pch: &str,
    build: impl FnOnce(&Path) -> Result<PreludeContents, String>,
) -> Option<Option<Arc<PreludeContents>>> {
    let lock = sibling(pch, ".lock");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .ok()?;
    let partial = sibling(pch, &format!(".{}", std::process::id()));
    let built = build(&partial).and_then(|contents| {
        let json = serde_json::to_vec(&contents).map_err(|e| e.to_string())?;
        fs::write(sibling(pch, ".json"), json)
            .and_then(|()| fs::rename(&partial, pch))
            .map_err(|e| format!("writing {pch}: {e}"))?;
        Ok(contents)
    });
    let state = match built {
        Ok(contents) => Some(Arc::new(contents)),
        Err(reason) => {
            let _ = fs::remove_file(&partial);
            let _ = fs::write(sibling(pch, ".failed"), reason);
            None
        }
    };
    let _ = fs::remove_file(&lock);
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prelude(dir: &Path) -> Prelude {
        Prelude {
            header: dir.join("prelude.hpp").to_string_lossy().into_owned(),
            pch: dir.join("1.pch").to_string_lossy().into_owned(),
            language: crate::protocol::Language::Cxx,
            instead: None,
        }
    }

    fn contents() -> PreludeContents {
        PreludeContents {
            files: vec![SeenFile {
                path: "/usr/include/c++/12/string".into(),
                hash: 1,
                size: 2,
                mtime_ns: 3,
                system: true,
                guarded: true,
                from_project: false,
            }],
            tested_macros: [("_GLIBCXX_DEBUG".to_owned(), vec![0])]
                .into_iter()
                .collect(),
            defined_macros: FxHashSet::default(),
            entries: vec![Entry {
                file: 0,
                parent: None,
                command_line: false,
            }],
            includes: Vec::new(),
            ordered: Vec::new(),
            search_dirs: Vec::new(),
        }
    }

    /// A header entered from `parent`'s entry, not by the command line.
    fn entry(file: u32, parent: Option<u32>) -> Entry {
        Entry {
            file,
            parent,
            command_line: false,
        }
    }

    fn header(path: &str) -> SeenFile {
        SeenFile {
            path: path.into(),
            hash: 0,
            size: 0,
            mtime_ns: 0,
            system: true,
            guarded: true,
            from_project: false,
        }
    }

    /// Issue 15: a standard prelude built for one command serves another
    /// with other include directories only if none of those holds a file by
    /// a name the prelude's headers may have been included by, and the
    /// prelude read no project file.
    #[test]
    fn a_prelude_serves_other_include_directories_unless_they_hold_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        for sub in ["plain", "shadows/bits", "near"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("plain/util.h"), "").unwrap();
        fs::write(dir.path().join("shadows/bits/types.h"), "").unwrap();
        // A directory by a header's name is no header.
        fs::create_dir_all(dir.path().join("near/string")).unwrap();
        let mut contents = contents();
        contents
            .files
            .push(header("/usr/include/x86_64-linux-gnu/bits/types.h"));
        contents.search_dirs = vec![format!("{root}/plain")];
        let dirs =
            |dirs: &[&str]| -> Vec<String> { dirs.iter().map(|d| format!("{root}/{d}")).collect() };
        let alike = |contents: &PreludeContents, names: &[&str]| {
            let dirs = dirs(names);
            contents.searched_alike(&dirs.iter().map(String::as_str).collect::<Vec<_>>())
        };
        assert!(alike(&contents, &["plain"]));
        assert!(alike(&contents, &[]));
        assert!(alike(&contents, &["near", "plain"]));
        assert!(!alike(&contents, &["plain", "shadows"]));
        fs::write(dir.path().join("near/types.h"), "").unwrap();
        assert!(!alike(&contents, &["near"]));
        // A project file in the prelude: only its own directories.
        contents.files.push(SeenFile {
            system: false,
            ..header(&format!("{root}/plain/util.h"))
        });
        assert!(alike(&contents, &["plain"]));
        assert!(!alike(&contents, &["plain", "empty"]));
    }

    #[test]
    fn a_unit_reads_through_the_prelude_what_its_includes_reach() {
        let names = [
            "vector",
            "bits/vector.h",
            "bits/alloc.h",
            "regex",
            "bits/regex.h",
            "config.h",
            "stddef.h",
            "max_align.h",
        ];
        let contents = PreludeContents {
            files: names.iter().map(|n| header(n)).collect(),
            tested_macros: FxHashMap::default(),
            defined_macros: FxHashSet::default(),
            // vector → vector.h → alloc.h → config.h, stddef.h (without
            // max_align.h); regex → regex.h → stddef.h → max_align.h.
            entries: vec![
                entry(0, None),
                entry(1, Some(0)),
                entry(2, Some(1)),
                entry(5, Some(2)),
                entry(6, Some(2)),
                entry(3, None),
                entry(4, Some(5)),
                entry(6, Some(6)),
                entry(7, Some(7)),
            ],
            // regex.h also includes alloc.h and vector.h, already read.
            includes: vec![
                (0, 1),
                (1, 2),
                (2, 5),
                (2, 6),
                (3, 4),
                (4, 2),
                (4, 1),
                (4, 6),
                (6, 7),
            ],
            ordered: Vec::new(),
            search_dirs: Vec::new(),
        };
        let paths = |files: Vec<SeenFile>| {
            let mut paths: Vec<String> = files.into_iter().map(|f| f.path).collect();
            paths.sort();
            paths
        };
        // Which of stddef.h's entries included max_align.h is not known:
        // it is listed, the one header too many.
        let unit = [header("/p/main.cpp"), header("vector")];
        assert_eq!(
            paths(contents.read_through(&unit)),
            [
                "bits/alloc.h",
                "bits/vector.h",
                "config.h",
                "max_align.h",
                "stddef.h"
            ]
        );
        // A header the unit read itself is not listed twice.
        let unit = [header("/p/main.cpp"), header("regex"), header("config.h")];
        assert_eq!(
            paths(contents.read_through(&unit)),
            [
                "bits/alloc.h",
                "bits/regex.h",
                "bits/vector.h",
                "max_align.h",
                "stddef.h"
            ]
        );
        // A header without guard that the unit includes itself is followed
        // through all its directives too (a partial guard, as `<cstdlib>`'s,
        // hides some from the unit's own parse).
        let unit = [header("/p/main.c"), header("stddef.h")];
        assert_eq!(paths(contents.read_through(&unit)), ["max_align.h"]);

        // Where a unit reads each header first: `vector` included at the
        // unit's position 5, `regex` at 2, which reads `bits/vector.h`
        // (and all but `vector`) before.
        let reach = contents.first_reach(vec![(0, 5), (3, 2)]);
        assert_eq!(reach, [5, 2, 2, 2, 2, 2, 2, 2].map(Some), "{names:?}");
        // Only `vector`: `regex` and `bits/regex.h` are not read.
        let reach = contents.first_reach(vec![(0, 1)]);
        assert_eq!(
            reach,
            [
                Some(1),
                Some(1),
                Some(1),
                None,
                None,
                Some(1),
                Some(1),
                Some(1)
            ]
        );
    }

    #[test]
    fn a_unit_reading_order_dependent_headers_in_another_order_is_out_of_order() {
        // common.h includes features.h (which defines a macro) and then
        // thread.h (which tests it); other.h includes thread.h alone.
        let mut contents = PreludeContents {
            files: ["common.h", "features.h", "thread.h", "other.h"]
                .map(header)
                .into(),
            tested_macros: FxHashMap::default(),
            defined_macros: FxHashSet::default(),
            entries: vec![
                entry(0, None),
                entry(1, Some(0)),
                entry(2, Some(0)),
                entry(3, None),
            ],
            includes: vec![(0, 1), (0, 2), (3, 2)],
            ordered: vec![(1, 2)],
            search_dirs: Vec::new(),
        };
        // The prelude's order: through common.h, or common.h first.
        assert!(!contents.read_out_of_order(&[(0, 1)]));
        assert!(!contents.read_out_of_order(&[(3, 4), (0, 2)]));
        // thread.h read first through other.h, or without features.h.
        assert!(contents.read_out_of_order(&[(3, 1), (0, 2)]));
        assert!(contents.read_out_of_order(&[(3, 1)]));
        assert!(contents.read_out_of_order(&[(2, 1), (1, 2)]));
        // The tester not read at all.
        assert!(!contents.read_out_of_order(&[(1, 1)]));

        // A prelude that read thread.h first (other.h first): a unit that
        // reads features.h before it is out of order, one that never reads
        // features.h, or after, is not.
        contents.entries = vec![
            entry(3, None),
            entry(2, Some(0)),
            entry(0, None),
            entry(1, Some(2)),
        ];
        assert!(contents.read_out_of_order(&[(0, 1)]));
        assert!(!contents.read_out_of_order(&[(3, 1)]));
        assert!(!contents.read_out_of_order(&[(3, 1), (0, 2)]));
        // No pairs: nothing is out of order.
        contents.ordered.clear();
        assert!(!contents.read_out_of_order(&[(0, 1)]));
    }

    #[test]
    fn built_once_then_shared_by_other_workers() {
        let dir = tempfile::tempdir().unwrap();
        let prelude = prelude(dir.path());
        let mut builder = KnownPreludes::default();
        let built = builder.get(&prelude, |out| {
            fs::write(out, "pch").unwrap();
            Ok(contents())
        });
        assert_eq!(built.as_deref(), Some(&contents()));
        assert_eq!(fs::read_to_string(&prelude.pch).unwrap(), "pch");
        assert!(!sibling(&prelude.pch, ".lock").exists());

        let mut other = KnownPreludes::default();
        let shared = other.get(&prelude, |_| panic!("built twice"));
        assert_eq!(shared.as_deref(), Some(&contents()));
    }

    #[test]
    fn a_failed_build_is_not_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let prelude = prelude(dir.path());
        let mut builder = KnownPreludes::default();
        assert!(builder
            .get(&prelude, |_| Err("no <string>".into()))
            .is_none());
        assert_eq!(
            fs::read_to_string(sibling(&prelude.pch, ".failed")).unwrap(),
            "no <string>"
        );
        assert!(!Path::new(&prelude.pch).exists());
        let mut other = KnownPreludes::default();
        assert!(other.get(&prelude, |_| panic!("built again")).is_none());
    }

    #[test]
    fn one_being_built_elsewhere_is_not_waited_for_and_used_once_ready() {
        let dir = tempfile::tempdir().unwrap();
        let prelude = prelude(dir.path());
        fs::write(sibling(&prelude.pch, ".lock"), "").unwrap();
        let mut worker = KnownPreludes::default();
        assert!(worker
            .get(&prelude, |_| panic!("built while locked"))
            .is_none());

        fs::write(
            sibling(&prelude.pch, ".json"),
            serde_json::to_vec(&contents()).unwrap(),
        )
        .unwrap();
        fs::write(&prelude.pch, "pch").unwrap();
        assert_eq!(
            worker.get(&prelude, |_| panic!("built")).as_deref(),
            Some(&contents())
        );
    }
}
