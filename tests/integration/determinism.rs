//! One index whatever the build's history: a full build, the same with
//! `-j 1`, a build interrupted and resumed, a refresh whose edits end in
//! the same sources and a build without preludes (the standard library
//! precompiled) all leave the same content (`indexer digest`, every row
//! spelled with USRs and paths). Issue 14.

use std::path::Path;
use std::time::Duration;

use crate::util::{self, Project};

/// Units of one compile command: enough for a prelude
/// (`prelude::MIN_UNITS`).
const UNITS: usize = 10;

/// A C++ project whose units disagree on what libclang computes lazily:
/// some destroy a `Shape` (clang then evaluates its destructor's exception
/// specification, `void () noexcept`), others only name one; unnamed
/// namespaces (USR `c:@aN`) sit at the top level in some units and inside
/// `geo` in others; a class template is met through its members first in
/// some units; a lambda of the header is called by some units only (issue
/// 19). Every unit uses the standard library.
fn project() -> Project {
    let project = Project::new();
    project.write(
        "include/shape.h",
        "#pragma once\n#include <string>\n#include <vector>\n\
         namespace geo {\n\
         /// A shape.\nstruct Shape {\n  /// Destroys it.\n  virtual ~Shape();\n  std::string name;\n};\n\
         typedef std::vector<int> Sides;\n\
         struct Box : Shape {\n  Box() = default;\n  std::vector<int> sides;\n};\n\
         template <typename T> struct Holder {\n  T value;\n  T get() const { return value; }\n};\n\
         inline int total(const std::vector<int>& v) {\n  int s = 0;\n  auto add = [&s](int x) { s += x; };\n  for (int x : v) add(x);\n  return s;\n}\n\
         inline auto twice = [](int x) { return x * 2; };\n\
         }\n",
    );
    project.write(
        "src/shape.cpp",
        "#include \"shape.h\"\nnamespace geo {\n/// Out of line.\nShape::~Shape() {}\n}\n",
    );
    let mut units = vec!["src/shape.cpp".to_owned()];
    for k in 1..UNITS {
        let unit = format!("src/u{k}.cpp");
        let body = match k % 3 {
            0 => format!(
                "#include <map>\n#include \"shape.h\"\n\
                 namespace {{ int local{k} = {k}; }}\n\
                 void drop{k}(geo::Shape* s) {{ delete s; geo::Box b; (void)b; }}\n\
                 int use{k}() {{ return local{k}; }}\n"
            ),
            1 => format!(
                "#include \"shape.h\"\n\
                 namespace geo {{ namespace {{ int hidden{k} = {k}; }} }}\n\
                 geo::Shape* keep{k}(geo::Shape* s) {{ return s; }}\n\
                 int twice{k}() {{ return geo::twice({k}); }}\n\
                 int get{k}(const geo::Holder<int>& h) {{ return h.get() + geo::hidden{k}; }}\n"
            ),
            _ => format!(
                "#include <memory>\n#include \"shape.h\"\n\
                 std::unique_ptr<geo::Shape> make{k}() {{ return std::make_unique<geo::Box>(); }}\n\
                 geo::Holder<geo::Box> hold{k};\n"
            ),
        };
        project.write(&unit, &body);
        units.push(unit);
    }
    let entries: Vec<(&str, &[&str])> = units
        .iter()
        .map(|u| (u.as_str(), &["-Iinclude", "-std=c++17"][..]))
        .collect();
    project.compdb(&entries);
    project
}

/// A build into `name` (next to the project's own index) with `args`.
fn build_into(project: &Project, name: &str, args: &[&str]) -> String {
    let db = project.path(name);
    let summary = project.build(&[args, &["--db", db.to_str().unwrap()]].concat());
    assert_eq!(summary["indexed"], UNITS, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    util::digest(project, &db)
}

/// Asserts that the project's index is the one a build with `-j 1
/// --no-prelude` (every unit parsed as written) gives; `what` names the
/// index for the message.
fn assert_as_written(project: &Project, what: &str) {
    let plain = build_into(project, "plain.db", &["-j", "1", "--no-prelude"]);
    util::assert_same_digest(
        &format!("{what} and without a prelude"),
        &util::digest(project, &project.db()),
        &plain,
    );
}

#[test]
fn jobs_and_the_prelude_do_not_change_the_index() {
    let project = project();
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], UNITS, "{summary}");
    assert!(
        summary["units_with_prelude"].as_u64().unwrap() >= 1,
        "the precompiled library is used: {summary}"
    );

    let full = util::digest(&project, &project.db());
    // What the units disagreed on before it was spelled the same way.
    for row in [
        "geo::Shape::~Shape\tdestructor\tvoid ()\t\t\n",
        "c:@aN\t(anonymous namespace)\t(anonymous namespace)\tnamespace\t\t\t\n",
        "geo::Holder\tclass_template\t\t\t\n",
        // Issue 17: documentation comments, of the declaration in the
        // header (emitted by whichever unit claims it) and of the
        // definition; an alias's types.
        "\tc:@N@geo@S@Shape\tDestroys it.\n",
        "\tc:@N@geo@S@Shape\tOut of line.\n",
        "\tc:@N@geo\tA shape.\n",
        "geo::Sides\ttypedef\tgeo::Sides\tstd::vector<int>\t",
    ] {
        assert!(full.contains(row), "{row:?} missing from\n{full}");
    }

    for _ in 0..2 {
        // One worker: the later units get the project's header precompiled
        // too (with two, the build is over before it is).
        let db = project.path("j1.db");
        let summary = project.build(&["-j", "1", "--full", "--db", db.to_str().unwrap()]);
        assert_eq!(
            summary["units_with_project_prelude"],
            UNITS - 3,
            "{summary}"
        );
        util::assert_same_digest("-j 2 and -j 1", &full, &util::digest(&project, &db));
    }
    let plain = build_into(&project, "plain.db", &["-j", "2", "--no-prelude"]);
    util::assert_same_digest("with and without the precompiled library", &full, &plain);
    // Issue 15: the soak's order, every tenth of the build alike in cost.
    let even = build_into(&project, "even.db", &["-j", "2", "--dispatch", "even"]);
    util::assert_same_digest("costliest first and dealt evenly", &full, &even);
}

#[test]
fn a_build_interrupted_and_resumed_holds_the_index_of_a_full_build() {
    let project = project();
    let full = build_into(&project, "full.db", &["-j", "2"]);
    // One unit hangs (`INDEXER_FAULT`): the build cannot end before the
    // signal, so it is interrupted with that unit (and maybe others) still
    // pending, whatever the machine's speed.
    let build = project.spawn(
        &["build", "--json", "-j", "2"],
        &[("INDEXER_FAULT", "hang@u3.cpp")],
    );
    util::wait_until(Duration::from_secs(120), "3 units are indexed", || {
        project.indexed_units() >= 3
    });
    build.signal(libc::SIGINT);
    let (output, _) = build.wait(Duration::from_secs(30));
    assert_eq!(util::exit_code(&output), 130, "{}", util::stderr(&output));
    let pending = project.count("SELECT count(*) FROM units WHERE state = 'pending'");
    assert!(pending >= 1, "the hung unit is left pending");

    let resumed = project.build(&["-j", "2"]);
    assert_eq!(resumed["indexed"], pending, "{resumed}");
    util::assert_same_digest(
        "interrupted and resumed against full",
        &full,
        &util::digest(&project, &project.db()),
    );
    project.assert_no_workers_survive();
}

#[test]
fn a_refresh_whose_edits_are_undone_holds_the_index_of_a_full_build() {
    let project = project();
    let full = build_into(&project, "full.db", &["-j", "2"]);
    project.build(&["-j", "2"]);
    let originals: Vec<(String, String)> = [
        "src/u3.cpp",
        "src/u4.cpp",
        "src/shape.cpp",
        "include/shape.h",
    ]
    .iter()
    .map(|f| {
        (
            f.to_string(),
            std::fs::read_to_string(project.path(f)).unwrap(),
        )
    })
    .collect();
    // The units that destroyed a Shape no longer do, the definition of its
    // destructor moves, the header loses the template: refreshes store
    // other units' versions of the same symbols, in another order.
    util::edit(
        &project,
        "src/u3.cpp",
        "#include \"shape.h\"\nint u3 = 3;\n",
    );
    util::edit(&project, "src/u4.cpp", "namespace { int moved = 4; }\n");
    util::edit(
        &project,
        "src/shape.cpp",
        "#include \"shape.h\"\n\nnamespace geo {\n\nShape::~Shape() = default;\n}\n",
    );
    project.build(&["-j", "1"]);
    let header = &originals[3].1;
    util::edit(
        &project,
        "include/shape.h",
        &header.replace(
            "template <typename T> struct Holder",
            "template <typename T> struct Kept",
        ),
    );
    project.build(&["-j", "2"]);
    for (file, text) in &originals {
        util::edit(&project, file, text);
    }
    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["failed"], 0, "{summary}");
    util::assert_same_digest(
        "refreshed back to the same sources against full",
        &full,
        &util::digest(&project, &project.db()),
    );
}

/// A header the command includes first (`-include cfg.h`) is inside the
/// prelude, where the index does not walk its declarations: a unit parsed
/// with the prelude must leave it to one parsed as written
/// (each command's first unit is), or the header is stored empty. Here the
/// first unit is held up (it allocates and touches 2 GiB first), so the
/// units parsed with the prelude finish first: before the fix, `cfg.h`
/// was stored without a declaration.
#[test]
fn a_header_the_command_includes_first_is_emitted_by_a_unit_parsed_as_written() {
    let project = Project::new();
    project.write(
        "include/cfg.h",
        "#pragma once\nint cfg_value();\nstruct Config { int level; };\n",
    );
    // The largest file: dispatched first, so parsed without the prelude.
    project.write(
        "src/big.cpp",
        &format!(
            "int big() {{ return cfg_value(); }}\n{}",
            "// padding\n".repeat(100)
        ),
    );
    let mut units = vec!["src/big.cpp".to_owned()];
    for k in 1..UNITS {
        let unit = format!("src/s{k}.cpp");
        project.write(
            &unit,
            &format!("int small{k}() {{ return cfg_value() + Config{{{k}}}.level; }}\n"),
        );
        units.push(unit);
    }
    let entries: Vec<(&str, &[&str])> = units
        .iter()
        .map(|u| (u.as_str(), &["-include", "include/cfg.h"][..]))
        .collect();
    project.compdb(&entries);
    let summary = project.build_with_env(&["-j", "2"], &[("INDEXER_FAULT", "alloc:2G@big.cpp")]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(UNITS as u64), Some(0)),
        "{summary}"
    );
    assert!(
        summary["units_with_prelude"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(
        project.column(
            "SELECT s.qualified_name FROM decls d JOIN symbols s ON s.id = d.symbol_id
             JOIN files f ON f.id = d.file_id WHERE f.path LIKE '%/include/cfg.h' ORDER BY 1"
        ),
        ["Config", "Config::level", "cfg_value"]
    );
    let full = util::digest(&project, &project.db());
    let plain = build_into(&project, "plain.db", &["-j", "2", "--no-prelude"]);
    util::assert_same_digest("with and without the precompiled library", &full, &plain);
}

/// Issue 15: units whose headers define a macro the prelude tests
/// (`_XOPEN_SOURCE`, which glibc's `<features.h>` reads) are parsed again
/// as written, twice the work (a main file that does is seen before
/// parsing, and parsed once). After three such fallbacks of one command,
/// more than its units that used the prelude, the command's other units
/// are parsed as written at once; the summary counts the fallbacks and the
/// time they discarded, and the index is the one `--no-prelude` gives.
#[test]
fn a_command_whose_units_fall_back_stops_getting_the_prelude() {
    let project = Project::new();
    project.write("src/xopen.h", "#define _XOPEN_SOURCE 700\n");
    let mut units = Vec::new();
    for k in 0..UNITS {
        let unit = format!("src/x{k}.cpp");
        project.write(
            &unit,
            &format!("#include \"xopen.h\"\n#include <string>\nstd::string x{k}() {{ return \"{k}\"; }}\n"),
        );
        units.push(unit);
    }
    let entries: Vec<(&str, &[&str])> = units.iter().map(|u| (u.as_str(), &[][..])).collect();
    project.compdb(&entries);
    // One worker: units finish in dispatch order, so the count is exact.
    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["indexed"], UNITS, "{summary}");
    assert_eq!(summary["units_with_prelude"], 0, "{summary}");
    assert_eq!(summary["prelude_fallbacks"], 3, "{summary}");
    assert!(
        summary["prelude_discarded_s"].as_f64().unwrap() > 0.0,
        "{summary}"
    );
    assert_as_written(&project, "with the precompiled library");
}

/// Issue 15: C units get a prelude of their own (the C part of the
/// header, precompiled as C), and the index is the one `--no-prelude`
/// gives. A header's fallback definition of a macro the library defines
/// (`#ifndef R_OK`, as libgit2 has it) does not count as configuring the
/// library. A unit that defines a name the C headers declare without
/// including them (`getpid`, from `<unistd.h>`) gets an error with the
/// prelude ahead of it, and is parsed again as written.
#[test]
fn c_units_use_a_prelude_of_their_own() {
    let project = c_project();
    // One worker: units finish in dispatch order (largest first), so the
    // counts are exact: the first unit goes without, the clash falls back.
    let summary = project.build(&["-j", "1"]);
    assert_eq!(
        (&summary["indexed"], &summary["failed"]),
        (&serde_json::json!(UNITS), &serde_json::json!(0)),
        "{summary}"
    );
    assert_eq!(summary["units_with_prelude"], UNITS - 2, "{summary}");
    assert_eq!(summary["prelude_fallbacks"], 1, "{summary}");
    assert_eq!(
        project.column("SELECT count(*) FROM diagnostics"),
        ["0"],
        "no unit keeps an error"
    );
    assert_as_written(&project, "with the precompiled library");
}

/// Issue 15: a unit that fell back from the library was parsed twice in
/// every build that indexed it again. Its record now sends it as written
/// at once, until every unit is indexed anew (`--full`).
#[test]
fn a_unit_that_fell_back_is_parsed_once_when_indexed_again() {
    let project = c_project();
    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["prelude_fallbacks"], 1, "{summary}");

    // Every unit edited (a refresh of fewer units builds no library).
    for k in 1..UNITS {
        let unit = format!("src/c{k}.c");
        let text = std::fs::read_to_string(project.path(&unit)).unwrap();
        util::edit(&project, &unit, &format!("{text}/* edited */\n"));
    }
    util::edit(&project, "src/clash.c", "int getpid = 3;\n/* edited */\n");
    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["indexed"], UNITS, "{summary}");
    assert_eq!(summary["units_with_prelude"], UNITS - 2, "{summary}");
    assert_eq!(summary["prelude_fallbacks"], 0, "{summary}");
    assert_eq!(project.column("SELECT count(*) FROM diagnostics"), ["0"]);
    assert_as_written(&project, "with the record");

    let summary = project.build(&["-j", "1", "--full"]);
    assert_eq!(summary["prelude_fallbacks"], 1, "{summary}");
}

/// Units of one C command including `util.h` (stdio, string, unistd, a
/// default definition of `R_OK`), and `src/clash.c`, which defines
/// `getpid` without including `<unistd.h>`.
fn c_project() -> Project {
    let project = Project::new();
    project.write(
        "include/util.h",
        "#ifndef UTIL_H\n#define UTIL_H\n#include <stdio.h>\n#include <string.h>\n\
         #include <unistd.h>\n#ifndef R_OK\n#define R_OK 4\n#endif\n\
         #define GREETING \"hi\"\n\
         static inline size_t twice(const char *s) { return 2 * strlen(s); }\n#endif\n",
    );
    let root = project.root().display().to_string();
    let mut entries = Vec::new();
    let mut unit = |name: String, text: String| {
        project.write(&name, &text);
        entries.push(serde_json::json!({
            "directory": root,
            "file": format!("{root}/{name}"),
            "arguments": ["cc", "-std=c11", "-Iinclude", "-c", name],
        }));
    };
    for k in 1..UNITS {
        unit(
            format!("src/c{k}.c"),
            format!(
                "#include \"util.h\"\n\
                 int c{k}(void) {{ printf(\"%s\\n\", GREETING); return (int)twice(\"{k}\"); }}\n"
            ),
        );
    }
    unit("src/clash.c".into(), "int getpid = 3;\n".into());
    project.write(
        "compile_commands.json",
        &serde_json::to_string_pretty(&entries).unwrap(),
    );
    project
}

/// A worker that crashes parsing a unit with its prelude (libclang 14 did,
/// on a unit of protobuf's, with a precompiled header it parses as written)
/// costs that unit the prelude, not its index: the second attempt parses
/// it as written, it counts as a fallback of its command, and its record
/// sends it as written in the next build that indexes it, so it does not
/// crash again.
#[test]
fn a_unit_that_crashes_with_the_prelude_is_parsed_as_written() {
    let project = project();
    // Every unit crashes its worker when it comes with a prelude. One
    // worker: the command's first unit goes without, the next three crash
    // and fall back, and the command gives up.
    let crash_all = [("INDEXER_FAULT", "crash-with-prelude@.cpp")];
    let summary = project.build_with_env(&["-j", "1"], &crash_all);
    assert_eq!(
        (&summary["indexed"], &summary["failed"]),
        (&serde_json::json!(UNITS), &serde_json::json!(0)),
        "{summary}"
    );
    assert_eq!(summary["workers_crashed"], 3, "{summary}");
    assert_eq!(summary["prelude_fallbacks"], 3, "{summary}");
    assert_eq!(summary["units_with_prelude"], 0, "{summary}");
    assert_as_written(&project, "after crashes with the prelude");

    let crashed = project.column(
        "SELECT f.path FROM units u JOIN files f ON f.id = u.file_id
         WHERE u.prelude_fell_back = 1 ORDER BY f.path",
    );
    assert_eq!(crashed.len(), 3, "{crashed:?}");
    // Every unit edited: the recorded ones, which crash with a prelude,
    // are parsed as written at once.
    for unit in project.column("SELECT f.path FROM units u JOIN files f ON f.id = u.file_id") {
        let text = std::fs::read_to_string(&unit).unwrap();
        let rel = unit
            .strip_prefix(&format!("{}/", project.root().display()))
            .unwrap();
        util::edit(&project, rel, &format!("{text}// edited\n"));
    }
    let names: Vec<String> = crashed
        .iter()
        .map(|path| format!("crash-with-prelude@/{}", path.rsplit('/').next().unwrap()))
        .collect();
    let summary = project.build_with_env(&["-j", "1"], &[("INDEXER_FAULT", &names.join(","))]);
    assert_eq!(
        (&summary["indexed"], &summary["workers_crashed"]),
        (&serde_json::json!(UNITS), &serde_json::json!(0)),
        "{summary}"
    );
}

/// Units of one command, `src/uK.cpp` for K in 0..UNITS-1 with `common`
/// as their text, and `src/last.cpp` with `last`: dispatched in that order
/// with `-j 1` (equal costs), so the first unit is parsed as written, the
/// next two with the standard library precompiled, and the later ones get
/// a prelude that also holds the project headers most of those three read.
fn project_with(headers: &[(&str, &str)], common: &str, last: &str) -> Project {
    project_with_flags(headers, common, last, &[])
}

/// [`project_with`], each command with `flags` (given the project's root).
fn project_with_flags(
    headers: &[(&str, &str)],
    common: &str,
    last: &str,
    flags: &[&dyn Fn(&Path) -> String],
) -> Project {
    let project = Project::new();
    for (path, text) in headers {
        project.write(path, text);
    }
    let mut units: Vec<String> = (0..UNITS - 1).map(|k| format!("src/u{k}.cpp")).collect();
    for unit in &units {
        project.write(unit, common);
    }
    project.write("src/last.cpp", last);
    units.push("src/last.cpp".into());
    let flags: Vec<String> = flags.iter().map(|flag| flag(project.root())).collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let entries: Vec<(&str, &[&str])> = units.iter().map(|u| (u.as_str(), &flags[..])).collect();
    project.compdb(&entries);
    project
}

/// Asserts that a build of [`project_with`]'s units indexed them all, that
/// `with_project` of them used a prelude with project headers, and that
/// `fallbacks` were parsed again as written.
#[track_caller]
fn assert_prelude_use(summary: &serde_json::Value, with_project: usize, fallbacks: u64) {
    assert_eq!(
        (
            &summary["indexed"],
            &summary["units_with_project_prelude"],
            &summary["prelude_fallbacks"]
        ),
        (
            &serde_json::json!(UNITS),
            &serde_json::json!(with_project),
            &serde_json::json!(fallbacks)
        ),
        "indexed, with project headers, fallbacks: {summary}"
    );
}

/// Issue 15: the project headers most units of a command read are
/// precompiled with the standard library. A unit whose own header defines
/// a macro one of them tests, before including it, is parsed as written:
/// in the prelude, that header was read without the definition.
#[test]
fn a_unit_that_configures_a_precompiled_project_header_is_parsed_as_written() {
    let config =
        "#ifndef CONFIG_H\n#define CONFIG_H\n#ifndef FEATURE\n#define FEATURE 1\n#endif\n#endif\n";
    let lib = "#ifndef LIB_H\n#define LIB_H\n#include <string>\n#include \"config.h\"\n\
               #if FEATURE == 2\nint feature_two();\n#else\nint feature_one();\n#endif\n\
               inline std::string lib_name() { return \"lib\"; }\n#endif\n";
    let project = project_with(
        &[
            ("include/config.h", config),
            ("include/lib.h", lib),
            (
                "include/two.h",
                "#ifndef TWO_H\n#define TWO_H\n#define FEATURE 2\n#endif\n",
            ),
        ],
        "#include \"lib.h\"\nint use() { return feature_one() + (int)lib_name().size(); }\n",
        "#include \"two.h\"\n#include \"lib.h\"\nint last() { return feature_two(); }\n",
    );
    let summary = project.build(&["-j", "1"]);
    assert_eq!(
        (&summary["indexed"], &summary["failed"]),
        (&serde_json::json!(UNITS), &serde_json::json!(0)),
        "{summary}"
    );
    assert_prelude_use(&summary, UNITS - 4, 1);
    assert_eq!(project.column("SELECT count(*) FROM diagnostics"), ["0"]);
    assert_as_written(&project, "with the project's headers precompiled");
}

/// Issue 15: headers that define macros for their own code and undefine
/// them at their end through a pair of files without guards (protobuf's
/// `port_def.inc` and `port_undef.inc`), which the units' main files also
/// include after their headers, cost no unit the prelude.
#[test]
fn scoped_macros_around_each_file_cost_no_unit_the_prelude() {
    let begin =
        "#ifdef LOCAL_API\n#error LOCAL_API was defined\n#endif\n#define LOCAL_API inline\n";
    let end = "#ifndef LOCAL_API\n#error begin.inc was not included\n#endif\n#undef LOCAL_API\n";
    let api = "#ifndef API_H\n#define API_H\n#include <vector>\n#include \"begin.inc\"\n\
               LOCAL_API int api(const std::vector<int>& v) { return (int)v.size(); }\n\
               #include \"end.inc\"\n#endif\n";
    let unit = "#include \"api.h\"\n#include \"begin.inc\"\n\
                LOCAL_API int use(const std::vector<int>& v) { return api(v); }\n#include \"end.inc\"\n";
    let project = project_with(
        &[
            ("include/begin.inc", begin),
            ("include/end.inc", end),
            ("include/api.h", api),
        ],
        unit,
        unit,
    );
    let summary = project.build(&["-j", "1"]);
    assert_prelude_use(&summary, UNITS - 3, 0);
    assert_as_written(&project, "with the project's headers precompiled");
}

/// Issue 15: project headers whose meaning depends on their order (one
/// defines a macro another tests without including the first) are
/// precompiled in the order the sampled units read them: the units that
/// read them in that order use the prelude, and one that includes them the
/// other way, which would read other declarations, is parsed as written.
#[test]
fn a_unit_reading_order_dependent_headers_in_another_order_is_parsed_as_written() {
    let mode = "#ifndef MODE_H\n#define MODE_H\n#define MODE 2\n#endif\n";
    // Either overload takes the last unit's call without an error: only
    // the check of the order tells the prelude's reading from its own.
    let reader = "#ifndef READER_H\n#define READER_H\n#include <string>\n\
                  #if MODE == 2\nint read(long);\n#else\nint read(int);\n#endif\n#endif\n";
    let project = project_with(
        &[("include/mode.h", mode), ("include/reader.h", reader)],
        "#include \"mode.h\"\n#include \"reader.h\"\nint use() { return read(2L); }\n",
        "#include \"reader.h\"\n#include \"mode.h\"\nint last() { return read(1); }\n",
    );
    let summary = project.build(&["-j", "1"]);
    assert_prelude_use(&summary, UNITS - 4, 1);
    assert_eq!(project.column("SELECT count(*) FROM diagnostics"), ["0"]);
    assert_as_written(&project, "with the project's headers precompiled");
}

/// Issue 15: the public headers of a system library most units of a
/// command read (gtest's, gmock's) join its prelude with the project's, and
/// stay system headers there. A unit that configures one (defines a macro
/// it tests before including it) is parsed as written, as for a project
/// header.
#[test]
fn a_system_librarys_public_headers_join_the_prelude() {
    let api = "#ifndef LIB_API_H\n#define LIB_API_H\n#include \"detail.h\"\n\
               namespace lib {\n#ifdef LIB_WIDE\ninline long api(long x) { return detail::twice(x); }\n\
               #else\ninline int api(int x) { return detail::twice(x); }\n#endif\n}\n#endif\n";
    // A warning the command makes an error, as it would in the project's
    // own headers: a system header's warnings are not shown.
    let detail =
        "#pragma once\nnamespace lib::detail { inline int twice(int x) { return 2 * x; }\n\
                  struct S { int f() { return 0; }; }; }\n";
    let local = "#ifndef LOCAL_H\n#define LOCAL_H\n#include <string>\n\
                 inline int local() { return (int)std::string(\"l\").size(); }\n#endif\n";
    let project = project_with_flags(
        &[
            ("sys/lib/api.h", api),
            ("sys/lib/detail.h", detail),
            ("include/local.h", local),
        ],
        "#include <lib/api.h>\n#include \"local.h\"\nint use() { return lib::api(1) + local(); }\n",
        "#define LIB_WIDE\n#include <lib/api.h>\n#include \"local.h\"\nlong last() { return lib::api(1L); }\n",
        &[
            &|root: &Path| format!("-isystem{}/sys", root.display()),
            &|_: &Path| "-Werror=extra-semi".into(),
        ],
    );
    let summary = project.build(&["-j", "1"]);
    // The last unit's main file defines `LIB_WIDE`, which only a header of
    // the prelude tests: it is parsed as written from the start.
    assert_eq!(summary["units_with_prelude"], UNITS - 2, "{summary}");
    assert_prelude_use(&summary, UNITS - 4, 0);
    assert_eq!(project.column("SELECT count(*) FROM diagnostics"), ["0"]);
    // Still system headers: not the project's, however the prelude
    // included them.
    assert_eq!(
        project.column(
            "SELECT substr(path, instr(path, '/sys/')) || ' ' || is_system FROM files \
             WHERE path LIKE '%/sys/lib/%' ORDER BY path"
        ),
        ["/sys/lib/api.h 1", "/sys/lib/detail.h 1"]
    );
    assert_as_written(&project, "with a system library's headers precompiled");
}

/// Issue 15: a prelude whose project headers include a missing one (a
/// generated header, in a tree that was only configured) is not used; its
/// units get the standard one. Leaving such headers out instead cost
/// LLVM's units that hit the missing header most of their references
/// (docs/benchmarks.md).
#[test]
fn a_prelude_whose_headers_include_a_missing_one_is_not_used() {
    let plain = "#ifndef PLAIN_H\n#define PLAIN_H\n#include <string>\n\
                 inline int plain() { return (int)std::string(\"p\").size(); }\n#endif\n";
    let uses = "#ifndef USES_H\n#define USES_H\n#include \"generated.inc\"\nint uses();\n#endif\n";
    let unit = "#include \"plain.h\"\nint use() { return plain(); }\n#include \"uses.h\"\n";
    let project = project_with(
        &[("include/plain.h", plain), ("include/uses.h", uses)],
        unit,
        unit,
    );
    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["units_with_prelude"], UNITS - 1, "{summary}");
    assert_prelude_use(&summary, 0, 0);
    // Each unit reports the missing header, as written.
    assert_eq!(
        project.column("SELECT count(*) FROM diagnostics WHERE message LIKE '%generated.inc%'"),
        [UNITS.to_string()]
    );
    assert_as_written(&project, "with the standard library precompiled");
}

/// Issue 15: a unit whose own header defines the macro an X-macro file of
/// the prelude expands (`#define KIND(x) ...` then `#include "kinds.def"`,
/// which ends with `#undef KIND`, as LLVM's `.def` files do) keeps the
/// prelude: the file, read again, leaves the macro as the prelude did.
#[test]
fn an_x_macro_file_read_again_undoes_the_units_definition() {
    let kinds = "#ifndef KIND\n#define KIND(x)\n#endif\nKIND(alpha)\nKIND(beta)\n#undef KIND\n";
    let table = "#ifndef TABLE_H\n#define TABLE_H\n#include <string>\n\
                 #define KIND(x) int x##_kind();\n#include \"kinds.def\"\n#endif\n";
    let own = "#ifndef OWN_H\n#define OWN_H\n#define KIND(x) enum { x##_e };\n\
               #include \"kinds.def\"\n#endif\n";
    let project = project_with(
        &[
            ("include/kinds.def", kinds),
            ("include/table.h", table),
            ("include/own.h", own),
        ],
        "#include \"table.h\"\nint use() { return alpha_kind(); }\n",
        "#include \"own.h\"\n#include \"table.h\"\nint last() { return alpha_e + beta_kind(); }\n",
    );
    let summary = project.build(&["-j", "1"]);
    assert_prelude_use(&summary, UNITS - 3, 0);
    assert_eq!(project.column("SELECT count(*) FROM diagnostics"), ["0"]);
    assert_as_written(&project, "with the X-macro file precompiled");
}

/// Issue 15: in code that does not compile, a unit's parser may lose its
/// way before a header (here an unclosed call swallows it; on LLVM
/// configured only, a missing generated header): the header's rows come
/// from the unit that understood the most of it, whichever unit the build
/// meets first, with one worker (whose session must not count the header
/// parsed after the first unit) or two.
#[test]
fn a_header_is_indexed_from_the_unit_that_understood_it_in_any_order() {
    let rows_of_header = |bad_first: bool, jobs: &str| -> Vec<String> {
        let project = Project::new();
        project.write(
            "include/h.h",
            "#ifndef H_H\n#define H_H\nnamespace lib {\nint alpha(int);\n\
             inline int beta(int x) { return alpha(x) + 1; }\n\
             struct Gamma { int delta() const { return beta(2); } };\n}\n#endif\n",
        );
        // The larger unit is dispatched first.
        let padding = "// padding\n".repeat(400);
        let pad = |first: bool| if first { padding.as_str() } else { "" };
        project.write(
            "src/bad.cpp",
            &format!(
                "int broken = alpha(\n#include \"h.h\"\n);\n{}",
                pad(bad_first)
            ),
        );
        project.write(
            "src/good.cpp",
            &format!(
                "#include \"h.h\"\nint use() {{ return lib::beta(1); }}\n{}",
                pad(!bad_first)
            ),
        );
        project.compdb(&[("src/bad.cpp", &[][..]), ("src/good.cpp", &[][..])]);
        let summary = project.build(&["-j", jobs]);
        assert_eq!(summary["indexed"], 2, "{summary}");
        let root = project.root().to_str().unwrap().to_owned();
        util::digest(&project, &project.db())
            .lines()
            .filter(|row| row.contains("include/h.h"))
            .filter(|row| {
                !["files\t", "unit_deps\t", "includes\t", "diagnostics\t"]
                    .iter()
                    .any(|table| row.starts_with(table))
            })
            .map(|row| row.replace(&root, "ROOT"))
            .collect()
    };
    let understood = rows_of_header(false, "1");
    for declared in ["c:@N@lib@F@beta#I#", "c:@N@lib@S@Gamma@F@delta#1"] {
        assert!(
            understood
                .iter()
                .any(|row| row.starts_with("decls\t") && row.contains(declared)),
            "{declared} missing from {understood:#?}"
        );
    }
    for (bad_first, jobs) in [(true, "1"), (true, "2"), (false, "2")] {
        assert_eq!(
            rows_of_header(bad_first, jobs),
            understood,
            "bad.cpp first: {bad_first}, -j {jobs}"
        );
    }
}
