//! The collector: what libclang's indexing callbacks report about one
//! unit, sorted into the data of the file each thing is located in (see
//! the parent module's design notes), and the `extern "C"` callbacks that
//! feed it. One collector per unit; it never outlives the unit.

use std::borrow::Cow;
use std::os::raw::{c_int, c_uint, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use clang_sys::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::ffi::{
    borrowed_str, c_slice, expansion_offset, extent, file_path, first_child, idx_line_column,
    spelling_location, take_string, Spelled,
};
use super::{Scope, MAX_SCOPE_DEPTH, ROLE_MASK};
use crate::index::model::SymbolKind;
use crate::protocol::{
    role, Base, Decl, Diagnostic, FileIndex, Include, Override, Reference, SeenFile, Symbol,
    SymbolRef, UnitIndex,
};
use crate::worker::comments;

/// A location resolved to this unit's file list.
pub(super) struct At {
    pub(super) file: u32,
    pub(super) line: u32,
    pub(super) column: u32,
    /// Byte offset in the file.
    pub(super) offset: u32,
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
pub(super) enum Occurrence {
    Expression(*const c_void, SymbolRef),
    Name(u32, u32, SymbolRef, u32),
}

/// A file seen by the unit being indexed, with the data located in it.
pub(super) struct FileState {
    pub(super) handle: CXFile,
    pub(super) path: String,
    /// Whether it is a system header; learned from the first location seen
    /// in it, or after parsing for files no callback pointed into.
    pub(super) system: Option<bool>,
    /// A project header an earlier unit of the session parsed: libclang
    /// skips its bodies, and nothing located in it is collected.
    pub(super) skipped: bool,
    /// Modification time when libclang first handed the file over, i.e.
    /// just after it read it. Taken after the parse, an edit made during
    /// the parse would be recorded with the old content's hash and size,
    /// and refresh (which trusts size and mtime) would never look again.
    pub(super) mtime_ns: i64,
    /// Whether a project file includes it (see [`SeenFile::from_project`]).
    pub(super) from_project: bool,
    /// The bytes libclang parsed, fetched at the first reference located in
    /// the file (see [`Collector::text`]); owned by the translation unit.
    pub(super) text: Option<(*const u8, usize)>,
    /// The references already recorded, see [`Occurrence`].
    pub(super) occurrences: FxHashSet<Occurrence>,
    /// The declarations already recorded, by `Decl*`: the double walk
    /// reports local variables twice.
    pub(super) declared: FxHashSet<*const c_void>,
    pub(super) data: FileIndex,
}

/// Everything the callbacks learn about one unit.
pub(super) struct Collector<'s> {
    pub(super) library: Arc<SharedLibrary>,
    pub(super) scope: Scope,
    /// The unit being parsed, learned from the first cursor a callback
    /// carries (the callbacks are not given it): the text of a file is
    /// looked up through it.
    pub(super) tu: CXTranslationUnit,
    /// The session's [`Session::parsed_headers`].
    pub(super) parsed_headers: &'s FxHashSet<u64>,
    pub(super) files: Vec<FileState>,
    pub(super) file_by_handle: FxHashMap<CXFile, u32>,
    /// Two handles for one path (seldom, e.g. a file replaced during the
    /// parse) still make one file.
    pub(super) file_by_path: FxHashMap<String, u32>,
    pub(super) symbols: Vec<Symbol>,
    pub(super) symbol_by_usr: FxHashMap<String, SymbolRef>,
    /// By `Decl*` (a cursor's `data[0]`), so that the USR of a declaration
    /// is computed once per unit, not once per reference. `None`: the
    /// declaration has no USR (locals) and is not recorded.
    pub(super) symbol_by_decl: FxHashMap<*const c_void, Option<SymbolRef>>,
    /// The qualified names of the scopes (namespaces, classes) seen as
    /// semantic parents, by `Decl*`: the members of one scope share it, so
    /// it is spelled once per unit instead of once per member.
    pub(super) scope_names: FxHashMap<*const c_void, String>,
    /// Whether a class is a lambda's, by `Decl*`: asked of the semantic
    /// parent of every member interned, see [`Collector::closure_of`].
    pub(super) closures: FxHashMap<*const c_void, bool>,
    pub(super) diagnostics: Vec<Diagnostic>,
    /// libclang loaded the unit's prelude (the only precompiled header
    /// it is given: the command's own are dropped, see `command`).
    pub(super) used_prelude: bool,
    /// The message of the first panic inside a callback.
    pub(super) panicked: Option<String>,
}

impl<'s> Collector<'s> {
    pub(super) fn new(
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
    pub(super) unsafe fn file_index(&mut self, file: CXFile) -> u32 {
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
                    from_project: false,
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
    pub(super) unsafe fn locate(&mut self, loc: CXIdxLoc, in_system: bool) -> Option<At> {
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
    pub(super) unsafe fn collected_file(
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

    pub(super) unsafe fn declaration(&mut self, info: &CXIdxDeclInfo) {
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
    pub(super) unsafe fn doc_comment(&mut self, file: u32, cursor: CXCursor) -> Option<String> {
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

    pub(super) unsafe fn bases(&mut self, info: &CXIdxDeclInfo, derived: SymbolRef) -> Vec<Base> {
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

    pub(super) unsafe fn overrides(
        &mut self,
        method: CXCursor,
        symbol: SymbolRef,
    ) -> Vec<Override> {
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

    pub(super) unsafe fn reference(&mut self, info: &CXIdxEntityRefInfo) {
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
    pub(super) unsafe fn spelled_at(
        &mut self,
        at: &At,
        symbol: SymbolRef,
        cursor: CXCursor,
    ) -> bool {
        let Some(text) = self.text(at.file, cursor) else {
            return true;
        };
        let symbol = &self.symbols[symbol as usize];
        spells(
            text.get(at.offset as usize..).unwrap_or_default(),
            &symbol.name,
            symbol.kind,
        )
    }

    /// The text libclang parsed of file `file`, valid while the unit lives.
    pub(super) unsafe fn text<'t>(&mut self, file: u32, cursor: CXCursor) -> Option<&'t [u8]> {
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
    pub(super) unsafe fn using_declarations(&mut self, tu: CXTranslationUnit) {
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
    pub(super) unsafe fn scanned_files(&mut self, tu: CXTranslationUnit) -> Vec<(usize, CXFile)> {
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
    pub(super) unsafe fn alias_declaration(&mut self, cursor: CXCursor) {
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
    pub(super) unsafe fn lambdas(&mut self, tu: CXTranslationUnit) {
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
    pub(super) unsafe fn lambda_definition(
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

        // The body is the lambda's one compound statement; its captures and
        // parameters come before it.
        let body = first_child(expr, |child| child.kind == CXCursor_CompoundStmt)?;
        let range = clang_getCursorExtent(body);
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
    pub(super) unsafe fn closure_of(&mut self, cursor: CXCursor) -> Option<CXCursor> {
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
    pub(super) unsafe fn lambda_symbol(&mut self, class: CXCursor) -> Option<SymbolRef> {
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
            .map(|operator| symbol_type(operator, SymbolKind::Method))
            .unwrap_or_default();
        let index = self.symbols.len() as SymbolRef;
        self.symbol_by_usr.insert(usr.clone(), index);
        self.symbols.push(Symbol {
            usr,
            name,
            qualified_name,
            kind: SymbolKind::Lambda,
            type_spelling,
            underlying_type: None,
            canonical_type: None,
        });
        Some(index)
    }

    /// The path of a file as this unit records it.
    pub(super) unsafe fn path_of(&self, file: CXFile) -> Cow<'_, str> {
        match self.file_by_handle.get(&file) {
            Some(&index) => Cow::Borrowed(self.files[index as usize].path.as_str()),
            None => Cow::Owned(file_path(file).0),
        }
    }

    pub(super) unsafe fn included_file(&mut self, info: &CXIdxIncludedFileInfo) {
        // A missing header has no file; its error arrives as a diagnostic.
        if info.file.is_null() {
            return;
        }
        let included = self.file_index(info.file);
        let mut from: CXFile = ptr::null_mut();
        clang_indexLoc_getFileLocation(
            info.hashLoc,
            ptr::null_mut(),
            &mut from,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        // Whether the including file is the project's, skipped or not.
        if !from.is_null() {
            let from = self.file_index(from);
            let system = *self.files[from as usize].system.get_or_insert_with(|| {
                clang_Location_isInSystemHeader(clang_indexLoc_getCXSourceLocation(info.hashLoc))
                    != 0
            });
            self.files[included as usize].from_project |= !system;
        }
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

    pub(super) unsafe fn diagnostic_set(&mut self, set: CXDiagnosticSet) {
        for i in 0..clang_getNumDiagnosticsInSet(set) {
            let diagnostic = clang_getDiagnosticInSet(set, i);
            self.diagnostic(diagnostic);
            clang_disposeDiagnostic(diagnostic);
        }
    }

    /// Records a diagnostic and then its notes, which libclang nests as
    /// children.
    pub(super) unsafe fn diagnostic(&mut self, diagnostic: CXDiagnostic) {
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

    pub(super) unsafe fn entity_symbol(&mut self, entity: &CXIdxEntityInfo) -> Option<SymbolRef> {
        self.cursor_symbol(entity.cursor, Some(entity))
    }

    /// The symbol of a container, unless it is the translation unit.
    pub(super) unsafe fn container_symbol(
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
    pub(super) unsafe fn cursor_symbol(
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

    pub(super) unsafe fn intern(
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
                symbol.kind = kind;
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
        let scope = if kind == SymbolKind::Namespace && name == "(anonymous namespace)" {
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
            kind,
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
    pub(super) unsafe fn qualified_scope(&mut self, scope: CXCursor) -> String {
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
    pub(super) unsafe fn seen_files(&mut self, tu: CXTranslationUnit) -> Vec<SeenFile> {
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
                    guarded: clang_isFileMultipleIncludeGuarded(tu, state.handle) != 0,
                    from_project: state.from_project,
                }
            })
            .collect()
    }

    /// Per file, what the unit understood of it: the declarations and
    /// references collected there, but those of macros (see
    /// `Response::Parsed::understood`).
    pub(super) fn understood(&self) -> Vec<u32> {
        let not_macro = |symbol: SymbolRef| self.symbols[symbol as usize].kind != SymbolKind::Macro;
        self.files
            .iter()
            .map(|state| {
                let decls = state.data.decls.iter().filter(|d| not_macro(d.symbol));
                let refs = state.data.refs.iter().filter(|r| not_macro(r.symbol));
                u32::try_from(decls.count() + refs.count()).unwrap_or(u32::MAX)
            })
            .collect()
    }

    /// Whether the parse reported an error (or a fatal one).
    pub(super) fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == "error" || d.severity == "fatal")
    }

    /// Indices of the headers whose bodies libclang skipped in this unit.
    pub(super) fn skipped_files(&self) -> Vec<u32> {
        (0..self.files.len() as u32)
            .filter(|&i| self.files[i as usize].skipped)
            .collect()
    }

    /// The unit's data restricted to the granted files.
    pub(super) fn finish(self, unit: u32, parse_ms: u32, emit: &[bool]) -> UnitIndex {
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
            used_project_prelude: false,
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
pub(super) unsafe fn parsed_content_hash(
    tu: CXTranslationUnit,
    file: CXFile,
    path: &str,
) -> (u64, u64) {
    let bytes = parsed_content(tu, file, path);
    (crate::fingerprint::hash_bytes(&bytes), bytes.len() as u64)
}

/// The content libclang parsed; the file on disk if libclang no longer
/// holds the buffer, and nothing if that is gone too.
pub(super) unsafe fn parsed_content<'t>(
    tu: CXTranslationUnit,
    file: CXFile,
    path: &str,
) -> Cow<'t, [u8]> {
    let mut size = 0;
    let data = clang_getFileContents(tu, file, &mut size);
    if data.is_null() {
        Cow::Owned(std::fs::read(path).unwrap_or_default())
    } else {
        Cow::Borrowed(std::slice::from_raw_parts(data.cast::<u8>(), size))
    }
}

/// The key of a header in [`Session::parsed_headers`].
pub(super) fn path_key(path: &str) -> u64 {
    crate::fingerprint::path_key(path)
}

/// The type of a symbol of `kind` declared by `cursor`. A class template
/// has none: it is reached through its template cursor (no type) and
/// through its pattern (`S<T>`), in an order that varies by unit. An alias
/// template is reached through its template cursor (no type) and through
/// the alias it declares (the type), so the template cursor answers with
/// the type of that alias: the same whichever a unit meets first.
pub(super) unsafe fn symbol_type(cursor: CXCursor, kind: SymbolKind) -> String {
    if kind == SymbolKind::ClassTemplate {
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
pub(super) unsafe fn alias_types(
    cursor: CXCursor,
    kind: SymbolKind,
) -> (Option<String>, Option<String>) {
    if !matches!(kind, SymbolKind::Typedef | SymbolKind::TypeAlias) {
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
pub(super) unsafe fn alias_of_template(cursor: CXCursor) -> Option<CXCursor> {
    first_child(cursor, |child| child.kind == CXCursor_TypeAliasDecl)
}

/// The spelling of a declaration's type, the same in every unit that sees
/// the declaration. clang computes the exception specification of a
/// destructor and of a defaulted (or implicit) special member only when a
/// unit needs it, so the same destructor spells `void () noexcept` in a
/// unit that destroys an object and `void ()` in one that does not (and a
/// defaulted constructor of a class with a throwing member
/// `void () noexcept(false)`): for those, ` noexcept` and
/// ` noexcept(false)` are never spelled.
pub(super) unsafe fn type_spelling(cursor: CXCursor) -> String {
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
pub(super) unsafe fn scope_name(cursor: CXCursor) -> String {
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

/// The body of a lambda of a file: the references located in it move to
/// the lambda when their container is one of `moved`.
pub(super) struct LambdaBody {
    /// Line and column of the `{`, and one past the `}`.
    pub(super) start: (u32, u32),
    pub(super) end: (u32, u32),
    pub(super) symbol: SymbolRef,
    /// The lambda, the lambdas around it and what holds the outermost
    /// (`None` for the translation unit): the containers libclang gives
    /// the references in its body, depending on the declaration statement
    /// they are in. Any other (a local class's method) is closer to them.
    pub(super) moved: Vec<Option<SymbolRef>>,
}

/// Gives each reference located in a lambda's body, and held by what
/// libclang saw around it, the innermost such lambda as container. Bodies
/// nest or are apart: the innermost body holding a location is the last
/// one starting before it or one of that one's enclosing bodies.
pub(super) fn move_into_lambdas(refs: &mut [Reference], mut bodies: Vec<LambdaBody>) {
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
pub(super) unsafe fn is_closure(class: CXCursor) -> bool {
    class.kind == CXCursor_ClassDecl
        && take_string(clang_getCursorSpelling(class)).is_empty()
        && take_string(clang_getTypeSpelling(clang_getCursorType(class))).contains("(lambda at ")
}

/// A lambda's name, after where it is written: the qualified name of one
/// is the same in every unit, unlike clang's spelling of its type, which
/// holds the path as the unit's command wrote it.
pub(super) fn lambda_name(at: &Spelled) -> String {
    format!("(lambda at {}:{})", at.line, at.column)
}

/// The `operator()` of a lambda's class (a function template for a
/// generic lambda).
pub(super) unsafe fn call_operator(class: CXCursor) -> Option<CXCursor> {
    first_child(class, |child| {
        matches!(child.kind, CXCursor_CXXMethod | CXCursor_FunctionTemplate)
            // SAFETY: a cursor handed to the visitor is valid during the call.
            && unsafe { take_string(clang_getCursorSpelling(child)) } == "operator()"
    })
}

pub(super) fn is_function_like(kind: CXCursorKind) -> bool {
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
pub(super) fn lambda_introducers(text: &[u8]) -> Vec<u32> {
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
pub(super) fn symbol_kind(
    cursor_kind: CXCursorKind,
    template: CXIdxEntityCXXTemplateKind,
) -> SymbolKind {
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
        (_, CXIdxEntity_Template) if function_like => SymbolKind::FunctionTemplate,
        (_, CXIdxEntity_Template) if record_like => SymbolKind::ClassTemplate,
        (_, CXIdxEntity_TemplatePartialSpecialization) if record_like => {
            SymbolKind::ClassTemplatePartialSpecialization
        }
        (CXCursor_Namespace, _) => SymbolKind::Namespace,
        (CXCursor_ClassDecl, _) => SymbolKind::Class,
        (CXCursor_StructDecl, _) => SymbolKind::Struct,
        (CXCursor_UnionDecl, _) => SymbolKind::Union,
        (CXCursor_EnumDecl, _) => SymbolKind::Enum,
        (CXCursor_EnumConstantDecl, _) => SymbolKind::EnumConstant,
        (CXCursor_FunctionDecl, _) => SymbolKind::Function,
        (CXCursor_CXXMethod, _) => SymbolKind::Method,
        (CXCursor_Constructor, _) => SymbolKind::Constructor,
        (CXCursor_Destructor, _) => SymbolKind::Destructor,
        (CXCursor_ConversionFunction, _) => SymbolKind::ConversionFunction,
        (CXCursor_FieldDecl, _) => SymbolKind::Field,
        (CXCursor_VarDecl, _) => SymbolKind::Variable,
        (CXCursor_ParmDecl, _) => SymbolKind::Parameter,
        (CXCursor_TypedefDecl, _) => SymbolKind::Typedef,
        // An alias template's declaration is reported as the alias it
        // declares, a use of it may name the template: one kind for both.
        (CXCursor_TypeAliasDecl | CXCursor_TypeAliasTemplateDecl, _) => SymbolKind::TypeAlias,
        (CXCursor_ClassTemplate, _) => SymbolKind::ClassTemplate,
        (CXCursor_ClassTemplatePartialSpecialization, _) => {
            SymbolKind::ClassTemplatePartialSpecialization
        }
        (CXCursor_FunctionTemplate, _) => SymbolKind::FunctionTemplate,
        (CXCursor_NamespaceAlias, _) => SymbolKind::NamespaceAlias,
        (CXCursor_MacroDefinition, _) => SymbolKind::Macro,
        (CXCursor_UsingDeclaration, _) => SymbolKind::Using,
        // Objective-C's declarations in the nearest C++ words; its
        // protocols and categories have none.
        (CXCursor_ObjCInterfaceDecl | CXCursor_ObjCImplementationDecl, _) => SymbolKind::Class,
        (CXCursor_ObjCProtocolDecl, _) => SymbolKind::Protocol,
        (CXCursor_ObjCCategoryDecl | CXCursor_ObjCCategoryImplDecl, _) => SymbolKind::Category,
        (CXCursor_ObjCInstanceMethodDecl | CXCursor_ObjCClassMethodDecl, _) => SymbolKind::Method,
        (CXCursor_ObjCPropertyDecl, _) => SymbolKind::Property,
        (CXCursor_ObjCIvarDecl, _) => SymbolKind::Field,
        _ => SymbolKind::Other,
    }
}

/// Whether a declaration of `kind` is local to a function: a parameter, or
/// a variable (or label, structured binding, ...) declared in a function
/// body.
pub(super) unsafe fn is_local(cursor: CXCursor, kind: SymbolKind) -> bool {
    match kind {
        SymbolKind::Parameter => true,
        SymbolKind::Variable | SymbolKind::Other => matches!(
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
pub(super) fn alias_keywords(text: &[u8]) -> impl Iterator<Item = u32> + '_ {
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
pub(super) fn spells(text: &[u8], name: &str, kind: SymbolKind) -> bool {
    let is_identifier = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let word = |word: &[u8]| {
        text.starts_with(word) && !text.get(word.len()).is_some_and(|&c| is_identifier(c))
    };
    let operator = name
        .strip_prefix("operator")
        .filter(|rest| !rest.bytes().next().is_some_and(is_identifier));
    if let Some(operator) = operator {
        return word(b"operator")
            || (kind != SymbolKind::ConversionFunction
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

pub(super) fn is_template_kind(kind: SymbolKind) -> bool {
    matches!(
        kind,
        SymbolKind::ClassTemplate
            | SymbolKind::ClassTemplatePartialSpecialization
            | SymbolKind::FunctionTemplate
    )
}

/// Keeps only the symbols that `files` refer to, in their original order,
/// and rewrites every reference to the new numbering.
pub(super) fn prune_symbols(symbols: Vec<Symbol>, files: &mut [FileIndex]) -> Vec<Symbol> {
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

pub(super) fn for_each_symbol_ref(files: &mut [FileIndex], mut visit: impl FnMut(&mut SymbolRef)) {
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
pub(super) fn with_collector(client_data: CXClientData, f: impl FnOnce(&mut Collector)) {
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
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

pub(super) extern "C" fn abort_query(client_data: CXClientData, _reserved: *mut c_void) -> c_int {
    // SAFETY: as in `with_collector`.
    let collector = unsafe { &*client_data.cast::<Collector>() };
    c_int::from(collector.panicked.is_some())
}

pub(super) extern "C" fn on_diagnostic(
    client_data: CXClientData,
    set: CXDiagnosticSet,
    _reserved: *mut c_void,
) {
    // SAFETY: libclang passes a live set (owned by it) for this call.
    with_collector(client_data, |c| unsafe { c.diagnostic_set(set) });
}

pub(super) extern "C" fn on_entered_main_file(
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

pub(super) extern "C" fn on_included_file(
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

pub(super) extern "C" fn on_imported_ast_file(
    client_data: CXClientData,
    _info: *const CXIdxImportedASTFileInfo,
) -> CXIdxClientASTFile {
    with_collector(client_data, |c| c.used_prelude = true);
    ptr::null_mut()
}

pub(super) extern "C" fn on_declaration(client_data: CXClientData, info: *const CXIdxDeclInfo) {
    // SAFETY: libclang passes a valid info for the duration of the call.
    with_collector(client_data, |c| unsafe {
        if let Some(info) = info.as_ref() {
            c.declaration(info);
        }
    });
}

pub(super) extern "C" fn on_reference(client_data: CXClientData, info: *const CXIdxEntityRefInfo) {
    // SAFETY: libclang passes a valid info for the duration of the call.
    with_collector(client_data, |c| unsafe {
        if let Some(info) = info.as_ref() {
            c.reference(info);
        }
    });
}
