//! The wire protocol between the supervisor and its worker processes.
//!
//! A worker reads [`Request`]s on its stdin and writes [`Response`]s on its
//! stdout. Every message is one frame: a little-endian `u32` byte length
//! followed by that many bytes of bincode. This is the only module that
//! derives serde for the wire, so the format has one owner.
//!
//! A conversation:
//!
//! ```text
//! supervisor                         worker
//!     Hello{version, ...}   ──────▶
//!                           ◀──────  Ready{version, libclang}
//!     Index(unit)           ──────▶
//!                           ◀──────  Parsed{unit, files, ..}  (every file the unit saw)
//!     Grant{emit}           ──────▶                            (which headers it may emit)
//!                           ◀──────  Indexed(UnitIndex) | Failed{unit, reason}
//!     Index(unit) ...
//!     (stdin closed)        ──────▶  exits 0
//! ```
//!
//! The grant round-trip is how header deduplication keeps duplicate header
//! data off the pipe: the supervisor, which sees every unit, decides which
//! unit emits a given header, and the others never serialize it.
//!
//! Paths travel as `String`: libclang hands out file names as C strings and
//! SQLite stores text, so a non-UTF-8 name is converted lossily once, where it
//! enters the system (see `discover` and `worker::clang`).

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::index::model::SymbolKind;

/// Bumped whenever a type below changes shape; a worker built from other
/// sources refuses the handshake instead of misreading frames.
pub(crate) const PROTOCOL_VERSION: u32 = 13;

/// Upper bound on one frame, so a corrupt length prefix fails fast instead
/// of allocating gigabytes.
const MAX_FRAME_BYTES: u32 = 1 << 30;

/// Identifies a translation unit within one build (an index into the plan).
pub(crate) type UnitId = u32;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Hello(Hello),
    Index(IndexRequest),
    /// Answer to [`Response::Parsed`]: `emit[i]` says whether the worker
    /// sends the data of `files[i]`.
    Grant {
        emit: Vec<bool>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub version: u32,
    /// Emit declarations located in system headers too.
    pub index_system_headers: bool,
    /// Emit parameters and local variables too.
    pub index_locals: bool,
    /// Passed to libclang as `-resource-dir`, so builtin headers such as
    /// `<stddef.h>` are found whatever path libclang was loaded from.
    pub resource_dir: String,
    /// After a unit, a worker that owns at most this many bytes keeps the
    /// heap it freed for its next unit; one that owns more hands the free
    /// pages back to the system.
    pub retain_free_memory: u64,
}

/// One translation unit to index, with the arguments already cleaned of the
/// compiler name and output-only flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexRequest {
    pub unit: UnitId,
    /// Absolute path of the main source file.
    pub file: String,
    /// Working directory for relative paths in `args`.
    pub directory: String,
    pub args: Vec<String>,
    /// The prelude to parse the unit with, if its compile command has one
    /// (see `crate::prelude`).
    pub prelude: Option<Prelude>,
}

/// Where a unit's prelude lives. The first worker that needs it builds it
/// from `header` with the unit's own arguments; `pch`, the prelude as
/// clang's precompiled header file, and the files next to it are shared by
/// all workers of the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Prelude {
    pub header: String,
    pub pch: String,
    /// The unit's language, which the header is precompiled in.
    pub language: Language,
    /// The prelude to use if this one cannot be built: the standard
    /// library's, for one that also takes in project headers.
    pub instead: Option<Box<Prelude>>,
}

/// The language of a unit that can have a prelude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Language {
    C,
    Cxx,
}

impl Language {
    /// The `-x` value that precompiles a header in this language.
    pub(crate) fn header_kind(self) -> &'static str {
        match self {
            Language::C => "c-header",
            Language::Cxx => "c++-header",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    Ready {
        version: u32,
        /// `clang_getClangVersion()`, recorded so that a libclang upgrade
        /// makes every unit dirty.
        libclang: String,
    },
    Parsed {
        unit: UnitId,
        /// Every file the unit read; `files[0]` is the main file.
        files: Vec<SeenFile>,
        /// Indices into `files` of headers an earlier unit of this worker
        /// already parsed: libclang skipped their function bodies this time
        /// (`CXIndexOpt_SkipParsedBodiesInSession`), so this unit's data for
        /// them lacks the references inside those bodies and must not be
        /// emitted.
        bodies_skipped: Vec<u32>,
        /// Per file of `files`, what this unit understood of it: the
        /// declarations and references it collected there, macros aside.
        /// A unit whose parser lost its way before a header (error recovery
        /// after a missing header can skip the rest of a unit) has nothing
        /// there; when it had `errors`, a later unit that understood more
        /// emits the header instead (`supervise::claims`).
        understood: Vec<u32>,
        /// Whether the unit's parse reported an error.
        errors: bool,
    },
    Indexed(Box<UnitIndex>),
    /// libclang produced no translation unit at all (missing file, unusable
    /// arguments). A unit that parsed with errors is `Indexed` and carries
    /// its diagnostics instead.
    Failed {
        unit: UnitId,
        reason: String,
    },
}

/// A file as libclang saw it while parsing a unit. The hash is of the bytes
/// libclang parsed, so a file edited during the run is detected as changed
/// on the next build rather than recorded with its new content's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeenFile {
    pub path: String,
    /// xxh3-64 of the content.
    pub hash: u64,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch, from a `stat` taken
    /// after parsing.
    pub mtime_ns: i64,
    pub system: bool,
    /// Whether reading it again is a no-op (an include guard or `#pragma
    /// once`): only such a project header can join a prelude (see
    /// `crate::prelude`).
    pub guarded: bool,
    /// Whether a project file (the main file, a project header) includes
    /// it: a system header that one includes is a library's public header,
    /// made to be included alone, which a prelude may hold (see
    /// `crate::prelude`).
    pub from_project: bool,
}

#[cfg(test)]
impl SeenFile {
    /// A guarded project header (or main file) at `path`, for tests.
    pub(crate) fn project(path: &str) -> SeenFile {
        SeenFile {
            path: path.into(),
            hash: 1,
            size: 1,
            mtime_ns: 0,
            system: false,
            guarded: true,
            from_project: true,
        }
    }
}

/// Everything extracted from one unit, restricted to the files it was
/// granted. Symbols, files and diagnostics are referred to by their index in
/// the vectors of this struct.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct UnitIndex {
    pub unit: UnitId,
    pub parse_ms: u32,
    /// Whether libclang parsed the unit with its prelude (rather than
    /// without one, or falling back after errors).
    pub used_prelude: bool,
    /// Whether that prelude also held project headers (see
    /// `crate::prelude`).
    pub used_project_prelude: bool,
    /// Set when the unit was given its prelude but parsed again as written
    /// (errors, or a macro the prelude tests): the
    /// milliseconds of the discarded first parse (included in `parse_ms`).
    pub prelude_discarded_ms: Option<u32>,
    /// Resident-minus-shared bytes of the worker after this unit.
    pub worker_rss: u64,
    /// All resident bytes of the worker after this unit, shared pages
    /// (libclang's code) included.
    pub worker_resident: u64,
    /// Indices into the `files` of the `Parsed` message that were granted,
    /// each with its data. The main file is always present.
    pub files: Vec<FileIndex>,
    pub symbols: Vec<Symbol>,
    /// Diagnostics of the whole unit (they belong to the unit, not to the
    /// file they point into).
    pub diagnostics: Vec<Diagnostic>,
}

impl UnitIndex {
    /// Whether the unit's parse reported an error (or a fatal one).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == "error" || d.severity == "fatal")
    }
}

/// Index into [`UnitIndex::symbols`].
pub(crate) type SymbolRef = u32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Symbol {
    pub usr: String,
    pub name: String,
    pub qualified_name: String,
    pub kind: SymbolKind,
    /// Type or signature spelling, e.g. `double (int) const`; empty if none.
    pub type_spelling: String,
    /// A typedef's or type alias's underlying type as written (`Map<int>`).
    pub underlying_type: Option<String>,
    /// A typedef's or type alias's canonical type, every alias resolved
    /// (`std::map<int, int>`).
    pub canonical_type: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct FileIndex {
    /// Index into the `files` of the `Parsed` message.
    pub file: u32,
    pub decls: Vec<Decl>,
    pub refs: Vec<Reference>,
    pub includes: Vec<Include>,
    pub bases: Vec<Base>,
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Span {
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Decl {
    pub symbol: SymbolRef,
    /// Location of the name.
    pub line: u32,
    pub column: u32,
    /// Extent of the whole declaration.
    pub extent: Span,
    pub is_definition: bool,
    /// The semantic parent (class, namespace, ...), if it is a symbol.
    pub container: Option<SymbolRef>,
    /// The documentation comment written at this declaration, without its
    /// markers (`worker::comments`).
    pub doc: Option<String>,
}

pub(crate) use crate::index::model::role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reference {
    pub symbol: SymbolRef,
    pub line: u32,
    pub column: u32,
    /// [`role`] bits.
    pub roles: u32,
    /// The function, method or variable whose body holds the reference.
    pub container: Option<SymbolRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Include {
    pub line: u32,
    /// Index into the `files` of the `Parsed` message.
    pub included: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Base {
    pub derived: SymbolRef,
    pub base: SymbolRef,
    pub line: u32,
    pub column: u32,
    pub is_virtual: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Override {
    pub method: SymbolRef,
    pub overridden: SymbolRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Diagnostic {
    /// `note`, `warning`, `error` or `fatal`.
    pub severity: String,
    /// Index into the `files` of the `Parsed` message, if it has a location
    /// in a file.
    pub file: Option<u32>,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Writes one frame and flushes, so the peer sees it at once.
pub(crate) fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let bytes = bincode::serialize(message).map_err(io::Error::other)?;
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&n| n <= MAX_FRAME_BYTES)
        .ok_or_else(|| io::Error::other(format!("frame of {} bytes is too large", bytes.len())))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&bytes)?;
    out.flush()
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames;
/// an end of stream inside a frame is an error.
pub(crate) fn read_frame<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match input.read(&mut len[..1])? {
        0 => return Ok(None),
        _ => input.read_exact(&mut len[1..])?,
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} exceeds the limit"),
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes)?;
    bincode::deserialize(&bytes)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &Request::Grant {
                emit: vec![true, false],
            },
        )
        .unwrap();
        write_frame(
            &mut buf,
            &Response::Failed {
                unit: 7,
                reason: "no such file".into(),
            },
        )
        .unwrap();
        let mut input = &buf[..];
        match read_frame::<Request>(&mut input).unwrap() {
            Some(Request::Grant { emit }) => assert_eq!(emit, vec![true, false]),
            other => panic!("unexpected {other:?}"),
        }
        match read_frame::<Response>(&mut input).unwrap() {
            Some(Response::Failed { unit, reason }) => {
                assert_eq!((unit, reason.as_str()), (7, "no such file"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(read_frame::<Response>(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_frame_cut_short_is_an_error() {
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &Request::Grant {
                emit: vec![true; 10],
            },
        )
        .unwrap();
        buf.truncate(buf.len() - 3);
        assert!(read_frame::<Request>(&mut &buf[..]).is_err());
    }

    #[test]
    fn an_absurd_length_is_refused_without_allocating() {
        let buf = u32::MAX.to_le_bytes();
        let err = read_frame::<Request>(&mut &buf[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
