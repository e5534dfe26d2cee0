//! Random projects, fixed seed: sources that may not parse, headers that
//! include each other or are missing, compile databases with odd flags,
//! missing files and broken JSON. Whatever `build` is given, it must not
//! panic, must exit with a documented code, must leave a sound database,
//! and once the project is sane again a build must give exactly the index
//! a fresh build gives.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::util::{self, Project};

/// Rounds per run: each is three builds of a small project, about a second.
const ROUNDS: u64 = 20;

/// A small deterministic generator (an LCG), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A piece of C++ (or not) to put in a file; `k` makes names distinct.
fn snippet(rng: &mut Rng, k: u64, headers: u64) -> String {
    match rng.below(12) {
        0 => format!("int f{k}(int x) {{ return x + {k}; }}\n"),
        1 => format!("namespace ns{k} {{ struct S{k} {{ int m; void go(); }}; }}\n"),
        2 => format!("#include \"h{}.h\"\n", rng.below(headers + 2)),
        3 => format!("#define M{k}(x) ((x) + {k})\nint g{k} = M{k}(1);\n"),
        4 => format!("class C{k} {{ public: virtual ~C{k}(); virtual int v() const; }};\n"),
        5 => format!("template <class T> T t{k}(T a) {{ return a; }}\nint u{k} = t{k}({k});\n"),
        6 => "int broken( {\n".to_string(),
        7 => "}}} ;; struct\n".to_string(),
        8 => format!("#ifdef M{}\nint cond{k};\n#endif\n", rng.below(8)),
        9 => {
            // Bytes that are not text at all.
            (0..rng.below(40))
                .map(|_| char::from(rng.below(128) as u8))
                .collect::<String>()
                + "\n"
        }
        10 => format!("static int s{k}() {{ return f{}(1); }}\n", rng.below(8)),
        _ => format!(
            "extern int f{}(int);\nint call{k}() {{ return f{}(2); }}\n",
            k, k
        ),
    }
}

fn random_file(rng: &mut Rng, headers: u64) -> String {
    let mut text = String::new();
    if rng.chance(3) {
        text.push_str("#pragma once\n");
    }
    for _ in 0..rng.below(6) {
        let k = rng.below(1000);
        text.push_str(&snippet(rng, k, headers));
    }
    text
}

/// Extra arguments, sane or not.
fn random_flags(rng: &mut Rng) -> Vec<String> {
    const FLAGS: &[&[&str]] = &[
        &["-DFOO=1"],
        &["-O2"],
        &["-Wall", "-Wextra"],
        &["-include", "inc/h0.h"],
        &["-Xclang", "-include-pch", "-Xclang", "missing.pch"],
        &["@missing.rsp"],
        &["-x", "c"],
        &["-std=c++20"],
        &["-fno-such-flag-at-all"],
        &["-I", "does/not/exist"],
        &["-UFOO"],
        &["-fsyntax-only"],
    ];
    (0..rng.below(3))
        .flat_map(|_| rng.pick(FLAGS).iter().map(|s| s.to_string()))
        .collect()
}

/// Writes a random project; returns whether its compilation database is
/// valid (whole JSON, every entry complete).
fn random_project(rng: &mut Rng, project: &Project) -> bool {
    let headers = 1 + rng.below(4);
    for h in 0..headers {
        project.write(&format!("inc/h{h}.h"), &random_file(rng, headers));
    }
    let root = project.root().display().to_string();
    let mut entries = Vec::new();
    let mut valid = true;
    for u in 0..1 + rng.below(5) {
        let file = format!("src/u{u}.cpp");
        if !rng.chance(6) {
            project.write(&file, &random_file(rng, headers));
        }
        let mut arguments = vec!["clang++".to_string(), "-std=c++17".into(), "-Iinc".into()];
        arguments.extend(random_flags(rng));
        arguments.extend(["-c".to_string(), file.clone()]);
        let mut entry = json!({ "directory": root, "file": file, "arguments": arguments });
        if rng.chance(10) {
            entry.as_object_mut().unwrap().remove("file");
            valid = false;
        }
        entries.push(entry);
    }
    let mut text = serde_json::to_string_pretty(&Value::Array(entries)).unwrap();
    if rng.chance(8) {
        text.truncate(rng.below(text.len() as u64) as usize);
        valid = false;
    }
    project.write("compile_commands.json", &text);
    valid
}

/// A sane database for the sources present: plain flags, every file that exists.
fn sane_compdb(project: &Project) {
    let mut units: Vec<String> = std::fs::read_dir(project.path("src"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| format!("src/{}", e.file_name().to_string_lossy()))
                .filter(|f| f.ends_with(".cpp"))
                .collect()
        })
        .unwrap_or_default();
    units.sort();
    if units.is_empty() {
        project.write("src/u0.cpp", "int only() { return 0; }\n");
        units.push("src/u0.cpp".into());
    }
    let entries: Vec<(&str, &[&str])> =
        units.iter().map(|u| (u.as_str(), &["-Iinc"][..])).collect();
    project.compdb(&entries);
}

#[test]
fn random_projects_never_break_the_build_or_the_index() {
    let mut log = String::new();
    for round in 0..ROUNDS {
        let mut rng = Rng(0x5eed_0000 + round);
        let project = Project::new();
        let valid = random_project(&mut rng, &project);
        let output = project.run(&["build", "--json", "-j", "2", "--tu-timeout", "30"]);
        let code = util::exit_code(&output);
        let stderr = util::stderr(&output);
        let _ = writeln!(log, "round {round}: exit {code}, valid database {valid}");
        assert!(!stderr.contains("panicked"), "round {round}: {stderr}");
        // Broken units are reported, not fatal; a broken database is a
        // usage error.
        assert_eq!(code, if valid { 0 } else { 2 }, "round {round}: {stderr}");
        if project.db().exists() {
            project.assert_integrity();
        }
        project.assert_no_workers_survive();

        // The project made sane again: the index must be what a fresh build
        // of it gives, whatever the earlier build left.
        sane_compdb(&project);
        let summary = project.build(&["-j", "2"]);
        let fresh = project.path("fresh.db");
        let output = project.run(&[
            "build",
            "--json",
            "-j",
            "2",
            "--db",
            fresh.to_str().unwrap(),
        ]);
        util::assert_success(&output);
        let fresh_summary = util::parse_json(&output);
        assert_eq!(
            summary["failed"], fresh_summary["failed"],
            "round {round}: {summary} {fresh_summary}"
        );
        let after = util::snapshot(&project);
        let expected = util::snapshot_db(&project, &fresh);
        assert!(
            after == expected,
            "round {round}: the index after a bad build differs from a fresh one:\n{}",
            util::snapshot_diff(&expected, &after)
        );
        project.assert_integrity();
    }
    println!("{log}");
}
