//! The raw FFI: owners that dispose libclang's handles (the index, its
//! sessions, a translation unit), C strings and slices, and file locations
//! turned into paths, lines and columns. Nothing here knows about units or
//! the index's data.

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_uint};
use std::path::Path;
use std::ptr;

use clang_sys::*;

use super::ClangError;
use crate::protocol::Span;

/// The worker's `CXIndex`, disposed after its sessions.
pub(super) struct Index(pub(super) CXIndex);

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: created in `Indexer::new`, disposed once, after the
        // sessions (fields of `Indexer` declared before it).
        unsafe { clang_disposeIndex(self.0) }
    }
}

/// Disposes the translation unit on every path out of [`Indexer::index`].
pub(super) struct TranslationUnit(pub(super) CXTranslationUnit);

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
pub(super) struct IndexAction(pub(super) CXIndexAction);

impl IndexAction {
    pub(super) fn new(index: CXIndex) -> Result<IndexAction, ClangError> {
        // SAFETY: `index` is the indexer's live index.
        let action = unsafe { clang_IndexAction_create(index) };
        if action.is_null() {
            return Err(ClangError::Create("clang_IndexAction_create"));
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

pub(super) fn c_string(s: &str) -> Result<CString, ClangError> {
    CString::new(s).map_err(|_| ClangError::Nul(s.to_owned()))
}

/// `args` as the pointer array and count libclang takes; the pointers
/// borrow from `args`.
pub(super) fn c_argv(args: &[CString]) -> Result<(Vec<*const c_char>, c_int), ClangError> {
    let pointers: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    let count = c_int::try_from(pointers.len()).map_err(|_| ClangError::TooManyArguments)?;
    Ok((pointers, count))
}

/// Converts a `CXString` to a `String` (lossily) and disposes it.
pub(super) unsafe fn take_string(s: CXString) -> String {
    let text = borrowed_str(clang_getCString(s)).into_owned();
    clang_disposeString(s);
    text
}

/// A C string owned by libclang, valid for the current callback.
pub(super) unsafe fn borrowed_str<'a>(p: *const c_char) -> Cow<'a, str> {
    if p.is_null() {
        Cow::Borrowed("")
    } else {
        CStr::from_ptr(p).to_string_lossy()
    }
}

/// A libclang array as a slice, empty when null.
pub(super) unsafe fn c_slice<'a, T>(items: *const T, count: c_uint) -> &'a [T] {
    if items.is_null() || count == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(items, count as usize)
    }
}

/// A normalized absolute path for a file, and its modification time (0 if
/// it is gone): libclang's real path when that names a file, otherwise its
/// name resolved against the working directory (the unit's directory).
/// The real path of a header known only from a precompiled header can be
/// wrong (`/include/c++/12/string` for `/usr/include/c++/12/string`).
pub(super) unsafe fn file_path(file: CXFile) -> (String, i64) {
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

pub(super) unsafe fn idx_line_column(loc: CXIdxLoc) -> (u32, u32) {
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

pub(super) unsafe fn line_column(loc: CXSourceLocation) -> (u32, u32) {
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
pub(super) unsafe fn expansion_offset(loc: CXSourceLocation) -> (CXFile, u32) {
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
pub(super) unsafe fn extent(cursor: CXCursor) -> Span {
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

/// The first child of `cursor` that is `wanted`.
pub(super) unsafe fn first_child(
    cursor: CXCursor,
    wanted: fn(CXCursor) -> bool,
) -> Option<CXCursor> {
    struct Search {
        wanted: fn(CXCursor) -> bool,
        found: Option<CXCursor>,
    }
    extern "C" fn visit(
        child: CXCursor,
        _parent: CXCursor,
        search: CXClientData,
    ) -> CXChildVisitResult {
        // SAFETY: `search` is the one passed below, alive for the walk.
        let search = unsafe { &mut *search.cast::<Search>() };
        if (search.wanted)(child) {
            search.found = Some(child);
            CXChildVisit_Break
        } else {
            CXChildVisit_Continue
        }
    }
    let mut search = Search {
        wanted,
        found: None,
    };
    clang_visitChildren(cursor, visit, (&mut search as *mut Search).cast());
    search.found
}

/// Where a location is in a file: its file, line, column and byte offset.
/// libclang 14's spelling location is a macro argument's own place, and
/// the place of the expansion for what a macro's body wrote.
pub(super) struct Spelled {
    pub(super) file: CXFile,
    pub(super) line: u32,
    pub(super) column: u32,
    pub(super) offset: u32,
}

pub(super) unsafe fn spelling_location(loc: CXSourceLocation) -> Spelled {
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

/// Modification time in nanoseconds, as the refresh computes it
/// (`fingerprint`); `None` if there is no such file.
pub(super) fn modified_ns(path: &str) -> Option<i64> {
    crate::fingerprint::modified_ns(path)
}
