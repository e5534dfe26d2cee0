//! `indexer mcp` driven by an independent client, the official Python MCP
//! SDK (`tests/mcp/client.py`, in the virtual environment that
//! `.ci/install-deps` makes), over stdio and Streamable HTTP. The script
//! holds the scenarios and their exact expected answers; each test here
//! runs one scenario on a fresh copy of a testdata project and checks that
//! it passed and that no process it started (server, build, workers)
//! survives it.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{stderr, Project};

/// The SDK's interpreter. Missing is a failure, never a skip: the MCP
/// tests would otherwise pass by testing nothing.
fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run .ci/install-deps (it installs the Python MCP SDK the MCP tests drive the server with)",
        python.display()
    );
    python
}

/// Runs `client.py SCENARIO` on a copy of `testdata/<testdata>` and fails
/// with its report unless every check passed.
fn scenario(scenario: &str, testdata: &str, transport: &str, mode: &str) {
    let project = Project::from_testdata(testdata);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    // Through the harness's command, for its environment: the tag that
    // marks every process started (server, build, workers), no fault.
    let harness = project.indexer();
    let mut command = Command::new(python());
    command.current_dir(project.root()).arg(script).args([
        scenario,
        "--indexer",
        env!("CARGO_BIN_EXE_indexer"),
        "--project",
        &project.root().to_string_lossy(),
        "--transport",
        transport,
        "--mode",
        mode,
    ]);
    for (key, value) in harness.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let output = command.output().expect("run tests/mcp/client.py");
    assert!(
        output.status.success(),
        "{scenario} over {transport} ({mode}) failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    project.assert_no_workers_survive();
}

#[test]
fn every_tool_answers_over_stdio() {
    scenario("tools", "demo", "stdio", "legacy");
}

/// The 2026-07-28 protocol: `server/discover` instead of `initialize`.
#[test]
fn every_tool_answers_over_stdio_without_a_handshake() {
    scenario("tools", "demo", "stdio", "auto");
}

#[test]
fn every_tool_answers_over_streamable_http() {
    scenario("tools", "demo", "http", "legacy");
}

#[test]
fn every_tool_answers_over_stateless_streamable_http() {
    scenario("tools", "demo", "http", "auto");
}

#[test]
fn queries_answer_during_a_build_with_partial_over_stdio() {
    scenario("partial", "demo", "stdio", "legacy");
}

#[test]
fn queries_answer_during_a_build_with_partial_over_streamable_http() {
    scenario("partial", "demo", "http", "legacy");
}

#[test]
fn a_cancelled_refresh_stops_its_build_over_stdio() {
    scenario("cancel", "demo", "stdio", "legacy");
}

#[test]
fn a_cancelled_refresh_stops_its_build_over_stateless_streamable_http() {
    scenario("cancel", "demo", "http", "auto");
}

#[test]
fn a_foreign_origin_is_refused() {
    scenario("origin", "demo", "http", "legacy");
}

#[test]
fn mcp_watch_keeps_the_index_fresh_over_stdio() {
    scenario("watch", "demo", "stdio", "legacy");
}

#[test]
fn mcp_watch_keeps_the_index_fresh_over_streamable_http() {
    scenario("watch", "demo", "http", "legacy");
}
