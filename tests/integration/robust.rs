//! Never hang, never panic: files that block when read, and output that
//! cannot be written. Each case ends with a defined exit code and a sound
//! database.

use std::path::Path;
use std::time::Duration;

use crate::util::{self, assert_success, closed_pipe, dev_full, Project};

/// Units `a` and `b` include `shared.h`; `c` does not. Indexed.
fn shared_header_project() -> Project {
    let project = Project::new();
    project.write("include/shared.h", "inline int shared() { return 1; }\n");
    project.write(
        "src/a.cpp",
        "#include \"shared.h\"\nint a() { return shared(); }\n",
    );
    project.write(
        "src/b.cpp",
        "#include \"shared.h\"\nint b() { return shared(); }\n",
    );
    project.write("src/c.cpp", "int c() { return 3; }\n");
    project.compdb(&[("src/a.cpp", &[]), ("src/b.cpp", &[]), ("src/c.cpp", &[])]);
    let summary = project.build(&[]);
    assert_eq!(summary["indexed"], 3, "{summary}");
    project
}

/// `(relative file, state, reason)` of every unit, by path.
fn units(project: &Project) -> Vec<String> {
    let root = format!("{}/", project.root().display());
    project
        .column(
            "SELECT f.path || ' ' || u.state || ' ' || coalesce(u.reason, '')
             FROM units u JOIN files f ON f.id = u.file_id ORDER BY f.path",
        )
        .into_iter()
        .map(|row| row.replace(&root, ""))
        .collect()
}

fn mkfifo(path: &std::path::Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo(3) only creates the node.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Issue 19: a header the index holds, replaced by a FIFO, blocked the
/// supervisor's freshness check forever (and SIGTERM with it). Now the
/// check never opens it: the units that read it fail with the reason, the
/// others are untouched, and putting a file back indexes them again.
#[test]
fn a_header_replaced_by_a_fifo_fails_its_units_without_blocking() {
    let project = shared_header_project();
    project.remove("include/shared.h");
    mkfifo(&project.path("include/shared.h"));

    // Twice: a plain build, and one that retries failed units, which must
    // not hand them to a worker to block on either.
    for args in [&[][..], &["--retry-failed"][..]] {
        let running = project.spawn(&[&["build", "--tu-timeout", "600"], args].concat(), &[]);
        let (output, _) = running.wait(Duration::from_secs(60));
        assert_eq!(util::exit_code(&output), 0, "{}", util::stderr(&output));
        assert_eq!(
            units(&project),
            [
                "src/a.cpp failed include/shared.h is a FIFO, not a regular file",
                "src/b.cpp failed include/shared.h is a FIFO, not a regular file",
                "src/c.cpp indexed ",
            ]
        );
        project.assert_integrity();
        project.assert_no_workers_survive();
    }

    std::fs::remove_file(project.path("include/shared.h")).unwrap();
    project.write("include/shared.h", "inline int shared() { return 2; }\n");
    let summary = project.build(&[]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(0)),
        "{summary}"
    );
    assert_eq!(
        units(&project),
        [
            "src/a.cpp indexed ",
            "src/b.cpp indexed ",
            "src/c.cpp indexed "
        ]
    );
}

/// The last run's status and counts.
fn last_run(project: &Project) -> String {
    project.column("SELECT status || ' ' || indexed FROM runs ORDER BY id DESC LIMIT 1")[0].clone()
}

/// Issue 19: `build 2>/dev/full`, `2>&1 | head` and `--json >/dev/full`
/// panicked (exit 101) or failed a build that had completed. Progress and
/// notes stop quietly, the build completes and records its run, and the
/// exit code is the build's.
#[test]
fn a_build_whose_output_cannot_be_written_completes() {
    type Streams = fn() -> (std::process::Stdio, std::process::Stdio);
    let cases: [(&str, Streams); 4] = [
        ("stderr on a full device", || {
            (std::process::Stdio::null(), dev_full())
        }),
        ("stderr on a closed pipe", || {
            (std::process::Stdio::null(), closed_pipe())
        }),
        ("stdout and stderr on a closed pipe", || {
            (closed_pipe(), closed_pipe())
        }),
        ("stdout on a full device", || {
            (dev_full(), std::process::Stdio::null())
        }),
    ];
    for (case, streams) in cases {
        let project = Project::new();
        project.write("src/a.cpp", "int a() { return 1; }\n");
        project.write("src/b.cpp", "int b() { return 2; }\n");
        project.compdb(&[("src/a.cpp", &[]), ("src/b.cpp", &[])]);
        let (stdout, stderr) = streams();
        let status = project
            .indexer()
            .args(["build", "--json"])
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "{case}: {status}");
        assert_eq!(last_run(&project), "complete 2", "{case}");
        project.assert_integrity();
        project.assert_no_workers_survive();
    }
}

/// Issue 19: `find '' | head -5` printed "error: Broken pipe" and exited 1.
/// A reader that stops reading wanted no more: exit 0, nothing said. A
/// full disk is a real failure: exit 1, with the cause.
#[test]
fn a_query_whose_reader_goes_away_is_not_an_error() {
    let project = shared_header_project();
    let output = project
        .indexer()
        .args(["find", "*"])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(util::exit_code(&output), 0, "{}", util::stderr(&output));
    assert_eq!(util::stderr(&output), "");

    let output = project
        .indexer()
        .args(["find", "*"])
        .stdout(dev_full())
        .output()
        .unwrap();
    assert_eq!(util::exit_code(&output), 1);
    assert_eq!(
        util::stderr(&output).trim(),
        "error: No space left on device (os error 28)"
    );
}

/// Issue 19: a first SIGTERM during discovery and refresh waited for the
/// dispatch loop, seconds away on a large project (forever behind a
/// blocking read). Before the loop nothing is worth saving: the process
/// exits at once (after a short grace for the loop to start), the refresh
/// rolls back, and no run is recorded.
#[test]
fn sigterm_during_discovery_and_refresh_exits_at_once() {
    let project = Project::new();
    // 200,000 entries: discovery and refresh take seconds (3 s on the
    // development machine), the loop is far away.
    let root = project.root().display().to_string();
    let mut compdb = String::from("[");
    for i in 0..200_000 {
        if i > 0 {
            compdb.push(',');
        }
        compdb.push_str(&format!(
            r#"{{"directory":"{root}","file":"src/f{i}.cpp","arguments":["clang++","-std=c++17","-DX={i}","-c","src/f{i}.cpp"]}}"#
        ));
    }
    compdb.push(']');
    project.write("compile_commands.json", &compdb);

    let build = project.spawn(&["build", "--json"], &[]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = std::time::Instant::now();
    build.signal(libc::SIGTERM);
    build.assert_cancelled_since(sent, Duration::from_secs(60));
    if project.db().exists() {
        project.assert_integrity();
        assert_eq!(project.count("SELECT count(*) FROM runs"), 0);
        assert_eq!(project.count("SELECT count(*) FROM units"), 0);
    }
    project.assert_no_workers_survive();
}

/// Issue 19: `--db /dev/null` as root created `/dev/null.lock` and
/// `/dev/null-journal` and then failed on fsync; `--db DIRECTORY` printed
/// its cause three times. A path that is not a regular file is refused
/// before anything is created, with one line, as a usage error.
#[test]
fn a_database_path_that_is_not_a_file_is_refused_before_anything_is_created() {
    let project = Project::new();
    project.write("src/a.cpp", "int a() { return 1; }\n");
    std::fs::create_dir(project.path("a-directory")).unwrap();
    mkfifo(&project.path("a-fifo"));
    let cases = [
        (project.path("a-directory"), "a directory"),
        (project.path("a-fifo"), "a FIFO"),
        ("/dev/null".into(), "a device"),
    ];
    let beside = |db: &std::path::Path| {
        ["-journal", "-wal", "-shm", ".lock", ".pch"].map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            std::path::PathBuf::from(path)
        })
    };
    for (db, what) in &cases {
        let before: Vec<bool> = beside(db).iter().map(|p| p.exists()).collect();
        for command in [&["build", "."][..], &["find", "a"][..], &["status"][..]] {
            let output = project.run(&[command, &["--db", db.to_str().unwrap()]].concat());
            assert_eq!(util::exit_code(&output), 2, "{command:?} {}", db.display());
            assert_eq!(
                util::stderr(&output),
                format!(
                    "error: {} is {what}, not a regular file: pass --db with the path of an index file (it need not exist yet)\n",
                    db.display()
                ),
                "{command:?}"
            );
        }
        let after: Vec<bool> = beside(db).iter().map(|p| p.exists()).collect();
        assert_eq!(before, after, "files appeared beside {}", db.display());
    }
    assert!(!project.path(".indexer").exists());
}

/// Issue 19: `--worker-rss-limit 400` (bytes), `0` and `--memory-budget 1K`
/// ran, killed every worker and quarantined every unit; `find --kind
/// nonsense` answered "no results"; a pathological glob was a fatal error.
/// Each is a usage error (exit 2) that names the fix, and nothing is
/// created.
#[test]
fn nonsense_options_are_usage_errors() {
    let project = Project::new();
    project.write("src/a.cpp", "int a() { return 1; }\n");
    let floor = "a worker needs to start: pass at least that (sizes take a unit: 1500M, 2G)";
    let cases: [(&[&str], String); 5] = [
        (
            &["build", "--worker-rss-limit", "400"],
            format!("error: --worker-rss-limit is 400 bytes, below the 32 MiB {floor}"),
        ),
        (
            &["build", "--worker-rss-limit", "0"],
            format!("error: --worker-rss-limit is 0 bytes, below the 32 MiB {floor}"),
        ),
        (
            &["build", "--memory-budget", "1K"],
            format!("error: --memory-budget is 1024 bytes, below the 32 MiB {floor}"),
        ),
        (
            &["build", "--worker-rss-soft-limit", "10M"],
            format!("error: --worker-rss-soft-limit is 10485760 bytes, below the 32 MiB {floor}"),
        ),
        (
            &["build", "--tu-timeout", "0"],
            "error: invalid value '0' for '--tu-timeout <SECS>': 0 is not in 1..18446744073709551615".into(),
        ),
    ];
    for (args, message) in cases {
        let output = project.run(args);
        assert_eq!(util::exit_code(&output), 2, "{args:?}");
        assert_eq!(
            util::stderr(&output).lines().next(),
            Some(message.as_str()),
            "{args:?}"
        );
        assert!(
            !project.path(".indexer").exists(),
            "{args:?} created the index"
        );
    }

    project.compdb(&[("src/a.cpp", &[])]);
    project.build(&[]);
    let output = project.run(&["find", "a", "--kind", "nonsense"]);
    assert_eq!(util::exit_code(&output), 2);
    assert_eq!(
        util::stderr(&output),
        "error: unknown kind `nonsense`: pass one of namespace, namespace_alias, class, struct, union, enum, enum_constant, function, method, constructor, destructor, conversion_function, field, variable, parameter, typedef, type_alias, class_template, class_template_partial_specialization, function_template, lambda, using, macro, protocol, category, property, other\n"
    );
    let pattern = "*a".repeat(30_000);
    let output = project.run(&["find", &pattern]);
    assert_eq!(util::exit_code(&output), 2);
    assert_eq!(
        util::stderr(&output),
        "error: the pattern is 60000 bytes long; patterns are limited to 50000 bytes\n"
    );
}

/// Issue 19: a unit that failed only against a limit the user chose is not
/// quarantined: a later build with other limits retries it. (A unit that
/// fails twice on its own, by crashing, is: see faults.rs.)
#[test]
fn a_unit_failing_against_a_chosen_timeout_is_not_quarantined() {
    let project = Project::new();
    project.write("src/slow.cpp", "int slow() { return 1; }\n");
    project.write("src/fast.cpp", "int fast() { return 2; }\n");
    project.compdb(&[("src/slow.cpp", &[]), ("src/fast.cpp", &[])]);
    let summary = project.build_with_env(
        &["--tu-timeout", "1"],
        &[("INDEXER_FAULT", "hang@slow.cpp")],
    );
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(
        project.column("SELECT reason || ' ' || failures FROM units WHERE state = 'failed'"),
        ["timed out after 1 s 1"]
    );

    let summary = project.build(&[]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    assert_eq!(
        project.count("SELECT count(*) FROM units WHERE state = 'indexed'"),
        2
    );
}

/// Issue 19: a missing project path printed its cause twice (the error
/// names it, and carries it as its source). Each cause is said once.
#[test]
fn an_error_says_its_cause_once() {
    let project = Project::new();
    for args in [
        &["build", "no-such-project"][..],
        &["build", ".", "--compdb", "no-such.json"][..],
    ] {
        let output = project.run(args);
        let stderr = util::stderr(&output);
        assert_eq!(util::exit_code(&output), 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{args:?}: {stderr}"
        );
    }
}

/// Issue 19: `find vector` found nothing while `refs std::vector`
/// resolved: symbols of system headers that the project refers to were not
/// searchable. `--scope all` finds them (without a location: their
/// declarations are not indexed); the default, `project`, says how many it
/// left out.
#[test]
fn find_reaches_system_symbols_the_project_refers_to() {
    let project = Project::new();
    project.write(
        "src/list.cpp",
        "#include <vector>\nstd::vector<int> my_vector() { return {1, 2}; }\n",
    );
    project.compdb(&[("src/list.cpp", &[])]);
    project.build(&[]);

    let all = project.query(&["find", "vector", "--scope", "all"]);
    let names = |rows: &[serde_json::Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["qualified_name"].as_str().unwrap().to_string())
            .collect()
    };
    let std_vector: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| r["qualified_name"] == "std::vector")
        .collect();
    assert_eq!(std_vector.len(), 1, "{:?}", names(&all));
    assert_eq!(std_vector[0]["kind"], "class_template");
    assert_eq!(
        std_vector[0]["file"],
        serde_json::Value::Null,
        "{}",
        std_vector[0]
    );

    let output = project.run(&["find", "vector", "--json"]);
    util::assert_success(&output);
    let own = util::parse_json(&output);
    assert_eq!(names(own["items"].as_array().unwrap()), ["my_vector"]);
    assert_eq!(own["external_left_out"], all.len() - 1);
    assert_eq!(
        util::stderr(&output),
        format!(
            "({} more in system headers: pass --scope all)\n",
            all.len() - 1
        )
    );
    assert!(!project.query(&["refs", "std::vector"]).is_empty());
}

/// Issue 19: the compiler's name no longer decided the language: `g++ -c
/// m.c` (C++, as g++ compiles it) was parsed as C and stored `namespace
/// ns` as a variable; `clang++ -std=c++17 -c x.h` failed. The command stage
/// now tells libclang what the driver would have done.
#[test]
fn the_compilers_name_decides_the_language() {
    let project = Project::new();
    project.write("src/m.c", "namespace ns { int f() { return 1; } }\n");
    project.write(
        "src/x.h",
        "#pragma once\nnamespace hx { struct S { int g(); }; }\n",
    );
    project.write(
        "src/plain.c",
        "int c_only(void) { int class_ = 1; return class_; }\n",
    );
    let root = project.root().display().to_string();
    let entries = serde_json::json!([
        { "directory": root, "file": "src/m.c", "arguments": ["/usr/bin/g++", "-c", "src/m.c", "-o", "m.o"] },
        { "directory": root, "file": "src/x.h", "arguments": ["clang++", "-std=c++17", "-c", "src/x.h"] },
        { "directory": root, "file": "src/plain.c", "arguments": ["gcc", "-c", "src/plain.c"] },
    ]);
    project.write("compile_commands.json", &entries.to_string());
    let summary = project.build(&[]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(3), Some(0)),
        "{summary}"
    );
    assert_eq!(
        project.count("SELECT count(*) FROM diagnostics WHERE severity IN ('error', 'fatal')"),
        0
    );
    assert_eq!(
        project.column(
            "SELECT qualified_name || ' ' || kind FROM symbols
             WHERE qualified_name IN ('ns', 'ns::f', 'hx', 'hx::S', 'hx::S::g', 'c_only') ORDER BY qualified_name"
        ),
        ["c_only function", "hx namespace", "hx::S struct", "hx::S::g method", "ns namespace", "ns::f function"]
    );
}

/// Issue 19: a CUDA unit parsed without CUDA's headers (none are installed
/// here) was stored half parsed and reported indexed; Objective-C's
/// declarations were all of kind `other`; a unit with errors was reported
/// as plainly indexed.
#[test]
fn cuda_objective_c_and_units_with_errors_are_reported_as_what_they_are() {
    let project = Project::new();
    project.write(
        "k.cu",
        "__global__ void kernel(float *x) { x[threadIdx.x] = 1.0f; }\n",
    );
    project.write(
        "m.mm",
        "@interface Counter\n- (int)next;\n@end\n@implementation Counter\n- (int)next { return 1; }\n@end\n",
    );
    project.write(
        "gen.cpp",
        "#include \"generated.h\"\nint uses() { return 1; }\n",
    );
    let root = project.root().display().to_string();
    let entries = serde_json::json!([
        { "directory": root, "file": "k.cu", "arguments": ["clang++", "-c", "k.cu"] },
        { "directory": root, "file": "m.mm", "arguments": ["clang++", "-c", "m.mm"] },
        { "directory": root, "file": "gen.cpp", "arguments": ["clang++", "-c", "gen.cpp"] },
    ]);
    project.write("compile_commands.json", &entries.to_string());
    let cuda_installed = ["/usr/local/cuda", "/usr/lib/cuda"]
        .iter()
        .any(|dir| Path::new(dir).exists());
    let summary = project.build(&[]);
    let failed = u64::from(!cuda_installed);
    assert_eq!(
        (
            summary["indexed"].as_u64(),
            summary["indexed_with_errors"].as_u64(),
            summary["failed"].as_u64()
        ),
        (Some(3 - failed), Some(1), Some(failed)),
        "{summary}"
    );
    let status = project.status_json(&[]);
    if !cuda_installed {
        assert_eq!(
            status["failed"][0]["file"],
            project.path("k.cu").display().to_string()
        );
        let reason = status["failed"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("no CUDA installation") && reason.contains("--cuda-path"),
            "{reason}"
        );
        assert_eq!(
            project.count("SELECT count(*) FROM symbols WHERE name = 'kernel'"),
            0
        );
    }
    assert_eq!(status["units_with_errors"], 1);
    assert_eq!(
        status["with_errors"][0]["file"],
        project.path("gen.cpp").display().to_string()
    );
    assert_eq!(
        status["with_errors"][0]["first"],
        format!(
            "{}:1:10: 'generated.h' file not found",
            project.path("gen.cpp").display()
        )
    );
    assert_eq!(
        project.column("SELECT qualified_name || ' ' || kind FROM symbols WHERE qualified_name LIKE 'Counter%' ORDER BY 1"),
        ["Counter class", "Counter::next method"]
    );
    let human = project.run(&["status"]);
    assert_success(&human);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("errors:      1 of the indexed units had errors"),
        "{text}"
    );
    project.assert_integrity();
}
