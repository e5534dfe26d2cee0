//! What a build tells its front end while it runs: events worth a line
//! for people, and progress snapshots.
//!
//! The build never prints. The command line's terminal progress bar is one
//! [`Observer`]; a server's progress notifications would be another. An
//! observer is called on the build's own thread, from the supervisor loop
//! among others, so it must return quickly: a progress snapshot comes every
//! 50 ms while workers index.

use std::path::PathBuf;
use std::time::Duration;

use crate::cancel::Signal;
use crate::discover::Source;

/// Something the build did or decided that its user may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Where the units come from: a compilation database, or a walk of
    /// `project` with default flags.
    Source { source: Source, project: PathBuf },
    /// Something discovery skipped, naming the path concerned.
    DiscoveryWarning(String),
    /// Duplicate entries of the compilation database folded into their
    /// first one.
    Folded(u64),
    /// The preludes could not be set up; every unit is
    /// parsed as written. `reason` is the error, on one line.
    PreludeUnavailable { reason: String },
    /// The workers are gone; what follows is recording the run.
    IndexingFinished,
    /// A cancellation came as indexing ended, too late to stop it: the
    /// build goes on recording its run. A front end that must stop at once
    /// (the command line exits, as on any signal after indexing) does so
    /// here.
    CancelledLate(Signal),
}

/// The state of a build at one moment, as the supervisor sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Units indexed or failed so far.
    pub done: u64,
    pub failed: u64,
    /// Units this build indexes (retries not counted).
    pub total: u64,
    pub workers: usize,
    /// What the workers own together, in bytes.
    pub workers_rss: u64,
    pub elapsed: Duration,
}

impl Snapshot {
    /// Units done per second.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// Receives a build's events and progress. Both methods do nothing unless
/// overridden.
pub trait Observer {
    fn event(&mut self, event: &Event) {
        let _ = event;
    }

    fn progress(&mut self, snapshot: &Snapshot) {
        let _ = snapshot;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ignore;

impl Observer for Ignore {}
