//! Worker processes: starting one (its own process group, death with the
//! supervisor, the hello), the kill-on-drop guard, and the two threads per
//! worker that read its stdout and stderr.

use std::io::{BufRead, BufReader, BufWriter};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::outcome::{Death, UnitDone};
use super::Config;
use crate::index::WriteOp;
use crate::memory::{Rss, Statm};
use crate::protocol::{
    self, Hello, IndexRequest, Request, Response, SeenFile, UnitId, PROTOCOL_VERSION,
};

/// Lines of a worker's stderr kept to explain its death.
const STDERR_TAIL: usize = 8;
/// How long an exited worker's stderr may take to reach its end. The
/// write end closes with the worker, so this is only ever waited out if
/// the worker left a process behind holding it.
const STDERR_GRACE: Duration = Duration::from_millis(200);

pub(super) type WorkerId = u64;

/// What reader threads tell the loop. Results themselves go to the writer.
pub(super) enum Event {
    /// The worker's handshake: it loaded libclang and can index.
    Ready { worker: WorkerId },
    Parsed {
        worker: WorkerId,
        unit: UnitId,
        files: Vec<SeenFile>,
        bodies_skipped: Vec<u32>,
        understood: Vec<u32>,
        errors: bool,
    },
    /// The worker is done with a unit.
    Finished {
        worker: WorkerId,
        unit: UnitId,
        finish: Finish,
    },
    /// End of the worker's stdout: it exited, was killed, or misbehaved.
    Exited { worker: WorkerId, end: StreamEnd },
}

/// How a worker was done with a unit.
pub(super) enum Finish {
    /// Its results were handed to the writer.
    Indexed(UnitDone),
    /// libclang produced no translation unit; the worker says why.
    Unparsed { reason: String },
}

/// How a worker's stdout stopped being read.
pub(super) enum StreamEnd {
    /// End of stream between frames: the worker exited (or was killed).
    Closed,
    /// Garbage or a protocol mismatch: the worker cannot be trusted.
    Unreadable(String),
    /// The writer thread is gone (its error, e.g. a full disk, is reported
    /// by the caller), so nothing the worker sends can be stored.
    WriterGone,
}

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("starting a worker ({}): {source}", .program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("starting a worker: {0}")]
    Hello(#[source] std::io::Error),
    #[error("starting a reader thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A child process that is killed, with its whole process group, when
/// dropped: no worker outlives the supervisor's handle on it.
pub(super) struct WorkerProcess {
    pub(super) child: Child,
}

impl WorkerProcess {
    pub(super) fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) on the process group we created for this child.
        unsafe {
            libc::kill(-(self.child.id() as i32), signal);
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal_group(libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A unit in flight.
pub(super) struct Busy {
    pub(super) request: IndexRequest,
    pub(super) retry: bool,
    pub(super) started: Instant,
}

/// Where a worker stands with the supervisor. Every worker starts
/// `Active`; the others are ends, each entered once by one method of
/// [`Worker`], which also closes its stdin or kills it as the end needs.
///
/// ```text
/// Active ──retire()──▶ Retiring   (finish the unit in flight, then exit 0)
///    │ ──discard()──▶ Discarded  (no unit to give it: SIGKILL)
///    └────kill()────▶ Killed     (over memory, timed out: SIGKILL)
/// ```
pub(super) enum Standing {
    /// Takes units.
    Active,
    /// Told to finish its unit and stop: recycled, over the budget, its
    /// stdin broken, or the build stopping.
    Retiring,
    /// Ended by the supervisor with no unit to give it: its exit, even
    /// before its handshake, says nothing about libclang.
    Discarded,
    /// Killed by the supervisor, for this reason.
    Killed(Death),
}

pub(super) struct Worker {
    pub(super) id: WorkerId,
    pub(super) process: WorkerProcess,
    /// `None` once the worker is told to finish (stdin closed).
    stdin: Option<BufWriter<ChildStdin>>,
    pub(super) statm: Option<Statm>,
    /// It answered the hello: libclang loaded.
    pub(super) ready: bool,
    pub(super) busy: Option<Busy>,
    pub(super) units_done: u32,
    /// Directory of the source file of the last unit it was given.
    pub(super) last_directory: Option<PathBuf>,
    pub(super) rss: u64,
    pub(super) standing: Standing,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The thread filling `stderr`, until it has read the worker's last words.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    pub(super) fn send(&mut self, request: &Request) -> std::io::Result<()> {
        match &mut self.stdin {
            Some(stdin) => protocol::write_frame(stdin, request),
            None => Err(std::io::Error::other("worker is retiring")),
        }
    }

    /// Whether it can take a unit now.
    pub(super) fn is_idle(&self) -> bool {
        self.busy.is_none() && matches!(self.standing, Standing::Active)
    }

    /// Whether it holds one of the `-j` places: until it exits, unless it
    /// was told to go.
    pub(super) fn holds_a_job(&self) -> bool {
        matches!(self.standing, Standing::Active | Standing::Killed(_))
    }

    /// Closes its stdin: it finishes the unit in flight, if any, and exits.
    pub(super) fn retire(&mut self) {
        self.stdin = None;
        if matches!(self.standing, Standing::Active) {
            self.standing = Standing::Retiring;
        }
    }

    /// Ends an idle worker that has nothing left to do. It holds nothing
    /// not already sent, so it is killed rather than left to tear libclang's
    /// heap down while the build waits for it to exit.
    pub(super) fn discard(&mut self) {
        self.stdin = None;
        self.standing = Standing::Discarded;
        self.process.signal_group(libc::SIGKILL);
    }

    /// Kills it for `death`, which its unit's failure will name.
    pub(super) fn kill(&mut self, death: Death) {
        self.standing = Standing::Killed(death);
        self.process.signal_group(libc::SIGKILL);
    }

    /// Why the supervisor killed it, if it did.
    pub(super) fn take_death(&mut self) -> Option<Death> {
        match std::mem::replace(&mut self.standing, Standing::Retiring) {
            Standing::Killed(death) => Some(death),
            other => {
                self.standing = other;
                None
            }
        }
    }

    /// Whether its exit would mean it could not start (libclang missing or
    /// broken, a stale binary): it died before its handshake and not by
    /// the supervisor's hand.
    pub(super) fn never_started(&self) -> bool {
        !self.ready && matches!(self.standing, Standing::Active | Standing::Retiring)
    }

    pub(super) fn last_stderr_line(&self) -> Option<String> {
        self.stderr.lock().ok()?.last().cloned()
    }

    /// Waits, briefly, until everything the exited worker wrote on stderr
    /// has been read: its reader may not have seen the last line yet when
    /// the exit is noticed, and that line says why it died. Bounded in case
    /// something else still holds the pipe open.
    pub(super) fn drain_stderr_of_exited(&mut self) {
        let Some(reader) = self.stderr_reader.take() else {
            return;
        };
        let deadline = Instant::now() + STDERR_GRACE;
        while !reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A worker process that was started and sent its hello, with the pipes its
/// reader threads will own.
pub(crate) struct StartedWorker {
    worker: Worker,
    stdout: ChildStdout,
    stderr: ChildStderr,
}

/// Starts the first worker before the supervisor exists, so that it loads
/// libclang while the refresh decides what is dirty: a one-file refresh
/// then does not wait for it. The supervisor adopts it (see
/// `Supervisor::new`), or dropping it kills it.
pub(crate) fn prestart_worker(config: &Config) -> Result<StartedWorker, StartError> {
    start_worker(config, 0)
}

pub(super) fn start_worker(config: &Config, id: WorkerId) -> Result<StartedWorker, StartError> {
    let mut command = Command::new(&config.exe);
    command
        .arg("worker")
        .env("LIBCLANG_PATH", &config.toolchain.library)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // Its own process group: a terminal's Ctrl-C reaches only the
            // supervisor, and the whole group can be killed at once.
            libc::setpgid(0, 0);
            // Die with the supervisor, even if it is SIGKILLed.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|source| StartError::Spawn {
        program: config.exe.clone(),
        source,
    })?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let stdin = BufWriter::new(child.stdin.take().expect("piped"));
    let pid = child.id();
    let mut worker = Worker {
        id,
        process: WorkerProcess { child },
        stdin: Some(stdin),
        statm: Statm::open(pid).ok(),
        ready: false,
        busy: None,
        units_done: 0,
        last_directory: None,
        rss: 0,
        standing: Standing::Active,
        stderr: Arc::new(Mutex::new(Vec::new())),
        stderr_reader: None,
    };
    worker
        .send(&Request::Hello(Hello {
            version: PROTOCOL_VERSION,
            index_system_headers: config.index_system_headers,
            index_locals: config.index_locals,
            resource_dir: config.toolchain.resource_dir.display().to_string(),
            retain_free_memory: config.rss_soft_limit / 2,
        }))
        .map_err(StartError::Hello)?;
    Ok(StartedWorker {
        worker,
        stdout,
        stderr,
    })
}

impl StartedWorker {
    pub(super) fn id(&self) -> WorkerId {
        self.worker.id
    }

    /// Starts the threads that read the worker's stdout (to `events`, and
    /// its results to `writer`) and stderr; the worker is then the loop's.
    pub(super) fn launch(
        self,
        events: Sender<Event>,
        writer: Sender<WriteOp>,
    ) -> Result<Worker, StartError> {
        let StartedWorker {
            mut worker,
            stdout,
            stderr,
        } = self;
        let id = worker.id;
        let tail = Arc::clone(&worker.stderr);
        std::thread::Builder::new()
            .name(format!("worker-{id}-out"))
            .spawn(move || read_worker(id, stdout, &events, &writer))
            .map_err(StartError::Thread)?;
        let stderr_reader = std::thread::Builder::new()
            .name(format!("worker-{id}-err"))
            .spawn(move || drain_stderr(stderr, &tail))
            .map_err(StartError::Thread)?;
        worker.stderr_reader = Some(stderr_reader);
        Ok(worker)
    }
}

/// Decodes one worker's stdout until it ends.
fn read_worker(
    id: WorkerId,
    stdout: ChildStdout,
    events: &Sender<Event>,
    writer: &Sender<WriteOp>,
) {
    let mut input = BufReader::with_capacity(1 << 16, stdout);
    // The files of the unit being indexed, from its `Parsed` message.
    let mut seen: Vec<SeenFile> = Vec::new();
    let end = loop {
        let event = match protocol::read_frame::<Response>(&mut input) {
            // The libclang it names is recorded by the refresh, from the
            // library's path; the worker's own version string is not used.
            Ok(Some(Response::Ready { version, .. })) => {
                if version != PROTOCOL_VERSION {
                    break StreamEnd::Unreadable(format!(
                        "worker speaks protocol {version}, supervisor {PROTOCOL_VERSION}"
                    ));
                }
                Event::Ready { worker: id }
            }
            Ok(Some(Response::Parsed {
                unit,
                files,
                bodies_skipped,
                understood,
                errors,
            })) => {
                seen.clone_from(&files);
                Event::Parsed {
                    worker: id,
                    unit,
                    files,
                    bodies_skipped,
                    understood,
                    errors,
                }
            }
            Ok(Some(Response::Indexed(index))) => {
                let unit = index.unit;
                let (used_prelude, used_project_prelude, prelude_discarded_ms) = (
                    index.used_prelude,
                    index.used_project_prelude,
                    index.prelude_discarded_ms,
                );
                let rss = Rss {
                    resident: index.worker_resident,
                    shared: index.worker_resident.saturating_sub(index.worker_rss),
                };
                // Blocks while the writer is behind: that is the back-pressure.
                if writer
                    .send(WriteOp::Indexed {
                        seen: std::mem::take(&mut seen),
                        index,
                    })
                    .is_err()
                {
                    break StreamEnd::WriterGone;
                }
                Event::Finished {
                    worker: id,
                    unit,
                    finish: Finish::Indexed(UnitDone {
                        rss,
                        used_prelude,
                        used_project_prelude,
                        prelude_discarded_ms,
                    }),
                }
            }
            Ok(Some(Response::Failed { unit, reason })) => Event::Finished {
                worker: id,
                unit,
                finish: Finish::Unparsed { reason },
            },
            Ok(None) => break StreamEnd::Closed,
            Err(e) => break StreamEnd::Unreadable(format!("unreadable output: {e}")),
        };
        if events.send(event).is_err() {
            return;
        }
    };
    let _ = events.send(Event::Exited { worker: id, end });
}

/// Keeps the last lines a worker wrote on stderr. Reading continuously
/// means a chatty worker can never block on a full pipe.
fn drain_stderr(stderr: ChildStderr, tail: &Mutex<Vec<String>>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL {
                tail.remove(0);
            }
            tail.push(line);
        }
    }
}
