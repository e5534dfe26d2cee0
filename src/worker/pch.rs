//! Sharing each precompiled standard library among the workers of a build.
//!
//! The supervisor names the file (see `prelude`); the first worker that
//! needs it builds it, and every worker reuses it. Next to `X.pch` live:
//!
//! - `X.pch.json`: what it was built from ([`Library`]), written before
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

/// What a precompiled standard library was built from.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Library {
    /// The headers it read, which every unit using it read too.
    pub files: Vec<SeenFile>,
    /// The macros those headers test (see `directives`): a unit whose own
    /// files define one is parsed without the precompiled header.
    pub tested_macros: FxHashSet<String>,
}

/// What this worker knows of the build's precompiled headers.
#[derive(Default)]
pub(crate) struct Preludes {
    /// By `.pch` path: what it was built from, or `None` if it cannot be
    /// used. Headers being built by another worker are not recorded.
    known: FxHashMap<String, Option<Arc<Library>>>,
}

impl Preludes {
    /// What `prelude` was built from once it is ready to use, building it
    /// with `build` (which writes the header to the path it is given) if no
    /// worker has.
    pub(crate) fn get(
        &mut self,
        prelude: &Prelude,
        build: impl FnOnce(&Path) -> Result<Library, String>,
    ) -> Option<Arc<Library>> {
        if let Some(known) = self.known.get(&prelude.pch) {
            return known.clone();
        }
        let state = find(&prelude.pch).or_else(|| try_build(&prelude.pch, build))?;
        self.known.insert(prelude.pch.clone(), state.clone());
        state
    }
}

impl Preludes {
    /// Marks a header libclang failed to load as unusable for this worker.
    pub(crate) fn reject(&mut self, pch: &str) {
        self.known.insert(pch.to_owned(), None);
    }
}

fn sibling(pch: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{pch}{suffix}"))
}

/// The state another worker left: `Some(Some(library))` ready,
/// `Some(None)` failed, `None` not there (yet).
fn find(pch: &str) -> Option<Option<Arc<Library>>> {
    if Path::new(pch).exists() {
        let library = fs::read(sibling(pch, ".json"))
            .ok()
            .and_then(|json| serde_json::from_slice::<Library>(&json).ok());
        return Some(library.map(Arc::new));
    }
    sibling(pch, ".failed").exists().then_some(None)
}

/// Builds the header unless another worker is doing so (`None`).
fn try_build(
    pch: &str,
    build: impl FnOnce(&Path) -> Result<Library, String>,
) -> Option<Option<Arc<Library>>> {
    let lock = sibling(pch, ".lock");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .ok()?;
    let partial = sibling(pch, &format!(".{}", std::process::id()));
    let built = build(&partial).and_then(|library| {
        let json = serde_json::to_vec(&library).map_err(|e| e.to_string())?;
        fs::write(sibling(pch, ".json"), json)
            .and_then(|()| fs::rename(&partial, pch))
            .map_err(|e| format!("writing {pch}: {e}"))?;
        Ok(library)
    });
    let state = match built {
        Ok(library) => Some(Arc::new(library)),
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
        }
    }

    fn library() -> Library {
        Library {
            files: vec![SeenFile {
                path: "/usr/include/c++/12/string".into(),
                hash: 1,
                size: 2,
                mtime_ns: 3,
                system: true,
            }],
            tested_macros: ["_GLIBCXX_DEBUG".to_owned()].into_iter().collect(),
        }
    }

    #[test]
    fn built_once_then_shared_by_other_workers() {
        let dir = tempfile::tempdir().unwrap();
        let prelude = prelude(dir.path());
        let mut builder = Preludes::default();
        let built = builder.get(&prelude, |out| {
            fs::write(out, "pch").unwrap();
            Ok(library())
        });
        assert_eq!(built.as_deref(), Some(&library()));
        assert_eq!(fs::read_to_string(&prelude.pch).unwrap(), "pch");
        assert!(!sibling(&prelude.pch, ".lock").exists());

        let mut other = Preludes::default();
        let shared = other.get(&prelude, |_| panic!("built twice"));
        assert_eq!(shared.as_deref(), Some(&library()));
    }

    #[test]
    fn a_failed_build_is_not_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let prelude = prelude(dir.path());
        let mut builder = Preludes::default();
        assert!(builder
            .get(&prelude, |_| Err("no <string>".into()))
            .is_none());
        assert_eq!(
            fs::read_to_string(sibling(&prelude.pch, ".failed")).unwrap(),
            "no <string>"
        );
        assert!(!Path::new(&prelude.pch).exists());
        let mut other = Preludes::default();
        assert!(other.get(&prelude, |_| panic!("built again")).is_none());
    }

    #[test]
    fn one_being_built_elsewhere_is_not_waited_for_and_used_once_ready() {
        let dir = tempfile::tempdir().unwrap();
        let prelude = prelude(dir.path());
        fs::write(sibling(&prelude.pch, ".lock"), "").unwrap();
        let mut worker = Preludes::default();
        assert!(worker
            .get(&prelude, |_| panic!("built while locked"))
            .is_none());

        fs::write(
            sibling(&prelude.pch, ".json"),
            serde_json::to_vec(&library()).unwrap(),
        )
        .unwrap();
        fs::write(&prelude.pch, "pch").unwrap();
        assert_eq!(
            worker.get(&prelude, |_| panic!("built")).as_deref(),
            Some(&library())
        );
    }
}
