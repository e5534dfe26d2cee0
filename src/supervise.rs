//! The supervisor: hands units to worker processes and contains their
//! failures.
//!
//! # Concurrency
//!
//! One loop on the main thread owns all state ([`Supervisor`]) and selects
//! over three channels: [`Event`]s from the worker reader threads, a ticker
//! (memory sampling, timeouts, progress) and signals. It never returns
//! early: a fatal error or a signal switches it to shutting down, and it
//! keeps draining events until every worker has exited.
//!
//! Per worker there are two threads. The reader decodes the worker's stdout:
//! it forwards the small messages to the loop and sends the (large) results
//! straight to the writer over a bounded channel, so results never pile up
//! in the supervisor: when the writer lags, readers block, workers block on
//! their full pipes, and memory stays flat. The stderr thread keeps the last
//! lines a worker printed, to explain a crash.
//!
//! Hazards, and what guards them:
//! - A worker that dies mid-unit: its reader sees end of stream at once;
//!   the unit is retried once in a fresh worker, then failed with the cause.
//! - A worker that hangs or grows: the ticker kills it (whole process
//!   group) past `--tu-timeout` or the hard RSS limit.
//! - The supervisor killed outright: workers have PR_SET_PDEATHSIG, and
//!   [`WorkerProcess`] kills its process group on drop.
//! - Ctrl-C in a terminal: workers run in their own process groups, so only
//!   the supervisor receives it and decides.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};

use crate::index::{HeaderLookup, WriteOp};
use crate::memory::{self, Rss, Statm};
use crate::observe::{Observer, Snapshot};
use crate::plan::{Queue, Task};
use crate::prelude::Preludes;
use crate::protocol::{
    self, Hello, IndexRequest, Request, Response, SeenFile, UnitId, PROTOCOL_VERSION,
};
use crate::toolchain::Toolchain;

/// How often worker memory is sampled and timeouts are checked.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// Between SIGTERM and SIGKILL when workers are stopped.
const KILL_GRACE: Duration = Duration::from_millis(50);
/// Lines of a worker's stderr kept to explain its death.
const STDERR_TAIL: usize = 8;
/// How long an exited worker's stderr may take to reach its end. The
/// write end closes with the worker, so this is only ever waited out if
/// the worker left a process behind holding it.
const STDERR_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub jobs: usize,
    pub files_per_worker: u32,
    pub tu_timeout: Duration,
    /// A worker owning more than this is killed at once.
    pub rss_hard_limit: u64,
    /// A worker owning more than this is replaced after its current unit.
    pub rss_soft_limit: u64,
    /// Dispatch pauses while the workers together own more than this.
    pub memory_budget: u64,
    /// Whether the user chose the memory limits or the timeout, rather
    /// than the defaults: a unit that fails only against a limit the user
    /// chose is not quarantined, so a later build with other limits
    /// retries it.
    pub memory_limits_given: bool,
    pub tu_timeout_given: bool,
    pub index_system_headers: bool,
    /// Index parameters and local variables.
    pub index_locals: bool,
    /// Re-emit every header even if the index already holds its content.
    pub full: bool,
    pub toolchain: Toolchain,
    /// The binary to run in worker mode (this one).
    pub exe: PathBuf,
}

/// How a worker finished a unit it indexed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitDone {
    /// The worker's memory at the end of the unit.
    rss: Rss,
    /// See `UnitIndex::used_prelude`.
    used_prelude: bool,
    /// See `UnitIndex::prelude_discarded_ms`.
    prelude_discarded_ms: Option<u32>,
}

/// A signal that stops the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

/// How the supervisor's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Complete,
    Cancelled(Signal),
    /// Something made indexing impossible (workers cannot start).
    Fatal(String),
}

/// What the run did, for the summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub indexed: u64,
    pub failed: u64,
    pub workers_spawned: u64,
    pub workers_recycled: u64,
    pub killed_for_memory: u64,
    pub timed_out: u64,
    pub crashed: u64,
    pub worker_peak_rss: u64,
    pub worker_peak_resident: u64,
    /// Units parsed with a precompiled standard library (see `prelude`).
    pub used_prelude: u64,
    /// Units given one that were parsed again as written, and the time
    /// their discarded first parses took.
    pub prelude_fallbacks: u64,
    pub prelude_discarded: Duration,
    pub libclang_version: Option<String>,
}

impl Report {
    fn note_worker_memory(&mut self, rss: Rss) {
        self.worker_peak_rss = self.worker_peak_rss.max(rss.owned());
        self.worker_peak_resident = self.worker_peak_resident.max(rss.resident);
    }
}

/// Why a unit's worker stopped before finishing it. Rendered for people in
/// one place, [`Death::reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Death {
    OverMemory {
        rss: u64,
        limit: u64,
    },
    TimedOut {
        after: Duration,
    },
    Crashed {
        status: Option<ExitStatus>,
        stderr: Option<String>,
    },
}

impl Death {
    fn reason(&self) -> String {
        match self {
            Death::OverMemory { rss, limit } => {
                format!(
                    "worker exceeded memory limit: {} > {}",
                    memory::human(*rss),
                    memory::human(*limit)
                )
            }
            Death::TimedOut { after } => format!("timed out after {} s", after.as_secs()),
            Death::Crashed { status, stderr } => {
                let mut reason = match status.and_then(|s| s.signal()) {
                    Some(signal) => {
                        format!("worker crashed: signal {signal} ({})", signal_name(signal))
                    }
                    None => match status.and_then(|s| s.code()) {
                        Some(code) => format!("worker exited with status {code}"),
                        None => "worker closed its output unexpectedly".to_string(),
                    },
                };
                if let Some(line) = stderr {
                    reason.push_str(": ");
                    reason.push_str(line);
                }
                reason
            }
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV: invalid memory reference",
        libc::SIGABRT => "SIGABRT: aborted",
        libc::SIGBUS => "SIGBUS: bus error",
        libc::SIGFPE => "SIGFPE: arithmetic error",
        libc::SIGILL => "SIGILL: illegal instruction",
        libc::SIGKILL => "SIGKILL: killed",
        libc::SIGTERM => "SIGTERM: terminated",
        _ => "signal",
    }
}

type WorkerId = u64;

/// What reader threads tell the loop. Results themselves go to the writer.
enum Event {
    Ready {
        worker: WorkerId,
        libclang: String,
    },
    Parsed {
        worker: WorkerId,
        unit: UnitId,
        files: Vec<SeenFile>,
        bodies_skipped: Vec<u32>,
    },
    /// The unit's results were handed to the writer (`Ok`, with the
    /// worker's memory at the end of the unit), or libclang could not parse
    /// it (`Err`).
    Finished {
        worker: WorkerId,
        unit: UnitId,
        result: Result<UnitDone, String>,
    },
    /// End of the worker's stdout: it exited, was killed, or misbehaved.
    Exited {
        worker: WorkerId,
        end: StreamEnd,
    },
}

/// How a worker's stdout stopped being read.
enum StreamEnd {
    /// End of stream between frames: the worker exited (or was killed).
    Closed,
    /// Garbage or a protocol mismatch: the worker cannot be trusted.
    Unreadable(String),
    /// The writer thread is gone (its error, e.g. a full disk, is reported
    /// by the caller), so nothing the worker sends can be stored.
    WriterGone,
}

/// A child process that is killed, with its whole process group, when
/// dropped: no worker outlives the supervisor's handle on it.
struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn signal_group(&self, signal: i32) {
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

struct Busy {
    request: IndexRequest,
    retry: bool,
    started: Instant,
}

struct Worker {
    id: WorkerId,
    process: WorkerProcess,
    /// `None` once the worker is told to finish (stdin closed).
    stdin: Option<BufWriter<ChildStdin>>,
    statm: Option<Statm>,
    ready: bool,
    busy: Option<Busy>,
    units_done: u32,
    /// Directory of the source file of the last unit it was given.
    last_directory: Option<PathBuf>,
    rss: u64,
    /// Set when the supervisor kills the worker, to name the cause.
    killed: Option<Death>,
    /// Ended by the supervisor with no unit to give it: its exit, even
    /// before its handshake, says nothing about libclang.
    discarded: bool,
    /// Finish the current unit, then stop.
    retire: bool,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The thread filling `stderr`, until it has read the worker's last words.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn send(&mut self, request: &Request) -> std::io::Result<()> {
        match &mut self.stdin {
            Some(stdin) => protocol::write_frame(stdin, request),
            None => Err(std::io::Error::other("worker is retiring")),
        }
    }

    fn last_stderr_line(&self) -> Option<String> {
        self.stderr.lock().ok()?.last().cloned()
    }

    /// Waits, briefly, until everything the exited worker wrote on stderr
    /// has been read: its reader may not have seen the last line yet when
    /// the exit is noticed, and that line says why it died. Bounded in case
    /// something else still holds the pipe open.
    fn drain_stderr_of_exited(&mut self) {
        let Some(reader) = self.stderr_reader.take() else {
            return;
        };
        let deadline = Instant::now() + STDERR_GRACE;
        while !reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Which unit emits each header in this build. Keys are xxh3 hashes of
/// paths (a collision would make one header skipped: 1 in 2^64 per pair);
/// the value is the claiming unit, `FRESH` for a header whose rows in the
/// index are already current, or `MAIN_FILE` for a file that some unit of
/// the project compiles (that unit emits it). Main files are not recorded
/// otherwise, so the map grows with the distinct headers, not with the
/// units: about 24 bytes per header.
struct Claims {
    owners: HashMap<u64, UnitId>,
    /// Looks up what the index holds, to leave current headers alone.
    index: HeaderLookup,
    full: bool,
}

const FRESH: UnitId = UnitId::MAX;
const MAIN_FILE: UnitId = UnitId::MAX - 1;

impl Claims {
    /// Which of `files` the unit emits. Headers whose bodies its worker
    /// skipped are neither granted nor claimed: a later unit parsing them in
    /// full will be. (If none does, refresh notices that the header was
    /// never emitted and indexes its includers again.)
    fn decide(
        &mut self,
        unit: UnitId,
        files: &[SeenFile],
        bodies_skipped: &[u32],
        index_system_headers: bool,
    ) -> Vec<bool> {
        files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                if i == 0 {
                    // A unit always emits its own main file.
                    return true;
                }
                if file.system && !index_system_headers {
                    return false;
                }
                let key = crate::fingerprint::path_key(&file.path);
                if self.owners.contains_key(&key) {
                    return false;
                }
                if self.is_main_file(file) {
                    self.owners.insert(key, MAIN_FILE);
                    return false;
                }
                let current = !self.full && self.is_current(file);
                if !current && bodies_skipped.contains(&(i as u32)) {
                    return false;
                }
                let owner = if current { FRESH } else { unit };
                self.owners.insert(key, owner);
                owner == unit
            })
            .collect()
    }

    /// Whether some unit of the project compiles `file` (a `.cc` included
    /// by another unit, say): then that unit emits it, as its main file.
    /// Should the index not answer, the file counts as a header: this unit
    /// emits it, and the unit that compiles it replaces those rows with
    /// its own, so the index is right, only written twice.
    fn is_main_file(&self, file: &SeenFile) -> bool {
        self.index.is_main_file(&file.path).unwrap_or(false)
    }

    /// Whether the index already holds rows for exactly this content.
    /// Should the index not answer, the header is emitted again: right,
    /// only slower.
    fn is_current(&self, file: &SeenFile) -> bool {
        self.index
            .is_current(&file.path, file.hash)
            .unwrap_or(false)
    }

    /// Frees the headers a unit claimed, when its worker died before its
    /// results reached the writer: another unit may emit them.
    fn release(&mut self, unit: UnitId) {
        self.owners.retain(|_, owner| *owner != unit);
    }
}

pub(crate) struct Supervisor<'a> {
    config: Config,
    queue: Queue,
    claims: Claims,
    writer: Sender<WriteOp>,
    events_tx: Sender<Event>,
    events: Receiver<Event>,
    workers: Vec<Worker>,
    next_worker: WorkerId,
    report: Report,
    ending: Option<Ending>,
    started: Instant,
    observer: &'a mut dyn Observer,
    /// `None` when units are parsed without a precompiled standard library.
    preludes: Option<Preludes>,
}

impl<'a> Supervisor<'a> {
    /// `index` is a read connection used to decide which headers are
    /// current; `writer` receives every result; `prestarted`, if any,
    /// joins the pool as its first worker; `preludes`, if any, gives units
    /// their precompiled standard library.
    pub(crate) fn new(
        config: Config,
        queue: Queue,
        index: HeaderLookup,
        writer: Sender<WriteOp>,
        observer: &'a mut dyn Observer,
        prestarted: Option<StartedWorker>,
        preludes: Option<Preludes>,
    ) -> Supervisor<'a> {
        // Room for each worker's few control messages; results bypass it.
        let (events_tx, events) = bounded(64 * config.jobs.max(1));
        let full = config.full;
        let mut supervisor = Supervisor {
            config,
            queue,
            claims: Claims {
                owners: HashMap::new(),
                index,
                full,
            },
            writer,
            events_tx,
            events,
            workers: Vec::new(),
            next_worker: 0,
            report: Report::default(),
            ending: None,
            started: Instant::now(),
            observer,
            preludes,
        };
        if let Some(started) = prestarted {
            supervisor.next_worker = started.worker.id + 1;
            // Should its reader threads not start, the worker is dropped
            // (killed) and dispatch starts another the usual way.
            let _ = supervisor.adopt(started);
        }
        supervisor
    }

    /// Runs until every unit is done, a signal arrives, or workers cannot
    /// start; always returns with every worker gone.
    pub(crate) fn run(mut self, signals: &Receiver<Signal>) -> (Ending, Report) {
        let ticker = tick(SAMPLE_INTERVAL);
        loop {
            if self.ending.is_none() {
                self.dispatch();
            }
            // Right after dispatching, no live worker means no work left
            // (or an ending): dispatch starts a worker for any queued unit.
            if self.workers.is_empty() {
                break;
            }
            select! {
                recv(self.events) -> event => {
                    if let Ok(event) = event { self.handle(event) }
                }
                recv(ticker) -> _ => self.sample(),
                recv(signals) -> signal => {
                    if let Ok(signal) = signal { self.stop(Ending::Cancelled(signal)) }
                }
            }
        }
        (self.ending.unwrap_or(Ending::Complete), self.report)
    }

    /// Gives each idle worker a unit, starting workers as needed.
    fn dispatch(&mut self) {
        let owned: u64 = self.workers.iter().map(|w| w.rss).sum();
        let over_budget = owned >= self.config.memory_budget;
        if over_budget {
            // Idle workers hold memory too; letting them go is how the pool
            // gets back under its budget.
            for worker in self
                .workers
                .iter_mut()
                .filter(|w| w.busy.is_none() && !w.retire)
            {
                worker.retire = true;
                worker.stdin = None;
            }
            return;
        }
        loop {
            let idle = self
                .workers
                .iter()
                .position(|w| w.busy.is_none() && !w.retire && w.stdin.is_some());
            let live = self.workers.iter().filter(|w| !w.retire).count();
            if idle.is_none() && live >= self.config.jobs {
                return;
            }
            let near = idle.and_then(|slot| self.workers[slot].last_directory.as_deref());
            let task = match self.queue.next(near) {
                Ok(Some(task)) => task,
                Ok(None) => {
                    // No more work: idle workers can go. They hold nothing
                    // that is not already sent, so they are killed rather
                    // than left to tear libclang's heap down while the build
                    // waits for them to exit.
                    for worker in self.workers.iter_mut().filter(|w| w.busy.is_none()) {
                        worker.retire = true;
                        worker.stdin = None;
                        worker.discarded = true;
                        worker.process.signal_group(libc::SIGKILL);
                    }
                    return;
                }
                Err(e) => {
                    self.stop(Ending::Fatal(format!(
                        "reading the plan from the index: {e}"
                    )));
                    return;
                }
            };
            let slot = match idle {
                Some(slot) => slot,
                None => match self.spawn() {
                    Ok(slot) => slot,
                    Err(e) => {
                        self.queue.retry(task.request);
                        self.stop(Ending::Fatal(e));
                        return;
                    }
                },
            };
            self.assign(slot, task);
        }
    }

    fn assign(&mut self, slot: usize, mut task: Task) {
        if let Some(preludes) = &mut self.preludes {
            preludes.assign(&mut task.request);
        }
        let worker = &mut self.workers[slot];
        match worker.send(&Request::Index(task.request.clone())) {
            Ok(()) => {
                worker.last_directory = Path::new(&task.request.file)
                    .parent()
                    .map(Path::to_path_buf);
                worker.busy = Some(Busy {
                    request: task.request,
                    retry: task.retry,
                    started: Instant::now(),
                })
            }
            // The worker died before it could take the unit; its exit event
            // will come. The unit is not its fault: queue it again.
            Err(_) => {
                worker.retire = true;
                worker.stdin = None;
                self.queue.retry(task.request);
            }
        }
    }

    fn spawn(&mut self) -> Result<usize, String> {
        let id = self.next_worker;
        self.next_worker += 1;
        let started = start_worker(&self.config, id)?;
        self.adopt(started)
    }

    /// Starts the threads that read a started worker's output and takes it
    /// into the pool.
    fn adopt(&mut self, started: StartedWorker) -> Result<usize, String> {
        let StartedWorker {
            mut worker,
            stdout,
            stderr,
        } = started;
        let id = worker.id;
        let tail = Arc::clone(&worker.stderr);
        let events = self.events_tx.clone();
        let writer = self.writer.clone();
        std::thread::Builder::new()
            .name(format!("worker-{id}-out"))
            .spawn(move || read_worker(id, stdout, &events, &writer))
            .map_err(|e| format!("starting a reader thread: {e}"))?;
        let stderr_reader = std::thread::Builder::new()
            .name(format!("worker-{id}-err"))
            .spawn(move || drain_stderr(stderr, &tail))
            .map_err(|e| format!("starting a reader thread: {e}"))?;
        worker.stderr_reader = Some(stderr_reader);
        self.report.workers_spawned += 1;
        self.workers.push(worker);
        Ok(self.workers.len() - 1)
    }

    fn slot(&self, id: WorkerId) -> Option<usize> {
        self.workers.iter().position(|w| w.id == id)
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Ready { worker, libclang } => {
                if let Some(slot) = self.slot(worker) {
                    self.workers[slot].ready = true;
                }
                self.report.libclang_version.get_or_insert(libclang);
            }
            Event::Parsed {
                worker,
                unit,
                files,
                bodies_skipped,
            } => {
                let emit = self.claims.decide(
                    unit,
                    &files,
                    &bodies_skipped,
                    self.config.index_system_headers,
                );
                if let Some(slot) = self.slot(worker) {
                    // A failed send means the worker died; its exit event
                    // handles the unit.
                    let _ = self.workers[slot].send(&Request::Grant { emit });
                }
            }
            Event::Finished {
                worker,
                unit,
                result,
            } => {
                let Some(slot) = self.slot(worker) else {
                    return;
                };
                let w = &mut self.workers[slot];
                let busy = w.busy.take();
                w.units_done += 1;
                if let Ok(done) = result {
                    // The worker measured itself as the unit ended: a peak
                    // the 50 ms sampler may have missed on a short unit.
                    w.rss = w.rss.max(done.rss.owned());
                    self.report.note_worker_memory(done.rss);
                    self.report.used_prelude += u64::from(done.used_prelude);
                    if let Some(ms) = done.prelude_discarded_ms {
                        self.report.prelude_fallbacks += 1;
                        self.report.prelude_discarded += Duration::from_millis(ms.into());
                    }
                    if let (Some(preludes), Some(busy)) = (&mut self.preludes, &busy) {
                        preludes.record(
                            &busy.request,
                            done.used_prelude,
                            done.prelude_discarded_ms.is_some(),
                        );
                    }
                }
                if w.units_done >= self.config.files_per_worker
                    || w.rss > self.config.rss_soft_limit
                {
                    w.retire = true;
                    w.stdin = None;
                    self.report.workers_recycled += 1;
                }
                match result {
                    Ok(_) => self.report.indexed += 1,
                    Err(reason) => self.fail(unit, reason, false),
                }
            }
            Event::Exited { worker, end } => self.exited(worker, end),
        }
    }

    fn exited(&mut self, id: WorkerId, end: StreamEnd) {
        let Some(slot) = self.slot(id) else { return };
        let mut worker = self.workers.swap_remove(slot);
        let error = match end {
            StreamEnd::Closed => None,
            StreamEnd::Unreadable(error) => Some(error),
            StreamEnd::WriterGone => {
                // Nothing can be stored any more: stop instead of parsing
                // every remaining unit for nothing.
                self.stop(Ending::Fatal("the index writer stopped".to_string()));
                Some("the index writer stopped".to_string())
            }
        };
        if error.is_some() {
            // The reader gave up on a worker that may still be running
            // (blocked on its full pipe, or waiting for a request): end it,
            // or waiting for it would never return.
            worker.process.signal_group(libc::SIGKILL);
        }
        let status = worker.process.child.wait().ok();
        worker.drain_stderr_of_exited();
        // A worker that dies before its handshake cannot index anything:
        // libclang is missing or broken, or the binary is stale.
        let never_started = !worker.ready && worker.killed.is_none() && !worker.discarded;
        if never_started && self.ending.is_none() {
            let detail = worker
                .last_stderr_line()
                .or_else(|| error.clone())
                .unwrap_or_else(|| {
                    Death::Crashed {
                        status,
                        stderr: None,
                    }
                    .reason()
                });
            self.stop(Ending::Fatal(format!("a worker failed to start: {detail}")));
        }
        let Some(busy) = worker.busy.take() else {
            return;
        };
        if never_started || matches!(self.ending, Some(Ending::Cancelled(_))) {
            // Not the unit's doing (no libclang, or killed by the
            // cancellation): it stays pending for the next build.
            return;
        }
        let death = worker.killed.take().unwrap_or_else(|| Death::Crashed {
            status,
            stderr: worker.last_stderr_line().or(error),
        });
        match death {
            Death::OverMemory { .. } => self.report.killed_for_memory += 1,
            Death::TimedOut { .. } => self.report.timed_out += 1,
            Death::Crashed { .. } => self.report.crashed += 1,
        }
        self.claims.release(busy.request.unit);
        if busy.retry || self.ending.is_some() {
            let limit_given = match death {
                Death::OverMemory { .. } => self.config.memory_limits_given,
                Death::TimedOut { .. } => self.config.tu_timeout_given,
                Death::Crashed { .. } => false,
            };
            self.fail(
                busy.request.unit,
                death.reason(),
                busy.retry && !limit_given,
            );
        } else {
            self.queue.retry(busy.request);
        }
    }

    fn fail(&mut self, unit: UnitId, reason: String, quarantine: bool) {
        self.report.failed += 1;
        let _ = self.writer.send(WriteOp::Failed {
            unit,
            reason,
            quarantine,
        });
    }

    /// Samples memory, enforces limits and timeouts, updates progress.
    fn sample(&mut self) {
        let now = Instant::now();
        let mut total = 0;
        for worker in &mut self.workers {
            let Some(rss) = worker.statm.as_mut().and_then(Statm::sample) else {
                continue;
            };
            worker.rss = rss.owned();
            total += worker.rss;
            self.report.note_worker_memory(rss);
            if worker.killed.is_some() {
                continue;
            }
            if worker.rss > self.config.rss_hard_limit {
                worker.killed = Some(Death::OverMemory {
                    rss: worker.rss,
                    limit: self.config.rss_hard_limit,
                });
                worker.process.signal_group(libc::SIGKILL);
            } else if let Some(busy) = &worker.busy {
                let elapsed = now.duration_since(busy.started);
                if elapsed > self.config.tu_timeout {
                    worker.killed = Some(Death::TimedOut {
                        after: self.config.tu_timeout,
                    });
                    worker.process.signal_group(libc::SIGKILL);
                }
            }
        }
        self.observer.progress(&Snapshot {
            done: self.report.indexed + self.report.failed,
            failed: self.report.failed,
            total: self.queue.total(),
            workers: self.workers.len(),
            workers_rss: total,
            elapsed: self.started.elapsed(),
        });
    }

    /// Stops dispatching and ends every worker. Results already received
    /// still reach the writer; units in flight stay pending.
    fn stop(&mut self, ending: Ending) {
        if self.ending.is_some() {
            return;
        }
        self.ending = Some(ending);
        for worker in &mut self.workers {
            worker.stdin = None;
            if worker.busy.is_some() {
                worker.process.signal_group(libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + KILL_GRACE;
        while Instant::now() < deadline
            && self
                .workers
                .iter_mut()
                .any(|w| w.process.child.try_wait().ok().flatten().is_none())
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        for worker in &self.workers {
            worker.process.signal_group(libc::SIGKILL);
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
/// [`Supervisor::new`]), or dropping it kills it.
pub(crate) fn prestart_worker(config: &Config) -> Result<StartedWorker, String> {
    start_worker(config, 0)
}

fn start_worker(config: &Config, id: WorkerId) -> Result<StartedWorker, String> {
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
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting a worker ({}): {e}", config.exe.display()))?;
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
        killed: None,
        discarded: false,
        retire: false,
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
        .map_err(|e| format!("starting a worker: {e}"))?;
    Ok(StartedWorker {
        worker,
        stdout,
        stderr,
    })
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
            Ok(Some(Response::Ready { version, libclang })) => {
                if version != PROTOCOL_VERSION {
                    break StreamEnd::Unreadable(format!(
                        "worker speaks protocol {version}, supervisor {PROTOCOL_VERSION}"
                    ));
                }
                Event::Ready {
                    worker: id,
                    libclang,
                }
            }
            Ok(Some(Response::Parsed {
                unit,
                files,
                bodies_skipped,
            })) => {
                seen.clone_from(&files);
                Event::Parsed {
                    worker: id,
                    unit,
                    files,
                    bodies_skipped,
                }
            }
            Ok(Some(Response::Indexed(index))) => {
                let unit = index.unit;
                let (used_prelude, prelude_discarded_ms) =
                    (index.used_prelude, index.prelude_discarded_ms);
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
                    result: Ok(UnitDone {
                        rss,
                        used_prelude,
                        prelude_discarded_ms,
                    }),
                }
            }
            Ok(Some(Response::Failed { unit, reason })) => Event::Finished {
                worker: id,
                unit,
                result: Err(reason),
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
