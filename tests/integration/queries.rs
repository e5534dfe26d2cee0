//! Issue 17: the query commands on `testdata/queries` (a small zoo: a class
//! hierarchy with virtual methods, a class template base, typedefs and
//! `using` aliases, overloads, an anonymous namespace, an operator,
//! recursion, documentation comments, a header including another), with
//! the exact answers, in text and in JSON.

use serde_json::Value;

use crate::util::{self, Project};

/// testdata/queries, built.
fn zoo() -> Project {
    let project = Project::from_testdata("queries");
    project.compdb(&[("src/zoo.cpp", &[]), ("src/main.cpp", &[])]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    project
}

/// A path relative to the project.
fn rel(project: &Project, path: &str) -> String {
    path.trim_start_matches(&format!("{}/", project.root().display()))
        .to_owned()
}

/// `qualified_name` of each row.
fn names(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|row| row["qualified_name"].as_str().unwrap())
        .collect()
}

/// `qualified_name kind file:line:column` of a symbol row.
fn place(project: &Project, row: &Value) -> String {
    format!(
        "{} {} {}:{}:{}",
        row["qualified_name"].as_str().unwrap(),
        row["kind"].as_str().unwrap(),
        rel(project, row["file"].as_str().unwrap_or("?")),
        row["line"],
        row["column"]
    )
}

/// A query that must fail with `code`; returns its stderr.
fn fails(project: &Project, args: &[&str], code: i32) -> String {
    let output = project.run(args);
    let stderr = util::stderr(&output);
    assert_eq!(util::exit_code(&output), code, "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?}");
    stderr
}

#[test]
fn find_ranks_exact_matches_first_and_filters() {
    let project = zoo();
    let find = |args: &[&str]| -> Vec<String> {
        names(&project.query(&[&["find"], args].concat()))
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        find(&["sound"]),
        [
            "zoo::Animal::sound",
            "zoo::Cat::sound",
            "zoo::Dog::sound",
            "zoo::Puppy::sound"
        ]
    );
    // Exact, then prefix, then substring; case-insensitive.
    assert_eq!(find(&["dog"]), ["zoo::Dog", "zoo::Dog::sound"]);
    assert_eq!(find(&["PUP"]), ["zoo::Puppy", "zoo::Puppy::sound"]);
    // `Animal` starts with `an`, ahead of names that only hold it, which
    // sort before it.
    assert_eq!(
        find(&["an"]),
        [
            "zoo::Animal",
            "zoo::(anonymous namespace)::speak",
            "zoo::Animal::grams_",
            "zoo::Animal::operator==",
            "zoo::Animal::sound",
            "zoo::Animal::weight",
            "zoo::Animal::~Animal"
        ]
    );
    // `ns::Name`: a qualified-name suffix, ranked exact.
    assert_eq!(find(&["Animal::sound"]), ["zoo::Animal::sound"]);
    // `::Name`: the global scope only.
    assert_eq!(find(&["::main"]), ["main"]);
    assert_eq!(find(&["::vis*"]), ["visit"]);
    assert!(find(&["::sound"]).is_empty());
    // Globs, of a name or a qualified name's suffix.
    assert_eq!(
        find(&["zoo::*::sound"]),
        [
            "zoo::Animal::sound",
            "zoo::Cat::sound",
            "zoo::Dog::sound",
            "zoo::Puppy::sound"
        ]
    );
    assert_eq!(find(&["operator=="]), ["zoo::Animal::operator=="]);
    assert_eq!(find(&["speak"]), ["zoo::(anonymous namespace)::speak"]);
    // Filters.
    assert_eq!(
        find(&["*", "--kind", "type_alias"]),
        ["zoo::BoxedGrams", "zoo::Name", "zoo::Pair"]
    );
    assert_eq!(find(&["*", "--kind", "typedef"]), ["zoo::Grams"]);
    assert!(find(&["sound", "--kind", "class"]).is_empty());
    assert_eq!(find(&["*", "--namespace", "zoo::Dog"]), ["zoo::Dog::sound"]);
    assert_eq!(
        find(&["*", "--file", "src/main.cpp"]),
        ["countdown", "main", "visit"]
    );
    assert_eq!(
        find(&["feed", "--file", "zoo/animal.h", "--kind", "function"]),
        ["zoo::feed", "zoo::feed"]
    );

    // A page: `total` and `truncated` say what was left out.
    let page = project.answer(&["find", "sound", "--limit", "2", "--offset", "1"]);
    assert_eq!(
        names(page["items"].as_array().unwrap()),
        ["zoo::Cat::sound", "zoo::Dog::sound"]
    );
    assert_eq!(page["total"], 4);
    assert_eq!(page["truncated"], true);
    assert_eq!(page["external_left_out"], 0);
    let row = &page["items"][0];
    assert_eq!(
        place(&project, row),
        "zoo::Cat::sound method src/zoo.cpp:15:11"
    );
    assert_eq!(row["signature"], "zoo::Name () const");
    assert_eq!(row["definition"], true);
    let whole = project.answer(&["find", "sound"]);
    assert_eq!(
        (whole["total"].as_u64(), whole["truncated"].as_bool()),
        (Some(4), Some(false))
    );
    // The text form says a page was cut.
    let output = project.run(&["find", "sound", "--limit", "1"]);
    util::assert_success(&output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().count(),
        1,
        "{output:?}"
    );
    assert!(util::stderr(&output).contains("1 of 4 shown"), "{output:?}");

    // Usage errors: exit 2, saying what to pass.
    let stderr = fails(&project, &["find", "x", "--kind", "klass"], 2);
    assert!(
        stderr.contains("klass") && stderr.contains("class_template"),
        "{stderr}"
    );
    fails(&project, &["find", "x", "--scope", "everything"], 2);
    fails(&project, &["find", "x", "--limit", "-1"], 2);
    let stderr = fails(&project, &["find", "x", "--file", "nowhere.h"], 1);
    assert!(stderr.contains("nowhere.h"), "{stderr}");
}

#[test]
fn info_answers_for_every_overload_with_documentation_and_types() {
    let project = zoo();
    let infos = project.query(&["info", "feed"]);
    assert_eq!(infos.len(), 2);
    let signatures: Vec<&str> = infos
        .iter()
        .map(|i| i["symbol"]["signature"].as_str().unwrap())
        .collect();
    assert_eq!(
        signatures,
        ["void (zoo::Animal &)", "void (zoo::Animal &, zoo::Grams)"]
    );
    assert_eq!(infos[0]["doc"], "Feeds the usual portion.");
    assert!(infos[1].get("doc").is_none(), "{}", infos[1]);
    assert_eq!(infos[0]["container"]["qualified_name"], "zoo");
    let declarations: Vec<String> = infos[0]["declarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{} {}",
                rel(&project, d["file"].as_str().unwrap()),
                d["line"],
                d["column"],
                d["definition"]
            )
        })
        .collect();
    assert_eq!(
        declarations,
        ["src/zoo.cpp:23:6 true", "include/zoo/animal.h:36:6 false"]
    );

    let animal = &project.query(&["info", "zoo::Animal"])[0];
    assert_eq!(animal["symbol"]["kind"], "class");
    assert_eq!(
        animal["doc"],
        "An animal of the zoo.\n\nEvery animal makes a sound."
    );
    assert_eq!(
        names(animal["members"]["items"].as_array().unwrap()),
        [
            "zoo::Animal::~Animal",
            "zoo::Animal::sound",
            "zoo::Animal::weight",
            "zoo::Animal::operator==",
            "zoo::Animal::grams_"
        ]
    );
    assert_eq!(animal["members"]["total"], 5);
    assert_eq!(animal["members"]["truncated"], false);
    assert!(animal["bases"].as_array().unwrap().is_empty());
    assert_eq!(
        names(animal["derived"].as_array().unwrap()),
        ["zoo::Cat", "zoo::Dog"]
    );
    // A class template named as a base.
    let cat = &project.query(&["info", "Cat"])[0];
    assert_eq!(
        names(cat["bases"].as_array().unwrap()),
        ["zoo::Animal", "zoo::Box"]
    );

    let sound = &project.query(&["info", "Animal::sound"])[0];
    assert_eq!(sound["doc"], "The sound it makes.");
    assert_eq!(sound["symbol"]["signature"], "zoo::Name () const");
    assert!(sound["overrides"].as_array().unwrap().is_empty());
    assert_eq!(
        names(sound["overridden_by"].as_array().unwrap()),
        ["zoo::Cat::sound", "zoo::Dog::sound"]
    );
    let puppy = &project.query(&["info", "Puppy::sound"])[0];
    assert_eq!(
        names(puppy["overrides"].as_array().unwrap()),
        ["zoo::Dog::sound"]
    );
    // A trailing `///<` comment.
    assert_eq!(
        project.query(&["info", "Animal::weight"])[0]["doc"],
        "Its weight."
    );
    // In an anonymous namespace.
    let speak = &project.query(&["info", "speak"])[0];
    assert_eq!(speak["doc"], "Speaks for an animal.");
    // Every unnamed namespace is one symbol, named without a parent.
    assert_eq!(
        speak["container"]["qualified_name"],
        "(anonymous namespace)"
    );

    // Aliases: the type as written, and resolved.
    for (alias, kind, underlying, canonical, doc) in [
        (
            "zoo::Grams",
            "typedef",
            "unsigned long",
            "unsigned long",
            Some("A weight in grams."),
        ),
        (
            "Name",
            "type_alias",
            "const char *",
            "const char *",
            Some("Names, as the zoo spells them."),
        ),
        (
            "BoxedGrams",
            "type_alias",
            "Box<zoo::Grams>",
            "zoo::Box<unsigned long>",
            None,
        ),
    ] {
        let info = &project.query(&["info", alias])[0];
        assert_eq!(info["symbol"]["kind"], kind, "{info}");
        assert_eq!(info["underlying_type"], underlying, "{info}");
        assert_eq!(info["canonical_type"], canonical, "{info}");
        assert_eq!(info["doc"].as_str(), doc, "{info}");
    }
    // Templates: the comment above the template header; an alias
    // template's dependent type has no canonical spelling worth giving.
    let heavier = &project.query(&["info", "heavier"])[0];
    assert_eq!(heavier["symbol"]["kind"], "function_template");
    assert_eq!(heavier["symbol"]["signature"], "T (T, T)");
    assert_eq!(heavier["doc"], "The heavier of two.");
    let pair = &project.query(&["info", "zoo::Pair"])[0];
    assert_eq!(pair["underlying_type"], "Box<T[2]>", "{pair}");
    assert!(pair.get("canonical_type").is_none(), "{pair}");
    assert_eq!(pair["doc"], "Two of a kind, boxed.");
    // A class has no alias types; a function no members.
    assert!(animal.get("underlying_type").is_none());
    assert!(infos[0].get("members").is_none());

    // The text form labels each overload.
    let output = project.run(&["info", "feed"]);
    util::assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.matches("function zoo::feed\n").count(), 2, "{text}");
    assert!(text.contains("    Feeds the usual portion."), "{text}");

    let stderr = fails(&project, &["info", "Giraffe"], 1);
    assert!(stderr.contains("indexer find Giraffe"), "{stderr}");
}

/// An outline node as `kind name line`, its children indented below.
fn outline_lines(nodes: &Value, depth: usize, out: &mut Vec<String>) {
    for node in nodes.as_array().into_iter().flatten() {
        out.push(format!(
            "{:indent$}{} {} {}",
            "",
            node["kind"].as_str().unwrap(),
            node["name"].as_str().unwrap(),
            node["line"],
            indent = depth * 2
        ));
        outline_lines(&node["children"], depth + 1, out);
    }
}

#[test]
fn outline_nests_by_container_and_accepts_partial_paths() {
    let project = zoo();
    let outline = project.answer(&["outline", "include/zoo/animal.h"]);
    assert_eq!(
        rel(&project, outline["file"].as_str().unwrap()),
        "include/zoo/animal.h"
    );
    let mut lines = Vec::new();
    outline_lines(&outline["items"], 0, &mut lines);
    util::assert_expected("zoo-outline-animal-h", &lines);
    assert_eq!(
        (outline["total"].as_u64(), outline["truncated"].as_bool()),
        (Some(15), Some(false))
    );
    // Out-of-line definitions are at the top, their classes elsewhere.
    let outline = project.answer(&["outline", "src/zoo.cpp", "--limit", "3"]);
    let mut lines = Vec::new();
    outline_lines(&outline["items"], 0, &mut lines);
    assert_eq!(
        lines,
        ["namespace zoo 3", "destructor ~Animal 5", "method weight 7"]
    );
    // The unnamed namespace has no declaration of its own.
    assert_eq!(
        (outline["total"].as_u64(), outline["truncated"].as_bool()),
        (Some(10), Some(true))
    );

    // Relative to the project or the working directory, absolute, or the
    // end of a path.
    let absolute = project.path("include/zoo/animal.h").display().to_string();
    for spec in [
        "zoo/animal.h",
        "animal.h",
        "./include/zoo/animal.h",
        absolute.as_str(),
    ] {
        let outline = project.answer(&["outline", spec]);
        assert_eq!(outline["file"], absolute.as_str(), "{spec}");
    }
    let output = project
        .indexer()
        .current_dir(project.path("include"))
        .args(["outline", "zoo/types.h", "--project", ".."])
        .output()
        .unwrap();
    util::assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("typedef Grams"));
    let stderr = fails(&project, &["outline", "giraffe.h"], 1);
    assert!(stderr.contains("giraffe.h"), "{stderr}");
}

#[test]
fn at_a_position_names_the_symbol_and_its_definition() {
    let project = zoo();
    let at = |position: &str| -> Vec<String> {
        project
            .query(&["at", position])
            .iter()
            .map(|o| {
                format!(
                    "{} {}:{} [{}] {}",
                    o["occurrence"].as_str().unwrap(),
                    o["line"],
                    o["column"],
                    o["roles"]
                        .as_array()
                        .map(|r| r
                            .iter()
                            .map(|r| r.as_str().unwrap())
                            .collect::<Vec<_>>()
                            .join(","))
                        .unwrap_or_default(),
                    place(&project, &o["symbol"])
                )
            })
            .collect()
    };
    // The operator of `animal == animal`, and where it is defined.
    assert_eq!(
        at("src/main.cpp:5:18"),
        ["reference 5:17 [call] zoo::Animal::operator== method src/zoo.cpp:9:14"]
    );
    assert_eq!(
        at("src/zoo.cpp:19:8"),
        ["definition 19:6 [] zoo::(anonymous namespace)::speak function src/zoo.cpp:19:6"]
    );
    // A whole line: types, the function defined, a call through the base
    // (virtual).
    assert_eq!(
        at("src/zoo.cpp:19"),
        [
            "reference 19:1 [] zoo::Name type_alias include/zoo/types.h:9:7",
            "definition 19:6 [] zoo::(anonymous namespace)::speak function src/zoo.cpp:19:6",
            "reference 19:18 [] zoo::Animal class include/zoo/animal.h:9:7",
            "reference 19:50 [call,dynamic] zoo::Animal::sound method include/zoo/animal.h:13:16",
        ]
    );
    assert!(at("src/main.cpp:2").is_empty());
    // Not a position: a usage error.
    for bad in [
        "src/main.cpp",
        "src/main.cpp:0",
        "src/main.cpp:3:0",
        "src/main.cpp:x",
    ] {
        fails(&project, &["at", bad], 2);
    }
}

/// A hierarchy tree as `qualified_name` lines, indented.
fn tree_lines(nodes: &Value, depth: usize, out: &mut Vec<String>) {
    for node in nodes.as_array().into_iter().flatten() {
        let mut line = format!(
            "{:indent$}{}",
            "",
            node["class"]["qualified_name"].as_str().unwrap(),
            indent = depth * 2
        );
        if node["virtual_base"] == true {
            line.push_str(" virtual");
        }
        out.push(line);
        tree_lines(&node["children"], depth + 1, out);
    }
}

#[test]
fn hierarchy_walks_up_and_down_within_depth_and_cap() {
    let project = zoo();
    let lines = |args: &[&str], key: &str| -> Vec<String> {
        let answer = project.answer(&[&["hierarchy"], args].concat());
        let mut out = Vec::new();
        tree_lines(&answer["items"][0][key], 0, &mut out);
        out
    };
    assert_eq!(
        lines(&["Puppy", "--up"], "bases"),
        ["zoo::Dog", "  zoo::Animal"]
    );
    assert_eq!(
        lines(&["Animal", "--down"], "derived"),
        ["zoo::Cat virtual", "zoo::Dog", "  zoo::Puppy"]
    );
    assert_eq!(
        lines(&["Animal", "--down", "--depth", "1"], "derived"),
        ["zoo::Cat virtual", "zoo::Dog"]
    );
    // A class template's derived classes.
    assert_eq!(lines(&["zoo::Box", "--down"], "derived"), ["zoo::Cat"]);
    let answer = project.answer(&["hierarchy", "Dog"]);
    assert_eq!(answer["items"][0]["class"]["qualified_name"], "zoo::Dog");
    assert_eq!(answer["items"][0]["bases"].as_array().unwrap().len(), 1);
    assert_eq!(answer["items"][0]["derived"].as_array().unwrap().len(), 1);
    assert_eq!(
        (answer["total"].as_u64(), answer["truncated"].as_bool()),
        (Some(3), Some(false))
    );
    // `--up` alone leaves the derived classes out.
    assert!(project.answer(&["hierarchy", "Dog", "--up"])["items"][0]
        .get("derived")
        .is_none());
    let capped = project.answer(&["hierarchy", "Animal", "--down", "--max-nodes", "2"]);
    assert_eq!(capped["truncated"], true);
    let stderr = fails(&project, &["hierarchy", "feed"], 1);
    assert!(stderr.contains("no class"), "{stderr}");
    fails(&project, &["hierarchy", "Dog", "--up", "--down"], 2);
    fails(&project, &["hierarchy", "Dog", "--depth", "0"], 2);
}

/// A call tree as `qualified_name [roles] in container` lines, indented,
/// cycles marked.
fn call_lines(nodes: &Value, depth: usize, out: &mut Vec<String>) {
    for node in nodes.as_array().into_iter().flatten() {
        let roles: Vec<&str> = node["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.as_str().unwrap())
            .collect();
        let mut line = format!(
            "{:indent$}{} {}:{} [{}] in {}",
            "",
            node["qualified_name"].as_str().unwrap(),
            node["line"],
            node["column"],
            roles.join(","),
            node["container"].as_str().unwrap_or("-"),
            indent = depth * 2
        );
        if node["cycle"] == true {
            line.push_str(" (cycle)");
        }
        out.push(line);
        call_lines(&node["children"], depth + 1, out);
    }
}

#[test]
fn callers_and_callees_as_trees_with_cycles_and_role_filters() {
    let project = zoo();
    let tree = |args: &[&str]| -> Vec<String> {
        let answer = project.answer(
            &args
                .iter()
                .copied()
                .chain(["--limit", "0"])
                .collect::<Vec<_>>(),
        );
        let mut out = Vec::new();
        call_lines(&answer["items"], 0, &mut out);
        out
    };
    // Through the virtual call of the method it overrides, up to `main`.
    assert_eq!(
        tree(&["callers", "Puppy::sound", "--depth", "5"]),
        [
            "zoo::(anonymous namespace)::speak 19:50 [call,dynamic] in zoo::Animal::sound",
            "  zoo::feed 26:3 [call] in zoo::(anonymous namespace)::speak",
            "    zoo::feed 23:29 [call] in zoo::feed",
            "      visit 4:8 [call] in zoo::feed",
            "        main 13:10 [call] in visit",
        ]
    );
    assert_eq!(
        tree(&["callers", "Puppy::sound", "--depth", "2"]),
        [
            "zoo::(anonymous namespace)::speak 19:50 [call,dynamic] in zoo::Animal::sound",
            "  zoo::feed 26:3 [call] in zoo::(anonymous namespace)::speak",
        ]
    );
    // Recursion is marked, not followed.
    assert_eq!(
        tree(&["callers", "countdown", "--depth", "3"]),
        [
            "countdown 8:46 [call] in countdown (cycle)",
            "main 13:25 [call] in countdown",
        ]
    );
    assert_eq!(
        tree(&["callees", "main", "--depth", "2"]),
        [
            "visit 13:10 [call] in main",
            "  zoo::feed 4:8 [call] in visit",
            "  zoo::Animal::operator== 5:17 [call] in visit",
            "countdown 13:25 [call] in main",
            "  countdown 8:46 [call] in countdown (cycle)",
        ]
    );
    // Depth 1 is the list of old: no children.
    assert_eq!(
        tree(&["callees", "zoo::Animal::operator=="]),
        [
            "zoo::Animal::weight 9:61 [call] in zoo::Animal::operator==",
            "zoo::Animal::weight 9:79 [call] in zoo::Animal::operator==",
        ]
    );
    // A node cap cuts the tree and says so.
    let capped = project.answer(&[
        "callers",
        "Puppy::sound",
        "--depth",
        "5",
        "--max-nodes",
        "1",
    ]);
    assert_eq!(capped["truncated"], true);
    assert_eq!(capped["total"], 1);

    // Role filters.
    let refs = |args: &[&str]| -> Vec<String> {
        project
            .query(&[&["refs"], args].concat())
            .iter()
            .map(|r| {
                format!(
                    "{}:{}:{} {}",
                    rel(&project, r["file"].as_str().unwrap()),
                    r["line"],
                    r["column"],
                    r["roles"]
                )
            })
            .collect()
    };
    assert_eq!(
        refs(&["countdown", "--role", "call"]),
        [
            r#"src/main.cpp:8:46 ["call"]"#,
            r#"src/main.cpp:13:25 ["call"]"#
        ]
    );
    assert_eq!(
        refs(&["zoo::Animal::sound", "--role", "dynamic"]),
        [r#"src/zoo.cpp:19:50 ["call","dynamic"]"#]
    );
    assert!(refs(&["countdown", "--role", "write,address"]).is_empty());
    let page = project.answer(&["refs", "zoo::Animal", "--limit", "2"]);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["truncated"], true);
    assert!(page["total"].as_u64().unwrap() > 2, "{page}");
    let stderr = fails(&project, &["refs", "countdown", "--role", "bogus"], 2);
    assert!(
        stderr.contains("bogus") && stderr.contains("dynamic"),
        "{stderr}"
    );
    fails(&project, &["callers", "countdown", "--depth", "0"], 2);
}

#[test]
fn call_paths_go_through_virtual_dispatch_shortest_first() {
    let project = zoo();
    let paths = |args: &[&str]| -> (Vec<Vec<String>>, Value) {
        let answer = project.answer(&[&["path"], args].concat());
        let paths = answer["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|path| {
                path["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|step| {
                        let mut text = step["function"]["qualified_name"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        if let Some(call) = step.get("call") {
                            text.push_str(&format!(
                                " @{}:{}{}",
                                call["line"],
                                call["column"],
                                if call["dynamic"] == true {
                                    " virtual"
                                } else {
                                    ""
                                }
                            ));
                        }
                        text
                    })
                    .collect()
            })
            .collect();
        (paths, answer)
    };
    let (found, answer) = paths(&["main", "zoo::Puppy::sound"]);
    assert_eq!(
        found,
        [[
            "main @13:10",
            "visit @4:8",
            "zoo::feed @23:29",
            "zoo::feed @26:3",
            "zoo::(anonymous namespace)::speak @19:50 virtual",
            "zoo::Puppy::sound",
        ]]
    );
    assert_eq!(answer["total"], 1);
    assert_eq!(answer["truncated"], false);
    assert_eq!(
        names(answer["to"].as_array().unwrap()),
        ["zoo::Puppy::sound"]
    );
    // Every overrider is a target of the virtual call; shortest first.
    let (found, answer) = paths(&["visit", "sound", "--limit", "2"]);
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|p| p.len() == 5), "{found:?}");
    assert_eq!(answer["truncated"], true);
    assert_eq!(
        names(answer["to"].as_array().unwrap()),
        [
            "zoo::Animal::sound",
            "zoo::Cat::sound",
            "zoo::Dog::sound",
            "zoo::Puppy::sound"
        ]
    );
    // Too long for the depth, or no path at all.
    assert!(paths(&["main", "zoo::Puppy::sound", "--max-depth", "4"])
        .0
        .is_empty());
    assert!(paths(&["countdown", "main"]).0.is_empty());
    let output = project.run(&["path", "countdown", "main"]);
    util::assert_success(&output);
    assert!(util::stderr(&output).contains("no call path"));
    fails(&project, &["path", "main", "Giraffe"], 1);
    fails(
        &project,
        &["path", "main", "countdown", "--max-depth", "0"],
        2,
    );
}

/// An include tree as `file line` lines, indented.
fn include_lines(project: &Project, nodes: &Value, depth: usize, out: &mut Vec<String>) {
    for node in nodes.as_array().into_iter().flatten() {
        out.push(format!(
            "{:indent$}{} {}",
            "",
            rel(project, node["file"].as_str().unwrap()),
            node["line"],
            indent = depth * 2
        ));
        include_lines(project, &node["children"], depth + 1, out);
    }
}

#[test]
fn includes_both_ways_and_transitively() {
    let project = zoo();
    let tree = |args: &[&str]| -> (Vec<String>, Value) {
        let answer = project.answer(&[&["includes"], args].concat());
        let mut out = Vec::new();
        include_lines(&project, &answer["items"], 0, &mut out);
        (out, answer)
    };
    assert_eq!(tree(&["src/main.cpp"]).0, ["include/zoo/animal.h 1"]);
    let (lines, answer) = tree(&["src/main.cpp", "--depth", "3"]);
    assert_eq!(lines, ["include/zoo/animal.h 1", "  include/zoo/types.h 2"]);
    assert_eq!(answer["direction"], "includes");
    assert_eq!(
        (answer["total"].as_u64(), answer["truncated"].as_bool()),
        (Some(2), Some(false))
    );
    let (lines, answer) = tree(&["zoo/types.h", "--reverse", "--depth", "2"]);
    assert_eq!(
        lines,
        [
            "include/zoo/animal.h 2",
            "  src/main.cpp 1",
            "  src/zoo.cpp 1"
        ]
    );
    assert_eq!(answer["direction"], "included_by");
    let (lines, answer) = tree(&["zoo/types.h", "--reverse", "--depth", "2", "--limit", "2"]);
    assert_eq!(lines, ["include/zoo/animal.h 2", "  src/main.cpp 1"]);
    assert_eq!(answer["truncated"], true);
    assert!(tree(&["zoo/types.h"]).0.is_empty());
}

#[test]
fn status_says_whether_a_build_runs() {
    let project = zoo();
    let status = project.status_json(&[]);
    assert_eq!(status["build_running"], false);
    assert!(status.get("build_progress").is_none(), "{status}");
}

/// An index written before documentation comments and alias types were
/// stored (schema 4) is upgraded by the next build, which indexes every
/// unit again: the upgraded index holds what a fresh build holds.
#[test]
fn an_index_from_before_documentation_comments_is_indexed_again_by_the_upgrade() {
    let project = zoo();
    {
        // Schema 3: without the new columns and index, and without the data.
        let conn = project.conn();
        conn.execute_batch(
            "DROP INDEX decls_by_container;
             ALTER TABLE decls DROP COLUMN doc;
             ALTER TABLE symbols DROP COLUMN underlying_type;
             ALTER TABLE symbols DROP COLUMN canonical_type;
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let stderr = fails(&project, &["info", "feed"], 1);
    assert!(
        stderr.contains("older") && stderr.contains("indexer build"),
        "{stderr}"
    );
    let output = project.run(&["build", "--explain"]);
    util::assert_success(&output);
    let explained = String::from_utf8_lossy(&output.stdout);
    assert!(
        explained.contains("index written by an older indexer")
            && explained.contains("2 of 2 units would be indexed"),
        "{explained}"
    );
    let summary = project.build(&[]);
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(project.count("PRAGMA user_version"), 5);
    assert_eq!(
        project.query(&["info", "Grams"])[0]["doc"],
        "A weight in grams."
    );
    assert_eq!(
        project.query(&["info", "zoo::Animal"])[0]["members"]["total"],
        5
    );
    let fresh = project.path("fresh.db");
    project.build(&["--db", fresh.to_str().unwrap()]);
    util::assert_same_digest(
        "upgraded and fresh",
        &util::digest(&project, &project.db()),
        &util::digest(&project, &fresh),
    );
    project.assert_integrity();
}
