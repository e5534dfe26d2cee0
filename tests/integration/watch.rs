//! Watch mode (`indexer watch`): the real binary watching a real project
//! through inotify, indexing with real workers into a real SQLite file.
//! Each test drives it by editing files and reads its `--json` lines (one
//! object per build) as they come; waits poll for a condition with a
//! generous limit rather than assume how long anything takes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{self, Project};

/// How long any awaited build may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// `indexer watch --json` running on a project, its builds read line by
/// line as they come.
struct Watching {
    child: Child,
    builds: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Watching {
    fn start(project: &Project, args: &[&str]) -> Watching {
        let mut child = project
            .indexer()
            .args(["watch", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting indexer watch");
        let stdout = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, builds) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watching {
            child,
            builds,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next build's object, waiting at most `limit`; `None` if none came.
    fn next_build_within(&mut self, limit: Duration) -> Option<Value> {
        match self.builds.recv_timeout(limit) {
            Ok(build) => Some(build),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!(
                "indexer watch exited ({:?}); stderr:\n{}",
                self.child.try_wait(),
                self.stderr()
            ),
        }
    }

    /// The next build's object, failing the test if none comes in time.
    #[track_caller]
    fn next_build(&mut self) -> Value {
        self.next_build_within(PATIENCE)
            .unwrap_or_else(|| panic!("no build within {PATIENCE:?}; stderr:\n{}", self.stderr()))
    }

    /// Builds until one satisfies `condition`; returns it.
    #[track_caller]
    fn build_where(&mut self, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(build) = self.next_build_within(left) else {
                panic!(
                    "no build where {what} within {PATIENCE:?}; stderr:\n{}",
                    self.stderr()
                );
            };
            if condition(&build) {
                return build;
            }
        }
    }

    /// The first build, asserting it completed.
    #[track_caller]
    fn started(&mut self) -> Value {
        let build = self.next_build();
        assert_eq!(build["trigger"], "start", "{build}");
        assert_eq!(build["status"], "complete", "{build}");
        build
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Sends `signal` and waits for the exit; returns the exit code and
    /// how long it took.
    fn stop(self, signal: i32) -> (i32, Duration) {
        let sent = Instant::now();
        self.signal(signal);
        self.stop_after(sent)
    }

    /// Waits for an exit already asked for (a signal sent at `sent`);
    /// returns the exit code and how long it took from `sent`.
    fn stop_after(mut self, sent: Instant) -> (i32, Duration) {
        let deadline = sent + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "indexer watch still running 30 s after the signal; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        let latency = sent.elapsed();
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| {
            panic!(
                "killed by signal {:?}; stderr:\n{}",
                status.signal(),
                self.stderr()
            )
        });
        (code, latency)
    }

    /// The watch process's resident memory, from /proc.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a watch running.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The paths a build's object lists as changed, relative to the project.
fn changed(project: &Project, build: &Value) -> Vec<String> {
    let root = format!("{}/", project.root().display());
    build["changed"]
        .as_array()
        .expect("a `changed` array")
        .iter()
        .map(|p| {
            let p = p.as_str().unwrap();
            p.strip_prefix(&root).unwrap_or(p).to_string()
        })
        .collect()
}

/// Qualified names `find` returns for `pattern`.
fn found(project: &Project, pattern: &str) -> Vec<String> {
    project
        .query(&["find", pattern])
        .iter()
        .map(|row| row["qualified_name"].as_str().unwrap().to_string())
        .collect()
}

/// A small walked project: two sources and a header.
fn small_project() -> Project {
    let project = Project::new();
    project.write(
        "include/shapes.h",
        "#pragma once\nnamespace geo {\nint area(int w, int h);\n}\n",
    );
    project.write(
        "src/area.cpp",
        "#include \"shapes.h\"\nnamespace geo {\nint area(int w, int h) { return w * h; }\n}\n",
    );
    project.write(
        "src/main.cpp",
        "#include \"shapes.h\"\nint main() { return geo::area(2, 3); }\n",
    );
    project
}

/// Stops `watch` with SIGINT while it waits, and checks the exit and the
/// index.
#[track_caller]
fn stop_idle(project: &Project, watch: Watching) {
    let (code, latency) = watch.stop(libc::SIGINT);
    assert_eq!(code, 130);
    assert!(latency < Duration::from_secs(2), "took {latency:?} to exit");
    project.assert_integrity();
    project.assert_no_workers_survive();
}

#[test]
fn an_edited_source_is_indexed_again_and_queries_see_it() {
    let project = small_project();
    let mut watch = Watching::start(&project, &["-j", "1"]);
    let start = watch.started();
    assert_eq!(start["indexed"], 2, "{start}");
    assert_eq!(found(&project, "geo::area"), ["geo::area"]);

    util::edit(
        &project,
        "src/area.cpp",
        "#include \"shapes.h\"\nnamespace geo {\nint area(int w, int h) { return w * h; }\nint perimeter(int w, int h) { return 2 * (w + h); }\n}\n",
    );
    let build = watch.build_where("src/area.cpp was indexed", |b| b["indexed"] == 1);
    assert_eq!(build["trigger"], "changes", "{build}");
    assert_eq!(changed(&project, &build), ["src/area.cpp"], "{build}");
    assert_eq!(build["unchanged"], 1, "{build}");
    assert_eq!(found(&project, "geo::perimeter"), ["geo::perimeter"]);

    // A header's edit re-indexes both units that include it.
    util::edit(
        &project,
        "include/shapes.h",
        "#pragma once\nnamespace geo {\nint area(int w, int h);\nint volume(int w, int h, int d);\n}\n",
    );
    let build = watch.build_where("the header's readers were indexed", |b| b["indexed"] == 2);
    assert_eq!(changed(&project, &build), ["include/shapes.h"], "{build}");
    assert_eq!(found(&project, "geo::volume"), ["geo::volume"]);
    stop_idle(&project, watch);
}

#[test]
fn a_new_source_in_walk_mode_is_indexed_even_in_a_new_directory() {
    let project = small_project();
    let mut watch = Watching::start(&project, &["-j", "1"]);
    watch.started();
    project.write("src/extra.cpp", "int extra_one() { return 1; }\n");
    watch.build_where("src/extra.cpp was indexed", |b| b["files_total"] == 3);
    assert_eq!(found(&project, "extra_one"), ["extra_one"]);

    // A directory created with a source in it at once, and a second
    // source written into it afterwards: the new directory is watched
    // before its first build walks it.
    project.write("src/deep/er/one.cpp", "int deep_one() { return 1; }\n");
    watch.build_where("src/deep/er/one.cpp was indexed", |b| {
        b["files_total"].as_i64() >= Some(4)
    });
    project.write("src/deep/er/two.cpp", "int deep_two() { return 2; }\n");
    watch.build_where("src/deep/er/two.cpp was indexed", |b| b["files_total"] == 5);
    assert_eq!(found(&project, "deep_*"), ["deep_one", "deep_two"]);

    // Removing a source removes its unit.
    project.remove("src/extra.cpp");
    let build = watch.build_where("src/extra.cpp was removed", |b| b["removed"] == 1);
    assert_eq!(build["files_total"], 4, "{build}");
    assert!(found(&project, "extra_one").is_empty());
    stop_idle(&project, watch);
}

/// A compilation database outside the project's directory, named with
/// `--compdb`: its edits are seen (watched through its own directory).
#[test]
fn a_change_of_the_compilation_database_is_picked_up() {
    let project = Project::new();
    project.write(
        "src/a.cpp",
        "#ifdef FEATURE\nint feature_on() { return 1; }\n#endif\nint always() { return 0; }\n",
    );
    project.write("src/b.cpp", "int in_b() { return 2; }\n");
    let elsewhere = tempfile::tempdir().unwrap();
    let compdb = elsewhere.path().join("compile_commands.json");
    let root = project.root().display().to_string();
    let write_compdb = |entries: &[(&str, &str)]| {
        let entries: Vec<Value> = entries
            .iter()
            .map(|(file, flag)| {
                let mut arguments = vec!["clang++", "-std=c++17"];
                if !flag.is_empty() {
                    arguments.push(flag);
                }
                let path = format!("{root}/{file}");
                let mut arguments: Vec<String> = arguments.into_iter().map(String::from).collect();
                arguments.extend(["-c".to_string(), path.clone()]);
                serde_json::json!({ "directory": root, "file": path, "arguments": arguments })
            })
            .collect();
        // Written beside and renamed into place, as build systems do.
        let tmp = elsewhere.path().join("compile_commands.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&entries).unwrap()).unwrap();
        std::fs::rename(&tmp, &compdb).unwrap();
    };
    write_compdb(&[("src/a.cpp", "")]);
    let compdb_arg = compdb.to_str().unwrap().to_string();
    let mut watch = Watching::start(&project, &["-j", "1", "--compdb", &compdb_arg]);
    let start = watch.started();
    assert_eq!(start["files_total"], 1, "{start}");
    assert!(found(&project, "feature_on").is_empty());

    // A new flag for a.cpp, and b.cpp added.
    write_compdb(&[("src/a.cpp", "-DFEATURE"), ("src/b.cpp", "")]);
    let build = watch.build_where("both units were indexed", |b| b["files_total"] == 2);
    assert_eq!(build["compdb_changed"], true, "{build}");
    assert_eq!(build["indexed"], 2, "{build}");
    assert!(changed(&project, &build).contains(&compdb_arg), "{build}");
    assert_eq!(found(&project, "feature_on"), ["feature_on"]);
    assert_eq!(found(&project, "in_b"), ["in_b"]);

    // In compdb mode a new source the database does not list is no unit.
    project.write("src/c.cpp", "int in_c() { return 3; }\n");
    write_compdb(&[("src/a.cpp", "-DFEATURE")]);
    let build = watch.build_where("b.cpp was removed", |b| b["removed"] == 1);
    assert_eq!(build["files_total"], 1, "{build}");
    assert!(found(&project, "in_b").is_empty());
    assert!(found(&project, "in_c").is_empty());
    stop_idle(&project, watch);
}

/// Many edits within the quiet period are one build, which lists them all.
#[test]
fn a_burst_of_edits_coalesces_into_one_build() {
    let project = Project::new();
    for k in 0..5 {
        project.write(
            &format!("src/f{k}.cpp"),
            &format!("int f{k}() {{ return {k}; }}\n"),
        );
    }
    let mut watch = Watching::start(&project, &["-j", "1", "--debounce", "1000"]);
    watch.started();
    for round in 1..=4 {
        for k in 0..5 {
            util::edit(
                &project,
                &format!("src/f{k}.cpp"),
                &format!("int f{k}_{round}() {{ return {k}; }}\n"),
            );
        }
    }
    let build = watch.next_build();
    let mut paths = changed(&project, &build);
    paths.sort();
    assert_eq!(
        paths,
        [
            "src/f0.cpp",
            "src/f1.cpp",
            "src/f2.cpp",
            "src/f3.cpp",
            "src/f4.cpp"
        ],
        "{build}"
    );
    assert_eq!(build["indexed"], 5, "{build}");
    assert_eq!(
        found(&project, "f*_4"),
        ["f0_4", "f1_4", "f2_4", "f3_4", "f4_4"]
    );
    // Nothing is left over for a second build.
    if let Some(extra) = watch.next_build_within(Duration::from_secs(2)) {
        panic!("a second build after the burst: {extra}");
    }
    stop_idle(&project, watch);
}

/// Files that are not the index's (editors' swap and backup files, a
/// text file, a source where the walk does not go, new directories without
/// sources) start no build, nor do the build's own writes, even
/// with the database inside the watched project.
#[test]
fn only_files_that_matter_start_a_build_and_a_build_never_starts_another() {
    let project = small_project();
    let db = project.path("src/index.db");
    let db_arg = db.to_str().unwrap().to_string();
    let mut watch = Watching::start(&project, &["-j", "1", "--db", &db_arg, "--debounce", "100"]);
    watch.started();
    // The first build wrote the database, its journal and its lock in src/.
    if let Some(extra) = watch.next_build_within(Duration::from_secs(2)) {
        panic!("a build after the first with nothing changed: {extra}");
    }
    for junk in [
        "src/.area.cpp.swp",
        "src/area.cpp~",
        "src/4913",
        "src/notes.txt",
        "build/gen.cpp",
        "docs/new/readme.md",
    ] {
        project.write(junk, "junk\n");
    }
    if let Some(extra) = watch.next_build_within(Duration::from_secs(2)) {
        panic!("a build for files the index does not read: {extra}");
    }
    util::edit(
        &project,
        "src/main.cpp",
        "#include \"shapes.h\"\nint main() { return geo::area(3, 3); }\n",
    );
    let build = watch.next_build();
    assert_eq!(changed(&project, &build), ["src/main.cpp"], "{build}");
    assert_eq!(build["indexed"], 1, "{build}");
    if let Some(extra) = watch.next_build_within(Duration::from_secs(2)) {
        panic!("a build started by the last one: {extra}");
    }
    let (code, _) = watch.stop(libc::SIGINT);
    assert_eq!(code, 130);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn sigint_and_sigterm_while_idle_exit_at_once_with_their_codes() {
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let project = small_project();
        let mut watch = Watching::start(&project, &["-j", "1"]);
        watch.started();
        // Debouncing: a change is pending, its build not begun.
        util::edit(&project, "src/main.cpp", "int main() { return 0; }\n");
        std::thread::sleep(Duration::from_millis(50));
        let stderr = watch.stderr.clone();
        let (exit, latency) = watch.stop(signal);
        let stderr = stderr.lock().unwrap().clone();
        println!("signal {signal}: exited {latency:?} after it");
        assert_eq!(exit, code, "{stderr}");
        assert!(latency < Duration::from_secs(2), "took {latency:?} to exit");
        assert!(
            stderr.contains("stopped watching after 1 builds"),
            "{stderr}"
        );
        project.assert_integrity();
        project.assert_no_workers_survive();
        assert_eq!(
            project.column("SELECT status FROM runs ORDER BY id DESC LIMIT 1"),
            ["complete"]
        );
    }
}

/// `indexer watch --json | head -1`: once stdout's reader has gone, the
/// next build's line meets a broken pipe and the watch ends with 0, as any
/// command whose reader went away, its build committed first.
#[test]
fn a_watch_whose_reader_went_away_ends_with_0() {
    let project = small_project();
    let mut child = project
        .indexer()
        .args(["watch", "--json", "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting indexer watch");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains(r#""trigger":"start""#), "{first}");
    drop(stdout);
    util::edit(
        &project,
        "src/area.cpp",
        "#include \"shapes.h\"\nnamespace geo {\nint area(int w, int h) { return w * h; }\nint perimeter(int w, int h) { return 2 * (w + h); }\n}\n",
    );
    // A bound on the wait, not a timing assertion.
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the watch did not end without its reader"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stdout's reader went away"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(found(&project, "geo::perimeter"), ["geo::perimeter"]);
    project.assert_integrity();
    project.assert_no_workers_survive();
}

/// Units that each take a while to parse, so that a build can be caught
/// while its workers index.
fn slow_project(units: usize) -> Project {
    let project = Project::new();
    project.write(
        "include/slow.h",
        "#pragma once\n#include <regex>\n#include <future>\n#include <filesystem>\n#include <map>\n\
         namespace slow { struct Tally { std::map<std::string, int> counts; }; }\n",
    );
    for k in 0..units {
        project.write(
            &format!("src/unit{k:02}.cpp"),
            &format!(
                "#include \"slow.h\"\nnamespace slow {{ int count{k}() {{ Tally t; t.counts[\"k\"] = {k}; return t.counts.size(); }} }}\n"
            ),
        );
    }
    project
}

#[test]
fn sigint_while_building_cancels_the_build_and_exits_130() {
    let project = slow_project(12);
    let mut watch = Watching::start(&project, &["-j", "2"]);
    util::wait_until(PATIENCE, "two units are indexed", || {
        project.indexed_units() >= 2
    });
    let stderr = watch.stderr.clone();
    let pid = watch.pid();
    let (tx, rx) = mpsc::channel();
    // The build's object comes on stdout before the exit.
    let last = std::thread::spawn(move || {
        let build = watch.next_build();
        tx.send(()).unwrap();
        (build, watch)
    });
    // SAFETY: kill(2) on a child of this test that has not exited (it is
    // still indexing: 12 slow units with -j 2).
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let sent = Instant::now();
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the cancelled build's line");
    let (build, watch) = last.join().unwrap();
    assert_eq!(build["trigger"], "start", "{build}");
    assert_eq!(build["status"], "cancelled", "{build}");
    let (code, _) = watch.stop_after(sent);
    let latency = sent.elapsed();
    println!("exited {latency:?} after SIGINT");
    let stderr = stderr.lock().unwrap().clone();
    assert_eq!(code, 130, "{stderr}");
    assert!(latency < Duration::from_secs(2), "took {latency:?} to exit");
    let kept = build["indexed"].as_i64().unwrap();
    assert!(kept < 12, "{build}");
    assert_eq!(project.indexed_units(), kept);
    project.assert_integrity();
    project.assert_no_workers_survive();
    assert_eq!(
        project.column("SELECT status FROM runs ORDER BY id DESC LIMIT 1"),
        ["interrupted"]
    );
    // The next build resumes.
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["indexed"].as_i64().unwrap() + kept, 12, "{summary}");
}

/// A signal as the watch starts (its first look at the project, the first
/// build's discovery and refresh, its first units) ends it within the same
/// limits. (A signal before the process has installed its handlers, in
/// its first milliseconds, kills it as it kills any process.)
#[test]
fn sigint_as_the_watch_starts_exits_130_at_once() {
    for delay_ms in [100, 250, 500] {
        let project = slow_project(12);
        let watch = Watching::start(&project, &["-j", "2"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let (code, latency) = watch.stop(libc::SIGINT);
        println!("SIGINT {delay_ms} ms after the start: exited {latency:?} after it");
        assert_eq!(code, 130);
        assert!(latency < Duration::from_secs(2), "took {latency:?} to exit");
        if project.db().exists() {
            project.assert_integrity();
        }
        project.assert_no_workers_survive();
    }
}

/// Memory stays flat over many builds: 200 edit cycles, each waiting for
/// the build that indexes it (so 200 builds, each with its worker, refresh
/// and commit), with the watch process's resident memory read from /proc
/// after 20 cycles of warm-up and at the end.
#[test]
fn memory_stays_flat_over_200_edit_cycles() {
    const CYCLES: usize = 200;
    const WARM_UP: usize = 20;
    let project = Project::new();
    project.write("src/tiny.c", "int v0(void) { return 0; }\n");
    project.write("src/other.c", "int other(void) { return 1; }\n");
    let mut watch = Watching::start(&project, &["-j", "1", "--debounce", "20"]);
    watch.started();
    let started = Instant::now();
    let mut warm = 0;
    for cycle in 1..=CYCLES {
        util::edit(
            &project,
            "src/tiny.c",
            &format!("int v{cycle}(void) {{ return {cycle}; }}\n"),
        );
        let build = watch.build_where("the edit was indexed", |b| b["indexed"] == 1);
        assert_eq!(build["status"], "complete", "{build}");
        assert_eq!(build["symbols"], 2, "cycle {cycle}: {build}");
        if cycle == WARM_UP {
            warm = watch.rss_kib();
        }
    }
    let end = watch.rss_kib();
    let elapsed = started.elapsed();
    println!(
        "{CYCLES} cycles in {elapsed:?}: RSS {warm} KiB after {WARM_UP}, {end} KiB at the end"
    );
    assert_eq!(found(&project, "v*"), [format!("v{CYCLES}")]);
    assert!(
        end < warm + 2048,
        "the watch grew by {} KiB over {} cycles",
        end as i64 - warm as i64,
        CYCLES - WARM_UP
    );
    stop_idle(&project, watch);
}

/// A build that finds the index locked by another build (here the test
/// holds the lock, as a concurrent `indexer build` would) is reported and
/// tried again a second later with the same changes.
#[test]
fn a_build_locked_out_by_another_is_tried_again() {
    use std::os::fd::AsRawFd;
    let project = small_project();
    let mut watch = Watching::start(&project, &["-j", "1", "--debounce", "50"]);
    watch.started();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(project.path(".indexer/index.db.lock"))
        .unwrap();
    // SAFETY: flock on a descriptor this test owns; released when dropped.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    util::edit(&project, "src/main.cpp", "int main() { return 7; }\n");
    let failed = watch.next_build();
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("another build"),
        "{failed}"
    );
    assert_eq!(changed(&project, &failed), ["src/main.cpp"], "{failed}");
    drop(lock);
    let build = watch.build_where("the edit was indexed", |b| b["status"] == "complete");
    assert_eq!(changed(&project, &build), ["src/main.cpp"], "{build}");
    assert_eq!(build["indexed"], 1, "{build}");
    stop_idle(&project, watch);
}

/// The library as a server's `--watch` drives it: `watch::run` on a thread
/// of its own, its builds told to a `WatchObserver`, stopped by a `Stop`.
#[test]
fn a_front_end_watches_through_the_library_and_stops_it() {
    use indexer::build::{BuildSettings, Ending, Signal};
    use indexer::observe::Observer;
    use indexer::watch::{self, Trigger, WatchEvent, WatchObserver, WatchOptions};

    struct Builds(mpsc::Sender<(bool, u64)>);
    impl Observer for Builds {}
    impl WatchObserver for Builds {
        fn watch_event(&mut self, event: &WatchEvent<'_>) {
            if let WatchEvent::Built { trigger, outcome } = event {
                assert_eq!(outcome.ending, Ending::Complete);
                let _ = self
                    .0
                    .send((**trigger == Trigger::Start, outcome.summary.indexed));
            }
        }
    }

    let project = small_project();
    let mut settings = BuildSettings::new(project.root());
    settings.jobs = Some(1);
    settings.worker_program = Some(env!("CARGO_BIN_EXE_indexer").into());
    let mut options = WatchOptions::new(settings.validate().unwrap());
    options.quiet = Duration::from_millis(50);
    let stop = watch::Stop::new();
    let (tx, built) = mpsc::channel();
    let watching = {
        let stop = stop.clone();
        std::thread::spawn(move || watch::run(&options, &stop, &mut Builds(tx)))
    };
    assert_eq!(built.recv_timeout(PATIENCE).unwrap(), (true, 2));
    util::edit(&project, "src/area.cpp", "int area_only() { return 1; }\n");
    assert_eq!(built.recv_timeout(PATIENCE).unwrap(), (false, 1));
    assert_eq!(stop.build_phase(), None);
    let sent = Instant::now();
    stop.stop(Signal::Terminate);
    let stopped = watching.join().unwrap().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(stopped.signal, Signal::Terminate);
    assert_eq!(stopped.builds, 2);
    assert_eq!(found(&project, "area_only"), ["area_only"]);
}

/// Edits made while a build runs wait for it, and all make one next build.
#[test]
fn edits_during_a_build_make_one_next_build() {
    let project = slow_project(6);
    let mut watch = Watching::start(&project, &["-j", "1", "--debounce", "50"]);
    watch.started();
    // The shared header: every unit is indexed again, one at a time.
    util::edit(
        &project,
        "include/slow.h",
        "#pragma once\n#include <regex>\n#include <future>\n#include <filesystem>\n#include <map>\n\
         namespace slow { struct Tally { std::map<std::string, int> counts; int extra; }; }\n",
    );
    let pending = || {
        project
            .try_count_db(
                &project.db(),
                "SELECT count(*) FROM units WHERE state = 'pending'",
            )
            .unwrap_or(0)
    };
    util::wait_until(PATIENCE, "the header's build has indexed a unit", || {
        (1..6).contains(&pending())
    });
    for k in [1, 3, 5] {
        util::edit(
            &project,
            &format!("src/unit{k:02}.cpp"),
            &format!(
                "#include \"slow.h\"\nnamespace slow {{ int during{k}() {{ return {k}; }} }}\n"
            ),
        );
    }
    // Units of the header's build are left: the edits came while it ran
    // (each unit takes a good fraction of a second).
    assert!(pending() > 0, "the header's build ended before the edits");
    let header = watch.next_build();
    assert_eq!(changed(&project, &header), ["include/slow.h"], "{header}");
    let next = watch.next_build();
    let mut paths = changed(&project, &next);
    paths.sort();
    assert_eq!(
        paths,
        ["src/unit01.cpp", "src/unit03.cpp", "src/unit05.cpp"],
        "{next}"
    );
    // A unit edited before the header's build reached it may have been
    // indexed by it already, with the edit.
    assert!(next["indexed"].as_i64() <= Some(3), "{next}");
    assert_eq!(
        found(&project, "slow::during*"),
        ["slow::during1", "slow::during3", "slow::during5"]
    );
    if let Some(extra) = watch.next_build_within(Duration::from_secs(2)) {
        panic!("a third build: {extra}");
    }
    stop_idle(&project, watch);
}
