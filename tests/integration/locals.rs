//! What is declared inside function bodies (local classes, structs, unions,
//! enums, their members, lambdas; parameters and local variables on
//! request), using-declarations and namespace aliases, and the `implicit`
//! role: testdata/locals through the real binary (issue 14).

use crate::util::{self, Project};

/// testdata/locals with its two units (`concepts.cpp` as C++20), built.
fn built_locals(args: &[&str]) -> Project {
    let project = Project::from_testdata("locals");
    project.compdb(&[
        ("src/locals.cpp", &[]),
        ("src/concepts.cpp", &["-std=c++20"]),
    ]);
    let summary = project.build(args);
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    project
}

/// `kind qualified_name file:line:col is_definition container` of every
/// declaration located in `file`, in order.
fn decls_in(project: &Project, file: &str) -> Vec<String> {
    project.column(&format!(
        "SELECT s.kind || ' ' || s.qualified_name || ' ' || d.line || ':' || d.col || ' '
                || d.is_definition || ' ' || ifnull(c.qualified_name, '-')
         FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id
         LEFT JOIN symbols c ON c.id = d.container_id
         WHERE f.path LIKE '%/{file}' ORDER BY d.line, d.col"
    ))
}

/// `qualified_name line:col roles container` of every reference in `file`
/// to a symbol named `name`.
fn refs_to(project: &Project, file: &str, name: &str) -> Vec<String> {
    project.column(&format!(
        "SELECT s.qualified_name || ' ' || r.line || ':' || r.col || ' ' || r.roles || ' '
                || ifnull(c.qualified_name, '-')
         FROM refs r JOIN symbols s ON s.id = r.symbol_id JOIN files f ON f.id = r.file_id
         LEFT JOIN symbols c ON c.id = r.container_id
         WHERE f.path LIKE '%/{file}' AND s.name = '{name}' ORDER BY r.line, r.col, s.usr"
    ))
}

/// `qualified_name kind file:line:col [roles] in container` of a query's rows.
fn query(project: &Project, args: &[&str]) -> Vec<String> {
    let root = format!("{}/", project.root().display());
    project
        .query(args)
        .iter()
        .map(|row| {
            let roles: Vec<&str> = row["roles"]
                .as_array()
                .map(|roles| roles.iter().map(|r| r.as_str().unwrap()).collect())
                .unwrap_or_default();
            format!(
                "{} {} {}:{}:{} [{}] in {}",
                row["qualified_name"].as_str().unwrap(),
                row["kind"].as_str().unwrap(),
                row["file"].as_str().unwrap().trim_start_matches(&root),
                row["line"],
                row["column"],
                roles.join(","),
                row["container"].as_str().unwrap_or("-"),
            )
        })
        .collect()
}

/// Classes, structs, unions and enums declared in a function body are
/// symbols with their members, scoped by the function; the references in a
/// local method's body belong to that method, not to the enclosing function.
#[test]
fn function_local_types_and_their_members() {
    let project = built_locals(&[]);
    util::assert_expected("locals-declarations", &decls_in(&project, "src/locals.cpp"));
    // A local symbol's USR holds its file and offset, then the function's.
    assert_eq!(
        project.column(
            "SELECT usr FROM symbols WHERE qualified_name IN ('shortest::Counter::bump', 'shortest::Mode')
             ORDER BY usr"
        ),
        [
            "c:@F@shortest#*I#I#@E@Mode",
            "c:locals.cpp@345@F@shortest#*I#I#@S@Counter@F@bump#",
        ]
    );

    // A call in a local method belongs to that method, once.
    assert_eq!(
        query(&project, &["callers", "shortest::Counter::bump"]),
        ["shortest::Counter::next method src/locals.cpp:14:29 [call] in shortest::Counter::bump"]
    );
    // The comparator's calls belong to its operator().
    assert_eq!(
        query(&project, &["callees", "shortest::ByLength::operator()"]),
        [
            "text::measure function src/locals.cpp:10:54 [call] in shortest::ByLength::operator()",
            "text::measure function src/locals.cpp:10:67 [call] in shortest::ByLength::operator()",
        ]
    );
    // A lambda is a symbol of its own, scoped by the function: the calls in
    // its body belong to it, and the function defines it and calls it.
    assert_eq!(
        query(&project, &["callees", "shortest"]),
        [
            "order function_template src/locals.cpp:25:5 [call] in shortest",
            "shortest::(lambda at 27:18) lambda src/locals.cpp:27:18 [definition] in shortest",
            "text::Flag::operator bool conversion_function src/locals.cpp:31:10 [call,implicit] in shortest",
            "text::lookup function src/locals.cpp:34:18 [call] in shortest",
            "text::Name::Name constructor src/locals.cpp:34:25 [call,implicit] in shortest",
            "text::lookup function src/locals.cpp:34:30 [call] in shortest",
            "text::Name::Name constructor src/locals.cpp:34:37 [call] in shortest",
            "shortest::(lambda at 27:18) lambda src/locals.cpp:36:17 [call] in shortest",
        ]
    );
    assert_eq!(
        query(&project, &["callees", "shortest::(lambda at 27:18)"]),
        [
            "text::measure function src/locals.cpp:27:45 [call] in shortest::(lambda at 27:18)",
            "shortest::Counter::next method src/locals.cpp:27:70 [call] in shortest::(lambda at 27:18)",
        ]
    );
    // Each reference once, although libclang reports those in a
    // declaration statement twice.
    assert_eq!(
        refs_to(&project, "src/locals.cpp", "Counter"),
        ["shortest::Counter 26:5 0 shortest"]
    );
    assert_eq!(
        query(&project, &["refs", "shortest::Mode::Careful"]),
        ["shortest::Mode::Careful enum_constant src/locals.cpp:28:17 [] in shortest"]
    );
    // Parameters and local variables are left out by default; a global
    // variable is not local.
    assert_eq!(
        project.column(
            "SELECT kind || ' ' || qualified_name FROM symbols WHERE kind IN ('parameter', 'variable')"
        ),
        ["variable pick"]
    );
}

/// Using-declarations (kind `using`) and namespace aliases (kind
/// `namespace_alias`) are declared, and refer to what they name; a
/// `using namespace` directive is only its reference to the namespace.
#[test]
fn using_declarations_and_namespace_aliases() {
    let project = built_locals(&[]);
    let header = decls_in(&project, "include/loc/text.h");
    assert_eq!(
        header[header.len() - 2..],
        ["namespace_alias alias 24:11 1 -", "using measure 25:13 0 -"]
    );
    assert_eq!(
        project.column(
            "SELECT usr FROM symbols WHERE kind IN ('using', 'namespace_alias') ORDER BY usr"
        ),
        ["c:@NA@alias", "c:@UD@measure"]
    );
    // The alias refers to the namespace, the using-declaration to the
    // function; a directive is a reference to the namespace.
    assert_eq!(
        refs_to(&project, "include/loc/text.h", "text"),
        ["text 24:19 0 -", "text 25:7 0 -"]
    );
    assert_eq!(
        refs_to(&project, "include/loc/text.h", "measure"),
        ["text::measure 25:13 0 -"]
    );
    assert_eq!(
        refs_to(&project, "src/locals.cpp", "text"),
        ["text 3:17 0 -"]
    );
    // A use of the alias refers to it; a name brought in by a
    // using-declaration refers to what it names.
    assert_eq!(
        query(&project, &["refs", "alias"]),
        ["alias namespace_alias src/locals.cpp:27:38 [] in shortest::(lambda at 27:18)"]
    );
    assert_eq!(
        refs_to(&project, "src/locals.cpp", "measure"),
        [
            "text::measure 10:54 32 shortest::ByLength::operator()",
            "text::measure 10:67 32 shortest::ByLength::operator()",
            "text::measure 27:45 32 shortest::(lambda at 27:18)",
        ]
    );
}

/// The `implicit` role (256) marks a reference whose name is not written
/// where it is: an implicit converting constructor or conversion operator.
/// libclang reports no implicit destructor calls at all.
#[test]
fn implicit_references() {
    let project = built_locals(&[]);
    assert_eq!(
        query(&project, &["refs", "text::Name::Name"]),
        [
            "text::Name::Name constructor src/locals.cpp:34:25 [call,implicit] in shortest",
            "text::Name::Name constructor src/locals.cpp:34:37 [call] in shortest",
        ]
    );
    assert_eq!(
        query(&project, &["refs", "text::Flag::operator bool"]),
        ["text::Flag::operator bool conversion_function src/locals.cpp:31:10 [call,implicit] in shortest"]
    );
    assert!(query(&project, &["refs", "text::Name::~Name"]).is_empty());
    assert_eq!(
        project.count("SELECT count(*) FROM refs WHERE roles & 256"),
        2
    );
}

/// The roles of uses: a read and write in a local method, a write to a
/// local union's member, an address taken.
#[test]
fn roles_of_uses() {
    let project = built_locals(&[]);
    assert_eq!(
        query(&project, &["refs", "shortest::Counter::count_"]),
        ["shortest::Counter::count_ field src/locals.cpp:15:31 [read,write] in shortest::Counter::bump"]
    );
    assert_eq!(
        query(&project, &["refs", "shortest::Bits::whole"]),
        [
            "shortest::Bits::whole field src/locals.cpp:34:10 [write] in shortest",
            "shortest::Bits::whole field src/locals.cpp:36:54 [read] in shortest",
        ]
    );
    assert_eq!(
        refs_to(&project, "src/concepts.cpp", "measure"),
        ["text::measure 16:20 128 -"]
    );
}

/// `--index-locals` adds parameters (of definitions) and local variables,
/// with their references; the rest of the index is unchanged.
#[test]
fn parameters_and_local_variables_on_request() {
    let plain = built_locals(&[]);
    let project = built_locals(&["--index-locals"]);
    assert_eq!(
        project.column(
            "SELECT s.kind || ' ' || s.qualified_name || ' ' || d.line || ':' || d.col
             FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id
             WHERE s.kind IN ('parameter', 'variable') AND f.path LIKE '%/locals.cpp'
             ORDER BY d.line, d.col"
        ),
        [
            "parameter shortest::lengths 8:19",
            "parameter shortest::count 8:32",
            "parameter shortest::ByLength::operator()::a 10:29",
            "parameter shortest::ByLength::operator()::b 10:36",
            "variable shortest::counter 26:13",
            "variable shortest::twice 27:10",
            "parameter shortest::(lambda at 27:18)::x 27:26",
            "variable shortest::mode 28:10",
            "variable shortest::flag 29:10",
            "variable shortest::bits 30:10",
        ]
    );
    assert_eq!(
        query(&project, &["refs", "shortest::lengths"]),
        [
            "shortest::lengths parameter src/locals.cpp:25:11 [read] in shortest",
            "shortest::lengths parameter src/locals.cpp:25:20 [read] in shortest",
            "shortest::lengths parameter src/locals.cpp:36:18 [read] in shortest",
        ]
    );
    // A parameter used in a local method belongs to that method.
    assert_eq!(
        query(&project, &["refs", "shortest::ByLength::operator()::a"]),
        ["shortest::ByLength::operator()::a parameter src/locals.cpp:10:62 [read] in shortest::ByLength::operator()"]
    );
    let others = "SELECT count(*) FROM refs r JOIN symbols s ON s.id = r.symbol_id
                  WHERE s.kind NOT IN ('parameter', 'variable')";
    assert_eq!(project.count(others), plain.count(others));
}

/// Every kind the documentation lists occurs in some test's expected
/// output; these are the ones testdata/locals brings.
#[test]
fn the_kinds_of_the_locals_project() {
    let project = built_locals(&["--index-locals"]);
    util::assert_expected(
        "locals-kinds",
        &project.column(
            "SELECT DISTINCT s.kind FROM symbols s JOIN decls d ON d.symbol_id = s.id ORDER BY 1",
        ),
    );
    // libclang 14's indexing reports no concept, and an alias template as
    // a `type_alias`.
    assert_eq!(
        project.count("SELECT count(*) FROM symbols WHERE name = 'Small'"),
        0
    );
    assert_eq!(
        project.column("SELECT kind FROM symbols WHERE qualified_name = 'text::Pair'"),
        ["type_alias"]
    );
}

/// testdata/lambdas with its two units, built.
fn built_lambdas() -> Project {
    let project = Project::from_testdata("lambdas");
    project.compdb(&[("src/run.cpp", &[]), ("src/other.cpp", &[])]);
    let summary = project.build(&[]);
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    project
}

/// Issue 19: a lambda is a symbol (kind `lambda`, named after where it is
/// written, scoped by what holds it, typed as its `operator()`) whose
/// body's calls are its own: in a function, in another lambda, at
/// namespace scope, handed to a function template, and two of one
/// signature in a header's inline function that two units read. What holds
/// a lambda refers to it where it is defined (`definition`) and calls it
/// where it calls it, so a walk up the callers of a call in a lambda goes
/// on to the function.
#[test]
fn lambdas_are_symbols_that_call() {
    let project = built_lambdas();
    let root = project.root().display().to_string();
    assert_eq!(
        project.column(&format!(
            "SELECT s.qualified_name || ' ' || replace(f.path, '{root}/', '') || ':' || d.line || ':'
                    || d.col || '-' || d.end_line || ':' || d.end_col || ' ' || d.is_definition || ' '
                    || ifnull(c.qualified_name, '-') || ' ' || s.type
             FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id
             LEFT JOIN symbols c ON c.id = d.container_id
             WHERE s.kind = 'lambda' ORDER BY f.path, d.line, d.col"
        )),
        [
            "both::(lambda at 7:18) include/lam/work.h:7:18-7:47 1 both int (int) const",
            "both::(lambda at 8:19) include/lam/work.h:8:19-8:52 1 both int (int) const",
            "(lambda at 7:15) src/run.cpp:7:15-7:44 1 global int (int) const",
            "run::(lambda at 10:34) src/run.cpp:10:34-10:56 1 run void (int) const",
            "run::(lambda at 11:18) src/run.cpp:11:18-14:6 1 run int (int) const",
            "run::(lambda at 11:18)::(lambda at 12:22) src/run.cpp:12:22-12:45 1 run::(lambda at 11:18) auto () const -> int",
        ]
    );
    // The USR is where the `[` is: the file's path and offset, the same in
    // every unit (clang's names no place for a lambda of an inline
    // function or at namespace scope).
    assert_eq!(
        project.column(&format!(
            "SELECT replace(usr, '{root}/', '') FROM symbols WHERE kind = 'lambda' ORDER BY usr"
        )),
        [
            "c:include/lam/work.h@150@lambda",
            "c:include/lam/work.h@199@lambda",
            "c:src/run.cpp@159@lambda",
            "c:src/run.cpp@258@lambda",
            "c:src/run.cpp@300@lambda",
            "c:src/run.cpp@334@lambda",
        ]
    );

    // Every call of `work` is in a lambda, the one whose body holds it.
    assert_eq!(
        query(&project, &["callers", "work"]),
        [
            "both::(lambda at 7:18) lambda include/lam/work.h:7:37 [call] in work",
            "both::(lambda at 8:19) lambda include/lam/work.h:8:38 [call] in work",
            "(lambda at 7:15) lambda src/run.cpp:7:34 [call] in work",
            "run::(lambda at 10:34) lambda src/run.cpp:10:46 [call] in work",
            "run::(lambda at 11:18)::(lambda at 12:22) lambda src/run.cpp:12:35 [call] in work",
            "run::(lambda at 11:18) lambda src/run.cpp:13:26 [call] in work",
        ]
    );
    // A lambda handed to a function is reached through its definition; one
    // called is reached there too.
    assert_eq!(
        query(&project, &["callers", "run::(lambda at 10:34)"]),
        ["run function src/run.cpp:10:34 [definition] in run::(lambda at 10:34)"]
    );
    assert_eq!(
        query(&project, &["callers", "run::(lambda at 11:18)::(lambda at 12:22)"]),
        [
            "run::(lambda at 11:18) lambda src/run.cpp:12:22 [definition] in run::(lambda at 11:18)::(lambda at 12:22)",
            "run::(lambda at 11:18) lambda src/run.cpp:13:21 [call] in run::(lambda at 11:18)::(lambda at 12:22)",
        ]
    );
    // At namespace scope, the variable it initialises holds it.
    assert_eq!(
        query(&project, &["callers", "(lambda at 7:15)"]),
        [
            "global variable src/run.cpp:7:15 [definition] in (lambda at 7:15)",
            "run function src/run.cpp:15:33 [call] in (lambda at 7:15)",
        ]
    );
    assert_eq!(
        query(&project, &["callers", "both::(lambda at 8:19)"]),
        [
            "both function include/lam/work.h:8:19 [definition] in both::(lambda at 8:19)",
            "both function include/lam/work.h:9:33 [call] in both::(lambda at 8:19)",
        ]
    );

    // Downwards: a function's callees list the lambdas it defines and
    // calls; a lambda's, its body's calls.
    assert_eq!(
        query(&project, &["callees", "run"]),
        [
            "each function_template src/run.cpp:10:5 [call] in run",
            "run::(lambda at 10:34) lambda src/run.cpp:10:34 [definition] in run",
            "run::(lambda at 11:18) lambda src/run.cpp:11:18 [definition] in run",
            "run::(lambda at 11:18) lambda src/run.cpp:15:17 [call] in run",
            "(lambda at 7:15) lambda src/run.cpp:15:33 [call] in run",
            "both function src/run.cpp:15:39 [call] in run",
        ]
    );
    assert_eq!(
        query(&project, &["callees", "run::(lambda at 11:18)"]),
        [
            "run::(lambda at 11:18)::(lambda at 12:22) lambda src/run.cpp:12:22 [definition] in run::(lambda at 11:18)",
            "run::(lambda at 11:18)::(lambda at 12:22) lambda src/run.cpp:13:21 [call] in run::(lambda at 11:18)",
            "work function src/run.cpp:13:26 [call] in run::(lambda at 11:18)",
        ]
    );
    // No `operator()` of an unnamed class is left.
    assert_eq!(
        project.count("SELECT count(*) FROM symbols WHERE name LIKE '%operator()%'"),
        0
    );
}

/// A lambda's parameters (`--index-locals`) are scoped by it; the names
/// its capture list and parameters use stay with what holds it.
#[test]
fn a_lambdas_parameters_and_captures() {
    let project = Project::from_testdata("lambdas");
    project.compdb(&[("src/run.cpp", &[]), ("src/other.cpp", &[])]);
    let summary = project.build(&["--index-locals"]);
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(
        refs_to(&project, "src/run.cpp", "y"),
        [
            // The capture is a read (of the copy's initialiser) and a name.
            "run::(lambda at 11:18)::y 12:23 8 run::(lambda at 11:18)",
            "run::(lambda at 11:18)::y 12:23 0 run::(lambda at 11:18)",
            "run::(lambda at 11:18)::y 12:40 8 run::(lambda at 11:18)::(lambda at 12:22)",
            "run::(lambda at 11:18)::y 13:31 8 run::(lambda at 11:18)",
        ]
    );
    assert_eq!(
        refs_to(&project, "src/run.cpp", "v"),
        ["run::(lambda at 10:34)::v 10:51 8 run::(lambda at 10:34)"]
    );
}
