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
use std::ffi::CString;
use std::os::raw::c_uint;
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use clang_sys::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::directives::{self, Change};
use super::prelude::{Entry, KnownPreludes, PreludeContents};
use crate::protocol::{role, IndexRequest, Language, Prelude, SeenFile, UnitIndex};

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

mod collector;
mod ffi;
mod macros;

use self::collector::{
    abort_query, on_declaration, on_diagnostic, on_entered_main_file, on_imported_ast_file,
    on_included_file, on_reference, parsed_content, path_key, Collector, FileState,
};
use self::ffi::{c_argv, c_string, file_path, take_string, Index, IndexAction, TranslationUnit};

/// Bound on the walk up semantic parents, against a malformed AST looping.
const MAX_SCOPE_DEPTH: usize = 256;

/// Decides which of a unit's files it emits: given every file the unit saw,
/// the indices of those whose bodies were skipped, what the unit
/// understood of each and whether it had errors (`Response::Parsed`), one
/// answer per file.
pub(crate) type Grant<'a> = dyn FnMut(&[SeenFile], &[u32], &[u32], bool) -> Vec<bool> + 'a;

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
    /// The session of every unit parsed once, with its prelude or as
    /// written.
    session: Session,
    /// The session of units parsed again as written after their attempt
    /// with the prelude was discarded (see [`Indexer::index`]),
    /// created at the first such unit.
    written: Option<Session>,
    index: Index,
    preludes: KnownPreludes,
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
    fn new(index: &Index) -> Result<Session, ClangError> {
        Ok(Session {
            action: IndexAction::new(index.0)?,
            parsed_headers: FxHashSet::default(),
        })
    }

    /// Records the project headers of a unit parsed in this session (`seen`,
    /// the main file first): later units skip their bodies. But for a unit
    /// with `errors`, one it understood nothing of (`understood`, per file)
    /// stays unmarked: its parser lost its way before the header (error
    /// recovery after a missing header can skip the rest of a unit), so
    /// libclang reached none of its function bodies (it marks a body's
    /// region parsed when the parser reaches the body, whose function the
    /// collector then records), and a later unit parses them in full and
    /// may emit the header. (A unit without errors that understood nothing
    /// of a header read a header of macros only: no bodies, and nothing to
    /// collect again.)
    fn parsed(&mut self, seen: &[SeenFile], understood: &[u32], errors: bool) {
        self.parsed_headers.extend(
            seen.iter()
                .zip(understood)
                .skip(1)
                .filter(|(file, &understood)| !file.system && (!errors || understood > 0))
                .map(|(file, _)| path_key(&file.path)),
        );
    }
}

/// Why libclang could not index a unit (or build a prelude):
/// the unit's failure reason, as the supervisor records it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClangError {
    #[error("cannot load libclang: {0}")]
    Load(String),
    #[error("{0} failed")]
    Create(&'static str),
    #[error("cannot enter directory {directory}: {source}")]
    Directory {
        directory: String,
        source: std::io::Error,
    },
    #[error("argument contains a NUL byte: {0:?}")]
    Nul(String),
    #[error("too many arguments")]
    TooManyArguments,
    /// A callback or the macro walk panicked; libclang was asked to stop.
    #[error("{what} panicked: {message}")]
    Panicked { what: &'static str, message: String },
    /// No translation unit: libclang's error code, and whether the file
    /// (as libclang resolved it, from the unit's directory) is missing.
    #[error("libclang could not parse: {code}{}", if *.missing { format!("; {} does not exist", .file) } else { String::new() })]
    Parse {
        code: String,
        file: String,
        missing: bool,
    },
    #[error("libclang reported no main file")]
    NoMainFile,
    #[error(
        "a CUDA unit, and clang found no CUDA installation: without its headers \
         CUDA's keywords (`__global__`) and built-in variables (`threadIdx`) are unknown and the parse \
         would be wrong; install the CUDA toolkit where clang looks for it (/usr/local/cuda) or name it \
         with `--cuda-path=DIR` in the compile command"
    )]
    NoCudaInstallation,
    #[error("grant answered {answered} files for {seen} seen")]
    Grant { answered: usize, seen: usize },
    /// The prelude's header had an error with the unit's
    /// arguments (the first, as libclang spelled it).
    #[error("{0}")]
    PreludeError(String),
    #[error("libclang could not save it (CXSaveError {0})")]
    Save(CXSaveError),
    /// The prelude's project headers configure each other or the standard
    /// library in more pairs than a unit's check may weigh (see
    /// `order_dependence`).
    #[error("more than {MAX_ORDERED_PAIRS} pairs of its headers depend on their order, as {0}")]
    OrderDependent(String),
}

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
    pub(crate) fn new(scope: Scope, resource_dir: &str) -> Result<Indexer, ClangError> {
        if !clang_sys::is_loaded() {
            clang_sys::load().map_err(ClangError::Load)?;
        }
        let library = clang_sys::get_library()
            .ok_or_else(|| ClangError::Load("it is not loaded on this thread".into()))?;
        // SAFETY: the library is loaded on this thread; the handles are
        // checked for null and disposed in `Drop`.
        unsafe {
            // `excludeDeclarationsFromPCH`: a walk of a unit's cursor (the
            // macro walk, see `macros`) visits only what the unit itself
            // parsed, not the 16,000 preprocessing entities of its
            // prelude, which it would read back one by one (a tenth of
            // LevelDB's build time, docs/benchmarks.md).
            let index = clang_createIndex(1, 0);
            if index.is_null() {
                return Err(ClangError::Create("clang_createIndex"));
            }
            let index = Index(index);
            Ok(Indexer {
                session: Session::new(&index)?,
                written: None,
                index,
                preludes: KnownPreludes::default(),
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
    ) -> Result<UnitIndex, ClangError> {
        self.ensure_library();
        // libclang resolves relative paths (the file, `-I` directories)
        // against the process's working directory; a worker is
        // single-threaded, so changing it per unit is safe.
        std::env::set_current_dir(&request.directory).map_err(|source| ClangError::Directory {
            directory: request.directory.clone(),
            source,
        })?;

        let prelude = match &request.prelude {
            Some(prelude) if !self.scope.system_headers => self
                .prelude_files(prelude, request)
                .filter(|(_, contents)| !main_file_configures(&request.file, contents)),
            _ => None,
        };
        let pch = prelude.as_ref().map(|(pch, _)| pch.as_str());
        // Given one with project headers, and not using the standard one
        // instead.
        let project_prelude = request
            .prelude
            .as_ref()
            .is_some_and(|given| given.instead.is_some() && pch == Some(given.pch.as_str()));
        let first = self.parse(&self.session, request, pch);
        // A unit that fails or has errors with the prelude ahead of it (it
        // defines a name the standard library also declares), or whose own
        // files define a macro the prelude tests (which would have
        // configured the standard library had it been read where the unit
        // includes it), is parsed again as it is written, and only that
        // parse counts.
        let fallback = match (&first, &prelude) {
            (Ok(attempt), Some((_, contents))) => {
                attempt.has_errors_but_missing_files() || attempt.configures(contents)
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
            (first?, prelude.map(|(_, contents)| contents))
        };

        // SAFETY: `tu` is the live unit the collector's file handles belong to.
        let mut seen = unsafe {
            parsed.collector.collect_macros(parsed.tu.0)?;
            parsed.collector.seen_files(parsed.tu.0)
        };
        drop(parsed.tu);
        let mut understood = parsed.collector.understood();
        let errors = parsed.collector.has_errors();
        if lacks_cuda_installation(request, &seen) {
            // Its headers' bodies were parsed in this session all the same:
            // later units skip them, and the headers are emitted by a unit
            // that parses them in a session of its own, as after a discarded
            // attempt.
            drop(parsed.collector);
            self.session_of(fallback).parsed(&seen, &understood, errors);
            return Err(ClangError::NoCudaInstallation);
        }
        let mut skipped = parsed.collector.skipped_files();
        if let Some(contents) = &prelude_files {
            // The standard headers the unit would have read as written,
            // which it read through the prelude instead: listing them keeps
            // the unit dirty when one changes, and its files the same as
            // without the prelude.
            let read = contents.read_through(&seen);
            seen.extend(read);
            // A project header inside the prelude (one the
            // command includes first, `-include config.h`) has its
            // declarations there, where the index does not walk them: this
            // unit has nothing to emit for it, as for a header whose bodies
            // it skipped, and a unit parsed as written emits it.
            let in_prelude: FxHashSet<&str> =
                contents.files.iter().map(|f| f.path.as_str()).collect();
            skipped.extend(
                seen.iter()
                    .enumerate()
                    .skip(1)
                    .filter(|(_, file)| !file.system && in_prelude.contains(file.path.as_str()))
                    .map(|(i, _)| i as u32),
            );
            skipped.sort_unstable();
            skipped.dedup();
        }

        // The headers read through the prelude, added to `seen` above, were
        // not parsed here.
        understood.resize(seen.len(), 0);
        let mut emit = grant(&seen, &skipped, &understood, errors);
        if emit.len() != seen.len() {
            return Err(ClangError::Grant {
                answered: emit.len(),
                seen: seen.len(),
            });
        }
        for &i in &skipped {
            emit[i as usize] = false;
        }
        let mut index = parsed
            .collector
            .finish(request.unit, parsed.parse_ms, &emit);
        index.prelude_discarded_ms = discarded_ms;
        index.used_project_prelude = index.used_prelude && project_prelude;
        self.session_of(fallback).parsed(&seen, &understood, errors);
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

    /// Runs libclang on the unit in `session`, with the prelude `pch` (the
    /// path of its precompiled header) ahead of it if given.
    fn parse<'s>(
        &self,
        session: &'s Session,
        request: &IndexRequest,
        pch: Option<&str>,
    ) -> Result<Parsed<'s>, ClangError> {
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
            // Called for the prelude; its declarations are not
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
            return Err(ClangError::Panicked {
                what: "indexer callback",
                message,
            });
        }
        if code != CXError_Success || tu.0.is_null() {
            return Err(failure_reason(code, &request.file));
        }
        if collector.files.is_empty() {
            return Err(ClangError::NoMainFile);
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

    /// The path of the unit's prelude and what it was built from, building
    /// it if no worker has yet; the prelude to use `instead` when it failed
    /// to build or another worker is building it right now; `None` when
    /// there is none to use.
    fn prelude_files(
        &mut self,
        prelude: &Prelude,
        request: &IndexRequest,
    ) -> Option<(String, Arc<PreludeContents>)> {
        let mut preludes = std::mem::take(&mut self.preludes);
        // The reason a prelude could not be built is kept as text: the
        // other workers of the build read it from disk (see `prelude`).
        let contents = preludes.get(prelude, |out| {
            self.build_prelude(request, &prelude.header, prelude.language, out)
                .map_err(|e| e.to_string())
        });
        // Built for another compile command, a standard prelude may not
        // read what this unit's include directories would make it read.
        let contents = contents
            .filter(|contents| preludes.searched_alike(&prelude.pch, contents, &request.args));
        self.preludes = preludes;
        match (contents, &prelude.instead) {
            (Some(contents), _) => Some((prelude.pch.clone(), contents)),
            (None, Some(instead)) => self.prelude_files(instead, request),
            (None, None) => None,
        }
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
    ) -> Result<PreludeContents, ClangError> {
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
                return Err(failure_reason(code, "the prelude"));
            }
            if let Some(error) = first_error(tu.0) {
                return Err(ClangError::PreludeError(error));
            }
            let out = c_string(&out.to_string_lossy())?;
            let saved =
                clang_saveTranslationUnit(tu.0, out.as_ptr(), clang_defaultSaveOptions(tu.0));
            if saved != CXSaveError_None {
                return Err(ClangError::Save(saved));
            }
            let mut contents = contents_read_by(tu.0);
            contents.includes = include_graph(tu.0, &contents.files);
            contents.defined_macros = defined_macros(tu.0);
            contents.ordered = order_dependence(tu.0, &contents)?;
            contents.search_dirs = crate::prelude::search_dirs(&request.args)
                .into_iter()
                .map(str::to_owned)
                .collect();
            Ok(contents)
        }
    }

    /// The request's arguments without the source file (it is passed
    /// separately), plus `-resource-dir`.
    fn arguments(&self, request: &IndexRequest) -> Result<Vec<CString>, ClangError> {
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

/// Whether the unit's main file defines or undefines a macro the prelude
/// tests before its last `#include`, which would make its parse with the
/// prelude a discarded attempt (see [`Parsed::configures`]): read before
/// parsing, so such a unit is parsed once, as written. Its headers are
/// known only after a parse; a file that cannot be read is left to
/// libclang to report.
fn main_file_configures(path: &str, contents: &PreludeContents) -> bool {
    std::fs::read(path).is_ok_and(|text| {
        directives::changes(&text, &contents.defined_macros, true)
            .into_iter()
            .filter_map(Change::name)
            .any(|name| contents.tested_macros.contains_key(name))
    })
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
    /// configured) is missing with or without the prelude:
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

    /// Whether one of the unit's own files (the main file, a project header
    /// it read, not through the prelude) defines or undefines a macro that
    /// one of the prelude's headers tests, while the unit would have read
    /// that header as written: the header, read ahead of the unit's code in
    /// the prelude, missed it (see [`directives::changes`]).
    ///
    /// The unit's files are taken in the order it met them. A header of
    /// the prelude is read as written at the first of them that includes
    /// it or a header that reads it ([`PreludeContents::first_reach`]). A
    /// change counts from the file it is in (a main file's, up to its last
    /// `#include`) until the unit undoes it (undefines what it defined, or
    /// defines again what it undefined) before reading anything else: later
    /// in the same file with no `#include` in between, or in a file that
    /// includes nothing before. protobuf's `port_def.inc` defines macros
    /// its headers test, and `port_undef.inc` undefines them, around the
    /// code of each of its files. An `#undef` of a macro nothing defined
    /// changes nothing. A header of the prelude the unit includes again
    /// (no guard) is not its own: it makes the changes the prelude made
    /// when it read it. A file the command includes first (`-include
    /// config.h`) is read through the prelude, which was built after it
    /// too, and is not among them.
    ///
    /// Nor may the unit read two of the prelude's headers whose order
    /// matters in the other order ([`PreludeContents::read_out_of_order`]).
    fn configures(&self, contents: &PreludeContents) -> bool {
        let in_prelude: FxHashMap<&str, u32> = contents
            .files
            .iter()
            .enumerate()
            .map(|(i, file)| (file.path.as_str(), i as u32))
            .collect();
        let mut includes = Vec::new();
        let mut own = Vec::new();
        for (position, state) in self.collector.files.iter().enumerate() {
            // SAFETY: the handles belong to the live `tu`.
            let (system, guarded) = unsafe {
                (
                    self.is_system(state),
                    clang_isFileMultipleIncludeGuarded(self.tu.0, state.handle) != 0,
                )
            };
            match in_prelude.get(state.path.as_str()) {
                Some(&file) if position > 0 && (system || guarded) => {
                    includes.push((file, position as u32))
                }
                // A header of the prelude the unit reads again (no guard:
                // protobuf's `port_def.inc`) makes the changes it made in
                // the prelude, where the headers that test them met them.
                Some(_) if position > 0 => {}
                _ if !system => own.push((position as u32, state)),
                _ => {}
            }
        }
        if contents.read_out_of_order(&includes) {
            return true;
        }
        // The prelude's files each position of the unit reads first.
        let mut read_at: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (file, at) in contents.first_reach(includes).into_iter().enumerate() {
            if let Some(at) = at {
                read_at.entry(at).or_default().push(file as u32);
            }
        }
        let tests = |files: &[u32], name: &str| {
            contents
                .tested_macros
                .get(name)
                .is_some_and(|testers| testers.iter().any(|t| files.contains(t)))
        };
        // The tested macros the unit's own files changed so far: whether
        // by `#undef`, and where (the file's position, and how many of its
        // `#include`s came before).
        let mut changed: FxHashMap<&str, (bool, u32, usize)> = FxHashMap::default();
        let mut own = own.into_iter().peekable();
        let end = self.collector.files.len() as u32;
        for position in 0..end {
            if let Some(files) = read_at.get(&position) {
                if changed.keys().any(|name| tests(files, name)) {
                    return true;
                }
            }
            let Some((_, state)) = own.next_if(|(at, _)| *at == position) else {
                continue;
            };
            // SAFETY: the handles belong to the live `tu`.
            let text = unsafe { parsed_content(self.tu.0, state.handle, &state.path) };
            let mut includes = 0;
            for change in directives::changes(&text, &contents.defined_macros, position == 0) {
                let (name, undef) = match change {
                    Change::Include(spelled) => {
                        // A change the header it includes next sets anew,
                        // as in the prelude (`#define X(...)` then
                        // `#include "x.def"`, which ends with `#undef X`).
                        let reread = if changed.is_empty() {
                            Vec::new()
                        } else {
                            self.set_by_reread(contents, spelled)
                        };
                        for name in reread {
                            if changed.get(name.as_str()).is_some_and(|&(_, at, before)| {
                                at == position && before == includes
                            }) {
                                changed.remove(name.as_str());
                            }
                        }
                        includes += 1;
                        continue;
                    }
                    Change::Define(name) => (name, false),
                    Change::Undef(name) => (name, true),
                };
                let Some((name, _)) = contents.tested_macros.get_key_value(name) else {
                    continue;
                };
                // Undone before anything was read in between: in this
                // file since the change, or in a file that includes
                // nothing before it.
                let undone = changed
                    .get(name.as_str())
                    .is_some_and(|&(by_undef, at, before)| {
                        by_undef != undef
                            && (includes == 0 || (at == position && before == includes))
                    });
                if undone {
                    changed.remove(name.as_str());
                } else if undef
                    && !changed.contains_key(name.as_str())
                    && !contents.defined_macros.contains(name)
                {
                    // Undefining what nothing defined (protobuf's
                    // `port_undef.inc` undefines macros only a project's
                    // build may define) changes nothing.
                } else {
                    changed.insert(name, (undef, position, includes));
                }
            }
        }
        false
    }

    /// The macros a header of the prelude without guard leaves changed (see
    /// `directives::lasting`), when an `#include` of the unit that spells
    /// `spelled` names it: the unit reads it again, and it sets them as it
    /// did in the prelude. Empty for any other header, and where the name
    /// fits several of the prelude's files.
    fn set_by_reread(&self, contents: &PreludeContents, spelled: &[u8]) -> Vec<String> {
        let Ok(spelled) = std::str::from_utf8(spelled) else {
            return Vec::new();
        };
        if spelled.is_empty() {
            return Vec::new();
        }
        let mut named = contents.files.iter().filter(|file| {
            !file.guarded
                && file
                    .path
                    .strip_suffix(spelled)
                    .is_some_and(|dir| dir.ends_with('/'))
        });
        let (Some(file), None) = (named.next(), named.next()) else {
            return Vec::new();
        };
        // SAFETY: `tu` is live; the unit read the file again if it has it.
        let text = unsafe {
            let Ok(path) = c_string(&file.path) else {
                return Vec::new();
            };
            let handle = clang_getFile(self.tu.0, path.as_ptr());
            if handle.is_null() {
                return Vec::new();
            }
            parsed_content(self.tu.0, handle, &file.path)
        };
        directives::lasting(&directives::changes(&text, &contents.defined_macros, false))
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Whether `state`'s file is a system header.
    ///
    /// # Safety
    /// `state`'s handle belongs to the live `tu`.
    unsafe fn is_system(&self, state: &FileState) -> bool {
        state.system.unwrap_or_else(|| {
            clang_Location_isInSystemHeader(clang_getLocationForOffset(self.tu.0, state.handle, 0))
                != 0
        })
    }

    /// The main file, then the project headers the unit read.
    fn project_files(&self) -> impl Iterator<Item = &FileState> {
        self.collector
            .files
            .iter()
            // SAFETY: the handles belong to the live `tu`.
            .filter(|state| unsafe { !self.is_system(state) })
    }
}

/// Every `#include` directive among the prelude's `files`, as indices
/// into them: also those a header's include guard made no-ops, which
/// `clang_getInclusions` (first inclusions only) leaves out, so that a unit
/// can list the headers it would read as written (see
/// `prelude::PreludeContents::read_through`). They come from the detailed
/// preprocessing record the prelude is built with (for its macros, see
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
                let mut offset: c_uint = 0;
                clang_getFileLocation(
                    clang_getCursorLocation(cursor),
                    &mut from,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    &mut offset,
                );
                // A missing header has no file; the command line's
                // `-include`s come from none.
                if !included.is_null() && !from.is_null() {
                    (*edges.cast::<Vec<(CXFile, c_uint, CXFile)>>()).push((from, offset, included));
                }
            }
        }
        CXChildVisit_Continue
    }
    let mut edges: Vec<(CXFile, c_uint, CXFile)> = Vec::new();
    clang_visitChildren(
        clang_getTranslationUnitCursor(tu),
        visit,
        (&mut edges as *mut Vec<(CXFile, c_uint, CXFile)>).cast(),
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
    let mut graph: Vec<(u32, c_uint, u32)> = edges
        .into_iter()
        .filter_map(|(from, offset, to)| Some((index_of(from)?, offset, index_of(to)?)))
        .collect();
    // Each file's directives in the order of its text, each header once
    // (the first: a header without guard may be included again).
    graph.sort_unstable();
    let mut named = FxHashSet::default();
    graph
        .into_iter()
        .filter(|&(from, _, to)| named.insert((from, to)))
        .map(|(from, _, to)| (from, to))
        .collect()
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

/// The names of the macros a prelude's unit defines, the
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

/// Pairs of the prelude's headers whose order matters beyond which
/// [`ClangError::OrderDependent`] refuses it: a unit's check weighs each
/// ([`PreludeContents::read_out_of_order`]).
const MAX_ORDERED_PAIRS: usize = 4096;

/// The pairs of the prelude's headers whose order matters
/// ([`PreludeContents::ordered`]): one of its project headers leaves
/// changed (`#define`, `#undef`) a macro that another of its headers tests
/// without reading the first itself or defining it first. Headers without
/// a guard (protobuf's `port_def.inc` and `port_undef.inc`) are read again
/// wherever a unit includes them, and do not count as testers. The prelude
/// reads the standard headers first, then the project's in the order one
/// unit met them; in another unit, a project header that defines
/// `_GNU_SOURCE`, or a project macro another header tests, may come first,
/// and the headers in the prelude would not be the ones it reads. A header
/// that includes the one that configures it (abseil's headers and
/// `absl/base/config.h`, protobuf's and `port_def.inc`) reads it first
/// wherever it is, and so does not depend on the order. The headers the
/// command includes first (`-include`) come first either way.
///
/// # Safety
/// `tu` is the live prelude `contents` was read from.
unsafe fn order_dependence(
    tu: CXTranslationUnit,
    contents: &PreludeContents,
) -> Result<Vec<(u32, u32)>, ClangError> {
    let from_command = contents.read_by_command();
    let read_by = contents.read_by();
    let mut reads: FxHashMap<u32, FxHashSet<u32>> = FxHashMap::default();
    let mut ordered = FxHashSet::default();
    for (i, file) in contents.files.iter().enumerate() {
        let i = i as u32;
        if file.system || from_command.contains(&i) {
            continue;
        }
        let Some(text) = prelude_text(tu, file) else {
            continue;
        };
        let changes = directives::changes(&text, &contents.defined_macros, false);
        for name in directives::lasting(&changes) {
            let Some(testers) = contents.tested_macros.get(name) else {
                continue;
            };
            for &tester in testers {
                let tester_file = &contents.files[tester as usize];
                if tester != i
                    && tester_file.guarded
                    && !ordered.contains(&(i, tester))
                    && !reads
                        .entry(tester)
                        .or_insert_with(|| read_by(tester))
                        .contains(&i)
                    && !changed_before_tested(tu, tester_file, name)
                {
                    if ordered.len() == MAX_ORDERED_PAIRS {
                        return Err(ClangError::OrderDependent(format!(
                            "{} changes {name}, which {} tests without including it",
                            file.path, tester_file.path
                        )));
                    }
                    ordered.insert((i, tester));
                }
            }
        }
    }
    let mut ordered: Vec<(u32, u32)> = ordered.into_iter().collect();
    ordered.sort_unstable();
    Ok(ordered)
}

/// Whether `file`, read by the prelude `tu`, changes `name` before it tests
/// it (see `directives::changed_before_tested`).
///
/// # Safety
/// `tu` is the live prelude that read `file`.
unsafe fn changed_before_tested(tu: CXTranslationUnit, file: &SeenFile, name: &str) -> bool {
    prelude_text(tu, file).is_some_and(|text| directives::changed_before_tested(&text, name))
}

/// The text the prelude `tu` parsed of one of its files.
///
/// # Safety
/// `tu` is the live prelude that read `file`.
unsafe fn prelude_text<'t>(tu: CXTranslationUnit, file: &SeenFile) -> Option<Cow<'t, [u8]>> {
    let path = c_string(&file.path).ok()?;
    let handle = clang_getFile(tu, path.as_ptr());
    (!handle.is_null()).then(|| parsed_content(tu, handle, &file.path))
}

/// Every file `tu` (a prelude) read except its main file, as the protocol
/// reports them, each once, the inclusion tree (one entry each time a file
/// was entered), and the macros the files test.
unsafe fn contents_read_by(tu: CXTranslationUnit) -> PreludeContents {
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
                guarded: clang_isFileMultipleIncludeGuarded(tu, file) != 0,
                // The prelude's own header is not the project's.
                from_project: false,
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
        // headers test, and lost the prelude for nothing).
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
    let mut tested_macros: FxHashMap<String, Vec<u32>> = FxHashMap::default();
    let mut tested = FxHashSet::default();
    for index in configurable {
        let file = &files[index as usize];
        let text = parsed_content(tu, handles[index as usize], &file.path);
        directives::tested_macros(&text, &mut tested);
        for name in tested.drain() {
            tested_macros.entry(name).or_default().push(index);
        }
    }
    PreludeContents {
        files,
        tested_macros,
        defined_macros: FxHashSet::default(),
        entries,
        includes: Vec::new(),
        ordered: Vec::new(),
        search_dirs: Vec::new(),
    }
}

fn failure_reason(code: CXErrorCode, file: &str) -> ClangError {
    let code = match code {
        CXError_Failure => "CXError_Failure".to_owned(),
        CXError_Crashed => "CXError_Crashed".to_owned(),
        CXError_InvalidArguments => "CXError_InvalidArguments".to_owned(),
        CXError_ASTReadError => "CXError_ASTReadError".to_owned(),
        CXError_Success => "no translation unit returned".to_owned(),
        other => format!("error code {other}"),
    };
    ClangError::Parse {
        code,
        file: file.to_owned(),
        // The working directory is the unit's, so a relative name resolves
        // as libclang resolved it.
        missing: !Path::new(file).exists(),
    }
}

#[cfg(test)]
mod tests;
