//! Hostile input: broken compilation databases, odd file names, symlink
//! loops, binary and huge sources, include cycles, files changing under a
//! build, databases that are not ours, damaged, read-only, newer or older,
//! and a full disk. Each gets a clear message and a defined exit code, and
//! what was indexed before is never lost.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{self, Project};

/// Three small C++ units (good1..good3) with a compile_commands.json, indexed.
fn good_project() -> Project {
    let project = Project::new();
    for k in 1..=3 {
        project.write(
            &format!("src/good{k}.cpp"),
            &format!("namespace good {{ int value{k}() {{ return {k}; }} }}\n"),
        );
    }
    project.compdb(&[
        ("src/good1.cpp", &[]),
        ("src/good2.cpp", &[]),
        ("src/good3.cpp", &[]),
    ]);
    let summary = project.build(&["-j", "2"]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(3), Some(0)),
        "{summary}"
    );
    project
}

/// The good project's three functions are in the index at `db`.
#[track_caller]
fn assert_good_data(project: &Project, db: &Path) {
    let names = util::snapshot_db(project, db)
        .lines()
        .filter(|l| l.starts_with("symbol |") && l.contains("good::value"))
        .count();
    assert_eq!(
        names,
        3,
        "the good functions are not all in {}",
        db.display()
    );
}

/// Pseudo-random bytes (an LCG), including NULs and invalid UTF-8.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// `(file relative to the project, state, reason)` of every unit.
fn unit_states(project: &Project) -> Vec<(String, String, String)> {
    let root = format!("{}/", project.root().display());
    project
        .column(
            "SELECT f.path || char(9) || u.state || char(9) || coalesce(u.reason, '')
             FROM units u JOIN files f ON f.id = u.file_id ORDER BY f.path",
        )
        .into_iter()
        .map(|row| {
            let mut fields = row.splitn(3, '\t').map(str::to_string);
            let path = fields.next().unwrap();
            let path = path.strip_prefix(&root).map(str::to_string).unwrap_or(path);
            (path, fields.next().unwrap(), fields.next().unwrap())
        })
        .collect()
}

/// The `(file, state, reason)` of `file` among `states`.
#[track_caller]
fn unit_state<'a>(
    states: &'a [(String, String, String)],
    file: &str,
) -> &'a (String, String, String) {
    states
        .iter()
        .find(|(f, _, _)| f == file)
        .unwrap_or_else(|| panic!("no unit {file}: {states:?}"))
}

/// Runs a command needed to set a test up (`mount`, ...); false if it failed.
fn sh(program: &str, args: &[&OsStr]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|o| {
        if !o.status.success() {
            println!(
                "note: {program} {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        o.status.success()
    })
}

/// A mount made for a test, undone when dropped.
struct Mount(PathBuf);

impl Mount {
    /// A tmpfs of `size` (e.g. "2M") at `dir`, or `None` (with a note) where mounting is impossible.
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let options = format!("size={size}");
        sh(
            "mount",
            &["-t", "tmpfs", "-o", &options, "tmpfs"]
                .map(OsStr::new)
                .into_iter()
                .chain([dir.as_os_str()])
                .collect::<Vec<_>>(),
        )
        .then(|| Mount(dir.to_path_buf()))
    }

    /// `path` (a file or directory) bound onto itself read-only.
    fn read_only(path: &Path) -> Option<Mount> {
        if !sh(
            "mount",
            &[OsStr::new("--bind"), path.as_os_str(), path.as_os_str()],
        ) {
            return None;
        }
        let mount = Mount(path.to_path_buf());
        sh(
            "mount",
            &[
                OsStr::new("-o"),
                OsStr::new("remount,ro,bind"),
                path.as_os_str(),
            ],
        )
        .then_some(mount)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if !sh("umount", &[self.0.as_os_str()]) {
            sh("umount", &[OsStr::new("-l"), self.0.as_os_str()]);
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------
// Compilation databases

/// An invalid or truncated compile_commands.json: exit 2 naming the file, and the index is untouched.
#[test]
fn a_broken_compdb_is_a_usage_error_and_keeps_the_index() {
    let project = good_project();
    let compdb = project.path("compile_commands.json");
    let valid = std::fs::read_to_string(&compdb).unwrap();
    let before = util::snapshot(&project);
    let runs = project.count("SELECT count(*) FROM runs");
    let cases = [
        ("invalid", valid.replacen("\"file\"", "file", 1)),
        ("truncated", valid[..valid.len() / 2].to_string()),
        ("empty", String::new()),
        (
            "binary",
            String::from_utf8_lossy(&garbage(300, 7)).into_owned(),
        ),
    ];
    for (what, text) in cases {
        std::fs::write(&compdb, text).unwrap();
        let output = project.run(&["build", "--json", "-j", "2"]);
        assert_eq!(
            util::exit_code(&output),
            2,
            "{what} compdb: stderr:\n{}",
            util::stderr(&output)
        );
        let message = util::stderr(&output);
        assert!(
            message.contains(&compdb.display().to_string()),
            "{what} compdb: the message does not name the file: {message}"
        );
        assert!(
            output.stdout.is_empty(),
            "{what} compdb: stdout: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert_eq!(
            util::snapshot(&project),
            before,
            "{what} compdb changed the index"
        );
        assert_eq!(
            project.count("SELECT count(*) FROM runs"),
            runs,
            "{what} compdb started a run"
        );
        project.assert_integrity();
    }
    // Repaired, the next build has nothing to do.
    std::fs::write(&compdb, valid).unwrap();
    let summary = project.build(&["-j", "2"]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["unchanged"].as_u64()),
        (Some(0), Some(3)),
        "{summary}"
    );
}

/// Compdb entries naming a missing file or a missing directory fail alone, with reasons; the rest is indexed.
#[test]
fn compdb_entries_with_missing_files_or_directories_fail_alone() {
    let project = good_project();
    let root = project.root().display().to_string();
    project.write("src/homeless.cpp", "int homeless() { return 0; }\n");
    let entry = |directory: &str, file: &str| {
        serde_json::json!({
            "directory": directory,
            "file": file,
            "arguments": ["clang++", "-std=c++17", "-c", file],
        })
    };
    // The good entries stay as they were (so their units stay current).
    let good: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(project.path("compile_commands.json")).unwrap(),
    )
    .unwrap();
    let entries: Vec<Value> = vec![
        good[0].clone(),
        entry(&root, &format!("{root}/src/ghost.cpp")),
        good[1].clone(),
        entry(
            &format!("{root}/no/such/dir"),
            &format!("{root}/src/homeless.cpp"),
        ),
        good[2].clone(),
    ];
    project.write(
        "compile_commands.json",
        &serde_json::to_string_pretty(&entries).unwrap(),
    );
    let output = project.run(&["build", "--json", "-j", "2"]);
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let summary = util::parse_json(&output);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(0), Some(2)),
        "{summary}"
    );
    assert_eq!(
        (
            summary["unchanged"].as_u64(),
            summary["files_total"].as_u64()
        ),
        (Some(3), Some(5)),
        "{summary}"
    );
    let states = unit_states(&project);
    let find = |file: &str| unit_state(&states, file);
    let (_, state, reason) = find("src/ghost.cpp");
    assert_eq!(state, "failed");
    assert!(
        reason.contains(&format!("{root}/src/ghost.cpp")),
        "reason for the missing file: {reason}"
    );
    let (_, state, reason) = find("src/homeless.cpp");
    assert_eq!(state, "failed");
    assert!(
        reason.contains(&format!("{root}/no/such/dir")),
        "reason for the missing directory: {reason}"
    );
    for k in 1..=3 {
        assert_eq!(find(&format!("src/good{k}.cpp")).1, "indexed");
    }
    assert_good_data(&project, &project.db());
    project.assert_integrity();
}

// ---------------------------------------------------------------------------
// The project tree

/// Three small C++ units (src/good1..good3.cpp) found by walking the project, indexed.
fn walked_good_project() -> Project {
    let project = Project::new();
    for k in 1..=3 {
        project.write(
            &format!("src/good{k}.cpp"),
            &format!("namespace good {{ int value{k}() {{ return {k}; }} }}\n"),
        );
    }
    let summary = project.build(&["-j", "2"]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["source"].as_str()),
        (Some(3), Some("walk")),
        "{summary}"
    );
    project
}

/// The walked good units are still indexed, unchanged by the last build (`summary`).
#[track_caller]
fn assert_good_units_kept(project: &Project, summary: &Value) {
    assert_eq!(
        summary["unchanged"], 3,
        "the good units were touched: {summary}"
    );
    let states = unit_states(project);
    for k in 1..=3 {
        let file = format!("src/good{k}.cpp");
        assert!(
            states
                .iter()
                .any(|(f, state, _)| *f == file && state == "indexed"),
            "{file} is not indexed: {states:?}"
        );
    }
    assert_good_data(project, &project.db());
    project.assert_integrity();
}

/// Files whose names are not UTF-8 are skipped with a warning in walk mode; the rest of the index is kept.
#[test]
fn non_utf8_file_names_are_skipped_with_a_warning() {
    let project = walked_good_project();
    let bad_file = project.path("src").join(OsStr::from_bytes(b"bad\xff.cpp"));
    std::fs::write(&bad_file, "int bad_file() { return 2; }\n").unwrap();
    let bad_dir = project.root().join(OsStr::from_bytes(b"dir\xfe"));
    std::fs::create_dir_all(&bad_dir).unwrap();
    std::fs::write(bad_dir.join("inner.cpp"), "int inner() { return 3; }\n").unwrap();

    // Without --json: warnings are progress notes, silent with --json.
    let output = project.run(&["build", "-j", "2"]);
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let message = util::stderr(&output);
    let warnings: Vec<&str> = message
        .lines()
        .filter(|l| l.contains("not valid UTF-8"))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "expected a warning per skipped file: {message}"
    );
    assert!(
        warnings.iter().all(|w| w.starts_with("warning: skipped ")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("bad\u{fffd}.cpp")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("inner.cpp")),
        "{warnings:?}"
    );
    let summary = project.build(&["-j", "2"]);
    assert_eq!(
        (summary["files_total"].as_u64(), summary["indexed"].as_u64()),
        (Some(3), Some(0)),
        "{summary}"
    );
    assert_good_units_kept(&project, &summary);
    assert_eq!(
        project.count("SELECT count(*) FROM symbols WHERE name IN ('bad_file', 'inner')"),
        0
    );
}

/// Symlink loops (a directory link to its parent, a self link, two links to each other) do not stop a walk.
#[test]
fn symlink_loops_in_walk_mode_terminate() {
    let project = walked_good_project();
    std::os::unix::fs::symlink("..", project.path("src/up")).unwrap();
    std::os::unix::fs::symlink(".", project.path("src/here")).unwrap();
    std::os::unix::fs::symlink("self.cpp", project.path("src/self.cpp")).unwrap();
    std::os::unix::fs::symlink("ping.cpp", project.path("src/pong.cpp")).unwrap();
    std::os::unix::fs::symlink("pong.cpp", project.path("src/ping.cpp")).unwrap();
    project.write("src/real.cpp", "int real() { return 1; }\n");
    let build = project.spawn(&["build", "--json", "-j", "2"], &[]);
    let (output, _) = build.wait(Duration::from_secs(60));
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let summary = util::parse_json(&output);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    assert_eq!(summary["files_total"], 4, "{summary}");
    assert_good_units_kept(&project, &summary);
    assert_eq!(
        project.column("SELECT name FROM symbols WHERE name = 'real'"),
        ["real"]
    );
}

/// A `.cpp` full of random bytes (NULs included) fails or is indexed with errors; the build completes and the rest is kept.
#[test]
fn a_binary_file_named_cpp_does_not_stop_the_build() {
    let project = walked_good_project();
    project.write("src/zafter.cpp", "int after() { return 2; }\n");
    let mut junk = garbage(64 * 1024, 42);
    junk[100] = 0;
    junk[5000] = 0;
    std::fs::write(project.path("src/junk.cpp"), &junk).unwrap();

    let output = project.run(&["build", "--json", "-j", "2"]);
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let summary = util::parse_json(&output);
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["files_total"], 5, "{summary}");
    assert_good_units_kept(&project, &summary);
    let states = unit_states(&project);
    let state = |file: &str| unit_state(&states, file).clone();
    assert_eq!(state("src/zafter.cpp").1, "indexed", "{states:?}");
    let (_, junk_state, reason) = state("src/junk.cpp");
    println!("random bytes: {junk_state} {reason}");
    match junk_state.as_str() {
        "failed" => assert!(!reason.is_empty(), "failed without a reason"),
        "indexed" => {
            let errors = project.count(
                "SELECT count(*) FROM diagnostics d JOIN units u ON u.id = d.unit_id JOIN files f ON f.id = u.file_id
                 WHERE f.path LIKE '%/junk.cpp' AND d.severity IN ('error', 'fatal')",
            );
            assert!(
                errors > 0,
                "random bytes indexed without an error diagnostic"
            );
        }
        other => panic!("junk.cpp is {other}"),
    }
    let indexed = states.iter().filter(|(_, s, _)| s == "indexed").count() as u64;
    assert_eq!(
        indexed,
        3 + summary["indexed"].as_u64().unwrap(),
        "{summary}"
    );
    assert_eq!(
        project.column("SELECT name FROM symbols WHERE name = 'after'"),
        ["after"]
    );
    project.assert_no_workers_survive();
}

/// A 50 MB source file (a huge comment between two functions) is indexed, with correct line numbers.
#[test]
fn a_50_mb_source_file_is_indexed() {
    use std::io::Write;
    let project = walked_good_project();
    let path = project.path("src/huge.cpp");
    let lines = 500_000;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(out, "int before_comment() {{ return 1; }}\n/*").unwrap();
        let filler = format!("{}\n", "x".repeat(103));
        for _ in 0..lines {
            out.write_all(filler.as_bytes()).unwrap();
        }
        writeln!(out, "*/\nint after_comment() {{ return 2; }}").unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size >= 50_000_000, "{size}");

    let started = Instant::now();
    let summary = project.build(&["-j", "2"]);
    println!("50 MB file: indexed in {:?}", started.elapsed());
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    assert_good_units_kept(&project, &summary);
    let rows = project.query(&["find", "after_comment"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["line"], lines + 4, "{rows:?}");
    assert_eq!(
        project.column("SELECT size FROM files WHERE path LIKE '%/huge.cpp'"),
        [size.to_string()]
    );
    // Unchanged, it is not indexed again.
    let summary = project.build(&["-j", "2"]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["unchanged"].as_u64()),
        (Some(0), Some(4)),
        "{summary}"
    );
}

/// Include cycles, with and without include guards, complete; a second build has nothing to do.
#[test]
fn include_cycles_complete() {
    // Next to the units: an `include` directory would change every unit's
    // flags in walk mode.
    let project = walked_good_project();
    project.write(
        "src/a.h",
        "#ifndef A_H\n#define A_H\n#include \"b.h\"\nint from_a();\n#endif\n",
    );
    project.write(
        "src/b.h",
        "#ifndef B_H\n#define B_H\n#include \"a.h\"\nint from_b();\n#endif\n",
    );
    project.write("src/c.h", "#include \"d.h\"\nint from_c();\n");
    project.write("src/d.h", "#include \"c.h\"\nint from_d();\n");
    project.write(
        "src/guarded.cpp",
        "#include \"a.h\"\nint guarded() { return from_a() + from_b(); }\n",
    );
    project.write(
        "src/unguarded.cpp",
        "#include \"c.h\"\nint unguarded() { return 0; }\n",
    );

    let build = project.spawn(&["build", "--json", "-j", "2"], &[]);
    let (output, _) = build.wait(Duration::from_secs(120));
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let summary = util::parse_json(&output);
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_good_units_kept(&project, &summary);
    let states = unit_states(&project);
    let state = |file: &str| unit_state(&states, file).clone();
    assert_eq!(state("src/guarded.cpp").1, "indexed", "{states:?}");
    let names = project.column("SELECT qualified_name FROM symbols WHERE name IN ('from_a', 'from_b', 'guarded') ORDER BY 1");
    assert_eq!(names, ["from_a", "from_b", "guarded"]);
    // The unguarded cycle is an error libclang reports; the unit is indexed
    // with that error or failed, not stuck.
    let (_, unguarded, reason) = state("src/unguarded.cpp");
    println!("unguarded include cycle: {unguarded} {reason}");
    match unguarded.as_str() {
        "indexed" => {
            let errors = project.column(
                "SELECT d.message FROM diagnostics d JOIN units u ON u.id = d.unit_id JOIN files f ON f.id = u.file_id
                 WHERE f.path LIKE '%/unguarded.cpp' AND d.severity IN ('error', 'fatal')",
            );
            assert!(!errors.is_empty(), "the unguarded cycle gave no error");
            let summary = project.build(&["-j", "2"]);
            assert_eq!(
                (summary["indexed"].as_u64(), summary["unchanged"].as_u64()),
                (Some(0), Some(5)),
                "{summary}"
            );
        }
        "failed" => assert!(!reason.is_empty()),
        other => panic!("unguarded.cpp is {other}"),
    }
}

// ---------------------------------------------------------------------------
// Files changing under a running build

/// `n` units that each include a few heavy standard headers.
fn slow_project(n: usize) -> Project {
    let project = Project::new();
    for k in 1..=n {
        project.write(
            &format!("src/unit{k:02}.cpp"),
            &format!(
                "#include <map>\n#include <string>\n#include <vector>\n#include <algorithm>\n\
                 int alpha{k:02}(const std::vector<int>& v) {{ std::map<std::string, int> m; m[\"k\"] = {k}; \
                 return static_cast<int>(std::count(v.begin(), v.end(), m[\"k\"])); }}\n"
            ),
        );
    }
    project
}

/// Units in the default index's plan (0 before the refresh commits).
fn units_recorded(project: &Project) -> i64 {
    project
        .try_count_db(&project.db(), "SELECT count(*) FROM units")
        .unwrap_or(0)
}

/// The index equals a fresh full build of the project as it is now.
#[track_caller]
fn assert_matches_a_fresh_build(project: &Project) {
    let fresh = project.path(".fresh/index.db");
    let output = project.run(&[
        "build",
        "--json",
        "-j",
        "2",
        "--db",
        fresh.to_str().unwrap(),
    ]);
    util::assert_success(&output);
    let expected = util::snapshot_db(project, &fresh);
    let actual = util::snapshot(project);
    assert!(
        actual == expected,
        "the index differs from a fresh build:\n{}",
        util::snapshot_diff(&expected, &actual)
    );
}

/// Sources deleted or edited while a build runs: it completes consistently, and the next build catches up.
#[test]
fn sources_deleted_or_edited_during_a_build_are_caught_up_next_time() {
    let project = slow_project(12);
    let build = project.spawn(&["build", "--json", "-j", "2"], &[]);
    // The first worker starts before the refresh: wait for the plan too.
    util::wait_until(
        Duration::from_secs(60),
        "the plan is recorded and a worker runs",
        || units_recorded(&project) == 12 && !project.worker_pids().is_empty(),
    );
    // The last units in the queue: still to do when they change.
    project.remove("src/unit12.cpp");
    util::edit(&project, "src/unit11.cpp", "int omega11() { return 11; }\n");
    let (output, _) = build.wait(Duration::from_secs(300));
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let summary = util::parse_json(&output);
    assert_eq!(summary["status"], "complete", "{summary}");
    let states = unit_states(&project);
    let deleted = unit_state(&states, "src/unit12.cpp");
    assert_eq!(deleted.1, "failed", "{states:?}");
    assert!(deleted.2.contains("unit12.cpp"), "{states:?}");
    project.assert_integrity();

    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["removed"], 1, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(
        project.column("SELECT name FROM symbols WHERE name IN ('alpha11', 'alpha12', 'omega11')"),
        ["omega11"]
    );
    assert_matches_a_fresh_build(&project);
    project.assert_integrity();
}

/// A source rewritten (same size) while its unit is being parsed is indexed again by the next build.
#[test]
fn a_source_rewritten_while_it_is_parsed_is_reindexed_next_time() {
    let project = Project::new();
    let body = |name: &str| {
        format!(
            "#include <map>\n#include <string>\n#include <vector>\n#include <algorithm>\n#include <regex>\n#include <iostream>\n\
             int {name}() {{ std::regex r(\"a+\"); std::cout << std::regex_match(\"aa\", r); return 0; }}\n"
        )
    };
    project.write("src/only.cpp", &body("alpha"));
    let build = project.spawn(&["build", "--json", "-j", "1"], &[]);
    util::wait_until(
        Duration::from_secs(60),
        "the plan is recorded and a worker runs",
        || units_recorded(&project) == 1 && !project.worker_pids().is_empty(),
    );
    // libclang reads the main file first, then spends a while in the headers.
    std::thread::sleep(Duration::from_millis(300));
    util::edit(&project, "src/only.cpp", &body("omega"));
    let (output, _) = build.wait(Duration::from_secs(300));
    assert_eq!(
        util::exit_code(&output),
        0,
        "stderr:\n{}",
        util::stderr(&output)
    );
    let first: Vec<String> =
        project.column("SELECT name FROM symbols WHERE name IN ('alpha', 'omega')");
    println!("the build during the edit indexed {first:?}");

    let summary = project.build(&["-j", "1"]);
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(
        project.column("SELECT name FROM symbols WHERE name IN ('alpha', 'omega')"),
        ["omega"],
        "after {summary}"
    );
    assert_matches_a_fresh_build(&project);
}

// ---------------------------------------------------------------------------
// The database

/// Whether an error message names the default index (queries run in the
/// project root name it relative to it, builds absolute).
fn names_the_index(message: &str) -> bool {
    message.contains("/.indexer/index.db")
}

/// A database file that is not SQLite is refused (exit 1) and left byte for byte as it was.
#[test]
fn a_file_that_is_not_sqlite_is_refused_and_untouched() {
    let project = Project::new();
    project.write("src/a.cpp", "int a() { return 1; }\n");
    let mut content = b"my precious notes, not a database\n".repeat(200);
    content.extend(garbage(4096, 3));
    std::fs::create_dir_all(project.path(".indexer")).unwrap();
    std::fs::write(project.db(), &content).unwrap();
    for args in [
        &["build", "--json", "-j", "2"][..],
        &["status"][..],
        &["find", "a"][..],
    ] {
        let output = project.run(args);
        assert_eq!(
            util::exit_code(&output),
            1,
            "{args:?}: stderr:\n{}",
            util::stderr(&output)
        );
        let message = util::stderr(&output);
        assert!(
            names_the_index(&message) && message.contains("not an indexer database"),
            "{args:?}: {message}"
        );
        assert!(
            std::fs::read(project.db()).unwrap() == content,
            "{args:?} changed the file"
        );
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = format!("{}{suffix}", project.db().display());
        assert!(
            !Path::new(&side).exists() || std::fs::metadata(&side).unwrap().len() == 0,
            "{side} was written"
        );
    }
}

/// A SQLite file whose pages past the first are garbage is refused or reported (exit 1), never wiped.
#[test]
fn a_corrupt_database_is_reported_and_not_wiped() {
    let project = good_project();
    let db = project.db();
    let mut bytes = std::fs::read(&db).unwrap();
    let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65536,
        n => n as usize,
    };
    assert!(bytes.len() > 2 * page_size, "the index is a single page");
    let len = bytes.len();
    bytes[page_size..].copy_from_slice(&garbage(len - page_size, 11));
    std::fs::write(&db, &bytes).unwrap();
    project.write(
        "src/good1.cpp",
        "namespace good { int value1() { return 100; } }\n",
    );

    for args in [
        &["build", "--json", "-j", "2"][..],
        &["status", "--json"][..],
    ] {
        let output = project.run(args);
        let message = util::stderr(&output);
        assert_eq!(
            util::exit_code(&output),
            1,
            "{args:?}: stdout:\n{}\nstderr:\n{message}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            names_the_index(&message),
            "{args:?}: the message does not name the file: {message}"
        );
        assert!(
            message.contains("corrupt")
                || message.contains("malformed")
                || message.contains("not an indexer database"),
            "{args:?}: the message does not say the file is damaged: {message}"
        );
        let now = std::fs::read(&db).unwrap();
        assert!(
            now.len() >= len && now[..len] == bytes[..],
            "{args:?} changed the damaged file"
        );
    }
}

/// A read-only database is refused by build (exit 1, saying so) and still answers queries.
#[test]
fn a_read_only_database_is_refused_by_build_and_still_queried() {
    let project = good_project();
    let db = project.db();
    let before = util::snapshot(&project);
    let bytes = std::fs::read(&db).unwrap();
    // chmod does not stop root: bind the file onto itself read-only instead.
    let _mount = if is_root() {
        match Mount::read_only(&db) {
            Some(mount) => Some(mount),
            None => {
                println!("note: skipped: running as root and a read-only bind mount is not possible here");
                return;
            }
        }
    } else {
        let mut permissions = std::fs::metadata(&db).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o444);
        std::fs::set_permissions(&db, permissions).unwrap();
        None
    };
    util::edit(
        &project,
        "src/good2.cpp",
        "namespace good { int value2() { return 200; } }\n",
    );

    let output = project.run(&["build", "--json", "-j", "2"]);
    let message = util::stderr(&output);
    assert_eq!(util::exit_code(&output), 1, "stderr:\n{message}");
    assert!(
        message.contains(&db.display().to_string()) && message.contains("read-only"),
        "{message}"
    );
    assert!(
        std::fs::read(&db).unwrap() == bytes,
        "the read-only file changed"
    );
    let rows = project.query(&["find", "good::value"]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(project.status_json(&[])["units_indexed"], 3);
    drop(_mount);
    assert_eq!(util::snapshot(&project), before);
    project.assert_integrity();
}

/// A database from a newer indexer (higher user_version) is refused with exit 1, saying it is newer, and left alone.
#[test]
fn a_database_from_a_newer_indexer_is_refused() {
    let project = good_project();
    let db = project.db();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "user_version", version + 1)
            .unwrap();
    }
    let bytes = std::fs::read(&db).unwrap();
    util::edit(
        &project,
        "src/good3.cpp",
        "namespace good { int value3() { return 300; } }\n",
    );
    for args in [
        &["build", "--json", "-j", "2"][..],
        &["status"][..],
        &["find", "good"][..],
    ] {
        let output = project.run(args);
        let message = util::stderr(&output);
        assert_eq!(util::exit_code(&output), 1, "{args:?}: stderr:\n{message}");
        assert!(
            names_the_index(&message) && message.contains("newer"),
            "{args:?}: {message}"
        );
        assert!(
            std::fs::read(&db).unwrap() == bytes,
            "{args:?} changed the database"
        );
    }
}

/// An index written by an older indexer (schema 1) is refused by queries,
/// which say to build, and upgraded in place by the next build.
#[test]
fn a_database_from_an_older_indexer_is_upgraded_by_a_build() {
    let project = good_project();
    let db = project.db();
    std::fs::remove_dir_all(db.parent().unwrap()).unwrap();
    std::fs::create_dir(db.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(include_str!("../../testdata/schema-1.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let output = project.run(&["status"]);
    let message = util::stderr(&output);
    assert_eq!(util::exit_code(&output), 1, "stderr:\n{message}");
    assert!(
        names_the_index(&message) && message.contains("older") && message.contains("indexer build"),
        "{message}"
    );

    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"], 3, "{summary}");
    assert_eq!(project.count("PRAGMA user_version"), 5);
    assert_eq!(project.status_json(&[])["units_indexed"], 3);
    project.assert_integrity();
}

/// Fills the file system holding `path` with a file at `path`, leaving about `keep` bytes free.
fn fill_disk(path: &Path, keep: u64) {
    use std::io::Write;
    let dir = std::ffi::CString::new(path.parent().unwrap().as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs on a valid path into a zeroed struct.
    let free = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        assert_eq!(libc::statvfs(dir.as_ptr(), &mut stat), 0);
        stat.f_bavail as u64 * stat.f_frsize as u64
    };
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 4096];
    let mut left = free.saturating_sub(keep);
    while left > 0 && file.write_all(&chunk[..left.min(4096) as usize]).is_ok() {
        left = left.saturating_sub(4096);
    }
    file.sync_all().unwrap();
}

/// Units of the full-disk test: enough that the disk fills up while many
/// are still queued.
const FULL_UNITS: usize = 150;
/// The extra functions every unit gains in the full-disk test.
const EXTRA: usize = 40;

/// A full disk stops the build with a clear error (exit 1); what was committed stays intact and a later build completes.
#[test]
fn a_full_disk_stops_the_build_and_keeps_the_committed_index() {
    let project = Project::new();
    for k in 1..=FULL_UNITS {
        project.write(
            &format!("src/unit{k:03}.cpp"),
            &format!("namespace full {{ int value{k}() {{ return {k}; }} }}\n"),
        );
    }
    let disk = project.path(".disk");
    let Some(_mount) = Mount::tmpfs(&disk, "16M") else {
        println!("note: skipped: cannot mount a small tmpfs here (not root?)");
        return;
    };
    let db = disk.join("index.db");
    let db_arg = db.to_str().unwrap();
    let summary = project.build(&["-j", "2", "--db", db_arg]);
    assert_eq!(summary["indexed"], FULL_UNITS, "{summary}");

    // Every unit changes and gains functions, so the index must grow.
    for k in 1..=FULL_UNITS {
        let mut text = format!("namespace full {{ int value{k}() {{ return {k}; }} }}\n");
        for j in 0..EXTRA {
            text.push_str(&format!(
                "namespace full {{ int extra_{k}_{j}(int a, int b) {{ return a * {j} + b + value{k}(); }} }}\n"
            ));
        }
        util::edit(&project, &format!("src/unit{k:03}.cpp"), &text);
    }
    let filler = disk.join("filler");
    // No room at all: the build stops before indexing; 200 KiB: it stops
    // while writing results, with most units still queued.
    for keep in [0, 200 << 10] {
        fill_disk(&filler, keep);
        let build = project.spawn(&["build", "--json", "-j", "2", "--db", db_arg], &[]);
        let started = build.started;
        let (output, exited) = build.wait(Duration::from_secs(60));
        let message = util::stderr(&output);
        println!(
            "full disk, {keep} bytes left: exit {:?} after {:?}: {}",
            output.status.code(),
            exited - started,
            message.trim()
        );
        assert_eq!(
            util::exit_code(&output),
            1,
            "{keep} bytes left: stdout:\n{}\nstderr:\n{message}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            message.contains("disk is full"),
            "{keep} bytes left: the error does not say the disk is full: {message}"
        );
        project.assert_no_workers_survive();
        std::fs::remove_file(&filler).unwrap();

        let conn = rusqlite::Connection::open(&db).unwrap();
        let result: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(result, "ok", "{keep} bytes left");
        // Each unit holds its old or its new content, never nothing.
        let kept: i64 = conn
            .query_row(
                "SELECT count(DISTINCT name) FROM symbols WHERE name GLOB 'value[0-9]*'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            kept, FULL_UNITS as i64,
            "{keep} bytes left: the committed index lost functions"
        );
    }

    // With room again, the build completes to what a fresh build gives.
    let summary = project.build(&["-j", "2", "--db", db_arg]);
    assert_eq!(summary["failed"], 0, "{summary}");
    let fresh = project.path(".fresh/index.db");
    project.build(&["-j", "2", "--db", fresh.to_str().unwrap()]);
    let (expected, actual) = (
        util::snapshot_db(&project, &fresh),
        util::snapshot_db(&project, &db),
    );
    assert!(
        actual == expected,
        "the index differs from a fresh build:\n{}",
        util::snapshot_diff(&expected, &actual)
    );
    assert_eq!(
        actual
            .lines()
            .filter(|l| l.starts_with("symbol |") && l.contains("@extra_"))
            .count(),
        FULL_UNITS * EXTRA
    );
}
