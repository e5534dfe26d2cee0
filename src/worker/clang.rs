//! The only code that touches libclang: indexes one translation unit at a
//! time with `clang_indexSourceFile` and turns the callbacks into the
//! [`UnitIndex`] of the wire protocol.
//!
//! # Design
//!
//! An [`Indexer`] lives as long as its worker process and owns one `CXIndex`
//! and its `CXIndexAction`s (indexing "sessions": the worker's, and one for
//! the units parsed again after a discarded attempt). Each call to
//! [`Indexer::index`] creates a fresh [`Collector`], hands a pointer to it to
//! libclang as the callbacks' client data, and drops it when the unit is
//! done, so nothing per-unit outlives the unit.
//!
//! While libclang parses, the callbacks record every file the unit sees and
//! sort declarations, references, includes, base classes and overrides into
//! the data of the file they are located in. Symbols are interned per unit by
//! USR. What the callbacks do not report is added from the text and the
//! tree of the parsed unit: using-declarations and namespace aliases
//! ([`Collector::using_declarations`]), and whether a reference is
//! implicit ([`spells`]). After parsing, the files are hashed from the
//! bytes libclang actually parsed, the translation unit is disposed (so
//! the worker does not hold an AST while it waits for the supervisor), and
//! the caller's `grant` decides which files' data to send. Symbols only referred to from files that were
//! not granted are pruned, and the survivors renumbered ([`prune_symbols`]).
//!
//! # Threading hazard
//!
//! With clang-sys's `runtime` feature the loaded library lives in a
//! *thread-local*: a `clang_*` call on a thread where it was never set
//! panics. libclang runs the parse, and therefore our callbacks, on a
//! big-stack thread of its own (`RunSafelyOnThread`) unless
//! `LIBCLANG_NOTHREADS` is set, which we do not want to set: deep template
//! code needs that stack. So the collector carries the `Arc<SharedLibrary>`
//! and every callback installs it on the current thread before anything
//! else ([`with_collector`]).
//!
//! A panic cannot unwind out of an `extern "C"` callback (it would abort the
//! process), so each callback catches panics, records the first one, and
//! `abortQuery` then asks libclang to stop; the unit fails with that message.

// libclang's constants keep their C names, also in match patterns.
#![allow(non_upper_case_globals)]

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use clang_sys::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::comments;

use super::directives;
use super::pch::{Entry, Library, Preludes};
use crate::protocol::{
    role, Base, Decl, Diagnostic, FileIndex, Include, IndexRequest, Language, Override, Prelude,
    Reference, SeenFile, Span, Symbol, SymbolRef, UnitIndex,
};

/// `CXIndexOpt_SkipParsedBodiesInSession` lets libclang skip function
/// bodies in headers that an earlier unit of this worker already parsed, a
/// large saving on header-heavy C++ (it is much of why clangd's background
/// index beats a plain parse; 20% of the parse time on protobuf, see
/// docs/benchmarks.md). A skipped body reports no references, so a unit's
/// data for such a header is incomplete: [`Indexer::index`] collects
/// nothing located in it, reports it to `grant` as skipped
/// (`Response::Parsed::bodies_skipped` on the wire) and never emits it.
///
/// `CXIndexOpt_SuppressWarnings` turns warnings off. Besides their text
/// (errors, which explain a partial index, are still stored), this skips the
/// analyses behind flags like `-Wthread-safety`, which build a CFG of every
/// function body. Measured on LevelDB in docs/benchmarks.md.
///
/// `CXIndexOpt_IndexFunctionLocalSymbols` reports what is declared inside
/// function bodies: local classes, structs, unions and enums with their
/// members (whose bodies' references then belong to their own methods), the
/// calls of lambdas, and also every parameter and local variable, which the
/// collector drops unless [`Scope::locals`] asks for them. It costs some CPU
/// time (docs/benchmarks.md), and it makes libclang walk the declarations of
/// a function body twice: see [`Occurrence`].
///
/// No `CXIndexOpt_SuppressRedundantRefs`: every reference is kept.
const INDEX_OPTIONS: CXIndexOptFlags = CXIndexOptSkipParsedBodiesInSession
    | CXIndexOptSuppressWarnings
    | CXIndexOptIndexFunctionLocalSymbols;

/// `clang_indexSourceFile` honours only a few TU flags (preamble, detailed
/// preprocessing record, ...); in particular `CXTranslationUnit_KeepGoing`
/// is ignored there. The detailed preprocessing record lists the macro
/// definitions and expansions the callbacks do not report ([`macros`]).
const TU_OPTIONS: CXTranslationUnit_Flags = CXTranslationUnit_DetailedPreprocessingRecord;

/// The `CXSymbolRole` bits the protocol stores; `Declaration`, `Definition`
/// and `Reference` say nothing about a reference and are dropped.
const ROLE_MASK: u32 =
    role::READ | role::WRITE | role::CALL | role::DYNAMIC | role::ADDRESS_OF | role::IMPLICIT;

mod macros;

/// Bound on the walk up semantic parents, against a malformed AST looping.
const MAX_SCOPE_DEPTH: usize = 256;

/// Decides which of a unit's files it emits: given every file the unit saw
/// and the indices of those whose bodies were skipped, one answer per file.
pub(crate) type Grant<'a> = dyn FnMut(&[SeenFile], &[u32]) -> Vec<bool> + 'a;

/// What a session indexes besides the declarations and references of the
/// project's files.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scope {
    /// Declarations located in system headers.
    pub system_headers: bool,
    /// Parameters and the local variables of functions (`--index-locals`).
    pub locals: bool,
}

/// A worker's libclang state: loaded library, index and indexing sessions,
/// reused for every unit the worker process indexes.
pub(crate) struct Indexer {
    // Fields drop in declaration order: the sessions before the index they
    // belong to, the library last.
    /// The session of every unit parsed once, with the precompiled library
    /// or as written.
    session: Session,
    /// The session of units parsed again as written after their attempt
    /// with the precompiled library was discarded (see [`Indexer::index`]),
    /// created at the first such unit.
    written: Option<Session>,
    index: Index,
    preludes: Preludes,
    scope: Scope,
    resource_dir: String,
    library: Arc<SharedLibrary>,
}

/// One libclang indexing session (`CXIndexAction`) and the project headers
/// its units parsed.
struct Session {
    action: IndexAction,
    /// xxh3 of the paths of the project headers that earlier units of this
    /// session parsed. libclang skips their function bodies from now on, so
    /// what a unit sees of them is incomplete: their data is not even
    /// collected, and they are reported as skipped to `grant`.
    parsed_headers: FxHashSet<u64>,
}

impl Session {
    fn new(index: &Index) -> Result<Session, String> {
        Ok(Session {
            action: IndexAction::new(index.0)?,
            parsed_headers: FxHashSet::default(),
        })
    }

    /// Records the project headers of a unit parsed in this session (`seen`,
    /// the main file first): later units skip their bodies.
    fn parsed(&mut self, seen: &[SeenFile]) {
        self.parsed_headers.extend(
            seen.iter()
                .skip(1)
                .filter(|file| !file.system)
                .map(|file| path_key(&file.path)),
        );
    }
}

/// Why a CUDA unit without a CUDA installation fails.
const NO_CUDA_INSTALLATION: &str = "a CUDA unit, and clang found no CUDA installation: without its headers \
     CUDA's keywords (`__global__`) and built-in variables (`threadIdx`) are unknown and the parse \
     would be wrong; install the CUDA toolkit where clang looks for it (/usr/local/cuda) or name it \
     with `--cuda-path=DIR` in the compile command";

/// Whether `request` is a CUDA unit that did not read clang's CUDA runtime
/// wrapper, which its driver includes first in every CUDA unit when it finds
/// a CUDA installation (and the command does not opt out with `-nocudainc`).
fn lacks_cuda_installation(request: &IndexRequest, seen: &[SeenFile]) -> bool {
    crate::command::is_cuda(&request.file, &request.args)
        && !request.args.iter().any(|a| a == "-nocudainc")
        && !seen
            .iter()
            .any(|file| file.path.ends_with("/__clang_cuda_runtime_wrapper.h"))
}

impl Indexer {
    /// Loads libclang (honouring `LIBCLANG_PATH`) and creates the index and
    /// index action. `resource_dir` is passed to every unit as
    /// `-resource-dir` unless empty.
    pub(crate) fn new(scope: Scope, resource_dir: &str) -> Result<Indexer, String> {
        if !clang_sys::is_loaded() {
            clang_sys::load().map_err(|e| format!("cannot load libclang: {e}"))?;
        }
        let library = clang_sys::get_library().ok_or("libclang is not loaded on this thread")?;
        // SAFETY: the library is loaded on this thread; the handles are
        // checked for null and disposed in `Drop`.
        unsafe {
            // `excludeDeclarationsFromPCH`: a walk of a unit's cursor (the
            // macro walk, see `macros`) visits only what the unit itself
            // parsed, not the 16,000 preprocessing entities of the
            // precompiled standard library, which it would read back one by
            // one (a tenth of LevelDB's build time, docs/benchmarks.md).
            let index = clang_createIndex(1, 0);
            if index.is_null() {
                return Err("clang_createIndex failed".into());
            }
            let index = Index(index);
            Ok(Indexer {
                session: Session::new(&index)?,
                written: None,
                index,
                preludes: Preludes::default(),
                scope,
                resource_dir: resource_dir.to_owned(),
                library,
            })
        }
    }

    /// `clang_getClangVersion()`, e.g. `Debian clang version 14.0.6`.
    pub(crate) fn libclang_version(&self) -> String {
        self.ensure_library();
        // SAFETY: the library is loaded on this thread.
        unsafe { take_string(clang_getClangVersion()) }
    }

    /// Indexes one unit. Once libclang has parsed it, `grant` is called
    /// exactly once with every file the unit saw (`files[0]` is the main
    /// file) and the indices of the headers whose bodies this session had
    /// already parsed, and answers, for each file, whether to emit its data
    /// (skipped headers are never emitted, whatever it answers). `Err` when
    /// libclang produced no translation unit at all (then `grant` is not
    /// called); a unit with errors is `Ok` and carries them as diagnostics.
    pub(crate) fn index(
        &mut self,
        request: &IndexRequest,
        grant: &mut Grant<'_>,
    ) -> Result<UnitIndex, String> {
        self.ensure_library();
        // libclang resolves relative paths (the file, `-I` directories)
        // against the process's working directory; a worker is
        // single-threaded, so changing it per unit is safe.
        std::env::set_current_dir(&request.directory)
            .map_err(|e| format!("cannot enter directory {}: {e}", request.directory))?;

        let prelude = match &request.prelude {
            Some(prelude) if !self.scope.system_headers => self
                .prelude_files(prelude, request)
                .filter(|(_, library)| !main_file_configures(&request.file, library)),
            _ => None,
        };
        let pch = prelude.as_ref().map(|(pch, _)| pch.as_str());
        let first = self.parse(&self.session, request, pch);
        // A unit that fails or has errors with the standard library
        // precompiled ahead of it (it defines a name the library also
        // declares), or whose own files define a macro the library tests
        // (which would have configured the library had it been read where
        // the unit includes it), is parsed again as it is written, and only
        // that parse counts.
        let fallback = match (&first, &prelude) {
            (Ok(attempt), Some((_, library))) => {
                attempt.has_errors_but_missing_files() || attempt.configures(library)
            }
            (Err(_), Some(_)) => true,
            (_, None) => false,
        };
        let mut discarded_ms = None;
        let (mut parsed, prelude_files) = if fallback {
            let first_ms = match first {
                // The attempt ran in the worker's session, whose later units
                // will skip the bodies it parsed.
                Ok(attempt) => {
                    let (parsed_headers, parse_ms) =
                        (attempt.project_header_keys(), attempt.parse_ms);
                    drop(attempt);
                    self.session.parsed_headers.extend(parsed_headers);
                    parse_ms
                }
                // libclang could not use the header at all: no later unit
                // of this worker tries it again.
                Err(_) => {
                    self.preludes.reject(pch.unwrap_or_default());
                    0
                }
            };
            // Parsed again in the session of such units, not the worker's:
            // there, the bodies the discarded attempt parsed would be
            // skipped, and the headers they belong to emitted by no unit.
            // Shared by this worker's fallbacks, so only the first parses
            // every body (a fresh session per fallback parsed a header-heavy
            // command's headers in full each time).
            if self.written.is_none() {
                self.written = Some(Session::new(&self.index)?);
            }
            let written = self.written.as_ref().expect("created above");
            let mut parsed = self.parse(written, request, None)?;
            parsed.parse_ms = parsed.parse_ms.saturating_add(first_ms);
            discarded_ms = Some(first_ms);
            (parsed, None)
        } else {
            (first?, prelude.map(|(_, library)| library))
        };

        // SAFETY: `tu` is the live unit the collector's file handles belong to.
        let mut seen = unsafe {
            parsed.collector.collect_macros(parsed.tu.0)?;
            parsed.collector.seen_files(parsed.tu.0)
        };
        drop(parsed.tu);
        if lacks_cuda_installation(request, &seen) {
            // Its headers' bodies were parsed in this session all the same:
            // later units skip them, and the headers are emitted by a unit
            // that parses them in a session of its own, as after a discarded
            // attempt.
            drop(parsed.collector);
            self.session_of(fallback).parsed(&seen);
            return Err(NO_CUDA_INSTALLATION.to_owned());
        }
        let mut skipped = parsed.collector.skipped_files();
        if let Some(library) = &prelude_files {
            // The library headers the unit would have read as written,
            // which it read through the precompiled header instead: listing
            // them keeps the unit dirty when one changes, and its files the
            // same as without the header.
            let read = library.read_through(&seen);
            seen.extend(read);
            // A project header inside the precompiled header (one the
            // command includes first, `-include config.h`) has its
            // declarations there, where the index does not walk them: this
            // unit has nothing to emit for it, as for a header whose bodies
            // it skipped, and a unit parsed as written emits it.
            let in_library: FxHashSet<&str> =
                library.files.iter().map(|f| f.path.as_str()).collect();
            skipped.extend(
                seen.iter()
                    .enumerate()
                    .skip(1)
                    .filter(|(_, file)| !file.system && in_library.contains(file.path.as_str()))
                    .map(|(i, _)| i as u32),
            );
            skipped.sort_unstable();
            skipped.dedup();
        }

        let mut emit = grant(&seen, &skipped);
        if emit.len() != seen.len() {
            return Err(format!(
                "grant answered {} files for {} seen",
                emit.len(),
                seen.len()
            ));
        }
        for &i in &skipped {
            emit[i as usize] = false;
        }
        let mut index = parsed
            .collector
            .finish(request.unit, parsed.parse_ms, &emit);
        index.prelude_discarded_ms = discarded_ms;
        self.session_of(fallback).parsed(&seen);
        Ok(index)
    }

    /// The session a unit was parsed in: the worker's, or for a unit parsed
    /// again as written, the one such units share.
    fn session_of(&mut self, fallback: bool) -> &mut Session {
        match &mut self.written {
            Some(written) if fallback => written,
            _ => &mut self.session,
        }
    }

    /// Runs libclang on the unit in `session`, with the precompiled header
    /// `pch` ahead of it if given.
    fn parse<'s>(
        &self,
        session: &'s Session,
        request: &IndexRequest,
        pch: Option<&str>,
    ) -> Result<Parsed<'s>, String> {
        let file = c_string(&request.file)?;
        let mut args = self.arguments(request)?;
        if let Some(pch) = pch {
            args.push(c_string("-include-pch")?);
            args.push(c_string(pch)?);
        }
        let (arg_ptrs, arg_count) = c_argv(&args)?;

        let mut collector =
            Collector::new(self.library.clone(), self.scope, &session.parsed_headers);
        let mut callbacks = IndexerCallbacks {
            abortQuery: Some(abort_query),
            diagnostic: Some(on_diagnostic),
            enteredMainFile: Some(on_entered_main_file),
            ppIncludedFile: Some(on_included_file),
            // Called for the precompiled header; its declarations are not
            // walked again.
            importedASTFile: Some(on_imported_ast_file),
            startedTranslationUnit: None,
            indexDeclaration: Some(on_declaration),
            indexEntityReference: Some(on_reference),
        };
        let mut tu: CXTranslationUnit = ptr::null_mut();
        let started = Instant::now();
        // SAFETY: every pointer outlives the call; the collector is touched
        // only by the callbacks until the call returns, and the callbacks
        // never run concurrently with each other.
        let code = unsafe {
            clang_indexSourceFile(
                session.action.0,
                (&mut collector as *mut Collector).cast(),
                &mut callbacks,
                std::mem::size_of::<IndexerCallbacks>() as c_uint,
                INDEX_OPTIONS,
                file.as_ptr(),
                arg_ptrs.as_ptr(),
                arg_count,
                ptr::null_mut(),
                0,
                &mut tu,
                TU_OPTIONS,
            )
        };
        let parse_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let tu = TranslationUnit(tu);

        if let Some(message) = collector.panicked.take() {
            return Err(format!("indexer callback panicked: {message}"));
        }
        if code != CXError_Success || tu.0.is_null() {
            return Err(failure_reason(code, &request.file));
        }
        if collector.files.is_empty() {
            return Err("libclang reported no main file".into());
        }
        // SAFETY: `tu` is the live unit the collector's file handles belong to.
        unsafe {
            collector.using_declarations(tu.0);
            collector.lambdas(tu.0);
        }
        Ok(Parsed {
            collector,
            tu,
            parse_ms,
        })
    }

    /// The path of the unit's precompiled standard library and what it was
    /// built from, building it if no worker has yet; `None` when there is
    /// none to use (it failed to build, or another worker is building it
    /// right now).
    fn prelude_files(
        &mut self,
        prelude: &Prelude,
        request: &IndexRequest,
    ) -> Option<(String, Arc<Library>)> {
        let mut preludes = std::mem::take(&mut self.preludes);
        let library = preludes.get(prelude, |out| {
            self.build_prelude(request, &prelude.header, prelude.language, out)
        });
        self.preludes = preludes;
        library.map(|library| (prelude.pch.clone(), library))
    }

    /// Precompiles `header` with the unit's arguments into `out`, with
    /// function bodies skipped as the index skips those of system headers;
    /// returns what it read.
    fn build_prelude(
        &self,
        request: &IndexRequest,
        header: &str,
        language: Language,
        out: &Path,
    ) -> Result<Library, String> {
        let header = c_string(header)?;
        let mut args = self.arguments(request)?;
        args.push(c_string("-x")?);
        args.push(c_string(language.header_kind())?);
        let (arg_ptrs, arg_count) = c_argv(&args)?;
        let options = CXTranslationUnit_Incomplete
            | CXTranslationUnit_ForSerialization
            | CXTranslationUnit_SkipFunctionBodies
            | CXTranslationUnit_DetailedPreprocessingRecord;
        let mut tu: CXTranslationUnit = ptr::null_mut();
        // SAFETY: every pointer outlives the call; the unit is disposed by
        // its guard on every path out.
        unsafe {
            let code = clang_parseTranslationUnit2(
                self.index.0,
                header.as_ptr(),
                arg_ptrs.as_ptr(),
                arg_count,
                ptr::null_mut(),
                0,
                options,
                &mut tu,
            );
            let tu = TranslationUnit(tu);
            if code != CXError_Success || tu.0.is_null() {
                return Err(failure_reason(code, "the precompiled standard library"));
            }
            if let Some(error) = first_error(tu.0) {
                return Err(error);
            }
            let out = c_string(&out.to_string_lossy())?;
            let saved =
                clang_saveTranslationUnit(tu.0, out.as_ptr(), clang_defaultSaveOptions(tu.0));
            if saved != CXSaveError_None {
                return Err(format!("libclang could not save it (CXSaveError {saved})"));
            }
            let mut library = library_read_by(tu.0);
            library.includes = include_graph(tu.0, &library.files);
            library.defined_macros = defined_macros(tu.0);
            Ok(library)
        }
    }

    /// The request's arguments without the source file (it is passed
    /// separately), plus `-resource-dir`.
    fn arguments(&self, request: &IndexRequest) -> Result<Vec<CString>, String> {
        let mut args: Vec<CString> = request
            .args
            .iter()
            .filter(|a| **a != request.file)
            .map(|a| c_string(a))
            .collect::<Result<_, _>>()?;
        if !self.resource_dir.is_empty() {
            args.push(c_string("-resource-dir")?);
            args.push(c_string(&self.resource_dir)?);
        }
        Ok(args)
    }

    /// Makes the library usable on the calling thread, which need not be
    /// the one that created the indexer.
    fn ensure_library(&self) {
        if !clang_sys::is_loaded() {
            clang_sys::set_library(Some(self.library.clone()));
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        // The fields, disposed after this, call into libclang.
        self.ensure_library();
    }
}

/// The worker's `CXIndex`, disposed after its sessions.
struct Index(CXIndex);

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: created in `Indexer::new`, disposed once, after the
        // sessions (fields of `Indexer` declared before it).
        unsafe { clang_disposeIndex(self.0) }
    }
}

/// Whether the unit's main file defines or undefines a macro the
/// precompiled library tests, which would make its parse with the library
/// a discarded attempt (see [`Parsed::configures`]): read before parsing,
/// so such a unit is parsed once, as written. Its headers are known only
/// after a parse; a file that cannot be read is left to libclang to report.
fn main_file_configures(path: &str, library: &Library) -> bool {
    std::fs::read(path).is_ok_and(|text| {
        directives::first_defined(&text, &library.tested_macros, &library.defined_macros).is_some()
    })
}

/// Disposes the translation unit on every path out of [`Indexer::index`].
struct TranslationUnit(CXTranslationUnit);

impl Drop for TranslationUnit {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the unit came from `clang_indexSourceFile` and is
            // disposed once, on the thread that owns the indexer.
            unsafe { clang_disposeTranslationUnit(self.0) }
        }
    }
}

/// A `CXIndexAction`, disposed before its index.
struct IndexAction(CXIndexAction);

impl IndexAction {
    fn new(index: CXIndex) -> Result<IndexAction, String> {
        // SAFETY: `index` is the indexer's live index.
        let action = unsafe { clang_IndexAction_create(index) };
        if action.is_null() {
            return Err("clang_IndexAction_create failed".into());
        }
        Ok(IndexAction(action))
    }
}

impl Drop for IndexAction {
    fn drop(&mut self) {
        // SAFETY: created in `new`, disposed once, before its index.
        unsafe { clang_IndexAction_dispose(self.0) }
    }
}

/// A unit libclang parsed, before its files are granted.
struct Parsed<'s> {
    collector: Collector<'s>,
    tu: TranslationUnit,
    parse_ms: u32,
}

impl Parsed<'_> {
    /// Whether the unit has an error, other than a missing file. A header
    /// that is not there (a generated one, in a build tree that was only
    /// configured) is missing with or without the precompiled library:
    /// parsing again as written would give the same error, at the cost of a
    /// second parse of every such unit.
    fn has_errors_but_missing_files(&self) -> bool {
        self.collector.diagnostics.iter().any(|d| {
            d.severity == "error"
                || (d.severity == "fatal" && !d.message.ends_with("file not found"))
        })
    }

    /// The keys (see [`path_key`]) of the project headers the unit read.
    fn project_header_keys(&self) -> Vec<u64> {
        self.project_files()
            .skip(1)
            .map(|state| path_key(&state.path))
            .collect()
    }

    /// Whether one of the unit's own files (not a system header) defines or
    /// undefines a macro the `library` tests (see
    /// [`directives::first_defined`]). A file the command includes first
    /// (`-include config.h`) is read through the precompiled header, which
    /// was built after it too, and is not among them.
    fn configures(&self, library: &Library) -> bool {
        self.project_files().any(|state| {
            // SAFETY: the handles belong to the live `tu`.
            let text = unsafe { parsed_content(self.tu.0, state.handle, &state.path) };
            directives::first_defined(&text, &library.tested_macros, &library.defined_macros)
                .is_some()
        })
    }

    /// The main file, then the project headers the unit read.
    fn project_files(&self) -> impl Iterator<Item = &FileState> {
        self.collector.files.iter().filter(|state| {
            // SAFETY: the handles belong to the live `tu`.
            !state.system.unwrap_or_else(|| unsafe {
                clang_Location_isInSystemHeader(clang_getLocationForOffset(
                    self.tu.0,
                    state.handle,
                    0,
                )) != 0
            })
        })
    }
}

/// Every `#include` directive among the library's `files`, as indices
/// into them: also those a header's include guard made no-ops, which
/// `clang_getInclusions` (first inclusions only) leaves out, so that a unit
/// can list the headers it would read as written (see
/// `pch::Library::read_through`). They come from the detailed
/// preprocessing record the library is built with (for its macros, see
/// `macros`), which units parsed with it do not walk (`Indexer::new`).
unsafe fn include_graph(tu: CXTranslationUnit, files: &[SeenFile]) -> Vec<(u32, u32)> {
    extern "C" fn visit(
        cursor: CXCursor,
        _parent: CXCursor,
        edges: CXClientData,
    ) -> CXChildVisitResult {
        if cursor.kind == CXCursor_InclusionDirective {
            // SAFETY: `edges` is the vector passed below, alive for the
            // visit; the cursor belongs to the live unit.
            unsafe {
                let included = clang_getIncludedFile(cursor);
                let mut from: CXFile = ptr::null_mut();
                clang_getFileLocation(
                    clang_getCursorLocation(cursor),
                    &mut from,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                );
                // A missing header has no file; the command line's
                // `-include`s come from none.
                if !included.is_null() && !from.is_null() {
                    (*edges.cast::<Vec<(CXFile, CXFile)>>()).push((from, included));
                }
            }
        }
        CXChildVisit_Continue
    }
    let mut edges: Vec<(CXFile, CXFile)> = Vec::new();
    clang_visitChildren(
        clang_getTranslationUnitCursor(tu),
        visit,
        (&mut edges as *mut Vec<(CXFile, CXFile)>).cast(),
    );
    let by_path: FxHashMap<&str, u32> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i as u32))
        .collect();
    let mut by_handle: FxHashMap<CXFile, Option<u32>> = FxHashMap::default();
    let mut index_of = |file: CXFile| {
        *by_handle
            .entry(file)
            .or_insert_with(|| by_path.get(file_path(file).0.as_str()).copied())
    };
    let mut graph: Vec<(u32, u32)> = edges
        .into_iter()
        .filter_map(|(from, to)| Some((index_of(from)?, index_of(to)?)))
        .collect();
    graph.sort_unstable();
    graph.dedup();
    graph
}

/// The first error libclang reported for `tu`, as text.
unsafe fn first_error(tu: CXTranslationUnit) -> Option<String> {
    (0..clang_getNumDiagnostics(tu)).find_map(|i| {
        let diagnostic = clang_getDiagnostic(tu, i);
        let error = (clang_getDiagnosticSeverity(diagnostic) >= CXDiagnostic_Error).then(|| {
            take_string(clang_formatDiagnostic(
                diagnostic,
                clang_defaultDiagnosticDisplayOptions(),
            ))
        });
        clang_disposeDiagnostic(diagnostic);
        error
    })
}

/// Every file `tu` (the precompiled library) read except its main file, as
/// the protocol reports them, each once, the inclusion tree (one entry each
/// time a file was entered), and the macros the files test.
/// The names of the macros a precompiled header's unit defines, the
/// compiler's and the command line's included: its preprocessing entities
/// come first among the cursor's children.
unsafe fn defined_macros(tu: CXTranslationUnit) -> FxHashSet<String> {
    extern "C" fn visit(cursor: CXCursor, _: CXCursor, names: CXClientData) -> CXChildVisitResult {
        // SAFETY: `names` is the set passed below, alive for the walk;
        // `cursor` belongs to the live unit.
        unsafe {
            if clang_isPreprocessing(cursor.kind) == 0 {
                return CXChildVisit_Break;
            }
            if cursor.kind == CXCursor_MacroDefinition {
                (*names.cast::<FxHashSet<String>>())
                    .insert(take_string(clang_getCursorSpelling(cursor)));
            }
        }
        CXChildVisit_Continue
    }
    let mut names = FxHashSet::default();
    clang_visitChildren(
        clang_getTranslationUnitCursor(tu),
        visit,
        (&mut names as *mut FxHashSet<String>).cast(),
    );
    names
}

unsafe fn library_read_by(tu: CXTranslationUnit) -> Library {
    extern "C" fn visit(
        file: CXFile,
        stack: *mut CXSourceLocation,
        depth: c_uint,
        entered: CXClientData,
    ) {
        if depth > 0 {
            let mut parent: CXFile = ptr::null_mut();
            // SAFETY: `stack` holds `depth` locations, the first where the
            // file was included; `entered` is the vector passed below,
            // alive for the call.
            unsafe {
                clang_getFileLocation(
                    *stack,
                    &mut parent,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                );
                (*entered.cast::<Vec<(CXFile, CXFile)>>()).push((file, parent))
            }
        }
    }
    // Entries come in the order the files were entered, so an entry's
    // parent is the latest entry of the file it was included from.
    let mut entered: Vec<(CXFile, CXFile)> = Vec::new();
    clang_getInclusions(
        tu,
        visit,
        (&mut entered as *mut Vec<(CXFile, CXFile)>).cast(),
    );
    let mut files = Vec::new();
    let mut handles = Vec::new();
    let mut file_by_handle: FxHashMap<CXFile, u32> = FxHashMap::default();
    let mut latest_entry: FxHashMap<CXFile, u32> = FxHashMap::default();
    let mut entries = Vec::with_capacity(entered.len());
    // Per entry: whether the command's `-include` headers entered it.
    let mut by_command = Vec::with_capacity(entered.len());
    let mut configurable = FxHashSet::default();
    for (file, parent) in entered {
        let index = *file_by_handle.entry(file).or_insert_with(|| {
            let (path, mtime_ns) = file_path(file);
            let text = parsed_content(tu, file, &path);
            files.push(SeenFile {
                system: clang_Location_isInSystemHeader(clang_getLocationForOffset(tu, file, 0))
                    != 0,
                mtime_ns,
                path,
                hash: xxhash_rust::xxh3::xxh3_64(&text),
                size: text.len() as u64,
            });
            handles.push(file);
            files.len() as u32 - 1
        });
        let parent_entry = latest_entry.get(&parent).copied();
        let command_line = parent.is_null();
        let entered_by_command =
            command_line || parent_entry.is_some_and(|entry| by_command[entry as usize]);
        by_command.push(entered_by_command);
        // What the command includes (`-include wx/wxprec.h`) is read before
        // the unit's own code as written too, so the unit's files cannot
        // configure it: only what the header itself includes ahead of the
        // unit can be configured by it (wxWidgets' units define macros its
        // headers test, and lost the precompiled header for nothing).
        if !entered_by_command {
            configurable.insert(index);
        }
        entries.push(Entry {
            file: index,
            parent: parent_entry,
            command_line,
        });
        latest_entry.insert(file, entries.len() as u32 - 1);
    }
    let mut tested_macros = FxHashSet::default();
    for index in configurable {
        let file = &files[index as usize];
        let text = parsed_content(tu, handles[index as usize], &file.path);
        directives::tested_macros(&text, &mut tested_macros);
    }
    Library {
        files,
        tested_macros,
        defined_macros: FxHashSet::default(),
        entries,
        includes: Vec::new(),
    }
}

fn failure_reason(code: CXErrorCode, file: &str) -> String {
    let name = match code {
        CXError_Failure => "CXError_Failure".to_owned(),
        CXError_Crashed => "CXError_Crashed".to_owned(),
        CXError_InvalidArguments => "CXError_InvalidArguments".to_owned(),
        CXError_ASTReadError => "CXError_ASTReadError".to_owned(),
        CXError_Success => "no translation unit returned".to_owned(),
        other => format!("error code {other}"),
    };
    // The working directory is the unit's, so a relative name resolves as
    // libclang resolved it.
    if Path::new(file).exists() {
        format!("libclang could not parse: {name}")
    } else {
        format!("libclang could not parse: {name}; {file} does not exist")
    }
}

fn c_string(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("argument contains a NUL byte: {s:?}"))
}

/// `args` as the pointer array and count libclang takes; the pointers
/// borrow from `args`.
fn c_argv(args: &[CString]) -> Result<(Vec<*const c_char>, c_int), String> {
    let pointers: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    let count = c_int::try_from(pointers.len()).map_err(|_| "too many arguments".to_owned())?;
    Ok((pointers, count))
}

/// Converts a `CXString` to a `String` (lossily) and disposes it.
unsafe fn take_string(s: CXString) -> String {
    let text = borrowed_str(clang_getCString(s)).into_owned();
    clang_disposeString(s);
    text
}

/// A C string owned by libclang, valid for the current callback.
unsafe fn borrowed_str<'a>(p: *const c_char) -> Cow<'a, str> {
    if p.is_null() {
        Cow::Borrowed("")
    } else {
        CStr::from_ptr(p).to_string_lossy()
    }
}

/// A libclang array as a slice, empty when null.
unsafe fn c_slice<'a, T>(items: *const T, count: c_uint) -> &'a [T] {
    if items.is_null() || count == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(items, count as usize)
    }
}

/// A location resolved to this unit's file list.
struct At {
    file: u32,
    line: u32,
    column: u32,
    /// Byte offset in the file.
    offset: u32,
}

/// What makes two reports of a reference the same one. With
/// `CXIndexOpt_IndexFunctionLocalSymbols`, libclang walks a declaration
/// statement of a function body twice: once as declarations, with the
/// right containers, and once more as part of the body, where everything
/// in it (a local class's method bodies included) is reported again with
/// the enclosing function as container. The first report, whose container
/// is the innermost (the walk as declarations comes first), is kept. An
/// expression is told apart by its node, so that two calls a macro
/// expands at one location stay two references; a name outside
/// expressions (a type, a namespace) by its location and roles, so that a
/// name libclang reports several times at one location (the type of `T a,
/// b;`, a class a macro expansion names three times) is one reference.
#[derive(PartialEq, Eq, Hash)]
enum Occurrence {
    Expression(*const c_void, SymbolRef),
    Name(u32, u32, SymbolRef, u32),
}

/// A file seen by the unit being indexed, with the data located in it.
struct FileState {
    handle: CXFile,
    path: String,
    /// Whether it is a system header; learned from the first location seen
    /// in it, or after parsing for files no callback pointed into.
    system: Option<bool>,
    /// A project header an earlier unit of the session parsed: libclang
    /// skips its bodies, and nothing located in it is collected.
    skipped: bool,
    /// Modification time when libclang first handed the file over, i.e.
    /// just after it read it. Taken after the parse, an edit made during
    /// the parse would be recorded with the old content's hash and size,
    /// and refresh (which trusts size and mtime) would never look again.
    mtime_ns: i64,
    /// The bytes libclang parsed, fetched at the first reference located in
    /// the file (see [`Collector::text`]); owned by the translation unit.
    text: Option<(*const u8, usize)>,
    /// The references already recorded, see [`Occurrence`].
    occurrences: FxHashSet<Occurrence>,
    /// The declarations already recorded, by `Decl*`: the double walk
    /// reports local variables twice.
    declared: FxHashSet<*const c_void>,
    data: FileIndex,
}

/// Everything the callbacks learn about one unit.
struct Collector<'s> {
    library: Arc<SharedLibrary>,
    scope: Scope,
    /// The unit being parsed, learned from the first cursor a callback
    /// carries (the callbacks are not given it): the text of a file is
    /// looked up through it.
    tu: CXTranslationUnit,
    /// The session's [`Session::parsed_headers`].
    parsed_headers: &'s FxHashSet<u64>,
    files: Vec<FileState>,
    file_by_handle: FxHashMap<CXFile, u32>,
    /// Two handles for one path (seldom, e.g. a file replaced during the
    /// parse) still make one file.
    file_by_path: FxHashMap<String, u32>,
    symbols: Vec<Symbol>,
    symbol_by_usr: FxHashMap<String, SymbolRef>,
    /// By `Decl*` (a cursor's `data[0]`), so that the USR of a declaration
    /// is computed once per unit, not once per reference. `None`: the
    /// declaration has no USR (locals) and is not recorded.
    symbol_by_decl: FxHashMap<*const c_void, Option<SymbolRef>>,
    /// The qualified names of the scopes (namespaces, classes) seen as
    /// semantic parents, by `Decl*`: the members of one scope share it, so
    /// it is spelled once per unit instead of once per member.
    scope_names: FxHashMap<*const c_void, String>,
    /// Whether a class is a lambda's, by `Decl*`: asked of the semantic
    /// parent of every member interned, see [`Collector::closure_of`].
    closures: FxHashMap<*const c_void, bool>,
    diagnostics: Vec<Diagnostic>,
    /// libclang loaded a precompiled header for the unit.
    used_prelude: bool,
    /// The message of the first panic inside a callback.
    panicked: Option<String>,
}

impl<'s> Collector<'s> {
    fn new(
        library: Arc<SharedLibrary>,
        scope: Scope,
        parsed_headers: &'s FxHashSet<u64>,
    ) -> Collector<'s> {
        Collector {
            library,
            scope,
            tu: ptr::null_mut(),
            parsed_headers,
            files: Vec::new(),
            file_by_handle: FxHashMap::default(),
            file_by_path: FxHashMap::default(),
            symbols: Vec::new(),
            symbol_by_usr: FxHashMap::default(),
            symbol_by_decl: FxHashMap::default(),
            scope_names: FxHashMap::default(),
            closures: FxHashMap::default(),
            diagnostics: Vec::new(),
            used_prelude: false,
            panicked: None,
        }
    }

    /// The index of `file` in this unit's list, registering it on first sight.
    unsafe fn file_index(&mut self, file: CXFile) -> u32 {
        if let Some(&index) = self.file_by_handle.get(&file) {
            return index;
        }
        let (path, mtime_ns) = file_path(file);
        let index = match self.file_by_path.get(&path) {
            Some(&index) => index,
            None => {
                let index = self.files.len() as u32;
                // The main file is registered first and never skipped.
                let skipped = index > 0 && self.parsed_headers.contains(&path_key(&path));
                self.file_by_path.insert(path.clone(), index);
                self.files.push(FileState {
                    handle: file,
                    skipped,
                    mtime_ns,
                    path,
                    system: None,
                    text: None,
                    occurrences: FxHashSet::default(),
                    declared: FxHashSet::default(),
                    data: FileIndex {
                        file: index,
                        ..FileIndex::default()
                    },
                });
                index
            }
        };
        self.file_by_handle.insert(file, index);
        index
    }

    /// Resolves an indexer location; `None` outside any file (built-ins,
    /// the command line), in skipped headers, whose data is never sent, and
    /// in system headers unless `in_system` says they are wanted. The file
    /// is looked up before the line and column: most declarations a C++
    /// unit sees are in system headers and need neither.
    unsafe fn locate(&mut self, loc: CXIdxLoc, in_system: bool) -> Option<At> {
        let mut file: CXFile = ptr::null_mut();
        let mut offset = 0;
        clang_indexLoc_getFileLocation(
            loc,
            ptr::null_mut(),
            &mut file,
            ptr::null_mut(),
            ptr::null_mut(),
            &mut offset,
        );
        let index =
            self.collected_file(file, in_system, || clang_indexLoc_getCXSourceLocation(loc))?;
        let (line, column) = idx_line_column(loc);
        Some(At {
            file: index,
            line,
            column,
            offset,
        })
    }

    /// The index of `file` if data located in it is collected: not null
    /// (built-ins, the command line), not a skipped header, and not a
    /// system header unless `in_system`. `loc`, some location in the file,
    /// is asked for only the first time the file is seen.
    unsafe fn collected_file(
        &mut self,
        file: CXFile,
        in_system: bool,
        loc: impl FnOnce() -> CXSourceLocation,
    ) -> Option<u32> {
        if file.is_null() {
            return None;
        }
        let index = self.file_index(file);
        let state = &mut self.files[index as usize];
        if state.skipped {
            return None;
        }
        let system = *state
            .system
            .get_or_insert_with(|| clang_Location_isInSystemHeader(loc()) != 0);
        (in_system || !system).then_some(index)
    }

    unsafe fn declaration(&mut self, info: &CXIdxDeclInfo) {
        if info.isImplicit != 0 {
            return;
        }
        let Some(at) = self.locate(info.loc, self.scope.system_headers) else {
            return;
        };
        let Some(symbol) = info
            .entityInfo
            .as_ref()
            .and_then(|entity| self.entity_symbol(entity))
        else {
            return;
        };
        if !self.files[at.file as usize]
            .declared
            .insert(info.cursor.data[0])
        {
            return;
        }
        let container = self.container_symbol(info.semanticContainer);
        let bases = self.bases(info, symbol);
        // One override edge per method and unit: from its first declaration,
        // which is the one any unit that emits the file sees.
        let overrides = if info.isRedeclaration == 0 {
            self.overrides(info.cursor, symbol)
        } else {
            Vec::new()
        };

        let doc = self.doc_comment(at.file, info.cursor);
        let data = &mut self.files[at.file as usize].data;
        data.decls.push(Decl {
            symbol,
            line: at.line,
            column: at.column,
            extent: extent(info.cursor),
            is_definition: info.isDefinition != 0,
            container,
            doc,
        });
        data.bases.extend(bases);
        data.overrides.extend(overrides);
    }

    /// The documentation comment of the declaration `cursor`, located in
    /// file `file`, read from the text (see `worker::comments` for why not
    /// from libclang's comment API). A declaration whose extent begins in
    /// another file (a macro's) has none.
    unsafe fn doc_comment(&mut self, file: u32, cursor: CXCursor) -> Option<String> {
        let range = clang_getCursorExtent(cursor);
        let (start_file, start) = expansion_offset(clang_getRangeStart(range));
        if self.file_by_handle.get(&start_file) != Some(&file) {
            return None;
        }
        let (end_file, end) = expansion_offset(clang_getRangeEnd(range));
        let end = (end_file == start_file).then_some(end as usize);
        let text = self.text(file, cursor)?;
        comments::doc_comment(text, start as usize, end)
    }

    unsafe fn bases(&mut self, info: &CXIdxDeclInfo, derived: SymbolRef) -> Vec<Base> {
        let Some(class) = clang_index_getCXXClassDeclInfo(info).as_ref() else {
            return Vec::new();
        };
        let mut bases = Vec::new();
        for &base in c_slice(class.bases, class.numBases) {
            let Some(base) = base.as_ref() else { continue };
            // A dependent base (`T` in a template) names no entity.
            let Some(symbol) = base
                .base
                .as_ref()
                .and_then(|entity| self.entity_symbol(entity))
            else {
                continue;
            };
            let (line, column) = idx_line_column(base.loc);
            bases.push(Base {
                derived,
                base: symbol,
                line,
                column,
                is_virtual: clang_isVirtualBase(base.cursor) != 0,
            });
        }
        bases
    }

    unsafe fn overrides(&mut self, method: CXCursor, symbol: SymbolRef) -> Vec<Override> {
        // Only a virtual method overrides (`clang_CXXMethod_isVirtual` is
        // also true for one that does so without the keyword).
        if !matches!(method.kind, CXCursor_CXXMethod | CXCursor_Destructor)
            || clang_CXXMethod_isVirtual(method) == 0
        {
            return Vec::new();
        }
        let mut overridden: *mut CXCursor = ptr::null_mut();
        let mut count: c_uint = 0;
        clang_getOverriddenCursors(method, &mut overridden, &mut count);
        let edges = c_slice(overridden, count)
            .iter()
            .filter_map(|&cursor| self.cursor_symbol(cursor, None))
            .map(|base_method| Override {
                method: symbol,
                overridden: base_method,
            })
            .collect();
        if !overridden.is_null() {
            clang_disposeOverriddenCursors(overridden);
        }
        edges
    }

    unsafe fn reference(&mut self, info: &CXIdxEntityRefInfo) {
        let Some(at) = self.locate(info.loc, false) else {
            return;
        };
        let Some(symbol) = info
            .referencedEntity
            .as_ref()
            .and_then(|entity| self.entity_symbol(entity))
        else {
            return;
        };
        let mut roles = info.role as u32 & ROLE_MASK;
        let occurrence = if clang_isExpression(info.cursor.kind) != 0 {
            Occurrence::Expression(info.cursor.data[1], symbol)
        } else {
            Occurrence::Name(at.line, at.column, symbol, roles)
        };
        if !self.files[at.file as usize].occurrences.insert(occurrence) {
            return;
        }
        if info.kind == CXIdxEntityRef_Implicit || !self.spelled_at(&at, symbol, info.cursor) {
            roles |= role::IMPLICIT;
        }
        let container = self.container_symbol(info.container);
        self.files[at.file as usize].data.refs.push(Reference {
            symbol,
            line: at.line,
            column: at.column,
            roles,
            container,
        });
    }

    /// Whether the name of `symbol` is written at `at`. libclang marks no
    /// reference of C++ code implicit, so implicitness is read from the
    /// text, as clangd decides whether a reference is "spelled": a
    /// reference whose name is not written where it is located is a call
    /// the compiler inserted (a converting or default constructor, a
    /// conversion operator, the operators of a range-based `for`) or comes
    /// out of a macro expansion (it is located at the macro's name). `true`
    /// when the text cannot be had.
    unsafe fn spelled_at(&mut self, at: &At, symbol: SymbolRef, cursor: CXCursor) -> bool {
        let Some(text) = self.text(at.file, cursor) else {
            return true;
        };
        let symbol = &self.symbols[symbol as usize];
        spells(
            text.get(at.offset as usize..).unwrap_or_default(),
            &symbol.name,
            &symbol.kind,
        )
    }

    /// The text libclang parsed of file `file`, valid while the unit lives.
    unsafe fn text<'t>(&mut self, file: u32, cursor: CXCursor) -> Option<&'t [u8]> {
        if self.tu.is_null() {
            // A reference from a using-declaration carries a null cursor.
            self.tu = clang_Cursor_getTranslationUnit(cursor);
            if self.tu.is_null() {
                return None;
            }
        }
        let state = &mut self.files[file as usize];
        let (data, size) = *state.text.get_or_insert_with(|| {
            let mut size = 0;
            let data = clang_getFileContents(self.tu, state.handle, &mut size);
            (data.cast::<u8>(), size)
        });
        (!data.is_null()).then(|| std::slice::from_raw_parts(data, size))
    }

    /// libclang's indexing reports no declaration for a using-declaration
    /// or a namespace alias, only the references to what they name. They
    /// are found in the text of each file whose data is collected: the
    /// cursor libclang puts at a `using` or `namespace` keyword says what
    /// stands there. (A walk of the whole tree would also visit, and
    /// deserialize, every declaration of a precompiled header.)
    unsafe fn using_declarations(&mut self, tu: CXTranslationUnit) {
        for (file, handle) in self.scanned_files(tu) {
            let text = parsed_content(tu, handle, &self.files[file].path);
            for offset in alias_keywords(&text) {
                let cursor = clang_getCursor(tu, clang_getLocationForOffset(tu, handle, offset));
                if matches!(
                    cursor.kind,
                    CXCursor_UsingDeclaration | CXCursor_NamespaceAlias
                ) {
                    self.alias_declaration(cursor);
                }
            }
        }
    }

    /// The files whose data the unit collects (neither skipped nor, unless
    /// asked for, system headers) and their handles: those whose text is
    /// searched for what the callbacks do not report.
    unsafe fn scanned_files(&mut self, tu: CXTranslationUnit) -> Vec<(usize, CXFile)> {
        let include_system = self.scope.system_headers;
        let mut scanned = Vec::new();
        for (file, state) in self.files.iter_mut().enumerate() {
            let system = *state.system.get_or_insert_with(|| {
                clang_Location_isInSystemHeader(clang_getLocationForOffset(tu, state.handle, 0))
                    != 0
            });
            if !state.skipped && (include_system || !system) {
                scanned.push((file, state.handle));
            }
        }
        scanned
    }

    /// Records the declaration of a using-declaration or namespace alias.
    unsafe fn alias_declaration(&mut self, cursor: CXCursor) {
        let mut file: CXFile = ptr::null_mut();
        let (mut line, mut column) = (0, 0);
        clang_getFileLocation(
            clang_getCursorLocation(cursor),
            &mut file,
            &mut line,
            &mut column,
            ptr::null_mut(),
        );
        if file.is_null() {
            return;
        }
        let file = self.file_index(file);
        let Some(symbol) = self.cursor_symbol(cursor, None) else {
            return;
        };
        let parent = clang_getCursorSemanticParent(cursor);
        let container = if clang_isTranslationUnit(parent.kind) != 0 {
            None
        } else {
            self.cursor_symbol(parent, None)
        };
        let state = &mut self.files[file as usize];
        if state.skipped || !state.declared.insert(cursor.data[0]) {
            return;
        }
        state.data.decls.push(Decl {
            symbol,
            line,
            column,
            extent: extent(cursor),
            // One alias has one declaration; a name can be brought into a
            // scope by several using-declarations.
            is_definition: cursor.kind == CXCursor_NamespaceAlias,
            container,
            doc: None,
        });
    }

    /// Makes every lambda of the collected files a symbol with its
    /// definition, and moves the references in its body to it. libclang
    /// 14's indexing reports neither the lambda nor its extent: the
    /// references in its body come with the enclosing function (or the
    /// enclosing lambda, or none at namespace scope) as container, and a
    /// lambda without parameters leaves no trace at all. So the
    /// introducers are looked for in the text ([`lambda_introducers`]) and
    /// `clang_getCursor` says whether a lambda begins there, as for
    /// using-declarations. A lambda written in a macro's body is not found
    /// there (its calls still name it, see [`Collector::lambda_symbol`]).
    unsafe fn lambdas(&mut self, tu: CXTranslationUnit) {
        for (file, handle) in self.scanned_files(tu) {
            let text = parsed_content(tu, handle, &self.files[file].path);
            let mut bodies = Vec::new();
            for offset in lambda_introducers(&text) {
                let cursor = clang_getCursor(tu, clang_getLocationForOffset(tu, handle, offset));
                if cursor.kind != CXCursor_LambdaExpr {
                    continue;
                }
                let at = spelling_location(clang_getCursorLocation(cursor));
                if at.file != handle || at.offset != offset {
                    continue;
                }
                if let Some(body) = self.lambda_definition(file as u32, &at, cursor) {
                    bodies.push(body);
                }
            }
            if !bodies.is_empty() {
                move_into_lambdas(&mut self.files[file].data.refs, bodies);
            }
        }
    }

    /// Records the definition of the lambda `expr` (a `LambdaExpr` spelled
    /// at `at` in file `file`): its declaration and a reference with the
    /// `definition` role from what holds it; returns its body.
    unsafe fn lambda_definition(
        &mut self,
        file: u32,
        at: &Spelled,
        expr: CXCursor,
    ) -> Option<LambdaBody> {
        let class = clang_getTypeDeclaration(clang_getCursorType(expr));
        self.closure_of(class)?;
        let symbol = self.cursor_symbol(class, None)?;
        // The containers libclang gives the references in its body: its
        // enclosing lambdas and what holds the outermost.
        let mut moved = vec![Some(symbol)];
        let mut scope = clang_getCursorSemanticParent(class);
        for _ in 0..MAX_SCOPE_DEPTH {
            if clang_isTranslationUnit(scope.kind) != 0 || clang_isInvalid(scope.kind) != 0 {
                moved.push(None);
                break;
            }
            match self.closure_of(scope) {
                Some(outer) => {
                    moved.push(self.cursor_symbol(outer, None));
                    scope = clang_getCursorSemanticParent(outer);
                }
                None => {
                    moved.push(self.cursor_symbol(scope, None));
                    break;
                }
            }
        }
        // What holds it: the function or lambda whose body it is in, else
        // the variable (or field) it initialises at namespace (or class)
        // scope, which `clang_getCursor` gives as the expression's parent.
        let parent = clang_getCursorSemanticParent(class);
        let holder = if is_function_like(parent.kind) {
            moved[1]
        } else {
            let initialised = clang_getCursorSemanticParent(expr);
            match initialised.kind {
                CXCursor_VarDecl | CXCursor_FieldDecl => self.cursor_symbol(initialised, None),
                _ => moved[1],
            }
        };
        let state = &mut self.files[file as usize];
        if !state.declared.insert(class.data[0]) {
            return None;
        }
        state.data.decls.push(Decl {
            symbol,
            line: at.line,
            column: at.column,
            extent: extent(expr),
            is_definition: true,
            container: holder,
            doc: None,
        });
        state.data.refs.push(Reference {
            symbol,
            line: at.line,
            column: at.column,
            roles: role::DEFINITION,
            container: holder,
        });

        extern "C" fn find_body(
            child: CXCursor,
            _parent: CXCursor,
            found: CXClientData,
        ) -> CXChildVisitResult {
            if child.kind == CXCursor_CompoundStmt {
                // SAFETY: `found` is the cursor passed below, alive for the call.
                unsafe { *found.cast::<Option<CXCursor>>() = Some(child) };
            }
            CXChildVisit_Continue
        }
        let mut body: Option<CXCursor> = None;
        clang_visitChildren(expr, find_body, (&mut body as *mut Option<CXCursor>).cast());
        let range = clang_getCursorExtent(body?);
        let start = spelling_location(clang_getRangeStart(range));
        let end = spelling_location(clang_getRangeEnd(range));
        (start.file == at.file && end.file == at.file).then_some(LambdaBody {
            start: (start.line, start.column),
            end: (end.line, end.column),
            symbol,
            moved,
        })
    }

    /// The lambda's class `cursor` stands for or belongs to (its
    /// `operator()`, its conversion to a function pointer), if any.
    unsafe fn closure_of(&mut self, cursor: CXCursor) -> Option<CXCursor> {
        let class = match cursor.kind {
            CXCursor_ClassDecl => cursor,
            // The members a closure has that can be named (its captures
            // are unnamed fields).
            CXCursor_CXXMethod | CXCursor_FunctionTemplate | CXCursor_ConversionFunction => {
                let parent = clang_getCursorSemanticParent(cursor);
                if parent.kind != CXCursor_ClassDecl {
                    return None;
                }
                parent
            }
            _ => return None,
        };
        let is_closure = *self
            .closures
            .entry(class.data[0])
            .or_insert_with(|| is_closure(class));
        is_closure.then_some(class)
    }

    /// The symbol of the lambda whose class is `class`. clang's USR for a
    /// lambda's `operator()` names no location in an inline function or at
    /// namespace scope (two lambdas of one signature there share it), so a
    /// lambda's USR is made of where its `[` is: the file's whole path and
    /// the offset, `c:/src/a.cpp@378@lambda` (libclang 14 places what a
    /// macro's body wrote where the macro is expanded, so two lambdas of
    /// one expansion are one symbol). Its name is
    /// `(lambda at LINE:COLUMN)`, qualified by what holds it, and its type
    /// is that of its `operator()`.
    unsafe fn lambda_symbol(&mut self, class: CXCursor) -> Option<SymbolRef> {
        let at = spelling_location(clang_getCursorLocation(class));
        if at.file.is_null() {
            return None;
        }
        let usr = format!("c:{}@{}@lambda", self.path_of(at.file), at.offset);
        if let Some(&index) = self.symbol_by_usr.get(&usr) {
            return Some(index);
        }
        let name = lambda_name(&at);
        let scope = self.qualified_scope(clang_getCursorSemanticParent(class));
        let qualified_name = if scope.is_empty() {
            name.clone()
        } else {
            format!("{scope}::{name}")
        };
        let type_spelling = call_operator(class)
            .map(|operator| symbol_type(operator, "method"))
            .unwrap_or_default();
        let index = self.symbols.len() as SymbolRef;
        self.symbol_by_usr.insert(usr.clone(), index);
        self.symbols.push(Symbol {
            usr,
            name,
            qualified_name,
            kind: "lambda".to_owned(),
            type_spelling,
            underlying_type: None,
            canonical_type: None,
        });
        Some(index)
    }

    /// The path of a file as this unit records it.
    unsafe fn path_of(&self, file: CXFile) -> Cow<'_, str> {
        match self.file_by_handle.get(&file) {
            Some(&index) => Cow::Borrowed(self.files[index as usize].path.as_str()),
            None => Cow::Owned(file_path(file).0),
        }
    }

    unsafe fn included_file(&mut self, info: &CXIdxIncludedFileInfo) {
        // A missing header has no file; its error arrives as a diagnostic.
        if info.file.is_null() {
            return;
        }
        let included = self.file_index(info.file);
        // A forced include (`-include`) comes from no file.
        if let Some(at) = self.locate(info.hashLoc, true) {
            // A file without include guards (protobuf's `port_def.inc`) is
            // read once per inclusion, and its directives with it: recorded
            // once, so that its rows do not depend on how often the unit
            // that emits it included it.
            let include = Include {
                line: at.line,
                included,
            };
            let includes = &mut self.files[at.file as usize].data.includes;
            if !includes.contains(&include) {
                includes.push(include);
            }
        }
    }

    unsafe fn diagnostic_set(&mut self, set: CXDiagnosticSet) {
        for i in 0..clang_getNumDiagnosticsInSet(set) {
            let diagnostic = clang_getDiagnosticInSet(set, i);
            self.diagnostic(diagnostic);
            clang_disposeDiagnostic(diagnostic);
        }
    }

    /// Records a diagnostic and then its notes, which libclang nests as
    /// children.
    unsafe fn diagnostic(&mut self, diagnostic: CXDiagnostic) {
        let severity = match clang_getDiagnosticSeverity(diagnostic) {
            CXDiagnostic_Note => "note",
            CXDiagnostic_Warning => "warning",
            CXDiagnostic_Error => "error",
            CXDiagnostic_Fatal => "fatal",
            _ => return,
        };
        let mut file: CXFile = ptr::null_mut();
        let (mut line, mut column) = (0, 0);
        clang_getFileLocation(
            clang_getDiagnosticLocation(diagnostic),
            &mut file,
            &mut line,
            &mut column,
            ptr::null_mut(),
        );
        let file = (!file.is_null()).then(|| self.file_index(file));
        let message = take_string(clang_getDiagnosticSpelling(diagnostic));
        self.diagnostics.push(Diagnostic {
            severity: severity.to_owned(),
            file,
            line,
            column,
            message,
        });
        // The child set belongs to its parent and is not disposed.
        self.diagnostic_set(clang_getChildDiagnostics(diagnostic));
    }

    unsafe fn entity_symbol(&mut self, entity: &CXIdxEntityInfo) -> Option<SymbolRef> {
        self.cursor_symbol(entity.cursor, Some(entity))
    }

    /// The symbol of a container, unless it is the translation unit.
    unsafe fn container_symbol(
        &mut self,
        container: *const CXIdxContainerInfo,
    ) -> Option<SymbolRef> {
        let cursor = container.as_ref()?.cursor;
        if clang_isTranslationUnit(cursor.kind) != 0 {
            return None;
        }
        self.cursor_symbol(cursor, None)
    }

    /// Interns the symbol a declaration cursor stands for. `entity`, when
    /// the cursor comes from one, supplies the USR, name and template kind
    /// libclang already computed.
    unsafe fn cursor_symbol(
        &mut self,
        cursor: CXCursor,
        entity: Option<&CXIdxEntityInfo>,
    ) -> Option<SymbolRef> {
        let decl = cursor.data[0];
        if decl.is_null() || clang_isDeclaration(cursor.kind) == 0 {
            return self.intern(cursor, entity);
        }
        if let Some(&known) = self.symbol_by_decl.get(&decl) {
            return known;
        }
        let symbol = self.intern(cursor, entity);
        self.symbol_by_decl.insert(decl, symbol);
        symbol
    }

    unsafe fn intern(
        &mut self,
        cursor: CXCursor,
        entity: Option<&CXIdxEntityInfo>,
    ) -> Option<SymbolRef> {
        if let Some(class) = self.closure_of(cursor) {
            return self.lambda_symbol(class);
        }
        let usr = match entity {
            Some(entity) if !entity.USR.is_null() => borrowed_str(entity.USR),
            _ => Cow::Owned(take_string(clang_getCursorUSR(cursor))),
        };
        if usr.is_empty() {
            return None;
        }
        let template = entity.map_or(CXIdxEntity_NonTemplate, |e| e.templateKind);
        let kind = symbol_kind(cursor.kind, template);
        if !self.scope.locals && is_local(cursor, kind) {
            return None;
        }
        if let Some(&index) = self.symbol_by_usr.get(usr.as_ref()) {
            // A class template is also reached through its pattern
            // `CXXRecordDecl` (as the container of its members), whose
            // cursor says `class`; the template's kind and type win,
            // whatever the order.
            if is_template_kind(kind) {
                let symbol = &mut self.symbols[index as usize];
                symbol.kind = kind.to_owned();
                symbol.type_spelling = symbol_type(cursor, kind);
            }
            return Some(index);
        }

        let name = match entity.map(|e| borrowed_str(e.name)) {
            Some(name) if !name.is_empty() => name.into_owned(),
            _ => scope_name(cursor),
        };
        // Every unnamed namespace has the USR `c:@aN`, wherever it is
        // nested, so its qualified name cannot name a parent: which one
        // would depend on the unit that happened to store it.
        let scope = if kind == "namespace" && name == "(anonymous namespace)" {
            String::new()
        } else {
            self.qualified_scope(clang_getCursorSemanticParent(cursor))
        };
        let qualified_name = if scope.is_empty() {
            name.clone()
        } else {
            format!("{scope}::{name}")
        };
        let type_spelling = symbol_type(cursor, kind);
        let (underlying_type, canonical_type) = alias_types(cursor, kind);
        let index = self.symbols.len() as SymbolRef;
        let usr = usr.into_owned();
        self.symbol_by_usr.insert(usr.clone(), index);
        self.symbols.push(Symbol {
            usr,
            name,
            qualified_name,
            kind: kind.to_owned(),
            type_spelling,
            underlying_type,
            canonical_type,
        });
        Some(index)
    }

    /// The qualified name of a scope: the names of it and its semantic
    /// parents up to the translation unit, `::`-separated, without template
    /// arguments; empty for the translation unit. Unnamed scopes that are
    /// not namespaces or types (`extern "C"` blocks) are skipped.
    unsafe fn qualified_scope(&mut self, scope: CXCursor) -> String {
        // The scopes up to the first one already known, innermost first.
        let mut unknown = Vec::new();
        let mut outer = String::new();
        let mut cursor = scope;
        for _ in 0..MAX_SCOPE_DEPTH {
            if clang_isTranslationUnit(cursor.kind) != 0 || clang_isInvalid(cursor.kind) != 0 {
                break;
            }
            if let Some(known) = self.scope_names.get(&cursor.data[0]) {
                outer.clone_from(known);
                break;
            }
            unknown.push(cursor);
            cursor = clang_getCursorSemanticParent(cursor);
        }
        for cursor in unknown.into_iter().rev() {
            let name = scope_name(cursor);
            if !name.is_empty() {
                if !outer.is_empty() {
                    outer.push_str("::");
                }
                outer.push_str(&name);
            }
            self.scope_names.insert(cursor.data[0], outer.clone());
        }
        outer
    }

    /// The files as the protocol reports them, hashed from the bytes
    /// libclang parsed.
    unsafe fn seen_files(&mut self, tu: CXTranslationUnit) -> Vec<SeenFile> {
        self.files
            .iter_mut()
            .map(|state| {
                let system = *state.system.get_or_insert_with(|| {
                    clang_Location_isInSystemHeader(clang_getLocationForOffset(tu, state.handle, 0))
                        != 0
                });
                let (hash, size) = parsed_content_hash(tu, state.handle, &state.path);
                SeenFile {
                    path: state.path.clone(),
                    hash,
                    size,
                    mtime_ns: state.mtime_ns,
                    system,
                }
            })
            .collect()
    }

    /// Indices of the headers whose bodies libclang skipped in this unit.
    fn skipped_files(&self) -> Vec<u32> {
        (0..self.files.len() as u32)
            .filter(|&i| self.files[i as usize].skipped)
            .collect()
    }

    /// The unit's data restricted to the granted files.
    fn finish(self, unit: u32, parse_ms: u32, emit: &[bool]) -> UnitIndex {
        let mut files: Vec<FileIndex> = self
            .files
            .into_iter()
            .zip(emit)
            .filter(|(_, &granted)| granted)
            .map(|(state, _)| state.data)
            .collect();
        let symbols = prune_symbols(self.symbols, &mut files);
        UnitIndex {
            unit,
            parse_ms,
            used_prelude: self.used_prelude,
            prelude_discarded_ms: None,
            worker_rss: 0,
            worker_resident: 0,
            files,
            symbols,
            diagnostics: self.diagnostics,
        }
    }
}

/// xxh3 and length of the content libclang parsed.
unsafe fn parsed_content_hash(tu: CXTranslationUnit, file: CXFile, path: &str) -> (u64, u64) {
    let bytes = parsed_content(tu, file, path);
    (crate::fingerprint::hash_bytes(&bytes), bytes.len() as u64)
}

/// The content libclang parsed; the file on disk if libclang no longer
/// holds the buffer, and nothing if that is gone too.
unsafe fn parsed_content<'t>(tu: CXTranslationUnit, file: CXFile, path: &str) -> Cow<'t, [u8]> {
    let mut size = 0;
    let data = clang_getFileContents(tu, file, &mut size);
    if data.is_null() {
        Cow::Owned(std::fs::read(path).unwrap_or_default())
    } else {
        Cow::Borrowed(std::slice::from_raw_parts(data.cast::<u8>(), size))
    }
}

/// The key of a header in [`Session::parsed_headers`].
fn path_key(path: &str) -> u64 {
    crate::fingerprint::path_key(path)
}

/// Modification time in nanoseconds, as the refresh computes it
/// (`fingerprint`); `None` if there is no such file.
fn modified_ns(path: &str) -> Option<i64> {
    crate::fingerprint::modified_ns(path)
}

/// A normalized absolute path for a file, and its modification time (0 if
/// it is gone): libclang's real path when that names a file, otherwise its
/// name resolved against the working directory (the unit's directory).
/// The real path of a header known only from a precompiled header can be
/// wrong (`/include/c++/12/string` for `/usr/include/c++/12/string`).
unsafe fn file_path(file: CXFile) -> (String, i64) {
    let real = take_string(clang_File_tryGetRealPathName(file));
    if let Some(mtime) = modified_ns(&real) {
        return (real, mtime);
    }
    let name = take_string(clang_getFileName(file));
    let path = Path::new(&name);
    let path = match std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)) {
        Ok(absolute) => absolute.to_string_lossy().into_owned(),
        Err(_) => name,
    };
    let mtime = modified_ns(&path).unwrap_or(0);
    (path, mtime)
}

unsafe fn idx_line_column(loc: CXIdxLoc) -> (u32, u32) {
    let (mut line, mut column) = (0, 0);
    clang_indexLoc_getFileLocation(
        loc,
        ptr::null_mut(),
        ptr::null_mut(),
        &mut line,
        &mut column,
        ptr::null_mut(),
    );
    (line, column)
}

unsafe fn line_column(loc: CXSourceLocation) -> (u32, u32) {
    let (mut line, mut column) = (0, 0);
    clang_getFileLocation(
        loc,
        ptr::null_mut(),
        &mut line,
        &mut column,
        ptr::null_mut(),
    );
    (line, column)
}

/// The file and byte offset a location is expanded at (a macro's
/// expansion, not its definition).
unsafe fn expansion_offset(loc: CXSourceLocation) -> (CXFile, u32) {
    let mut file = ptr::null_mut();
    let mut offset = 0;
    clang_getExpansionLocation(
        loc,
        &mut file,
        ptr::null_mut(),
        ptr::null_mut(),
        &mut offset,
    );
    (file, offset)
}

/// The extent of a declaration; the end is one past its last character.
unsafe fn extent(cursor: CXCursor) -> Span {
    let range = clang_getCursorExtent(cursor);
    let (line, column) = line_column(clang_getRangeStart(range));
    let (end_line, end_column) = line_column(clang_getRangeEnd(range));
    Span {
        line,
        column,
        end_line,
        end_column,
    }
}

/// The type of a symbol of `kind` declared by `cursor`. A class template
/// has none: it is reached through its template cursor (no type) and
/// through its pattern (`S<T>`), in an order that varies by unit. An alias
/// template is reached through its template cursor (no type) and through
/// the alias it declares (the type), so the template cursor answers with
/// the type of that alias: the same whichever a unit meets first.
unsafe fn symbol_type(cursor: CXCursor, kind: &str) -> String {
    if kind == "class_template" {
        return String::new();
    }
    if cursor.kind == CXCursor_TypeAliasTemplateDecl {
        return alias_of_template(cursor)
            .map(|alias| type_spelling(alias))
            .unwrap_or_default();
    }
    type_spelling(cursor)
}

/// The underlying and canonical types of a typedef or type alias (of an
/// alias template, those of the alias it declares): `None` for other kinds.
unsafe fn alias_types(cursor: CXCursor, kind: &str) -> (Option<String>, Option<String>) {
    if kind != "typedef" && kind != "type_alias" {
        return (None, None);
    }
    let alias = if cursor.kind == CXCursor_TypeAliasTemplateDecl {
        match alias_of_template(cursor) {
            Some(alias) => alias,
            None => return (None, None),
        }
    } else {
        cursor
    };
    let underlying = clang_getTypedefDeclUnderlyingType(alias);
    if underlying.kind == CXType_Invalid {
        return (None, None);
    }
    let canonical = clang_getCanonicalType(clang_getCursorType(alias));
    let spell = |ty: CXType| Some(take_string(clang_getTypeSpelling(ty))).filter(|s| !s.is_empty());
    // A dependent type's canonical form names template parameters by
    // position (`Pair<type-parameter-0-0>`): no help to anyone.
    let canonical = spell(canonical).filter(|c| !c.contains("type-parameter-"));
    (spell(underlying), canonical)
}

/// The alias an alias template declares.
unsafe fn alias_of_template(cursor: CXCursor) -> Option<CXCursor> {
    extern "C" fn find_alias(
        child: CXCursor,
        _parent: CXCursor,
        found: CXClientData,
    ) -> CXChildVisitResult {
        if child.kind == CXCursor_TypeAliasDecl {
            // SAFETY: `found` is the cursor passed below, alive for the call.
            unsafe { *found.cast::<Option<CXCursor>>() = Some(child) };
            CXChildVisit_Break
        } else {
            CXChildVisit_Continue
        }
    }
    let mut alias: Option<CXCursor> = None;
    clang_visitChildren(
        cursor,
        find_alias,
        (&mut alias as *mut Option<CXCursor>).cast(),
    );
    alias
}

/// The spelling of a declaration's type, the same in every unit that sees
/// the declaration. clang computes the exception specification of a
/// destructor and of a defaulted (or implicit) special member only when a
/// unit needs it, so the same destructor spells `void () noexcept` in a
/// unit that destroys an object and `void ()` in one that does not (and a
/// defaulted constructor of a class with a throwing member
/// `void () noexcept(false)`): for those, ` noexcept` and
/// ` noexcept(false)` are never spelled.
unsafe fn type_spelling(cursor: CXCursor) -> String {
    let ty = clang_getCursorType(cursor);
    if ty.kind == CXType_Invalid {
        return String::new();
    }
    let spelling = take_string(clang_getTypeSpelling(ty));
    let lazy_exception_spec = cursor.kind == CXCursor_Destructor
        || (matches!(cursor.kind, CXCursor_Constructor | CXCursor_CXXMethod)
            && clang_CXXMethod_isDefaulted(cursor) != 0);
    let computed = [" noexcept", " noexcept(false)"]
        .iter()
        .find_map(|spec| spelling.strip_suffix(spec));
    match computed {
        Some(stripped) if lazy_exception_spec => stripped.to_owned(),
        _ => spelling,
    }
}

/// The name of a cursor as a scope, with placeholders for unnamed
/// namespaces and types. libclang 14 spells those empty; later versions
/// spell them like `(unnamed struct at f.h:3:1)`.
unsafe fn scope_name(cursor: CXCursor) -> String {
    let spelling = take_string(clang_getCursorSpelling(cursor));
    let unnamed =
        spelling.is_empty() || spelling.contains("(unnamed") || spelling.contains("(anonymous");
    match cursor.kind {
        CXCursor_Namespace if unnamed => "(anonymous namespace)".to_owned(),
        // A lambda is named after its class; its `operator()` adds nothing.
        CXCursor_ClassDecl if unnamed && is_closure(cursor) => {
            lambda_name(&spelling_location(clang_getCursorLocation(cursor)))
        }
        CXCursor_CXXMethod | CXCursor_FunctionTemplate
            if spelling == "operator()" && is_closure(clang_getCursorSemanticParent(cursor)) =>
        {
            String::new()
        }
        CXCursor_StructDecl | CXCursor_ClassDecl | CXCursor_UnionDecl | CXCursor_EnumDecl
            if unnamed =>
        {
            "(anonymous)".to_owned()
        }
        _ => spelling,
    }
}

/// Where a location is in a file: its file, line, column and byte offset.
/// libclang 14's spelling location is a macro argument's own place, and
/// the place of the expansion for what a macro's body wrote.
struct Spelled {
    file: CXFile,
    line: u32,
    column: u32,
    offset: u32,
}

unsafe fn spelling_location(loc: CXSourceLocation) -> Spelled {
    let mut at = Spelled {
        file: ptr::null_mut(),
        line: 0,
        column: 0,
        offset: 0,
    };
    clang_getSpellingLocation(
        loc,
        &mut at.file,
        &mut at.line,
        &mut at.column,
        &mut at.offset,
    );
    at
}

/// The body of a lambda of a file: the references located in it move to
/// the lambda when their container is one of `moved`.
struct LambdaBody {
    /// Line and column of the `{`, and one past the `}`.
    start: (u32, u32),
    end: (u32, u32),
    symbol: SymbolRef,
    /// The lambda, the lambdas around it and what holds the outermost
    /// (`None` for the translation unit): the containers libclang gives
    /// the references in its body, depending on the declaration statement
    /// they are in. Any other (a local class's method) is closer to them.
    moved: Vec<Option<SymbolRef>>,
}

/// Gives each reference located in a lambda's body, and held by what
/// libclang saw around it, the innermost such lambda as container. Bodies
/// nest or are apart: the innermost body holding a location is the last
/// one starting before it or one of that one's enclosing bodies.
fn move_into_lambdas(refs: &mut [Reference], mut bodies: Vec<LambdaBody>) {
    bodies.sort_by_key(|body| (body.start, std::cmp::Reverse(body.end)));
    // The index of each body's nearest enclosing body.
    let mut enclosing: Vec<Option<usize>> = Vec::with_capacity(bodies.len());
    let mut open: Vec<usize> = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        while open
            .last()
            .is_some_and(|&last| bodies[last].end <= body.start)
        {
            open.pop();
        }
        enclosing.push(open.last().copied());
        open.push(i);
    }
    for reference in refs {
        let at = (reference.line, reference.column);
        let mut candidate = bodies
            .partition_point(|body| body.start <= at)
            .checked_sub(1);
        while let Some(i) = candidate {
            if at < bodies[i].end {
                break;
            }
            candidate = enclosing[i];
        }
        if let Some(body) = candidate.map(|i| &bodies[i]) {
            if body.moved.contains(&reference.container) {
                reference.container = Some(body.symbol);
            }
        }
    }
}

/// Whether `class` is a lambda's class (a closure type). libclang 14 has
/// no predicate for it: an unnamed class whose type clang spells
/// `(lambda at FILE:LINE:COLUMN)` (after its scope, `S::(lambda at ...)`)
/// is one.
unsafe fn is_closure(class: CXCursor) -> bool {
    class.kind == CXCursor_ClassDecl
        && take_string(clang_getCursorSpelling(class)).is_empty()
        && take_string(clang_getTypeSpelling(clang_getCursorType(class))).contains("(lambda at ")
}

/// A lambda's name, after where it is written: the qualified name of one
/// is the same in every unit, unlike clang's spelling of its type, which
/// holds the path as the unit's command wrote it.
fn lambda_name(at: &Spelled) -> String {
    format!("(lambda at {}:{})", at.line, at.column)
}

/// The `operator()` of a lambda's class (a function template for a
/// generic lambda).
unsafe fn call_operator(class: CXCursor) -> Option<CXCursor> {
    extern "C" fn find(
        child: CXCursor,
        _parent: CXCursor,
        found: CXClientData,
    ) -> CXChildVisitResult {
        if matches!(child.kind, CXCursor_CXXMethod | CXCursor_FunctionTemplate)
            // SAFETY: a cursor handed to the visitor is valid during the call.
            && unsafe { take_string(clang_getCursorSpelling(child)) } == "operator()"
        {
            // SAFETY: `found` is the cursor passed below, alive for the call.
            unsafe { *found.cast::<Option<CXCursor>>() = Some(child) };
            CXChildVisit_Break
        } else {
            CXChildVisit_Continue
        }
    }
    let mut operator: Option<CXCursor> = None;
    clang_visitChildren(class, find, (&mut operator as *mut Option<CXCursor>).cast());
    operator
}

fn is_function_like(kind: CXCursorKind) -> bool {
    matches!(
        kind,
        CXCursor_FunctionDecl
            | CXCursor_CXXMethod
            | CXCursor_Constructor
            | CXCursor_Destructor
            | CXCursor_ConversionFunction
            | CXCursor_FunctionTemplate
    )
}

/// The offsets in `text` of the brackets that may open a lambda: a `[`
/// that does not follow a name, a literal or a closing bracket (those are
/// subscripts and array declarators; `return [` is a lambda), that does
/// not open an attribute, and whose matching `]` is followed by what
/// follows a lambda's introducer (`(`, `{`, `<`, `->`, `[[`, `mutable`,
/// `constexpr`, `noexcept`, ...). The cursor found there decides.
fn lambda_introducers(text: &[u8]) -> Vec<u32> {
    const MAX_INTRODUCER: usize = 4096;
    let is_identifier = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(bracket) = text[pos..].iter().position(|&c| c == b'[') {
        let open = pos + bracket;
        pos = open + 1;
        if text.get(open + 1) == Some(&b'[') {
            // An attribute, `[[nodiscard]]`: its inner bracket is no lambda.
            pos = open + 2;
            continue;
        }
        let before = text[..open].trim_ascii_end();
        match before.last() {
            Some(&c) if is_identifier(c) => {
                let start = before
                    .iter()
                    .rposition(|&c| !is_identifier(c))
                    .map_or(0, |i| i + 1);
                if !matches!(
                    &before[start..],
                    b"return" | b"co_return" | b"co_yield" | b"co_await" | b"throw" | b"case"
                ) {
                    continue;
                }
            }
            Some(b')' | b']' | b'"' | b'\'') => continue,
            _ => {}
        }
        let mut depth = 0usize;
        let close = text[open..].iter().take(MAX_INTRODUCER).position(|&c| {
            match c {
                b'[' => depth += 1,
                b']' => depth -= 1,
                _ => {}
            }
            depth == 0
        });
        let Some(close) = close else { continue };
        let after = text[open + close + 1..].trim_ascii_start().first().copied();
        if after.is_some_and(|c| {
            matches!(c, b'(' | b'{' | b'<' | b'-' | b'[') || c.is_ascii_alphabetic()
        }) {
            found.push(open as u32);
        }
    }
    found
}

/// The documented lower-case kind of a declaration. The indexer reports a
/// function template as its templated function (cursor kind
/// `FunctionDecl`/`CXXMethod`) with the entity's template kind set, hence
/// the second argument.
fn symbol_kind(cursor_kind: CXCursorKind, template: CXIdxEntityCXXTemplateKind) -> &'static str {
    let function_like = matches!(
        cursor_kind,
        CXCursor_FunctionDecl
            | CXCursor_CXXMethod
            | CXCursor_Constructor
            | CXCursor_Destructor
            | CXCursor_ConversionFunction
    );
    let record_like = matches!(
        cursor_kind,
        CXCursor_StructDecl | CXCursor_ClassDecl | CXCursor_UnionDecl
    );
    match (cursor_kind, template) {
        (_, CXIdxEntity_Template) if function_like => "function_template",
        (_, CXIdxEntity_Template) if record_like => "class_template",
        (_, CXIdxEntity_TemplatePartialSpecialization) if record_like => {
            "class_template_partial_specialization"
        }
        (CXCursor_Namespace, _) => "namespace",
        (CXCursor_ClassDecl, _) => "class",
        (CXCursor_StructDecl, _) => "struct",
        (CXCursor_UnionDecl, _) => "union",
        (CXCursor_EnumDecl, _) => "enum",
        (CXCursor_EnumConstantDecl, _) => "enum_constant",
        (CXCursor_FunctionDecl, _) => "function",
        (CXCursor_CXXMethod, _) => "method",
        (CXCursor_Constructor, _) => "constructor",
        (CXCursor_Destructor, _) => "destructor",
        (CXCursor_ConversionFunction, _) => "conversion_function",
        (CXCursor_FieldDecl, _) => "field",
        (CXCursor_VarDecl, _) => "variable",
        (CXCursor_ParmDecl, _) => "parameter",
        (CXCursor_TypedefDecl, _) => "typedef",
        // An alias template's declaration is reported as the alias it
        // declares, a use of it may name the template: one kind for both.
        (CXCursor_TypeAliasDecl | CXCursor_TypeAliasTemplateDecl, _) => "type_alias",
        (CXCursor_ClassTemplate, _) => "class_template",
        (CXCursor_ClassTemplatePartialSpecialization, _) => "class_template_partial_specialization",
        (CXCursor_FunctionTemplate, _) => "function_template",
        (CXCursor_NamespaceAlias, _) => "namespace_alias",
        (CXCursor_MacroDefinition, _) => "macro",
        (CXCursor_UsingDeclaration, _) => "using",
        // Objective-C's declarations in the nearest C++ words; its
        // protocols and categories have none.
        (CXCursor_ObjCInterfaceDecl | CXCursor_ObjCImplementationDecl, _) => "class",
        (CXCursor_ObjCProtocolDecl, _) => "protocol",
        (CXCursor_ObjCCategoryDecl | CXCursor_ObjCCategoryImplDecl, _) => "category",
        (CXCursor_ObjCInstanceMethodDecl | CXCursor_ObjCClassMethodDecl, _) => "method",
        (CXCursor_ObjCPropertyDecl, _) => "property",
        (CXCursor_ObjCIvarDecl, _) => "field",
        _ => "other",
    }
}

/// Whether a declaration of `kind` is local to a function: a parameter, or
/// a variable (or label, structured binding, ...) declared in a function
/// body.
unsafe fn is_local(cursor: CXCursor, kind: &str) -> bool {
    match kind {
        "parameter" => true,
        "variable" | "other" => matches!(
            clang_getCursorSemanticParent(cursor).kind,
            CXCursor_FunctionDecl
                | CXCursor_CXXMethod
                | CXCursor_Constructor
                | CXCursor_Destructor
                | CXCursor_ConversionFunction
                | CXCursor_FunctionTemplate
        ),
        _ => false,
    }
}

/// The offsets in `text` of the keywords that may begin a using-declaration
/// (`using` but for `using namespace`) or a namespace alias (`namespace N
/// =`). Comments and strings are not told apart: the cursor found there
/// decides.
fn alias_keywords(text: &[u8]) -> impl Iterator<Item = u32> + '_ {
    let is_identifier = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    // Each identifier with its offset.
    let mut offset = 0;
    let mut words = std::iter::from_fn(move || {
        while offset < text.len() && !is_identifier(text[offset]) {
            offset += 1;
        }
        let start = offset;
        while offset < text.len() && is_identifier(text[offset]) {
            offset += 1;
        }
        (start < offset).then(|| (start, &text[start..offset]))
    })
    .peekable();
    std::iter::from_fn(move || loop {
        let (start, word) = words.next()?;
        let candidate = match word {
            b"using" => words.peek().is_some_and(|(_, next)| *next != b"namespace"),
            b"namespace" => words.next().is_some_and(|(name, next)| {
                let after = text[name + next.len()..].trim_ascii_start();
                after.starts_with(b"=") && !after.starts_with(b"==")
            }),
            _ => false,
        };
        if candidate {
            return Some(start as u32);
        }
    })
}

/// Whether `text` (a file from a reference's location on) begins with the
/// written name of a symbol named `name`, of kind `kind`: its identifier
/// (for a constructor, its class's, without template arguments), `~` for a
/// destructor, and for an operator the keyword `operator` or the
/// operator's first character (`(` of `less(a, b)`); a conversion
/// operator is written only as `operator`. A name in parentheses (an
/// unnamed class) cannot be written, and counts as written.
fn spells(text: &[u8], name: &str, kind: &str) -> bool {
    let is_identifier = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let word = |word: &[u8]| {
        text.starts_with(word) && !text.get(word.len()).is_some_and(|&c| is_identifier(c))
    };
    let operator = name
        .strip_prefix("operator")
        .filter(|rest| !rest.bytes().next().is_some_and(is_identifier));
    if let Some(operator) = operator {
        return word(b"operator")
            || (kind != "conversion_function"
                && operator.trim_start().bytes().next() == text.first().copied());
    }
    if name.starts_with('~') {
        return text.first() == Some(&b'~');
    }
    if name.is_empty() || name.starts_with('(') {
        return true;
    }
    word(name.split('<').next().unwrap_or(name).as_bytes())
}

fn is_template_kind(kind: &str) -> bool {
    matches!(
        kind,
        "class_template" | "class_template_partial_specialization" | "function_template"
    )
}

/// Keeps only the symbols that `files` refer to, in their original order,
/// and rewrites every reference to the new numbering.
fn prune_symbols(symbols: Vec<Symbol>, files: &mut [FileIndex]) -> Vec<Symbol> {
    let mut used = vec![false; symbols.len()];
    for_each_symbol_ref(files, |s| used[*s as usize] = true);
    let mut renumbered = vec![0; symbols.len()];
    let mut kept = Vec::new();
    for ((symbol, used), new) in symbols.into_iter().zip(&used).zip(&mut renumbered) {
        if *used {
            *new = kept.len() as SymbolRef;
            kept.push(symbol);
        }
    }
    for_each_symbol_ref(files, |s| *s = renumbered[*s as usize]);
    kept
}

fn for_each_symbol_ref(files: &mut [FileIndex], mut visit: impl FnMut(&mut SymbolRef)) {
    for file in files {
        for decl in &mut file.decls {
            visit(&mut decl.symbol);
            if let Some(container) = &mut decl.container {
                visit(container);
            }
        }
        for reference in &mut file.refs {
            visit(&mut reference.symbol);
            if let Some(container) = &mut reference.container {
                visit(container);
            }
        }
        for base in &mut file.bases {
            visit(&mut base.derived);
            visit(&mut base.base);
        }
        for edge in &mut file.overrides {
            visit(&mut edge.method);
            visit(&mut edge.overridden);
        }
    }
}

// ---------------------------------------------------------------------------
// Callbacks. libclang calls them on its parsing thread; each one installs the
// library there and forwards to the collector behind `client_data`.

/// Runs `f` on the collector behind `client_data` unless an earlier
/// callback panicked, turning a panic into a recorded failure.
fn with_collector(client_data: CXClientData, f: impl FnOnce(&mut Collector)) {
    // SAFETY: `client_data` is the `&mut Collector` that `Indexer::index`
    // passed to `clang_indexSourceFile`, which is blocked in that call;
    // callbacks never overlap, so this is the only live reference.
    let collector = unsafe { &mut *client_data.cast::<Collector>() };
    if collector.panicked.is_some() {
        return;
    }
    if !clang_sys::is_loaded() {
        clang_sys::set_library(Some(collector.library.clone()));
    }
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(&mut *collector))) {
        collector.panicked = Some(panic_message(payload.as_ref()));
    }
}

/// The message a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

extern "C" fn abort_query(client_data: CXClientData, _reserved: *mut c_void) -> c_int {
    // SAFETY: as in `with_collector`.
    let collector = unsafe { &*client_data.cast::<Collector>() };
    c_int::from(collector.panicked.is_some())
}

extern "C" fn on_diagnostic(
    client_data: CXClientData,
    set: CXDiagnosticSet,
    _reserved: *mut c_void,
) {
    // SAFETY: libclang passes a live set (owned by it) for this call.
    with_collector(client_data, |c| unsafe { c.diagnostic_set(set) });
}

extern "C" fn on_entered_main_file(
    client_data: CXClientData,
    file: CXFile,
    _reserved: *mut c_void,
) -> CXIdxClientFile {
    // Called before any other file is seen, so the main file gets index 0.
    if !file.is_null() {
        // SAFETY: a live file handle of the unit being parsed.
        with_collector(client_data, |c| unsafe {
            c.file_index(file);
        });
    }
    ptr::null_mut()
}

extern "C" fn on_included_file(
    client_data: CXClientData,
    info: *const CXIdxIncludedFileInfo,
) -> CXIdxClientFile {
    // SAFETY: libclang passes a valid info for the duration of the call.
    with_collector(client_data, |c| unsafe {
        if let Some(info) = info.as_ref() {
            c.included_file(info);
        }
    });
    ptr::null_mut()
}

extern "C" fn on_imported_ast_file(
    client_data: CXClientData,
    _info: *const CXIdxImportedASTFileInfo,
) -> CXIdxClientASTFile {
    with_collector(client_data, |c| c.used_prelude = true);
    ptr::null_mut()
}

extern "C" fn on_declaration(client_data: CXClientData, info: *const CXIdxDeclInfo) {
    // SAFETY: libclang passes a valid info for the duration of the call.
    with_collector(client_data, |c| unsafe {
        if let Some(info) = info.as_ref() {
            c.declaration(info);
        }
    });
}

extern "C" fn on_reference(client_data: CXClientData, info: *const CXIdxEntityRefInfo) {
    // SAFETY: libclang passes a valid info for the duration of the call.
    with_collector(client_data, |c| unsafe {
        if let Some(info) = info.as_ref() {
            c.reference(info);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, MutexGuard};

    /// libclang and its builtin headers, found the way a build finds them
    /// (`LIBCLANG_PATH`, else the newest installed), not a fixed version.
    fn toolchain() -> &'static crate::toolchain::Toolchain {
        static TOOLCHAIN: std::sync::OnceLock<crate::toolchain::Toolchain> =
            std::sync::OnceLock::new();
        TOOLCHAIN.get_or_init(|| crate::toolchain::locate().expect("libclang (`make deps`)"))
    }

    fn resource_dir() -> &'static str {
        toolchain().resource_dir.to_str().expect("a UTF-8 path")
    }

    /// `Indexer::index` changes the working directory, and the tests share
    /// one process.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// A directory of sources and an indexer, for one test at a time.
    struct Fixture {
        dir: tempfile::TempDir,
        indexer: Indexer,
        /// Restored on drop, so no test is left in a deleted directory.
        cwd: std::path::PathBuf,
        /// Given to every unit indexed.
        prelude: Option<Prelude>,
        /// Compile arguments of every unit indexed.
        args: Vec<String>,
        _serial: MutexGuard<'static, ()>,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::env::set_current_dir(&self.cwd);
        }
    }

    impl Fixture {
        fn new(files: &[(&str, &str)]) -> Fixture {
            let serial = SERIAL
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if std::env::var_os("LIBCLANG_PATH").is_none() {
                std::env::set_var("LIBCLANG_PATH", &toolchain().library);
            }
            let dir = tempfile::tempdir().unwrap();
            for (name, text) in files {
                std::fs::write(dir.path().join(name), text).unwrap();
            }
            let cwd = std::env::current_dir().unwrap();
            Fixture {
                dir,
                indexer: Indexer::new(Scope::default(), resource_dir()).unwrap(),
                cwd,
                prelude: None,
                args: vec!["-xc++".into(), "-std=c++17".into(), "-I.".into()],
                _serial: serial,
            }
        }

        fn path(&self, name: &str) -> String {
            std::fs::canonicalize(self.dir.path())
                .unwrap()
                .join(name)
                .to_string_lossy()
                .into_owned()
        }

        /// Indexes `main`, granting files as `grant` says, and returns what
        /// the grant was shown along with the result.
        fn index_with(
            &mut self,
            main: &str,
            mut grant: impl FnMut(&[SeenFile]) -> Vec<bool>,
        ) -> (Vec<SeenFile>, Result<UnitIndex, String>) {
            self.index_seeing_skips(main, |files, _| grant(files))
        }

        /// Like [`Fixture::index_with`], with the headers reported skipped.
        fn index_seeing_skips(
            &mut self,
            main: &str,
            mut grant: impl FnMut(&[SeenFile], &[u32]) -> Vec<bool>,
        ) -> (Vec<SeenFile>, Result<UnitIndex, String>) {
            let request = IndexRequest {
                unit: 7,
                file: self.path(main),
                directory: self.dir.path().to_string_lossy().into_owned(),
                args: self.args.clone(),
                prelude: self.prelude.clone(),
            };
            let mut seen = Vec::new();
            let result = self.indexer.index(&request, &mut |files, skipped| {
                seen = files.to_vec();
                grant(files, skipped)
            });
            (seen, result)
        }

        /// Has units parsed with the standard library precompiled.
        fn with_prelude(mut self) -> Fixture {
            let header = self.path("prelude.hpp");
            std::fs::write(&header, crate::prelude::HEADER).unwrap();
            self.prelude = Some(Prelude {
                header,
                pch: self.path("std.pch"),
                language: crate::protocol::Language::Cxx,
            });
            self
        }

        /// Indexes `main` granting every file.
        fn index(&mut self, main: &str) -> (Vec<SeenFile>, UnitIndex) {
            let (seen, result) = self.index_with(main, |files| vec![true; files.len()]);
            (seen, result.unwrap())
        }
    }

    fn symbol<'a>(unit: &'a UnitIndex, qualified_name: &str) -> (SymbolRef, &'a Symbol) {
        let (index, symbol) = unit
            .symbols
            .iter()
            .enumerate()
            .find(|(_, s)| s.qualified_name == qualified_name)
            .unwrap_or_else(|| panic!("no symbol {qualified_name} in {:#?}", unit.symbols));
        (index as SymbolRef, symbol)
    }

    fn file<'a>(unit: &'a UnitIndex, seen: &[SeenFile], name: &str) -> &'a FileIndex {
        unit.files
            .iter()
            .find(|f| seen[f.file as usize].path.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no data for {name}"))
    }

    /// What one unit computes lazily and another not is not spelled: the
    /// destructor is destroyed here (its `noexcept` evaluated), the
    /// defaulted constructor used; the unnamed namespace, nested in `geo`
    /// here, is `c:@aN` in every unit.
    #[test]
    fn attributes_that_depend_on_the_unit_are_not_spelled() {
        let mut f = Fixture::new(&[(
            "main.cpp",
            "struct Thrower { ~Thrower() noexcept(false); };
             namespace geo {
             struct Shape { ~Shape(); Shape() = default; Shape(const Shape&) = default; Thrower t; };
             namespace { int hidden; }
             template <typename T> struct Holder { T get() const; };
             int noexcept_function() noexcept;
             }
             void drop(geo::Shape* s) { geo::Shape copy(*s); delete s; }
             int get(const geo::Holder<int>& h) { return h.get() + geo::hidden; }
",
        )]);
        let (_, unit) = f.index("main.cpp");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let type_of = |name: &str| symbol(&unit, name).1.type_spelling.as_str();
        assert_eq!(type_of("geo::Shape::~Shape"), "void ()");
        assert_eq!(type_of("Thrower::~Thrower"), "void ()");
        let constructors: Vec<&str> = unit
            .symbols
            .iter()
            .filter(|s| s.qualified_name == "geo::Shape::Shape")
            .map(|s| s.type_spelling.as_str())
            .collect();
        assert_eq!(constructors, ["void ()", "void (const geo::Shape &)"]);
        // Written, and never computed: kept.
        assert_eq!(type_of("geo::noexcept_function"), "int () noexcept");
        assert_eq!(type_of("geo::Holder"), "");
        let unnamed = unit.symbols.iter().find(|s| s.usr == "c:@aN").unwrap();
        assert_eq!(unnamed.qualified_name, "(anonymous namespace)");
        assert_eq!(type_of("geo::(anonymous namespace)::hidden"), "int");
    }

    #[test]
    fn qualified_names_and_kinds() {
        let mut f = Fixture::new(&[(
            "main.cpp",
            r#"
namespace ns {
class Widget {
public:
    Widget();
    ~Widget();
    operator bool() const;
    double area(int scale) const;
    template <typename T> T convert(T v) { return v; }
    int count;
};
template <typename T> struct Box { T value; T get() const { return value; } };
template <typename T> struct Box<T*> {};
template <typename T> T twice(T x) { return x + x; }
enum Color { Red, Green };
enum class Mode { On };
union Bits { int i; float f; };
namespace { int hidden; }
struct { int x; } unnamed_var;
typedef int Int;
using Real = double;
template <typename T> using Ptr = T*;
extern "C" { void c_function(int); }
}
namespace alias = ns;
alias::Int global;
"#,
        )]);
        let (_, unit) = f.index("main.cpp");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let kind_of = |name: &str| symbol(&unit, name).1.kind.as_str();
        assert_eq!(kind_of("ns"), "namespace");
        assert_eq!(kind_of("ns::Widget"), "class");
        assert_eq!(kind_of("ns::Widget::Widget"), "constructor");
        assert_eq!(kind_of("ns::Widget::~Widget"), "destructor");
        assert_eq!(kind_of("ns::Widget::operator bool"), "conversion_function");
        assert_eq!(kind_of("ns::Widget::area"), "method");
        assert_eq!(kind_of("ns::Widget::convert"), "function_template");
        assert_eq!(kind_of("ns::Widget::count"), "field");
        assert_eq!(kind_of("ns::Box"), "class_template");
        assert_eq!(kind_of("ns::Box::get"), "method");
        assert_eq!(kind_of("ns::twice"), "function_template");
        assert_eq!(kind_of("ns::Color"), "enum");
        assert_eq!(kind_of("ns::Color::Red"), "enum_constant");
        assert_eq!(kind_of("ns::Mode::On"), "enum_constant");
        assert_eq!(kind_of("ns::Bits"), "union");
        assert_eq!(kind_of("ns::(anonymous namespace)::hidden"), "variable");
        assert_eq!(kind_of("ns::(anonymous)::x"), "field");
        assert_eq!(kind_of("ns::unnamed_var"), "variable");
        assert_eq!(kind_of("ns::Int"), "typedef");
        assert_eq!(kind_of("ns::Real"), "type_alias");
        // libclang 14 reports an alias template only as its templated
        // `TypeAliasDecl`, with no template kind.
        assert_eq!(kind_of("ns::Ptr"), "type_alias");
        // Nor does it report the declaration of a namespace alias: the
        // collector finds it (`using_declarations`).
        assert_eq!(kind_of("alias"), "namespace_alias");
        let (alias, _) = symbol(&unit, "alias");
        assert!(unit.files[0]
            .decls
            .iter()
            .any(|d| d.symbol == alias && (d.line, d.column) == (25, 11)));
        assert_eq!(kind_of("ns::c_function"), "function");
        assert_eq!(kind_of("global"), "variable");

        let partial = unit
            .symbols
            .iter()
            .find(|s| s.kind == "class_template_partial_specialization");
        assert_eq!(partial.map(|s| s.qualified_name.as_str()), Some("ns::Box"));
        let (area_index, area) = symbol(&unit, "ns::Widget::area");
        assert_eq!(area.name, "area");
        assert_eq!(area.type_spelling, "double (int) const");
        let (widget, _) = symbol(&unit, "ns::Widget");
        let decl = unit.files[0]
            .decls
            .iter()
            .find(|d| d.symbol == area_index)
            .unwrap();
        assert_eq!(
            (decl.line, decl.column, decl.container),
            (8, 12, Some(widget))
        );
        assert_eq!(
            (decl.extent.line, decl.extent.column, decl.extent.end_line),
            (8, 5, 8)
        );
        assert!(!decl.is_definition);
    }

    #[test]
    fn header_declaration_and_out_of_line_definition_share_one_symbol() {
        let mut f = Fixture::new(&[
            (
                "shape.h",
                "#pragma once\nstruct Shape {\n    int sides() const;\n};\n",
            ),
            (
                "shape.cpp",
                "#include \"shape.h\"\n\nint Shape::sides() const { return 4; }\n",
            ),
        ]);
        let (seen, unit) = f.index("shape.cpp");
        let (sides, _) = symbol(&unit, "Shape::sides");
        assert_eq!(
            unit.symbols
                .iter()
                .filter(|s| s.usr == unit.symbols[sides as usize].usr)
                .count(),
            1
        );

        let declared: Vec<_> = file(&unit, &seen, "shape.h")
            .decls
            .iter()
            .filter(|d| d.symbol == sides)
            .collect();
        let defined: Vec<_> = file(&unit, &seen, "shape.cpp")
            .decls
            .iter()
            .filter(|d| d.symbol == sides)
            .collect();
        assert_eq!(declared.len(), 1);
        assert!(!declared[0].is_definition);
        assert_eq!(declared[0].line, 3);
        assert_eq!(defined.len(), 1);
        assert!(defined[0].is_definition);
        assert_eq!((defined[0].line, defined[0].column), (3, 12));
    }

    #[test]
    fn virtual_calls_bases_and_overrides() {
        let mut f = Fixture::new(&[(
            "main.cpp",
            r#"struct Base { virtual void run(); virtual ~Base(); };
struct Derived : Base { void run() override; };
struct Shared : virtual Base {};
void call(Base* b) {
    b->run();
}
"#,
        )]);
        let (_, unit) = f.index("main.cpp");
        let main = &unit.files[0];
        let (base, _) = symbol(&unit, "Base");
        let (base_run, _) = symbol(&unit, "Base::run");
        let (derived, _) = symbol(&unit, "Derived");
        let (derived_run, _) = symbol(&unit, "Derived::run");
        let (shared, _) = symbol(&unit, "Shared");
        let (call, _) = symbol(&unit, "call");

        // libclang 14 marks a virtual call CALL | DYNAMIC.
        let calls: Vec<_> = main.refs.iter().filter(|r| r.symbol == base_run).collect();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].line, calls[0].column), (5, 8));
        assert_eq!(calls[0].roles, role::CALL | role::DYNAMIC);
        assert_eq!(calls[0].container, Some(call));

        assert!(main.bases.contains(&Base {
            derived,
            base,
            line: 2,
            column: 18,
            is_virtual: false
        }));
        assert!(main.bases.contains(&Base {
            derived: shared,
            base,
            line: 3,
            column: 17,
            is_virtual: true
        }));
        assert_eq!(
            main.overrides,
            vec![Override {
                method: derived_run,
                overridden: base_run
            }]
        );
    }

    #[test]
    fn includes_are_edges_of_the_including_file() {
        let mut f = Fixture::new(&[
            ("empty.h", "// nothing declared here\n"),
            ("outer.h", "#include \"empty.h\"\n"),
            (
                "main.cpp",
                "// main\n#include \"outer.h\"\nint main() { return 0; }\n",
            ),
        ]);
        let (seen, unit) = f.index("main.cpp");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].path, f.path("main.cpp"));
        assert!(seen.iter().all(|s| !s.system));
        let content = std::fs::read(f.path("main.cpp")).unwrap();
        assert_eq!(
            (seen[0].hash, seen[0].size),
            (xxhash_rust::xxh3::xxh3_64(&content), content.len() as u64)
        );
        assert_ne!(seen[0].mtime_ns, 0);

        let index_of =
            |name: &str| seen.iter().position(|s| s.path == f.path(name)).unwrap() as u32;
        assert_eq!(
            unit.files[0].includes,
            vec![Include {
                line: 2,
                included: index_of("outer.h")
            }]
        );
        assert_eq!(
            file(&unit, &seen, "outer.h").includes,
            vec![Include {
                line: 1,
                included: index_of("empty.h")
            }]
        );
    }

    /// A file without include guards read twice has its directives once:
    /// its rows do not depend on how often the emitting unit included it.
    #[test]
    fn a_file_read_twice_has_each_include_once() {
        let mut f = Fixture::new(&[
            ("empty.h", "#pragma once\n"),
            ("twice.inc", "#include \"empty.h\"\nint INC_NAME;\n"),
            (
                "main.cpp",
                "#define INC_NAME a\n#include \"twice.inc\"\n#undef INC_NAME\n\
                 #define INC_NAME b\n#include \"twice.inc\"\n",
            ),
        ]);
        let (seen, unit) = f.index("main.cpp");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let empty = seen
            .iter()
            .position(|s| s.path.ends_with("/empty.h"))
            .unwrap();
        assert_eq!(
            file(&unit, &seen, "twice.inc").includes,
            vec![Include {
                line: 1,
                included: empty as u32
            }]
        );
        assert_eq!(unit.files[0].includes.len(), 2, "main.cpp's two lines");
    }

    #[test]
    fn builtin_headers_come_from_the_resource_dir() {
        let mut f = Fixture::new(&[("main.cpp", "#include <stddef.h>\nsize_t length;\n")]);
        let (seen, unit) = f.index("main.cpp");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let stddef = seen.iter().find(|s| s.path.ends_with("/stddef.h")).unwrap();
        assert!(stddef.path.starts_with(resource_dir()));
        assert!(stddef.system);
        assert_eq!(symbol(&unit, "length").1.type_spelling, "size_t");
        // Declarations in system headers are not indexed by default; the
        // reference to one from project code is.
        let (size_t, _) = symbol(&unit, "size_t");
        assert!(unit
            .files
            .iter()
            .flat_map(|f| &f.decls)
            .all(|d| d.symbol != size_t));
        assert!(unit.files[0].refs.iter().any(|r| r.symbol == size_t));
    }

    #[test]
    fn system_declarations_are_indexed_on_request() {
        let mut f = Fixture::new(&[("main.cpp", "#include <stddef.h>\nsize_t length;\n")]);
        f.indexer = Indexer::new(
            Scope {
                system_headers: true,
                ..Scope::default()
            },
            resource_dir(),
        )
        .unwrap();
        let (seen, unit) = f.index("main.cpp");
        let (size_t, _) = symbol(&unit, "size_t");
        assert!(file(&unit, &seen, "stddef.h")
            .decls
            .iter()
            .any(|d| d.symbol == size_t));
    }

    #[test]
    fn a_unit_with_errors_keeps_what_parsed() {
        let mut f = Fixture::new(&[("main.cpp", "int before() { return 1; }\nint broken( {\n")]);
        let (_, unit) = f.index("main.cpp");
        assert!(
            unit.diagnostics
                .iter()
                .any(|d| d.severity == "error" && d.file == Some(0) && d.line == 2),
            "{:#?}",
            unit.diagnostics
        );
        symbol(&unit, "before");
    }

    /// A project macro's USR holds its file's path, in another temporary
    /// directory for each fixture: without it, for comparisons.
    fn portable_usr(usr: &str) -> String {
        match usr.contains("@macro@") {
            true => usr.rsplit('/').next().unwrap().to_owned(),
            false => usr.to_owned(),
        }
    }

    /// Each reference as (file name, line, column, referenced USR, see
    /// [`portable_usr`]).
    fn located_refs(unit: &UnitIndex, seen: &[SeenFile]) -> Vec<(String, u32, u32, String)> {
        let mut refs: Vec<_> = unit
            .files
            .iter()
            .flat_map(|f| {
                f.refs.iter().map(|r| {
                    (
                        seen[f.file as usize]
                            .path
                            .rsplit('/')
                            .next()
                            .unwrap()
                            .to_owned(),
                        r.line,
                        r.column,
                        portable_usr(&unit.symbols[r.symbol as usize].usr),
                    )
                })
            })
            .collect();
        refs.sort();
        refs
    }

    /// Uses of the library, of a project macro, of one of the library's
    /// (`EXIT_SUCCESS`) and of one defined on the command line (`FROM_FLAG`,
    /// see [`uses_the_library`]): the precompiled library holds the latter
    /// two.
    const USES_THE_LIBRARY: [(&str, &str); 2] = [
        (
            "shape.h",
            "#include <string>\n#include <vector>\n\
             struct Shape { std::string label; std::vector<int> sides; };\n\
             #define SIDES(s) ((int)(s).sides.size())\n",
        ),
        (
            "main.cpp",
            "#include <map>\n#include <cstdlib>\n#include \"shape.h\"\n\
             std::string describe(const Shape& s) {\n\
               std::map<int, std::string> names;\n\
               return s.label + std::to_string(s.sides.size()) + names[1];\n}\n\
             int sides(const Shape& s) { return SIDES(s) + FROM_FLAG + EXIT_SUCCESS; }\n",
        ),
    ];

    /// A fixture of [`USES_THE_LIBRARY`], with `FROM_FLAG` defined.
    fn uses_the_library() -> Fixture {
        let mut f = Fixture::new(&USES_THE_LIBRARY);
        f.args.push("-DFROM_FLAG=2".into());
        f
    }

    #[test]
    fn a_precompiled_standard_library_changes_nothing_in_the_index() {
        let (plain_seen, plain) = uses_the_library().index("main.cpp");
        let mut f = uses_the_library().with_prelude();
        let (seen, unit) = f.index("main.cpp");
        assert!(!plain.used_prelude);
        assert!(unit.used_prelude);
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);

        let usrs = |u: &UnitIndex| {
            let mut usrs: Vec<_> = u.symbols.iter().map(|s| portable_usr(&s.usr)).collect();
            usrs.sort();
            usrs
        };
        assert_eq!(usrs(&unit), usrs(&plain));
        assert!(
            usrs(&unit).iter().any(|usr| usr.contains("basic_string")),
            "references into the library are kept"
        );
        // Macros too, those the precompiled header defines included.
        let expansions = |u: &UnitIndex, seen: &[SeenFile]| {
            let mut expansions: Vec<_> = located_refs(u, seen)
                .into_iter()
                .filter(|(_, _, _, usr)| usr.contains("@macro@"))
                .map(|(file, line, column, usr)| format!("{file}:{line}:{column} {usr}"))
                .collect();
            expansions.sort();
            expansions
        };
        assert_eq!(
            expansions(&unit, &seen),
            [
                "main.cpp:8:36 shape.h@105@macro@SIDES",
                "main.cpp:8:47 c:@macro@FROM_FLAG",
                "main.cpp:8:59 c:@macro@EXIT_SUCCESS",
            ]
        );
        assert_eq!(
            located_refs(&unit, &seen),
            located_refs(&plain, &plain_seen)
        );

        // The unit's files are exactly those it reads as written, under
        // their real paths: changing one of the library's headers it reads
        // makes the unit dirty, and one it does not read does not.
        let paths = |seen: &[SeenFile]| {
            let mut paths: Vec<String> = seen
                .iter()
                .map(|s| {
                    Path::new(&s.path)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                        + if s.system { &s.path } else { "" }
                })
                .collect();
            paths.sort();
            paths
        };
        // But for one header: the library includes `<cstddef>`, whose
        // `stddef.h` includes it, and the unit includes `stddef.h` only
        // for `size_t` (see `pch::Library::read_through`).
        let extra: Vec<String> = paths(&seen)
            .into_iter()
            .filter(|p| !paths(&plain_seen).contains(p))
            .collect();
        assert_eq!(extra.len(), 1);
        assert!(extra[0].ends_with("/include/__stddef_max_align_t.h"));
        assert_eq!(paths(&seen).len(), paths(&plain_seen).len() + 1);
        assert!(!seen.iter().any(|s| s.path.ends_with("/regex")));
        let string = seen
            .iter()
            .find(|s| s.path.ends_with("/bits/basic_string.h"))
            .expect("the library's headers are listed");
        assert!(string.system && string.size > 0 && string.mtime_ns > 0);
        assert!(Path::new(&string.path).exists());

        // The next unit reuses the header.
        let (_, again) = f.index("main.cpp");
        assert!(again.used_prelude);
    }

    #[test]
    fn a_precompiled_header_libclang_cannot_read_is_done_without() {
        let mut f = uses_the_library().with_prelude();
        let pch = f.prelude.as_ref().unwrap().pch.clone();
        std::fs::write(&pch, "not a precompiled header").unwrap();
        std::fs::write(
            format!("{pch}.json"),
            r#"{"files":[],"tested_macros":[],"defined_macros":[],"entries":[],"includes":[]}"#,
        )
        .unwrap();
        for _ in 0..2 {
            let (_, unit) = f.index("main.cpp");
            assert!(!unit.used_prelude);
            assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
            symbol(&unit, "describe");
        }
    }

    #[test]
    fn a_unit_at_odds_with_the_precompiled_library_is_parsed_as_written() {
        // `<cstring>` declares a function `index`; this unit never includes it.
        let mut f = Fixture::new(&[("main.cpp", "int index = 1;\nint main() { return index; }\n")])
            .with_prelude();
        let (_, unit) = f.index("main.cpp");
        assert!(!unit.used_prelude);
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let (index, _) = symbol(&unit, "index");
        assert!(unit.files[0]
            .refs
            .iter()
            .any(|r| r.symbol == index && r.line == 2));
    }

    #[test]
    fn units_parsed_again_share_a_session_of_their_own() {
        // Both units define a global `index`, which `<cstring>` declares
        // too: each is parsed again as written.
        let unit = |k: u32| {
            format!("#include \"lib.h\"\nint index = {k};\nint main{k}() {{ return helper() + index; }}\n")
        };
        let mut f = Fixture::new(&[
            ("lib.h", "inline int helper() { return 1 + 2; }\n"),
            ("a.cpp", &unit(1)),
            ("b.cpp", &unit(2)),
        ])
        .with_prelude();
        fn lib_skipped(f: &mut Fixture, main: &str) -> bool {
            let lib = f.path("lib.h");
            let mut lib_skipped = None;
            let (_, result) = f.index_seeing_skips(main, |files, skipped| {
                lib_skipped = Some(skipped.iter().any(|&i| files[i as usize].path == lib));
                vec![true; files.len()]
            });
            let unit = result.unwrap();
            assert!(!unit.used_prelude && unit.prelude_discarded_ms.is_some());
            assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
            lib_skipped.expect("granted")
        }
        // The worker's session parsed lib.h in the discarded attempt; the
        // parse that counts sees its bodies, so the unit can emit it.
        assert!(!lib_skipped(&mut f, "a.cpp"));
        // The next fallback skips the bodies the previous one parsed.
        assert!(lib_skipped(&mut f, "b.cpp"));
    }

    #[test]
    fn a_unit_that_configures_the_library_is_parsed_as_written() {
        // The old string ABI, chosen by a project header as a config.h
        // would: `std::string` is then not `std::__cxx11::basic_string`.
        // With the library precompiled ahead nothing is an error (the
        // redefinition is a warning), yet every reference would name the
        // other class.
        let uses_size = "#include <string>\nstd::string name;\nauto n = name.size();\n";
        let mut f = Fixture::new(&[
            ("config.h", "#define _GLIBCXX_USE_CXX11_ABI 0\n"),
            (
                "old_abi.cpp",
                &format!("#include \"config.h\"\n{uses_size}"),
            ),
            ("new_abi.cpp", uses_size),
        ])
        .with_prelude();
        let size_usr = |unit: &UnitIndex| {
            unit.symbols
                .iter()
                .map(|s| s.usr.clone())
                .find(|usr| usr.contains("basic_string") && usr.ends_with("@F@size#1"))
                .expect("a reference to basic_string::size")
        };

        let (_, new_abi) = f.index("new_abi.cpp");
        assert!(new_abi.used_prelude);
        assert!(size_usr(&new_abi).contains("@__cxx11@"));

        let (_, old_abi) = f.index("old_abi.cpp");
        assert!(!old_abi.used_prelude);
        assert!(old_abi.diagnostics.is_empty(), "{:#?}", old_abi.diagnostics);
        assert!(!size_usr(&old_abi).contains("@__cxx11@"));
    }

    #[test]
    fn a_main_file_that_configures_the_library_is_parsed_once_as_written() {
        let mut f = Fixture::new(&[(
            "main.cpp",
            "#define _GLIBCXX_USE_CXX11_ABI 0\n#include <string>\nauto n = std::string().size();\n",
        )])
        .with_prelude();
        let (_, unit) = f.index("main.cpp");
        assert!(!unit.used_prelude);
        assert_eq!(unit.prelude_discarded_ms, None, "no attempt was made");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        assert!(!unit.symbols.iter().any(|s| s.usr.contains("@__cxx11@")));
    }

    #[test]
    fn macros_the_commands_own_include_tests_do_not_count() {
        // The command includes cfg.h first, which tests FAST; a header of
        // the unit defines it. As written, cfg.h is read before that
        // definition too, so the precompiled header changes nothing.
        let mut f = Fixture::new(&[
            (
                "cfg.h",
                "#pragma once\n#ifdef FAST\nint mode();\n#endif\nint cfg();\n",
            ),
            ("fast.h", "#pragma once\n#define FAST 1\n"),
            (
                "main.cpp",
                "#include \"fast.h\"\n#include <string>\nint n = cfg();\n",
            ),
        ])
        .with_prelude();
        let cfg = f.path("cfg.h");
        f.args.extend(["-include".to_owned(), cfg]);
        let (_, unit) = f.index("main.cpp");
        assert!(unit.used_prelude);
        assert_eq!(unit.prelude_discarded_ms, None);
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
    }

    #[test]
    fn a_default_for_a_macro_the_compiler_defines_configures_nothing() {
        // As wxWidgets' defs.h has it for another compiler.
        let mut f = Fixture::new(&[
            (
                "compat.h",
                "#pragma once\n#if defined(__DECCXX) && !defined(__cplusplus)\n#define __cplusplus\n#endif\n",
            ),
            (
                "main.cpp",
                "#include \"compat.h\"\n#include <string>\nstd::string s;\n",
            ),
        ])
        .with_prelude();
        let (_, unit) = f.index("main.cpp");
        assert!(unit.used_prelude);
        assert_eq!(unit.prelude_discarded_ms, None);
    }

    #[test]
    fn a_missing_header_does_not_cost_a_second_parse() {
        let mut f = Fixture::new(&[(
            "main.cpp",
            "#include <string>\nstd::string name;\n#include \"generated.pb.h\"\n",
        )])
        .with_prelude();
        let (_, unit) = f.index("main.cpp");
        assert!(unit.used_prelude);
        let messages: Vec<_> = unit
            .diagnostics
            .iter()
            .map(|d| (d.severity.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [("fatal", "'generated.pb.h' file not found")],
            "the error is kept"
        );
        symbol(&unit, "name");
    }

    #[test]
    fn a_header_the_command_includes_first_configures_the_precompiled_library_too() {
        // `-include config.h` puts the old string ABI ahead of everything,
        // the precompiled library included (it is built with the unit's
        // arguments), so the unit reads config.h through the precompiled
        // header: it uses the header, sees the ABI it asked for, and still
        // depends on config.h.
        let mut f = Fixture::new(&[
            ("config.h", "#define _GLIBCXX_USE_CXX11_ABI 0\n"),
            (
                "main.cpp",
                "#include <string>\nauto n = std::string().size();\n",
            ),
        ])
        .with_prelude();
        let config = f.path("config.h");
        f.args.extend(["-include".to_owned(), config]);
        let (seen, unit) = f.index("main.cpp");
        assert!(unit.used_prelude);
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        assert!(seen
            .iter()
            .any(|s| s.path == f.path("config.h") && !s.system));
        let size = unit
            .symbols
            .iter()
            .find(|s| s.usr.contains("basic_string") && s.usr.ends_with("@F@size#1"))
            .expect("a reference to basic_string::size");
        assert!(!size.usr.contains("@__cxx11@"), "{}", size.usr);
    }

    #[test]
    fn denied_files_and_their_symbols_are_left_out() {
        let mut f = Fixture::new(&[
            (
                "lib.h",
                "struct OnlyInHeader { int member; };\ninline int helper() { return 0; }\n",
            ),
            (
                "main.cpp",
                "#include \"lib.h\"\nint use() { return helper(); }\n",
            ),
        ]);
        let (seen, result) = f.index_with("main.cpp", |files| {
            (0..files.len()).map(|i| i == 0).collect()
        });
        let unit = result.unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(unit.files.len(), 1);
        assert_eq!(unit.files[0].file, 0);
        let names: Vec<&str> = unit
            .symbols
            .iter()
            .map(|s| s.qualified_name.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["helper", "use"]);
        // Every index points into the pruned symbols.
        let main = &unit.files[0];
        assert!(main.decls.iter().all(|d| names[d.symbol as usize] == "use"));
        assert!(!main.refs.is_empty());
        assert!(main
            .refs
            .iter()
            .all(|r| names[r.symbol as usize] == "helper"));
        assert!(main
            .refs
            .iter()
            .all(|r| r.container.map(|c| names[c as usize]) == Some("use")));

        // The same session goes on with the next unit. libclang skips the
        // header's bodies this time, so it is reported skipped and never
        // emitted, even when granted.
        let (_, result) = f.index_seeing_skips("main.cpp", |files, skipped| {
            assert_eq!(skipped, [1]);
            vec![true; files.len()]
        });
        let unit = result.unwrap();
        assert_eq!(unit.files.len(), 1);
        assert!(unit
            .symbols
            .iter()
            .all(|s| s.qualified_name != "OnlyInHeader::member"));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let mut f = Fixture::new(&[]);
        let (seen, result) = f.index_with("missing.cpp", |_| panic!("nothing to grant"));
        assert!(seen.is_empty());
        let reason = result.unwrap_err();
        assert!(
            reason.starts_with("libclang could not parse: CXError_"),
            "{reason}"
        );
        assert!(reason.ends_with("missing.cpp does not exist"), "{reason}");
    }

    #[test]
    fn pruning_keeps_used_symbols_in_order_and_renumbers() {
        let symbols: Vec<Symbol> = (0..5)
            .map(|i| Symbol {
                usr: format!("u{i}"),
                name: String::new(),
                qualified_name: String::new(),
                kind: "other".into(),
                type_spelling: String::new(),
                underlying_type: None,
                canonical_type: None,
            })
            .collect();
        let extent = Span {
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 2,
        };
        let mut files = vec![
            FileIndex {
                file: 0,
                decls: vec![Decl {
                    symbol: 4,
                    line: 1,
                    column: 1,
                    extent,
                    is_definition: true,
                    container: Some(1),
                    doc: None,
                }],
                refs: vec![Reference {
                    symbol: 3,
                    line: 2,
                    column: 1,
                    roles: 0,
                    container: Some(4),
                }],
                ..FileIndex::default()
            },
            FileIndex {
                file: 2,
                bases: vec![Base {
                    derived: 4,
                    base: 1,
                    line: 1,
                    column: 1,
                    is_virtual: false,
                }],
                overrides: vec![Override {
                    method: 3,
                    overridden: 1,
                }],
                ..FileIndex::default()
            },
        ];
        let kept = prune_symbols(symbols, &mut files);
        let usrs: Vec<&str> = kept.iter().map(|s| s.usr.as_str()).collect();
        assert_eq!(usrs, ["u1", "u3", "u4"]);
        assert_eq!(
            (files[0].decls[0].symbol, files[0].decls[0].container),
            (2, Some(0))
        );
        assert_eq!(
            (files[0].refs[0].symbol, files[0].refs[0].container),
            (1, Some(2))
        );
        assert_eq!((files[1].bases[0].derived, files[1].bases[0].base), (2, 0));
        assert_eq!(
            files[1].overrides[0],
            Override {
                method: 1,
                overridden: 0
            }
        );
    }

    #[test]
    fn pruning_nothing_used_empties_the_symbols() {
        let symbol = Symbol {
            usr: "u".into(),
            name: String::new(),
            qualified_name: String::new(),
            kind: "other".into(),
            type_spelling: String::new(),
            underlying_type: None,
            canonical_type: None,
        };
        let mut files = vec![FileIndex {
            includes: vec![Include {
                line: 1,
                included: 1,
            }],
            ..FileIndex::default()
        }];
        assert!(prune_symbols(vec![symbol], &mut files).is_empty());
        assert!(prune_symbols(Vec::new(), &mut []).is_empty());
    }

    #[test]
    fn a_name_is_spelled_where_it_is_written() {
        for (text, name, kind) in [
            ("lookup(7)", "lookup", "function"),
            ("Name(8)", "Name", "constructor"),
            ("basic_string(s)", "basic_string<_CharT>", "constructor"),
            ("~Name()", "~Name", "destructor"),
            ("(1, 2)", "operator()", "method"),
            ("< b", "operator<", "function"),
            ("new Name", "operator new", "function"),
            ("operator bool()", "operator bool", "conversion_function"),
            ("operator<(b)", "operator<", "method"),
            ("x", "(anonymous)", "struct"),
        ] {
            assert!(spells(text.as_bytes(), name, kind), "{name} in {text}");
        }
        for (text, name, kind) in [
            ("7)", "Name", "constructor"),
            ("names)", "Name", "constructor"),
            ("flag)", "operator bool", "conversion_function"),
            (": items)", "operator*", "method"),
            ("CHECK(x)", "fail", "function"),
            ("", "fail", "function"),
        ] {
            assert!(!spells(text.as_bytes(), name, kind), "{name} in {text}");
        }
    }

    #[test]
    fn alias_keywords_are_found_in_text() {
        let text = "using std::string;\nusing namespace std;\nnamespace fs = a::b;\n\
                    namespace real {}\nusing Int = int;\nint namespaces; // using it\n\
                    namespace q == 1;";
        let found: Vec<&str> = alias_keywords(text.as_bytes())
            .map(|offset| {
                &text[offset as usize..text[offset as usize..].find(';').unwrap() + offset as usize]
            })
            .collect();
        assert_eq!(
            found,
            [
                "using std::string",
                "namespace fs = a::b",
                "using Int = int",
                "using it\nnamespace q == 1"
            ]
        );
    }

    #[test]
    fn lambda_introducers_are_found_in_text() {
        let text = "auto f = [&](int x) { return a[x]; };\n\
                    g([] { h(); }, [x = v[0]] mutable -> int { return x; });\n\
                    int b[4] = {[0] = 1}; [[nodiscard]] int k(); delete [] p;\n\
                    return [this]<typename T>(T t) { return m(t); };\n\
                    x = (y)[0]; s = \"[a]\"[0]; q[i](); call([]{});";
        let found: Vec<&str> = lambda_introducers(text.as_bytes())
            .into_iter()
            .map(|offset| {
                let rest = &text[offset as usize..];
                &rest[..rest.find(']').unwrap() + 1]
            })
            .collect();
        assert_eq!(found, ["[&]", "[]", "[x = v[0]", "[this]", "[]"]);
    }

    #[test]
    fn references_in_a_lambda_body_move_to_the_innermost_lambda() {
        let (function, outer, inner, local_method) = (0, 1, 2, 3);
        let at = |line, column, container| Reference {
            symbol: 9,
            line,
            column,
            roles: role::CALL,
            container,
        };
        let mut refs = vec![
            at(1, 5, Some(function)),
            // In the outer body, from the function (the body walk) and from
            // the outer lambda (a declaration statement in it).
            at(2, 5, Some(function)),
            at(2, 9, Some(outer)),
            // In the inner body; a local class's method keeps its own.
            at(3, 7, Some(outer)),
            at(3, 9, Some(function)),
            at(3, 11, Some(local_method)),
            // Between the bodies, after the inner one.
            at(4, 1, Some(function)),
            // After everything.
            at(9, 1, Some(function)),
        ];
        let bodies = vec![
            LambdaBody {
                start: (3, 5),
                end: (3, 20),
                symbol: inner,
                moved: vec![Some(inner), Some(outer), Some(function)],
            },
            LambdaBody {
                start: (2, 1),
                end: (5, 2),
                symbol: outer,
                moved: vec![Some(outer), Some(function)],
            },
            LambdaBody {
                start: (6, 1),
                end: (6, 9),
                symbol: 7,
                moved: vec![Some(7), Some(function)],
            },
        ];
        move_into_lambdas(&mut refs, bodies);
        let containers: Vec<Option<SymbolRef>> = refs.iter().map(|r| r.container).collect();
        assert_eq!(
            containers,
            [
                Some(function),
                Some(outer),
                Some(outer),
                Some(inner),
                Some(inner),
                Some(local_method),
                Some(outer),
                Some(function),
            ]
        );
    }

    /// Issue 19: a CUDA unit parsed without CUDA's headers was stored half
    /// parsed (`__global__` an unknown type) and reported indexed.
    #[test]
    fn a_cuda_unit_without_a_cuda_installation_fails_with_the_reason() {
        let mut f = Fixture::new(&[
            ("common.h", "inline int twice(int x) { return 2 * x; }\n"),
            (
                "k.cu",
                "#include \"common.h\"\n\
                 __global__ void kernel(int *x) { x[threadIdx.x] = twice(1); }\n",
            ),
            (
                "host.cu",
                "#include \"common.h\"\nint host() { return twice(2); }\n",
            ),
            (
                "main.cpp",
                "#include \"common.h\"\nint main() { return twice(3); }\n",
            ),
        ]);
        let installed = ["/usr/local/cuda", "/usr/lib/cuda"]
            .iter()
            .any(|dir| Path::new(dir).exists());
        // The language follows the extension, as the driver decides it.
        f.args = vec!["-I.".into()];
        let (_, result) = f.index_with("k.cu", |files| vec![true; files.len()]);
        match result {
            Ok(unit) => assert!(installed && unit.diagnostics.is_empty(), "{unit:#?}"),
            Err(reason) => {
                assert!(!installed, "{reason}");
                assert_eq!(reason, NO_CUDA_INSTALLATION);
            }
        }
        // The failed unit parsed common.h's bodies in the session: the next
        // unit reports the header skipped, for a unit of its own to emit.
        let (seen, skipped) = {
            let mut skipped = Vec::new();
            let (seen, result) = f.index_seeing_skips("main.cpp", |files, s| {
                skipped = s.to_vec();
                vec![true; files.len()]
            });
            result.unwrap();
            (seen, skipped)
        };
        let common = seen
            .iter()
            .position(|s| s.path.ends_with("/common.h"))
            .unwrap();
        assert_eq!(skipped, [common as u32]);
        // A command that opts out of CUDA's headers is taken at its word.
        f.args = vec!["-I.".into(), "-nocudainc".into()];
        let (_, unit) = f.index("host.cu");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        symbol(&unit, "host");
    }

    #[test]
    fn objective_c_declarations_have_kinds_of_their_own() {
        let mut f = Fixture::new(&[(
            "main.m",
            "@protocol Named\n- (int)name;\n@end\n\
             @interface Counter <Named> { int count; }\n\
             @property int step;\n\
             - (int)next;\n+ (Counter *)make;\n@end\n\
             @interface Counter (Reset)\n- (void)reset;\n@end\n",
        )]);
        f.args = vec!["-xobjective-c".into()];
        let (_, unit) = f.index("main.m");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let mut kinds: Vec<(&str, &str)> = unit
            .symbols
            .iter()
            .map(|s| (s.qualified_name.as_str(), s.kind.as_str()))
            .collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            [
                ("Counter", "class"),
                ("Counter::count", "field"),
                ("Counter::make", "method"),
                ("Counter::next", "method"),
                ("Counter::step", "property"),
                ("Named", "protocol"),
                ("Named::name", "method"),
                ("Reset", "category"),
                ("Reset::reset", "method"),
            ]
        );
    }

    #[test]
    fn function_local_symbols_are_indexed_once_with_their_own_containers() {
        let mut f = Fixture::new(&[(
            "main.cpp",
            "int h(int);\n\
             #define TWICE(x) h(x) + h(x)\n\
             int run(int p) {\n\
               struct L { int m() { return h(1); } };\n\
               int a = TWICE(p) + L().m();\n\
               return a;\n\
             }\n",
        )]);
        let (_, unit) = f.index("main.cpp");
        assert!(unit.diagnostics.is_empty(), "{:#?}", unit.diagnostics);
        let name = |s: SymbolRef| unit.symbols[s as usize].qualified_name.as_str();
        let mut refs: Vec<(u32, u32, &str, Option<&str>)> = unit.files[0]
            .refs
            .iter()
            .map(|r| (r.line, r.column, name(r.symbol), r.container.map(name)))
            .collect();
        refs.sort();
        // The macro's two calls stay two (beside the expansion itself,
        // which has no container); the declaration statement's references,
        // reported twice by libclang, are kept once, the local method's with
        // the method as container.
        assert_eq!(
            refs,
            [
                (4, 29, "h", Some("run::L::m")),
                (5, 9, "TWICE", None),
                (5, 9, "h", Some("run")),
                (5, 9, "h", Some("run")),
                (5, 20, "run::L", Some("run")),
                (5, 24, "run::L::m", Some("run")),
            ]
        );
        // Parameters and local variables are not symbols by default.
        assert!(unit
            .symbols
            .iter()
            .all(|s| s.kind != "parameter" && s.kind != "variable"));
    }

    #[test]
    fn a_declaration_and_a_definition_at_one_location_are_two() {
        // As LevelDB's `TEST` macro declares and defines a method.
        let mut f = Fixture::new(&[(
            "main.cpp",
            "#define JOB(name) struct name { void run(); }; void name::run() {}\nJOB(Job)\n",
        )]);
        let (_, unit) = f.index("main.cpp");
        let (run, _) = symbol(&unit, "Job::run");
        let decls: Vec<(u32, u32, bool)> = unit.files[0]
            .decls
            .iter()
            .filter(|d| d.symbol == run)
            .map(|d| (d.line, d.column, d.is_definition))
            .collect();
        assert_eq!(decls, [(2, 1, false), (2, 1, true)]);
    }
}
