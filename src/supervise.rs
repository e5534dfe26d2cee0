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
//!   `process::WorkerProcess` kills its process group on drop.
//! - Ctrl-C in a terminal: workers run in their own process groups, so only
//!   the supervisor receives it and decides.

//!
//! The parts: this file holds the loop ([`Supervisor`]); `process` starts
//! workers and reads their output; `claims` decides which unit emits each
//! header; `outcome` says how workers, units and the run ended.

mod claims;
mod outcome;
mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};

use self::claims::Claims;
use self::outcome::Death;
pub(crate) use self::outcome::Report;
pub use self::outcome::{Ending, Signal};
pub(crate) use self::process::{prestart_worker, StartedWorker};
use self::process::{
    start_worker, Busy, Event, Finish, Standing, StartError, StreamEnd, Worker, WorkerId,
};
use crate::index::{HeaderLookup, WriteOp};
use crate::observe::{Observer, Snapshot};
use crate::plan::{Queue, Task};
use crate::prelude::Preludes;
use crate::protocol::{Request, UnitId};
use crate::toolchain::Toolchain;

/// How often worker memory is sampled and timeouts are checked.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// Between SIGTERM and SIGKILL when workers are stopped.
const KILL_GRACE: Duration = Duration::from_millis(50);

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
    /// `None` when units are parsed without a prelude.
    preludes: Option<Preludes>,
}

impl<'a> Supervisor<'a> {
    /// `index` is a read connection used to decide which headers are
    /// current; `writer` receives every result; `prestarted`, if any,
    /// joins the pool as its first worker; `preludes`, if any, decides
    /// which units get a prelude.
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
            claims: Claims::new(index, full),
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
            supervisor.next_worker = started.id() + 1;
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
            for worker in self.workers.iter_mut().filter(|w| w.busy.is_none()) {
                worker.retire();
            }
            return;
        }
        loop {
            let idle = self.workers.iter().position(Worker::is_idle);
            let live = self.workers.iter().filter(|w| w.holds_a_job()).count();
            if idle.is_none() && live >= self.config.jobs {
                return;
            }
            let near = idle.and_then(|slot| self.workers[slot].last_directory.as_deref());
            let task = match self.queue.next(near) {
                Ok(Some(task)) => task,
                Ok(None) => {
                    // No more work: idle workers can go.
                    for worker in self.workers.iter_mut().filter(|w| w.busy.is_none()) {
                        worker.discard();
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
                        self.queue.retry(task.request, task.as_written);
                        self.stop(Ending::Fatal(e.to_string()));
                        return;
                    }
                },
            };
            self.assign(slot, task);
        }
    }

    fn assign(&mut self, slot: usize, mut task: Task) {
        match &mut self.preludes {
            Some(preludes) if task.as_written => {
                preludes.fell_back_before(&task.request);
                task.request.prelude = None;
            }
            Some(preludes) => preludes.assign(&mut task.request),
            None => task.request.prelude = None,
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
                worker.retire();
                self.queue.retry(task.request, task.as_written);
            }
        }
    }

    fn spawn(&mut self) -> Result<usize, StartError> {
        let id = self.next_worker;
        self.next_worker += 1;
        let started = start_worker(&self.config, id)?;
        self.adopt(started)
    }

    /// Starts the threads that read a started worker's output and takes it
    /// into the pool.
    fn adopt(&mut self, started: StartedWorker) -> Result<usize, StartError> {
        let worker = started.launch(self.events_tx.clone(), self.writer.clone())?;
        self.report.workers_spawned += 1;
        self.workers.push(worker);
        Ok(self.workers.len() - 1)
    }

    fn slot(&self, id: WorkerId) -> Option<usize> {
        self.workers.iter().position(|w| w.id == id)
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Ready { worker } => {
                if let Some(slot) = self.slot(worker) {
                    self.workers[slot].ready = true;
                }
            }
            Event::Parsed {
                worker,
                unit,
                files,
                bodies_skipped,
                understood,
                errors,
            } => {
                let decision = self.claims.decide(
                    unit,
                    &files,
                    &bodies_skipped,
                    &understood,
                    errors,
                    self.config.index_system_headers,
                );
                // An earlier owner whose results may still be on their way
                // must not store the header: told before this unit is
                // granted it, the writer learns it before this unit's results
                // arrive. Results already stored are replaced by this unit's.
                for (earlier, header) in decision.taken_from {
                    let pending = self.workers.iter().any(|w| {
                        w.busy
                            .as_ref()
                            .is_some_and(|busy| busy.request.unit == earlier)
                    });
                    if pending {
                        let _ = self.writer.send(WriteOp::Disowned {
                            unit: earlier,
                            header,
                        });
                    }
                }
                let emit = decision.emit;
                let slot = self.slot(worker);
                let busy = slot.and_then(|slot| self.workers[slot].busy.as_ref());
                if let (Some(preludes), Some(busy)) = (&mut self.preludes, busy) {
                    let claims = &self.claims;
                    preludes.observe(&busy.request, &files, |path| claims.is_emitted(path));
                }
                if let Some(slot) = slot {
                    // A failed send means the worker died; its exit event
                    // handles the unit.
                    let _ = self.workers[slot].send(&Request::Grant { emit });
                }
            }
            Event::Finished {
                worker,
                unit,
                finish,
            } => {
                let Some(slot) = self.slot(worker) else {
                    return;
                };
                let w = &mut self.workers[slot];
                let busy = w.busy.take();
                w.units_done += 1;
                if let Finish::Indexed(done) = &finish {
                    // The worker measured itself as the unit ended: a peak
                    // the 50 ms sampler may have missed on a short unit.
                    w.rss = w.rss.max(done.rss.owned());
                    self.report.note_worker_memory(done.rss);
                    self.report.used_prelude += u64::from(done.used_prelude);
                    self.report.used_project_prelude += u64::from(done.used_project_prelude);
                    if let Some(ms) = done.prelude_discarded_ms {
                        self.report.prelude_fallbacks += 1;
                        self.report.prelude_discarded += Duration::from_millis(ms.into());
                    }
                    if let (Some(preludes), Some(busy)) = (&mut self.preludes, &busy) {
                        preludes.record(
                            &busy.request,
                            done.used_prelude,
                            done.used_project_prelude,
                            done.prelude_discarded_ms.is_some(),
                        );
                    }
                }
                if w.units_done >= self.config.files_per_worker
                    || w.rss > self.config.rss_soft_limit
                {
                    w.retire();
                    self.report.workers_recycled += 1;
                }
                match finish {
                    Finish::Indexed(_) => self.report.indexed += 1,
                    Finish::Unparsed { reason } => self.fail(unit, reason, false),
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
        let never_started = worker.never_started();
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
        let death = worker.take_death().unwrap_or_else(|| Death::Crashed {
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
            // A crash with the prelude may be the prelude's doing (libclang
            // 14 crashed on a unit of protobuf's with a precompiled header
            // that it parses as written, docs/benchmarks.md): the second
            // attempt parses the unit as written, as after a fallback,
            // and so do later builds.
            let as_written =
                matches!(death, Death::Crashed { .. }) && busy.request.prelude.is_some();
            if as_written {
                self.report.prelude_fallbacks += 1;
                self.report.prelude_discarded += busy.started.elapsed();
                let _ = self.writer.send(WriteOp::FellBack {
                    unit: busy.request.unit,
                });
            }
            self.queue.retry(busy.request, as_written);
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
            let Some(rss) = worker.statm.as_mut().and_then(crate::memory::Statm::sample) else {
                continue;
            };
            worker.rss = rss.owned();
            total += worker.rss;
            self.report.note_worker_memory(rss);
            if matches!(worker.standing, Standing::Killed(_)) {
                continue;
            }
            if worker.rss > self.config.rss_hard_limit {
                let rss = worker.rss;
                worker.kill(Death::OverMemory {
                    rss,
                    limit: self.config.rss_hard_limit,
                });
            } else if let Some(busy) = &worker.busy {
                let elapsed = now.duration_since(busy.started);
                if elapsed > self.config.tu_timeout {
                    worker.kill(Death::TimedOut {
                        after: self.config.tu_timeout,
                    });
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
            worker.retire();
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
