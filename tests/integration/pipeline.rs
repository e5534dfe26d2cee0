//! The indexing pipeline end to end: what `build` stores for real C++ code
//! (names, kinds, locations, references, inheritance), how it copes with
//! broken inputs, and what the queries and the build summary report.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::{self, Project};

const DEMO_UNITS: [&str; 3] = ["src/circle.cpp", "src/main.cpp", "src/total.cpp"];

/// testdata/demo with a compile_commands.json listing its three units.
fn demo() -> Project {
    let project = Project::from_testdata("demo");
    project.compdb(&DEMO_UNITS.map(|unit| (unit, &[][..])));
    project
}

/// `demo()`, built with two workers.
fn built_demo() -> Project {
    let project = demo();
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 3, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    project
}

fn abs(project: &Project, rel: &str) -> String {
    project.path(rel).display().to_string()
}

/// `field` of every row, as strings.
fn field(rows: &[Value], field: &str) -> Vec<String> {
    rows.iter()
        .map(|row| match &row[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A query row reduced to `qualified_name kind file:line:column [roles] container`.
fn describe(project: &Project, row: &Value) -> String {
    let root = format!("{}/", project.root().display());
    let file = row["file"]
        .as_str()
        .unwrap_or("?")
        .trim_start_matches(&root)
        .to_string();
    let mut text = format!(
        "{} {} {}:{}:{}",
        row["qualified_name"].as_str().unwrap(),
        row["kind"].as_str().unwrap(),
        file,
        row["line"],
        row["column"]
    );
    if let Some(roles) = row.get("roles") {
        let roles: Vec<&str> = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        text.push_str(&format!(" [{}]", roles.join(",")));
    }
    if let Some(container) = row.get("container").and_then(Value::as_str) {
        text.push_str(&format!(" in {container}"));
    }
    text
}

fn describe_all(project: &Project, rows: &[Value]) -> Vec<String> {
    rows.iter().map(|row| describe(project, row)).collect()
}

/// Qualified names, kinds and locations of what the demo declares in namespaces, classes, templates and enums.
#[test]
fn symbols_have_qualified_names_and_kinds() {
    let project = built_demo();
    let declared = project.column(
        "SELECT DISTINCT s.qualified_name || ' ' || s.kind FROM symbols s JOIN decls d ON d.symbol_id = s.id
         ORDER BY s.qualified_name, s.kind",
    );
    util::assert_expected("demo-declared-symbols", &declared);
    // Plain names are the last component.
    let names = project.column("SELECT name FROM symbols WHERE qualified_name IN ('geo::Shape::~Shape', 'geo::Color::Red', 'geo::clamp') ORDER BY name");
    assert_eq!(names, ["Red", "clamp", "~Shape"]);
    // The definition locations, as `find` reports them.
    let rows = project.query(&["find", "geo::C*", "--kind", "class"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::Circle class include/geo/shape.h:18:7"]
    );
    let rows = project.query(&["find", "clamp"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::clamp function_template include/geo/shape.h:37:3"]
    );
    assert_eq!(rows[0]["definition"], true);
}

/// A declaration and its out-of-line definition are one symbol with two decls, one of them the definition.
#[test]
fn declaration_and_out_of_line_definition_are_one_symbol() {
    let project = built_demo();
    for (qualified_name, declaration, definition) in [
        (
            "geo::Circle::area",
            "include/geo/shape.h:21:12",
            "src/circle.cpp:7:16",
        ),
        (
            "geo::Circle::Circle",
            "include/geo/shape.h:20:14",
            "src/circle.cpp:5:9",
        ),
        (
            "geo::total_area",
            "include/geo/shape.h:41:8",
            "src/total.cpp:7:8",
        ),
    ] {
        assert_eq!(
            project.count(&format!(
                "SELECT count(*) FROM symbols WHERE qualified_name = '{qualified_name}'"
            )),
            1,
            "{qualified_name}"
        );
        let root = format!("{}/", project.root().display());
        let decls = project.column(&format!(
            "SELECT replace(f.path, '{root}', '') || ':' || d.line || ':' || d.col || ' ' || d.is_definition
             FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id
             WHERE s.qualified_name = '{qualified_name}' ORDER BY d.is_definition"
        ));
        assert_eq!(
            decls,
            [format!("{declaration} 0"), format!("{definition} 1")],
            "{qualified_name}"
        );
    }
    // `find` points at the definition.
    let rows = project.query(&["find", "geo::Circle::area"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::Circle::area method src/circle.cpp:7:16"]
    );
    assert_eq!(rows[0]["definition"], true);
}

/// `static` functions with one name in two units are two symbols, each declared in its own file.
#[test]
fn static_functions_with_one_name_in_two_units_are_two_symbols() {
    let project = Project::from_testdata("overloads_and_statics");
    project.compdb(&[("src/a.cpp", &[]), ("src/b.cpp", &[])]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 2, "{summary}");
    let root = format!("{}/", project.root().display());
    let helpers = project.column(&format!(
        "SELECT s.usr || ' ' || s.qualified_name || ' ' || replace(f.path, '{root}', '') || ':' || d.line
         FROM symbols s JOIN decls d ON d.symbol_id = s.id JOIN files f ON f.id = d.file_id
         WHERE s.name = 'helper' ORDER BY s.usr"
    ));
    assert_eq!(
        helpers,
        [
            "c:a.cpp@F@helper#I# helper src/a.cpp:3",
            "c:b.cpp@F@helper#I# helper src/b.cpp:3"
        ]
    );
    // Each unit's call goes to its own helper.
    let calls = project.column(
        "SELECT s.usr || ' ' || c.qualified_name FROM refs r JOIN symbols s ON s.id = r.symbol_id
         JOIN symbols c ON c.id = r.container_id WHERE s.name = 'helper' ORDER BY s.usr",
    );
    assert_eq!(
        calls,
        [
            "c:a.cpp@F@helper#I# ov::scale",
            "c:b.cpp@F@helper#I# ov::scale"
        ]
    );
}

/// Callers and refs of a virtual method include the dynamic call through the base, also for an override.
#[test]
fn virtual_method_callers_and_refs() {
    let project = built_demo();
    let rows = project.query(&["callers", "geo::Shape::area"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::total_area function src/total.cpp:10:48 [call,dynamic] in geo::Shape::area"]
    );
    assert_eq!(rows[0]["name"], "total_area");

    let rows = project.query(&["refs", "geo::Shape::area"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::Shape::area method src/total.cpp:10:48 [call,dynamic] in geo::total_area"]
    );
    assert_eq!(
        rows[0]["container_usr"],
        "c:@N@geo@F@total_area#*1*1$@N@geo@S@Shape#l#"
    );

    // Circle::area is called directly in main and may be reached through
    // Shape::area in total_area (the overrides table).
    let rows = project.query(&["callers", "geo::Circle::area"]);
    assert_eq!(
        describe_all(&project, &rows),
        [
            "main function src/main.cpp:10:65 [call,dynamic] in geo::Circle::area",
            "geo::total_area function src/total.cpp:10:48 [call,dynamic] in geo::Shape::area",
        ]
    );
    // refs are only the direct uses.
    let rows = project.query(&["refs", "geo::Circle::area"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::Circle::area method src/main.cpp:10:65 [call,dynamic] in main"]
    );
}

/// Inheritance and override edges are stored once each, at the base specifier.
#[test]
fn inheritance_and_override_edges() {
    let project = built_demo();
    let bases = project.column(
        "SELECT d.qualified_name || ' -> ' || b.qualified_name || ' ' || x.line || ':' || x.col || ' virtual=' || x.is_virtual
         FROM bases x JOIN symbols d ON d.id = x.derived_id JOIN symbols b ON b.id = x.base_id ORDER BY 1",
    );
    assert_eq!(
        bases,
        [
            "geo::Circle -> geo::Shape 18:16 virtual=0",
            "geo::Square -> geo::Shape 27:16 virtual=0"
        ]
    );
    let overrides = project.column(
        "SELECT m.qualified_name || ' -> ' || o.qualified_name
         FROM overrides x JOIN symbols m ON m.id = x.method_id JOIN symbols o ON o.id = x.overridden_id ORDER BY 1",
    );
    assert_eq!(
        overrides,
        [
            "geo::Circle::area -> geo::Shape::area",
            "geo::Square::area -> geo::Shape::area"
        ]
    );
}

/// A header included by three units has one files row and its rows stored once.
#[test]
fn header_included_by_three_units_is_stored_once() {
    let project = built_demo();
    let header = abs(&project, "include/geo/shape.h");
    assert_eq!(
        project.count(&format!(
            "SELECT count(*) FROM files WHERE path = '{header}'"
        )),
        1
    );
    // Three units read it...
    assert_eq!(
        project.count(&format!("SELECT count(*) FROM unit_deps d JOIN files f ON f.id = d.file_id WHERE f.path = '{header}'")),
        3
    );
    assert_eq!(
        project.count(&format!("SELECT count(*) FROM includes i JOIN files f ON f.id = i.included_id WHERE f.path = '{header}'")),
        3
    );
    // ...but its declarations are there once.
    for only_in_header in [
        "geo::Shape::color",
        "geo::Color::Red",
        "geo::Square::area",
        "geo::Shape",
    ] {
        assert_eq!(
            project.count(&format!(
                "SELECT count(*) FROM decls d JOIN symbols s ON s.id = d.symbol_id WHERE s.qualified_name = '{only_in_header}'"
            )),
            1,
            "{only_in_header}"
        );
    }
    assert_eq!(
        project.count(&format!("SELECT count(*) FROM decls d JOIN files f ON f.id = d.file_id WHERE f.path = '{header}'")),
        20
    );
    assert_eq!(
        project.count(&format!("SELECT count(*) FROM refs r JOIN files f ON f.id = r.file_id WHERE f.path = '{header}'")),
        15
    );
}

/// A `-D` flag in the compile command decides which `#ifdef` branch is indexed.
#[test]
fn define_flag_changes_what_is_indexed() {
    let project = Project::from_testdata("define_flag");
    let functions =
        || project.column("SELECT qualified_name FROM symbols WHERE kind = 'function' ORDER BY 1");

    project.compdb(&[("src/feature.cpp", &["-DFEATURE"])]);
    project.build(&["-j", "2"]);
    assert_eq!(functions(), ["always", "feature_on"]);

    project.compdb(&[("src/feature.cpp", &[])]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 1, "{summary}");
    assert_eq!(functions(), ["always", "feature_off"]);
}

/// A unit with a syntax error keeps what precedes the error and stores the error with its line.
#[test]
fn syntax_error_unit_is_partly_indexed_with_diagnostics() {
    let project = Project::from_testdata("syntax_error");
    project.compdb(&[("src/broken.cpp", &[]), ("src/fine.cpp", &[])]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let symbols = project.column("SELECT qualified_name || ' ' || kind FROM symbols ORDER BY 1");
    for before in [
        "Before struct",
        "Before::field field",
        "before_error function",
        "fine function",
    ] {
        assert!(
            symbols.contains(&before.to_string()),
            "{before} missing from {symbols:?}"
        );
    }
    let root = format!("{}/", project.root().display());
    let diagnostics = project.column(&format!(
        "SELECT replace(f.path, '{root}', '') || ':' || d.line || ':' || d.col || ' ' || d.severity || ' ' || d.message
         FROM diagnostics d JOIN files f ON f.id = d.file_id ORDER BY 1"
    ));
    assert_eq!(
        diagnostics,
        ["src/broken.cpp:8:15 error expected expression"]
    );
    assert_eq!(
        project.column("SELECT state FROM units ORDER BY id"),
        ["indexed", "indexed"]
    );
}

/// A compile_commands.json entry for a missing file fails alone, with a reason naming the file.
#[test]
fn missing_file_in_compdb_fails_alone() {
    let project = Project::from_testdata("demo");
    project.compdb(&[
        ("src/circle.cpp", &[]),
        ("src/missing.cpp", &[]),
        ("src/main.cpp", &[]),
        ("src/total.cpp", &[]),
    ]);
    let output = project.run(&["build", "--json", "-j", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", util::stderr(&output));
    let summary = util::parse_json(&output);
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(summary["indexed"], 3, "{summary}");
    assert_eq!(summary["files_total"], 4, "{summary}");
    let missing = abs(&project, "src/missing.cpp");
    let rows = project.column(&format!(
        "SELECT u.state || ': ' || u.reason FROM units u JOIN files f ON f.id = u.file_id WHERE f.path = '{missing}'"
    ));
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with("failed: "), "{rows:?}");
    assert!(
        rows[0].contains(&format!("{missing} does not exist")),
        "{rows:?}"
    );
    // The rest is indexed as usual.
    assert_eq!(
        project.count("SELECT count(*) FROM units WHERE state = 'indexed'"),
        3
    );
    assert_eq!(
        project.count("SELECT count(*) FROM symbols WHERE qualified_name = 'geo::total_area'"),
        1
    );
}

/// An invalid compile_commands.json is a usage error (exit 2) naming the file, and no database is created or changed.
#[test]
fn invalid_compdb_is_a_usage_error_and_touches_no_database() {
    let cases = [
        ("[\n  {\"directory\": \"/\", \"file\": \"a.cpp\", \"command\": \"c++ a.cpp\"},\n  {oops}\n]\n", "compile_commands.json:3:"),
        ("{\"directory\": \"/\", \"file\": \"a.cpp\", \"command\": \"c++ a.cpp\"}", "not a JSON array"),
        ("[{\"directory\": \"/\", \"command\": \"c++ a.cpp\"}]", "the entry at index 0 has no `file` field"),
    ];
    for (json, complaint) in cases {
        // A project never indexed: nothing appears.
        let project = Project::from_testdata("demo");
        project.write("compile_commands.json", json);
        let output = project.run(&["build", "--json"]);
        let stderr = util::stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{json}: {stderr}");
        assert!(
            stderr.contains(&abs(&project, "compile_commands.json")),
            "{json}: {stderr}"
        );
        assert!(stderr.contains(complaint), "{json}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{json}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            !project.path(".indexer").exists(),
            "{json}: a database directory was created"
        );
    }

    // A project already indexed: its database is left as it was.
    let project = built_demo();
    let files = [".indexer/index.db", ".indexer/index.db-wal"];
    let before: Vec<Option<Vec<u8>>> = files
        .iter()
        .map(|f| std::fs::read(project.path(f)).ok())
        .collect();
    let listing = |p: &Project| {
        let mut names: Vec<String> = std::fs::read_dir(p.path(".indexer"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let names_before = listing(&project);
    for (json, _) in cases {
        project.write("compile_commands.json", json);
        let output = project.run(&["build", "--json"]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{json}: {}",
            util::stderr(&output)
        );
    }
    let after: Vec<Option<Vec<u8>>> = files
        .iter()
        .map(|f| std::fs::read(project.path(f)).ok())
        .collect();
    assert!(before == after, "the database changed");
    assert_eq!(listing(&project), names_before);
}

/// libclang finds its builtin headers (stddef.h, stdarg.h): no 'file not found', and `size_t` and `va_start` uses are references.
#[test]
fn builtin_headers_are_found() {
    let project = Project::from_testdata("builtin_headers");
    project.compdb(&[("src/builtins.cpp", &[])]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 1, "{summary}");
    let diagnostics = project.column("SELECT severity || ' ' || message FROM diagnostics");
    assert!(
        diagnostics.iter().all(|d| !d.contains("not found")),
        "{diagnostics:?}"
    );
    assert!(
        diagnostics
            .iter()
            .all(|d| !d.starts_with("error") && !d.starts_with("fatal")),
        "{diagnostics:?}"
    );
    let refs = project.column(
        "SELECT s.qualified_name || ' ' || s.kind || ' ' || r.line || ':' || r.col FROM refs r JOIN symbols s ON s.id = r.symbol_id
         ORDER BY r.line, r.col",
    );
    assert_eq!(
        refs,
        [
            "size_t typedef 4:1",
            "va_list typedef 5:5",
            "va_start macro 6:5",
            "size_t typedef 7:5",
            "va_arg macro 9:18",
            "size_t typedef 9:31",
            "va_end macro 11:5",
        ]
    );
    // Both builtin headers were read from libclang's resource directory.
    let headers = project.column("SELECT path FROM files WHERE path LIKE '%/stddef.h' OR path LIKE '%/stdarg.h' ORDER BY path");
    assert_eq!(headers.len(), 2, "{headers:?}");
}

/// Without compile_commands.json the project is walked with default flags (and says so); ignored and build dirs are skipped.
#[test]
fn walk_mode_indexes_with_default_flags_and_skips_ignored_dirs() {
    let project = Project::from_testdata("demo");
    project.write(".gitignore", "generated/\n");
    project.write("generated/gen.cpp", "void ignored_generated();\n");
    project.write("build/out.cpp", "void ignored_build_output();\n");
    let output = project.run(&["build", "-j", "2"]);
    util::assert_success(&output);
    let stderr = util::stderr(&output);
    assert!(
        stderr.contains("no compile_commands.json") && stderr.contains("default flags"),
        "{stderr}"
    );

    let units = project
        .column("SELECT f.path FROM units u JOIN files f ON f.id = u.file_id ORDER BY f.path");
    assert_eq!(units, DEMO_UNITS.map(|u| abs(&project, u)));
    assert_eq!(
        project.count("SELECT count(*) FROM symbols WHERE name LIKE 'ignored%'"),
        0
    );
    // The default flags found the headers under include/: the whole demo is there.
    assert_eq!(
        project.count("SELECT count(*) FROM diagnostics WHERE severity IN ('error', 'fatal')"),
        0
    );
    let args = project.column("SELECT args FROM units ORDER BY id LIMIT 1");
    assert!(
        args[0].contains("-std=c++17")
            && args[0].contains(&format!("-I{}", abs(&project, "include"))),
        "{args:?}"
    );
    let callers = project.query(&["callers", "geo::Shape::area"]);
    assert_eq!(field(&callers, "qualified_name"), ["geo::total_area"]);

    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["source"], "walk", "{summary}");
    assert_eq!(summary["unchanged"], 3, "{summary}");
}

/// Duplicate compile_commands.json entries are folded: each file is indexed once, with its first command.
#[test]
fn duplicate_compdb_entries_are_folded() {
    let project = Project::from_testdata("demo");
    project.compdb(&[
        ("src/circle.cpp", &[]),
        ("src/main.cpp", &[]),
        ("src/total.cpp", &[]),
        ("src/total.cpp", &["-DSECOND"]),
        ("src/main.cpp", &[]),
    ]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["folded"], 2, "{summary}");
    assert_eq!(summary["files_total"], 3, "{summary}");
    assert_eq!(summary["indexed"], 3, "{summary}");
    assert_eq!(project.count("SELECT count(*) FROM units"), 3);
    assert_eq!(
        project.count("SELECT count(*) FROM units WHERE args LIKE '%-DSECOND%'"),
        0
    );
    assert_eq!(project.count("SELECT count(*) FROM decls d JOIN symbols s ON s.id = d.symbol_id WHERE s.qualified_name = 'geo::weight'"), 1);
}

/// The `--json` summary has exactly the documented keys with sane values, and query rows have the documented fields.
#[test]
fn json_summary_and_query_rows_have_the_documented_keys() {
    let project = demo();
    let summary = project.build(&["-j", "2"]);
    let keys: BTreeSet<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let documented: BTreeSet<&str> = [
        "status",
        "files_total",
        "indexed",
        "indexed_with_errors",
        "unchanged",
        "failed",
        "removed",
        "quarantined",
        "folded",
        "source",
        "symbols",
        "references",
        "elapsed_s",
        "supervisor_peak_rss_bytes",
        "worker_peak_rss_bytes",
        "worker_peak_resident_bytes",
        "workers_spawned",
        "workers_recycled",
        "workers_killed_for_memory",
        "workers_timed_out",
        "workers_crashed",
        "units_with_prelude",
        "units_with_project_prelude",
        "prelude_fallbacks",
        "prelude_discarded_s",
        "adjusted_commands",
        "writer_busy_fraction",
    ]
    .into();
    assert_eq!(keys, documented);
    assert_eq!(summary["status"], "complete");
    for (key, expected) in [
        ("files_total", 3),
        ("indexed", 3),
        ("unchanged", 0),
        ("failed", 0),
        ("removed", 0),
        ("folded", 0),
    ] {
        assert_eq!(summary[key], expected, "{key}: {summary}");
    }
    assert_eq!(summary["source"], abs(&project, "compile_commands.json"));
    assert_eq!(
        summary["symbols"].as_i64(),
        Some(project.count("SELECT count(*) FROM symbols"))
    );
    assert_eq!(
        summary["references"].as_i64(),
        Some(project.count("SELECT count(*) FROM refs"))
    );
    assert_eq!(summary["references"], 44, "{summary}");
    let elapsed = summary["elapsed_s"].as_f64().unwrap();
    assert!(elapsed > 0.0 && elapsed < 120.0, "{summary}");
    let supervisor = summary["supervisor_peak_rss_bytes"].as_u64().unwrap();
    assert!((1 << 20..1 << 30).contains(&supervisor), "{summary}");
    let worker = summary["worker_peak_rss_bytes"].as_u64().unwrap();
    let resident = summary["worker_peak_resident_bytes"].as_u64().unwrap();
    assert!((1 << 20..1 << 31).contains(&worker), "{summary}");
    assert!(resident >= worker, "{summary}");
    let spawned = summary["workers_spawned"].as_u64().unwrap();
    assert!(
        (1..=2).contains(&spawned),
        "-j 2 started {spawned} workers: {summary}"
    );
    for key in [
        "workers_killed_for_memory",
        "workers_timed_out",
        "workers_crashed",
    ] {
        assert_eq!(summary[key], 0, "{key}: {summary}");
    }
    let busy = summary["writer_busy_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&busy), "{summary}");

    let rows = project.query(&["find", "Shape"]);
    assert!(!rows.is_empty());
    for row in rows
        .iter()
        .chain(&project.query(&["callers", "geo::Shape::area"]))
    {
        for key in ["usr", "name", "qualified_name", "kind", "file"] {
            assert!(row[key].is_string(), "{key} in {row}");
        }
        for key in ["line", "column"] {
            assert!(row[key].as_u64().is_some_and(|n| n > 0), "{key} in {row}");
        }
    }
}

/// `find` by substring, by `*` glob and with `--kind`.
#[test]
fn find_by_substring_glob_and_kind() {
    let project = built_demo();
    let names = |args: &[&str]| field(&project.query(args), "qualified_name");
    assert_eq!(
        names(&["find", "area"]),
        [
            "geo::Circle::area",
            "geo::Shape::area",
            "geo::Square::area",
            "geo::total_area"
        ]
    );
    assert_eq!(
        names(&["find", "geo::*::area"]),
        ["geo::Circle::area", "geo::Shape::area", "geo::Square::area"]
    );
    assert_eq!(
        names(&["find", "Circle"]),
        [
            "geo::Circle",
            "geo::Circle::Circle",
            "geo::Circle::area",
            "geo::Circle::radius_"
        ]
    );
    assert_eq!(
        names(&["find", "Circle", "--kind", "class"]),
        ["geo::Circle"]
    );
    assert_eq!(
        names(&["find", "*", "--kind", "enum_constant"]),
        ["geo::Color::Blue", "geo::Color::Green", "geo::Color::Red"]
    );
    assert_eq!(
        names(&["find", "weight", "--kind", "function"]),
        ["geo::weight", "weight"]
    );
    assert!(names(&["find", "no_such_symbol"]).is_empty());
    let rows = project.query(&["find", "Shape::area"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["geo::Shape::area method include/geo/shape.h:11:20"]
    );
    assert_eq!(rows[0]["definition"], false);
}

/// Issue 17: `refs`/`callers` of a name that stands for several symbols (two overloads, two statics) answer for all of them, each row naming its symbol's USR; a USR picks one.
#[test]
fn ambiguous_names_answer_for_every_symbol() {
    let project = Project::from_testdata("overloads_and_statics");
    project.compdb(&[("src/a.cpp", &[]), ("src/b.cpp", &[])]);
    project.build(&["-j", "2"]);
    let usrs = |rows: &[Value], key: &str| -> BTreeSet<String> {
        rows.iter()
            .map(|row| row[key].as_str().unwrap().to_owned())
            .collect()
    };
    for (name, expected) in [
        ("ov::scale", ["c:@N@ov@F@scale#I#", "c:@N@ov@F@scale#d#"]),
        ("helper", ["c:a.cpp@F@helper#I#", "c:b.cpp@F@helper#I#"]),
    ] {
        let expected: BTreeSet<String> = expected.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            usrs(&project.query(&["refs", name]), "usr"),
            expected,
            "refs {name}"
        );
        // For a caller, `container_usr` is the function called.
        assert_eq!(
            usrs(&project.query(&["callers", name]), "container_usr"),
            expected,
            "callers {name}"
        );
    }
    // A USR picks one overload.
    let rows = project.query(&["callers", "c:@N@ov@F@scale#d#"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["use_both function src/b.cpp:9:61 [call] in ov::scale"]
    );
    // An unknown name is an error too.
    let output = project.run(&["refs", "nothing_like_this"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(util::stderr(&output).contains("nothing_like_this"));
}

/// `callees geo::total_area` lists the virtual `geo::Shape::area` and the file's static `weight`.
#[test]
fn callees_of_a_function() {
    let project = built_demo();
    let rows = project.query(&["callees", "geo::total_area"]);
    assert_eq!(
        describe_all(&project, &rows),
        [
            "geo::weight function src/total.cpp:10:16 [call] in geo::total_area",
            "geo::Shape::area method src/total.cpp:10:48 [call,dynamic] in geo::total_area",
        ]
    );
    assert_eq!(
        rows[0]["usr"],
        "c:total.cpp@N@geo@F@weight#&1$@N@geo@S@Shape#"
    );
}

/// `status --json` counts match the database, and a failed unit is listed with its reason.
#[test]
fn status_counts_match_the_database() {
    let project = Project::from_testdata("demo");
    project.compdb(&[
        ("src/circle.cpp", &[]),
        ("src/main.cpp", &[]),
        ("src/total.cpp", &[]),
        ("src/gone.cpp", &[]),
    ]);
    project.build(&["-j", "2"]);
    let output = project.run(&["status", "--json"]);
    util::assert_success(&output);
    let status = util::parse_json(&output);
    for (key, sql) in [
        ("files", "SELECT count(*) FROM files"),
        ("units", "SELECT count(*) FROM units"),
        (
            "units_indexed",
            "SELECT count(*) FROM units WHERE state = 'indexed'",
        ),
        (
            "units_pending",
            "SELECT count(*) FROM units WHERE state = 'pending'",
        ),
        (
            "units_failed",
            "SELECT count(*) FROM units WHERE state = 'failed'",
        ),
        ("symbols", "SELECT count(*) FROM symbols"),
        ("references", "SELECT count(*) FROM refs"),
    ] {
        assert_eq!(
            status[key].as_i64(),
            Some(project.count(sql)),
            "{key}: {status}"
        );
    }
    assert_eq!(status["units"], 4);
    assert_eq!(status["units_indexed"], 3);
    assert_eq!(status["units_failed"], 1);
    assert_eq!(status["last_run"]["status"], "complete");
    assert_eq!(status["last_run"]["indexed"], 3);
    assert_eq!(status["last_run"]["failed"], 1);
    // The moments are there for people too, in UTC, and agree with the
    // epoch seconds.
    let started_at = status["last_run"]["started_at"].as_i64().unwrap();
    let expected: String = project
        .conn()
        .query_row(
            "SELECT datetime(?1, 'unixepoch') || ' UTC'",
            [started_at],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status["last_run"]["started"], expected.as_str(), "{status}");
    assert!(
        expected.len() == "2026-12-02 07:00:00 UTC".len() && expected.starts_with("20"),
        "{expected}"
    );
    let human = String::from_utf8(project.run(&["status"]).stdout).unwrap();
    assert!(
        human.contains(&format!("started {expected}, finished ")),
        "{human}"
    );
    let failed = status["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{status}");
    let gone = abs(&project, "src/gone.cpp");
    assert_eq!(failed[0]["file"], gone.as_str());
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{gone} does not exist")),
        "{status}"
    );
}

/// `--files-per-worker 1` replaces workers after each unit and gives exactly the index of a default build.
#[test]
fn recycling_workers_gives_the_same_index() {
    let project = Project::from_testdata("demo");
    project.write(
        "src/extra.cpp",
        "#include \"geo/shape.h\"\n\ndouble unit_square() { return geo::Square(1.0).area(); }\n",
    );
    project.compdb(&[
        ("src/circle.cpp", &[]),
        ("src/main.cpp", &[]),
        ("src/total.cpp", &[]),
        ("src/extra.cpp", &[]),
    ]);
    let summary = project.build(&["-j", "2", "--files-per-worker", "1"]);
    assert_eq!(summary["indexed"], 4, "{summary}");
    assert!(
        summary["workers_spawned"].as_u64().unwrap() >= 4,
        "{summary}"
    );

    let other = project.path(".indexer/default.db");
    let summary = project.build(&["-j", "2", "--db", other.to_str().unwrap()]);
    assert_eq!(summary["indexed"], 4, "{summary}");
    let recycled = util::snapshot(&project);
    let default = util::snapshot_db(&project, &other);
    assert!(
        recycled.contains("symbol | c:@F@unit_square# | function | unit_square"),
        "{recycled}"
    );
    assert_eq!(
        recycled,
        default,
        "{}",
        util::snapshot_diff(&recycled, &default)
    );
}

/// Runs `indexer build` on the demo with `env` set; asserts exit 1 and no
/// index created, and returns stderr.
fn build_failing_with_env(env: &[(&str, &str)]) -> String {
    let project = demo();
    let mut command = project.indexer();
    command.arg("build");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("running indexer");
    assert_eq!(
        util::exit_code(&output),
        1,
        "stderr:\n{}",
        util::stderr(&output)
    );
    assert!(!project.db().exists(), "an index was created");
    util::stderr(&output)
}

/// A LIBCLANG_PATH naming a directory without libclang is an error that names the variable and the fix.
#[test]
fn a_libclang_path_without_libclang_is_explained() {
    let empty = tempfile::tempdir().unwrap();
    let message = build_failing_with_env(&[("LIBCLANG_PATH", empty.path().to_str().unwrap())]);
    assert!(
        message.contains("LIBCLANG_PATH is set to") && message.contains("point it at libclang.so"),
        "{message}"
    );
}

/// Builtin headers missing from libclang's resource directory: the error says which package or variable fixes it.
#[test]
fn missing_builtin_headers_are_explained() {
    let empty = tempfile::tempdir().unwrap();
    let message =
        build_failing_with_env(&[("INDEXER_RESOURCE_DIR", empty.path().to_str().unwrap())]);
    assert!(
        message.contains("builtin headers (stddef.h) were not found")
            && message.contains("apt-get install libclang-common-14-dev")
            && message.contains("INDEXER_RESOURCE_DIR"),
        "{message}"
    );
}

/// A libclang that does not load makes workers die before their handshake: the build stops with exit 1 saying why, and its units stay pending.
#[test]
fn a_worker_that_cannot_load_libclang_stops_the_build() {
    let not_libclang = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("a libc to pass off as libclang");
    let project = demo();
    // Named, since the toolchain would look for it next to the library.
    let resource_dir = builtin_headers_dir();
    let output = project
        .indexer()
        .args(["build", "-j", "2"])
        .env("LIBCLANG_PATH", not_libclang)
        .env("INDEXER_RESOURCE_DIR", resource_dir)
        .output()
        .expect("running indexer");
    let message = util::stderr(&output);
    assert_eq!(util::exit_code(&output), 1, "stderr:\n{message}");
    assert!(
        message.contains("a worker failed to start") && message.contains("libclang"),
        "{message}"
    );
    project.assert_no_workers_survive();
    project.assert_integrity();
    let status = project.status_json(&[]);
    assert_eq!(status["last_run"]["status"], "interrupted", "{status}");
    assert_eq!(status["units_pending"], 3, "{status}");
}

/// The directory of clang's builtin headers (`include/stddef.h`) of an
/// installed LLVM, `/usr/lib/llvm-N/lib/clang/VERSION`.
fn builtin_headers_dir() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .expect("reading /usr/lib")
        .flatten()
        .filter(|llvm| llvm.file_name().to_string_lossy().starts_with("llvm-"))
        .filter_map(|llvm| std::fs::read_dir(llvm.path().join("lib/clang")).ok())
        .flatten()
        .flatten()
        .map(|version| version.path())
        .find(|dir| dir.join("include/stddef.h").is_file())
        .expect("an LLVM with its builtin headers under /usr/lib/llvm-N/lib/clang")
}

/// Eight C++ units of one compile command (enough for a prelude), all
/// using the standard library.
fn library_users() -> Project {
    let project = Project::new();
    project.write(
        "include/names.h",
        "#include <string>\n#include <vector>\n\
         struct Names { std::vector<std::string> all; std::string first() const { return all.at(0); } };\n",
    );
    let units: Vec<String> = (0..8).map(|i| format!("src/u{i}.cpp")).collect();
    for (i, unit) in units.iter().enumerate() {
        project.write(
            unit,
            &format!(
                "#include <map>\n#include \"names.h\"\n\
                 std::string first{i}(const std::map<int, Names>& m) {{ return m.at({i}).first(); }}\n"
            ),
        );
    }
    let entries: Vec<(&str, &[&str])> = units.iter().map(|u| (u.as_str(), &[][..])).collect();
    project.compdb(&entries);
    project
}

#[test]
fn the_standard_library_is_precompiled_per_command_without_changing_the_index() {
    let project = library_users();
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 8, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    // The command's first unit goes without; the others use the prelude
    // once it is built (one may go without while it is being built).
    let with_prelude = summary["units_with_prelude"].as_u64().unwrap();
    assert!((1..=7).contains(&with_prelude), "{summary}");
    assert!(
        !project.path(".indexer/index.db.pch").exists(),
        "the precompiled headers are removed after the build"
    );

    let plain_db = project.path("plain.db");
    // `--no-pch`, `--no-prelude`'s earlier name, still turns it off.
    let plain = project.build(&["-j", "2", "--no-pch", "--db", plain_db.to_str().unwrap()]);
    assert_eq!(plain["units_with_prelude"], 0, "{plain}");
    let with = util::snapshot(&project);
    let without = util::snapshot_db(&project, &plain_db);
    assert!(with == without, "{}", util::snapshot_diff(&with, &without));
    assert!(
        with.contains("basic_string"),
        "references into the library are kept"
    );

    // Every unit still depends on the library headers it read through the
    // prelude, and the next build finds nothing changed.
    let units_without_dep = project.count(
        "SELECT count(*) FROM units u WHERE NOT EXISTS (
             SELECT 1 FROM unit_deps d JOIN files f ON f.id = d.file_id
             WHERE d.unit_id = u.id AND f.path LIKE '%/bits/basic_string.h')",
    );
    assert_eq!(units_without_dep, 0);
    let again = project.build(&["-j", "2"]);
    assert_eq!(again["indexed"], 0, "{again}");
    assert_eq!(again["unchanged"], 8, "{again}");

    // A refresh of a few units does not pay for precompiling.
    for unit in ["src/u1.cpp", "src/u2.cpp"] {
        let text = std::fs::read_to_string(project.path(unit)).unwrap();
        project.write(unit, &format!("{text}// edited\n"));
    }
    let small = project.build(&["-j", "2"]);
    assert_eq!(small["indexed"], 2, "{small}");
    assert_eq!(small["units_with_prelude"], 0, "{small}");
}

/// Issue 15: commands that differ only in their include directories (a
/// CMake target each) share one standard prelude, but a unit whose own
/// directory holds a header by a standard name (`string`) is parsed as
/// written: through the prelude it would read the library's instead, and
/// fall back.
#[test]
fn targets_share_a_prelude_unless_their_directories_hold_a_standard_name() {
    let project = library_users();
    let root = project.root().display().to_string();
    project.write("tool/plain/tool.h", "#pragma once\nint tool();\n");
    project.write(
        "own/string",
        "#pragma once\nnamespace std { struct string { int own; }; }\n",
    );
    let padding = "// Larger than the units of the other targets.\n".repeat(40);
    for i in 0..8 {
        let text = std::fs::read_to_string(project.path(&format!("src/u{i}.cpp"))).unwrap();
        project.write(&format!("src/u{i}.cpp"), &format!("{padding}{text}"));
    }
    let units: Vec<String> = (0..8).map(|i| format!("src/u{i}.cpp")).collect();
    let tools: Vec<String> = (0..2).map(|i| format!("tool/t{i}.cpp")).collect();
    let owns: Vec<String> = (0..2).map(|i| format!("own/o{i}.cpp")).collect();
    for (i, unit) in tools.iter().enumerate() {
        project.write(unit, &format!("#include <vector>\n#include \"tool.h\"\nint t{i}() {{ return std::vector<int>(3).size(); }}\n"));
    }
    for (i, unit) in owns.iter().enumerate() {
        project.write(
            unit,
            &format!("#include <string>\nint o{i}(std::string s) {{ return s.own; }}\n"),
        );
    }
    let tool_dir = [format!("-I{root}/tool/plain")];
    let own_dir = [format!("-I{root}/own")];
    let tool_args: Vec<&str> = tool_dir.iter().map(String::as_str).collect();
    let own_args: Vec<&str> = own_dir.iter().map(String::as_str).collect();
    let entries: Vec<(&str, &[&str])> = units
        .iter()
        .map(|u| (u.as_str(), &[][..]))
        .chain(tools.iter().map(|u| (u.as_str(), &tool_args[..])))
        .chain(owns.iter().map(|u| (u.as_str(), &own_args[..])))
        .collect();
    project.compdb(&entries);

    // One worker: the library's largest unit goes without, the next builds
    // the prelude, and the others use it, the tool's too; `own/`'s do not.
    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["indexed"], 12, "{summary}");
    assert_eq!(summary["indexed_with_errors"], 0, "{summary}");
    assert_eq!(summary["units_with_prelude"], 9, "{summary}");
    assert_eq!(summary["prelude_fallbacks"], 0, "{summary}");

    let plain_db = project.path("plain.db");
    let plain = project.build(&[
        "-j",
        "2",
        "--no-prelude",
        "--db",
        plain_db.to_str().unwrap(),
    ]);
    assert_eq!(plain["units_with_prelude"], 0, "{plain}");
    let with = util::snapshot(&project);
    let without = util::snapshot_db(&project, &plain_db);
    assert!(with == without, "{}", util::snapshot_diff(&with, &without));
}

#[test]
fn a_unit_that_configures_the_library_is_indexed_as_written() {
    // Eight units share a compile command; the smallest, dispatched last
    // (most expensive first), chooses the old string ABI in a project
    // header. With the prelude ahead of it, it would compile
    // without an error and name `std::__cxx11::basic_string` throughout.
    let project = Project::new();
    project.write(
        "include/old_abi.h",
        "#define _GLIBCXX_USE_CXX11_ABI 0\n#include <string>\n",
    );
    project.write(
        "src/old.cpp",
        "#include \"old_abi.h\"\nauto n = std::string().size();\n",
    );
    let padding = "// Larger than old.cpp, so indexed before it.\n".repeat(20);
    let mut units: Vec<String> = (0..7).map(|i| format!("src/new{i}.cpp")).collect();
    for unit in &units {
        project.write(
            unit,
            &format!("{padding}#include <string>\nauto n = std::string().size();\n"),
        );
    }
    units.push("src/old.cpp".into());
    let entries: Vec<(&str, &[&str])> = units.iter().map(|u| (u.as_str(), &[][..])).collect();
    project.compdb(&entries);

    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["indexed"], 8, "{summary}");
    // The first unit goes without the header, the second builds it, and
    // from then on every unit uses it but old.cpp, parsed as written.
    assert_eq!(summary["units_with_prelude"], 6, "{summary}");
    let size_of = |unit: &str| {
        project.column(&format!(
            "SELECT s.usr FROM refs r JOIN symbols s ON s.id = r.symbol_id
             JOIN files f ON f.id = r.file_id
             WHERE f.path LIKE '%/{unit}' AND s.name = 'size'"
        ))
    };
    assert!(size_of("new1.cpp")[0].contains("@__cxx11@"));
    let old = size_of("old.cpp");
    assert_eq!(old.len(), 1);
    assert!(!old[0].contains("@__cxx11@"), "{old:?}");

    let plain_db = project.path("plain.db");
    project.build(&[
        "-j",
        "1",
        "--no-prelude",
        "--db",
        plain_db.to_str().unwrap(),
    ]);
    let with = util::snapshot(&project);
    let without = util::snapshot_db(&project, &plain_db);
    assert!(with == without, "{}", util::snapshot_diff(&with, &without));
}

/// Issue 14: macro definitions in project files are `macro` symbols with their `#define` line; a
/// macro defined on the command line or in a system header has no declaration; two macros of one
/// name in two headers of one base name are two symbols; a file included twice is recorded once.
#[test]
fn macro_definitions_are_symbols() {
    let project = built_macros();
    let root = format!("{}/", project.root().display());
    let macros = project.column(&format!(
        "SELECT replace(s.usr, '{root}', '') || ' | ' || s.qualified_name || ' | ' || s.type || ' | '
                || coalesce(replace(f.path, '{root}', '') || ':' || d.line || ':' || d.col
                            || '-' || d.end_line || ':' || d.end_col || ' ' || d.is_definition,
                            'no declaration')
         FROM symbols s LEFT JOIN decls d ON d.symbol_id = s.id LEFT JOIN files f ON f.id = d.file_id
         WHERE s.kind = 'macro' ORDER BY s.usr"
    ));
    assert_eq!(
        macros,
        [
            "c:include/a/bounds.h@21@macro@LIMIT | LIMIT | #define LIMIT 10 | include/a/bounds.h:2:9-2:17 1",
            "c:include/b/bounds.h@21@macro@LIMIT | LIMIT | #define LIMIT 20 | include/b/bounds.h:2:9-2:17 1",
            "c:include/config.h@21@macro@VERSION | VERSION | #define VERSION 3 | include/config.h:2:9-2:18 1",
            "c:include/config.h@39@macro@SQUARE | SQUARE | #define SQUARE(x) ((x) * (x)) | include/config.h:3:9-3:30 1",
            "c:include/config.h@69@macro@SUM | SUM | #define SUM(a, b) ((a) + (b)) | include/config.h:4:9-6:10 1",
            "c:include/twice.inc@8@macro@TWICE | TWICE | #define TWICE 2 | include/twice.inc:1:9-1:16 1",
            "c:@macro@EXIT_SUCCESS | EXIT_SUCCESS |  | no declaration",
            "c:@macro@FROM_FLAG | FROM_FLAG |  | no declaration",
        ]
    );
}

/// Issue 14: every expansion of a macro in project code is a reference with the role
/// `expansion`, also a test in `#ifdef`, `#if defined()` and `#if`; `find` and `refs` treat
/// macros like other symbols.
#[test]
fn macro_expansions_are_references() {
    let project = built_macros();
    let root = format!("{}/", project.root().display());
    let expansions = project.column(&format!(
        "SELECT replace(f.path, '{root}', '') || ':' || r.line || ':' || r.col || ' ' || s.name
                || ' ' || r.roles || ' ' || coalesce(c.qualified_name, '-')
         FROM refs r JOIN symbols s ON s.id = r.symbol_id JOIN files f ON f.id = r.file_id
         LEFT JOIN symbols c ON c.id = r.container_id
         WHERE s.kind = 'macro' ORDER BY f.path, r.line, r.col"
    ));
    assert_eq!(
        expansions,
        [
            "include/twice.inc:2:15 TWICE 512 -",
            "src/main.cpp:5:8 VERSION 512 -",
            "src/main.cpp:6:24 VERSION 512 -",
            "src/main.cpp:9:13 SQUARE 512 -",
            "src/main.cpp:9:24 VERSION 512 -",
            "src/main.cpp:10:29 SQUARE 512 -",
            "src/main.cpp:10:44 SUM 512 -",
            "src/main.cpp:10:51 LIMIT 512 -",
            "src/main.cpp:14:24 FROM_FLAG 512 -",
            "src/main.cpp:14:36 EXIT_SUCCESS 512 -",
            "src/other.cpp:3:28 LIMIT 512 -",
        ]
    );

    // Case-insensitive, exact matches first.
    let rows = project.query(&["find", "LIMIT"]);
    assert_eq!(
        describe_all(&project, &rows),
        [
            "LIMIT macro include/a/bounds.h:2:9",
            "LIMIT macro include/b/bounds.h:2:9",
            "other_limit function src/other.cpp:3:5"
        ]
    );
    let rows = project.query(&["find", "VERSION", "--kind", "macro"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["VERSION macro include/config.h:2:9"]
    );
    let rows = project.query(&["refs", "VERSION"]);
    assert_eq!(
        describe_all(&project, &rows),
        [
            "VERSION macro src/main.cpp:5:8 [expansion]",
            "VERSION macro src/main.cpp:6:24 [expansion]",
            "VERSION macro src/main.cpp:9:24 [expansion]",
        ]
    );
    let rows = project.query(&["refs", "FROM_FLAG"]);
    assert_eq!(
        describe_all(&project, &rows),
        ["FROM_FLAG macro src/main.cpp:14:24 [expansion]"]
    );
    // One name, two macros: `refs` answers for both; a USR picks one.
    let rows = project.query(&["refs", "LIMIT"]);
    assert_eq!(
        describe_all(&project, &rows),
        [
            "LIMIT macro src/main.cpp:10:51 [expansion]",
            "LIMIT macro src/other.cpp:3:28 [expansion]"
        ]
    );
    let usr = format!("c:{root}include/b/bounds.h@21@macro@LIMIT");
    let rows = project.query(&["refs", &usr]);
    assert_eq!(
        describe_all(&project, &rows),
        ["LIMIT macro src/other.cpp:3:28 [expansion]"]
    );
}

/// `testdata/macros`, built with `FROM_FLAG` defined on the command line of `src/main.cpp`.
fn built_macros() -> Project {
    let project = Project::from_testdata("macros");
    project.compdb(&[("src/main.cpp", &["-DFROM_FLAG=7"]), ("src/other.cpp", &[])]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    project
}
