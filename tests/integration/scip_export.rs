//! Issue 18: `indexer export scip`. The real binary exports a real index of
//! `testdata/scip` (a namespace, a class with methods, an override, a base
//! class, a macro, a static function, an anonymous namespace, a system
//! function and macro), and the `scip` crate reads the file back. The
//! symbol strings are scip-clang's: `cxx . . $ ` then descriptors, the
//! function disambiguators the wyhash of clang's canonical type, as its
//! snapshots show (`void f()` is `f(49f6e7a06ebc5aa8).`).

use protobuf::Message;
use scip::types::{Index, SymbolRole};

use crate::util::{self, Project};

/// `testdata/scip` built with `-I include`, parameters and local
/// variables indexed (they become SCIP's local symbols).
fn project() -> Project {
    let project = Project::from_testdata("scip");
    project.compdb(&[("src/animal.cpp", &[]), ("src/main.cpp", &[])]);
    project.build(&["--index-locals"]);
    project
}

fn read(bytes: &[u8]) -> Index {
    Index::parse_from_bytes(bytes).expect("a SCIP index")
}

fn roles(bits: i32) -> String {
    let names = [
        (SymbolRole::Definition, "def"),
        (SymbolRole::ForwardDefinition, "decl"),
        (SymbolRole::ReadAccess, "read"),
        (SymbolRole::WriteAccess, "write"),
        (SymbolRole::Import, "import"),
        (SymbolRole::Generated, "generated"),
        (SymbolRole::Test, "test"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(role, _)| bits & *role as i32 != 0)
        .map(|(_, name)| *name)
        .collect();
    if set.is_empty() {
        "ref".to_owned()
    } else {
        set.join("+")
    }
}

/// The index as text: per document, each occurrence (`line:col-end` with
/// 1-based lines and 0-based columns as SCIP counts them, roles, symbol,
/// enclosing range), then each symbol's information; then the external
/// symbols. The prefix `cxx . . $ ` is checked once and written `$`.
fn render(index: &Index) -> String {
    let short = |symbol: &str| -> String {
        if symbol.starts_with("local ") {
            return symbol.to_owned();
        }
        let rest = symbol
            .strip_prefix("cxx . . $ ")
            .unwrap_or_else(|| panic!("not scip-clang's form: {symbol}"));
        format!("${rest}")
    };
    let range = |r: &[i32]| match r {
        [line, col, end] => format!("{}:{col}-{end}", line + 1),
        [line, col, end_line, end] => format!("{}:{col}-{}:{end}", line + 1, end_line + 1),
        [] => String::new(),
        other => panic!("bad range {other:?}"),
    };
    let information = |text: &mut String, s: &scip::types::SymbolInformation| {
        text.push_str(&format!(
            "  symbol {} {:?} {:?} `{}`",
            short(&s.symbol),
            s.kind.enum_value().unwrap(),
            s.display_name,
            s.signature_documentation.text,
        ));
        if !s.enclosing_symbol.is_empty() {
            text.push_str(&format!(" in {}", short(&s.enclosing_symbol)));
        }
        text.push('\n');
        for r in &s.relationships {
            let mut what = Vec::new();
            if r.is_implementation {
                what.push("implementation");
            }
            if r.is_reference {
                what.push("reference");
            }
            if r.is_type_definition {
                what.push("type_definition");
            }
            if r.is_definition {
                what.push("definition");
            }
            text.push_str(&format!("    {} {}\n", what.join("+"), short(&r.symbol)));
        }
    };
    let mut text = String::new();
    for document in &index.documents {
        text.push_str(&format!(
            "document {} {}\n",
            document.relative_path, document.language
        ));
        for o in &document.occurrences {
            text.push_str(&format!(
                "  {} {} {}",
                range(&o.range),
                roles(o.symbol_roles),
                short(&o.symbol)
            ));
            if !o.enclosing_range.is_empty() {
                text.push_str(&format!(" [{}]", range(&o.enclosing_range)));
            }
            text.push('\n');
        }
        for s in &document.symbols {
            information(&mut text, s);
        }
    }
    text.push_str("external\n");
    for s in &index.external_symbols {
        information(&mut text, s);
    }
    text
}

/// What `testdata/scip` exports. The disambiguators are wyhash of clang's
/// canonical function types, as scip-clang computes them: `int (void)`
/// b126dc7c1de90089, `int (void) const` 455f465bc33b4cdf, `void (int)`
/// d4f767463ce0a6b3 (scip-clang's own snapshot of `void f(int)`), `void
/// (void)` 49f6e7a06ebc5aa8 (scip-clang's `void f()`), `int (const class
/// zoo::Animal &)` 1b1c260834008b8a, `int (const class zoo::Animal &, int)`
/// 670b0dcd8128d2b5, `int (int) noexcept(true)` a1793504d39b0cc6.
/// Parameters and local variables are `local N`, numbered per document.
const EXPECTED: &str = r#"document include/zoo/animal.h CPP
  3:8-16 def $`include/zoo/animal.h:3:9`! [3:8-18]
  5:10-13 def $zoo/ [5:10-29:1]
  7:6-12 def $zoo/Animal# [7:6-16:1]
  9:12-19 def $zoo/Animal#`~Animal`(49f6e7a06ebc5aa8). [9:12-31]
  9:13-19 ref $zoo/Animal#
  10:16-20 decl $zoo/Animal#legs(455f465bc33b4cdf).
  11:9-13 decl $zoo/Animal#feed(d4f767463ce0a6b3).
  12:8-13 def $zoo/Animal#eaten(455f465bc33b4cdf). [12:8-40]
  12:31-37 read $zoo/Animal#eaten_.
  15:8-14 def $zoo/Animal#eaten_. [15:8-18]
  18:6-9 def $zoo/Dog# [18:6-21:1]
  18:19-25 ref $zoo/Animal#
  20:8-12 def $zoo/Dog#legs(455f465bc33b4cdf). [20:8-50]
  20:39-47 ref $`include/zoo/animal.h:3:9`!
  23:4-9 decl $zoo/count(1b1c260834008b8a).
  23:16-22 ref $zoo/Animal#
  24:4-9 decl $zoo/count(670b0dcd8128d2b5).
  24:16-22 ref $zoo/Animal#
  26:11-15 def $zoo/Size# [26:11-32]
  26:18-23 def $zoo/Size#Small. [26:18-23]
  26:25-30 def $zoo/Size#Large. [26:25-30]
  27:0-4 def $zoo/`(anonymous)`# [27:0-23]
  27:7-17 def $zoo/MaxAnimals. [27:7-21]
  symbol $`include/zoo/animal.h:3:9`! Macro "ZOO_LEGS" `#define ZOO_LEGS 4`
  symbol $zoo/ Namespace "zoo" `namespace zoo`
  symbol $zoo/Animal# Class "Animal" `class zoo::Animal`
  symbol $zoo/Animal#`~Animal`(49f6e7a06ebc5aa8). Method "~Animal" `zoo::Animal::~Animal()`
  symbol $zoo/Animal#legs(455f465bc33b4cdf). Method "legs" `int zoo::Animal::legs() const`
  symbol $zoo/Animal#eaten(455f465bc33b4cdf). Method "eaten" `int zoo::Animal::eaten() const`
  symbol $zoo/Animal#eaten_. Field "eaten_" `int zoo::Animal::eaten_`
  symbol $zoo/Dog# Class "Dog" `class zoo::Dog`
    implementation $zoo/Animal#
  symbol $zoo/Dog#legs(455f465bc33b4cdf). Method "legs" `int zoo::Dog::legs() const`
    implementation+reference $zoo/Animal#legs(455f465bc33b4cdf).
  symbol $zoo/Size# Enum "Size" `enum zoo::Size`
  symbol $zoo/Size#Small. EnumMember "Small" `zoo::Size::Small`
  symbol $zoo/Size#Large. EnumMember "Large" `zoo::Size::Large`
  symbol $zoo/`(anonymous)`# Enum "(anonymous)" `enum zoo::(anonymous)`
  symbol $zoo/MaxAnimals. EnumMember "MaxAnimals" `zoo::(anonymous)::MaxAnimals`
document src/animal.cpp CPP
  3:10-13 def $zoo/ [3:10-15:1]
  5:5-11 ref $zoo/Animal#
  5:13-17 def $zoo/Animal#feed(d4f767463ce0a6b3). [5:13-7:1]
  5:22-28 def local 0 [5:22-28]
  6:4-10 ref $zoo/Animal#eaten_.
  6:14-20 read local 0
  9:11-16 def $zoo/twice(7864480464b09eea). [9:11-41]
  9:21-22 def local 1 [9:21-22]
  9:33-34 read local 1
  11:4-9 def $zoo/count(1b1c260834008b8a). [11:4-57]
  11:16-22 ref $zoo/Animal#
  11:24-30 def local 2 [11:24-30]
  11:41-47 ref local 2
  11:48-52 ref $zoo/Animal#legs(455f465bc33b4cdf).
  13:4-9 def $zoo/count(670b0dcd8128d2b5). [13:4-83]
  13:16-22 ref $zoo/Animal#
  13:24-30 def local 3 [13:24-30]
  13:36-41 def local 4 [13:36-41]
  13:52-57 ref $zoo/twice(7864480464b09eea).
  13:58-64 ref local 3
  13:65-69 ref $zoo/Animal#legs(455f465bc33b4cdf).
  13:75-80 read local 4
  symbol $zoo/Animal#feed(d4f767463ce0a6b3). Method "feed" `void zoo::Animal::feed(int)`
  symbol local 0 Parameter "amount" `int zoo::Animal::feed::amount` in $zoo/Animal#feed(d4f767463ce0a6b3).
  symbol $zoo/twice(7864480464b09eea). Function "twice" `int zoo::twice(int)`
  symbol local 1 Parameter "n" `int zoo::twice::n` in $zoo/twice(7864480464b09eea).
  symbol $zoo/count(1b1c260834008b8a). Function "count" `int zoo::count(const zoo::Animal &)`
  symbol local 2 Parameter "animal" `const zoo::Animal & zoo::count::animal` in $zoo/count(1b1c260834008b8a).
  symbol $zoo/count(670b0dcd8128d2b5). Function "count" `int zoo::count(const zoo::Animal &, int)`
  symbol local 3 Parameter "animal" `const zoo::Animal & zoo::count::animal` in $zoo/count(670b0dcd8128d2b5).
  symbol local 4 Parameter "times" `int zoo::count::times` in $zoo/count(670b0dcd8128d2b5).
document src/main.cpp CPP
  5:4-9 def $`$anonymous_namespace_src/main.cpp`/total. [5:4-13]
  6:5-8 def $`$anonymous_namespace_src/main.cpp`/add(d4f767463ce0a6b3). [6:5-38]
  6:13-14 def local 0 [6:13-14]
  6:18-23 write $`$anonymous_namespace_src/main.cpp`/total.
  6:26-31 read $`$anonymous_namespace_src/main.cpp`/total.
  6:34-35 read local 0
  9:4-8 def $main(b126dc7c1de90089). [9:4-15:1]
  10:4-7 ref $zoo/
  10:9-12 ref $zoo/Dog#
  10:13-16 def local 1 [10:13-16]
  11:4-7 ref local 1
  11:8-12 ref $zoo/Animal#feed(d4f767463ce0a6b3).
  11:13-21 ref $`include/zoo/animal.h:3:9`!
  12:4-7 ref $`$anonymous_namespace_src/main.cpp`/add(d4f767463ce0a6b3).
  12:8-11 ref $zoo/
  12:13-18 ref $zoo/count(1b1c260834008b8a).
  12:19-22 ref local 1
  13:8-11 ref $zoo/
  13:13-23 ref $zoo/MaxAnimals.
  13:53-56 ref $zoo/
  13:58-62 ref $zoo/Size#
  13:64-69 ref $zoo/Size#Large.
  14:11-16 read $`$anonymous_namespace_src/main.cpp`/total.
  14:23-35 ref $EXIT_SUCCESS!
  14:38-41 ref $abs(a1793504d39b0cc6).
  14:42-47 read $`$anonymous_namespace_src/main.cpp`/total.
  symbol $`$anonymous_namespace_src/main.cpp`/total. Variable "total" `int (anonymous namespace)::total`
  symbol $`$anonymous_namespace_src/main.cpp`/add(d4f767463ce0a6b3). Function "add" `void (anonymous namespace)::add(int)`
  symbol local 0 Parameter "n" `int (anonymous namespace)::add::n` in $`$anonymous_namespace_src/main.cpp`/add(d4f767463ce0a6b3).
  symbol $main(b126dc7c1de90089). Function "main" `int main()`
  symbol local 1 Variable "dog" `zoo::Dog main::dog` in $main(b126dc7c1de90089).
external
  symbol $abs(a1793504d39b0cc6). Function "abs" `int abs(int) noexcept(true)`
  symbol $EXIT_SUCCESS! Macro "EXIT_SUCCESS" `#define EXIT_SUCCESS`
"#;

#[test]
fn the_scip_export_reads_back_with_scip_clangs_symbols() {
    let project = project();
    let output = project.run(&["export", "scip", "out.scip"]);
    util::assert_success(&output);
    assert!(
        util::stderr(&output).starts_with("exported 3 documents, "),
        "{}",
        util::stderr(&output)
    );
    let index = read(&std::fs::read(project.path("out.scip")).unwrap());
    let metadata = index.metadata.as_ref().unwrap();
    assert_eq!(metadata.tool_info.name, "indexer");
    assert_eq!(
        metadata.project_root,
        format!("file://{}", project.root().display())
    );
    // Every global symbol follows SCIP's grammar: the crate parses it and
    // formats it back unchanged.
    let symbols = index
        .documents
        .iter()
        .flat_map(|d| d.occurrences.iter().map(|o| &o.symbol))
        .chain(index.external_symbols.iter().map(|s| &s.symbol))
        .filter(|s| !s.starts_with("local "));
    for symbol in symbols {
        let parsed =
            scip::symbol::parse_symbol(symbol).unwrap_or_else(|e| panic!("{symbol}: {e:?}"));
        assert_eq!(&scip::symbol::format_symbol(parsed), symbol);
    }
    let text = render(&index).replace(&project.root().display().to_string(), "<root>");
    assert!(text == EXPECTED, "{}", util::snapshot_diff(EXPECTED, &text));
    // No partial file is left beside the output.
    let left: Vec<_> = std::fs::read_dir(project.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `-` writes the same index to stdout, and only it: the summary goes to
/// stderr.
#[test]
fn the_scip_export_to_stdout_is_the_same_index() {
    let project = project();
    let output = project.run(&["export", "scip", "-"]);
    util::assert_success(&output);
    let to_file = project.run(&["export", "scip", "out.scip", "--quiet"]);
    util::assert_success(&to_file);
    assert_eq!(util::stderr(&to_file), "");
    let from_stdout = read(&output.stdout);
    let from_file = read(&std::fs::read(project.path("out.scip")).unwrap());
    assert_eq!(render(&from_stdout), render(&from_file));
    assert_eq!(from_stdout.documents.len(), 3);
    // The bytes differ only in the recorded command line.
    assert_eq!(
        from_stdout.metadata.tool_info.arguments[1..3],
        ["export", "scip"]
    );
}

/// A reader that goes away wanted no more: exit 0, nothing said. A full
/// disk is an error naming the file.
#[test]
fn a_scip_export_whose_reader_goes_away_is_not_an_error() {
    let project = project();
    let output = project
        .indexer()
        .args(["export", "scip", "-", "--quiet"])
        .stdout(util::closed_pipe())
        .output()
        .unwrap();
    assert_eq!(util::exit_code(&output), 0, "{}", util::stderr(&output));
    assert_eq!(util::stderr(&output), "");

    let output = project
        .indexer()
        .args(["export", "scip", "-"])
        .stdout(util::dev_full())
        .output()
        .unwrap();
    assert_eq!(util::exit_code(&output), 1);
    assert_eq!(
        util::stderr(&output).trim(),
        "error: cannot write the SCIP index: No space left on device (os error 28)"
    );
}

/// Wrong requests exit 2 and say what to pass; without an index the
/// export fails before creating anything.
#[test]
fn bad_scip_exports_are_refused_with_the_fix() {
    let project = project();
    let output = project.run(&["export", "scip", "missing/dir/out.scip"]);
    assert_eq!(util::exit_code(&output), 2);
    let stderr = util::stderr(&output);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot create {}/missing/dir/.out.scip.partial: No such file or directory",
            project.root().display()
        )) && stderr.contains("pass a file in an existing, writable directory"),
        "{stderr}"
    );

    let output = project.run(&["export", "scip", "out.scip", "no-such-project"]);
    assert_eq!(util::exit_code(&output), 2);
    assert!(
        util::stderr(&output)
            .contains("no-such-project is not a directory: pass the project's root directory"),
        "{}",
        util::stderr(&output)
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let output = project
        .indexer()
        .current_dir(elsewhere.path())
        .args(["export", "scip", "out.scip"])
        .output()
        .unwrap();
    // No index is an error of the machine's state, as for every query.
    assert_eq!(util::exit_code(&output), 1, "{}", util::stderr(&output));
    assert!(
        util::stderr(&output).contains("run `indexer build` first"),
        "{}",
        util::stderr(&output)
    );
    assert!(!elsewhere.path().join("out.scip").exists());
    assert!(!elsewhere.path().join(".out.scip.partial").exists());
}

/// A file edited since it was indexed has ranges as long as the names
/// (its text no longer says where the tokens end), and the summary says
/// so with the fix; a project file outside PROJECT is left out and
/// counted.
#[test]
fn stale_and_outside_files_are_reported() {
    let project = project();
    util::edit(
        &project,
        "src/main.cpp",
        &format!(
            "{}// edited\n",
            std::fs::read_to_string(project.path("src/main.cpp")).unwrap()
        ),
    );
    let output = project.run(&["export", "scip", "out.scip"]);
    util::assert_success(&output);
    assert!(
        util::stderr(&output).ends_with(
            "; 1 file changed or unreadable since indexed, ranges as long as the names (run `indexer build` first)\n"
        ),
        "{}",
        util::stderr(&output)
    );
    let index = read(&std::fs::read(project.path("out.scip")).unwrap());
    let main = index
        .documents
        .iter()
        .find(|d| d.relative_path == "src/main.cpp")
        .unwrap();
    // `EXIT_SUCCESS` and `abs` as long as their names; `main`'s too.
    let ranges: Vec<(&str, &[i32])> = main
        .occurrences
        .iter()
        .filter(|o| o.range[0] == 13 || o.range[0] == 8)
        .map(|o| (o.symbol.rsplit(' ').next().unwrap(), &o.range[..]))
        .collect();
    assert_eq!(
        ranges,
        [
            ("main(b126dc7c1de90089).", &[8, 4, 8][..]),
            (
                "`$anonymous_namespace_src/main.cpp`/total.",
                &[13, 11, 16][..]
            ),
            ("EXIT_SUCCESS!", &[13, 23, 35][..]),
            ("abs(a1793504d39b0cc6).", &[13, 38, 41][..]),
            (
                "`$anonymous_namespace_src/main.cpp`/total.",
                &[13, 42, 47][..]
            ),
        ]
    );

    // The index of `include/` only: `src/` is outside it.
    let output = project.run(&[
        "export",
        "scip",
        "out.scip",
        "include",
        "--db",
        project.db().to_str().unwrap(),
    ]);
    util::assert_success(&output);
    assert!(
        util::stderr(&output).contains(
            "exported 1 documents, 23 occurrences, 14 symbols and 2 external symbols"
        ) && util::stderr(&output).contains("; 2 project files outside the project root left out (pass their common root as PROJECT)"),
        "{}",
        util::stderr(&output)
    );
    let index = read(&std::fs::read(project.path("out.scip")).unwrap());
    let paths: Vec<&str> = index
        .documents
        .iter()
        .map(|d| d.relative_path.as_str())
        .collect();
    assert_eq!(paths, ["zoo/animal.h"]);
    // Macros are named by their path relative to the root.
    assert!(index.documents[0].occurrences[0]
        .symbol
        .ends_with(" `zoo/animal.h:3:9`!"));
}
