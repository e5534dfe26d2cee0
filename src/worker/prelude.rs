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
    /// The macros those headers test (see `directives`), but for the
    /// headers the command includes (`-include`), which precede the unit's
    /// code either way: a unit whose own files define one is parsed
    /// without the prelude.
    pub tested_macros: FxHashSet<String>,
    /// The macros defined at its end, the compiler's and the command
    /// line's included (see `directives::first_defined`).
    pub defined_macros: FxHashSet<String>,
    /// One entry each time the build entered a header, in that order: a
    /// header without include guard (`stddef.h`) is entered again, and
    /// includes other headers depending on where.
    pub entries: Vec<Entry>,
    /// Every `#include` directive among `files` that the build evaluated,
    /// `(including, included)` as indices into `files`; also those whose
    /// header was already read (include guards), since a unit that
    /// includes the first reads the second whether or not the prelude
    /// read it earlier.
    pub includes: Vec<(u32, u32)>,
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
    /// The standard headers a unit that read `seen` with the prelude would
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
        let files = self.files.len();
        let mut entry_of: Vec<Option<u32>> = vec![None; files];
        let mut entered = vec![0u32; files];
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); self.entries.len()];
        for (i, entry) in self.entries.iter().enumerate() {
            entered[entry.file as usize] += 1;
            entry_of[entry.file as usize].get_or_insert(i as u32);
            if let Some(parent) = entry.parent {
                children[parent as usize].push(i as u32);
            }
        }
        let mut directives: Vec<Vec<u32>> = vec![Vec::new(); files];
        for &(from, to) in &self.includes {
            directives[from as usize].push(to);
        }
        // Entered once: the entry says what it reads wherever it is included.
        let single_entry = |file: u32| {
            (entered[file as usize] == 1)
                .then_some(entry_of[file as usize])
                .flatten()
        };

        let known: FxHashSet<&str> = seen.iter().map(|f| f.path.as_str()).collect();
        let mut reached: Vec<bool> = self
            .files
            .iter()
            .map(|f| known.contains(f.path.as_str()))
            .collect();
        let mut visited = vec![false; self.entries.len()];
        // A header the unit includes is followed from the prelude's first
        // entry of it: one without a full guard (`<cstdlib>`) the unit
        // enters again, but the part its guard macro skips, which the
        // prelude defined, it read as written.
        let mut next: Vec<u32> = (0..files as u32)
            .filter(|&f| reached[f as usize])
            .filter_map(|f| entry_of[f as usize])
            .collect();
        let mut read = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.command_line {
                if !std::mem::replace(&mut reached[entry.file as usize], true) {
                    read.push(self.files[entry.file as usize].clone());
                }
                next.push(i as u32);
            }
        }
        while let Some(entry) = next.pop() {
            if std::mem::replace(&mut visited[entry as usize], true) {
                continue;
            }
            let file = self.entries[entry as usize].file;
            let targets = children[entry as usize]
                .iter()
                .map(|&child| (self.entries[child as usize].file, Some(child)))
                .chain(
                    directives[file as usize]
                        .iter()
                        .map(|&to| (to, single_entry(to))),
                );
            for (to, to_entry) in targets {
                if !std::mem::replace(&mut reached[to as usize], true) {
                    read.push(self.files[to as usize].clone());
                }
                next.extend(to_entry);
            }
        }
        read
    }
}

/// What this worker knows of the build's preludes.
#[derive(Default)]
pub(crate) struct KnownPreludes {
    /// By `.pch` path: what it was built from, or `None` if it cannot be
    /// used. Preludes being built by another worker are not recorded.
    known: FxHashMap<String, Option<Arc<PreludeContents>>>,
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
            }],
            tested_macros: ["_GLIBCXX_DEBUG".to_owned()].into_iter().collect(),
            defined_macros: FxHashSet::default(),
            entries: vec![Entry {
                file: 0,
                parent: None,
                command_line: false,
            }],
            includes: Vec::new(),
        }
    }

    fn header(path: &str) -> SeenFile {
        SeenFile {
            path: path.into(),
            hash: 0,
            size: 0,
            mtime_ns: 0,
            system: true,
        }
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
        let entry = |file, parent| Entry {
            file,
            parent,
            command_line: false,
        };
        let contents = PreludeContents {
            files: names.iter().map(|n| header(n)).collect(),
            tested_macros: FxHashSet::default(),
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
