//! The server's child processes (`refresh_index`'s `indexer build`,
//! `--watch`'s `indexer watch`): how they are started and owned, so that
//! none outlives the server.
//!
//! A child runs in its own process group (a terminal's Ctrl-C reaches the
//! server, which decides) and gets SIGTERM if the thread that started it
//! dies (`PR_SET_PDEATHSIG`): it must be started from a thread that lives
//! as long as the server (the runtime's worker threads, or the main thread
//! inside `block_on`). One task owns the child from spawn to reaping
//! ([`Owner`]) and forwards the signals the rest of the server sends
//! through a [`Handle`], so a child can only be signalled while it exists
//! (never a reused pid).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

/// What the rest of the server holds of a child: a way to signal it, and
/// to learn that it was reaped.
#[derive(Clone)]
pub(super) struct Handle {
    signals: mpsc::UnboundedSender<i32>,
    /// Becomes true once the child is reaped.
    ended: watch::Receiver<bool>,
}

impl Handle {
    /// Sends `signal` to the child, unless it was reaped already.
    pub(super) fn signal(&self, signal: i32) {
        let _ = self.signals.send(signal);
    }

    /// Sends SIGTERM and waits until the child is reaped (a build commits
    /// what it indexed, a watch stops, as on the command line's SIGTERM).
    pub(super) async fn terminate(&self) {
        self.signal(libc::SIGTERM);
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|ended| *ended).await;
    }
}

/// What the task that owns a child holds: the signals to forward. Dropping
/// it tells every [`Handle`] that the child ended, so the owner drops it
/// only once the child is reaped.
pub(super) struct Owner {
    pid: i32,
    signals: mpsc::UnboundedReceiver<i32>,
    ended: watch::Sender<bool>,
}

impl Owner {
    /// Waits for `child` to exit, forwarding the signals sent meanwhile.
    pub(super) async fn wait(&mut self, child: &mut Child) -> std::io::Result<ExitStatus> {
        loop {
            tokio::select! {
                status = child.wait() => return status,
                Some(signal) = self.signals.recv() => {
                    // SAFETY: the child is not reaped yet (only this
                    // owner's wait reaps it), so `pid` is still its own.
                    unsafe { libc::kill(self.pid, signal) };
                }
            }
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.ended.send(true);
    }
}

/// Starts `exe ARGS` with stdin closed and stdout and stderr piped (the
/// caller reads both, or the child may block on a full pipe).
pub(super) fn spawn(
    exe: &Path,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> std::io::Result<(Child, Handle, Owner)> {
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: prctl with integer arguments only, async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
            Ok(())
        });
    }
    let child = command.spawn()?;
    let pid = child.id().expect("not yet reaped") as i32;
    let (signals_tx, signals) = mpsc::unbounded_channel();
    let (ended_tx, ended) = watch::channel(false);
    let handle = Handle {
        signals: signals_tx,
        ended,
    };
    let owner = Owner {
        pid,
        signals,
        ended: ended_tx,
    };
    Ok((child, handle, owner))
}
