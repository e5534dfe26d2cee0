//! Cancelling a build from another thread (a signal handler, a server's
//! request handler).
//!
//! A [`Cancel`] is a handle shared by the build and whoever may stop it.
//! The build reports the phase it is in on the handle, so a front end can
//! decide what a request to stop means at that moment: while workers index
//! ([`Phase::Indexing`]) a cancellation stops dispatch, ends the workers,
//! keeps every unit that finished and returns a summary; before that there
//! is nothing to save yet, and after it nothing left to stop. A
//! cancellation requested before the indexing phase is honoured as soon as
//! it begins; one requested after it is ignored.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

pub use crate::supervise::Signal;

/// Where a build is, as a [`Cancel`] handle reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Discovery, refresh and set-up: nothing is written to the index yet
    /// but the refresh's transaction.
    Preparing,
    /// Workers index units; a cancellation ends the build gracefully.
    Indexing,
    /// The workers are gone; the build records its run and returns.
    Finishing,
}

/// Requests a running build to stop, and tells which phase it is in.
/// Cheap to clone; one handle serves one build.
#[derive(Debug, Clone)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requests: Sender<Signal>,
    received: Receiver<Signal>,
    phase: AtomicU8,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        let (requests, received) = bounded(4);
        Cancel {
            inner: Arc::new(Inner {
                requests,
                received,
                phase: AtomicU8::new(Phase::Preparing as u8),
            }),
        }
    }

    /// Asks the build to stop; `signal` says why (the command line exits
    /// with 130 for an interrupt, 143 for a termination). Never blocks.
    pub fn cancel(&self, signal: Signal) {
        let _ = self.inner.requests.try_send(signal);
    }

    pub fn phase(&self) -> Phase {
        match self.inner.phase.load(Ordering::SeqCst) {
            0 => Phase::Preparing,
            1 => Phase::Indexing,
            _ => Phase::Finishing,
        }
    }

    pub(crate) fn enter(&self, phase: Phase) {
        self.inner.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// Where the supervisor loop receives the requests.
    pub(crate) fn requests(&self) -> &Receiver<Signal> {
        &self.inner.received
    }
}
