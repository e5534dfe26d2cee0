//! `refresh_index`: `indexer build` run as a child process of the server,
//! one at a time.
//!
//! The build is the command line's, unchanged (supervisor, workers, lock):
//! the server starts `indexer build PROJECT --db DB --json --progress json`
//! and reads its stderr (one JSON object per progress change, other lines
//! for people) and its stdout (the summary). A task of its own owns the
//! child from spawn to reaping (`child`: its own process group,
//! `PR_SET_PDEATHSIG`; it is started from a tool's task, on one of the
//! runtime's worker threads, which live as long as the server), and the
//! build survives the request that started it being dropped only as long
//! as it takes to stop it: a request cancelled or gone sends SIGINT (the
//! build stops dispatch and keeps what it indexed), the server's end sends
//! SIGTERM and waits.

use std::future::Future;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use indexer::index::BuildLock;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::{oneshot, watch};

use super::answers::{Progress, RefreshMode, Refreshed, ToolError};
use super::child::{self, Handle, Owner};

/// The lines for people a result carries at most (a project with a
/// warning per compile command would otherwise flood the answer).
const MAX_NOTES: usize = 20;

/// This server's build, if one runs.
#[derive(Default)]
pub(crate) struct Builds {
    current: Arc<Mutex<Option<Running>>>,
}

/// A build in progress, as the rest of the server sees it.
struct Running {
    progress: watch::Receiver<Progress>,
    /// The child; it is reaped before the slot clears.
    child: Handle,
}

/// A build started for one request: its progress, and its result.
pub(crate) struct Build {
    progress: watch::Receiver<Progress>,
    result: oneshot::Receiver<Result<Refreshed, ToolError>>,
    /// Stops the build if the request goes away before it ends.
    guard: StopOnDrop,
}

/// Sends the build SIGINT when dropped, unless disarmed: a request that was
/// cancelled, or whose client went away, does not leave a build running.
struct StopOnDrop {
    child: Option<Handle>,
}

impl StopOnDrop {
    fn stop(&self) {
        if let Some(child) = &self.child {
            child.signal(libc::SIGINT);
        }
    }

    fn disarm(&mut self) {
        self.child = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Build {
    /// Waits for the build's answer. `report` is called with each new
    /// count of units done (increasing, as MCP progress must), the last
    /// one before the answer; `cancelled` resolving stops the build, whose
    /// answer (status `cancelled`) still comes.
    pub(crate) async fn answer<F: Future<Output = ()>>(
        mut self,
        cancelled: impl Future<Output = ()>,
        mut report: impl FnMut(Progress) -> F,
    ) -> Result<Refreshed, ToolError> {
        let mut reported = None;
        let mut stopping = false;
        tokio::pin!(cancelled);
        let outcome = loop {
            tokio::select! {
                // Progress first: the last counts go out before the answer.
                biased;
                Ok(()) = self.progress.changed() => {
                    let progress = *self.progress.borrow_and_update();
                    if reported < Some(progress.done) {
                        reported = Some(progress.done);
                        report(progress).await;
                    }
                }
                outcome = &mut self.result => break outcome,
                () = &mut cancelled, if !stopping => {
                    stopping = true;
                    self.guard.stop();
                }
            }
        };
        self.guard.disarm();
        let answer = outcome.unwrap_or_else(|_| {
            Err(ToolError::new(
                "the build's supervision ended without an answer",
            ))
        });
        // The build prints its counts every 50 ms, not at its end: the
        // summary has the final ones.
        if let Ok(summary) = &answer {
            let done = summary.indexed + summary.failed;
            if reported < Some(done) {
                let total = self.progress.borrow().total.max(done);
                report(Progress {
                    done,
                    failed: summary.failed,
                    total,
                })
                .await;
            }
        }
        answer
    }
}

impl Builds {
    /// How far this server's build got, if one runs.
    pub(crate) fn progress(&self) -> Option<Progress> {
        let current = self.current.lock().expect("not poisoned");
        current.as_ref().map(|running| *running.progress.borrow())
    }

    /// Starts a build, unless one runs already (this server's, or another
    /// process's: the index's lock says).
    pub(crate) fn start(
        &self,
        exe: &Path,
        project: &Path,
        db: &Path,
        mode: RefreshMode,
    ) -> Result<Build, ToolError> {
        let mut current = self.current.lock().expect("not poisoned");
        if let Some(running) = current.as_ref() {
            let p = *running.progress.borrow();
            return Err(ToolError::new(format!(
                "refresh_index is already running ({} of {} units done, {} failed): one build at a time. \
                 Queries answer meanwhile from what it has committed, with partial: true; \
                 call get_index_status to follow it, and refresh_index again once it has ended.",
                p.done, p.total, p.failed
            )));
        }
        if BuildLock::is_held(db) {
            return Err(ToolError::new(format!(
                "another process is building {} (an `indexer build` outside this server): one build at a time. \
                 Queries answer meanwhile with partial: true; call refresh_index again once get_index_status \
                 says build_running: false.",
                db.display()
            )));
        }
        let mut args = vec![
            "build".as_ref(),
            project.as_os_str(),
            "--db".as_ref(),
            db.as_os_str(),
            "--json".as_ref(),
            "--progress".as_ref(),
            "json".as_ref(),
        ];
        if mode == RefreshMode::Full {
            args.push("--full".as_ref());
        }
        let (child, handle, owner) = child::spawn(exe, args).map_err(|e| {
            ToolError::new(format!(
                "cannot start `{} build`: {e}; the server cannot build, but queries still answer",
                exe.display()
            ))
        })?;
        let (progress_tx, progress) = watch::channel(Progress::default());
        let (result_tx, result) = oneshot::channel();
        *current = Some(Running {
            progress: progress.clone(),
            child: handle.clone(),
        });
        let slot = self.current.clone();
        tokio::spawn(async move {
            let outcome = supervise(child, owner, progress_tx).await;
            *slot.lock().expect("not poisoned") = None;
            let _ = result_tx.send(outcome);
        });
        Ok(Build {
            progress,
            result,
            guard: StopOnDrop {
                child: Some(handle),
            },
        })
    }

    /// Stops this server's build, if one runs, and waits for it to end
    /// (the build commits what it indexed, as on `indexer build`'s SIGTERM).
    pub(crate) async fn shutdown(&self) {
        let child = {
            let current = self.current.lock().expect("not poisoned");
            current.as_ref().map(|running| running.child.clone())
        };
        if let Some(child) = child {
            child.terminate().await;
        }
    }
}

/// Owns the child until it is reaped: forwards signals to it, reads its
/// progress and notes, and turns its exit into the tool's answer.
async fn supervise(
    mut child: tokio::process::Child,
    mut owner: Owner,
    progress: watch::Sender<Progress>,
) -> Result<Refreshed, ToolError> {
    let stderr = child.stderr.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let lines = tokio::spawn(async move {
        let mut notes = Vec::new();
        let mut errors = Vec::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(p) = serde_json::from_str::<Progress>(&line) {
                let _ = progress.send(p);
            } else if let Some(error) = line.strip_prefix("error: ") {
                errors.push(error.to_owned());
            } else if notes.len() < MAX_NOTES {
                notes.push(line);
            }
        }
        (notes, errors)
    });
    let summary = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text).await;
        text
    });
    let status = owner.wait(&mut child).await;
    // Reaped: whoever waits for the build's end may go on.
    drop(owner);
    let (notes, errors) = lines.await.unwrap_or_default();
    let summary = summary.await.unwrap_or_default();
    let status = status.map_err(|e| ToolError::new(format!("cannot wait for the build: {e}")))?;
    answer(status, &summary, notes, &errors)
}

/// The tool's answer for a build that exited with `status`, printed
/// `summary` on stdout and `notes` and `errors` on stderr.
fn answer(
    status: ExitStatus,
    summary: &str,
    notes: Vec<String>,
    errors: &[String],
) -> Result<Refreshed, ToolError> {
    use std::os::unix::process::ExitStatusExt;
    let refreshed = serde_json::from_str::<Refreshed>(summary.trim()).ok();
    let error = errors.join("; ");
    match (status.code(), refreshed) {
        // Complete (0), cancelled (130, 143): the summary says which.
        (Some(0 | 130 | 143), Some(mut refreshed)) => {
            refreshed.notes = notes;
            Ok(refreshed)
        }
        (Some(2), _) => Err(ToolError::new(format!(
            "the build refused the project's settings: {error}. Fix what it names (e.g. the project's \
             compile_commands.json) and call refresh_index again."
        ))),
        (Some(code), _) => Err(ToolError::new(format!(
            "the build failed (exit status {code}): {}. What it committed is kept; \
             get_index_status tells what the index holds.",
            if error.is_empty() { "no reason given" } else { &error }
        ))),
        (None, _) => Err(ToolError::new(format!(
            "the build was killed by signal {}. What it committed is kept; call refresh_index to resume.",
            status.signal().unwrap_or(0)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    const SUMMARY: &str = r#"{"status":"cancelled","files_total":3,"indexed":1,"unchanged":0,"failed":0,"removed":0,"quarantined":0,"folded":0,"source":"walk","symbols":9,"references":20,"elapsed_s":0.5,"workers_spawned":2}"#;

    /// `ExitStatus` from what waitpid reports: an exit code, or a signal.
    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn a_cancelled_build_is_an_answer_with_its_notes() {
        let refreshed = answer(exited(130), SUMMARY, vec!["using x".into()], &[]).unwrap();
        assert_eq!(refreshed.status, super::super::answers::Ending::Cancelled);
        assert_eq!((refreshed.indexed, refreshed.symbols), (1, 9));
        assert_eq!(refreshed.notes, ["using x"]);
    }

    #[test]
    fn a_failed_build_is_a_tool_error_with_its_reason() {
        let refused = answer(
            exited(2),
            "",
            vec![],
            &["invalid compile_commands.json".into()],
        );
        assert!(refused
            .unwrap_err()
            .0
            .contains("refused the project's settings: invalid compile_commands.json"));
        // A fatal build prints its summary too; it is still an error.
        let fatal = answer(exited(1), SUMMARY, vec![], &["the disk is full".into()]);
        assert!(fatal
            .unwrap_err()
            .0
            .contains("exit status 1): the disk is full"));
        let killed = answer(ExitStatus::from_raw(libc::SIGKILL), "", vec![], &[]);
        assert!(killed.unwrap_err().0.contains("killed by signal 9"));
    }
}
