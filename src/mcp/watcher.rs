//! `indexer mcp --watch`: `indexer watch` run as a child process of the
//! server for as long as it serves, which keeps the index fresh as files
//! change (a first incremental build, then one per burst of changes).
//!
//! The watch is the command line's, unchanged (inotify, debounce, lock), in
//! a process of its own for the reason the server never builds in its own:
//! a unit that crashes or exhausts memory costs a worker, never the server.
//! It is owned as `refresh_index`'s build is (`child`): own process group,
//! `PR_SET_PDEATHSIG`, SIGTERM at the server's end and waited for (a build
//! in progress then commits what it indexed). It is started on the main
//! thread, inside the runtime's `block_on`, which lives as long as the
//! server.
//!
//! A watcher that dies (killed, or its first build refused: a compilation
//! database it cannot read) is not restarted, since what ended it would
//! likely end the next one too: the server goes on serving what the index
//! holds, `get_index_status` says why the watch stopped, and
//! `refresh_index`, refused while the watcher runs, builds again.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};

use super::child::{self, Handle};

/// The lines of the watcher's stderr kept to explain its end: the last
/// ones (the error, if any, is among them), so that memory stays flat
/// however long it runs.
const LAST_LINES: usize = 5;

/// The server's watcher.
pub(crate) struct Watcher {
    /// `None` while it watches; why it stopped, once it has.
    stopped: Arc<Mutex<Option<String>>>,
    child: Handle,
}

impl Watcher {
    /// Starts `indexer watch PROJECT --db DB --quiet`: no line per build
    /// (the index's last run says how the last one went), errors still
    /// printed.
    pub(crate) fn start(exe: &Path, project: &Path, db: &Path) -> std::io::Result<Watcher> {
        let args = [
            "watch".as_ref(),
            project.as_os_str(),
            "--db".as_ref(),
            db.as_os_str(),
            "--quiet".as_ref(),
        ];
        let (mut child, handle, mut owner) = child::spawn(exe, args)?;
        let stopped = Arc::new(Mutex::new(None));
        let slot = stopped.clone();
        let stderr = child.stderr.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        tokio::spawn(async move {
            let last_lines = tokio::spawn(async move {
                let mut last = VecDeque::with_capacity(LAST_LINES);
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if last.len() == LAST_LINES {
                        last.pop_front();
                    }
                    last.push_back(line);
                }
                last
            });
            // Nothing is expected there with --quiet; drained all the same,
            // so that the watcher can never block on a full pipe.
            let drained = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
            });
            let status = owner.wait(&mut child).await;
            let last_lines = last_lines.await.unwrap_or_default();
            let _ = drained.await;
            *slot.lock().expect("not poisoned") = Some(stop_reason(status, &last_lines));
            // Only now: whoever waits for the end reads the reason.
            drop(owner);
        });
        Ok(Watcher {
            stopped,
            child: handle,
        })
    }

    /// Why the watch stopped, or `None` while it runs.
    pub(crate) fn stopped(&self) -> Option<String> {
        self.stopped.lock().expect("not poisoned").clone()
    }

    /// Stops the watch (a build in progress commits what it indexed) and
    /// waits for it to end.
    pub(crate) async fn shutdown(&self) {
        self.child.terminate().await;
    }
}

/// Why a watcher that exited with `status`, its stderr ending with
/// `last_lines`, stopped: for a model, with what to do instead.
fn stop_reason(status: std::io::Result<ExitStatus>, last_lines: &VecDeque<String>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let ended = match status {
        Err(e) => format!("cannot be waited for ({e})"),
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => format!("ended ({status})"),
        },
    };
    let errors: Vec<&str> = last_lines
        .iter()
        .filter_map(|line| line.strip_prefix("error: "))
        .collect();
    let said = if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    };
    format!(
        "the watcher (`indexer watch`) {ended}{said}. The index is no longer kept fresh: \
         call refresh_index after edits, or restart the server to watch again"
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn a_stopped_watcher_says_why_and_what_to_do() {
        let lines = VecDeque::from(["note".to_string(), "error: invalid JSON".to_string()]);
        let refused = stop_reason(Ok(ExitStatus::from_raw(2 << 8)), &lines);
        assert!(
            refused.contains("exited with status 2: invalid JSON."),
            "{refused}"
        );
        assert!(refused.contains("call refresh_index"), "{refused}");
        let killed = stop_reason(Ok(ExitStatus::from_raw(libc::SIGKILL)), &VecDeque::new());
        assert!(
            killed.contains("was killed by signal 9. The index"),
            "{killed}"
        );
    }
}
