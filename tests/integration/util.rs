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
        let dir = tempfile::Builder::new()
            .prefix("indexer-test-")
            .tempdir()
            .expect("temp dir");
        let tag = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Project { dir, tag }
    }

    /// A copy of `testdata/<name>`.
    pub fn from_testdata(name: &str) -> Project {
        let project = Project::new();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata")
                .join(name),
            project.root(),
        );
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
        self.write(
            "compile_commands.json",
            &serde_json::to_string_pretty(&entries).unwrap(),
        );
    }

    pub fn db(&self) -> PathBuf {
        self.path(".indexer/index.db")
    }

    /// The real binary, run in the project's root.
    pub fn indexer(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_indexer"));
        command
            .current_dir(self.root())
            .env("INDEXER_TEST_TAG", &self.tag)
            .env_remove("INDEXER_FAULT");
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

    /// `indexer build --json <args>` with extra environment variables (a
    /// fault to inject, say), asserting it exits 0; returns the summary.
    pub fn build_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let mut command = self.indexer();
        command.args(["build", "--json"]).args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("running indexer");
        assert_success(&output);
        parse_json(&output)
    }

    /// A query with `--json`, asserting success.
    /// The `items` of a list answer (every query's JSON is an object with
    /// `items`, `total` and `truncated`), all of them (`--limit 0`).
    pub fn query(&self, args: &[&str]) -> Vec<Value> {
        match self.answer(&[args, &["--limit", "0"]].concat()) {
            Value::Object(mut answer) => match answer.remove("items") {
                Some(Value::Array(rows)) => rows,
                other => panic!("expected a JSON array of items, got {other:?}"),
            },
            other => panic!("expected a JSON object, got {other}"),
        }
    }

    /// A query's whole JSON answer, asserting success.
    pub fn answer(&self, args: &[&str]) -> Value {
        let output = self.run(&[args, &["--json"]].concat());
        assert_success(&output);
        parse_json(&output)
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
                let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                    return false;
                };
                let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| {
                        s.rsplit(')')
                            .next()
                            .unwrap_or("")
                            .trim_start()
                            .starts_with('Z')
                    })
                    .unwrap_or(true);
                !zombie
                    && environ
                        .split(|&b| b == 0)
                        .any(|var| var == needle.as_bytes())
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
        let result: String = self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
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
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
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

// ---------------------------------------------------------------------------
// Appended helpers: index snapshots and file edits that refresh must notice.

/// Everything the index says about the code, as sorted text: one line per
/// row of `symbols` (usr, kind, qualified name), `decls` (usr, file, line,
/// column, definition), `refs` (usr, file, line, column, roles, container
/// usr), `bases`, `overrides` and `includes`. Files under the project root
/// are shown relative to it, others absolute. No row ids, no timestamps, no
/// hashes: two indexes of the same code give the same text whatever order
/// they were built in.
pub fn snapshot(project: &Project) -> String {
    snapshot_db(project, &project.db())
}

/// [`snapshot`] of the index at `db` (e.g. a second index built with `--db`).
pub fn snapshot_db(project: &Project, db: &Path) -> String {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("opening {}: {e}", db.display()));
    let mut roots = vec![format!("{}/", project.root().display())];
    if let Ok(canonical) = std::fs::canonicalize(project.root()) {
        roots.push(format!("{}/", canonical.display()));
    }
    let rel = |path: String| -> String {
        roots
            .iter()
            .find_map(|root| path.strip_prefix(root.as_str()).map(str::to_owned))
            .unwrap_or(path)
    };
    let sections: [(&str, &str); 6] = [
        ("symbol", "SELECT usr, kind, qualified_name FROM symbols"),
        (
            "decl",
            "SELECT s.usr, f.path, d.line, d.col, d.is_definition
             FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id",
        ),
        (
            "ref",
            "SELECT s.usr, f.path, r.line, r.col, r.roles, c.usr
             FROM refs r JOIN symbols s ON s.id = r.symbol_id JOIN files f ON f.id = r.file_id
             LEFT JOIN symbols c ON c.id = r.container_id",
        ),
        (
            "base",
            "SELECT d.usr, b.usr, f.path, x.line, x.col, x.is_virtual
             FROM bases x JOIN symbols d ON d.id = x.derived_id JOIN symbols b ON b.id = x.base_id
             JOIN files f ON f.id = x.file_id",
        ),
        (
            "override",
            "SELECT m.usr, o.usr, f.path
             FROM overrides x JOIN symbols m ON m.id = x.method_id JOIN symbols o ON o.id = x.overridden_id
             JOIN files f ON f.id = x.file_id",
        ),
        (
            "include",
            "SELECT f.path, i.line, g.path
             FROM includes i JOIN files f ON f.id = i.file_id JOIN files g ON g.id = i.included_id",
        ),
    ];
    let mut text = String::new();
    for (section, sql) in sections {
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let is_path = |name: &str| name == "path";
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut lines: Vec<String> = stmt
            .query_map([], |r| {
                let mut fields = vec![section.to_string()];
                for (i, name) in names.iter().enumerate() {
                    let value = match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Text(s) if is_path(name) => rel(s),
                        rusqlite::types::Value::Text(s) => s,
                        rusqlite::types::Value::Integer(n) => n.to_string(),
                        rusqlite::types::Value::Null => "-".to_string(),
                        other => format!("{other:?}"),
                    };
                    fields.push(value);
                }
                Ok(fields.join(" | "))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        lines.sort();
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// The lines only in `a` and only in `b` (multisets), for failure messages.
pub fn snapshot_diff(a: &str, b: &str) -> String {
    let mut only_a: Vec<&str> = a.lines().collect();
    let mut only_b: Vec<&str> = Vec::new();
    for line in b.lines() {
        match only_a.iter().position(|l| *l == line) {
            Some(i) => {
                only_a.remove(i);
            }
            None => only_b.push(line),
        }
    }
    let mut out = String::new();
    for line in only_a {
        out.push_str(&format!("- {line}\n"));
    }
    for line in only_b {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

/// Asserts that `lines` are those of `tests/expected/NAME.txt`, one per
/// line: long expected answers live as data next to the tests, where a
/// change to them reads as a diff. With `INDEXER_BLESS=1` the file is
/// written instead (review it with `git diff`).
pub fn assert_expected<S: AsRef<str>>(name: &str, lines: &[S]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(format!("{name}.txt"));
    let actual: String = lines.iter().map(|l| format!("{}\n", l.as_ref())).collect();
    if std::env::var_os("INDEXER_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (INDEXER_BLESS=1 writes it)",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "{name}: the answer differs from {} (- expected, + actual; order matters too):\n{}\nactual, in order:\n{actual}(INDEXER_BLESS=1 accepts it)",
        path.display(),
        snapshot_diff(&expected, &actual)
    );
}

/// The content of the index at `db` as `indexer digest --rows` prints it:
/// every table's row count and hash, then every row, spelled with USRs and
/// paths. Equal for two indexes of the same sources, however built.
pub fn digest(project: &Project, db: &Path) -> String {
    let output = project.run(&["digest", "--rows", "--db", db.to_str().unwrap()]);
    assert_success(&output);
    String::from_utf8(output.stdout).expect("a UTF-8 digest")
}

/// Asserts that two digests are equal, showing the rows that differ, but
/// for the one known difference: a unit parsed with the precompiled
/// standard library may list clang's `__stddef_max_align_t.h` among its
/// files though it does not read it as written (see
/// `worker::pch::Library::read_through`); those rows, and the `files` and
/// `unit_deps` totals they change, are left out of the comparison. Every
/// other row is compared.
#[track_caller]
pub fn assert_same_digest(what: &str, a: &str, b: &str) {
    let comparable = |digest: &str| -> String {
        digest
            .lines()
            .filter(|line| {
                !(line.contains("/__stddef_max_align_t.h\t")
                    || line.starts_with("files ")
                    || line.starts_with("unit_deps "))
            })
            .map(|line| format!("{line}\n"))
            .collect()
    };
    let (a, b) = (comparable(a), comparable(b));
    assert!(a == b, "{what}:\n{}", snapshot_diff(&a, &b));
}

/// Replaces a file's content and makes sure its mtime moved, so that a
/// refresh cannot miss the edit however coarse the file system's clock.
pub fn edit(project: &Project, rel: &str, content: &str) {
    let path = project.path(rel);
    let before = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    project.write(rel, content);
    let after = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap();
    if let Some(before) = before {
        if after <= before {
            set_mtime(project, rel, before + Duration::from_secs(1));
        }
    }
}

/// Sets a file's modification time, leaving its content alone.
pub fn set_mtime(project: &Project, rel: &str, mtime: std::time::SystemTime) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(project.path(rel))
        .unwrap();
    file.set_modified(mtime).unwrap();
}

/// A file's modification time.
pub fn mtime(project: &Project, rel: &str) -> std::time::SystemTime {
    std::fs::metadata(project.path(rel))
        .and_then(|m| m.modified())
        .unwrap()
}

// ---------------------------------------------------------------------------
// Appended helpers: builds running in the background (signals, concurrent
// commands, kills), and reads of an index that a build may be writing.

/// An `indexer` process started without waiting for it. Its stdout and
/// stderr are collected by threads, so it never blocks on a full pipe.
pub struct Running {
    pub child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    pub started: Instant,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the process (`libc::SIGINT`, `libc::SIGKILL`, ...).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(
            rc,
            0,
            "kill({}, {signal}): {}",
            self.child.id(),
            std::io::Error::last_os_error()
        );
    }

    /// Whether the process has exited (without reaping the output).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits for a build sent its first SIGTERM at `sent` to end as
    /// cancelled (exit 143, saying so) within the cancellation target of
    /// 2 s; returns its output.
    pub fn assert_cancelled_since(self, sent: Instant, limit: Duration) -> Output {
        let (output, exited) = self.wait(limit);
        let latency = exited - sent;
        println!("exited {latency:?} after the signal");
        assert_eq!(exit_code(&output), 143, "{}", stderr(&output));
        assert!(latency < Duration::from_secs(2), "took {latency:?} to exit");
        assert!(
            stderr(&output).contains("cancelled: exiting now"),
            "{}",
            stderr(&output)
        );
        output
    }

    /// Waits at most `limit` for the process to exit (killing it and failing
    /// the test past that); returns its output and the moment its exit was
    /// seen (polled every 2 ms).
    pub fn wait(mut self, limit: Duration) -> (Output, Instant) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "indexer (pid {}) still running after {limit:?}",
                    self.child.id()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let exited = Instant::now();
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (
            Output {
                status,
                stdout,
                stderr,
            },
            exited,
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a build running.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Project {
    /// Starts `indexer <args>` with extra environment variables.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        use std::io::Read;
        let mut command = self.indexer();
        command
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("starting indexer");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        Running {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
            started,
        }
    }

    /// `SELECT count(*) ...` on the index at `db`, read-only, or `None` while
    /// the database or its schema does not exist yet. Safe while a build
    /// writes it (WAL).
    pub fn try_count_db(&self, db: &Path, sql: &str) -> Option<i64> {
        if !db.exists() {
            return None;
        }
        let conn =
            Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        conn.query_row(sql, [], |r| r.get(0)).ok()
    }

    /// Pids of this project's live worker processes proper (`indexer
    /// worker`): [`Project::live_workers`] also lists the supervisor and
    /// anything else it started.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.live_workers()
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).nth(1) == Some(&b"worker"[..]))
            })
            .collect()
    }

    /// Units of the default index in state `indexed` (0 before it exists).
    pub fn indexed_units(&self) -> i64 {
        self.try_count_db(
            &self.db(),
            "SELECT count(*) FROM units WHERE state = 'indexed'",
        )
        .unwrap_or(0)
    }

    /// `indexer status --json <args>`, asserting success.
    pub fn status_json(&self, args: &[&str]) -> Value {
        let output = self.run(&[&["status", "--json"], args].concat());
        assert_success(&output);
        parse_json(&output)
    }
}

/// Polls `condition` every 10 ms until it holds; fails the test after `limit`.
#[track_caller]
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exit code, failing the test with the output if the process was
/// killed by a signal instead of exiting.
#[track_caller]
pub fn exit_code(output: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    output.status.code().unwrap_or_else(|| {
        panic!(
            "indexer did not exit: killed by signal {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status.signal(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

// ---------------------------------------------------------------------------
// Appended helpers: streams that cannot be written.

/// The write end of a pipe whose read end is already closed: every write
/// fails with EPIPE.
pub fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors; each is owned exactly once
    // below (the read end closed now, the write end by the Stdio).
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        std::process::Stdio::from(std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    }
}

/// `/dev/full`: every write fails with ENOSPC.
pub fn dev_full() -> std::process::Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full")
        .into()
}
