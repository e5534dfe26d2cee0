//! Cancellation and durability: a build stopped by SIGINT or SIGTERM (once or
//! twice) or killed outright leaves a consistent index, no worker behind,
//! and a next build that indexes exactly what is left and ends with the same
//! index as an uninterrupted build. While a build runs, queries work and a
//! second build is refused with the running one's pid.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{self, Project};

/// Units in the slow project: with -j 2 a build takes a few seconds.
const UNITS: i64 = 36;

/// `UNITS` units that each include a few heavy standard headers, so each
/// takes a few hundred milliseconds to parse; indexed by walking the project.
/// `<regex>`, `<future>` and `<filesystem>` are not in the prelude (see
/// `prelude.rs`), so units stay slow with it.
fn slow_project() -> Project {
    let project = Project::new();
    project.write(
        "include/slow/common.h",
        "#pragma once\n#include <map>\n#include <string>\n#include <vector>\n#include <algorithm>\n\
         #include <regex>\n#include <future>\n#include <filesystem>\n\
         namespace slow {\nstruct Tally {\n    std::map<std::string, int> counts;\n    int add(const std::string& key);\n};\n}\n",
    );
    for k in 1..=UNITS {
        project.write(
            &format!("src/unit{k:02}.cpp"),
            &format!(
                "#include \"slow/common.h\"\n\n\
                 namespace slow {{\n\
                 int count{k}(const std::vector<int>& values) {{\n\
                 \x20   Tally tally;\n\
                 \x20   tally.counts[\"k\"] = {k};\n\
                 \x20   return static_cast<int>(std::count(values.begin(), values.end(), tally.counts[\"k\"]));\n\
                 }}\n\
                 }}\n"
            ),
        );
    }
    project
}

/// The snapshot of an uninterrupted build of the slow project. Snapshots
/// show project files relative to the root, so one reference serves every
/// test's copy of the project.
fn reference() -> &'static str {
    static REFERENCE: OnceLock<String> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let project = slow_project();
        let started = Instant::now();
        let summary = project.build(&["-j", "2"]);
        println!(
            "uninterrupted build of {UNITS} slow units: {:?} ({}s by the summary)",
            started.elapsed(),
            summary["elapsed_s"]
        );
        assert_eq!(summary["indexed"], UNITS, "{summary}");
        assert_eq!(summary["failed"], 0, "{summary}");
        util::snapshot(&project)
    })
}

/// Where in the build the signal is sent.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// 100 ms after the process started.
    Early,
    /// Once a third of the units are in the index.
    Mid,
    /// Once two thirds of the units are in the index (with commits every
    /// half second, later would risk seeing the build end first).
    Late,
}

/// Starts a build of `project` and waits until `point`.
fn start_build(project: &Project, point: Point) -> util::Running {
    let build = project.spawn(&["build", "--json", "-j", "2"], &[]);
    let enough = match point {
        Point::Early => {
            std::thread::sleep(Duration::from_millis(100).saturating_sub(build.started.elapsed()));
            return build;
        }
        Point::Mid => UNITS / 3,
        Point::Late => UNITS * 2 / 3,
    };
    util::wait_until(
        Duration::from_secs(120),
        &format!("{enough} units are indexed"),
        || project.indexed_units() >= enough,
    );
    build
}

/// Sends `signals` (the second one `gap` after the first) and waits for the
/// build to exit; returns its output and the latency from the first signal.
fn interrupt(
    mut build: util::Running,
    signals: &[i32],
    gap: Duration,
) -> (std::process::Output, Duration) {
    assert!(
        !build.exited(),
        "the build finished before it could be interrupted"
    );
    let sent = Instant::now();
    for (i, &signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(gap);
        }
        build.signal(signal);
    }
    let (output, exited) = build.wait(Duration::from_secs(30));
    (output, exited - sent)
}

/// `status` of the last row of the runs table.
fn last_run_status(project: &Project) -> String {
    project
        .column("SELECT status FROM runs ORDER BY id DESC LIMIT 1")
        .pop()
        .expect("a run row")
}

/// Resumes with a plain build: it must index exactly the `UNITS - before`
/// units left, and end with the reference index.
#[track_caller]
fn assert_resume_completes(project: &Project, before: i64) {
    let summary = project.build(&["-j", "2"]);
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let after = summary["indexed"].as_i64().unwrap();
    assert_eq!(
        before + after,
        UNITS,
        "{before} indexed before the interruption, {after} by the resume: {summary}"
    );
    assert_eq!(summary["unchanged"].as_i64(), Some(before), "{summary}");
    let snapshot = util::snapshot(project);
    let expected = reference();
    assert!(
        snapshot == expected,
        "resumed index differs from a full build:\n{}",
        util::snapshot_diff(expected, &snapshot)
    );
    project.assert_integrity();
    project.assert_no_workers_survive();
}

/// The checks every graceful cancellation must pass; returns the number of
/// units it kept.
#[track_caller]
fn assert_cancelled(
    project: &Project,
    output: &std::process::Output,
    latency: Duration,
    code: i32,
    what: &str,
) -> i64 {
    println!("{what}: exited {latency:?} after the signal");
    assert_eq!(
        util::exit_code(output),
        code,
        "{what}: stderr:\n{}",
        util::stderr(output)
    );
    assert!(
        latency < Duration::from_secs(2),
        "{what}: took {latency:?} to exit"
    );
    let summary = util::parse_json(output);
    assert_eq!(summary["status"], "cancelled", "{what}: {summary}");
    assert!(
        util::stderr(output).contains("run `indexer build` again to resume"),
        "{what}: {}",
        util::stderr(output)
    );
    project.assert_no_workers_survive();
    project.assert_integrity();
    assert_eq!(last_run_status(project), "interrupted", "{what}");
    let before = summary["indexed"].as_i64().unwrap();
    assert!(before < UNITS, "{what}: nothing was left to do: {summary}");
    assert_eq!(
        project.indexed_units(),
        before,
        "{what}: the summary's count is not what the index holds"
    );
    before
}

/// SIGINT early, mid-run and late: exit 130 at once, nothing lost, and a resume completes the index.
#[test]
fn sigint_at_any_point_exits_130_and_the_build_resumes() {
    reference();
    for point in [Point::Early, Point::Mid, Point::Late] {
        let project = slow_project();
        let build = start_build(&project, point);
        let (output, latency) = interrupt(build, &[libc::SIGINT], Duration::ZERO);
        let before = assert_cancelled(
            &project,
            &output,
            latency,
            130,
            &format!("SIGINT {point:?}"),
        );
        assert_resume_completes(&project, before);
    }
}

/// SIGTERM mid-run: exit 143 at once, nothing lost, and a resume completes the index.
#[test]
fn sigterm_exits_143_and_the_build_resumes() {
    reference();
    let project = slow_project();
    let build = start_build(&project, Point::Mid);
    let (output, latency) = interrupt(build, &[libc::SIGTERM], Duration::ZERO);
    let before = assert_cancelled(&project, &output, latency, 143, "SIGTERM mid-run");
    assert_resume_completes(&project, before);
}

/// A second SIGINT 20 ms after the first exits at once (130) and the index stays sound and resumable.
#[test]
fn double_sigint_exits_at_once_and_the_build_resumes() {
    reference();
    let project = slow_project();
    let build = start_build(&project, Point::Mid);
    let (output, latency) = interrupt(
        build,
        &[libc::SIGINT, libc::SIGINT],
        Duration::from_millis(20),
    );
    println!("double SIGINT: exited {latency:?} after the first signal");
    assert_eq!(
        util::exit_code(&output),
        130,
        "stderr:\n{}",
        util::stderr(&output)
    );
    assert!(latency < Duration::from_secs(2), "took {latency:?} to exit");
    project.assert_no_workers_survive();
    project.assert_integrity();
    let status = project.status_json(&[]);
    assert_eq!(status["last_run"]["status"], "interrupted", "{status}");
    assert_resume_completes(&project, project.indexed_units());
}

/// SIGKILL of the supervisor mid-run: the index stays sound, the run reads as interrupted, and a resume completes it.
#[test]
fn sigkill_mid_run_leaves_a_sound_resumable_index() {
    reference();
    let project = slow_project();
    let build = start_build(&project, Point::Mid);
    let (output, _) = interrupt(build, &[libc::SIGKILL], Duration::ZERO);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&output.status),
        Some(libc::SIGKILL)
    );
    project.assert_no_workers_survive();
    project.assert_integrity();
    let status = project.status_json(&[]);
    assert_eq!(status["last_run"]["status"], "interrupted", "{status}");
    assert_eq!(
        status["units_indexed"].as_i64(),
        Some(project.indexed_units()),
        "{status}"
    );
    assert_resume_completes(&project, project.indexed_units());
}

/// While a build runs, queries and status work, and a second build is refused naming the running pid.
#[test]
fn queries_work_during_a_build_and_a_second_build_is_refused() {
    reference();
    let project = slow_project();
    let build = start_build(&project, Point::Mid);

    let status = project.status_json(&[]);
    assert_eq!(status["last_run"]["status"], "running", "{status}");
    assert!(
        status["units_indexed"].as_i64().unwrap() >= UNITS / 3,
        "{status}"
    );
    // Issue 17: how far the running build is, from its committed rows.
    assert_eq!(status["build_running"], true, "{status}");
    let progress = &status["build_progress"];
    assert_eq!(progress["units_total"], UNITS, "{status}");
    assert_eq!(progress["units_done"], status["units_indexed"], "{status}");
    assert_eq!(
        progress["units_done"].as_i64().unwrap() + progress["units_pending"].as_i64().unwrap(),
        UNITS,
        "{status}"
    );
    // A first build is a bulk load: the query indexes come at its end.
    assert_eq!(status["query_indexes_deferred"], true, "{status}");
    let text = project.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("a first or --full build is running")
            && String::from_utf8_lossy(&text.stdout).contains(&format!("of {UNITS} units indexed")),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let rows = project.query(&["find", "count*"]);
    assert!(
        rows.len() as i64 >= UNITS / 3,
        "find saw {} of the indexed functions: {rows:?}",
        rows.len()
    );

    let second = project.run(&["build", "--json", "-j", "2"]);
    assert_eq!(
        util::exit_code(&second),
        1,
        "stdout:\n{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let message = util::stderr(&second);
    assert!(
        message.contains(&format!("pid {}", build.pid())),
        "the refusal does not name pid {}: {message}",
        build.pid()
    );

    let (output, _) = build.wait(Duration::from_secs(300));
    util::assert_success(&output);
    let summary = util::parse_json(&output);
    assert_eq!(summary["indexed"], UNITS, "{summary}");
    let snapshot = util::snapshot(&project);
    assert!(
        snapshot == reference(),
        "index differs from a full build:\n{}",
        util::snapshot_diff(reference(), &snapshot)
    );
    assert_eq!(last_run_status(&project), "complete");
    assert_eq!(index_names(&project), schema_indexes());
    project.assert_no_workers_survive();
}

/// The secondary indexes of the schema, by name: what every complete index has.
fn schema_indexes() -> Vec<String> {
    let mut names: Vec<String> = include_str!("../../src/schema.sql")
        .lines()
        .filter_map(|line| line.strip_prefix("CREATE INDEX "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn index_names(project: &Project) -> Vec<String> {
    project.column(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
}

/// A first build leaves the query indexes out until its end; interrupted,
/// it leaves them out (status says so, queries still answer), and the
/// resume builds them: the index then has every index of the schema.
#[test]
fn an_interrupted_first_build_leaves_queries_working_and_the_resume_builds_the_indexes() {
    reference();
    let project = slow_project();
    let build = start_build(&project, Point::Mid);
    let (output, latency) = interrupt(build, &[libc::SIGINT], Duration::ZERO);
    let before = assert_cancelled(&project, &output, latency, 130, "SIGINT mid-run");

    assert_eq!(project.status_json(&[])["query_indexes_deferred"], true);
    assert!(!index_names(&project).contains(&"refs_by_symbol".to_owned()));
    let status = project.run(&["status"]);
    util::assert_success(&status);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("an interrupted first or --full build"),
        "status does not say why queries are slow"
    );
    // Scanning, but answering: every indexed unit uses the shared class.
    let uses = project.query(&["refs", "slow::Tally"]);
    assert!(uses.len() as i64 >= before, "{uses:?}");

    assert_resume_completes(&project, before);
    assert_eq!(project.status_json(&[])["query_indexes_deferred"], false);
    assert_eq!(index_names(&project), schema_indexes());
}

/// `--full` on a complete index also rebuilds the query indexes at its end.
#[test]
fn a_full_build_ends_with_every_index_of_the_schema() {
    let project = Project::from_testdata("demo");
    project.build(&[]);
    assert_eq!(index_names(&project), schema_indexes());
    let summary = project.build(&["--full"]);
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(index_names(&project), schema_indexes());
    assert_eq!(project.status_json(&[])["query_indexes_deferred"], false);
    project.assert_integrity();
}

/// Units of the project whose end-of-build work is long.
const HEAVY_UNITS: usize = 24;

/// `HEAVY_UNITS` quick units that each call 2,500 functions: a first build
/// stores 60,000 references, and the query indexes it builds over them at
/// its end (the end-of-build work) take a while.
fn many_references_project() -> Project {
    const FUNCTIONS: usize = 2_500;
    let project = Project::new();
    let mut header = String::from("#pragma once\n");
    for i in 0..FUNCTIONS {
        header.push_str(&format!("int f{i}(int);\n"));
    }
    project.write("include/many.h", &header);
    for k in 0..HEAVY_UNITS {
        let mut unit = format!("#include \"many.h\"\nint use{k}(int x) {{\n    int s = 0;\n");
        for i in 0..FUNCTIONS {
            unit.push_str(&format!("    s += f{i}(x);\n"));
        }
        unit.push_str("    return s;\n}\n");
        project.write(&format!("src/u{k}.cpp"), &unit);
    }
    project
}

/// The names of a live process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the process is stopped (state `T` in `/proc/PID/stat`).
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
    })
}

/// Stops the build (SIGSTOP) every few milliseconds of its run, and leaves
/// it stopped once it is in its end-of-build work: every unit committed,
/// the writer thread gone (joined), and the run not yet recorded. `false`
/// if the build ended first.
fn stop_in_end_of_build(project: &Project, build: &mut util::Running) -> bool {
    let pid = build.pid();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if build.exited() {
            return false;
        }
        build.signal(libc::SIGSTOP);
        let stopping = Instant::now();
        while !is_stopped(pid) && !build.exited() && stopping.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_micros(200));
        }
        let at_the_end = !thread_names(pid).iter().any(|name| name == "writer")
            && project.indexed_units() == HEAVY_UNITS as i64
            && project
                .try_count_db(
                    &project.db(),
                    "SELECT count(*) FROM runs WHERE status = 'running'",
                )
                .unwrap_or(0)
                == 1;
        if at_the_end {
            return true;
        }
        build.signal(libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(3));
    }
    panic!("the build neither ended nor reached its end-of-build work in 120 s");
}

/// Issue 19: a first SIGTERM ends the process at once in every phase. This
/// is the last one, after the dispatch loop: building the query indexes a
/// bulk load deferred, the garbage collection and recording the run. There
/// the index holds every unit and nothing is left to save, so the process
/// exits without finishing that work: the database stays sound, and the
/// next build does what was left (builds the indexes) and ends with the
/// index of an uninterrupted build.
#[test]
fn sigterm_during_the_end_of_build_work_exits_at_once() {
    let project = many_references_project();
    let reference_db = project.path("reference.db");
    let summary = project.build(&["--db", reference_db.to_str().unwrap()]);
    assert_eq!(summary["indexed"], HEAVY_UNITS, "{summary}");
    let reference = util::digest(&project, &reference_db);

    // The window is a fraction of a second; a build that ends before it is
    // seen is tried again (each `--full` build is a bulk load again).
    let mut caught = None;
    for attempt in 1..=3 {
        let mut build = project.spawn(&["build", "--json", "--full", "-j", "2"], &[]);
        if stop_in_end_of_build(&project, &mut build) {
            let deferred = project.try_count_db(
                &project.db(),
                "SELECT count(*) FROM meta WHERE key GLOB 'deferred_index:*'",
            );
            println!("stopped at the end of build {attempt}, {deferred:?} query indexes to build");
            caught = Some(build);
            break;
        }
        let (output, _) = build.wait(Duration::from_secs(30));
        util::assert_success(&output);
    }
    let build = caught.expect("no build was caught in its end-of-build work in 3 tries");
    build.signal(libc::SIGTERM);
    let sent = Instant::now();
    build.signal(libc::SIGCONT);
    build.assert_cancelled_since(sent, Duration::from_secs(30));
    project.assert_integrity();
    project.assert_no_workers_survive();
    // The run was not recorded: its process is gone, `status` reads it as
    // killed. Every unit is in the index.
    assert_eq!(last_run_status(&project), "running");
    assert_eq!(project.indexed_units(), HEAVY_UNITS as i64);

    let summary = project.build(&[]);
    assert_eq!(summary["status"], "complete", "{summary}");
    assert_eq!(summary["indexed"], 0, "{summary}");
    assert_eq!(last_run_status(&project), "complete");
    assert_eq!(index_names(&project), schema_indexes());
    assert_eq!(project.status_json(&[])["query_indexes_deferred"], false);
    project.assert_integrity();
    util::assert_same_digest(
        "after the interrupted end of a build",
        &reference,
        &util::digest(&project, &project.db()),
    );
}
