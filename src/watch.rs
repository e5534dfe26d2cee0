//! Watch mode: keeps an index fresh as the project changes, by running
//! incremental builds ([`crate::build::build`]) when files it reads
//! change. A library piece: `indexer watch` drives it, and so can any
//! front end, with a [`Stop`] handle and a [`WatchObserver`] (`indexer
//! mcp --watch` runs `indexer watch` as a child process instead, so that
//! nothing a build does can take the server down).
//!
//! ```text
//!            start ──▶ build ──▶ sync watches ──▶ idle ◀──────────────┐
//!                        ▲                         │ a change that     │
//!                        │                         ▼ matters           │
//!                        └── quiet period over ── debouncing ──────────┘
//!  Stop: idle, debouncing ─▶ returns at once; building ─▶ the build's
//!  Cancel (indexing stops, finished units are kept), then returns.
//! ```
//!
//! Threads: the caller's thread runs the loop and the builds (so the
//! observer needs no `Send`); notify's thread reads inotify and runs
//! `pending::Handler`, which classifies each event at once
//! (`scope::Scope::classify`) and records only those that matter in a
//! bounded `pending::Pending` shared with the loop. Events that come
//! while a build runs are recorded the same way and coalesce into the one
//! next build.
//!
//! What is watched: every directory holding a file the index knows, in
//! walk mode every directory the walk visits, and the directories of the
//! compilation database (given or possible), each without recursion
//! (`.indexer/` and the build's own files are never watched or never
//! matter; see `scope`). After each build the set is brought in line with
//! the index; directories watched only then may have changed unseen during
//! the build, so their first watch is followed by one more build (a
//! refresh, which finds whatever changed). A new directory where a walk
//! would find sources is watched as soon as its event comes, before the
//! build it starts walks it.
//!
//! Memory: the loop and the handler keep the watch set (bounded by the
//! project's directories, replaced at each sync) and at most
//! [`pending::MAX_LISTED`] changed paths; each build's memory is its own.

mod pending;
mod scope;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use notify::Watcher as _;

use crate::build::{self, BuildError, BuildOptions, BuildOutcome, Cancel, Phase, Signal};
use crate::discover::{self, Source};
use crate::index::{self, Access, IndexError};
use crate::observe::{Event, Observer, Snapshot};

use self::pending::{Handler, Shared};
use self::scope::Scope;
pub use pending::MAX_LISTED;

/// How long the project must be quiet after a change before its build
/// starts: an editor's save, a `git checkout` or a code generator write
/// several files in a burst, which one build should see whole.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(300);
/// The longest a change waits for its build however busy the disk is (a
/// file written without pause would otherwise hold it off for ever).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(3);
/// How long a build waits when another build holds the index before it
/// tries again.
const RETRY_LOCKED: Duration = Duration::from_secs(1);
/// The longest the loop sleeps with nothing to do (it wakes for changes
/// and for [`Stop`] anyway).
const IDLE_TICK: Duration = Duration::from_secs(60);

/// What a watch is asked to do: the builds' options and the debounce.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub build: BuildOptions,
    /// See [`DEFAULT_QUIET`].
    pub quiet: Duration,
    /// See [`DEFAULT_MAX_DELAY`].
    pub max_delay: Duration,
}

impl WatchOptions {
    /// Builds with `build`, debounced by the defaults.
    pub fn new(build: BuildOptions) -> WatchOptions {
        WatchOptions {
            build,
            quiet: DEFAULT_QUIET,
            max_delay: DEFAULT_MAX_DELAY,
        }
    }
}

/// Stops a watch from another thread (a signal handler, a server's
/// shutdown). Cheap to clone; one handle serves one watch.
#[derive(Debug, Clone)]
pub struct Stop {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    state: Mutex<StopState>,
    wake: Sender<()>,
    woken: Receiver<()>,
}

#[derive(Debug, Default)]
struct StopState {
    signal: Option<Signal>,
    /// The running build's handle.
    build: Option<Cancel>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        let (wake, woken) = bounded(1);
        Stop {
            inner: Arc::new(StopInner {
                state: Mutex::new(StopState::default()),
                wake,
                woken,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StopState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the watch to stop; `signal` says why. Idle or debouncing, it
    /// returns at once; during a build it cancels the build (see
    /// [`Cancel`]: indexing stops and keeps what finished; a build still
    /// preparing stops when indexing begins, one finishing completes) and
    /// returns when the build has. Never blocks.
    pub fn stop(&self, signal: Signal) {
        let mut state = self.state();
        state.signal.get_or_insert(signal);
        if let Some(build) = &state.build {
            build.cancel(signal);
        }
        let _ = self.inner.wake.try_send(());
    }

    /// The phase of the build running now, `None` between builds.
    pub fn build_phase(&self) -> Option<Phase> {
        self.state().build.as_ref().map(Cancel::phase)
    }

    fn stopped(&self) -> Option<Signal> {
        self.state().signal
    }

    /// The handle for a build about to start, or `None` if the watch is
    /// stopping.
    fn begin_build(&self) -> Option<Cancel> {
        let mut state = self.state();
        if state.signal.is_some() {
            return None;
        }
        let cancel = Cancel::new();
        state.build = Some(cancel.clone());
        Some(cancel)
    }

    fn end_build(&self) {
        self.state().build = None;
    }
}

/// Why a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The build that starts the watch.
    Start,
    /// Files changed.
    Changes(Changes),
}

/// The changes a build was started for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The paths that changed, in the order first seen, each once: files
    /// the index knows (sources, headers), new sources in walk mode,
    /// compilation databases, new directories. At most [`MAX_LISTED`].
    pub paths: Vec<PathBuf>,
    /// More paths changed than are listed.
    pub truncated: bool,
    /// A compilation database changed (appeared, was written, went away).
    pub compdb: bool,
    /// Changes may have gone unseen (the kernel's event queue overflowed,
    /// or directories were first watched after the build that read them
    /// began); the build's refresh compares every file with the index, as
    /// every build does, and finds them.
    pub rescan: bool,
}

impl Changes {
    fn add(&mut self, path: &Path) {
        if self.paths.iter().any(|p| p == path) {
            return;
        }
        if self.paths.len() < MAX_LISTED {
            self.paths.push(path.to_path_buf());
        } else {
            self.truncated = true;
        }
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.rescan && !self.compdb
    }
}

/// What a watch tells its front end besides each build's own events and
/// progress (which go to the same observer's [`Observer`] methods).
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEvent<'a> {
    /// The watch set changed: `directories` are watched now; `failed`
    /// could not be (`reason`: the first failure, e.g. the system's limit
    /// on inotify watches).
    Watching {
        directories: usize,
        failed: usize,
        reason: Option<String>,
    },
    /// A build starts.
    BuildStarting { trigger: &'a Trigger },
    /// A build ran (complete, cancelled, or ended by a fatal error).
    Built {
        trigger: &'a Trigger,
        outcome: &'a BuildOutcome,
    },
    /// A build could not run (the compilation database is invalid, say).
    /// The watch goes on; the next change tries again, or in a second when
    /// another build held the index.
    BuildFailed {
        trigger: &'a Trigger,
        error: &'a BuildError,
    },
}

/// Receives a watch's events, and each build's events and progress
/// through [`Observer`] (called on the watch's thread; return quickly).
pub trait WatchObserver: Observer {
    fn watch_event(&mut self, event: &WatchEvent<'_>) {
        let _ = event;
    }
}

/// How a watch ended: stopped by [`Stop::stop`] with `signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    pub signal: Signal,
    /// Builds run, the first included.
    pub builds: u64,
}

/// Why a watch could not run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The first build failed: the project or its options are wrong, or
    /// the index cannot be written.
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot watch for changes: {0}")]
    Notify(#[source] notify::Error),
}

impl WatchError {
    /// Whether the request itself is wrong (see [`BuildError::is_usage`]).
    pub fn is_usage(&self) -> bool {
        match self {
            WatchError::Build(e) => e.is_usage(),
            WatchError::Notify(_) => false,
        }
    }
}

/// Keeps the index of `options.build` fresh until `stop` says otherwise:
/// an incremental build at once, then one for each burst of changes that
/// matter. The first build's failure ends it; later ones are reported to
/// `observer` and it goes on.
pub fn run<O: WatchObserver>(
    options: &WatchOptions,
    stop: &Stop,
    observer: &mut O,
) -> Result<Stopped, WatchError> {
    let build = &options.build;
    let root = discover::normalize(&build.project);
    // Before the first build, the units' directories tell what to watch
    // while it runs (the build reports the same error if this fails).
    let mut unit_dirs = BTreeSet::new();
    let source = discover::discover(&root, build.compdb.as_deref(), &mut |unit| {
        if let Some(dir) = Path::new(&unit.file).parent() {
            if !unit_dirs.contains(dir) {
                unit_dirs.insert(dir.to_path_buf());
            }
        }
    })
    .map(|discovery| discovery.source)
    .ok();
    let scope = Scope::new(&root, &build.db, build.compdb.as_deref(), source.as_ref());
    let (wake, woken) = bounded(1);
    let shared = Shared::new(scope, wake);
    shared.lock().building = true;
    let watcher = notify::INotifyWatcher::new(Handler(shared.clone()), notify::Config::default())
        .map_err(WatchError::Notify)?;
    let mut watch = Watch {
        options,
        stop,
        shared,
        woken,
        watcher,
        builds: 0,
    };
    watch.sync(observer, &unit_dirs);
    drop(unit_dirs);

    let mut trigger = Trigger::Start;
    loop {
        let Some(cancel) = stop.begin_build() else {
            return Ok(watch.stopped());
        };
        observer.watch_event(&WatchEvent::BuildStarting { trigger: &trigger });
        watch.shared.lock().building = true;
        let mut tap = Tap {
            inner: observer,
            source: None,
        };
        let result = build::build(build, &cancel, &mut tap);
        let source = tap.source;
        stop.end_build();
        watch.builds += 1;
        match result {
            Ok(outcome) => observer.watch_event(&WatchEvent::Built {
                trigger: &trigger,
                outcome: &outcome,
            }),
            Err(error) if trigger == Trigger::Start => return Err(error.into()),
            Err(error) => {
                observer.watch_event(&WatchEvent::BuildFailed {
                    trigger: &trigger,
                    error: &error,
                });
                if let (BuildError::Index(IndexError::Locked { .. }), Trigger::Changes(changes)) =
                    (&error, &trigger)
                {
                    let now = Instant::now();
                    watch
                        .shared
                        .lock()
                        .pending
                        .restore(changes, now, now + RETRY_LOCKED);
                }
            }
        }
        if stop.stopped().is_some() {
            return Ok(watch.stopped());
        }
        watch.after_build(observer, source.as_ref());
        match watch.next_changes(observer) {
            Some(changes) => trigger = Trigger::Changes(changes),
            None => return Ok(watch.stopped()),
        }
    }
}

/// The loop's state between builds.
struct Watch<'a> {
    options: &'a WatchOptions,
    stop: &'a Stop,
    shared: Arc<Shared>,
    woken: Receiver<()>,
    watcher: notify::INotifyWatcher,
    builds: u64,
}

impl Watch<'_> {
    fn stopped(&self) -> Stopped {
        Stopped {
            signal: self.stop.stopped().unwrap_or(Signal::Interrupt),
            builds: self.builds,
        }
    }

    /// A fresh read connection to the index, if there is one.
    fn open_index(&self) -> Option<rusqlite::Connection> {
        index::open(&self.options.build.db, Access::Read).ok()
    }

    /// After a build: the rules follow the units' source (a compilation
    /// database may have appeared), the handler's connection is renewed,
    /// paths unknown during the build are looked up again, and the watch
    /// set follows the index.
    fn after_build<O: WatchObserver>(&mut self, observer: &mut O, source: Option<&Source>) {
        let now = Instant::now();
        {
            let mut state = self.shared.lock();
            let state = &mut *state;
            if let Some(source) = source {
                let build = &self.options.build;
                state.scope = Scope::new(
                    &state.scope.root,
                    &build.db,
                    build.compdb.as_deref(),
                    Some(source),
                );
            }
            state.index = self.open_index();
            state.building = false;
            for path in std::mem::take(&mut state.pending.unknown) {
                use self::scope::Relevance;
                match state.scope.classify(&path, state.index.as_ref()) {
                    Relevance::Ignored | Relevance::Unknown => {}
                    Relevance::Compdb => state.pending.compdb_changed(&path, now),
                    // A directory is looked at by the sync below.
                    Relevance::Directory { .. } => {}
                    Relevance::File => state.pending.changed(&path, now),
                }
            }
        }
        if self.sync(observer, &BTreeSet::new()) > 0 {
            self.shared.lock().pending.rescan(now);
        }
    }

    /// Brings the watch set in line with the index and the rules (plus
    /// `extra` directories); returns how many directories it added.
    fn sync<O: WatchObserver>(&mut self, observer: &mut O, extra: &BTreeSet<PathBuf>) -> usize {
        let index = self.open_index();
        let (to_add, to_remove, total) = {
            let mut state = self.shared.lock();
            state.pending.new_dirs.clear();
            state.pending.resync = false;
            let scope = state.scope.clone();
            drop(state);
            let desired = scope.directories(index.as_ref(), extra);
            let state = self.shared.lock();
            let to_add: Vec<PathBuf> = desired.difference(&state.watched).cloned().collect();
            let to_remove: Vec<PathBuf> = state.watched.difference(&desired).cloned().collect();
            (to_add, to_remove, desired.len())
        };
        drop(index);
        for dir in &to_remove {
            let _ = self.watcher.unwatch(dir);
        }
        let mut failures = Failures::default();
        let added = self.watch_all(to_add, &mut failures);
        {
            let mut state = self.shared.lock();
            for dir in &to_remove {
                state.watched.remove(dir);
            }
            state.watched.extend(added.iter().cloned());
        }
        if !added.is_empty() || !to_remove.is_empty() || failures.count > 0 {
            observer.watch_event(&WatchEvent::Watching {
                directories: total - failures.count,
                failed: failures.count,
                reason: failures.first,
            });
        }
        added.len()
    }

    /// Watches each of `dirs`; returns those now watched. A directory that
    /// went away meanwhile is no failure.
    fn watch_all(&mut self, dirs: Vec<PathBuf>, failures: &mut Failures) -> Vec<PathBuf> {
        let mut added = Vec::with_capacity(dirs.len());
        for dir in dirs {
            match self
                .watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
            {
                Ok(()) => added.push(dir),
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {}
                Err(e) if !dir.exists() && matches!(&e.kind, notify::ErrorKind::Io(_)) => {}
                Err(e) => {
                    failures.count += 1;
                    failures
                        .first
                        .get_or_insert_with(|| format!("{}: {e}", dir.display()));
                }
            }
        }
        added
    }

    /// Watches the directories that appeared since the last look (and, in
    /// walk mode, those below them), before their build walks them.
    fn watch_new_directories<O: WatchObserver>(&mut self, observer: &mut O) {
        let (new_dirs, resync, scope) = {
            let mut state = self.shared.lock();
            if state.pending.new_dirs.is_empty() && !state.pending.resync {
                return;
            }
            let new_dirs = std::mem::take(&mut state.pending.new_dirs);
            let resync = std::mem::take(&mut state.pending.resync);
            (new_dirs, resync, state.scope.clone())
        };
        if resync {
            self.sync(observer, &BTreeSet::new());
            return;
        }
        let dirs: Vec<PathBuf> = new_dirs
            .iter()
            .flat_map(|(dir, walk)| scope.new_directories(dir, *walk))
            .collect();
        let mut failures = Failures::default();
        let added = self.watch_all(dirs, &mut failures);
        // Watched now: what they held before is looked at once; what comes
        // later has its own events.
        let now = Instant::now();
        let mut found = Changes::default();
        for (dir, walk) in &new_dirs {
            scope.new_directory_content(dir, *walk, &mut |path| found.add(path));
        }
        let total = {
            let mut state = self.shared.lock();
            state.watched.extend(added);
            for path in &found.paths {
                if scope.classify(path, None) == scope::Relevance::Compdb {
                    state.pending.compdb_changed(path, now);
                } else {
                    state.pending.changed(path, now);
                }
            }
            if found.truncated {
                state.pending.rescan(now);
            }
            state.watched.len()
        };
        if failures.count > 0 {
            observer.watch_event(&WatchEvent::Watching {
                directories: total,
                failed: failures.count,
                reason: failures.first,
            });
        }
    }

    /// Waits for changes that matter and for the quiet period after them;
    /// returns them, or `None` when the watch is stopped.
    fn next_changes<O: WatchObserver>(&mut self, observer: &mut O) -> Option<Changes> {
        loop {
            if self.stop.stopped().is_some() {
                return None;
            }
            self.watch_new_directories(observer);
            let now = Instant::now();
            let due = {
                let mut state = self.shared.lock();
                match state
                    .pending
                    .due(self.options.quiet, self.options.max_delay)
                {
                    Some(due) if due <= now => {
                        let changes = state.pending.take();
                        if !changes.is_empty() {
                            return Some(changes);
                        }
                        None
                    }
                    due => due,
                }
            };
            let timeout = due.map_or(IDLE_TICK, |due| due.saturating_duration_since(now));
            select! {
                recv(self.stop.inner.woken) -> _ => {}
                recv(self.woken) -> _ => {}
                default(timeout) => {}
            }
        }
    }
}

#[derive(Default)]
struct Failures {
    count: usize,
    first: Option<String>,
}

/// Forwards a build's events and progress to the front end's observer,
/// noting where the units came from.
struct Tap<'a, O> {
    inner: &'a mut O,
    source: Option<Source>,
}

impl<O: Observer> Observer for Tap<'_, O> {
    fn event(&mut self, event: &Event) {
        if let Event::Source { source, .. } = event {
            self.source = Some(source.clone());
        }
        self.inner.event(event);
    }

    fn progress(&mut self, snapshot: &Snapshot) {
        self.inner.progress(snapshot);
    }
}
