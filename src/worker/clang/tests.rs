//! The worker's libclang tests: real libclang on fixture files in a
//! temporary directory.

use super::collector::{
    alias_keywords, lambda_introducers, move_into_lambdas, prune_symbols, spells, LambdaBody,
};
use super::*;
use crate::index::model::SymbolKind;
use crate::protocol::{
    Base, Decl, FileIndex, Include, Override, Reference, Span, Symbol, SymbolRef,
};
use std::sync::{Mutex, MutexGuard};

/// libclang and its builtin headers, found the way a build finds them
/// (`LIBCLANG_PATH`, else the newest installed), not a fixed version.
fn toolchain() -> &'static crate::toolchain::Toolchain {
    static TOOLCHAIN: std::sync::OnceLock<crate::toolchain::Toolchain> = std::sync::OnceLock::new();
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
    ) -> (Vec<SeenFile>, Result<UnitIndex, ClangError>) {
        self.index_seeing_skips(main, |files, _| grant(files))
    }

    /// Like [`Fixture::index_with`], with the headers reported skipped.
    fn index_seeing_skips(
        &mut self,
        main: &str,
        mut grant: impl FnMut(&[SeenFile], &[u32]) -> Vec<bool>,
    ) -> (Vec<SeenFile>, Result<UnitIndex, ClangError>) {
        self.index_seeing_all(main, |files, skipped, _, _| grant(files, skipped))
    }

    /// Like [`Fixture::index_seeing_skips`], with what the unit understood
    /// of each file too.
    fn index_seeing_all(
        &mut self,
        main: &str,
        mut grant: impl FnMut(&[SeenFile], &[u32], &[u32], bool) -> Vec<bool>,
    ) -> (Vec<SeenFile>, Result<UnitIndex, ClangError>) {
        let request = IndexRequest {
            unit: 7,
            file: self.path(main),
            directory: self.dir.path().to_string_lossy().into_owned(),
            args: self.args.clone(),
            prelude: self.prelude.clone(),
        };
        let mut seen = Vec::new();
        let result = self
            .indexer
            .index(&request, &mut |files, skipped, understood, errors| {
                seen = files.to_vec();
                grant(files, skipped, understood, errors)
            });
        (seen, result)
    }

    /// Has units parsed with a prelude.
    fn with_prelude(mut self) -> Fixture {
        let header = self.path("prelude.hpp");
        std::fs::write(&header, crate::prelude::HEADER).unwrap();
        self.prelude = Some(Prelude {
            header,
            pch: self.path("std.pch"),
            language: crate::protocol::Language::Cxx,
            instead: None,
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
        .find(|s| s.kind == SymbolKind::ClassTemplatePartialSpecialization);
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

    let index_of = |name: &str| seen.iter().position(|s| s.path == f.path(name)).unwrap() as u32;
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
/// see [`uses_the_library`]): the prelude holds the latter two.
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
fn a_prelude_changes_nothing_in_the_index() {
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
    // Macros too, those the prelude defines included.
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
    // for `size_t` (see `prelude::PreludeContents::read_through`).
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
fn a_prelude_libclang_cannot_read_is_done_without() {
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
fn a_unit_at_odds_with_the_prelude_is_parsed_as_written() {
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
        format!(
            "#include \"lib.h\"\nint index = {k};\nint main{k}() {{ return helper() + index; }}\n"
        )
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
    // With the prelude ahead nothing is an error (the
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
    // definition too, so the prelude changes nothing.
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
fn a_header_the_command_includes_first_configures_the_prelude_too() {
    // `-include config.h` puts the old string ABI ahead of everything,
    // the prelude included (it is built with the unit's arguments), so
    // the unit reads config.h through the prelude: it uses the prelude,
    // sees the ABI it asked for, and still depends on config.h.
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

/// Issue 15: a unit with errors whose parser lost its way before a header
/// (here an unclosed call swallows it) understood nothing of it: the
/// session does not mark it parsed, so the next unit of the worker parses
/// it in full, reports it not skipped and what it understood of it, and
/// may emit it. A unit without errors marks what it read, also a header of
/// macros only, of which it understood nothing.
#[test]
fn a_header_a_unit_with_errors_understood_nothing_of_is_not_skipped_by_the_next() {
    let mut f = Fixture::new(&[
        (
            "h.h",
            "#ifndef H_H\n#define H_H\nnamespace lib {\nint alpha(int);\n\
             inline int beta(int x) { return alpha(x) + 1; }\n}\n#endif\n",
        ),
        ("m.h", "#pragma once\n#define M 1\n"),
        ("bad.cpp", "int broken = alpha(\n#include \"h.h\"\n);\n"),
        (
            "good.cpp",
            "#include \"h.h\"\n#include \"m.h\"\nint use() { return lib::beta(M); }\n",
        ),
    ]);
    let understood_h = |f: &mut Fixture, main: &str| {
        let mut got = None;
        let (seen, result) = f.index_seeing_all(main, |files, skipped, understood, errors| {
            assert!(skipped.is_empty(), "{main}: {skipped:?}");
            assert_eq!(errors, main == "bad.cpp");
            got = Some(understood.to_vec());
            vec![true; files.len()]
        });
        result.unwrap();
        let h = seen
            .iter()
            .position(|file| file.path.ends_with("h.h"))
            .unwrap();
        got.unwrap()[h]
    };
    assert_eq!(understood_h(&mut f, "bad.cpp"), 0);
    // `alpha`, `beta`, its parameter's type aside: declarations and the call.
    assert!(understood_h(&mut f, "good.cpp") >= 3);
    // Now it was understood: the next unit skips its bodies; and m.h.
    let (_, result) = f.index_seeing_skips("good.cpp", |files, skipped| {
        assert_eq!(skipped.len(), 2);
        vec![true; files.len()]
    });
    result.unwrap();
}

#[test]
fn a_missing_file_is_an_error() {
    let mut f = Fixture::new(&[]);
    let (seen, result) = f.index_with("missing.cpp", |_| panic!("nothing to grant"));
    assert!(seen.is_empty());
    let reason = result.unwrap_err().to_string();
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
            kind: SymbolKind::Other,
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
        kind: SymbolKind::Other,
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
    for (text, name, kind, spelled) in [
        ("lookup(7)", "lookup", "function", true),
        ("Name(8)", "Name", "constructor", true),
        (
            "basic_string(s)",
            "basic_string<_CharT>",
            "constructor",
            true,
        ),
        ("~Name()", "~Name", "destructor", true),
        ("(1, 2)", "operator()", "method", true),
        ("< b", "operator<", "function", true),
        ("new Name", "operator new", "function", true),
        (
            "operator bool()",
            "operator bool",
            "conversion_function",
            true,
        ),
        ("operator<(b)", "operator<", "method", true),
        ("x", "(anonymous)", "struct", true),
        ("7)", "Name", "constructor", false),
        ("names)", "Name", "constructor", false),
        ("flag)", "operator bool", "conversion_function", false),
        (": items)", "operator*", "method", false),
        ("CHECK(x)", "fail", "function", false),
        ("", "fail", "function", false),
    ] {
        let kind = SymbolKind::parse(kind).unwrap();
        assert_eq!(
            spells(text.as_bytes(), name, kind),
            spelled,
            "{name} in {text}"
        );
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
            assert!(matches!(reason, ClangError::NoCudaInstallation), "{reason}");
            assert!(reason.to_string().contains("--cuda-path"), "{reason}");
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
        .all(|s| s.kind != SymbolKind::Parameter && s.kind != SymbolKind::Variable));
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
