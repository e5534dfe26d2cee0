//! What matters to the index: which directories watch mode watches, and
//! which of the events in them call for a build.
//!
//! A build reads the compilation database (or walks the project), the
//! units' sources and every header they include; it writes the database,
//! its journal, its lock and the preludes beside it. Only the
//! first kind may start a build: an event on a path beginning with the
//! database's path is the build's own and is never one (so a build can
//! never start the next), and neither is anything under an `.indexer`
//! directory, an editor's swap or backup file, or a file the index does
//! not know (but for a new source in walk mode).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::discover::{self, Source};
use crate::index::watched;

/// The name of the index's own directory, never watched.
const INDEX_DIR: &str = ".indexer";

/// The rules for one source of units (a compilation database, or a walk).
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The project's directory, absolute and normalized.
    pub root: PathBuf,
    /// The database's path as text: it and every path that begins with
    /// it (`-wal`, `-shm`, `.lock`, `.pch/`) are the build's own.
    db: String,
    /// Where a compilation database is or would be found: the one given
    /// with `--compdb`, else the project's two usual places.
    compdbs: Vec<PathBuf>,
    /// Whether the units come from a walk of the project, where a new
    /// source file is a new unit.
    walk: bool,
}

/// What an event on one path means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relevance {
    /// Nothing the index reads (the build's own files, editors' files,
    /// files outside the project the index does not know).
    Ignored,
    /// A file the index does not know now, which a build under way may
    /// find: known once it ends, it matters.
    Unknown,
    /// A file the index knows, a directory holding some, or a new source
    /// file in walk mode.
    File,
    /// A compilation database.
    Compdb,
    /// A new directory to watch: one a walk visits (`walk`: and its
    /// subdirectories), or where a compilation database may appear. It
    /// matters only by what it holds, looked at once it is watched.
    Directory { walk: bool },
}

impl Scope {
    /// The scope of units from `source` (`None`: not known, as when
    /// discovery fails), for the project `root` with its database at `db`
    /// and the `--compdb` given, if any.
    pub fn new(root: &Path, db: &Path, compdb: Option<&Path>, source: Option<&Source>) -> Scope {
        let mut compdbs = discover::compdb_candidates(root, compdb);
        if let Some(Source::CompileCommands(path)) = source {
            if !compdbs.contains(path) {
                compdbs.push(path.clone());
            }
        }
        Scope {
            root: root.to_path_buf(),
            db: db.to_string_lossy().into_owned(),
            compdbs,
            walk: source == Some(&Source::Walk),
        }
    }

    /// What an event on `path` means; `index` answers which files the
    /// index knows (`None` before there is an index).
    pub fn classify(&self, path: &Path, index: Option<&Connection>) -> Relevance {
        let Some(text) = path.to_str() else {
            // The index stores paths as text: it knows no other.
            return Relevance::Ignored;
        };
        if text.starts_with(&self.db) || path.components().any(|part| part.as_os_str() == INDEX_DIR)
        {
            return Relevance::Ignored;
        }
        if self.compdbs.iter().any(|compdb| compdb == path) {
            return Relevance::Compdb;
        }
        // A lookup that fails errs towards a build: it only costs a refresh.
        if let Some(index) = index {
            if watched::is_known(index, text).unwrap_or(true) {
                return Relevance::File;
            }
        }
        let is_dir = || std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if self.walk {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // An ignore file decides which sources the walk finds.
            if name == ".gitignore" || name == ".ignore" {
                if path
                    .parent()
                    .is_some_and(|dir| discover::may_walk(&self.root, dir, true))
                {
                    return Relevance::File;
                }
            } else if discover::is_source(path) {
                if discover::may_walk(&self.root, path, false) {
                    return Relevance::File;
                }
            } else if discover::may_walk(&self.root, path, true) && is_dir() {
                return Relevance::Directory { walk: true };
            }
        }
        if self
            .compdbs
            .iter()
            .any(|compdb| compdb.parent() == Some(path))
            && is_dir()
        {
            return Relevance::Directory { walk: false };
        }
        if is_editor_file(path) {
            return Relevance::Ignored;
        }
        Relevance::Unknown
    }

    /// The directories to watch, given the index (`None` if there is none
    /// yet) and directories known otherwise (`extra`, e.g. those of the
    /// compilation database's units before the first build): those of
    /// every file the index knows (system headers only below the
    /// project), every directory a walk visits in walk mode, and where a
    /// compilation database is or may appear; never the index's own.
    pub fn directories(
        &self,
        index: Option<&Connection>,
        extra: &BTreeSet<PathBuf>,
    ) -> BTreeSet<PathBuf> {
        let root = self.root.to_string_lossy();
        let mut dirs = index
            .and_then(|index| watched::known_directories(index, &root).ok())
            .unwrap_or_default();
        dirs.extend(extra.iter().cloned());
        if self.walk {
            dirs.extend(discover::walked_directories(&self.root, &mut |_| {}));
        }
        dirs.extend(
            self.compdbs
                .iter()
                .filter_map(|compdb| compdb.parent())
                .filter(|dir| dir.is_dir())
                .map(Path::to_path_buf),
        );
        dirs.retain(|dir| {
            !dir.to_string_lossy().starts_with(&self.db)
                && !dir.components().any(|part| part.as_os_str() == INDEX_DIR)
        });
        dirs
    }

    /// The directories a new directory brings: itself, and below it what
    /// a walk would visit when `walk`.
    pub fn new_directories(&self, dir: &Path, walk: bool) -> Vec<PathBuf> {
        if walk {
            discover::walked_directories(dir, &mut |_| {})
        } else {
            vec![dir.to_path_buf()]
        }
    }

    /// What a new directory, now watched, already holds that matters: the
    /// sources a walk finds in it (`walk`), the compilation databases.
    pub fn new_directory_content(&self, dir: &Path, walk: bool, found: &mut dyn FnMut(&Path)) {
        if walk {
            discover::walked_directories(dir, found);
        }
        for compdb in &self.compdbs {
            if compdb.parent() == Some(dir) && compdb.exists() {
                found(compdb);
            }
        }
    }
}

/// Whether `path` looks like an editor's swap, backup or lock file (vim's
/// `.x.swp` and `4913`, emacs' `#x#` and `.#x`, `x~`): never a source.
fn is_editor_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.') || name.starts_with('#') || name.ends_with('~') || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(walk: bool) -> Scope {
        let source = if walk {
            Source::Walk
        } else {
            Source::CompileCommands(PathBuf::from("/elsewhere/build/compile_commands.json"))
        };
        Scope::new(
            Path::new("/p"),
            Path::new("/p/.indexer/index.db"),
            None,
            Some(&source),
        )
    }

    #[test]
    fn the_builds_own_files_never_matter() {
        for walk in [true, false] {
            let scope = scope(walk);
            for path in [
                "/p/.indexer/index.db",
                "/p/.indexer/index.db-wal",
                "/p/.indexer/index.db-shm",
                "/p/.indexer/index.db.lock",
                "/p/.indexer/index.db.pch/c++-1.pch",
                "/p/src/.indexer/x.c",
            ] {
                assert_eq!(
                    scope.classify(Path::new(path), None),
                    Relevance::Ignored,
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn a_database_named_with_db_is_the_builds_own_wherever_it_is() {
        let scope = Scope::new(
            Path::new("/p"),
            Path::new("/p/src/idx.c"),
            None,
            Some(&Source::Walk),
        );
        assert_eq!(
            scope.classify(Path::new("/p/src/idx.c-wal"), None),
            Relevance::Ignored
        );
        assert_eq!(
            scope.classify(Path::new("/p/src/other.c"), None),
            Relevance::File
        );
    }

    #[test]
    fn compilation_databases_matter_in_either_mode() {
        for walk in [true, false] {
            let scope = scope(walk);
            for path in ["/p/compile_commands.json", "/p/build/compile_commands.json"] {
                assert_eq!(
                    scope.classify(Path::new(path), None),
                    Relevance::Compdb,
                    "{path}"
                );
            }
        }
        assert_eq!(
            scope(false).classify(Path::new("/elsewhere/build/compile_commands.json"), None),
            Relevance::Compdb
        );
    }

    #[test]
    fn a_new_source_matters_only_in_walk_mode_and_where_the_walk_goes() {
        let walk = scope(true);
        assert_eq!(
            walk.classify(Path::new("/p/src/new.cpp"), None),
            Relevance::File
        );
        assert_eq!(
            walk.classify(Path::new("/p/.gitignore"), None),
            Relevance::File
        );
        for path in [
            "/p/build/gen.cpp",
            "/p/.git/x.c",
            "/p/src/.hidden.cpp",
            "/p/src/.a.cpp.swp",
            "/p/src/a.cpp~",
            "/p/src/4913",
            "/outside/x.c",
        ] {
            assert_ne!(
                walk.classify(Path::new(path), None),
                Relevance::File,
                "{path}"
            );
        }
        assert_eq!(
            scope(false).classify(Path::new("/p/src/new.cpp"), None),
            Relevance::Unknown
        );
    }

    #[test]
    fn editor_files_are_not_even_unknown() {
        for path in [
            "/p/src/.a.cpp.swp",
            "/p/src/a.cpp~",
            "/p/src/4913",
            "/p/#a.c#",
        ] {
            assert_eq!(
                scope(false).classify(Path::new(path), None),
                Relevance::Ignored,
                "{path}"
            );
        }
    }
}
