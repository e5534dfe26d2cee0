//! Finds libclang and its builtin headers, without loading either.
//!
//! The supervisor never loads libclang (its memory must stay small and a
//! libclang crash must never take it down); it only finds the exact library
//! file and the resource directory once and hands both to every worker. The
//! resource directory is passed explicitly because libclang derives it from
//! the path it was loaded from, and a distribution's `libclang.so` symlink
//! in another directory makes `<stddef.h>` vanish.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub(crate) struct Toolchain {
    /// The libclang shared library the workers load.
    pub library: PathBuf,
    /// Holds `include/stddef.h` and the other builtin headers.
    pub resource_dir: PathBuf,
}

impl Toolchain {
    /// Identifies the library in the index, so that another libclang makes
    /// every unit dirty.
    pub(crate) fn identity(&self) -> String {
        std::fs::canonicalize(&self.library)
            .unwrap_or_else(|_| self.library.clone())
            .display()
            .to_string()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    #[error("LIBCLANG_PATH is set to {0}, which holds no libclang shared library: point it at libclang.so or its directory")]
    BadLibclangPath(PathBuf),
    #[error(
        "libclang was not found: install it (`apt-get install libclang-dev` on Debian/Ubuntu), \
         or set LIBCLANG_PATH to the libclang shared library"
    )]
    NoLibclang,
    #[error(
        "libclang's builtin headers (stddef.h) were not found next to {library}: install them \
         (`apt-get install libclang-common-14-dev` or the package matching your libclang), or set \
         INDEXER_RESOURCE_DIR to the directory holding include/stddef.h"
    )]
    NoBuiltinHeaders { library: PathBuf },
}

/// Locates libclang: `LIBCLANG_PATH` (a file or a directory) first, then
/// Debian/Ubuntu's `/usr/lib/llvm-N/lib`, newest first, then the directory
/// `llvm-config` names, then the usual library directories. `llvm-config`
/// is only run when the first places hold nothing: starting it costs about
/// 20 ms, a fifth of what a one-file refresh may add to the parse.
pub(crate) fn locate() -> Result<Toolchain, ToolchainError> {
    let library = match std::env::var_os("LIBCLANG_PATH") {
        Some(path) => {
            let path = PathBuf::from(path);
            find_library(&path).ok_or(ToolchainError::BadLibclangPath(path))?
        }
        None => versioned_llvm_dirs()
            .into_iter()
            .chain(std::iter::once_with(llvm_config_libdir).flatten())
            .chain(GENERIC_LIB_DIRS.iter().map(PathBuf::from))
            .find_map(|dir| find_library(&dir))
            .ok_or(ToolchainError::NoLibclang)?,
    };
    let resource_dir = match std::env::var_os("INDEXER_RESOURCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => resource_dir_of(&library).ok_or_else(|| ToolchainError::NoBuiltinHeaders {
            library: library.clone(),
        })?,
    };
    if !resource_dir.join("include/stddef.h").is_file() {
        return Err(ToolchainError::NoBuiltinHeaders { library });
    }
    Ok(Toolchain {
        library,
        resource_dir,
    })
}

const GENERIC_LIB_DIRS: [&str; 5] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
];

/// `llvm-config --libdir`, if there is an `llvm-config` on the PATH.
fn llvm_config_libdir() -> Option<PathBuf> {
    let out = Command::new("llvm-config").arg("--libdir").output().ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `/usr/lib/llvm-N/lib`, highest N first.
fn versioned_llvm_dirs() -> Vec<PathBuf> {
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("llvm-")?.parse().ok()?;
            Some((version, entry.path().join("lib")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versioned.into_iter().map(|(_, dir)| dir).collect()
}

/// `path` itself if it is a file, else the best libclang in the directory:
/// the plain `libclang.so`, then the highest `libclang-N.so*`.
fn find_library(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("libclang")
                && name.contains(".so")
                && !name.starts_with("libclang-cpp")
                && !name.starts_with("libclangC")
                && (name.starts_with("libclang.") || name.starts_with("libclang-"))
        })
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "libclang.so"))
        .or_else(|| found.last())
        .cloned()
}

/// libclang looks for `clang/<version>/include` next to itself. Debian's
/// `llvm-14/lib/libclang.so` is a symlink into `x86_64-linux-gnu`, where no
/// such directory exists, so both the given and the real location are tried.
fn resource_dir_of(library: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(library).ok();
    let found = [Some(library), real.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|lib| {
            let mut versions: Vec<PathBuf> = std::fs::read_dir(lib.parent()?.join("clang"))
                .ok()?
                .flatten()
                .map(|e| e.path())
                .collect();
            versions.sort();
            versions
                .into_iter()
                .rev()
                .find(|dir| dir.join("include/stddef.h").is_file())
        });
    found
}
