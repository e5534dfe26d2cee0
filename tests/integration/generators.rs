//! Compilation databases as real build systems write them, generated at
//! test time: CMake (Ninja and Makefile generators) on a project with
//! `target_precompile_headers`, configured only, so its precompiled header
//! does not exist; Meson; Bear over a plain Makefile. Each with clang++ and
//! with g++. Every unit must be indexed, none fail, and the index must say
//! what the index of a hand-written database with plain flags says.
//!
//! A missing generator fails the test with the package to install: these
//! tests never skip (`.ci/install-deps` installs them).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::util::*;

/// The project's sources, relative to its root.
const SOURCES: [&str; 3] = ["src/main.cpp", "src/shapes.cpp", "src/legacy.c"];

#[derive(Debug, Clone, Copy)]
enum Generator {
    CmakeNinja,
    CmakeMake,
    Meson,
    Bear,
}

impl Generator {
    fn name(self) -> &'static str {
        match self {
            Generator::CmakeNinja => "cmake-ninja",
            Generator::CmakeMake => "cmake-make",
            Generator::Meson => "meson",
            Generator::Bear => "bear",
        }
    }

    /// The sources it compiles: Meson takes a `.c` file for C whatever
    /// the compiler, so its project leaves `legacy.c` out.
    fn sources(self) -> &'static [&'static str] {
        match self {
            Generator::Meson => &SOURCES[..2],
            _ => &SOURCES,
        }
    }

    /// Writes the compilation database for `cxx` in the project and
    /// returns its path.
    fn generate(self, project: &Project, cxx: &str) -> std::path::PathBuf {
        let build = format!("build-{}-{cxx}", self.name());
        let run = |program: &str, args: &[&str], package: &str| {
            let output = Command::new(program)
                .args(args)
                .current_dir(project.root())
                .env("CXX", cxx)
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run {program} ({e}): install the Debian package {package} (.ci/install-deps does)")
                });
            assert!(
                output.status.success(),
                "{program} {args:?} failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let cmake = |generator: &str, package: &str| {
            let args = [
                "-S",
                ".",
                "-B",
                &build,
                "-G",
                generator,
                "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
            ];
            run("cmake", &args, package);
        };
        match self {
            Generator::CmakeNinja => cmake("Ninja", "cmake and ninja-build"),
            Generator::CmakeMake => cmake("Unix Makefiles", "cmake and make"),
            Generator::Meson => run("meson", &["setup", &build], "meson and ninja-build"),
            Generator::Bear => {
                // Bear records the commands a build runs: it must run.
                std::fs::create_dir_all(project.path(&build)).unwrap();
                let output = format!("{build}/compile_commands.json");
                run(
                    "bear",
                    &["--output", &output, "--", "make", "-B", "-s"],
                    "bear and make",
                );
            }
        }
        let compdb = project.path(&format!("{build}/compile_commands.json"));
        assert!(
            compdb.is_file(),
            "{} wrote no {}",
            self.name(),
            compdb.display()
        );
        compdb
    }
}

/// The same sources with plain flags: the precompiled header's header
/// forced in as text, C++ for the `.c` file as the C++ compiler does.
fn hand_written(project: &Project, sources: &[&str]) -> std::path::PathBuf {
    let root = project.root().display().to_string();
    let entries: Vec<Value> = sources
        .iter()
        .map(|source| {
            let mut args = vec![
                "clang++".to_owned(),
                "-std=c++17".into(),
                "-DGENERATORS_EXIT=0".into(),
                "-include".into(),
                format!("{root}/pch/pch.h"),
            ];
            if source.ends_with(".c") {
                args.extend(["-x".into(), "c++".into()]);
            }
            args.extend(["-c".into(), format!("{root}/{source}")]);
            json!({"directory": root, "file": format!("{root}/{source}"), "arguments": args})
        })
        .collect();
    let path = project.path("hand/compile_commands.json");
    project.write(
        "hand/compile_commands.json",
        &serde_json::to_string_pretty(&entries).unwrap(),
    );
    path
}

/// The index at `db` without what is located in a build directory (CMake's
/// generated `cmake_pch.hxx` and the unit that precompiles it): the paths
/// differ from one build directory to another, and a hand-written database
/// has none.
fn meaningful(project: &Project, db: &Path) -> String {
    snapshot_db(project, db)
        .lines()
        .filter(|line| !line.contains("build-"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Indexes the database `generator` writes with each compiler and
/// compares it with the hand-written one.
fn check(generator: Generator) {
    let project = Project::from_testdata("generators");
    let plain = hand_written(&project, generator.sources());
    let plain_db = project.path("hand.db");
    let summary = project.build(&[
        "--compdb",
        plain.to_str().unwrap(),
        "--db",
        plain_db.to_str().unwrap(),
        "-j",
        "2",
    ]);
    assert_eq!(summary["failed"], 0, "{summary}");
    let expected = meaningful(&project, &plain_db);
    // Declarations the units have only through the precompiled header.
    assert!(expected.contains("Square"), "{expected}");
    assert!(
        expected.contains("Legacy") == (generator.sources().len() == 3),
        "{expected}"
    );

    for cxx in ["clang++", "g++"] {
        let compdb = generator.generate(&project, cxx);
        let db = project.path(&format!("{}-{cxx}.db", generator.name()));
        let summary = project.build(&[
            "--compdb",
            compdb.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-j",
            "2",
        ]);
        let context = format!("{} with {cxx}: {summary}", generator.name());
        assert_eq!(summary["failed"], 0, "{context}");
        assert_eq!(summary["indexed"], summary["files_total"], "{context}");
        let units = project
            .try_count_db(&db, "SELECT count(*) FROM units")
            .unwrap();
        let cmake = matches!(generator, Generator::CmakeNinja | Generator::CmakeMake);
        // CMake also lists the unit that makes the precompiled header.
        let listed = generator.sources().len() as i64 + i64::from(cmake);
        assert_eq!(units, listed, "{context}");
        assert_eq!(
            project
                .try_count_db(
                    &db,
                    "SELECT count(*) FROM diagnostics WHERE severity IN ('error', 'fatal')"
                )
                .unwrap(),
            0,
            "{context}"
        );
        if cmake {
            // The precompiled header's flags are gone from every unit.
            assert_eq!(summary["adjusted_commands"], listed, "{context}");
            assert_eq!(
                project.try_count_db(&db, "SELECT count(*) FROM units WHERE args LIKE '%-include-pch%' OR args LIKE '%Winvalid-pch%'").unwrap(),
                0,
                "{context}"
            );
        }
        if cmake {
            // What was changed is shown, per unit and before a build.
            let unit = project.run(&[
                "status",
                "--db",
                db.to_str().unwrap(),
                "--unit",
                "src/shapes.cpp",
                "--json",
            ]);
            assert_success(&unit);
            let unit = parse_json(&unit);
            let args = unit["args"].to_string();
            assert!(
                !args.contains("include-pch") && args.contains("pch/pch.h"),
                "{unit}"
            );
            let changes = unit["changes"].to_string();
            assert!(
                changes.contains("-Winvalid-pch") && changes.contains("cmake_pch.hxx"),
                "{unit}"
            );
            let explain = project.run(&[
                "build",
                "--explain",
                "--full",
                "--compdb",
                compdb.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
            ]);
            assert_success(&explain);
            let explain = String::from_utf8_lossy(&explain.stdout);
            assert_eq!(
                explain.matches("    arguments: ").count(),
                listed as usize,
                "{explain}"
            );
            assert!(
                explain.contains("    changed:   dropped -Winvalid-pch"),
                "{explain}"
            );
        }
        let actual = meaningful(&project, &db);
        assert!(
            actual == expected,
            "{context}: the index differs from the hand-written database's:\n{}",
            snapshot_diff(&actual, &expected)
        );
        project.assert_no_workers_survive();
    }
}

#[test]
fn cmake_ninja_with_precompiled_headers() {
    check(Generator::CmakeNinja);
}

#[test]
fn cmake_makefiles_with_precompiled_headers() {
    check(Generator::CmakeMake);
}

#[test]
fn meson() {
    check(Generator::Meson);
}

#[test]
fn bear_over_a_makefile() {
    check(Generator::Bear);
}

/// A gcc-only option in every command is dropped from each, with one
/// warning for the whole build.
#[test]
fn a_gcc_only_option_is_warned_about_once_per_build() {
    let project = Project::new();
    let files: Vec<String> = (0..3).map(|i| format!("u{i}.c")).collect();
    for file in &files {
        project.write(file, "int f(void) { return 0; }\n");
    }
    let flags: &[&str] = &["-fconserve-stack", "-Wno-maybe-uninitialized"];
    let entries: Vec<(&str, &[&str])> = files.iter().map(|f| (f.as_str(), flags)).collect();
    project.compdb(&entries);
    let output = project.run(&["build", "--json", "-j", "2"]);
    assert_success(&output);
    let summary = parse_json(&output);
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["adjusted_commands"], 3, "{summary}");
    let stderr = stderr(&output);
    for option in flags {
        let warning = format!(
            "warning: dropped {option}: a gcc option that clang 14 does not know (3 commands)"
        );
        assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
        assert_eq!(stderr.matches(option).count(), 1, "{stderr}");
    }
    assert_eq!(
        project.count(
            "SELECT count(*) FROM units WHERE args LIKE '%conserve%' OR args LIKE '%maybe-uninit%'"
        ),
        0
    );
}

/// gcc's precompiled header beside an `-include`d header (what a gcc
/// build leaves) is not read by libclang: the header is, as text, and the
/// unit gets the declarations it relied on.
#[test]
fn a_gcc_pch_beside_a_forced_include_is_not_read() {
    let project = Project::new();
    project.write("include/forced.h", "struct Forced { int value; };\n");
    project.write(
        "include/forced.h.gch",
        "gcc's precompiled header, unreadable by clang\n",
    );
    project.write("a.cpp", "int use(Forced f) { return f.value; }\n");
    let forced = project.path("include/forced.h");
    project.compdb(&[("a.cpp", &["-include", forced.to_str().unwrap()])]);
    let summary = project.build(&[]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    assert_eq!(project.count("SELECT count(*) FROM diagnostics"), 0);
    assert_eq!(
        project.column("SELECT qualified_name FROM symbols ORDER BY 1"),
        ["Forced", "Forced::value", "use"]
    );
    assert_eq!(project.count("SELECT count(*) FROM refs r JOIN symbols s ON s.id = r.symbol_id WHERE s.name = 'Forced'"), 1);
}

/// Response files through the whole pipeline: expanded, or, when hostile
/// (naming itself, missing, 10 MiB), left out with the reason; every unit
/// is indexed, nothing hangs.
#[test]
fn response_files_are_expanded_and_hostile_ones_explained() {
    let project = Project::new();
    project.write("flags/defines.rsp", "-DFROM_RSP=1 @flags/nested.rsp");
    project.write("flags/nested.rsp", "-DNESTED=2");
    project.write("flags/self.rsp", "-DSELF @flags/self.rsp");
    project.write("flags/big.rsp", &"-DBIG10 ".repeat((10 << 20) / 8));
    let source = "#if FROM_RSP + NESTED != 3\n#error flags lost\n#endif\nint good;\n";
    for name in ["good", "self", "missing", "big"] {
        project.write(
            &format!("{name}.cpp"),
            if name == "good" { source } else { "int x;\n" },
        );
    }
    project.compdb(&[
        ("good.cpp", &["@flags/defines.rsp"]),
        ("self.cpp", &["@flags/self.rsp"]),
        ("missing.cpp", &["@flags/missing.rsp"]),
        ("big.cpp", &["@flags/big.rsp"]),
    ]);
    let output = project.run(&["build", "--json"]);
    assert_success(&output);
    let summary = parse_json(&output);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(4), Some(0)),
        "{summary}"
    );
    assert_eq!(project.count("SELECT count(*) FROM diagnostics"), 0);
    let stderr = stderr(&output);
    for (name, why) in [
        ("self", "it names itself"),
        ("missing", "No such file"),
        ("big", "10485760 bytes, over the limit"),
    ] {
        let file = project.path(&format!("flags/{name}.rsp"));
        let warning = format!(
            "could not expand the response file {} ({why}",
            file.display()
        );
        assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
        let unit = project.status_json(&["--unit", &format!("{name}.cpp")]);
        assert!(unit["changes"].to_string().contains(&warning), "{unit}");
    }
    let good = project.status_json(&["--unit", "good.cpp"]);
    let args = good["args"].as_array().unwrap();
    assert!(
        args.contains(&"-DFROM_RSP=1".into()) && args.contains(&"-DNESTED=2".into()),
        "{good}"
    );
}
