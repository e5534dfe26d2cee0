//! Issue 18: sharded builds (`build --shard K/N`, each its own process and
//! database) merged by `indexer merge` into the index one build gives; the
//! recipes of docs/recipes run as local processes.

use std::path::{Path, PathBuf};

use crate::util::{self, assert_success, Project};

/// testdata/demo (classes, a virtual method and its overrides, calls) and
/// more units sharing `include/common.h` (a macro, a template, a class
/// hierarchy), a header read by one unit only, and a C unit.
fn sharded_project() -> Project {
    let project = Project::from_testdata("demo");
    project.write(
        "include/common.h",
        "#pragma once\n#define SQUARE(x) ((x) * (x))\n\
         template <typename T> T twice(T v) { return v + v; }\n\
         struct Base { virtual ~Base() = default; virtual int run() const = 0; };\n\
         namespace { inline int hidden() { return 7; } }\n",
    );
    project.write("include/solo.h", "inline int solo() { return 1; }\n");
    for k in 0..7 {
        project.write(
            &format!("src/unit{k}.cpp"),
            &format!(
                "#include \"common.h\"\n{solo}\
                 struct Impl{k} : Base {{ int run() const override {{ return SQUARE({k}) + twice({k}) + hidden(); }} }};\n\
                 int entry{k}() {{ Impl{k} i; return i.run(); }}\n",
                solo = if k == 3 { "#include \"solo.h\"\n" } else { "" },
            ),
        );
    }
    project.write("src/plain.c", "int plain(int x) { return x * 3; }\n");
    let mut entries: Vec<String> = ["src/circle.cpp", "src/main.cpp", "src/total.cpp"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    entries.extend((0..7).map(|k| format!("src/unit{k}.cpp")));
    entries.push("src/plain.c".into());
    let root = project.root().display().to_string();
    let compdb: Vec<serde_json::Value> = entries
        .iter()
        .map(|file| {
            let arguments: &[&str] = if file.ends_with(".c") {
                &["cc", "-Iinclude", "-c", file]
            } else {
                &["c++", "-std=c++17", "-Iinclude", "-c", file]
            };
            serde_json::json!({ "directory": root, "file": file, "arguments": arguments })
        })
        .collect();
    project.write(
        "compile_commands.json",
        &serde_json::to_string_pretty(&compdb).unwrap(),
    );
    project
}

fn db(project: &Project, name: &str) -> PathBuf {
    project.path(&format!("dbs/{name}"))
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Builds shard `k` of `n` into `dbs/shard-k-of-n.db`; returns the
/// database and the summary.
fn build_shard(project: &Project, k: u32, n: u32, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    let path = db(project, &format!("shard-{k}-of-{n}.db"));
    let shard = format!("{k}/{n}");
    let summary = project.build(&[&["--db", arg(&path), "--shard", &shard], extra].concat());
    (path, summary)
}

fn merge(project: &Project, out: &Path, shards: &[PathBuf]) -> std::process::Output {
    let mut args = vec!["merge", arg(out)];
    args.extend(shards.iter().map(|s| arg(s)));
    project.run(&args)
}

fn units_of(project: &Project, path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT f.path FROM units u JOIN files f ON f.id = u.file_id ORDER BY 1")
        .unwrap();
    let root = format!("{}/", project.root().display());
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| p.unwrap().trim_start_matches(&root).to_owned())
        .collect()
}

#[test]
fn shards_merged_equal_a_single_build() {
    let project = sharded_project();
    let single = db(&project, "single.db");
    let summary = project.build(&["--db", arg(&single)]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["failed"].as_u64()),
        (Some(11), Some(0))
    );
    let expected = util::digest(&project, &single);
    let all_units = units_of(&project, &single);

    for n in 1..=3 {
        let mut shards = Vec::new();
        let mut covered = Vec::new();
        for k in 0..n {
            let (path, summary) = build_shard(&project, k, n, &[]);
            assert_eq!(summary["indexed"], summary["files_total"], "{summary}");
            covered.extend(units_of(&project, &path));
            shards.push(path);
        }
        covered.sort();
        assert_eq!(
            covered, all_units,
            "{n} shards cover every unit exactly once"
        );
        let out = db(&project, &format!("merged-{n}.db"));
        let output = merge(&project, &out, &shards);
        assert_success(&output);
        util::assert_same_digest(
            &format!("{n} shards merged against one build"),
            &expected,
            &util::digest(&project, &out),
        );
        let status = project.status_json(&["--db", arg(&out)]);
        assert_eq!(status["units_indexed"], 11);
        assert_eq!(status["query_indexes_deferred"], false);
        assert_eq!(status["last_run"]["status"], "complete");
    }

    // Balanced by the single build's parse times: still every unit once,
    // and the same index.
    let mut shards = Vec::new();
    let mut covered = Vec::new();
    for k in 0..3 {
        let (path, _) = build_shard(&project, k, 3, &["--plan-from", arg(&single)]);
        covered.extend(units_of(&project, &path));
        shards.push(path);
    }
    covered.sort();
    assert_eq!(covered, all_units);
    let out = db(&project, "planned.db");
    assert_success(&merge(&project, &out, &shards));
    util::assert_same_digest("planned shards", &expected, &util::digest(&project, &out));
}

#[test]
fn a_shard_merged_again_changes_nothing_and_a_build_after_a_merge_is_incremental() {
    let project = sharded_project();
    let shards: Vec<PathBuf> = (0..2).map(|k| build_shard(&project, k, 2, &[]).0).collect();
    let out = db(&project, "merged.db");
    assert_success(&merge(&project, &out, &shards));
    let merged = util::digest(&project, &out);

    // Shard 1 built again (nothing changed) and merged again.
    let (again, summary) = build_shard(&project, 1, 2, &[]);
    assert_eq!(summary["indexed"], 0, "{summary}");
    assert_success(&merge(&project, &out, &[again]));
    assert_eq!(util::digest(&project, &out), merged);

    // A plain build on the merged index: nothing to do.
    let summary = project.build(&["--db", arg(&out)]);
    assert_eq!(
        (summary["indexed"].as_u64(), summary["unchanged"].as_u64()),
        (Some(0), Some(11)),
        "{summary}"
    );

    // One source edited: that unit only; the header solo.h: its one reader.
    util::edit(
        &project,
        "src/unit5.cpp",
        "#include \"common.h\"\nint entry5() { return twice(5); }\n",
    );
    let summary = project.build(&["--db", arg(&out)]);
    assert_eq!(summary["indexed"], 1, "{summary}");
    util::edit(
        &project,
        "include/solo.h",
        "inline int solo() { return 2; }\n",
    );
    let summary = project.build(&["--db", arg(&out)]);
    assert_eq!(summary["indexed"], 1, "{summary}");

    // And the result is the index a fresh build of the edited sources gives.
    let fresh = db(&project, "fresh.db");
    project.build(&["--db", arg(&fresh)]);
    util::assert_same_digest(
        "merged and refreshed against fresh",
        &util::digest(&project, &fresh),
        &util::digest(&project, &out),
    );
}

/// Asserts `indexer merge OUT shards...` exits 2 with a message holding
/// every one of `says`, and leaves OUT as it was.
#[track_caller]
fn assert_refused(project: &Project, out: &Path, shards: &[PathBuf], says: &[&str]) {
    let before = std::fs::read(out).ok();
    let output = merge(project, out, shards);
    let stderr = util::stderr(&output);
    assert_eq!(util::exit_code(&output), 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for word in says {
        assert!(stderr.contains(word), "{word:?} not in {stderr}");
    }
    assert_eq!(std::fs::read(out).ok(), before, "OUT was changed");
}

#[test]
fn bad_merges_are_refused_and_change_nothing() {
    let project = sharded_project();
    let shards: Vec<PathBuf> = (0..2).map(|k| build_shard(&project, k, 2, &[]).0).collect();
    let out = db(&project, "merged.db");
    assert_success(&merge(&project, &out, &shards));

    let copy = |name: &str, from: &Path| -> PathBuf {
        let path = db(&project, name);
        std::fs::copy(from, &path).unwrap();
        path
    };
    let sql = |path: &Path, sql: &str| {
        rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    };

    // Another libclang.
    let other = copy("other-libclang.db", &shards[0]);
    sql(
        &other,
        "UPDATE meta SET value = 'clang version 99.0.0' WHERE key = 'libclang'",
    );
    assert_refused(
        &project,
        &out,
        &[other, shards[1].clone()],
        &["other-libclang.db", "clang version 99.0.0", "same libclang"],
    );

    // Another schema.
    let older = copy("older.db", &shards[0]);
    sql(&older, "PRAGMA user_version = 3");
    assert_refused(&project, &out, &[older], &["older.db", "older indexer"]);
    let foreign = db(&project, "foreign.db");
    std::fs::write(&foreign, "not a database at all").unwrap();
    assert_refused(
        &project,
        &out,
        &[foreign],
        &["foreign.db", "not an indexer database"],
    );

    // A shard whose build did not complete.
    let interrupted = copy("interrupted.db", &shards[0]);
    sql(&interrupted, "UPDATE runs SET status = 'interrupted'");
    assert_refused(
        &project,
        &out,
        &[interrupted],
        &["interrupted.db", "did not complete"],
    );

    // The same shard twice, and OUT among the shards.
    assert_refused(
        &project,
        &out,
        &[shards[0].clone(), shards[0].clone()],
        &["given twice"],
    );
    assert_refused(
        &project,
        &out,
        std::slice::from_ref(&out),
        &["is the output"],
    );

    // Two shards holding one unit of different contents: every unit as one
    // shard, then again after an edit.
    let (whole, _) = build_shard(&project, 0, 1, &[]);
    let before = copy("before-edit.db", &whole);
    util::edit(
        &project,
        "src/unit2.cpp",
        "#include \"common.h\"\nint entry2() { return 2; }\n",
    );
    let (after, _) = build_shard(&project, 0, 1, &[]);
    assert_refused(
        &project,
        &out,
        &[before, after],
        &["src/unit2.cpp", "differs between", "same sources"],
    );

    assert_eq!(
        util::exit_code(&project.run(&["merge", arg(&out)])),
        2,
        "a merge without shards is a usage error"
    );
}

/// The recipes of docs/recipes (a Kubernetes indexed Job and a GitHub
/// Actions matrix) run their `indexer` lines as local processes: every
/// shard's line with its index, then the merge's, and the result is the
/// index one build gives.
#[test]
fn the_recipes_commands_build_the_same_index() {
    let project = sharded_project();
    let single = db(&project, "single.db");
    project.build(&["--db", arg(&single)]);
    let expected = util::digest(&project, &single);
    let bin = Path::new(env!("CARGO_BIN_EXE_indexer")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    for (recipe, index_var) in [
        ("kubernetes-indexed-job.yaml", "JOB_COMPLETION_INDEX"),
        ("github-actions.yml", "SHARD"),
    ] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("docs/recipes")
                .join(recipe),
        )
        .unwrap();
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches("- "))
            .filter(|l| l.starts_with("indexer "))
            .collect();
        let (builds, merges): (Vec<&str>, Vec<&str>) =
            lines.iter().partition(|l| l.starts_with("indexer build"));
        assert_eq!((builds.len(), merges.len()), (1, 1), "{recipe}: {lines:?}");
        let shards_dir = project.path(&format!("recipe-{index_var}"));
        std::fs::create_dir_all(&shards_dir).unwrap();
        let run = |line: &str, index: Option<u32>| {
            let mut command = std::process::Command::new("sh");
            command
                .args(["-c", line])
                .env("PATH", &path)
                .env("PROJECT", project.root())
                .env("SHARDS_DIR", &shards_dir)
                .env("SHARDS", "3");
            if let Some(index) = index {
                command.env(index_var, index.to_string());
            }
            let output = command.output().unwrap();
            assert_success(&output);
        };
        for k in 0..3 {
            run(builds[0], Some(k));
        }
        run(merges[0], None);
        util::assert_same_digest(
            recipe,
            &expected,
            &util::digest(&project, &shards_dir.join("index.db")),
        );
    }
}
