//! What is declared inside function bodies (local classes, structs, unions,
//! enums, their members, lambdas; parameters and local variables on
//! request), using-declarations and namespace aliases, and the `implicit`
//! role: testdata/locals through the real binary (issue 14).

use crate::util::Project;

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
    assert_eq!(
        decls_in(&project, "src/locals.cpp"),
        [
            "function_template order 6:6 0 -",
            "function shortest 8:5 1 -",
            "struct shortest::ByLength 9:12 1 shortest",
            "method shortest::ByLength::operator() 10:14 1 shortest::ByLength",
            "class shortest::Counter 12:11 1 shortest",
            "method shortest::Counter::next 14:13 1 shortest::Counter",
            "method shortest::Counter::bump 15:13 1 shortest::Counter",
            "field shortest::Counter::count_ 18:13 1 shortest::Counter",
            "union shortest::Bits 20:11 1 shortest",
            "field shortest::Bits::whole 21:13 1 shortest::Bits",
            "field shortest::Bits::bytes 22:14 1 shortest::Bits",
            "enum shortest::Mode 24:10 1 shortest",
            "enum_constant shortest::Mode::Fast 24:17 1 shortest::Mode",
            "enum_constant shortest::Mode::Careful 24:23 1 shortest::Mode",
        ]
    );
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
    // A lambda is no symbol of its own: the calls in its body belong to the
    // enclosing function (as clangd has it), and calling it is a call to
    // its `operator()`, a member of an unnamed class of the function.
    assert_eq!(
        query(&project, &["callees", "shortest"]),
        [
            "order function_template src/locals.cpp:25:5 [call] in shortest",
            "text::measure function src/locals.cpp:27:45 [call] in shortest",
            "shortest::Counter::next method src/locals.cpp:27:70 [call] in shortest",
            "text::Flag::operator bool conversion_function src/locals.cpp:31:10 [call,implicit] in shortest",
            "text::lookup function src/locals.cpp:34:18 [call] in shortest",
            "text::Name::Name constructor src/locals.cpp:34:25 [call,implicit] in shortest",
            "text::lookup function src/locals.cpp:34:30 [call] in shortest",
            "text::Name::Name constructor src/locals.cpp:34:37 [call] in shortest",
            "shortest::(anonymous)::operator() method src/locals.cpp:36:17 [call] in shortest",
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
        ["alias namespace_alias src/locals.cpp:27:38 [] in shortest"]
    );
    assert_eq!(
        refs_to(&project, "src/locals.cpp", "measure"),
        [
            "text::measure 10:54 32 shortest::ByLength::operator()",
            "text::measure 10:67 32 shortest::ByLength::operator()",
            "text::measure 27:45 32 shortest",
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
            "parameter shortest::(anonymous)::operator()::x 27:26",
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
    assert_eq!(
        project.column(
            "SELECT DISTINCT s.kind FROM symbols s JOIN decls d ON d.symbol_id = s.id ORDER BY 1"
        ),
        [
            "class",
            "constructor",
            "conversion_function",
            "destructor",
            "enum",
            "enum_constant",
            "field",
            "function",
            "function_template",
            "method",
            "namespace",
            "namespace_alias",
            "parameter",
            "struct",
            "type_alias",
            "union",
            "using",
            "variable",
        ]
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
