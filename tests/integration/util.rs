//! The harness: a temporary project, the real binary run inside it, and
//! helpers to read the resulting database.

#![allow(dead_code)] // each test module uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;

/// A project in its own temporary directory. Workers started by this
/// project's builds carry `INDEXER_TEST_TAG=<tag>` in their environment, so a
/// test can prove that none of them survived.
pub struct Project {
    dir: tempfile::TempDir,
    tag: String,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::Builder::new().prefix("indexer-test-").tempdir().expect("temp dir");
        let tag = dir.path().file_name().unwrap().to_string_lossy().into_owned();
        Project { dir, tag }
    }

    /// A copy of `testdata/<name>`.
    pub fn from_testdata(name: &str) -> Project {
        let project = Project::new();
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name), project.root());
        project
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// Writes `compile_commands.json` at the project root with absolute
    /// paths: one entry per `(file, extra args)`, compiled with
    /// `clang++ -std=c++17 -I<root>/include <extra> -c <file> -o <file>.o`.
    pub fn compdb(&self, entries: &[(&str, &[&str])]) {
        let root = self.root().display().to_string();
        let entries: Vec<Value> = entries
            .iter()
            .map(|(file, extra)| {
                let mut args = vec!["clang++".to_string(), "-std=c++17".into(), format!("-I{root}/include")];
                args.extend(extra.iter().map(|s| s.to_string()));
                args.extend(["-c".into(), format!("{root}/{file}"), "-o".into(), format!("{root}/{file}.o")]);
                serde_json::json!({ "directory": root, "file": format!("{root}/{file}"), "arguments": args })
            })
            .collect();
        self.write("compile_commands.json", &serde_json::to_string_pretty(&entries).unwrap());
    }

    pub fn db(&self) -> PathBuf {
        self.path(".indexer/index.db")
    }

    /// The real binary, run in the project's root.
    pub fn indexer(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_indexer"));
        command.current_dir(self.root()).env("INDEXER_TEST_TAG", &self.tag).env_remove("INDEXER_FAULT");
        command
    }

    /// Runs `indexer <args>` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.indexer().args(args).output().expect("running indexer")
    }

    /// `indexer build --json <args>`, asserting it exits 0; returns the summary.
    pub fn build(&self, args: &[&str]) -> Value {
        let output = self.run(&[&["build", "--json"], args].concat());
        assert_success(&output);
        parse_json(&output)
    }

    /// A query with `--json`, asserting success.
    pub fn query(&self, args: &[&str]) -> Vec<Value> {
        let output = self.run(&[args, &["--json"]].concat());
        assert_success(&output);
        match parse_json(&output) {
            Value::Array(rows) => rows,
            other => panic!("expected a JSON array, got {other}"),
        }
    }

    pub fn conn(&self) -> Connection {
        Connection::open(self.db()).expect("opening the index")
    }

    /// The first column of every row of `sql`, as strings.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
            .unwrap()
            .map(|v| match v.unwrap() {
                rusqlite::types::Value::Text(s) => s,
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Null => "NULL".into(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Pids of this project's live worker processes.
    pub fn live_workers(&self) -> Vec<u32> {
        let needle = format!("INDEXER_TEST_TAG={}", self.tag);
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
                let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
                    .unwrap_or(true);
                !zombie && environ.split(|&b| b == 0).any(|var| var == needle.as_bytes())
            })
            .collect()
    }

    /// Waits (a few seconds at most) until no worker of this project is
    /// alive, and fails the test otherwise.
    pub fn assert_no_workers_survive(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let live = self.live_workers();
            if live.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "workers survived: {live:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `PRAGMA integrity_check` of the index.
    pub fn assert_integrity(&self) {
        let result: String = self.conn().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(result, "ok");
    }
}

pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "indexer failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn parse_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    })
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
