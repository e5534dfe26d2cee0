//! Macro definitions and their expansions, which libclang's indexing
//! callbacks never report.
//!
//! The unit is parsed with a detailed preprocessing record
//! (`CXTranslationUnit_DetailedPreprocessingRecord`), which lists every
//! `#define` and every expansion written in a file (not those inside other
//! macros' bodies). clang also records an `#ifdef X`, `#ifndef X` and
//! `defined(X)` of a defined `X` as an expansion of it. After the parse,
//! [`Collector::collect_macros`] walks that record through the translation
//! unit's cursor, whose children start with the preprocessing entities, and
//! stops at the first declaration, so the AST is not walked again.
//!
//! What is kept, and why:
//!
//! - A definition in a project file is a `macro` symbol with a declaration;
//!   its USR is libclang's with the file's whole path instead of its base
//!   name (`c:/src/a/config.h@120@macro@FOO`), so that two `config.h`s
//!   defining `FOO` at the same offset are still two symbols.
//! - A macro with no file (defined on the command line, or predefined by
//!   the compiler) or defined in a system header keeps libclang's USR,
//!   `c:@macro@FOO`, and has no signature (see `new_symbol`); its uses are
//!   references like any other, and a system header's definitions are
//!   declarations only with `--index-system-headers`, like other system
//!   symbols.
//! - The precompiled standard library is built with a preprocessing record
//!   too: it holds the library's, the command line's and the compiler's
//!   macros, and clang records no expansion of a macro whose definition it
//!   has no record of. The workers' index excludes its entities from walks
//!   (`excludeDeclarationsFromPCH`), so that they are not read back.
//!
//! Headers whose bodies this session skipped, and files not granted, are
//! treated as for the callbacks' data: nothing located in them is sent.

use std::borrow::Cow;
use std::os::raw::c_void;
use std::ptr;

use clang_sys::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::ClangError;
use super::{
    extent, file_path, line_column, panic_message, parsed_content, take_string, Collector,
};
use crate::index::model::SymbolKind;
use crate::protocol::{role, Decl, Reference, Symbol, SymbolRef};

/// A signature longer than this is cut (at a character boundary) and ends
/// with `…`: some macros are tables hundreds of lines long.
const MAX_SIGNATURE_BYTES: usize = 200;

impl Collector<'_> {
    /// Records the macro definitions and expansions located in the files
    /// this unit collects data for. `Err` if the walk panicked.
    pub(super) unsafe fn collect_macros(
        &mut self,
        tu: CXTranslationUnit,
    ) -> Result<(), ClangError> {
        let mut walk = Walk {
            collector: self,
            tu,
            definitions: FxHashMap::default(),
            recorded: FxHashSet::default(),
            panicked: None,
        };
        clang_visitChildren(
            clang_getTranslationUnitCursor(tu),
            visit,
            (&mut walk as *mut Walk).cast(),
        );
        match walk.panicked {
            Some(message) => Err(ClangError::Panicked {
                what: "macro walk",
                message,
            }),
            None => Ok(()),
        }
    }
}

/// The state of one walk of a unit's preprocessing record.
struct Walk<'c, 's> {
    collector: &'c mut Collector<'s>,
    tu: CXTranslationUnit,
    /// By `MacroDefinitionRecord*` (a cursor's `data[0]`): the symbol of a
    /// definition.
    definitions: FxHashMap<*const c_void, SymbolRef>,
    /// The definitions and expansions recorded, as (symbol, file, line,
    /// column): a file included many times (upb's `port/def.inc`, 45 times
    /// in some protobuf units) defines and expands its macros anew each
    /// time, at the same places.
    recorded: FxHashSet<(SymbolRef, u32, u32, u32)>,
    panicked: Option<String>,
}

extern "C" fn visit(cursor: CXCursor, _parent: CXCursor, walk: CXClientData) -> CXChildVisitResult {
    // SAFETY: `walk` is the `Walk` that `collect_macros` passed, alive and
    // not otherwise borrowed during the call.
    let walk = unsafe { &mut *walk.cast::<Walk>() };
    // SAFETY: `cursor` belongs to the walk's live unit.
    let entity = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        walk.entity(cursor)
    }));
    match entity {
        Ok(result) => result,
        Err(payload) => {
            walk.panicked = Some(panic_message(payload.as_ref()));
            CXChildVisit_Break
        }
    }
}

impl Walk<'_, '_> {
    unsafe fn entity(&mut self, cursor: CXCursor) -> CXChildVisitResult {
        // The preprocessing entities come first; the rest is the AST.
        if clang_isPreprocessing(cursor.kind) == 0 {
            return CXChildVisit_Break;
        }
        match cursor.kind {
            CXCursor_MacroDefinition => self.definition(cursor),
            CXCursor_MacroExpansion => self.expansion(cursor),
            _ => {}
        }
        CXChildVisit_Continue
    }

    unsafe fn definition(&mut self, cursor: CXCursor) {
        let loc = clang_getCursorLocation(cursor);
        let Some(file) = self.file_of(loc, self.collector.scope.system_headers) else {
            return;
        };
        let symbol = self.symbol(cursor);
        let (line, column) = line_column(loc);
        if !self.recorded.insert((symbol, file, line, column)) {
            return;
        }
        self.collector.files[file as usize].data.decls.push(Decl {
            symbol,
            line,
            column,
            extent: extent(cursor),
            is_definition: true,
            container: None,
            doc: None,
        });
    }

    unsafe fn expansion(&mut self, cursor: CXCursor) {
        let loc = clang_getCursorLocation(cursor);
        let Some(file) = self.file_of(loc, false) else {
            return;
        };
        let definition = clang_getCursorReferenced(cursor);
        // A built-in macro (`__LINE__`) has no definition.
        let symbol = if clang_Cursor_isNull(definition) != 0 {
            let name = take_string(clang_getCursorSpelling(cursor));
            self.intern(format!("c:@macro@{name}"), name, String::new())
        } else {
            self.symbol(definition)
        };
        let (line, column) = line_column(loc);
        if !self.recorded.insert((symbol, file, line, column)) {
            return;
        }
        self.collector.files[file as usize]
            .data
            .refs
            .push(Reference {
                symbol,
                line,
                column,
                roles: role::EXPANSION,
                container: None,
            });
    }

    /// The index of the file `loc` is in, if the unit collects data there.
    /// A file the callbacks never reported was read by the precompiled
    /// header, not by this unit (the header's own main file, say): the
    /// walk does not visit its entities (see `Indexer::new`), and were it
    /// to, they would not make that file one of the unit's.
    unsafe fn file_of(&mut self, loc: CXSourceLocation, in_system: bool) -> Option<u32> {
        let mut file: CXFile = ptr::null_mut();
        clang_getFileLocation(
            loc,
            &mut file,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        if !self.collector.file_by_handle.contains_key(&file) {
            return None;
        }
        self.collector.collected_file(file, in_system, || loc)
    }

    /// The symbol of a macro definition.
    unsafe fn symbol(&mut self, definition: CXCursor) -> SymbolRef {
        let key = definition.data[0];
        if let Some(&known) = self.definitions.get(&key) {
            return known;
        }
        let symbol = self.new_symbol(definition);
        self.definitions.insert(key, symbol);
        symbol
    }

    unsafe fn new_symbol(&mut self, definition: CXCursor) -> SymbolRef {
        let loc = clang_getCursorLocation(definition);
        let mut file: CXFile = ptr::null_mut();
        let mut offset = 0;
        clang_getFileLocation(
            loc,
            &mut file,
            ptr::null_mut(),
            ptr::null_mut(),
            &mut offset,
        );
        let name = take_string(clang_getCursorSpelling(definition));
        // Like libclang, no location in the USR of a macro of the command
        // line, of the compiler or of a system header: the same name means
        // the same macro there. Units can define it differently (`assert`
        // with and without `NDEBUG`, `NULL` in C and C++), and the unit
        // that emits the symbol is not chosen: its definition would depend
        // on the build's history, so it has none.
        if file.is_null() || clang_Location_isInSystemHeader(loc) != 0 {
            return self.intern(format!("c:@macro@{name}"), name, String::new());
        }
        let path = match self.collector.file_by_handle.get(&file) {
            Some(&index) => Cow::Borrowed(self.collector.files[index as usize].path.as_str()),
            // A header read through the precompiled header only.
            None => Cow::Owned(file_path(file).0),
        };
        let signature = signature(self.tu, definition, file, &path);
        let usr = format!("c:{path}@{offset}@macro@{name}");
        self.intern(usr, name, signature)
    }

    fn intern(&mut self, usr: String, name: String, signature: String) -> SymbolRef {
        let collector = &mut *self.collector;
        if let Some(&known) = collector.symbol_by_usr.get(&usr) {
            return known;
        }
        let index = collector.symbols.len() as SymbolRef;
        collector.symbol_by_usr.insert(usr.clone(), index);
        collector.symbols.push(Symbol {
            usr,
            qualified_name: name.clone(),
            name,
            kind: SymbolKind::Macro,
            type_spelling: signature,
            underlying_type: None,
            canonical_type: None,
        });
        index
    }
}

/// The definition as written, from `#define` to the end of its body, on
/// one line (see [`spell_definition`]); `path` is `file`'s.
unsafe fn signature(
    tu: CXTranslationUnit,
    definition: CXCursor,
    file: CXFile,
    path: &str,
) -> String {
    let offset = |loc| {
        let mut offset = 0;
        clang_getFileLocation(
            loc,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut offset,
        );
        offset as usize
    };
    let range = clang_getCursorExtent(definition);
    let (start, end) = (
        offset(clang_getRangeStart(range)),
        offset(clang_getRangeEnd(range)),
    );
    parsed_content(tu, file, path)
        .get(start..end.max(start))
        .map(spell_definition)
        .unwrap_or_default()
}

/// `#define ` and the definition's text from its name to the end of its
/// body, line continuations removed and each run of white space made one
/// space (also inside string literals), cut after [`MAX_SIGNATURE_BYTES`].
fn spell_definition(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text)
        .replace("\\\r\n", " ")
        .replace("\\\n", " ");
    let mut spelled = String::from("#define");
    for word in text.split_whitespace() {
        spelled.push(' ');
        spelled.push_str(word);
    }
    if spelled.len() > MAX_SIGNATURE_BYTES {
        let mut cut = MAX_SIGNATURE_BYTES;
        while !spelled.is_char_boundary(cut) {
            cut -= 1;
        }
        spelled.truncate(cut);
        spelled.push('…');
    }
    spelled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_is_spelled_on_one_line() {
        assert_eq!(
            spell_definition(b"SUM(a, b) \\\n    ((a) +\t\\\r\n     (b))"),
            "#define SUM(a, b) ((a) + (b))"
        );
        // A backslash that does not end a line stays.
        assert_eq!(spell_definition(br#"NL "\n""#), r#"#define NL "\n""#);
    }

    #[test]
    fn a_long_definition_is_cut_at_a_character_boundary() {
        let body = "é".repeat(200);
        let spelled = spell_definition(format!("LONG {body}").as_bytes());
        // `#define LONG ` is 13 bytes, then two bytes per `é`: the cut at
        // 200 would fall inside one.
        assert_eq!(spelled, format!("#define LONG {}…", "é".repeat(93)));
    }
}
