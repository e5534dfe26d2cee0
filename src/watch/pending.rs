//! The state the notify thread and the watch loop share: the rules of
//! what matters, the changes seen since the last build began, the
//! directories watched. Everything in it is bounded: a burst of a million
//! events costs a flag, never memory.
//!
//! The notify thread runs [`Handler`] for every event; it classifies the
//! event's paths at once (a lookup in the index for the files it knows)
//! and records only those that matter, so the loop is woken by those
//! alone. It never blocks on the loop: the loop holds the lock only to
//! read or swap a few fields, and never while it calls the watcher (whose
//! calls wait for the notify thread).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use notify::event::{AccessKind, AccessMode, EventKind, MetadataKind, ModifyKind};
use rusqlite::Connection;

use super::scope::{Relevance, Scope};
use super::Changes;

/// Changed paths listed by [`Changes`]; beyond them it only says there
/// were more.
pub const MAX_LISTED: usize = 100;
/// New directories waiting to be watched; beyond them the next build
/// rescans and the watch set is rebuilt from scratch.
const MAX_NEW_DIRS: usize = 256;
/// Paths unknown while a build ran, to look up again once it ends; beyond
/// them the next build rescans.
const MAX_UNKNOWN: usize = 256;

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the loop; bounded(1), sent with `try_send`, so wakes coalesce
    /// and the notify thread never waits.
    wake: Sender<()>,
}

pub(crate) struct State {
    pub scope: Scope,
    /// A read connection to the index, for [`Scope::classify`]; replaced
    /// after every build (`None` while there is no index).
    pub index: Option<Connection>,
    /// Whether a build runs: paths unknown meanwhile are kept to look up
    /// again when it ends.
    pub building: bool,
    /// The directories watched now. A watched directory deleted or moved
    /// away loses its watch, and leaves this set with it, so that the next
    /// sync watches it again if it comes back.
    pub watched: BTreeSet<PathBuf>,
    pub pending: Pending,
}

/// What happened since the last build began.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub changes: Changes,
    /// When the first and the last change of `changes` came.
    first: Option<Instant>,
    last: Option<Instant>,
    /// No build before this (another build held the index).
    not_before: Option<Instant>,
    /// Directories to watch at once, and whether a walk goes below them.
    pub new_dirs: Vec<(PathBuf, bool)>,
    /// More new directories came than [`MAX_NEW_DIRS`].
    pub resync: bool,
    /// Paths the index did not know while a build ran.
    pub unknown: Vec<PathBuf>,
}

impl Pending {
    fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    pub fn changed(&mut self, path: &Path, now: Instant) {
        self.changes.add(path);
        self.touch(now);
    }

    pub fn compdb_changed(&mut self, path: &Path, now: Instant) {
        self.changed(path, now);
        self.changes.compdb = true;
    }

    /// Events may have been lost: the next build must run.
    pub fn rescan(&mut self, now: Instant) {
        self.changes.rescan = true;
        self.touch(now);
    }

    fn new_dir(&mut self, path: &Path, walk: bool) {
        if self.new_dirs.len() < MAX_NEW_DIRS {
            self.new_dirs.push((path.to_path_buf(), walk));
        } else {
            self.resync = true;
        }
    }

    fn unknown(&mut self, path: &Path, now: Instant) {
        if self.unknown.iter().any(|p| p == path) {
            return;
        }
        if self.unknown.len() < MAX_UNKNOWN {
            self.unknown.push(path.to_path_buf());
        } else {
            self.rescan(now);
        }
    }

    /// When the pending changes are due for a build: `quiet` after the
    /// last one, but no later than `max_delay` after the first; `None`
    /// when there are none.
    pub fn due(&self, quiet: Duration, max_delay: Duration) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        let due = (last + quiet).min(first + max_delay);
        Some(
            self.not_before
                .map_or(due, |not_before| due.max(not_before)),
        )
    }

    /// Takes the changes for a build.
    pub fn take(&mut self) -> Changes {
        self.first = None;
        self.last = None;
        self.not_before = None;
        std::mem::take(&mut self.changes)
    }

    /// Gives back the changes of a build that could not run, to try again
    /// no sooner than `not_before`.
    pub fn restore(&mut self, changes: &Changes, now: Instant, not_before: Instant) {
        for path in &changes.paths {
            self.changes.add(path);
        }
        self.changes.truncated |= changes.truncated;
        self.changes.compdb |= changes.compdb;
        self.changes.rescan |= changes.rescan;
        self.touch(now);
        self.not_before = Some(not_before);
    }
}

impl Shared {
    pub fn new(scope: Scope, wake: Sender<()>) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                scope,
                index: None,
                building: false,
                watched: BTreeSet::new(),
                pending: Pending::default(),
            }),
            wake,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the notify thread while it held the lock leaves
        // nothing half done that a later reader could trip on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wake(&self) {
        let _ = self.wake.try_send(());
    }
}

/// Whether an event of this kind may change what a build reads. Opening,
/// reading and closing a file do not (and a build does all three to every
/// file it indexes).
fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
    }
}

/// Whether an event of this kind takes its path away (which takes a
/// watch on it with it).
fn removes(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    )
}

/// The notify thread's event handler.
pub(crate) struct Handler(pub Arc<Shared>);

impl notify::EventHandler for Handler {
    fn handle_event(&mut self, event: notify::Result<notify::Event>) {
        let now = Instant::now();
        let event = match event {
            Ok(event) => event,
            Err(_) => {
                // Something went wrong reading the events: some may be
                // lost, and the refresh finds whatever they were.
                self.0.lock().pending.rescan(now);
                self.0.wake();
                return;
            }
        };
        let rescan = event.need_rescan();
        if !rescan && !may_change(&event.kind) {
            return;
        }
        let mut woken = rescan;
        let mut state = self.0.lock();
        let state = &mut *state;
        if rescan {
            state.pending.rescan(now);
        }
        for path in &event.paths {
            if removes(&event.kind) {
                state.watched.remove(path);
            }
            match state.scope.classify(path, state.index.as_ref()) {
                Relevance::Ignored => {}
                Relevance::Unknown => {
                    if state.building || state.index.is_none() {
                        state.pending.unknown(path, now);
                    }
                }
                Relevance::File => {
                    state.pending.changed(path, now);
                    woken = true;
                }
                Relevance::Compdb => {
                    state.pending.compdb_changed(path, now);
                    woken = true;
                }
                Relevance::Directory { walk } => {
                    state.pending.new_dir(path, walk);
                    woken = true;
                }
            }
        }
        if woken {
            self.0.wake();
        }
    }
}
